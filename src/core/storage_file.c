/*-------------------------------------------------------------------------
 * storage_file.c
 *	  The file:// storage driver: objects are files under the repository
 *	  directory, keys are their relative paths.
 *
 * Durability follows PostgreSQL's own rules: an object is written under a
 * temporary name (<name>.tmp.<pid>.<counter>) in its final directory,
 * fsync'ed, renamed into place and its directory fsync'ed, so that a crash
 * leaves either the old object, the new one, or a temporary file that list
 * ignores and cleanup_uploads removes.  The repository directory itself must
 * exist (as a bucket must); directories below it are created as needed.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/storage.h"
#include "core/storage_driver.h"
#include "lib/stringinfo.h"

#define FILE_IO_CHUNK		(1024 * 1024)
#define FILE_MODE			0600
#define DIR_MODE			0700

/*
 * A temporary file whose writer may still be running is left alone by
 * cleanup_uploads unless it has not been touched for this long.
 */
#define TEMP_FILE_STALE_SECS	(24 * 60 * 60)

typedef struct FileRepo
{
	char	   *root;			/* absolute directory, no trailing '/' */
	uint32		counter;		/* for unique temporary names */
} FileRepo;

typedef struct FileEntry
{
	char	   *key;
	int64		size;
	time_t		mtime;
} FileEntry;

typedef struct FileEntryList
{
	FileEntry  *items;
	int			n;
	int			cap;
} FileEntryList;

static const TbdrStorageDriver file_driver;

static FileRepo *
repo_of(TbdrStorage *st)
{
	return (FileRepo *) st->priv;
}

/*
 * Does this file name look like one of our temporary files, i.e. end with
 * ".tmp.<digits>.<digits>"?  If so, *pid receives the writer's pid.
 */
static bool
is_temp_name(const char *name, long *pid)
{
	const char *p = name + strlen(name);
	const char *end;
	int			ndots = 0;

	/* walk back over "<digits>.<digits>" */
	while (p > name)
	{
		end = p;
		while (p > name && p[-1] >= '0' && p[-1] <= '9')
			p--;
		if (p == end || p == name || p[-1] != '.')
			return false;
		p--;					/* the dot */
		if (++ndots == 2)
			break;
	}
	if (ndots != 2)
		return false;
	if (p - name < 4 || strncmp(p - 4, ".tmp", 4) != 0)
		return false;
	if (pid)
		*pid = strtol(p + 1, NULL, 10);
	return true;
}

/*
 * Keys and prefixes are relative paths: no leading '/', no empty, "." or
 * ".." segment, and (for keys) no temporary-file name.  A prefix may end in
 * '/' or in a partial segment.
 */
static bool
check_path(TbdrStorage *st, const char *key, bool is_prefix, TbdrError *err)
{
	const char *seg = key;
	const char *p;
	const char *what = is_prefix ? "prefix" : "object key";

	if (key[0] == '\0')
	{
		if (is_prefix)
			return true;
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "invalid object key: empty");
		return false;
	}
	if (key[0] == '/')
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL,
					   "invalid %s \"%s\": it must not start with '/'", what, key);
		tbdr_error_hint(err, "Keys are relative to the repository directory %s.",
						repo_of(st)->root);
		return false;
	}
	for (p = key;; p++)
	{
		if (*p == '/' || *p == '\0')
		{
			size_t		n = p - seg;

			/* a prefix's last segment may be empty ("wal/") */
			if ((n == 0 && !(is_prefix && *p == '\0')) ||
				(n == 1 && seg[0] == '.') ||
				(n == 2 && seg[0] == '.' && seg[1] == '.'))
			{
				tbdr_error_set(err, TBDR_ERR_INTERNAL,
							   "invalid %s \"%s\": empty, \".\" or \"..\" path segment",
							   what, key);
				return false;
			}
			if (*p == '\0')
				break;
			seg = p + 1;
		}
	}
	if (!is_prefix && is_temp_name(seg, NULL))
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL,
					   "invalid object key \"%s\": the name is reserved for temporary files",
					   key);
		return false;
	}
	return true;
}

static char *
key_path(TbdrStorage *st, const char *key)
{
	return psprintf("%s/%s", repo_of(st)->root, key);
}

