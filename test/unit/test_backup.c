/*-------------------------------------------------------------------------
 * test_backup.c
 *	  The backup plan (pg_basebackup's exclusions, parts), the part writer
 *	  (tar stream through the codec into a file:// repository: file SHA-256s
 *	  and offsets) and the catalog (states, status objects written once,
 *	  cleanup of failed backups), on a fake data directory.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/backup.h"
#include "core/catalog.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/digest.h"
#include "core/repo.h"
#include "core/tarstream.h"
#include "lib/stringinfo.h"
#include "tap.h"
#include "testfile.h"

static char root[256];

static void
put_file(const char *rel, const char *data, size_t len)
{
	char	   *path = psprintf("%s/pgdata/%s", root, rel);
	char	   *slash = strrchr(path, '/');
	char	   *dir = pnstrdup(path, slash - path);
	char	   *cmd = psprintf("mkdir -p '%s'", dir);
	FILE	   *f;

	if (system(cmd) != 0)
		abort();
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
}

static void
make_dir(const char *rel)
{
	char	   *cmd = psprintf("mkdir -p '%s/pgdata/%s'", root, rel);

	if (system(cmd) != 0)
		abort();
}

static const TbdrBackupEntry *
find(const TbdrBackupPlan *plan, const char *path)
{
	for (int i = 0; i < plan->nentries; i++)
		if (strcmp(plan->entries[i].path, path) == 0)
			return &plan->entries[i];
	return NULL;
}

/* Plaintext of a stored part (the codec's object decoded). */
static char *
decode_part(TbdrStorage *st, const char *key, size_t *len)
{
	TbdrError	err;
	TbdrCodecOptions opts;
	TbdrCodecDecoder *dec;
	char	   *data;
	size_t		dlen;
	StringInfoData out;

	tbdr_error_clear(&err);
	if (!tbdr_storage_get_buffer(st, key, 1 << 30, &data, &dlen, &err))
		return NULL;
	memset(&opts, 0, sizeof(opts));
	dec = tbdr_codec_decoder_create(&opts, &err);
	initStringInfo(&out);
	if (!tbdr_codec_decode_buffer(dec, key, data, dlen, &out, &err))
		return NULL;
	tbdr_codec_decoder_free(dec);
	*len = out.len;
	return out.data;
}

