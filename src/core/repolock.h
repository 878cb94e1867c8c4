/*-------------------------------------------------------------------------
 * repolock.h
 *	  A lock held in the repository itself, so that two processes on any
 *	  hosts (the server's expiry after a scheduled backup, `tbdr expire`
 *	  from a shell, another server pointed at the same bucket) never run the
 *	  same exclusive operation at once.
 *
 * The lock is one small JSON object, locks/<name>.json:
 *
 *	 {"token": "<random hex>", "purpose": "tbdr expire", "host": "db1",
 *	  "pid": 1234, "acquired_at": "2026-11-30T02:00:00Z", "lease": 600}
 *
 * Acquiring: if the object exists and is live, the lock is held.  Else
 * write ours, read it back and compare the token, wait a settle time
 * (TBDR_REPOLOCK_SETTLE_MS) and compare again; only then is it ours.
 *
 * Live means: its age, by the object store's own clock (Last-Modified
 * against the Date of the answer, so that hosts' clocks do not matter), is
 * less than its lease; and, when it was written on this host, its pid is
 * alive (a holder killed with -9 on this host does not block until the
 * lease runs out).  The holder rewrites the object (refresh) well before
 * the lease ends, and a refresh that finds another token fails: the caller
 * must stop (TBDR_ERR_CONFLICT), having done at most one step unguarded.
 *
 * Limits, on purpose documented (docs/RETENTION.md): S3 offers strong
 * read-after-write consistency but no compare-and-swap that every
 * S3-compatible server implements (conditional PUT with If-None-Match is
 * recent on AWS and missing elsewhere), so two writers that both find the
 * lock free and PUT at nearly the same time are told apart by the read
 * back (last writer wins, the loser sees a foreign token), and the settle
 * re-read catches a loser whose PUT landed after the winner's first read.
 * What is not covered is a PUT delayed in flight by more than the settle
 * time, or a holder stalled longer than its lease (a paused VM): then two
 * holders can overlap until the next refresh.  Expiry keeps that harmless
 * by refreshing before every batch of deletions and by deciding each
 * deletion from the policy alone (deleting a key twice succeeds).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_REPOLOCK_H
#define TBDR_REPOLOCK_H

#include "core/error.h"
#include "core/storage.h"

#define TBDR_REPO_LOCK_PREFIX		"locks/"
#define TBDR_REPOLOCK_SETTLE_MS		1500

typedef struct TbdrRepoLock TbdrRepoLock;

/*
 * Take lock name (key locks/<name>.json) for purpose (e.g. "tbdr expire")
 * with a lease of lease_secs.  When it is held, retry for up to wait_secs
 * (0: fail at once) and then fail with TBDR_ERR_CONFLICT and a message that
 * names the holder (purpose, host, pid, since when, lease left).
 */
extern TbdrRepoLock *tbdr_repolock_acquire(TbdrStorage *st, const char *name,
										   const char *purpose,
										   int lease_secs, int wait_secs,
										   TbdrError *err);

/*
 * Check that the lock is still ours and, once a third of the lease has
 * passed since the last write, rewrite it.  A lock that was taken over is
 * TBDR_ERR_CONFLICT: stop at once.
 */
extern bool tbdr_repolock_refresh(TbdrRepoLock *lock, TbdrError *err);

/* Delete the lock if still ours, and free it (also on error). */
extern bool tbdr_repolock_release(TbdrRepoLock *lock, TbdrError *err);

/* The lock's key, e.g. "locks/expire.json". */
extern const char *tbdr_repolock_key(const TbdrRepoLock *lock);

#endif							/* TBDR_REPOLOCK_H */
