/*-------------------------------------------------------------------------
 * manifest.h
 *	  The backup manifest: what a base backup contains and where, as JSON.
 *
 * One document type serves the three status objects of a backup (see
 * repo.h: backups/<id>/started.json, failed.json, manifest.json); each is
 * written once and never rewritten, so that a listing is honest after a
 * crash.  started.json and failed.json carry the header fields known at
 * that point and no files; manifest.json is the complete record.
 *
 * Layout (format 1; every key is always written, unknown values are null):
 *
 *	 {"format": 1, "id": "20261125T020000Z", "status": "complete",
 *	  "label": "...", "error": null,
 *	  "start_time": "2026-11-25T02:00:00Z", "stop_time": "...",
 *	  "start_lsn": "0/2000028", "stop_lsn": "0/2000100", "timeline": 1,
 *	  "wal_start": "000000010000000000000002", "wal_stop": "...",
 *	  "pg_version": 150004, "system_identifier": "7312...",
 *	  "compression": "zstd", "compression_level": 3,
 *	  "encryption": "none" | "aes-256-gcm", "key_fingerprint": null | "hex",
 *	  "database_bytes": N, "stored_bytes": N,
 *	  "tablespaces": [{"oid": 16384, "location": "/srv/ts1"}],
 *	  "parts": [{"part": 1, "key": "backups/<id>/part-000001",
 *				 "plain_bytes": N, "stored_bytes": N, "sha256": "hex"}],
 *	  "directories": [{"path": "pg_wal", "mtime": 1764036000}],
 *	  "files": [{"path": "base/1/1259", "size": N, "mtime": 1764036000,
 *				 "sha256": "hex", "part": 1, "offset": 512}],
 *	  "checksum_failures": [{"path": "base/5/16384", "block": 7}]}
 *
 * Paths are relative to the data directory with '/' separators; files of
 * tablespaces are under pg_tblspc/<oid>/.  "offset" is where the file's
 * data starts in the part's tar stream (plaintext, after its header), so a
 * restore can fetch one file without reading the whole part.  Sizes are
 * bytes, times are UTC, mtimes are Unix seconds.  The part "sha256" is that
 * of the part's plaintext (the tar stream), the file "sha256" that of the
 * file's content as stored.
 *
 * Strings are written with JSON escaping (quote, backslash, control
 * characters); bytes >= 0x80 are passed through, so names must be UTF-8.
 * Parsing uses PostgreSQL's jsonapi; a malformed or incomplete document is
 * TBDR_ERR_CORRUPT with the parser's message, never a crash or a partial
 * manifest.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_MANIFEST_H
#define TBDR_MANIFEST_H

#include "core/error.h"
#include "lib/stringinfo.h"

#define TBDR_MANIFEST_FORMAT 1

/*
 * Largest status object (manifest.json, started.json, failed.json) tbdr
 * writes or reads: about 200 bytes per file, so some 2.5 million files.
 * Readers refuse a bigger one before holding it in memory (docs/FORMAT.md).
 */
#define TBDR_MANIFEST_MAX_BYTES (512 * 1024 * 1024)
#define TBDR_BACKUP_ID_LEN 16	/* 20261125T020000Z */

typedef struct TbdrManifestFile
{
	char	   *path;
	int64		size;
	int64		mtime;			/* Unix seconds */
	char		sha256[65];		/* lowercase hex */
	int			part;			/* 1-based */
	int64		offset;			/* of the data in the part's tar stream */
} TbdrManifestFile;

typedef struct TbdrManifestDir
{
	char	   *path;
	int64		mtime;
} TbdrManifestDir;

typedef struct TbdrManifestPart
{
	int			part;			/* 1-based */
	char	   *key;
	int64		plain_bytes;	/* tar stream */
	int64		stored_bytes;	/* object */
	char		sha256[65];		/* of the tar stream */
} TbdrManifestPart;

typedef struct TbdrManifestTablespace
{
	uint32		oid;
	char	   *location;
} TbdrManifestTablespace;

typedef struct TbdrManifestCorruption
{
	char	   *path;
	int64		block;			/* block number within the relation */
} TbdrManifestCorruption;

