/*-------------------------------------------------------------------------
 * test_cron.c
 *	  Unit tests of cron schedules (cron.c): parsing, and tbdr_cron_next
 *	  across daylight saving time changes, where cron.h promises that every
 *	  wall-clock time fires once: a skipped time at the end of the gap, a
 *	  repeated time at its first occurrence.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/cron.h"
#include "core/manifest.h"
#include "tap.h"
#include "utc.h"

static TbdrCron
cron(const char *spec)
{
	TbdrCron	c;
	TbdrError	err;

	if (!tbdr_cron_parse(spec, &c, &err))
	{
		fprintf(stderr, "bad schedule %s: %s\n", spec, err.message);
		exit(2);
	}
	return c;
}

/* The next fire time of spec after the UTC time after, as UTC text. */
static const char *
next_utc(const char *spec, const char *after)
{
	static char out[64];
	TbdrCron	c = cron(spec);
	time_t		t = tbdr_cron_next(&c, (time_t) utc(after));

	if (t == (time_t) -1)
		return "never";
	tbdr_format_utc((int64) t, out, sizeof(out));
	return out;
}

static void
test_parse(void)
{
	TbdrCron	c;
	TbdrError	err;

	ok(tbdr_cron_parse("*/15 2-4 1,15 jan-mar mon-fri", &c, &err), "a full schedule parses");
	ok(c.minutes == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)), "minute step");
	ok(c.hours == ((1 << 2) | (1 << 3) | (1 << 4)), "hour range");
	ok(c.mdays == ((1 << 1) | (1 << 15)), "day list");
	ok(c.months == ((1 << 1) | (1 << 2) | (1 << 3)), "month names");
	ok(c.wdays == 0x3e, "weekday names");
	ok(!c.mday_star && !c.wday_star, "both day fields restricted");
	ok(tbdr_cron_parse("0 0 * * 7", &c, &err) && c.wdays == 1, "weekday 7 is Sunday");
	ok(tbdr_cron_parse("@daily", &c, &err) && c.minutes == 1 && c.hours == 1 &&
	   c.mday_star && c.wday_star, "@daily");
	ok(!tbdr_cron_parse("61 * * * *", &c, &err) && err.code == TBDR_ERR_CONFIG &&
	   strstr(err.message, "minute") != NULL, "minute 61 is refused, naming the field");
	ok(!tbdr_cron_parse("* * *", &c, &err), "three fields are refused");
	ok(!tbdr_cron_parse("", &c, &err), "an empty schedule is refused");
}

/* One case: in time zone tz, the next fire time of spec after after. */
typedef struct NextCase
{
	const char *tz;
	const char *spec;
	const char *after;
	const char *expected;
	const char *name;
} NextCase;

static const NextCase utc_cases[] = {
	{"UTC", "0 3 * * *", "2026-06-01T03:00:00Z", "2026-06-02T03:00:00Z",
	"strictly after: the fire time itself is not next"},
	{"UTC", "30 * * * *", "2026-06-01T03:10:00Z", "2026-06-01T03:30:00Z", "hourly"},
	{"UTC", "0 0 1,15 * mon", "2026-06-02T00:00:00Z", "2026-06-08T00:00:00Z",
	"day of month or day of week (Vixie cron): Monday 8 June"},
	{"UTC", "0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z",
	"29 February: the next leap year"},
	{"UTC", "0 0 30 2 *", "2026-03-01T00:00:00Z", "never", "30 February: never"},
};

/*
 * Europe/Berlin: 29 March 2026 02:00 -> 03:00, 25 October 03:00 -> 02:00.
 * America/New_York: 8 March 2026 02:00 -> 03:00, 1 November 02:00 -> 01:00.
 */
static const NextCase dst_cases[] = {
	{"Europe/Berlin", "30 2 * * *", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z",
	"spring forward: 02:30 does not exist, it fires at the end of the gap (03:00 CEST)"},
	{"Europe/Berlin", "30 2 * * *", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z",
	"and once: the next is 02:30 CEST the day after"},
	{"Europe/Berlin", "0,15,30,45 2 * * *", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z",
	"several skipped times of the gap fire together at 03:00"},
	{"Europe/Berlin", "0,15,30,45 2 * * *", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z",
	"once: the next is 02:00 CEST the day after"},
	{"Europe/Berlin", "0 3 * * *", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z",
	"03:00 on the spring-forward day is 01:00 UTC"},
	{"Europe/Berlin", "0 1 * * *", "2026-03-28T12:00:00Z", "2026-03-29T00:00:00Z",
	"01:00 before the gap is still CET"},
	{"Europe/Berlin", "30 2 * * *", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z",
	"fall back: 02:30 happens twice, it fires at the first (CEST)"},
	{"Europe/Berlin", "30 2 * * *", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z",
	"and not at the second (CET): the next is the day after"},
	{"Europe/Berlin", "0 * * * *", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z",
	"hourly: the repeated 02:00 does not fire again, the next is 03:00 CET"},
	{"Europe/Berlin", "0 4 * * *", "2026-10-24T12:00:00Z", "2026-10-25T03:00:00Z",
	"04:00 after the change is CET"},
	{"America/New_York", "15 2 * * *", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z",
	"New York spring forward: 02:15 fires at 03:00 EDT"},
	{"America/New_York", "15 2 * * *", "2026-03-08T07:00:00Z", "2026-03-09T06:15:00Z",
	"New York: once"},
	{"America/New_York", "30 1 * * *", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z",
	"New York fall back: 01:30 fires at the first occurrence (EDT)"},
	{"America/New_York", "30 1 * * *", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z",
	"New York: once"},
};

static void
run_cases(const NextCase *cases, int n)
{
	for (int i = 0; i < n; i++)
	{
		setenv("TZ", cases[i].tz, 1);
		tzset();
		is_str(next_utc(cases[i].spec, cases[i].after), cases[i].expected,
			   cases[i].name);
	}
}

int
main(void)
{
	test_parse();
	run_cases(utc_cases, lengthof(utc_cases));
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0 &&
		access("/usr/share/zoneinfo/America/New_York", R_OK) == 0)
		run_cases(dst_cases, lengthof(dst_cases));
	else
		printf("# no time zone data: daylight saving time cases skipped\n");
	return done_testing();
}
