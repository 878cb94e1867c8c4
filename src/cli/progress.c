/*-------------------------------------------------------------------------
 * progress.c
 *	  A one-line progress display on stderr (see progress.h).
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <time.h>
#include <unistd.h>

#include "cli/progress.h"

/* Redraw at most every 250 ms: enough to look alive, cheap on slow ttys. */
#define PROGRESS_INTERVAL_NS	(250 * 1000 * 1000LL)

struct CliProgress
{
	char	   *label;
	int64		total;
	int64		done;
	bool		enabled;
	bool		drawn;			/* a line is on screen */
	int64		start_ns;
	int64		last_draw_ns;
};

static int64
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
progress_format_bytes(int64 bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double		v = (double) bytes;
	int			u = 0;

	while (v >= 1000.0 && u < 4)
	{
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, INT64_FORMAT " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

CliProgress *
progress_start(const char *label, int64 total, bool enabled)
{
	CliProgress *p = pg_malloc0(sizeof(CliProgress));

	p->label = pg_strdup(label);
	p->total = total;
	p->enabled = enabled && isatty(STDERR_FILENO);
	p->start_ns = now_ns();
	return p;
}

static void
draw(CliProgress *p, int64 now, bool final)
{
	char		done[32];
	char		total[32];
	double		secs = (now - p->start_ns) / 1e9;
	double		rate = secs > 0 ? p->done / 1e6 / secs : 0;

	progress_format_bytes(p->done, done, sizeof(done));
	if (final)
		fprintf(stderr, "\r%s: %s in %.1f s, %.1f MB/s\033[K\n",
				p->label, done, secs, rate);
	else if (p->total > 0)
	{
		char		eta[32] = "";

		/* time left at the average rate so far */
		if (p->done > 0 && p->done < p->total && secs >= 1)
		{
			int64		left = (int64) ((p->total - p->done) * secs / p->done);

			snprintf(eta, sizeof(eta), ", ETA " INT64_FORMAT "m%02ds",
					 left / 60, (int) (left % 60));
		}
		progress_format_bytes(p->total, total, sizeof(total));
		fprintf(stderr, "\r%s: %s / %s (%d%%), %.1f MB/s%s\033[K",
				p->label, done, total,
				(int) (p->done * 100 / p->total), rate, eta);
	}
	else
		fprintf(stderr, "\r%s: %s, %.1f MB/s\033[K", p->label, done, rate);
	fflush(stderr);
	p->drawn = !final;
	p->last_draw_ns = now;
}

void
progress_update(CliProgress *p, int64 done)
{
	int64		now;

	if (p == NULL)
		return;
	p->done = done;
	if (!p->enabled)
		return;
	now = now_ns();
	if (p->drawn && now - p->last_draw_ns < PROGRESS_INTERVAL_NS)
		return;
	/* nothing on screen for transfers that end within the first interval */
	if (!p->drawn && now - p->start_ns < PROGRESS_INTERVAL_NS)
		return;
	draw(p, now, false);
}

void
progress_finish(CliProgress *p, bool success)
{
	if (p == NULL)
		return;
	if (p->enabled)
	{
		if (success)
			draw(p, now_ns(), true);
		else if (p->drawn)
		{
			fputs("\r\033[K", stderr);
			fflush(stderr);
		}
	}
	pg_free(p->label);
	pg_free(p);
}
