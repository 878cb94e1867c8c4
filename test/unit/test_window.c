/*-------------------------------------------------------------------------
 * test_window.c
 *	  Unit tests of the restorable window and backup selection (window.h):
 *	  timestamps, timeline history files, WAL runs across a timeline switch,
 *	  gaps, and the choice of a backup for time, LSN and other targets.
 *
 * The inputs are manifest headers and WAL inventories built here, the same
 * structures the loader fills from a repository listing; every segment s
 * gets a summary with one commit at t0 + 100 s * s + 500 us (add_segs).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include "core/branches.h"
#include "core/walsearch.h"
#include "core/window.h"
#include "tap.h"

#define SEG		(UINT64CONST(16) * 1024 * 1024)
#define US		INT64CONST(1000000)

static TbdrManifest *
backup(const char *id, uint32 tli, uint64 start, uint64 stop, int64 stop_time)
{
	TbdrManifest *m = tbdr_manifest_create(id, "complete");
	char		name[25];

	m->timeline = tli;
	m->start_lsn = start;
	m->stop_lsn = stop;
	m->start_time = stop_time - 10;
	m->stop_time = stop_time;
	tbdr_wal_segment_name(tli, start / SEG, SEG, name);
	m->wal_start = pstrdup(name);
	tbdr_wal_segment_name(tli, stop / SEG, SEG, name);
	m->wal_stop = pstrdup(name);
	return m;
}

static void
add_segs(TbdrWalInventory *inv, uint32 tli, uint64 from, uint64 to, int64 t0)
{
	for (uint64 s = from; s <= to; s++)
		tbdr_wal_inventory_add_segment(inv, tli, s, t0 + (int64) s * 100);
}

/* After finish: summaries for segments from..to of tli (see above). */
static void
add_summaries(TbdrWalInventory *inv, uint32 tli, uint64 from, uint64 to, int64 t0)
{
	for (uint64 s = from; s <= to; s++)
	{
		TbdrWalSummary *sum = palloc0(sizeof(TbdrWalSummary));

		sum->seg_start = s * SEG;
		sum->nrecords = 10;
		sum->last_record = s * SEG + 0x100;
		sum->end = s * SEG + 0x120;
		sum->nxacts = 1;
		sum->xact_time_min = sum->xact_time_max = (t0 + (int64) s * 100) * US + 500;
		sum->nxids = 1;
		sum->xids = palloc(sizeof(TbdrXidRange));
		sum->xids[0].lo = sum->xids[0].hi = 1000 + (uint32) s;
		if (s == 8)
		{
			sum->nrps = 1;
			sum->rps = palloc0(sizeof(TbdrRestorePoint));
			sum->rps[0].lsn = s * SEG + 0x80;
			strlcpy(sum->rps[0].name, "before upgrade", sizeof(sum->rps[0].name));
		}
		tbdr_wal_inventory_set_summary(inv, tli, s, sum);
	}
}

