/*-------------------------------------------------------------------------
 * expire_run.c
 *	  The expiry executor (see expire_run.h for the order of deletions and
 *	  why it is safe to interrupt).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <time.h>

#include "lib/stringinfo.h"

#include "core/expire_run.h"
#include "core/repo.h"
#include "core/repolock.h"

/* Keys per DeleteObjects request (S3's limit is 1000). */
#define WAL_BATCH	1000

/* A WAL file of the listing. */
typedef struct WalFile
{
	char	   *key;
	char	   *name;
	int64		size;
} WalFile;

/* What a backup's folder holds besides its status objects. */
typedef struct BackupData
{
	char		id[TBDR_BACKUP_ID_LEN + 1];
	int			objects;		/* parts and anything else */
	int64		bytes;
} BackupData;

typedef struct Listing
{
	int64		bytes;
	int64		objects;
	WalFile    *wal;
	int			nwal;
	int			maxwal;
	BackupData *data;
	int			ndata;
	int			maxdata;
} Listing;

static bool
listing_cb(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	Listing    *l = (Listing *) arg;
	char	   *name;
	char		id[TBDR_BACKUP_ID_LEN + 1];
	const char *rest;

	l->bytes += info->size;
	l->objects++;
	if ((name = tbdr_repo_wal_name(info->key)) != NULL)
	{
		if (l->nwal == l->maxwal)
		{
			l->maxwal = Max(64, l->maxwal * 2);
			l->wal = l->wal ? repalloc(l->wal, sizeof(WalFile) * l->maxwal)
				: palloc(sizeof(WalFile) * l->maxwal);
		}
		l->wal[l->nwal].key = pstrdup(info->key);
		l->wal[l->nwal].name = name;
		l->wal[l->nwal].size = info->size;
		l->nwal++;
	}
	else if (tbdr_repo_backup_key_id(info->key, id, &rest) &&
			 strcmp(rest, TBDR_BACKUP_STARTED_OBJ) != 0 &&
			 strcmp(rest, TBDR_BACKUP_FAILED_OBJ) != 0 &&
			 strcmp(rest, TBDR_BACKUP_MANIFEST_OBJ) != 0)
	{
		/* keys are listed in order, so a backup's keys are adjacent */
		if (l->ndata == 0 || strcmp(l->data[l->ndata - 1].id, id) != 0)
		{
			if (l->ndata == l->maxdata)
			{
				l->maxdata = Max(16, l->maxdata * 2);
				l->data = l->data ? repalloc(l->data, sizeof(BackupData) * l->maxdata)
					: palloc(sizeof(BackupData) * l->maxdata);
			}
			memset(&l->data[l->ndata], 0, sizeof(BackupData));
			strlcpy(l->data[l->ndata].id, id, sizeof(l->data[l->ndata].id));
			l->ndata++;
		}
		l->data[l->ndata - 1].objects++;
		l->data[l->ndata - 1].bytes += info->size;
	}
	return true;
}

static const BackupData *
find_data(const Listing *l, const char *id)
{
	for (int i = 0; i < l->ndata; i++)
		if (strcmp(l->data[i].id, id) == 0)
			return &l->data[i];
	return NULL;
}

