/*-------------------------------------------------------------------------
 * window.c
 *	  The restorable window and the choice of a backup for a recovery
 *	  target (see window.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <ctype.h>

#include "core/repo.h"
#include "core/window.h"

/* A summary is a few lines plus its xid ranges. */
#define SUMMARY_MAX_BYTES	(16 * 1024 * 1024)
#define USECS_PER_SEC		INT64CONST(1000000)

/* ---------------------------------------------------------------------
 * Segment names
 * --------------------------------------------------------------------- */

static uint64
segs_per_xlogid(uint64 seg_size)
{
	return UINT64CONST(0x100000000) / seg_size;
}

void
tbdr_wal_segment_name(uint32 tli, uint64 segno, uint64 seg_size, char *out)
{
	snprintf(out, 25, "%08X%08X%08X", tli,
			 (uint32) (segno / segs_per_xlogid(seg_size)),
			 (uint32) (segno % segs_per_xlogid(seg_size)));
}

bool
tbdr_wal_segment_parse(const char *name, uint64 seg_size, uint32 *tli,
					   uint64 *segno)
{
	unsigned int t,
				log,
				seg;

	if (tbdr_wal_file_kind(name) != TBDR_WAL_SEGMENT)
		return false;
	if (sscanf(name, "%08X%08X%08X", &t, &log, &seg) != 3)
		return false;
	*tli = t;
	*segno = (uint64) log * segs_per_xlogid(seg_size) + seg;
	return true;
}

/* Does size map the manifest's LSNs to its segment names? */
static bool
seg_size_fits(const TbdrManifest *m, uint64 size)
{
	char		name[25];

	tbdr_wal_segment_name(m->timeline, m->start_lsn / size, size, name);
	if (strcmp(name, m->wal_start) != 0)
		return false;
	if (m->stop_lsn == 0 || m->wal_stop == NULL)
		return true;
	tbdr_wal_segment_name(m->timeline, m->stop_lsn / size, size, name);
	if (strcmp(name, m->wal_stop) == 0)
		return true;
	/* a stop exactly at a segment boundary may be named by either side */
	tbdr_wal_segment_name(m->timeline, (m->stop_lsn - 1) / size, size, name);
	return strcmp(name, m->wal_stop) == 0;
}

uint64
tbdr_wal_seg_size_of(const TbdrManifest *m)
{
	if (m->start_lsn == 0 || m->wal_start == NULL ||
		seg_size_fits(m, TBDR_WAL_SEG_SIZE_DEFAULT))
		return TBDR_WAL_SEG_SIZE_DEFAULT;
	/* PostgreSQL allows powers of two from 1 MB to 1 GB */
	for (uint64 size = 1024 * 1024; size <= 1024 * 1024 * 1024; size *= 2)
	{
		if (seg_size_fits(m, size))
			return size;
	}
	return TBDR_WAL_SEG_SIZE_DEFAULT;
}

/* ---------------------------------------------------------------------
 * Timestamps
 * --------------------------------------------------------------------- */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64
days_from_civil(int64 y, int m, int d)
{
	int64		era;
	int64		yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
take_digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) (*p)[i]))
			return false;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

bool
tbdr_parse_timestamp(const char *s, int64 *us, TbdrError *err)
{
	const char *p = s;
	int			y,
				mo,
				d,
				h,
				mi,
				sec;
	int64		frac = 0;
	int64		offset = 0;		/* seconds east of UTC */
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	while (*p == ' ')
		p++;
	if (!take_digits(&p, 4, &y) || *p++ != '-' || !take_digits(&p, 2, &mo) ||
		*p++ != '-' || !take_digits(&p, 2, &d) || (*p != ' ' && *p != 'T') ||
		(p++, !take_digits(&p, 2, &h)) || *p++ != ':' ||
		!take_digits(&p, 2, &mi) || *p++ != ':' || !take_digits(&p, 2, &sec))
		goto bad;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 59)
		goto bad;
	if (*p == '.')
	{
		int			digits = 0;

		p++;
		if (!isdigit((unsigned char) *p))
			goto bad;
		while (isdigit((unsigned char) *p))
		{
			if (digits < 6)
			{
				frac = frac * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		while (digits++ < 6)
			frac *= 10;
	}
	while (*p == ' ')
		p++;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (pg_strncasecmp(p, "UTC", 3) == 0 || pg_strncasecmp(p, "GMT", 3) == 0)
		p += 3;
	else if (*p == '+' || *p == '-')
	{
		int			sign = *p == '-' ? -1 : 1;
		int			oh,
					om = 0,
					os = 0;

		p++;
		if (!take_digits(&p, 2, &oh))
			goto bad;
		if (*p == ':')
		{
			p++;
			if (!take_digits(&p, 2, &om))
				goto bad;
			if (*p == ':')
			{
				p++;
				if (!take_digits(&p, 2, &os))
					goto bad;
			}
		}
		else if (isdigit((unsigned char) *p) && !take_digits(&p, 2, &om))
			goto bad;
		if (oh > 15 || om > 59 || os > 59)
			goto bad;
		offset = sign * (oh * 3600 + om * 60 + os);
	}
	else if (*p == '\0')
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "time \"%s\" has no time zone", s);
		tbdr_error_hint(err, "Give the zone, e.g. \"2026-11-30 14:05:00+00\" or \"2026-11-30 15:05:00+01\", as PostgreSQL prints timestamptz values.");
		return false;
	}
	else
		goto bad;
	while (*p == ' ')
		p++;
	if (*p != '\0')
		goto bad;

	*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - offset) *
		USECS_PER_SEC + frac;
	return true;

