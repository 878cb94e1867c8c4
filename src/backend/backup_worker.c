/*-------------------------------------------------------------------------
 * backup_worker.c
 *	  The base backup worker, its shared state and its launcher (see
 *	  backup.h).
 *
 * Why SPI and not the C API of backups: pg_backup_start()/pg_backup_stop()
 * keep the same SQL signatures from PostgreSQL 15 on, while their C
 * functions changed in every major version.  The backup state they keep is
 * per session, so the worker is one session from start to stop; the long
 * copy runs outside any transaction.  If the worker dies, PostgreSQL's own
 * exit handler aborts the backup (pg_backup_start registers it).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_control.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "backend/backup.h"
#include "backend/backup_priority.h"
#include "backend/backup_writers.h"
#include "backend/ereport.h"
#include "backend/guc.h"
#include "backend/monitor.h"
#include "backend/shmem.h"
#include "core/backup.h"
#include "core/catalog.h"
#include "core/copyguard.h"
#include "core/keyfile.h"
#include "core/repo.h"

#define BACKUP_MESSAGE_LEN	1024

typedef struct BackupShared
{
	slock_t		mutex;
	bool		running;
	char		id[TBDR_BACKUP_ID_LEN + 1];
	int			pid;			/* the worker's, once it runs */
	char		phase[32];
	TimestampTz started_at;
	int64		bytes_done;
	int64		bytes_total;
	int			parts_done;
	int			parts_total;
	int64		last_id_time;	/* Unix time of the newest id handed out */

	/* the last backup that finished (or failed) */
	char		last_id[TBDR_BACKUP_ID_LEN + 1];
	bool		last_ok;
	char		last_message[BACKUP_MESSAGE_LEN];
} BackupShared;

static BackupShared *backup_shared = NULL;

/* ---------------------------------------------------------------------
 * Shared state
 * ---------------------------------------------------------------------
 */

void
tbdr_backup_init(void)
{
	tbdr_shmem_add("tbdr backup", sizeof(BackupShared),
				   offsetof(BackupShared, mutex), (void **) &backup_shared, NULL);
}

bool
tbdr_backup_available(void)
{
	return backup_shared != NULL;
}

bool
tbdr_backup_is_running(char *id)
{
	bool		running;

	if (backup_shared == NULL)
		return false;
	SpinLockAcquire(&backup_shared->mutex);
	running = backup_shared->running;
	if (running && id)
		strlcpy(id, backup_shared->id, TBDR_BACKUP_ID_LEN + 1);
	SpinLockRelease(&backup_shared->mutex);
	return running;
}

bool
tbdr_backup_get_progress(TbdrBackupProgress *p)
{
	bool		running;

	if (backup_shared == NULL)
		return false;
	SpinLockAcquire(&backup_shared->mutex);
	running = backup_shared->running;
	if (running)
	{
		strlcpy(p->id, backup_shared->id, sizeof(p->id));
		strlcpy(p->phase, backup_shared->phase, sizeof(p->phase));
		p->pid = backup_shared->pid;
		p->started_at = backup_shared->started_at;
		p->bytes_done = backup_shared->bytes_done;
		p->bytes_total = backup_shared->bytes_total;
		p->parts_done = backup_shared->parts_done;
		p->parts_total = backup_shared->parts_total;
	}
	SpinLockRelease(&backup_shared->mutex);
	return running;
}

static void
set_phase(const char *phase)
{
	SpinLockAcquire(&backup_shared->mutex);
	strlcpy(backup_shared->phase, phase, sizeof(backup_shared->phase));
	SpinLockRelease(&backup_shared->mutex);
	pgstat_report_activity(STATE_RUNNING, phase);
}

/* The worker is done: record the result and free the slot. */
static void
finish_shared(const char *id, bool ok, const char *message)
{
	SpinLockAcquire(&backup_shared->mutex);
	if (backup_shared->running && strcmp(backup_shared->id, id) == 0)
	{
		backup_shared->running = false;
		backup_shared->pid = 0;
		strlcpy(backup_shared->last_id, id, sizeof(backup_shared->last_id));
		backup_shared->last_ok = ok;
		strlcpy(backup_shared->last_message, message ? message : "",
				sizeof(backup_shared->last_message));
	}
	SpinLockRelease(&backup_shared->mutex);
}

