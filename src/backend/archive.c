/*-------------------------------------------------------------------------
 * archive.c
 *	  The archive module: archive_library = 'tbdr'.
 *
 * The archiver process calls archive_file for each WAL-directory file that
 * is ready; we store it with tbdr_wal_push and return true only when the
 * repository acknowledged the whole, verified object.  Failures are
 * reported as WARNINGs (with the core's message, detail and hint) and
 * return false, so PostgreSQL keeps the file and retries.
 *
 * An ERROR inside an archive callback would make the archiver exit and
 * restart (PostgreSQL 15 and 16), losing the open connections; we catch our
 * own ERRORs (out of memory, a failing palloc) like contrib/basic_archive.
 *
 * A file a pre-push worker already stored (archive_worker.h) is
 * acknowledged at once; otherwise the archiver stores it itself, after
 * waking the workers so that they get ahead.  With tbdr.archive_queue_max
 * set and more files waiting than that, a segment is acknowledged without
 * being stored (see drop_if_over_queue_max).
 *
 * State kept across calls (one archiver per cluster, so static): a
 * TbdrWalPusher (walpush.h) with the open repository, its connections and
 * codec contexts; a reload that changes any tbdr.* setting reopens it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "backend/archive_worker.h"
#include "backend/compat.h"
#include "backend/ereport.h"
#include "backend/guc.h"
#include "backend/status.h"
#include "backend/walpush.h"
#include "core/repo.h"
#include "core/walarchive.h"

/*
 * If what the archiver's context holds grows past this, something leaks
 * per segment: drop everything and reopen, rather than grow for days.
 */
#define ARCHIVE_CONTEXT_LIMIT	((Size) 256 * 1024 * 1024)

static MemoryContext archive_context = NULL;
static TbdrWalPusher *archive_pusher = NULL;
static bool warned_not_preloaded = false;

static bool tbdr_archive_configured(void);
static bool tbdr_archive_file(const char *file, const char *path);
static void tbdr_archive_shutdown(void);

TBDR_DEFINE_ARCHIVE_MODULE(tbdr_archive_configured, tbdr_archive_file,
						   tbdr_archive_shutdown)

static void
report_failure(const char *file, TbdrError *err)
{
	char	   *line = tbdr_error_format(err);

	tbdr_status_failed(file, line);
	pfree(line);
	tbdr_error_prefix(err, "tbdr could not archive \"%s\": ", file);
	tbdr_ereport(WARNING, err);
}

static bool
tbdr_archive_configured(void)
{
	if (tbdr_guc.repository == NULL || tbdr_guc.repository[0] == '\0')
	{
		ereport(WARNING,
				(errmsg("tbdr.repository is not set: WAL is not archived and PostgreSQL keeps it in pg_wal"),
				 errhint("Set tbdr.repository to s3://bucket/prefix or file:///absolute/path and reload.")));
		return false;
	}
	return true;
}

/*
 * Gap markers not yet written (the repository was unreachable), written
 * after the next successful push.  Only an explanation: the gap itself is
 * the segment's absence under wal/, which the restorable window sees.
 */
#define MAX_PENDING_GAPS	1024
static char (*pending_gaps)[TBDR_WAL_NAME_MAX + 1] = NULL;
static int	npending_gaps = 0;
static TimestampTz last_gap_write_failure = 0;

static void
write_gap_markers(const char *reason)
{
	TbdrWalArchive *wa;
	TbdrError	err;
	int			done = 0;

	if (npending_gaps == 0)
		return;
	tbdr_error_clear(&err);
	wa = tbdr_walpusher_archive(archive_pusher, &err);
	if (wa != NULL)
	{
		for (; done < npending_gaps; done++)
		{
			if (!tbdr_wal_record_gap(wa, pending_gaps[done], reason, &err))
				break;
		}
	}
	if (done < npending_gaps)
	{
		last_gap_write_failure = GetCurrentTimestamp();
		tbdr_error_prefix(&err, "tbdr could not record the WAL gap in the repository: ");
		ereport(WARNING,
				(tbdr_errfrom(&err),
				 errdetail("The gap stays visible as the missing segment; the marker under gaps/ is written once the repository is reachable again.")));
	}
	memmove(pending_gaps, pending_gaps + done,
			sizeof(pending_gaps[0]) * (npending_gaps - done));
	npending_gaps -= done;
}

/*
 * tbdr.archive_queue_max (opt-in): with more WAL files waiting than that,
 * acknowledge the segment without storing it, to protect the primary's
 * disk over the archive.  Loudly: a WARNING naming the gap, the status, a
 * marker in the repository.  Timeline history files are always stored (they
 * are tiny and every restore needs them).
 */
static bool
drop_if_over_queue_max(const char *file)
{
	int			max = tbdr_guc.archive_queue_max;
	int			depth;
	char	   *reason;

	if (max <= 0 || tbdr_wal_file_kind(file) != TBDR_WAL_SEGMENT)
		return false;
	depth = tbdr_ready_count();
	if (depth <= max)
		return false;

	ereport(WARNING,
			(errmsg("tbdr: WAL segment \"%s\" is acknowledged WITHOUT being stored: %d WAL files wait for archiving, more than tbdr.archive_queue_max (%d)",
					file, depth, max),
			 errdetail("This is a gap in the WAL archive: point-in-time recovery cannot cross segment %s, and the next base backup starts a new restorable window.",
					   file),
			 errhint("Fix archiving (see the earlier tbdr warnings and tbdr_status()), then take a base backup.")));
	tbdr_status_gap(file);

	if (pending_gaps == NULL)
		pending_gaps = MemoryContextAlloc(TopMemoryContext,
										  sizeof(pending_gaps[0]) * MAX_PENDING_GAPS);
	if (npending_gaps < MAX_PENDING_GAPS)
		strlcpy(pending_gaps[npending_gaps++], file, sizeof(pending_gaps[0]));

	/*
	 * Try the repository now unless it failed lately: while it is down,
	 * waiting for its timeouts per segment would defeat the point.
	 */
	reason = psprintf("tbdr.archive_queue_max (%d) exceeded: %d WAL files were waiting for archiving",
					  max, depth);
	if (!TimestampDifferenceExceeds(last_gap_write_failure,
									GetCurrentTimestamp(), 60 * 1000))
		ereport(LOG,
				(errmsg("tbdr: the marker of the WAL gap at \"%s\" is written when the repository is reachable again", file)));
	else
		write_gap_markers(reason);
	pfree(reason);
	return true;
}

