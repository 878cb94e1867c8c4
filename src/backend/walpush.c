/*-------------------------------------------------------------------------
 * walpush.c
 *	  A long-lived WAL pusher of a server process (see walpush.h).
 *
 * Everything the core allocates for the open repository lives in the
 * pusher's context: the core frees what it allocates per segment, so the
 * context does not grow; when it does anyway (a leak) or after a failure
 * the caller closes the pusher and it reopens on the next push.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "utils/memutils.h"

#include "backend/guc.h"
#include "backend/walpush.h"
#include "core/copyguard.h"
#include "core/digest.h"

struct TbdrWalPusher
{
	MemoryContext context;
	TbdrWalArchive *wa;
	unsigned char config_hash[TBDR_SHA256_LEN];	/* of the open wa */
	bool		identity_ok;	/* checked for the open wa */
};

TbdrWalPusher *
tbdr_walpusher_create(MemoryContext context)
{
	TbdrWalPusher *p = MemoryContextAllocZero(TopMemoryContext,
											  sizeof(TbdrWalPusher));

	p->context = context;
	return p;
}

void
tbdr_walpusher_forget(TbdrWalPusher *p)
{
	p->wa = NULL;
	p->identity_ok = false;
}

void
tbdr_walpusher_close(TbdrWalPusher *p)
{
	if (p->wa)
		tbdr_walarchive_close(p->wa);
	tbdr_walpusher_forget(p);
	MemoryContextReset(p->context);
}

TbdrWalArchive *
tbdr_walpusher_archive(TbdrWalPusher *p, TbdrError *err)
{
	unsigned char hash[TBDR_SHA256_LEN];
	MemoryContext old;

	/* A reload changed the settings: reopen with the new ones. */
	tbdr_guc_settings_hash(hash);
	if (p->wa && memcmp(hash, p->config_hash, sizeof(hash)) != 0)
	{
		ereport(LOG,
				(errmsg("tbdr settings changed, reopening the repository")));
		tbdr_walpusher_close(p);
	}

	old = MemoryContextSwitchTo(p->context);

	/*
	 * A restored copy must not archive into the repository it came from;
	 * the settings only change on reload, which reopens, so checking at
	 * opening is enough.
	 */
	if (p->wa == NULL && !tbdr_copy_guard(&tbdr_guc, "archive WAL", err))
	{
		MemoryContextSwitchTo(old);
		return NULL;
	}
	if (p->wa == NULL)
	{
		tbdr_guc_warn_unauthenticated(&tbdr_guc);
		p->wa = tbdr_walarchive_open(&tbdr_guc, err);
		if (p->wa != NULL)
			memcpy(p->config_hash, hash, sizeof(hash));
	}

	/* Once per opening: is the repository ours? */
	if (p->wa != NULL && !p->identity_ok)
	{
		if (tbdr_walarchive_check_identity(p->wa, GetSystemIdentifier(),
										   PG_VERSION_NUM / 10000, err))
			p->identity_ok = true;
	}
	MemoryContextSwitchTo(old);

	return (p->wa != NULL && p->identity_ok) ? p->wa : NULL;
}

bool
tbdr_walpusher_push(TbdrWalPusher *p, const char *file, const char *path,
					TbdrWalPushResult *res, TbdrError *err)
{
	TbdrWalArchive *wa = tbdr_walpusher_archive(p, err);
	MemoryContext old;
	bool		ok;

	if (wa == NULL)
		return false;
	old = MemoryContextSwitchTo(p->context);
	ok = tbdr_wal_push(wa, path, file, res, err);
	MemoryContextSwitchTo(old);
	return ok;
}
