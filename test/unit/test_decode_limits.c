/*-------------------------------------------------------------------------
 * test_decode_limits.c
 *	  Unit tests of the decoding limits (issue 12): an object may not decode
 *	  to more than what it can be.  A zstd bomb (a small object of megabytes
 *	  of zeros) stored as a WAL segment, a history file or a backup status
 *	  object is refused with a clear error, and a fetched WAL file that is
 *	  refused leaves nothing behind.  The real limits are large (a segment:
 *	  the cluster's segment size; status objects: 512 MiB), so the tests use
 *	  the same code with small ones.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/catalog.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/repo.h"
#include "core/storage.h"
#include "core/walarchive.h"
#include "core/window.h"
#include "tap.h"

#define MiB (1024 * 1024)

static char root[] = "/tmp/tbdr-test-limits-XXXXXX";

static bool
contains(const char *h, const char *n)
{
	return h && strstr(h, n) != NULL;
}

static void
write_zeros(const char *path, size_t size)
{
	FILE	   *f = fopen(path, "wb");
	char	   *zeros = calloc(1, size);

	if (f == NULL || fwrite(zeros, 1, size, f) != size || fclose(f) != 0)
	{
		printf("# could not write %s\n", path);
		exit(2);
	}
	free(zeros);
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The decoder's limit, on plain, compressed and encrypted objects. */
static void
test_codec(void)
{
	static unsigned char key[TBDR_KEY_LEN];
	char	   *zeros = calloc(1, 2 * MiB);

	memset(key, 7, sizeof(key));
	for (int variant = 0; variant < 3; variant++)
	{
		TbdrCodecOptions opts = {0};
		TbdrCodecEncoder *enc;
		TbdrCodecDecoder *dec;
		TbdrError	err;
		StringInfoData obj;
		StringInfoData out;
		char		name[128];

		opts.compression = variant == 0 ? TBDR_COMPRESS_NONE : TBDR_COMPRESS_ZSTD;
		opts.key = variant == 2 ? key : NULL;
		enc = tbdr_codec_encoder_create(&opts, &err);
		dec = tbdr_codec_decoder_create(&opts, &err);
		initStringInfo(&obj);
		initStringInfo(&out);
		ok(tbdr_codec_encode_buffer(enc, "test", zeros, 2 * MiB, &obj, &err), "2 MiB encoded");
		if (variant == 1)
			ok(obj.len < 4096, "compressed, it is a few hundred bytes (a bomb)");

		tbdr_error_clear(&err);
		snprintf(name, sizeof(name), "variant %d: a limit of 1 MiB refuses it", variant);
		ok(!tbdr_codec_decode_buffer_max(dec, "test", obj.data, obj.len, MiB, "a test object",
										 &out, &err) &&
		   err.code == TBDR_ERR_CORRUPT, name);
		is_str(err.message, "object decodes to more than 1048576 bytes, more than a test object can have",
			   "  with a message naming the limit and the kind");
		ok(contains(err.hint, "compression bomb"), "  and a hint");
		ok(out.len <= MiB, "  nothing beyond the limit was passed on");

		resetStringInfo(&out);
		ok(tbdr_codec_decode_buffer_max(dec, "test", obj.data, obj.len, 2 * MiB, "a test object",
										&out, &err) && out.len == 2 * MiB,
		   "  a limit of exactly its size accepts it");
		resetStringInfo(&out);
		tbdr_codec_decoder_set_limit(dec, MiB, "a test object");
		ok(tbdr_codec_decode_buffer(dec, "test", obj.data, obj.len, &out, &err) && out.len == 2 * MiB,
		   "  a reset clears the limit");
		tbdr_codec_encoder_free(enc);
		tbdr_codec_decoder_free(dec);
		pfree(obj.data);
		pfree(out.data);
	}
	free(zeros);
}