bad:
	tbdr_error_set(err, TBDR_ERR_CONFIG, "invalid time \"%s\"", s);
	tbdr_error_hint(err, "Use the format YYYY-MM-DD HH:MM:SS[.ffffff]+ZZ, e.g. \"2026-11-30 14:05:00.25+00\".");
	return false;
}

void
tbdr_format_timestamp(int64 us, char *out, size_t outlen)
{
	int64		secs = us >= 0 ? us / USECS_PER_SEC : -((-us + USECS_PER_SEC - 1) / USECS_PER_SEC);
	int64		frac = us - secs * USECS_PER_SEC;
	time_t		tt = (time_t) secs;
	struct tm	tm;

	char		fraction[8] = "";

	if (frac != 0)
	{
		int			n;

		/* the precision the value has, as PostgreSQL prints it */
		snprintf(fraction, sizeof(fraction), ".%06d", (int) frac);
		for (n = strlen(fraction); fraction[n - 1] == '0'; n--)
			fraction[n - 1] = '\0';
	}
	/* %04d, not strftime's %Y: year 999 is "0999", as the parser wants */
	gmtime_r(&tt, &tm);
	snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d%s+00",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, fraction);
}

/* ---------------------------------------------------------------------
 * Timeline history
 * --------------------------------------------------------------------- */

bool
tbdr_timeline_history_parse(const char *text, uint32 tli,
							TbdrTimelineHistory *h, TbdrError *err)
{
	const char *p = text;
	uint64		prev_end = 0;
	int			max = 8;
	int			lineno = 0;

	h->tli = tli;
	h->n = 0;
	h->entries = palloc(sizeof(TbdrTimelineEntry) * max);

	while (*p)
	{
		const char *eol = strchr(p, '\n');
		size_t		len = eol ? (size_t) (eol - p) : strlen(p);
		char	   *line = pnstrdup(p, len);
		char	   *q = line;
		unsigned int parent;
		unsigned int hi,
					lo;
		int			n;

		lineno++;
		p += len + (eol ? 1 : 0);
		while (isspace((unsigned char) *q))
			q++;
		if (*q == '\0' || *q == '#')
		{
			pfree(line);
			continue;
		}
		if (sscanf(q, "%u%n", &parent, &n) != 1 ||
			sscanf(q + n, " %X/%X", &hi, &lo) != 2)
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "timeline history file of timeline %u: invalid line %d: \"%s\"",
						   tli, lineno, line);
			pfree(line);
			return false;
		}
		pfree(line);
		if (parent >= tli || (h->n > 0 && parent <= h->entries[h->n - 1].tli))
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "timeline history file of timeline %u: timeline IDs must be increasing and below %u (line %d)",
						   tli, tli, lineno);
			return false;
		}
		if (h->n + 2 > max)
		{
			max *= 2;
			h->entries = repalloc(h->entries, sizeof(TbdrTimelineEntry) * max);
		}
		h->entries[h->n].tli = parent;
		h->entries[h->n].begin = prev_end;
		h->entries[h->n].end = ((uint64) hi << 32) | lo;
		prev_end = h->entries[h->n].end;
		h->n++;
	}
	if (h->n + 1 > max)
		h->entries = repalloc(h->entries, sizeof(TbdrTimelineEntry) * (max + 1));
	h->entries[h->n].tli = tli;
	h->entries[h->n].begin = prev_end;
	h->entries[h->n].end = PG_UINT64_MAX;
	h->n++;
	return true;
}

