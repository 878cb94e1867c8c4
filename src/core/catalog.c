/*-------------------------------------------------------------------------
 * catalog.c
 *	  The backup catalog (see catalog.h): listing backups, their states and
 *	  manifests, writing status objects, cleaning up failed backups.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include "lib/stringinfo.h"

#include "core/catalog.h"
#include "core/keyfile.h"
#include "core/repo.h"

struct TbdrCatalog
{
	TbdrStorage *storage;
	bool		own_storage;
	bool		have_key;
	unsigned char key[TBDR_KEY_LEN];
	bool		require_encryption;
	TbdrCodecEncoder *enc;		/* created on first use */
	TbdrCodecDecoder *dec;
	int			max_status;		/* TBDR_MANIFEST_MAX_BYTES but in tests */
};

const char *
tbdr_backup_state_name(TbdrBackupState state)
{
	switch (state)
	{
		case TBDR_BACKUP_RUNNING:
			return "running";
		case TBDR_BACKUP_COMPLETE:
			return "complete";
		case TBDR_BACKUP_FAILED:
			return "failed";
	}
	return "unknown";
}

TbdrCatalog *
tbdr_catalog_create(TbdrStorage *st, bool own_storage,
					const unsigned char *key, bool require_encryption,
					TbdrError *err)
{
	TbdrCatalog *cat = palloc0(sizeof(TbdrCatalog));

	cat->storage = st;
	cat->own_storage = own_storage;
	if (key)
	{
		memcpy(cat->key, key, TBDR_KEY_LEN);
		cat->have_key = true;
	}
	cat->require_encryption = require_encryption;
	cat->max_status = TBDR_MANIFEST_MAX_BYTES;
	return cat;
}

void
tbdr_catalog_set_status_limit(TbdrCatalog *cat, int max_bytes)
{
	cat->max_status = max_bytes;
}

TbdrCatalog *
tbdr_catalog_open(const TbdrConfig *cfg, TbdrError *err)
{
	unsigned char key[TBDR_KEY_LEN];
	bool		have_key = false;
	TbdrStorage *st;
	TbdrCatalog *cat;

	if (cfg->encryption_key_file && cfg->encryption_key_file[0] != '\0')
	{
		if (!tbdr_key_load(cfg->encryption_key_file, key, err))
		{
			tbdr_error_prefix(err, "tbdr.encryption_key_file: ");
			return NULL;
		}
		have_key = true;
	}
	st = tbdr_storage_open(cfg, err);
	if (st == NULL)
	{
		if (have_key)
			tbdr_key_clear(key);
		return NULL;
	}

	/*
	 * With a key, status objects must be encrypted for their name, unless the
	 * migration opt-in tbdr.allow_unauthenticated_reads is on.
	 */
	cat = tbdr_catalog_create(st, true, have_key ? key : NULL,
							  tbdr_config_require_encryption(cfg), err);
	if (have_key)
		tbdr_key_clear(key);
	return cat;
}

void
tbdr_catalog_close(TbdrCatalog *cat)
{
	if (cat == NULL)
		return;
	if (cat->enc)
		tbdr_codec_encoder_free(cat->enc);
	if (cat->dec)
		tbdr_codec_decoder_free(cat->dec);
	if (cat->own_storage && cat->storage)
		tbdr_storage_close(cat->storage);
	tbdr_key_clear(cat->key);
	pfree(cat);
}

TbdrStorage *
tbdr_catalog_storage(TbdrCatalog *cat)
{
	return cat->storage;
}

static TbdrCodecOptions
catalog_codec_options(TbdrCatalog *cat)
{
	TbdrCodecOptions opts;

	memset(&opts, 0, sizeof(opts));
	opts.compression = TBDR_COMPRESS_ZSTD;
	opts.key = cat->have_key ? cat->key : NULL;
	opts.require_encryption = cat->require_encryption;
	return opts;
}

/*
 * A status object found at its key by a write-once store: ours when it
 * holds exactly the bytes sent (a retried request whose first answer was
 * lost), someone else's otherwise.  false with err empty: someone else's.
 */
static bool
same_object(TbdrStorage *st, const char *key, const StringInfoData *sent,
			TbdrError *err)
{
	char	   *data = NULL;
	size_t		len = 0;
	bool		same;

	if (!tbdr_storage_get_buffer(st, key, (size_t) sent->len + 1, &data, &len, err))
	{
		if (err->code == TBDR_ERR_CORRUPT)
			tbdr_error_clear(err);	/* larger than ours: not ours */
		return false;
	}
	same = len == (size_t) sent->len && memcmp(data, sent->data, len) == 0;
	pfree(data);
	return same;
}

