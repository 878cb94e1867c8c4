/*-------------------------------------------------------------------------
 * backup_priority.h
 *	  The CPU priority of the processes that take a base backup (the backup
 *	  worker and its writers).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKEND_BACKUP_PRIORITY_H
#define TBDR_BACKEND_BACKUP_PRIORITY_H

/*
 * Lower this process's CPU priority (before any thread starts: threads
 * inherit it).  Never ERRORs.
 */
extern void tbdr_backup_lower_priority(void);

#endif							/* TBDR_BACKEND_BACKUP_PRIORITY_H */
