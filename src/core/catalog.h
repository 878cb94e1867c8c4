/*-------------------------------------------------------------------------
 * catalog.h
 *	  The backup catalog: which base backups the repository holds, in what
 *	  state, and their manifests.  The repository is the truth: nothing here
 *	  reads local state, so the same answers come from the server
 *	  (tbdr_list_backups()), from the CLI (tbdr list/restore/verify/expire)
 *	  and from another host.
 *
 * Each backup lives under backups/<id>/ (keys: repo.h) and has up to three
 * status objects, each written once and never rewritten (so that a crash
 * can never leave a half-updated status):
 *
 *	 started.json	written before the first part; header fields known at
 *					start (manifest.h format, status "running", no files)
 *	 failed.json	written when the backup failed or was found interrupted;
 *					the header with status "failed" and "error"
 *	 manifest.json	written last, only when every part is stored and the
 *					WAL up to the stop LSN is archived: the complete record
 *
 * State of a backup, from which objects exist:
 *
 *	 failed.json					-> FAILED (even if manifest.json exists:
 *									   a failure report always wins, so a
 *									   backup is never listed complete by
 *									   mistake)
 *	 manifest.json, no failed.json	-> COMPLETE
 *	 started.json only				-> RUNNING
 *	 parts only, no status object	-> FAILED ("no status object"; a backup
 *									   whose started.json was lost or that an
 *									   interrupted expiry half-deleted)
 *
 * RUNNING means "started and not finished": a worker is taking it, or it was
 * interrupted (server crash, immediate stop) and no backup run has noticed
 * yet.  The repository alone cannot tell the two apart.  The decision:
 *	 - the server is the only writer of backups and runs one backup at a
 *	   time, so before it starts a backup it turns every RUNNING backup into
 *	   FAILED ("interrupted") with tbdr_catalog_fail_interrupted(), which
 *	   also aborts its multipart uploads and removes its parts;
 *	 - tbdr_list_backups() shows a RUNNING backup that no worker of this
 *	   server is taking as "failed" with the error "interrupted ..." (it
 *	   knows its own worker; the repository is not changed by listing);
 *	 - other readers (CLI list, restore, expire) must treat RUNNING as "in
 *	   use": never restore from it, never delete it or the WAL after its
 *	   start (expiry cleans it up once a backup run has marked it failed).
 *
 * Status objects are plain JSON when the repository is not encrypted (so
 * `aws s3 cp .../manifest.json -` shows them), and encoded by the codec
 * (codec.h, encrypted and bound to their key) when tbdr.encryption_key_file
 * is set.  Readers accept both, and refuse plain ones when encryption is
 * required (a key without tbdr.allow_unauthenticated_reads).
 *
 * All memory is palloc'd in the current memory context.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_CATALOG_H
#define TBDR_CATALOG_H

#include "core/codec.h"
#include "core/config.h"
#include "core/error.h"
#include "core/manifest.h"
#include "core/storage.h"

typedef enum TbdrBackupState
{
	TBDR_BACKUP_RUNNING,		/* started.json only (see above) */
	TBDR_BACKUP_COMPLETE,		/* manifest.json */
	TBDR_BACKUP_FAILED			/* failed.json, or no status object */
} TbdrBackupState;

/* "running", "complete", "failed" (the manifests' "status" values). */
extern const char *tbdr_backup_state_name(TbdrBackupState state);

typedef struct TbdrBackupInfo
{
	char		id[TBDR_BACKUP_ID_LEN + 1];
	TbdrBackupState state;
	bool		has_started;	/* which status objects exist */
	bool		has_failed;
	bool		has_manifest;
	int			nobjects;		/* objects under backups/<id>/ */
	int64		object_bytes;	/* their total size (repository usage) */

	/*
	 * The header of the most final status object (manifest.json for
	 * COMPLETE, failed.json for FAILED, started.json for RUNNING): every
	 * field of TbdrManifest except the files and directories, which are
	 * dropped to keep listings small (nfiles = ndirs = 0; parts,
	 * tablespaces and checksum failures are kept).  NULL only for a FAILED
	 * backup without any status object.  For FAILED, header->error says why.
	 */
	TbdrManifest *header;
} TbdrBackupInfo;

typedef struct TbdrBackupList
{
	int			count;
	TbdrBackupInfo *items;		/* sorted by id, oldest first */
} TbdrBackupList;

