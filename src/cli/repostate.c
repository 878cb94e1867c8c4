/*-------------------------------------------------------------------------
 * repostate.c
 *	  Repository state for tbdr list/restore/verify, and the parallel part
 *	  pipeline (see repostate.h).
 *
 * Parallelism uses threads, each with its own storage connection (curl
 * multi handle) and decoder: the core objects are used by one thread at a
 * time, and memory comes from malloc-based palloc in the frontend.  Storages
 * are opened here, before the threads start, because libcurl's global
 * initialization is not thread-safe.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <pthread.h>
#include <unistd.h>

#include "cli/progress.h"
#include "cli/repostate.h"

static void
fail(TbdrError *err)
{
	cli_report_error(err);
	exit(CLI_EXIT_ERROR);
}

void
cli_repo_decoder_options(const CliRepoState *rs, TbdrCodecOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->key = rs->have_key ? rs->key : NULL;
	/* as for status objects (catalog.c) and WAL (walarchive.c) */
	opts->require_encryption = tbdr_config_require_encryption(&rs->cfg);
}

void
cli_repo_state_load(CliRepoState *rs, bool with_wal)
{
	TbdrError	err;
	TbdrCodecOptions opts;

	memset(rs, 0, sizeof(*rs));
	tbdr_error_clear(&err);
	cli_load_config(&rs->cfg, &rs->config_source);
	if (rs->cfg.encryption_key_file[0] != '\0')
	{
		if (!tbdr_key_load(rs->cfg.encryption_key_file, rs->key, &err))
		{
			tbdr_error_prefix(&err, "tbdr.encryption_key_file: ");
			fail(&err);
		}
		rs->have_key = true;
		tbdr_key_fingerprint_hex(rs->key, rs->key_fp);
	}
	rs->cat = tbdr_catalog_open(&rs->cfg, &err);
	if (rs->cat == NULL)
		fail(&err);
	rs->st = tbdr_catalog_storage(rs->cat);
	rs->list = tbdr_catalog_list(rs->cat, &err);
	if (rs->list == NULL)
		fail(&err);
	rs->complete = pg_malloc(sizeof(TbdrManifest *) * Max(rs->list->count, 1));
	for (int i = 0; i < rs->list->count; i++)
	{
		if (rs->list->items[i].state == TBDR_BACKUP_COMPLETE && rs->list->items[i].header)
			rs->complete[rs->ncomplete++] = rs->list->items[i].header;
	}
	cli_repo_decoder_options(rs, &opts);
	rs->dec = tbdr_codec_decoder_create(&opts, &err);
	if (rs->dec == NULL)
		fail(&err);
	if (with_wal)
	{
		uint64		seg_size = rs->ncomplete ?
			tbdr_wal_seg_size_of(rs->complete[rs->ncomplete - 1]) :
			TBDR_WAL_SEG_SIZE_DEFAULT;

		rs->inv = tbdr_wal_inventory_load(rs->st, rs->dec, seg_size, &err);
		if (rs->inv == NULL)
			fail(&err);
	}
}

TbdrWindow *
cli_repo_window(CliRepoState *rs, uint32 tli)
{
	TbdrError	err;
	TbdrWindow *w;

	tbdr_error_clear(&err);
	w = tbdr_window_compute(rs->inv, rs->complete, rs->ncomplete, tli, &err);
	if (w == NULL)
		fail(&err);
	return w;
}

