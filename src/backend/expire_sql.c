/*-------------------------------------------------------------------------
 * expire_sql.c
 *	  Expiry in the server: tbdr_expire(dry_run) and the run after every
 *	  scheduled backup (see expire_sql.h; the rules are in core/expire.h,
 *	  the delete order in core/expire_run.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "backend/ereport.h"
#include "backend/expire_sql.h"
#include "backend/guc.h"
#include "backend/monitor.h"
#include "core/catalog.h"
#include "core/copyguard.h"

PG_FUNCTION_INFO_V1(tbdr_expire);

bool
tbdr_expire_run(bool dry_run, const char *purpose, TbdrExpireResult **result,
				TbdrError *err)
{
	TbdrConfig	cfg;
	TbdrCatalog *cat;
	TbdrExpireOptions opts;
	TbdrExpireResult *volatile res = NULL;
	volatile bool ok = false;
	char	   *summary;

	tbdr_error_clear(err);
	if (result)
		*result = NULL;
	tbdr_guc_copy(&cfg);		/* stable across a reload during the run */
	if (cfg.repository[0] == '\0')
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "tbdr.repository is not set");
		tbdr_error_hint(err, "Set tbdr.repository in postgresql.conf or tbdr.conf and reload.");
		return false;
	}
	if (!dry_run && !tbdr_copy_guard(&cfg, "expire backups or WAL", err))
		return false;

	memset(&opts, 0, sizeof(opts));
	opts.dry_run = dry_run;
	opts.retention_days = cfg.retention_days;
	opts.retention_policy = cfg.retention_policy;
	opts.purpose = purpose;

	tbdr_guc_warn_unauthenticated(&cfg);
	cat = tbdr_catalog_open(&cfg, err);
	if (cat != NULL)
	{
		TbdrExpireResult *r = NULL;

		/* close the connections also when an ERROR escapes */
		PG_TRY();
		{
			ok = tbdr_expire_execute(cat, &opts, &r, err);
		}
		PG_CATCH();
		{
			tbdr_catalog_close(cat);
			PG_RE_THROW();
		}
		PG_END_TRY();
		tbdr_catalog_close(cat);
		res = r;
	}

	if (res && res->backups)
		tbdr_monitor_backups(res->backups);
	summary = res ? tbdr_expire_summary(res) : pstrdup("nothing read");
	if (ok)
	{
		if (!dry_run)
			tbdr_monitor_expiry(true, summary, res->repo_bytes);
		ereport(LOG,
				(errmsg("tbdr: %s%s: %s", purpose, dry_run ? " (dry run)" : "",
						summary)));
	}
	else
	{
		char	   *line = tbdr_error_format(err);
		TbdrError	logged = *err;	/* err goes back to the caller as is */

		if (!dry_run)
			tbdr_monitor_expiry(false, line, res ? res->repo_bytes : -1);
		tbdr_error_prefix(&logged, "tbdr: %s failed: ", purpose);
		ereport(WARNING,
				(tbdr_errfrom(&logged),
				 res ? errdetail("Before the failure: %s.", summary) : 0));
	}
	if (result)
		*result = res;
	return ok;
}

void
tbdr_expire_after_backup(const char *id, bool ok)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "tbdr expiry",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TbdrError	err;

	/* never let a failed expiry stop the scheduler: it is logged */
	PG_TRY();
	{
		(void) tbdr_expire_run(false, "expiry after scheduled backup", NULL, &err);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * tbdr_expire(dry_run boolean default false): one row per thing deleted (or
 * that would be): kind, name, last, objects, bytes, done, reason.
 */
Datum
tbdr_expire(PG_FUNCTION_ARGS)
{
	bool		dry_run = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TbdrExpireResult *res;
	TbdrError	err;

	InitMaterializedSRF(fcinfo, 0);
	if (!tbdr_expire_run(dry_run, "tbdr_expire()",
						 &res, &err))
		tbdr_ereport(ERROR, &err);

	for (int i = 0; i < res->nitems; i++)
	{
		const TbdrExpireItem *it = &res->items[i];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = CStringGetTextDatum(tbdr_expire_item_kind_name(it->kind));
		values[1] = CStringGetTextDatum(it->name);
		if (it->last)
			values[2] = CStringGetTextDatum(it->last);
		else
			nulls[2] = true;
		values[3] = Int32GetDatum(it->objects);
		values[4] = Int64GetDatum(it->bytes);
		values[5] = BoolGetDatum(it->done);
		values[6] = CStringGetTextDatum(it->reason);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
