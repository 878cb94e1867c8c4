/*-------------------------------------------------------------------------
 * cmd_lifecycle.c
 *	  tbdr lifecycle --print: an S3 lifecycle configuration that moves old
 *	  backup parts and old WAL to cheaper storage classes while everything a
 *	  restore inside the retention window reads stays instantly readable
 *	  (docs/RETENTION.md explains the choices).
 *
 * What must stay instantly readable, and how the rules ensure it:
 *	 - tbdr.json, locks/, and the status objects of every backup
 *	   (backups/<id>/started.json, failed.json, manifest.json): every
 *	   listing, expiry, verify and restore reads them.  The only rule that
 *	   reaches backups/ beyond STANDARD_IA (which is instant) is limited to
 *	   objects larger than a threshold above the largest status object in
 *	   the repository, so it takes parts only.
 *	 - the parts and WAL of every backup a restore inside the window may
 *	   start from, which includes the newest backup older than the window:
 *	   the GLACIER transition comes only after retention_days plus a margin
 *	   for the time between backups.
 *	 - timeline history files (wal/<tli>.history): read by every restore
 *	   that follows a timeline; they are a few hundred bytes, below every
 *	   rule's size limit.
 * The configuration is printed, never applied: apply it with
 * `aws s3api put-bucket-lifecycle-configuration --bucket B
 *	--lifecycle-configuration file://lifecycle.json`.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdlib.h>

#include "cli/cli.h"
#include "core/manifest.h"
#include "core/repo.h"
#include "core/storage.h"
#include "lib/stringinfo.h"

#define CLI_OPT_PRINT			2200
#define CLI_OPT_IA_DAYS			2201
#define CLI_OPT_GLACIER_DAYS	2202

/* S3 does not move objects below 128 KiB to IA/Glacier classes by default. */
#define MIN_TRANSITION_SIZE		(128 * 1024)
/* Parts smaller than this stay in STANDARD_IA; see part_threshold(). */
#define DEFAULT_PART_THRESHOLD	((int64) 16 * 1024 * 1024)
/* Days after the retention window before GLACIER, for the anchor backup. */
#define GLACIER_MARGIN_DAYS		7
/* AWS refuses STANDARD_IA transitions before 30 days (Transition.Days). */
#define AWS_MIN_IA_DAYS			30

static const struct option lifecycle_options[] = {
	CLI_COMMON_LONGOPTS,
	{"print", no_argument, NULL, CLI_OPT_PRINT},
	{"ia-days", required_argument, NULL, CLI_OPT_IA_DAYS},
	{"glacier-days", required_argument, NULL, CLI_OPT_GLACIER_DAYS},
	{NULL, 0, NULL, 0}
};

typedef struct StatusSizes
{
	int64		largest;		/* largest status object (.json) */
	int			count;
} StatusSizes;

static bool
status_size_cb(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	StatusSizes *s = (StatusSizes *) arg;
	size_t		len = strlen(info->key);

	if (len > 5 && strcmp(info->key + len - 5, ".json") == 0)
	{
		s->count++;
		if (info->size > s->largest)
			s->largest = info->size;
	}
	return true;
}

/*
 * The size above which backups/ objects go to GLACIER: well above the
 * largest status object in the repository (manifests grow with the number
 * of files; four times leaves room for growth), and at least 16 MiB.
 */
static int64
part_threshold(const TbdrConfig *cfg, StatusSizes *sizes)
{
	TbdrError	err;
	TbdrStorage *st;
	int64		t = DEFAULT_PART_THRESHOLD;

	tbdr_error_clear(&err);
	memset(sizes, 0, sizeof(*sizes));
	st = tbdr_storage_open(cfg, &err);
	if (st == NULL ||
		!tbdr_storage_list(st, TBDR_REPO_BACKUP_PREFIX, status_size_cb, sizes, &err))
	{
		fprintf(stderr, "tbdr: warning: could not read the repository (%s); the part size threshold is the default\n",
				err.message);
		sizes->count = -1;
	}
	if (st)
		tbdr_storage_close(st);
	if (sizes->largest * 4 > t)
		t = sizes->largest * 4;
	return t;
}

static void
rule(StringInfo s, bool first, const char *id, const char *prefix,
	 const char *sub, int64 min_size, int days, const char *class)
{
	char	   *full = psprintf("%s%s%s", prefix, prefix[0] ? "/" : "", sub);

	appendStringInfoString(s, first ? "\n" : ",\n");
	appendStringInfo(s, "    {\n      \"ID\": \"%s\",\n      \"Status\": \"Enabled\",\n", id);
	appendStringInfoString(s, "      \"Filter\": {\"And\": {\"Prefix\": ");
	tbdr_json_escape(s, full);
	appendStringInfo(s, ", \"ObjectSizeGreaterThan\": " INT64_FORMAT "}},\n", min_size);
	appendStringInfo(s, "      \"Transitions\": [{\"Days\": %d, \"StorageClass\": \"%s\"}]\n    }",
					 days, class);
	pfree(full);
}

