/*-------------------------------------------------------------------------
 * copyguard.h
 *	  A restored copy never writes into the repository it came from.
 *
 * `tbdr restore --as copy` records the repository it restored from in the
 * copy's postgresql.auto.conf (tbdr.copy_of), next to archive_mode = off.
 * Every path that writes into a repository (WAL archiving, gap markers,
 * base backups, expiry) asks tbdr_copy_guard first: a copy started with
 * archiving forced on, or asked for a backup, would otherwise add a second
 * history of the same system to production's repository (a new timeline
 * that a later restore follows by default).  Declaring the copy the new
 * primary (`tbdr restore --as primary`, or resetting tbdr.copy_of) lifts it.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_COPYGUARD_H
#define TBDR_COPYGUARD_H

#include "core/config.h"
#include "core/error.h"

/*
 * True when cfg's tbdr.copy_of names the repository cfg writes into (the
 * same bucket and prefix, or the same directory: the endpoint and the
 * spelling do not matter, so that the guard errs on the side of refusing).
 */
extern bool tbdr_is_copy_of_repository(const TbdrConfig *cfg);

/*
 * Before writing into the repository: false with err set (what the server
 * is, what it refused to do, and how to declare it the new primary) when
 * tbdr_is_copy_of_repository(cfg).  what says what was refused, e.g.
 * "archive WAL".
 */
extern bool tbdr_copy_guard(const TbdrConfig *cfg, const char *what,
							TbdrError *err);

#endif							/* TBDR_COPYGUARD_H */
