/*-------------------------------------------------------------------------
 * repostate.h
 *	  What tbdr list, restore and verify read from the repository: the
 *	  backups (catalog.h), the WAL inventory and restorable window
 *	  (window.h), and a pool of threads that runs the restore pipeline
 *	  (restore.h) over a backup's parts, one connection and decoder each.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_CLI_REPOSTATE_H
#define TBDR_CLI_REPOSTATE_H

#include "cli/cli.h"
#include "core/catalog.h"
#include "core/keyfile.h"
#include "core/restore.h"
#include "core/window.h"

typedef struct CliRepoState
{
	TbdrConfig	cfg;
	const char *config_source;	/* for messages */
	TbdrCatalog *cat;
	TbdrStorage *st;			/* the catalog's */
	TbdrBackupList *list;
	int			ncomplete;
	TbdrManifest **complete;	/* headers of COMPLETE backups, oldest first */
	bool		have_key;
	unsigned char key[TBDR_KEY_LEN];
	char		key_fp[TBDR_KEY_FINGERPRINT_HEX_LEN];
	TbdrCodecDecoder *dec;
	TbdrWalInventory *inv;		/* NULL until loaded */
} CliRepoState;

/* Configuration, catalog, backup list and (with_wal) WAL; exits on error. */
extern void cli_repo_state_load(CliRepoState *rs, bool with_wal);

/* The window on timeline tli; exits on error. */
extern TbdrWindow *cli_repo_window(CliRepoState *rs, uint32 tli);

/* Codec options for decoding this repository's objects. */
extern void cli_repo_decoder_options(const CliRepoState *rs, TbdrCodecOptions *opts);

/*
 * Error out early (with err) if a backup's encryption does not match the
 * configured key: clearer than the first part's authentication failure.
 */
extern bool cli_repo_check_key(const CliRepoState *rs, const TbdrManifest *m,
							   TbdrError *err);

/*
 * Run tbdr_restore_part over every needed part of m with nworkers threads.
 * stop_on_error: cancel the others at the first failure (restore); else go
 * on and collect every failure (verify).  Returns the number of failed
 * parts; their errors are reported through report (may be NULL) and the
 * first one is copied to err.  A progress line shows stored bytes.
 */
extern int	cli_run_parts(CliRepoState *rs, TbdrRestore *r, const TbdrManifest *m,
						  int nworkers, bool stop_on_error, const char *label,
						  bool progress, void (*report) (const TbdrError *err),
						  TbdrError *err);

#endif							/* TBDR_CLI_REPOSTATE_H */
