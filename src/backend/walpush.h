/*-------------------------------------------------------------------------
 * walpush.h
 *	  A long-lived WAL pusher of a server process: the open repository, the
 *	  identity check, and reopening when a reload changes any tbdr.*
 *	  setting.  Used by the archive module (archiver process) and by each
 *	  pre-push worker, one pusher per process.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_WALPUSH_H
#define TBDR_WALPUSH_H

#include "core/walarchive.h"

typedef struct TbdrWalPusher TbdrWalPusher;

/* A pusher whose allocations live in context (reset by tbdr_walpusher_close). */
extern TbdrWalPusher *tbdr_walpusher_create(MemoryContext context);

/*
 * Store path under WAL file name: opens (or, after a settings change,
 * reopens) the repository, checks its identity against this cluster once
 * per opening, then tbdr_wal_push().  Returns false with err set.
 */
extern bool tbdr_walpusher_push(TbdrWalPusher *p, const char *file,
								const char *path, TbdrWalPushResult *res,
								TbdrError *err);

/*
 * The open archive (opened as by push, with the identity checked), for
 * other repository writes; NULL with err set.
 */
extern TbdrWalArchive *tbdr_walpusher_archive(TbdrWalPusher *p, TbdrError *err);

/*
 * Drop the connections and everything allocated (after a failure, or when
 * the context grew); the next push reopens.
 */
extern void tbdr_walpusher_close(TbdrWalPusher *p);

/*
 * Forget the open archive without calling into the core (after an ERROR
 * escaped from it, its state may be half-updated); the caller resets the
 * context.
 */
extern void tbdr_walpusher_forget(TbdrWalPusher *p);

#endif							/* TBDR_WALPUSH_H */
