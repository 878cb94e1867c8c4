/*-------------------------------------------------------------------------
 * expire.c
 *	  Retention policy: which backups and which WAL an expiry keeps (see
 *	  expire.h for the rules).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <ctype.h>
#include <limits.h>
#include <time.h>

#include "core/expire.h"
#include "core/manifest.h"

#define SECS_PER_DAY	86400

/* ---------------------------------------------------------------------
 * tbdr.retention_policy
 * ---------------------------------------------------------------------
 */

bool
tbdr_retention_policy_parse(const char *text, TbdrRetentionPolicy *policy,
							TbdrError *err)
{
	const char *p = text ? text : "";

	memset(policy, 0, sizeof(*policy));
	for (;;)
	{
		const char *name;
		size_t		namelen;
		long		v;
		char	   *end;
		int		   *field;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '\0')
			return true;
		name = p;
		while (isalpha((unsigned char) *p))
			p++;
		namelen = p - name;
		if (namelen == 5 && strncmp(name, "daily", 5) == 0)
			field = &policy->daily;
		else if (namelen == 6 && strncmp(name, "weekly", 6) == 0)
			field = &policy->weekly;
		else if (namelen == 7 && strncmp(name, "monthly", 7) == 0)
			field = &policy->monthly;
		else
			goto bad;
		if (*p != '=' || !isdigit((unsigned char) p[1]))
			goto bad;
		v = strtol(p + 1, &end, 10);
		if (v < 0 || v > 100000 || (*end != '\0' && *end != ' ' &&
									 *end != ',' && *end != '\t'))
			goto bad;
		*field = (int) v;
		p = end;
	}

bad:
	tbdr_error_set(err, TBDR_ERR_CONFIG,
				   "tbdr.retention_policy \"%s\" is not valid", text);
	tbdr_error_hint(err, "Write rules like 'daily=7 weekly=4 monthly=12' (any of daily, weekly, monthly with a count from 0 to 100000), or '' for none.");
	return false;
}

/* ---------------------------------------------------------------------
 * WAL positions
 * ---------------------------------------------------------------------
 */

static bool
hex_field(const char *s, uint32 *v)
{
	*v = 0;
	for (int i = 0; i < 8; i++)
	{
		char		c = s[i];
		int			d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		*v = (*v << 4) | d;
	}
	return true;
}

bool
tbdr_wal_position(const char *walname, uint64 *pos)
{
	uint32		tli,
				log,
				seg;

	if (walname == NULL || strlen(walname) < 24 ||
		!hex_field(walname, &tli) || !hex_field(walname + 8, &log) ||
		!hex_field(walname + 16, &seg))
		return false;
	*pos = ((uint64) log << 32) | seg;
	return true;
}

void
tbdr_wal_position_name(uint32 tli, uint64 pos, char *out)
{
	snprintf(out, 25, "%08X%08X%08X", tli, (uint32) (pos >> 32), (uint32) pos);
}

/* ---------------------------------------------------------------------
 * The plan
 * ---------------------------------------------------------------------
 */

/* What the policy needs of a backup, normalized. */
typedef struct Item
{
	int			index;			/* in the caller's array */
	int64		start;
	int64		stop;
} Item;

static int
item_newest_first(const void *a, const void *b)
{
	const Item *x = (const Item *) a;
	const Item *y = (const Item *) b;

	if (x->stop != y->stop)
		return x->stop > y->stop ? -1 : 1;
	if (x->start != y->start)
		return x->start > y->start ? -1 : 1;
	return x->index - y->index;
}

static void
add_reason(TbdrExpireDecision *d, const char *fmt,...) pg_attribute_printf(2, 3);

