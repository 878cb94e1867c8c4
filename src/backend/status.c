/*-------------------------------------------------------------------------
 * status.c
 *	  Archiving status in shared memory and the tbdr_status() SQL function.
 *
 * The archiver (and later the pre-push worker) record successes and
 * failures under a spinlock; tbdr_status() copies the record and adds what
 * is computed on call from pg_wal/archive_status: how many files wait for
 * archiving (.ready) and how long the oldest of them has waited.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <time.h>

#include "access/htup_details.h"
#include "access/xlog_internal.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "postmaster/pgarch.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "backend/monitor.h"
#include "backend/shmem.h"
#include "backend/status.h"

#define STATUS_NAME_LEN		(MAX_XFN_CHARS + 1)
#define STATUS_MESSAGE_LEN	1024

typedef struct TbdrSharedStatus
{
	slock_t		mutex;
	TimestampTz stats_since;
	char		last_archived_wal[STATUS_NAME_LEN];
	TimestampTz last_archived_time;
	char		last_failed_wal[STATUS_NAME_LEN];
	TimestampTz last_failed_time;
	char		last_failure[STATUS_MESSAGE_LEN];
	int64		archived_count;
	int64		archived_bytes;
	int64		stored_bytes;
	int64		failed_count;
	char		worker_state[32];
	/* the current archiving outage, for the recovery log line */
	TimestampTz failing_since;	/* first failure since the last success */
	int64		failed_count_at_success;
	/* WAL gaps (tbdr.archive_queue_max) */
	int64		gap_count;
	char		last_gap_wal[STATUS_NAME_LEN];
	TimestampTz last_gap_time;
} TbdrSharedStatus;

static TbdrSharedStatus *shared_status = NULL;

PG_FUNCTION_INFO_V1(tbdr_status);

static void
status_shmem_init(void *area)
{
	TbdrSharedStatus *st = area;

	st->stats_since = GetCurrentTimestamp();
	strlcpy(st->worker_state, "none", sizeof(st->worker_state));
}

void
tbdr_status_init(void)
{
	tbdr_shmem_add("tbdr status", sizeof(TbdrSharedStatus),
				   offsetof(TbdrSharedStatus, mutex),
				   (void **) &shared_status, status_shmem_init);
}

bool
tbdr_status_available(void)
{
	return shared_status != NULL;
}

void
tbdr_status_archived(const char *file, int64 plain_bytes, int64 stored_bytes)
{
	TimestampTz now = GetCurrentTimestamp();

	bool		recovered;
	TimestampTz failing_since = 0;
	int64		failures = 0;

	if (shared_status == NULL)
		return;
	SpinLockAcquire(&shared_status->mutex);
	/* the first success after failures ends an outage: say so once */
	recovered = shared_status->last_failed_time > shared_status->last_archived_time;
	if (recovered)
	{
		failing_since = shared_status->failing_since;
		failures = shared_status->failed_count - shared_status->failed_count_at_success;
	}
	strlcpy(shared_status->last_archived_wal, file, STATUS_NAME_LEN);
	shared_status->last_archived_time = now;
	shared_status->archived_count++;
	shared_status->archived_bytes += plain_bytes;
	shared_status->stored_bytes += stored_bytes;
	shared_status->failed_count_at_success = shared_status->failed_count;
	shared_status->failing_since = 0;
	SpinLockRelease(&shared_status->mutex);

	if (recovered)
		ereport(LOG,
				(errmsg("tbdr: archiving recovered: \"%s\" stored after " INT64_FORMAT " failed attempts since %s",
						file, failures, timestamptz_to_str(failing_since))));
}

void
tbdr_status_failed(const char *file, const char *message)
{
	TimestampTz now = GetCurrentTimestamp();

	if (shared_status == NULL)
		return;
	SpinLockAcquire(&shared_status->mutex);
	strlcpy(shared_status->last_failed_wal, file, STATUS_NAME_LEN);
	if (shared_status->failing_since == 0)
		shared_status->failing_since = now;
	shared_status->last_failed_time = now;
	strlcpy(shared_status->last_failure, message, STATUS_MESSAGE_LEN);
	shared_status->failed_count++;
	SpinLockRelease(&shared_status->mutex);
}

void
tbdr_status_gap(const char *file)
{
	TimestampTz now = GetCurrentTimestamp();

	if (shared_status == NULL)
		return;
	SpinLockAcquire(&shared_status->mutex);
	strlcpy(shared_status->last_gap_wal, file, STATUS_NAME_LEN);
	shared_status->last_gap_time = now;
	shared_status->gap_count++;
	SpinLockRelease(&shared_status->mutex);
}

void
tbdr_status_set_worker_state(const char *state)
{
	if (shared_status == NULL)
		return;
	SpinLockAcquire(&shared_status->mutex);
	strlcpy(shared_status->worker_state, state,
			sizeof(shared_status->worker_state));
	SpinLockRelease(&shared_status->mutex);
}

