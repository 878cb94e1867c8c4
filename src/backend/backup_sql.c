/*-------------------------------------------------------------------------
 * backup_sql.c
 *	  SQL functions of base backups: tbdr_backup_now(), tbdr_list_backups()
 *	  and tbdr_backup_progress().
 *
 * tbdr_list_backups() reads the repository (the truth), so it answers the
 * same on a restored server or another host.  The one thing it adds from
 * this server: a backup the repository shows as running that no backup
 * worker of this server is taking was interrupted (catalog.h), and is shown
 * as failed; the next backup records that in the repository.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "backend/backup.h"
#include "backend/ereport.h"
#include "backend/guc.h"
#include "core/catalog.h"

PG_FUNCTION_INFO_V1(tbdr_backup_now);
PG_FUNCTION_INFO_V1(tbdr_list_backups);
PG_FUNCTION_INFO_V1(tbdr_backup_progress);

#define INTERRUPTED_ERROR \
	"interrupted: no backup worker of this server is taking it (the server stopped or crashed during the backup)"

Datum
tbdr_backup_now(PG_FUNCTION_ARGS)
{
	char		id[TBDR_BACKUP_ID_LEN + 1];
	bool		wait = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("wait must not be null"),
				 errhint("Pass wait => true to wait for the backup to finish, or false (the default) to return at once.")));
	tbdr_backup_launch(id, wait, false);
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

static Datum
unix_to_timestamptz(int64 t, bool *isnull)
{
	*isnull = (t == 0);
	return t == 0 ? (Datum) 0 : TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) t));
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s == NULL ? (Datum) 0 : CStringGetTextDatum(s);
}

Datum
tbdr_list_backups(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TbdrError	err;
	TbdrCatalog *cat;
	TbdrBackupList *list;
	char		running_id[TBDR_BACKUP_ID_LEN + 1] = "";
	bool		know_running = tbdr_backup_available();

	InitMaterializedSRF(fcinfo, 0);
	if (tbdr_guc.repository == NULL || tbdr_guc.repository[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tbdr.repository is not set"),
				 errhint("Set tbdr.repository to s3://bucket/prefix or file:///absolute/path and reload.")));

	tbdr_error_clear(&err);
	tbdr_guc_warn_unauthenticated(&tbdr_guc);
	cat = tbdr_catalog_open(&tbdr_guc, &err);
	list = cat ? tbdr_catalog_list(cat, &err) : NULL;
	if (cat)
		tbdr_catalog_close(cat);
	if (list == NULL)
		tbdr_ereport(ERROR, &err);
	if (know_running)
		(void) tbdr_backup_is_running(running_id);

	for (int i = 0; i < list->count; i++)
	{
		const TbdrBackupInfo *b = &list->items[i];
		const TbdrManifest *h = b->header;
		Datum		values[13];
		bool		nulls[13];
		const char *status = tbdr_backup_state_name(b->state);
		const char *error = h ? h->error : NULL;

		memset(nulls, 0, sizeof(nulls));
		if (b->state == TBDR_BACKUP_RUNNING && know_running &&
			strcmp(running_id, b->id) != 0)
		{
			status = "failed";
			error = INTERRUPTED_ERROR;
		}
		values[0] = CStringGetTextDatum(b->id);
		values[1] = CStringGetTextDatum(status);
		values[2] = unix_to_timestamptz(h ? h->start_time : 0, &nulls[2]);
		values[3] = unix_to_timestamptz(h ? h->stop_time : 0, &nulls[3]);
		nulls[4] = !(h && h->start_lsn);
		values[4] = nulls[4] ? (Datum) 0 : LSNGetDatum((XLogRecPtr) h->start_lsn);
		nulls[5] = !(h && h->stop_lsn);
		values[5] = nulls[5] ? (Datum) 0 : LSNGetDatum((XLogRecPtr) h->stop_lsn);
		nulls[6] = !(h && h->timeline);
		values[6] = nulls[6] ? (Datum) 0 : Int32GetDatum((int32) h->timeline);
		nulls[7] = !(h && b->state == TBDR_BACKUP_COMPLETE);
		values[7] = nulls[7] ? (Datum) 0 : Int64GetDatum(h->database_bytes);
		/* what the backup occupies now, whatever its state */
		values[8] = Int64GetDatum(b->object_bytes);
		values[9] = text_or_null(h ? h->wal_start : NULL, &nulls[9]);
		values[10] = text_or_null(h ? h->wal_stop : NULL, &nulls[10]);
		values[11] = text_or_null(error, &nulls[11]);
		values[12] = Int32GetDatum(h ? h->ncorrupt : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	tbdr_backup_list_free(list);
	return (Datum) 0;
}

Datum
tbdr_backup_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TbdrBackupProgress p;

	InitMaterializedSRF(fcinfo, 0);
	if (!tbdr_backup_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tbdr is not loaded through shared_preload_libraries"),
				 errhint("Add tbdr to shared_preload_libraries and restart the server.")));
	if (tbdr_backup_get_progress(&p))
	{
		Datum		values[8];
		bool		nulls[8];

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(p.id);
		values[1] = CStringGetTextDatum(p.phase);
		nulls[2] = p.pid == 0;
		values[2] = Int32GetDatum(p.pid);
		values[3] = TimestampTzGetDatum((TimestampTz) p.started_at);
		values[4] = Int64GetDatum(p.bytes_done);
		values[5] = Int64GetDatum(p.bytes_total);
		values[6] = Int32GetDatum(p.parts_done);
		values[7] = Int32GetDatum(p.parts_total);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
