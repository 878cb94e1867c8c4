/*-------------------------------------------------------------------------
 * testfile.h
 *	  Reading a whole local file, for the core's C unit tests.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_TESTFILE_H
#define TBDR_TESTFILE_H

#include <stdio.h>

#include "lib/stringinfo.h"

/* The file's bytes (palloc'd, NUL-terminated) and length, or NULL. */
static inline char *
test_read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	StringInfoData buf;
	char		chunk[65536];
	size_t		n;

	if (f == NULL)
		return NULL;
	initStringInfo(&buf);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryStringInfo(&buf, chunk, n);
	fclose(f);
	if (len)
		*len = buf.len;
	return buf.data;
}

#endif							/* TBDR_TESTFILE_H */
