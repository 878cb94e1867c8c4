/*-------------------------------------------------------------------------
 * walsummary.h
 *	  What one archived WAL segment says about recovery targets: the times
 *	  and transaction IDs of its commit and abort records, its restore
 *	  points and where its last record starts and ends.  Computed when the
 *	  segment is archived (tbdr_wal_push) and stored next to it as a small
 *	  object (walsum/..., repo.h), so that tbdr list and tbdr restore know
 *	  the exact restorable window and where an --target-xid, --target-name
 *	  or --target-lsn is without reading the WAL itself.
 *
 * The walker reads the segment page by page with PostgreSQL's own page and
 * record headers (access/xlog_internal.h, access/xlogrecord.h), checks every
 * record's CRC and stops at the first invalid page or record, or after an
 * XLOG_SWITCH record: what it reports is exactly what recovery would read.
 * A record that began in the previous segment (the head of this one) is
 * skipped; a record that runs past the end of the segment is not decoded
 * and, when it may be a commit, abort or restore point, marks the summary
 * "undecoded".  Readers treat such a segment conservatively (window.h).
 *
 * Times are Unix microseconds (converted from PostgreSQL's TimestampTz).
 * Transaction IDs are the 32-bit values recovery_target_xid compares; they
 * are kept as sorted disjoint ranges, which stays small because commit
 * order roughly follows xid order.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_WALSUMMARY_H
#define TBDR_WALSUMMARY_H

#include "lib/stringinfo.h"

#include "core/error.h"

/* Restore point names are at most MAXFNAMELEN - 1 (63) bytes. */
#define TBDR_RESTORE_POINT_NAME_MAX	64

typedef struct TbdrRestorePoint
{
	uint64		lsn;			/* where the record starts */
	int64		time;			/* rp_time, Unix microseconds */
	char		name[TBDR_RESTORE_POINT_NAME_MAX];
} TbdrRestorePoint;

typedef struct TbdrXidRange
{
	uint32		lo;
	uint32		hi;				/* inclusive */
} TbdrXidRange;

typedef struct TbdrWalSummary
{
	uint64		seg_start;		/* LSN of the segment's first byte */
	int			nrecords;		/* complete records that start here */
	uint64		last_record;	/* start of the last of them (0: none) */
	uint64		end;			/* end of the last of them */
	bool		switched;		/* ends with an XLOG_SWITCH record */
	bool		undecoded;		/* a commit, abort or restore point (or a
								 * record that may be one: it runs into the
								 * next segment) could not be decoded */
	int			nxacts;			/* commit and abort records */
	int64		xact_time_min;	/* their times (valid if nxacts > 0) */
	int64		xact_time_max;
	bool		prepared_xids;	/* COMMIT/ABORT PREPARED records, whose xids
								 * are not in xids[] */
	int			nxids;
	TbdrXidRange *xids;			/* sorted, disjoint, not adjacent */
	int			nrps;
	TbdrRestorePoint *rps;		/* in WAL order */
} TbdrWalSummary;

/*
 * Walk the WAL segment file path (of WAL segment size seg_size, starting at
 * LSN seg_start).  false with err set if the file cannot be read or its
 * first page is not a valid WAL page of that segment.
 */
extern TbdrWalSummary *tbdr_wal_summarize_file(const char *path,
											   uint64 seg_start,
											   uint64 seg_size,
											   TbdrError *err);

/* Serialized form (a few text lines, docs/LAYOUT.md) and back. */
extern void tbdr_wal_summary_write(const TbdrWalSummary *s, StringInfo out);
extern TbdrWalSummary *tbdr_wal_summary_parse(const char *text, size_t len,
											  TbdrError *err);

/* Does the summary hold a commit or abort of xid? */
extern bool tbdr_wal_summary_has_xid(const TbdrWalSummary *s, uint32 xid);

/* The first restore point named name, or NULL. */
extern const TbdrRestorePoint *tbdr_wal_summary_find_rp(const TbdrWalSummary *s,
														const char *name);

extern void tbdr_wal_summary_free(TbdrWalSummary *s);

#endif							/* TBDR_WALSUMMARY_H */