/* ---------------------------------------------------------------------
 * Launcher (tbdr_backup_now, scheduler)
 * ---------------------------------------------------------------------
 */

void
tbdr_backup_launch(char id[TBDR_BACKUP_ID_LEN + 1], bool wait,
				   bool from_scheduler)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	pid_t		pid;
	char		running_id[TBDR_BACKUP_ID_LEN + 1];
	int64		now = (int64) time(NULL);

	if (backup_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tbdr is not loaded through shared_preload_libraries"),
				 errhint("Add tbdr to shared_preload_libraries and restart the server.")));
	if (tbdr_guc.repository == NULL || tbdr_guc.repository[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tbdr.repository is not set"),
				 errhint("Set tbdr.repository to s3://bucket/prefix or file:///absolute/path and reload.")));
	{
		TbdrError	err;

		tbdr_error_clear(&err);
		if (!tbdr_copy_guard(&tbdr_guc, "take backups", &err))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s", err.message),
					 errdetail("%s", err.detail),
					 errhint("%s", err.hint)));
	}
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("base backups are taken on the primary only"),
				 errhint("Run tbdr_backup_now() on the primary server.")));

	SpinLockAcquire(&backup_shared->mutex);
	if (backup_shared->running)
	{
		strlcpy(running_id, backup_shared->id, sizeof(running_id));
		SpinLockRelease(&backup_shared->mutex);
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("backup %s is already running", running_id),
				 errhint("Wait for it to finish (SELECT * FROM tbdr_backup_progress()); one backup runs at a time.")));
	}
	/* ids are seconds: never hand out the same one twice */
	if (now <= backup_shared->last_id_time)
		now = backup_shared->last_id_time + 1;
	backup_shared->last_id_time = now;
	tbdr_backup_id_format(now, id);
	backup_shared->running = true;
	strlcpy(backup_shared->id, id, sizeof(backup_shared->id));
	backup_shared->pid = 0;
	strlcpy(backup_shared->phase, "launching", sizeof(backup_shared->phase));
	backup_shared->started_at = GetCurrentTimestamp();
	backup_shared->bytes_done = backup_shared->bytes_total = 0;
	backup_shared->parts_done = backup_shared->parts_total = 0;
	SpinLockRelease(&backup_shared->mutex);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "tbdr", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "tbdr_backup_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "tbdr backup %s", id);
	strlcpy(worker.bgw_type, "tbdr backup", BGW_MAXLEN);
	memcpy(worker.bgw_extra, id, TBDR_BACKUP_ID_LEN + 1);
	worker.bgw_main_arg = BoolGetDatum(from_scheduler);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		finish_shared(id, false, "could not start the backup worker");
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start the backup worker"),
				 errhint("Raise max_worker_processes (every background worker slot is in use).")));
	}
	status = WaitForBackgroundWorkerStartup(handle, &pid);
	if (status != BGWH_STARTED)
	{
		/* it may have run and finished already: then it left a result */
		if (tbdr_backup_is_running(running_id) && strcmp(running_id, id) == 0 &&
			status != BGWH_STOPPED)
			finish_shared(id, false, "the backup worker did not start");
		else if (status == BGWH_STOPPED)
			finish_shared(id, false, "the backup worker exited at once; see the server log");
		if (status == BGWH_POSTMASTER_DIED)
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("the postmaster died while starting backup %s", id)));
	}

	if (!wait)
		return;

	for (;;)
	{
		bool		done;
		bool		ok = false;
		char		message[BACKUP_MESSAGE_LEN];

		SpinLockAcquire(&backup_shared->mutex);
		done = !(backup_shared->running && strcmp(backup_shared->id, id) == 0);
		if (done && strcmp(backup_shared->last_id, id) == 0)
		{
			ok = backup_shared->last_ok;
			strlcpy(message, backup_shared->last_message, sizeof(message));
		}
		else
			strlcpy(message, "the backup worker exited without a result; see the server log", sizeof(message));
		SpinLockRelease(&backup_shared->mutex);

		if (done)
		{
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
						 errmsg("backup %s failed: %s", id, message)));
			if (message[0])
				ereport(WARNING,
						(errmsg("backup %s: %s", id, message)));
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---------------------------------------------------------------------
 * The worker
 * ---------------------------------------------------------------------
 */

