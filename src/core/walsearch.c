/*-------------------------------------------------------------------------
 * walsearch.c
 *	  Locating xid and restore point targets in the WAL summaries (see
 *	  walsearch.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include "core/walsearch.h"

/* Does sum hold the target?  Sets res on a hit. */
static bool
summary_holds(const TbdrWalSummary *sum, const TbdrTarget *target,
			  uint32 xid, TbdrTargetSearch *res)
{
	if (target->type == TBDR_TARGET_XID)
	{
		if (!tbdr_wal_summary_has_xid(sum, xid))
			return false;
		res->lsn = sum->seg_start;
		return true;
	}
	else
	{
		const TbdrRestorePoint *rp = tbdr_wal_summary_find_rp(sum, target->text);

		if (rp == NULL)
			return false;
		res->lsn = rp->lsn;
		return true;
	}
}

bool
tbdr_target_search(const TbdrWalInventory *inv, const TbdrWindow *w,
				   const TbdrTarget *target, TbdrTargetSearch *res,
				   TbdrError *err)
{
	uint64		seg_size = inv->seg_size;
	uint64		first = PG_UINT64_MAX;
	uint64		end = 0;
	uint32		xid = 0;

	memset(res, 0, sizeof(*res));
	if (target->type == TBDR_TARGET_XID)
		xid = (uint32) strtoull(target->text, NULL, 10);
	for (int i = 0; i < w->nbackups; i++)
	{
		if (w->backups[i].usable)
		{
			first = Min(first, w->backups[i].backup->start_lsn / seg_size);
			end = Max(end, w->backups[i].end_lsn / seg_size);
		}
	}
	for (uint64 s = first; s < end; s++)
	{
		uint32		tli = tbdr_timeline_of_segment(&w->history, s, seg_size);
		TbdrWalSeg *seg = tbdr_wal_inventory_find(inv, tli, s);
		const TbdrWalSummary *sum;

		if (seg == NULL)
			continue;			/* a gap: the window shows it */
		if (!tbdr_wal_segment_summary(inv, seg, &sum, err))
			return false;
		if (sum == NULL)
		{
			res->unsummarized++;
			continue;
		}
		if (sum->undecoded || (target->type == TBDR_TARGET_XID && sum->prepared_xids))
			res->uncertain = true;
		if (summary_holds(sum, target, xid, res))
		{
			res->found = true;
			res->tli = tli;
			res->segno = s;
			return true;
		}
	}
	return true;
}

void
tbdr_target_set_location(TbdrTarget *target, const TbdrTargetSearch *res)
{
	target->located = true;
	target->loc_segno = res->segno;
	target->loc_lsn = res->lsn;
}
