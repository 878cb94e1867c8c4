/*-------------------------------------------------------------------------
 * fuzz_cron.c
 *	  Fuzz the backup schedule parser and its next-fire-time computation
 *	  (src/core/cron.c), in a time zone with daylight saving time.
 *
 * Property: the next fire time of a schedule that parses is after the time
 * it is computed from (or -1: never), and the one after it is later still.
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include <time.h>

#include "core/cron.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a DST change (2026-03-29 01:00 UTC), a leap day, a year's end */
	static const time_t from[] = {1774745400, 1709164800, 1798761540};
	char	   *spec = fuzz_cstring(data, size);
	TbdrCron	cron;
	TbdrError	err;

	tbdr_error_clear(&err);
	if (tbdr_cron_parse(spec, &cron, &err))
	{
		for (int i = 0; i < lengthof(from); i++)
		{
			time_t		next = tbdr_cron_next(&cron, from[i]);

			FUZZ_CHECK(next == (time_t) -1 || next > from[i]);
			if (next != (time_t) -1)
			{
				time_t		after = tbdr_cron_next(&cron, next);

				FUZZ_CHECK(after == (time_t) -1 || after > next);
			}
		}
	}
	else
		FUZZ_CHECK(err.message[0] != '\0');
	pfree(spec);
	return 0;
}
