/*-------------------------------------------------------------------------
 * archive_worker.c
 *	  Pre-push workers and their shared table (see archive_worker.h).
 *
 * The shared table has a fixed number of slots; a slot is PUSHING (claimed
 * by one worker, which stores the file) or STORED (the repository
 * acknowledged the whole, verified object; the file's size, inode and
 * modification time at that moment are kept).  The archiver has its own
 * claim (archiver_file), so a file is never stored twice at once.  Workers
 * stop pushing ahead when every slot holds a stored file the archiver has
 * not asked for yet, which bounds how far they run ahead.
 *
 * The archive callback trusts a STORED slot only when the file still has
 * the recorded size, inode and modification time: WAL files are immutable
 * once ready, so anything else means the file was replaced (then it is
 * stored again, and the push path compares it with the stored object).
 * The slot also records the digest of the settings the worker stored with:
 * after a reload that, say, changed tbdr.repository, a file the worker
 * stored with the old settings is stored again by the archiver.
 *
 * Workers take files in name order (timeline history files of a timeline
 * sort before its segments), like the archiver, so the archiver finds the
 * oldest files stored first.  A claim of a worker that died is recognised
 * by its pid and ignored; the worker's exit callback and its restart clear
 * its claims.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "backend/archive_worker.h"
#include "backend/compat.h"
#include "backend/ereport.h"
#include "backend/guc.h"
#include "backend/shmem.h"
#include "backend/status.h"
#include "backend/walpush.h"
#include "core/http.h"
#include "core/repo.h"
#include "core/walspool.h"

#define PREPUSH_SLOTS		64
#define PREPUSH_MAX_WORKERS 32	/* tbdr.archive_parallel's maximum */
#define PREPUSH_NAME_LEN	(TBDR_WAL_NAME_MAX + 1)

/* Idle poll interval; new .ready files also wake the workers early. */
#define PREPUSH_NAP_MS		1000
/*
 * Backoff after a failed push: doubles from 1 s up to this (short: the
 * workers are how archiving catches up once the repository is back).
 */
#define PREPUSH_MAX_BACKOFF_MS	10000
/* Early warnings: how often at most, and the age that warns. */
#define QUEUE_WARN_INTERVAL_MS	(5 * 60 * 1000)
#define QUEUE_WARN_AGE_S		300
#define QUEUE_WARN_DEPTH		64	/* without tbdr.archive_queue_max */
/*
 * The archiver, waiting for a worker's push, looks this often at least (the
 * worker also wakes it when it is done).
 */
#define PREPUSH_WAIT_MS		100

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_PUSHING,
	SLOT_STORED
} SlotState;

typedef struct PrepushSlot
{
	SlotState	state;
	int			owner;			/* worker index */
	pid_t		pid;			/* of the owner when claimed */
	char		name[PREPUSH_NAME_LEN];
	/* STORED: the file as it was stored, and what was stored */
	int64		size;
	uint64		ino;
	int64		mtime_sec;
	long		mtime_nsec;
	uint64		plain_bytes;
	uint64		stored_bytes;
	TimestampTz stored_at;
	unsigned char settings[32];	/* tbdr_guc_settings_hash() used */
} PrepushSlot;

typedef struct PrepushWorker
{
	pid_t		pid;			/* 0 when not running */
	Latch	   *latch;
	bool		busy;
	bool		failing;
} PrepushWorker;

typedef struct PrepushShared
{
	slock_t		mutex;
	int			nworkers;		/* registered at server start */
	char		archiver_file[PREPUSH_NAME_LEN];	/* the archiver's claim */
	PrepushWorker workers[PREPUSH_MAX_WORKERS];
	PrepushSlot slots[PREPUSH_SLOTS];
} PrepushShared;

static PrepushShared *prepush = NULL;

/* Worker process state. */
static int	my_index = -1;
static volatile sig_atomic_t got_sigterm = false;

PGDLLEXPORT void tbdr_prepush_main(Datum arg);
static void update_worker_state(void);


