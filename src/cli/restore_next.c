/*-------------------------------------------------------------------------
 * restore_next.c
 *	  What a restore prints last (see restore_next.h).
 *
 * The commands are printed one per line, ready to copy or to run from a
 * script: a test copy started exactly as printed never writes into the
 * repository (what the copy is comes from its postgresql.auto.conf, not
 * from how it is started), and the last command (tbdr restore-wait) fails
 * unless recovery reached the target.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "cli/restore_next.h"
#include "cli/shellcmd.h"
#include "core/manifest.h"

#define MAX_STEPS 2

/* The commands to run, in order; returns how many. */
static int
next_steps(const RestoreNext *n, char *steps[MAX_STEPS])
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, "pg_ctl -D ");
	cli_shell_quote(&s, n->pgdata);
	appendStringInfoString(&s, " -l ");
	cli_shell_quote(&s, psprintf("%s.log", n->pgdata));
	appendStringInfoString(&s, " start");
	steps[0] = s.data;

	initStringInfo(&s);
	cli_shell_quote(&s, cli_self_path());
	appendStringInfoString(&s, " restore-wait --pgdata ");
	cli_shell_quote(&s, n->pgdata);
	steps[1] = s.data;
	return 2;
}

static bool
pauses(const RestoreNext *n)
{
	return n->has_target &&
		(n->target_action == NULL || strcmp(n->target_action, "pause") == 0);
}

void
restore_next_print(const RestoreNext *n)
{
	char	   *steps[MAX_STEPS];
	int			nsteps = next_steps(n, steps);

	if (n->copy)
		printf("\nrestored as a COPY (--as copy): it reads WAL from %s but never writes into it\n"
			   "(postgresql.auto.conf sets archive_mode = 'off' and tbdr.copy_of; tbdr refuses to archive,\n"
			   "back up or expire into that repository from this server).  For a server that replaces\n"
			   "production, restore with --as primary instead.\n",
			   n->repository);
	else
		printf("\nrestored as the NEW PRIMARY (--as primary): once recovery has ended it archives WAL and\n"
			   "takes its scheduled backups into %s, as its settings say.  Make sure the old\n"
			   "primary is gone for good: two servers writing into one repository make two histories.\n",
			   n->repository);

	printf("\nNext: start the server%s, then wait until recovery has reached %s\n"
		   "(restore-wait exits 0 then, 1 if the server stopped before: see tbdr restore-wait --help):\n",
		   n->copy ? " (beside production, give the copy a free port: add -o '-p 5433')" : "",
		   n->has_target ? "the target" : "the end of the archived WAL");
	for (int i = 0; i < nsteps; i++)
		printf("  %s\n", steps[i]);
	if (pauses(n))
		printf("Recovery pauses at the target: check the data, then SELECT pg_wal_replay_resume(); to promote.\n");
	if (!n->copy)
		printf("Then take a base backup, which also proves that WAL archiving works: SELECT tbdr_backup_now(wait => true);\n");
}

void
restore_next_json(StringInfo o, const RestoreNext *n)
{
	char	   *steps[MAX_STEPS];
	int			nsteps = next_steps(n, steps);

	appendStringInfo(o, ", \"as\": \"%s\", \"next\": [", n->copy ? "copy" : "primary");
	for (int i = 0; i < nsteps; i++)
	{
		if (i > 0)
			appendStringInfoString(o, ", ");
		tbdr_json_escape(o, steps[i]);
	}
	appendStringInfoChar(o, ']');
}
