/*-------------------------------------------------------------------------
 * storage.h
 *	  The repository's object store: one interface, two drivers (S3 and
 *	  file://).
 *
 * Keys are relative to the repository root (tbdr.repository's prefix or
 * directory) and use '/' as separator.  Every call streams: objects are never
 * held whole in memory (at most tbdr.s3_part_size * tbdr.s3_parallel bytes
 * for an upload).  Every call either completes and is verified, or returns
 * false with err set; a short or cut-off transfer is an error.
 *
 * Retries of transient failures happen inside the driver's request layer, so
 * callers never retry themselves.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_STORAGE_H
#define TBDR_STORAGE_H

#include <time.h>

#include "core/config.h"
#include "core/error.h"

typedef struct TbdrStorage TbdrStorage;

typedef struct TbdrObjectInfo
{
	const char *key;			/* relative to the repository root */
	int64		size;
	time_t		mtime;			/* 0 if unknown */
	const char *etag;			/* S3 ETag without quotes, NULL for file:// */
} TbdrObjectInfo;

/*
 * Source of an upload: fill buf with up to len bytes; return the number of
 * bytes (0 at end of data) or -1 with err set.
 */
typedef ssize_t (*TbdrReadFn) (void *arg, char *buf, size_t len, TbdrError *err);

/* Sink of a download: consume len bytes; false with err set to abort. */
typedef bool (*TbdrWriteFn) (void *arg, const char *buf, size_t len, TbdrError *err);

/* Called once per listed object, in key order; false with err set to stop. */
typedef bool (*TbdrListFn) (void *arg, const TbdrObjectInfo *info, TbdrError *err);

/* Open the repository named by cfg->repository (no network I/O yet). */
extern TbdrStorage *tbdr_storage_open(const TbdrConfig *cfg, TbdrError *err);
extern void tbdr_storage_close(TbdrStorage *st);

/* "s3://bucket/prefix (endpoint http://127.0.0.1:9000, region us-east-1)" */
extern const char *tbdr_storage_describe(TbdrStorage *st);

/*
 * Store an object from a stream.  size_hint is the expected size or -1.
 * S3: a single PUT when the data fits in one part, else a multipart upload
 * with parts sent concurrently; an upload that fails is aborted.  file://:
 * temporary name, fsync, rename, fsync of the directory.  Replaces an
 * existing object of the same key (callers that must not overwrite use
 * tbdr_storage_put_new).
 */
extern bool tbdr_storage_put(TbdrStorage *st, const char *key,
							 TbdrReadFn read, void *arg, int64 size_hint,
							 TbdrError *err);
extern bool tbdr_storage_put_buffer(TbdrStorage *st, const char *key,
									const void *data, size_t len,
									TbdrError *err);

/*
 * Store an object only if its key is free: for objects written once and
 * never rewritten (WAL, status objects).  When an object of that key exists,
 * nothing is written and *existed is set (the caller then compares).
 * Atomic where the storage allows it: S3 PUT and CompleteMultipartUpload
 * with "If-None-Match: *" (412 PreconditionFailed: it exists); file://
 * renames with RENAME_NOREPLACE (or links).  An S3 server that does not
 * implement conditional writes (501 NotImplemented, e.g. Swift's s3api) is
 * asked with a HEAD first, from then on for this handle: a writer that
 * stores the same key between that HEAD and the PUT can be overwritten
 * (docs/LAYOUT.md).
 */
extern bool tbdr_storage_put_new(TbdrStorage *st, const char *key,
								 TbdrReadFn read, void *arg, int64 size_hint,
								 bool *existed, TbdrError *err);
extern bool tbdr_storage_put_buffer_new(TbdrStorage *st, const char *key,
										const void *data, size_t len,
										bool *existed, TbdrError *err);
extern bool tbdr_storage_put_file(TbdrStorage *st, const char *key,
								  const char *path, TbdrError *err);

/*
 * Read an object, or length bytes of it from offset (length -1: to the end).
 * A missing object is an error with code TBDR_ERR_NOT_FOUND.  A download cut
 * short is retried from where it stopped (same ETag) or fails.
 */
extern bool tbdr_storage_get(TbdrStorage *st, const char *key,
							 int64 offset, int64 length,
							 TbdrWriteFn write, void *arg, TbdrError *err);
/* Whole object into memory (for manifests and small files), at most max_len. */
extern bool tbdr_storage_get_buffer(TbdrStorage *st, const char *key,
									size_t max_len, char **data, size_t *len,
									TbdrError *err);
/* Whole object to a local file: temporary name, fsync, rename. */
extern bool tbdr_storage_get_file(TbdrStorage *st, const char *key,
								  const char *path, TbdrError *err);

/*
 * The server's clock as of the last answer (S3 Date header), 0 if unknown
 * (file://).  tbdr check compares it with the local clock.
 */
extern time_t tbdr_storage_server_date(TbdrStorage *st);

/* 1 if it exists (info filled, may be NULL), 0 if not, -1 on error. */
extern int	tbdr_storage_head(TbdrStorage *st, const char *key,
							  TbdrObjectInfo *info, TbdrError *err);

/* Deleting a key that does not exist succeeds. */
extern bool tbdr_storage_delete(TbdrStorage *st, const char *key, TbdrError *err);

/* S3: DeleteObjects in batches of up to 1000; any per-key failure fails. */
extern bool tbdr_storage_delete_many(TbdrStorage *st, const char *const *keys,
									 int nkeys, TbdrError *err);

/* Every object whose key starts with prefix ("" for all), in key order. */
extern bool tbdr_storage_list(TbdrStorage *st, const char *prefix,
							  TbdrListFn fn, void *arg, TbdrError *err);

/*
 * Abort incomplete multipart uploads (S3) or remove leftover temporary files
 * (file://) under prefix.  *count (may be NULL) receives how many.
 */
extern bool tbdr_storage_cleanup_uploads(TbdrStorage *st, const char *prefix,
										 int *count, TbdrError *err);

#endif							/* TBDR_STORAGE_H */