/* ---------------------------------------------------------------------
 * Inventory
 * --------------------------------------------------------------------- */

void
tbdr_wal_inventory_add_segment(TbdrWalInventory *inv, uint32 tli,
							   uint64 segno, int64 mtime)
{
	if ((inv->nsegs & (inv->nsegs - 1)) == 0)
		inv->segs = inv->segs ?
			repalloc(inv->segs, sizeof(TbdrWalSeg) * Max(inv->nsegs * 2, 16)) :
			palloc(sizeof(TbdrWalSeg) * 16);
	inv->segs[inv->nsegs].tli = tli;
	inv->segs[inv->nsegs].segno = segno;
	inv->segs[inv->nsegs].mtime = mtime;
	inv->segs[inv->nsegs].has_summary = false;
	inv->segs[inv->nsegs].summary_loaded = false;
	inv->segs[inv->nsegs].summary = NULL;
	inv->nsegs++;
}

bool
tbdr_wal_inventory_add_history(TbdrWalInventory *inv, uint32 tli,
							   const char *text, TbdrError *err)
{
	TbdrTimelineHistory h;

	if (!tbdr_timeline_history_parse(text, tli, &h, err))
		return false;
	inv->histories = inv->histories ?
		repalloc(inv->histories, sizeof(TbdrTimelineHistory) * (inv->nhistories + 1)) :
		palloc(sizeof(TbdrTimelineHistory));
	inv->histories[inv->nhistories++] = h;
	return true;
}

static int
seg_cmp(const void *a, const void *b)
{
	const TbdrWalSeg *x = a;
	const TbdrWalSeg *y = b;

	if (x->tli != y->tli)
		return x->tli < y->tli ? -1 : 1;
	if (x->segno != y->segno)
		return x->segno < y->segno ? -1 : 1;
	return 0;
}

void
tbdr_wal_inventory_finish(TbdrWalInventory *inv)
{
	if (inv->nsegs > 1)
		qsort(inv->segs, inv->nsegs, sizeof(TbdrWalSeg), seg_cmp);
}

TbdrWalSeg *
tbdr_wal_inventory_find(const TbdrWalInventory *inv, uint32 tli, uint64 segno)
{
	TbdrWalSeg	key;

	if (inv->nsegs == 0)
		return NULL;
	key.tli = tli;
	key.segno = segno;
	return bsearch(&key, inv->segs, inv->nsegs, sizeof(TbdrWalSeg), seg_cmp);
}


bool
tbdr_wal_inventory_set_summary(TbdrWalInventory *inv, uint32 tli,
							   uint64 segno, TbdrWalSummary *sum)
{
	TbdrWalSeg *seg = tbdr_wal_inventory_find(inv, tli, segno);

	if (seg == NULL)
		return false;
	seg->has_summary = true;
	seg->summary_loaded = true;
	seg->summary = sum;
	return true;
}

bool
tbdr_wal_segment_summary(const TbdrWalInventory *inv, TbdrWalSeg *seg,
						 const TbdrWalSummary **sum, TbdrError *err)
{
	char		name[25];
	char	   *key;
	char	   *data;
	size_t		len;
	StringInfoData plain;
	bool		ok;

	*sum = NULL;
	if (seg->summary_loaded)
	{
		*sum = seg->summary;
		return true;
	}
	if (!seg->has_summary || inv->st == NULL)
		return true;
	tbdr_wal_segment_name(seg->tli, seg->segno, inv->seg_size, name);
	key = tbdr_repo_walsum_key(name, err);
	if (!tbdr_storage_get_buffer(inv->st, key, TBDR_CODEC_MAX_STORED(SUMMARY_MAX_BYTES),
								 &data, &len, err))
	{
		tbdr_error_prefix(err, "could not read \"%s\": ", key);
		pfree(key);
		return false;
	}
	initStringInfo(&plain);
	ok = tbdr_codec_decode_buffer_max(inv->dec, key, data, len, SUMMARY_MAX_BYTES,
									  "a WAL summary", &plain, err);
	pfree(data);
	if (ok)
		seg->summary = tbdr_wal_summary_parse(plain.data, plain.len, err);
	pfree(plain.data);
	if (!ok || seg->summary == NULL)
	{
		tbdr_error_prefix(err, "could not read \"%s\": ", key);
		pfree(key);
		return false;
	}
	if (seg->summary->seg_start != seg->segno * inv->seg_size)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "\"%s\" is the summary of another segment", key);
		pfree(key);
		return false;
	}
	pfree(key);
	seg->summary_loaded = true;
	*sum = seg->summary;
	return true;
}