/*
 * The work of archive_file, without the error catching.  Returns true when
 * the file is stored; reports failures itself.
 */
static bool
archive_file_internal(const char *file, const char *path)
{
	TbdrError	err;
	TbdrWalPushResult res;
	bool		ok;

	tbdr_error_clear(&err);

	if (!warned_not_preloaded && !tbdr_status_available())
	{
		warned_not_preloaded = true;
		ereport(WARNING,
				(errmsg("tbdr is archiving but is not in shared_preload_libraries"),
				 errdetail("tbdr_status() cannot show archiving progress and no pre-push worker runs."),
				 errhint("Add tbdr to shared_preload_libraries and restart the server.")));
	}

	/* Stored already by a pre-push worker?  Then we are done at once. */
	if (tbdr_prepush_begin(file, path, &res) == TBDR_PREPUSH_STORED)
	{
		tbdr_status_archived(file, (int64) res.plain_bytes, (int64) res.stored_bytes);
		ereport(DEBUG1,
				(errmsg("tbdr archived \"%s\" (stored by a pre-push worker)", file)));
		tbdr_prepush_wake();
		return true;
	}

	/* The workers are absent or behind: let them go on ahead of us. */
	tbdr_prepush_wake();

	if (drop_if_over_queue_max(file))
	{
		tbdr_prepush_end(file);
		return true;
	}

	ereport(DEBUG2, (errmsg("tbdr archiving \"%s\"", file)));
	ok = tbdr_walpusher_push(archive_pusher, file, path, &res, &err);
	tbdr_prepush_end(file);
	if (!ok)
	{
		report_failure(file, &err);
		return false;
	}

	tbdr_status_archived(file, (int64) res.plain_bytes, (int64) res.stored_bytes);
	if (npending_gaps > 0)
		write_gap_markers("tbdr.archive_queue_max exceeded");
	ereport(DEBUG1,
			(errmsg("tbdr archived \"%s\" (" UINT64_FORMAT " bytes, " UINT64_FORMAT " stored%s)",
					file, res.plain_bytes, res.stored_bytes,
					res.already_stored ? ", was already in the repository" : "")));
	return true;
}

/*
 * After an ERROR inside archive_file_internal: the core's state may be
 * half-updated, so forget it (without calling into it again) and reopen on
 * the next call.  Called in archive_context's parent context.
 */
static void
archive_forget_after_error(const char *file)
{
	tbdr_walpusher_forget(archive_pusher);
	MemoryContextReset(archive_context);
	tbdr_prepush_end(file);
	tbdr_status_failed(file, "internal error, see the server log");
}

static bool
tbdr_archive_file(const char *file, const char *path)
{
	MemoryContext oldcontext;
	volatile bool result = false;
#if !TBDR_ARCHIVER_CATCHES_ERRORS
	sigjmp_buf	local_sigjmp_buf;
#endif

	if (archive_context == NULL)
	{
		archive_context = AllocSetContextCreate(TopMemoryContext,
												"tbdr archive",
												ALLOCSET_DEFAULT_SIZES);
		archive_pusher = tbdr_walpusher_create(archive_context);
	}

	/*
	 * Everything, including the long-lived repository handle, lives in
	 * archive_context: the core frees what it allocates per segment, so it
	 * does not grow; after an ERROR we drop it all and start over.
	 */
	oldcontext = MemoryContextSwitchTo(archive_context);

#if TBDR_ARCHIVER_CATCHES_ERRORS

	/*
	 * The archiver reports the ERROR, cleans up after it and retries the
	 * file; only our own state is ours to reset.
	 */
	PG_TRY();
	{
		result = archive_file_internal(file, path);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		archive_forget_after_error(file);
		PG_RE_THROW();
	}
	PG_END_TRY();
#else

	/*
	 * An ERROR would reach the bottom of the archiver's exception stack and
	 * restart it as a FATAL: catch it, report it and fail the file.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		/* Since not using PG_TRY, must reset error stack by hand */
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		AtEOSubXact_Files(false, InvalidSubTransactionId, InvalidSubTransactionId);
		MemoryContextSwitchTo(oldcontext);
		archive_forget_after_error(file);
		PG_exception_stack = NULL;
		RESUME_INTERRUPTS();
		return false;
	}
	PG_exception_stack = &local_sigjmp_buf;

	result = archive_file_internal(file, path);

	PG_exception_stack = NULL;
#endif
	MemoryContextSwitchTo(oldcontext);

	/*
	 * After a failure, drop the connections: a network or server problem
	 * may have left them in a bad state, and reconnecting is cheap compared
	 * to the retry interval.
	 */
	if (!result ||
		MemoryContextMemAllocated(archive_context, true) > ARCHIVE_CONTEXT_LIMIT)
		tbdr_walpusher_close(archive_pusher);

	return result;
}

static void
tbdr_archive_shutdown(void)
{
	if (archive_pusher)
		tbdr_walpusher_close(archive_pusher);
}
