/*
 * walsum_tool: print the summary (walsummary.h) of WAL segment files, in the
 * stored form, for the TAP tests and by hand:
 *	 walsum_tool SEGMENT_SIZE FILE...
 * The segment's start LSN comes from the file name.
 */
#include "core/tbdr_base.h"

#include <libgen.h>

#include "core/walsummary.h"
#include "core/window.h"

int
main(int argc, char **argv)
{
	uint64		seg_size;

	if (argc < 3)
	{
		fprintf(stderr, "usage: walsum_tool SEGMENT_SIZE FILE...\n");
		return 2;
	}
	seg_size = strtoull(argv[1], NULL, 10);
	for (int i = 2; i < argc; i++)
	{
		char	   *copy = pstrdup(argv[i]);
		char	   *name = basename(copy);
		uint32		tli;
		uint64		segno;
		TbdrError	err;
		TbdrWalSummary *s;
		StringInfoData out;

		tbdr_error_clear(&err);
		if (!tbdr_wal_segment_parse(name, seg_size, &tli, &segno))
		{
			fprintf(stderr, "%s: not a WAL segment name\n", argv[i]);
			return 1;
		}
		s = tbdr_wal_summarize_file(argv[i], segno * seg_size, seg_size, &err);
		if (s == NULL)
		{
			fprintf(stderr, "%s: %s\n", argv[i], err.message);
			return 1;
		}
		initStringInfo(&out);
		tbdr_wal_summary_write(s, &out);
		printf("# %s\n%s", name, out.data);
	}
	return 0;
}
