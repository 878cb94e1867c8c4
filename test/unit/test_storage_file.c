/*-------------------------------------------------------------------------
 * test_storage_file.c
 *	  The file:// storage driver, through the public storage.h interface.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/storage.h"
#include "lib/stringinfo.h"
#include "tap.h"
#include "testfile.h"

static char root[256];

static char *
make_data(size_t len, unsigned seed)
{
	char	   *d = palloc(len + 1);
	uint32		x = seed;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		x = x * 1103515245 + 12345;
		d[i] = (char) (x >> 16);
	}
	return d;
}

static bool
write_local(const char *path, const char *data, size_t len)
{
	FILE	   *f = fopen(path, "wb");
	bool		ok;

	if (f == NULL)
		return false;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

typedef struct Collected
{
	int			n;
	char		keys[32][128];
	int64		sizes[32];
} Collected;

static bool
collect_fn(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	Collected  *c = (Collected *) arg;

	if (c->n < 32)
	{
		strlcpy(c->keys[c->n], info->key, sizeof(c->keys[0]));
		c->sizes[c->n] = info->size;
	}
	c->n++;
	return true;
}

static void
list_keys(TbdrStorage *st, const char *prefix, Collected *c, bool *ok)
{
	TbdrError	err;

	memset(c, 0, sizeof(*c));
	*ok = tbdr_storage_list(st, prefix, collect_fn, c, &err);
	if (!*ok)
		diag(err.message);
}

/* joined keys of a listing, for compact comparisons */
static char *
joined(Collected *c)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < c->n && i < 32; i++)
		appendStringInfo(&buf, "%s%s", i ? "," : "", c->keys[i]);
	return buf.data;
}

typedef struct RangeSink
{
	StringInfoData buf;
} RangeSink;

static bool
range_write(void *arg, const char *data, size_t len, TbdrError *err)
{
	appendBinaryStringInfo(&((RangeSink *) arg)->buf, data, len);
	return true;
}

static void
round_trip(TbdrStorage *st, size_t len)
{
	TbdrError	err;
	char	   *data = make_data(len, (unsigned) len + 7);
	char	   *got;
	size_t		got_len;
	char		name[128];
	char		key[64];
	char		src[300];
	char		dst[300];

	/* put_buffer -> get_buffer */
	snprintf(key, sizeof(key), "rt/buf-%zu", len);
	snprintf(name, sizeof(name), "put_buffer %zu bytes", len);
	ok(tbdr_storage_put_buffer(st, key, data, len, &err), name);
	snprintf(name, sizeof(name), "get_buffer %zu bytes", len);
	ok(tbdr_storage_get_buffer(st, key, len + 1, &got, &got_len, &err) &&
	   got_len == len && memcmp(got, data, len) == 0, name);

	/* put_file -> get_file */
	snprintf(key, sizeof(key), "rt/file-%zu", len);
	snprintf(src, sizeof(src), "%s-local-src", root);
	snprintf(dst, sizeof(dst), "%s-local-dst", root);
	write_local(src, data, len);
	snprintf(name, sizeof(name), "put_file %zu bytes", len);
	ok(tbdr_storage_put_file(st, key, src, &err), name);
	unlink(dst);
	snprintf(name, sizeof(name), "get_file %zu bytes, byte-identical", len);
	{
		bool		r = tbdr_storage_get_file(st, key, dst, &err);
		char	   *back = r ? test_read_file(dst, &got_len) : NULL;

		if (!r)
			diag(err.message);
		ok(back && got_len == len && memcmp(back, data, len) == 0, name);
	}
	unlink(src);
	unlink(dst);
}

/* Does a directory hold a file whose name contains needle? */
static bool
dir_has(const char *dir, const char *needle)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	bool		found = false;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
	{
		if (strstr(de->d_name, needle))
			found = true;
	}
	closedir(d);
	return found;
}

