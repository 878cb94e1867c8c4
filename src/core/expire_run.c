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
#define DELETE_BATCH	1000

/* A WAL file of the listing. */
typedef struct WalFile
{
	char	   *key;
	char	   *name;
	int64		size;
} WalFile;

/* What a backup's folder holds. */
typedef struct BackupData
{
	char		id[TBDR_BACKUP_ID_LEN + 1];
	int			objects;		/* parts and anything else */
	int64		bytes;			/* of those */
	char	  **keys;			/* every key, status objects included */
	int			nkeys;
	int			maxkeys;
} BackupData;

/* WAL files, or WAL summaries (named by their segment) */
typedef struct WalFiles
{
	WalFile    *wal;
	int			nwal;
	int			maxwal;
} WalFiles;

typedef struct Listing
{
	int64		bytes;
	int64		objects;
	WalFile    *wal;
	int			nwal;
	int			maxwal;
	WalFiles	sums;			/* walsum/: deleted with their segments */
	BackupData *data;
	int			ndata;
	int			maxdata;
} Listing;

static bool
is_status_object(const char *name)
{
	return strcmp(name, TBDR_BACKUP_STARTED_OBJ) == 0 ||
		strcmp(name, TBDR_BACKUP_FAILED_OBJ) == 0 ||
		strcmp(name, TBDR_BACKUP_MANIFEST_OBJ) == 0;
}

