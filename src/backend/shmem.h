/*-------------------------------------------------------------------------
 * shmem.h
 *	  The shared memory areas of tbdr's backend modules, reserved through
 *	  one pair of PostgreSQL hooks (shmem_request_hook, shmem_startup_hook)
 *	  instead of one pair per module.
 *
 * Shared memory can be had only when tbdr is in shared_preload_libraries:
 * otherwise tbdr_shmem_add does nothing and *ptr stays NULL, which every
 * module takes as "not available".
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKEND_SHMEM_H
#define TBDR_BACKEND_SHMEM_H

/* Initializes a new area's other non-zero fields. */
typedef void (*TbdrShmemInitFn) (void *area);

/*
 * From _PG_init: reserve size bytes named name, whose spinlock is at
 * mutex_offset.  At shared memory startup *ptr points to the area; a new
 * area is zeroed, its spinlock initialized, and init (may be NULL) called.
 */
extern void tbdr_shmem_add(const char *name, Size size, Size mutex_offset,
						   void **ptr, TbdrShmemInitFn init);

#endif							/* TBDR_BACKEND_SHMEM_H */