static void
not_found(TbdrStorage *st, const char *key, TbdrError *err)
{
	tbdr_error_set(err, TBDR_ERR_NOT_FOUND, "object \"%s\" not found in %s",
				   key, st->description);
}

/* The repository directory must exist: say so plainly when it does not. */
static bool
check_root(TbdrStorage *st, TbdrError *err)
{
	const char *root = repo_of(st)->root;
	struct stat stbuf;

	if (stat(root, &stbuf) < 0)
	{
		tbdr_error_errno(err, "could not access repository directory \"%s\"", root);
		if (errno == ENOENT)
			tbdr_error_hint(err, "Create the directory (mkdir -p %s), or correct tbdr.repository.",
							root);
		else if (errno == EACCES)
			tbdr_error_hint(err, "Give the user running tbdr access to the directory.");
		return false;
	}
	if (!S_ISDIR(stbuf.st_mode))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "repository path \"%s\" is not a directory", root);
		tbdr_error_hint(err, "tbdr.repository must name a directory: file:///path/to/dir.");
		return false;
	}
	return true;
}

/* fsync a file or directory by name; EINVAL/EBADF on a directory is fine. */
static bool
fsync_path(const char *path, bool is_dir, TbdrError *err)
{
	int			fd = open(path, (is_dir ? O_RDONLY : O_RDWR) | PG_BINARY, 0);

	if (fd < 0)
	{
		tbdr_error_errno(err, "could not open \"%s\" for fsync", path);
		return false;
	}
	if (fsync(fd) < 0 && !(is_dir && (errno == EINVAL || errno == EBADF)))
	{
		tbdr_error_errno(err, "could not fsync \"%s\"", path);
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* Directory part of a path ("a/b/c" -> "a/b"); palloc'd. */
static char *
dir_of(const char *path)
{
	char	   *dir = pstrdup(path);
	char	   *slash = strrchr(dir, '/');

	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return dir;
}

/*
 * Create the missing directories of key's path below the root, fsyncing
 * each new directory's parent so the new entry is durable.
 */
static bool
make_parent_dirs(TbdrStorage *st, const char *key, TbdrError *err)
{
	const char *root = repo_of(st)->root;
	const char *slash;
	struct stat stbuf;
	char	   *dir;

	/* fast path: the parent exists already (the common case) */
	dir = dir_of(key);
	if (strcmp(dir, ".") == 0)
	{
		pfree(dir);
		return check_root(st, err);
	}
	{
		char	   *full = psprintf("%s/%s", root, dir);
		bool		exists = stat(full, &stbuf) == 0 && S_ISDIR(stbuf.st_mode);

		pfree(full);
		pfree(dir);
		if (exists)
			return true;
	}

	if (!check_root(st, err))
		return false;

	for (slash = strchr(key, '/'); slash != NULL; slash = strchr(slash + 1, '/'))
	{
		char	   *path = psprintf("%s/%.*s", root, (int) (slash - key), key);

		if (mkdir(path, DIR_MODE) == 0)
		{
			char	   *parent = dir_of(path);
			bool		ok = fsync_path(path, true, err) &&
				fsync_path(parent, true, err);

			pfree(parent);
			if (!ok)
			{
				pfree(path);
				return false;
			}
		}
		else if (errno != EEXIST)
		{
			tbdr_error_errno(err, "could not create directory \"%s\"", path);
			if (errno == EACCES)
				tbdr_error_hint(err, "Give the user running tbdr write access to the repository directory %s.",
								root);
			pfree(path);
			return false;
		}
		else if (stat(path, &stbuf) < 0 || !S_ISDIR(stbuf.st_mode))
		{
			tbdr_error_set(err, TBDR_ERR_CONFLICT,
						   "could not create directory \"%s\": a file of that name exists", path);
			pfree(path);
			return false;
		}
		pfree(path);
	}
	return true;
}

static bool
write_all(int fd, const char *buf, size_t len, const char *path, TbdrError *err)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, buf, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not write file \"%s\"", path);
			return false;
		}
		if (n == 0)
		{
			errno = ENOSPC;
			tbdr_error_errno(err, "could not write file \"%s\"", path);
			return false;
		}
		buf += n;
		len -= n;
	}
	return true;
}