typedef struct BackupRun
{
	char		id[TBDR_BACKUP_ID_LEN + 1];
	bool		from_scheduler;
	TbdrConfig	cfg;
	TbdrCatalog *cat;
	TbdrManifest *m;
	TbdrCodecOptions codec;
	unsigned char key[TBDR_KEY_LEN];
	bool		started_written;
	bool		backup_started;
	TbdrBackupWriters *writers; /* while other processes store parts */
	int			nwriters;		/* writer processes besides this one */
	int64		bytes_before;	/* of finished parts, for progress */
	TimestampTz t_copy;			/* phases, for the log line at the end */
	TimestampTz t_stop;
	TimestampTz t_wal;
} BackupRun;

static BackupRun *run = NULL;

static bool
run_cancel(void *arg)
{
	return ProcDiePending || QueryCancelPending || !PostmasterIsAlive();
}

static void
run_progress(void *arg, int64 bytes)
{
	BackupRun  *r = arg;

	SpinLockAcquire(&backup_shared->mutex);
	backup_shared->bytes_done = r->bytes_before + bytes;
	SpinLockRelease(&backup_shared->mutex);
}

static void
writers_progress(void *arg, int64 bytes, int parts_done)
{
	SpinLockAcquire(&backup_shared->mutex);
	backup_shared->bytes_done = bytes;
	backup_shared->parts_done = parts_done;
	SpinLockRelease(&backup_shared->mutex);
}

/* If the process exits without a result (FATAL), free the slot. */
static void
worker_exit_cb(int code, Datum arg)
{
	if (run != NULL)
		finish_shared(run->id, false,
					  "the backup worker exited (server shutdown or fatal error); see the server log");
}

/* Run one SQL statement; the first row's columns as palloc'd strings. */
static char **
run_sql(const char *sql, int ncols)
{
	char	  **values = palloc0(ncols * sizeof(char *));
	MemoryContext cxt = CurrentMemoryContext;
	int			ret;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, sql);
	ret = SPI_execute(sql, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "unexpected result of \"%s\"", sql);
	for (int i = 0; i < ncols; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);

		values[i] = v ? MemoryContextStrdup(cxt, v) : MemoryContextStrdup(cxt, "");
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return values;
}

static uint64
parse_lsn_or_error(const char *s)
{
	uint64		lsn;

	if (!tbdr_parse_lsn(s, &lsn))
		elog(ERROR, "unexpected LSN \"%s\"", s);
	return lsn;
}

static char *
segment_name(TimeLineID tli, XLogSegNo segno)
{
	char	   *name = palloc(MAXFNAMELEN);

	XLogFileName(name, tli, segno, wal_segment_size);
	return name;
}

/*
 * Backups that an interruption left RUNNING are failed now (this server is
 * the only writer and runs one backup at a time); failed ones lose their
 * leftovers.  Then no multipart upload of any backup may be left.
 */
static void
clean_earlier_backups(BackupRun *r)
{
	TbdrError	err;
	TbdrBackupList *list;
	int			removed_total = 0;

	tbdr_error_clear(&err);
	list = tbdr_catalog_list(r->cat, &err);
	if (list == NULL)
		tbdr_ereport(ERROR, &err);
	for (int i = 0; i < list->count; i++)
	{
		TbdrBackupInfo *b = &list->items[i];
		int			removed = 0;
		int			status_objects = (b->has_started ? 1 : 0) + (b->has_failed ? 1 : 0);

		if (strcmp(b->id, r->id) == 0)
			continue;
		if (b->state == TBDR_BACKUP_RUNNING)
		{
			if (!tbdr_catalog_fail_interrupted(r->cat, b->id,
											   "interrupted: the backup did not finish (server stopped or crashed during it)",
											   &removed, &err))
				tbdr_ereport(ERROR, &err);
			ereport(LOG,
					(errmsg("tbdr: backup %s was interrupted; marked failed, %d partial objects and uploads removed",
							b->id, removed)));
		}
		else if (b->state == TBDR_BACKUP_FAILED && b->nobjects > status_objects)
		{
			if (!tbdr_catalog_remove_partial(r->cat, b->id, &removed, &err))
				tbdr_ereport(ERROR, &err);
		}
		removed_total += removed;
	}
	tbdr_backup_list_free(list);

	/* uploads of failed backups whose parts never appeared */
	if (!tbdr_storage_cleanup_uploads(tbdr_catalog_storage(r->cat),
									  TBDR_REPO_BACKUP_PREFIX, &removed_total, &err))
		tbdr_ereport(ERROR, &err);
}

