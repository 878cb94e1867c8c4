/*-------------------------------------------------------------------------
 * cmd_verify.c
 *	  tbdr verify [ID]: check every stored object of a backup, and the WAL
 *	  from its start to its consistent point, against their checksums.
 *
 * The parts go through the restore pipeline in verify mode (restore.h):
 * each is downloaded and decoded (the object's own trailer, zstd checksum
 * and, when encrypted, every chunk's GCM tag), its tar stream's SHA-256
 * compared with the manifest, and every file's SHA-256 and size with the
 * manifest's.  Each WAL segment the backup needs is decoded the same way.
 * Every problem is listed (verify goes on after the first one); any problem
 * makes the exit status 1.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "cli/progress.h"
#include "cli/repostate.h"
#include "core/repo.h"

static const struct option verify_options[] = {
	CLI_COMMON_LONGOPTS,
	{"parallel", required_argument, NULL, 'P'},
	{"no-progress", no_argument, NULL, 'n'},
	{"json", no_argument, NULL, 'j'},
	{NULL, 0, NULL, 0}
};

static int	nproblems = 0;
static bool json = false;
static StringInfoData problems_json;	/* --json: the array's elements */

/* One problem found: a line on stdout (or an element of the JSON array). */
static void
problem(const TbdrError *err)
{
	char	   *line = tbdr_error_format(err);

	if (json)
	{
		appendStringInfo(&problems_json, "%s{\"code\": \"%s\", \"message\": ",
						 nproblems ? ", " : "", tbdr_error_code_name(err->code));
		tbdr_json_escape(&problems_json, line);
		appendStringInfoChar(&problems_json, '}');
	}
	else
	{
		fflush(stdout);
		printf("PROBLEM: %s\n", line);
		fflush(stdout);
	}
	nproblems++;
}

static bool
discard(void *arg, const char *buf, size_t len, TbdrError *err)
{
	return true;
}

static bool
decode_into(void *arg, const char *buf, size_t len, TbdrError *err)
{
	return tbdr_codec_decoder_write((TbdrCodecDecoder *) arg, buf, len, discard, NULL, err);
}

/* Download and decode one WAL segment, checking it end to end. */
static bool
verify_wal(CliRepoState *rs, const char *name, TbdrError *err)
{
	char	   *key = tbdr_repo_wal_key(name, err);
	bool		ok;

	if (key == NULL)
		return false;
	tbdr_codec_decoder_reset(rs->dec, key);
	ok = tbdr_storage_get(rs->st, key, 0, -1, decode_into, rs->dec, err) &&
		tbdr_codec_decoder_finish(rs->dec, discard, NULL, err);
	if (!ok)
	{
		if (err->code == TBDR_ERR_NOT_FOUND)
			tbdr_error_set(err, TBDR_ERR_NOT_FOUND, "WAL segment %s is missing (\"%s\")", name, key);
		else
			tbdr_error_prefix(err, "WAL segment %s (\"%s\"): ", name, key);
	}
	pfree(key);
	return ok;
}

/* The options; returns the backup id asked for, NULL for the latest. */
static const char *
parse_args(const CliCommand *cmd, int argc, char **argv, int *parallel,
		   bool *show_progress)
{
	const char *id = NULL;
	int			c;

	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, verify_options, NULL)) != -1)
	{
		if (cli_common_option(cmd, c, optarg))
			continue;
		if (c == 'P')
		{
			*parallel = atoi(optarg);
			if (*parallel < 1 || *parallel > 64)
				cli_usage_error(cmd, "--parallel must be a number from 1 to 64, got \"%s\"", optarg);
		}
		else if (c == 'n')
			*show_progress = false;
		else if (c == 'j')
			json = true;
		else
			cli_usage_error(cmd, "option \"%s\" does not apply to %s", argv[optind - 1], cmd->name);
	}
	if (argc - optind > 1)
		cli_usage_error(cmd, "too many arguments: give one backup id");
	if (argc - optind == 1 && strcmp(argv[optind], "latest") != 0)
	{
		int64		t;

		id = argv[optind];
		if (!tbdr_backup_id_parse(id, &t))
			cli_usage_error(cmd, "\"%s\" is not a backup id (like 20261125T020000Z) or \"latest\"", id);
	}
	return id;
}

/*
 * The manifest of the backup to verify (complete, its key at hand), or
 * NULL after saying why not (cli_fatal when there is no such backup).
 */
