/*-------------------------------------------------------------------------
 * backup_writers.c
 *	  Concurrent part writers of a base backup (see backup_writers.h).
 *
 * The shared segment: a header, one message queue per writer, then the
 * serialized plan.  Messages from a writer start with one byte: 'P' and a
 * manifest document of one stored part, or 'E' and the error's message and
 * hint (each NUL-terminated).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "backend/backup_priority.h"
#include "backend/backup_writers.h"
#include "backend/ereport.h"
#include "backend/guc.h"
#include "core/digest.h"
#include "core/keyfile.h"
#include "core/storage.h"

#define WRITER_QUEUE_SIZE	((Size) 64 * 1024)
#define WRITER_MAX			64	/* tbdr.backup_parallel's maximum */
#define STOP_WAIT_MS		120000	/* an S3 abort may take a few retries */

typedef struct WritersShared
{
	pid_t		leader_pid;
	int			nwriters;
	int			nparts;
	pg_atomic_uint32 next_part; /* the next part to take, from 1 */
	pg_atomic_uint32 abort;		/* set by the leader: stop now */
	pg_atomic_uint32 failed;	/* set by a writer after sending its error */
	pg_atomic_uint64 bytes_read;	/* file bytes, all processes */
	pg_atomic_uint64 max_rate;	/* per process, 0 = no limit */

	char		backup_id[TBDR_BACKUP_ID_LEN + 1];
	bool		verify_checksums;
	uint64		start_lsn;
	int			compression;
	int			level;
	int			workers;		/* zstd threads, as the leader's */
	unsigned char settings_hash[TBDR_SHA256_LEN];
	bool		encrypted;
	char		key_fp[TBDR_KEY_FINGERPRINT_HEX_LEN];

	Size		queues_offset;	/* nwriters queues of WRITER_QUEUE_SIZE */
	Size		plan_offset;
	Size		plan_len;
} WritersShared;

struct TbdrBackupWriters
{
	dsm_segment *seg;
	WritersShared *hdr;
	int			n;				/* writers started */
	BackgroundWorkerHandle *handles[WRITER_MAX];
	shm_mq_handle *queues[WRITER_MAX];
};

static shm_mq *
writer_queue(WritersShared *hdr, int i)
{
	return (shm_mq *) ((char *) hdr + hdr->queues_offset + i * WRITER_QUEUE_SIZE);
}

/* ---------------------------------------------------------------------
 * The leader's side
 * ---------------------------------------------------------------------
 */

