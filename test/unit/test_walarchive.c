/*-------------------------------------------------------------------------
 * test_walarchive.c
 *	  The WAL archive (walarchive.c) on a file:// repository: identity,
 *	  push (stored, already stored, refused when different), fetch
 *	  (byte-identical, missing, corrupt object refused without leaving the
 *	  destination), timeline history files, gap markers.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/repo.h"
#include "core/storage.h"
#include "core/walarchive.h"
#include "tap.h"
#include "testfile.h"

#define SEG1	"000000010000000000000001"
#define SEG2	"000000010000000000000002"
#define SYSID	UINT64CONST(7000000000000000001)

static char root[256];

/* A local file of len pseudo-random bytes (seed) with some zero runs. */
static char *
write_segment(const char *name, size_t len, unsigned seed)
{
	char	   *path = psprintf("%s-local/%s", root, name);
	char	   *d = palloc(len);
	uint32		x = seed;
	FILE	   *f;

	for (size_t i = 0; i < len; i++)
	{
		x = x * 1103515245 + 12345;
		d[i] = (i / 4096) % 2 ? 0 : (char) (x >> 16);
	}
	f = fopen(path, "wb");
	if (f == NULL || fwrite(d, 1, len, f) != len || fclose(f) != 0)
	{
		perror(path);
		exit(2);
	}
	pfree(d);
	return path;
}

static bool
same_files(const char *a, const char *b)
{
	size_t		la,
				lb;
	char	   *da = test_read_file(a, &la);
	char	   *db = test_read_file(b, &lb);

	return da && db && la == lb && memcmp(da, db, la) == 0;
}

static TbdrWalArchive *
open_archive(const char *compression)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrWalArchive *wa;

	tbdr_config_set_defaults(&cfg);
	if (!tbdr_config_set(&cfg, "repository", psprintf("file://%s", root), &err) ||
		!tbdr_config_set(&cfg, "compression", compression, &err) ||
		(wa = tbdr_walarchive_open(&cfg, &err)) == NULL)
	{
		fprintf(stderr, "cannot open the archive: %s\n", err.message);
		exit(2);
	}
	return wa;
}

/* The repository's file of WAL file name. */
static char *
object_path(const char *name)
{
	TbdrError	err;

	return psprintf("%s/%s", root, tbdr_repo_wal_key(name, &err));
}

static void
test_identity(void)
{
	TbdrWalArchive *wa = open_archive("zstd");
	TbdrWalArchive *other = open_archive("zstd");
	TbdrError	err;

	ok(tbdr_walarchive_check_identity(wa, SYSID, 15, &err),
	   "a new repository takes the cluster's identity");
	ok(!tbdr_walarchive_check_identity(other, SYSID + 1, 15, &err),
	   "another cluster is refused");
	ok(err.hint[0] != '\0', "with a hint");
	tbdr_walarchive_close(other);
	other = open_archive("zstd");
	ok(tbdr_walarchive_check_identity(other, SYSID, 15, &err),
	   "the same cluster is accepted again");
	tbdr_walarchive_close(other);
	tbdr_walarchive_close(wa);
}

