/*-------------------------------------------------------------------------
 * walsearch.h
 *	  Where a --target-xid or --target-name is in the archived WAL of a
 *	  timeline's history, from the WAL summaries (walsummary.h), so that
 *	  tbdr restore picks the backup (the newest whose consistent point is
 *	  before the record) and the branch by itself.
 *
 * The search runs along the window's history over every segment from the
 * first segment of its oldest usable backup to the end of its WAL, and
 * finds the first commit/abort of the xid (its 32 low bits, as
 * recovery_target_xid compares them) or the first restore point of the
 * name: the one recovery from that backup stops at.  An xid is placed by
 * segment only (summaries keep xid ranges, not positions), so a backup
 * whose consistent point is inside that segment is not chosen for it.
 * What the summaries cannot say is reported rather than guessed: segments
 * without a summary, COMMIT/ABORT PREPARED records (their xids are not
 * recorded) and undecoded records.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_WALSEARCH_H
#define TBDR_WALSEARCH_H

#include "core/window.h"

typedef struct TbdrTargetSearch
{
	bool		found;
	uint32		tli;			/* the segment that holds it */
	uint64		segno;
	uint64		lsn;			/* restore point: its LSN; xid: segment start */
	int			unsummarized;	/* segments searched without a summary */
	bool		uncertain;		/* prepared or undecoded records searched */
} TbdrTargetSearch;

/*
 * Search for target (TBDR_TARGET_XID or TBDR_TARGET_NAME) along w; on
 * success, res says where (found) or why it may have been missed.  false
 * with err set if a summary cannot be read.
 */
extern bool tbdr_target_search(const TbdrWalInventory *inv, const TbdrWindow *w,
							   const TbdrTarget *target, TbdrTargetSearch *res,
							   TbdrError *err);

/* Mark target located at res (res->found). */
extern void tbdr_target_set_location(TbdrTarget *target,
									 const TbdrTargetSearch *res);

#endif							/* TBDR_WALSEARCH_H */
