/*-------------------------------------------------------------------------
 * copyguard.c
 *	  A restored copy never writes into the repository it came from
 *	  (see copyguard.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include "core/copyguard.h"

/* The same place: type, then bucket and prefix, or directory. */
static bool
same_location(const TbdrRepoLocation *a, const TbdrRepoLocation *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == TBDR_REPO_S3)
		return strcmp(a->bucket, b->bucket) == 0 && strcmp(a->prefix, b->prefix) == 0;
	if (a->type == TBDR_REPO_FILE)
		return strcmp(a->path, b->path) == 0;
	return false;
}

static void
free_location(TbdrRepoLocation *loc)
{
	if (loc->bucket)
		pfree(loc->bucket);
	if (loc->prefix)
		pfree(loc->prefix);
	if (loc->path)
		pfree(loc->path);
}

bool
tbdr_is_copy_of_repository(const TbdrConfig *cfg)
{
	TbdrRepoLocation copy_of;
	TbdrRepoLocation repo;
	bool		same;

	if (cfg->copy_of == NULL || cfg->copy_of[0] == '\0' ||
		cfg->repository == NULL || cfg->repository[0] == '\0')
		return false;

	/*
	 * Both were validated when set; should either not parse, compare the
	 * text, so that a copy is never let through by a parsing surprise.
	 */
	if (!tbdr_repo_parse(cfg->copy_of, &copy_of, NULL) ||
		!tbdr_repo_parse(cfg->repository, &repo, NULL))
		return strcmp(cfg->copy_of, cfg->repository) == 0;
	same = same_location(&copy_of, &repo);
	free_location(&copy_of);
	free_location(&repo);
	return same;
}

bool
tbdr_copy_guard(const TbdrConfig *cfg, const char *what, TbdrError *err)
{
	if (!tbdr_is_copy_of_repository(cfg))
		return true;
	tbdr_error_set(err, TBDR_ERR_CONFIG,
				   "this server is a restored copy of %s (tbdr.copy_of) and does not %s into it",
				   cfg->copy_of, what);
	tbdr_error_detail(err,
					  "tbdr restore --as copy declared it a copy: its WAL and backups would be a second history of the same system in production's repository, and a later restore would follow it.");
	tbdr_error_hint(err,
					"If this server is the new primary, declare it: ALTER SYSTEM RESET tbdr.copy_of; ALTER SYSTEM RESET archive_mode; then restart it.  A copy that should keep backups of its own needs a repository of its own (tbdr.repository).");
	return false;
}
