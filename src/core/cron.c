/*-------------------------------------------------------------------------
 * cron.c
 *	  Five-field cron schedules (see cron.h).
 *
 * The next fire time is found in two steps: the next matching wall-clock
 * time is searched on a naive calendar (struct tm normalized with timegm(),
 * so no DST), and each candidate is mapped to the first instant whose local
 * wall clock shows it or later (mktime() with both DST flags, and a
 * minute-by-minute search when the time falls into a DST gap).  That
 * mapping is monotone, so the first candidate mapping strictly after
 * 'after' is the answer; starting the search three hours before 'after'
 * covers wall-clock times repeated when clocks go back.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <ctype.h>
#include <time.h>

#include "core/cron.h"

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const wday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

typedef struct FieldDef
{
	const char *what;
	int			lo;
	int			hi;
	const char *const *names;	/* names[i] is value lo + i */
} FieldDef;

static const FieldDef fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day of month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day of week", 0, 7, wday_names},
};

static bool
field_error(TbdrError *err, const FieldDef *f, const char *text, const char *why)
{
	tbdr_error_set(err, TBDR_ERR_CONFIG,
				   "invalid cron schedule: %s field \"%s\": %s",
				   f->what, text, why);
	tbdr_error_hint(err, "Use five fields \"minute hour day-of-month month day-of-week\", e.g. \"0 2 * * *\" (%s is %d-%d).",
					f->what, f->lo, f->hi);
	return false;
}

/* A number or a name at *p; advances *p. */
static bool
parse_value(const char **p, const FieldDef *f, int *v)
{
	const char *s = *p;

	if (isdigit((unsigned char) *s))
	{
		long		n = 0;

		while (isdigit((unsigned char) *s))
		{
			n = n * 10 + (*s - '0');
			if (n > 1000)
				return false;
			s++;
		}
		*v = (int) n;
		*p = s;
		return true;
	}
	if (f->names && isalpha((unsigned char) s[0]) &&
		isalpha((unsigned char) s[1]) && isalpha((unsigned char) s[2]) &&
		!isalpha((unsigned char) s[3]))
	{
		for (int i = 0; f->names[i]; i++)
			if (pg_strncasecmp(s, f->names[i], 3) == 0)
			{
				*v = (f == &fields[3] ? 1 : 0) + i;
				*p = s + 3;
				return true;
			}
	}
	return false;
}

/* One field into a bit set (bit i = value i). */
static bool
parse_field(const char *text, const FieldDef *f, uint64 *bits, bool *star,
			TbdrError *err)
{
	const char *p = text;

	*bits = 0;
	*star = (text[0] == '*');
	for (;;)
	{
		int			lo,
					hi,
					step = 1;

		if (*p == '*')
		{
			lo = f->lo;
			hi = f->hi;
			p++;
		}
		else
		{
			if (!parse_value(&p, f, &lo))
				return field_error(err, f, text, "expected a number, a name, '*' or a range");
			hi = lo;
			if (*p == '-')
			{
				p++;
				if (!parse_value(&p, f, &hi))
					return field_error(err, f, text, "expected the end of a range");
			}
			else if (*p == '/')
				hi = f->hi;		/* "a/n" means a-max/n */
		}
		if (*p == '/')
		{
			int			s;

			p++;
			if (!isdigit((unsigned char) *p) || !parse_value(&p, &fields[0], &s) ||
				s < 1)
				return field_error(err, f, text, "a step must be a positive number");
			step = s;
		}
		if (lo < f->lo || hi > f->hi || lo > f->hi || hi < f->lo)
			return field_error(err, f, text, "value out of range");
		if (lo > hi)
			return field_error(err, f, text, "range runs backwards");
		for (int v = lo; v <= hi; v += step)
			*bits |= UINT64CONST(1) << v;
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p != '\0')
			return field_error(err, f, text, "unexpected character");
		break;
	}
	return true;
}