void
tbdr_archive_worker_init(void)
{
	BackgroundWorker worker;
	int			n;

	if (!process_shared_preload_libraries_in_progress)
		return;

	tbdr_shmem_add("tbdr prepush", sizeof(PrepushShared),
				   offsetof(PrepushShared, mutex), (void **) &prepush, NULL);

	/* archive_mode needs a restart to change: no archiving, no workers. */
	if (XLogArchiveMode == ARCHIVE_MODE_OFF)
		return;

	n = Min(tbdr_guc.archive_parallel, PREPUSH_MAX_WORKERS);
	for (int i = 0; i < n; i++)
	{
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
		/* a standby with archive_mode = always archives during recovery */
		worker.bgw_start_time = BgWorkerStart_PostmasterStart;
		worker.bgw_restart_time = 10;
		strlcpy(worker.bgw_library_name, "tbdr", BGW_MAXLEN);
		strlcpy(worker.bgw_function_name, "tbdr_prepush_main", BGW_MAXLEN);
		snprintf(worker.bgw_name, BGW_MAXLEN, "tbdr wal pusher %d/%d", i + 1, n);
		strlcpy(worker.bgw_type, "tbdr wal pusher", BGW_MAXLEN);
		worker.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&worker);
	}
}

/* ---------------------------------------------------------------------
 * The table
 * ---------------------------------------------------------------------
 */

