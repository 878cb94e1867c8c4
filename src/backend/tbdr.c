/*-------------------------------------------------------------------------
 * tbdr.c
 *	  Entry point of the tbdr extension: module load.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "backend/archive_worker.h"
#include "backend/backup.h"
#include "backend/backup_schedule.h"
#include "backend/expire_sql.h"
#include "backend/guc.h"
#include "backend/monitor.h"
#include "backend/status.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	tbdr_define_gucs();
	tbdr_status_init();
	tbdr_monitor_init();
	tbdr_after_scheduled_backup = tbdr_expire_after_backup;
	tbdr_archive_worker_init();	/* after the GUCs: reads archive_parallel */
	tbdr_backup_init();			/* the shared backup state */
	tbdr_schedule_register();
}
