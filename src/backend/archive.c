/*-------------------------------------------------------------------------
 * archive.c
 *	  The archive module: archive_library = 'tbdr'.
 *
 * The archiver process calls archive_file for each WAL-directory file that
 * is ready; we store it with tbdr_wal_push and return true only when the
 * repository acknowledged the whole, verified object.  Failures are
 * reported as WARNINGs (with the core's message, detail and hint) and
 * return false, so PostgreSQL keeps the file and retries.
 *
 * An ERROR inside an archive callback would make the archiver exit and
 * restart (PostgreSQL 15 and 16), losing the open connections; we catch our
 * own ERRORs (out of memory, a failing palloc) like contrib/basic_archive.
 *
 * State kept across calls (one archiver per cluster, so static): the open
 * repository with its connections, the codec contexts, and whether the
 * repository identity was checked.  A reload that changes any tbdr.*
 * setting reopens it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "backend/compat.h"
#include "backend/guc.h"
#include "backend/status.h"
#include "core/digest.h"
#include "core/walarchive.h"

/*
 * If what the archiver's context holds grows past this, something leaks
 * per segment: drop everything and reopen, rather than grow for days.
 */
#define ARCHIVE_CONTEXT_LIMIT	((Size) 256 * 1024 * 1024)

static MemoryContext archive_context = NULL;
static TbdrWalArchive *archive_wa = NULL;
static unsigned char archive_config_hash[TBDR_SHA256_LEN];
static bool warned_not_preloaded = false;

/* Identity checked for the repository of these settings (config_hash). */
static bool identity_ok = false;
static unsigned char identity_config_hash[TBDR_SHA256_LEN];

static bool tbdr_archive_configured(void);
static bool tbdr_archive_file(const char *file, const char *path);
static void tbdr_archive_shutdown(void);

TBDR_DEFINE_ARCHIVE_MODULE(tbdr_archive_configured, tbdr_archive_file,
						   tbdr_archive_shutdown)

/*
 * A digest of every tbdr.* value, to notice a reload that changed any of
 * them.  Raw values (not tbdr_config_show, which masks secrets), hashed so
 * that no second copy of a secret is kept.
 */
static void
config_hash(unsigned char out[TBDR_SHA256_LEN])
{
	TbdrDigest *d = tbdr_digest_create(TBDR_DIGEST_SHA256);

	for (int i = 0; i < tbdr_num_settings; i++)
	{
		const TbdrSetting *s = &tbdr_settings[i];
		const char *field = (const char *) &tbdr_guc + s->offset;

		tbdr_digest_update(d, s->name, strlen(s->name) + 1);
		switch (s->type)
		{
			case TBDR_SETTING_STRING:
				{
					const char *v = *(char *const *) field;

					if (v == NULL)
						v = "";
					tbdr_digest_update(d, v, strlen(v) + 1);
					break;
				}
			case TBDR_SETTING_BOOL:
				tbdr_digest_update(d, field, sizeof(bool));
				break;
			case TBDR_SETTING_INT:
			case TBDR_SETTING_ENUM:
				tbdr_digest_update(d, field, sizeof(int));
				break;
		}
	}
	tbdr_digest_final(d, out);
}

static void
close_archive(void)
{
	if (archive_wa)
		tbdr_walarchive_close(archive_wa);
	archive_wa = NULL;
	if (archive_context)
		MemoryContextReset(archive_context);
}

static void
report_failure(const char *file, const TbdrError *err)
{
	char	   *line = tbdr_error_format(err);
	StringInfoData detail;

	tbdr_status_failed(file, line);

	initStringInfo(&detail);
	appendStringInfoString(&detail, err->detail);
	if (err->s3_code[0] || err->request_id[0])
		appendStringInfo(&detail, "%sS3 error code: %s, request id: %s.",
						 detail.len ? " " : "",
						 err->s3_code[0] ? err->s3_code : "-",
						 err->request_id[0] ? err->request_id : "-");
	ereport(WARNING,
			(errmsg("tbdr could not archive \"%s\": %s", file, err->message),
			 detail.len ? errdetail("%s", detail.data) : 0,
			 err->hint[0] ? errhint("%s", err->hint) : 0));
	pfree(detail.data);
	pfree(line);
}

static bool
tbdr_archive_configured(void)
{
	if (tbdr_guc.repository == NULL || tbdr_guc.repository[0] == '\0')
	{
		ereport(WARNING,
				(errmsg("tbdr.repository is not set: WAL is not archived and PostgreSQL keeps it in pg_wal"),
				 errhint("Set tbdr.repository to s3://bucket/prefix or file:///absolute/path and reload.")));
		return false;
	}
	return true;
}

