/*-------------------------------------------------------------------------
 * test_walsummary.c
 *	  Unit tests of the WAL summary's stored form (walsummary.h): written
 *	  and parsed back, xid ranges and restore point names (any bytes), and
 *	  damaged text refused.  The walker itself runs on real WAL in
 *	  test/t/057_restore_histories.pl (checked against pg_waldump).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include "core/walsummary.h"
#include "tap.h"

int
main(void)
{
	TbdrWalSummary s;
	TbdrWalSummary *p;
	TbdrXidRange xids[3] = {{3, 725}, {727, 727}, {4000000000U, 4000000005U}};
	TbdrRestorePoint rps[2];
	StringInfoData out;
	TbdrError	err;

	memset(&s, 0, sizeof(s));
	memset(rps, 0, sizeof(rps));
	s.seg_start = UINT64CONST(0x100000000);
	s.nrecords = 201289;
	s.last_record = UINT64CONST(0x101FFFF80);
	s.end = UINT64CONST(0x101FFFFBB);
	s.switched = true;
	s.nxacts = 723;
	s.xact_time_min = INT64CONST(1796233324478969);
	s.xact_time_max = INT64CONST(1796233332702441);
	s.nxids = 3;
	s.xids = xids;
	s.nrps = 2;
	s.rps = rps;
	rps[0].lsn = 0x1537558;
	rps[0].time = INT64CONST(1796233332701407);
	strlcpy(rps[0].name, "rp one", sizeof(rps[0].name));
	rps[1].lsn = 0x1537600;
	strlcpy(rps[1].name, "new\nline 'q' \xc3\xa9", sizeof(rps[1].name));

	initStringInfo(&out);
	tbdr_wal_summary_write(&s, &out);
	tbdr_error_clear(&err);
	p = tbdr_wal_summary_parse(out.data, out.len, &err);
	ok(p != NULL, "parses back");
	ok(p->seg_start == s.seg_start && p->nrecords == s.nrecords &&
	   p->last_record == s.last_record && p->end == s.end && p->switched &&
	   !p->undecoded && p->nxacts == 723 && p->xact_time_min == s.xact_time_min &&
	   p->xact_time_max == s.xact_time_max, "every field kept");
	is_int(p->nxids, 3, "three xid ranges");
	ok(tbdr_wal_summary_has_xid(p, 3) && tbdr_wal_summary_has_xid(p, 500) &&
	   tbdr_wal_summary_has_xid(p, 727) && tbdr_wal_summary_has_xid(p, 4000000005U),
	   "xids inside the ranges");
	ok(!tbdr_wal_summary_has_xid(p, 2) && !tbdr_wal_summary_has_xid(p, 726) &&
	   !tbdr_wal_summary_has_xid(p, 728) && !tbdr_wal_summary_has_xid(p, 4000000006U),
	   "xids outside them");
	is_int(p->nrps, 2, "two restore points");
	ok(tbdr_wal_summary_find_rp(p, "rp one") && tbdr_wal_summary_find_rp(p, "rp one")->lsn == 0x1537558 &&
	   tbdr_wal_summary_find_rp(p, "rp one")->time == rps[0].time, "found by name, with LSN and time");
	ok(tbdr_wal_summary_find_rp(p, rps[1].name) != NULL, "a name with a newline, quotes and UTF-8");
	ok(tbdr_wal_summary_find_rp(p, "rp") == NULL, "a prefix of a name is not it");

	ok(tbdr_wal_summary_parse("tbdr-wal-summary 2\n", 19, &err) == NULL &&
	   err.code == TBDR_ERR_CORRUPT, "another version: refused");
	ok(tbdr_wal_summary_parse("tbdr-wal-summary 1\nxids 5-3\n", 27, &err) == NULL,
	   "a reversed range: refused");
	ok(tbdr_wal_summary_parse("tbdr-wal-summary 1\nrp 1 2 6x\n", 28, &err) == NULL,
	   "a bad name: refused");
	ok(tbdr_wal_summary_parse("tbdr-wal-summary 1\nwhat 1\n", 26, &err) == NULL,
	   "an unknown line: refused");
	return done_testing();
}
