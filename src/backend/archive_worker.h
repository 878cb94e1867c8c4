/*-------------------------------------------------------------------------
 * archive_worker.h
 *	  Pre-push workers: background workers that store ready WAL files
 *	  before the archiver asks for them, and the shared table through which
 *	  the archive callback learns that a file is already stored.
 *
 * With tbdr in shared_preload_libraries, tbdr.archive_parallel workers
 * ("tbdr wal pusher N") each scan pg_wal/archive_status for .ready files,
 * claim one in the shared table, store it, and record it there as stored
 * with the file's size, inode and modification time and a digest of the
 * tbdr.* settings used, only after the repository acknowledged the whole,
 * verified object.  The archive callback
 * then returns at once for that file (tbdr_prepush_begin), or stores it
 * itself when no worker has it (worker absent, behind, or failing).
 *
 * Why a pool of processes and not one worker with concurrent requests: the
 * storage layer's calls are synchronous and the core is not thread-safe
 * (palloc), so concurrency inside one process would need an asynchronous
 * multi-object storage interface; separate processes give the same
 * parallelism with the existing, tested push path, and a crash of one
 * worker leaves the others and the archiver running.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_ARCHIVE_WORKER_H
#define TBDR_ARCHIVE_WORKER_H

#include "core/walarchive.h"

/* From _PG_init: shared memory hooks and worker registration (preloading). */
extern void tbdr_archive_worker_init(void);

typedef enum TbdrPrepush
{
	TBDR_PREPUSH_STORED,		/* a worker stored exactly this file */
	TBDR_PREPUSH_MINE			/* the caller must store it, then call
								 * tbdr_prepush_end */
} TbdrPrepush;

/*
 * Archive callback: is file (at path) already stored by a worker?  Waits
 * while a live worker is storing it.  STORED fills res (plain and stored
 * bytes) and forgets the entry; MINE claims the file so no worker starts it.
 */
extern TbdrPrepush tbdr_prepush_begin(const char *file, const char *path,
									  TbdrWalPushResult *res);

/* Archive callback: release the claim of tbdr_prepush_begin's MINE. */
extern void tbdr_prepush_end(const char *file);

/* Number of WAL files waiting for archiving (.ready in archive_status). */
extern int	tbdr_ready_count(void);

/* Wake the workers (new .ready files may be there). */
extern void tbdr_prepush_wake(void);

#endif							/* TBDR_ARCHIVE_WORKER_H */
