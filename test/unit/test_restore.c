/*-------------------------------------------------------------------------
 * test_restore.c
 *	  The restore pipeline (restore.h) on a file:// repository: parts made
 *	  here as the backup writes them (tar stream, zstd, optional AES-GCM),
 *	  restored and verified; a file whose SHA-256 does not match, a part
 *	  changed in the repository, a wrong key, --delta keeping identical
 *	  files and removing strays, the recovery settings replacing those
 *	  of an earlier restore; forged tablespaces writing nothing outside
 *	  the data directory; secrets removed from configuration files.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/config.h"
#include "core/digest.h"
#include "core/restore.h"
#include "core/storage.h"
#include "core/tarstream.h"
#include "lib/stringinfo.h"
#include "tap.h"

static char root[256];
static TbdrStorage *st;

typedef struct TestFile
{
	const char *path;
	const char *data;
	int			part;
} TestFile;

static const TestFile files[] = {
	{"PG_VERSION", "15\n", 1},
	{"global/pg_control", "control file contents", 2},
	{"base/1/1259", "relation 1259, some bytes of a catalog", 1},
	{"base/1/16384", "user table", 2},
	{"backup_label", "START WAL LOCATION: 0/2000028\n", 2},
};
#define NFILES ((int) lengthof(files))

/* Build a backup of the files above: parts in the repository, a manifest. */
static TbdrManifest *
make_backup(const char *id, const unsigned char *key, const char *corrupt_sha_path)
{
	TbdrManifest *m = tbdr_manifest_create(id, "complete");
	TbdrCodecOptions opts;
	TbdrCodecEncoder *enc;
	TbdrError	err;

	memset(&opts, 0, sizeof(opts));
	opts.compression = TBDR_COMPRESS_ZSTD;
	opts.key = key;
	enc = tbdr_codec_encoder_create(&opts, &err);
	m->encryption = pstrdup(key ? "aes-256-gcm" : "none");
	tbdr_manifest_add_dir(m, "base", 0);
	tbdr_manifest_add_dir(m, "base/1", 0);
	tbdr_manifest_add_dir(m, "global", 0);
	tbdr_manifest_add_dir(m, "pg_wal", 0);
	for (int p = 1; p <= 2; p++)
	{
		StringInfoData tar,
					obj;
		TbdrManifestPart *mp;
		char	   *key_name = psprintf("backups/%s/part-%06d", id, p);
		unsigned char sum[TBDR_SHA256_LEN];

		initStringInfo(&tar);
		if (p == 1)
		{
			TbdrTarEntry d = {"pg_wal", TBDR_TAR_DIR, 0, 0700, 1700000000, NULL};

			tbdr_tar_write_header(&tar, &d);
		}
		for (int i = 0; i < NFILES; i++)
		{
			TbdrTarEntry e;
			TbdrManifestFile *f;
			size_t		len = strlen(files[i].data);

			if (files[i].part != p)
				continue;
			memset(&e, 0, sizeof(e));
			e.path = files[i].path;
			e.type = TBDR_TAR_FILE;
			e.size = len;
			e.mode = 0600;
			e.mtime = 1700000000 + i;
			tbdr_tar_write_header(&tar, &e);
			f = tbdr_manifest_add_file(m, files[i].path);
			f->size = len;
			f->mtime = e.mtime;
			f->part = p;
			f->offset = tar.len;
			tbdr_sha256_hex(files[i].data, len, f->sha256);
			if (corrupt_sha_path && strcmp(corrupt_sha_path, files[i].path) == 0)
				f->sha256[0] = f->sha256[0] == '0' ? '1' : '0';
			appendBinaryStringInfo(&tar, files[i].data, len);
			for (size_t z = tbdr_tar_padding(len); z > 0; z--)
				appendStringInfoChar(&tar, '\0');
		}
		tbdr_tar_write_end(&tar);
		initStringInfo(&obj);
		tbdr_codec_encode_buffer(enc, key_name, tar.data, tar.len, &obj, &err);
		tbdr_storage_put_buffer(st, key_name, obj.data, obj.len, &err);
		mp = tbdr_manifest_add_part(m, p, key_name);
		mp->plain_bytes = tar.len;
		mp->stored_bytes = obj.len;
		tbdr_sha256(tar.data, tar.len, sum);
		tbdr_hex_encode(sum, TBDR_SHA256_LEN, mp->sha256);
	}
	tbdr_codec_encoder_free(enc);
	return m;
}