/* ---------------------------------------------------------------------
 * Status objects
 * ---------------------------------------------------------------------
 */

static const char *
status_object_name(const char *status)
{
	if (strcmp(status, "running") == 0)
		return TBDR_BACKUP_STARTED_OBJ;
	if (strcmp(status, "failed") == 0)
		return TBDR_BACKUP_FAILED_OBJ;
	if (strcmp(status, "complete") == 0)
		return TBDR_BACKUP_MANIFEST_OBJ;
	return NULL;
}

int
tbdr_catalog_read_status(TbdrCatalog *cat, const char *id, const char *name,
						 TbdrManifest **m, TbdrError *err)
{
	char	   *key = tbdr_repo_backup_key(id, name);
	char	   *data = NULL;
	size_t		len = 0;
	TbdrManifest *parsed;
	StringInfoData plain;
	bool		encoded;

	*m = NULL;
	if (!tbdr_storage_get_buffer(cat->storage, key,
								 TBDR_CODEC_MAX_STORED(cat->max_status),
								 &data, &len, err))
	{
		if (err->code == TBDR_ERR_NOT_FOUND)
		{
			tbdr_error_clear(err);
			pfree(key);
			return 0;
		}
		pfree(key);
		return -1;
	}

	encoded = len >= 4 && memcmp(data, TBDR_CODEC_MAGIC, 4) == 0;
	initStringInfo(&plain);
	if (encoded)
	{
		if (cat->dec == NULL)
		{
			TbdrCodecOptions opts = catalog_codec_options(cat);

			cat->dec = tbdr_codec_decoder_create(&opts, err);
			if (cat->dec == NULL)
				goto fail;
		}
		if (!tbdr_codec_decode_buffer_max(cat->dec, key, data, len,
										  cat->max_status,
										  "a backup status object", &plain, err))
			goto fail;
	}
	else if (cat->require_encryption)
	{
		tbdr_error_set(err, TBDR_ERR_CRYPTO,
					   "\"%s\" is not encrypted, but tbdr.encryption_key_file is set",
					   key);
		tbdr_error_hint(err, "Someone with write access to the repository may have replaced it; check the bucket.  "
						"Only if it was stored before encryption was enabled, read it with tbdr.allow_unauthenticated_reads = on.");
		goto fail;
	}
	else if (len > (size_t) cat->max_status)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object is %zu bytes, more than a backup status object can have (%d)",
					   len, cat->max_status);
		tbdr_error_hint(err, "The object was not written by tbdr; check the repository.");
		goto fail;
	}
	else
		appendBinaryStringInfo(&plain, data, len);

	parsed = tbdr_manifest_parse(plain.data, plain.len, err);
	if (parsed == NULL)
		goto fail;
	if (strcmp(parsed->id, id) != 0)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "\"%s\" describes backup %s, not %s", key, parsed->id, id);
		tbdr_manifest_free(parsed);
		goto fail;
	}
	pfree(plain.data);
	pfree(data);
	pfree(key);
	*m = parsed;
	return 1;

fail:
	tbdr_error_prefix(err, "could not read \"%s\": ", key);
	pfree(plain.data);
	if (data)
		pfree(data);
	pfree(key);
	return -1;
}

