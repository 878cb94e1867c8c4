/*-------------------------------------------------------------------------
 * restore.c
 *	  Restoring or verifying a base backup (see restore.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/restore.h"
#include "core/tarstream.h"

#define CONTROL_PATH		"global/pg_control"
#define CONTROL_TMP_PATH	"global/pg_control.tbdr-restore"
#define HASH_CHUNK			(1024 * 1024)

/*
 * Start the write-back of restored data every this many bytes, so that the
 * disk works while the next data is decoded instead of all at the final
 * syncfs (PostgreSQL's pg_flush_data does the same for its copies).
 */
#define FLUSH_AFTER			(4 * 1024 * 1024)

struct TbdrRestore
{
	const TbdrManifest *m;
	TbdrRestoreOptions opts;
	int		   *by_path;		/* indexes of m->files sorted by path */
	char	   *keep;			/* per file: delta found it identical */
	char	   *done;			/* per file: restored and verified */
	bool	   *part_needed;	/* per part index */
	char	  **ts_verdir;		/* per tablespace: its PG_<major>_<catversion>
								 * subdirectory, NULL if the backup has none */
	volatile bool cancelled;
	TbdrRestoreStats stats;
};

/* ---------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

static void
add_stat(int64 *counter, int64 v)
{
	__atomic_fetch_add(counter, v, __ATOMIC_RELAXED);
}

static const TbdrManifest *sort_manifest;	/* qsort has no argument */

static int
path_cmp_idx(const void *a, const void *b)
{
	return strcmp(sort_manifest->files[*(const int *) a].path,
				  sort_manifest->files[*(const int *) b].path);
}