static TbdrExpireItem *
add_item(TbdrExpireResult *res, int *max, TbdrExpireItemKind kind,
		 const char *name, const char *reason)
{
	TbdrExpireItem *it;

	if (res->nitems == *max)
	{
		*max = Max(16, *max * 2);
		res->items = res->items ? repalloc(res->items, sizeof(TbdrExpireItem) * *max)
			: palloc(sizeof(TbdrExpireItem) * *max);
	}
	it = &res->items[res->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->name = pstrdup(name);
	it->reason = pstrdup(reason);
	return it;
}

/*
 * Mark a complete backup as being expired, so that it is never taken for
 * complete again even if this run stops half-way.
 */
static bool
mark_expiring(TbdrCatalog *cat, const TbdrBackupInfo *b, const char *purpose,
			  int64 now, TbdrError *err)
{
	TbdrManifest *m = tbdr_manifest_create(b->id, "failed");
	const TbdrManifest *h = b->header;
	char		at[32];
	bool		ok;

	if (h)
	{
		m->label = h->label ? pstrdup(h->label) : NULL;
		m->start_time = h->start_time;
		m->stop_time = h->stop_time;
		m->start_lsn = h->start_lsn;
		m->stop_lsn = h->stop_lsn;
		m->timeline = h->timeline;
		m->wal_start = h->wal_start ? pstrdup(h->wal_start) : NULL;
		m->wal_stop = h->wal_stop ? pstrdup(h->wal_stop) : NULL;
		m->pg_version = h->pg_version;
		m->system_identifier = h->system_identifier;
		m->compression = h->compression ? pstrdup(h->compression) : NULL;
		m->compression_level = h->compression_level;
		m->encryption = h->encryption ? pstrdup(h->encryption) : NULL;
		m->database_bytes = h->database_bytes;
		m->stored_bytes = h->stored_bytes;
	}
	tbdr_format_utc(now, at, sizeof(at));
	m->error = psprintf("expired by %s at %s (deletion in progress)", purpose, at);
	ok = tbdr_catalog_write_status(cat, m, err);
	if (!ok && err->code == TBDR_ERR_CONFLICT)
	{
		tbdr_error_clear(err);	/* already marked by an earlier run */
		ok = true;
	}
	tbdr_manifest_free(m);
	return ok;
}

static bool
delete_wal_batch(TbdrStorage *st, TbdrRepoLock *lock, const char **keys,
				 int n, TbdrError *err)
{
	if (n == 0)
		return true;
	if (!tbdr_repolock_refresh(lock, err))
		return false;
	return tbdr_storage_delete_many(st, keys, n, err);
}

bool
tbdr_expire_execute(TbdrCatalog *cat, const TbdrExpireOptions *opts,
					TbdrExpireResult **result, TbdrError *err)
{
	TbdrStorage *st = tbdr_catalog_storage(cat);
	TbdrRetentionPolicy policy;
	TbdrRepoLock *lock = NULL;
	TbdrExpireResult *res;
	TbdrExpireBackup *in;
	Listing		l;
	int64		now = opts->now ? opts->now : (int64) time(NULL);
	const char *purpose = opts->purpose ? opts->purpose : "tbdr expire";
	int			maxitems = 0;
	bool		ok = false;
	int			first_wal_item;

	*result = NULL;
	if (!tbdr_retention_policy_parse(opts->retention_policy, &policy, err))
		return false;
	if (opts->retention_days < 0)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "tbdr.retention_days must be 0 or more, not %d",
					   opts->retention_days);
		return false;
	}

	if (!opts->dry_run)
	{
		lock = tbdr_repolock_acquire(st, TBDR_EXPIRE_LOCK_NAME, purpose,
									 TBDR_EXPIRE_LOCK_LEASE, opts->lock_wait,
									 err);
		if (lock == NULL)
			return false;
	}

	res = palloc0(sizeof(TbdrExpireResult));
	res->dry_run = opts->dry_run;
	memset(&l, 0, sizeof(l));

	/* what the repository holds (read under the lock) */
	res->backups = tbdr_catalog_list(cat, err);
	if (res->backups == NULL)
		goto done;
	if (!tbdr_storage_list(st, "", listing_cb, &l, err))
	{
		tbdr_error_prefix(err, "could not list the repository: ");
		goto done;
	}
	res->repo_bytes = l.bytes;
	res->repo_objects = l.objects;
	*result = res;

	/* decide */
	in = palloc0(sizeof(TbdrExpireBackup) * (res->backups->count + 1));
	for (int i = 0; i < res->backups->count; i++)
	{
		const TbdrBackupInfo *b = &res->backups->items[i];

		in[i].id = b->id;
		in[i].status = b->state == TBDR_BACKUP_COMPLETE ? TBDR_EXPIRE_COMPLETE :
			b->state == TBDR_BACKUP_RUNNING ? TBDR_EXPIRE_RUNNING :
			TBDR_EXPIRE_FAILED;
		if (b->header)
		{
			in[i].start_time = b->header->start_time;
			in[i].stop_time = b->header->stop_time;
			in[i].wal_start = b->header->wal_start;
			in[i].wal_stop = b->header->wal_stop;
		}
	}
	res->plan = tbdr_expire_plan(in, res->backups->count, now,
								 opts->retention_days, &policy);
	res->backups_kept = res->plan->nkeep;

	for (int i = 0; i < res->backups->count; i++)
	{
		const TbdrBackupInfo *b = &res->backups->items[i];
		const TbdrExpireDecision *d = &res->plan->decisions[i];
		const BackupData *data = find_data(&l, b->id);
		TbdrExpireItem *it;

		if (d->action == TBDR_EXPIRE_DELETE)
		{
			it = add_item(res, &maxitems, TBDR_EXPIRE_ITEM_BACKUP, b->id, d->reason);
			it->objects = b->nobjects;
			it->bytes = b->object_bytes;
		}
		else if (d->action == TBDR_EXPIRE_DELETE_DATA && data != NULL)
		{
			it = add_item(res, &maxitems, TBDR_EXPIRE_ITEM_BACKUP_DATA, b->id, d->reason);
			it->objects = data->objects;
			it->bytes = data->bytes;
		}
	}

	/* runs of consecutive deletable WAL files, in listing (WAL) order */
	first_wal_item = res->nitems;
	for (int i = 0; i < l.nwal; i++)
	{
		TbdrExpireItem *it;

		if (!tbdr_expire_wal_deletable(res->plan, l.wal[i].name))
			continue;
		if (res->nitems > first_wal_item && i > 0 &&
			tbdr_expire_wal_deletable(res->plan, l.wal[i - 1].name))
			it = &res->items[res->nitems - 1];
		else
			it = add_item(res, &maxitems, TBDR_EXPIRE_ITEM_WAL, l.wal[i].name,
						  "not needed by any kept backup or point inside the window");
		if (it->last)
			pfree(it->last);
		it->last = pstrdup(l.wal[i].name);
		it->objects++;
		it->bytes += l.wal[i].size;
	}

	if (opts->dry_run)
	{
		for (int i = 0; i < res->nitems; i++)
		{
			if (res->items[i].kind == TBDR_EXPIRE_ITEM_BACKUP)
				res->backups_deleted++;
			if (res->items[i].kind == TBDR_EXPIRE_ITEM_WAL)
				res->wal_deleted += res->items[i].objects;
			res->bytes_deleted += res->items[i].bytes;
		}
		res->finished = true;
		ok = true;
		goto done;
	}

	/* 1 and 2: backups, then failed backups' data */
	for (int i = 0; i < first_wal_item; i++)
	{
		TbdrExpireItem *it = &res->items[i];
		const TbdrBackupInfo *b = tbdr_backup_list_find(res->backups, it->name);

		if (!tbdr_repolock_refresh(lock, err))
			goto done;
		if (it->kind == TBDR_EXPIRE_ITEM_BACKUP)
		{
			if (b->state == TBDR_BACKUP_COMPLETE &&
				!mark_expiring(cat, b, purpose, now, err))
				goto done;
			if (!tbdr_catalog_delete_backup(cat, it->name, err))
				goto done;
			res->backups_deleted++;
		}
		else if (!tbdr_catalog_remove_partial(cat, it->name, NULL, err))
			goto done;
		it->done = true;
		res->bytes_deleted += it->bytes;
	}

	/* 3: WAL, oldest first, in batches */
	{
		const char **keys = palloc(sizeof(char *) * WAL_BATCH);
		int			nkeys = 0;
		int			item = first_wal_item;
		int			in_item = 0;

		for (int i = 0; i < l.nwal; i++)
		{
			if (!tbdr_expire_wal_deletable(res->plan, l.wal[i].name))
				continue;
			keys[nkeys++] = l.wal[i].key;
			if (nkeys == WAL_BATCH)
			{
				if (!delete_wal_batch(st, lock, keys, nkeys, err))
					goto done;
				res->wal_deleted += nkeys;
				nkeys = 0;
			}
		}
		if (!delete_wal_batch(st, lock, keys, nkeys, err))
			goto done;
		res->wal_deleted += nkeys;
		pfree(keys);
		for (; item < res->nitems; item++)
		{
			res->items[item].done = true;
			res->bytes_deleted += res->items[item].bytes;
			in_item += res->items[item].objects;
		}
		Assert(in_item == res->wal_deleted);
	}
	res->finished = true;
	ok = true;

