/*-------------------------------------------------------------------------
 * repolock.c
 *	  A lock held in the repository (see repolock.h for the protocol and its
 *	  limits).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "lib/stringinfo.h"

#include "core/manifest.h"
#include "core/repolock.h"

/* A lock object is a few hundred bytes; refuse anything much larger. */
#define LOCK_MAX_LEN	16384

struct TbdrRepoLock
{
	TbdrStorage *st;
	char	   *key;
	char	   *purpose;
	char		token[33];
	char		host[256];
	int			pid;
	int			lease;
	int64		acquired_at;
	time_t		written;		/* local clock, for refresh pacing */
};

/* What is read back from a lock object. */
typedef struct LockDoc
{
	char	   *token;
	char	   *purpose;
	char	   *host;
	char	   *acquired_at;
	int			pid;
	int			lease;
} LockDoc;

static void
local_host(char *host, size_t len)
{
	if (gethostname(host, len) != 0 || host[0] == '\0')
		strlcpy(host, "unknown", len);
	host[len - 1] = '\0';
}

static char *
lock_json(const TbdrRepoLock *lock)
{
	StringInfoData s;
	char		at[32];

	tbdr_format_utc(lock->acquired_at, at, sizeof(at));
	initStringInfo(&s);
	appendStringInfo(&s, "{\"token\": \"%s\", \"purpose\": ", lock->token);
	tbdr_json_escape(&s, lock->purpose);
	appendStringInfoString(&s, ", \"host\": ");
	tbdr_json_escape(&s, lock->host);
	appendStringInfo(&s, ", \"pid\": %d, \"acquired_at\": \"%s\", \"lease\": %d}\n",
					 lock->pid, at, lock->lease);
	return s.data;
}

/*
 * The value of "field" in a document we wrote ourselves: a string (with
 * JSON escapes undone) or a bare number as text; NULL if absent.
 */
static char *
doc_field(const char *doc, const char *field)
{
	char	   *pat = psprintf("\"%s\": ", field);
	const char *p = strstr(doc, pat);
	StringInfoData v;

	if (p == NULL)
	{
		pfree(pat);
		return NULL;
	}
	p += strlen(pat);
	pfree(pat);
	initStringInfo(&v);
	if (*p == '"')
	{
		for (p++; *p && *p != '"'; p++)
		{
			if (*p == '\\' && p[1])
				p++;
			appendStringInfoChar(&v, *p);
		}
	}
	else
	{
		while (*p >= '0' && *p <= '9')
			appendStringInfoChar(&v, *p++);
	}
	return v.data;
}

static void
doc_free(LockDoc *d)
{
	if (d->token)
		pfree(d->token);
	if (d->purpose)
		pfree(d->purpose);
	if (d->host)
		pfree(d->host);
	if (d->acquired_at)
		pfree(d->acquired_at);
	memset(d, 0, sizeof(*d));
}

/*
 * Read the lock object: 1 if it exists (doc and *age filled: seconds since
 * it was last written, by the store's clock), 0 if not, -1 on error.
 */
static int
read_lock(TbdrStorage *st, const char *key, LockDoc *doc, int64 *age,
		  TbdrError *err)
{
	TbdrObjectInfo info;
	char	   *data = NULL;
	size_t		len = 0;
	int			rc;
	time_t		now;
	char	   *num;

	memset(doc, 0, sizeof(*doc));
	rc = tbdr_storage_head(st, key, &info, err);
	if (rc <= 0)
		return rc;
	now = tbdr_storage_server_date(st);
	if (now == 0)
		now = time(NULL);
	*age = info.mtime > 0 ? (int64) now - (int64) info.mtime : 0;

	if (!tbdr_storage_get_buffer(st, key, LOCK_MAX_LEN, &data, &len, err))
	{
		if (err->code == TBDR_ERR_NOT_FOUND)
		{
			tbdr_error_clear(err);
			return 0;			/* released meanwhile */
		}
		return -1;
	}
	data = repalloc(data, len + 1);
	data[len] = '\0';
	doc->token = doc_field(data, "token");
	doc->purpose = doc_field(data, "purpose");
	doc->host = doc_field(data, "host");
	doc->acquired_at = doc_field(data, "acquired_at");
	num = doc_field(data, "pid");
	doc->pid = num ? atoi(num) : 0;
	if (num)
		pfree(num);
	num = doc_field(data, "lease");
	doc->lease = num ? atoi(num) : 0;
	if (num)
		pfree(num);
	pfree(data);
	return 1;
}

/* Is a lock object that exists still in force? */
static bool
lock_live(const LockDoc *doc, int64 age, int default_lease)
{
	char		host[256];
	int			lease = doc->lease > 0 ? doc->lease : default_lease;

	if (age > lease)
		return false;
	local_host(host, sizeof(host));
	if (doc->host && strcmp(doc->host, host) == 0 && doc->pid > 0 &&
		kill(doc->pid, 0) != 0 && errno == ESRCH)
		return false;			/* its process on this host is gone */
	return true;
}

