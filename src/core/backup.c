/*-------------------------------------------------------------------------
 * backup.c
 *	  Base backup plan (file walk with pg_basebackup's exclusions, parts)
 *	  and the part writer: tar -> codec -> storage, hashing and checking
 *	  pages while streaming.  See backup.h.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/bufpage.h"
#include "storage/checksum.h"
#ifdef FRONTEND
/* the backend exports pg_checksum_page; the program compiles its own */
#include "storage/checksum_impl.h"
#endif

#include "core/backup.h"
#include "core/digest.h"
#include "core/pg_compat.h"
#include "core/repo.h"

/* Read size: a multiple of BLCKSZ, large enough for fast sequential I/O. */
#define BACKUP_CHUNK	((size_t) 1024 * 1024)

/* Configuration files up to this size are checked for secrets. */
#define REDACT_MAX_SIZE	(1024 * 1024)

/* ---------------------------------------------------------------------
 * The plan
 * ---------------------------------------------------------------------
 */

/* Directories whose contents are left out (the directory itself is kept). */
static const char *const exclude_dir_contents[] = {
	"pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial",
	"pg_snapshots", "pg_stat_tmp", "pg_subtrans", NULL
};

/* Files left out wherever they are (relcache init: by prefix). */
static const char *const exclude_files[] = {
	"postgresql.auto.conf.tmp", "current_logfiles.tmp", "backup_label",
	"tablespace_map", "backup_manifest", "postmaster.pid", "postmaster.opts",
	NULL
};

TbdrBackupPlan *
tbdr_backup_plan_create(void)
{
	return palloc0(sizeof(TbdrBackupPlan));
}

void
tbdr_backup_plan_free(TbdrBackupPlan *plan)
{
	if (plan == NULL)
		return;
	for (int i = 0; i < plan->nentries; i++)
	{
		TbdrBackupEntry *e = &plan->entries[i];

		pfree(e->path);
		if (e->source)
			pfree(e->source);
		if (e->data)
			pfree(e->data);
	}
	if (plan->entries)
		pfree(plan->entries);
	pfree(plan);
}

static TbdrBackupEntry *
plan_add(TbdrBackupPlan *plan, const char *path, TbdrTarType type)
{
	TbdrBackupEntry *e;

	if (plan->nentries == plan->max_entries)
	{
		plan->max_entries = plan->max_entries ? plan->max_entries * 2 : 256;
		plan->entries = plan->entries
			? repalloc(plan->entries, plan->max_entries * sizeof(TbdrBackupEntry))
			: palloc(plan->max_entries * sizeof(TbdrBackupEntry));
	}
	e = &plan->entries[plan->nentries++];
	memset(e, 0, sizeof(*e));
	e->path = pstrdup(path);
	e->type = type;
	e->mode = type == TBDR_TAR_DIR ? 0700 : 0600;
	if (type == TBDR_TAR_FILE)
		plan->nfiles++;
	return e;
}

void
tbdr_backup_plan_add_data(TbdrBackupPlan *plan, const char *path,
						  const char *data, size_t len, int64 mtime, int part)
{
	TbdrBackupEntry *e = plan_add(plan, path, TBDR_TAR_FILE);

	e->data = palloc(len + 1);
	memcpy(e->data, data, len);
	e->data[len] = '\0';
	e->size = len;
	e->mtime = mtime;
	e->part = part;
	plan->total_bytes += len;
	if (part > plan->nparts)
		plan->nparts = part;
}

/*
 * Parse a relation file name "<node>[_fork][.<segno>]"; false if it is not
 * one.  *fork is "" for the main fork.
 */
