/*-------------------------------------------------------------------------
 * walspool.h
 *	  The spool directory of archive-get's prefetch: WAL segments fetched
 *	  ahead of recovery, served from there on the next call.
 *
 * A spooled file appears only complete and verified (tbdr_wal_fetch writes
 * it under a temporary name, verifies, fsyncs and renames it), so a file in
 * the spool can be handed to PostgreSQL with a rename.  A fetch in progress
 * is marked by "<name>.fetching" holding the fetching process's pid, so
 * that several archive-get calls never fetch the same segment twice and a
 * call can wait for a prefetch of exactly the file it needs.
 *
 * The spool records which repository filled it ("repository" file): a
 * spool of another repository (a restore into the same data directory from
 * elsewhere) is emptied before use, never served.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_WALSPOOL_H
#define TBDR_WALSPOOL_H

#include "core/error.h"

/* Where the spool is, relative to the data directory. */
#define TBDR_WALSPOOL_DIR	"pg_wal/tbdr-spool"

typedef struct TbdrWalSpool TbdrWalSpool;

/*
 * Open (create) the spool directory dir for the repository described by
 * repository (e.g. tbdr_storage_describe()); a spool of another repository
 * is emptied.
 */
extern TbdrWalSpool *tbdr_walspool_open(const char *dir, const char *repository,
										TbdrError *err);
extern void tbdr_walspool_close(TbdrWalSpool *sp);

/* Path of the spooled file of WAL file name (palloc'd). */
extern char *tbdr_walspool_path(TbdrWalSpool *sp, const char *name);

/*
 * Move the spooled file of name to dest: 1 done, 0 not spooled, -1 error.
 * If a live process is fetching name, waits up to wait_secs for it first.
 */
extern int	tbdr_walspool_take(TbdrWalSpool *sp, const char *name,
							   const char *dest, int wait_secs, TbdrError *err);

/*
 * Mark name as being fetched by this process: false if it is spooled
 * already or a live process is fetching it.  tbdr_walspool_release removes
 * the mark (after the fetch, whatever its outcome).
 */
extern bool tbdr_walspool_claim(TbdrWalSpool *sp, const char *name);
extern void tbdr_walspool_release(TbdrWalSpool *sp, const char *name);

/*
 * Remove what recovery will not ask for any more: spooled segments before
 * segment current (recovery moves forward), files older than max_age
 * seconds, marks of dead processes and leftover temporary files.
 */
extern void tbdr_walspool_clean(TbdrWalSpool *sp, const char *current,
								int max_age);

/*
 * Remove the spool directory dir and what it holds, unless a live process
 * is fetching into it (recovery is over: the server calls this).  Returns
 * true if nothing is left.
 */
extern bool tbdr_walspool_remove(const char *dir);

/*
 * The name of the segment n segments after segment name on the same
 * timeline (segments of seg_size bytes) into out (25 bytes); false when
 * name is not a segment name or the result would overflow.
 */
extern bool tbdr_wal_segment_after(const char *name, uint64 seg_size, int n,
								   char *out);

#endif							/* TBDR_WALSPOOL_H */
