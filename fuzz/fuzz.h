/*-------------------------------------------------------------------------
 * fuzz.h
 *	  What the libFuzzer harnesses of fuzz/ share (see docs/DEVELOPING.md, "Fuzzing").
 *
 * Each harness is one parser's entry point, LLVMFuzzerTestOneInput, built
 * with clang's -fsanitize=fuzzer,address,undefined against the frontend
 * core (-DFRONTEND) compiled with the same sanitizers.  An input that makes
 * a sanitizer report, abort, or trip a FUZZ_CHECK is a finding.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_FUZZ_H
#define TBDR_FUZZ_H

#include "core/tbdr_base.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property every accepted input must have: abort (a finding) if not. */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, \
					__FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

/* The input as a NUL-terminated string (palloc'd; may contain NULs). */
static inline char *
fuzz_cstring(const uint8_t *data, size_t size)
{
	char	   *s = palloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static char fuzz_dir[] = "/tmp/tbdr-fuzz-XXXXXX";

static inline void
fuzz_remove_scratch_dir(void)
{
	(void) rmtree(fuzz_dir, true);
}

/* A private scratch directory for the run, removed at a normal exit. */
static inline const char *
fuzz_scratch_dir(void)
{
	static bool made = false;

	if (!made)
	{
		if (mkdtemp(fuzz_dir) == NULL)
		{
			perror("mkdtemp");
			abort();
		}
		atexit(fuzz_remove_scratch_dir);
		made = true;
	}
	return fuzz_dir;
}

/* Write data to path (whole file replaced); abort on failure. */
static inline void
fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE	   *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
	{
		perror(path);
		abort();
	}
}

#endif							/* TBDR_FUZZ_H */