TbdrBackupWriters *
tbdr_backup_writers_start(const char *backup_id, const TbdrBackupPlan *plan,
						  int n, const TbdrBackupOptions *o, const char *key_fp)
{
	StringInfoData planbuf;
	Size		size;
	WritersShared *hdr;
	TbdrBackupWriters *w;

	/* writers besides this process */
	n = Max(Min(n - 1, WRITER_MAX), 0);
	initStringInfo(&planbuf);
	tbdr_backup_plan_serialize(plan, &planbuf);
	size = MAXALIGN(sizeof(WritersShared)) + n * WRITER_QUEUE_SIZE + planbuf.len;

	w = palloc0(sizeof(TbdrBackupWriters));
	w->seg = dsm_create(size, 0);
	/* kept until detached, whatever resource owner is current */
	dsm_pin_mapping(w->seg);
	hdr = w->hdr = dsm_segment_address(w->seg);
	memset(hdr, 0, sizeof(WritersShared));
	hdr->leader_pid = MyProcPid;
	hdr->nwriters = n;
	hdr->nparts = plan->nparts;
	pg_atomic_init_u32(&hdr->next_part, 1);
	pg_atomic_init_u32(&hdr->abort, 0);
	pg_atomic_init_u32(&hdr->failed, 0);
	pg_atomic_init_u64(&hdr->bytes_read, 0);
	pg_atomic_init_u64(&hdr->max_rate, 0);
	strlcpy(hdr->backup_id, backup_id, sizeof(hdr->backup_id));
	hdr->verify_checksums = o->verify_checksums;
	hdr->start_lsn = o->start_lsn;
	hdr->compression = (int) o->codec.compression;
	hdr->level = o->codec.level;
	hdr->workers = o->codec.workers;
	tbdr_guc_settings_hash(hdr->settings_hash);
	hdr->encrypted = key_fp != NULL;
	if (key_fp)
		strlcpy(hdr->key_fp, key_fp, sizeof(hdr->key_fp));
	hdr->queues_offset = MAXALIGN(sizeof(WritersShared));
	hdr->plan_offset = hdr->queues_offset + n * WRITER_QUEUE_SIZE;
	hdr->plan_len = planbuf.len;
	memcpy((char *) hdr + hdr->plan_offset, planbuf.data, planbuf.len);
	pfree(planbuf.data);

	for (int i = 0; i < n; i++)
	{
		BackgroundWorker worker;
		shm_mq	   *mq = shm_mq_create(writer_queue(hdr, i), WRITER_QUEUE_SIZE);

		shm_mq_set_receiver(mq, MyProc);
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = BGW_NEVER_RESTART;
		strlcpy(worker.bgw_library_name, "tbdr", BGW_MAXLEN);
		strlcpy(worker.bgw_function_name, "tbdr_backup_writer_main", BGW_MAXLEN);
		/* numbered from 2: the backup worker is process 1 of n + 1 */
		snprintf(worker.bgw_name, BGW_MAXLEN, "tbdr backup writer %d/%d", i + 2, n + 1);
		strlcpy(worker.bgw_type, "tbdr backup writer", BGW_MAXLEN);
		worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(w->seg));
		memcpy(worker.bgw_extra, &i, sizeof(i));
		worker.bgw_notify_pid = MyProcPid;
		if (!RegisterDynamicBackgroundWorker(&worker, &w->handles[w->n]))
			break;
		w->queues[w->n] = shm_mq_attach(mq, w->seg, w->handles[w->n]);
		w->n++;
	}
	if (w->n < n)
		ereport(LOG,
				(errmsg("tbdr: backup %s: %d of %d backup writers started (no free background worker slot)",
						backup_id, w->n, n),
				 errhint("Raise max_worker_processes, or lower tbdr.backup_parallel.")));
	/* the rate is shared by the processes that actually run */
	if (o->max_rate > 0)
		pg_atomic_write_u64(&hdr->max_rate, Max(o->max_rate / (w->n + 1), 1));
	return w;
}

int
tbdr_backup_writers_count(const TbdrBackupWriters *w)
{
	return w->n;
}

/* A writer's message: a stored part's entries, or its error (raised). */
static TbdrManifest *
handle_message(const char *data, Size len)
{
	if (len > 1 && data[0] == 'P')
	{
		TbdrError	err;
		TbdrManifest *fm;

		tbdr_error_clear(&err);
		fm = tbdr_manifest_parse(data + 1, len - 1, &err);
		if (fm == NULL || fm->nparts != 1)
			elog(ERROR, "tbdr: invalid message from a backup writer: %s",
				 fm ? "not one part" : err.message);
		return fm;
	}
	if (len > 1 && data[0] == 'E' && data[len - 1] == '\0')
	{
		const char *message = data + 1;
		const char *hint = message + strlen(message) + 1;

		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s", message),
				 hint < data + len && hint[0] ? errhint("%s", hint) : 0));
	}
	elog(ERROR, "tbdr: invalid message from a backup writer");
	return NULL;					/* keep compiler quiet */
}

