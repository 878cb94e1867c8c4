/*-------------------------------------------------------------------------
 * test_expire.c
 *	  Unit tests of the retention policy (expire.c) with synthetic dates:
 *	  window and anchor, grandfather-father-son rules, failed and running
 *	  backups, WAL ranges, policy parsing.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdlib.h>

#include "core/expire.h"
#include "core/manifest.h"
#include "tap.h"
#include "utc.h"

#define DAY 86400

/* A complete backup started at t, 10 minutes long, WAL log k segs 2..3. */
static TbdrExpireBackup
backup_at(int64 t, int k)
{
	TbdrExpireBackup b;
	char		id[TBDR_BACKUP_ID_LEN + 1];

	memset(&b, 0, sizeof(b));
	tbdr_backup_id_format(t, id);
	b.id = pstrdup(id);
	b.status = TBDR_EXPIRE_COMPLETE;
	b.start_time = t;
	b.stop_time = t + 600;
	b.wal_start = psprintf("00000001%08X00000002", k);
	b.wal_stop = psprintf("00000001%08X00000003", k);
	return b;
}

/* Comma-separated ids of the kept backups, in input order. */
static char *
kept(const TbdrExpirePlan *p, const TbdrExpireBackup *b, int n,
	 TbdrExpireAction action)
{
	char	   *s = pstrdup("");

	for (int i = 0; i < n; i++)
	{
		if (p->decisions[i].action == action)
			s = psprintf("%s%s%s", s, s[0] ? "," : "", b[i].id);
	}
	return s;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool
contains(const char *h, const char *n)
{
	return h && strstr(h, n) != NULL;
}

/*
 * 60 daily backups at 02:00; retention 30 days at 2026-11-30 03:00:
 * backups that stopped after 2026-10-31 03:00 (Nov 1 .. Nov 30) are kept,
 * plus the anchor Oct 31; Oct 2 .. Oct 30 go.
 */
static void
test_window(void)
{
	int64		first = utc("2026-10-02T02:00:00Z");
	TbdrExpireBackup b[60];
	TbdrExpirePlan *p;
	int			nkeep = 0;

	for (int i = 0; i < 60; i++)
		b[i] = backup_at(first + (int64) i * DAY, i + 1);
	p = tbdr_expire_plan(b, 60, utc("2026-11-30T03:00:00Z"), 30, NULL);
	for (int i = 0; i < 60; i++)
		nkeep += p->decisions[i].action == TBDR_EXPIRE_KEEP;
	is_int(nkeep, 31, "window: 30 inside + the anchor kept");
	is_int(p->nkeep, 31, "window: nkeep");
	is_int(p->ndelete, 29, "window: 29 deleted");
	is_str(b[p->anchor].id, "20261031T020000Z", "window: anchor is the newest before the window");
	ok(contains(p->decisions[p->anchor].reason, "newest before the window"), "window: anchor reason");
	ok(p->decisions[28].action == TBDR_EXPIRE_DELETE, "window: Oct 30 deleted");
	ok(contains(p->decisions[0].reason, "older than the window"), "window: reason of a deleted one");
	ok(p->decisions[30].action == TBDR_EXPIRE_KEEP &&
	   contains(p->decisions[30].reason, "inside the window"), "window: Nov 1 kept as inside");
	ok(contains(p->decisions[59].reason, "newest complete backup"), "window: newest flagged");

	/* WAL: everything from the anchor's start on, nothing else is kept */
	ok(p->wal_delete, "window: WAL may be deleted");
	ok(tbdr_expire_wal_deletable(p, "000000010000001D00000003"), "window: WAL of a deleted backup goes");
	ok(tbdr_expire_wal_deletable(p, "000000010000001E00000001"), "window: WAL just before the anchor goes");
	ok(!tbdr_expire_wal_deletable(p, "000000010000001E00000002"), "window: the anchor's first segment stays");
	ok(!tbdr_expire_wal_deletable(p, "000000010000001E000000FF"), "window: WAL after the anchor stays");
	ok(!tbdr_expire_wal_deletable(p, "000000020000001E00000005"), "window: a later timeline stays");
	ok(!tbdr_expire_wal_deletable(p, "0000000100000FFF00000000"), "window: newest WAL stays");
	ok(tbdr_expire_wal_deletable(p, "000000010000000100000002.partial"), "window: old partial goes");
	ok(tbdr_expire_wal_deletable(p, "000000010000000100000002.00000028.backup"), "window: old backup history goes");
	ok(!tbdr_expire_wal_deletable(p, "00000001.history"), "window: history file stays");
	ok(!tbdr_expire_wal_deletable(p, "00000002.history"), "window: every history file stays");
	ok(!tbdr_expire_wal_deletable(p, "garbage"), "window: unknown names stay");
	is_int(p->nwal_delete, 1, "window: one WAL delete range");
	is_int(p->nwal_keep, 0, "window: no extra WAL keep range");
	tbdr_expire_plan_free(p);

	/* the boundary: stopping exactly at the window start is before it */
	{
		TbdrExpireBackup c[2];

		c[0] = backup_at(utc("2026-11-01T02:50:00Z"), 1);	/* stops 03:00 */
		c[1] = backup_at(utc("2026-11-01T03:00:00Z"), 2);	/* stops 03:10 */
		p = tbdr_expire_plan(c, 2, utc("2026-11-02T03:00:00Z"), 1, NULL);
		ok(p->decisions[0].action == TBDR_EXPIRE_KEEP &&
		   p->anchor == 0, "boundary: stop == window start is the anchor");
		tbdr_expire_plan_free(p);
		p = tbdr_expire_plan(c, 2, utc("2026-11-02T03:10:00Z"), 1, NULL);
		ok(p->decisions[0].action == TBDR_EXPIRE_DELETE && p->anchor == 1,
		   "boundary: ten minutes later the first one goes");
		tbdr_expire_plan_free(p);
	}
}

/*
 * Daily backups at 02:00 from 2025-10-01 to 2026-11-30 (a Monday), now
 * 2026-11-30 03:00, retention 1 day, 'daily=7 weekly=4 monthly=12'.
 */
static void
test_gfs(void)
{
	int64		first = utc("2025-10-01T02:00:00Z");
	int64		last = utc("2026-11-30T02:00:00Z");
	int			n = (int) ((last - first) / DAY) + 1;
	TbdrExpireBackup *b = palloc0(sizeof(TbdrExpireBackup) * n);
	TbdrRetentionPolicy pol;
	TbdrError	err;
	TbdrExpirePlan *p;
	const char *expected =
		"20251231T020000Z,20260131T020000Z,20260228T020000Z,"
		"20260331T020000Z,20260430T020000Z,20260531T020000Z,"
		"20260630T020000Z,20260731T020000Z,20260831T020000Z,"
		"20260930T020000Z,20261031T020000Z,20261115T020000Z,"
		"20261122T020000Z,20261124T020000Z,20261125T020000Z,"
		"20261126T020000Z,20261127T020000Z,20261128T020000Z,"
		"20261129T020000Z,20261130T020000Z";

	for (int i = 0; i < n; i++)
		b[i] = backup_at(first + (int64) i * DAY, i + 1);
	ok(tbdr_retention_policy_parse("daily=7 weekly=4 monthly=12", &pol, &err),
	   "gfs: policy parses");
	p = tbdr_expire_plan(b, n, utc("2026-11-30T03:00:00Z"), 1, &pol);
	is_str(kept(p, b, n, TBDR_EXPIRE_KEEP), expected, "gfs: exactly the policy's set is kept");
	is_int(p->nkeep, 20, "gfs: 20 kept");
	is_int(p->ndelete, n - 20, "gfs: the rest deleted");
	is_str(b[p->anchor].id, "20261129T020000Z", "gfs: anchor");
	is_str(p->decisions[n - 1].reason,
		   "newest complete backup, inside the window, daily 2026-11-30, weekly 2026-11-30, monthly 2026-11",
		   "gfs: newest has every reason");
	ok(contains(p->decisions[n - 2].reason, "weekly 2026-11-23"),
	   "gfs: Sunday is its week's newest");
	ok(contains(p->decisions[n - 9].reason, "weekly 2026-11-16"),
	   "gfs: the 22nd keeps the week of the 16th");
	ok(!contains(p->decisions[n - 9].reason, "daily"), "gfs: the 22nd is not daily");
	{
		int			k = 92;		/* 2025-12-31 */

		is_str(p->decisions[k - 1].reason, "monthly 2025-12", "gfs: a monthly backup's reason names its month");
	}

	/* kept GFS backups keep their own WAL only */
	ok(p->wal_delete, "gfs: WAL may be deleted");
	is_int(p->nwal_keep, 18, "gfs: 18 kept ranges below the anchor (adjacent merged? no: logs differ)");
	{
		int			k = 92;		/* 2025-12-31 is the 92nd backup: log 0x5C */
		char		name[25];

		snprintf(name, sizeof(name), "00000001%08X00000002", k);
		ok(!tbdr_expire_wal_deletable(p, name), "gfs: monthly backup's start segment stays");
		snprintf(name, sizeof(name), "00000001%08X00000003", k);
		ok(!tbdr_expire_wal_deletable(p, name), "gfs: monthly backup's stop segment stays");
		snprintf(name, sizeof(name), "00000001%08X00000004", k);
		ok(tbdr_expire_wal_deletable(p, name), "gfs: WAL after a monthly backup's stop goes");
		snprintf(name, sizeof(name), "00000001%08X00000001", k);
		ok(tbdr_expire_wal_deletable(p, name), "gfs: WAL before a monthly backup's start goes");
		is_str(b[k - 1].id, "20251231T020000Z", "gfs: (index check)");
	}
	tbdr_expire_plan_free(p);

	/* the same set whatever the input order */
	{
		TbdrExpireBackup *r = palloc0(sizeof(TbdrExpireBackup) * n);
		const char **ids = palloc0(sizeof(char *) * n);
		int			nid = 0;
		char	   *joined = pstrdup("");

		for (int i = 0; i < n; i++)
			r[i] = b[(i * 7919) % n];	/* a permutation: 7919 is prime, > n */
		p = tbdr_expire_plan(r, n, utc("2026-11-30T03:00:00Z"), 1, &pol);
		for (int i = 0; i < n; i++)
			if (p->decisions[i].action == TBDR_EXPIRE_KEEP)
				ids[nid++] = r[i].id;
		qsort(ids, nid, sizeof(char *), cmp_str);
		for (int i = 0; i < nid; i++)
			joined = psprintf("%s%s%s", joined, i ? "," : "", ids[i]);
		is_str(joined, expected, "gfs: shuffled input keeps the same set");
		tbdr_expire_plan_free(p);
	}

	/* weekly only: empty weeks count */
	{
		TbdrExpireBackup c[3];

		c[0] = backup_at(utc("2026-11-02T02:00:00Z"), 1);	/* week of Nov 2 */
		c[1] = backup_at(utc("2026-11-04T02:00:00Z"), 2);	/* same week, newer */
		c[2] = backup_at(utc("2026-11-27T02:00:00Z"), 3);	/* week of Nov 23 */
		ok(tbdr_retention_policy_parse("weekly=3", &pol, &err), "weekly=3 parses");
		p = tbdr_expire_plan(c, 3, utc("2026-11-30T03:00:00Z"), 1, &pol);
		is_str(kept(p, c, 3, TBDR_EXPIRE_KEEP), "20261127T020000Z",
			   "weekly=3: the week of Nov 2 is the 5th, not within 3 (empty weeks count)");
		tbdr_expire_plan_free(p);
		ok(tbdr_retention_policy_parse("weekly=5", &pol, &err), "weekly=5 parses");
		p = tbdr_expire_plan(c, 3, utc("2026-11-30T03:00:00Z"), 1, &pol);
		is_str(kept(p, c, 3, TBDR_EXPIRE_KEEP), "20261104T020000Z,20261127T020000Z",
			   "weekly=5: the newest of the week of Nov 2 is kept, not the older one");
		tbdr_expire_plan_free(p);
	}

	/* monthly over a year boundary */
	{
		TbdrExpireBackup c[4];

		c[0] = backup_at(utc("2025-12-15T02:00:00Z"), 1);
		c[1] = backup_at(utc("2025-12-20T02:00:00Z"), 2);
		c[2] = backup_at(utc("2026-01-10T02:00:00Z"), 3);
		c[3] = backup_at(utc("2026-03-01T02:00:00Z"), 4);
		ok(tbdr_retention_policy_parse("monthly=3", &pol, &err), "monthly=3 parses");
		p = tbdr_expire_plan(c, 4, utc("2026-03-05T00:00:00Z"), 1, &pol);
		is_str(kept(p, c, 4, TBDR_EXPIRE_KEEP), "20260110T020000Z,20260301T020000Z",
			   "monthly=3 in March: January and March kept, December not");
		tbdr_expire_plan_free(p);
		ok(tbdr_retention_policy_parse("monthly=4", &pol, &err), "monthly=4 parses");
		p = tbdr_expire_plan(c, 4, utc("2026-03-05T00:00:00Z"), 1, &pol);
		is_str(kept(p, c, 4, TBDR_EXPIRE_KEEP),
			   "20251220T020000Z,20260110T020000Z,20260301T020000Z",
			   "monthly=4: December's newest too");
		tbdr_expire_plan_free(p);
	}
}

static void
test_special(void)
{
	TbdrExpirePlan *p;
	TbdrExpireBackup c[5];
	int64		now = utc("2026-11-30T03:00:00Z");

	/* the only complete backup is never deleted, however old */
	c[0] = backup_at(now - 100 * DAY, 7);
	p = tbdr_expire_plan(c, 1, now, 30, NULL);
	ok(p->decisions[0].action == TBDR_EXPIRE_KEEP, "only backup: kept although 100 days old");
	ok(p->anchor == 0, "only backup: it is the anchor");
	ok(tbdr_expire_wal_deletable(p, "000000010000000700000001"), "only backup: WAL before it goes");
	ok(!tbdr_expire_wal_deletable(p, "000000010000000700000002"), "only backup: its WAL stays");
	tbdr_expire_plan_free(p);

	/* no complete backup: no WAL deleted; failed ones by age */
	memset(c, 0, sizeof(c));
	c[0] = backup_at(now - 40 * DAY, 1);
	c[0].status = TBDR_EXPIRE_FAILED;
	c[1] = backup_at(now - 2 * DAY, 2);
	c[1].status = TBDR_EXPIRE_FAILED;
	c[2] = backup_at(now - 3600, 3);
	c[2].status = TBDR_EXPIRE_RUNNING;
	p = tbdr_expire_plan(c, 3, now, 30, NULL);
	ok(p->decisions[0].action == TBDR_EXPIRE_DELETE, "failed before the window: deleted entirely");
	ok(p->decisions[1].action == TBDR_EXPIRE_DELETE_DATA, "failed inside the window: data only");
	ok(p->decisions[2].action == TBDR_EXPIRE_SKIP, "running: skipped");
	ok(!p->wal_delete && contains(p->wal_note, "no complete backup"), "no complete backup: all WAL kept");
	ok(!tbdr_expire_wal_deletable(p, "000000010000000000000001"), "no complete backup: nothing deletable");
	is_int(p->anchor, -1, "no complete backup: no anchor");
	tbdr_expire_plan_free(p);

	/* every backup inside the window: the oldest is the anchor */
	c[0] = backup_at(now - 3 * DAY, 3);
	c[1] = backup_at(now - 2 * DAY, 4);
	c[2] = backup_at(now - 1 * DAY, 5);
	p = tbdr_expire_plan(c, 3, now, 30, NULL);
	is_int(p->nkeep, 3, "all inside: all kept");
	is_int(p->anchor, 0, "all inside: the oldest anchors the WAL");
	ok(tbdr_expire_wal_deletable(p, "000000010000000300000001"), "all inside: WAL before the oldest goes");
	ok(!tbdr_expire_wal_deletable(p, "000000010000000300000002"), "all inside: WAL from the oldest on stays");
	tbdr_expire_plan_free(p);

	/* a running backup that started before the anchor keeps its WAL */
	c[0] = backup_at(now - 50 * DAY, 1);
	c[1] = backup_at(now - 40 * DAY, 2);
	c[2] = backup_at(now - 35 * DAY, 3);
	c[2].status = TBDR_EXPIRE_RUNNING;	/* an odd, long-running one */
	c[3] = backup_at(now - 1 * DAY, 4);
	p = tbdr_expire_plan(c, 4, now, 30, NULL);
	is_str(kept(p, c, 4, TBDR_EXPIRE_KEEP), "20261021T030000Z,20261129T030000Z",
		   "running: anchor Oct 21 and Nov 29 kept");
	ok(p->decisions[0].action == TBDR_EXPIRE_DELETE, "running: oldest deleted");
	ok(tbdr_expire_wal_deletable(p, "000000010000000200000005") == false,
	   "running: WAL of the anchor's period stays");
	ok(tbdr_expire_wal_deletable(p, "000000010000000100000003"), "running: deleted backup's WAL goes");
	tbdr_expire_plan_free(p);

	/* ...and when its start is below the anchor's, WAL from there on stays */
	c[2].start_time = now - 45 * DAY;
	c[2].wal_start = "000000010000000100000009";
	p = tbdr_expire_plan(c, 4, now, 30, NULL);
	ok(!tbdr_expire_wal_deletable(p, "000000010000000100000009"), "running: its start segment stays");
	ok(!tbdr_expire_wal_deletable(p, "00000001000000010000000A"), "running: WAL after its start stays");
	ok(tbdr_expire_wal_deletable(p, "000000010000000100000008"), "running: WAL before it goes");
	tbdr_expire_plan_free(p);

	/* running without a WAL start: newer than the anchor is fine */
	c[2].wal_start = NULL;
	c[2].start_time = now - 3600;
	p = tbdr_expire_plan(c, 4, now, 30, NULL);
	ok(p->wal_delete, "running without start, newer than the anchor: WAL may go");
	tbdr_expire_plan_free(p);
	/* older than the anchor (a stale record): keep everything */
	c[2].start_time = now - 45 * DAY;
	p = tbdr_expire_plan(c, 4, now, 30, NULL);
	ok(!p->wal_delete && contains(p->wal_note, "running backup"), "running without start, older: all WAL kept");
	tbdr_expire_plan_free(p);
	c[2].status = TBDR_EXPIRE_FAILED;
	c[2].start_time = now - 35 * DAY;

	/* a kept backup without a WAL range: no WAL deleted */
	c[3].wal_stop = NULL;
	p = tbdr_expire_plan(c, 4, now, 30, NULL);
	ok(!p->wal_delete && contains(p->wal_note, "no valid WAL range"), "kept backup without WAL stop: all WAL kept");
	ok(p->decisions[0].action == TBDR_EXPIRE_DELETE, "kept backup without WAL stop: old backups still go");
	tbdr_expire_plan_free(p);
	c[3] = backup_at(now - 1 * DAY, 4);

	/* the anchor without a WAL start: no WAL deleted */
	c[1].wal_start = NULL;
	p = tbdr_expire_plan(c, 4, now, 30, NULL);
	ok(!p->wal_delete && contains(p->wal_note, "no WAL start"), "anchor without WAL start: all WAL kept");
	tbdr_expire_plan_free(p);
	c[1] = backup_at(now - 40 * DAY, 2);

	/* a backup from the future (clock skew) is kept, and is the newest */
	c[4] = backup_at(now + 2 * DAY, 9);
	p = tbdr_expire_plan(c, 5, now, 30, NULL);
	ok(p->decisions[4].action == TBDR_EXPIRE_KEEP &&
	   contains(p->decisions[4].reason, "newest complete backup"), "future backup kept");
	ok(p->decisions[1].action == TBDR_EXPIRE_KEEP, "future backup: anchor still kept");
	tbdr_expire_plan_free(p);

	/* unknown stop time: the start time (from the id) stands in */
	c[0] = backup_at(now - 10 * DAY, 1);
	c[0].start_time = 0;
	c[0].stop_time = 0;
	c[1] = backup_at(now - 5 * DAY, 2);
	p = tbdr_expire_plan(c, 2, now, 7, NULL);
	ok(p->anchor == 0 && p->decisions[0].action == TBDR_EXPIRE_KEEP,
	   "times from the id: 10-day-old backup anchors a 7-day window");
	tbdr_expire_plan_free(p);

	/* timelines: positions ignore the timeline, history files stay */
	c[0] = backup_at(now - 40 * DAY, 1);
	c[1] = backup_at(now - 35 * DAY, 2);
	c[1].wal_start = "000000020000000200000002";
	c[1].wal_stop = "000000020000000200000003";
	c[2] = backup_at(now - 1 * DAY, 3);
	c[2].wal_start = "000000020000000300000002";
	c[2].wal_stop = "000000020000000300000003";
	p = tbdr_expire_plan(c, 3, now, 30, NULL);
	ok(tbdr_expire_wal_deletable(p, "000000010000000100000005"), "timelines: old TL1 WAL goes");
	ok(!tbdr_expire_wal_deletable(p, "000000010000000200000002"), "timelines: TL1 WAL at the anchor's position stays");
	ok(!tbdr_expire_wal_deletable(p, "000000020000000200000002"), "timelines: anchor's TL2 WAL stays");
	ok(!tbdr_expire_wal_deletable(p, "00000002.history"), "timelines: history stays");
	tbdr_expire_plan_free(p);

	/* zero-day window: the newest backup alone */
	c[0] = backup_at(now - 2 * DAY, 1);
	c[1] = backup_at(now - 1 * DAY, 2);
	p = tbdr_expire_plan(c, 2, now, 0, NULL);
	is_str(kept(p, c, 2, TBDR_EXPIRE_KEEP), "20261129T030000Z", "zero days: newest only");
	tbdr_expire_plan_free(p);

	/* no backups at all */
	p = tbdr_expire_plan(NULL, 0, now, 30, NULL);
	ok(p->nkeep == 0 && p->ndelete == 0 && !p->wal_delete, "empty repository: nothing to do");
	tbdr_expire_plan_free(p);
}

static void
test_wal_ranges(void)
{
	TbdrExpireBackup c[4];
	int64		now = utc("2026-11-30T03:00:00Z");
	TbdrRetentionPolicy pol = {0, 0, 12};
	TbdrExpirePlan *p;
	uint64		pos;
	char		name[25];

	/* two monthly backups whose WAL ranges overlap merge into one */
	c[0] = backup_at(utc("2026-08-31T02:00:00Z"), 1);
	c[0].wal_stop = "000000010000000200000001";
	c[1] = backup_at(utc("2026-09-30T02:00:00Z"), 2);
	c[2] = backup_at(utc("2026-10-31T02:00:00Z"), 5);
	c[3] = backup_at(utc("2026-11-29T02:00:00Z"), 9);
	p = tbdr_expire_plan(c, 4, now, 1, &pol);
	is_int(p->nkeep, 4, "ranges: all four kept (monthly, anchor)");
	is_int(p->nwal_keep, 2, "ranges: overlapping ranges merged (1..2, 5)");
	ok(p->wal_keep[0].lo == (((uint64) 1 << 32) | 2) &&
	   p->wal_keep[0].hi == (((uint64) 2 << 32) | 3), "ranges: merged bounds");
	is_int(p->nwal_delete, 3, "ranges: three delete ranges");
	ok(p->wal_delete_ranges[0].lo == 0, "ranges: from the beginning");
	ok(p->wal_keep_from == (((uint64) 9 << 32) | 2), "ranges: keep from the anchor");
	ok(tbdr_wal_position("00000001000000090000000A", &pos) &&
	   pos == (((uint64) 9 << 32) | 10), "position of a name");
	ok(!tbdr_wal_position("0000000100000009000000", &pos), "short name has no position");
	ok(!tbdr_wal_position("00000001000000090000000a", &pos), "lower case is not a WAL name");
	tbdr_wal_position_name(3, pos, name);
	is_str(name, "00000003000000090000000A", "position back to a name");
	tbdr_expire_plan_free(p);
}

static void
test_policy_parse(void)
{
	TbdrRetentionPolicy p;
	TbdrError	err;

	ok(tbdr_retention_policy_parse("", &p, &err) && p.daily == 0 &&
	   p.weekly == 0 && p.monthly == 0, "'' is no rule");
	ok(tbdr_retention_policy_parse(NULL, &p, &err), "NULL is no rule");
	ok(tbdr_retention_policy_parse("monthly=12,daily=7", &p, &err) &&
	   p.daily == 7 && p.weekly == 0 && p.monthly == 12, "commas, any order, subset");
	ok(tbdr_retention_policy_parse("  weekly=4  ", &p, &err) && p.weekly == 4, "spaces around");
	ok(!tbdr_retention_policy_parse("daily=7 yearly=2", &p, &err) &&
	   err.code == TBDR_ERR_CONFIG && contains(err.message, "yearly=2") &&
	   contains(err.hint, "daily=7 weekly=4 monthly=12"), "unknown rule: clear error");
	ok(!tbdr_retention_policy_parse("daily=-1", &p, &err), "negative count refused");
	ok(!tbdr_retention_policy_parse("daily=", &p, &err), "missing count refused");
	ok(!tbdr_retention_policy_parse("daily 7", &p, &err), "missing = refused");
	ok(!tbdr_retention_policy_parse("daily=7x", &p, &err), "trailing junk refused");
	ok(!tbdr_retention_policy_parse("daily=1000001", &p, &err), "huge count refused");
}

int
main(void)
{
	test_window();
	test_gfs();
	test_special();
	test_wal_ranges();
	test_policy_parse();
	return done_testing();
}
