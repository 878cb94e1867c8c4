/*-------------------------------------------------------------------------
 * fuzz_walsum.c
 *	  Fuzz the WAL summary parser (src/core/walsummary.c): summaries come
 *	  from the bucket, which is not trusted.
 *
 * Property: a summary that parses is written back to text that parses to
 * the same text again, and its lookups (xid ranges, restore point names)
 * stay inside what was parsed.
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include "core/walsummary.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TbdrError	err;
	TbdrWalSummary *s;

	tbdr_error_clear(&err);
	s = tbdr_wal_summary_parse((const char *) data, size, &err);
	if (s)
	{
		StringInfoData a,
					b;
		TbdrWalSummary *again;

		initStringInfo(&a);
		tbdr_wal_summary_write(s, &a);
		again = tbdr_wal_summary_parse(a.data, a.len, &err);
		FUZZ_CHECK(again != NULL);
		initStringInfo(&b);
		tbdr_wal_summary_write(again, &b);
		FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
		for (int i = 0; i < s->nxids; i++)
			FUZZ_CHECK(tbdr_wal_summary_has_xid(s, s->xids[i].lo) &&
					   tbdr_wal_summary_has_xid(s, s->xids[i].hi));
		for (int i = 0; i < s->nrps; i++)
			FUZZ_CHECK(tbdr_wal_summary_find_rp(s, s->rps[i].name) != NULL);
		tbdr_wal_summary_free(again);
		tbdr_wal_summary_free(s);
		pfree(a.data);
		pfree(b.data);
	}
	else
		FUZZ_CHECK(err.message[0] != '\0');
	return 0;
}
