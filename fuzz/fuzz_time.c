/*-------------------------------------------------------------------------
 * fuzz_time.c
 *	  Fuzz the parsers of times, positions and timelines: recovery target
 *	  timestamps, timeline history files (src/core/window.c), UTC times, LSNs,
 *	  backup ids and WAL file names in manifests and keys (manifest.c,
 *	  repo.c), and retention policies (expire.c).
 *
 * Input: one byte choosing the parser, then its text.  For history files
 * the next four bytes are the timeline.
 *
 * Properties: what parses formats back to text that parses to the same
 * value (timestamps of years 1 to 9999, UTC times, LSNs, backup ids,
 * segment names).
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include "core/expire.h"
#include "core/manifest.h"
#include "core/repo.h"
#include "core/window.h"

static void
fuzz_timestamp(const char *s)
{
	int64		us,
				again;
	char		text[64];
	TbdrError	err;

	tbdr_error_clear(&err);
	if (!tbdr_parse_timestamp(s, &us, &err))
	{
		FUZZ_CHECK(err.message[0] != '\0');
		return;
	}
	/* years 1..9999 format back to what parses (a zone can leave them) */
	if (us < INT64CONST(-62135596800000000) || us >= INT64CONST(253402300800000000))
		return;
	tbdr_format_timestamp(us, text, sizeof(text));
	if (!tbdr_parse_timestamp(text, &again, &err))
		fprintf(stderr, "\"%s\" does not parse: %s\n", text, err.message);
	FUZZ_CHECK(tbdr_parse_timestamp(text, &again, &err) && again == us);
}

static void
fuzz_history(const uint8_t *data, size_t size)
{
	TbdrTimelineHistory h;
	TbdrError	err;
	uint32		tli;
	char	   *text;

	if (size < 4)
		return;
	memcpy(&tli, data, 4);
	text = fuzz_cstring(data + 4, size - 4);
	tbdr_error_clear(&err);
	memset(&h, 0, sizeof(h));
	if (tbdr_timeline_history_parse(text, tli, &h, &err))
	{
		FUZZ_CHECK(h.n >= 1 && h.entries[h.n - 1].tli == tli);
		for (int i = 1; i < h.n; i++)
			FUZZ_CHECK(h.entries[i].tli > h.entries[i - 1].tli);
	}
	else
		FUZZ_CHECK(err.message[0] != '\0');
	if (h.entries)
		pfree(h.entries);
	pfree(text);
}

static void
fuzz_positions(const char *s)
{
	int64		t,
				t2;
	uint64		lsn,
				lsn2,
				segno,
				segno2;
	uint32		tli,
				tli2;
	char		text[64];
	char		id[TBDR_BACKUP_ID_LEN + 1];
	const char *rest;
	char	   *name;

	if (tbdr_parse_utc(s, &t))
	{
		tbdr_format_utc(t, text, sizeof(text));
		FUZZ_CHECK(tbdr_parse_utc(text, &t2) && t2 == t);
	}
	if (tbdr_parse_lsn(s, &lsn))
	{
		tbdr_format_lsn(lsn, text, sizeof(text));
		FUZZ_CHECK(tbdr_parse_lsn(text, &lsn2) && lsn2 == lsn);
	}
	if (tbdr_backup_id_parse(s, &t))
	{
		tbdr_backup_id_format(t, id);
		FUZZ_CHECK(tbdr_backup_id_parse(id, &t2) && t2 == t);
	}
	if (tbdr_wal_segment_parse(s, TBDR_WAL_SEG_SIZE_DEFAULT, &tli, &segno))
	{
		tbdr_wal_segment_name(tli, segno, TBDR_WAL_SEG_SIZE_DEFAULT, text);
		FUZZ_CHECK(tbdr_wal_segment_parse(text, TBDR_WAL_SEG_SIZE_DEFAULT,
										  &tli2, &segno2) &&
				   tli2 == tli && segno2 == segno);
	}
	(void) tbdr_wal_file_kind(s);
	name = tbdr_repo_wal_name(s);
	if (name)
	{
		TbdrError	err;
		char	   *key = tbdr_repo_wal_key(name, &err);

		FUZZ_CHECK(key != NULL && strcmp(key, s) == 0);
		pfree(key);
		pfree(name);
	}
	if (tbdr_repo_backup_key_id(s, id, &rest))
		FUZZ_CHECK(strlen(id) == TBDR_BACKUP_ID_LEN && rest != NULL);
}

static void
fuzz_retention(const char *s)
{
	TbdrRetentionPolicy policy;
	TbdrError	err;

	tbdr_error_clear(&err);
	if (!tbdr_retention_policy_parse(s, &policy, &err))
		FUZZ_CHECK(err.message[0] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;

	if (size < 1)
		return 0;
	if (data[0] % 4 == 1)
	{
		fuzz_history(data + 1, size - 1);
		return 0;
	}
	s = fuzz_cstring(data + 1, size - 1);
	switch (data[0] % 4)
	{
		case 0:
			fuzz_timestamp(s);
			break;
		case 2:
			fuzz_positions(s);
			break;
		default:
			fuzz_retention(s);
			break;
	}
	pfree(s);
	return 0;
}
