/*-------------------------------------------------------------------------
 * fuzz_config.c
 *	  Fuzz the settings file reader (src/core/config.c): postgresql.conf
 *	  syntax, quoting and escapes, includes, and every tbdr.* setting's
 *	  validation; and the removal of secret lines (tbdr_config_redact):
 *	  nothing to remove in its output, the input unchanged without any.
 *
 * The input is written to a file in a private scratch directory and read
 * with tbdr_config_load_file.  Inputs with an include directive that could
 * leave that directory (a '/', "..", or a backslash escape that could spell
 * them) are skipped, so a run reads nothing but its own file.
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include "core/config.h"

static void
free_strings(TbdrConfig *cfg)
{
	for (int i = 0; i < tbdr_num_settings; i++)
		if (tbdr_settings[i].type == TBDR_SETTING_STRING)
		{
			char	  **field = (char **) ((char *) cfg + tbdr_settings[i].offset);

			if (*field)
				pfree(*field);
			*field = NULL;
		}
}

static bool
may_leave_scratch_dir(const uint8_t *data, size_t size)
{
	char	   *lower = fuzz_cstring(data, size);
	bool		include;

	for (size_t i = 0; i < size; i++)
		lower[i] = pg_tolower((unsigned char) lower[i]);
	include = memmem(lower, size, "include", 7) != NULL;
	pfree(lower);
	return include && (memchr(data, '/', size) || memchr(data, '\\', size) ||
					   memmem(data, size, "..", 2));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;
	TbdrConfig	cfg;
	TbdrError	err;
	bool		ok;

	if (may_leave_scratch_dir(data, size))
		return 0;
	if (path == NULL)
		path = psprintf("%s/fuzz.conf", fuzz_scratch_dir());
	fuzz_write_file(path, data, size);

	tbdr_config_set_defaults(&cfg);
	tbdr_error_clear(&err);
	ok = tbdr_config_load_file(&cfg, path, false, &err);
	FUZZ_CHECK(ok || err.message[0] != '\0');
	if (ok)
	{
		for (int i = 0; i < tbdr_num_settings; i++)
			pfree(tbdr_config_show(&cfg, &tbdr_settings[i]));
	}
	free_strings(&cfg);

	/* what a backup stores of a configuration file: no secret line is left */
	{
		StringInfoData out;
		StringInfoData again;
		const char *first;
		int			n;

		initStringInfo(&out);
		initStringInfo(&again);
		n = tbdr_config_redact((const char *) data, size, &out, &first);
		FUZZ_CHECK(n >= 0 && (n == 0) == (first == NULL));
		FUZZ_CHECK(tbdr_config_redact(out.data, out.len, &again, NULL) == 0);
		FUZZ_CHECK(n > 0 || (out.len == size && memcmp(out.data, data, size) == 0));
		pfree(out.data);
		pfree(again.data);
	}
	return 0;
}
