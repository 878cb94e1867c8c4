/*-------------------------------------------------------------------------
 * storage.c
 *	  The generic part of the repository's object store (see storage.h):
 *	  opening the driver named by tbdr.repository, dispatch, and the
 *	  buffer/file helpers, written once on top of the drivers' put and get.
 *
 * Ownership: a driver's open function allocates the TbdrStorage (palloc0)
 * and its description; the driver's close frees its own state (priv), and
 * tbdr_storage_close frees the description and the TbdrStorage itself.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/storage.h"
#include "core/storage_driver.h"

/* Chunk size of the file helpers: bounded memory whatever the object size. */
#define STORAGE_IO_CHUNK	(1024 * 1024)

static uint32 get_file_counter = 0;

TbdrStorage *
tbdr_storage_open(const TbdrConfig *cfg, TbdrError *err)
{
	TbdrRepoLocation loc;
	TbdrStorage *st = NULL;

	memset(&loc, 0, sizeof(loc));
	if (cfg->repository == NULL || cfg->repository[0] == '\0')
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "tbdr.repository is not set");
		tbdr_error_hint(err, "Set tbdr.repository to s3://bucket/prefix or file:///absolute/path "
						"(in postgresql.conf, in the tbdr configuration file or with --set).");
		return NULL;
	}
	if (!tbdr_repo_parse(cfg->repository, &loc, err))
	{
		if (err->code == TBDR_OK)
			tbdr_error_set(err, TBDR_ERR_CONFIG, "invalid tbdr.repository");
		if (err->hint[0] == '\0')
			tbdr_error_hint(err, "tbdr.repository must look like s3://bucket/prefix or file:///absolute/path.");
		return NULL;
	}

	switch (loc.type)
	{
		case TBDR_REPO_S3:
			st = tbdr_storage_s3_open(cfg, &loc, err);
			break;
		case TBDR_REPO_FILE:
			st = tbdr_storage_file_open(cfg, &loc, err);
			break;
		case TBDR_REPO_NONE:
			tbdr_error_set(err, TBDR_ERR_CONFIG, "tbdr.repository is not set");
			tbdr_error_hint(err, "Set tbdr.repository to s3://bucket/prefix or file:///absolute/path.");
			break;
	}
	/* the drivers keep copies; a long-lived server opens storage often */
	if (loc.bucket)
		pfree(loc.bucket);
	if (loc.prefix)
		pfree(loc.prefix);
	if (loc.path)
		pfree(loc.path);
	return st;
}

void
tbdr_storage_close(TbdrStorage *st)
{
	if (st == NULL)
		return;
	st->driver->close(st);
	if (st->description)
		pfree(st->description);
	pfree(st);
}

const char *
tbdr_storage_describe(TbdrStorage *st)
{
	return st->description ? st->description : "(repository)";
}

time_t
tbdr_storage_server_date(TbdrStorage *st)
{
	return st->server_date;
}

/*
 * Keys are relative, '/'-separated, without empty or "." / ".." segments:
 * the file driver maps them to paths, and S3 keys of that shape would not
 * round-trip through a file repository either.
 */
static bool
check_key(TbdrStorage *st, const char *key, TbdrError *err)
{
	const char *p;
	const char *seg;

	if (key == NULL || key[0] == '\0')
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "invalid object key: empty");
		return false;
	}
	if (key[0] == '/')
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "invalid object key \"%s\": it must not start with '/'", key);
		tbdr_error_hint(err, "Keys are relative to the repository root (%s).", tbdr_storage_describe(st));
		return false;
	}
	seg = key;
	for (p = key;; p++)
	{
		if (*p == '/' || *p == '\0')
		{
			size_t		n = p - seg;

			if (n == 0 || (n == 1 && seg[0] == '.') ||
				(n == 2 && seg[0] == '.' && seg[1] == '.'))
			{
				tbdr_error_set(err, TBDR_ERR_INTERNAL,
							   "invalid object key \"%s\": empty, \".\" or \"..\" path segment", key);
				return false;
			}
			if (*p == '\0')
				break;
			seg = p + 1;
		}
	}
	return true;
}

bool
tbdr_storage_put(TbdrStorage *st, const char *key, TbdrReadFn read,
				 void *arg, int64 size_hint, TbdrError *err)
{
	if (!check_key(st, key, err))
		return false;
	return st->driver->put(st, key, read, arg, size_hint, false, NULL, err);
}

bool
tbdr_storage_put_new(TbdrStorage *st, const char *key, TbdrReadFn read,
					 void *arg, int64 size_hint, bool *existed, TbdrError *err)
{
	*existed = false;
	if (!check_key(st, key, err))
		return false;
	return st->driver->put(st, key, read, arg, size_hint, true, existed, err);
}

