/*-------------------------------------------------------------------------
 * fuzz_manifest.c
 *	  Fuzz the backup manifest parser (src/core/manifest.c), which also reads
 *	  the started.json and failed.json status objects of a backup.
 *
 * Property: a document that parses is written back by tbdr_manifest_write
 * into one that parses again, with the same id and the same counts.
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include "core/manifest.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TbdrManifest *m;
	TbdrManifest *again;
	TbdrError	err;
	StringInfoData out;

	tbdr_error_clear(&err);
	m = tbdr_manifest_parse((const char *) data, size, &err);
	if (m == NULL)
	{
		FUZZ_CHECK(err.code == TBDR_ERR_CORRUPT && err.message[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(m->id != NULL);
	for (int i = 0; i < m->nfiles; i++)
		(void) tbdr_manifest_find_file(m, m->files[i].path);

	initStringInfo(&out);
	tbdr_manifest_write(m, &out);
	again = tbdr_manifest_parse(out.data, out.len, &err);
	if (again == NULL)
		fprintf(stderr, "re-parse failed: %s\n", err.message);
	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(strcmp(again->id, m->id) == 0);
	FUZZ_CHECK(again->nfiles == m->nfiles && again->nparts == m->nparts &&
			   again->ndirs == m->ndirs &&
			   again->ntablespaces == m->ntablespaces &&
			   again->ncorrupt == m->ncorrupt);
	tbdr_manifest_free(again);
	tbdr_manifest_free(m);
	pfree(out.data);
	return 0;
}
