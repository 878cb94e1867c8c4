/*-------------------------------------------------------------------------
 * window.h
 *	  The restorable window: which points in time (and LSNs) a restore can
 *	  reach from the complete backups plus the contiguous WAL in the
 *	  repository, along a timeline's history; and which backup a restore to
 *	  a given target starts from.
 *
 * PostgreSQL replays, for a target timeline T, segment s from the newest
 * timeline of T's history that had begun by s (tliOfPointInHistory): the
 * segment holding a switch point is read from the new timeline.  A backup B
 * can serve T when B's timeline is in T's history and B ended before T's
 * history left B's timeline.  From B, recovery can reach every point up to
 * the end of the last segment of an unbroken run starting at B's first
 * segment; the window is the union of those intervals over the backups
 * that serve T, and a hole between two intervals is a WAL gap, named by
 * its missing segments.
 *
 * Times come from the WAL summaries (walsummary.h) recorded when each
 * segment was archived, and the window is exact or conservative: every
 * target inside it restores.  Recovery to a time T stops before the first
 * commit or abort record later than T, and fails if that record comes
 * before the consistent point or is not in the archived WAL.  So from a
 * backup B:
 *	 - the window starts 1 us after the latest commit time in B's own WAL
 *	   (its first to its stop segment), or, when a segment there has no
 *	   summary or an undecoded record, 1 s after B's stop time (whole
 *	   seconds: recorded before any later commit);
 *	 - it ends 1 us before the latest commit time in a summarized segment
 *	   after B's stop segment (walking back from the last contiguous one);
 *	   without one (old segments archived before summaries, or no commit
 *	   since B) time targets are not offered from B;
 *	 - LSN targets reach from B's stop LSN to the start of the last
 *	   complete record (recovery needs a record at or after the target),
 *	   or, without a summary of the last segment, to that segment's start.
 * Times here are Unix microseconds, since recovery targets and commit
 * times have microseconds.
 *
 * The computation (tbdr_window_compute, tbdr_window_select) is pure: it
 * takes manifest headers and a WAL inventory, so that it is unit-tested
 * without a repository; tbdr_wal_inventory_load fills the inventory from
 * one listing of wal/ plus the timeline history files.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_WINDOW_H
#define TBDR_WINDOW_H

#include "core/codec.h"
#include "core/error.h"
#include "core/manifest.h"
#include "core/storage.h"
#include "core/walsummary.h"

#define TBDR_WAL_SEG_SIZE_DEFAULT	(16 * 1024 * 1024)
#define TBDR_MAX_TIMELINE_DEPTH		1024

/* One entry of a timeline's history: tli was current on [begin, end). */
typedef struct TbdrTimelineEntry
{
	uint32		tli;
	uint64		begin;			/* 0 for the first timeline */
	uint64		end;			/* UINT64_MAX for the timeline itself */
} TbdrTimelineEntry;

/* A timeline's history, oldest first; the last entry is the timeline. */
typedef struct TbdrTimelineHistory
{
	uint32		tli;
	int			n;
	TbdrTimelineEntry *entries;
} TbdrTimelineHistory;

/* A WAL segment in the repository. */
typedef struct TbdrWalSeg
{
	uint32		tli;
	uint64		segno;
	int64		mtime;			/* archive time, Unix seconds (0 unknown) */
	bool		has_summary;	/* walsum/ holds its summary */
	bool		summary_loaded;
	TbdrWalSummary *summary;	/* once loaded (NULL: none) */
} TbdrWalSeg;

typedef struct TbdrWalInventory
{
	int			nsegs;
	TbdrWalSeg *segs;			/* sorted by (tli, segno) */
	int			nhistories;
	TbdrTimelineHistory *histories;	/* one per history file, by tli */
	uint64		seg_size;
	/* where summaries are loaded from, on first use (NULL: unit tests) */
	TbdrStorage *st;
	TbdrCodecDecoder *dec;
} TbdrWalInventory;

typedef struct TbdrWindowInterval
{
	const char *backup_id;		/* the oldest backup starting it */
	uint64		start_lsn;		/* that backup's stop LSN */
	uint64		end_lsn;		/* end of the last contiguous segment */
	uint64		lsn_max;		/* the last LSN target that restores */
	int64		start_time;		/* time targets: the first and last */
	int64		end_time;		/* that restore (both 0: none) */
	uint32		end_tli;
	uint64		end_segno;		/* the last contiguous segment */
} TbdrWindowInterval;

typedef struct TbdrWindowGap
{
	char		first[25];		/* first missing segment */
	char		last[25];		/* last missing segment (may equal first) */
	uint64		start_lsn;		/* WAL from here ... */
	uint64		end_lsn;		/* ... to here is missing */
} TbdrWindowGap;

/* Per backup: can it serve the target timeline, and to where. */
typedef struct TbdrWindowBackup
{
	const TbdrManifest *backup;
	bool		on_timeline;	/* in the target timeline's history */
	bool		usable;			/* on_timeline and its own WAL is there */
	char		missing[25];	/* first missing segment of its own WAL */
	uint64		end_lsn;		/* end of its contiguous WAL (usable) */
	uint64		lsn_max;		/* the last LSN target from it */
	int64		start_time;		/* time targets from it (see above); */
	int64		end_time;		/* end_time 0: none */
} TbdrWindowBackup;

typedef struct TbdrWindow
{
	uint32		tli;			/* the target timeline */
	uint64		seg_size;
	TbdrTimelineHistory history;
	int			nbackups;
	TbdrWindowBackup *backups;	/* as given (complete backups) */
	int			nintervals;
	TbdrWindowInterval *intervals;	/* by LSN, disjoint */
	int			ngaps;
	TbdrWindowGap *gaps;		/* between consecutive intervals */
} TbdrWindow;