/* Index of a file in m->files, or -1. */
static int
find_file(const TbdrRestore *r, const char *path)
{
	int			lo = 0,
				hi = r->m->nfiles - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(path, r->m->files[r->by_path[mid]].path);

		if (c == 0)
			return r->by_path[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/* A relative path without "..", "." or empty components. */
static bool
safe_path(const char *p)
{
	const char *c = p;

	if (p[0] == '\0' || p[0] == '/')
		return false;
	while (*c)
	{
		const char *slash = strchr(c, '/');
		size_t		len = slash ? (size_t) (slash - c) : strlen(c);

		if (len == 0 || (len == 1 && c[0] == '.') ||
			(len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += len + (slash ? 1 : 0);
	}
	return true;
}

/*
 * An absolute path without "..", "." or empty components and not "/": a
 * tablespace location that means what it says.
 */
static bool
normalized_abs_path(const char *p)
{
	return p[0] == '/' && safe_path(p + 1);
}

/* Is a or a subdirectory of b? */
static bool
path_within(const char *a, const char *b)
{
	size_t		len = strlen(b);

	return strncmp(a, b, len) == 0 && (a[len] == '/' || a[len] == '\0');
}

/*
 * For a path under pg_tblspc/<oid>/ of one of the backup's tablespaces: the
 * tablespace's index, and the path's first component below the link (its
 * length in *complen, 0 if the path is the link itself).  -1 otherwise.
 */
static int
tablespace_component(const TbdrManifest *m, const char *path,
					 const char **comp, size_t *complen)
{
	unsigned int oid;
	int			n = 0;

	if (sscanf(path, "pg_tblspc/%u%n", &oid, &n) != 1 ||
		(path[n] != '\0' && path[n] != '/'))
		return -1;
	for (int i = 0; i < m->ntablespaces; i++)
	{
		if (m->tablespaces[i].oid != oid)
			continue;
		*comp = path[n] ? path + n + 1 : path + n;
		*complen = strcspn(*comp, "/");
		return i;
	}
	return -1;
}

/* "PG_<major>_<catversion>", the major matching the backup's if known. */
static bool
version_dir_name(const TbdrManifest *m, const char *comp, size_t len)
{
	int			major = 0;
	size_t		i = 3;

	if (len < 6 || strncmp(comp, "PG_", 3) != 0)
		return false;
	for (; i < len && isdigit((unsigned char) comp[i]); i++)
		major = major * 10 + (comp[i] - '0');
	if (i == 3 || i >= len - 1 || comp[i] != '_')
		return false;
	for (i++; i < len; i++)
		if (!isdigit((unsigned char) comp[i]))
			return false;
	return m->pg_version < 100000 || major == m->pg_version / 10000;
}

/*
 * Everything of a tablespace lives in its PG_<major>_<catversion>
 * subdirectory: that is the only place a restore writes to (or, with
 * --delta and --force, removes from) in a tablespace location, so that
 * other versions' subdirectories and unrelated files there stay intact.
 * Learn each tablespace's subdirectory from the manifest, and refuse a
 * manifest with anything else under a tablespace link.
 */
static bool
plan_version_dirs(TbdrRestore *r, TbdrError *err)
{
	const TbdrManifest *m = r->m;

	r->ts_verdir = palloc0(sizeof(char *) * Max(m->ntablespaces, 1));
	for (int i = 0; i < m->nfiles + m->ndirs; i++)
	{
		bool		is_file = i < m->nfiles;
		const char *path = is_file ? m->files[i].path : m->dirs[i - m->nfiles].path;
		const char *comp;
		size_t		len;
		int			t = tablespace_component(m, path, &comp, &len);

		if (t < 0 || (len == 0 && !is_file))
			continue;
		if (len == 0 || !version_dir_name(m, comp, len) ||
			(is_file && comp[len] == '\0') ||
			(r->ts_verdir[t] && (strlen(r->ts_verdir[t]) != len ||
								 strncmp(r->ts_verdir[t], comp, len) != 0)))
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "the manifest of backup %s has \"%s\" outside the version directory (PG_<major>_<catversion>) of tablespace %u",
						   m->id, path, m->tablespaces[t].oid);
			tbdr_error_hint(err, "A backup taken by tbdr has nothing else under a tablespace link: the manifest is damaged or forged; restore another backup (--backup ID).");
			return false;
		}
		if (r->ts_verdir[t] == NULL)
			r->ts_verdir[t] = pnstrdup(comp, len);
	}
	return true;
}

/* Is a tar entry of a tablespace inside its version directory? */
static bool
entry_in_version_dir(const TbdrRestore *r, const char *path)
{
	const char *comp;
	size_t		len;
	int			t = tablespace_component(r->m, path, &comp, &len);

	return t < 0 || len == 0 ||
		(r->ts_verdir[t] && strlen(r->ts_verdir[t]) == len &&
		 strncmp(r->ts_verdir[t], comp, len) == 0);
}

/* The tablespace whose link is exactly this path, or NULL. */
static const TbdrManifestTablespace *
tablespace_link(const TbdrManifest *m, const char *path)
{
	unsigned int oid;
	int			n = 0;

	if (sscanf(path, "pg_tblspc/%u%n", &oid, &n) != 1 || path[n] != '\0')
		return NULL;
	for (int i = 0; i < m->ntablespaces; i++)
	{
		if (m->tablespaces[i].oid == oid)
			return &m->tablespaces[i];
	}
	return NULL;
}

const char *
tbdr_restore_tablespace_dir(const TbdrRestore *r, const TbdrManifestTablespace *ts)
{
	for (int i = 0; i < r->opts.nmappings; i++)
	{
		if (strcmp(r->opts.mappings[i].old_dir, ts->location) == 0)
			return r->opts.mappings[i].new_dir;
	}
	return ts->location;
}

static bool
mkdir_p(const char *path, TbdrError *err)
{
	char	   *p = pstrdup(path);
	char	   *s = p;

	for (;;)
	{
		s = strchr(s + 1, '/');
		if (s)
			*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
		{
			tbdr_error_errno(err, "could not create directory \"%s\"", p);
			pfree(p);
			return false;
		}
		if (s == NULL)
			break;
		*s = '/';
	}
	pfree(p);
	return true;
}

/* Remove path and, for a directory (not followed if a link), its contents. */
static bool
remove_tree(const char *path, bool keep_top, int64 *count, TbdrError *err)
{
	struct stat st;
	DIR		   *d;
	struct dirent *de;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? true :
			(tbdr_error_errno(err, "could not stat \"%s\"", path), false);
	if (S_ISDIR(st.st_mode))
	{
		d = opendir(path);
		if (d == NULL)
		{
			tbdr_error_errno(err, "could not open directory \"%s\"", path);
			return false;
		}
		while ((de = readdir(d)) != NULL)
		{
			char	   *child;
			bool		ok;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			child = psprintf("%s/%s", path, de->d_name);
			ok = remove_tree(child, false, count, err);
			pfree(child);
			if (!ok)
			{
				closedir(d);
				return false;
			}
		}
		closedir(d);
		if (!keep_top && rmdir(path) != 0)
		{
			tbdr_error_errno(err, "could not remove directory \"%s\"", path);
			return false;
		}
		return true;
	}
	if (unlink(path) != 0)
	{
		tbdr_error_errno(err, "could not remove \"%s\"", path);
		return false;
	}
	if (count)
		(*count)++;
	return true;
}

/* 1 if dir exists and has entries, 0 if empty or absent, -1 on error. */
static int
dir_not_empty(const char *path, TbdrError *err)
{
	DIR		   *d = opendir(path);
	struct dirent *de;
	int			res = 0;

	if (d == NULL)
	{
		if (errno == ENOENT)
			return 0;
		tbdr_error_errno(err, "could not open directory \"%s\"", path);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
		{
			res = 1;
			break;
		}
	}
	closedir(d);
	return res;
}

static bool
file_sha256_hex(const char *path, char *hex, TbdrError *err)
{
	int			fd = open(path, O_RDONLY | PG_BINARY);
	TbdrDigest *dg;
	char	   *buf;
	unsigned char sum[TBDR_SHA256_LEN];
	ssize_t		n;

	if (fd < 0)
	{
		tbdr_error_errno(err, "could not open \"%s\"", path);
		return false;
	}
	dg = tbdr_digest_create(TBDR_DIGEST_SHA256);
	buf = palloc(HASH_CHUNK);
	while ((n = read(fd, buf, HASH_CHUNK)) > 0)
		tbdr_digest_update(dg, buf, n);
	pfree(buf);
	if (n < 0)
	{
		tbdr_error_errno(err, "could not read \"%s\"", path);
		tbdr_digest_free(dg);
		close(fd);
		return false;
	}
	close(fd);
	tbdr_digest_final(dg, sum);
	tbdr_hex_encode(sum, TBDR_SHA256_LEN, hex);
	return true;
}

static void
set_mtime_path(const char *path, int64 mtime)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = (time_t) mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	(void) utimensat(AT_FDCWD, path, ts, 0);
}

/* ---------------------------------------------------------------------
 * Plan and target
 * --------------------------------------------------------------------- */

TbdrRestore *
tbdr_restore_create(const TbdrManifest *m, const TbdrRestoreOptions *opts,
					TbdrError *err)
{
	TbdrRestore *r = palloc0(sizeof(TbdrRestore));

	r->m = m;
	r->opts = *opts;
	r->by_path = palloc(sizeof(int) * Max(m->nfiles, 1));
	for (int i = 0; i < m->nfiles; i++)
		r->by_path[i] = i;
	sort_manifest = m;
	qsort(r->by_path, m->nfiles, sizeof(int), path_cmp_idx);
	sort_manifest = NULL;
	r->keep = palloc0(Max(m->nfiles, 1));
	r->done = palloc0(Max(m->nfiles, 1));
	r->part_needed = palloc(sizeof(bool) * Max(m->nparts, 1));
	for (int i = 0; i < m->nparts; i++)
		r->part_needed[i] = true;

	for (int i = 0; i < m->nfiles; i++)
	{
		if (!safe_path(m->files[i].path))
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "the manifest of backup %s has an invalid file path \"%s\"",
						   m->id, m->files[i].path);
			tbdr_restore_free(r);
			return NULL;
		}
	}
	for (int t = 0; t < m->ntablespaces; t++)
	{
		if (!normalized_abs_path(m->tablespaces[t].location))
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "the manifest of backup %s has an invalid location \"%s\" for tablespace %u",
						   m->id, m->tablespaces[t].location, m->tablespaces[t].oid);
			tbdr_error_hint(err, "Tablespace locations are absolute paths without \".\" or \"..\": the manifest is damaged or forged; restore another backup (--backup ID).");
			tbdr_restore_free(r);
			return NULL;
		}
	}
	if (!plan_version_dirs(r, err))
	{
		tbdr_restore_free(r);
		return NULL;
	}
	for (int i = 0; i < opts->nmappings; i++)
	{
		bool		found = false;

		if (!normalized_abs_path(opts->mappings[i].new_dir))
		{
			tbdr_error_set(err, TBDR_ERR_CONFIG,
						   "--tablespace-map %s=%s: the new directory must be an absolute path without \".\", \"..\" or \"//\"",
						   opts->mappings[i].old_dir, opts->mappings[i].new_dir);
			tbdr_restore_free(r);
			return NULL;
		}

		for (int t = 0; t < m->ntablespaces; t++)
			found |= strcmp(m->tablespaces[t].location, opts->mappings[i].old_dir) == 0;
		if (!found)
		{
			StringInfoData locs;

			initStringInfo(&locs);
			for (int t = 0; t < m->ntablespaces; t++)
				appendStringInfo(&locs, "%s%s", t ? ", " : "", m->tablespaces[t].location);
			tbdr_error_set(err, TBDR_ERR_CONFIG,
						   "--tablespace-map %s=%s: backup %s has no tablespace at \"%s\"",
						   opts->mappings[i].old_dir, opts->mappings[i].new_dir,
						   m->id, opts->mappings[i].old_dir);
			if (m->ntablespaces)
				tbdr_error_hint(err, "Its tablespaces are at: %s.", locs.data);
			else
				tbdr_error_hint(err, "It has no tablespaces.");
			pfree(locs.data);
			tbdr_restore_free(r);
			return NULL;
		}
	}
	return r;
}