bool
tbdr_cron_parse(const char *spec, TbdrCron *cron, TbdrError *err)
{
	char	   *copy;
	char	   *tok[6];
	int			n = 0;
	uint64		bits[5];
	bool		star[5];
	static const struct
	{
		const char *name;
		const char *expansion;
	}			macros[] = {
		{"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
		{"@monthly", "0 0 1 * *"},
		{"@weekly", "0 0 * * 0"},
		{"@daily", "0 0 * * *"},
		{"@midnight", "0 0 * * *"},
		{"@hourly", "0 * * * *"},
	};

	while (isspace((unsigned char) *spec))
		spec++;
	if (spec[0] == '@')
	{
		size_t		len = strcspn(spec, " \t\r\n");

		for (int i = 0; i < lengthof(macros); i++)
			if (strlen(macros[i].name) == len &&
				pg_strncasecmp(spec, macros[i].name, len) == 0 &&
				spec[len + strspn(spec + len, " \t\r\n")] == '\0')
				return tbdr_cron_parse(macros[i].expansion, cron, err);
		tbdr_error_set(err, TBDR_ERR_CONFIG, "invalid cron schedule \"%s\": unknown macro", spec);
		tbdr_error_hint(err, "Known macros: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly.");
		return false;
	}

	copy = pstrdup(spec);
	for (char *p = strtok(copy, " \t\r\n"); p; p = strtok(NULL, " \t\r\n"))
	{
		if (n == 5)
		{
			n++;
			break;
		}
		tok[n++] = p;
	}
	if (n != 5)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "invalid cron schedule \"%s\": expected 5 fields, found %s",
					   spec, n > 5 ? "more" : psprintf("%d", n));
		tbdr_error_hint(err, "Use \"minute hour day-of-month month day-of-week\", e.g. \"0 2 * * *\"; an empty schedule disables scheduled backups.");
		pfree(copy);
		return false;
	}
	for (int i = 0; i < 5; i++)
	{
		if (!parse_field(tok[i], &fields[i], &bits[i], &star[i], err))
		{
			pfree(copy);
			return false;
		}
	}
	pfree(copy);

	memset(cron, 0, sizeof(*cron));
	cron->minutes = bits[0];
	cron->hours = (uint32) bits[1];
	cron->mdays = (uint32) bits[2];
	cron->months = (uint32) bits[3];
	/* 7 is Sunday too */
	cron->wdays = (uint32) (bits[4] & 0x7f) | ((bits[4] & 0x80) ? 1 : 0);
	cron->mday_star = star[2];
	cron->wday_star = star[4];
	return true;
}

static bool
day_matches(const TbdrCron *c, const struct tm *tm)
{
	bool		md = (c->mdays >> tm->tm_mday) & 1;
	bool		wd = (c->wdays >> tm->tm_wday) & 1;

	if (c->mday_star && c->wday_star)
		return true;
	if (c->mday_star)
		return wd;
	if (c->wday_star)
		return md;
	return md || wd;
}

/*
 * The first naive wall-clock time (seconds of a UTC calendar) >= start that
 * matches, or -1 if none before limit.
 */
static int64
next_naive_match(const TbdrCron *c, int64 start, int64 limit)
{
	time_t		t = (time_t) (start - ((start % 60) + 60) % 60);
	struct tm	tm;

	if (t < start)
		t += 60;
	while (t <= limit)
	{
		gmtime_r(&t, &tm);
		if (!((c->months >> (tm.tm_mon + 1)) & 1))
		{
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			t = timegm(&tm);
			continue;
		}
		if (!day_matches(c, &tm))
		{
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			t = timegm(&tm);
			continue;
		}
		if (!((c->hours >> tm.tm_hour) & 1))
		{
			tm.tm_hour++;
			tm.tm_min = tm.tm_sec = 0;
			t = timegm(&tm);
			continue;
		}
		if (!((c->minutes >> tm.tm_min) & 1))
		{
			t += 60;
			continue;
		}
		return (int64) t;
	}
	return -1;
}

/* The local wall clock at instant t, as naive seconds. */
static int64
naive_of(time_t t)
{
	struct tm	tm;

	localtime_r(&t, &tm);
	return (int64) timegm(&tm);
}

/* The first instant whose local wall clock shows w or later. */
static time_t
first_instant(int64 w)
{
	time_t		wt = (time_t) w;
	struct tm	base;
	time_t		best = (time_t) -1;
	static const int flags[3] = {0, 1, -1};
	time_t		guess = (time_t) -1;

	gmtime_r(&wt, &base);
	for (int i = 0; i < 3; i++)
	{
		struct tm	x = base;
		time_t		t;

		x.tm_isdst = flags[i];
		t = mktime(&x);
		if (t == (time_t) -1)
			continue;
		guess = t;
		if (naive_of(t) == w && (best == (time_t) -1 || t < best))
			best = t;
	}
	if (best != (time_t) -1)
		return best;
	if (guess == (time_t) -1)
		guess = wt;

	/* in a gap: walk forward from well before it to where it ends */
	{
		time_t		t = guess - 4 * 3600;

		t -= ((t % 60) + 60) % 60;
		for (int i = 0; i < 10 * 60; i++, t += 60)
			if (naive_of(t) >= w)
				return t;
	}
	return guess;
}

time_t
tbdr_cron_next(const TbdrCron *cron, time_t after)
{
	int64		start = naive_of(after) - 3 * 3600;
	int64		limit = naive_of(after) + (int64) 8 * 366 * 86400;

	for (int i = 0; i < 100000; i++)
	{
		int64		w = next_naive_match(cron, start, limit);
		time_t		t;

		if (w < 0)
			return (time_t) -1;
		t = first_instant(w);
		if (t > after)
			return t;
		start = w + 60;
	}
	return (time_t) -1;
}