static bool
parse_relation_file(const char *name, Oid *node, char *fork, size_t forklen,
					int *segno)
{
	const char *p = name;
	unsigned long v = 0;
	size_t		n = 0;

	if (*p < '1' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	*node = (Oid) v;
	fork[0] = '\0';
	*segno = 0;
	if (*p == '_')
	{
		p++;
		while (*p >= 'a' && *p <= 'z' && n + 1 < forklen)
			fork[n++] = *p++;
		fork[n] = '\0';
		if (strcmp(fork, "fsm") != 0 && strcmp(fork, "vm") != 0 &&
			strcmp(fork, "init") != 0)
			return false;
	}
	if (*p == '.')
	{
		p++;
		if (*p < '1' || *p > '9')
			return false;
		v = 0;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (*p++ - '0');
		*segno = (int) v;
	}
	return *p == '\0';
}

/* Is name a temporary relation file "t<backend>_<node>..."? */
static bool
is_temp_relation(const char *name)
{
	const char *p = name;

	if (*p++ != 't' || *p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '_' && p[1] >= '0' && p[1] <= '9';
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

typedef struct WalkState
{
	TbdrBackupPlan *plan;
	TbdrManifest *m;
	TbdrError  *err;
} WalkState;

/*
 * Directory kinds that matter: a database directory (relation files, with
 * the unlogged and temporary rules), global (relation files), others.
 */
typedef enum DirKind
{
	DIR_OTHER,
	DIR_DATABASE,
	DIR_GLOBAL
} DirKind;

static bool walk_dir(WalkState *ws, const char *fs_path, const char *rel,
					 DirKind kind, int depth_in_ts);

/* Read a directory's names, sorted; NULL (err set) on error. */
static char **
read_names(WalkState *ws, const char *fs_path, int *count, bool *vanished)
{
	DIR		   *dir;
	struct dirent *de;
	char	  **names = NULL;
	int			n = 0,
				max = 0;

	*vanished = false;
	dir = opendir(fs_path);
	if (dir == NULL)
	{
		if (errno == ENOENT)
		{
			*vanished = true;
			return NULL;
		}
		tbdr_error_errno(ws->err, "could not open directory \"%s\"", fs_path);
		return NULL;
	}
	errno = 0;
	while ((de = readdir(dir)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == max)
		{
			max = max ? max * 2 : 64;
			names = names ? repalloc(names, max * sizeof(char *))
				: palloc(max * sizeof(char *));
		}
		names[n++] = pstrdup(de->d_name);
		errno = 0;
	}
	if (errno != 0)
	{
		tbdr_error_errno(ws->err, "could not read directory \"%s\"", fs_path);
		closedir(dir);
		return NULL;
	}
	closedir(dir);
	if (n > 1)
		qsort(names, n, sizeof(char *), cmp_names);
	*count = n;
	if (names == NULL)
		names = palloc(sizeof(char *));
	return names;
}

static void
free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		pfree(names[i]);
	pfree(names);
}

static bool
excluded_file(const char *name)
{
	if (strncmp(name, "pgsql_tmp", 9) == 0)
		return true;
	if (strncmp(name, "pg_internal.init", 16) == 0)
		return true;
	for (int i = 0; exclude_files[i]; i++)
		if (strcmp(name, exclude_files[i]) == 0)
			return true;
	return false;
}

/* A configuration file (postgresql.conf syntax): "*.conf". */
static bool
config_file_name(const char *name)
{
	size_t		len = strlen(name);

	return len > 5 && strcmp(name + len - 5, ".conf") == 0;
}

/*
 * No secret of the configuration reaches the repository: a configuration
 * file of the data directory that sets a secret tbdr.* setting (tbdr.conf,
 * postgresql.conf, postgresql.auto.conf after ALTER SYSTEM) is stored with
 * those lines replaced by a comment (tbdr_config_redact), as in-memory
 * content read now; the others are copied as they are.  A restored server
 * then needs its secrets from outside the data directory, where the
 * documented setup keeps them anyway.
 */
static bool
redact_config_file(WalkState *ws, TbdrBackupEntry *e)
{
	StringInfoData out;
	int			n;

	initStringInfo(&out);
	n = tbdr_config_redact_file(e->source, REDACT_MAX_SIZE, &out, NULL, ws->err);
	if (n > 0)
	{
		pfree(e->source);
		e->source = NULL;
		e->data = out.data;
		e->size = out.len;
		return true;
	}
	pfree(out.data);
	if (n < 0 && ws->err->code == TBDR_ERR_NOT_FOUND)
	{
		/* vanished: the copy leaves it out as well */
		tbdr_error_clear(ws->err);
		return true;
	}
	return n == 0;
}

/*
 * Walk one tablespace link pg_tblspc/<oid>: record it, then its contents
 * under the same relative path.
 */
static bool
walk_tablespace(WalkState *ws, const char *fs_path, const char *rel,
				const char *name)
{
	char		target[MAXPGPATH];
	ssize_t		len;
	char	   *end;
	unsigned long oid = strtoul(name, &end, 10);
	TbdrBackupEntry *e;
	struct stat st;

	len = readlink(fs_path, target, sizeof(target) - 1);
	if (len < 0)
	{
		if (errno != EINVAL)
		{
			tbdr_error_errno(ws->err, "could not read link \"%s\"", fs_path);
			return false;
		}
		/* an in-place tablespace (a directory): a plain directory */
		strlcpy(target, fs_path, sizeof(target));
	}
	else
	{
		target[len] = '\0';
		if (*end == '\0' && oid != 0)
			tbdr_manifest_add_tablespace(ws->m, (uint32) oid, target);
	}
	if (stat(fs_path, &st) != 0)
	{
		if (errno == ENOENT)
			return true;
		tbdr_error_errno(ws->err, "could not stat \"%s\"", fs_path);
		return false;
	}
	e = plan_add(ws->plan, rel, TBDR_TAR_DIR);
	e->mtime = st.st_mtime;
	e->mode = st.st_mode & 07777;
	return walk_dir(ws, fs_path, rel, DIR_OTHER, 1);
}

/*
 * depth_in_ts: 0 outside tablespaces; inside pg_tblspc/<oid> 1 for its
 * root, 2 for PG_<version>_<catversion>, whose subdirectories are
 * databases.
 */
static bool
walk_dir(WalkState *ws, const char *fs_path, const char *rel, DirKind kind,
		 int depth_in_ts)
{
	char	  **names;
	int			n = 0;
	bool		vanished;
	Oid		   *init_nodes = NULL;
	int			ninit = 0;
	bool		ok = true;

	names = read_names(ws, fs_path, &n, &vanished);
	if (names == NULL)
		return vanished;

	/* Unlogged relations: only their init forks are copied. */
	if (kind == DIR_DATABASE)
	{
		init_nodes = palloc(Max(n, 1) * sizeof(Oid));
		for (int i = 0; i < n; i++)
		{
			Oid			node;
			char		fork[8];
			int			segno;

			if (parse_relation_file(names[i], &node, fork, sizeof(fork), &segno) &&
				strcmp(fork, "init") == 0)
				init_nodes[ninit++] = node;
		}
	}

	for (int i = 0; i < n && ok; i++)
	{
		const char *name = names[i];
		char	   *child_fs = psprintf("%s/%s", fs_path, name);
		char	   *child_rel = rel[0] ? psprintf("%s/%s", rel, name) : pstrdup(name);
		struct stat st;
		Oid			node;
		char		fork[8];
		int			segno;
		bool		is_rel = false;

		if (excluded_file(name))
			goto next;
		if (strcmp(child_rel, "global/pg_control") == 0)
			goto next;			/* the caller copies it last */
		if (kind == DIR_DATABASE && is_temp_relation(name))
			goto next;
		if (kind == DIR_DATABASE || kind == DIR_GLOBAL)
		{
			is_rel = parse_relation_file(name, &node, fork, sizeof(fork), &segno);
			if (is_rel && kind == DIR_DATABASE && strcmp(fork, "init") != 0)
			{
				bool		unlogged = false;

				for (int j = 0; j < ninit; j++)
					if (init_nodes[j] == node)
						unlogged = true;
				if (unlogged)
					goto next;
			}
		}

		if (strcmp(rel, "pg_tblspc") == 0)
		{
			ok = walk_tablespace(ws, child_fs, child_rel, name);
			goto next;
		}

		/* pg_wal may be a link (initdb -X); nothing else should be */
		if ((strcmp(child_rel, "pg_wal") == 0 ? stat(child_fs, &st) :
			 lstat(child_fs, &st)) != 0)
		{
			if (errno != ENOENT)
			{
				tbdr_error_errno(ws->err, "could not stat \"%s\"", child_fs);
				ok = false;
			}
			goto next;
		}

		if (S_ISDIR(st.st_mode))
		{
			TbdrBackupEntry *e = plan_add(ws->plan, child_rel, TBDR_TAR_DIR);
			bool		contents = true;
			DirKind		child_kind = DIR_OTHER;

			e->mtime = st.st_mtime;
			e->mode = st.st_mode & 07777;
			for (int j = 0; rel[0] == '\0' && exclude_dir_contents[j]; j++)
				if (strcmp(name, exclude_dir_contents[j]) == 0)
					contents = false;
			if (strcmp(child_rel, "pg_wal") == 0)
			{
				/* recovery expects pg_wal/archive_status (and summaries) */
				static const char *const wal_subdirs[] = TBDR_PG_WAL_SUBDIRS;

				for (int j = 0; wal_subdirs[j]; j++)
				{
					TbdrBackupEntry *as = plan_add(ws->plan, wal_subdirs[j],
												   TBDR_TAR_DIR);

					as->mtime = st.st_mtime;
					as->mode = e->mode;
				}
			}
			if (strncmp(name, "pgsql_tmp", 9) == 0)
				contents = false;
			if (strcmp(rel, "base") == 0 || depth_in_ts == 2)
				child_kind = DIR_DATABASE;
			else if (strcmp(child_rel, "global") == 0)
				child_kind = DIR_GLOBAL;
			if (contents)
				ok = walk_dir(ws, child_fs, child_rel, child_kind,
							  depth_in_ts ? depth_in_ts + 1 : 0);
		}
		else if (S_ISREG(st.st_mode))
		{
			TbdrBackupEntry *e = plan_add(ws->plan, child_rel, TBDR_TAR_FILE);

			e->source = pstrdup(child_fs);
			e->size = st.st_size;
			e->mtime = st.st_mtime;
			e->mode = st.st_mode & 07777;
			e->check_pages = is_rel;
			e->first_block = is_rel ? (int64) segno * RELSEG_SIZE : 0;
			if (kind == DIR_OTHER && depth_in_ts == 0 &&
				config_file_name(name) && st.st_size <= REDACT_MAX_SIZE)
				ok = redact_config_file(ws, e);
			ws->plan->total_bytes += e->size;
		}
		/* other types (sockets, stray links) are skipped, as pg_basebackup does */

next:
		pfree(child_fs);
		pfree(child_rel);
	}
	if (init_nodes)
		pfree(init_nodes);
	free_names(names, n);
	return ok;
}

bool
tbdr_backup_plan_walk(TbdrBackupPlan *plan, const char *datadir,
					  TbdrManifest *m, TbdrError *err)
{
	WalkState	ws;

	ws.plan = plan;
	ws.m = m;
	ws.err = err;
	return walk_dir(&ws, datadir, "", DIR_OTHER, 0);
}

void
tbdr_backup_plan_split(TbdrBackupPlan *plan, int64 part_size)
{
	int			part = 1;
	int64		in_part = 0;

	for (int i = 0; i < plan->nentries; i++)
	{
		TbdrBackupEntry *e = &plan->entries[i];

		if (e->part != 0)
			continue;			/* placed by the caller */
		if (e->type == TBDR_TAR_DIR)
		{
			e->part = 1;
			continue;
		}
		if (in_part > 0 && in_part + e->size > part_size)
		{
			part++;
			in_part = 0;
		}
		e->part = part;
		/* headers and padding count too, so that tiny files add up */
		in_part += e->size + TBDR_TAR_BLOCK;
	}
	if (part > plan->nparts)
		plan->nparts = part;
}

int64
tbdr_backup_part_bytes(const TbdrBackupPlan *plan, int part)
{
	int64		bytes = 0;

	for (int i = 0; i < plan->nentries; i++)
		if (plan->entries[i].part == part &&
			plan->entries[i].type == TBDR_TAR_FILE)
			bytes += plan->entries[i].size;
	return bytes;
}

/* ---------------------------------------------------------------------
 * Handing a plan to another process
 * ---------------------------------------------------------------------
 */

static void
put_bytes(StringInfo out, const void *v, size_t len)
{
	appendBinaryStringInfo(out, (const char *) v, (int) len);
}

/* A string as its length (-1 = NULL) and its bytes. */
static void
put_string(StringInfo out, const char *v, int64 len)
{
	int64		n = v ? len : -1;

	put_bytes(out, &n, sizeof(n));
	if (v)
		put_bytes(out, v, len);
}

void
tbdr_backup_plan_serialize(const TbdrBackupPlan *plan, StringInfo out)
{
	put_bytes(out, &plan->nentries, sizeof(plan->nentries));
	for (int i = 0; i < plan->nentries; i++)
	{
		const TbdrBackupEntry *e = &plan->entries[i];
		int32		ints[4] = {(int32) e->type, e->mode, e->check_pages, e->part};
		int64		longs[3] = {e->size, e->mtime, e->first_block};

		put_bytes(out, ints, sizeof(ints));
		put_bytes(out, longs, sizeof(longs));
		put_string(out, e->path, strlen(e->path));
		put_string(out, e->source, e->source ? strlen(e->source) : 0);
		put_string(out, e->data, e->size);
	}
}

typedef struct PlanReader
{
	const char *p;
	const char *end;
} PlanReader;

static bool
get_bytes(PlanReader *r, void *v, size_t len)
{
	if ((size_t) (r->end - r->p) < len)
		return false;
	memcpy(v, r->p, len);
	r->p += len;
	return true;
}

static bool
get_string(PlanReader *r, char **v)
{
	int64		n;

	*v = NULL;
	if (!get_bytes(r, &n, sizeof(n)))
		return false;
	if (n < 0)
		return true;
	if (n > r->end - r->p)
		return false;
	*v = palloc(n + 1);
	memcpy(*v, r->p, n);
	(*v)[n] = '\0';
	r->p += n;
	return true;
}

TbdrBackupPlan *
tbdr_backup_plan_deserialize(const char *buf, size_t len, TbdrError *err)
{
	TbdrBackupPlan *plan = tbdr_backup_plan_create();
	PlanReader	r = {buf, buf + len};
	int			n;

	if (!get_bytes(&r, &n, sizeof(n)) || n < 0)
		goto bad;
	for (int i = 0; i < n; i++)
	{
		int32		ints[4];
		int64		longs[3];
		TbdrBackupEntry *e;
		char	   *path;

		if (!get_bytes(&r, ints, sizeof(ints)) ||
			!get_bytes(&r, longs, sizeof(longs)) ||
			!get_string(&r, &path) || path == NULL)
			goto bad;
		e = plan_add(plan, path, (TbdrTarType) ints[0]);
		pfree(path);
		e->mode = ints[1];
		e->check_pages = ints[2] != 0;
		e->part = ints[3];
		e->size = longs[0];
		e->mtime = longs[1];
		e->first_block = longs[2];
		if (!get_string(&r, &e->source) || !get_string(&r, &e->data))
			goto bad;
		if (e->type == TBDR_TAR_FILE)
			plan->total_bytes += e->size;
		if (e->part > plan->nparts)
			plan->nparts = e->part;
	}
	if (r.p != r.end)
		goto bad;
	return plan;

bad:
	tbdr_backup_plan_free(plan);
	tbdr_error_set(err, TBDR_ERR_CORRUPT, "invalid serialized backup plan");
	return NULL;
}

/* ---------------------------------------------------------------------
 * The part writer
 * ---------------------------------------------------------------------
 */

typedef struct PartStream
{
	const TbdrBackupOptions *opts;
	const TbdrBackupPlan *plan;
	int			part;
	TbdrManifest *m;
	TbdrCodecEncoder *enc;

	int			next;			/* next entry index to look at */
	bool		finished;		/* encoder finished: outbuf is the rest */

	/* the file being streamed */
	const TbdrBackupEntry *cur;
	int			fd;
	int64		size;			/* what its tar header says */
	int64		done;			/* bytes of it streamed */
	TbdrDigest *digest;
	TbdrManifestFile *mfile;

	int64		tar_offset;		/* plaintext bytes so far */
	int64		bytes_read;		/* file bytes, for progress */
	struct timespec started;	/* for max_rate */
	char	   *chunk;			/* BACKUP_CHUNK bytes */
	char	   *reread;			/* BLCKSZ bytes */
	StringInfoData tarbuf;		/* headers, padding */
	StringInfoData out;			/* encoded bytes not yet handed out */
	size_t		outpos;
} PartStream;

static bool
out_append(void *arg, const char *buf, size_t len, TbdrError *err)
{
	PartStream *ps = arg;

	appendBinaryStringInfo(&ps->out, buf, len);
	return true;
}

static bool
feed(PartStream *ps, const char *data, size_t len, TbdrError *err)
{
	ps->tar_offset += len;
	return tbdr_codec_encoder_write(ps->enc, data, len, out_append, ps, err);
}

static bool
feed_tarbuf(PartStream *ps, TbdrError *err)
{
	bool		ok = feed(ps, ps->tarbuf.data, ps->tarbuf.len, err);

	resetStringInfo(&ps->tarbuf);
	return ok;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double) (now.tv_sec - t0->tv_sec) +
		(double) (now.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Keep the file bytes read at or below max_rate per second since the part
 * began, sleeping in slices short enough to notice a cancel quickly.
 */
static bool
throttle(PartStream *ps, TbdrError *err)
{
	for (;;)
	{
		double		ahead = (double) ps->bytes_read / ps->opts->max_rate -
			seconds_since(&ps->started);
		struct timespec nap;

		if (ahead <= 0)
			return true;
		if (ps->opts->cancel && ps->opts->cancel(ps->opts->cb_arg))
		{
			tbdr_error_set(err, TBDR_ERR_INTERNAL, "backup cancelled");
			return false;
		}
		if (ahead > 0.1)
			ahead = 0.1;
		nap.tv_sec = 0;
		nap.tv_nsec = (long) (ahead * 1e9);
		nanosleep(&nap, NULL);
	}
}

/*
 * Check the pages of a chunk read from offset `off` of the current file,
 * re-reading failures once (see backup.h).
 */
static bool
check_pages(PartStream *ps, char *buf, size_t len, int64 off, TbdrError *err)
{
	const TbdrBackupOptions *o = ps->opts;

	for (size_t pos = 0; pos + BLCKSZ <= len; pos += BLCKSZ)
	{
		char	   *page = buf + pos;
		PageHeader	ph = (PageHeader) page;
		BlockNumber blkno = (BlockNumber) (ps->cur->first_block + (off + pos) / BLCKSZ);
		ssize_t		r;

		if (PageIsNew(page) || PageGetLSN(page) >= o->start_lsn)
			continue;
		if (pg_checksum_page(page, blkno) == ph->pd_checksum)
			continue;

		/* once more: a page being written can be read torn */
		r = pread(ps->fd, ps->reread, BLCKSZ, off + pos);
		if (r == BLCKSZ)
		{
			PageHeader	rh = (PageHeader) ps->reread;

			if (PageIsNew(ps->reread) || PageGetLSN(ps->reread) >= o->start_lsn ||
				pg_checksum_page(ps->reread, blkno) == rh->pd_checksum)
			{
				memcpy(page, ps->reread, BLCKSZ);
				continue;
			}
		}
		tbdr_manifest_add_corruption(ps->m, ps->cur->path, (int64) blkno);
	}
	return true;
}

/* Start the next entry of the part; false at the end (ps->cur NULL). */
static bool
start_entry(PartStream *ps, TbdrError *err)
{
	const TbdrBackupPlan *plan = ps->plan;

	ps->cur = NULL;
	while (ps->next < plan->nentries)
	{
		const TbdrBackupEntry *e = &plan->entries[ps->next++];
		TbdrTarEntry te;

		if (e->part != ps->part)
			continue;
		memset(&te, 0, sizeof(te));
		te.path = e->path;
		te.type = e->type;
		te.mode = e->mode;
		te.mtime = e->mtime;
		if (e->type == TBDR_TAR_DIR)
		{
			tbdr_manifest_add_dir(ps->m, e->path, e->mtime);
			tbdr_tar_write_header(&ps->tarbuf, &te);
			if (!feed_tarbuf(ps, err))
				return false;
			continue;
		}

		ps->size = e->size;
		ps->fd = -1;
		if (e->data == NULL)
		{
			struct stat st;

			ps->fd = open(e->source, O_RDONLY | PG_BINARY, 0);
			if (ps->fd < 0)
			{
				if (errno == ENOENT)
					continue;	/* dropped since the walk */
				tbdr_error_errno(err, "could not open \"%s\"", e->source);
				return false;
			}
			if (fstat(ps->fd, &st) != 0)
			{
				tbdr_error_errno(err, "could not stat \"%s\"", e->source);
				close(ps->fd);
				ps->fd = -1;
				return false;
			}
			ps->size = st.st_size;
			te.mtime = st.st_mtime;
		}
		te.size = ps->size;
		tbdr_tar_write_header(&ps->tarbuf, &te);
		if (!feed_tarbuf(ps, err))
			return false;

		ps->cur = e;
		ps->done = 0;
		ps->digest = tbdr_digest_create(TBDR_DIGEST_SHA256);
		ps->mfile = tbdr_manifest_add_file(ps->m, e->path);
		ps->mfile->size = ps->size;
		ps->mfile->mtime = te.mtime;
		ps->mfile->part = ps->part;
		ps->mfile->offset = ps->tar_offset;
		return true;
	}
	return true;
}

/* Stream the next chunk of the current file, or finish it. */
static bool
stream_chunk(PartStream *ps, TbdrError *err)
{
	const TbdrBackupEntry *e = ps->cur;
	size_t		want = (size_t) Min((int64) BACKUP_CHUNK, ps->size - ps->done);
	size_t		got = 0;

	if (want > 0)
	{
		if (e->data)
			memcpy(ps->chunk, e->data + ps->done, want);
		else
		{
			while (got < want)
			{
				ssize_t		r = pread(ps->fd, ps->chunk + got, want - got,
									  ps->done + got);

				if (r < 0)
				{
					if (errno == EINTR)
						continue;
					tbdr_error_errno(err, "could not read \"%s\"", e->source);
					return false;
				}
				if (r == 0)
					break;		/* truncated meanwhile: pad with zeros */
				got += r;
			}
			if (got < want)
				memset(ps->chunk + got, 0, want - got);
			if (e->check_pages && ps->opts->verify_checksums)
				check_pages(ps, ps->chunk, want, ps->done, err);
		}
		tbdr_digest_update(ps->digest, ps->chunk, want);
		if (!feed(ps, ps->chunk, want, err))
			return false;
		ps->done += want;
		ps->bytes_read += want;
		if (ps->opts->progress)
			ps->opts->progress(ps->opts->cb_arg, ps->bytes_read);
		if (ps->opts->max_rate > 0 && !throttle(ps, err))
			return false;
	}

	if (ps->done >= ps->size)
	{
		unsigned char sha[TBDR_SHA256_LEN];
		size_t		pad = tbdr_tar_padding(ps->size);

		if (!tbdr_digest_final_checked(ps->digest, sha, err))
			return false;
		ps->digest = NULL;
		tbdr_hex_encode(sha, TBDR_SHA256_LEN, ps->mfile->sha256);
		ps->m->database_bytes += ps->size;
		if (pad > 0)
		{
			appendStringInfoSpaces(&ps->tarbuf, (int) pad);
			memset(ps->tarbuf.data, 0, pad);
			if (!feed_tarbuf(ps, err))
				return false;
		}
		if (ps->fd >= 0)
			close(ps->fd);
		ps->fd = -1;
		ps->cur = NULL;
	}
	return true;
}

/* Produce more encoded output (at least one step of progress). */
static bool
produce(PartStream *ps, TbdrError *err)
{
	if (ps->opts->cancel && ps->opts->cancel(ps->opts->cb_arg))
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "backup cancelled");
		return false;
	}
	if (ps->cur == NULL)
	{
		if (!start_entry(ps, err))
			return false;
		if (ps->cur == NULL)
		{
			tbdr_tar_write_end(&ps->tarbuf);
			if (!feed_tarbuf(ps, err) ||
				!tbdr_codec_encoder_finish(ps->enc, out_append, ps, err))
				return false;
			ps->finished = true;
			return true;
		}
	}
	return stream_chunk(ps, err);
}

static ssize_t
part_read(void *arg, char *buf, size_t len, TbdrError *err)
{
	PartStream *ps = arg;
	size_t		avail;

	while (ps->out.len - ps->outpos == 0 && !ps->finished)
	{
		resetStringInfo(&ps->out);
		ps->outpos = 0;
		if (!produce(ps, err))
			return -1;
	}
	avail = ps->out.len - ps->outpos;
	if (avail > len)
		avail = len;
	memcpy(buf, ps->out.data + ps->outpos, avail);
	ps->outpos += avail;
	return (ssize_t) avail;
}

bool
tbdr_backup_store_part(const TbdrBackupOptions *opts,
					   const TbdrBackupPlan *plan, int part, TbdrManifest *m,
					   TbdrError *err)
{
	PartStream	ps;
	char	   *key = tbdr_repo_backup_part_key(opts->backup_id, part);
	bool		ok = false;

	memset(&ps, 0, sizeof(ps));
	ps.opts = opts;
	ps.plan = plan;
	ps.part = part;
	ps.m = m;
	ps.fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &ps.started);
	ps.enc = tbdr_codec_encoder_create(&opts->codec, err);
	if (ps.enc == NULL || !tbdr_codec_encoder_reset(ps.enc, key, err))
	{
		tbdr_codec_encoder_free(ps.enc);
		pfree(key);
		return false;
	}
	ps.chunk = palloc(BACKUP_CHUNK);
	ps.reread = palloc(BLCKSZ);
	initStringInfo(&ps.tarbuf);
	initStringInfo(&ps.out);

	if (tbdr_storage_put(opts->storage, key, part_read, &ps, -1, err))
	{
		const TbdrCodecStats *stats = tbdr_codec_encoder_stats(ps.enc);
		TbdrManifestPart *mp = tbdr_manifest_add_part(m, part, key);

		mp->plain_bytes = stats->plain_bytes;
		mp->stored_bytes = stats->stored_bytes;
		tbdr_hex_encode(stats->sha256, TBDR_SHA256_LEN, mp->sha256);
		m->stored_bytes += stats->stored_bytes;
		ok = true;
	}
	else
		tbdr_error_prefix(err, "could not store backup part \"%s\": ", key);

	if (ps.fd >= 0)
		close(ps.fd);
	if (ps.digest)
		tbdr_digest_free(ps.digest);
	tbdr_codec_encoder_free(ps.enc);
	pfree(ps.chunk);
	pfree(ps.reread);
	pfree(ps.tarbuf.data);
	pfree(ps.out.data);
	pfree(key);
	return ok;
}