/* Restore (or verify) m with one decoder; the first error in err. */
static bool
run_restore(TbdrManifest *m, const char *pgdata, bool delta, bool verify,
			const unsigned char *key, TbdrRestoreStats *stats, TbdrError *err)
{
	TbdrRestoreOptions o;
	TbdrCodecOptions copts;
	TbdrCodecDecoder *dec;
	TbdrRestore *r;
	bool		ok = true;

	memset(&o, 0, sizeof(o));
	o.pgdata = pgdata;
	o.delta = delta;
	o.verify_only = verify;
	memset(&copts, 0, sizeof(copts));
	copts.key = key;
	dec = tbdr_codec_decoder_create(&copts, err);
	tbdr_error_clear(err);
	r = tbdr_restore_create(m, &o, err);
	if (r == NULL)
		return false;
	if (!verify)
		ok = tbdr_restore_prepare(r, err);
	for (int p = 0; ok && p < m->nparts; p++)
	{
		if (tbdr_restore_part_needed(r, p))
			ok = tbdr_restore_part(r, p, st, dec, err);
	}
	ok = ok && tbdr_restore_finish(r, err);
	if (stats)
		*stats = *tbdr_restore_stats(r);
	tbdr_restore_free(r);
	tbdr_codec_decoder_free(dec);
	return ok;
}

static char *
slurp(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	StringInfoData s;
	char		buf[4096];
	size_t		n;

	if (f == NULL)
		return NULL;
	initStringInfo(&s);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		appendBinaryStringInfo(&s, buf, n);
	fclose(f);
	return s.data;
}

static bool
same_as_backup(const char *pgdata)
{
	for (int i = 0; i < NFILES; i++)
	{
		char	   *got = slurp(psprintf("%s/%s", pgdata, files[i].path));

		if (got == NULL || strcmp(got, files[i].data) != 0)
			return false;
	}
	return true;
}

