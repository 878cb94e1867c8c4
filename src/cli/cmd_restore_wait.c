/*-------------------------------------------------------------------------
 * cmd_restore_wait.c
 *	  tbdr restore-wait: wait until the recovery of a restored data
 *	  directory has reached its target, and say so by the exit code.
 *
 * `pg_ctl start` returns once the server accepts connections, which during
 * a point-in-time recovery is long before the target (or never, if the WAL
 * does not reach it: PostgreSQL then stops with "recovery ended before
 * configured recovery target was reached").  This command is the step a
 * script runs after it: exit 0 only when the server promoted after
 * recovery (the target, or the end of the WAL when there is none), paused
 * at its target, or shut down at it as asked; exit 1 when the server
 * stopped during recovery, or when a server restored as the new primary
 * would not archive its WAL.
 *
 * What it reads: postmaster.pid (is the server running, its port and
 * socket), recovery.signal and pg_control (how a stopped server ended), the
 * recovery settings in postgresql.auto.conf (is there a target, what
 * action), and, from the running server, pg_is_in_recovery() and
 * pg_get_wal_replay_pause_state().
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "libpq-fe.h"

#include "cli/cli.h"

enum
{
	OPT_PGDATA = 2000,
	OPT_TIMEOUT
};

static const struct option wait_options[] = {
	CLI_COMMON_LONGOPTS,
	{"pgdata", required_argument, NULL, OPT_PGDATA},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{NULL, 0, NULL, 0}
};

/* What the restore asked of recovery (postgresql.auto.conf). */
typedef struct RecoveryAsk
{
	bool		has_target;
	char		action[16];		/* "pause" (PostgreSQL's default) ... */
} RecoveryAsk;

/* The running server, as postmaster.pid describes it. */
typedef struct Postmaster
{
	bool		running;
	char		conninfo[MAXPGPATH + 64];
} Postmaster;

typedef enum Outcome
{
	OUTCOME_WAITING,
	OUTCOME_REACHED,
	OUTCOME_FAILED
} Outcome;

/* The value of a "name = 'value'" line, unquoted; NULL if another name. */
static char *
conf_value(const char *line, const char *name)
{
	size_t		n = strlen(name);
	const char *p = line;
	char	   *v;
	char	   *end;

	while (*p == ' ' || *p == '\t')
		p++;
	if (pg_strncasecmp(p, name, n) != 0 || (p[n] != ' ' && p[n] != '=' && p[n] != '\t'))
		return NULL;
	p += n;
	while (*p == ' ' || *p == '\t' || *p == '=')
		p++;
	v = pg_strdup(*p == '\'' ? p + 1 : p);
	end = strpbrk(v, "'\n#");
	if (end)
		*end = '\0';
	return v;
}

static void
read_recovery_ask(const char *pgdata, RecoveryAsk *ask)
{
	char	   *path = psprintf("%s/postgresql.auto.conf", pgdata);
	FILE	   *f = fopen(path, "r");
	char		line[8192];
	static const char *const targets[] = {"recovery_target", "recovery_target_time",
		"recovery_target_xid", "recovery_target_lsn", "recovery_target_name", NULL};

	memset(ask, 0, sizeof(*ask));
	strlcpy(ask->action, "pause", sizeof(ask->action));
	if (f == NULL)
		cli_fatal("could not read \"%s\": %m (is %s a data directory restored by tbdr restore?)",
				  path, pgdata);
	while (fgets(line, sizeof(line), f))
	{
		char	   *v;

		for (int i = 0; targets[i]; i++)
		{
			if ((v = conf_value(line, targets[i])) != NULL)
			{
				ask->has_target = v[0] != '\0';
				pfree(v);
			}
		}
		if ((v = conf_value(line, "recovery_target_action")) != NULL)
		{
			strlcpy(ask->action, v, sizeof(ask->action));
			pfree(v);
		}
	}
	fclose(f);
	pfree(path);
}

/* Line n (1-based) of postmaster.pid, without the newline; "" if absent. */
static void
pid_file_line(char lines[][MAXPGPATH], int n, char *out, size_t size)
{
	strlcpy(out, lines[n - 1], size);
	out[strcspn(out, "\n")] = '\0';
}