static void
add_wal_file(WalFiles *f, const TbdrObjectInfo *info, char *name)
{
	if (f->nwal == f->maxwal)
	{
		f->maxwal = Max(64, f->maxwal * 2);
		f->wal = f->wal ? repalloc(f->wal, sizeof(WalFile) * f->maxwal)
			: palloc(sizeof(WalFile) * f->maxwal);
	}
	f->wal[f->nwal].key = pstrdup(info->key);
	f->wal[f->nwal].name = name;
	f->wal[f->nwal].size = info->size;
	f->nwal++;
}

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
		WalFiles	f = {l->wal, l->nwal, l->maxwal};

		add_wal_file(&f, info, name);
		l->wal = f.wal;
		l->nwal = f.nwal;
		l->maxwal = f.maxwal;
	}
	else if ((name = tbdr_repo_walsum_name(info->key)) != NULL)
		add_wal_file(&l->sums, info, name);
	else if (tbdr_repo_backup_key_id(info->key, id, &rest))
	{
		BackupData *d;

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
		d = &l->data[l->ndata - 1];
		if (d->nkeys == d->maxkeys)
		{
			d->maxkeys = Max(8, d->maxkeys * 2);
			d->keys = d->keys ? repalloc(d->keys, sizeof(char *) * d->maxkeys)
				: palloc(sizeof(char *) * d->maxkeys);
		}
		d->keys[d->nkeys++] = pstrdup(info->key);
		if (!is_status_object(rest))
		{
			d->objects++;
			d->bytes += info->size;
		}
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

/* A growing list of keys to delete. */
typedef struct KeyList
{
	const char **keys;
	int			n;
	int			max;
} KeyList;

static void
keylist_add(KeyList *kl, const char *key)
{
	if (kl->n == kl->max)
	{
		kl->max = Max(64, kl->max * 2);
		kl->keys = kl->keys ? repalloc(kl->keys, sizeof(char *) * kl->max)
			: palloc(sizeof(char *) * kl->max);
	}
	kl->keys[kl->n++] = key;
}

/*
 * Delete keys in batches of DeleteObjects, checking before each batch that
 * the lock is still ours; empties the list.
 */
static bool
delete_keys(TbdrStorage *st, TbdrRepoLock *lock, KeyList *kl, TbdrError *err)
{
	for (int i = 0; i < kl->n; i += DELETE_BATCH)
	{
		int			n = Min(DELETE_BATCH, kl->n - i);

		if (!tbdr_repolock_refresh(lock, err) ||
			!tbdr_storage_delete_many(st, kl->keys + i, n, err))
			return false;
	}
	kl->n = 0;
	return true;
}

/* The keys of a backup whose last path element is (or is not) name. */
static void
add_backup_keys(KeyList *kl, const BackupData *d, const char *name, bool match)
{
	if (d == NULL)
		return;
	for (int i = 0; i < d->nkeys; i++)
	{
		const char *rest = d->keys[i] + strlen(TBDR_REPO_BACKUP_PREFIX) +
		TBDR_BACKUP_ID_LEN + 1;

		if (name ? (strcmp(rest, name) == 0) == match :
			!is_status_object(rest))
			keylist_add(kl, d->keys[i]);
	}
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

	/*
	 * 1. Backups to delete, in batches by kind of object, in an order
	 * where an interruption never leaves a backup that looks complete
	 * without being whole, nor one that looks running (which would hold
	 * WAL back): started.json (the backup stays complete), manifest.json
	 * (it becomes "failed: no status object"), the parts, failed.json.
	 * Failed backups may have multipart uploads left: abort them first.
	 */
	{
		KeyList		kl = {0};
		static const char *const order[] = {TBDR_BACKUP_STARTED_OBJ,
		TBDR_BACKUP_MANIFEST_OBJ, NULL, TBDR_BACKUP_FAILED_OBJ};

		for (int i = 0; i < first_wal_item; i++)
		{
			const TbdrBackupInfo *b = tbdr_backup_list_find(res->backups,
															res->items[i].name);

			if (b->state != TBDR_BACKUP_COMPLETE)
			{
				char	   *prefix = tbdr_repo_backup_prefix(b->id);
				bool		cleaned;

				cleaned = tbdr_repolock_refresh(lock, err) &&
					tbdr_storage_cleanup_uploads(st, prefix, NULL, err);
				pfree(prefix);
				if (!cleaned)
					goto done;
			}
		}
		for (int step = 0; step < lengthof(order); step++)
		{
			for (int i = 0; i < first_wal_item; i++)
			{
				const TbdrExpireItem *it = &res->items[i];

				/* failed backups inside the window keep their record */
				if (it->kind == TBDR_EXPIRE_ITEM_BACKUP_DATA && order[step])
					continue;
				add_backup_keys(&kl, find_data(&l, it->name), order[step], true);
			}
			if (!delete_keys(st, lock, &kl, err))
				goto done;
		}
		for (int i = 0; i < first_wal_item; i++)
		{
			TbdrExpireItem *it = &res->items[i];

			it->done = true;
			res->bytes_deleted += it->bytes;
			if (it->kind == TBDR_EXPIRE_ITEM_BACKUP)
				res->backups_deleted++;
		}
		if (kl.keys)
			pfree(kl.keys);
	}

	/* 2. WAL, oldest first (listing order) */
	{
		KeyList		kl = {0};

		for (int i = 0; i < l.nwal; i++)
		{
			if (tbdr_expire_wal_deletable(res->plan, l.wal[i].name))
				keylist_add(&kl, l.wal[i].key);
		}
		res->wal_deleted = kl.n;
		if (!delete_keys(st, lock, &kl, err))
		{
			res->wal_deleted = 0;
			goto done;
		}
		/* then their summaries (one without its segment is ignored) */
		kl.n = 0;
		for (int i = 0; i < l.sums.nwal; i++)
		{
			if (tbdr_expire_wal_deletable(res->plan, l.sums.wal[i].name))
				keylist_add(&kl, l.sums.wal[i].key);
		}
		if (!delete_keys(st, lock, &kl, err))
			goto done;
		for (int i = first_wal_item; i < res->nitems; i++)
		{
			res->items[i].done = true;
			res->bytes_deleted += res->items[i].bytes;
		}
		if (kl.keys)
			pfree(kl.keys);
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
	for (int i = 0; i < l.sums.nwal; i++)
	{
		pfree(l.sums.wal[i].key);
		pfree(l.sums.wal[i].name);
	}
	if (l.sums.wal)
		pfree(l.sums.wal);
	for (int i = 0; i < l.ndata; i++)
	{
		for (int j = 0; j < l.data[i].nkeys; j++)
			pfree(l.data[i].keys[j]);
		if (l.data[i].keys)
			pfree(l.data[i].keys);
	}
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
