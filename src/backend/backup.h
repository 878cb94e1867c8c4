/*-------------------------------------------------------------------------
 * backup.h
 *	  Base backups in the server: the backup worker and its shared state
 *	  (the scheduler, which starts backups, is backup_schedule.h).
 *
 * A base backup runs in a dynamic background worker ("tbdr backup <id>")
 * connected to tbdr.database, started by tbdr_backup_now() or by the
 * scheduler ("tbdr backup scheduler", a static worker when tbdr is in
 * shared_preload_libraries).  One backup runs at a time per server: the
 * shared state holds the running backup's id, phase and progress, and the
 * last result, which tbdr_backup_now(wait => true) waits for.
 *
 * The worker: checks the repository identity; marks backups left RUNNING
 * by an earlier interruption as failed and removes their partial objects
 * and multipart uploads (catalog.h); pg_backup_start() through SPI (fast
 * checkpoint); started.json; the data directory and tablespaces as parts
 * (core/backup.h), stored concurrently by backup writer workers
 * (backup_writers.h); global/pg_control read last; pg_backup_stop() without
 * waiting for archiving; a final part with backup_label, tablespace_map and
 * pg_control; then waits until every WAL segment from the start to the stop
 * segment is in the repository (tbdr.backup_archive_timeout); only then
 * manifest.json.  Any failure writes failed.json and removes the parts.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKEND_BACKUP_H
#define TBDR_BACKEND_BACKUP_H

#include "core/manifest.h"

/* From _PG_init: the shared backup state (preloading only). */
extern void tbdr_backup_init(void);

/* Whether the shared backup state exists (tbdr preloaded). */
extern bool tbdr_backup_available(void);

/*
 * Start a backup worker; the new backup's id goes to id.  ERRORs if a
 * backup is running (naming it) or the worker cannot be started.  With
 * wait, returns only when the backup finished, and ERRORs with its error if
 * it failed.  from_scheduler: log lines say so.
 */
extern void tbdr_backup_launch(char id[TBDR_BACKUP_ID_LEN + 1], bool wait,
							   bool from_scheduler);

/* Is a backup running in this server?  Its id goes to id (may be NULL). */
extern bool tbdr_backup_is_running(char *id);

/* Progress of the running backup (false if none). */
typedef struct TbdrBackupProgress
{
	char		id[TBDR_BACKUP_ID_LEN + 1];
	char		phase[32];
	int			pid;
	int64		started_at;		/* TimestampTz */
	int64		bytes_done;
	int64		bytes_total;
	int			parts_done;
	int			parts_total;
} TbdrBackupProgress;

extern bool tbdr_backup_get_progress(TbdrBackupProgress *p);

/* Entry point of the backup worker (bgw_function_name). */
extern PGDLLEXPORT void tbdr_backup_worker_main(Datum arg);

#endif							/* TBDR_BACKEND_BACKUP_H */
