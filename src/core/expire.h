/*-------------------------------------------------------------------------
 * expire.h
 *	  Retention policy: which backups and which WAL an expiry keeps.
 *
 * Pure computation, no I/O: given the backups of a repository, the current
 * time, tbdr.retention_days and tbdr.retention_policy, decide what to keep
 * and what to delete.  The executor (expire_exec.h) lists the repository,
 * calls this and deletes; keeping the decision here makes it testable with
 * synthetic dates (test/unit/test_expire.c).
 *
 * The rules (docs/RETENTION.md):
 *
 * - The window is [now - retention_days, now].  A point T is restorable
 *	 from a complete backup that reached consistency (stop time) at or
 *	 before T, plus continuous WAL from that backup's start.  So every
 *	 complete backup that stopped inside the window is kept, and so is the
 *	 newest complete backup that stopped before the window starts (the
 *	 "anchor"); without one, the oldest kept backup is the anchor.
 * - The newest complete backup is always kept (never delete the only one).
 * - retention_policy 'daily=D weekly=W monthly=M' keeps, in addition, the
 *	 newest complete backup of each of the last D calendar days, W weeks
 *	 (Monday to Sunday) and M months, in UTC, counting the current one;
 *	 empty periods count too.  Such backups keep only their own WAL
 *	 (wal_start .. wal_stop): they restore to their end point, not to any
 *	 point in time.
 * - Failed backups lose their data (parts); their record (started.json,
 *	 failed.json) stays while it is inside the window, so that the failure
 *	 stays visible, and goes with everything else after.
 * - Running backups are never touched, and the WAL from the oldest running
 *	 backup's start on is kept.
 * - WAL: every WAL file at or after the anchor's wal_start (on any
 *	 timeline) is kept, plus each kept backup's wal_start .. wal_stop;
 *	 everything older is deleted.  Timeline history files are never
 *	 deleted.  Positions compare log and segment numbers only, ignoring the
 *	 timeline, which can only keep more than needed, never less.  When any
 *	 kept or running backup lacks its WAL range, or no complete backup
 *	 exists, no WAL is deleted at all (wal_note says why).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_EXPIRE_H
#define TBDR_EXPIRE_H

#include "core/error.h"

typedef enum TbdrExpireStatus
{
	TBDR_EXPIRE_COMPLETE,
	TBDR_EXPIRE_FAILED,
	TBDR_EXPIRE_RUNNING
} TbdrExpireStatus;

/* One backup as the policy sees it (strings are not copied). */
typedef struct TbdrExpireBackup
{
	const char *id;				/* 20261125T020000Z */
	TbdrExpireStatus status;
	int64		start_time;		/* Unix seconds; 0: taken from the id */
	int64		stop_time;		/* 0: unknown (start_time is used) */
	const char *wal_start;		/* 24-hex-digit segment names, NULL unknown */
	const char *wal_stop;
} TbdrExpireBackup;

/* tbdr.retention_policy; 0 means no such rule. */
typedef struct TbdrRetentionPolicy
{
	int			daily;
	int			weekly;
	int			monthly;
} TbdrRetentionPolicy;

/*
 * Parse 'daily=7 weekly=4 monthly=12' (any subset, any order, separated by
 * spaces or commas; '' is no rule).  False with err set (TBDR_ERR_CONFIG)
 * when malformed.
 */
extern bool tbdr_retention_policy_parse(const char *text,
										TbdrRetentionPolicy *policy,
										TbdrError *err);

typedef enum TbdrExpireAction
{
	TBDR_EXPIRE_KEEP,			/* complete backup kept */
	TBDR_EXPIRE_DELETE,			/* every object of the backup goes */
	TBDR_EXPIRE_DELETE_DATA,	/* failed: data goes, the record stays */
	TBDR_EXPIRE_SKIP			/* running: not touched */
} TbdrExpireAction;

typedef struct TbdrExpireDecision
{
	TbdrExpireAction action;
	char		reason[160];	/* "inside the window, daily 2026-11-25" */
} TbdrExpireDecision;

/* A range of WAL positions (see tbdr_wal_position), both ends included. */
typedef struct TbdrWalRange
{
	uint64		lo;
	uint64		hi;
} TbdrWalRange;

typedef struct TbdrExpirePlan
{
	int64		now;
	int64		window_start;	/* now - retention_days */
	int			nbackups;
	TbdrExpireDecision *decisions;	/* one per input backup, same order */
	int			anchor;			/* index of the anchor backup, -1 if none */
	int			nkeep;			/* complete backups kept */
	int			ndelete;		/* backups deleted (DELETE) */

	bool		wal_delete;		/* false: no WAL is deleted (wal_note) */
	char		wal_note[256];
	uint64		wal_keep_from;	/* every position >= this is kept */
	int			nwal_keep;		/* kept backups' ranges below wal_keep_from */
	TbdrWalRange *wal_keep;		/* sorted, merged */
	int			nwal_delete;	/* the complement below wal_keep_from */
	TbdrWalRange *wal_delete_ranges;
} TbdrExpirePlan;

/*
 * Decide.  retention_days >= 0; policy may be NULL.  The backups may come in
 * any order.  Never fails (unknown values make it keep more).
 */
extern TbdrExpirePlan *tbdr_expire_plan(const TbdrExpireBackup *backups,
										int nbackups, int64 now,
										int retention_days,
										const TbdrRetentionPolicy *policy);
extern void tbdr_expire_plan_free(TbdrExpirePlan *plan);

/*
 * Whether the WAL file of this bare name (segment, partial, backup history)
 * may be deleted under plan.  Timeline history files and names that are not
 * WAL files never may.
 */
extern bool tbdr_expire_wal_deletable(const TbdrExpirePlan *plan,
									  const char *walname);

/*
 * Position of a WAL file name: log and segment number (timeline ignored),
 * log << 32 | segment, so positions sort like the WAL.  False if the name
 * does not start with 24 hex digits.
 */
extern bool tbdr_wal_position(const char *walname, uint64 *pos);

/* The name of a position on timeline tli (out: 25 bytes), for messages. */
extern void tbdr_wal_position_name(uint32 tli, uint64 pos, char *out);

/* Short name of an action: "keep", "delete", "delete-data", "skip". */
extern const char *tbdr_expire_action_name(TbdrExpireAction action);

#endif							/* TBDR_EXPIRE_H */
