/*-------------------------------------------------------------------------
 * compat.h
 *	  Every difference between the PostgreSQL major versions tbdr's backend
 *	  code meets, in one place (the core's are in src/core/pg_compat.h).
 *	  Built and tested: 15 (Debian's package) and 18 (.ci/build-pg); 16 and
 *	  17 take 18's branches.
 *
 * Archive modules (the main difference):
 *	 15:	postmaster/pgarch.h (also XLogArchiveLibrary, 16+ in
 *			archive/archive_module.h: include compat.h, not either);
 *			void _PG_archive_module_init(cb *) fills the
 *			callbacks; callbacks take no state argument.
 *	 16+:	archive/archive_module.h; const ArchiveModuleCallbacks *
 *			_PG_archive_module_init(void); every callback gets an
 *			ArchiveModuleState *; a startup_cb exists (tbdr needs none).
 *	 17+:	the archiver catches ERRORs raised by archive callbacks itself
 *			(sigsetjmp in pgarch_archiveXlog, then cleans up and retries):
 *			tbdr only resets its own state and re-throws
 *			(TBDR_ARCHIVER_CATCHES_ERRORS); on 15/16 an ERROR would restart
 *			the archiver as a FATAL, so tbdr catches and reports it itself.
 *
 * tbdr's archive callbacks are written once against version-neutral
 * signatures (no state: tbdr keeps its archiver state in static variables,
 * there is one archiver per cluster) and TBDR_DEFINE_ARCHIVE_MODULE wraps
 * them.
 *
 * GUC: 16+ allocates string values and their extra in GUCMemoryContext
 * (guc_strdup/guc_free); 15 uses malloc/free (tbdr_guc_strdup below).
 *
 * Checked and the same in 15 to 18 (no branch needed):
 *	 - backups: pg_backup_start(label, fast) / pg_backup_stop(wait_for_archive),
 *	   called through SQL, and the pg_control file copied last;
 *	 - pg_control / checksums: DataChecksumsEnabled(), checksum_impl.h's
 *	   pg_checksum_page(); 18's initdb enables data checksums by default
 *	   (tbdr then verifies pages while backing up; tests pass either way);
 *	 - WAL summaries (17+, summarize_wal): pg_wal/summaries is kept empty in
 *	   backups (src/core/pg_compat.h); the server makes it if missing;
 *	 - recovery settings: recovery.signal and restore_command/recovery_target_*
 *	   in postgresql.auto.conf, unchanged since 12;
 *	 - shmem_request_hook (15+), BackgroundWorker registration and
 *	   BackgroundWorkerInitializeConnection(db, user, flags), DSM and
 *	   shm_mq_sendv(..., nowait, force_flush), WaitLatch with
 *	   PG_WAIT_EXTENSION (17+ could name custom wait events), GUC
 *	   DefineCustom*Variable and MarkGUCPrefixReserved (hook signatures);
 *	 - frontend libraries: libpgcommon.a / libpgport.a are in pkglibdir in
 *	   Debian's packages and in libdir in a build from source: the Makefile
 *	   links with both directories.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_COMPAT_H
#define TBDR_COMPAT_H

#if PG_VERSION_NUM >= 160000
#include "archive/archive_module.h"
#else
#include "postmaster/pgarch.h"
#endif

#if PG_VERSION_NUM >= 160000

/*
 * Defines the module's init function from three version-neutral functions:
 * bool check(void), bool archive(const char *file, const char *path),
 * void shutdown(void).
 */
#define TBDR_DEFINE_ARCHIVE_MODULE(check, archive, shutdown) \
	static bool tbdr_compat_check(ArchiveModuleState *state) \
	{ return check(); } \
	static bool tbdr_compat_archive(ArchiveModuleState *state, \
									const char *file, const char *path) \
	{ return archive(file, path); } \
	static void tbdr_compat_shutdown(ArchiveModuleState *state) \
	{ shutdown(); } \
	static const ArchiveModuleCallbacks tbdr_archive_callbacks = { \
		.check_configured_cb = tbdr_compat_check, \
		.archive_file_cb = tbdr_compat_archive, \
		.shutdown_cb = tbdr_compat_shutdown \
	}; \
	extern PGDLLEXPORT const ArchiveModuleCallbacks *_PG_archive_module_init(void); \
	const ArchiveModuleCallbacks * \
	_PG_archive_module_init(void) \
	{ return &tbdr_archive_callbacks; }

#else							/* PostgreSQL 15 */

#define TBDR_DEFINE_ARCHIVE_MODULE(check, archive, shutdown) \
	extern PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks *cb); \
	void \
	_PG_archive_module_init(ArchiveModuleCallbacks *cb) \
	{ \
		cb->check_configured_cb = check; \
		cb->archive_file_cb = archive; \
		cb->shutdown_cb = shutdown; \
	}

#endif

/*
 * Memory of string GUC values and their "extra" (freed by the GUC
 * machinery): malloc/free in 15, GUCMemoryContext chunks from 16
 * (guc_malloc/guc_free: a malloc'd value crashes the server when freed).
 * NULL on out of memory.
 */
#if PG_VERSION_NUM >= 160000
#define tbdr_guc_strdup(s) guc_strdup(LOG, (s))
#define tbdr_guc_free(p) guc_free(p)
#else
#define tbdr_guc_strdup(s) strdup(s)
#define tbdr_guc_free(p) free(p)
#endif

/*
 * Archive callbacks may ERROR and the archiver survives it (17+), or an
 * ERROR would restart the archiver (15, 16).
 */
#define TBDR_ARCHIVER_CATCHES_ERRORS (PG_VERSION_NUM >= 170000)

/*
 * Shared memory: PostgreSQL 15 introduced shmem_request_hook (before it,
 * RequestAddinShmemSpace was called from _PG_init).  tbdr supports 15+, so
 * the hook always exists; kept here in case older versions are added.
 */
#define TBDR_HAVE_SHMEM_REQUEST_HOOK (PG_VERSION_NUM >= 150000)

#endif							/* TBDR_COMPAT_H */