int
main(void)
{
	TbdrError	err;
	int64		us;
	char		buf[64];
	TbdrTimelineHistory h;
	int64		T = 1764450000;		/* 2025-11-29T21:00:00Z */

	/* ---- timestamps ---- */
	tbdr_error_clear(&err);
	ok(tbdr_parse_timestamp("2026-11-30 01:02:03.5+00", &us, &err), "timestamp with fraction and +00");
	tbdr_format_timestamp(us, buf, sizeof(buf));
	is_str(buf, "2026-11-30 01:02:03.5+00", "formatted back in UTC, at its precision");
	ok(tbdr_parse_timestamp("2026-11-30T02:32:03.5+01:30", &us, &err), "'T' and +01:30");
	tbdr_format_timestamp(us, buf, sizeof(buf));
	is_str(buf, "2026-11-30 01:02:03.5+00", "offset applied");
	ok(tbdr_parse_timestamp("2026-11-29 20:02:03.123456-05", &us, &err), "-05");
	tbdr_format_timestamp(us, buf, sizeof(buf));
	is_str(buf, "2026-11-30 01:02:03.123456+00", "negative offset, microseconds kept");
	ok(tbdr_parse_timestamp("0999-12-31 23:59:59.9999 UTC", &us, &err), "year 999");
	tbdr_format_timestamp(us, buf, sizeof(buf));
	is_str(buf, "0999-12-31 23:59:59.9999+00",
		   "formatted with four digits, as parsed (found by fuzzing)");
	{
		int64		t;
		char		id[TBDR_BACKUP_ID_LEN + 1];

		ok(tbdr_parse_utc("0474-11-25T02:00:00Z", &t), "manifest time of year 474");
		tbdr_format_utc(t, buf, sizeof(buf));
		is_str(buf, "0474-11-25T02:00:00Z", "  formatted with four digits (found by fuzzing)");
		tbdr_backup_id_format(t, id);
		is_str(id, "04741125T020000Z", "  and as a backup id");
		ok(!tbdr_parse_utc("9999-12-31T23:59:60Z", &t),
		   "a leap second into year 10000 is refused");
	}
	ok(tbdr_parse_timestamp("2026-11-30 01:02:03Z", &us, &err) &&
	   tbdr_parse_timestamp("2026-11-30 01:02:03 UTC", &us, &err), "Z and UTC");
	tbdr_format_timestamp(us, buf, sizeof(buf));
	is_str(buf, "2026-11-30 01:02:03+00", "whole seconds: no fraction");
	ok(!tbdr_parse_timestamp("2026-11-30 01:02:03", &us, &err), "no zone: refused");
	ok(strstr(err.message, "no time zone") != NULL, "and the message says why");
	ok(!tbdr_parse_timestamp("2026-02-30 01:02:03+00", &us, &err), "30 February refused");
	ok(!tbdr_parse_timestamp("yesterday", &us, &err), "garbage refused");
	ok(strstr(err.hint, "YYYY-MM-DD") != NULL, "with a hint on the format");

	/* ---- history files ---- */
	ok(tbdr_timeline_history_parse("1\t0/5800000\tno recovery target specified\n\n"
								   "# comment\n2\t0/7000000\tbefore 2026-11-30\n", 3, &h, &err),
	   "history of timeline 3 parses");
	is_int(h.n, 3, "three entries");
	ok(h.entries[0].tli == 1 && h.entries[0].begin == 0 && h.entries[0].end == 0x5800000,
	   "timeline 1 up to 0/5800000");
	ok(h.entries[1].tli == 2 && h.entries[1].begin == 0x5800000 && h.entries[1].end == 0x7000000,
	   "timeline 2 from 0/5800000 to 0/7000000");
	ok(h.entries[2].tli == 3 && h.entries[2].end == PG_UINT64_MAX, "timeline 3 open-ended");
	ok(!tbdr_timeline_history_parse("2\t0/1\tx\n1\t0/2\tx\n", 3, &h, &err), "decreasing IDs refused");
	ok(!tbdr_timeline_history_parse("1 nonsense\n", 2, &h, &err) && err.code == TBDR_ERR_CORRUPT,
	   "a bad line is corrupt");

	/* ---- segment names ---- */
	{
		uint32		tli;
		uint64		segno;

		tbdr_wal_segment_name(2, 0x105, SEG, buf);
		is_str(buf, "000000020000000100000005", "segment name across a log boundary");
		ok(tbdr_wal_segment_parse(buf, SEG, &tli, &segno) && tli == 2 && segno == 0x105,
		   "and parsed back");
	}

	/*
	 * ---- a window across a timeline switch ----
	 *
	 * B1 on timeline 1 (segments 2..2); timeline 1 has WAL 2..9; timeline 2
	 * branched at 0/5800000 (segment 5) and has 5..7.  B2 on timeline 1
	 * after the branch point.
	 */
	{
		TbdrWalInventory *inv = palloc0(sizeof(TbdrWalInventory));
		TbdrManifest *b[3];
		TbdrWindow *w;
		TbdrTarget t;
		int			i;

		inv->seg_size = SEG;
		add_segs(inv, 1, 2, 9, T);
		add_segs(inv, 2, 5, 7, T);
		tbdr_wal_inventory_finish(inv);
		add_summaries(inv, 1, 2, 9, T);
		add_summaries(inv, 2, 5, 7, T);
		ok(tbdr_wal_inventory_add_history(inv, 2, "1\t0/5800000\tno recovery target specified\n", &err),
		   "history of timeline 2 added");
		b[0] = backup("20261130T010000Z", 1, 0x2000028, 0x2000100, T + 100);
		b[1] = backup("20261130T020000Z", 1, 0x7000028, 0x7000100, T + 800);
		is_int(tbdr_wal_seg_size_of(b[0]), SEG, "segment size 16 MB from the manifest");
		is_int(tbdr_wal_latest_timeline(inv, b, 2), 2, "latest timeline is 2");

		w = tbdr_window_compute(inv, b, 2, 2, &err);
		ok(w != NULL, "window on timeline 2");
		ok(w->backups[0].usable, "B1 serves timeline 2");
		ok(!w->backups[1].on_timeline, "B2 (after the branch point) does not");
		is_int(w->nintervals, 1, "one interval");
		is_int(w->intervals[0].start_lsn, 0x2000100, "from B1's stop LSN");
		is_int(w->intervals[0].end_lsn, 8 * SEG, "to the end of timeline 2's segment 7");
		is_int(w->intervals[0].end_tli, 2, "last segment on timeline 2");
		is_int(w->intervals[0].end_time, (T + 700) * US + 499, "end time: 1 us before the last commit");
		is_int(w->intervals[0].start_time, (T + 101) * US,
			   "start: B1's stop time rounded up (its own WAL has a later commit)");
		is_int(w->intervals[0].lsn_max, 7 * SEG + 0x100, "LSN targets up to the last record's start");

		memset(&t, 0, sizeof(t));
		t.type = TBDR_TARGET_TIME;
		t.text = "x";
		t.time = (T + 300) * US;
		i = tbdr_window_select(w, &t, NULL, &err);
		ok(i == 0, "a time on timeline 2 selects B1");
		t.time = (T + 50) * US;
		ok(tbdr_window_select(w, &t, NULL, &err) < 0, "a time before B1's end is refused");
		ok(strstr(err.message, "outside the restorable window") && strstr(err.message, "timeline 2"),
		   "naming the window");
		t.time = (T + 5000) * US;
		ok(tbdr_window_select(w, &t, NULL, &err) < 0, "a time after the last WAL is refused");
		t.time = (T + 700) * US + 499;
		ok(tbdr_window_select(w, &t, NULL, &err) == 0, "the printed end restores");
		t.time++;
		ok(tbdr_window_select(w, &t, NULL, &err) < 0, "1 us later (the last commit's time) is refused");
		t.type = TBDR_TARGET_LSN;
		t.lsn = 7 * SEG + 0x101;
		ok(tbdr_window_select(w, &t, NULL, &err) < 0, "an LSN after the last record's start is refused");
		t.type = TBDR_TARGET_LSN;
		t.lsn = 0x6000000;
		ok(tbdr_window_select(w, &t, NULL, &err) == 0, "an LSN on timeline 2 selects B1");
		t.lsn = 0x9000000;
		ok(tbdr_window_select(w, &t, NULL, &err) < 0, "an LSN past timeline 2's WAL is refused");
		t.type = TBDR_TARGET_LATEST;
		ok(tbdr_window_select(w, &t, "20261130T020000Z", &err) < 0 &&
		   strstr(err.message, "not on the history of timeline 2"),
		   "--backup of the other branch: refused with the reason");

		w = tbdr_window_compute(inv, b, 2, 1, &err);
		ok(w->backups[0].usable && w->backups[1].usable, "on timeline 1 both serve");
		is_int(w->intervals[0].end_lsn, 10 * SEG, "timeline 1's window ends after segment 9");
		t.type = TBDR_TARGET_LATEST;
		is_int(tbdr_window_select(w, &t, NULL, &err), 1, "latest: the newest backup");
		t.type = TBDR_TARGET_TIME;
		t.time = (T + 850) * US;
		is_int(tbdr_window_select(w, &t, NULL, &err), 1, "a time after B2: B2");
		t.time = (T + 600) * US;
		is_int(tbdr_window_select(w, &t, NULL, &err), 0, "a time before B2: B1");

		/* xid and name targets, located in the summaries */
		{
			TbdrTargetSearch res;

			t.type = TBDR_TARGET_XID;
			t.text = "1008";
			ok(tbdr_target_search(inv, w, &t, &res, &err) && res.found && res.segno == 8,
			   "xid 1008: in segment 8");
			tbdr_target_set_location(&t, &res);
			is_int(tbdr_window_select(w, &t, NULL, &err), 1, "xid after B2: B2");
			t.located = false;
			t.text = "1005";
			ok(tbdr_target_search(inv, w, &t, &res, &err) && res.found, "xid 1005 found");
			tbdr_target_set_location(&t, &res);
			is_int(tbdr_window_select(w, &t, NULL, &err), 0, "xid before B2: B1");
			t.located = false;
			t.text = "1007";	/* in B2's stop segment: maybe before its end */
			ok(tbdr_target_search(inv, w, &t, &res, &err) && res.found, "xid 1007 found");
			tbdr_target_set_location(&t, &res);
			is_int(tbdr_window_select(w, &t, NULL, &err), 0, "xid in B2's stop segment: B1");
			t.located = false;
			t.text = "4242";
			ok(tbdr_target_search(inv, w, &t, &res, &err) && !res.found &&
			   res.unsummarized == 0, "an xid that is not there: not found");
			t.type = TBDR_TARGET_NAME;
			t.text = "before upgrade";
			ok(tbdr_target_search(inv, w, &t, &res, &err) && res.found &&
			   res.lsn == 8 * SEG + 0x80, "restore point: at its LSN");
			tbdr_target_set_location(&t, &res);
			is_int(tbdr_window_select(w, &t, NULL, &err), 1, "restore point after B2: B2");
		}

		/* the histories: timeline 1 went on after timeline 2 branched */
		{
			int			n;
			TbdrBranch *tips = tbdr_wal_branches(inv, b, 2, &n, &err);

			is_int(n, 2, "two diverging histories");
			ok(tips[0].tli == 1 && tips[1].tli == 2 && tips[1].parent == 1 &&
			   tips[1].fork_lsn == 0x5800000, "timeline 1, and 2 branched at 0/5800000");
			is_int(tips[0].end_lsn, 9 * SEG + 0x120, "timeline 1's WAL ends at its last record");
			is_int(tips[0].last_commit, (T + 900) * US + 500, "and its last commit");
			ok(strstr(tbdr_branch_describe(&tips[1]), "branched from timeline 1 at LSN 0/5800000") != NULL,
			   "described with the branch point");
		}
	}

	/* ---- a failover: timeline 1 stopped where timeline 2 began ---- */
	{
		TbdrWalInventory *inv = palloc0(sizeof(TbdrWalInventory));
		int			n;
		TbdrBranch *tips;

		inv->seg_size = SEG;
		add_segs(inv, 1, 2, 5, T);
		add_segs(inv, 2, 5, 7, T);
		tbdr_wal_inventory_finish(inv);
		add_summaries(inv, 1, 2, 5, T);
		ok(tbdr_wal_inventory_add_history(inv, 2, "1\t0/5000120\tno recovery target specified\n", &err),
		   "history of timeline 2 (switch at timeline 1's last record end)");
		tips = tbdr_wal_branches(inv, NULL, 0, &n, &err);
		ok(n == 1 && tips[0].tli == 2, "one history: timeline 2");
	}

	/* ---- segments archived without a summary ---- */
	{
		TbdrWalInventory *inv = palloc0(sizeof(TbdrWalInventory));
		TbdrManifest *b[1];
		TbdrWindow *w;
		TbdrTarget t;

		inv->seg_size = SEG;
		add_segs(inv, 1, 2, 9, T);
		tbdr_wal_inventory_finish(inv);
		b[0] = backup("20261130T010000Z", 1, 0x2000028, 0x2000100, T + 100);
		w = tbdr_window_compute(inv, b, 1, 1, &err);
		ok(w->backups[0].usable && w->intervals[0].end_time == 0,
		   "no summaries: no time targets");
		is_int(w->intervals[0].lsn_max, 9 * SEG, "LSN targets to the last segment's start");
		memset(&t, 0, sizeof(t));
		t.type = TBDR_TARGET_TIME;
		t.text = "x";
		t.time = (T + 300) * US;
		ok(tbdr_window_select(w, &t, NULL, &err) < 0 &&
		   strstr(err.message, "no time targets") != NULL, "a time target is refused, saying why");
	}

	/* ---- a WAL gap ---- */
	{
		TbdrWalInventory *inv = palloc0(sizeof(TbdrWalInventory));
		TbdrManifest *b[3];
		TbdrWindow *w;
		TbdrTarget t;
		char	   *desc;

		inv->seg_size = SEG;
		add_segs(inv, 1, 2, 3, T);
		add_segs(inv, 7, 7, 7, T);	/* another timeline: ignored */
		add_segs(inv, 1, 6, 9, T);
		tbdr_wal_inventory_finish(inv);
		add_summaries(inv, 1, 2, 3, T);
		add_summaries(inv, 1, 6, 9, T);
		b[0] = backup("20261130T010000Z", 1, 0x2000028, 0x2000100, T + 100);
		b[1] = backup("20261130T030000Z", 1, 0x6000028, 0x6000100, T + 700);
		b[2] = backup("20261130T040000Z", 1, 0xB000028, 0xB000100, T + 1200);
		w = tbdr_window_compute(inv, b, 3, 1, &err);
		ok(!w->backups[2].usable, "a backup without its WAL is not usable");
		is_str(w->backups[2].missing, "00000001000000000000000B", "and its missing segment is named");
		is_int(w->nintervals, 2, "two intervals around the gap");
		is_int(w->ngaps, 1, "one gap");
		is_str(w->gaps[0].first, "000000010000000000000004", "gap starts at segment 4");
		is_str(w->gaps[0].last, "000000010000000000000005", "and ends at 5");
		desc = tbdr_window_describe(w);
		ok(strstr(desc, "WAL gap: 000000010000000000000004..000000010000000000000005 missing") != NULL,
		   "the description names the gap");
		memset(&t, 0, sizeof(t));
		t.type = TBDR_TARGET_TIME;
		t.text = "x";
		t.time = (T + 550) * US;	/* after segment 3's archive time, before B2 */
		ok(tbdr_window_select(w, &t, NULL, &err) < 0 && strstr(err.message, "WAL gap"),
		   "a target in the gap is refused, naming the gap");
		t.time = (T + 750) * US;
		is_int(tbdr_window_select(w, &t, NULL, &err), 1, "after the gap: the backup after it");
		t.type = TBDR_TARGET_IMMEDIATE;
		is_int(tbdr_window_select(w, &t, NULL, &err), 1, "immediate: the newest usable backup");
		ok(tbdr_window_select(w, &t, "20261130T040000Z", &err) < 0 &&
		   strstr(err.message, "00000001000000000000000B"),
		   "--backup of the unusable one: names the missing segment");
		ok(tbdr_window_select(w, &t, "20261130T050000Z", &err) < 0 && err.code == TBDR_ERR_NOT_FOUND,
		   "--backup unknown: not found");
	}

	return done_testing();
}