/* Wait until every writer has exited, or timeout_ms passed; never ERRORs. */
static bool
wait_writers_exit(TbdrBackupWriters *w, long timeout_ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   timeout_ms);

	for (;;)
	{
		bool		running = false;
		pid_t		pid;

		for (int i = 0; i < w->n; i++)
		{
			BgwHandleStatus st = GetBackgroundWorkerPid(w->handles[i], &pid);

			if (st == BGWH_STARTED || st == BGWH_NOT_YET_STARTED)
				running = true;
		}
		if (!running)
			return true;
		if (GetCurrentTimestamp() >= deadline)
			return false;
		/* the postmaster sets our latch when a writer exits (bgw_notify_pid) */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

static void
writers_free(TbdrBackupWriters *w)
{
	dsm_detach(w->seg);
	for (int i = 0; i < w->n; i++)
		pfree(w->handles[i]);
	pfree(w);
}

/* Take in every message waiting from the writers (ERRORs on a failure). */
static void
drain_queues(TbdrBackupWriters *w, TbdrManifest **parts, int *done,
			 bool *detached)
{
	int			nparts = w->hdr->nparts;

	for (int i = 0; i < w->n; i++)
	{
		Size		len;
		void	   *data;
		shm_mq_result res;

		if (detached[i])
			continue;
		while ((res = shm_mq_receive(w->queues[i], &len, &data, true)) == SHM_MQ_SUCCESS)
		{
			TbdrManifest *fm = handle_message(data, len);
			int			part = fm->parts[0].part;

			if (part < 1 || part > nparts || parts[part] != NULL)
				elog(ERROR, "tbdr: backup writer sent part %d twice or out of range", part);
			parts[part] = fm;
			(*done)++;
		}
		if (res == SHM_MQ_DETACHED)
			detached[i] = true;
	}
}

/* The leader's callbacks while it stores a part itself. */
typedef struct LeaderState
{
	TbdrBackupWriters *w;
	int64		reported;
	int			done;
	tbdr_backup_writers_progress progress;
	void	   *arg;
} LeaderState;

static bool
leader_cancel(void *arg)
{
	LeaderState *ls = arg;

	return ProcDiePending || QueryCancelPending || !PostmasterIsAlive() ||
		pg_atomic_read_u32(&ls->w->hdr->failed) != 0;
}

static void
leader_progress(void *arg, int64 bytes)
{
	LeaderState *ls = arg;
	uint64		total;

	total = pg_atomic_add_fetch_u64(&ls->w->hdr->bytes_read,
									(uint64) (bytes - ls->reported));
	ls->reported = bytes;
	if (ls->progress)
		ls->progress(ls->arg, (int64) total, ls->done);
}

static void
check_leader_interrupts(void)
{
	if (ProcDiePending)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("backup cancelled: the server is shutting down")));
	if (QueryCancelPending)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("backup cancelled")));
}

