/*-------------------------------------------------------------------------
 * cmd_expire.c
 *	  tbdr expire: apply the retention policy to the repository (see
 *	  src/core/expire.h for the rules, src/core/expire_run.h for the safe
 *	  order of deletions and the repository lock).
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdlib.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "core/catalog.h"
#include "core/expire_run.h"
#include "core/manifest.h"
#include "lib/stringinfo.h"

#define CLI_OPT_DRY_RUN		2100
#define CLI_OPT_JSON		2101
#define CLI_OPT_WAIT		2102

static const struct option expire_options[] = {
	CLI_COMMON_LONGOPTS,
	{"dry-run", no_argument, NULL, CLI_OPT_DRY_RUN},
	{"json", no_argument, NULL, CLI_OPT_JSON},
	{"wait", required_argument, NULL, CLI_OPT_WAIT},
	{NULL, 0, NULL, 0}
};

static void
print_text(const TbdrExpireResult *res, const TbdrConfig *cfg)
{
	char		size[32];
	char		window[32];

	progress_format_bytes(res->repo_bytes, size, sizeof(size));
	tbdr_format_utc(res->plan->window_start, window, sizeof(window));
	printf("repository: %d backups, " INT64_FORMAT " objects, %s\n",
		   res->backups->count, res->repo_objects, size);
	printf("retention: %d days (window from %s)%s%s%s\n",
		   cfg->retention_days, window,
		   cfg->retention_policy[0] ? ", policy '" : "",
		   cfg->retention_policy, cfg->retention_policy[0] ? "'" : "");
	for (int i = 0; i < res->backups->count; i++)
	{
		const TbdrBackupInfo *b = &res->backups->items[i];
		const TbdrExpireDecision *d = &res->plan->decisions[i];

		printf("  %-11s %s  %-8s  %s\n", tbdr_expire_action_name(d->action),
			   b->id, tbdr_backup_state_name(b->state), d->reason);
	}
	for (int i = 0; i < res->nitems; i++)
	{
		const TbdrExpireItem *it = &res->items[i];

		progress_format_bytes(it->bytes, size, sizeof(size));
		printf("%s %s %s%s%s (%d object%s, %s)\n",
			   res->dry_run ? "would delete" : it->done ? "deleted" : "NOT deleted",
			   tbdr_expire_item_kind_name(it->kind), it->name,
			   it->last && strcmp(it->last, it->name) != 0 ? " .. " : "",
			   it->last && strcmp(it->last, it->name) != 0 ? it->last : "",
			   it->objects, it->objects == 1 ? "" : "s", size);
	}
	printf("%s\n", tbdr_expire_summary(res));
}

static void
json_field_str(StringInfo s, const char *name, const char *value)
{
	appendStringInfo(s, "\"%s\": ", name);
	if (value)
		tbdr_json_escape(s, value);
	else
		appendStringInfoString(s, "null");
}

static void
print_json(const TbdrExpireResult *res, const TbdrConfig *cfg)
{
	StringInfoData s;
	char		window[32];

	initStringInfo(&s);
	tbdr_format_utc(res->plan->window_start, window, sizeof(window));
	appendStringInfo(&s, "{\"dry_run\": %s, \"finished\": %s, \"retention_days\": %d, ",
					 res->dry_run ? "true" : "false",
					 res->finished ? "true" : "false", cfg->retention_days);
	json_field_str(&s, "retention_policy", cfg->retention_policy);
	appendStringInfoString(&s, ", ");
	json_field_str(&s, "window_start", window);
	appendStringInfoString(&s, ",\n \"backups\": [");
	for (int i = 0; i < res->backups->count; i++)
	{
		const TbdrBackupInfo *b = &res->backups->items[i];
		const TbdrExpireDecision *d = &res->plan->decisions[i];

		appendStringInfoString(&s, i ? ",\n  {" : "\n  {");
		json_field_str(&s, "id", b->id);
		appendStringInfoString(&s, ", ");
		json_field_str(&s, "status", tbdr_backup_state_name(b->state));
		appendStringInfoString(&s, ", ");
		json_field_str(&s, "action", tbdr_expire_action_name(d->action));
		appendStringInfoString(&s, ", ");
		json_field_str(&s, "reason", d->reason);
		appendStringInfoChar(&s, '}');
	}
	appendStringInfoString(&s, "],\n \"deleted\": [");
	for (int i = 0; i < res->nitems; i++)
	{
		const TbdrExpireItem *it = &res->items[i];

		appendStringInfoString(&s, i ? ",\n  {" : "\n  {");
		json_field_str(&s, "kind", tbdr_expire_item_kind_name(it->kind));
		appendStringInfoString(&s, ", ");
		json_field_str(&s, "name", it->name);
		appendStringInfoString(&s, ", ");
		json_field_str(&s, "last", it->last);
		appendStringInfo(&s, ", \"objects\": %d, \"bytes\": " INT64_FORMAT ", \"done\": %s, ",
						 it->objects, it->bytes, it->done ? "true" : "false");
		json_field_str(&s, "reason", it->reason);
		appendStringInfoChar(&s, '}');
	}
	appendStringInfo(&s, "],\n \"backups_kept\": %d, \"backups_deleted\": %d, "
					 "\"wal_deleted\": %d, \"bytes_deleted\": " INT64_FORMAT
					 ", \"repo_bytes\": " INT64_FORMAT ", ",
					 res->backups_kept, res->backups_deleted, res->wal_deleted,
					 res->bytes_deleted, res->repo_bytes);
	json_field_str(&s, "wal_note", res->plan->wal_delete ? NULL : res->plan->wal_note);
	appendStringInfoString(&s, "}\n");
	fputs(s.data, stdout);
	pfree(s.data);
}

int
cmd_expire(const CliCommand *cmd, int argc, char **argv)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrCatalog *cat;
	TbdrExpireOptions opts;
	TbdrExpireResult *res = NULL;
	bool		json = false;
	bool		ok;
	int			c;

	memset(&opts, 0, sizeof(opts));
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, expire_options, NULL)) != -1)
	{
		char	   *end;

		if (cli_common_option(cmd, c, optarg))
			continue;
		if (c == CLI_OPT_DRY_RUN)
			opts.dry_run = true;
		else if (c == CLI_OPT_JSON)
			json = true;
		else if (c == CLI_OPT_WAIT)
		{
			opts.lock_wait = (int) strtol(optarg, &end, 10);
			if (*end != '\0' || opts.lock_wait < 0 || opts.lock_wait > 86400)
				cli_usage_error(cmd, "--wait takes seconds from 0 to 86400, not \"%s\"", optarg);
		}
	}
	if (optind < argc)
		cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);

	cli_load_config(&cfg, NULL);
	opts.retention_days = cfg.retention_days;
	opts.retention_policy = cfg.retention_policy;
	opts.purpose = "tbdr expire";

	tbdr_error_clear(&err);
	cat = tbdr_catalog_open(&cfg, &err);
	if (cat == NULL)
	{
		cli_report_error(&err);
		return CLI_EXIT_ERROR;
	}
	ok = tbdr_expire_execute(cat, &opts, &res, &err);
	if (res)
	{
		if (json)
			print_json(res, &cfg);
		else
			print_text(res, &cfg);
	}
	if (!ok)
		cli_report_error(&err);
	tbdr_catalog_close(cat);
	return ok ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}
