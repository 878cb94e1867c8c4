/*-------------------------------------------------------------------------
 * cmd_restore.c
 *	  tbdr restore: point-in-time restore of a data directory.
 *
 * Steps: read the backups and the WAL inventory; work out the target
 * timeline and the restorable window on it; choose the backup (the newest
 * complete one that ends before the target, on the target timeline's
 * history, whose WAL reaches the target); download and unpack its parts in
 * parallel, every file checked against the manifest's SHA-256; write the
 * recovery settings; print the command that starts recovery.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"
#include "cli/repostate.h"
#include "cli/restore_choice.h"
#include "cli/restore_next.h"
#include "cli/shellcmd.h"

#define RESTORE_PARALLEL_DEFAULT 4
#define RESTORE_PARALLEL_MAX	64

enum
{
	OPT_PGDATA = 2000,
	OPT_BACKUP,
	OPT_TARGET_TIME,
	OPT_TARGET_LSN,
	OPT_TARGET_XID,
	OPT_TARGET_NAME,
	OPT_TARGET,
	OPT_TARGET_ACTION,
	OPT_TARGET_TIMELINE,
	OPT_TARGET_EXCLUSIVE,
	OPT_TABLESPACE_MAP,
	OPT_DELTA,
	OPT_FORCE,
	OPT_PARALLEL,
	OPT_JSON,
	OPT_NO_PROGRESS,
	OPT_AS
};

static const struct option restore_options[] = {
	CLI_COMMON_LONGOPTS,
	{"pgdata", required_argument, NULL, OPT_PGDATA},
	{"backup", required_argument, NULL, OPT_BACKUP},
	{"target-time", required_argument, NULL, OPT_TARGET_TIME},
	{"target-lsn", required_argument, NULL, OPT_TARGET_LSN},
	{"target-xid", required_argument, NULL, OPT_TARGET_XID},
	{"target-name", required_argument, NULL, OPT_TARGET_NAME},
	{"target", required_argument, NULL, OPT_TARGET},
	{"target-action", required_argument, NULL, OPT_TARGET_ACTION},
	{"target-timeline", required_argument, NULL, OPT_TARGET_TIMELINE},
	{"target-exclusive", no_argument, NULL, OPT_TARGET_EXCLUSIVE},
	{"tablespace-map", required_argument, NULL, OPT_TABLESPACE_MAP},
	{"delta", no_argument, NULL, OPT_DELTA},
	{"force", no_argument, NULL, OPT_FORCE},
	{"parallel", required_argument, NULL, OPT_PARALLEL},
	{"json", no_argument, NULL, OPT_JSON},
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	{"as", required_argument, NULL, OPT_AS},
	{NULL, 0, NULL, 0}
};

static const CliCommand *the_cmd;

static void
report_more(const TbdrError *err)
{
	cli_report_error(err);
}

/*
 * A data directory can only be started by the PostgreSQL major version that
 * wrote it, and the restore_command written below runs this program, which
 * is built for (and installed into) one installation: refuse a backup of
 * another major version before anything is downloaded or written.
 */
static bool
check_major_version(const TbdrManifest *m, TbdrError *err)
{
	int			backup_major = m->pg_version / 10000;
	int			self_major = PG_VERSION_NUM / 10000;

	if (backup_major == self_major)
		return true;
	tbdr_error_set(err, TBDR_ERR_CONFLICT,
				   "backup %s is of PostgreSQL %d, but this tbdr program (%s) belongs to PostgreSQL %d",
				   m->id, backup_major, cli_self_path(), self_major);
	tbdr_error_detail(err, "A restored data directory can only be started by the major version that wrote it.");
	tbdr_error_hint(err, "Restore with the tbdr program of a PostgreSQL %d installation (make install puts it in that installation's bin directory). To move to PostgreSQL %d, restore with %d, run pg_upgrade, then back up into a new tbdr.repository prefix.",
					backup_major, self_major, backup_major);
	return false;
}