static char *version_dir_path(const TbdrRestore *r, int t);

/*
 * Delta: remove what is not in the backup, keep what is identical.  rel is
 * the path relative to the data directory ("" for it).
 */
static bool
delta_walk(TbdrRestore *r, const char *abs, const char *rel, TbdrError *err)
{
	DIR		   *d = opendir(abs);
	struct dirent *de;
	bool		ok = true;

	if (d == NULL)
	{
		tbdr_error_errno(err, "could not open directory \"%s\"", abs);
		return false;
	}
	while (ok && (de = readdir(d)) != NULL)
	{
		char	   *cabs;
		char	   *crel;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		cabs = psprintf("%s/%s", abs, de->d_name);
		crel = rel[0] ? psprintf("%s/%s", rel, de->d_name) : pstrdup(de->d_name);
		if (lstat(cabs, &st) != 0)
		{
			tbdr_error_errno(err, "could not stat \"%s\"", cabs);
			ok = false;
		}
		else if (S_ISLNK(st.st_mode) && tablespace_link(r->m, crel))
		{
			/*
			 * Relinked by prepare: walk the tablespace's version directory
			 * only; whatever else is in its location is not ours.
			 */
			int			t = tablespace_link(r->m, crel) - r->m->tablespaces;

			if (r->ts_verdir[t])
			{
				char	   *vdir = version_dir_path(r, t);
				char	   *vrel = psprintf("%s/%s", crel, r->ts_verdir[t]);

				ok = delta_walk(r, vdir, vrel, err);
				pfree(vdir);
				pfree(vrel);
			}
		}
		else if (S_ISDIR(st.st_mode))
		{
			bool		wanted = false;
			size_t		len = strlen(crel);

			/* kept if the manifest has it, or a file below it */
			for (int i = 0; i < r->m->ndirs && !wanted; i++)
				wanted = strcmp(r->m->dirs[i].path, crel) == 0;
			for (int i = 0; i < r->m->nfiles && !wanted; i++)
				wanted = strncmp(r->m->files[i].path, crel, len) == 0 &&
					r->m->files[i].path[len] == '/';
			if (wanted)
				ok = delta_walk(r, cabs, crel, err);
			else
				ok = remove_tree(cabs, false, &r->stats.files_removed, err);
		}
		else
		{
			int			idx = S_ISREG(st.st_mode) ? find_file(r, crel) : -1;

			if (idx < 0 || strcmp(crel, CONTROL_PATH) == 0)
			{
				/* not in the backup (or pg_control, always rewritten last) */
				if (unlink(cabs) != 0)
				{
					tbdr_error_errno(err, "could not remove \"%s\"", cabs);
					ok = false;
				}
				else
					r->stats.files_removed++;
			}
			else if (st.st_size == r->m->files[idx].size)
			{
				char		hex[TBDR_SHA256_HEX_LEN];

				ok = file_sha256_hex(cabs, hex, err);
				if (ok && strcmp(hex, r->m->files[idx].sha256) == 0)
				{
					r->keep[idx] = 1;
					if (st.st_mtime != r->m->files[idx].mtime)
						set_mtime_path(cabs, r->m->files[idx].mtime);
				}
			}
		}
		pfree(cabs);
		pfree(crel);
	}
	closedir(d);
	return ok;
}