static void
read_postmaster(const char *pgdata, Postmaster *pm)
{
	char	   *path = psprintf("%s/postmaster.pid", pgdata);
	FILE	   *f = fopen(path, "r");
	char		lines[6][MAXPGPATH];
	char		pid[32],
				port[32],
				sock[MAXPGPATH],
				listen[MAXPGPATH];
	int			n = 0;

	memset(pm, 0, sizeof(*pm));
	memset(lines, 0, sizeof(lines));
	pfree(path);
	if (f == NULL)
		return;
	while (n < 6 && fgets(lines[n], MAXPGPATH, f))
		n++;
	fclose(f);
	pid_file_line(lines, 1, pid, sizeof(pid));
	pid_file_line(lines, 4, port, sizeof(port));
	pid_file_line(lines, 5, sock, sizeof(sock));
	pid_file_line(lines, 6, listen, sizeof(listen));
	/* a file left by a crash names a process that is gone */
	if (n < 4 || atol(pid) <= 0 || (kill((pid_t) atol(pid), 0) != 0 && errno == ESRCH))
		return;
	pm->running = true;
	if (sock[0] == '\0')
		strlcpy(sock, (listen[0] == '\0' || strcmp(listen, "*") == 0) ? "localhost" : listen,
				sizeof(sock));
	snprintf(pm->conninfo, sizeof(pm->conninfo), "host='%s' port=%s dbname=postgres connect_timeout=10",
			 sock, port);
}

/* A stopped server: how did recovery end? */
static Outcome
stopped_outcome(const char *pgdata, const RecoveryAsk *ask)
{
	char	   *signal_file = psprintf("%s/recovery.signal", pgdata);
	struct stat st;
	ControlFileData *control;
	bool		crc_ok;

	if (stat(signal_file, &st) != 0)
	{
		fprintf(stderr, "tbdr: error: the server of %s is not running and has no recovery.signal: recovery is not running, and this command cannot see how it ended\n"
				"HINT: Start the server (pg_ctl -D %s -l %s.log start), or run restore-wait while it runs.\n",
				pgdata, pgdata, pgdata);
		return OUTCOME_FAILED;
	}
	control = get_controlfile(pgdata, &crc_ok);
	if (crc_ok && control->state == DB_SHUTDOWNED_IN_RECOVERY &&
		ask->has_target && strcmp(ask->action, "shutdown") == 0)
	{
		printf("recovery reached the target; the server shut down as asked (recovery_target_action = shutdown)\n");
		return OUTCOME_REACHED;
	}
	if (crc_ok && (control->state == DB_IN_ARCHIVE_RECOVERY ||
				   control->state == DB_SHUTDOWNED_IN_RECOVERY))
		fprintf(stderr, "tbdr: error: the server of %s stopped during recovery, before it reached %s\n"
				"HINT: Its log says why.  \"recovery ended before configured recovery target was reached\" means the archived WAL does not reach the target: choose a target inside the window tbdr list shows.\n",
				pgdata, ask->has_target ? "its target" : "the end of the archived WAL");
	else
		fprintf(stderr, "tbdr: error: the server of %s is not running: recovery has not started\n"
				"HINT: Start it first: pg_ctl -D %s -l %s.log start\n",
				pgdata, pgdata, pgdata);
	return OUTCOME_FAILED;
}

/*
 * A promoted server restored as the new primary must archive its WAL;
 * one restored as a copy says that it does not write into the repository.
 */
static Outcome
promoted_outcome(PGresult *res, const RecoveryAsk *ask)
{
	const char *archive_mode = PQgetvalue(res, 0, 4);
	const char *copy_of = PQgetisnull(res, 0, 5) ? "" : PQgetvalue(res, 0, 5);

	printf("recovery %s; the server was promoted onto timeline %s\n",
		   ask->has_target ? "reached the target" : "replayed all archived WAL",
		   PQgetvalue(res, 0, 6));
	if (copy_of[0] != '\0')
	{
		printf("a copy: it does not archive or back up into %s (tbdr.copy_of; archive_mode = %s)\n",
			   copy_of, archive_mode);
		return OUTCOME_REACHED;
	}
	if (strcmp(archive_mode, "off") == 0)
	{
		fprintf(stderr, "tbdr: error: this server was restored as the new primary, but archive_mode is off: its WAL is not archived\n"
				"HINT: Set archive_mode = on and archive_library = 'tbdr' in its postgresql.conf and restart it; then take a base backup (SELECT tbdr_backup_now(wait => true)).\n");
		return OUTCOME_FAILED;
	}
	printf("the new primary: archive_mode = %s; take a base backup now: SELECT tbdr_backup_now(wait => true);\n",
		   archive_mode);
	return OUTCOME_REACHED;
}