typedef struct ListState
{
	TbdrWalInventory *inv;
	char	  **history_keys;
	int			nhistory_keys;
} ListState;

static bool
list_wal(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	ListState  *ls = arg;
	char	   *name = tbdr_repo_wal_name(info->key);
	uint32		tli;
	uint64		segno;

	if (name == NULL)
		return true;			/* not ours: ignored, as archive-get would */
	if (tbdr_wal_segment_parse(name, ls->inv->seg_size, &tli, &segno))
		tbdr_wal_inventory_add_segment(ls->inv, tli, segno, (int64) info->mtime);
	else if (tbdr_wal_file_kind(name) == TBDR_WAL_TIMELINE_HISTORY)
	{
		ls->history_keys = ls->history_keys ?
			repalloc(ls->history_keys, sizeof(char *) * (ls->nhistory_keys + 1)) :
			palloc(sizeof(char *));
		ls->history_keys[ls->nhistory_keys++] = pstrdup(info->key);
	}
	pfree(name);
	return true;
}

/* Mark the segments that have a summary (after finish). */
static bool
list_walsum(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	TbdrWalInventory *inv = arg;
	char	   *name = tbdr_repo_walsum_name(info->key);
	uint32		tli;
	uint64		segno;

	if (name == NULL)
		return true;
	if (tbdr_wal_segment_parse(name, inv->seg_size, &tli, &segno))
	{
		TbdrWalSeg *seg = tbdr_wal_inventory_find(inv, tli, segno);

		if (seg)
			seg->has_summary = true;
	}
	pfree(name);
	return true;
}

TbdrWalInventory *
tbdr_wal_inventory_load(TbdrStorage *st, TbdrCodecDecoder *dec,
						uint64 seg_size, TbdrError *err)
{
	TbdrWalInventory *inv = palloc0(sizeof(TbdrWalInventory));
	ListState	ls;

	inv->seg_size = seg_size;
	ls.inv = inv;
	ls.history_keys = NULL;
	ls.nhistory_keys = 0;
	if (!tbdr_storage_list(st, TBDR_REPO_WAL_PREFIX, list_wal, &ls, err))
	{
		tbdr_error_prefix(err, "could not list the WAL of the repository: ");
		tbdr_wal_inventory_free(inv);
		return NULL;
	}
	tbdr_wal_inventory_finish(inv);
	if (!tbdr_storage_list(st, TBDR_REPO_WALSUM_PREFIX, list_walsum, inv, err))
	{
		tbdr_error_prefix(err, "could not list the WAL summaries of the repository: ");
		tbdr_wal_inventory_free(inv);
		return NULL;
	}
	inv->st = st;
	inv->dec = dec;

	for (int i = 0; i < ls.nhistory_keys; i++)
	{
		const char *key = ls.history_keys[i];
		char	   *data;
		size_t		len;
		StringInfoData plain;
		unsigned int tli;
		bool		ok;

		if (!tbdr_storage_get_buffer(st, key,
									 TBDR_CODEC_MAX_STORED(TBDR_WAL_HISTORY_MAX_BYTES),
									 &data, &len, err))
		{
			tbdr_wal_inventory_free(inv);
			return NULL;
		}
		initStringInfo(&plain);
		ok = tbdr_codec_decode_buffer_max(dec, key, data, len,
										  TBDR_WAL_HISTORY_MAX_BYTES,
										  "a timeline history file", &plain, err);
		pfree(data);
		if (!ok)
		{
			tbdr_error_prefix(err, "could not read \"%s\": ", key);
			pfree(plain.data);
			tbdr_wal_inventory_free(inv);
			return NULL;
		}
		sscanf(key + strlen(TBDR_REPO_WAL_PREFIX), "%08X", &tli);
		ok = tbdr_wal_inventory_add_history(inv, tli, plain.data, err);
		pfree(plain.data);
		if (!ok)
		{
			tbdr_error_prefix(err, "\"%s\": ", key);
			tbdr_wal_inventory_free(inv);
			return NULL;
		}
	}
	for (int i = 0; i < ls.nhistory_keys; i++)
		pfree(ls.history_keys[i]);
	if (ls.history_keys)
		pfree(ls.history_keys);
	return inv;
}

