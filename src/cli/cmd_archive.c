/*-------------------------------------------------------------------------
 * cmd_archive.c
 *	  tbdr archive-push (archive_command) and tbdr archive-get
 *	  (restore_command).
 *
 * PostgreSQL runs both with the data directory as working directory, and
 * passes %p relative to it.  Configuration: as every command (-c, --set,
 * $PGDATA/tbdr.conf); the working directory is taken as PGDATA when it is a
 * data directory (see data_directory()).
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
 *
 * Prefetch (tbdr.restore_prefetch > 0): after handing over a segment,
 * archive-get starts fetching the following segments in the background, in
 * parallel, into the spool (pg_wal/tbdr-spool, see core/walspool.h); the
 * next call moves its segment from there, or waits for the running fetch of
 * exactly that segment.  Spooled segments recovery has passed, or older
 * than an hour, are removed; the pre-push worker removes the spool when
 * recovery is over.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/pg_control.h"
#include "common/controldata_utils.h"

#include "cli/cli.h"
#include "core/copyguard.h"
#include "core/repo.h"
#include "core/walarchive.h"
#include "core/walspool.h"

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

/*
 * The data directory: the working directory when it is one (PostgreSQL runs
 * archive_command and restore_command there; an inherited $PGDATA may be
 * relative to somewhere else), else $PGDATA when set, else the working
 * directory.  PGDATA is set to the result, so that $PGDATA/tbdr.conf is
 * found.
 */
static char *
data_directory(void)
{
	char		cwd[MAXPGPATH];
	const char *env = getenv("PGDATA");
	struct stat st;

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cli_fatal("could not get the working directory: %m");
	if (stat("global/pg_control", &st) != 0 && env != NULL && env[0] != '\0')
		return pg_strdup(env);
	setenv("PGDATA", cwd, 1);
	return pg_strdup(cwd);
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/*
 * A copy restored by `tbdr restore --as copy` has tbdr.copy_of in its
 * postgresql.auto.conf, which the configuration file archive_command names
 * does not include: read it from there, so that archive_command = 'tbdr
 * archive-push' refuses as the archive module does (core/copyguard.h).
 */
static void
refuse_restored_copy(const char *datadir, TbdrConfig *cfg)
{
	TbdrConfig	auto_cfg;
	TbdrError	err;
	char	   *auto_conf = psprintf("%s/postgresql.auto.conf", datadir);

	tbdr_error_clear(&err);
	tbdr_config_set_defaults(&auto_cfg);
	if (!tbdr_config_load_file(&auto_cfg, auto_conf, true, &err))
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}
	if (auto_cfg.copy_of[0] != '\0')
		cfg->copy_of = auto_cfg.copy_of;
	if (!tbdr_copy_guard(cfg, "archive WAL", &err))
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}
	pfree(auto_conf);
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
	{
		char	   *cf = psprintf("%s/global/pg_control", datadir);
		struct stat cst;

		if (stat(cf, &cst) != 0)
			cli_fatal("\"%s\" is not a PostgreSQL data directory (no global/pg_control): run archive-push in the data directory, as archive_command does, or set PGDATA",
					  datadir);
		pfree(cf);
	}
	control = get_controlfile(datadir, &crc_ok);
	if (!crc_ok)
		cli_fatal("the control file of \"%s\" has a wrong checksum: is the working directory the data directory?",
				  datadir);
	refuse_restored_copy(datadir, &cfg);

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

/*
 * Segment size of the cluster in datadir (pg_control), 0 if unknown: then
 * archive-get does not prefetch, and limits a fetched segment to
 * PostgreSQL's largest segment size only.
 */
static uint64
wal_segment_size(const char *datadir)
{
	char	   *cf = psprintf("%s/global/pg_control", datadir);
	struct stat st;
	ControlFileData *control;
	bool		crc_ok;
	uint64		size = 0;

	if (stat(cf, &st) == 0)
	{
		control = get_controlfile(datadir, &crc_ok);
		if (crc_ok)
			size = control->xlog_seg_size;
		pfree(control);
	}
	pfree(cf);
	return size;
}

/* Fetch name into the spool, unless spooled or being fetched already. */
static void
prefetch_one(const TbdrConfig *cfg, TbdrWalSpool *sp, const char *name,
			 uint64 seg_size)
{
	TbdrError	err;
	TbdrWalArchive *wa;
	char	   *path;

	if (!tbdr_walspool_claim(sp, name))
		return;
	tbdr_error_clear(&err);
	path = tbdr_walspool_path(sp, name);
	wa = tbdr_walarchive_open(cfg, &err);
	/* a failure is not reported: the foreground fetch retries and reports */
	if (wa != NULL)
	{
		tbdr_walarchive_set_segment_size(wa, seg_size);
		(void) tbdr_wal_fetch(wa, name, path, true, NULL, &err);
	}
	tbdr_walspool_release(sp, name);
	pfree(path);
}

