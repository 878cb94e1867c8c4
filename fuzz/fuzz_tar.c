/*-------------------------------------------------------------------------
 * fuzz_tar.c
 *	  Fuzz the tar stream reader (src/core/tarstream.c): ustar headers, pax
 *	  extended headers, GNU long names, padding and the end marker.
 *
 * Input: one byte choosing how the stream is cut into pieces (0: whole; n:
 * pieces of 4n bytes, to reach every state boundary), then the stream.
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include "core/tarstream.h"

typedef struct Seen
{
	int64		data_bytes;
	int64		expected;
	bool		in_entry;
} Seen;

static bool
on_start(void *arg, const TbdrTarEntry *e, TbdrError *err)
{
	Seen	   *s = arg;

	FUZZ_CHECK(!s->in_entry);
	FUZZ_CHECK(e->path != NULL && e->path[0] != '\0');
	FUZZ_CHECK(e->size >= 0);
	FUZZ_CHECK(e->type != TBDR_TAR_SYMLINK || e->linkname != NULL);
	/* read the strings whole, so that ASan sees a missing terminator */
	(void) strlen(e->path);
	if (e->linkname)
		(void) strlen(e->linkname);
	s->in_entry = true;
	s->data_bytes = 0;
	s->expected = e->size;
	return true;
}

static bool
on_data(void *arg, const char *data, size_t len, TbdrError *err)
{
	Seen	   *s = arg;
	volatile char sink = 0;

	(void) sink;

	FUZZ_CHECK(s->in_entry);
	for (size_t i = 0; i < len; i++)
		sink ^= data[i];
	s->data_bytes += len;
	FUZZ_CHECK(s->data_bytes <= s->expected);
	return true;
}

static bool
on_end(void *arg, TbdrError *err)
{
	Seen	   *s = arg;

	FUZZ_CHECK(s->in_entry && s->data_bytes == s->expected);
	s->in_entry = false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TbdrTarCallbacks cb = {on_start, on_data, on_end, NULL};
	TbdrTarReader *r;
	TbdrError	err;
	Seen		seen = {0};
	size_t		piece;
	bool		ok = true;

	if (size < 1)
		return 0;
	piece = data[0] ? (size_t) data[0] * 4 : size;
	data++;
	size--;

	cb.arg = &seen;
	tbdr_error_clear(&err);
	r = tbdr_tar_reader_create(&cb);
	for (size_t off = 0; ok && off < size; off += piece)
		ok = tbdr_tar_reader_write(r, (const char *) data + off,
								   Min(piece, size - off), &err);
	if (ok)
		ok = tbdr_tar_reader_finish(r, &err);
	FUZZ_CHECK(ok || err.message[0] != '\0');
	tbdr_tar_reader_free(r);
	return 0;
}