uint32
tbdr_wal_latest_timeline(const TbdrWalInventory *inv,
						 TbdrManifest *const *backups, int nbackups)
{
	uint32		latest = 1;

	for (int i = 0; i < inv->nhistories; i++)
		latest = Max(latest, inv->histories[i].tli);
	for (int i = 0; i < nbackups; i++)
		latest = Max(latest, backups[i]->timeline);
	return latest;
}

void
tbdr_wal_inventory_free(TbdrWalInventory *inv)
{
	if (inv == NULL)
		return;
	for (int i = 0; i < inv->nhistories; i++)
		pfree(inv->histories[i].entries);
	if (inv->histories)
		pfree(inv->histories);
	for (int i = 0; i < inv->nsegs; i++)
		tbdr_wal_summary_free(inv->segs[i].summary);
	if (inv->segs)
		pfree(inv->segs);
	pfree(inv);
}

/* ---------------------------------------------------------------------
 * Window
 * --------------------------------------------------------------------- */

uint32
tbdr_timeline_of_segment(const TbdrTimelineHistory *h, uint64 segno,
						 uint64 seg_size)
{
	for (int i = h->n - 1; i >= 0; i--)
	{
		if (h->entries[i].begin == 0 || h->entries[i].begin / seg_size <= segno)
			return h->entries[i].tli;
	}
	return h->entries[0].tli;
}

static const TbdrTimelineEntry *
history_entry(const TbdrTimelineHistory *h, uint32 tli)
{
	for (int i = 0; i < h->n; i++)
	{
		if (h->entries[i].tli == tli)
			return &h->entries[i];
	}
	return NULL;
}

static int
backup_stop_cmp(const void *a, const void *b)
{
	const TbdrWindowBackup *x = a;
	const TbdrWindowBackup *y = b;

	if (x->backup->stop_lsn != y->backup->stop_lsn)
		return x->backup->stop_lsn < y->backup->stop_lsn ? -1 : 1;
	return strcmp(x->backup->id, y->backup->id);
}

/* The summary of segment s along h, or NULL (none); false on a read error. */
static bool
summary_along(const TbdrWalInventory *inv, const TbdrTimelineHistory *h,
			  uint64 s, const TbdrWalSummary **sum, TbdrError *err)
{
	TbdrWalSeg *seg = tbdr_wal_inventory_find(inv, tbdr_timeline_of_segment(h, s, inv->seg_size), s);

	*sum = NULL;
	return seg == NULL || tbdr_wal_segment_summary(inv, seg, sum, err);
}

/*
 * The targets a usable backup reaches through segments first..last of its
 * WAL (see window.h for why these bounds are exact or conservative).
 */
static bool
backup_targets(const TbdrWalInventory *inv, const TbdrTimelineHistory *h,
			   TbdrWindowBackup *wb, uint64 first, uint64 stop_seg,
			   uint64 last, TbdrError *err)
{
	const TbdrManifest *m = wb->backup;
	const TbdrWalSummary *sum;
	int64		stop_bound = (m->stop_time + 1) * USECS_PER_SEC;
	int64		before = 0;
	bool		before_known = true;

	for (uint64 s = first; s <= stop_seg; s++)
	{
		if (!summary_along(inv, h, s, &sum, err))
			return false;
		if (sum == NULL || sum->undecoded)
			before_known = false;
		else if (sum->nxacts > 0)
			before = Max(before, sum->xact_time_max);
	}
	wb->start_time = stop_bound;
	if (before_known && before > 0 && before + 1 < stop_bound)
		wb->start_time = before + 1;

	wb->end_time = 0;
	for (uint64 s = last; s > stop_seg; s--)
	{
		if (!summary_along(inv, h, s, &sum, err))
			return false;
		if (sum && sum->nxacts > 0)
		{
			wb->end_time = sum->xact_time_max - 1;
			break;
		}
	}
	if (wb->end_time < wb->start_time)
		wb->end_time = wb->start_time = 0;

	if (!summary_along(inv, h, last, &sum, err))
		return false;
	wb->lsn_max = (sum && sum->nrecords > 0) ? sum->last_record : last * inv->seg_size;
	if (wb->lsn_max < m->stop_lsn)
		wb->lsn_max = 0;
	return true;
}