int
main(int argc, char **argv)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrStorage *st;
	TbdrObjectInfo info;
	Collected	c;
	bool		lok;
	char	   *uri;
	char	   *got;
	size_t		got_len;
	char		path[512];
	int			count;

	snprintf(root, sizeof(root), "/tmp/tbdr-test-storage-file-%d", (int) getpid());
	if (mkdir(root, 0700) != 0)
	{
		perror(root);
		return 1;
	}

	/* opening: unset and malformed repository */
	tbdr_config_set_defaults(&cfg);
	st = tbdr_storage_open(&cfg, &err);
	ok(st == NULL && err.code == TBDR_ERR_CONFIG &&
	   strstr(err.message, "tbdr.repository") && err.hint[0],
	   "open with tbdr.repository unset fails with a hint");
	ok(!tbdr_config_set(&cfg, "repository", "ftp://x/y", &err) ||
	   tbdr_storage_open(&cfg, &err) == NULL,
	   "malformed tbdr.repository refused");

	uri = psprintf("file://%s", root);
	tbdr_config_set_defaults(&cfg);
	if (!tbdr_config_set(&cfg, "repository", uri, &err))
		diag(err.message);
	st = tbdr_storage_open(&cfg, &err);
	ok(st != NULL, "open file:// repository");
	if (st == NULL)
	{
		diag(err.message);
		return done_testing();
	}
	is_str(tbdr_storage_describe(st), uri, "describe");
	is_int(tbdr_storage_server_date(st), 0, "no server date for file://");

	/* round trips */
	round_trip(st, 0);
	round_trip(st, 1);
	round_trip(st, 3 * 1024 * 1024);

	/* get_buffer's max_len */
	ok(!tbdr_storage_get_buffer(st, "rt/buf-1", 0, &got, &got_len, &err),
	   "get_buffer refuses an object over max_len");

	/* ranged get */
	{
		char	   *data = make_data(100000, 42);
		RangeSink	sink;
		bool		r;

		tbdr_storage_put_buffer(st, "range/obj", data, 100000, &err);
		initStringInfo(&sink.buf);
		r = tbdr_storage_get(st, "range/obj", 1000, 5000, range_write, &sink, &err);
		ok(r && sink.buf.len == 5000 && memcmp(sink.buf.data, data + 1000, 5000) == 0,
		   "ranged get: offset 1000, length 5000");
		resetStringInfo(&sink.buf);
		r = tbdr_storage_get(st, "range/obj", 99990, -1, range_write, &sink, &err);
		ok(r && sink.buf.len == 10 && memcmp(sink.buf.data, data + 99990, 10) == 0,
		   "ranged get: offset to the end");
		resetStringInfo(&sink.buf);
		r = tbdr_storage_get(st, "range/obj", 99990, 20, range_write, &sink, &err);
		ok(!r, "ranged get beyond the end fails");
	}

	/* head, missing objects */
	is_int(tbdr_storage_head(st, "rt/buf-1", &info, &err), 1, "head of an existing object");
	is_int(info.size, 1, "head gives the size");
	ok(info.mtime > 0, "head gives the mtime");
	is_int(tbdr_storage_head(st, "no/such/key", &info, &err), 0, "head of a missing object: 0");
	ok(!tbdr_storage_get_buffer(st, "no/such/key", 100, &got, &got_len, &err) &&
	   err.code == TBDR_ERR_NOT_FOUND, "get of a missing object: NOT_FOUND");
	ok(tbdr_storage_delete(st, "no/such/key", &err), "delete of a missing object succeeds");
	ok(tbdr_storage_delete(st, "rt/buf-1", &err) &&
	   tbdr_storage_head(st, "rt/buf-1", NULL, &err) == 0, "delete removes the object");

	/* write once: the second store finds the key taken and changes nothing */
	{
		bool		existed = true;
		int			left = -1;

		ok(tbdr_storage_put_buffer_new(st, "once/a", "first", 5, &existed, &err) && !existed,
		   "put_new of a free key stores it");
		ok(tbdr_storage_put_buffer_new(st, "once/a", "second!", 7, &existed, &err) && existed,
		   "put_new of a taken key: existed");
		ok(tbdr_storage_get_buffer(st, "once/a", 100, &got, &got_len, &err) &&
		   got_len == 5 && memcmp(got, "first", 5) == 0, "and the first object is unchanged");
		ok(tbdr_storage_cleanup_uploads(st, "once/", &left, &err) && left == 0,
		   "no temporary file left behind");
		tbdr_storage_delete(st, "once/a", &err);
	}

	/* list: prefix and order (byte order of whole keys, not per directory) */
	tbdr_storage_put_buffer(st, "l/b", "1", 1, &err);
	tbdr_storage_put_buffer(st, "l/a/z", "22", 2, &err);
	tbdr_storage_put_buffer(st, "l/a.x", "333", 3, &err);
	tbdr_storage_put_buffer(st, "l/a/b/c", "4444", 4, &err);
	tbdr_storage_put_buffer(st, "lz", "5", 1, &err);
	list_keys(st, "l/", &c, &lok);
	ok(lok, "list l/");
	is_str(joined(&c), "l/a.x,l/a/b/c,l/a/z,l/b", "list l/: keys in byte order");
	ok(c.sizes[1] == 4 && c.sizes[0] == 3, "list gives sizes");
	list_keys(st, "l/a", &c, &lok);
	is_str(joined(&c), "l/a.x,l/a/b/c,l/a/z", "list with a partial-segment prefix");
	list_keys(st, "l", &c, &lok);
	is_str(joined(&c), "l/a.x,l/a/b/c,l/a/z,l/b,lz", "list with prefix l");
	list_keys(st, "nothing/", &c, &lok);
	ok(lok && c.n == 0, "list of an absent prefix: empty, no error");
	list_keys(st, "", &c, &lok);
	ok(lok, "list of everything");
	/* rt/: 6 round-trip objects less rt/buf-1; range/obj; l/ (4) and lz */
	is_int(c.n, 11, "list of everything: count");

	/* delete_many */
	{
		const char *keys[] = {"l/b", "l/a/z", "l/missing"};

		ok(tbdr_storage_delete_many(st, keys, 3, &err), "delete_many (one missing)");
		list_keys(st, "l/", &c, &lok);
		is_str(joined(&c), "l/a.x,l/a/b/c", "delete_many removed them");
	}

	/* deleting the last object of a directory removes the empty directories */
	ok(tbdr_storage_put_buffer(st, "d1/d2/x", "x", 1, &err) &&
	   tbdr_storage_put_buffer(st, "d1/y", "y", 1, &err), "put d1/d2/x and d1/y");
	ok(tbdr_storage_delete(st, "d1/d2/x", &err), "delete d1/d2/x");
	snprintf(path, sizeof(path), "%s/d1/d2", root);
	ok(access(path, F_OK) != 0, "empty directory d1/d2 removed");
	snprintf(path, sizeof(path), "%s/d1", root);
	ok(access(path, F_OK) == 0, "directory d1 (not empty) kept");
	ok(tbdr_storage_delete(st, "d1/y", &err) && access(path, F_OK) != 0,
	   "delete of d1/y removes d1");
	ok(access(root, F_OK) == 0, "the repository directory itself stays");
	ok(tbdr_storage_put_buffer(st, "d1/d2/x", "x", 1, &err) &&
	   tbdr_storage_delete(st, "d1/d2/x", &err), "put and delete again");

	/* bad keys */
	ok(!tbdr_storage_put_buffer(st, "../escape", "x", 1, &err), "put of ../escape refused");
	ok(!tbdr_storage_put_buffer(st, "a/../../escape", "x", 1, &err), "put of a/../../escape refused");
	ok(!tbdr_storage_put_buffer(st, "/abs", "x", 1, &err), "put of /abs refused");
	ok(!tbdr_storage_put_buffer(st, "a//b", "x", 1, &err), "put of a//b refused");
	ok(!tbdr_storage_put_buffer(st, "a/", "x", 1, &err), "put of a/ refused");
	ok(tbdr_storage_get_buffer(st, "..", 10, &got, &got_len, &err) == false &&
	   err.code != TBDR_ERR_NOT_FOUND, "get of .. refused");
	ok(tbdr_storage_head(st, "x/../y", NULL, &err) < 0, "head of x/../y refused");
	ok(!tbdr_storage_list(st, "../", collect_fn, &c, &err), "list of ../ refused");
	snprintf(path, sizeof(path), "/tmp/escape-%d", (int) getpid());
	ok(access(path, F_OK) != 0, "nothing written outside the repository");

	/* temporary files: ignored by list, removed by cleanup_uploads */
	snprintf(path, sizeof(path), "%s/l/a/obj.tmp.2147483646.1", root);
	write_local(path, "partial", 7);
	list_keys(st, "l/", &c, &lok);
	is_str(joined(&c), "l/a.x,l/a/b/c", "list skips temporary files");
	count = -1;
	ok(tbdr_storage_cleanup_uploads(st, "l/", &count, &err), "cleanup_uploads");
	is_int(count, 1, "cleanup_uploads removed one temporary file");
	ok(access(path, F_OK) != 0, "leftover temporary file is gone");
	snprintf(path, sizeof(path), "%s/l/a", root);
	ok(!dir_has(path, ".tmp."), "no temporary file left by puts");
	ok(!dir_has(root, ".tmp."), "no temporary file left in the root");

	/* a missing repository directory is reported plainly */
	{
		TbdrConfig	cfg2;
		TbdrStorage *st2;
		char	   *uri2 = psprintf("file://%s/does-not-exist", root);

		tbdr_config_set_defaults(&cfg2);
		tbdr_config_set(&cfg2, "repository", uri2, &err);
		st2 = tbdr_storage_open(&cfg2, &err);
		ok(st2 && !tbdr_storage_list(st2, "", collect_fn, &c, &err) &&
		   strstr(err.message, "does-not-exist") && err.hint[0],
		   "list of a missing repository directory fails, naming it");
		ok(st2 && !tbdr_storage_put_buffer(st2, "k", "x", 1, &err),
		   "put into a missing repository directory fails");
		if (st2)
			tbdr_storage_close(st2);
	}

	tbdr_storage_close(st);

	/* clean up the test directory */
	{
		char	   *cmd = psprintf("rm -rf '%s'", root);

		if (system(cmd) != 0)
			diag("could not remove the test directory");
	}
	return done_testing();
}