/* Ask the running server; OUTCOME_WAITING while it replays or starts. */
static Outcome
running_outcome(const Postmaster *pm, const RecoveryAsk *ask, char *last_error,
				size_t size)
{
	PGconn	   *conn = PQconnectdb(pm->conninfo);
	PGresult   *res;
	Outcome		outcome = OUTCOME_WAITING;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		const char *msg = PQerrorMessage(conn);

		/* who we are will not change: say so now rather than wait forever */
		if (PQconnectionNeedsPassword(conn) || strstr(msg, "authentication") ||
			strstr(msg, "pg_hba.conf") || strstr(msg, "does not exist"))
		{
			fprintf(stderr, "tbdr: error: could not connect to the restored server: %s"
					"HINT: restore-wait connects through the socket named in postmaster.pid, to the database postgres, as the current operating system user: run it as the server's user (sudo -u postgres), or set PGUSER and PGPASSFILE.\n",
					msg);
			PQfinish(conn);
			return OUTCOME_FAILED;
		}
		/* starting up, or not yet consistent: wait; the message for a timeout */
		strlcpy(last_error, msg, size);
		PQfinish(conn);
		return OUTCOME_WAITING;
	}
	res = PQexec(conn,
				 "SELECT pg_is_in_recovery(),"
				 " CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END,"
				 " pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp(),"
				 " current_setting('archive_mode'), current_setting('tbdr.copy_of', true),"
				 " (SELECT timeline_id FROM pg_control_checkpoint())");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		strlcpy(last_error, PQerrorMessage(conn), size);
	else if (strcmp(PQgetvalue(res, 0, 0), "f") == 0)
		outcome = promoted_outcome(res, ask);
	else if (ask->has_target && strcmp(PQgetvalue(res, 0, 1), "paused") == 0)
	{
		printf("recovery paused at the target: WAL replayed up to %s, last transaction at %s\n"
			   "Check the data, then SELECT pg_wal_replay_resume(); to promote.\n",
			   PQgetvalue(res, 0, 2),
			   PQgetisnull(res, 0, 3) ? "(none replayed)" : PQgetvalue(res, 0, 3));
		outcome = OUTCOME_REACHED;
	}
	else
		snprintf(last_error, size, "recovering: WAL replayed up to %s", PQgetvalue(res, 0, 2));
	PQclear(res);
	PQfinish(conn);
	return outcome;
}

int
cmd_restore_wait(const CliCommand *cmd, int argc, char **argv)
{
	const char *pgdata_arg = NULL;
	char	   *pgdata;
	long		timeout = 0;
	RecoveryAsk ask;
	time_t		start = time(NULL);
	char		last[1024] = "";
	int			c;

	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "D:", wait_options, NULL)) != -1)
	{
		if (cli_common_option(cmd, c, optarg))
			continue;
		switch (c)
		{
			case 'D':
			case OPT_PGDATA:
				pgdata_arg = optarg;
				break;
			case OPT_TIMEOUT:
				if (strspn(optarg, "0123456789") != strlen(optarg) || optarg[0] == '\0')
					cli_usage_error(cmd, "--timeout must be a number of seconds, got \"%s\"", optarg);
				timeout = atol(optarg);
				break;
			default:
				cli_usage_error(cmd, "option \"%s\" does not apply to %s", argv[optind - 1], cmd->name);
		}
	}
	if (optind < argc)
		cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
	if (pgdata_arg == NULL)
		cli_usage_error(cmd, "--pgdata is required: the restored data directory");
	pgdata = make_absolute_path(pgdata_arg);
	canonicalize_path(pgdata);
	read_recovery_ask(pgdata, &ask);

	for (;;)
	{
		Postmaster	pm;
		Outcome		outcome;

		read_postmaster(pgdata, &pm);
		outcome = pm.running ? running_outcome(&pm, &ask, last, sizeof(last)) :
			stopped_outcome(pgdata, &ask);
		if (outcome != OUTCOME_WAITING)
			return outcome == OUTCOME_REACHED ? CLI_EXIT_OK : CLI_EXIT_ERROR;
		if (timeout > 0 && time(NULL) - start >= timeout)
		{
			fprintf(stderr, "tbdr: error: recovery of %s did not reach %s within %ld s (%s)\n",
					pgdata, ask.has_target ? "its target" : "the end of the archived WAL",
					timeout, last[0] ? last : "no answer from the server");
			return CLI_EXIT_ERROR;
		}
		pg_usleep(1000000L);
	}
}