bool
cli_repo_check_key(const CliRepoState *rs, const TbdrManifest *m, TbdrError *err)
{
	if (m->encryption == NULL || strcmp(m->encryption, "none") == 0)
		return true;
	if (!rs->have_key)
	{
		tbdr_error_set(err, TBDR_ERR_CRYPTO,
					   "backup %s is encrypted (with key %s), but no encryption key is configured",
					   m->id, m->key_fingerprint ? m->key_fingerprint : "?");
		tbdr_error_hint(err, "Set tbdr.encryption_key_file to the key file the backup was made with.");
		return false;
	}
	if (m->key_fingerprint && strcmp(m->key_fingerprint, rs->key_fp) != 0)
	{
		tbdr_error_set(err, TBDR_ERR_CRYPTO,
					   "backup %s was encrypted with key %s, tbdr.encryption_key_file has key %s",
					   m->id, m->key_fingerprint, rs->key_fp);
		tbdr_error_hint(err, "Use the key file the backup was made with (fingerprint: xxd -r -p KEYFILE | sha256sum | cut -c1-16).");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * The part pool
 * --------------------------------------------------------------------- */

typedef struct Pool
{
	TbdrRestore *r;
	const TbdrManifest *m;
	bool		stop_on_error;
	int		   *order;			/* part indexes, largest first */
	int			next;			/* next position in order (atomic) */
	int			running;		/* workers still running (atomic) */
	bool		stopped;
	pthread_mutex_t mu;
	int			nfailed;
	bool		have_first;
	TbdrError	first;
	void		(*report) (const TbdrError *err);
} Pool;

typedef struct Worker
{
	Pool	   *pool;
	TbdrStorage *st;
	TbdrCodecDecoder *dec;
	pthread_t	thread;
} Worker;

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	Pool	   *p = w->pool;
	TbdrError	err;

	for (;;)
	{
		int			n = __atomic_fetch_add(&p->next, 1, __ATOMIC_SEQ_CST);
		int			i;

		if (n >= p->m->nparts || __atomic_load_n(&p->stopped, __ATOMIC_SEQ_CST))
			break;
		i = p->order[n];
		if (!tbdr_restore_part_needed(p->r, i))
			continue;
		tbdr_error_clear(&err);
		if (tbdr_restore_part(p->r, i, w->st, w->dec, &err))
			continue;
		pthread_mutex_lock(&p->mu);
		if (!(p->stopped && strstr(err.message, "cancelled")))
		{
			p->nfailed++;
			if (!p->have_first)
			{
				p->first = err;
				p->have_first = true;
			}
			else if (p->report)
				p->report(&err);
		}
		if (p->stop_on_error)
		{
			p->stopped = true;
			tbdr_restore_cancel(p->r);
		}
		pthread_mutex_unlock(&p->mu);
		if (p->stop_on_error)
			break;
	}
	__atomic_fetch_sub(&p->running, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static const TbdrManifest *order_manifest;	/* for qsort */

static int
larger_part_first(const void *a, const void *b)
{
	int64		x = order_manifest->parts[*(const int *) a].plain_bytes;
	int64		y = order_manifest->parts[*(const int *) b].plain_bytes;

	if (x != y)
		return x > y ? -1 : 1;
	return *(const int *) a - *(const int *) b;
}

int
cli_run_parts(CliRepoState *rs, TbdrRestore *r, const TbdrManifest *m,
			  int nworkers, bool stop_on_error, const char *label,
			  bool show_progress, void (*report) (const TbdrError *err),
			  TbdrError *err)
{
	Pool		pool;
	Worker	   *workers;
	CliProgress *prog;
	int64		total = 0;
	int			needed = 0;
	TbdrCodecOptions opts;

	memset(&pool, 0, sizeof(pool));
	pool.r = r;
	pool.m = m;
	pool.stop_on_error = stop_on_error;
	pool.report = report;
	pthread_mutex_init(&pool.mu, NULL);

	/* largest first, so that no worker starts a big part near the end */
	pool.order = pg_malloc(sizeof(int) * Max(m->nparts, 1));
	for (int i = 0; i < m->nparts; i++)
		pool.order[i] = i;
	order_manifest = m;
	qsort(pool.order, m->nparts, sizeof(int), larger_part_first);
	order_manifest = NULL;
	for (int i = 0; i < m->nparts; i++)
	{
		if (tbdr_restore_part_needed(r, i))
		{
			total += m->parts[i].stored_bytes;
			needed++;
		}
	}
	nworkers = Max(1, Min(nworkers, needed));
	cli_repo_decoder_options(rs, &opts);
	workers = pg_malloc0(sizeof(Worker) * nworkers);
	for (int i = 0; i < nworkers; i++)
	{
		workers[i].pool = &pool;
		workers[i].st = tbdr_storage_open(&rs->cfg, err);
		if (workers[i].st == NULL)
			return m->nparts;
		workers[i].dec = tbdr_codec_decoder_create(&opts, err);
		if (workers[i].dec == NULL)
			return m->nparts;
	}
	prog = progress_start(label, total, show_progress);
	pool.running = nworkers;
	for (int i = 0; i < nworkers; i++)
	{
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			cli_fatal("could not start a thread: %m");
	}
	while (__atomic_load_n(&pool.running, __ATOMIC_SEQ_CST) > 0)
	{
		progress_update(prog, tbdr_restore_stats(r)->bytes_stored);
		usleep(100 * 1000);
	}
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i].thread, NULL);
	progress_update(prog, tbdr_restore_stats(r)->bytes_stored);
	progress_finish(prog, pool.nfailed == 0);
	for (int i = 0; i < nworkers; i++)
	{
		tbdr_codec_decoder_free(workers[i].dec);
		tbdr_storage_close(workers[i].st);
	}
	pg_free(workers);
	pg_free(pool.order);
	if (pool.have_first)
		*err = pool.first;
	pthread_mutex_destroy(&pool.mu);
	return pool.nfailed;
}