static void
add_reason(TbdrExpireDecision *d, const char *fmt,...)
{
	size_t		len = strlen(d->reason);
	va_list		ap;

	if (len > 0 && len + 2 < sizeof(d->reason))
	{
		strcat(d->reason, ", ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(d->reason + len, sizeof(d->reason) - len, fmt, ap);
	va_end(ap);
}

/* Days since the epoch, and the Monday-based week and the month of t. */
static int64
day_of(int64 t)
{
	return t >= 0 ? t / SECS_PER_DAY : -((-t + SECS_PER_DAY - 1) / SECS_PER_DAY);
}

static int64
week_of(int64 t)
{
	int64		d = day_of(t) + 3;	/* 1970-01-01 was a Thursday */

	return d >= 0 ? d / 7 : -((-d + 6) / 7);
}

static int64
month_of(int64 t)
{
	time_t		tt = (time_t) t;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	return (int64) (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static void
format_day(int64 t, char *out, size_t len)
{
	time_t		tt = (time_t) t;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%d", &tm);
}

typedef enum Period
{
	PERIOD_DAY,
	PERIOD_WEEK,
	PERIOD_MONTH
} Period;

static int64
period_of(Period p, int64 t)
{
	switch (p)
	{
		case PERIOD_DAY:
			return day_of(t);
		case PERIOD_WEEK:
			return week_of(t);
		case PERIOD_MONTH:
			return month_of(t);
	}
	return 0;
}

/*
 * Keep the newest complete backup of each of the last count periods
 * (items: complete backups, newest first by stop time; within a period the
 * newest is the one that started last).
 */
static void
keep_periods(Period p, int count, const Item *items, int n, int64 now,
			 TbdrExpireDecision *dec)
{
	int64		current = period_of(p, now);

	if (count <= 0)
		return;
	for (int i = 0; i < n; i++)
	{
		int64		period = period_of(p, items[i].start);
		bool		newest = true;
		char		label[16];

		if (period > current || period <= current - count)
			continue;
		/* the newest start in this period (stop order may differ) */
		for (int j = 0; j < n && newest; j++)
		{
			if (j != i && period_of(p, items[j].start) == period &&
				(items[j].start > items[i].start ||
				 (items[j].start == items[i].start && j < i)))
				newest = false;
		}
		if (!newest)
			continue;
		if (p == PERIOD_MONTH)
		{
			time_t		tt = (time_t) items[i].start;
			struct tm	tm;

			gmtime_r(&tt, &tm);
			strftime(label, sizeof(label), "%Y-%m", &tm);	/* 2026-11 */
		}
		else if (p == PERIOD_WEEK)
			format_day(period * 7 * SECS_PER_DAY - 3 * SECS_PER_DAY,
					   label, sizeof(label));	/* its Monday */
		else
			format_day(items[i].start, label, sizeof(label));
		dec[items[i].index].action = TBDR_EXPIRE_KEEP;
		add_reason(&dec[items[i].index], "%s %s",
				   p == PERIOD_DAY ? "daily" : p == PERIOD_WEEK ? "weekly" : "monthly",
				   label);
	}
}

static int
range_cmp(const void *a, const void *b)
{
	const TbdrWalRange *x = (const TbdrWalRange *) a;
	const TbdrWalRange *y = (const TbdrWalRange *) b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi ? 1 : 0;
}

/* The WAL ranges: keep_from, kept backups' ranges, and their complement. */
static void
plan_wal(TbdrExpirePlan *plan, const TbdrExpireBackup *b, int n)
{
	uint64		keep_from = UINT64_MAX;
	int			nr = 0;
	TbdrWalRange *r;
	uint64		next;

	plan->wal_delete = false;
	if (plan->anchor < 0)
	{
		snprintf(plan->wal_note, sizeof(plan->wal_note),
				 "no complete backup: all WAL is kept");
		return;
	}
	if (!tbdr_wal_position(b[plan->anchor].wal_start, &keep_from))
	{
		snprintf(plan->wal_note, sizeof(plan->wal_note),
				 "backup %s has no WAL start: all WAL is kept",
				 b[plan->anchor].id);
		return;
	}

	r = palloc0(sizeof(TbdrWalRange) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		uint64		lo,
					hi;

		if (b[i].status == TBDR_EXPIRE_RUNNING)
		{
			if (!tbdr_wal_position(b[i].wal_start, &lo))
			{
				/*
				 * A backup that has just started may not know its start yet;
				 * its WAL is newer than every complete backup's, so keeping
				 * from the anchor on covers it, unless it is older than the
				 * anchor (a stale record of a crashed run): then its start
				 * time is all we have, and we must keep everything.
				 */
				if (b[i].start_time != 0 &&
					b[i].start_time >= b[plan->anchor].start_time)
					continue;
				snprintf(plan->wal_note, sizeof(plan->wal_note),
						 "running backup %s has no WAL start yet: all WAL is kept",
						 b[i].id);
				pfree(r);
				return;
			}
			if (lo < keep_from)
				keep_from = lo;
			continue;
		}
		if (b[i].status != TBDR_EXPIRE_COMPLETE ||
			plan->decisions[i].action != TBDR_EXPIRE_KEEP)
			continue;
		if (!tbdr_wal_position(b[i].wal_start, &lo) ||
			!tbdr_wal_position(b[i].wal_stop, &hi) || hi < lo)
		{
			snprintf(plan->wal_note, sizeof(plan->wal_note),
					 "kept backup %s has no valid WAL range: all WAL is kept",
					 b[i].id);
			pfree(r);
			return;
		}
		r[nr].lo = lo;
		r[nr].hi = hi;
		nr++;
	}

	/* merge the ranges below keep_from */
	qsort(r, nr, sizeof(TbdrWalRange), range_cmp);
	plan->wal_keep = palloc0(sizeof(TbdrWalRange) * (nr + 1));
	for (int i = 0; i < nr; i++)
	{
		TbdrWalRange cur = r[i];

		if (cur.lo >= keep_from)
			continue;
		if (cur.hi >= keep_from)
			cur.hi = keep_from - 1;
		if (plan->nwal_keep > 0 &&
			cur.lo <= plan->wal_keep[plan->nwal_keep - 1].hi + 1)
		{
			if (cur.hi > plan->wal_keep[plan->nwal_keep - 1].hi)
				plan->wal_keep[plan->nwal_keep - 1].hi = cur.hi;
		}
		else
			plan->wal_keep[plan->nwal_keep++] = cur;
	}
	pfree(r);

	/* the complement below keep_from */
	plan->wal_delete_ranges = palloc0(sizeof(TbdrWalRange) * (plan->nwal_keep + 1));
	next = 0;
	for (int i = 0; i < plan->nwal_keep; i++)
	{
		if (plan->wal_keep[i].lo > next)
		{
			plan->wal_delete_ranges[plan->nwal_delete].lo = next;
			plan->wal_delete_ranges[plan->nwal_delete].hi = plan->wal_keep[i].lo - 1;
			plan->nwal_delete++;
		}
		next = plan->wal_keep[i].hi + 1;
	}
	if (keep_from > next)
	{
		plan->wal_delete_ranges[plan->nwal_delete].lo = next;
		plan->wal_delete_ranges[plan->nwal_delete].hi = keep_from - 1;
		plan->nwal_delete++;
	}
	plan->wal_keep_from = keep_from;
	plan->wal_delete = true;
}

TbdrExpirePlan *
tbdr_expire_plan(const TbdrExpireBackup *backups, int nbackups, int64 now,
				 int retention_days, const TbdrRetentionPolicy *policy)
{
	TbdrExpirePlan *plan = palloc0(sizeof(TbdrExpirePlan));
	Item	   *items = palloc0(sizeof(Item) * (nbackups + 1));
	int			n = 0;
	int			anchor = -1;

	plan->now = now;
	plan->window_start = now - (int64) Max(retention_days, 0) * SECS_PER_DAY;
	plan->nbackups = nbackups;
	plan->decisions = palloc0(sizeof(TbdrExpireDecision) * (nbackups + 1));
	plan->anchor = -1;

	for (int i = 0; i < nbackups; i++)
	{
		const TbdrExpireBackup *b = &backups[i];
		TbdrExpireDecision *d = &plan->decisions[i];
		int64		start = b->start_time;
		int64		stop;

		if (start == 0 && !tbdr_backup_id_parse(b->id, &start))
			start = 0;
		stop = b->stop_time != 0 ? b->stop_time : start;

		switch (b->status)
		{
			case TBDR_EXPIRE_RUNNING:
				d->action = TBDR_EXPIRE_SKIP;
				add_reason(d, "running");
				break;
			case TBDR_EXPIRE_FAILED:
				if (start != 0 && stop < plan->window_start)
				{
					d->action = TBDR_EXPIRE_DELETE;
					add_reason(d, "failed, before the window");
				}
				else
				{
					d->action = TBDR_EXPIRE_DELETE_DATA;
					add_reason(d, "failed: its data goes, its record stays inside the window");
				}
				break;
			case TBDR_EXPIRE_COMPLETE:
				d->action = TBDR_EXPIRE_DELETE;	/* unless a rule keeps it */
				items[n].index = i;
				items[n].start = start;
				items[n].stop = stop;
				n++;
				break;
		}
	}

	qsort(items, n, sizeof(Item), item_newest_first);

	for (int i = 0; i < n; i++)
	{
		TbdrExpireDecision *d = &plan->decisions[items[i].index];

		if (i == 0)
		{
			d->action = TBDR_EXPIRE_KEEP;
			add_reason(d, "newest complete backup");
		}
		if (items[i].stop > plan->window_start)
		{
			d->action = TBDR_EXPIRE_KEEP;
			add_reason(d, "inside the window");
			anchor = items[i].index;	/* the oldest one so far */
		}
		else
		{
			d->action = TBDR_EXPIRE_KEEP;
			add_reason(d, "newest before the window");
			anchor = items[i].index;
			break;				/* everything older only by a keep rule */
		}
	}

	if (policy)
	{
		keep_periods(PERIOD_DAY, policy->daily, items, n, now, plan->decisions);
		keep_periods(PERIOD_WEEK, policy->weekly, items, n, now, plan->decisions);
		keep_periods(PERIOD_MONTH, policy->monthly, items, n, now, plan->decisions);
	}

	for (int i = 0; i < nbackups; i++)
	{
		if (plan->decisions[i].action == TBDR_EXPIRE_KEEP)
			plan->nkeep++;
		else if (plan->decisions[i].action == TBDR_EXPIRE_DELETE)
		{
			plan->ndelete++;
			if (plan->decisions[i].reason[0] == '\0')
				add_reason(&plan->decisions[i], "older than the window, not kept by a rule");
		}
	}

	plan->anchor = anchor;
	plan_wal(plan, backups, nbackups);
	pfree(items);
	return plan;
}

void
tbdr_expire_plan_free(TbdrExpirePlan *plan)
{
	if (plan == NULL)
		return;
	pfree(plan->decisions);
	if (plan->wal_keep)
		pfree(plan->wal_keep);
	if (plan->wal_delete_ranges)
		pfree(plan->wal_delete_ranges);
	pfree(plan);
}

bool
tbdr_expire_wal_deletable(const TbdrExpirePlan *plan, const char *walname)
{
	uint64		pos;
	size_t		len;

	if (!plan->wal_delete || walname == NULL)
		return false;
	len = strlen(walname);
	/* segments, partial segments, backup history files; never .history */
	if (!(len == 24 ||
		  (len == 32 && strcmp(walname + 24, ".partial") == 0) ||
		  (len == 40 && strcmp(walname + 33, ".backup") == 0)))
		return false;
	if (!tbdr_wal_position(walname, &pos) || pos >= plan->wal_keep_from)
		return false;
	for (int i = 0; i < plan->nwal_delete; i++)
	{
		if (pos >= plan->wal_delete_ranges[i].lo &&
			pos <= plan->wal_delete_ranges[i].hi)
			return true;
	}
	return false;
}

const char *
tbdr_expire_action_name(TbdrExpireAction action)
{
	switch (action)
	{
		case TBDR_EXPIRE_KEEP:
			return "keep";
		case TBDR_EXPIRE_DELETE:
			return "delete";
		case TBDR_EXPIRE_DELETE_DATA:
			return "delete-data";
		case TBDR_EXPIRE_SKIP:
			return "skip";
	}
	return "?";
}
