/*-------------------------------------------------------------------------
 * cmd_list.c
 *	  tbdr list: the backups of the repository and the restorable window.
 *
 * The window is that of the history a restore without --target-timeline
 * follows, computed from the complete backups plus the contiguous WAL
 * (window.h); a hole in the WAL is named by its segments.  When the
 * repository holds diverging histories (branches.h), each is shown with
 * its WAL, its last archived segment and its own window, since a restore
 * then needs --target-timeline.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "cli/progress.h"
#include "cli/repostate.h"
#include "core/branches.h"

static const struct option list_options[] = {
	CLI_COMMON_LONGOPTS,
	{"json", no_argument, NULL, 'j'},
	{NULL, 0, NULL, 0}
};

static void
json_str_or_null(StringInfo o, const char *s)
{
	if (s)
		tbdr_json_escape(o, s);
	else
		appendStringInfoString(o, "null");
}

static void
json_time(StringInfo o, int64 t)
{
	char		buf[32];

	if (t == 0)
	{
		appendStringInfoString(o, "null");
		return;
	}
	tbdr_format_utc(t, buf, sizeof(buf));
	appendStringInfo(o, "\"%s\"", buf);
}

static void
json_lsn(StringInfo o, uint64 lsn)
{
	char		buf[32];

	if (lsn == 0)
	{
		appendStringInfoString(o, "null");
		return;
	}
	tbdr_format_lsn(lsn, buf, sizeof(buf));
	appendStringInfo(o, "\"%s\"", buf);
}

static void
json_us(StringInfo o, int64 us)
{
	char		buf[48];

	if (us == 0)
	{
		appendStringInfoString(o, "null");
		return;
	}
	tbdr_format_timestamp(us, buf, sizeof(buf));
	appendStringInfo(o, "\"%s\"", buf);
}

/* A window: its intervals (time targets null when none), gaps. */
static void
json_window(StringInfo o, const TbdrWindow *w)
{
	appendStringInfo(o, "{\"timeline\": %u, \"intervals\": [", w->tli);
	for (int i = 0; i < w->nintervals; i++)
	{
		const TbdrWindowInterval *iv = &w->intervals[i];

		appendStringInfo(o, "%s{\"backup\": \"%s\", \"start_time\": ", i ? ", " : "", iv->backup_id);
		json_us(o, iv->start_time);
		appendStringInfoString(o, ", \"start_lsn\": ");
		json_lsn(o, iv->start_lsn);
		appendStringInfoString(o, ", \"end_time\": ");
		json_us(o, iv->end_time);
		appendStringInfoString(o, ", \"end_lsn\": ");
		json_lsn(o, iv->lsn_max);
		appendStringInfoChar(o, '}');
	}
	appendStringInfoString(o, "], \"earliest\": ");
	if (w->nintervals)
		json_us(o, w->intervals[0].start_time);
	else
		appendStringInfoString(o, "null");
	appendStringInfoString(o, ", \"latest\": ");
	if (w->nintervals)
		json_us(o, w->intervals[w->nintervals - 1].end_time);
	else
		appendStringInfoString(o, "null");
	appendStringInfoString(o, ", \"gaps\": [");
	for (int i = 0; i < w->ngaps; i++)
	{
		const TbdrWindowGap *g = &w->gaps[i];

		appendStringInfo(o, "%s{\"first\": \"%s\", \"last\": \"%s\", \"start_lsn\": ",
						 i ? ", " : "", g->first, g->last);
		json_lsn(o, g->start_lsn);
		appendStringInfoString(o, ", \"end_lsn\": ");
		json_lsn(o, g->end_lsn);
		appendStringInfoChar(o, '}');
	}
	appendStringInfoString(o, "]}");
}

static const TbdrWindowBackup *
window_backup(const TbdrWindow *w, const char *id)
{
	for (int i = 0; i < w->nbackups; i++)
	{
		if (strcmp(w->backups[i].backup->id, id) == 0)
			return &w->backups[i];
	}
	return NULL;
}

