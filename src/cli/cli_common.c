/*-------------------------------------------------------------------------
 * cli_common.c
 *	  Common options, configuration loading and error reporting of the
 *	  tbdr program.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static const char *config_path = NULL;	/* -c/--config */
static char **set_args = NULL;	/* --set name=value, in order */
static int	nset_args = 0;

/*
 * "tbdr 0.1 for PostgreSQL 15.14": the program is built for one PostgreSQL
 * installation, and restores and archives only that major version.
 */
void
cli_print_version(void)
{
	printf("tbdr %s for PostgreSQL %s\n", TBDR_VERSION, PG_VERSION);
}

bool
cli_common_option(const CliCommand *cmd, int c, const char *arg)
{
	switch (c)
	{
		case 'c':
			config_path = arg;
			return true;
		case CLI_OPT_SET:
			if (strchr(arg, '=') == NULL || arg[0] == '=')
				cli_usage_error(cmd, "--set needs name=value, got \"%s\"", arg);
			set_args = pg_realloc(set_args, sizeof(char *) * (nset_args + 1));
			set_args[nset_args++] = pg_strdup(arg);
			return true;
		case 'h':
			cli_command_help(cmd);
			exit(CLI_EXIT_OK);
		case CLI_OPT_VERSION:
			cli_print_version();
			exit(CLI_EXIT_OK);
		case '?':
			/* getopt_long has printed what is wrong */
			cli_usage_error(cmd, NULL);
		case ':':
			cli_usage_error(cmd, "missing option argument");
	}
	return false;
}

bool
cli_try_load_config(TbdrConfig *cfg, const char **source, TbdrError *err)
{
	const char *path = config_path;
	bool		missing_ok = false;
	char	   *default_path = NULL;
	int			i;

	tbdr_config_set_defaults(cfg);
	if (source)
		*source = "no configuration file";

	if (path == NULL)
	{
		const char *pgdata = getenv("PGDATA");

		if (pgdata && pgdata[0])
		{
			default_path = psprintf("%s/tbdr.conf", pgdata);
			path = default_path;
			missing_ok = true;
		}
	}
	if (path)
	{
		struct stat stbuf;

		if (!tbdr_config_load_file(cfg, path, missing_ok, err))
		{
			if (config_path && err->hint[0] == '\0' && err->code == TBDR_ERR_NOT_FOUND)
				tbdr_error_hint(err, "Check the path given with -c/--config.");
			return false;
		}
		if (source && (!missing_ok || stat(path, &stbuf) == 0))
			*source = psprintf("configuration file \"%s\"", path);
	}

	for (i = 0; i < nset_args; i++)
	{
		char	   *name = pg_strdup(set_args[i]);
		char	   *eq = strchr(name, '=');

		*eq = '\0';
		if (!tbdr_config_set(cfg, name, eq + 1, err))
		{
			tbdr_error_prefix(err, "--set %s: ", name);
			pg_free(name);
			return false;
		}
		pg_free(name);
	}

	/* every command that reads the repository with the opt-in says so */
	if (tbdr_config_unauthenticated_warning(cfg))
	{
		fflush(stdout);
		fprintf(stderr, "tbdr: warning: %s\n",
				tbdr_config_unauthenticated_warning(cfg));
	}
	return true;
}

char *
cli_config_file(void)
{
	const char *path = config_path;
	char	   *abs;
	struct stat stbuf;

	if (path == NULL)
	{
		const char *pgdata = getenv("PGDATA");

		if (pgdata == NULL || pgdata[0] == '\0')
			return NULL;
		path = psprintf("%s/tbdr.conf", pgdata);
		if (stat(path, &stbuf) != 0)
			return NULL;
	}
	abs = make_absolute_path(path);
	return abs;
}

void
cli_load_config(TbdrConfig *cfg, const char **source)
{
	TbdrError	err;

	tbdr_error_clear(&err);
	if (!cli_try_load_config(cfg, source, &err))
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}
}

void
cli_report_error(const TbdrError *err)
{
	fflush(stdout);
	fprintf(stderr, "tbdr: error: %s", err->message[0] ? err->message : "unknown error");
	if (err->http_status || err->s3_code[0])
	{
		fputs(" (", stderr);
		if (err->http_status)
			fprintf(stderr, "HTTP %d", err->http_status);
		if (err->s3_code[0])
			fprintf(stderr, "%s%s", err->http_status ? " " : "", err->s3_code);
		if (err->request_id[0])
			fprintf(stderr, ", request id %s", err->request_id);
		fputc(')', stderr);
	}
	fputc('\n', stderr);
	if (err->detail[0])
		fprintf(stderr, "DETAIL: %s\n", err->detail);
	if (err->hint[0])
		fprintf(stderr, "HINT: %s\n", err->hint);
}

void
cli_fatal(const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	fputs("tbdr: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(CLI_EXIT_ERROR);
}

void
cli_usage_error(const CliCommand *cmd, const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	if (fmt)
	{
		fputs("tbdr: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	if (cmd)
	{
		fprintf(stderr, "Usage: tbdr %s [OPTION]...%s%s\n", cmd->name,
				cmd->args[0] ? " " : "", cmd->args);
		fprintf(stderr, "Try \"tbdr %s --help\" for more information.\n", cmd->name);
	}
	else
	{
		fprintf(stderr, "Usage: tbdr COMMAND [OPTION]... [ARG]...\n");
		fprintf(stderr, "Try \"tbdr --help\" for more information.\n");
	}
	exit(CLI_EXIT_USAGE);
}

void
cli_command_help(const CliCommand *cmd)
{
	if (cmd == NULL)
		return;
	printf("tbdr %s - %s\n\n", cmd->name, cmd->summary);
	printf("Usage:\n  tbdr %s [OPTION]...%s%s\n", cmd->name,
		   cmd->args[0] ? " " : "", cmd->args);
	if (cmd->options && cmd->options[0])
		printf("\n%s", cmd->options);
	printf("\nCommon options:\n"
		   "  -c, --config=FILE     configuration file (postgresql.conf syntax, tbdr.* lines);\n"
		   "                        default $PGDATA/tbdr.conf if PGDATA is set\n"
		   "      --set NAME=VALUE  set a tbdr.* setting, after the file (repeatable)\n"
		   "  -h, --help            show this help, then exit\n"
		   "      --version         show the version, then exit\n"
		   "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}