static bool
pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* With the mutex held: the slot of name, or NULL. */
static PrepushSlot *
find_slot(const char *name)
{
	for (int i = 0; i < PREPUSH_SLOTS; i++)
	{
		PrepushSlot *s = &prepush->slots[i];

		if (s->state != SLOT_FREE && strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

/* With the mutex held: a free slot, or NULL. */
static PrepushSlot *
free_slot(void)
{
	for (int i = 0; i < PREPUSH_SLOTS; i++)
	{
		if (prepush->slots[i].state == SLOT_FREE)
			return &prepush->slots[i];
	}
	return NULL;
}

/* Whether the file at path is still what the slot recorded as stored. */
static bool
same_file(const PrepushSlot *s, const struct stat *st)
{
	return s->size == (int64) st->st_size &&
		s->ino == (uint64) st->st_ino &&
		s->mtime_sec == (int64) st->st_mtim.tv_sec &&
		s->mtime_nsec == st->st_mtim.tv_nsec;
}

static long
wait_limit_ms(void)
{
	/*
	 * A worker's push ends within its retries' time limits; past twice that
	 * something is wrong with the worker and the archiver stores the file
	 * itself.
	 */
	return 2L * (tbdr_guc.s3_max_retries + 1) *
		(tbdr_guc.s3_timeout + 60) * 1000;
}

/*
 * With the mutex held: if a STORED slot of file is the file at path, stored
 * with settings, take its result; either way forget the slot (a replaced
 * file, or one stored with other settings, the archiver stores again).
 * Returns whether res was filled.
 */
static bool
take_stored(PrepushSlot *s, bool have_stat, const struct stat *st,
			const unsigned char *settings, TbdrWalPushResult *res)
{
	bool		same = have_stat && same_file(s, st) &&
		memcmp(s->settings, settings, sizeof(s->settings)) == 0;

	if (same)
	{
		res->already_stored = false;
		res->plain_bytes = s->plain_bytes;
		res->stored_bytes = s->stored_bytes;
	}
	s->state = SLOT_FREE;
	return same;
}

/*
 * The archiver waits for a worker's push on its own latch: workers set it
 * when they finish a claim or exit, the timeout only covers a worker that
 * died without its exit callback.  Interrupts are honoured, and the
 * archiver exits with the postmaster.  The archiver's main loop waits on the
 * same latch, so tbdr_prepush_begin sets it again once done waiting: a
 * wake-up meant for the main loop (a shutdown request, new ready files)
 * is not lost.
 */
static void
wait_for_worker(void)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 PREPUSH_WAIT_MS, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

TbdrPrepush
tbdr_prepush_begin(const char *file, const char *path, TbdrWalPushResult *res)
{
	TimestampTz start = GetCurrentTimestamp();
	pid_t		dead_owner = 0; /* the owner found dead outside the lock */
	bool		waited = false;
	unsigned char settings[32];

	memset(res, 0, sizeof(*res));
	if (prepush == NULL)
		return TBDR_PREPUSH_MINE;

	/*
	 * Stored with other settings (a reload changed the repository, say,
	 * and the worker had not seen it yet): not stored as we would.
	 */
	tbdr_guc_settings_hash(settings);

	/*
	 * The shared state is read and changed under the spinlock; system calls
	 * (stat, kill, waiting) are made outside it.
	 */
	for (;;)
	{
		PrepushSlot *s;
		struct stat st;
		bool		have_stat = (stat(path, &st) == 0);
		bool		timed_out = TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
														   wait_limit_ms());
		pid_t		owner;

		SpinLockAcquire(&prepush->mutex);
		s = find_slot(file);
		if (s && s->state == SLOT_STORED)
		{
			if (take_stored(s, have_stat, &st, settings, res))
			{
				SpinLockRelease(&prepush->mutex);
				if (waited)
					SetLatch(MyLatch);
				return TBDR_PREPUSH_STORED;
			}
			s = NULL;			/* replaced file: store it ourselves */
		}
		if (s == NULL || s->pid == dead_owner || timed_out)
		{
			strlcpy(prepush->archiver_file, file, PREPUSH_NAME_LEN);
			SpinLockRelease(&prepush->mutex);
			if (waited)
				SetLatch(MyLatch);
			if (s != NULL && waited)
				ereport(LOG,
						(errmsg("tbdr: the pre-push worker did not finish \"%s\", the archiver stores it", file)));
			return TBDR_PREPUSH_MINE;
		}
		owner = s->pid;
		SpinLockRelease(&prepush->mutex);

		/* a live worker is storing it: wait; a dead one: look again */
		if (pid_alive(owner))
		{
			wait_for_worker();
			waited = true;
		}
		else
			dead_owner = owner;
	}
}

void
tbdr_prepush_end(const char *file)
{
	if (prepush == NULL)
		return;
	SpinLockAcquire(&prepush->mutex);
	prepush->archiver_file[0] = '\0';
	SpinLockRelease(&prepush->mutex);
}

void
tbdr_prepush_wake(void)
{
	if (prepush == NULL)
		return;
	/* Latch pointers stay valid: they point into PGPROCs. */
	for (int i = 0; i < PREPUSH_MAX_WORKERS; i++)
	{
		Latch	   *latch = prepush->workers[i].latch;

		if (latch && prepush->workers[i].pid != 0)
			SetLatch(latch);
	}
}

/* ---------------------------------------------------------------------
 * The worker
 * ---------------------------------------------------------------------
 */

static void
prepush_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* The HTTP layer asks about once a second: abort at shutdown. */
static bool
prepush_interrupted(void)
{
	return got_sigterm || !PostmasterIsAlive();
}

/* Release what this worker holds (exit, restart). */
static void
release_my_slots(int code, Datum arg)
{
	bool		released = false;

	if (prepush == NULL || my_index < 0)
		return;
	SpinLockAcquire(&prepush->mutex);
	for (int i = 0; i < PREPUSH_SLOTS; i++)
	{
		PrepushSlot *s = &prepush->slots[i];

		if (s->state == SLOT_PUSHING && s->owner == my_index)
		{
			s->state = SLOT_FREE;
			released = true;
		}
	}
	prepush->workers[my_index].pid = 0;
	prepush->workers[my_index].latch = NULL;
	prepush->workers[my_index].busy = false;
	SpinLockRelease(&prepush->mutex);
	/* the archiver may wait for what we released */
	if (released)
		PgArchWakeup();
	update_worker_state();
}

/* Summarize the workers for tbdr_status(). */
static void
update_worker_state(void)
{
	int			running = 0,
				busy = 0,
				failing = 0;
	char		state[32];

	SpinLockAcquire(&prepush->mutex);
	for (int i = 0; i < prepush->nworkers; i++)
	{
		PrepushWorker *w = &prepush->workers[i];

		if (w->pid == 0)
			continue;
		running++;
		busy += w->busy;
		failing += w->failing;
	}
	SpinLockRelease(&prepush->mutex);

	if (failing > 0)
		snprintf(state, sizeof(state), "retrying (%d/%d)", failing, running);
	else if (busy > 0)
		snprintf(state, sizeof(state), "pushing (%d/%d)", busy, running);
	else if (running > 0)
		snprintf(state, sizeof(state), "idle (%d)", running);
	else
		strlcpy(state, "stopped", sizeof(state));
	tbdr_status_set_worker_state(state);
}

/* Whether this server archives through tbdr's archive module now. */
static bool
archiving_here(void)
{
	const char *lib = XLogArchiveLibrary;
	const char *slash;

	if (!XLogArchivingActive())
		return false;
	if (RecoveryInProgress() && !XLogArchivingAlways())
		return false;
	if (lib == NULL || lib[0] == '\0')
		return false;
	slash = strrchr(lib, '/');
	if (slash)
		lib = slash + 1;
	if (strncmp(lib, "tbdr", 4) != 0 || (lib[4] != '\0' && lib[4] != '.'))
		return false;
	return tbdr_guc.repository != NULL && tbdr_guc.repository[0] != '\0';
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Names of the ready WAL files, sorted; palloc'd in the current context. */
static char **
scan_ready(int *count)
{
	const char *statusdir = XLOGDIR "/archive_status";
	DIR		   *dir;
	struct dirent *de;
	int			n = 0,
				max = 64;
	char	  **names = palloc(max * sizeof(char *));

	dir = AllocateDir(statusdir);
	while ((de = ReadDir(dir, statusdir)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		char	   *name;

		if (len <= 6 || len - 6 >= PREPUSH_NAME_LEN ||
			strcmp(de->d_name + len - 6, ".ready") != 0)
			continue;
		name = pnstrdup(de->d_name, len - 6);
		if (tbdr_wal_file_kind(name) == TBDR_WAL_INVALID)
			continue;
		if (n == max)
		{
			max *= 2;
			names = repalloc(names, max * sizeof(char *));
		}
		names[n++] = name;
	}
	FreeDir(dir);
	qsort(names, n, sizeof(char *), cmp_names);
	*count = n;
	return names;
}

int
tbdr_ready_count(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "tbdr ready scan",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int			n;

	(void) scan_ready(&n);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return n;
}

/*
 * Say early, in the log, that WAL piles up in pg_wal (tbdr_status() shows
 * the same figures: queue_depth, oldest_ready_age): when the oldest ready
 * file waited QUEUE_WARN_AGE_S, or the queue reached three quarters of
 * tbdr.archive_queue_max (QUEUE_WARN_DEPTH when that is off).
 */
static void
warn_queue(char **ready, int nready, TimestampTz *last_warned)
{
	int			max = tbdr_guc.archive_queue_max;
	int			depth_warn = max > 0 ? Max(1, max / 4 * 3) : QUEUE_WARN_DEPTH;
	char		path[MAXPGPATH];
	struct stat st;
	long		age = 0;

	if (nready == 0 ||
		!TimestampDifferenceExceeds(*last_warned, GetCurrentTimestamp(),
									QUEUE_WARN_INTERVAL_MS))
		return;
	snprintf(path, sizeof(path), XLOGDIR "/archive_status/%s.ready", ready[0]);
	if (stat(path, &st) == 0)
		age = (long) (time(NULL) - st.st_mtime);
	if (nready < depth_warn && age < QUEUE_WARN_AGE_S)
		return;
	*last_warned = GetCurrentTimestamp();
	ereport(WARNING,
			(errmsg("tbdr: %d WAL files wait for archiving in pg_wal, the oldest (\"%s\") for %ld s",
					nready, ready[0], age),
			 max > 0 ?
			 errdetail("Past tbdr.archive_queue_max (%d) segments are acknowledged without being stored, which leaves a gap in the archive.", max) :
			 errdetail("PostgreSQL keeps them until they are stored; pg_wal grows meanwhile."),
			 errhint("See tbdr_status() (last_failure) and the earlier tbdr warnings for why archiving is behind.")));
}

/*
 * Owners of PUSHING slots whose process is gone (killed without its exit
 * callback); pid_alive's system call is made outside the spinlock.  Returns
 * how many are stored in dead[].
 */
static int
dead_owners(pid_t *dead)
{
	pid_t		owners[PREPUSH_SLOTS];
	int			nowners = 0,
				ndead = 0;

	SpinLockAcquire(&prepush->mutex);
	for (int i = 0; i < PREPUSH_SLOTS; i++)
	{
		if (prepush->slots[i].state == SLOT_PUSHING)
			owners[nowners++] = prepush->slots[i].pid;
	}
	SpinLockRelease(&prepush->mutex);
	for (int i = 0; i < nowners; i++)
	{
		if (!pid_alive(owners[i]))
			dead[ndead++] = owners[i];
	}
	return ndead;
}

static bool
pid_in(pid_t pid, const pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (pids[i] == pid)
			return true;
	}
	return false;
}

/*
 * Forget stored files that are no longer ready (archived by other means, or
 * archive_mode changed) and claim the first ready file nobody has.  A claim
 * made after dead_owners looked is by a live process.
 */
static bool
claim_next(char **ready, int nready, TimestampTz scanned_at, char *name)
{
	bool		found = false;
	pid_t		dead[PREPUSH_SLOTS];
	int			ndead = dead_owners(dead);

	SpinLockAcquire(&prepush->mutex);
	for (int i = 0; i < PREPUSH_SLOTS; i++)
	{
		PrepushSlot *s = &prepush->slots[i];
		const char *key = s->name;

		if (s->state == SLOT_STORED && s->stored_at < scanned_at &&
			bsearch(&key, ready, nready, sizeof(char *), cmp_names) == NULL)
			s->state = SLOT_FREE;
	}
	for (int i = 0; i < nready && !found; i++)
	{
		PrepushSlot *s;

		if (strcmp(ready[i], prepush->archiver_file) == 0)
			continue;
		s = find_slot(ready[i]);
		if (s != NULL && (s->state == SLOT_STORED || !pid_in(s->pid, dead, ndead)))
			continue;
		if (s == NULL)
			s = free_slot();
		if (s == NULL)
			break;				/* far enough ahead */
		s->state = SLOT_PUSHING;
		s->owner = my_index;
		s->pid = MyProcPid;
		strlcpy(s->name, ready[i], PREPUSH_NAME_LEN);
		strlcpy(name, ready[i], PREPUSH_NAME_LEN);
		prepush->workers[my_index].busy = true;
		found = true;
	}
	SpinLockRelease(&prepush->mutex);
	return found;
}

/* Record the outcome of this worker's push of name. */
static void
finish_claim(const char *name, bool stored, const struct stat *st,
			 const TbdrWalPushResult *res, const unsigned char *settings)
{
	SpinLockAcquire(&prepush->mutex);
	for (int i = 0; i < PREPUSH_SLOTS; i++)
	{
		PrepushSlot *s = &prepush->slots[i];

		if (s->state != SLOT_PUSHING || s->owner != my_index ||
			strcmp(s->name, name) != 0)
			continue;
		if (stored)
		{
			s->size = (int64) st->st_size;
			s->ino = (uint64) st->st_ino;
			s->mtime_sec = (int64) st->st_mtim.tv_sec;
			s->mtime_nsec = st->st_mtim.tv_nsec;
			s->plain_bytes = res->plain_bytes;
			s->stored_bytes = res->stored_bytes;
			s->stored_at = GetCurrentTimestamp();
			memcpy(s->settings, settings, sizeof(s->settings));
			s->state = SLOT_STORED;
		}
		else
			s->state = SLOT_FREE;
	}
	prepush->workers[my_index].busy = false;
	prepush->workers[my_index].failing = !stored;
	SpinLockRelease(&prepush->mutex);

	/*
	 * The archiver may wait for this file, or sleep after failures (up to a
	 * minute): wake it, so that it acknowledges what is stored now or stores
	 * the file itself.
	 */
	PgArchWakeup();
}

/*
 * Store one claimed file.  Only a push that the repository acknowledged,
 * of a file that did not change meanwhile, is recorded as stored.
 */
static bool
push_one(TbdrWalPusher *pusher, const char *name, int failures)
{
	char		path[MAXPGPATH];
	struct stat before,
				after;
	TbdrWalPushResult res;
	unsigned char settings[32];
	TbdrError	err;
	bool		ok;

	snprintf(path, sizeof(path), XLOGDIR "/%s", name);
	tbdr_error_clear(&err);
	if (stat(path, &before) != 0)
	{
		/* archived and removed meanwhile: nothing to do */
		finish_claim(name, false, NULL, NULL, NULL);
		return true;
	}

	/* settings only change at the top of the loop, not during the push */
	tbdr_guc_settings_hash(settings);
	ok = tbdr_walpusher_push(pusher, name, path, &res, &err);
	if (ok && (stat(path, &after) != 0 ||
			   after.st_size != before.st_size || after.st_ino != before.st_ino ||
			   after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
			   after.st_mtim.tv_nsec != before.st_mtim.tv_nsec))
	{
		/* replaced while stored: let the archiver deal with the file */
		ok = false;
		tbdr_error_set(&err, TBDR_ERR_IO, "WAL file \"%s\" changed while it was stored", path);
	}
	finish_claim(name, ok, &before, &res, settings);
	if (ok)
	{
		ereport(DEBUG1,
				(errmsg("tbdr wal pusher stored \"%s\" (" UINT64_FORMAT " bytes, " UINT64_FORMAT " stored%s)",
						name, res.plain_bytes, res.stored_bytes,
						res.already_stored ? ", was already in the repository" : "")));
		return true;
	}

	/*
	 * The archiver retries and reports every failure as a WARNING; the
	 * worker says it once per streak.
	 */
	if (!got_sigterm)
	{
		tbdr_error_prefix(&err, "tbdr wal pusher could not store \"%s\": ", name);
		ereport(failures == 0 ? LOG : DEBUG1,
				(tbdr_errfrom(&err),
				 errdetail("The archiver stores it itself; the worker retries with backoff.")));
	}
	tbdr_walpusher_close(pusher);
	return false;
}

void
tbdr_prepush_main(Datum arg)
{
	MemoryContext pusher_context;
	MemoryContext loop_context;
	TbdrWalPusher *pusher;
	int			failures = 0;
	TimestampTz retry_at = 0;	/* after a failure: no claim before */
	bool		spool_gone;
	TimestampTz last_warned = 0;

	my_index = DatumGetInt32(arg);
	spool_gone = (my_index != 0);	/* worker 1 removes the spool */

	pqsignal(SIGTERM, prepush_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	tbdr_http_interrupt_hook = prepush_interrupted;

	if (prepush == NULL || my_index < 0 || my_index >= PREPUSH_MAX_WORKERS)
		proc_exit(0);			/* cannot happen when preloaded */

	/* A claim left by a previous incarnation of this worker is void. */
	release_my_slots(0, 0);
	before_shmem_exit(release_my_slots, 0);
	SpinLockAcquire(&prepush->mutex);
	prepush->workers[my_index].pid = MyProcPid;
	prepush->workers[my_index].latch = MyLatch;
	prepush->workers[my_index].failing = false;
	prepush->nworkers = Max(prepush->nworkers, my_index + 1);
	SpinLockRelease(&prepush->mutex);

	pusher_context = AllocSetContextCreate(TopMemoryContext, "tbdr wal pusher",
										   ALLOCSET_DEFAULT_SIZES);
	loop_context = AllocSetContextCreate(TopMemoryContext, "tbdr wal pusher scan",
										 ALLOCSET_DEFAULT_SIZES);
	pusher = tbdr_walpusher_create(pusher_context);
	update_worker_state();

	while (!got_sigterm)
	{
		long		nap = PREPUSH_NAP_MS;
		char		name[PREPUSH_NAME_LEN];

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextReset(loop_context);

		/*
		 * Recovery is over: what archive-get prefetched but recovery did not
		 * use is of no use any more.
		 */
		if (!spool_gone && !RecoveryInProgress())
			spool_gone = tbdr_walspool_remove(TBDR_WALSPOOL_DIR);

		if (!archiving_here())
			tbdr_walpusher_close(pusher);
		else if (GetCurrentTimestamp() < retry_at)
		{
			/* backing off (a wake-up from the archiver does not end it) */
			nap = Max(1, (retry_at - GetCurrentTimestamp()) / 1000);
		}
		else
		{
			MemoryContext old = MemoryContextSwitchTo(loop_context);
			TimestampTz scanned_at = GetCurrentTimestamp();
			int			nready;
			char	  **ready = scan_ready(&nready);

			MemoryContextSwitchTo(old);
			if (my_index == 0)
				warn_queue(ready, nready, &last_warned);
			if (claim_next(ready, nready, scanned_at, name))
			{
				update_worker_state();
				if (push_one(pusher, name, failures))
				{
					failures = 0;
					nap = 0;	/* look for the next one at once */
				}
				else
				{
					long		backoff = Min((long) 1000 << Min(failures, 6),
											  PREPUSH_MAX_BACKOFF_MS);

					retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   backoff);
					nap = backoff;
					failures++;
				}
				update_worker_state();
			}
		}

		if (nap > 0 && !got_sigterm)
		{
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 nap, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
	}

	tbdr_walpusher_close(pusher);
	/* exit code 1: restarted after bgw_restart_time unless shutting down */
	proc_exit(1);
}
