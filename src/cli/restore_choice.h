/*-------------------------------------------------------------------------
 * restore_choice.h
 *	  Which history (timeline) and backup tbdr restore starts from.
 *
 * With --target-timeline, that timeline.  Without it, the repository's
 * branches (branches.h): one tip is followed as before; when histories
 * diverge, a restore to the end of the WAL (or --target immediate) is
 * refused with each branch named, and a target is looked up on every
 * branch: found on one, it leads there; on several, it is refused unless
 * it is one record of their shared history.  --target-xid and
 * --target-name are located in the WAL summaries (walsearch.h), so the
 * backup is chosen without --backup; with --backup, a target the summaries
 * do not hold is left to PostgreSQL to find, as before.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_CLI_RESTORE_CHOICE_H
#define TBDR_CLI_RESTORE_CHOICE_H

#include "cli/repostate.h"

typedef struct CliRestoreChoice
{
	uint32		tli;			/* the timeline recovery follows */
	TbdrWindow *w;				/* the window on it */
	int			chosen;			/* index into w->backups */
	TbdrTarget	target;			/* the target, located if it could be */
	char	   *note;			/* what was decided and why, or NULL */
} CliRestoreChoice;

/*
 * Choose for target (target_timeline, backup_id: as given, may be NULL);
 * prints the error and exits when the restore must be refused.
 */
extern void cli_restore_choose(CliRepoState *rs, const TbdrTarget *target,
							   const char *target_timeline,
							   const char *backup_id, CliRestoreChoice *out);

#endif							/* TBDR_CLI_RESTORE_CHOICE_H */
