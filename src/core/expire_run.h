/*-------------------------------------------------------------------------
 * expire_run.h
 *	  The expiry executor: lock the repository, read what it holds, decide
 *	  with the retention policy (expire.h), delete in an order that is safe
 *	  to interrupt at any point.  Shared by `tbdr expire`, tbdr_expire() and
 *	  the scheduler's expiry after each backup.
 *
 * Order of deletions, and why each interruption point is safe:
 *
 * 1. Backups to delete, all together, in DeleteObjects batches by kind of
 *	  object (the catalog's states are in catalog.h):
 *	  a. started.json: the backup is still complete (manifest.json) and
 *		 whole, so an interruption here changes nothing;
 *	  b. manifest.json: from here on the backup is "failed (no status
 *		 object)", so no restore or verify uses it, and the next expiry
 *		 removes what is left; it never looks running (which would hold
 *		 WAL back) nor complete while parts are missing;
 *	  c. the parts (and any other object; failed backups' multipart
 *		 uploads are aborted before), also those of failed backups whose
 *		 record stays inside the window;
 *	  d. failed.json.
 * 2. WAL, oldest first, only files the plan allows: never what a kept
 *	  backup, a point inside the window or a running backup needs, never a
 *	  timeline history file, never a file archived after the listing (only
 *	  listed keys are deleted).  WAL goes after the backups that needed it,
 *	  so that no backup that still looks usable ever lacks its WAL.
 *
 * The repository lock (repolock.h, locks/expire.json) is held throughout
 * and checked (and renewed) before every batch; a dry run takes no lock and
 * deletes nothing.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_EXPIRE_RUN_H
#define TBDR_EXPIRE_RUN_H

#include "core/catalog.h"
#include "core/error.h"
#include "core/expire.h"

#define TBDR_EXPIRE_LOCK_NAME	"expire"
#define TBDR_EXPIRE_LOCK_LEASE	300 /* seconds; refreshed every step */

typedef enum TbdrExpireItemKind
{
	TBDR_EXPIRE_ITEM_BACKUP,	/* a whole backup */
	TBDR_EXPIRE_ITEM_BACKUP_DATA,	/* a failed backup's parts */
	TBDR_EXPIRE_ITEM_WAL		/* a run of consecutive WAL files */
} TbdrExpireItemKind;

/* One thing deleted (or, in a dry run, that would be). */
typedef struct TbdrExpireItem
{
	TbdrExpireItemKind kind;
	char	   *name;			/* backup id, or the run's first WAL file */
	char	   *last;			/* WAL: the run's last file; else NULL */
	int			objects;
	int64		bytes;
	char	   *reason;
	bool		done;			/* deleted (never in a dry run) */
} TbdrExpireItem;

typedef struct TbdrExpireOptions
{
	bool		dry_run;
	int			retention_days;
	const char *retention_policy;	/* '' for none */
	int64		now;			/* 0: the current time */
	const char *purpose;		/* who runs it, for the lock: "tbdr expire" */
	int			lock_wait;		/* seconds to wait for a held lock */
} TbdrExpireOptions;

typedef struct TbdrExpireResult
{
	bool		dry_run;
	bool		finished;		/* every planned deletion done */
	int			nitems;
	TbdrExpireItem *items;		/* in execution order */
	TbdrBackupList *backups;	/* what the repository held */
	TbdrExpirePlan *plan;		/* decisions, parallel to backups->items */
	int			backups_kept;
	int			backups_deleted;	/* done (planned, in a dry run) */
	int			wal_deleted;	/* files, done (planned, in a dry run) */
	int64		bytes_deleted;	/* done (planned, in a dry run) */
	int64		repo_bytes;		/* the repository before the run */
	int64		repo_objects;
} TbdrExpireResult;

/*
 * Run an expiry on the catalog's repository.  *result is set whenever the
 * repository could be read, also on failure (then it says what was done
 * before the error).  False with err set on failure: a setting is wrong
 * (TBDR_ERR_CONFIG), the lock is held (TBDR_ERR_CONFLICT), or a read or
 * delete failed.
 */
extern bool tbdr_expire_execute(TbdrCatalog *cat, const TbdrExpireOptions *opts,
								TbdrExpireResult **result, TbdrError *err);

/*
 * One line for logs and the CLI: "deleted 2 backups and 140 WAL files
 * (2.1 GB); kept 8 backups; repository 10.3 GB" (dry run: "would
 * delete").
 */
extern char *tbdr_expire_summary(const TbdrExpireResult *res);

/* Short name of an item kind: "backup", "backup-data", "wal". */
extern const char *tbdr_expire_item_kind_name(TbdrExpireItemKind kind);

#endif							/* TBDR_EXPIRE_RUN_H */