/* Wait until every segment from wal_start to wal_stop is in the repository. */
static void
wait_for_wal(BackupRun *r, TimeLineID tli, XLogSegNo first, XLogSegNo last)
{
	TbdrStorage *st = tbdr_catalog_storage(r->cat);
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   (int64) r->cfg.backup_archive_timeout * 1000);
	XLogSegNo	next = first;
	TbdrError	err;

	tbdr_error_clear(&err);
	for (;;)
	{
		while (next <= last)
		{
			char	   *name = segment_name(tli, next);
			char	   *key = tbdr_repo_wal_key(name, &err);
			int			found;

			if (key == NULL)
				tbdr_ereport(ERROR, &err);
			/* a failing check is retried like a missing segment */
			tbdr_error_clear(&err);
			found = tbdr_storage_head(st, key, NULL, &err);
			pfree(key);
			if (found <= 0)
			{
				if (GetCurrentTimestamp() >= deadline)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("WAL segment %s, needed to restore this backup, was not archived within tbdr.backup_archive_timeout (%d s)",
									name, r->cfg.backup_archive_timeout),
							 found < 0 ? errdetail("Checking the repository failed: %s", err.message) : 0,
							 errhint("Check WAL archiving (archive_mode = on, archive_library = 'tbdr', SELECT * FROM tbdr_status()) and take the backup again.")));
				pfree(name);
				break;
			}
			pfree(name);
			next++;
		}
		if (next > last)
			return;
		/* the stop segment is usually archived within a second: look often */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 250L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ProcDiePending)
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("backup cancelled: the server is shutting down")));
	}
}

/* Read a small file whole (pg_control). */
static char *
read_small_file(const char *path, size_t *len)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	struct stat st;
	char	   *buf;
	ssize_t		got;

	if (fd < 0 || fstat(fd, &st) != 0)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not open \"%s\": %m", path)));
	buf = palloc(st.st_size + 1);
	got = read(fd, buf, st.st_size);
	if (got != st.st_size)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not read \"%s\": %m", path)));
	CloseTransientFile(fd);
	*len = got;
	return buf;
}

static void
store_part(BackupRun *r, TbdrBackupOptions *o, TbdrBackupPlan *plan, int part)
{
	TbdrError	err;

	tbdr_error_clear(&err);
	if (!tbdr_backup_store_part(o, plan, part, r->m, &err))
	{
		if (ProcDiePending)
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("backup cancelled: the server is shutting down")));
		tbdr_ereport(ERROR, &err);
	}
	r->bytes_before += tbdr_backup_part_bytes(plan, part);
	SpinLockAcquire(&backup_shared->mutex);
	backup_shared->parts_done = part;
	backup_shared->bytes_done = r->bytes_before;
	SpinLockRelease(&backup_shared->mutex);
}

/*
 * The codec of the backup from the settings, with the encryption key if one
 * is set (its fingerprint, in hex, goes to fp).  Returns whether there is a
 * key.
 */
static bool
load_codec(BackupRun *r, char *fp)
{
	TbdrError	err;

	tbdr_error_clear(&err);
	memset(&r->codec, 0, sizeof(r->codec));
	r->codec.compression = (TbdrCompression) r->cfg.compression;
	r->codec.level = r->cfg.compression_level;
	/* with more than one process, each compresses in a thread of its own */
	r->codec.workers = (r->cfg.compression != TBDR_COMPRESS_NONE &&
						r->cfg.backup_parallel > 1) ? 1 : 0;
	if (r->cfg.encryption_key_file[0] == '\0')
		return false;
	if (!tbdr_key_load(r->cfg.encryption_key_file, r->key, &err))
	{
		tbdr_error_prefix(&err, "tbdr.encryption_key_file: ");
		tbdr_ereport(ERROR, &err);
	}
	r->codec.key = r->key;
	tbdr_key_fingerprint_hex(r->key, fp);
	return true;
}

