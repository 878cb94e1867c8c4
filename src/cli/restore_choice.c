/*-------------------------------------------------------------------------
 * restore_choice.c
 *	  The timeline and backup of a restore (see restore_choice.h).
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "cli/restore_choice.h"
#include "core/branches.h"
#include "core/walsearch.h"

static void
fail(TbdrError *err)
{
	cli_report_error(err);
	exit(CLI_EXIT_ERROR);
}

static const char *
target_kind(const TbdrTarget *t)
{
	return t->type == TBDR_TARGET_XID ? "transaction" : "restore point";
}

/*
 * Place an xid or name target on w's history.  false with err set when the
 * summaries do not hold it (with a --backup, PostgreSQL is left to search:
 * true, unlocated).
 */
static bool
locate(CliRepoState *rs, const TbdrWindow *w, TbdrTarget *t,
	   const char *backup_id, TbdrError *err)
{
	TbdrTargetSearch res;

	if (t->type != TBDR_TARGET_XID && t->type != TBDR_TARGET_NAME)
		return true;
	if (!tbdr_target_search(rs->inv, w, t, &res, err))
		fail(err);
	if (res.found)
	{
		tbdr_target_set_location(t, &res);
		return true;
	}
	if (backup_id)
		return true;
	tbdr_error_set(err, TBDR_ERR_NOT_FOUND,
				   "%s \"%s\" is not in the archived WAL of timeline %u after a restorable backup",
				   target_kind(t), t->text, w->tli);
	if (res.unsummarized > 0 || res.uncertain)
		tbdr_error_detail(err, "The search may have missed it: %d segments there were archived without a WAL summary (by a tbdr version before 0.1's summaries)%s.",
						  res.unsummarized,
						  res.uncertain ? ", and some commit records could not be decoded (or are COMMIT PREPARED)" : "");
	tbdr_error_hint(err, "Check the %s (tbdr list shows the histories), or give --backup ID to let PostgreSQL search the WAL from that backup.",
					target_kind(t));
	return false;
}

/* Window, location and backup on timeline tli; -1 with err if refused. */
static int
choose_on(CliRepoState *rs, uint32 tli, const char *backup_id,
		  TbdrTarget *t, TbdrWindow **w, TbdrError *err)
{
	*w = cli_repo_window(rs, tli);
	if (!locate(rs, *w, t, backup_id, err))
		return -1;
	return tbdr_window_select(*w, t, backup_id, err);
}

static char *
describe_tips(const TbdrBranch *tips, int ntips, const bool *only)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < ntips; i++)
	{
		if (only && !only[i])
			continue;
		appendStringInfo(&s, "%s%s", s.len ? "; " : "", tbdr_branch_describe(&tips[i]));
	}
	return s.data;
}

static void
refuse_diverged(const TbdrBranch *tips, int ntips, const bool *only,
				const char *what)
{
	TbdrError	err;

	tbdr_error_clear(&err);
	tbdr_error_set(&err, TBDR_ERR_CONFIG,
				   "the repository holds diverging histories and %s: %s",
				   what, describe_tips(tips, ntips, only));
	tbdr_error_hint(&err, "Choose the history to restore with --target-timeline N (tbdr list shows each one's backups and restorable window).");
	fail(&err);
}

/* A target that resolves on several branches: one shared record? */
static int
shared_record(const CliRestoreChoice *c, const TbdrBranch *tips,
			  const bool *cand, int ntips)
{
	int			pick = -1;

	for (int i = 0; i < ntips; i++)
	{
		if (!cand[i])
			continue;
		if (!c[i].target.located ||
			c[i].target.loc_lsn != c[pick < 0 ? i : pick].target.loc_lsn ||
			c[i].target.loc_segno != c[pick < 0 ? i : pick].target.loc_segno)
			return -1;
		/* the record is on the oldest of them: recovery along it is enough */
		if (pick < 0 || tips[i].tli < tips[pick].tli)
			pick = i;
	}
	return pick;
}