/*
 * Move the complete temporary file to its key, without replacing an
 * existing object: RENAME_NOREPLACE, or on a file system without it a hard
 * link (both atomic).  EEXIST: *existed, and the temporary file is removed.
 */
static bool
rename_noreplace(const char *tmp, const char *path, bool *existed, TbdrError *err)
{
	int			rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);

	if (rc < 0 && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
	{
		rc = link(tmp, path);
		if (rc == 0)
			unlink(tmp);
	}
	if (rc == 0)
		return true;
	if (errno == EEXIST)
	{
		*existed = true;
		unlink(tmp);
		return true;
	}
	tbdr_error_errno(err, "could not rename file \"%s\" to \"%s\"", tmp, path);
	err->code = TBDR_ERR_IO;
	return false;
}

static bool
file_put(TbdrStorage *st, const char *key, TbdrReadFn read, void *arg,
		 int64 size_hint, bool if_absent, bool *existed, TbdrError *err)
{
	FileRepo   *repo = repo_of(st);
	char	   *path;
	char	   *tmp;
	char	   *dir;
	char	   *buf = NULL;
	int			fd;
	int64		total = 0;
	bool		ok = true;
	int			attempt;

	if (!check_path(st, key, false, err))
		return false;
	if (!make_parent_dirs(st, key, err))
		return false;

	path = key_path(st, key);
	tmp = psprintf("%s.tmp.%d.%u", path, (int) getpid(), ++repo->counter);
	dir = dir_of(path);

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, FILE_MODE);
	for (attempt = 0; fd < 0 && errno == ENOENT && attempt < 3; attempt++)
	{
		/*
		 * A concurrent delete removed the (then empty) directory between
		 * make_parent_dirs and open: create it again.
		 */
		if (!make_parent_dirs(st, key, err))
		{
			pfree(path);
			pfree(tmp);
			pfree(dir);
			return false;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, FILE_MODE);
	}
	if (fd < 0)
	{
		tbdr_error_errno(err, "could not create file \"%s\"", tmp);
		err->code = TBDR_ERR_IO;
		if (errno == EACCES || errno == EROFS)
		{
			tbdr_error_hint(err, "Give the user running tbdr write access to the repository directory %s.",
							repo->root);
		}
		pfree(path);
		pfree(tmp);
		pfree(dir);
		return false;
	}

	buf = palloc(FILE_IO_CHUNK);
	for (;;)
	{
		ssize_t		n = read(arg, buf, FILE_IO_CHUNK, err);

		if (n < 0)
		{
			ok = false;
			break;
		}
		if (n == 0)
			break;
		if (!write_all(fd, buf, (size_t) n, tmp, err))
		{
			ok = false;
			break;
		}
		total += n;
	}
	pfree(buf);

	if (ok && size_hint >= 0 && total != size_hint)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "could not store \"%s\": the source gave " INT64_FORMAT
					   " bytes, " INT64_FORMAT " were expected",
					   key, total, size_hint);
		ok = false;
	}
	if (ok && fsync(fd) < 0)
	{
		tbdr_error_errno(err, "could not fsync file \"%s\"", tmp);
		ok = false;
	}
	if (close(fd) < 0 && ok)
	{
		tbdr_error_errno(err, "could not close file \"%s\"", tmp);
		ok = false;
	}
	if (ok && if_absent)
		ok = rename_noreplace(tmp, path, existed, err);
	else if (ok && rename(tmp, path) < 0)
	{
		tbdr_error_errno(err, "could not rename file \"%s\" to \"%s\"", tmp, path);
		err->code = TBDR_ERR_IO;
		ok = false;
	}
	if (!ok)
		unlink(tmp);
	else if (!fsync_path(dir, true, err))
		ok = false;

	pfree(path);
	pfree(tmp);
	pfree(dir);
	return ok;
}