/*
 * Is a target directory usable: absent, empty, or allowed by delta/force?
 * Only checks; a --force wipe comes later, once every target passed.
 */
static bool
check_target_dir(TbdrRestore *r, const char *dir, const char *what,
				 TbdrError *err)
{
	int			ne = dir_not_empty(dir, err);

	if (ne < 0)
		return false;
	if (ne == 0 || r->opts.delta || r->opts.force)
		return true;
	tbdr_error_set(err, TBDR_ERR_CONFLICT, "%s \"%s\" is not empty", what, dir);
	tbdr_error_hint(err, "Restore into an empty directory, or use --delta to update it in place (only files that differ are rewritten) or --force to overwrite it.");
	return false;
}

/* Was the location of tablespace ts named by --tablespace-map? */
static bool
tablespace_mapped(const TbdrRestore *r, const TbdrManifestTablespace *ts)
{
	for (int i = 0; i < r->opts.nmappings; i++)
	{
		if (strcmp(r->opts.mappings[i].old_dir, ts->location) == 0)
			return true;
	}
	return false;
}

/* Where tablespace t's files go: its location's version directory. */
static char *
version_dir_path(const TbdrRestore *r, int t)
{
	return psprintf("%s/%s", tbdr_restore_tablespace_dir(r, &r->m->tablespaces[t]),
					r->ts_verdir[t]);
}

/*
 * Check where tablespace t goes, writing nothing.  A location the manifest
 * names is written to only when it is absent or empty: a non-empty one may
 * be a live tablespace of this host (a test copy restored on the
 * production machine), so the DBA has to name it with --tablespace-map,
 * mapped to itself or elsewhere.  Inside a location only the backup's
 * version directory is ever touched.
 */
static bool
check_tablespace_target(TbdrRestore *r, int t, TbdrError *err)
{
	const TbdrManifestTablespace *ts = &r->m->tablespaces[t];
	const char *dir = tbdr_restore_tablespace_dir(r, ts);
	const char *pgdata = r->opts.pgdata;
	char	   *what;
	char	   *vdir;
	bool		ok;

	if (path_within(dir, pgdata) || path_within(pgdata, dir))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "tablespace %u: location \"%s\" %s the data directory",
					   ts->oid, dir, path_within(dir, pgdata) ? "is inside" : "contains");
		tbdr_error_hint(err, "Map it elsewhere with --tablespace-map %s=NEWDIR.", ts->location);
		return false;
	}
	for (int o = 0; o < t; o++)
	{
		const char *other = tbdr_restore_tablespace_dir(r, &r->m->tablespaces[o]);

		if (path_within(dir, other) || path_within(other, dir))
		{
			tbdr_error_set(err, TBDR_ERR_CONFIG,
						   "the locations of tablespaces %u (\"%s\") and %u (\"%s\") overlap",
						   r->m->tablespaces[o].oid, other, ts->oid, dir);
			tbdr_error_hint(err, "Map them to separate directories with --tablespace-map OLDDIR=NEWDIR.");
			return false;
		}
	}
	if (!tablespace_mapped(r, ts))
	{
		int			ne = dir_not_empty(dir, err);

		if (ne < 0)
			return false;
		if (ne > 0)
		{
			tbdr_error_set(err, TBDR_ERR_CONFLICT,
						   "location of tablespace %u \"%s\" is not empty", ts->oid, dir);
			tbdr_error_detail(err, "A restore writes into a tablespace location named by the backup only when it is absent or empty: this one may be a tablespace in use.");
			tbdr_error_hint(err, "Restore it elsewhere with --tablespace-map %s=NEWDIR, or into it with --tablespace-map %s=%s "
							"(only its subdirectory %s is written, also with --delta or --force).",
							ts->location, ts->location, ts->location,
							r->ts_verdir[t] ? r->ts_verdir[t] : "PG_<major>_<catversion>");
			return false;
		}
	}
	if (r->ts_verdir[t] == NULL)
		return true;
	vdir = version_dir_path(r, t);
	what = psprintf("directory of tablespace %u", ts->oid);
	ok = check_target_dir(r, vdir, what, err);
	pfree(what);
	pfree(vdir);
	return ok;
}

