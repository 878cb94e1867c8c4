/*-------------------------------------------------------------------------
 * backup_priority.c
 *	  The CPU priority of the backup processes (see backup_priority.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "backend/backup_priority.h"

/*
 * A backup is background work: where CPU is short it should yield to the
 * queries, not compete with them.  (Measured on a 2-core machine beside
 * pgbench, SCHED_IDLE did no better than nice 10: what the queries lose
 * there is not CPU time the scheduler hands out; tbdr.backup_max_rate is
 * what helps.)
 */
void
tbdr_backup_lower_priority(void)
{
	if (setpriority(PRIO_PROCESS, 0, 10) != 0)
		ereport(LOG,
				(errmsg("tbdr: could not lower the CPU priority of the backup process: %m")));
}