/* Open an object for reading; NOT_FOUND for a missing key or a directory. */
static int
open_object(TbdrStorage *st, const char *key, struct stat *stbuf, TbdrError *err)
{
	char	   *path = key_path(st, key);
	int			fd;

	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
		{
			if (check_root(st, err))
				not_found(st, key, err);
		}
		else
			tbdr_error_errno(err, "could not open file \"%s\"", path);
		pfree(path);
		return -1;
	}
	if (fstat(fd, stbuf) < 0)
	{
		tbdr_error_errno(err, "could not stat file \"%s\"", path);
		close(fd);
		pfree(path);
		return -1;
	}
	if (!S_ISREG(stbuf->st_mode))
	{
		not_found(st, key, err);
		close(fd);
		pfree(path);
		return -1;
	}
	pfree(path);
	return fd;
}

static bool
file_get(TbdrStorage *st, const char *key, int64 offset, int64 length,
		 TbdrWriteFn write, void *arg, TbdrError *err)
{
	struct stat stbuf;
	int			fd;
	char	   *buf;
	int64		remaining;
	int64		pos = offset;
	bool		ok = true;

	if (!check_path(st, key, false, err))
		return false;
	fd = open_object(st, key, &stbuf, err);
	if (fd < 0)
		return false;

	if (offset > (int64) stbuf.st_size ||
		(length >= 0 && offset + length > (int64) stbuf.st_size))
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "could not read \"%s\": range " INT64_FORMAT "+" INT64_FORMAT
					   " is beyond the end of the object (" INT64_FORMAT " bytes)",
					   key, offset, length, (int64) stbuf.st_size);
		close(fd);
		return false;
	}
	remaining = length >= 0 ? length : (int64) stbuf.st_size - offset;

	buf = palloc(FILE_IO_CHUNK);
	while (remaining > 0)
	{
		ssize_t		n = pread(fd, buf, (size_t) Min(remaining, (int64) FILE_IO_CHUNK), pos);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not read file \"%s/%s\"", repo_of(st)->root, key);
			err->code = TBDR_ERR_IO;
			ok = false;
			break;
		}
		if (n == 0)
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "could not read \"%s\": the file was truncated while being read ("
						   INT64_FORMAT " bytes missing)", key, remaining);
			ok = false;
			break;
		}
		if (!write(arg, buf, (size_t) n, err))
		{
			ok = false;
			break;
		}
		pos += n;
		remaining -= n;
	}
	pfree(buf);
	close(fd);
	return ok;
}

static int
file_head(TbdrStorage *st, const char *key, TbdrObjectInfo *info, TbdrError *err)
{
	char	   *path;
	struct stat stbuf;

	if (!check_path(st, key, false, err))
		return -1;
	path = key_path(st, key);
	if (stat(path, &stbuf) < 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
		{
			pfree(path);
			return check_root(st, err) ? 0 : -1;
		}
		tbdr_error_errno(err, "could not stat file \"%s\"", path);
		pfree(path);
		return -1;
	}
	pfree(path);
	if (!S_ISREG(stbuf.st_mode))
		return 0;
	if (info)
	{
		info->key = key;
		info->size = (int64) stbuf.st_size;
		info->mtime = stbuf.st_mtime;
		info->etag = NULL;
	}
	return 1;
}

/*
 * After a delete, remove the directories of key's path that became empty,
 * deepest first, so that retention does not leave a tree of empty
 * directories behind.  Best effort: a directory that is not empty (or that a
 * concurrent put just filled) stays, and puts recreate what they need.
 */
static void
remove_empty_dirs(TbdrStorage *st, const char *key)
{
	char	   *rel = pstrdup(key);
	char	   *slash;

	while ((slash = strrchr(rel, '/')) != NULL)
	{
		char	   *path;
		char	   *parent;
		TbdrError	ignore;

		*slash = '\0';
		path = psprintf("%s/%s", repo_of(st)->root, rel);
		if (rmdir(path) < 0)
		{
			pfree(path);
			break;
		}
		parent = dir_of(path);
		(void) fsync_path(parent, true, &ignore);
		pfree(parent);
		pfree(path);
	}
	pfree(rel);
}