typedef enum TbdrTargetType
{
	TBDR_TARGET_LATEST = 0,		/* end of the archived WAL */
	TBDR_TARGET_IMMEDIATE,		/* the backup's consistent point */
	TBDR_TARGET_TIME,
	TBDR_TARGET_LSN,
	TBDR_TARGET_XID,
	TBDR_TARGET_NAME
} TbdrTargetType;

typedef struct TbdrTarget
{
	TbdrTargetType type;
	int64		time;			/* microseconds */
	uint64		lsn;
	const char *text;			/* as given (time, xid, name) */
	/* xid and name targets: where the WAL summaries place them */
	bool		located;
	uint64		loc_segno;		/* the segment holding the record */
	uint64		loc_lsn;		/* the restore point's LSN; for an xid,
								 * the segment's start */
} TbdrTarget;

/* ---- the WAL inventory ---- */

/*
 * List wal/ and read every timeline history file (decoded with dec, which
 * is reset per object).  seg_size: WAL segment size of the cluster.
 */
extern TbdrWalInventory *tbdr_wal_inventory_load(TbdrStorage *st,
												 TbdrCodecDecoder *dec,
												 uint64 seg_size,
												 TbdrError *err);

/* Add a segment / a parsed history (unit tests, and the loader). */
extern void tbdr_wal_inventory_add_segment(TbdrWalInventory *inv, uint32 tli,
										   uint64 segno, int64 mtime);
extern bool tbdr_wal_inventory_add_history(TbdrWalInventory *inv, uint32 tli,
										   const char *text, TbdrError *err);
/* Sort the segments; call after adding. */
extern void tbdr_wal_inventory_finish(TbdrWalInventory *inv);
/* Give a segment its summary (unit tests; after finish).  false: no such segment. */
extern bool tbdr_wal_inventory_set_summary(TbdrWalInventory *inv, uint32 tli,
										   uint64 segno, TbdrWalSummary *sum);

/* The segment (tli, segno), or NULL. */
extern TbdrWalSeg *tbdr_wal_inventory_find(const TbdrWalInventory *inv,
										   uint32 tli, uint64 segno);

/*
 * The summary of seg, loaded from the repository on first use: true with
 * *sum NULL if it has none; false with err set if it cannot be read.
 */
extern bool tbdr_wal_segment_summary(const TbdrWalInventory *inv,
									 TbdrWalSeg *seg,
									 const TbdrWalSummary **sum,
									 TbdrError *err);

/* The timeline segment segno is read from when recovering along h. */
extern uint32 tbdr_timeline_of_segment(const TbdrTimelineHistory *h,
									   uint64 segno, uint64 seg_size);

/* The newest timeline: of history files and of the given backups. */
extern uint32 tbdr_wal_latest_timeline(const TbdrWalInventory *inv,
									   TbdrManifest *const *backups,
									   int nbackups);

/*
 * Parse a history file (PostgreSQL's format: "parentTLI\tswitchLSN\treason"
 * lines, # comments) of timeline tli.
 */
extern bool tbdr_timeline_history_parse(const char *text, uint32 tli,
										TbdrTimelineHistory *h,
										TbdrError *err);

/* ---- the window ---- */

/*
 * The window on timeline tli from the given complete backups (NULL with
 * err set if a WAL summary cannot be read).
 */
extern TbdrWindow *tbdr_window_compute(const TbdrWalInventory *inv,
									   TbdrManifest *const *backups,
									   int nbackups, uint32 tli,
									   TbdrError *err);

/* "from 2026-...Z (0/3000100) to ...; WAL gap: ..." (palloc'd) */
extern char *tbdr_window_describe(const TbdrWindow *w);

/*
 * The backup to restore for target: backup_id if given (it must serve the
 * timeline and reach the target), else the newest usable one that ends
 * before the target and reaches it.  A target outside the window, or in a
 * gap, is TBDR_ERR_CONFIG with a message naming the window.  Returns the
 * index into w->backups, or -1.
 */
extern int	tbdr_window_select(const TbdrWindow *w, const TbdrTarget *target,
							   const char *backup_id, TbdrError *err);

/* ---- helpers ---- */

/* WAL file name of (tli, segno) into out[25]. */
extern void tbdr_wal_segment_name(uint32 tli, uint64 segno, uint64 seg_size,
								  char *out);
/* Parse a 24-hex segment name; false if it is not one. */
extern bool tbdr_wal_segment_parse(const char *name, uint64 seg_size,
								   uint32 *tli, uint64 *segno);

/*
 * The segment size that maps the manifest's start/stop LSNs to its
 * wal_start/wal_stop names; TBDR_WAL_SEG_SIZE_DEFAULT if it cannot tell.
 */
extern uint64 tbdr_wal_seg_size_of(const TbdrManifest *m);

/*
 * A timestamp as PostgreSQL prints timestamptz, "2026-11-30 01:02:03.45+00"
 * (also 'T' for the space, "Z", "+05:30", " UTC"), to Unix microseconds.
 * A zone is required: false with err set (TBDR_ERR_CONFIG) otherwise.
 */
extern bool tbdr_parse_timestamp(const char *s, int64 *us, TbdrError *err);
/*
 * Unix microseconds as PostgreSQL prints timestamptz, trailing zeros of
 * the fraction dropped: "2026-11-30 01:02:03.45+00", "... 01:02:03+00"
 * (out >= 40).
 */
extern void tbdr_format_timestamp(int64 us, char *out, size_t outlen);

extern void tbdr_wal_inventory_free(TbdrWalInventory *inv);
extern void tbdr_window_free(TbdrWindow *w);

#endif							/* TBDR_WINDOW_H */
