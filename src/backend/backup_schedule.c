/*-------------------------------------------------------------------------
 * backup_schedule.c
 *	  The scheduler worker: starts a base backup at the times of
 *	  tbdr.backup_schedule (cron syntax, server local time; "" disables).
 *
 * It sleeps on its latch until the next fire time (at most a minute at a
 * time, so that a changed clock or time zone is noticed), never polling
 * faster.  A reload re-reads the schedule.  One backup at a time: a fire
 * time that finds a backup running is skipped with a log line.
 *
 * When the scheduler starts (server start, or after a crash) it lists the
 * repository's backups, which fills the backup figures of tbdr_status()
 * (monitor.h) so that "no recent backup" can be alerted on right after a
 * restart.  A repository that cannot be read shows there as
 * "unknown: <error>", and the listing is retried at every wake-up (at least
 * once a minute, and right after a reload) until it works.  (Later
 * listings are the expiries'; a changed tbdr.repository shows at the next.)
 *
 * Catch-up (tbdr.backup_catchup), decided on the first listing that works:
 * it looks at the newest backup in the repository, in any state; if the
 * schedule had a fire time between that backup's start and now, the server
 * was down (or the backup could not run) then, and one backup is taken at
 * once.  With no backup at all in the repository nothing was missed that
 * can be known, so it waits for the next fire time.
 *
 * After each scheduled backup, tbdr_after_scheduled_backup (if set, e.g.
 * by retention) is called with the backup's id and whether it completed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procsignal.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "backend/backup.h"
#include "backend/backup_schedule.h"
#include "backend/ereport.h"
#include "backend/guc.h"
#include "backend/monitor.h"
#include "core/catalog.h"
#include "core/copyguard.h"
#include "core/cron.h"

tbdr_after_scheduled_backup_fn tbdr_after_scheduled_backup = NULL;

void
tbdr_schedule_register(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 60;
	strlcpy(worker.bgw_library_name, "tbdr", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "tbdr_schedule_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "tbdr backup scheduler", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "tbdr backup scheduler", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* Parse tbdr.backup_schedule; false if empty (disabled) or invalid. */
static bool
current_schedule(TbdrCron *cron)
{
	TbdrError	err;

	if (tbdr_guc.backup_schedule == NULL || tbdr_guc.backup_schedule[0] == '\0')
		return false;
	if (tbdr_guc.repository == NULL || tbdr_guc.repository[0] == '\0')
		return false;
	if (tbdr_is_copy_of_repository(&tbdr_guc))
	{
		ereport(LOG,
				(errmsg("tbdr: no scheduled backups: this server is a restored copy of %s (tbdr.copy_of)",
						tbdr_guc.copy_of),
				 errhint("If it is the new primary: ALTER SYSTEM RESET tbdr.copy_of; ALTER SYSTEM RESET archive_mode; then restart it.")));
		return false;
	}
	tbdr_error_clear(&err);
	if (!tbdr_cron_parse(tbdr_guc.backup_schedule, cron, &err))
	{
		/* the GUC check prevents this; keep the worker alive anyway */
		tbdr_error_prefix(&err, "tbdr: tbdr.backup_schedule: ");
		tbdr_ereport(WARNING, &err);
		return false;
	}
	return true;
}

