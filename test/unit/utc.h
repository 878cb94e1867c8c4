/*-------------------------------------------------------------------------
 * utc.h
 *	  For unit tests: a UTC time written as text ("2026-10-02T02:00:00Z").
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_TEST_UTC_H
#define TBDR_TEST_UTC_H

#include <stdio.h>
#include <stdlib.h>

#include "core/manifest.h"

/* Seconds since the epoch of iso; exits on a typing error in a test. */
static inline int64
utc(const char *iso)
{
	int64		t;

	if (!tbdr_parse_utc(iso, &t))
	{
		fprintf(stderr, "bad time %s\n", iso);
		exit(2);
	}
	return t;
}

#endif							/* TBDR_TEST_UTC_H */
