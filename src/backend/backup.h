/*-------------------------------------------------------------------------
 * backup.h
 *	  Base backups in the server: the backup worker, its shared state, and
 *	  the scheduler worker.
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

/*
 * Lower this process's CPU priority (before any thread starts: threads
 * inherit it).  Never ERRORs.
 */
extern void tbdr_backup_lower_priority(void);

/* ereport(ERROR) of a core error of a backup, with its hint. */
extern void tbdr_backup_raise_error(TbdrError *err) pg_attribute_noreturn();

/* From _PG_init: shared memory hooks and the scheduler (preloading only). */
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

/*
 * Called by the scheduler after each scheduled backup (id, and whether it
 * completed); NULL by default.  For work that follows backups (expiry).
 */
typedef void (*tbdr_after_scheduled_backup_fn) (const char *id, bool ok);
extern PGDLLIMPORT tbdr_after_scheduled_backup_fn tbdr_after_scheduled_backup;

/* Entry points of the workers (bgw_function_name). */
extern PGDLLEXPORT void tbdr_backup_worker_main(Datum arg);
extern PGDLLEXPORT void tbdr_schedule_main(Datum arg);

/* From tbdr_backup_init: register the scheduler worker. */
extern void tbdr_schedule_register(void);

#endif							/* TBDR_BACKEND_BACKUP_H */