void
tbdr_backup_writers_run(TbdrBackupWriters *w, const TbdrBackupPlan *plan,
						const TbdrBackupOptions *o, TbdrManifest *m,
						tbdr_backup_writers_progress progress, void *arg)
{
	WritersShared *hdr = w->hdr;
	int			nparts = hdr->nparts;
	TbdrManifest **parts = palloc0((nparts + 1) * sizeof(TbdrManifest *));
	bool		detached[WRITER_MAX] = {false};
	bool		leader_busy = true;
	TbdrBackupOptions lo = *o;
	LeaderState ls = {w, 0, 0, progress, arg};

	lo.cancel = leader_cancel;
	lo.progress = leader_progress;
	lo.cb_arg = &ls;
	lo.max_rate = (int64) pg_atomic_read_u64(&hdr->max_rate);

	for (;;)
	{
		bool		alive = false;

		drain_queues(w, parts, &ls.done, detached);
		for (int i = 0; i < w->n; i++)
			alive |= !detached[i];
		if (progress)
			progress(arg, (int64) pg_atomic_read_u64(&hdr->bytes_read), ls.done);
		check_leader_interrupts();

		/* take a part, as the writers do */
		if (leader_busy)
		{
			int			part = (int) pg_atomic_fetch_add_u32(&hdr->next_part, 1);
			TbdrManifest *fm;
			TbdrError	err;

			if (part > nparts)
			{
				leader_busy = false;
				continue;
			}
			tbdr_error_clear(&err);
			ls.reported = 0;
			fm = tbdr_manifest_create(hdr->backup_id, "running");
			if (!tbdr_backup_store_part(&lo, plan, part, fm, &err))
			{
				/* a writer's failure stopped this part: report the writer's */
				if (pg_atomic_read_u32(&hdr->failed) != 0)
					drain_queues(w, parts, &ls.done, detached);
				check_leader_interrupts();
				tbdr_ereport(ERROR, &err);
			}
			parts[part] = fm;
			ls.done++;
			continue;
		}

		if (ls.done == nparts)
			break;
		if (!alive)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("the backup writers exited after %d of %d parts were stored", ls.done, nparts),
					 errhint("See the server log for why a \"tbdr backup writer\" process stopped.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 500L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/* in part order: the manifest a single process would have written */
	for (int part = 1; part <= nparts; part++)
	{
		tbdr_manifest_merge(m, parts[part]);
		tbdr_manifest_free(parts[part]);
	}
	pfree(parts);
	/* every part is taken: the writers are exiting */
	if (!wait_writers_exit(w, STOP_WAIT_MS))
		ereport(WARNING,
				(errmsg("tbdr: a backup writer has not exited after storing its parts")));
	writers_free(w);
}

void
tbdr_backup_writers_stop(TbdrBackupWriters *w)
{
	if (w == NULL)
		return;
	pg_atomic_write_u32(&w->hdr->abort, 1);
	for (int i = 0; i < w->n; i++)
		TerminateBackgroundWorker(w->handles[i]);
	if (!wait_writers_exit(w, STOP_WAIT_MS))
		ereport(WARNING,
				(errmsg("tbdr: backup writers still running %d s after they were told to stop",
						STOP_WAIT_MS / 1000),
				 errdetail("The next backup removes any part they leave behind.")));
	writers_free(w);
}

/* ---------------------------------------------------------------------
 * A writer
 * ---------------------------------------------------------------------
 */

typedef struct WriterState
{
	WritersShared *hdr;
	int64		reported;		/* bytes of the current part added to hdr */
} WriterState;

static bool
writer_cancel(void *arg)
{
	WriterState *ws = arg;

	return ProcDiePending || pg_atomic_read_u32(&ws->hdr->abort) != 0 ||
		pg_atomic_read_u32(&ws->hdr->failed) != 0 || !PostmasterIsAlive() ||
		(kill(ws->hdr->leader_pid, 0) != 0 && errno == ESRCH);
}

static void
writer_progress(void *arg, int64 bytes)
{
	WriterState *ws = arg;

	pg_atomic_fetch_add_u64(&ws->hdr->bytes_read, (uint64) (bytes - ws->reported));
	ws->reported = bytes;
}

static void
send_message(shm_mq_handle *mqh, char type, StringInfo body, bool nowait)
{
	shm_mq_iovec iov[2];
	shm_mq_result res;

	iov[0].data = &type;
	iov[0].len = 1;
	iov[1].data = body->data;
	iov[1].len = body->len;
	res = shm_mq_sendv(mqh, iov, 2, nowait, true);
	if (res != SHM_MQ_SUCCESS && !nowait)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("the backup worker is gone")));
}

/* Check this process's settings against the leader's; open what it needs. */
static void
writer_setup(WritersShared *hdr, TbdrConfig *cfg, TbdrBackupOptions *o,
			 unsigned char *key)
{
	unsigned char hash[TBDR_SHA256_LEN];
	TbdrError	err;

	tbdr_error_clear(&err);
	tbdr_guc_copy(cfg);
	tbdr_guc_settings_hash(hash);
	if (memcmp(hash, hdr->settings_hash, sizeof(hash)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the tbdr settings were reloaded while backup %s was starting", hdr->backup_id),
				 errhint("Take the backup again.")));

	memset(o, 0, sizeof(*o));
	o->codec.compression = (TbdrCompression) hdr->compression;
	o->codec.level = hdr->level;
	o->codec.workers = hdr->workers;
	if (hdr->encrypted)
	{
		char		fp[TBDR_KEY_FINGERPRINT_HEX_LEN];

		if (cfg->encryption_key_file[0] == '\0' ||
			!tbdr_key_load(cfg->encryption_key_file, key, &err))
		{
			tbdr_error_prefix(&err, "tbdr.encryption_key_file: ");
			tbdr_ereport(ERROR, &err);
		}
		tbdr_key_fingerprint_hex(key, fp);
		if (strcmp(fp, hdr->key_fp) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the encryption key file changed while backup %s was starting", hdr->backup_id),
					 errhint("Take the backup again.")));
		o->codec.key = key;
	}
	o->backup_id = hdr->backup_id;
	o->verify_checksums = hdr->verify_checksums;
	o->start_lsn = hdr->start_lsn;
	o->storage = tbdr_storage_open(cfg, &err);
	if (o->storage == NULL)
		tbdr_ereport(ERROR, &err);
}

