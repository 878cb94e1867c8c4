/*-------------------------------------------------------------------------
 * branches.h
 *	  The histories a repository holds: which timelines are the tips of
 *	  diverging branches.
 *
 * A timeline C branches from its parent P at C's switch point (P's entry
 * in C's history file).  When P stopped there (a failover), C simply
 * continues P and a restore along C reaches everything P had.  When P went
 * on (WAL on P, or a backup of P, after the switch point: a test copy that
 * was promoted while production kept going, or a PITR that abandoned the
 * end of P), the repository holds two histories, and following the newest
 * timeline, as recovery_target_timeline = 'latest' does, silently drops
 * what P wrote after the switch.  So a tip is a timeline without children,
 * or one whose WAL or backups go past the switch point of every child;
 * more than one tip means the histories diverge and a restore must be told
 * which one to follow (tbdr restore --target-timeline).
 *
 * How far P's WAL goes: the end of the last record of its last segment
 * (WAL summary, walsummary.h), or that segment's end when it has no
 * summary (conservative: it then counts as past a switch point inside it).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BRANCHES_H
#define TBDR_BRANCHES_H

#include "core/window.h"

typedef struct TbdrBranch
{
	uint32		tli;			/* the tip */
	uint32		parent;			/* the timeline it left (0: none) */
	uint64		fork_lsn;		/* where it left it */
	uint64		first_lsn;		/* its own WAL: start of its first segment */
	uint64		end_lsn;		/* ... to the end of its WAL (0: none) */
	int64		last_archived;	/* archive time of its last segment, Unix s */
	int64		last_commit;	/* latest commit time there, us (0 unknown) */
} TbdrBranch;

/*
 * The tips of the repository's histories, oldest timeline first (*n >= 1:
 * timeline 1 when the repository is empty).  NULL with err set if a WAL
 * summary cannot be read.
 */
extern TbdrBranch *tbdr_wal_branches(const TbdrWalInventory *inv,
									 TbdrManifest *const *backups,
									 int nbackups, int *n, TbdrError *err);

/* "timeline 1 (WAL to 0/5000000, last archived ...)", palloc'd */
extern char *tbdr_branch_describe(const TbdrBranch *b);

#endif							/* TBDR_BRANCHES_H */