static TbdrManifest *
choose_backup(CliRepoState *rs, const char *id)
{
	const TbdrBackupInfo *b;
	TbdrManifest *m;
	TbdrError	err;

	tbdr_error_clear(&err);
	b = id ? tbdr_backup_list_find(rs->list, id) : tbdr_backup_list_latest(rs->list);
	if (b == NULL)
	{
		if (id)
			cli_fatal("backup %s is not in the repository (tbdr list shows the backups)", id);
		cli_fatal("the repository has no complete backup to verify");
	}
	if (b->state != TBDR_BACKUP_COMPLETE)
		cli_fatal("backup %s is %s%s%s, not complete: there is nothing to verify", b->id,
				  tbdr_backup_state_name(b->state),
				  b->header && b->header->error ? ": " : "",
				  b->header && b->header->error ? b->header->error : "");
	m = tbdr_catalog_load_manifest(rs->cat, b->id, &err);
	if (m == NULL)
	{
		cli_report_error(&err);
		fprintf(stderr, "tbdr: backup %s: its manifest cannot be read\n", b->id);
		return NULL;
	}
	if (!cli_repo_check_key(rs, m, &err))
	{
		cli_report_error(&err);
		return NULL;
	}
	return m;
}

/* Check the WAL that makes the backup consistent; returns the segments checked. */
static int
verify_wal_range(CliRepoState *rs, const TbdrManifest *m)
{
	TbdrError	err;
	uint64		seg_size = tbdr_wal_seg_size_of(m);
	uint32		tli1,
				tli2;
	uint64		first,
				last;
	int			nsegs = 0;

	tbdr_error_clear(&err);
	if (!m->wal_start || !m->wal_stop)
	{
		tbdr_error_set(&err, TBDR_ERR_CORRUPT, "the manifest does not say which WAL the backup needs");
		problem(&err);
		return 0;
	}
	if (!tbdr_wal_segment_parse(m->wal_start, seg_size, &tli1, &first) ||
		!tbdr_wal_segment_parse(m->wal_stop, seg_size, &tli2, &last) || last < first)
	{
		tbdr_error_set(&err, TBDR_ERR_CORRUPT, "the manifest's WAL range %s..%s is invalid",
					   m->wal_start, m->wal_stop);
		problem(&err);
		return 0;
	}
	for (uint64 s = first; s <= last; s++)
	{
		char		name[25];

		tbdr_wal_segment_name(tli1, s, seg_size, name);
		tbdr_error_clear(&err);
		if (!verify_wal(rs, name, &err))
			problem(&err);
		nsegs++;
	}
	return nsegs;
}

/* The result: one line, or one JSON object with --json. */
static int
report(const TbdrManifest *m, TbdrRestore *r, int nsegs)
{
	char		sz[32];

	if (json)
	{
		printf("{\"backup\": \"%s\", \"ok\": %s, \"parts\": %d, \"files\": %d, \"wal_segments\": %d, "
			   "\"bytes_checked\": " INT64_FORMAT ", \"problems\": [%s]}\n",
			   m->id, nproblems ? "false" : "true", m->nparts, m->nfiles, nsegs,
			   tbdr_restore_stats(r)->bytes_stored, problems_json.data);
		return nproblems ? CLI_EXIT_ERROR : CLI_EXIT_OK;
	}
	if (nproblems > 0)
	{
		printf("backup %s: %d problem%s found: it cannot be restored as it is\n",
			   m->id, nproblems, nproblems == 1 ? "" : "s");
		return CLI_EXIT_ERROR;
	}
	progress_format_bytes(tbdr_restore_stats(r)->bytes_stored, sz, sizeof(sz));
	printf("backup %s: OK (%d parts, %s, %d files, %d WAL segments checked)\n",
		   m->id, m->nparts, sz, m->nfiles, nsegs);
	return CLI_EXIT_OK;
}

int
cmd_verify(const CliCommand *cmd, int argc, char **argv)
{
	CliRepoState rs;
	TbdrError	err;
	const char *id;
	TbdrManifest *m;
	TbdrRestoreOptions ropts;
	TbdrRestore *r;
	int			parallel = 4;
	bool		show_progress = true;
	int			nsegs;

	id = parse_args(cmd, argc, argv, &parallel, &show_progress);
	tbdr_error_clear(&err);
	initStringInfo(&problems_json);
	cli_repo_state_load(&rs, false);
	m = choose_backup(&rs, id);
	if (m == NULL)
		return CLI_EXIT_ERROR;
	if (!json)
	{
		printf("verifying backup %s: %d parts, %d files, WAL %s..%s\n", m->id, m->nparts,
			   m->nfiles, m->wal_start ? m->wal_start : "?", m->wal_stop ? m->wal_stop : "?");
		fflush(stdout);
	}

	memset(&ropts, 0, sizeof(ropts));
	ropts.verify_only = true;
	r = tbdr_restore_create(m, &ropts, &err);
	if (r == NULL)
	{
		problem(&err);
		return CLI_EXIT_ERROR;
	}
	if (cli_run_parts(&rs, r, m, parallel, false, "verify", show_progress && !json, problem, &err) > 0)
		problem(&err);			/* the first failure (the others were reported) */
	else if (!tbdr_restore_finish(r, &err))
		problem(&err);

	nsegs = verify_wal_range(&rs, m);
	return report(m, r, nsegs);
}