int
cmd_lifecycle(const CliCommand *cmd, int argc, char **argv)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrRepoLocation loc;
	StatusSizes sizes;
	StringInfoData s;
	bool		print = false;
	int			ia_days = AWS_MIN_IA_DAYS;
	int			glacier_days = -1;
	int64		threshold;
	int			c;
	char	   *prefix;

	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, lifecycle_options, NULL)) != -1)
	{
		char	   *end;
		long		v;

		if (cli_common_option(cmd, c, optarg))
			continue;
		if (c == CLI_OPT_PRINT)
		{
			print = true;
			continue;
		}
		v = strtol(optarg, &end, 10);
		if (*end != '\0' || v < 1 || v > 36500)
			cli_usage_error(cmd, "%s takes days from 1 to 36500, not \"%s\"",
							argv[optind - 1], optarg);
		if (c == CLI_OPT_IA_DAYS)
			ia_days = (int) v;
		else
			glacier_days = (int) v;
	}
	if (optind < argc)
		cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
	if (!print)
		cli_usage_error(cmd, "say --print: this command prints a configuration and never changes the bucket");

	cli_load_config(&cfg, NULL);
	tbdr_error_clear(&err);
	if (!tbdr_repo_parse(cfg.repository, &loc, &err))
	{
		cli_report_error(&err);
		return CLI_EXIT_ERROR;
	}
	if (loc.type != TBDR_REPO_S3)
		cli_fatal("tbdr.repository is not an s3:// repository; lifecycle rules are an S3 feature");
	prefix = loc.prefix ? loc.prefix : "";

	if (glacier_days < 0)
		glacier_days = Max(ia_days + 30, cfg.retention_days + GLACIER_MARGIN_DAYS);
	if (ia_days < AWS_MIN_IA_DAYS)
		fprintf(stderr,
				"tbdr: warning: AWS S3 refuses STANDARD_IA transitions before %d days (put-bucket-lifecycle-configuration fails); other S3 implementations may accept --ia-days %d\n",
				AWS_MIN_IA_DAYS, ia_days);
	if (glacier_days <= ia_days)
		cli_fatal("--glacier-days (%d) must be more than --ia-days (%d)", glacier_days, ia_days);
	if (glacier_days <= cfg.retention_days)
		fprintf(stderr,
				"tbdr: warning: GLACIER after %d days is inside the retention window of %d days: restoring to a point in its first %d days needs `aws s3api restore-object` on the backup's parts first\n",
				glacier_days, cfg.retention_days, cfg.retention_days - glacier_days + 1);
	else if (glacier_days < cfg.retention_days + GLACIER_MARGIN_DAYS)
		fprintf(stderr,
				"tbdr: warning: GLACIER after %d days leaves only %d days after the %d-day window: the backup a restore to the window's start uses is up to retention_days plus the time between backups old\n",
				glacier_days, glacier_days - cfg.retention_days, cfg.retention_days);

	threshold = part_threshold(&cfg, &sizes);

	initStringInfo(&s);
	appendStringInfoString(&s, "{\n  \"Rules\": [");
	/* IA is instantly readable: manifests may go too, so no size limit */
	rule(&s, true, "tbdr-backups-standard-ia", prefix, TBDR_REPO_BACKUP_PREFIX,
		 MIN_TRANSITION_SIZE, ia_days, "STANDARD_IA");
	/* parts only: every status object is far below the threshold */
	rule(&s, false, "tbdr-backup-parts-glacier", prefix, TBDR_REPO_BACKUP_PREFIX,
		 threshold, glacier_days, "GLACIER");
	/* WAL: instant inside the window; history files are far below 128 KiB */
	rule(&s, false, "tbdr-wal-standard-ia", prefix, TBDR_REPO_WAL_PREFIX,
		 MIN_TRANSITION_SIZE, ia_days, "STANDARD_IA");
	rule(&s, false, "tbdr-wal-glacier", prefix, TBDR_REPO_WAL_PREFIX,
		 MIN_TRANSITION_SIZE, glacier_days, "GLACIER");
	/* uploads cut off by a crash, which tbdr also aborts itself */
	appendStringInfoString(&s, ",\n    {\n      \"ID\": \"tbdr-abort-incomplete-uploads\",\n"
						   "      \"Status\": \"Enabled\",\n      \"Filter\": {\"Prefix\": ");
	tbdr_json_escape(&s, prefix[0] ? psprintf("%s/", prefix) : "");
	appendStringInfoString(&s, "},\n      \"AbortIncompleteMultipartUpload\": {\"DaysAfterInitiation\": 7}\n    }");
	appendStringInfoString(&s, "\n  ]\n}\n");
	fputs(s.data, stdout);

	if (sizes.count >= 0)
		fprintf(stderr, "tbdr: %d status objects in the repository, the largest " INT64_FORMAT
				" bytes; backups/ objects above " INT64_FORMAT " bytes (parts) go to GLACIER after %d days\n",
				sizes.count, sizes.largest, threshold, glacier_days);
	return CLI_EXIT_OK;
}
