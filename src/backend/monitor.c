/*-------------------------------------------------------------------------
 * monitor.c
 *	  Backup, archive-lag, repository and expiry figures for tbdr_status()
 *	  (see monitor.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "backend/monitor.h"
#include "backend/shmem.h"

/* Complete backups before the newest one that the size median looks at. */
#define MEDIAN_OF	7

typedef struct TbdrMonitorShared
{
	slock_t		mutex;
	bool		backups_known;	/* a listing or a finished backup was seen */
	char		last_id[TBDR_BACKUP_ID_LEN + 1];
	char		last_status[512];	/* or "unknown: <why>" while not known */
	int64		last_bytes;
	bool		have_success;
	TimestampTz last_success_time;
	int64		last_success_bytes;
	int64		median_bytes;	/* 0: fewer than one earlier backup */
	bool		repo_known;
	int64		repo_bytes;
	TimestampTz expiry_time;	/* 0: none since start */
	char		expiry_result[512];
} TbdrMonitorShared;

static TbdrMonitorShared *mon = NULL;

void
tbdr_monitor_init(void)
{
	tbdr_shmem_add("tbdr monitor", sizeof(TbdrMonitorShared),
				   offsetof(TbdrMonitorShared, mutex), (void **) &mon, NULL);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

void
tbdr_monitor_backups(const TbdrBackupList *list)
{
	const TbdrBackupInfo *last = NULL;
	const TbdrBackupInfo *success = NULL;
	int64		sizes[MEDIAN_OF];
	int			nsizes = 0;
	int64		median = 0;

	if (mon == NULL)
		return;
	/* items are sorted by id, oldest first */
	for (int i = list->count - 1; i >= 0; i--)
	{
		const TbdrBackupInfo *b = &list->items[i];

		if (b->state == TBDR_BACKUP_RUNNING)
			continue;
		if (last == NULL)
			last = b;
		if (b->state != TBDR_BACKUP_COMPLETE || b->header == NULL)
			continue;
		if (success == NULL)
			success = b;
		else if (nsizes < MEDIAN_OF)
			sizes[nsizes++] = b->header->stored_bytes;
	}
	if (nsizes > 0)
	{
		qsort(sizes, nsizes, sizeof(int64), cmp_int64);
		median = nsizes % 2 ? sizes[nsizes / 2] :
			(sizes[nsizes / 2 - 1] + sizes[nsizes / 2]) / 2;
	}

	SpinLockAcquire(&mon->mutex);
	mon->backups_known = true;
	if (last)
	{
		strlcpy(mon->last_id, last->id, sizeof(mon->last_id));
		strlcpy(mon->last_status, tbdr_backup_state_name(last->state),
				sizeof(mon->last_status));
		mon->last_bytes = last->header ? last->header->stored_bytes : 0;
	}
	else
	{
		mon->last_id[0] = '\0';
		mon->last_status[0] = '\0';
	}
	mon->have_success = success != NULL;
	if (success)
	{
		int64		t = success->header->stop_time ? success->header->stop_time :
			success->header->start_time;

		mon->last_success_time = time_t_to_timestamptz((pg_time_t) t);
		mon->last_success_bytes = success->header->stored_bytes;
	}
	mon->median_bytes = median;
	SpinLockRelease(&mon->mutex);
}

void
tbdr_monitor_backups_unknown(const char *why)
{
	if (mon == NULL)
		return;
	SpinLockAcquire(&mon->mutex);
	/* a listing or a finished backup may have filled them meanwhile */
	if (!mon->backups_known)
		snprintf(mon->last_status, sizeof(mon->last_status), "unknown: %s", why);
	SpinLockRelease(&mon->mutex);
}

void
tbdr_monitor_backup_finished(const char *id, bool ok, int64 stored_bytes)
{
	TimestampTz now = GetCurrentTimestamp();

	if (mon == NULL)
		return;
	SpinLockAcquire(&mon->mutex);
	mon->backups_known = true;
	strlcpy(mon->last_id, id, sizeof(mon->last_id));
	strlcpy(mon->last_status, ok ? "complete" : "failed", sizeof(mon->last_status));
	mon->last_bytes = ok ? stored_bytes : 0;
	if (ok)
	{
		/* the median moves at the next listing (the next expiry) */
		mon->have_success = true;
		mon->last_success_time = now;
		mon->last_success_bytes = stored_bytes;
	}
	SpinLockRelease(&mon->mutex);
}

void
tbdr_monitor_expiry(bool ok, const char *result, int64 repo_bytes)
{
	TimestampTz now = GetCurrentTimestamp();

	if (mon == NULL)
		return;
	SpinLockAcquire(&mon->mutex);
	mon->expiry_time = now;
	snprintf(mon->expiry_result, sizeof(mon->expiry_result), "%s: %s",
			 ok ? "ok" : "failed", result);
	if (repo_bytes >= 0)
	{
		mon->repo_known = true;
		mon->repo_bytes = repo_bytes;
	}
	SpinLockRelease(&mon->mutex);
}

/*
 * Completed segments not archived yet: from the last archived segment to
 * the one before the segment being written.  Falls back to the .ready count
 * when that cannot be known (nothing archived since start, a standby, or a
 * timeline switch since).
 */
static int64
archive_lag(const char *last_archived_wal, int64 ready_count)
{
	TimeLineID	tli;
	XLogSegNo	archived;
	XLogSegNo	current;

	if (last_archived_wal == NULL || strlen(last_archived_wal) != XLOG_FNAME_LEN ||
		!IsXLogFileName(last_archived_wal) || RecoveryInProgress())
		return ready_count;
	XLogFromFileName(last_archived_wal, &tli, &archived, wal_segment_size);
	if (tli != GetWALInsertionTimeLine())
		return ready_count;
	XLByteToSeg(GetXLogWriteRecPtr(), current, wal_segment_size);
	if (current <= archived + 1)
		return Max(0, ready_count);
	return Max((int64) (current - archived - 1), ready_count);
}

int
tbdr_monitor_status_columns(Datum *values, bool *nulls, int i,
							const char *last_archived_wal,
							TimestampTz last_archived_time,
							int64 ready_count)
{
	TbdrMonitorShared m;
	TimestampTz now = GetCurrentTimestamp();
	int			first PG_USED_FOR_ASSERTS_ONLY = i;

	if (mon)
	{
		SpinLockAcquire(&mon->mutex);
		memcpy(&m, mon, sizeof(m));
		SpinLockRelease(&mon->mutex);
	}
	else
		memset(&m, 0, sizeof(m));

	/*
	 * last_successful_backup_time, last_successful_backup_bytes: NULL while
	 * unknown, -infinity when the repository holds no complete backup (so
	 * that "time since" is infinite and the alert fires).
	 */
	nulls[i] = !m.backups_known;
	if (m.have_success)
		values[i++] = TimestampTzGetDatum(m.last_success_time);
	else
	{
		TimestampTz ninf;

		TIMESTAMP_NOBEGIN(ninf);
		values[i++] = TimestampTzGetDatum(ninf);
	}
	nulls[i] = !m.have_success;
	values[i++] = Int64GetDatum(m.last_success_bytes);
	/* recent_backup_median_bytes */
	nulls[i] = m.median_bytes == 0;
	values[i++] = Int64GetDatum(m.median_bytes);
	/*
	 * last_backup_id, last_backup_status, last_backup_bytes; the status alone
	 * says "unknown: <why>" while the repository could not be read.
	 */
	nulls[i] = nulls[i + 2] = m.last_id[0] == '\0';
	nulls[i + 1] = m.last_status[0] == '\0';
	values[i++] = CStringGetTextDatum(m.last_id);
	values[i++] = CStringGetTextDatum(m.last_status);
	values[i++] = Int64GetDatum(m.last_bytes);
	/* seconds_since_last_archive */
	nulls[i] = last_archived_wal == NULL || last_archived_wal[0] == '\0';
	values[i++] = Float8GetDatum((double) (now - last_archived_time) / USECS_PER_SEC);
	/* archive_lag_segments */
	nulls[i] = false;
	values[i++] = Int64GetDatum(archive_lag(last_archived_wal, ready_count));
	/* repository_bytes */
	nulls[i] = !m.repo_known;
	values[i++] = Int64GetDatum(m.repo_bytes);
	/* last_expiry_time, last_expiry_result */
	nulls[i] = nulls[i + 1] = m.expiry_time == 0;
	values[i++] = TimestampTzGetDatum(m.expiry_time);
	values[i++] = CStringGetTextDatum(m.expiry_result);

	Assert(i - first == TBDR_MONITOR_COLS);
	return i;
}