bool
tbdr_catalog_write_status(TbdrCatalog *cat, const TbdrManifest *m,
						  TbdrError *err)
{
	const char *name = status_object_name(m->status);
	char	   *key;
	StringInfoData json;
	StringInfoData stored;
	int			exists;
	bool		existed = false;
	bool		ok = false;

	if (name == NULL)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL,
					   "backup %s: no status object for status \"%s\"",
					   m->id, m->status);
		return false;
	}
	key = tbdr_repo_backup_key(m->id, name);
	initStringInfo(&json);
	initStringInfo(&stored);

	/*
	 * Written once: a second writer is a bug or a second server.  Asked
	 * first; the store is conditional too, for a writer that comes between
	 * (then only a retry of our own request leaves the same bytes).
	 */
	exists = tbdr_storage_head(cat->storage, key, NULL, err);
	if (exists < 0)
		goto done;
	if (exists > 0)
	{
		tbdr_error_set(err, TBDR_ERR_CONFLICT, "\"%s\" already exists", key);
		tbdr_error_hint(err, "Status objects are written once; is another server using the same tbdr.repository?");
		goto done;
	}
	tbdr_manifest_write(m, &json);
	if (json.len > cat->max_status)
	{
		/* refused now rather than stored and refused by every reader */
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "the manifest of backup %s is %d bytes, more than tbdr reads back (%d)",
					   m->id, json.len, cat->max_status);
		tbdr_error_hint(err, "A manifest takes about 200 bytes per file; a cluster with this many files is beyond what tbdr supports.");
		goto done;
	}
	if (cat->have_key)
	{
		if (cat->enc == NULL)
		{
			TbdrCodecOptions opts = catalog_codec_options(cat);

			cat->enc = tbdr_codec_encoder_create(&opts, err);
			if (cat->enc == NULL)
				goto done;
		}
		if (!tbdr_codec_encode_buffer(cat->enc, key, json.data, json.len,
									  &stored, err))
			goto done;
		ok = tbdr_storage_put_buffer_new(cat->storage, key, stored.data,
										 stored.len, &existed, err);
	}
	else
		ok = tbdr_storage_put_buffer_new(cat->storage, key, json.data,
										 json.len, &existed, err);
	if (ok && existed)
	{
		tbdr_error_clear(err);
		if (!same_object(cat->storage, key, cat->have_key ? &stored : &json, err))
		{
			if (err->message[0] == '\0')
				tbdr_error_set(err, TBDR_ERR_CONFLICT, "\"%s\" already exists", key);
			tbdr_error_hint(err, "Status objects are written once; is another server using the same tbdr.repository?");
			ok = false;
		}
	}

done:
	if (!ok)
		tbdr_error_prefix(err, "could not store \"%s\": ", key);
	pfree(json.data);
	pfree(stored.data);
	pfree(key);
	return ok;
}

/* ---------------------------------------------------------------------
 * Listing
 * ---------------------------------------------------------------------
 */

typedef struct ListState
{
	TbdrBackupList *list;
	int			max;
} ListState;

static bool
list_cb(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	ListState  *ls = arg;
	TbdrBackupList *list = ls->list;
	char		id[TBDR_BACKUP_ID_LEN + 1];
	const char *rest;
	TbdrBackupInfo *b;

	/* Foreign objects under backups/ are not ours to judge. */
	if (!tbdr_repo_backup_key_id(info->key, id, &rest))
		return true;

	/* Listings come in key order, so one backup's objects are adjacent. */
	if (list->count == 0 || strcmp(list->items[list->count - 1].id, id) != 0)
	{
		if (list->count == ls->max)
		{
			ls->max = ls->max ? ls->max * 2 : 16;
			list->items = list->items
				? repalloc(list->items, ls->max * sizeof(TbdrBackupInfo))
				: palloc(ls->max * sizeof(TbdrBackupInfo));
		}
		b = &list->items[list->count++];
		memset(b, 0, sizeof(*b));
		strlcpy(b->id, id, sizeof(b->id));
	}
	b = &list->items[list->count - 1];
	b->nobjects++;
	b->object_bytes += info->size;
	if (strcmp(rest, TBDR_BACKUP_STARTED_OBJ) == 0)
		b->has_started = true;
	else if (strcmp(rest, TBDR_BACKUP_FAILED_OBJ) == 0)
		b->has_failed = true;
	else if (strcmp(rest, TBDR_BACKUP_MANIFEST_OBJ) == 0)
		b->has_manifest = true;
	return true;
}

/* Keep listings small: a header does not need the file list. */
static void
drop_files(TbdrManifest *m)
{
	for (int i = 0; i < m->nfiles; i++)
		pfree(m->files[i].path);
	for (int i = 0; i < m->ndirs; i++)
		pfree(m->dirs[i].path);
	if (m->files)
		pfree(m->files);
	if (m->dirs)
		pfree(m->dirs);
	m->files = NULL;
	m->dirs = NULL;
	m->nfiles = m->max_files = 0;
	m->ndirs = m->max_dirs = 0;
}

