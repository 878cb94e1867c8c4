/*-------------------------------------------------------------------------
 * branches.c
 *	  The tips of the repository's histories (see branches.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <time.h>

#include "core/branches.h"

typedef struct TimelineInfo
{
	uint32		tli;
	uint32		parent;
	uint64		fork_lsn;		/* where it left parent */
	uint64		max_child_fork; /* 0: no child */
	bool		has_child;
	uint64		end_lsn;		/* of its own WAL and backups */
	TbdrWalSeg *first_seg;
	TbdrWalSeg *last_seg;
} TimelineInfo;

static TimelineInfo *
timeline_info(TimelineInfo **tls, int *n, uint32 tli)
{
	for (int i = 0; i < *n; i++)
	{
		if ((*tls)[i].tli == tli)
			return &(*tls)[i];
	}
	*tls = *tls ? repalloc(*tls, sizeof(TimelineInfo) * (*n + 1)) :
		palloc(sizeof(TimelineInfo));
	memset(&(*tls)[*n], 0, sizeof(TimelineInfo));
	(*tls)[*n].tli = tli;
	return &(*tls)[(*n)++];
}

/* How far the WAL of segment seg goes (see branches.h). */
static bool
segment_end(const TbdrWalInventory *inv, TbdrWalSeg *seg, uint64 *end,
			TbdrError *err)
{
	const TbdrWalSummary *sum;

	if (!tbdr_wal_segment_summary(inv, seg, &sum, err))
		return false;
	*end = (sum && sum->nrecords > 0) ? sum->end : (seg->segno + 1) * inv->seg_size;
	return true;
}

static int
tip_cmp(const void *a, const void *b)
{
	const TbdrBranch *x = a;
	const TbdrBranch *y = b;

	return x->tli < y->tli ? -1 : x->tli > y->tli ? 1 : 0;
}

/* The tip's own WAL and times. */
static bool
fill_tip(const TbdrWalInventory *inv, const TimelineInfo *t, TbdrBranch *b,
		 TbdrError *err)
{
	const TbdrWalSummary *sum = NULL;

	memset(b, 0, sizeof(*b));
	b->tli = t->tli;
	b->parent = t->parent;
	b->fork_lsn = t->fork_lsn;
	b->end_lsn = t->end_lsn;
	if (t->first_seg)
		b->first_lsn = t->first_seg->segno * inv->seg_size;
	if (t->last_seg == NULL)
		return true;
	b->last_archived = t->last_seg->mtime;
	/* the latest commit: walk back to a summarized segment with one */
	for (TbdrWalSeg *seg = t->last_seg; seg >= t->first_seg; seg--)
	{
		if (!tbdr_wal_segment_summary(inv, seg, &sum, err))
			return false;
		if (sum && sum->nxacts > 0)
		{
			b->last_commit = sum->xact_time_max;
			break;
		}
	}
	return true;
}

TbdrBranch *
tbdr_wal_branches(const TbdrWalInventory *inv, TbdrManifest *const *backups,
				  int nbackups, int *n, TbdrError *err)
{
	TimelineInfo *tls = NULL;
	int			ntls = 0;
	TbdrBranch *tips;
	int			ntips = 0;

	(void) timeline_info(&tls, &ntls, 1);
	for (int i = 0; i < inv->nhistories; i++)
	{
		const TbdrTimelineHistory *h = &inv->histories[i];
		TimelineInfo *t;

		/* (each pointer is used before the next call may move the array) */
		if (h->n >= 2)
		{
			TimelineInfo *p = timeline_info(&tls, &ntls, h->entries[h->n - 2].tli);

			p->has_child = true;
			p->max_child_fork = Max(p->max_child_fork, h->entries[h->n - 2].end);
		}
		t = timeline_info(&tls, &ntls, h->tli);
		if (h->n >= 2)
		{
			t->parent = h->entries[h->n - 2].tli;
			t->fork_lsn = h->entries[h->n - 2].end;
		}
	}
	/* segments are sorted by (tli, segno) */
	for (int i = 0; i < inv->nsegs; i++)
	{
		TimelineInfo *t = timeline_info(&tls, &ntls, inv->segs[i].tli);
		uint64		end;

		if (t->first_seg == NULL)
			t->first_seg = &inv->segs[i];
		t->last_seg = &inv->segs[i];
		if (i + 1 < inv->nsegs && inv->segs[i + 1].tli == t->tli)
			continue;
		if (!segment_end(inv, &inv->segs[i], &end, err))
			return NULL;
		t->end_lsn = Max(t->end_lsn, end);
	}
	for (int i = 0; i < nbackups; i++)
	{
		TimelineInfo *t = timeline_info(&tls, &ntls, backups[i]->timeline);

		t->end_lsn = Max(t->end_lsn, backups[i]->stop_lsn);
	}

	tips = palloc(sizeof(TbdrBranch) * ntls);
	for (int i = 0; i < ntls; i++)
	{
		const TimelineInfo *t = &tls[i];

		/* an empty repository: timeline 1 as the one tip */
		if (t->has_child && !(t->end_lsn > t->max_child_fork))
			continue;
		if (!t->has_child && t->end_lsn == 0 && t->parent == 0 && ntls > 1)
			continue;
		if (!fill_tip(inv, t, &tips[ntips], err))
			return NULL;
		ntips++;
	}
	pfree(tls);
	qsort(tips, ntips, sizeof(TbdrBranch), tip_cmp);
	*n = ntips;
	return tips;
}

char *
tbdr_branch_describe(const TbdrBranch *b)
{
	StringInfoData s;
	char		l1[32],
				l2[32];

	initStringInfo(&s);
	appendStringInfo(&s, "timeline %u", b->tli);
	if (b->parent)
	{
		tbdr_format_lsn(b->fork_lsn, l1, sizeof(l1));
		appendStringInfo(&s, " (branched from timeline %u at LSN %s)", b->parent, l1);
	}
	if (b->end_lsn == 0)
	{
		appendStringInfoString(&s, ": no WAL archived");
		return s.data;
	}
	tbdr_format_lsn(b->parent ? b->fork_lsn : b->first_lsn, l1, sizeof(l1));
	tbdr_format_lsn(b->end_lsn, l2, sizeof(l2));
	appendStringInfo(&s, ": WAL %s to %s", l1, l2);
	if (b->last_archived)
	{
		char		t[48];

		tbdr_format_timestamp(b->last_archived * INT64CONST(1000000), t, sizeof(t));
		appendStringInfo(&s, ", last segment archived at %s", t);
	}
	if (b->last_commit)
	{
		char		t[48];

		tbdr_format_timestamp(b->last_commit, t, sizeof(t));
		appendStringInfo(&s, ", last commit %s", t);
	}
	return s.data;
}
