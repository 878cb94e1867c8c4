/*-------------------------------------------------------------------------
 * cron.h
 *	  Five-field cron schedules (tbdr.backup_schedule) and their next fire
 *	  time in local time.
 *
 * Syntax: "minute hour day-of-month month day-of-week", each field "*", a
 * number, a range "a-b", a step "*\/n" or "a-b/n" or "a/n", or a list of
 * those separated by commas.  Months and weekdays may be given by their
 * English three-letter names (jan..dec, sun..sat, any case); weekday 0 and 7
 * are Sunday.  As in Vixie cron, when both day-of-month and day-of-week are
 * restricted (do not start with '*') a day matches if either matches.
 * Macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight),
 * @hourly.
 *
 * Local time is the C library's (TZ environment variable, else
 * /etc/localtime); the server sets TZ to its timezone setting.
 *
 * Daylight saving time: a schedule names wall-clock times, and each one
 * fires once, at the first instant the wall clock shows that time or later:
 *	 - times skipped when clocks go forward (e.g. 02:30 on the spring-forward
 *	   night in Europe) fire once, at the end of the gap (03:00); several
 *	   skipped times of the same gap fire together, once;
 *	 - times repeated when clocks go back (01:30 twice) fire once, at the
 *	   first occurrence.
 * So a daily backup happens exactly once on both transition days.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_CRON_H
#define TBDR_CRON_H

#include <time.h>

#include "core/error.h"

typedef struct TbdrCron
{
	uint64		minutes;		/* bit i: minute i (0..59) */
	uint32		hours;			/* bit i: hour i (0..23) */
	uint32		mdays;			/* bit i: day i (1..31) */
	uint32		months;			/* bit i: month i (1..12) */
	uint32		wdays;			/* bit i: weekday i (0..6, 0 = Sunday) */
	bool		mday_star;		/* day-of-month field starts with '*' */
	bool		wday_star;
} TbdrCron;

/*
 * Parse a schedule.  false with err set (TBDR_ERR_CONFIG, naming the field
 * and what is allowed) if invalid.  An empty string is invalid here;
 * callers treat "" as "disabled" before parsing.
 */
extern bool tbdr_cron_parse(const char *spec, TbdrCron *cron, TbdrError *err);

/*
 * The first fire time strictly after 'after' (local time rules above), or
 * (time_t) -1 if the schedule never fires within the next 8 years (e.g.
 * "0 0 30 2 *").
 */
extern time_t tbdr_cron_next(const TbdrCron *cron, time_t after);

#endif							/* TBDR_CRON_H */