/* archive-get: segments by the segment size, history files by 1 MiB. */
static void
test_wal(TbdrStorage *st)
{
	TbdrCodecOptions opts = {0};
	TbdrWalArchive *wa;
	TbdrCodecDecoder *dec;
	TbdrWalInventory *inv;
	TbdrError	err;
	char	   *local = psprintf("%s/local", root);
	char	   *dest = psprintf("%s/restored", root);
	uint64		bytes = 0;

	opts.compression = TBDR_COMPRESS_ZSTD;
	wa = tbdr_walarchive_create(st, false, &opts, &err);
	ok(wa != NULL, "WAL archive on a file:// repository");

	write_zeros(local, 2 * MiB);
	ok(tbdr_wal_push(wa, local, "000000010000000000000003", NULL, &err),
	   "a 2 MiB file pushed as a WAL segment");
	tbdr_walarchive_set_segment_size(wa, MiB);
	tbdr_error_clear(&err);
	ok(!tbdr_wal_fetch(wa, "000000010000000000000003", dest, false, NULL, &err) &&
	   err.code == TBDR_ERR_CORRUPT, "a cluster with 1 MiB segments refuses it");
	ok(contains(err.message, "more than 1048576 bytes, more than a WAL segment of this cluster can have"),
	   "  the message says why");
	ok(!exists(dest), "  nothing is written at the destination");
	ok(!exists(psprintf("%s.tbdr-tmp.%d", dest, (int) getpid())), "  nor left behind");
	tbdr_walarchive_set_segment_size(wa, 2 * MiB);
	ok(tbdr_wal_fetch(wa, "000000010000000000000003", dest, false, &bytes, &err) &&
	   bytes == 2 * MiB, "a cluster with 2 MiB segments fetches it");
	unlink(dest);
	tbdr_walarchive_set_segment_size(wa, 0);
	ok(tbdr_wal_fetch(wa, "000000010000000000000003", dest, false, &bytes, &err),
	   "segment size unknown: up to PostgreSQL's largest (1 GB)");
	unlink(dest);

	write_zeros(local, TBDR_WAL_HISTORY_MAX_BYTES + 1);
	ok(tbdr_wal_push(wa, local, "00000002.history", NULL, &err),
	   "a history file of 1 MiB + 1 byte pushed");
	tbdr_error_clear(&err);
	ok(!tbdr_wal_fetch(wa, "00000002.history", dest, false, NULL, &err) &&
	   contains(err.message, "more than 1048576 bytes, more than a history file can have"),
	   "archive-get refuses it");
	ok(!exists(dest), "  nothing is written");

	dec = tbdr_codec_decoder_create(&opts, &err);
	tbdr_error_clear(&err);
	inv = tbdr_wal_inventory_load(st, dec, MiB, &err);
	ok(inv == NULL && err.code == TBDR_ERR_CORRUPT &&
	   contains(err.message, "wal/00000002.history") &&
	   contains(err.message, "more than a timeline history file can have"),
	   "the WAL inventory (restore, list, verify) refuses it, naming the object");
	if (inv == NULL)
		diag(err.message);
	tbdr_codec_decoder_free(dec);
	tbdr_walarchive_close(wa);
}

/* Backup status objects: not written beyond the limit, nor read. */
static void
test_status(TbdrStorage *st)
{
	static unsigned char key[TBDR_KEY_LEN];
	TbdrError	err;
	TbdrManifest *m;
	TbdrManifest *back = NULL;

	memset(key, 9, sizeof(key));
	for (int encrypted = 0; encrypted < 2; encrypted++)
	{
		TbdrCatalog *cat = tbdr_catalog_create(st, false, encrypted ? key : NULL,
											   false, &err);
		const char *id = encrypted ? "20261130T020000Z" : "20261130T010000Z";
		char		name[128];

		m = tbdr_manifest_create(id, "running");
		for (int i = 0; i < 100; i++)
			tbdr_manifest_add_dir(m, psprintf("base/%d", i), 1764464523);

		tbdr_catalog_set_status_limit(cat, 2048);
		tbdr_error_clear(&err);
		snprintf(name, sizeof(name), "%s: a status object over the limit is not written",
				 encrypted ? "encrypted" : "plain");
		ok(!tbdr_catalog_write_status(cat, m, &err) && err.code == TBDR_ERR_CONFIG &&
		   contains(err.message, "more than tbdr reads back (2048)"), name);

		tbdr_catalog_set_status_limit(cat, TBDR_MANIFEST_MAX_BYTES);
		ok(tbdr_catalog_write_status(cat, m, &err), "  under the real limit it is");
		ok(tbdr_catalog_read_status(cat, id, TBDR_BACKUP_STARTED_OBJ, &back, &err) == 1,
		   "  and read back");
		if (back)
			tbdr_manifest_free(back);

		tbdr_catalog_set_status_limit(cat, 2048);
		tbdr_error_clear(&err);
		ok(tbdr_catalog_read_status(cat, id, TBDR_BACKUP_STARTED_OBJ, &back, &err) == -1 &&
		   err.code == TBDR_ERR_CORRUPT &&
		   contains(err.message, "started.json") &&
		   contains(err.message, "more than a backup status object can have"),
		   "  a reader with a smaller limit refuses it, naming the object");
		diag(err.message);
		tbdr_manifest_free(m);
		tbdr_catalog_close(cat);
	}
}

int
main(void)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrStorage *st;

	if (mkdtemp(root) == NULL || mkdir(psprintf("%s/repo", root), 0700) != 0)
		return 2;
	tbdr_config_set_defaults(&cfg);
	if (!tbdr_config_set(&cfg, "repository", psprintf("file://%s/repo", root), &err) ||
		(st = tbdr_storage_open(&cfg, &err)) == NULL)
	{
		printf("# %s\n", err.message);
		return 2;
	}

	test_codec();
	test_wal(st);
	test_status(st);

	tbdr_storage_close(st);
	(void) rmtree(root, true);
	return done_testing();
}
