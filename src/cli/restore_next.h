/*-------------------------------------------------------------------------
 * restore_next.h
 *	  What a restore prints last: what the restored server is (a copy or
 *	  the new primary, see core/copyguard.h) and the commands that start it
 *	  and show that recovery reached the target.  README, docs/RUNBOOK.md
 *	  and `tbdr restore --help` say the same (test/t/051_restore_copy.pl
 *	  runs the documents' commands).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_RESTORE_NEXT_H
#define TBDR_RESTORE_NEXT_H

#include "lib/stringinfo.h"

typedef struct RestoreNext
{
	const char *pgdata;
	const char *repository;		/* tbdr.repository the restore read from */
	bool		copy;			/* --as copy (else --as primary) */
	bool		has_target;		/* a recovery target (else: all WAL, promote) */
	const char *target_action;	/* NULL: PostgreSQL's default, pause */
} RestoreNext;

/* The declaration and the next steps, as text on stdout. */
extern void restore_next_print(const RestoreNext *n);

/* The same as JSON members: , "as": ..., "next": [commands...] */
extern void restore_next_json(StringInfo o, const RestoreNext *n);

#endif							/* TBDR_RESTORE_NEXT_H */