static void
writer_run(WritersShared *hdr, int index, shm_mq_handle *mqh)
{
	TbdrConfig	cfg;
	TbdrBackupOptions o;
	unsigned char key[TBDR_KEY_LEN];
	TbdrBackupPlan *plan;
	WriterState ws = {hdr, 0};
	MemoryContext part_cxt;
	TbdrError	err;

	tbdr_error_clear(&err);
	writer_setup(hdr, &cfg, &o, key);
	o.cancel = writer_cancel;
	o.progress = writer_progress;
	o.cb_arg = &ws;
	plan = tbdr_backup_plan_deserialize((char *) hdr + hdr->plan_offset,
										hdr->plan_len, &err);
	if (plan == NULL)
		tbdr_ereport(ERROR, &err);

	part_cxt = AllocSetContextCreate(CurrentMemoryContext, "tbdr backup part",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int			part = (int) pg_atomic_fetch_add_u32(&hdr->next_part, 1);
		MemoryContext old;
		TbdrManifest *fm;
		StringInfoData doc;

		if (part > hdr->nparts || writer_cancel(&ws))
			break;
		old = MemoryContextSwitchTo(part_cxt);
		ws.reported = 0;
		o.max_rate = (int64) pg_atomic_read_u64(&hdr->max_rate);
		fm = tbdr_manifest_create(hdr->backup_id, "running");
		if (!tbdr_backup_store_part(&o, plan, part, fm, &err))
		{
			if (ProcDiePending)
				ereport(ERROR,
						(errcode(ERRCODE_ADMIN_SHUTDOWN),
						 errmsg("backup writer %d/%d was terminated while storing part %d",
								index + 2, hdr->nwriters + 1, part),
						 errhint("A server shutdown or a signal stopped it; take the backup again.")));
			/* stopped by the leader or another writer's failure: no news */
			if (writer_cancel(&ws))
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("backup writer %d/%d stopped: the backup is being cancelled",
								index + 2, hdr->nwriters + 1)));
			tbdr_ereport(ERROR, &err);
		}
		initStringInfo(&doc);
		tbdr_manifest_write(fm, &doc);
		send_message(mqh, 'P', &doc, false);
		MemoryContextSwitchTo(old);
		MemoryContextReset(part_cxt);
	}
	tbdr_storage_close(o.storage);
	explicit_bzero(key, sizeof(key));
}

void
tbdr_backup_writer_main(Datum arg)
{
	dsm_segment *seg;
	WritersShared *hdr;
	int			index;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	MemoryContext cxt;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "tbdr backup writer");
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		proc_exit(0);			/* the backup is over already */
	hdr = dsm_segment_address(seg);
	memcpy(&index, MyBgworkerEntry->bgw_extra, sizeof(index));
	if (index < 0 || index >= hdr->nwriters)
		proc_exit(1);
	mq = writer_queue(hdr, index);
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	/* background work, like the backup worker */
	tbdr_backup_lower_priority();

	cxt = AllocSetContextCreate(TopMemoryContext, "tbdr backup writer",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		writer_run(hdr, index, mqh);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		StringInfoData body;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		initStringInfo(&body);
		appendStringInfoString(&body, edata->message ? edata->message : "unknown error");
		appendStringInfoChar(&body, '\0');
		appendStringInfoString(&body, edata->hint ? edata->hint : "");
		appendStringInfoChar(&body, '\0');
		if (edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
		{
			/* the leader may be gone or stopping us: do not wait for it */
			send_message(mqh, 'E', &body, true);
			/* after the message: whoever sees the flag finds the message */
			pg_atomic_write_u32(&hdr->failed, 1);
		}
		if (pg_atomic_read_u32(&hdr->abort) == 0)
			ereport(LOG,
					(errmsg("tbdr: backup %s: writer %d/%d failed: %s",
							hdr->backup_id, index + 2, hdr->nwriters + 1,
							edata->message)));
		proc_exit(1);
	}
	PG_END_TRY();
	proc_exit(0);
}