/* Is backup m on history h, and which of its WAL is there (wb filled)? */
static bool
window_backup(const TbdrWalInventory *inv, const TbdrTimelineHistory *h,
			  const TbdrManifest *m, TbdrWindowBackup *wb, TbdrError *err)
{
	uint64		seg_size = inv->seg_size;
	const TbdrTimelineEntry *e = history_entry(h, m->timeline);
	uint64		first,
				last,
				stop_seg;

	wb->backup = m;
	if (e == NULL || m->start_lsn == 0 || m->stop_lsn == 0 ||
		m->stop_lsn > e->end || m->start_lsn < e->begin)
		return true;
	wb->on_timeline = true;
	first = m->start_lsn / seg_size;
	stop_seg = m->stop_lsn / seg_size;
	/* a stop exactly on a segment boundary needs only the one before */
	if (m->stop_lsn % seg_size == 0 && stop_seg > first)
		stop_seg--;
	last = first - 1;
	while (tbdr_wal_inventory_find(inv, tbdr_timeline_of_segment(h, last + 1, seg_size), last + 1))
		last++;
	if (last == first - 1 || last < stop_seg)
	{
		uint64		miss = (last == first - 1) ? first : last + 1;

		tbdr_wal_segment_name(tbdr_timeline_of_segment(h, miss, seg_size),
							  miss, seg_size, wb->missing);
		return true;
	}
	wb->usable = true;
	wb->end_lsn = (last + 1) * seg_size;
	return backup_targets(inv, h, wb, first, stop_seg, last, err);
}

/* The hole between interval cur and the next backup b. */
static void
window_gap(const TbdrWalInventory *inv, const TbdrTimelineHistory *h,
		   const TbdrWindowInterval *cur, const TbdrWindowBackup *b,
		   TbdrWindowGap *g)
{
	uint64		seg_size = inv->seg_size;
	uint64		miss = cur->end_lsn / seg_size;
	uint64		next_first = b->backup->start_lsn / seg_size;
	uint64		s = miss;

	while (s < next_first &&
		   tbdr_wal_inventory_find(inv, tbdr_timeline_of_segment(h, s, seg_size), s) == NULL)
		s++;
	if (s == miss)
		s++;					/* cannot happen: the run ended at miss */
	tbdr_wal_segment_name(tbdr_timeline_of_segment(h, miss, seg_size),
						  miss, seg_size, g->first);
	tbdr_wal_segment_name(tbdr_timeline_of_segment(h, s - 1, seg_size),
						  s - 1, seg_size, g->last);
	g->start_lsn = miss * seg_size;
	g->end_lsn = s * seg_size;
}

/*
 * Add backup b (by stop LSN) to the last interval if its WAL joins it.
 * Time targets grow only while the backups' time ranges touch, so that
 * every printed time restores from some backup.
 */
static bool
join_interval(TbdrWindowInterval *cur, const TbdrWindowBackup *b)
{
	if (b->backup->stop_lsn > cur->end_lsn)
		return false;
	cur->end_lsn = Max(cur->end_lsn, b->end_lsn);
	cur->lsn_max = Max(cur->lsn_max, b->lsn_max);
	if (b->end_time == 0)
		return true;
	if (cur->end_time == 0)
	{
		cur->start_time = b->start_time;
		cur->end_time = b->end_time;
	}
	else if (b->start_time <= cur->end_time + 1)
		cur->end_time = Max(cur->end_time, b->end_time);
	return true;
}