static bool
file_delete(TbdrStorage *st, const char *key, TbdrError *err)
{
	char	   *path;
	char	   *dir;
	bool		ok = true;

	if (!check_path(st, key, false, err))
		return false;
	path = key_path(st, key);
	if (unlink(path) < 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
		{
			pfree(path);
			return check_root(st, err);
		}
		tbdr_error_errno(err, "could not remove file \"%s\"", path);
		pfree(path);
		return false;
	}
	dir = dir_of(path);
	ok = fsync_path(dir, true, err);
	pfree(dir);
	pfree(path);
	if (ok)
		remove_empty_dirs(st, key);
	return ok;
}

static bool
file_delete_many(TbdrStorage *st, const char *const *keys, int nkeys,
				 TbdrError *err)
{
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		if (!file_delete(st, keys[i], err))
			return false;
	}
	return true;
}

/*
 * Walk the tree below dir (relative key prefix relkey, "" or ending in '/'),
 * collecting the regular files whose key starts with prefix.  With temps,
 * collect only temporary files instead of only objects.
 */
static bool
walk_dir(TbdrStorage *st, const char *relkey, const char *prefix, bool temps,
		 FileEntryList *out, TbdrError *err)
{
	char	   *dirpath;
	DIR		   *d;
	struct dirent *de;
	bool		ok = true;
	size_t		plen = strlen(prefix);

	dirpath = relkey[0] ? psprintf("%s/%.*s", repo_of(st)->root,
								   (int) strlen(relkey) - 1, relkey)
		: pstrdup(repo_of(st)->root);
	d = opendir(dirpath);
	if (d == NULL)
	{
		/* a missing subdirectory just holds no objects */
		if (relkey[0] && (errno == ENOENT || errno == ENOTDIR))
		{
			pfree(dirpath);
			return true;
		}
		tbdr_error_errno(err, "could not open directory \"%s\"", dirpath);
		pfree(dirpath);
		return false;
	}

	for (;;)
	{
		char	   *key;
		char	   *path;
		struct stat stbuf;
		size_t		klen;
		bool		is_temp;

		errno = 0;
		de = readdir(d);
		if (de == NULL)
		{
			if (errno != 0)
			{
				tbdr_error_errno(err, "could not read directory \"%s\"", dirpath);
				ok = false;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;

		key = psprintf("%s%s", relkey, de->d_name);
		klen = strlen(key);
		/* prune: neither key nor prefix is a prefix of the other */
		if (strncmp(key, prefix, Min(klen, plen)) != 0)
		{
			pfree(key);
			continue;
		}
		path = psprintf("%s/%s", repo_of(st)->root, key);
		if (stat(path, &stbuf) < 0)
		{
			/* removed under our feet (a concurrent delete or rename) */
			if (errno == ENOENT)
			{
				pfree(key);
				pfree(path);
				continue;
			}
			tbdr_error_errno(err, "could not stat \"%s\"", path);
			pfree(key);
			pfree(path);
			ok = false;
			break;
		}
		pfree(path);

		if (S_ISDIR(stbuf.st_mode))
		{
			char	   *sub = psprintf("%s/", key);

			pfree(key);
			ok = walk_dir(st, sub, prefix, temps, out, err);
			pfree(sub);
			if (!ok)
				break;
			continue;
		}
		is_temp = is_temp_name(de->d_name, NULL);
		if (!S_ISREG(stbuf.st_mode) || klen < plen || is_temp != temps)
		{
			pfree(key);
			continue;
		}
		if (out->n == out->cap)
		{
			out->cap = out->cap ? out->cap * 2 : 64;
			out->items = out->items ?
				repalloc(out->items, sizeof(FileEntry) * out->cap) :
				palloc(sizeof(FileEntry) * out->cap);
		}
		out->items[out->n].key = key;
		out->items[out->n].size = (int64) stbuf.st_size;
		out->items[out->n].mtime = stbuf.st_mtime;
		out->n++;
	}
	closedir(d);
	pfree(dirpath);
	return ok;
}

static int
entry_cmp(const void *a, const void *b)
{
	/* byte order, as S3 lists */
	return strcmp(((const FileEntry *) a)->key, ((const FileEntry *) b)->key);
}

static void
free_entries(FileEntryList *list)
{
	int			i;

	for (i = 0; i < list->n; i++)
		pfree(list->items[i].key);
	if (list->items)
		pfree(list->items);
}

/*
 * Collect (sorted) the objects or temporary files under prefix, starting the
 * walk at the deepest directory the prefix names.
 */
static bool
collect(TbdrStorage *st, const char *prefix, bool temps, FileEntryList *list,
		TbdrError *err)
{
	const char *slash = strrchr(prefix, '/');
	char	   *start;
	bool		ok;

	memset(list, 0, sizeof(*list));
	if (!check_path(st, prefix, true, err) || !check_root(st, err))
		return false;
	start = slash ? pnstrdup(prefix, slash - prefix + 1) : pstrdup("");
	ok = walk_dir(st, start, prefix, temps, list, err);
	pfree(start);
	if (!ok)
	{
		free_entries(list);
		return false;
	}
	if (list->n > 1)
		qsort(list->items, list->n, sizeof(FileEntry), entry_cmp);
	return true;
}

static bool
file_list(TbdrStorage *st, const char *prefix, TbdrListFn fn, void *arg,
		  TbdrError *err)
{
	FileEntryList list;
	bool		ok = true;
	int			i;

	if (!collect(st, prefix, false, &list, err))
		return false;
	for (i = 0; i < list.n && ok; i++)
	{
		TbdrObjectInfo info;

		info.key = list.items[i].key;
		info.size = list.items[i].size;
		info.mtime = list.items[i].mtime;
		info.etag = NULL;
		ok = fn(arg, &info, err);
	}
	free_entries(&list);
	return ok;
}

/*
 * Remove temporary files left by writers that died.  A file whose writer
 * is still alive on this host (and that was touched recently) may be an
 * upload in progress, so it is kept.
 */
static bool
file_cleanup_uploads(TbdrStorage *st, const char *prefix, int *count,
					 TbdrError *err)
{
	FileEntryList list;
	time_t		now = time(NULL);
	bool		ok = true;
	int			i;

	if (!collect(st, prefix, true, &list, err))
		return false;
	for (i = 0; i < list.n; i++)
	{
		const char *base = strrchr(list.items[i].key, '/');
		long		pid = 0;
		char	   *path;

		base = base ? base + 1 : list.items[i].key;
		if (!is_temp_name(base, &pid))
			continue;
		if (pid > 0 && pid <= INT_MAX && now - list.items[i].mtime < TEMP_FILE_STALE_SECS &&
			(kill((pid_t) pid, 0) == 0 || errno == EPERM))
			continue;
		path = psprintf("%s/%s", repo_of(st)->root, list.items[i].key);
		if (unlink(path) < 0 && errno != ENOENT)
		{
			tbdr_error_errno(err, "could not remove temporary file \"%s\"", path);
			pfree(path);
			ok = false;
			break;
		}
		pfree(path);
		if (count)
			(*count)++;
	}
	free_entries(&list);
	return ok;
}

static void
file_close(TbdrStorage *st)
{
	FileRepo   *repo = repo_of(st);

	if (repo)
	{
		pfree(repo->root);
		pfree(repo);
	}
}

static const TbdrStorageDriver file_driver = {
	.name = "file",
	.put = file_put,
	.get = file_get,
	.head = file_head,
	.delete = file_delete,
	.delete_many = file_delete_many,
	.list = file_list,
	.cleanup_uploads = file_cleanup_uploads,
	.close = file_close,
};

TbdrStorage *
tbdr_storage_file_open(const TbdrConfig *cfg, const TbdrRepoLocation *loc,
					   TbdrError *err)
{
	TbdrStorage *st;
	FileRepo   *repo;
	size_t		len;

	if (loc->path == NULL || loc->path[0] != '/')
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "invalid tbdr.repository: a file:// repository needs an absolute path");
		tbdr_error_hint(err, "Use file:///absolute/path/to/dir.");
		return NULL;
	}
	repo = palloc0(sizeof(FileRepo));
	repo->root = pstrdup(loc->path);
	/* "/" stays "/" (keys then map to "//key", which is fine) */
	len = strlen(repo->root);
	while (len > 1 && repo->root[len - 1] == '/')
		repo->root[--len] = '\0';

	st = palloc0(sizeof(TbdrStorage));
	st->driver = &file_driver;
	st->priv = repo;
	st->description = psprintf("file://%s", repo->root);
	st->server_date = 0;
	return st;
}