typedef struct TbdrManifest
{
	int			format;
	char	   *id;				/* never NULL */
	char	   *status;			/* "running", "complete", "failed" */
	char	   *label;			/* NULL if unknown */
	char	   *error;			/* failed: why; NULL otherwise */
	int64		start_time;		/* Unix seconds, 0 = unknown */
	int64		stop_time;
	uint64		start_lsn;		/* 0 = unknown */
	uint64		stop_lsn;
	uint32		timeline;		/* 0 = unknown */
	char	   *wal_start;		/* 24-hex-digit segment names, NULL = unknown */
	char	   *wal_stop;
	int			pg_version;		/* PG_VERSION_NUM, 0 = unknown */
	uint64		system_identifier;
	char	   *compression;	/* "zstd", "none" */
	int			compression_level;
	char	   *encryption;		/* "none", "aes-256-gcm" */
	char	   *key_fingerprint;	/* NULL if not encrypted */
	int64		database_bytes;
	int64		stored_bytes;

	int			ntablespaces;
	TbdrManifestTablespace *tablespaces;
	int			nparts;
	TbdrManifestPart *parts;
	int			ndirs;
	TbdrManifestDir *dirs;
	int			nfiles;
	TbdrManifestFile *files;
	int			ncorrupt;
	TbdrManifestCorruption *corrupt;

	/* capacities of the arrays, for the add functions */
	int			max_tablespaces;
	int			max_parts;
	int			max_dirs;
	int			max_files;
	int			max_corrupt;
} TbdrManifest;

/* A zeroed manifest with id and status (copied) and format set. */
extern TbdrManifest *tbdr_manifest_create(const char *id, const char *status);
extern void tbdr_manifest_free(TbdrManifest *m);

/* Append entries (strings copied); return the new entry. */
extern TbdrManifestFile *tbdr_manifest_add_file(TbdrManifest *m, const char *path);
extern TbdrManifestDir *tbdr_manifest_add_dir(TbdrManifest *m, const char *path,
											  int64 mtime);
extern TbdrManifestPart *tbdr_manifest_add_part(TbdrManifest *m, int part,
												const char *key);
extern void tbdr_manifest_add_tablespace(TbdrManifest *m, uint32 oid,
										 const char *location);
extern void tbdr_manifest_add_corruption(TbdrManifest *m, const char *path,
										 int64 block);

/*
 * Append from's directories, files, parts and checksum failures (copied)
 * to into, and add its database and stored bytes: a part stored by another
 * process joins the backup's manifest.
 */
extern void tbdr_manifest_merge(TbdrManifest *into, const TbdrManifest *from);

/* The JSON document (appended to out). */
extern void tbdr_manifest_write(const TbdrManifest *m, StringInfo out);

/* Parse a document; NULL with err set (TBDR_ERR_CORRUPT) if malformed. */
extern TbdrManifest *tbdr_manifest_parse(const char *data, size_t len,
										 TbdrError *err);

/* Find a file by path (linear); NULL if absent. */
extern const TbdrManifestFile *tbdr_manifest_find_file(const TbdrManifest *m,
													   const char *path);

/* ---- helpers shared with the callers ---- */

/* Append s as a JSON string literal (with quotes). */
extern void tbdr_json_escape(StringInfo out, const char *s);

/* "2026-11-25T02:00:00Z" <-> Unix seconds (UTC); parse: false if invalid. */
extern void tbdr_format_utc(int64 t, char *out, size_t outlen);
extern bool tbdr_parse_utc(const char *s, int64 *t);

/* Backup ids: "20261125T020000Z" <-> Unix seconds (UTC). */
extern void tbdr_backup_id_format(int64 t, char out[TBDR_BACKUP_ID_LEN + 1]);
extern bool tbdr_backup_id_parse(const char *id, int64 *t);

/* "0/2000028" <-> LSN; parse: false if invalid. */
extern void tbdr_format_lsn(uint64 lsn, char *out, size_t outlen);
extern bool tbdr_parse_lsn(const char *s, uint64 *lsn);

#endif							/* TBDR_MANIFEST_H */