static bool
write_lock(TbdrRepoLock *lock, TbdrError *err)
{
	char	   *json = lock_json(lock);
	bool		ok = tbdr_storage_put_buffer(lock->st, lock->key, json,
											 strlen(json), err);

	pfree(json);
	if (ok)
		lock->written = time(NULL);
	return ok;
}

/* 1: the object holds our token; 0: another's or none; -1: error. */
static int
still_ours(TbdrRepoLock *lock, TbdrError *err)
{
	LockDoc		doc;
	int64		age;
	int			rc = read_lock(lock->st, lock->key, &doc, &age, err);
	int			ours;

	if (rc < 0)
		return -1;
	ours = rc == 1 && doc.token && strcmp(doc.token, lock->token) == 0;
	doc_free(&doc);
	return ours;
}

static void
set_held_error(TbdrError *err, const char *key, const LockDoc *doc,
			   int64 age, int default_lease)
{
	int			lease = doc->lease > 0 ? doc->lease : default_lease;

	tbdr_error_set(err, TBDR_ERR_CONFLICT,
				   "the repository is locked by %s on host %s (pid %d) since %s",
				   doc->purpose ? doc->purpose : "another process",
				   doc->host ? doc->host : "unknown",
				   doc->pid,
				   doc->acquired_at ? doc->acquired_at : "an unknown time");
	tbdr_error_detail(err, "Lock object \"%s\", last renewed %lld s ago, lease %d s.",
					  key, (long long) age, lease);
	tbdr_error_hint(err, "Wait for it to finish and retry.  A holder that died releases the lock when its lease runs out (or at once on its own host).");
}

TbdrRepoLock *
tbdr_repolock_acquire(TbdrStorage *st, const char *name, const char *purpose,
					  int lease_secs, int wait_secs, TbdrError *err)
{
	TbdrRepoLock *lock = palloc0(sizeof(TbdrRepoLock));
	time_t		deadline = time(NULL) + Max(wait_secs, 0);
	uint8		rnd[16];

	lock->st = st;
	lock->key = psprintf(TBDR_REPO_LOCK_PREFIX "%s.json", name);
	lock->purpose = pstrdup(purpose);
	lock->lease = Max(lease_secs, 10);
	lock->pid = (int) getpid();
	local_host(lock->host, sizeof(lock->host));
	if (!pg_strong_random(rnd, sizeof(rnd)))
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "could not generate a random lock token");
		goto fail;
	}
	for (int i = 0; i < 16; i++)
		snprintf(lock->token + 2 * i, 3, "%02x", rnd[i]);

	for (;;)
	{
		LockDoc		doc;
		int64		age = 0;
		int			rc = read_lock(st, lock->key, &doc, &age, err);

		if (rc < 0)
			goto fail;
		if (rc == 1 && lock_live(&doc, age, lock->lease))
		{
			if (time(NULL) >= deadline)
			{
				set_held_error(err, lock->key, &doc, age, lock->lease);
				doc_free(&doc);
				goto fail;
			}
			doc_free(&doc);
			pg_usleep(1000 * 1000L);
			continue;
		}
		doc_free(&doc);

		/* free (or stale): write ours, then make sure it stays ours */
		lock->acquired_at = (int64) time(NULL);
		if (!write_lock(lock, err))
			goto fail;
		rc = still_ours(lock, err);
		if (rc == 1)
		{
			pg_usleep(TBDR_REPOLOCK_SETTLE_MS * 1000L);
			rc = still_ours(lock, err);
		}
		if (rc < 0)
			goto fail;
		if (rc == 1)
			return lock;
		/* another process won the race: it holds the lock now */
	}

fail:
	tbdr_error_prefix(err, "could not lock the repository for %s: ", purpose);
	pfree(lock->key);
	pfree(lock->purpose);
	pfree(lock);
	return NULL;
}

bool
tbdr_repolock_refresh(TbdrRepoLock *lock, TbdrError *err)
{
	int			rc = still_ours(lock, err);

	if (rc < 0)
		return false;
	if (rc == 0)
	{
		tbdr_error_set(err, TBDR_ERR_CONFLICT,
					   "lost the repository lock \"%s\": another process took it over",
					   lock->key);
		tbdr_error_hint(err, "Another %s ran after this one's lease of %d s ran out; this run stopped without deleting more.",
						lock->purpose, lock->lease);
		return false;
	}
	if (time(NULL) - lock->written >= lock->lease / 3)
		return write_lock(lock, err);
	return true;
}

bool
tbdr_repolock_release(TbdrRepoLock *lock, TbdrError *err)
{
	int			rc = still_ours(lock, err);
	bool		ok = rc >= 0;

	if (rc == 1)
		ok = tbdr_storage_delete(lock->st, lock->key, err);
	pfree(lock->key);
	pfree(lock->purpose);
	pfree(lock);
	return ok;
}

const char *
tbdr_repolock_key(const TbdrRepoLock *lock)
{
	return lock->key;
}