/* The union of the usable backups' intervals, by LSN. */
static void
window_intervals(const TbdrWalInventory *inv, TbdrWindow *w)
{
	TbdrWindowBackup *sorted = palloc(sizeof(TbdrWindowBackup) * Max(w->nbackups, 1));
	int			nsorted = 0;

	for (int i = 0; i < w->nbackups; i++)
	{
		if (w->backups[i].usable)
			sorted[nsorted++] = w->backups[i];
	}
	qsort(sorted, nsorted, sizeof(TbdrWindowBackup), backup_stop_cmp);
	w->intervals = palloc0(sizeof(TbdrWindowInterval) * Max(nsorted, 1));
	w->gaps = palloc0(sizeof(TbdrWindowGap) * Max(nsorted, 1));
	for (int i = 0; i < nsorted; i++)
	{
		const TbdrWindowBackup *b = &sorted[i];
		TbdrWindowInterval *cur = w->nintervals ? &w->intervals[w->nintervals - 1] : NULL;

		if (cur && join_interval(cur, b))
			continue;
		if (cur)
			window_gap(inv, &w->history, cur, b, &w->gaps[w->ngaps++]);
		cur = &w->intervals[w->nintervals++];
		cur->backup_id = b->backup->id;
		cur->start_lsn = b->backup->stop_lsn;
		cur->end_lsn = b->end_lsn;
		cur->lsn_max = b->lsn_max;
		cur->start_time = b->start_time;
		cur->end_time = b->end_time;
	}
	for (int i = 0; i < w->nintervals; i++)
	{
		uint64		s = w->intervals[i].end_lsn / inv->seg_size - 1;

		w->intervals[i].end_segno = s;
		w->intervals[i].end_tli = tbdr_timeline_of_segment(&w->history, s, inv->seg_size);
	}
	pfree(sorted);
}

TbdrWindow *
tbdr_window_compute(const TbdrWalInventory *inv, TbdrManifest *const *backups,
					int nbackups, uint32 tli, TbdrError *err)
{
	TbdrWindow *w = palloc0(sizeof(TbdrWindow));
	const TbdrTimelineHistory *found = NULL;

	w->tli = tli;
	w->seg_size = inv->seg_size;
	for (int i = 0; i < inv->nhistories; i++)
	{
		if (inv->histories[i].tli == tli)
			found = &inv->histories[i];
	}
	if (found)
		w->history = *found;
	else
	{
		/* no history file: the timeline has no parent (as PostgreSQL assumes) */
		w->history.tli = tli;
		w->history.n = 1;
		w->history.entries = palloc(sizeof(TbdrTimelineEntry));
		w->history.entries[0].tli = tli;
		w->history.entries[0].begin = 0;
		w->history.entries[0].end = PG_UINT64_MAX;
	}

	w->nbackups = nbackups;
	w->backups = palloc0(sizeof(TbdrWindowBackup) * Max(nbackups, 1));
	for (int i = 0; i < nbackups; i++)
	{
		if (!window_backup(inv, &w->history, backups[i], &w->backups[i], err))
		{
			tbdr_window_free(w);
			return NULL;
		}
	}
	window_intervals(inv, w);
	return w;
}

char *
tbdr_window_describe(const TbdrWindow *w)
{
	StringInfoData s;

	initStringInfo(&s);
	if (w->nintervals == 0)
	{
		appendStringInfo(&s, "nothing is restorable on timeline %u", w->tli);
		return s.data;
	}
	for (int i = 0; i < w->nintervals; i++)
	{
		const TbdrWindowInterval *iv = &w->intervals[i];
		char		t1[48],
					t2[48],
					l1[32],
					l2[32];

		tbdr_format_lsn(iv->start_lsn, l1, sizeof(l1));
		tbdr_format_lsn(iv->lsn_max, l2, sizeof(l2));
		if (i > 0)
		{
			const TbdrWindowGap *g = &w->gaps[i - 1];

			appendStringInfo(&s, "; WAL gap: %s%s%s missing; then ",
							 g->first, strcmp(g->first, g->last) ? ".." : "",
							 strcmp(g->first, g->last) ? g->last : "");
		}
		if (iv->end_time == 0)
		{
			appendStringInfo(&s, "LSN %s to %s (no time targets: no commit recorded after the backup)",
							 l1, l2);
			continue;
		}
		tbdr_format_timestamp(iv->start_time, t1, sizeof(t1));
		tbdr_format_timestamp(iv->end_time, t2, sizeof(t2));
		appendStringInfo(&s, "from %s to %s (LSN %s to %s)", t1, t2, l1, l2);
	}
	appendStringInfo(&s, " on timeline %u", w->tli);
	return s.data;
}

static void
window_error(const TbdrWindow *w, TbdrError *err, const char *what)
{
	char	   *desc = tbdr_window_describe(w);

	tbdr_error_set(err, TBDR_ERR_CONFIG,
				   "%s is outside the restorable window: %s", what, desc);
	tbdr_error_hint(err, "Choose a target inside the window (tbdr list shows it), or another --target-timeline.");
	pfree(desc);
}

/*
 * An xid or name target from backup b: after b's consistent point (an xid
 * in b's stop segment may be before it: not from b) and inside its WAL.
 * Not located (only with an explicit --backup): PostgreSQL searches.
 */