/* Checks of the data directory itself, writing nothing. */
static bool
check_pgdata(TbdrRestore *r, TbdrError *err)
{
	const char *pgdata = r->opts.pgdata;
	struct stat st;
	char	   *path;

	if (pgdata == NULL || !normalized_abs_path(pgdata))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "the data directory must be an absolute path without \".\", \"..\" or \"//\"");
		return false;
	}
	if (stat(pgdata, &st) == 0 && !S_ISDIR(st.st_mode))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "\"%s\" exists and is not a directory", pgdata);
		return false;
	}
	path = psprintf("%s/postmaster.pid", pgdata);
	if (stat(path, &st) == 0)
	{
		tbdr_error_set(err, TBDR_ERR_CONFLICT,
					   "\"%s\" exists: a server may be running on this data directory", path);
		tbdr_error_hint(err, "Stop the server first (pg_ctl stop -D %s); if none runs, remove the stale postmaster.pid.", pgdata);
		pfree(path);
		return false;
	}
	pfree(path);
	return check_target_dir(r, pgdata, "data directory", err);
}

/*
 * The directories: with --force first emptied (the data directory, and of
 * each tablespace only its version directory), then created, and the
 * tablespace links.
 */
static bool
make_target_dirs(TbdrRestore *r, TbdrError *err)
{
	const char *pgdata = r->opts.pgdata;
	const TbdrManifest *m = r->m;
	struct stat st;
	char	   *path;

	if (r->opts.force && !remove_tree(pgdata, true, NULL, err))
		return false;
	if (!mkdir_p(pgdata, err))
		return false;
	if (chmod(pgdata, 0700) != 0)
	{
		tbdr_error_errno(err, "could not set the permissions of \"%s\"", pgdata);
		return false;
	}
	path = psprintf("%s/pg_tblspc", pgdata);
	if (!mkdir_p(path, err))
		return false;
	pfree(path);
	for (int i = 0; i < m->ntablespaces; i++)
	{
		const char *dir = tbdr_restore_tablespace_dir(r, &m->tablespaces[i]);
		char	   *link = psprintf("%s/pg_tblspc/%u", pgdata, m->tablespaces[i].oid);

		if (!mkdir_p(dir, err))
			return false;
		if (r->ts_verdir[i])
		{
			char	   *vdir = version_dir_path(r, i);

			if ((r->opts.force && !remove_tree(vdir, true, NULL, err)) ||
				!mkdir_p(vdir, err))
				return false;
			pfree(vdir);
		}
		if (lstat(link, &st) == 0 && !remove_tree(link, false, NULL, err))
			return false;
		if (symlink(dir, link) != 0)
		{
			tbdr_error_errno(err, "could not create the tablespace link \"%s\" -> \"%s\"", link, dir);
			return false;
		}
		pfree(link);
	}
	return true;
}

bool
tbdr_restore_prepare(TbdrRestore *r, TbdrError *err)
{
	const char *pgdata = r->opts.pgdata;
	const TbdrManifest *m = r->m;
	char	   *path;

	/* every check before anything is written or removed */
	if (!check_pgdata(r, err))
		return false;
	for (int i = 0; i < m->ntablespaces; i++)
	{
		if (!check_tablespace_target(r, i, err))
			return false;
	}
	if (!make_target_dirs(r, err))
		return false;

	if (r->opts.delta)
	{
		if (!delta_walk(r, pgdata, "", err))
			return false;
		for (int p = 0; p < m->nparts; p++)
			r->part_needed[p] = false;
		for (int i = 0; i < m->nfiles; i++)
		{
			if (r->keep[i])
			{
				r->done[i] = 1;
				r->stats.files_kept++;
				continue;
			}
			for (int p = 0; p < m->nparts; p++)
			{
				if (m->parts[p].part == m->files[i].part)
					r->part_needed[p] = true;
			}
		}
	}

	/* directories up front, so that any part can land in any order */
	for (int i = 0; i < m->ndirs; i++)
	{
		if (!safe_path(m->dirs[i].path) || tablespace_link(m, m->dirs[i].path))
			continue;
		path = psprintf("%s/%s", pgdata, m->dirs[i].path);
		if (!mkdir_p(path, err))
			return false;
		pfree(path);
	}
	return true;
}

bool
tbdr_restore_part_needed(const TbdrRestore *r, int index)
{
	return r->part_needed[index];
}

/* ---------------------------------------------------------------------
 * One part
 * --------------------------------------------------------------------- */

typedef struct PartCtx
{
	TbdrRestore *r;
	const TbdrManifestPart *part;
	TbdrCodecDecoder *dec;
	TbdrTarReader *tar;
	/* the current file */
	int			cur;			/* index in m->files, -1 if none */
	bool		writing;
	int			fd;
	char	   *target;			/* where it is written */
	TbdrDigest *dg;
	int64		got;
	int64		flushed;		/* write-back started up to here */
	int64		mtime;
} PartCtx;

/* Ask the kernel to start writing [c->flushed, c->got) to disk. */
static void
start_writeback(PartCtx *c)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (c->got > c->flushed)
		(void) sync_file_range(c->fd, c->flushed, c->got - c->flushed,
							   SYNC_FILE_RANGE_WRITE);