/* Start a backup, wait for it, and never let its error end the scheduler. */
static void
scheduled_backup(const char *why)
{
	MemoryContext cxt = CurrentMemoryContext;
	char		id[TBDR_BACKUP_ID_LEN + 1] = "";
	char		running[TBDR_BACKUP_ID_LEN + 1];
	volatile bool ok = false;

	if (tbdr_backup_is_running(running))
	{
		ereport(LOG,
				(errmsg("tbdr: scheduled backup skipped: backup %s is still running",
						running)));
		return;
	}
	ereport(LOG, (errmsg("tbdr: starting %s backup", why)));
	PG_TRY();
	{
		tbdr_backup_launch(id, true, true);
		ok = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
	if (id[0] != '\0' && tbdr_after_scheduled_backup)
		tbdr_after_scheduled_backup(id, ok);
}

/*
 * The repository's backups, or NULL when they cannot be read.  Either way
 * the backup figures of tbdr_status() learn it (monitor.h), so that after a
 * server start they are filled without waiting for a backup or an expiry,
 * and a repository that cannot be read shows as "unknown: <error>".  The
 * warning is logged once per distinct error, not at every retry.
 */
static TbdrBackupList *
list_backups(void)
{
	static char warned[1024] = "";
	TbdrError	err;
	TbdrCatalog *cat = NULL;
	TbdrBackupList *list = NULL;

	tbdr_error_clear(&err);
	if (tbdr_guc.repository == NULL || tbdr_guc.repository[0] == '\0')
		tbdr_error_set(&err, TBDR_ERR_CONFIG, "tbdr.repository is not set");
	else
	{
		tbdr_guc_warn_unauthenticated(&tbdr_guc);
		cat = tbdr_catalog_open(&tbdr_guc, &err);
		list = cat ? tbdr_catalog_list(cat, &err) : NULL;
		if (cat)
			tbdr_catalog_close(cat);
	}

	if (list)
	{
		tbdr_monitor_backups(list);
		warned[0] = '\0';
		return list;
	}
	tbdr_monitor_backups_unknown(err.message);
	if (err.code != TBDR_ERR_CONFIG && strcmp(warned, err.message) != 0)
	{
		strlcpy(warned, err.message, sizeof(warned));
		tbdr_error_prefix(&err, "tbdr: could not read the backups in the repository: ");
		ereport(WARNING,
				(tbdr_errfrom(&err),
				 errdetail("Backup catch-up and the backup figures of tbdr_status() wait until it can be read; retried every minute.")));
	}
	return NULL;
}

/* Was a fire time missed since the newest backup in the repository? */
static bool
missed_fire_time(const TbdrCron *cron, const TbdrBackupList *list)
{
	int64		newest;
	time_t		next;

	if (list == NULL || list->count == 0 ||
		!tbdr_backup_id_parse(list->items[list->count - 1].id, &newest))
		return false;
	next = tbdr_cron_next(cron, (time_t) newest);
	return next != (time_t) -1 && next <= time(NULL);
}

void
tbdr_schedule_main(Datum arg)
{
	MemoryContext cxt;
	TbdrCron	cron;
	bool		enabled;
	time_t		next = (time_t) -1;
	bool		listed = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);

	/*
	 * The postmaster tells a worker's bgw_notify_pid that it started or
	 * stopped with SIGUSR1, which a worker without a database connection
	 * ignores by default: WaitForBackgroundWorkerStartup() in
	 * tbdr_backup_launch() would then wait forever after the first
	 * scheduled backup.  This handler sets the latch.
	 */
	pqsignal(SIGUSR1, procsignal_sigusr1_handler);
	BackgroundWorkerUnblockSignals();

	cxt = AllocSetContextCreate(TopMemoryContext, "tbdr scheduler",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);

	enabled = current_schedule(&cron);
	if (enabled)
		next = tbdr_cron_next(&cron, time(NULL));

	for (;;)
	{
		time_t		now;
		long		timeout_ms = 60000L;

		/*
		 * Until the repository could be listed once: fill the backup figures
		 * of tbdr_status(), and decide the catch-up.
		 */
		if (!listed)
		{
			TbdrBackupList *list = list_backups();

			if (list)
			{
				bool		missed = enabled && tbdr_guc.backup_catchup &&
					missed_fire_time(&cron, list);

				tbdr_backup_list_free(list);
				listed = true;
				if (missed)
				{
					scheduled_backup("catch-up");
					next = tbdr_cron_next(&cron, time(NULL));
				}
			}
		}

		now = time(NULL);

		if (enabled && next != (time_t) -1 && now >= next)
		{
			scheduled_backup("scheduled");
			next = tbdr_cron_next(&cron, time(NULL));
			continue;
		}
		if (enabled && next != (time_t) -1 && (next - now) < 60)
			timeout_ms = (long) (next - now) * 1000L;
		MemoryContextReset(cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			enabled = current_schedule(&cron);
			next = enabled ? tbdr_cron_next(&cron, time(NULL)) : (time_t) -1;
		}
	}
}
