/*-------------------------------------------------------------------------
 * test_walspool.c
 *	  archive-get's prefetch spool (core/walspool.h): segment arithmetic,
 *	  claims, serving, cleaning, and a spool of another repository.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/walspool.h"
#include "tap.h"

static bool
touch(const char *path, const char *content)
{
	FILE	   *f = fopen(path, "wb");

	if (f == NULL)
		return false;
	fputs(content, f);
	return fclose(f) == 0;
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int
main(int argc, char **argv)
{
	char		out[25];
	char		root[] = "/tmp/tbdr-test-walspool-XXXXXX";
	char	   *dir;
	char	   *p;
	TbdrWalSpool *sp;
	TbdrError	err;
	const uint64 mb16 = 16 * 1024 * 1024;

	/* segment arithmetic */
	ok(tbdr_wal_segment_after("000000010000000000000001", mb16, 1, out) &&
	   strcmp(out, "000000010000000000000002") == 0, "next segment");
	ok(tbdr_wal_segment_after("0000000100000000000000FF", mb16, 1, out) &&
	   strcmp(out, "000000010000000100000000") == 0,
	   "16 MB segments: FF is followed by the next log");
	ok(tbdr_wal_segment_after("000000020000000000000003", 64 * mb16, 1, out) &&
	   strcmp(out, "000000020000000100000000") == 0,
	   "1 GB segments: 03 is followed by the next log");
	ok(tbdr_wal_segment_after("0000000300000000000000FE", mb16, 3, out) &&
	   strcmp(out, "000000030000000100000001") == 0, "n ahead, same timeline");
	ok(!tbdr_wal_segment_after("00000001.history", mb16, 1, out),
	   "not for a history file");
	ok(!tbdr_wal_segment_after("00000001FFFFFFFF000000FF", mb16, 1, out),
	   "not past the last segment");

	if (mkdtemp(root) == NULL)
	{
		diag("mkdtemp failed");
		return 1;
	}
	dir = psprintf("%s/spool", root);
	tbdr_error_clear(&err);
	sp = tbdr_walspool_open(dir, "s3://a/b", &err);
	ok(sp != NULL, "open creates the spool");

	/* claims */
	ok(tbdr_walspool_claim(sp, "000000010000000000000005"), "claim");
	ok(!tbdr_walspool_claim(sp, "000000010000000000000005"),
	   "a second claim while this (live) process fetches fails");
	tbdr_walspool_release(sp, "000000010000000000000005");
	ok(tbdr_walspool_claim(sp, "000000010000000000000005"), "claim after release");
	tbdr_walspool_release(sp, "000000010000000000000005");
	{
		/* a mark of a dead process is taken over */
		pid_t		pid = fork();
		int			status;

		if (pid == 0)
		{
			(void) tbdr_walspool_claim(sp, "000000010000000000000006");
			_exit(0);
		}
		waitpid(pid, &status, 0);
		ok(tbdr_walspool_claim(sp, "000000010000000000000006"),
		   "the claim of a process that died is taken over");
		tbdr_walspool_release(sp, "000000010000000000000006");
	}

	/* serving */
	p = tbdr_walspool_path(sp, "000000010000000000000007");
	touch(p, "seven");
	ok(!tbdr_walspool_claim(sp, "000000010000000000000007"),
	   "no claim of a spooled segment");
	{
		char	   *dest = psprintf("%s/RECOVERYXLOG", root);

		is_int(tbdr_walspool_take(sp, "000000010000000000000007", dest, 1, &err), 1,
			   "take a spooled segment");
		ok(exists(dest) && !exists(p), "moved to the destination");
		is_int(tbdr_walspool_take(sp, "000000010000000000000008", dest, 1, &err), 0,
			   "take of a segment not spooled: 0");
	}

	/* cleaning */
	touch(tbdr_walspool_path(sp, "000000010000000000000003"), "old");
	touch(tbdr_walspool_path(sp, "000000010000000000000009"), "ahead");
	touch(psprintf("%s/000000010000000000000004.tbdr-tmp.999999", dir), "tmp");
	tbdr_walspool_clean(sp, "000000010000000000000008", 3600);
	ok(!exists(tbdr_walspool_path(sp, "000000010000000000000003")),
	   "clean removes segments recovery has passed");
	ok(exists(tbdr_walspool_path(sp, "000000010000000000000009")),
	   "and keeps those ahead");
	ok(!exists(psprintf("%s/000000010000000000000004.tbdr-tmp.999999", dir)),
	   "and temporary files of dead processes");
	tbdr_walspool_close(sp);

	/* another repository: the spool is emptied, never served */
	sp = tbdr_walspool_open(dir, "s3://other/repo", &err);
	ok(sp != NULL && !exists(tbdr_walspool_path(sp, "000000010000000000000009")),
	   "a spool of another repository is emptied");
	tbdr_walspool_close(sp);

	ok(tbdr_walspool_remove(dir) && !exists(dir), "remove");

	rmdir(root);
	return done_testing();
}