#endif
	c->flushed = c->got;
}

static bool
entry_start(void *arg, const TbdrTarEntry *e, TbdrError *err)
{
	PartCtx    *c = arg;
	TbdrRestore *r = c->r;
	const char *pgdata = r->opts.pgdata;

	c->cur = -1;
	c->writing = false;
	if (!safe_path(e->path))
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT, "the part has an invalid path \"%s\"", e->path);
		return false;
	}
	if (e->type == TBDR_TAR_DIR)
	{
		char	   *dir;
		bool		ok;

		if (!entry_in_version_dir(r, e->path))
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "the part has \"%s\", outside its tablespace's version directory", e->path);
			return false;
		}
		if (r->opts.verify_only || tablespace_link(r->m, e->path))
			return true;
		dir = psprintf("%s/%s", pgdata, e->path);
		ok = mkdir_p(dir, err);
		pfree(dir);
		return ok;
	}
	if (e->type != TBDR_TAR_FILE)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "the part has an entry of unexpected type '%c' at \"%s\"",
					   (char) e->type, e->path);
		return false;
	}
	c->cur = find_file(r, e->path);
	if (c->cur < 0)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "the part holds \"%s\", which is not in the manifest", e->path);
		return false;
	}
	if (r->m->files[c->cur].part != c->part->part || e->size != r->m->files[c->cur].size)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "file \"%s\" in the part does not match the manifest (part %d, " INT64_FORMAT " bytes; manifest: part %d, " INT64_FORMAT " bytes)",
					   e->path, c->part->part, e->size,
					   r->m->files[c->cur].part, r->m->files[c->cur].size);
		return false;
	}
	if (r->keep[c->cur])
	{
		c->cur = -1;			/* delta: already identical */
		return true;
	}
	c->got = 0;
	c->flushed = 0;
	c->mtime = e->mtime;
	c->dg = tbdr_digest_create(TBDR_DIGEST_SHA256);
	if (r->opts.verify_only)
		return true;

	c->target = strcmp(e->path, CONTROL_PATH) == 0 ?
		psprintf("%s/%s", pgdata, CONTROL_TMP_PATH) :
		psprintf("%s/%s", pgdata, e->path);
	c->fd = open(c->target, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
				 (e->mode & 0777) | S_IRUSR | S_IWUSR);
	if (c->fd < 0 && errno == ENOENT)
	{
		/* a parent not in the manifest's directories */
		char	   *parent = pstrdup(c->target);

		*strrchr(parent, '/') = '\0';
		if (!mkdir_p(parent, err))
			return false;
		pfree(parent);
		c->fd = open(c->target, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
					 (e->mode & 0777) | S_IRUSR | S_IWUSR);
	}
	if (c->fd < 0)
	{
		tbdr_error_errno(err, "could not create \"%s\"", c->target);
		return false;
	}
	c->writing = true;
	return true;
}

static bool
entry_data(void *arg, const char *data, size_t len, TbdrError *err)
{
	PartCtx    *c = arg;

	if (c->cur < 0)
		return true;
	tbdr_digest_update(c->dg, data, len);
	c->got += len;
	if (c->writing)
	{
		while (len > 0)
		{
			ssize_t		n = write(c->fd, data, len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
			{
				if (n == 0)
					errno = ENOSPC;
				tbdr_error_errno(err, "could not write \"%s\"", c->target);
				return false;
			}
			data += n;
			len -= n;
		}
		if (c->got - c->flushed >= FLUSH_AFTER)
			start_writeback(c);
	}
	return true;
}

static bool
entry_end(void *arg, TbdrError *err)
{
	PartCtx    *c = arg;
	const TbdrManifestFile *f;
	unsigned char sum[TBDR_SHA256_LEN];
	char		hex[TBDR_SHA256_HEX_LEN];

	if (c->cur < 0)
		return true;
	f = &c->r->m->files[c->cur];
	tbdr_digest_final(c->dg, sum);
	c->dg = NULL;
	tbdr_hex_encode(sum, TBDR_SHA256_LEN, hex);
	if (c->writing)
	{
		struct timespec ts[2];

		start_writeback(c);
		ts[0].tv_sec = ts[1].tv_sec = (time_t) c->mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		(void) futimens(c->fd, ts);
		if (close(c->fd) != 0)
		{
			c->writing = false;
			tbdr_error_errno(err, "could not write \"%s\"", c->target);
			return false;
		}
		c->writing = false;
	}
	if (strcmp(hex, f->sha256) != 0 || c->got != f->size)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "file \"%s\" is corrupt: its SHA-256 is %s, the manifest says %s",
					   f->path, hex, f->sha256);
		return false;
	}
	c->r->done[c->cur] = 1;
	if (!c->r->opts.verify_only)
	{
		add_stat(&c->r->stats.files_written, 1);
		add_stat(&c->r->stats.bytes_written, f->size);
	}
	if (c->target)
	{
		pfree(c->target);
		c->target = NULL;
	}
	c->cur = -1;
	return true;
}

static bool
tar_feed(void *arg, const char *buf, size_t len, TbdrError *err)
{
	PartCtx    *c = arg;

	return tbdr_tar_reader_write(c->tar, buf, len, err);
}

