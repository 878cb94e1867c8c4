/*-------------------------------------------------------------------------
 * main.c
 *	  The tbdr command-line program: command dispatch and top-level help.
 *
 * Usage: tbdr COMMAND [OPTION]... [ARG]...  The common options (-c, --set,
 * -h, --version) may come before or after the command name; each command
 * parses its own arguments (see cli.h).
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "cli/cli.h"

static const CliCommand commands[] = {
	{"check", cmd_check, "",
		"verify the configuration and the repository end to end",
	NULL},
	{"repo-ls", cmd_repo_ls, "[PREFIX]",
		"list the objects of the repository (key, size, modification time)",
		"Options:\n"
		"      --json            one JSON array of {key, size, mtime, etag}\n"},
	{"repo-get", cmd_repo_get, "KEY FILE",
		"copy an object of the repository to FILE (\"-\" for stdout)",
		"Options:\n"
		"      --no-progress     no progress line, even on a terminal\n"},
	{"repo-put", cmd_repo_put, "FILE KEY",
		"store FILE (\"-\" for stdin) in the repository as KEY",
		"Options:\n"
		"      --no-progress     no progress line, even on a terminal\n"},
	{"repo-rm", cmd_repo_rm, "KEY...",
		"remove objects from the repository (missing ones are not an error)",
	NULL},
	{"archive-push", cmd_archive_push, "WALFILE",
		"store one WAL file (archive_command = 'tbdr archive-push %p')",
	NULL},
	{"archive-get", cmd_archive_get, "WALNAME DEST",
		"restore one WAL file (restore_command = 'tbdr archive-get %f %p'); exit 1 quietly if absent",
	NULL},
	{"expire", cmd_expire, "",
		"delete the backups and WAL the retention settings no longer keep",
		"Options:\n"
		"      --dry-run         show what would be deleted, delete nothing\n"
		"      --json            one JSON document: decisions and deletions\n"
		"      --wait=SECONDS    wait this long for another expiry's lock (default 0)\n"},
	{"lifecycle", cmd_lifecycle, "--print",
		"print an S3 lifecycle configuration for cheaper storage classes",
		"Options:\n"
		"      --print           print it (it is never applied by tbdr)\n"
		"      --ia-days=N       days before STANDARD_IA (default 30, AWS's minimum)\n"
		"      --glacier-days=N  days before GLACIER (default: the larger of\n"
		"                        ia-days + 30 and tbdr.retention_days + 7)\n"},
	{"settings", cmd_settings, "",
		"show the effective tbdr.* settings (secrets masked)",
		"Options:\n"
		"      --markdown        print the reference of every setting (docs/SETTINGS.md)\n"},
	{"list", cmd_list, "",
		"list the backups and the restorable window (earliest/latest point, WAL gaps)",
		"Options:\n"
		"      --json            one JSON object {backups: [...], window: {...}}\n"},
	{"restore", cmd_restore, "--pgdata DIR --as copy|primary",
		"restore a data directory to a point in time (then start the server to recover)",
		"Options:\n"
		"  -D, --pgdata=DIR          the data directory to restore into (empty, or see --delta/--force)\n"
		"      --as=copy|primary     required: what the restored server becomes.\n"
		"                            copy: a test or PITR copy beside production; it reads WAL from\n"
		"                            the repository but never writes into it (archive_mode = 'off'\n"
		"                            and tbdr.copy_of in its postgresql.auto.conf)\n"
		"                            primary: it replaces production (total loss); it archives WAL\n"
		"                            and takes backups into the repository, as its settings say\n"
		"      --backup=ID|latest    the backup to start from (default: the newest one before the target)\n"
		"      --target-time=TS      recover to this time, with a zone: '2026-11-30 14:05:00+00'\n"
		"      --target-lsn=LSN      recover to this WAL location, e.g. 0/16B3D48\n"
		"      --target-xid=XID      recover to this transaction (its commit included, see below)\n"
		"      --target-name=NAME    recover to a restore point (pg_create_restore_point)\n"
		"      --target=immediate    stop as soon as the backup is consistent\n"
		"      --target-exclusive    stop just before the target (time, LSN, xid) instead of after\n"
		"      --target-action=ACT   at the target: pause (PostgreSQL's default), promote, shutdown\n"
		"      --target-timeline=TL  latest (default), current (the backup's) or a number\n"
		"      --tablespace-map=OLD=NEW  restore the tablespace at OLD into NEW (repeatable)\n"
		"      --delta               update a non-empty DIR in place: only differing files are rewritten\n"
		"      --force               wipe a non-empty DIR (and tablespace directories) first\n"
		"      --parallel=N          parts downloaded at once (default 4)\n"
		"      --json                print the result as JSON\n"
		"      --no-progress         no progress line, even on a terminal\n"
		"Then start the server as printed (beside production with another port: -o '-p PORT')\n"
		"and run tbdr restore-wait --pgdata DIR: it exits 0 once recovery reached the target.\n"
		"A copy declared the primary later: ALTER SYSTEM RESET tbdr.copy_of; ALTER SYSTEM\n"
		"RESET archive_mode; then restart it.\n"},
	{"restore-wait", cmd_restore_wait, "--pgdata DIR",
		"after tbdr restore and pg_ctl start: wait until recovery reached its target (exit 0) or failed (1)",
		"Options:\n"
		"  -D, --pgdata=DIR          the restored data directory (of a started server)\n"
		"      --timeout=SECONDS     give up after this long (default 0: as long as recovery runs)\n"
		"Exit 0 when the server promoted after recovery, paused at its target or shut down at\n"
		"it as asked; 1 when it stopped during recovery (e.g. \"recovery ended before configured\n"
		"recovery target was reached\"), or was restored as the new primary but does not archive.\n"
		"It reads postmaster.pid, recovery.signal, pg_control and postgresql.auto.conf of DIR, and\n"
		"asks the running server (through the socket in postmaster.pid, as the current user).\n"},
	{"verify", cmd_verify, "[ID|latest]",
		"check every object of a backup and the WAL it needs against their checksums",
		"Options:\n"
		"      --parallel=N          parts checked at once (default 4)\n"
		"      --json                one JSON object {backup, ok, problems: [{code, message}], ...}\n"
		"      --no-progress         no progress line, even on a terminal\n"},
	{NULL}
};

static void
help(void)
{
	const CliCommand *c;
	int			width = 0;

	printf("tbdr - continuous backup of PostgreSQL to S3\n\n"
		   "Usage:\n"
		   "  tbdr COMMAND [OPTION]... [ARG]...\n\n"
		   "Commands:\n");

	/* one column for the summaries, as wide as the longest synopsis */
	for (c = commands; c->name; c++)
		width = Max(width, (int) (strlen(c->name) + 1 + strlen(c->args)));
	for (c = commands; c->name; c++)
	{
		char		synopsis[128];

		snprintf(synopsis, sizeof(synopsis), "%s %s", c->name, c->args);
		printf("  %-*s  %s\n", width, synopsis, c->summary);
	}
	printf("\nCommon options:\n"
		   "  -c, --config=FILE     configuration file (postgresql.conf syntax, tbdr.* lines);\n"
		   "                        default $PGDATA/tbdr.conf if PGDATA is set\n"
		   "      --set NAME=VALUE  set a tbdr.* setting, after the file (repeatable)\n"
		   "  -h, --help            show help (of a command: tbdr COMMAND --help)\n"
		   "      --version         show the version, then exit\n"
		   "\nConfiguration: defaults, then the file, then --set options.  S3 credentials\n"
		   "may also come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,\n"
		   "AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE and ~/.aws/credentials.\n"
		   "\nExit status:\n"
		   "  0  success\n"
		   "  1  the command failed, or tbdr check found a problem (message on stderr;\n"
		   "     tbdr check says which step failed on stdout)\n"
		   "  2  usage error (unknown command or option, wrong arguments)\n");
}

