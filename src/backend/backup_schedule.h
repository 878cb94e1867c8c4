/*-------------------------------------------------------------------------
 * backup_schedule.h
 *	  The scheduler worker ("tbdr backup scheduler"): starts base backups
 *	  (backup.h) at the times of tbdr.backup_schedule, and one at once when
 *	  a fire time was missed (tbdr.backup_catchup).  See backup_schedule.c.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKEND_BACKUP_SCHEDULE_H
#define TBDR_BACKEND_BACKUP_SCHEDULE_H

/* From _PG_init: register the scheduler worker (preloading only). */
extern void tbdr_schedule_register(void);

/* Entry point of the scheduler worker (bgw_function_name). */
extern PGDLLEXPORT void tbdr_schedule_main(Datum arg);

/*
 * Called by the scheduler after each scheduled backup (id, and whether it
 * completed); NULL by default.  For work that follows backups (expiry).
 */
typedef void (*tbdr_after_scheduled_backup_fn) (const char *id, bool ok);
extern PGDLLIMPORT tbdr_after_scheduled_backup_fn tbdr_after_scheduled_backup;

#endif							/* TBDR_BACKEND_BACKUP_SCHEDULE_H */
