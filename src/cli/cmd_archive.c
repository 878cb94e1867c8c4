/*-------------------------------------------------------------------------
 * cmd_archive.c
 *	  tbdr archive-push (archive_command) and tbdr archive-get
 *	  (restore_command).
 *
 * PostgreSQL runs both with the data directory as working directory, and
 * passes %p relative to it.  Configuration: as every command (-c, --set,
 * $PGDATA/tbdr.conf); when PGDATA is not in the environment the working
 * directory is taken as PGDATA, so $PGDATA/tbdr.conf is found.
 *
 * Exit codes:
 *	 archive-push: 0 stored (or already stored, identical), 1 not stored.
 *	 archive-get:  0 restored; 1 not in the repository (no message: the
 *				   normal end of recovery); 1 with a message for other
 *				   errors in standby mode (PostgreSQL falls back to
 *				   streaming and retries); 126 with a message for other
 *				   errors during archive recovery, which makes PostgreSQL
 *				   stop recovery (FATAL) instead of ending it early, at the
 *				   wrong point, for a network or key problem.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_control.h"
#include "common/controldata_utils.h"

#include "cli/cli.h"
#include "core/walarchive.h"

/* Exit code of archive-get that makes PostgreSQL abort recovery (> 125). */
#define ARCHIVE_GET_EXIT_ABORT	126

static const struct option archive_options[] = {
	CLI_COMMON_LONGOPTS,
	{NULL, 0, NULL, 0}
};

static void
parse_options(const CliCommand *cmd, int argc, char **argv)
{
	int			c;

	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, archive_options, NULL)) != -1)
	{
		if (cli_common_option(cmd, c, optarg))
			continue;
		cli_usage_error(cmd, "option \"%s\" does not apply to %s",
						argv[optind - 1], cmd->name);
	}
}

/* The data directory is the working directory (PostgreSQL's convention). */
static char *
data_directory(void)
{
	char		cwd[MAXPGPATH];

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cli_fatal("could not get the working directory: %m");
	if (getenv("PGDATA") == NULL || getenv("PGDATA")[0] == '\0')
		setenv("PGDATA", cwd, 1);
	return pg_strdup(cwd);
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int
cmd_archive_push(const CliCommand *cmd, int argc, char **argv)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrWalArchive *wa;
	TbdrWalPushResult res;
	ControlFileData *control;
	bool		crc_ok;
	char	   *datadir;
	const char *path;
	const char *name;

	parse_options(cmd, argc, argv);
	if (argc - optind != 1)
		cli_usage_error(cmd, argc - optind < 1 ? "missing argument: the WAL file (%%p)" : "too many arguments");
	path = argv[optind];
	name = base_name(path);

	datadir = data_directory();
	cli_load_config(&cfg, NULL);
	tbdr_error_clear(&err);

	/* Whose WAL is it?  The control file says (as pg_controldata reads it). */
	control = get_controlfile(datadir, &crc_ok);
	if (!crc_ok)
		cli_fatal("the control file of \"%s\" has a wrong checksum: is the working directory the data directory?",
				  datadir);

	wa = tbdr_walarchive_open(&cfg, &err);
	if (wa == NULL ||
		!tbdr_walarchive_check_identity(wa, control->system_identifier,
										PG_VERSION_NUM / 10000, &err) ||
		!tbdr_wal_push(wa, path, name, &res, &err))
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}
	tbdr_walarchive_close(wa);
	return CLI_EXIT_OK;
}

int
cmd_archive_get(const CliCommand *cmd, int argc, char **argv)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrWalArchive *wa;
	const char *name;
	const char *dest;
	struct stat stbuf;
	int			hard_exit;

	parse_options(cmd, argc, argv);
	if (argc - optind != 2)
		cli_usage_error(cmd, argc - optind < 2 ? "missing arguments: the WAL file name (%%f) and the destination (%%p)" : "too many arguments");
	name = argv[optind];
	dest = argv[optind + 1];

	(void) data_directory();

	/*
	 * A standby falls back to streaming when restore_command fails, so a
	 * plain failure is right there; in archive recovery a failure ends
	 * recovery, so errors other than "not there" must stop it instead.
	 */
	hard_exit = (stat("standby.signal", &stbuf) == 0) ?
		CLI_EXIT_ERROR : ARCHIVE_GET_EXIT_ABORT;

	tbdr_error_clear(&err);
	if (!cli_try_load_config(&cfg, NULL, &err))
	{
		cli_report_error(&err);
		exit(hard_exit);
	}
	wa = tbdr_walarchive_open(&cfg, &err);
	if (wa == NULL || !tbdr_wal_fetch(wa, name, dest, NULL, &err))
	{
		if (err.code == TBDR_ERR_NOT_FOUND && wa != NULL)
			exit(CLI_EXIT_ERROR);	/* quietly: the end of the archive */
		if (hard_exit == ARCHIVE_GET_EXIT_ABORT && err.hint[0] == '\0')
			tbdr_error_hint(&err, "Recovery stops here rather than end early without this WAL file; fix the problem and start the server again.");
		cli_report_error(&err);
		exit(hard_exit);
	}
	tbdr_walarchive_close(wa);
	return CLI_EXIT_OK;
}
