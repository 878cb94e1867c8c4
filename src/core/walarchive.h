/*-------------------------------------------------------------------------
 * walarchive.h
 *	  Push and fetch of one WAL-directory file (segment, partial segment,
 *	  backup or timeline history file), shared by the archive module, the
 *	  pre-push worker and the CLI (archive-push, archive-get).
 *
 * A TbdrWalArchive bundles what archiving needs across many files: the open
 * repository (connections are reused), the loaded encryption key and one
 * encoder and decoder whose zstd/OpenSSL contexts are reused per file.  It
 * is used by one thread at a time; concurrent pushes need one each.
 *
 * Push guarantees: the file is reported stored only after the storage layer
 * acknowledged the whole, verified object; an existing object is never
 * overwritten: if its plaintext equals the local file (SHA-256) the push
 * succeeds (re-archiving after a crash, or a standby with archive_mode =
 * always), otherwise it fails with TBDR_ERR_CONFLICT.  A segment then gets its
 * summary (walsummary.h) under walsum/, unless one exists; the push fails
 * if the summary cannot be stored, so that it is retried with the segment.
 *
 * Fetch guarantees: the destination appears (durably: temporary name, fsync,
 * rename, fsync of the directory) only with complete, authenticated and
 * checksum-verified content, no larger than the file can be (a segment,
 * tbdr_walarchive_set_segment_size; a history file,
 * TBDR_WAL_HISTORY_MAX_BYTES).  A file that is not in the repository is
 * TBDR_ERR_NOT_FOUND, so restore_command can end recovery quietly.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_WALARCHIVE_H
#define TBDR_WALARCHIVE_H

#include "core/codec.h"
#include "core/config.h"
#include "core/error.h"
#include "core/storage.h"

typedef struct TbdrWalArchive TbdrWalArchive;

/*
 * Open the repository of cfg and prepare the codec from tbdr.compression,
 * tbdr.compression_level and tbdr.encryption_key_file (the key is loaded
 * here, once).  No network I/O yet.
 */
extern TbdrWalArchive *tbdr_walarchive_open(const TbdrConfig *cfg,
											TbdrError *err);
/* The same with an already open storage and explicit codec options. */
extern TbdrWalArchive *tbdr_walarchive_create(TbdrStorage *st, bool own_storage,
											  const TbdrCodecOptions *opts,
											  TbdrError *err);
extern void tbdr_walarchive_close(TbdrWalArchive *wa);

extern TbdrStorage *tbdr_walarchive_storage(TbdrWalArchive *wa);

/* PostgreSQL's largest WAL segment size (wal_segment_size), 1 GB. */
#define TBDR_WAL_SEG_SIZE_MAX	((uint64) 1024 * 1024 * 1024)

/*
 * The cluster's WAL segment size (pg_control), so that a fetched segment
 * that decodes to more is refused before it fills pg_wal (a compression
 * bomb).  Unset (0), a segment may decode to TBDR_WAL_SEG_SIZE_MAX.
 */
extern void tbdr_walarchive_set_segment_size(TbdrWalArchive *wa,
											 uint64 seg_size);

/*
 * Check (and on first use record) the repository identity for this
 * cluster; done once per TbdrWalArchive, later calls return at once.
 */
extern bool tbdr_walarchive_check_identity(TbdrWalArchive *wa,
										   uint64 system_identifier,
										   int pg_major, TbdrError *err);

typedef struct TbdrWalPushResult
{
	bool		already_stored; /* an identical object existed */
	uint64		plain_bytes;	/* size of the file */
	uint64		stored_bytes;	/* size of the object in the repository */
} TbdrWalPushResult;

/*
 * Store the local file path under the key of WAL file name (a bare file
 * name as PostgreSQL gives it, e.g. 000000010000000000000001).  res may be
 * NULL.
 */
extern bool tbdr_wal_push(TbdrWalArchive *wa, const char *path,
						  const char *name, TbdrWalPushResult *res,
						  TbdrError *err);

/*
 * Fetch WAL file name into dest (replaced if it exists; it appears only
 * complete and verified, by a rename).  *bytes (may be NULL) receives the
 * plaintext size.  durable: fsync the file and its directory before
 * returning; callers that hand dest straight to PostgreSQL's
 * restore_command pass false (see cmd_archive.c), the spool passes true.
 */
extern bool tbdr_wal_fetch(TbdrWalArchive *wa, const char *name,
						   const char *dest, bool durable, uint64 *bytes,
						   TbdrError *err);

/*
 * Record in the repository that WAL segment name was acknowledged without
 * being stored (tbdr.archive_queue_max): a small plain JSON object under
 * tbdr_repo_gap_key(name) with the time and why (reason: plain ASCII
 * without quotes or backslashes).  An existing marker is kept.
 */
extern bool tbdr_wal_record_gap(TbdrWalArchive *wa, const char *name,
								const char *reason, TbdrError *err);

#endif							/* TBDR_WALARCHIVE_H */