/*
 * Count the .ready files in pg_wal/archive_status and find the oldest one
 * (by the .ready file's modification time: when the segment was completed).
 */
static void
scan_ready(int64 *count, char *oldest_name, time_t *oldest_mtime)
{
	DIR		   *dir;
	struct dirent *de;
	const char *statusdir = XLOGDIR "/archive_status";

	*count = 0;
	oldest_name[0] = '\0';
	*oldest_mtime = 0;

	dir = AllocateDir(statusdir);
	while ((de = ReadDir(dir, statusdir)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		char		path[MAXPGPATH];
		struct stat st;

		if (len <= 6 || strcmp(de->d_name + len - 6, ".ready") != 0 ||
			len - 6 >= STATUS_NAME_LEN)
			continue;
		(*count)++;
		snprintf(path, sizeof(path), "%s/%s", statusdir, de->d_name);
		if (stat(path, &st) != 0)
			continue;			/* archived meanwhile */
		if (oldest_name[0] == '\0' || st.st_mtime < *oldest_mtime ||
			(st.st_mtime == *oldest_mtime &&
			 strncmp(de->d_name, oldest_name, len - 6) < 0))
		{
			memcpy(oldest_name, de->d_name, len - 6);
			oldest_name[len - 6] = '\0';
			*oldest_mtime = st.st_mtime;
		}
	}
	FreeDir(dir);
}

#define STATUS_COLS (17 + TBDR_MONITOR_COLS)

Datum
tbdr_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[STATUS_COLS];
	bool		nulls[STATUS_COLS];
	TbdrSharedStatus s;
	int64		ready;
	char		oldest[STATUS_NAME_LEN];
	time_t		oldest_mtime;
	int			i = 0;

	if (shared_status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tbdr is not loaded at server start"),
				 errhint("Add tbdr to shared_preload_libraries in postgresql.conf and restart the server.")));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (tupdesc->natts != STATUS_COLS)
		elog(ERROR, "tbdr_status() returns %d columns, expected %d: update the extension",
			 tupdesc->natts, STATUS_COLS);

	SpinLockAcquire(&shared_status->mutex);
	memcpy(&s, shared_status, sizeof(s));
	SpinLockRelease(&shared_status->mutex);

	scan_ready(&ready, oldest, &oldest_mtime);

	memset(nulls, 0, sizeof(nulls));

	/* last_archived_wal, last_archived_time */
	if (s.last_archived_wal[0])
	{
		values[i++] = CStringGetTextDatum(s.last_archived_wal);
		values[i++] = TimestampTzGetDatum(s.last_archived_time);
	}
	else
	{
		nulls[i++] = true;
		nulls[i++] = true;
	}
	/* last_failed_wal, last_failed_time, last_failure */
	if (s.last_failed_wal[0])
	{
		values[i++] = CStringGetTextDatum(s.last_failed_wal);
		values[i++] = TimestampTzGetDatum(s.last_failed_time);
		values[i++] = CStringGetTextDatum(s.last_failure);
	}
	else
	{
		nulls[i++] = true;
		nulls[i++] = true;
		nulls[i++] = true;
	}
	/* archived_count, failed_count, archived_bytes, stored_bytes */
	values[i++] = Int64GetDatum(s.archived_count);
	values[i++] = Int64GetDatum(s.failed_count);
	values[i++] = Int64GetDatum(s.archived_bytes);
	values[i++] = Int64GetDatum(s.stored_bytes);
	/* queue_depth, oldest_ready_wal, oldest_ready_age */
	values[i++] = Int64GetDatum(ready);
	if (oldest[0])
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz then = time_t_to_timestamptz(oldest_mtime);
		Interval   *age = (Interval *) palloc0(sizeof(Interval));

		age->time = now > then ? now - then : 0;
		values[i++] = CStringGetTextDatum(oldest);
		values[i++] = IntervalPGetDatum(age);
	}
	else
	{
		nulls[i++] = true;
		nulls[i++] = true;
	}
	/* worker_state, stats_since */
	values[i++] = CStringGetTextDatum(s.worker_state);
	values[i++] = TimestampTzGetDatum(s.stats_since);
	/* gap_count, last_gap_wal, last_gap_time */
	values[i++] = Int64GetDatum(s.gap_count);
	if (s.last_gap_wal[0])
	{
		values[i++] = CStringGetTextDatum(s.last_gap_wal);
		values[i++] = TimestampTzGetDatum(s.last_gap_time);
	}
	else
	{
		nulls[i++] = true;
		nulls[i++] = true;
	}
	/* backups, archive lag, repository, expiry (monitor.h) */
	i = tbdr_monitor_status_columns(values, nulls, i, s.last_archived_wal,
									s.last_archived_time, ready);
	Assert(i == STATUS_COLS);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
