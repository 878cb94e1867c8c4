/*-------------------------------------------------------------------------
 * tarstream.h
 *	  Tar streams (POSIX ustar with pax extended headers): writing entry
 *	  headers for backup parts, and reading a stream back for restore.
 *
 * The writer only formats headers and padding; callers stream the file data
 * between them, so nothing is buffered here.  A pax extended header ("x")
 * precedes an entry when its name does not fit ustar's name/prefix fields
 * (or is not plain ASCII), when its link target is longer than 100 bytes,
 * or when its size does not fit 11 octal digits (8 GiB and more), so any
 * tar (GNU tar, bsdtar, Python's tarfile) reads the parts.
 *
 * The reader is push-based: feed it bytes in pieces of any size; it calls
 * back at each entry's start, with each piece of its data, and at its end.
 * It checks header checksums and understands pax "x" (path, linkpath,
 * size, mtime) and GNU long names ("L", "K"); global headers ("g") are
 * skipped.  A stream that ends in the middle of an entry is an error at
 * tbdr_tar_reader_finish.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_TARSTREAM_H
#define TBDR_TARSTREAM_H

#include "core/error.h"
#include "lib/stringinfo.h"

#define TBDR_TAR_BLOCK 512

typedef enum TbdrTarType
{
	TBDR_TAR_FILE = '0',
	TBDR_TAR_SYMLINK = '2',
	TBDR_TAR_DIR = '5'
} TbdrTarType;

typedef struct TbdrTarEntry
{
	const char *path;			/* no trailing '/' for directories */
	TbdrTarType type;
	int64		size;			/* 0 unless a file */
	int			mode;			/* permission bits */
	int64		mtime;			/* Unix seconds */
	const char *linkname;		/* symlinks; else NULL */
} TbdrTarEntry;

/*
 * Append the header(s) of an entry to out (a pax header first if needed).
 * The caller then writes exactly e->size bytes of data followed by
 * tbdr_tar_padding(e->size) zero bytes.
 */
extern void tbdr_tar_write_header(StringInfo out, const TbdrTarEntry *e);

/* Zero bytes needed after size bytes of data to reach a block boundary. */
static inline size_t
tbdr_tar_padding(int64 size)
{
	return (size_t) ((TBDR_TAR_BLOCK - (size % TBDR_TAR_BLOCK)) % TBDR_TAR_BLOCK);
}

/* Append the end-of-archive marker (two zero blocks). */
extern void tbdr_tar_write_end(StringInfo out);

/* ---- reader ---- */

typedef struct TbdrTarCallbacks
{
	/* An entry starts; data follows (files). false with err set to stop. */
	bool		(*entry_start) (void *arg, const TbdrTarEntry *e, TbdrError *err);
	/* A piece of the current file's data, in order. */
	bool		(*entry_data) (void *arg, const char *data, size_t len,
							   TbdrError *err);
	/* The current entry's data is complete. */
	bool		(*entry_end) (void *arg, TbdrError *err);
	void	   *arg;
} TbdrTarCallbacks;

typedef struct TbdrTarReader TbdrTarReader;

extern TbdrTarReader *tbdr_tar_reader_create(const TbdrTarCallbacks *cb);
/* Feed stream bytes. */
extern bool tbdr_tar_reader_write(TbdrTarReader *r, const char *data,
								  size_t len, TbdrError *err);
/* End of stream: false if it ended inside an entry or before the marker. */
extern bool tbdr_tar_reader_finish(TbdrTarReader *r, TbdrError *err);
extern void tbdr_tar_reader_free(TbdrTarReader *r);

#endif							/* TBDR_TARSTREAM_H */