/*
 * The work of archive_file, without the error catching.  Returns true when
 * the file is stored; reports failures itself.
 */
static bool
archive_file_internal(const char *file, const char *path)
{
	TbdrError	err;
	unsigned char hash[TBDR_SHA256_LEN];
	TbdrWalPushResult res;

	tbdr_error_clear(&err);

	if (!warned_not_preloaded && !tbdr_status_available())
	{
		warned_not_preloaded = true;
		ereport(WARNING,
				(errmsg("tbdr is archiving but is not in shared_preload_libraries"),
				 errdetail("tbdr_status() cannot show archiving progress."),
				 errhint("Add tbdr to shared_preload_libraries and restart the server.")));
	}

	/* A reload changed the settings: reopen with the new ones. */
	config_hash(hash);
	if (archive_wa && memcmp(hash, archive_config_hash, sizeof(hash)) != 0)
	{
		ereport(LOG,
				(errmsg("tbdr settings changed, reopening the repository")));
		close_archive();
	}

	if (archive_wa == NULL)
	{
		archive_wa = tbdr_walarchive_open(&tbdr_guc, &err);
		if (archive_wa == NULL)
		{
			report_failure(file, &err);
			return false;
		}
		memcpy(archive_config_hash, hash, sizeof(hash));
	}

	/*
	 * Once per archiver lifetime, and again when the settings change: is
	 * the repository ours?
	 */
	if (!identity_ok || memcmp(hash, identity_config_hash, sizeof(hash)) != 0)
	{
		if (!tbdr_walarchive_check_identity(archive_wa, GetSystemIdentifier(),
											PG_VERSION_NUM / 10000, &err))
		{
			report_failure(file, &err);
			return false;
		}
		identity_ok = true;
		memcpy(identity_config_hash, hash, sizeof(hash));
	}

	ereport(DEBUG2, (errmsg("tbdr archiving \"%s\"", file)));
	if (!tbdr_wal_push(archive_wa, path, file, &res, &err))
	{
		report_failure(file, &err);
		return false;
	}

	tbdr_status_archived(file, (int64) res.plain_bytes, (int64) res.stored_bytes);
	ereport(DEBUG1,
			(errmsg("tbdr archived \"%s\" (" UINT64_FORMAT " bytes, " UINT64_FORMAT " stored%s)",
					file, res.plain_bytes, res.stored_bytes,
					res.already_stored ? ", was already in the repository" : "")));
	return true;
}

static bool
tbdr_archive_file(const char *file, const char *path)
{
	sigjmp_buf	local_sigjmp_buf;
	MemoryContext oldcontext;
	volatile bool result = false;

	if (archive_context == NULL)
		archive_context = AllocSetContextCreate(TopMemoryContext,
												"tbdr archive",
												ALLOCSET_DEFAULT_SIZES);

	/*
	 * Everything, including the long-lived repository handle, lives in
	 * archive_context: the core frees what it allocates per segment, so it
	 * does not grow; after an ERROR we drop it all and start over.
	 */
	oldcontext = MemoryContextSwitchTo(archive_context);

	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		/* Since not using PG_TRY, must reset error stack by hand */
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		AtEOSubXact_Files(false, InvalidSubTransactionId, InvalidSubTransactionId);
		MemoryContextSwitchTo(oldcontext);

		/*
		 * The core's state may be half-updated: forget it (without calling
		 * into it again) and reopen on the next call.
		 */
		archive_wa = NULL;
		MemoryContextReset(archive_context);
		PG_exception_stack = NULL;
		RESUME_INTERRUPTS();
		tbdr_status_failed(file, "internal error, see the server log");
		return false;
	}
	PG_exception_stack = &local_sigjmp_buf;

	result = archive_file_internal(file, path);

	PG_exception_stack = NULL;
	MemoryContextSwitchTo(oldcontext);

	/*
	 * After a failure, drop the connections: a network or server problem
	 * may have left them in a bad state, and reconnecting is cheap compared
	 * to the retry interval.
	 */
	if (!result ||
		MemoryContextMemAllocated(archive_context, true) > ARCHIVE_CONTEXT_LIMIT)
		close_archive();

	return result;
}

static void
tbdr_archive_shutdown(void)
{
	close_archive();
}