static void
test_push_fetch(const char *compression, const char *segname)
{
	TbdrWalArchive *wa = open_archive(compression);
	char	   *seg = write_segment(segname, 1024 * 1024, 1);
	char	   *dest = psprintf("%s-local/restored", root);
	TbdrWalPushResult res;
	TbdrError	err;
	uint64		bytes = 0;
	char	   *name;

	name = psprintf("%s: push stores the file", compression);
	ok(tbdr_wal_push(wa, seg, segname, &res, &err) && !res.already_stored &&
	   res.plain_bytes == 1024 * 1024 && res.stored_bytes > 0, name);
	if (strcmp(compression, "zstd") == 0)
		ok(res.stored_bytes < res.plain_bytes, "zstd: stored compressed");
	ok(access(object_path(segname), F_OK) == 0, "the object is under its WAL key");
	ok(tbdr_wal_push(wa, seg, segname, &res, &err) && res.already_stored,
	   "pushing the same file again: already stored, not rewritten");

	ok(tbdr_wal_fetch(wa, segname, dest, false, &bytes, &err) && bytes == 1024 * 1024,
	   "fetch gives the plaintext size");
	ok(same_files(seg, dest), "and the same bytes");

	/* another file under the same name must not replace the stored one */
	seg = write_segment(segname, 1024 * 1024, 2);
	ok(!tbdr_wal_push(wa, seg, segname, &res, &err) && err.code == TBDR_ERR_CONFLICT,
	   "a different file under a stored name is refused (conflict)");
	ok(strstr(err.message, "different content") != NULL, "saying so");

	unlink(dest);
	ok(!tbdr_wal_fetch(wa, SEG2, dest, false, NULL, &err) && err.code == TBDR_ERR_NOT_FOUND,
	   "fetching a segment that is not there: not found");
	ok(access(dest, F_OK) != 0, "and no destination file");
	tbdr_walarchive_close(wa);
}

/* A stored object with one byte changed is refused on fetch. */
static void
test_corrupt(void)
{
	TbdrWalArchive *wa = open_archive("none");
	char	   *seg = write_segment(SEG2, 256 * 1024, 3);
	char	   *dest = psprintf("%s-local/restored2", root);
	char	   *obj = object_path(SEG2);
	TbdrError	err;
	FILE	   *f;
	int			c;

	ok(tbdr_wal_push(wa, seg, SEG2, NULL, &err), "push without compression");
	f = fopen(obj, "r+b");
	if (f == NULL || fseek(f, 100 * 1024, SEEK_SET) != 0 || (c = fgetc(f)) == EOF ||
		fseek(f, 100 * 1024, SEEK_SET) != 0 || fputc(c ^ 0x5a, f) == EOF || fclose(f) != 0)
	{
		perror(obj);
		exit(2);
	}
	ok(!tbdr_wal_fetch(wa, SEG2, dest, false, NULL, &err) && err.code == TBDR_ERR_CORRUPT,
	   "a stored object changed by one byte is refused on fetch (corrupt)");
	ok(access(dest, F_OK) != 0, "and the destination does not appear");
	tbdr_walarchive_close(wa);
}

static void
test_history_and_gap(void)
{
	TbdrWalArchive *wa = open_archive("zstd");
	char	   *hist = psprintf("%s-local/00000002.history", root);
	char	   *dest = psprintf("%s-local/restored.history", root);
	const char *text = "1\t0/3000000\tno recovery target specified\n";
	char	   *gap_key;
	TbdrError	err;
	FILE	   *f = fopen(hist, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
	{
		perror(hist);
		exit(2);
	}
	ok(tbdr_wal_push(wa, hist, "00000002.history", NULL, &err) &&
	   tbdr_wal_fetch(wa, "00000002.history", dest, true, NULL, &err) &&
	   same_files(hist, dest), "a timeline history file round trip");

	ok(tbdr_wal_record_gap(wa, "000000010000000000000009", "test reason", &err),
	   "a gap marker is recorded");
	gap_key = tbdr_repo_gap_key("000000010000000000000009", &err);
	ok(gap_key && access(psprintf("%s/%s", root, gap_key), F_OK) == 0,
	   "under its gap key");
	ok(tbdr_wal_record_gap(wa, "000000010000000000000009", "again", &err),
	   "recording it again keeps the marker");
	tbdr_walarchive_close(wa);
}

int
main(void)
{
	snprintf(root, sizeof(root), "/tmp/tbdr-test-walarchive-%d", (int) getpid());
	if (mkdir(root, 0700) != 0 || mkdir(psprintf("%s-local", root), 0700) != 0)
	{
		perror(root);
		return 2;
	}
	test_identity();
	test_push_fetch("zstd", SEG1);
	test_push_fetch("none", "000000010000000000000003");
	test_corrupt();
	test_history_and_gap();
	if (system(psprintf("rm -rf '%s' '%s-local'", root, root)) != 0)
		printf("# could not remove %s\n", root);
	return done_testing();
}