TbdrBackupList *
tbdr_catalog_list(TbdrCatalog *cat, TbdrError *err)
{
	ListState	ls;

	ls.list = palloc0(sizeof(TbdrBackupList));
	ls.max = 0;
	if (!tbdr_storage_list(cat->storage, TBDR_REPO_BACKUP_PREFIX, list_cb,
						   &ls, err))
	{
		tbdr_error_prefix(err, "could not list the backups: ");
		tbdr_backup_list_free(ls.list);
		return NULL;
	}

	for (int i = 0; i < ls.list->count; i++)
	{
		TbdrBackupInfo *b = &ls.list->items[i];
		const char *name;
		int			r;

		if (b->has_failed)
		{
			b->state = TBDR_BACKUP_FAILED;
			name = TBDR_BACKUP_FAILED_OBJ;
		}
		else if (b->has_manifest)
		{
			b->state = TBDR_BACKUP_COMPLETE;
			name = TBDR_BACKUP_MANIFEST_OBJ;
		}
		else if (b->has_started)
		{
			b->state = TBDR_BACKUP_RUNNING;
			name = TBDR_BACKUP_STARTED_OBJ;
		}
		else
		{
			b->state = TBDR_BACKUP_FAILED;
			b->header = tbdr_manifest_create(b->id, "failed");
			b->header->error = pstrdup("no status object (leftover of an interrupted backup or expiry)");
			continue;
		}

		r = tbdr_catalog_read_status(cat, b->id, name, &b->header, err);
		if (r < 0)
		{
			tbdr_backup_list_free(ls.list);
			return NULL;
		}
		if (r == 0)
		{
			/* deleted between the listing and now (a concurrent expiry) */
			b->state = TBDR_BACKUP_FAILED;
			b->header = tbdr_manifest_create(b->id, "failed");
			b->header->error = pstrdup("status object vanished while listing (concurrent expiry?)");
			continue;
		}
		drop_files(b->header);
		if (b->state == TBDR_BACKUP_FAILED && b->header->error == NULL)
			b->header->error = pstrdup("failed (no reason recorded)");
	}
	return ls.list;
}

void
tbdr_backup_list_free(TbdrBackupList *list)
{
	if (list == NULL)
		return;
	for (int i = 0; i < list->count; i++)
		tbdr_manifest_free(list->items[i].header);
	if (list->items)
		pfree(list->items);
	pfree(list);
}

const TbdrBackupInfo *
tbdr_backup_list_find(const TbdrBackupList *list, const char *id)
{
	for (int i = 0; i < list->count; i++)
		if (strcmp(list->items[i].id, id) == 0)
			return &list->items[i];
	return NULL;
}

const TbdrBackupInfo *
tbdr_backup_list_latest(const TbdrBackupList *list)
{
	for (int i = list->count - 1; i >= 0; i--)
		if (list->items[i].state == TBDR_BACKUP_COMPLETE)
			return &list->items[i];
	return NULL;
}

TbdrManifest *
tbdr_catalog_load_manifest(TbdrCatalog *cat, const char *id, TbdrError *err)
{
	TbdrManifest *m = NULL;
	TbdrManifest *failed = NULL;
	int			r;

	r = tbdr_catalog_read_status(cat, id, TBDR_BACKUP_FAILED_OBJ, &failed, err);
	if (r < 0)
		return NULL;
	if (r > 0)
	{
		tbdr_error_set(err, TBDR_ERR_NOT_FOUND, "backup %s failed: %s", id,
					   failed->error ? failed->error : "no reason recorded");
		tbdr_error_hint(err, "Choose a complete backup (tbdr list).");
		tbdr_manifest_free(failed);
		return NULL;
	}
	r = tbdr_catalog_read_status(cat, id, TBDR_BACKUP_MANIFEST_OBJ, &m, err);
	if (r < 0)
		return NULL;
	if (r == 0)
	{
		tbdr_error_set(err, TBDR_ERR_NOT_FOUND,
					   "backup %s is not complete (no manifest.json)", id);
		tbdr_error_hint(err, "Choose a complete backup (tbdr list).");
		return NULL;
	}
	return m;
}

/* ---------------------------------------------------------------------
 * Cleanup and deletion
 * ---------------------------------------------------------------------
 */

typedef struct KeysState
{
	char	  **keys;
	int			n;
	int			max;
} KeysState;

static bool
keys_cb(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	KeysState  *ks = arg;

	if (ks->n == ks->max)
	{
		ks->max = ks->max ? ks->max * 2 : 64;
		ks->keys = ks->keys ? repalloc(ks->keys, ks->max * sizeof(char *))
			: palloc(ks->max * sizeof(char *));
	}
	ks->keys[ks->n++] = pstrdup(info->key);
	return true;
}

static void
keys_free(KeysState *ks)
{
	for (int i = 0; i < ks->n; i++)
		pfree(ks->keys[i]);
	if (ks->keys)
		pfree(ks->keys);
}

/* Is key the backup's status object called name? */
static bool
is_object(const char *key, const char *name)
{
	const char *slash = strrchr(key, '/');

	return slash != NULL && strcmp(slash + 1, name) == 0;
}

/*
 * Delete the objects of ks that are (want = true) or are not (want = false)
 * one of the named status objects.
 */