/*
 * Start fetching the n segments after name into the spool, in parallel, in
 * the background: a detached process (PostgreSQL waits only for
 * restore_command itself) with one child per segment, each with its own
 * connection.  Returns at once.
 */
static void
start_prefetch(const TbdrConfig *cfg, TbdrWalSpool *sp, const char *name,
			   uint64 seg_size, int n)
{
	pid_t		pid;
	int			status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return;					/* no prefetch: not an error */
	if (pid > 0)
	{
		(void) waitpid(pid, &status, 0);
		return;
	}

	/* first child: detach, and leave at once */
	(void) setsid();
	pid = fork();
	if (pid != 0)
		_exit(0);

	/* the prefetcher: quiet, outside the data directory's process group */
	{
		int			null = open("/dev/null", O_RDWR);

		if (null >= 0)
		{
			(void) dup2(null, STDIN_FILENO);
			(void) dup2(null, STDOUT_FILENO);
			(void) dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}

		/*
		 * Nor hold what the server's process had open (restore_command
		 * inherits its descriptors) or the foreground's connections.
		 */
		for (int fd = STDERR_FILENO + 1; fd < 1024; fd++)
			(void) close(fd);
	}
	for (int i = 1; i <= n; i++)
	{
		char		next[25];

		if (!tbdr_wal_segment_after(name, seg_size, i, next))
			break;
		pid = fork();
		if (pid == 0)
		{
			prefetch_one(cfg, sp, next, seg_size);
			_exit(0);
		}
	}
	while (wait(&status) > 0 || errno == EINTR)
		;
	_exit(0);
}

int
cmd_archive_get(const CliCommand *cmd, int argc, char **argv)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrWalArchive *wa;
	TbdrWalSpool *sp = NULL;
	const char *name;
	const char *dest;
	char	   *datadir;
	struct stat stbuf;
	int			hard_exit;
	uint64		seg_size = 0;
	bool		prefetch;
	int			spooled = 0;

	parse_options(cmd, argc, argv);
	if (argc - optind != 2)
		cli_usage_error(cmd, argc - optind < 2 ? "missing arguments: the WAL file name (%%f) and the destination (%%p)" : "too many arguments");
	name = argv[optind];
	dest = argv[optind + 1];

	datadir = data_directory();

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
	if (wa != NULL)
	{
		seg_size = wal_segment_size(datadir);
		tbdr_walarchive_set_segment_size(wa, seg_size);
	}

	/*
	 * Prefetch only segments, into the spool in pg_wal (same file system as
	 * %p, so a spooled file is handed over with a rename).
	 */
	prefetch = (wa != NULL && cfg.restore_prefetch > 0 &&
				tbdr_wal_file_kind(name) == TBDR_WAL_SEGMENT && seg_size > 0);
	if (prefetch)
	{
		char	   *spooldir = psprintf("%s/" TBDR_WALSPOOL_DIR, datadir);
		TbdrError	serr;

		tbdr_error_clear(&serr);
		sp = tbdr_walspool_open(spooldir, tbdr_storage_describe(tbdr_walarchive_storage(wa)),
								&serr);
		pfree(spooldir);
		if (sp != NULL)
		{
			spooled = tbdr_walspool_take(sp, name, dest,
										 cfg.s3_timeout * (cfg.s3_max_retries + 1) + 10,
										 &serr);
			tbdr_walspool_clean(sp, name, 3600);
		}
		/* a spool problem only costs the prefetch: fetch directly */
		if (sp == NULL || spooled < 0)
			spooled = 0;
	}

	/*
	 * %p itself is not fsynced (pgBackRest does not either, and it cost
	 * about 0.18 s of a 0.27 s fetch in the benchmark): PostgreSQL reads the
	 * file at once and, when it keeps it in pg_wal, moves it there with
	 * durable_rename(), which fsyncs it; after a crash recovery starts again
	 * from its checkpoint and calls restore_command anew.  Spooled files are
	 * fsynced: they outlive this call, and one that a crash left short must
	 * never be handed to recovery as complete.
	 */
	if (!spooled &&
		(wa == NULL || !tbdr_wal_fetch(wa, name, dest, false, NULL, &err)))
	{
		if (err.code == TBDR_ERR_NOT_FOUND && wa != NULL)
			exit(CLI_EXIT_ERROR);	/* quietly: the end of the archive */
		if (hard_exit == ARCHIVE_GET_EXIT_ABORT && err.hint[0] == '\0')
			tbdr_error_hint(&err, "Recovery stops here rather than end early without this WAL file; fix the problem and start the server again.");
		cli_report_error(&err);
		exit(hard_exit);
	}

	if (sp != NULL)
	{
		start_prefetch(&cfg, sp, name, seg_size, cfg.restore_prefetch);
		tbdr_walspool_close(sp);
	}
	tbdr_walarchive_close(wa);
	return CLI_EXIT_OK;
}
