/*-------------------------------------------------------------------------
 * restore.h
 *	  Restoring (or verifying) a base backup: the data directory and its
 *	  tablespaces from the backup's parts, every file checked against the
 *	  manifest's SHA-256, and the recovery settings.
 *
 * A restore is one TbdrRestore shared by several workers, one per part at
 * a time (the caller runs them on threads; each worker brings its own
 * storage connection and decoder, nothing else is shared but per-file
 * flags that only the worker of the file's part touches and counters
 * updated atomically):
 *
 *	 tbdr_restore_create		plan: index of the manifest's files
 *	 tbdr_restore_prepare		the target: empty check (or --force wipe,
 *								or --delta comparison), directories,
 *								tablespace links
 *	 tbdr_restore_part			per part, streaming: GET -> decode (zstd,
 *								AES-256-GCM) -> tar reader -> files, each
 *								hashed while written; never a whole part in
 *								memory or on disk
 *	 tbdr_restore_finish		every file seen and intact, pg_control put
 *								in place last, tablespace_map rewritten
 *								for the actual locations, syncfs
 *
 * pg_control is written under a temporary name and renamed only when
 * everything else has been restored and verified, so an interrupted or
 * failed restore never leaves a directory PostgreSQL would start from.
 *
 * Verify mode (opts.verify_only) runs the same pipeline and checks, and
 * writes nothing.
 *
 * Delta mode: a file whose size and SHA-256 already match the manifest is
 * kept (only its mtime is set); the rest is rewritten; files and
 * directories that are not in the backup are removed (a stale pg_wal would
 * otherwise be replayed); parts with nothing to rewrite are not fetched.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_RESTORE_H
#define TBDR_RESTORE_H

#include "core/codec.h"
#include "core/error.h"
#include "core/manifest.h"
#include "core/storage.h"

typedef struct TbdrTablespaceMapping
{
	const char *old_dir;		/* as in the manifest */
	const char *new_dir;		/* absolute */
} TbdrTablespaceMapping;

typedef struct TbdrRestoreOptions
{
	const char *pgdata;			/* absolute; NULL in verify mode */
	bool		verify_only;
	bool		delta;			/* keep files that match */
	bool		force;			/* wipe a non-empty target */
	int			nmappings;
	const TbdrTablespaceMapping *mappings;
} TbdrRestoreOptions;

typedef struct TbdrRestoreStats
{
	int64		files_written;
	int64		files_kept;		/* delta: already identical */
	int64		files_removed;	/* delta: not in the backup */
	int64		bytes_written;
	int64		bytes_stored;	/* of the parts fetched, updated as they
								 * stream (progress displays read it) */
	int			parts_fetched;
	int			parts_skipped;	/* delta: nothing to rewrite */
} TbdrRestoreStats;

typedef struct TbdrRestore TbdrRestore;

extern TbdrRestore *tbdr_restore_create(const TbdrManifest *m,
										const TbdrRestoreOptions *opts,
										TbdrError *err);

/* Check and set up the target (not in verify mode). */
extern bool tbdr_restore_prepare(TbdrRestore *r, TbdrError *err);

/* Does part (index into m->parts) have anything to write or check? */
extern bool tbdr_restore_part_needed(const TbdrRestore *r, int index);

/*
 * Fetch, decode, unpack and check one part.  Safe to run concurrently for
 * different parts, each with its own st and dec.  Errors name the part's
 * key and, for a file, its path.
 */
extern bool tbdr_restore_part(TbdrRestore *r, int index, TbdrStorage *st,
							  TbdrCodecDecoder *dec, TbdrError *err);

/* Ask running tbdr_restore_part calls to stop (another worker failed). */
extern void tbdr_restore_cancel(TbdrRestore *r);

/* After every needed part succeeded: the final checks and pg_control. */
extern bool tbdr_restore_finish(TbdrRestore *r, TbdrError *err);

extern const TbdrRestoreStats *tbdr_restore_stats(const TbdrRestore *r);
extern void tbdr_restore_free(TbdrRestore *r);

/* Where a tablespace goes (mapped or as in the manifest). */
extern const char *tbdr_restore_tablespace_dir(const TbdrRestore *r,
											   const TbdrManifestTablespace *ts);

/* ---- recovery settings ---- */

typedef struct TbdrRecoverySettings
{
	const char *restore_command;
	const char *target_param;	/* "recovery_target_time", ... or NULL */
	const char *target_value;
	const char *target_action;	/* "promote", "pause", "shutdown" or NULL */
	const char *target_timeline;	/* "latest", "current", N or NULL */
	bool		exclusive;		/* recovery_target_inclusive = off */
	const char *copy_of;		/* a copy (core/copyguard.h): the repository
								 * it must not write into; NULL: a primary */
} TbdrRecoverySettings;

/*
 * Write recovery.signal and the settings at the end of
 * postgresql.auto.conf, after removing restore_command, recovery_target*
 * and tbdr.copy_of lines a previous restore left there (two targets would
 * make PostgreSQL refuse to start).  A copy also gets archive_mode = off
 * and tbdr.copy_of.
 */
extern bool tbdr_restore_write_recovery(const char *pgdata,
										const TbdrRecoverySettings *s,
										TbdrError *err);

/* Append s as a single-quoted postgresql.conf value. */
extern void tbdr_conf_quote(StringInfo out, const char *s);

#endif							/* TBDR_RESTORE_H */