int
main(int argc, char **argv)
{
	TbdrError	err;
	TbdrConfig	cfg;
	TbdrBackupPlan *plan;
	TbdrManifest *m;
	TbdrCatalog *cat;
	TbdrBackupList *list;
	TbdrBackupOptions o;
	char	   *big;
	char	   *tsdir;
	char	   *cmd;
	int			removed = 0;
	bool		all_ok;

	snprintf(root, sizeof(root), "/tmp/tbdr-test-backup-%d", (int) getpid());
	cmd = psprintf("rm -rf '%s' && mkdir -p '%s/repo' '%s/ts/PG_15_1/5'",
				   root, root, root);
	if (system(cmd) != 0)
		abort();

	/* a fake data directory */
	put_file("PG_VERSION", "15\n", 3);
	put_file("postgresql.conf", "# conf\n", 7);
	put_file("postmaster.pid", "123\n", 4);
	put_file("postmaster.opts", "x\n", 2);
	put_file("backup_label", "old\n", 4);
	put_file("global/pg_control", "control", 7);
	put_file("global/1260", "g", 1);
	put_file("global/pg_internal.init", "i", 1);
	big = palloc0(3 * BLCKSZ);
	put_file("base/5/16384", big, 3 * BLCKSZ);	/* a logged relation */
	put_file("base/5/16384.1", big, BLCKSZ);
	put_file("base/5/16390", big, BLCKSZ);	/* unlogged: main, fsm, init */
	put_file("base/5/16390_fsm", big, BLCKSZ);
	put_file("base/5/16390_init", big, BLCKSZ);
	put_file("base/5/t3_16400", "t", 1);	/* temporary relation */
	put_file("base/5/pg_internal.init", "i", 1);
	put_file("base/pgsql_tmp/pgsql_tmp1.0", "tmp", 3);
	put_file("pg_wal/000000010000000000000001", "wal", 3);
	put_file("pg_wal/archive_status/000000010000000000000001.done", "", 0);
	put_file("pg_replslot/slot/state", "s", 1);
	put_file("pg_stat_tmp/global.stat", "s", 1);
	put_file("pg_subtrans/0000", "s", 1);
	make_dir("pg_notify");
	make_dir("pg_tblspc");
	tsdir = psprintf("%s/ts", root);
	cmd = psprintf("%s/pgdata/pg_tblspc/16500", root);
	if (symlink(tsdir, cmd) != 0)
		abort();
	cmd = psprintf("%s/ts/PG_15_1/5/16600", root);
	{
		FILE	   *f = fopen(cmd, "wb");

		if (f == NULL || fwrite(big, 1, BLCKSZ, f) != BLCKSZ || fclose(f) != 0)
			abort();
	}

	/* --- the plan --- */
	tbdr_error_clear(&err);
	plan = tbdr_backup_plan_create();
	m = tbdr_manifest_create("20261130T010203Z", "running");
	ok(tbdr_backup_plan_walk(plan, psprintf("%s/pgdata", root), m, &err),
	   "walk the data directory");
	ok(find(plan, "PG_VERSION") && find(plan, "postgresql.conf") &&
	   find(plan, "global/1260"), "ordinary files are in");
	ok(!find(plan, "postmaster.pid") && !find(plan, "postmaster.opts") &&
	   !find(plan, "backup_label"), "postmaster.pid/.opts and an old backup_label are out");
	ok(!find(plan, "global/pg_control"), "pg_control is left for the caller (copied last)");
	ok(!find(plan, "global/pg_internal.init") && !find(plan, "base/5/pg_internal.init"),
	   "relcache init files are out");
	ok(find(plan, "base/5/16384") && find(plan, "base/5/16384.1"), "a logged relation is in");
	ok(find(plan, "base/5/16384") && find(plan, "base/5/16384")->check_pages &&
	   find(plan, "base/5/16384.1")->first_block == RELSEG_SIZE,
	   "relation files get page checks with their first block number");
	ok(!find(plan, "PG_VERSION")->check_pages, "other files do not");
	ok(!find(plan, "base/5/16390") && !find(plan, "base/5/16390_fsm") &&
	   find(plan, "base/5/16390_init"), "unlogged relation: only the init fork");
	ok(!find(plan, "base/5/t3_16400"), "temporary relations are out");
	ok(!find(plan, "base/pgsql_tmp/pgsql_tmp1.0") && !find(plan, "base/pgsql_tmp"),
	   "temporary files and directories are out");
	ok(find(plan, "pg_wal") && find(plan, "pg_wal/archive_status") &&
	   !find(plan, "pg_wal/000000010000000000000001") &&
	   !find(plan, "pg_wal/archive_status/000000010000000000000001.done"),
	   "pg_wal and pg_wal/archive_status are kept empty");
#if PG_VERSION_NUM >= 170000
	ok(find(plan, "pg_wal/summaries"),
	   "pg_wal/summaries (WAL summaries, 17+) is kept empty");
#else
	ok(!find(plan, "pg_wal/summaries"), "no pg_wal/summaries before 17");
#endif
	ok(find(plan, "pg_replslot") && !find(plan, "pg_replslot/slot") &&
	   find(plan, "pg_stat_tmp") && !find(plan, "pg_stat_tmp/global.stat") &&
	   find(plan, "pg_subtrans") && !find(plan, "pg_subtrans/0000") &&
	   find(plan, "pg_notify"), "excluded directories are kept empty");
	ok(find(plan, "pg_tblspc/16500") && find(plan, "pg_tblspc/16500/PG_15_1/5/16600") &&
	   find(plan, "pg_tblspc/16500/PG_15_1/5/16600")->check_pages,
	   "tablespace files are under pg_tblspc/<oid>");
	ok(m->ntablespaces == 1 && m->tablespaces[0].oid == 16500 &&
	   strcmp(m->tablespaces[0].location, tsdir) == 0,
	   "the tablespace is recorded with its location");

	tbdr_backup_plan_split(plan, 2 * BLCKSZ);
	ok(plan->nparts >= 3, "small parts: several of them");
	is_int(find(plan, "pg_wal")->part, 1, "directories go into part 1");
	ok(find(plan, "base/5/16384")->part != find(plan, "base/5/16384.1")->part,
	   "a file larger than a part is a part of its own");
	tbdr_backup_plan_add_data(plan, "backup_label", "START WAL LOCATION: 0/2\n", 24,
							  1764464523, plan->nparts + 1);

	/* --- the parts, into a file:// repository --- */
	tbdr_config_set_defaults(&cfg);
	ok(tbdr_config_set(&cfg, "repository", psprintf("file://%s/repo", root), &err),
	   "repository setting");
	cat = tbdr_catalog_open(&cfg, &err);
	ok(cat != NULL, "catalog open");
	ok(tbdr_catalog_write_status(cat, m, &err), "started.json written");
	ok(!tbdr_catalog_write_status(cat, m, &err) && err.code == TBDR_ERR_CONFLICT,
	   "a status object is never written twice");
	tbdr_error_clear(&err);

	memset(&o, 0, sizeof(o));
	o.storage = tbdr_catalog_storage(cat);
	o.codec.compression = TBDR_COMPRESS_ZSTD;
	o.backup_id = m->id;

	/*
	 * As the server's backup writers do: the plan handed over as bytes,
	 * each part stored into a manifest of its own, sent as a document, and
	 * merged in part order (here stored last part first).
	 */
	{
		StringInfoData buf;
		TbdrBackupPlan *copy;
		TbdrManifest **frag = palloc0((plan->nparts + 1) * sizeof(TbdrManifest *));
		bool		same = true;
		int64		data_bytes = 0;

		initStringInfo(&buf);
		tbdr_backup_plan_serialize(plan, &buf);
		copy = tbdr_backup_plan_deserialize(buf.data, buf.len, &err);
		ok(copy != NULL, "a serialized plan reads back");
		for (int i = 0; copy && i < plan->nentries; i++)
		{
			const TbdrBackupEntry *a = &plan->entries[i],
					   *b = &copy->entries[i];

			same &= strcmp(a->path, b->path) == 0 && a->type == b->type &&
				a->size == b->size && a->mtime == b->mtime && a->mode == b->mode &&
				a->check_pages == b->check_pages && a->first_block == b->first_block &&
				a->part == b->part && (a->source == NULL) == (b->source == NULL) &&
				(a->source == NULL || strcmp(a->source, b->source) == 0) &&
				(a->data == NULL) == (b->data == NULL) &&
				(a->data == NULL || memcmp(a->data, b->data, a->size) == 0);
			if (a->type == TBDR_TAR_FILE)
				data_bytes += a->size;
		}
		ok(copy && same && copy->nentries == plan->nentries &&
		   copy->nparts == plan->nparts && copy->nfiles == plan->nfiles &&
		   copy->total_bytes == plan->total_bytes,
		   "every entry of the plan survives the round trip");
		ok(tbdr_backup_plan_deserialize(buf.data, buf.len - 1, &err) == NULL &&
		   err.code == TBDR_ERR_CORRUPT, "a truncated plan is refused");
		tbdr_error_clear(&err);

		all_ok = copy != NULL;
		for (int p = copy ? copy->nparts : 0; p >= 1; p--)
		{
			TbdrManifest *one = tbdr_manifest_create(m->id, "running");

			all_ok &= tbdr_backup_store_part(&o, copy, p, one, &err);
			resetStringInfo(&buf);
			tbdr_manifest_write(one, &buf);
			frag[p] = tbdr_manifest_parse(buf.data, buf.len, &err);
			all_ok &= frag[p] != NULL && frag[p]->nparts == 1 &&
				frag[p]->parts[0].part == p;
			tbdr_manifest_free(one);
		}
		ok(all_ok, "every part stored, each with a manifest of its own");
		for (int p = 1; all_ok && p <= plan->nparts; p++)
			tbdr_manifest_merge(m, frag[p]);
		ok(m->database_bytes == data_bytes, "merged: the data bytes add up");
		ok(m->nparts > 0 && m->parts[0].part == 1 &&
		   m->parts[m->nparts - 1].part == plan->nparts, "merged in part order");
		tbdr_backup_plan_free(copy);
	}
	is_int(m->nparts, plan->nparts, "one manifest entry per part");
	is_int(m->nfiles, plan->nfiles, "one manifest entry per file");

	/* each file's data is at its offset in its part, with its SHA-256 */
	all_ok = true;
	for (int p = 0; p < m->nparts; p++)
	{
		size_t		len;
		char	   *tar = decode_part(o.storage, m->parts[p].key, &len);
		char		hex[TBDR_SHA256_HEX_LEN];

		if (tar == NULL)
		{
			all_ok = false;
			continue;
		}
		tbdr_sha256_hex(tar, len, hex);
		all_ok &= strcmp(hex, m->parts[p].sha256) == 0 &&
			(int64) len == m->parts[p].plain_bytes;
		for (int i = 0; i < m->nfiles; i++)
		{
			TbdrManifestFile *f = &m->files[i];

			if (f->part != m->parts[p].part)
				continue;
			tbdr_sha256_hex(tar + f->offset, f->size, hex);
			all_ok &= f->offset + f->size <= (int64) len &&
				strcmp(hex, f->sha256) == 0;
		}
	}
	ok(all_ok, "parts and files match their SHA-256s and offsets");
	ok(tbdr_manifest_find_file(m, "backup_label") &&
	   tbdr_manifest_find_file(m, "backup_label")->part == plan->nparts,
	   "in-memory files go into their part");

	/* --- the catalog --- */
	list = tbdr_catalog_list(cat, &err);
	ok(list && list->count == 1 && list->items[0].state == TBDR_BACKUP_RUNNING,
	   "started.json only: running");
	ok(list && tbdr_backup_list_latest(list) == NULL, "no complete backup yet");
	tbdr_backup_list_free(list);
	ok(tbdr_catalog_load_manifest(cat, m->id, &err) == NULL &&
	   err.code == TBDR_ERR_NOT_FOUND, "loading the manifest of a running backup fails");
	tbdr_error_clear(&err);

	pfree(m->status);
	m->status = pstrdup("complete");
	ok(tbdr_catalog_write_status(cat, m, &err), "manifest.json written");
	list = tbdr_catalog_list(cat, &err);
	ok(list && list->count == 1 && list->items[0].state == TBDR_BACKUP_COMPLETE &&
	   list->items[0].header->nfiles == 0 && list->items[0].header->nparts == m->nparts,
	   "manifest.json: complete (header without the file list)");
	ok(list && tbdr_backup_list_latest(list) == &list->items[0], "latest complete");
	tbdr_backup_list_free(list);
	{
		TbdrManifest *full = tbdr_catalog_load_manifest(cat, m->id, &err);

		ok(full && full->nfiles == m->nfiles, "the full manifest loads");
	}
	ok(!tbdr_catalog_remove_partial(cat, m->id, &removed, &err) &&
	   err.code == TBDR_ERR_CONFLICT, "a complete backup is not removed as partial");
	tbdr_error_clear(&err);

	/* an interrupted one: started.json and a part */
	{
		TbdrManifest *m2 = tbdr_manifest_create("20261130T020000Z", "running");
		char	   *key = tbdr_repo_backup_part_key(m2->id, 1);
		TbdrManifest *failed = NULL;

		ok(tbdr_catalog_write_status(cat, m2, &err) &&
		   tbdr_storage_put_buffer(tbdr_catalog_storage(cat), key, "x", 1, &err),
		   "an interrupted backup's objects");
		ok(tbdr_catalog_fail_interrupted(cat, m2->id, "interrupted: test", &removed, &err),
		   "marked failed");
		is_int(removed, 1, "its part removed");
		is_int(tbdr_catalog_read_status(cat, m2->id, TBDR_BACKUP_FAILED_OBJ, &failed, &err), 1,
			   "failed.json exists");
		is_str(failed ? failed->error : NULL, "interrupted: test", "with the reason");
		list = tbdr_catalog_list(cat, &err);
		ok(list && list->count == 2 && list->items[1].state == TBDR_BACKUP_FAILED &&
		   list->items[1].nobjects == 2, "listed failed, with only its status objects");
		tbdr_backup_list_free(list);
		ok(tbdr_catalog_delete_backup(cat, m2->id, &err), "delete a backup");
		list = tbdr_catalog_list(cat, &err);
		ok(list && list->count == 1, "it is gone");
		tbdr_backup_list_free(list);
	}

	tbdr_catalog_close(cat);
	cmd = psprintf("rm -rf '%s'", root);
	if (system(cmd) != 0)
		diag("could not remove the test directory");
	return done_testing();
}
