/*-------------------------------------------------------------------------
 * monitor.h
 *	  Backup, archive-lag, repository and expiry figures for monitoring,
 *	  shown as the last columns of tbdr_status() (see monitoring/ and
 *	  docs/MONITORING.md for the exporter queries and alerts built on them).
 *
 * Backup figures come from the repository (the truth): the scheduler
 * worker lists it when it starts (and retries on each wake-up until that
 * worked), every catalog
 * listing the server makes for an expiry (after each scheduled backup, and
 * on tbdr_expire(), dry run included) refreshes them, and the backup worker
 * may report a finished backup at once.  Until one of those worked since
 * the server started they are NULL, and last_backup_status says
 * "unknown: <why>" once a listing failed; a repository without any complete
 * backup shows last_successful_backup_time -infinity.
 *
 * Needs tbdr in shared_preload_libraries; without it the record functions
 * do nothing.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKEND_MONITOR_H
#define TBDR_BACKEND_MONITOR_H

#include "datatype/timestamp.h"

#include "core/catalog.h"

/* Columns tbdr_monitor_status_columns() fills. */
#define TBDR_MONITOR_COLS 11

/* From _PG_init: chain the shared-memory hooks (when preloading). */
extern void tbdr_monitor_init(void);

/*
 * The backups the repository holds: the newest finished backup, the newest
 * complete one and the median size of up to 7 complete ones before it.
 */
extern void tbdr_monitor_backups(const TbdrBackupList *list);

/*
 * The repository could not be listed: while no figures are known,
 * last_backup_status shows "unknown: <why>" (why: the error, one line).
 */
extern void tbdr_monitor_backups_unknown(const char *why);

/* A backup finished in this server (stored_bytes of a complete one). */
extern void tbdr_monitor_backup_finished(const char *id, bool ok,
										 int64 stored_bytes);

/* An expiry ran: ok, its one-line result, the repository's size. */
extern void tbdr_monitor_expiry(bool ok, const char *result, int64 repo_bytes);

/*
 * Fill TBDR_MONITOR_COLS columns of tbdr_status() from values[i] on, and
 * return the next index.  The archive figures are derived from the
 * archiver's last stored segment and the count of .ready files.
 */
extern int	tbdr_monitor_status_columns(Datum *values, bool *nulls, int i,
										const char *last_archived_wal,
										TimestampTz last_archived_time,
										int64 ready_count);

#endif							/* TBDR_BACKEND_MONITOR_H */