int
main(void)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrManifest *m;
	TbdrRestoreStats stats;
	char	   *pgdata;
	unsigned char key[32],
				key2[32];
	struct stat sb;
	FILE	   *f;
	char	   *conf;

	snprintf(root, sizeof(root), "/tmp/tbdr_test_restore.%d", (int) getpid());
	mkdir(root, 0700);
	mkdir(psprintf("%s/repo", root), 0700);
	tbdr_config_set_defaults(&cfg);
	cfg.repository = psprintf("file://%s/repo", root);
	tbdr_error_clear(&err);
	st = tbdr_storage_open(&cfg, &err);
	ok(st != NULL, "file:// repository opened");

	/* a plain backup, restored */
	m = make_backup("20261130T010000Z", NULL, NULL);
	pgdata = psprintf("%s/data1", root);
	ok(run_restore(m, pgdata, false, false, NULL, &stats, &err), "restore succeeds");
	if (err.message[0])
		diag(err.message);
	ok(same_as_backup(pgdata), "every file restored with its content");
	is_int(stats.files_written, NFILES, "all files written");
	is_int(stats.parts_fetched, 2, "both parts fetched");
	ok(stat(psprintf("%s/pg_wal", pgdata), &sb) == 0 && S_ISDIR(sb.st_mode), "empty directory pg_wal created");
	ok(stat(psprintf("%s/global/pg_control.tbdr-restore", pgdata), &sb) != 0,
	   "pg_control in place, no temporary left");
	ok(stat(psprintf("%s/base/1/1259", pgdata), &sb) == 0 && sb.st_mtime == 1700000002 &&
	   (sb.st_mode & 0777) == 0600, "mtime and mode restored");
	ok(stat(pgdata, &sb) == 0 && (sb.st_mode & 0777) == 0700, "data directory mode 0700");

	/* a non-empty directory is refused without delta */
	ok(!run_restore(m, pgdata, false, false, NULL, NULL, &err) && err.code == TBDR_ERR_CONFLICT &&
	   strstr(err.message, "is not empty"), "non-empty directory refused");

	/* verify mode */
	ok(run_restore(m, NULL, false, true, NULL, &stats, &err), "verify succeeds");
	is_int(stats.files_written, 0, "verify writes nothing");

	/* a manifest SHA-256 that does not match a file */
	m = make_backup("20261130T020000Z", NULL, "base/1/16384");
	ok(!run_restore(m, NULL, false, true, NULL, NULL, &err) && err.code == TBDR_ERR_CORRUPT &&
	   strstr(err.message, "base/1/16384") && strstr(err.message, "backups/20261130T020000Z/part-000002"),
	   "a file whose SHA-256 differs: corrupt, naming the file and the part");
	diag(err.message);
	pgdata = psprintf("%s/data2", root);
	ok(!run_restore(m, pgdata, false, false, NULL, NULL, &err), "restore of it fails too");
	ok(stat(psprintf("%s/global/pg_control", pgdata), &sb) != 0,
	   "and leaves no pg_control (the directory cannot be started)");

	/* a part changed in the repository */
	m = make_backup("20261130T030000Z", NULL, NULL);
	{
		char	   *path = psprintf("%s/repo/backups/20261130T030000Z/part-000001", root);
		char	   *data = slurp(path);
		int			fd = open(path, O_WRONLY);
		char		c = data[60] ^ 0x20;

		ok(fd >= 0 && pwrite(fd, &c, 1, 60) == 1, "one byte of part 1 changed in the repository");
		close(fd);
	}
	ok(!run_restore(m, NULL, false, true, NULL, NULL, &err) &&
	   strstr(err.message, "part-000001"), "a changed part object is caught, naming it");
	diag(err.message);

	/* encrypted: right key, wrong key, no key */
	memset(key, 0x11, sizeof(key));
	memset(key2, 0x22, sizeof(key2));
	m = make_backup("20261130T040000Z", key, NULL);
	ok(run_restore(m, psprintf("%s/data3", root), false, false, key, NULL, &err),
	   "encrypted backup restores with its key");
	ok(same_as_backup(psprintf("%s/data3", root)), "with the right content");
	ok(!run_restore(m, psprintf("%s/data4", root), false, false, key2, NULL, &err) &&
	   err.code == TBDR_ERR_CRYPTO, "wrong key: crypto error");
	diag(err.message);
	ok(!run_restore(m, psprintf("%s/data5", root), false, false, NULL, NULL, &err) &&
	   err.code == TBDR_ERR_CRYPTO, "no key: crypto error");

	/* delta over a stale copy */
	m = make_backup("20261130T050000Z", NULL, NULL);
	pgdata = psprintf("%s/data1", root);
	f = fopen(psprintf("%s/base/1/16384", pgdata), "w");
	fputs("stale content of the user table", f);
	fclose(f);
	f = fopen(psprintf("%s/pg_wal/000000010000000000000009", pgdata), "w");
	fputs("old WAL", f);
	fclose(f);
	mkdir(psprintf("%s/stray_dir", pgdata), 0700);
	ok(run_restore(m, pgdata, true, false, NULL, &stats, &err), "delta restore succeeds");
	if (err.message[0])
		diag(err.message);
	ok(same_as_backup(pgdata), "the result equals the backup");
	is_int(stats.files_written, 2, "two files rewritten (the changed one and pg_control)");
	is_int(stats.files_kept, NFILES - 2, "the identical ones kept");
	is_int(stats.parts_fetched, 1, "only the part holding them fetched");
	ok(stat(psprintf("%s/pg_wal/000000010000000000000009", pgdata), &sb) != 0 &&
	   stat(psprintf("%s/stray_dir", pgdata), &sb) != 0, "files and directories not in the backup removed");

	/* recovery settings replace an earlier restore's */
	conf = psprintf("%s/postgresql.auto.conf", pgdata);
	f = fopen(conf, "w");
	fputs("work_mem = '64MB'\nrestore_command = 'old'\nrecovery_target_time = '2020-01-01 00:00:00+00'\n", f);
	fclose(f);
	{
		TbdrRecoverySettings rs;
		char	   *got;

		memset(&rs, 0, sizeof(rs));
		rs.restore_command = "/usr/bin/tbdr archive-get -c /etc/it's.conf %f %p";
		rs.target_param = "recovery_target_name";
		rs.target_value = "before upgrade";
		rs.target_action = "promote";
		rs.target_timeline = "latest";
		ok(tbdr_restore_write_recovery(pgdata, &rs, &err), "recovery settings written");
		got = slurp(conf);
		ok(strstr(got, "work_mem = '64MB'\n") != NULL, "other settings kept");
		ok(strstr(got, "'old'") == NULL && strstr(got, "2020-01-01") == NULL,
		   "the earlier restore_command and target removed");
		ok(strstr(got, "restore_command = '/usr/bin/tbdr archive-get -c /etc/it''s.conf %f %p'\n") != NULL,
		   "restore_command quoted");
		ok(strstr(got, "recovery_target_name = 'before upgrade'\n") != NULL &&
		   strstr(got, "recovery_target_action = 'promote'\n") != NULL &&
		   strstr(got, "recovery_target_timeline = 'latest'\n") != NULL, "target, action and timeline");
		ok(stat(psprintf("%s/recovery.signal", pgdata), &sb) == 0, "recovery.signal created");
	}

	/* an unsafe path in a manifest */
	m = tbdr_manifest_create("20261130T060000Z", "complete");
	tbdr_manifest_add_file(m, "../escape");
	ok(!run_restore(m, psprintf("%s/data6", root), false, false, NULL, NULL, &err) &&
	   err.code == TBDR_ERR_CORRUPT, "a path with .. is refused");

	/* forged tablespaces: nothing is written outside the data directory */
	{
		char	   *victim = psprintf("%s/victim", root);
		char	   *pgdata = psprintf("%s/data7", root);
		struct stat sb;

		if (mkdir(victim, 0700) != 0 ||
			system(psprintf("echo keep > '%s/file'", victim)) != 0)
			diag("could not make the victim directory");

		m = tbdr_manifest_create("20261130T070000Z", "complete");
		tbdr_manifest_add_tablespace(m, 16400, psprintf("%s/../victim", pgdata));
		ok(!run_restore(m, pgdata, false, false, NULL, NULL, &err) &&
		   err.code == TBDR_ERR_CORRUPT && strstr(err.message, "invalid location") != NULL,
		   "a tablespace location with .. is refused");

		m = tbdr_manifest_create("20261130T070000Z", "complete");
		tbdr_manifest_add_tablespace(m, 16400, victim);
		tbdr_manifest_add_file(m, "pg_tblspc/16400/file");
		ok(!run_restore(m, pgdata, false, false, NULL, NULL, &err) &&
		   err.code == TBDR_ERR_CORRUPT && strstr(err.message, "outside the version directory") != NULL,
		   "a tablespace file outside PG_<major>_<catversion> is refused");

		m = tbdr_manifest_create("20261130T070000Z", "complete");
		tbdr_manifest_add_tablespace(m, 16400, victim);
		tbdr_manifest_add_dir(m, "pg_tblspc/16400/PG_15_202209061", 0);
		ok(!run_restore(m, pgdata, true, false, NULL, NULL, &err) &&
		   err.code == TBDR_ERR_CONFLICT && strstr(err.hint, "--tablespace-map") != NULL,
		   "a non-empty location not mapped is refused, even with --delta");
		ok(stat(pgdata, &sb) != 0 && stat(psprintf("%s/PG_15_202209061", victim), &sb) != 0 &&
		   stat(psprintf("%s/file", victim), &sb) == 0,
		   "and nothing was written");
	}

	/* what a backup stores of a configuration file */
	{
		const char *conf = "# comment\ntbdr.repository = 's3://b/p'\n"
			"  TBDR.S3_Secret_Access_Key = 'hush'\n"
			"tbdr.s3_session_token 'Zq9' # inline\n"
			"work_mem = '4MB'";
		StringInfoData out;
		const char *first;

		initStringInfo(&out);
		is_int(tbdr_config_redact(conf, strlen(conf), &out, &first), 2, "two secret lines found");
		ok(strcmp(first, "s3_secret_access_key") == 0, "the first one named");
		ok(strstr(out.data, "hush") == NULL && strstr(out.data, "Zq9") == NULL, "their values are gone");
		ok(strstr(out.data, "# comment\ntbdr.repository = 's3://b/p'\n# tbdr.s3_secret_access_key: value removed") == out.data &&
		   strstr(out.data, "\n# tbdr.s3_session_token: value removed") != NULL &&
		   strstr(out.data, "\nwork_mem = '4MB'") != NULL &&
		   out.data[out.len - 1] == '\'', "the rest is kept as it was");
	}

	tbdr_storage_close(st);
	if (system(psprintf("rm -rf '%s'", root)) != 0)
		diag("could not remove the test directory");
	return done_testing();
}
