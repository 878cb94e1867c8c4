/*-------------------------------------------------------------------------
 * tbdr_base.h
 *	  First include of every core (backend-neutral) source file.
 *
 * The core is compiled twice, as PostgreSQL's src/common is: once into
 * tbdr.so (backend) and once with -DFRONTEND into the tbdr program.  This
 * header picks the matching PostgreSQL base header so that palloc, StringInfo
 * and friends work in both.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BASE_H
#define TBDR_BASE_H

#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#endif							/* TBDR_BASE_H */