bool
tbdr_storage_get(TbdrStorage *st, const char *key, int64 offset, int64 length,
				 TbdrWriteFn write, void *arg, TbdrError *err)
{
	if (!check_key(st, key, err))
		return false;
	if (offset < 0 || length < -1)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL,
					   "invalid range of \"%s\": offset " INT64_FORMAT ", length " INT64_FORMAT,
					   key, offset, length);
		return false;
	}
	return st->driver->get(st, key, offset, length, write, arg, err);
}

int
tbdr_storage_head(TbdrStorage *st, const char *key, TbdrObjectInfo *info,
				  TbdrError *err)
{
	if (!check_key(st, key, err))
		return -1;
	return st->driver->head(st, key, info, err);
}

bool
tbdr_storage_delete(TbdrStorage *st, const char *key, TbdrError *err)
{
	if (!check_key(st, key, err))
		return false;
	return st->driver->delete(st, key, err);
}

bool
tbdr_storage_delete_many(TbdrStorage *st, const char *const *keys, int nkeys,
						 TbdrError *err)
{
	int			i;

	if (nkeys <= 0)
		return true;
	for (i = 0; i < nkeys; i++)
	{
		if (!check_key(st, keys[i], err))
			return false;
	}
	return st->driver->delete_many(st, keys, nkeys, err);
}

bool
tbdr_storage_list(TbdrStorage *st, const char *prefix, TbdrListFn fn,
				  void *arg, TbdrError *err)
{
	return st->driver->list(st, prefix ? prefix : "", fn, arg, err);
}

bool
tbdr_storage_cleanup_uploads(TbdrStorage *st, const char *prefix, int *count,
							 TbdrError *err)
{
	if (count)
		*count = 0;
	return st->driver->cleanup_uploads(st, prefix ? prefix : "", count, err);
}

/* ------------------------------------------------------------------------
 * Buffer helpers
 * ------------------------------------------------------------------------
 */

typedef struct BufferSource
{
	const char *data;
	size_t		len;
	size_t		pos;
} BufferSource;

static ssize_t
buffer_read(void *arg, char *buf, size_t len, TbdrError *err)
{
	BufferSource *src = (BufferSource *) arg;
	size_t		n = Min(len, src->len - src->pos);

	if (n > 0)
		memcpy(buf, src->data + src->pos, n);
	src->pos += n;
	return (ssize_t) n;
}

bool
tbdr_storage_put_buffer(TbdrStorage *st, const char *key, const void *data,
						size_t len, TbdrError *err)
{
	BufferSource src;

	src.data = (const char *) data;
	src.len = len;
	src.pos = 0;
	return tbdr_storage_put(st, key, buffer_read, &src, (int64) len, err);
}

bool
tbdr_storage_put_buffer_new(TbdrStorage *st, const char *key, const void *data,
							size_t len, bool *existed, TbdrError *err)
{
	BufferSource src;

	src.data = (const char *) data;
	src.len = len;
	src.pos = 0;
	return tbdr_storage_put_new(st, key, buffer_read, &src, (int64) len,
								existed, err);
}

typedef struct BufferSink
{
	const char *key;
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		max_len;
} BufferSink;

static bool
buffer_write(void *arg, const char *buf, size_t len, TbdrError *err)
{
	BufferSink *sink = (BufferSink *) arg;

	if (len > sink->max_len - sink->len)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object \"%s\" is larger than the %zu bytes expected at most",
					   sink->key, sink->max_len);
		return false;
	}
	/* +1: the result is always NUL-terminated, handy for text objects */
	if (sink->len + len + 1 > sink->cap)
	{
		size_t		newcap = sink->cap ? sink->cap : 8192;

		while (newcap < sink->len + len + 1)
			newcap *= 2;
		if (newcap > sink->max_len + 1)
			newcap = sink->max_len + 1;
#ifdef FRONTEND
		sink->data = sink->data ? repalloc(sink->data, newcap) : palloc(newcap);
#else
		sink->data = sink->data ? repalloc_huge(sink->data, newcap) :
			MemoryContextAllocHuge(CurrentMemoryContext, newcap);
#endif
		sink->cap = newcap;
	}
	memcpy(sink->data + sink->len, buf, len);
	sink->len += len;
	return true;
}