static void
print_json(CliRepoState *rs, const TbdrWindow *w, const TbdrBranch *tips,
		   int ntips, TbdrWindow **tw)
{
	StringInfoData o;

	initStringInfo(&o);
	appendStringInfoString(&o, "{\"backups\": [");
	for (int i = 0; i < rs->list->count; i++)
	{
		const TbdrBackupInfo *b = &rs->list->items[i];
		const TbdrManifest *h = b->header;
		const TbdrWindowBackup *wb = window_backup(w, b->id);

		appendStringInfo(&o, "%s\n  {\"id\": \"%s\", \"status\": \"%s\"", i ? "," : "",
						 b->id, tbdr_backup_state_name(b->state));
		if (h)
		{
			appendStringInfo(&o, ", \"timeline\": %u, \"start_time\": ", h->timeline);
			json_time(&o, h->start_time);
			appendStringInfoString(&o, ", \"stop_time\": ");
			json_time(&o, h->stop_time);
			appendStringInfoString(&o, ", \"start_lsn\": ");
			json_lsn(&o, h->start_lsn);
			appendStringInfoString(&o, ", \"stop_lsn\": ");
			json_lsn(&o, h->stop_lsn);
			appendStringInfoString(&o, ", \"wal_start\": ");
			json_str_or_null(&o, h->wal_start);
			appendStringInfoString(&o, ", \"wal_stop\": ");
			json_str_or_null(&o, h->wal_stop);
			appendStringInfo(&o, ", \"database_bytes\": " INT64_FORMAT ", \"stored_bytes\": " INT64_FORMAT,
							 h->database_bytes, h->stored_bytes);
			appendStringInfoString(&o, ", \"encryption\": ");
			json_str_or_null(&o, h->encryption);
			appendStringInfoString(&o, ", \"error\": ");
			json_str_or_null(&o, h->error);
		}
		if (wb)
		{
			appendStringInfo(&o, ", \"restorable\": %s", wb->usable ? "true" : "false");
			if (!wb->usable && wb->missing[0])
				appendStringInfo(&o, ", \"missing_wal\": \"%s\"", wb->missing);
		}
		appendStringInfoChar(&o, '}');
	}
	appendStringInfoString(&o, "],\n \"window\": ");
	json_window(&o, w);
	appendStringInfoString(&o, ",\n \"branches\": [");
	for (int i = 0; i < ntips; i++)
	{
		const TbdrBranch *b = &tips[i];

		appendStringInfo(&o, "%s{\"timeline\": %u, \"parent\": %u, \"fork_lsn\": ",
						 i ? ", " : "", b->tli, b->parent);
		json_lsn(&o, b->fork_lsn);
		appendStringInfoString(&o, ", \"first_lsn\": ");
		json_lsn(&o, b->first_lsn);
		appendStringInfoString(&o, ", \"end_lsn\": ");
		json_lsn(&o, b->end_lsn);
		appendStringInfoString(&o, ", \"last_archived\": ");
		json_time(&o, b->last_archived);
		appendStringInfoString(&o, ", \"last_commit\": ");
		json_us(&o, b->last_commit);
		appendStringInfoString(&o, ", \"window\": ");
		json_window(&o, tw[i]);
		appendStringInfoChar(&o, '}');
	}
	appendStringInfoString(&o, "]}\n");
	fputs(o.data, stdout);
}

/* "restorable on timelines 1, 2" or why not, for diverging histories. */
static char *
branches_of(const char *id, const TbdrBranch *tips, int ntips, TbdrWindow **tw)
{
	StringInfoData s;
	const char *missing = NULL;

	initStringInfo(&s);
	for (int i = 0; i < ntips; i++)
	{
		const TbdrWindowBackup *wb = window_backup(tw[i], id);

		if (wb && wb->usable)
			appendStringInfo(&s, "%s%u", s.len ? ", " : "restorable on timeline ", tips[i].tli);
		else if (wb && wb->on_timeline)
			missing = wb->missing;
	}
	if (s.len == 0 && missing)
		appendStringInfo(&s, "not restorable: WAL segment %s is missing", missing);
	else if (s.len == 0)
		appendStringInfoString(&s, "on none of the histories");
	return s.data;
}

/* The intervals and gaps of w, as time and LSN ranges. */
static void
print_window(CliRepoState *rs, const TbdrWindow *w)
{
	if (w->nintervals == 0)
		printf("  none: no complete backup with its WAL on this timeline\n");
	for (int i = 0; i < w->nintervals; i++)
	{
		const TbdrWindowInterval *iv = &w->intervals[i];
		char		t1[48],
					t2[48],
					l1[32],
					l2[32],
					seg[25];

		if (i > 0)
		{
			const TbdrWindowGap *g = &w->gaps[i - 1];
			char		g1[32],
						g2[32];

			tbdr_format_lsn(g->start_lsn, g1, sizeof(g1));
			tbdr_format_lsn(g->end_lsn, g2, sizeof(g2));
			printf("  WAL gap: %s%s%s missing (LSN %s to %s): not restorable\n",
				   g->first, strcmp(g->first, g->last) ? ".." : "",
				   strcmp(g->first, g->last) ? g->last : "", g1, g2);
		}
		tbdr_format_lsn(iv->start_lsn, l1, sizeof(l1));
		tbdr_format_lsn(iv->lsn_max, l2, sizeof(l2));
		tbdr_wal_segment_name(iv->end_tli, iv->end_segno, rs->inv->seg_size, seg);
		if (iv->end_time == 0)
		{
			printf("  from LSN %s (backup %s)\n    to LSN %s (WAL through %s)\n"
				   "    no time targets: no commit is recorded in the WAL summaries after the backup\n",
				   l1, iv->backup_id, l2, seg);
			continue;
		}
		tbdr_format_timestamp(iv->start_time, t1, sizeof(t1));
		tbdr_format_timestamp(iv->end_time, t2, sizeof(t2));
		printf("  from %s (LSN %s, backup %s)\n    to %s (LSN %s, WAL through %s)\n",
			   t1, l1, iv->backup_id, t2, l2, seg);
	}
}