typedef struct TbdrCatalog TbdrCatalog;

/*
 * A catalog on an open storage (not owned unless own_storage).  key is the
 * repository encryption key (TBDR_KEY_LEN bytes, copied) or NULL; with
 * require_encryption, plain status objects are refused.
 */
extern TbdrCatalog *tbdr_catalog_create(TbdrStorage *st, bool own_storage,
										const unsigned char *key,
										bool require_encryption,
										TbdrError *err);

/*
 * Open the repository of cfg and load tbdr.encryption_key_file if set
 * (encryption then required, see tbdr_config_require_encryption).  No
 * network I/O yet.
 */
extern TbdrCatalog *tbdr_catalog_open(const TbdrConfig *cfg, TbdrError *err);

/*
 * Status objects larger than max_bytes (TBDR_MANIFEST_MAX_BYTES unless set)
 * are neither written nor read; unit tests set a small limit.
 */
extern void tbdr_catalog_set_status_limit(TbdrCatalog *cat, int max_bytes);
extern void tbdr_catalog_close(TbdrCatalog *cat);
extern TbdrStorage *tbdr_catalog_storage(TbdrCatalog *cat);

/* ---- reading ---- */

/*
 * Every backup in the repository (one listing of backups/ plus one GET of
 * the deciding status object per backup).  A status object that cannot be
 * read or parsed is an error (TBDR_ERR_CORRUPT naming its key), never a
 * silently skipped backup.
 */
extern TbdrBackupList *tbdr_catalog_list(TbdrCatalog *cat, TbdrError *err);
extern void tbdr_backup_list_free(TbdrBackupList *list);

/* By id; NULL if absent. */
extern const TbdrBackupInfo *tbdr_backup_list_find(const TbdrBackupList *list,
												   const char *id);
/* The newest COMPLETE backup; NULL if none. */
extern const TbdrBackupInfo *tbdr_backup_list_latest(const TbdrBackupList *list);

/*
 * The full manifest of a COMPLETE backup (files included).  A backup that
 * is absent or not complete is TBDR_ERR_NOT_FOUND with a message saying
 * which and in what state.  The manifest's id must match (else CORRUPT).
 */
extern TbdrManifest *tbdr_catalog_load_manifest(TbdrCatalog *cat,
												const char *id,
												TbdrError *err);

/*
 * Read one status object (name: TBDR_BACKUP_*_OBJ).  1 if read (*m set), 0
 * if it does not exist, -1 on error.
 */
extern int	tbdr_catalog_read_status(TbdrCatalog *cat, const char *id,
									 const char *name, TbdrManifest **m,
									 TbdrError *err);

/* ---- writing (the backup worker) ---- */

/*
 * Store m as the status object its m->status names ("running" ->
 * started.json, "failed" -> failed.json, "complete" -> manifest.json).  An
 * existing object of that name is never replaced: TBDR_ERR_CONFLICT.
 */
extern bool tbdr_catalog_write_status(TbdrCatalog *cat, const TbdrManifest *m,
									  TbdrError *err);

/*
 * Clean up a backup that did not complete: abort its incomplete multipart
 * uploads and delete its parts (every object under backups/<id>/ except
 * started.json and failed.json, which stay as the record of the failure).
 * Refuses a COMPLETE backup (TBDR_ERR_CONFLICT).  *removed (may be NULL)
 * counts deleted objects plus aborted uploads.
 */
extern bool tbdr_catalog_remove_partial(TbdrCatalog *cat, const char *id,
										int *removed, TbdrError *err);

/*
 * A backup found RUNNING that nobody is taking any more: write failed.json
 * (the started.json header, status "failed", error reason) unless it
 * exists, then tbdr_catalog_remove_partial().
 */
extern bool tbdr_catalog_fail_interrupted(TbdrCatalog *cat, const char *id,
										  const char *reason, int *removed,
										  TbdrError *err);

/*
 * Delete a backup entirely (expiry).  Order, so that an interruption at any
 * point never leaves it looking complete: manifest.json first, then the
 * parts and anything else, then failed.json, started.json last.
 */
extern bool tbdr_catalog_delete_backup(TbdrCatalog *cat, const char *id,
									   TbdrError *err);

#endif							/* TBDR_CATALOG_H */
