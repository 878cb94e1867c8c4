/*-------------------------------------------------------------------------
 * test_window.c
 *	  Unit tests of the restorable window and backup selection (window.h):
 *	  timestamps, timeline history files, WAL runs across a timeline switch,
 *	  gaps, and the choice of a backup for time, LSN and other targets.
 *
 * The inputs are manifest headers and WAL inventories built here, the same
 * structures the loader fills from a repository listing.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

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
	is_str(buf, "2026-11-30 01:02:03.500000+00", "formatted back in UTC");
	ok(tbdr_parse_timestamp("2026-11-30T02:32:03.5+01:30", &us, &err), "'T' and +01:30");
	tbdr_format_timestamp(us, buf, sizeof(buf));
	is_str(buf, "2026-11-30 01:02:03.500000+00", "offset applied");
	ok(tbdr_parse_timestamp("2026-11-29 20:02:03.123456-05", &us, &err), "-05");
	tbdr_format_timestamp(us, buf, sizeof(buf));
	is_str(buf, "2026-11-30 01:02:03.123456+00", "negative offset, microseconds kept");
	ok(tbdr_parse_timestamp("0999-12-31 23:59:59.9999 UTC", &us, &err), "year 999");
	tbdr_format_timestamp(us, buf, sizeof(buf));
	is_str(buf, "0999-12-31 23:59:59.999900+00",
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
		is_int(w->intervals[0].end_time, (T + 700) * US, "end time: its archive time");

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
