/*-------------------------------------------------------------------------
 * test_settings_doc.c
 *	  docs/SETTINGS.md must hold exactly the reference generated from the
 *	  settings table (core/settings_doc.h), and that reference must cover
 *	  every setting.
 *
 * The file is read from $TBDR_SRC/docs/SETTINGS.md, else from
 * docs/SETTINGS.md relative to the current directory (the tree's top, where
 * test/run-tests runs the unit tests).
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "core/config.h"
#include "core/settings_doc.h"
#include "tap.h"
#include "testfile.h"

#define REGENERATE \
	"regenerate: { sed '/^<!-- BEGIN generated/,$d' docs/SETTINGS.md; " \
	"build/tbdr settings --markdown; } > /tmp/s.md && mv /tmp/s.md docs/SETTINGS.md"

/* Print the first line where the two texts differ. */
static void
diag_first_difference(const char *got, const char *want)
{
	int			line = 1;
	const char *g = got;
	const char *w = want;

	while (*g && *g == *w)
	{
		if (*g == '\n')
			line++;
		g++;
		w++;
	}
	printf("#   first difference at line %d of the generated part:\n", line);
	printf("#   docs:      %.*s\n", (int) strcspn(g, "\n"), g);
	printf("#   generated: %.*s\n", (int) strcspn(w, "\n"), w);
}

int
main(void)
{
	const char *src = getenv("TBDR_SRC");
	char	   *path = psprintf("%s/docs/SETTINGS.md", src && src[0] ? src : ".");
	char	   *doc = test_read_file(path, NULL);
	char	   *gen = tbdr_settings_markdown();
	int			headings = 0;
	const char *begin;

	/* the generated reference covers every setting of the table */
	for (int i = 0; i < tbdr_num_settings; i++)
	{
		const TbdrSetting *s = &tbdr_settings[i];
		char	   *heading = psprintf("\n### tbdr.%s\n\n%s\n", s->name, s->short_desc);
		char	   *row = psprintf("| [`tbdr.%s`]", s->name);

		if (strstr(gen, heading) && strstr(gen, row))
			headings++;
		else
			printf("# tbdr.%s is missing from the generated reference\n", s->name);
		if (s->flags & TBDR_SETTING_SECRET)
		{
			const char *sec = strstr(gen, heading);
			const char *next = sec ? strstr(sec + 1, "\n### ") : NULL;
			const char *mark = sec ? strstr(sec, "- Secret:") : NULL;

			ok(mark && (next == NULL || mark < next),
			   psprintf("secret tbdr.%s is documented as secret", s->name));
		}
		ok(s->short_desc && s->short_desc[0] && strchr(s->short_desc, '\n') == NULL,
		   psprintf("tbdr.%s has a one-line description", s->name));
	}
	is_int(headings, tbdr_num_settings, "generated reference: a row and a section per setting");

	ok(doc != NULL, psprintf("%s can be read", path));
	if (doc == NULL)
		return done_testing();

	begin = strstr(doc, TBDR_SETTINGS_DOC_BEGIN);
	ok(begin != NULL, "docs/SETTINGS.md has the BEGIN marker");
	if (begin)
	{
		bool		same = strcmp(begin, gen) == 0;

		ok(same, "docs/SETTINGS.md matches the settings table (" REGENERATE ")");
		if (!same)
			diag_first_difference(begin, gen);
	}
	/* the hand-written part names no setting that does not exist */
	if (begin)
	{
		bool		all_known = true;

		for (const char *p = doc; p < begin && (p = strstr(p, "tbdr.")) != NULL && p < begin; p += 5)
		{
			size_t		n = strspn(p + 5, "abcdefghijklmnopqrstuvwxyz0123456789_");
			char	   *name = pnstrdup(p + 5, n);

			if (n > 0 && strcmp(name, "so") != 0 && strcmp(name, "conf") != 0 &&
				strcmp(name, "control") != 0 && tbdr_setting_find(name) == NULL)
			{
				printf("# docs/SETTINGS.md mentions unknown setting tbdr.%s\n", name);
				all_known = false;
			}
		}
		ok(all_known, "the hand-written part of docs/SETTINGS.md names only existing settings");
	}
	return done_testing();
}
