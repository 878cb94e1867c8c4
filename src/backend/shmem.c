/*-------------------------------------------------------------------------
 * shmem.c
 *	  The shared memory areas of tbdr's backend modules (see shmem.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "backend/shmem.h"

#define MAX_AREAS	8

typedef struct ShmemArea
{
	const char *name;
	Size		size;
	Size		mutex_offset;
	void	  **ptr;
	TbdrShmemInitFn init;
} ShmemArea;

static ShmemArea areas[MAX_AREAS];
static int	nareas = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
tbdr_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	for (int i = 0; i < nareas; i++)
		RequestAddinShmemSpace(MAXALIGN(areas[i].size));
}

static void
tbdr_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < nareas; i++)
	{
		ShmemArea  *a = &areas[i];
		bool		found;

		*a->ptr = ShmemInitStruct(a->name, a->size, &found);
		if (!found)
		{
			memset(*a->ptr, 0, a->size);
			SpinLockInit((slock_t *) ((char *) *a->ptr + a->mutex_offset));
			if (a->init)
				a->init(*a->ptr);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
tbdr_shmem_add(const char *name, Size size, Size mutex_offset, void **ptr,
			   TbdrShmemInitFn init)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	if (nareas == MAX_AREAS)
		elog(ERROR, "tbdr: too many shared memory areas");
	if (nareas == 0)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = tbdr_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = tbdr_shmem_startup;
	}
	areas[nareas].name = name;
	areas[nareas].size = size;
	areas[nareas].mutex_offset = mutex_offset;
	areas[nareas].ptr = ptr;
	areas[nareas].init = init;
	nareas++;
}
