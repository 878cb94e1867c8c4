/*-------------------------------------------------------------------------
 * backup.h
 *	  The backend-neutral part of a base backup: which files to copy (the
 *	  plan), and writing one part of them to the repository.
 *
 * The server's backup worker (src/backend/backup_worker.c) wraps this
 * between pg_backup_start() and pg_backup_stop(); nothing here knows about
 * either.
 *
 * Plan: tbdr_backup_plan_walk() lists the data directory and every
 * tablespace (pg_tblspc/<oid> links, stored under that path), leaving out
 * what pg_basebackup leaves out: the contents of pg_wal, pg_replslot,
 * pg_dynshmem, pg_notify, pg_serial, pg_snapshots, pg_stat_tmp and
 * pg_subtrans (the directories themselves are kept), temporary files and
 * directories (pgsql_tmp*), temporary relations (t<n>_<node>), the main
 * (and fsm, vm) forks of unlogged relations, postmaster.pid/.opts,
 * pg_internal.init, postgresql.auto.conf.tmp, current_logfiles.tmp, old
 * backup_label, tablespace_map and backup_manifest, and global/pg_control,
 * which the caller copies last (in the final part, with the new
 * backup_label and tablespace_map).  tbdr_backup_plan_split() then groups
 * the files, in path order, into parts of about part_size bytes (a file is
 * never split; a larger file is a part of its own).  Directory entries all
 * go into part 1.
 *
 * Part: tbdr_backup_store_part() streams the part's entries as one tar
 * stream (tarstream.h) through the codec (codec.h: zstd, optional
 * AES-256-GCM) into tbdr_storage_put() (multipart, parts sent concurrently
 * by the S3 driver).  Each file is read once, in chunks: the file's SHA-256,
 * the part's SHA-256 and the page checks happen on the same buffer before
 * it is compressed, so memory stays bounded (one chunk plus the codec's and
 * driver's buffers) whatever the file sizes.  For each file stored, an entry
 * (path, size, mtime, sha256, part, offset) is added to the manifest, plus
 * the part's entry (key, plain and stored bytes, sha256) when it is stored.
 *
 * Files that change while they are copied are normal (WAL replay from the
 * backup's start fixes them): the size stored is the size at open time; a
 * file that shrinks is padded with zeros, one that grows is cut at that
 * size, one that disappears before it is opened is left out (a dropped
 * relation).
 *
 * Page checksums (when verify_checksums): for relation files, every page
 * that is not new and whose LSN is older than the backup's start LSN (newer
 * pages are being written and will be replayed) must carry a valid
 * checksum.  A page that fails is read again once: a torn read (the page
 * was being written) then passes or shows a newer LSN, and that content is
 * the one stored; a page that fails twice is recorded in the manifest's
 * checksum_failures (path, block number in the relation) and stored as
 * read.  The backup itself does not fail for it: the caller reports it.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKUP_H
#define TBDR_BACKUP_H

#include "core/codec.h"
#include "core/error.h"
#include "core/manifest.h"
#include "core/storage.h"
#include "core/tarstream.h"

typedef struct TbdrBackupEntry
{
	char	   *path;			/* manifest path: relative, '/' separators */
	char	   *source;			/* absolute file to read, or NULL */
	char	   *data;			/* in-memory content, or NULL (files only) */
	TbdrTarType type;			/* TBDR_TAR_FILE or TBDR_TAR_DIR */
	int64		size;			/* at planning (files) */
	int64		mtime;			/* Unix seconds */
	int			mode;			/* permission bits */
	bool		check_pages;	/* a relation file: verify page checksums */
	int64		first_block;	/* relation block number of its first page */
	int			part;			/* 1-based, set by tbdr_backup_plan_split */
} TbdrBackupEntry;

typedef struct TbdrBackupPlan
{
	int			nentries;
	TbdrBackupEntry *entries;
	int			nparts;			/* after split */
	int			nfiles;
	int64		total_bytes;	/* sum of the files' sizes */
	int			max_entries;
} TbdrBackupPlan;

extern TbdrBackupPlan *tbdr_backup_plan_create(void);
extern void tbdr_backup_plan_free(TbdrBackupPlan *plan);

/*
 * Add the data directory datadir and its tablespaces (see above) to the
 * plan, and each tablespace (oid, link target) to m.  Unreadable
 * directories are errors (TBDR_ERR_IO); vanishing ones are not.
 */
extern bool tbdr_backup_plan_walk(TbdrBackupPlan *plan, const char *datadir,
								  TbdrManifest *m, TbdrError *err);

/*
 * Add one file whose content is given (len bytes, copied), e.g.
 * backup_label.  It goes into part `part`.
 */
extern void tbdr_backup_plan_add_data(TbdrBackupPlan *plan, const char *path,
									  const char *data, size_t len,
									  int64 mtime, int part);

/* Assign parts to the walked entries: about part_size bytes each (>= 1). */
extern void tbdr_backup_plan_split(TbdrBackupPlan *plan, int64 part_size);

/* Bytes and files of one part (for progress and scheduling). */
extern int64 tbdr_backup_part_bytes(const TbdrBackupPlan *plan, int part);

/*
 * The plan as bytes (appended to out) and back, for a part written by
 * another process.  Deserialize returns NULL with err set if buf is not
 * what serialize wrote.
 */
extern void tbdr_backup_plan_serialize(const TbdrBackupPlan *plan,
									   StringInfo out);
extern TbdrBackupPlan *tbdr_backup_plan_deserialize(const char *buf, size_t len,
													TbdrError *err);

typedef struct TbdrBackupOptions
{
	TbdrStorage *storage;
	TbdrCodecOptions codec;		/* compression, level, workers, key */
	const char *backup_id;
	bool		verify_checksums;
	uint64		start_lsn;		/* pages at or after it are not checked */
	int64		max_rate;		/* file bytes read per second, 0 = no limit */

	/*
	 * Polled once per chunk (about 1 MB); returning true stops the part
	 * with TBDR_ERR_INTERNAL "backup cancelled".  May be NULL.
	 */
	bool		(*cancel) (void *arg);
	/* Called after each chunk with the file bytes read so far. May be NULL. */
	void		(*progress) (void *arg, int64 bytes);
	void	   *cb_arg;
} TbdrBackupOptions;

/*
 * Store part `part` of the plan as backups/<id>/part-NNNNNN and add its
 * files, directories, checksum failures and part entry to m.  On failure
 * the storage layer has aborted the upload; what was added to m is then
 * meaningless (the backup fails).
 */
extern bool tbdr_backup_store_part(const TbdrBackupOptions *opts,
								   const TbdrBackupPlan *plan, int part,
								   TbdrManifest *m, TbdrError *err);

#endif							/* TBDR_BACKUP_H */