static bool
object_feed(void *arg, const char *buf, size_t len, TbdrError *err)
{
	PartCtx    *c = arg;

	if (c->r->cancelled)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "cancelled");
		return false;
	}
	add_stat(&c->r->stats.bytes_stored, (int64) len);
	return tbdr_codec_decoder_write(c->dec, buf, len, tar_feed, c, err);
}

bool
tbdr_restore_part(TbdrRestore *r, int index, TbdrStorage *st,
				  TbdrCodecDecoder *dec, TbdrError *err)
{
	PartCtx		c;
	TbdrTarCallbacks cb;
	bool		ok;

	memset(&c, 0, sizeof(c));
	c.r = r;
	c.part = &r->m->parts[index];
	c.dec = dec;
	c.cur = -1;
	c.fd = -1;
	cb.entry_start = entry_start;
	cb.entry_data = entry_data;
	cb.entry_end = entry_end;
	cb.arg = &c;
	c.tar = tbdr_tar_reader_create(&cb);
	tbdr_codec_decoder_reset(dec, c.part->key);

	ok = tbdr_storage_get(st, c.part->key, 0, -1, object_feed, &c, err) &&
		tbdr_codec_decoder_finish(dec, tar_feed, &c, err) &&
		tbdr_tar_reader_finish(c.tar, err);
	if (ok)
	{
		char		hex[TBDR_SHA256_HEX_LEN];

		tbdr_hex_encode(tbdr_codec_decoder_stats(dec)->sha256, TBDR_SHA256_LEN, hex);
		if (strcmp(hex, c.part->sha256) != 0)
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "its SHA-256 is %s, the manifest says %s", hex, c.part->sha256);
			ok = false;
		}
	}
	if (c.writing)
		close(c.fd);
	if (c.dg)
		tbdr_digest_free(c.dg);
	tbdr_tar_reader_free(c.tar);
	if (!ok)
	{
		if (err->code == TBDR_ERR_NOT_FOUND)
			tbdr_error_prefix(err, "part %d of backup %s is missing: ", c.part->part, r->m->id);
		else
			tbdr_error_prefix(err, "part %d of backup %s (\"%s\"): ", c.part->part, r->m->id, c.part->key);
		if (err->hint[0] == '\0' && (err->code == TBDR_ERR_CORRUPT || err->code == TBDR_ERR_CRYPTO ||
									 err->code == TBDR_ERR_NOT_FOUND))
			tbdr_error_hint(err, "The repository object is damaged: restore from another backup (--backup ID); tbdr verify checks a backup completely.");
		return false;
	}
	__atomic_fetch_add(&r->stats.parts_fetched, 1, __ATOMIC_RELAXED);
	return true;
}

void
tbdr_restore_cancel(TbdrRestore *r)
{
	r->cancelled = true;
}

/* ---------------------------------------------------------------------
 * The end
 * --------------------------------------------------------------------- */

static bool
sync_dir(const char *dir, TbdrError *err)
{
	int			fd = open(dir, O_RDONLY);

	if (fd < 0)
	{
		tbdr_error_errno(err, "could not open \"%s\"", dir);
		return false;
	}
	if (syncfs(fd) != 0)
	{
		tbdr_error_errno(err, "could not sync the file system of \"%s\"", dir);
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* tablespace_map names the tablespaces' locations: the actual ones. */
static bool
rewrite_tablespace_map(TbdrRestore *r, TbdrError *err)
{
	char	   *path = psprintf("%s/tablespace_map", r->opts.pgdata);
	StringInfoData s;
	int			fd;
	bool		ok = true;

	if (access(path, F_OK) != 0)
		return true;
	initStringInfo(&s);
	for (int i = 0; i < r->m->ntablespaces; i++)
	{
		const char *dir = tbdr_restore_tablespace_dir(r, &r->m->tablespaces[i]);

		appendStringInfo(&s, "%u ", r->m->tablespaces[i].oid);
		for (const char *p = dir; *p; p++)
		{
			if (*p == '\n' || *p == '\r' || *p == '\\')
				appendStringInfoChar(&s, '\\');
			appendStringInfoChar(&s, *p);
		}
		appendStringInfoChar(&s, '\n');
	}
	fd = open(path, O_WRONLY | O_TRUNC | PG_BINARY);
	if (fd < 0 || write(fd, s.data, s.len) != s.len)
	{
		tbdr_error_errno(err, "could not write \"%s\"", path);
		ok = false;
	}
	if (fd >= 0)
		close(fd);
	pfree(s.data);
	pfree(path);
	return ok;
}

bool
tbdr_restore_finish(TbdrRestore *r, TbdrError *err)
{
	const TbdrManifest *m = r->m;

	for (int i = 0; i < m->nfiles; i++)
	{
		if (!r->done[i])
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "file \"%s\" of backup %s was not found in its part %d",
						   m->files[i].path, m->id, m->files[i].part);
			return false;
		}
	}
	if (r->opts.verify_only)
		return true;

	if (m->ntablespaces > 0 && !rewrite_tablespace_map(r, err))
		return false;
	for (int i = 0; i < m->ntablespaces; i++)
	{
		if (!sync_dir(tbdr_restore_tablespace_dir(r, &m->tablespaces[i]), err))
			return false;
	}
	if (!sync_dir(r->opts.pgdata, err))
		return false;
	/* the data directory becomes startable only now */
	if (tbdr_manifest_find_file(m, CONTROL_PATH))
	{
		char	   *tmp = psprintf("%s/%s", r->opts.pgdata, CONTROL_TMP_PATH);
		char	   *dst = psprintf("%s/%s", r->opts.pgdata, CONTROL_PATH);

		if (access(tmp, F_OK) == 0 && rename(tmp, dst) != 0)
		{
			tbdr_error_errno(err, "could not rename \"%s\" to \"%s\"", tmp, dst);
			return false;
		}
		if (!sync_dir(r->opts.pgdata, err))
			return false;
	}
	return true;
}