static void
set_target(TbdrTarget *t, TbdrTargetType type, const char *text,
		   const char **option, const char *name)
{
	if (t->type != TBDR_TARGET_LATEST)
		cli_usage_error(the_cmd, "only one recovery target may be given (%s and %s)",
						*option, name);
	t->type = type;
	t->text = text;
	*option = name;
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

int
cmd_restore(const CliCommand *cmd, int argc, char **argv)
{
	CliRepoState rs;
	TbdrError	err;
	TbdrTarget	target;
	const char *target_option = NULL;
	const char *pgdata_arg = NULL;
	const char *backup_id = NULL;
	const char *target_action = NULL;
	const char *target_timeline = NULL;
	const char *restore_as = NULL;
	bool		exclusive = false;
	bool		delta = false;
	bool		force = false;
	bool		json = false;
	bool		show_progress = true;
	int			parallel = 0;
	TbdrTablespaceMapping *mappings = NULL;
	int			nmappings = 0;
	char	   *pgdata;
	uint32		tli;
	TbdrWindow *w;
	CliRestoreChoice choice;
	char		tli_text[16];
	int			chosen;
	TbdrManifest *m;
	TbdrRestoreOptions ropts;
	TbdrRestore *r;
	const TbdrRestoreStats *stats;
	TbdrRecoverySettings rec;
	RestoreNext next;
	StringInfoData restore_command;
	char	   *config_file;
	struct timespec t0,
				t1;
	double		secs;
	int			c;
	char		buf1[32],
				buf2[32];

	the_cmd = cmd;
	memset(&target, 0, sizeof(target));
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "D:", restore_options, NULL)) != -1)
	{
		if (cli_common_option(cmd, c, optarg))
			continue;
		switch (c)
		{
			case 'D':
			case OPT_PGDATA:
				pgdata_arg = optarg;
				break;
			case OPT_BACKUP:
				backup_id = optarg;
				break;
			case OPT_TARGET_TIME:
				set_target(&target, TBDR_TARGET_TIME, optarg, &target_option, "--target-time");
				tbdr_error_clear(&err);
				if (!tbdr_parse_timestamp(optarg, &target.time, &err))
					cli_usage_error(cmd, "--target-time: %s. %s", err.message, err.hint);
				break;
			case OPT_TARGET_LSN:
				set_target(&target, TBDR_TARGET_LSN, optarg, &target_option, "--target-lsn");
				if (!tbdr_parse_lsn(optarg, &target.lsn))
					cli_usage_error(cmd, "--target-lsn: invalid LSN \"%s\" (expected the form 0/16B3D48, as pg_current_wal_lsn() shows)", optarg);
				break;
			case OPT_TARGET_XID:
				set_target(&target, TBDR_TARGET_XID, optarg, &target_option, "--target-xid");
				if (!all_digits(optarg))
					cli_usage_error(cmd, "--target-xid: invalid transaction ID \"%s\" (expected a number, as txid_current() or pg_current_xact_id() shows)", optarg);
				break;
			case OPT_TARGET_NAME:
				set_target(&target, TBDR_TARGET_NAME, optarg, &target_option, "--target-name");
				if (optarg[0] == '\0')
					cli_usage_error(cmd, "--target-name: the restore point name is empty");
				break;
			case OPT_TARGET:
				if (strcmp(optarg, "immediate") != 0)
					cli_usage_error(cmd, "--target: the only value is \"immediate\" (the end of the backup), got \"%s\"", optarg);
				set_target(&target, TBDR_TARGET_IMMEDIATE, optarg, &target_option, "--target");
				break;
			case OPT_TARGET_ACTION:
				if (strcmp(optarg, "promote") != 0 && strcmp(optarg, "pause") != 0 &&
					strcmp(optarg, "shutdown") != 0)
					cli_usage_error(cmd, "--target-action must be promote, pause or shutdown, got \"%s\"", optarg);
				target_action = optarg;
				break;
			case OPT_TARGET_TIMELINE:
				if (strcmp(optarg, "latest") != 0 && strcmp(optarg, "current") != 0 &&
					!(all_digits(optarg) && atol(optarg) >= 1 && atol(optarg) <= PG_UINT32_MAX))
					cli_usage_error(cmd, "--target-timeline must be latest, current or a timeline number, got \"%s\"", optarg);
				target_timeline = optarg;
				break;
			case OPT_TARGET_EXCLUSIVE:
				exclusive = true;
				break;
			case OPT_TABLESPACE_MAP:
				{
					char	   *eq = strchr(optarg, '=');

					if (eq == NULL || eq == optarg || eq[1] == '\0')
						cli_usage_error(cmd, "--tablespace-map needs OLDDIR=NEWDIR, got \"%s\"", optarg);
					mappings = pg_realloc(mappings, sizeof(*mappings) * (nmappings + 1));
					mappings[nmappings].old_dir = pnstrdup(optarg, eq - optarg);
					mappings[nmappings].new_dir = pstrdup(eq + 1);
					if (mappings[nmappings].old_dir[0] != '/' || eq[1] != '/')
						cli_usage_error(cmd, "--tablespace-map %s: both directories must be absolute paths", optarg);
					canonicalize_path((char *) mappings[nmappings].new_dir);
					nmappings++;
					break;
				}
			case OPT_DELTA:
				delta = true;
				break;
			case OPT_FORCE:
				force = true;
				break;
			case OPT_PARALLEL:
				if (!all_digits(optarg) || atoi(optarg) < 1 || atoi(optarg) > RESTORE_PARALLEL_MAX)
					cli_usage_error(cmd, "--parallel must be a number from 1 to %d, got \"%s\"",
									RESTORE_PARALLEL_MAX, optarg);
				parallel = atoi(optarg);
				break;
			case OPT_JSON:
				json = true;
				break;
			case OPT_NO_PROGRESS:
				show_progress = false;
				break;
			case OPT_AS:
				if (strcmp(optarg, "copy") != 0 && strcmp(optarg, "primary") != 0)
					cli_usage_error(cmd, "--as must be copy or primary, got \"%s\"", optarg);
				restore_as = optarg;
				break;
			default:
				cli_usage_error(cmd, "option \"%s\" does not apply to %s", argv[optind - 1], cmd->name);
		}
	}
	if (optind < argc)
		cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
	if (pgdata_arg == NULL)
		cli_usage_error(cmd, "--pgdata is required: the directory to restore into");
	if (delta && force)
		cli_usage_error(cmd, "--delta and --force cannot be combined");
	if (exclusive && target.type != TBDR_TARGET_TIME && target.type != TBDR_TARGET_LSN &&
		target.type != TBDR_TARGET_XID)
		cli_usage_error(cmd, "--target-exclusive applies to --target-time, --target-lsn and --target-xid");
	if (target_action && (target.type == TBDR_TARGET_LATEST))
		cli_usage_error(cmd, "--target-action needs a recovery target (without one, recovery replays all WAL and the server is promoted)");
	if (backup_id && strcmp(backup_id, "latest") == 0)
		backup_id = NULL;
	else if (backup_id)
	{
		int64		dummy;

		if (!tbdr_backup_id_parse(backup_id, &dummy))
			cli_usage_error(cmd, "--backup: \"%s\" is not a backup id (like 20261125T020000Z) or \"latest\"", backup_id);
	}
	if (restore_as == NULL)
		cli_usage_error(cmd, "say what the restored server will be: --as copy (a test or PITR copy beside production: it never writes into this repository) or --as primary (it replaces production: it archives WAL and takes backups into this repository)");
	pgdata = make_absolute_path(pgdata_arg);
	canonicalize_path(pgdata);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	tbdr_error_clear(&err);
	cli_repo_state_load(&rs, true);
	if (parallel == 0)
		parallel = RESTORE_PARALLEL_DEFAULT;

	/* the history and the backup (restore_choice.h) */
	cli_restore_choose(&rs, &target, target_timeline, backup_id, &choice);
	tli = choice.tli;
	w = choice.w;
	chosen = choice.chosen;
	target = choice.target;
	if (choice.note && !json)
		printf("note: %s\n", choice.note);
	m = tbdr_catalog_load_manifest(rs.cat, w->backups[chosen].backup->id, &err);
	if (m == NULL || !check_major_version(m, &err) || !cli_repo_check_key(&rs, m, &err))
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}
	if (!json)
	{
		progress_format_bytes(m->database_bytes, buf1, sizeof(buf1));
		progress_format_bytes(m->stored_bytes, buf2, sizeof(buf2));
		printf("restoring backup %s (timeline %u, %s, %s stored, %d parts) into %s\n",
			   m->id, m->timeline, buf1, buf2, m->nparts, pgdata);
		fflush(stdout);
	}

	memset(&ropts, 0, sizeof(ropts));
	ropts.pgdata = pgdata;
	ropts.delta = delta;
	ropts.force = force;
	ropts.nmappings = nmappings;
	ropts.mappings = mappings;
	r = tbdr_restore_create(m, &ropts, &err);
	if (r == NULL || !tbdr_restore_prepare(r, &err))
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}
	if (cli_run_parts(&rs, r, m, parallel, true, "restore", show_progress && !json,
					  report_more, &err) > 0)
	{
		cli_report_error(&err);
		fprintf(stderr, "tbdr: the restore into %s is incomplete and cannot be started (global/pg_control was not written); once the cause is fixed, run the same command with --delta to complete it.\n",
				pgdata);
		exit(CLI_EXIT_ERROR);
	}
	if (!tbdr_restore_finish(r, &err))
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}

	/* recovery settings */
	initStringInfo(&restore_command);
	cli_command_arg(&restore_command, cli_self_path());
	appendStringInfoString(&restore_command, " archive-get");
	config_file = cli_config_file();
	if (config_file)
	{
		appendStringInfoString(&restore_command, " -c ");
		cli_command_arg(&restore_command, config_file);
	}
	appendStringInfoString(&restore_command, " %f %p");
	memset(&rec, 0, sizeof(rec));
	rec.restore_command = restore_command.data;
	rec.target_action = target_action;
	/* the chosen history, by number: 'latest' could follow another branch */
	snprintf(tli_text, sizeof(tli_text), "%u", tli);
	rec.target_timeline = target_timeline ? target_timeline : tli_text;
	rec.exclusive = exclusive;
	rec.copy_of = strcmp(restore_as, "copy") == 0 ? rs.cfg.repository : NULL;
	switch (target.type)
	{
		case TBDR_TARGET_LATEST:
			break;
		case TBDR_TARGET_IMMEDIATE:
			rec.target_param = "recovery_target";
			rec.target_value = "immediate";
			break;
		case TBDR_TARGET_TIME:
			rec.target_param = "recovery_target_time";
			rec.target_value = target.text;
			break;
		case TBDR_TARGET_LSN:
			rec.target_param = "recovery_target_lsn";
			rec.target_value = target.text;
			break;
		case TBDR_TARGET_XID:
			rec.target_param = "recovery_target_xid";
			rec.target_value = target.text;
			break;
		case TBDR_TARGET_NAME:
			rec.target_param = "recovery_target_name";
			rec.target_value = target.text;
			break;
	}
	if (!tbdr_restore_write_recovery(pgdata, &rec, &err))
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}

	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	stats = tbdr_restore_stats(r);
	memset(&next, 0, sizeof(next));
	next.pgdata = pgdata;
	next.repository = rs.cfg.repository;
	next.copy = rec.copy_of != NULL;
	next.has_target = rec.target_param != NULL;
	next.target_action = target_action;
	if (json)
	{
		StringInfoData o;

		initStringInfo(&o);
		appendStringInfoString(&o, "{\"backup\": ");
		tbdr_json_escape(&o, m->id);
		appendStringInfoString(&o, ", \"pgdata\": ");
		tbdr_json_escape(&o, pgdata);
		appendStringInfo(&o, ", \"timeline\": %u, \"target_timeline\": %u, \"target\": ", m->timeline, tli);
		if (rec.target_param)
		{
			appendStringInfoString(&o, "{\"type\": ");
			tbdr_json_escape(&o, rec.target_param);
			appendStringInfoString(&o, ", \"value\": ");
			tbdr_json_escape(&o, rec.target_value);
			appendStringInfoChar(&o, '}');
		}
		else
			appendStringInfoString(&o, "null");
		appendStringInfo(&o, ", \"files_written\": " INT64_FORMAT ", \"files_kept\": " INT64_FORMAT
						 ", \"files_removed\": " INT64_FORMAT ", \"bytes_written\": " INT64_FORMAT
						 ", \"bytes_fetched\": " INT64_FORMAT ", \"parts_fetched\": %d, \"parts\": %d"
						 ", \"seconds\": %.3f, \"restore_command\": ",
						 stats->files_written, stats->files_kept, stats->files_removed,
						 stats->bytes_written, stats->bytes_stored, stats->parts_fetched,
						 m->nparts, secs);
		tbdr_json_escape(&o, restore_command.data);
		restore_next_json(&o, &next);
		appendStringInfoString(&o, "}\n");
		fputs(o.data, stdout);
	}
	else
	{
		progress_format_bytes(stats->bytes_written, buf1, sizeof(buf1));
		progress_format_bytes(stats->bytes_stored, buf2, sizeof(buf2));
		printf("restored %s: " INT64_FORMAT " files written (%s), " INT64_FORMAT " kept, " INT64_FORMAT " removed; %s fetched in %d of %d parts; %.1f s\n",
			   m->id, stats->files_written, buf1, stats->files_kept, stats->files_removed,
			   buf2, stats->parts_fetched, m->nparts, secs);
		if (rec.target_param)
			printf("recovery target: %s = '%s'%s%s%s\n", rec.target_param, rec.target_value,
				   exclusive ? " (exclusive)" : "",
				   target_action ? ", then " : "", target_action ? target_action : "");
		else
			printf("recovery target: the end of the archived WAL (timeline %u), then promote\n", tli);
		if (config_file == NULL)
			printf("note: no configuration file was used, so restore_command has none; PostgreSQL runs it in %s, where it reads %s/tbdr.conf if present\n",
				   pgdata, pgdata);
		restore_next_print(&next);
		if ((target.type == TBDR_TARGET_XID || target.type == TBDR_TARGET_NAME) && !target.located)
			printf("(if the server stops with \"recovery ended before configured recovery target was reached\", the target is older than backup %s: run tbdr restore again with an older --backup)\n",
				   m->id);
	}
	return CLI_EXIT_OK;
}
