/*-------------------------------------------------------------------------
 * test_repolock.c
 *	  Unit tests of the repository lock (repolock.c) on a file://
 *	  repository: acquire, held by another, taken over from a dead holder
 *	  on this host, after its lease, lost to another, release.  (The S3
 *	  case, with concurrent processes, is test/t/070_expire.pl.)
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"
#include "core/repolock.h"
#include "core/storage.h"
#include "tap.h"

static char root[] = "/tmp/tbdr-test-repolock-XXXXXX";

static bool
contains(const char *h, const char *n)
{
	return h && strstr(h, n) != NULL;
}

static void
put_lock(TbdrStorage *st, const char *host, int pid, int lease)
{
	TbdrError	err;
	char	   *doc = psprintf("{\"token\": \"feedfeedfeedfeedfeedfeedfeedfeed\", \"purpose\": \"tbdr expire\", "
							   "\"host\": \"%s\", \"pid\": %d, \"acquired_at\": \"2026-01-01T00:00:00Z\", "
							   "\"lease\": %d}\n", host, pid, lease);

	if (!tbdr_storage_put_buffer(st, "locks/expire.json", doc, strlen(doc), &err))
	{
		printf("# put: %s\n", err.message);
		exit(2);
	}
}

static bool
lock_exists(TbdrStorage *st)
{
	TbdrError	err;

	return tbdr_storage_head(st, "locks/expire.json", NULL, &err) == 1;
}

int
main(void)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrStorage *st;
	TbdrRepoLock *lock;
	TbdrRepoLock *other;
	char		host[256];

	if (mkdtemp(root) == NULL)
		return 2;
	tbdr_config_set_defaults(&cfg);
	if (!tbdr_config_set(&cfg, "repository", psprintf("file://%s", root), &err))
		return 2;
	st = tbdr_storage_open(&cfg, &err);
	if (st == NULL)
		return 2;
	gethostname(host, sizeof(host));

	/* free: taken, the object names us */
	lock = tbdr_repolock_acquire(st, "expire", "tbdr expire", 60, 0, &err);
	ok(lock != NULL, "a free lock is taken");
	is_str(lock ? tbdr_repolock_key(lock) : NULL, "locks/expire.json", "its key");
	ok(lock_exists(st), "the lock object exists");

	/* held by a live process (ourselves, as another holder would be) */
	tbdr_error_clear(&err);
	other = tbdr_repolock_acquire(st, "expire", "tbdr expire", 60, 0, &err);
	ok(other == NULL && err.code == TBDR_ERR_CONFLICT, "a held lock is refused");
	ok(contains(err.message, "could not lock the repository for tbdr expire: the repository is locked by tbdr expire on host") &&
	   contains(err.message, psprintf("(pid %d)", (int) getpid())),
	   "the error names the holder's host and pid");
	ok(contains(err.hint, "Wait for it to finish"), "and says what to do");
	ok(tbdr_repolock_refresh(lock, &err), "the holder's refresh succeeds");
	ok(tbdr_repolock_release(lock, &err), "release");
	ok(!lock_exists(st), "the lock object is gone");

	/* another host's live lock */
	put_lock(st, "db-other-host", 4242, 600);
	tbdr_error_clear(&err);
	other = tbdr_repolock_acquire(st, "expire", "tbdr expire", 60, 0, &err);
	ok(other == NULL && contains(err.message, "on host db-other-host (pid 4242) since 2026-01-01T00:00:00Z"),
	   "another host's lock is refused, naming it");
	ok(contains(err.detail, "lease 600 s"), "the detail gives the lease");

	/* a holder on this host that died: taken over at once */
	put_lock(st, host, 2147483000, 600);
	lock = tbdr_repolock_acquire(st, "expire", "tbdr expire", 60, 0, &err);
	ok(lock != NULL, "a dead holder's lock on this host is taken over");

	/* the lock taken over by another process: the holder must stop */
	put_lock(st, "db-other-host", 4242, 600);
	tbdr_error_clear(&err);
	ok(!tbdr_repolock_refresh(lock, &err) && err.code == TBDR_ERR_CONFLICT &&
	   contains(err.message, "lost the repository lock"), "a refresh after a takeover fails: stop");
	ok(tbdr_repolock_release(lock, &err), "releasing a lost lock succeeds");
	ok(lock_exists(st), "and leaves the new holder's object alone");

	/* a lease that runs out: --wait gets it (file:// ages by mtime) */
	put_lock(st, "db-other-host", 4242, 2);
	lock = tbdr_repolock_acquire(st, "expire", "tbdr expire", 60, 30, &err);
	ok(lock != NULL, "waiting takes the lock once the holder's lease ran out");
	if (lock)
		tbdr_repolock_release(lock, &err);

	tbdr_storage_close(st);
	if (system(psprintf("rm -rf %s", root)) != 0)
		diag("could not remove the temporary directory");
	return done_testing();
}