/*
 * pg_backup_start (fast checkpoint, non-exclusive: this session), then
 * started.json.  Returns the start segment; the manifest has the start LSN
 * and timeline.
 */
static XLogSegNo
start_backup(BackupRun *r, const char *key_fp)
{
	TbdrError	err;
	char	  **vals;
	char		label[64];
	uint64		start_lsn;
	TimeLineID	tli;
	XLogSegNo	start_seg;

	tbdr_error_clear(&err);
	set_phase("starting");
	snprintf(label, sizeof(label), "tbdr %s", r->id);
	vals = run_sql(psprintf("SELECT pg_catalog.pg_backup_start(%s, true)::text",
							quote_literal_cstr(label)), 1);
	r->backup_started = true;
	start_lsn = parse_lsn_or_error(vals[0]);
	tli = GetWALInsertionTimeLine();
	XLByteToSeg(start_lsn, start_seg, wal_segment_size);

	r->m = tbdr_manifest_create(r->id, "running");
	r->m->label = pstrdup(label);
	r->m->start_time = (int64) time(NULL);
	r->m->start_lsn = start_lsn;
	r->m->timeline = tli;
	r->m->wal_start = segment_name(tli, start_seg);
	r->m->pg_version = PG_VERSION_NUM;
	r->m->system_identifier = GetSystemIdentifier();
	r->m->compression = pstrdup(tbdr_compression_name(r->codec.compression));
	r->m->compression_level = r->codec.compression == TBDR_COMPRESS_NONE ? 0 : r->codec.level;
	r->m->encryption = pstrdup(key_fp ? "aes-256-gcm" : "none");
	r->m->key_fingerprint = key_fp ? pstrdup(key_fp) : NULL;
	if (!tbdr_catalog_write_status(r->cat, r->m, &err))
		tbdr_ereport(ERROR, &err);
	r->started_written = true;
	ereport(LOG,
			(errmsg("tbdr: backup %s started%s at %X/%X", r->id,
					r->from_scheduler ? " (scheduled)" : "",
					LSN_FORMAT_ARGS(start_lsn))));
	return start_seg;
}

/* The files of the data directory and tablespaces, split into parts. */
static TbdrBackupPlan *
plan_files(BackupRun *r)
{
	TbdrError	err;
	TbdrBackupPlan *plan = tbdr_backup_plan_create();

	tbdr_error_clear(&err);
	set_phase("listing files");
	if (!tbdr_backup_plan_walk(plan, DataDir, r->m, &err))
		tbdr_ereport(ERROR, &err);
	tbdr_backup_plan_split(plan, (int64) r->cfg.backup_part_size * 1024 * 1024);
	SpinLockAcquire(&backup_shared->mutex);
	backup_shared->bytes_total = plan->total_bytes + PG_CONTROL_FILE_SIZE;
	backup_shared->parts_total = plan->nparts + 1;	/* and the final part */
	SpinLockRelease(&backup_shared->mutex);
	return plan;
}

/* Store the planned parts with this process and the writers. */
static void
copy_files(BackupRun *r, TbdrBackupPlan *plan, TbdrBackupOptions *o,
		   const char *key_fp)
{
	memset(o, 0, sizeof(*o));
	o->storage = tbdr_catalog_storage(r->cat);
	o->codec = r->codec;
	o->backup_id = r->id;
	o->verify_checksums = DataChecksumsEnabled();
	o->start_lsn = r->m->start_lsn;
	o->max_rate = (int64) r->cfg.backup_max_rate * 1024 * 1024;
	o->cancel = run_cancel;
	o->progress = run_progress;
	o->cb_arg = r;

	set_phase("copying files");
	r->t_copy = GetCurrentTimestamp();
	r->writers = tbdr_backup_writers_start(r->id, plan,
										   Min(r->cfg.backup_parallel, plan->nparts),
										   o, key_fp);
	r->nwriters = tbdr_backup_writers_count(r->writers);
	tbdr_backup_writers_run(r->writers, plan, o, r->m, writers_progress, r);
	r->writers = NULL;
	for (int part = 1; part <= plan->nparts; part++)
		r->bytes_before += tbdr_backup_part_bytes(plan, part);
}

/*
 * pg_control (read last, before the backup ends), pg_backup_stop, then the
 * final part: backup_label, tablespace_map and pg_control.  Returns the
 * stop segment.
 */