static const CliCommand *
find_command(const char *name)
{
	const CliCommand *c;

	for (c = commands; c->name; c++)
	{
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* Does this common option take its value in the next argument? */
static bool
takes_value(const char *arg)
{
	return strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0 ||
		strcmp(arg, "--set") == 0;
}

int
main(int argc, char **argv)
{
	const CliCommand *cmd = NULL;
	int			cmd_index = -1;
	int			i;
	char	  **cmd_argv;
	int			cmd_argc;

	/* find the command: the first argument that is neither option nor value */
	for (i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
		{
			if (i + 1 < argc)
				cmd_index = i + 1;
			break;
		}
		if (a[0] == '-' && a[1] != '\0')
		{
			if (takes_value(a))
				i++;
			continue;
		}
		cmd_index = i;
		break;
	}

	if (cmd_index < 0)
	{
		/* no command: only --help and --version make sense */
		for (i = 1; i < argc; i++)
		{
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
				strcmp(argv[i], "-?") == 0)
			{
				help();
				return CLI_EXIT_OK;
			}
			if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0)
			{
				cli_print_version();
				return CLI_EXIT_OK;
			}
		}
		cli_usage_error(NULL, "no command given");
	}

	if (strcmp(argv[cmd_index], "help") == 0)
	{
		if (cmd_index + 1 < argc && (cmd = find_command(argv[cmd_index + 1])) != NULL)
			cli_command_help(cmd);
		else
			help();
		return CLI_EXIT_OK;
	}
	cmd = find_command(argv[cmd_index]);
	if (cmd == NULL)
		cli_usage_error(NULL, "unknown command \"%s\"", argv[cmd_index]);

	/* the command sees argv without its name: options may be anywhere */
	cmd_argv = pg_malloc(sizeof(char *) * (argc + 1));
	cmd_argc = 0;
	cmd_argv[cmd_argc++] = psprintf("tbdr %s", cmd->name);
	for (i = 1; i < argc; i++)
	{
		if (i != cmd_index)
			cmd_argv[cmd_argc++] = argv[i];
	}
	cmd_argv[cmd_argc] = NULL;

	return cmd->run(cmd, cmd_argc, cmd_argv);
}
