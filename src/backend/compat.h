/*-------------------------------------------------------------------------
 * compat.h
 *	  Every difference between the PostgreSQL major versions tbdr's backend
 *	  code meets, in one place.
 *
 * Archive modules (the main difference):
 *	 15:	postmaster/pgarch.h; void _PG_archive_module_init(cb *) fills the
 *			callbacks; callbacks take no state argument.
 *	 16+:	archive/archive_module.h; const ArchiveModuleCallbacks *
 *			_PG_archive_module_init(void); every callback gets an
 *			ArchiveModuleState *; a startup_cb exists.
 *	 17:	the archiver catches ERRORs raised by archive callbacks itself;
 *			tbdr still catches its own (harmless, and needed on 15/16).
 *
 * tbdr's archive callbacks are written once against version-neutral
 * signatures (no state: tbdr keeps its archiver state in static variables,
 * there is one archiver per cluster) and TBDR_ARCHIVE_* wraps them.
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
 * Shared memory: PostgreSQL 15 introduced shmem_request_hook (before it,
 * RequestAddinShmemSpace was called from _PG_init).  tbdr supports 15+, so
 * the hook always exists; kept here in case older versions are added.
 */
#define TBDR_HAVE_SHMEM_REQUEST_HOOK (PG_VERSION_NUM >= 150000)

#endif							/* TBDR_COMPAT_H */
