/*-------------------------------------------------------------------------
 * storage_driver.h
 *	  What a storage driver implements (internal to storage*.c).
 *
 * storage.c holds the generic parts (buffer/file helpers built on put/get,
 * dispatch); storage_s3.c and storage_file.c each fill one of these.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_STORAGE_DRIVER_H
#define TBDR_STORAGE_DRIVER_H

#include "core/storage.h"

typedef struct TbdrStorageDriver
{
	const char *name;			/* "s3", "file" */
	/* if_absent: see tbdr_storage_put_new; *existed set only then */
	bool		(*put) (TbdrStorage *st, const char *key, TbdrReadFn read,
						void *arg, int64 size_hint, bool if_absent,
						bool *existed, TbdrError *err);
	bool		(*get) (TbdrStorage *st, const char *key, int64 offset,
						int64 length, TbdrWriteFn write, void *arg,
						TbdrError *err);
	int			(*head) (TbdrStorage *st, const char *key,
						 TbdrObjectInfo *info, TbdrError *err);
	bool		(*delete) (TbdrStorage *st, const char *key, TbdrError *err);
	bool		(*delete_many) (TbdrStorage *st, const char *const *keys,
								int nkeys, TbdrError *err);
	bool		(*list) (TbdrStorage *st, const char *prefix, TbdrListFn fn,
						 void *arg, TbdrError *err);
	bool		(*cleanup_uploads) (TbdrStorage *st, const char *prefix,
									int *count, TbdrError *err);
	/* frees priv; tbdr_storage_close frees the rest */
	void		(*close) (TbdrStorage *st);
} TbdrStorageDriver;

struct TbdrStorage
{
	const TbdrStorageDriver *driver;
	char	   *description;
	time_t		server_date;	/* Date header of the last answer (S3),
								 * 0 if unknown: for clock-skew checks */
	void	   *priv;			/* the driver's own state */
};

extern TbdrStorage *tbdr_storage_s3_open(const TbdrConfig *cfg,
										 const TbdrRepoLocation *loc,
										 TbdrError *err);
extern TbdrStorage *tbdr_storage_file_open(const TbdrConfig *cfg,
										   const TbdrRepoLocation *loc,
										   TbdrError *err);

#endif							/* TBDR_STORAGE_DRIVER_H */