bool
tbdr_storage_get_buffer(TbdrStorage *st, const char *key, size_t max_len,
						char **data, size_t *len, TbdrError *err)
{
	BufferSink sink;

	memset(&sink, 0, sizeof(sink));
	sink.key = key;
	sink.max_len = max_len;
	*data = NULL;
	*len = 0;
	if (!tbdr_storage_get(st, key, 0, -1, buffer_write, &sink, err))
	{
		if (sink.data)
			pfree(sink.data);
		return false;
	}
	if (sink.data == NULL)
		sink.data = palloc(1);
	sink.data[sink.len] = '\0';
	*data = sink.data;
	*len = sink.len;
	return true;
}

/* ------------------------------------------------------------------------
 * File helpers
 * ------------------------------------------------------------------------
 */

typedef struct FileSource
{
	int			fd;
	const char *path;
} FileSource;

static ssize_t
file_read(void *arg, char *buf, size_t len, TbdrError *err)
{
	FileSource *src = (FileSource *) arg;
	ssize_t		n;

	for (;;)
	{
		n = read(src->fd, buf, Min(len, (size_t) STORAGE_IO_CHUNK));
		if (n >= 0)
			return n;
		if (errno != EINTR)
		{
			tbdr_error_errno(err, "could not read file \"%s\"", src->path);
			return -1;
		}
	}
}

bool
tbdr_storage_put_file(TbdrStorage *st, const char *key, const char *path,
					  TbdrError *err)
{
	FileSource src;
	struct stat stbuf;
	bool		ok;

	src.path = path;
	src.fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (src.fd < 0)
	{
		tbdr_error_errno(err, "could not open file \"%s\"", path);
		return false;
	}
	if (fstat(src.fd, &stbuf) < 0)
	{
		tbdr_error_errno(err, "could not stat file \"%s\"", path);
		close(src.fd);
		return false;
	}
	ok = tbdr_storage_put(st, key, file_read, &src,
						  S_ISREG(stbuf.st_mode) ? (int64) stbuf.st_size : -1,
						  err);
	close(src.fd);
	return ok;
}

typedef struct FileSink
{
	int			fd;
	const char *path;
} FileSink;

static bool
file_write(void *arg, const char *buf, size_t len, TbdrError *err)
{
	FileSink   *sink = (FileSink *) arg;

	while (len > 0)
	{
		ssize_t		n = write(sink->fd, buf, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not write file \"%s\"", sink->path);
			return false;
		}
		if (n == 0)
		{
			errno = ENOSPC;
			tbdr_error_errno(err, "could not write file \"%s\"", sink->path);
			return false;
		}
		buf += n;
		len -= n;
	}
	return true;
}

/* fsync a directory; file systems that cannot (EINVAL, EBADF) are fine. */
static bool
fsync_dir(const char *dir, TbdrError *err)
{
	int			fd = open(dir, O_RDONLY | PG_BINARY, 0);

	if (fd < 0)
	{
		tbdr_error_errno(err, "could not open directory \"%s\"", dir);
		return false;
	}
	if (fsync(fd) < 0 && errno != EINVAL && errno != EBADF)
	{
		tbdr_error_errno(err, "could not fsync directory \"%s\"", dir);
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

bool
tbdr_storage_get_file(TbdrStorage *st, const char *key, const char *path,
					  TbdrError *err)
{
	char	   *tmp;
	char	   *dir;
	char	   *slash;
	FileSink	sink;
	bool		ok;

	tmp = psprintf("%s.tmp.%d.%u", path, (int) getpid(), ++get_file_counter);
	dir = pstrdup(path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';

	sink.path = tmp;
	sink.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, 0600);
	if (sink.fd < 0)
	{
		tbdr_error_errno(err, "could not create file \"%s\"", tmp);
		pfree(tmp);
		pfree(dir);
		return false;
	}

	ok = tbdr_storage_get(st, key, 0, -1, file_write, &sink, err);
	if (ok && fsync(sink.fd) < 0)
	{
		tbdr_error_errno(err, "could not fsync file \"%s\"", tmp);
		ok = false;
	}
	if (close(sink.fd) < 0 && ok)
	{
		tbdr_error_errno(err, "could not close file \"%s\"", tmp);
		ok = false;
	}
	if (ok && rename(tmp, path) < 0)
	{
		tbdr_error_errno(err, "could not rename file \"%s\" to \"%s\"", tmp, path);
		ok = false;
	}
	if (!ok)
	{
		/* keep err: the unlink's own failure would only hide the cause */
		int			save_errno = errno;

		unlink(tmp);
		errno = save_errno;
	}
	else if (!fsync_dir(dir, err))
		ok = false;

	pfree(tmp);
	pfree(dir);
	return ok;
}
