/*-------------------------------------------------------------------------
 * tap.h
 *	  A minimal TAP producer for the core's C unit tests (run by prove).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_TAP_H
#define TBDR_TAP_H

#include <stdio.h>
#include <string.h>

static int	tap_count = 0;
static int	tap_failed = 0;

static inline void
tap_ok(int cond, const char *name)
{
	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_count, name);
	fflush(stdout);
}

#define ok(cond, name) tap_ok((cond) ? 1 : 0, (name))

static inline void
tap_is_str(const char *got, const char *expected, const char *name)
{
	int			same = (got && expected) ? strcmp(got, expected) == 0 : got == expected;

	tap_ok(same, name);
	if (!same)
		printf("#   got:      '%s'\n#   expected: '%s'\n",
			   got ? got : "(null)", expected ? expected : "(null)");
}

#define is_str(got, expected, name) tap_is_str((got), (expected), (name))

static inline void
tap_is_int(long long got, long long expected, const char *name)
{
	tap_ok(got == expected, name);
	if (got != expected)
		printf("#   got: %lld expected: %lld\n", got, expected);
}

#define is_int(got, expected, name) tap_is_int((got), (expected), (name))

static inline void
diag(const char *msg)
{
	printf("# %s\n", msg);
}

/* Call at the end of main: prints the plan and returns the exit code. */
static inline int
done_testing(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif							/* TBDR_TAP_H */