static bool
located_fits(const TbdrWindow *w, const TbdrWindowBackup *b,
			 const TbdrTarget *target)
{
	if (!target->located)
		return true;
	return b->backup->stop_lsn <= target->loc_lsn &&
		target->loc_lsn < b->end_lsn;
}

int
tbdr_window_select(const TbdrWindow *w, const TbdrTarget *target,
				   const char *backup_id, TbdrError *err)
{
	int			best = -1;
	bool		id_seen = false;

	for (int i = 0; i < w->nbackups; i++)
	{
		const TbdrWindowBackup *b = &w->backups[i];
		bool		fits = false;

		if (backup_id && strcmp(b->backup->id, backup_id) != 0)
			continue;
		id_seen = true;
		if (!b->usable)
			continue;
		switch (target->type)
		{
			case TBDR_TARGET_LATEST:
			case TBDR_TARGET_IMMEDIATE:
				fits = true;
				break;
			case TBDR_TARGET_XID:
			case TBDR_TARGET_NAME:
				fits = located_fits(w, b, target);
				break;
			case TBDR_TARGET_TIME:
				fits = b->end_time != 0 && b->start_time <= target->time &&
					target->time <= b->end_time;
				break;
			case TBDR_TARGET_LSN:
				fits = b->backup->stop_lsn <= target->lsn &&
					target->lsn <= b->lsn_max;
				break;
		}
		if (!fits)
			continue;
		if (best < 0 || backup_stop_cmp(b, &w->backups[best]) > 0)
			best = i;
	}
	if (best >= 0)
		return best;

	if (backup_id && !id_seen)
	{
		tbdr_error_set(err, TBDR_ERR_NOT_FOUND,
					   "backup \"%s\" is not a complete backup of this repository", backup_id);
		tbdr_error_hint(err, "tbdr list shows the backups.");
		return -1;
	}
	if (backup_id)
	{
		for (int i = 0; i < w->nbackups; i++)
		{
			const TbdrWindowBackup *b = &w->backups[i];

			if (strcmp(b->backup->id, backup_id) != 0)
				continue;
			if (!b->on_timeline)
			{
				tbdr_error_set(err, TBDR_ERR_CONFIG,
							   "backup %s (timeline %u, stop LSN %X/%X) is not on the history of timeline %u",
							   backup_id, b->backup->timeline,
							   (uint32) (b->backup->stop_lsn >> 32), (uint32) b->backup->stop_lsn, w->tli);
				tbdr_error_hint(err, "Choose another backup, or the timeline with --target-timeline.");
				return -1;
			}
			if (!b->usable)
			{
				tbdr_error_set(err, TBDR_ERR_NOT_FOUND,
							   "backup %s cannot be restored: WAL segment %s, needed to make it consistent, is not in the repository",
							   backup_id, b->missing);
				return -1;
			}
		}
	}
	if (target->type != TBDR_TARGET_LATEST && target->type != TBDR_TARGET_IMMEDIATE)
	{
		char	   *what = psprintf("recovery target %s \"%s\"%s%s",
									target->type == TBDR_TARGET_TIME ? "time" :
									target->type == TBDR_TARGET_LSN ? "LSN" :
									target->type == TBDR_TARGET_XID ? "transaction" : "restore point",
									target->text,
									backup_id ? " from backup " : "",
									backup_id ? backup_id : "");

		window_error(w, err, what);
		pfree(what);
		return -1;
	}
	tbdr_error_set(err, TBDR_ERR_NOT_FOUND,
				   "no complete backup with its WAL can be restored on timeline %u", w->tli);
	if (w->nbackups > 0)
	{
		for (int i = 0; i < w->nbackups; i++)
		{
			if (w->backups[i].on_timeline && !w->backups[i].usable)
			{
				tbdr_error_detail(err, "Backup %s misses WAL segment %s.",
								  w->backups[i].backup->id, w->backups[i].missing);
				break;
			}
		}
		tbdr_error_hint(err, "tbdr list shows the backups and the restorable window.");
	}
	else
		tbdr_error_hint(err, "Take a backup first: SELECT tbdr_backup_now();");
	return -1;
}

void
tbdr_window_free(TbdrWindow *w)
{
	if (w == NULL)
		return;
	if (w->backups)
		pfree(w->backups);
	if (w->intervals)
		pfree(w->intervals);
	if (w->gaps)
		pfree(w->gaps);
	pfree(w);
}
