/*-------------------------------------------------------------------------
 * status.h
 *	  Archiving status in shared memory, shown by tbdr_status().
 *
 * Needs tbdr in shared_preload_libraries (the shared memory is requested at
 * postmaster start).  Without it the archive module still archives, the
 * record functions do nothing, and tbdr_status() raises an error that says
 * to preload tbdr.  Counters count since the server started; archiving by
 * the CLI (archive_command) is not seen here.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_STATUS_H
#define TBDR_STATUS_H

/* From _PG_init: chain the shared-memory hooks (when preloading). */
extern void tbdr_status_init(void);

/* Whether the shared status exists in this process. */
extern bool tbdr_status_available(void);

/*
 * A WAL-directory file is stored: plain_bytes of data, stored_bytes the size
 * of the object in the repository (after compression and encryption).
 */
extern void tbdr_status_archived(const char *file, int64 plain_bytes,
								 int64 stored_bytes);

/* Archiving file failed; message is the one-line error (no secrets). */
extern void tbdr_status_failed(const char *file, const char *message);

/*
 * A WAL segment was acknowledged without being stored
 * (tbdr.archive_queue_max): a gap in the archive.
 */
extern void tbdr_status_gap(const char *file);

/* State of the pre-push worker, e.g. "none", "idle", "pushing", "stopped". */
extern void tbdr_status_set_worker_state(const char *state);

#endif							/* TBDR_STATUS_H */