static void
print_text(CliRepoState *rs, const TbdrWindow *w, const TbdrBranch *tips,
		   int ntips, TbdrWindow **tw)
{
	printf("repository: %s\n\n", tbdr_storage_describe(rs->st));
	if (rs->list->count == 0)
		printf("no backups\n");
	else
		printf("%-17s %-9s %3s %-20s %-12s %-12s %9s %9s  %s\n",
			   "BACKUP", "STATUS", "TL", "STOPPED (UTC)", "START LSN", "STOP LSN",
			   "SIZE", "STORED", "NOTE");
	for (int i = 0; i < rs->list->count; i++)
	{
		const TbdrBackupInfo *b = &rs->list->items[i];
		const TbdrManifest *h = b->header;
		const TbdrWindowBackup *wb = window_backup(w, b->id);
		char		stop[32] = "-",
					l1[32] = "-",
					l2[32] = "-",
					s1[32] = "-",
					s2[32] = "-";
		const char *note = "";

		if (h)
		{
			if (h->stop_time)
				tbdr_format_utc(h->stop_time, stop, sizeof(stop));
			if (h->start_lsn)
				tbdr_format_lsn(h->start_lsn, l1, sizeof(l1));
			if (h->stop_lsn)
				tbdr_format_lsn(h->stop_lsn, l2, sizeof(l2));
			progress_format_bytes(h->database_bytes, s1, sizeof(s1));
			progress_format_bytes(h->stored_bytes, s2, sizeof(s2));
			if (h->error)
				note = h->error;
		}
		if (ntips > 1 && b->state == TBDR_BACKUP_COMPLETE)
			note = branches_of(b->id, tips, ntips, tw);
		else if (wb && wb->on_timeline && !wb->usable)
			note = psprintf("not restorable: WAL segment %s is missing", wb->missing);
		else if (wb && !wb->on_timeline && b->state == TBDR_BACKUP_COMPLETE)
			note = psprintf("not on the history of timeline %u", w->tli);
		printf("%-17s %-9s %3u %-20s %-12s %-12s %9s %9s  %s\n",
			   b->id, tbdr_backup_state_name(b->state), h ? h->timeline : 0,
			   stop, l1, l2, s1, s2, note);
	}
	if (ntips <= 1)
	{
		printf("\nrestorable window (timeline %u):\n", w->tli);
		print_window(rs, w);
		return;
	}
	printf("\nthe repository holds %d diverging histories; tbdr restore needs --target-timeline to choose one:\n", ntips);
	for (int i = 0; i < ntips; i++)
	{
		printf("\n%s\nrestorable window (timeline %u):\n", tbdr_branch_describe(&tips[i]), tips[i].tli);
		print_window(rs, tw[i]);
	}
}

int
cmd_list(const CliCommand *cmd, int argc, char **argv)
{
	CliRepoState rs;
	TbdrWindow *w;
	TbdrWindow **tw;
	TbdrBranch *tips;
	int			ntips;
	TbdrError	err;
	bool		json = false;
	int			c;

	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, list_options, NULL)) != -1)
	{
		if (cli_common_option(cmd, c, optarg))
			continue;
		if (c == 'j')
			json = true;
		else
			cli_usage_error(cmd, "option \"%s\" does not apply to %s", argv[optind - 1], cmd->name);
	}
	if (optind < argc)
		cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);

	cli_repo_state_load(&rs, true);
	tbdr_error_clear(&err);
	tips = tbdr_wal_branches(rs.inv, rs.complete, rs.ncomplete, &ntips, &err);
	if (tips == NULL)
	{
		cli_report_error(&err);
		return CLI_EXIT_ERROR;
	}
	tw = palloc(sizeof(TbdrWindow *) * ntips);
	for (int i = 0; i < ntips; i++)
		tw[i] = cli_repo_window(&rs, tips[i].tli);
	/* the newest history's (the only one unless they diverge) */
	w = tw[ntips - 1];
	if (json)
		print_json(&rs, w, tips, ntips, tw);
	else
		print_text(&rs, w, tips, ntips, tw);
	return CLI_EXIT_OK;
}