static void
choose_branch(CliRepoState *rs, const TbdrBranch *tips, int ntips,
			  const TbdrTarget *target, const char *backup_id,
			  CliRestoreChoice *out)
{
	CliRestoreChoice *c = palloc0(sizeof(CliRestoreChoice) * ntips);
	bool	   *cand = palloc0(sizeof(bool) * ntips);
	int			ncand = 0,
				pick = -1;
	TbdrError	err;

	if (target->type == TBDR_TARGET_LATEST || target->type == TBDR_TARGET_IMMEDIATE)
		refuse_diverged(tips, ntips, NULL,
						"a restore without --target-timeline would follow only the newest");
	for (int i = 0; i < ntips; i++)
	{
		tbdr_error_clear(&err);
		c[i].target = *target;
		c[i].tli = tips[i].tli;
		c[i].chosen = choose_on(rs, tips[i].tli, backup_id, &c[i].target, &c[i].w, &err);
		if (c[i].chosen >= 0)
		{
			cand[i] = true;
			ncand++;
			pick = i;
		}
	}
	if (ncand == 0)
	{
		StringInfoData d;

		tbdr_error_clear(&err);
		initStringInfo(&d);
		for (int i = 0; i < ntips; i++)
			appendStringInfo(&d, "%stimeline %u: %s", i ? "; " : "",
							 tips[i].tli, tbdr_window_describe(c[i].w));
		tbdr_error_set(&err, TBDR_ERR_CONFIG,
					   "the recovery target \"%s\" is on none of the diverging histories of the repository",
					   target->text);
		tbdr_error_detail(&err, "Restorable: %s.", d.data);
		tbdr_error_hint(&err, "Choose a target inside one of them, and the history with --target-timeline N.");
		fail(&err);
	}
	if (ncand > 1 && (pick = shared_record(c, tips, cand, ntips)) < 0)
		refuse_diverged(tips, ntips, cand,
						psprintf("the recovery target \"%s\" is on more than one of them", target->text));
	*out = c[pick];
	out->note = psprintf("the repository holds diverging histories (%s); the target is on timeline %u%s",
						 describe_tips(tips, ntips, NULL), tips[pick].tli,
						 ncand > 1 ? ", in the history they share" : " only");
}

void
cli_restore_choose(CliRepoState *rs, const TbdrTarget *target,
				   const char *target_timeline, const char *backup_id,
				   CliRestoreChoice *out)
{
	TbdrError	err;
	uint32		tli;

	memset(out, 0, sizeof(*out));
	tbdr_error_clear(&err);
	if (target_timeline == NULL)
	{
		int			ntips;
		TbdrBranch *tips = tbdr_wal_branches(rs->inv, rs->complete, rs->ncomplete, &ntips, &err);

		if (tips == NULL)
			fail(&err);
		if (ntips > 1)
		{
			choose_branch(rs, tips, ntips, target, backup_id, out);
			return;
		}
		tli = tips[0].tli;
	}
	else if (strcmp(target_timeline, "latest") == 0)
		tli = tbdr_wal_latest_timeline(rs->inv, rs->complete, rs->ncomplete);
	else if (strcmp(target_timeline, "current") == 0)
	{
		const TbdrBackupInfo *b = backup_id ? tbdr_backup_list_find(rs->list, backup_id) :
			tbdr_backup_list_latest(rs->list);

		tli = (b && b->header) ? b->header->timeline : 1;
	}
	else
		tli = (uint32) atol(target_timeline);

	out->tli = tli;
	out->target = *target;
	out->chosen = choose_on(rs, tli, backup_id, &out->target, &out->w, &err);
	if (out->chosen < 0)
		fail(&err);
	if (out->target.located)
	{
		char		lsn[32];

		tbdr_format_lsn(out->target.loc_lsn, lsn, sizeof(lsn));
		out->note = psprintf(out->target.type == TBDR_TARGET_XID ?
							 "transaction %s ends in the WAL segment at LSN %s of timeline %u's history" :
							 "restore point \"%s\" is at LSN %s of timeline %u's history",
							 out->target.text, lsn, tli);
	}
}
