/*-------------------------------------------------------------------------
 * test_expire_run.c
 *	  The expiry executor (expire_run.c) on a file:// repository: a dry run
 *	  deletes nothing; a run deletes the backups and WAL the policy lets go
 *	  and keeps the rest (the anchor, the window, history files); a held
 *	  repository lock refuses the run.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/catalog.h"
#include "core/config.h"
#include "core/expire_run.h"
#include "core/repo.h"
#include "core/repolock.h"
#include "core/storage.h"
#include "tap.h"
#include "utc.h"

static char root[256];

/* Whether the repository holds key. */
static bool
have(const char *key)
{
	return access(psprintf("%s/%s", root, key), F_OK) == 0;
}

static bool
have_wal(const char *name)
{
	TbdrError	err;

	return have(tbdr_repo_wal_key(name, &err));
}

static void
put(TbdrStorage *st, const char *key)
{
	TbdrError	err;

	if (!tbdr_storage_put_buffer(st, key, "x", 1, &err))
	{
		fprintf(stderr, "put %s: %s\n", key, err.message);
		exit(2);
	}
}

/* WAL segment 0000000100000000000000NN */
static char *
seg(int n)
{
	return psprintf("00000001000000000000%04X", n);
}

/* A complete backup started at iso, 10 minutes long, WAL wal..wal+1. */
static char *
add_backup(TbdrCatalog *cat, const char *iso, int wal)
{
	int64		t = utc(iso);
	char		id[TBDR_BACKUP_ID_LEN + 1];
	TbdrManifest *m;
	TbdrError	err;

	tbdr_backup_id_format(t, id);
	m = tbdr_manifest_create(id, "complete");
	m->start_time = t;
	m->stop_time = t + 600;
	m->timeline = 1;
	m->start_lsn = (uint64) wal << 24;
	m->stop_lsn = ((uint64) (wal + 1) << 24) + 100;
	m->wal_start = seg(wal);
	m->wal_stop = seg(wal + 1);
	m->pg_version = 150000;
	m->system_identifier = 1;
	if (!tbdr_catalog_write_status(cat, m, &err))
	{
		fprintf(stderr, "backup %s: %s\n", id, err.message);
		exit(2);
	}
	put(tbdr_catalog_storage(cat), tbdr_repo_backup_part_key(id, 1));
	return pstrdup(id);
}

static TbdrExpireOptions
options(bool dry_run)
{
	TbdrExpireOptions o;

	memset(&o, 0, sizeof(o));
	o.dry_run = dry_run;
	o.retention_days = 7;
	o.retention_policy = "";
	o.now = utc("2026-11-10T03:00:00Z");
	o.purpose = "test_expire_run";
	return o;
}

int
main(void)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrCatalog *cat;
	TbdrStorage *st;
	TbdrExpireOptions o;
	TbdrExpireResult *res = NULL;
	TbdrRepoLock *lock;
	char	   *lock_key;
	char	   *old,
			   *anchor,
			   *recent;
	bool		all;

	snprintf(root, sizeof(root), "/tmp/tbdr-test-expire-run-%d", (int) getpid());
	if (mkdir(root, 0700) != 0)
	{
		perror(root);
		return 2;
	}
	tbdr_config_set_defaults(&cfg);
	if (!tbdr_config_set(&cfg, "repository", psprintf("file://%s", root), &err) ||
		(cat = tbdr_catalog_open(&cfg, &err)) == NULL)
	{
		fprintf(stderr, "%s\n", err.message);
		return 2;
	}
	st = tbdr_catalog_storage(cat);

	/*
	 * Window [Nov 3 03:00, Nov 10 03:00]: the Nov 8 backup is inside, the
	 * Oct 20 one is the anchor, the Oct 1 one goes, and with it the WAL
	 * before the anchor's start (segments 1..4 of 1..11).
	 */
	old = add_backup(cat, "2026-10-01T02:00:00Z", 1);
	anchor = add_backup(cat, "2026-10-20T02:00:00Z", 5);
	recent = add_backup(cat, "2026-11-08T02:00:00Z", 9);
	for (int i = 1; i <= 11; i++)
		put(st, tbdr_repo_wal_key(seg(i), &err));
	put(st, tbdr_repo_wal_key("00000002.history", &err));

	o = options(true);
	ok(tbdr_expire_execute(cat, &o, &res, &err), "a dry run succeeds");
	ok(res->dry_run && res->backups_deleted == 1 && res->wal_deleted == 4,
	   "and plans one backup and four WAL files");
	all = have(tbdr_repo_backup_key(old, TBDR_BACKUP_MANIFEST_OBJ)) && have_wal(seg(1));
	ok(all, "but deletes nothing");
	for (int i = 0; i < res->nitems; i++)
		ok(!res->items[i].done, psprintf("dry run item %s not done", res->items[i].name));

	lock = tbdr_repolock_acquire(st, TBDR_EXPIRE_LOCK_NAME, "another expiry", 300, 0, &err);
	ok(lock != NULL, "another process holds the expiry lock");
	lock_key = pstrdup(tbdr_repolock_key(lock));
	ok(have(lock_key), "its lock object is in the repository");
	o = options(false);
	res = NULL;
	ok(!tbdr_expire_execute(cat, &o, &res, &err) && err.code == TBDR_ERR_CONFLICT,
	   "then an expiry is refused (conflict)");
	ok(have(tbdr_repo_backup_key(old, TBDR_BACKUP_MANIFEST_OBJ)), "and deletes nothing");
	ok(tbdr_repolock_release(lock, &err), "the lock is released");

	res = NULL;
	ok(tbdr_expire_execute(cat, &o, &res, &err), "the expiry runs");
	ok(res->finished && res->backups_deleted == 1 && res->backups_kept == 2 &&
	   res->wal_deleted == 4, "one backup and four WAL files deleted, two backups kept");
	ok(!have(tbdr_repo_backup_key(old, TBDR_BACKUP_MANIFEST_OBJ)) &&
	   !have(tbdr_repo_backup_part_key(old, 1)), "the old backup is gone, parts too");
	ok(have(tbdr_repo_backup_key(anchor, TBDR_BACKUP_MANIFEST_OBJ)) &&
	   have(tbdr_repo_backup_part_key(anchor, 1)), "the anchor stays");
	ok(have(tbdr_repo_backup_key(recent, TBDR_BACKUP_MANIFEST_OBJ)), "the backup in the window stays");
	all = true;
	for (int i = 1; i <= 4; i++)
		all = all && !have_wal(seg(i));
	ok(all, "WAL before the anchor's start is deleted");
	all = true;
	for (int i = 5; i <= 11; i++)
		all = all && have_wal(seg(i));
	ok(all, "WAL from the anchor's start on stays");
	ok(have_wal("00000002.history"), "a timeline history file stays");
	ok(!have(lock_key), "the run released its lock");

	res = NULL;
	ok(tbdr_expire_execute(cat, &o, &res, &err) && res->backups_deleted == 0 &&
	   res->wal_deleted == 0, "a second run finds nothing to delete");

	tbdr_catalog_close(cat);
	if (system(psprintf("rm -rf '%s'", root)) != 0)
		printf("# could not remove %s\n", root);
	return done_testing();
}