const TbdrRestoreStats *
tbdr_restore_stats(const TbdrRestore *r)
{
	return &r->stats;
}

void
tbdr_restore_free(TbdrRestore *r)
{
	if (r == NULL)
		return;
	pfree(r->by_path);
	pfree(r->keep);
	pfree(r->done);
	pfree(r->part_needed);
	if (r->ts_verdir)
	{
		for (int i = 0; i < r->m->ntablespaces; i++)
			if (r->ts_verdir[i])
				pfree(r->ts_verdir[i]);
		pfree(r->ts_verdir);
	}
	pfree(r);
}

/* ---------------------------------------------------------------------
 * Recovery settings
 * --------------------------------------------------------------------- */

void
tbdr_conf_quote(StringInfo out, const char *s)
{
	appendStringInfoChar(out, '\'');
	for (; *s; s++)
	{
		if (*s == '\'')
			appendStringInfoChar(out, '\'');
		appendStringInfoChar(out, *s);
	}
	appendStringInfoChar(out, '\'');
}

/* Does this line (without leading blanks) set the parameter name? */
static bool
sets_parameter(const char *line, size_t len, const char *name)
{
	size_t		n = strlen(name);

	return len >= n && pg_strncasecmp(line, name, n) == 0 &&
		(len == n || line[n] == ' ' || line[n] == '=' || line[n] == '\t');
}

/* Is this postgresql.conf line one a restore sets? */
static bool
recovery_line(const char *line, size_t len)
{
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	/* the marker below, not "# tbdr.NAME: value removed" of a backup */
	if (len >= 15 && strncmp(line, "# tbdr restore:", 15) == 0)
		return true;
	return (len >= 15 && pg_strncasecmp(line, "recovery_target", 15) == 0) ||
		sets_parameter(line, len, "restore_command") ||
		sets_parameter(line, len, "tbdr.copy_of");
}

static bool
write_file_atomic(const char *path, const char *data, size_t len, TbdrError *err)
{
	char	   *tmp = psprintf("%s.tbdr-tmp", path);
	int			fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t) len || fsync(fd) != 0)
	{
		tbdr_error_errno(err, "could not write \"%s\"", tmp);
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	if (rename(tmp, path) != 0)
	{
		tbdr_error_errno(err, "could not rename \"%s\" to \"%s\"", tmp, path);
		return false;
	}
	pfree(tmp);
	return true;
}

bool
tbdr_restore_write_recovery(const char *pgdata, const TbdrRecoverySettings *s,
							TbdrError *err)
{
	char	   *conf = psprintf("%s/postgresql.auto.conf", pgdata);
	char	   *signal = psprintf("%s/recovery.signal", pgdata);
	StringInfoData out;
	FILE	   *f;
	bool		ok;

	initStringInfo(&out);
	f = fopen(conf, "r");
	if (f)
	{
		char		line[8192];

		while (fgets(line, sizeof(line), f))
		{
			if (!recovery_line(line, strlen(line)))
				appendStringInfoString(&out, line);
		}
		fclose(f);
		if (out.len > 0 && out.data[out.len - 1] != '\n')
			appendStringInfoChar(&out, '\n');
	}
	else if (errno != ENOENT)
	{
		tbdr_error_errno(err, "could not read \"%s\"", conf);
		return false;
	}
	else
		appendStringInfoString(&out, "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n");

	appendStringInfoString(&out, "# tbdr restore: recovery settings (removed by the next tbdr restore)\n");
	appendStringInfoString(&out, "restore_command = ");
	tbdr_conf_quote(&out, s->restore_command);
	appendStringInfoChar(&out, '\n');
	if (s->target_param)
	{
		appendStringInfo(&out, "%s = ", s->target_param);
		tbdr_conf_quote(&out, s->target_value);
		appendStringInfoChar(&out, '\n');
		if (s->exclusive)
			appendStringInfoString(&out, "recovery_target_inclusive = 'off'\n");
	}
	if (s->target_action)
		appendStringInfo(&out, "recovery_target_action = '%s'\n", s->target_action);
	if (s->target_timeline)
		appendStringInfo(&out, "recovery_target_timeline = '%s'\n", s->target_timeline);
	if (s->copy_of)
	{
		/* last in the file, so these win over earlier lines */
		appendStringInfoString(&out, "# tbdr restore --as copy: never archive or back up into the repository restored from\n"
							   "archive_mode = 'off'\ntbdr.copy_of = ");
		tbdr_conf_quote(&out, s->copy_of);
		appendStringInfoChar(&out, '\n');
	}

	ok = write_file_atomic(conf, out.data, out.len, err) &&
		write_file_atomic(signal, "", 0, err);
	pfree(out.data);
	pfree(conf);
	pfree(signal);
	return ok;
}
