/*-------------------------------------------------------------------------
 * guc.h
 *	  The tbdr.* settings as GUCs of the server.
 *
 * tbdr_define_gucs() defines one GUC per row of tbdr_settings[] (see
 * src/core/config.h), each pointing into tbdr_guc, so the rest of the server
 * reads the current values from tbdr_guc like any TbdrConfig.
 *
 * The strings in tbdr_guc belong to the GUC machinery and are replaced (and
 * freed) on reload; code that keeps a configuration across a possible
 * reload (a long upload, a worker's storage handle) takes a copy with
 * tbdr_guc_copy().
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKEND_GUC_H
#define TBDR_BACKEND_GUC_H

#include "core/config.h"

extern PGDLLIMPORT TbdrConfig tbdr_guc;

/* From _PG_init: define the GUCs and reserve the "tbdr." prefix. */
extern void tbdr_define_gucs(void);

/*
 * A WARNING when cfg reads the repository with tbdr.allow_unauthenticated_reads
 * on beside a key (tbdr_config_unauthenticated_warning); called wherever the
 * backend opens the repository for reading.
 */
extern void tbdr_guc_warn_unauthenticated(const TbdrConfig *cfg);

/* A copy of tbdr_guc with strings palloc'd in CurrentMemoryContext. */
extern void tbdr_guc_copy(TbdrConfig *dst);

/*
 * A digest of every tbdr.* value now (raw values, hashed: no second copy
 * of a secret): two processes that compute the same digest store into the
 * same repository the same way.
 */
extern void tbdr_guc_settings_hash(unsigned char out[32]);

#endif							/* TBDR_BACKEND_GUC_H */