done:
	if (lock)
	{
		TbdrError	rel;

		tbdr_error_clear(&rel);
		if (!tbdr_repolock_release(lock, &rel) && ok)
		{
			*err = rel;
			ok = false;
		}
	}
	if (*result == NULL && res)
	{
		if (res->backups)
			tbdr_backup_list_free(res->backups);
		pfree(res);
	}
	for (int i = 0; i < l.nwal; i++)
	{
		pfree(l.wal[i].key);
		pfree(l.wal[i].name);
	}
	if (l.wal)
		pfree(l.wal);
	if (l.data)
		pfree(l.data);
	return ok;
}

char *
tbdr_expire_summary(const TbdrExpireResult *res)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "%s %d backup%s and %d WAL file%s (" INT64_FORMAT " bytes)",
					 res->dry_run ? "would delete" : "deleted",
					 res->backups_deleted, res->backups_deleted == 1 ? "" : "s",
					 res->wal_deleted, res->wal_deleted == 1 ? "" : "s",
					 res->bytes_deleted);
	for (int i = 0; i < res->nitems; i++)
	{
		if (res->items[i].kind == TBDR_EXPIRE_ITEM_BACKUP_DATA &&
			(res->dry_run || res->items[i].done))
		{
			appendStringInfoString(&s, " and failed backups' data");
			break;
		}
	}
	appendStringInfo(&s, "; kept %d backup%s; repository " INT64_FORMAT " bytes before",
					 res->backups_kept, res->backups_kept == 1 ? "" : "s",
					 res->repo_bytes);
	if (res->plan && !res->plan->wal_delete)
		appendStringInfo(&s, "; no WAL deleted: %s", res->plan->wal_note);
	if (!res->finished)
		appendStringInfoString(&s, "; stopped early");
	return s.data;
}

const char *
tbdr_expire_item_kind_name(TbdrExpireItemKind kind)
{
	switch (kind)
	{
		case TBDR_EXPIRE_ITEM_BACKUP:
			return "backup";
		case TBDR_EXPIRE_ITEM_BACKUP_DATA:
			return "backup-data";
		case TBDR_EXPIRE_ITEM_WAL:
			return "wal";
	}
	return "?";
}
