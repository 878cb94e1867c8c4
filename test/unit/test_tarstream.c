/*-------------------------------------------------------------------------
 * test_tarstream.c
 *	  Unit tests of the tar reader's pax extended headers (tarstream.c):
 *	  what the writer produces reads back, and malformed records found by
 *	  fuzzing (fuzz/corpus/tar/regress-pax-*) are errors, not out-of-bounds
 *	  reads or undefined conversions.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "core/tarstream.h"
#include "tap.h"

typedef struct Got
{
	char		path[300];
	int64		mtime;
	int			entries;
} Got;

static bool
on_start(void *arg, const TbdrTarEntry *e, TbdrError *err)
{
	Got		   *g = arg;

	strlcpy(g->path, e->path, sizeof(g->path));
	g->mtime = e->mtime;
	g->entries++;
	return true;
}

/*
 * A tar stream of one empty file with a 150-byte name (so a pax header with
 * a path record), its pax body replaced by records (same length: the
 * header's checksum does not cover the body) padded with a comment record.
 */
static StringInfo
stream_with_pax(const char *records)
{
	StringInfo	out = makeStringInfo();
	TbdrTarEntry e = {0};
	char		path[151];
	char	   *body;
	int64		size;
	size_t		fill;
	size_t		rlen = strlen(records);

	memset(path, 'p', 150);
	path[150] = '\0';
	e.path = path;
	e.type = TBDR_TAR_FILE;
	e.mode = 0600;
	e.mtime = 1764036000;
	tbdr_tar_write_header(out, &e);
	tbdr_tar_write_end(out);

	/* the pax header's size field (octal, at 124) and its body after it */
	size = strtol(out->data + 124, NULL, 8);
	body = out->data + TBDR_TAR_BLOCK;
	if (rlen == 0)
		return out;
	fill = size - rlen;
	if (fill < 12)
	{
		printf("# records too long for the pax body (%lld bytes)\n", (long long) size);
		exit(2);
	}
	memcpy(body, records, rlen);
	/* "NNN c=000\n": NNN counts the whole record, itself included */
	{
		int			ndigits = fill >= 100 ? 3 : 2;

		snprintf(body + rlen, fill + 1, "%d c=%0*d\n", (int) fill,
				 (int) fill - ndigits - 4, 0);
	}
	return out;
}

static bool
read_stream(StringInfo s, Got *g, TbdrError *err)
{
	TbdrTarCallbacks cb = {on_start, NULL, NULL, g};
	TbdrTarReader *r = tbdr_tar_reader_create(&cb);
	bool		ok;

	memset(g, 0, sizeof(*g));
	tbdr_error_clear(err);
	ok = tbdr_tar_reader_write(r, s->data, s->len, err) &&
		tbdr_tar_reader_finish(r, err);
	tbdr_tar_reader_free(r);
	return ok;
}

static void
refused(const char *records, const char *what, const char *name)
{
	Got			g;
	TbdrError	err;
	const char *colon;

	ok(!read_stream(stream_with_pax(records), &g, &err) && g.entries == 0, name);
	colon = strstr(err.message, ": ");
	ok(strncmp(err.message, "invalid tar stream at byte ", 27) == 0 && colon &&
	   strcmp(colon + 2, what) == 0, "  with a clear error");
	if (colon == NULL || strcmp(colon + 2, what) != 0)
		printf("#   got: '%s'\n", err.message);
}

int
main(void)
{
	Got			g;
	TbdrError	err;

	ok(read_stream(stream_with_pax(""), &g, &err) && g.entries == 1 &&
	   strlen(g.path) == 150 && g.mtime == 1764036000,
	   "the writer's pax header reads back (path, mtime)");
	ok(read_stream(stream_with_pax("22 mtime=1764036001.5\n"), &g, &err) &&
	   g.mtime == 1764036001, "a pax mtime with a fraction is read (fraction dropped)");
	if (err.message[0])
		diag(err.message);

	refused("\n\n\n3 \n", "bad pax record length",
			"a record length after white space is refused (was an out-of-bounds read)");
	refused("+9 path=a\n", "bad pax record length", "a signed record length is refused");
	refused("3 \n", "bad pax record length", "a record too short for a key is refused");
	refused("99999999999999999999999 x=y\n", "bad pax record length",
			"a record length that does not fit is refused");
	refused("18 mtime=1e300000\n", "bad pax mtime",
			"an mtime out of range is refused (was an undefined conversion)");
	refused("32 size=99999999999999999999999\n", "bad pax size",
			"a size that does not fit is refused");
	refused("11 size=-5\n", "bad pax size", "a negative size is refused");
	refused("11 path=a\n", "pax record does not end in a newline",
			"a record whose length misses its newline is refused");
	return done_testing();
}
