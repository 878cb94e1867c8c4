/*-------------------------------------------------------------------------
 * backup_writers.h
 *	  Parts of a base backup stored concurrently by several processes.
 *
 * The backup worker (the leader) stays one session between
 * pg_backup_start() and pg_backup_stop(); the parts of the data directory
 * are stored meanwhile by the leader itself and up to tbdr.backup_parallel
 * - 1 dynamic background workers ("tbdr backup writer i/N", i from 2: the
 * leader is process 1 of N; no database connection), like a parallel query
 * whose leader takes part.  When no
 * worker slot is free the leader stores every part itself.  Why processes
 * and not threads: the core allocates with palloc and reports through the
 * backend's error machinery, neither of which is thread-safe.
 *
 * The leader puts the plan (core/backup.h, serialized), the codec and
 * checksum options, a digest of the tbdr.* settings and the encryption
 * key's fingerprint (never the key) into a dynamic shared memory segment.
 * Each writer checks that its own settings and key are the leader's (a
 * reload in between would otherwise mix repositories or keys in one
 * backup), opens its own connection to the repository, and takes parts
 * one at a time from a shared counter, as the leader does.  For each part
 * stored a writer sends the part's manifest entries (a manifest document
 * holding only that part) through its own message queue; a failure is sent
 * as its message and hint, and the writer exits.  The leader merges the
 * parts' entries in part order, so the manifest is the same whichever
 * process stored which part.
 *
 * Stopping: after an error the leader raises a shared abort flag,
 * terminates the writers and waits until they have exited, so that no
 * upload of this backup is still running when its partial objects are
 * removed.  Writers also stop when the leader's process is gone.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKUP_WRITERS_H
#define TBDR_BACKUP_WRITERS_H

#include "core/backup.h"

typedef struct TbdrBackupWriters TbdrBackupWriters;

/*
 * Prepare to store parts 1..plan->nparts with n processes: this one and up
 * to n - 1 writers, started now (fewer, with a LOG line, when worker slots
 * are short).  o gives the checksum, codec and rate options (o->max_rate
 * is shared among the processes); o->codec.key is not passed to the
 * writers: each loads tbdr.encryption_key_file and must find the
 * fingerprint key_fp (none when key_fp is NULL).
 */
extern TbdrBackupWriters *tbdr_backup_writers_start(const char *backup_id,
													const TbdrBackupPlan *plan,
													int n,
													const TbdrBackupOptions *o,
													const char *key_fp);

/* How many writers were started (the leader not counted). */
extern int	tbdr_backup_writers_count(const TbdrBackupWriters *w);

/* Progress while waiting: file bytes read and parts stored so far. */
typedef void (*tbdr_backup_writers_progress) (void *arg, int64 bytes,
											  int parts_done);

/*
 * Store the parts: this process takes parts too (with o, whose cancel and
 * progress callbacks are replaced).  Each part's entries are merged into m
 * in part order.  ERROR with the writer's message if one fails, or if the
 * writers exit early, or the leader is asked to stop; the caller then
 * calls tbdr_backup_writers_stop().  On success the writers have exited
 * and w is freed.
 */
extern void tbdr_backup_writers_run(TbdrBackupWriters *w,
									const TbdrBackupPlan *plan,
									const TbdrBackupOptions *o,
									TbdrManifest *m,
									tbdr_backup_writers_progress progress,
									void *arg);

/*
 * After an error: stop the writers and wait (a bounded time) until they
 * have exited.  Safe to call from an error handler; never ERRORs.
 */
extern void tbdr_backup_writers_stop(TbdrBackupWriters *w);

/* Entry point of a writer (bgw_function_name). */
extern PGDLLEXPORT void tbdr_backup_writer_main(Datum arg);

#endif							/* TBDR_BACKUP_WRITERS_H */