static bool
delete_selected(TbdrCatalog *cat, KeysState *ks, const char *const *names,
				int nnames, bool want, int *deleted, TbdrError *err)
{
	const char **sel = palloc(Max(ks->n, 1) * sizeof(char *));
	int			n = 0;
	bool		ok;

	for (int i = 0; i < ks->n; i++)
	{
		bool		named = false;

		for (int j = 0; j < nnames; j++)
			if (is_object(ks->keys[i], names[j]))
				named = true;
		if (named == want)
			sel[n++] = ks->keys[i];
	}
	ok = n == 0 || tbdr_storage_delete_many(cat->storage, sel, n, err);
	if (ok && deleted)
		*deleted += n;
	pfree(sel);
	return ok;
}

bool
tbdr_catalog_remove_partial(TbdrCatalog *cat, const char *id, int *removed,
							TbdrError *err)
{
	static const char *const keep[] = {TBDR_BACKUP_STARTED_OBJ,
	TBDR_BACKUP_FAILED_OBJ};
	char	   *prefix = tbdr_repo_backup_prefix(id);
	KeysState	ks = {0};
	int			aborted = 0;
	int			deleted = 0;
	bool		ok = false;

	if (!tbdr_storage_cleanup_uploads(cat->storage, prefix, &aborted, err))
		goto done;
	if (!tbdr_storage_list(cat->storage, prefix, keys_cb, &ks, err))
		goto done;
	for (int i = 0; i < ks.n; i++)
	{
		if (is_object(ks.keys[i], TBDR_BACKUP_MANIFEST_OBJ))
		{
			bool		failed = false;

			for (int j = 0; j < ks.n; j++)
				if (is_object(ks.keys[j], TBDR_BACKUP_FAILED_OBJ))
					failed = true;
			if (!failed)
			{
				tbdr_error_set(err, TBDR_ERR_CONFLICT,
							   "backup %s is complete; its parts are not partial",
							   id);
				goto done;
			}
		}
	}
	ok = delete_selected(cat, &ks, keep, lengthof(keep), false, &deleted, err);

done:
	if (!ok)
		tbdr_error_prefix(err, "could not clean up backup %s: ", id);
	else if (removed)
		*removed = aborted + deleted;
	keys_free(&ks);
	pfree(prefix);
	return ok;
}

bool
tbdr_catalog_fail_interrupted(TbdrCatalog *cat, const char *id,
							  const char *reason, int *removed,
							  TbdrError *err)
{
	TbdrManifest *m = NULL;
	int			r;

	r = tbdr_catalog_read_status(cat, id, TBDR_BACKUP_FAILED_OBJ, &m, err);
	if (r < 0)
		return false;
	if (r == 0)
	{
		r = tbdr_catalog_read_status(cat, id, TBDR_BACKUP_STARTED_OBJ, &m, err);
		if (r < 0)
			return false;
		if (r == 0)
			m = tbdr_manifest_create(id, "failed");
		pfree(m->status);
		m->status = pstrdup("failed");
		if (m->error)
			pfree(m->error);
		m->error = pstrdup(reason);
		if (!tbdr_catalog_write_status(cat, m, err))
		{
			tbdr_manifest_free(m);
			return false;
		}
	}
	tbdr_manifest_free(m);
	return tbdr_catalog_remove_partial(cat, id, removed, err);
}

bool
tbdr_catalog_delete_backup(TbdrCatalog *cat, const char *id, TbdrError *err)
{
	static const char *const manifest[] = {TBDR_BACKUP_MANIFEST_OBJ};
	static const char *const status[] = {TBDR_BACKUP_MANIFEST_OBJ,
		TBDR_BACKUP_FAILED_OBJ, TBDR_BACKUP_STARTED_OBJ};
	static const char *const failed[] = {TBDR_BACKUP_FAILED_OBJ};
	static const char *const started[] = {TBDR_BACKUP_STARTED_OBJ};
	char	   *prefix = tbdr_repo_backup_prefix(id);
	KeysState	ks = {0};
	bool		ok;

	ok = tbdr_storage_cleanup_uploads(cat->storage, prefix, NULL, err) &&
		tbdr_storage_list(cat->storage, prefix, keys_cb, &ks, err) &&
		delete_selected(cat, &ks, manifest, 1, true, NULL, err) &&
		delete_selected(cat, &ks, status, 3, false, NULL, err) &&
		delete_selected(cat, &ks, failed, 1, true, NULL, err) &&
		delete_selected(cat, &ks, started, 1, true, NULL, err);
	if (!ok)
		tbdr_error_prefix(err, "could not delete backup %s: ", id);
	keys_free(&ks);
	pfree(prefix);
	return ok;
}