static XLogSegNo
stop_backup(BackupRun *r, TbdrBackupPlan *plan, TbdrBackupOptions *o)
{
	int			final_part = plan->nparts + 1;
	size_t		control_len;
	char	   *control = read_small_file(XLOG_CONTROL_FILE, &control_len);
	char	  **vals;
	uint64		stop_lsn;
	XLogSegNo	stop_seg;
	int64		now;

	set_phase("stopping");
	r->t_stop = GetCurrentTimestamp();
	vals = run_sql("SELECT lsn::text, labelfile, spcmapfile FROM pg_catalog.pg_backup_stop(false)", 3);
	r->backup_started = false;
	stop_lsn = parse_lsn_or_error(vals[0]);
	XLByteToPrevSeg(stop_lsn, stop_seg, wal_segment_size);

	set_phase("copying backup_label");
	now = (int64) time(NULL);
	tbdr_backup_plan_add_data(plan, "backup_label", vals[1], strlen(vals[1]),
							  now, final_part);
	if (vals[2][0] != '\0')
		tbdr_backup_plan_add_data(plan, "tablespace_map", vals[2],
								  strlen(vals[2]), now, final_part);
	tbdr_backup_plan_add_data(plan, XLOG_CONTROL_FILE, control, control_len,
							  now, final_part);
	store_part(r, o, plan, final_part);

	r->m->stop_lsn = stop_lsn;
	r->m->wal_stop = segment_name(r->m->timeline, stop_seg);
	return stop_seg;
}

static void
take_backup(BackupRun *r)
{
	TbdrError	err;
	XLogSegNo	start_seg,
				stop_seg;
	TbdrBackupPlan *plan;
	TbdrBackupOptions o;
	char		fp[TBDR_KEY_FINGERPRINT_HEX_LEN];
	bool		have_key;

	tbdr_error_clear(&err);
	set_phase("checking repository");
	tbdr_guc_copy(&r->cfg);
	tbdr_guc_warn_unauthenticated(&r->cfg);
	r->cat = tbdr_catalog_open(&r->cfg, &err);
	if (r->cat == NULL)
		tbdr_ereport(ERROR, &err);
	if (!tbdr_repo_check_identity(tbdr_catalog_storage(r->cat),
								  GetSystemIdentifier(), PG_VERSION_NUM / 10000,
								  true, &err))
		tbdr_ereport(ERROR, &err);
	have_key = load_codec(r, fp);

	set_phase("cleaning up");
	clean_earlier_backups(r);

	start_seg = start_backup(r, have_key ? fp : NULL);
	plan = plan_files(r);
	copy_files(r, plan, &o, have_key ? fp : NULL);
	stop_seg = stop_backup(r, plan, &o);

	set_phase("waiting for WAL");
	r->t_wal = GetCurrentTimestamp();
	wait_for_wal(r, r->m->timeline, start_seg, stop_seg);

	set_phase("writing manifest");
	r->m->stop_time = (int64) time(NULL);
	pfree(r->m->status);
	r->m->status = pstrdup("complete");
	if (!tbdr_catalog_write_status(r->cat, r->m, &err))
		tbdr_ereport(ERROR, &err);
	tbdr_backup_plan_free(plan);
}

/* After a failure: failed.json and no partial objects (best effort). */
static void
record_failure(BackupRun *r, const char *message)
{
	TbdrError	err;
	TbdrManifest *fm;
	int			removed = 0;

	tbdr_error_clear(&err);

	/*
	 * Before started.json is ours nothing in the repository is: a conflict
	 * there may be another server's backup of the same id.
	 */
	if (r->cat == NULL || !r->started_written)
		return;
	if (r->m)
	{
		fm = r->m;
		pfree(fm->status);
		fm->status = pstrdup("failed");
		/* a failed.json is a header: no file list */
		fm->nfiles = 0;
		fm->ndirs = 0;
		fm->nparts = 0;
	}
	else
		fm = tbdr_manifest_create(r->id, "failed");
	fm->error = pstrdup(message);
	fm->stop_time = (int64) time(NULL);
	if (!tbdr_catalog_write_status(r->cat, fm, &err))
	{
		tbdr_error_prefix(&err, "tbdr: could not record the failure of backup %s: ", r->id);
		ereport(WARNING,
				(tbdr_errfrom(&err),
				 errdetail("The next backup marks it failed and removes its leftovers.")));
	}
	tbdr_error_clear(&err);
	if (!tbdr_catalog_remove_partial(r->cat, r->id, &removed, &err))
	{
		tbdr_error_prefix(&err, "tbdr: could not remove the partial objects of backup %s: ", r->id);
		ereport(WARNING,
				(tbdr_errfrom(&err),
				 errdetail("The next backup removes them.")));
	}
}

