/*-------------------------------------------------------------------------
 * repo.h
 *	  Repository layout: the one place that knows object key names.
 *
 * Keys (relative to tbdr.repository's prefix or directory; see
 * docs/LAYOUT.md):
 *
 *	 tbdr.json									 repository identity
 *	 wal/<TTTTTTTT>.history						 timeline history file
 *	 wal/<TTTTTTTTLLLLLLLL>/<24 hex>				 WAL segment
 *	 wal/<TTTTTTTTLLLLLLLL>/<24 hex>.partial		 partial segment
 *	 wal/<TTTTTTTTLLLLLLLL>/<24 hex>.<8 hex>.backup backup history file
 *	 backups/<id>/started.json					 base backup started (header)
 *	 backups/<id>/failed.json					 base backup failed (header+error)
 *	 backups/<id>/manifest.json					 base backup complete (manifest)
 *	 backups/<id>/part-NNNNNN					 base backup part (tar, encoded)
 *	 gaps/<24 hex>								 WAL segment acknowledged without
 *												 being stored (archive_queue_max)
 *	 walsum/<TTTTTTTTLLLLLLLL>/<24 hex>			 summary of a WAL segment
 *												 (walsummary.h), written after it
 *
 * The folder is the first 16 hex digits of the segment name (timeline and
 * log number), so a plain listing sorts by timeline, then segment, and one
 * folder holds at most 256 segments of 16 MB (4 GB of WAL).
 *
 * The identity object records which PostgreSQL cluster (system identifier)
 * and major version the repository belongs to; it is written once on first
 * use and checked before anything is stored, so that WAL of two clusters is
 * never mixed.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_REPO_H
#define TBDR_REPO_H

#include "core/error.h"
#include "core/storage.h"

#define TBDR_REPO_FORMAT_VERSION	1
#define TBDR_REPO_IDENTITY_KEY		"tbdr.json"
#define TBDR_REPO_WAL_PREFIX		"wal/"
#define TBDR_REPO_GAP_PREFIX		"gaps/"
#define TBDR_REPO_WALSUM_PREFIX		"walsum/"

/* Longest WAL-directory file name PostgreSQL archives (MAX_XFN_CHARS). */
#define TBDR_WAL_NAME_MAX	40

/*
 * Largest plaintext of a timeline or backup history file read from the
 * repository (PostgreSQL writes a line of at most a few hundred bytes per
 * timeline switch; TBDR_MAX_TIMELINE_DEPTH is 1024).
 */
#define TBDR_WAL_HISTORY_MAX_BYTES	(1024 * 1024)

typedef enum TbdrWalFileKind
{
	TBDR_WAL_INVALID = 0,		/* not a name PostgreSQL archives */
	TBDR_WAL_SEGMENT,			/* 000000010000000000000001 */
	TBDR_WAL_PARTIAL,			/* 000000010000000000000001.partial */
	TBDR_WAL_BACKUP_HISTORY,	/* 000000010000000000000001.00000028.backup */
	TBDR_WAL_TIMELINE_HISTORY	/* 00000002.history */
} TbdrWalFileKind;

/* What kind of WAL-directory file a bare file name is (no directories). */
extern TbdrWalFileKind tbdr_wal_file_kind(const char *name);

/*
 * Repository key of a WAL-directory file (palloc'd), or NULL with err set
 * (TBDR_ERR_CONFIG) when name is not a WAL file name.
 */
extern char *tbdr_repo_wal_key(const char *name, TbdrError *err);

/*
 * The WAL file name of a repository key (palloc'd), or NULL when the key is
 * not one of ours (the inverse of tbdr_repo_wal_key, for listings).
 */
extern char *tbdr_repo_wal_name(const char *key);

/*
 * Base backups (see catalog.h for what the status objects mean).  Backup ids
 * are UTC timestamps "20261125T020000Z" (manifest.h), so keys sort by time.
 */
#define TBDR_REPO_BACKUP_PREFIX		"backups/"
#define TBDR_BACKUP_STARTED_OBJ		"started.json"
#define TBDR_BACKUP_FAILED_OBJ		"failed.json"
#define TBDR_BACKUP_MANIFEST_OBJ	"manifest.json"

/* "backups/<id>/" (palloc'd): the prefix of every object of a backup. */
extern char *tbdr_repo_backup_prefix(const char *id);
/* "backups/<id>/<name>" (palloc'd), name one of the _OBJ names above. */
extern char *tbdr_repo_backup_key(const char *id, const char *name);
/* "backups/<id>/part-000001" (palloc'd); parts are numbered from 1. */
extern char *tbdr_repo_backup_part_key(const char *id, int part);
/*
 * The backup id of a key under backups/ (copied into id), and the rest of
 * the key after "<id>/" in *rest (may be NULL); false if the key is not
 * backups/<valid id>/...
 */
extern bool tbdr_repo_backup_key_id(const char *key, char *id, const char **rest);

/*
 * Key of the marker of a WAL segment that was acknowledged without being
 * stored (tbdr.archive_queue_max): "gaps/<24 hex>" (palloc'd), or NULL with
 * err set when name is not a segment name.  The marker (small JSON: segment,
 * time, reason) explains the hole the restorable window already shows by
 * the segment's absence under wal/; it is written best-effort, once.
 */
extern char *tbdr_repo_gap_key(const char *name, TbdrError *err);

/*
 * Key of the summary of WAL segment name (walsummary.h):
 * "walsum/<16 hex>/<24 hex>" (palloc'd), or NULL with err set when name is
 * not a segment name.  Apart from wal/ so that lifecycle rules that move
 * WAL to colder storage leave the summaries instantly readable.
 */
extern char *tbdr_repo_walsum_key(const char *name, TbdrError *err);
/* The segment name of a summary key (palloc'd), or NULL if it is not one. */
extern char *tbdr_repo_walsum_name(const char *key);

/* The identity of the repository, as stored in tbdr.json. */
typedef struct TbdrRepoIdentity
{
	int			format_version;
	uint64		system_identifier;
	int			pg_major;		/* e.g. 15 */
	char		created_at[32]; /* ISO 8601, UTC */
} TbdrRepoIdentity;

/*
 * Read tbdr.json: 1 if read (id filled), 0 if it does not exist, -1 on
 * error (unreadable or malformed: TBDR_ERR_CORRUPT).
 */
extern int	tbdr_repo_identity_read(TbdrStorage *st, TbdrRepoIdentity *id,
									TbdrError *err);

/*
 * Check that this cluster (system identifier, PostgreSQL major version) may
 * use the repository.  When tbdr.json does not exist and create is true it
 * is written (then read back, so that a concurrent first writer of another
 * cluster is detected).  A repository of another cluster or major version is
 * TBDR_ERR_CONFLICT with a hint to use another tbdr.repository; a missing
 * identity with create false is TBDR_ERR_NOT_FOUND.
 */
extern bool tbdr_repo_check_identity(TbdrStorage *st, uint64 system_identifier,
									 int pg_major, bool create,
									 TbdrError *err);

#endif							/* TBDR_REPO_H */
