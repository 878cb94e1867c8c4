/*-------------------------------------------------------------------------
 * cmd_settings.c
 *	  tbdr settings: the effective tbdr.* settings, or their reference.
 *
 * Without options it prints every setting as the program sees it (defaults,
 * then the configuration file, then --set), in postgresql.conf syntax with
 * secrets masked, so that a user can see what a command would use.  With
 * --markdown it prints the reference that docs/SETTINGS.md embeds.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "cli/cli.h"
#include "core/settings_doc.h"

#define CLI_OPT_MARKDOWN	2001

static const struct option settings_options[] = {
	CLI_COMMON_LONGOPTS,
	{"markdown", no_argument, NULL, CLI_OPT_MARKDOWN},
	{NULL, 0, NULL, 0}
};

/* A value quoted for postgresql.conf: '' doubles a quote. */
static void
print_quoted(const char *v)
{
	putchar('\'');
	for (const char *p = v; *p; p++)
	{
		if (*p == '\'')
			putchar('\'');
		putchar(*p);
	}
	putchar('\'');
}

int
cmd_settings(const CliCommand *cmd, int argc, char **argv)
{
	int			c;
	bool		markdown = false;
	TbdrConfig	cfg;
	const char *source = NULL;

	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, settings_options, NULL)) != -1)
	{
		if (cli_common_option(cmd, c, optarg))
			continue;
		if (c == CLI_OPT_MARKDOWN)
			markdown = true;
		else
			cli_usage_error(cmd, "option \"%s\" does not apply to %s",
							argv[optind - 1], cmd->name);
	}
	if (optind < argc)
		cli_usage_error(cmd, "too many arguments");

	if (markdown)
	{
		fputs(tbdr_settings_markdown(), stdout);
		return CLI_EXIT_OK;
	}

	cli_load_config(&cfg, &source);
	printf("# effective tbdr.* settings: defaults, %s, then --set options\n",
		   source ? source : "defaults");
	for (int i = 0; i < tbdr_num_settings; i++)
	{
		const TbdrSetting *s = &tbdr_settings[i];

		printf("tbdr.%s = ", s->name);
		print_quoted(tbdr_config_show(&cfg, s));
		putchar('\n');
	}
	return CLI_EXIT_OK;
}