void
tbdr_backup_worker_main(Datum arg)
{
	MemoryContext cxt;
	char		id[TBDR_BACKUP_ID_LEN + 1];
	char		running_id[TBDR_BACKUP_ID_LEN + 1];
	TimestampTz t0;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	memcpy(id, MyBgworkerEntry->bgw_extra, TBDR_BACKUP_ID_LEN + 1);
	id[TBDR_BACKUP_ID_LEN] = '\0';
	if (backup_shared == NULL || !tbdr_backup_is_running(running_id) ||
		strcmp(running_id, id) != 0)
		proc_exit(0);			/* the launcher gave up on us */

	cxt = AllocSetContextCreate(TopMemoryContext, "tbdr backup",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	run = palloc0(sizeof(BackupRun));
	strlcpy(run->id, id, sizeof(run->id));
	run->from_scheduler = DatumGetBool(arg);
	on_shmem_exit(worker_exit_cb, (Datum) 0);

	SpinLockAcquire(&backup_shared->mutex);
	backup_shared->pid = MyProcPid;
	SpinLockRelease(&backup_shared->mutex);

	tbdr_backup_lower_priority();

	BackgroundWorkerInitializeConnection(tbdr_guc.database, NULL, 0);
	t0 = GetCurrentTimestamp();

	PG_TRY();
	{
		char		message[BACKUP_MESSAGE_LEN] = "";
		long		secs;
		int			usecs;

		take_backup(run);
		TimestampDifference(t0, GetCurrentTimestamp(), &secs, &usecs);
		if (run->m->ncorrupt > 0)
		{
			StringInfoData list;

			initStringInfo(&list);
			for (int i = 0; i < run->m->ncorrupt && i < 10; i++)
				appendStringInfo(&list, "%s%s block %lld", i ? ", " : "",
								 run->m->corrupt[i].path,
								 (long long) run->m->corrupt[i].block);
			snprintf(message, sizeof(message),
					 "%d page checksum failures (%s%s); the pages are stored as read and listed in the manifest",
					 run->m->ncorrupt, list.data, run->m->ncorrupt > 10 ? ", ..." : "");
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("tbdr: backup %s: %s", run->id, message)));
		}
		ereport(LOG,
				(errmsg("tbdr: backup %s complete in %ld.%03d s: %lld bytes of data, %lld bytes stored, %d parts (by %d processes), WAL %s to %s",
						run->id, secs, usecs / 1000,
						(long long) run->m->database_bytes,
						(long long) run->m->stored_bytes, run->m->nparts,
						run->nwriters + 1,
						run->m->wal_start, run->m->wal_stop),
				 errdetail("start %.1f s, copy %.1f s, stop and last part %.1f s, WAL wait %.1f s",
						   (double) (run->t_copy - t0) / 1e6,
						   (double) (run->t_stop - run->t_copy) / 1e6,
						   (double) (run->t_wal - run->t_stop) / 1e6,
						   (double) (GetCurrentTimestamp() - run->t_wal) / 1e6)));
		tbdr_monitor_backup_finished(run->id, true, run->m->stored_bytes);
		finish_shared(run->id, true, message);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		/* no upload of this backup may outlive the cleanup below */
		tbdr_backup_writers_stop(run->writers);
		run->writers = NULL;
		ereport(LOG,
				(errmsg("tbdr: backup %s failed: %s", run->id, edata->message),
				 edata->hint ? errhint("%s", edata->hint) : 0));
		set_phase("recording failure");
		record_failure(run, edata->message);
		tbdr_monitor_backup_finished(run->id, false, 0);
		finish_shared(run->id, false, edata->message);
		/* PostgreSQL's exit handler aborts a backup still in progress */
		proc_exit(1);
	}
	PG_END_TRY();
	proc_exit(0);
}
