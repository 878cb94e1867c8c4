/*-------------------------------------------------------------------------
 * fuzz_status.c
 *	  Fuzz the readers of the repository's status objects: the identity
 *	  tbdr.json (src/core/repo.c) and the lock objects locks/<name>.json
 *	  (src/core/repolock.c).  (Backup status objects are manifests:
 *	  fuzz_manifest.)
 *
 * Input: one byte choosing the object, then its content, stored in a
 * file:// repository in a private scratch directory and read through the
 * storage layer as tbdr reads it.  A lock document naming this host is
 * skipped: it would make acquiring wait the settle time (1.5 s) when its
 * pid is not running.
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/repo.h"
#include "core/repolock.h"
#include "core/storage.h"

static TbdrStorage *st;
static char host[256];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	TbdrConfig	cfg;
	TbdrError	err;

	tbdr_config_set_defaults(&cfg);
	if (!tbdr_config_set(&cfg, "repository",
						 psprintf("file://%s", fuzz_scratch_dir()), &err) ||
		(st = tbdr_storage_open(&cfg, &err)) == NULL)
	{
		fprintf(stderr, "could not open the scratch repository: %s\n", err.message);
		abort();
	}
	(void) mkdir(psprintf("%s/" TBDR_REPO_LOCK_PREFIX, fuzz_scratch_dir()), 0700);
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		strlcpy(host, "unknown", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	return 0;
}

/*
 * Store an object as the file:// driver lays it out (a file under the root),
 * without its fsyncs, which would make a run a hundred times slower.
 */
static void
put_object(const char *key, const uint8_t *data, size_t size)
{
	char	   *path = psprintf("%s/%s", fuzz_scratch_dir(), key);

	fuzz_write_file(path, data, size);
	pfree(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TbdrError	err;

	if (size < 1)
		return 0;
	tbdr_error_clear(&err);
	if (data[0] % 2 == 0)
	{
		TbdrRepoIdentity id;
		int			rc;

		put_object(TBDR_REPO_IDENTITY_KEY, data + 1, size - 1);
		rc = tbdr_repo_identity_read(st, &id, &err);
		FUZZ_CHECK(rc == 1 || (rc == -1 && err.code == TBDR_ERR_CORRUPT));
		if (rc == 1)
			FUZZ_CHECK(id.format_version > 0 && id.pg_major > 0 &&
					   memchr(id.created_at, '\0', sizeof(id.created_at)));
	}
	else
	{
		TbdrRepoLock *lock;

		if (memmem(data + 1, size - 1, host, strlen(host)))
			return 0;
		put_object(TBDR_REPO_LOCK_PREFIX "fuzz.json", data + 1, size - 1);
		lock = tbdr_repolock_acquire(st, "fuzz", "fuzzing", 600, 0, &err);
		if (lock)
			FUZZ_CHECK(tbdr_repolock_release(lock, &err));
		else
			FUZZ_CHECK(err.message[0] != '\0');
	}
	return 0;
}
