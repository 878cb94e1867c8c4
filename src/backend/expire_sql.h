/*-------------------------------------------------------------------------
 * expire_sql.h
 *	  Expiry in the server: tbdr_expire() in SQL, and the run after every
 *	  scheduled backup (tbdr_after_scheduled_backup, backend/backup_schedule.h).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKEND_EXPIRE_SQL_H
#define TBDR_BACKEND_EXPIRE_SQL_H

#include "core/error.h"
#include "core/expire_run.h"

/*
 * Run an expiry with the server's settings (tbdr.retention_days,
 * tbdr.retention_policy, the repository): log one line with the result,
 * refresh the backup and expiry figures of tbdr_status().  Returns false
 * with err set when it failed (the line is logged as a WARNING); never
 * ERRORs for repository problems.  *result (may be NULL) receives what was
 * done; memory is palloc'd in CurrentMemoryContext.
 */
extern bool tbdr_expire_run(bool dry_run, const char *purpose,
							TbdrExpireResult **result, TbdrError *err);

/* For tbdr_after_scheduled_backup: expire after a scheduled backup. */
extern void tbdr_expire_after_backup(const char *id, bool ok);

#endif							/* TBDR_BACKEND_EXPIRE_SQL_H */
