/*-------------------------------------------------------------------------
 * walsummary.c
 *	  The WAL segment walker and the summary's serialized form (see
 *	  walsummary.h).
 *
 * The walker follows PostgreSQL's reader (xlogreader.c) in what it accepts:
 * page headers must carry the magic and the page's own address, the first
 * page a long header of this segment size, a record continued on the next
 * page must find XLP_FIRST_IS_CONTRECORD with the remaining length there,
 * and every record's CRC-32C must match.  It is simpler in what it keeps:
 * only the first RECORD_PREFIX_MAX bytes of commit, abort and restore point
 * records are copied (their main data comes first: they have no block
 * references), other records are only checksummed as they stream by.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "access/rmgr.h"
#include "access/xact.h"
#include "access/xlog_internal.h"
#include "access/xlogrecord.h"
#include "catalog/pg_control.h"
#include "port/pg_crc32c.h"

#include "core/digest.h"
#include "core/pg_compat.h"
#include "core/walsummary.h"

#define RECORD_PREFIX_MAX	(64 * 1024)
/* Seconds from 1970-01-01 to PostgreSQL's epoch 2000-01-01. */
#define PG_EPOCH_UNIX_USECS (INT64CONST(946684800) * INT64CONST(1000000))
#define SUMMARY_MAGIC		"tbdr-wal-summary 1"

typedef enum ReadResult
{
	READ_OK,
	READ_CROSSES,				/* the record runs past the segment */
	READ_INVALID				/* invalid page or checksum: end of WAL */
} ReadResult;

typedef struct Walker
{
	int			fd;
	uint64		seg_start;
	uint64		seg_size;
	uint64		pos;			/* the next byte to read (LSN) */
	char		page[XLOG_BLCKSZ];
	/* the record being read */
	char		header[SizeOfXLogRecord];
	uint32		got;			/* bytes of it read so far */
	bool		keep;			/* copy it into prefix (when header known) */
	char	   *prefix;
	uint32		prefix_len;
	pg_crc32c	crc;
	/* collected transaction IDs */
	uint32	   *xids;
	int			nxids;
	int			maxxids;
} Walker;

/* Read and check the page that starts at w->pos. */
static bool
load_page(Walker *w)
{
	XLogPageHeader hdr = (XLogPageHeader) w->page;
	ssize_t		n;

	n = pread(w->fd, w->page, XLOG_BLCKSZ, (off_t) (w->pos - w->seg_start));
	if (n != XLOG_BLCKSZ)
		return false;
	if (hdr->xlp_magic != XLOG_PAGE_MAGIC || hdr->xlp_pageaddr != w->pos ||
		(hdr->xlp_info & ~XLP_ALL_FLAGS) != 0)
		return false;
	if (w->pos == w->seg_start)
	{
		XLogLongPageHeader lhdr = (XLogLongPageHeader) w->page;

		if (!(hdr->xlp_info & XLP_LONG_HEADER) ||
			lhdr->xlp_seg_size != w->seg_size ||
			lhdr->xlp_xlog_blcksz != XLOG_BLCKSZ)
			return false;
	}
	return true;
}

static bool
is_interesting(const XLogRecord *rec)
{
	uint8		info = rec->xl_info & ~XLR_INFO_MASK;

	if (rec->xl_rmid == RM_XACT_ID)
	{
		uint8		op = info & XLOG_XACT_OPMASK;

		return op == XLOG_XACT_COMMIT || op == XLOG_XACT_ABORT ||
			op == XLOG_XACT_COMMIT_PREPARED || op == XLOG_XACT_ABORT_PREPARED;
	}
	return rec->xl_rmid == RM_XLOG_ID && info == XLOG_RESTORE_POINT;
}

/* Take n bytes of the current record: header, prefix, checksum. */
static void
consume(Walker *w, const char *p, uint32 n)
{
	if (w->got < SizeOfXLogRecord)
	{
		uint32		h = Min(n, SizeOfXLogRecord - w->got);

		memcpy(w->header + w->got, p, h);
		w->got += h;
		p += h;
		n -= h;
		if (w->got == SizeOfXLogRecord)
		{
			w->keep = is_interesting((XLogRecord *) w->header);
			if (w->keep)
			{
				memcpy(w->prefix, w->header, SizeOfXLogRecord);
				w->prefix_len = SizeOfXLogRecord;
			}
		}
	}
	if (n == 0)
		return;
	COMP_CRC32C(w->crc, p, n);
	if (w->keep && w->prefix_len < RECORD_PREFIX_MAX)
	{
		uint32		c = Min(n, RECORD_PREFIX_MAX - w->prefix_len);

		memcpy(w->prefix + w->prefix_len, p, c);
		w->prefix_len += c;
	}
	w->got += n;
}

/*
 * Read the record that starts at w->pos (tot_len bytes), across pages.  On
 * return w->pos is just after what was read.
 */
static ReadResult
read_record(Walker *w, uint32 tot_len)
{
	uint64		seg_end = w->seg_start + w->seg_size;
	uint32		remaining = tot_len;

	w->got = 0;
	w->keep = false;
	w->prefix_len = 0;
	INIT_CRC32C(w->crc);
	while (remaining > 0)
	{
		uint32		in_page,
					n;

		if (w->pos % XLOG_BLCKSZ == 0)
		{
			XLogPageHeader hdr = (XLogPageHeader) w->page;

			if (w->pos >= seg_end)
				return READ_CROSSES;
			if (!load_page(w) || !(hdr->xlp_info & XLP_FIRST_IS_CONTRECORD) ||
				hdr->xlp_rem_len != remaining)
				return READ_INVALID;
			w->pos += XLogPageHeaderSize(hdr);
		}
		in_page = XLOG_BLCKSZ - (uint32) (w->pos % XLOG_BLCKSZ);
		n = Min(in_page, remaining);
		consume(w, w->page + w->pos % XLOG_BLCKSZ, n);
		w->pos += n;
		remaining -= n;
	}
	COMP_CRC32C(w->crc, w->header, offsetof(XLogRecord, xl_crc));
	FIN_CRC32C(w->crc);
	if (!EQ_CRC32C(w->crc, ((XLogRecord *) w->header)->xl_crc))
		return READ_INVALID;
	return READ_OK;
}

/*
 * Where the main data of the record in w->prefix starts, and its length;
 * false if the block headers do not fit the prefix or are invalid.
 */
static bool
main_data(const Walker *w, uint32 tot_len, uint32 *off, uint32 *len)
{
	const unsigned char *p = (const unsigned char *) w->prefix;
	uint32		i = SizeOfXLogRecord;
	uint64		datatotal = 0;

	while (i < w->prefix_len && tot_len - i > datatotal)
	{
		uint8		id = p[i++];

		if (id == XLR_BLOCK_ID_DATA_SHORT || id == XLR_BLOCK_ID_DATA_LONG)
		{
			uint32		ml = 0;

			if (id == XLR_BLOCK_ID_DATA_SHORT && i + 1 <= w->prefix_len)
				ml = p[i];
			else if (id == XLR_BLOCK_ID_DATA_LONG && i + 4 <= w->prefix_len)
				memcpy(&ml, p + i, 4);
			else
				return false;
			if (ml > tot_len)
				return false;
			*off = tot_len - ml;
			*len = ml;
			return true;
		}
		else if (id == XLR_BLOCK_ID_ORIGIN)
			i += sizeof(RepOriginId);
		else if (id == XLR_BLOCK_ID_TOPLEVEL_XID)
			i += sizeof(TransactionId);
		else if (id <= XLR_MAX_BLOCK_ID && i + 3 <= w->prefix_len)
		{
			uint8		fork_flags = p[i];
			uint16		dlen;

			memcpy(&dlen, p + i + 1, 2);
			i += 3;
			datatotal += dlen;
			if (fork_flags & BKPBLOCK_HAS_IMAGE)
			{
				uint16		blen;
				uint8		binfo;

				if (i + 5 > w->prefix_len)
					return false;
				memcpy(&blen, p + i, 2);
				binfo = p[i + 4];
				i += 5;
				if ((binfo & BKPIMAGE_HAS_HOLE) && BKPIMAGE_COMPRESSED(binfo))
					i += 2;
				datatotal += blen;
			}
			if (!(fork_flags & BKPBLOCK_SAME_REL))
				i += TBDR_WAL_RELFILE_SIZE;
			i += sizeof(BlockNumber);
		}
		else
			return false;
	}
	return false;
}

static void
add_xid(Walker *w, uint32 xid)
{
	if (w->nxids == w->maxxids)
	{
		w->maxxids = Max(256, w->maxxids * 2);
		w->xids = w->xids ? repalloc(w->xids, sizeof(uint32) * w->maxxids) :
			palloc(sizeof(uint32) * w->maxxids);
	}
	w->xids[w->nxids++] = xid;
}

static void
add_xact_time(TbdrWalSummary *s, int64 t)
{
	if (s->nxacts == 0 || t < s->xact_time_min)
		s->xact_time_min = t;
	if (s->nxacts == 0 || t > s->xact_time_max)
		s->xact_time_max = t;
	s->nxacts++;
}

/*
 * A complete commit, abort or restore point record (w->prefix) that starts
 * at lsn.  Returns false if it could not be decoded.
 */
static bool
take_record(Walker *w, TbdrWalSummary *s, uint64 lsn, uint32 tot_len)
{
	const XLogRecord *rec = (const XLogRecord *) w->prefix;
	uint8		info = rec->xl_info & ~XLR_INFO_MASK;
	uint32		off,
				len;
	TimestampTz ts;

	if (!main_data(w, tot_len, &off, &len) || len < sizeof(TimestampTz) ||
		off + sizeof(TimestampTz) > w->prefix_len)
		return false;
	memcpy(&ts, w->prefix + off, sizeof(ts));
	if (rec->xl_rmid == RM_XACT_ID)
	{
		uint8		op = info & XLOG_XACT_OPMASK;

		add_xact_time(s, ts + PG_EPOCH_UNIX_USECS);
		if (op == XLOG_XACT_COMMIT || op == XLOG_XACT_ABORT)
			add_xid(w, rec->xl_xid);
		else
			s->prepared_xids = true;
		return true;
	}
	else
	{
		TbdrRestorePoint *rp;

		if (len < sizeof(xl_restore_point) || off + sizeof(xl_restore_point) > w->prefix_len)
			return false;
		s->rps = s->rps ? repalloc(s->rps, sizeof(TbdrRestorePoint) * (s->nrps + 1)) :
			palloc(sizeof(TbdrRestorePoint));
		rp = &s->rps[s->nrps++];
		rp->lsn = lsn;
		rp->time = ts + PG_EPOCH_UNIX_USECS;
		strlcpy(rp->name, ((const xl_restore_point *) (w->prefix + off))->rp_name,
				sizeof(rp->name));
		return true;
	}
}

static int
xid_cmp(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The collected xids as sorted disjoint ranges. */
static void
make_ranges(Walker *w, TbdrWalSummary *s)
{
	if (w->nxids == 0)
		return;
	qsort(w->xids, w->nxids, sizeof(uint32), xid_cmp);
	s->xids = palloc(sizeof(TbdrXidRange) * w->nxids);
	for (int i = 0; i < w->nxids; i++)
	{
		uint32		x = w->xids[i];

		if (s->nxids > 0 && x <= s->xids[s->nxids - 1].hi + 1)
			s->xids[s->nxids - 1].hi = Max(s->xids[s->nxids - 1].hi, x);
		else
		{
			s->xids[s->nxids].lo = x;
			s->xids[s->nxids].hi = x;
			s->nxids++;
		}
	}
}

/* Skip the continuation of a record of the previous segment. */
static bool
skip_head(Walker *w)
{
	XLogPageHeader hdr = (XLogPageHeader) w->page;
	uint32		remaining = hdr->xlp_rem_len;

	w->pos += XLogPageHeaderSize(hdr);
	while (remaining > 0)
	{
		uint32		in_page;

		if (w->pos % XLOG_BLCKSZ == 0)
		{
			if (w->pos >= w->seg_start + w->seg_size || !load_page(w) ||
				!(hdr->xlp_info & XLP_FIRST_IS_CONTRECORD) ||
				hdr->xlp_rem_len != remaining)
				return false;
			w->pos += XLogPageHeaderSize(hdr);
		}
		in_page = XLOG_BLCKSZ - (uint32) (w->pos % XLOG_BLCKSZ);
		if (in_page >= remaining)
		{
			w->pos += remaining;
			remaining = 0;
		}
		else
		{
			w->pos += in_page;
			remaining -= in_page;
		}
	}
	w->pos = MAXALIGN(w->pos);
	return true;
}

/* Walk every record that starts in the segment. */
static void
walk(Walker *w, TbdrWalSummary *s)
{
	uint64		seg_end = w->seg_start + w->seg_size;

	for (;;)
	{
		uint64		start;
		uint32		tot_len;
		ReadResult	r;

		if (w->pos % XLOG_BLCKSZ == 0)
		{
			if (w->pos >= seg_end || !load_page(w) ||
				(((XLogPageHeader) w->page)->xlp_info & XLP_FIRST_IS_CONTRECORD))
				return;
			w->pos += XLogPageHeaderSize((XLogPageHeader) w->page);
		}
		start = w->pos;
		memcpy(&tot_len, w->page + w->pos % XLOG_BLCKSZ, sizeof(uint32));
		if (tot_len < SizeOfXLogRecord)
			return;				/* zeros: the end of the WAL written */
		r = read_record(w, tot_len);
		if (r == READ_CROSSES)
		{
			if (w->got < SizeOfXLogRecord || w->keep)
				s->undecoded = true;
			return;
		}
		if (r == READ_INVALID)
			return;
		if (w->keep && !take_record(w, s, start, tot_len))
			s->undecoded = true;
		s->nrecords++;
		s->last_record = start;
		s->end = w->pos;
		if (((XLogRecord *) w->header)->xl_rmid == RM_XLOG_ID &&
			(((XLogRecord *) w->header)->xl_info & ~XLR_INFO_MASK) == XLOG_SWITCH)
		{
			s->switched = true;
			return;
		}
		w->pos = MAXALIGN(w->pos);
	}
}

TbdrWalSummary *
tbdr_wal_summarize_file(const char *path, uint64 seg_start, uint64 seg_size,
						TbdrError *err)
{
	Walker		w;
	TbdrWalSummary *s;

	memset(&w, 0, sizeof(w));
	w.fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (w.fd < 0)
	{
		tbdr_error_errno(err, "could not open WAL file \"%s\"", path);
		return NULL;
	}
	w.seg_start = seg_start;
	w.seg_size = seg_size;
	w.pos = seg_start;
	if (!load_page(&w))
	{
		close(w.fd);
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "\"%s\" does not start with a WAL page of segment %X/%X (segment size " UINT64_FORMAT ")",
					   path, (uint32) (seg_start >> 32), (uint32) seg_start, seg_size);
		return NULL;
	}
	s = palloc0(sizeof(TbdrWalSummary));
	s->seg_start = seg_start;
	w.prefix = palloc(RECORD_PREFIX_MAX);
	if (!(((XLogPageHeader) w.page)->xlp_info & XLP_FIRST_IS_CONTRECORD) ||
		skip_head(&w))
		walk(&w, s);
	make_ranges(&w, s);
	close(w.fd);
	pfree(w.prefix);
	if (w.xids)
		pfree(w.xids);
	return s;
}

/* ---------------------------------------------------------------------
 * Serialized form
 * --------------------------------------------------------------------- */

void
tbdr_wal_summary_write(const TbdrWalSummary *s, StringInfo out)
{
	appendStringInfo(out, "%s\nsegment_start " UINT64_FORMAT "\nrecords %d\n"
					 "last_record " UINT64_FORMAT "\nend " UINT64_FORMAT "\n"
					 "switched %d\nundecoded %d\nxacts %d\n"
					 "xact_time_min " INT64_FORMAT "\nxact_time_max " INT64_FORMAT "\n"
					 "prepared_xids %d\nxids",
					 SUMMARY_MAGIC, s->seg_start, s->nrecords, s->last_record, s->end,
					 s->switched, s->undecoded, s->nxacts,
					 s->xact_time_min, s->xact_time_max, s->prepared_xids);
	for (int i = 0; i < s->nxids; i++)
		appendStringInfo(out, " %u-%u", s->xids[i].lo, s->xids[i].hi);
	appendStringInfoChar(out, '\n');
	for (int i = 0; i < s->nrps; i++)
	{
		char		hex[TBDR_RESTORE_POINT_NAME_MAX * 2 + 1];

		tbdr_hex_encode((const unsigned char *) s->rps[i].name,
						strlen(s->rps[i].name), hex);
		appendStringInfo(out, "rp " UINT64_FORMAT " " INT64_FORMAT " %s\n",
						 s->rps[i].lsn, s->rps[i].time, hex);
	}
}

/*
 * A decimal number that is all of token (a leading '-' only if sign):
 * summaries come from the bucket, so nothing lenient.
 */
static bool
parse_number(const char *token, bool sign, int64 min, uint64 max, uint64 *out)
{
	const char *p = token;
	bool		neg = false;
	uint64		v = 0;

	if (sign && *p == '-')
	{
		neg = true;
		p++;
	}
	if (*p == '\0')
		return false;
	for (; *p; p++)
	{
		if (*p < '0' || *p > '9' || v > (PG_UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (neg ? v > (uint64) -(min + 1) + 1 : v > max)
		return false;
	*out = neg ? (uint64) 0 - v : v;
	return true;
}

#define PARSE_U64(tok, dst) \
	(parse_number((tok), false, 0, PG_UINT64_MAX, &u) && ((dst) = u, true))
#define PARSE_INT(tok, dst) \
	(parse_number((tok), false, 0, PG_INT32_MAX, &u) && ((dst) = (int) u, true))
#define PARSE_I64(tok, dst) \
	(parse_number((tok), true, PG_INT64_MIN, PG_INT64_MAX, &u) && ((dst) = (int64) u, true))
#define PARSE_BOOL(tok, dst) \
	(parse_number((tok), false, 0, 1, &u) && ((dst) = u != 0, true))

/* "LO-HI" ranges, sorted and disjoint as written (the lookup is a bsearch) */
static bool
parse_xids(TbdrWalSummary *s, char **tok, int ntok)
{
	if (s->xids)
		return false;			/* one xids line */
	s->xids = palloc(sizeof(TbdrXidRange) * Max(ntok, 1));
	for (int i = 0; i < ntok; i++)
	{
		char	   *dash = strchr(tok[i], '-');
		uint64		u;
		uint32		lo,
					hi;

		if (dash == NULL)
			return false;
		*dash = '\0';
		if (!parse_number(tok[i], false, 0, PG_UINT32_MAX, &u))
			return false;
		lo = (uint32) u;
		if (!parse_number(dash + 1, false, 0, PG_UINT32_MAX, &u))
			return false;
		hi = (uint32) u;
		if (lo > hi || (s->nxids > 0 && lo <= s->xids[s->nxids - 1].hi))
			return false;
		s->xids[s->nxids].lo = lo;
		s->xids[s->nxids].hi = hi;
		s->nxids++;
	}
	return true;
}

/* "LSN TIME HEXNAME": a name of 1..63 bytes without NUL */
static bool
parse_rp(TbdrWalSummary *s, char **tok)
{
	TbdrRestorePoint rp;
	size_t		hexlen = strlen(tok[2]);
	uint64		u;

	memset(&rp, 0, sizeof(rp));
	if (!PARSE_U64(tok[0], rp.lsn) || !PARSE_I64(tok[1], rp.time) ||
		hexlen == 0 || hexlen % 2 != 0 || hexlen / 2 >= sizeof(rp.name) ||
		!tbdr_hex_decode(tok[2], (unsigned char *) rp.name, hexlen / 2) ||
		strlen(rp.name) != hexlen / 2)
		return false;
	s->rps = s->rps ? repalloc(s->rps, sizeof(TbdrRestorePoint) * (s->nrps + 1)) :
		palloc(sizeof(TbdrRestorePoint));
	s->rps[s->nrps++] = rp;
	return true;
}

/* One line, split at single spaces (modified in place). */
static bool
parse_line(TbdrWalSummary *s, char *line)
{
	char	  **tok;
	int			ntok = 1;
	uint64		u;
	bool		ok;

	for (char *c = line; *c; c++)
		ntok += *c == ' ';
	tok = palloc(sizeof(char *) * ntok);
	tok[0] = line;
	for (int i = 1; i < ntok; i++)
	{
		char	   *sp = strchr(tok[i - 1], ' ');

		*sp = '\0';
		tok[i] = sp + 1;
	}
	if (strcmp(tok[0], "xids") == 0)
		ok = parse_xids(s, tok + 1, ntok - 1);
	else if (strcmp(tok[0], "rp") == 0)
		ok = ntok == 4 && parse_rp(s, tok + 1);
	else if (ntok != 2)
		ok = false;
	else if (strcmp(tok[0], "segment_start") == 0)
		ok = PARSE_U64(tok[1], s->seg_start);
	else if (strcmp(tok[0], "records") == 0)
		ok = PARSE_INT(tok[1], s->nrecords);
	else if (strcmp(tok[0], "last_record") == 0)
		ok = PARSE_U64(tok[1], s->last_record);
	else if (strcmp(tok[0], "end") == 0)
		ok = PARSE_U64(tok[1], s->end);
	else if (strcmp(tok[0], "switched") == 0)
		ok = PARSE_BOOL(tok[1], s->switched);
	else if (strcmp(tok[0], "undecoded") == 0)
		ok = PARSE_BOOL(tok[1], s->undecoded);
	else if (strcmp(tok[0], "xacts") == 0)
		ok = PARSE_INT(tok[1], s->nxacts);
	else if (strcmp(tok[0], "xact_time_min") == 0)
		ok = PARSE_I64(tok[1], s->xact_time_min);
	else if (strcmp(tok[0], "xact_time_max") == 0)
		ok = PARSE_I64(tok[1], s->xact_time_max);
	else if (strcmp(tok[0], "prepared_xids") == 0)
		ok = PARSE_BOOL(tok[1], s->prepared_xids);
	else
		ok = false;
	pfree(tok);
	return ok;
}

TbdrWalSummary *
tbdr_wal_summary_parse(const char *text, size_t len, TbdrError *err)
{
	TbdrWalSummary *s = palloc0(sizeof(TbdrWalSummary));
	char	   *copy = pnstrdup(text, len);
	char	   *line = copy;
	int			lineno = 0;

	while (line && *line)
	{
		char	   *eol = strchr(line, '\n');

		if (eol)
			*eol = '\0';
		lineno++;
		if (lineno == 1 ? strcmp(line, SUMMARY_MAGIC) != 0 : !parse_line(s, line))
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "invalid WAL summary: line %d", lineno);
			pfree(copy);
			tbdr_wal_summary_free(s);
			return NULL;
		}
		line = eol ? eol + 1 : NULL;
	}
	pfree(copy);
	if (lineno == 0)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT, "invalid WAL summary: empty");
		tbdr_wal_summary_free(s);
		return NULL;
	}
	return s;
}

bool
tbdr_wal_summary_has_xid(const TbdrWalSummary *s, uint32 xid)
{
	int			lo = 0,
				hi = s->nxids - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (xid < s->xids[mid].lo)
			hi = mid - 1;
		else if (xid > s->xids[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

const TbdrRestorePoint *
tbdr_wal_summary_find_rp(const TbdrWalSummary *s, const char *name)
{
	for (int i = 0; i < s->nrps; i++)
	{
		if (strcmp(s->rps[i].name, name) == 0)
			return &s->rps[i];
	}
	return NULL;
}

void
tbdr_wal_summary_free(TbdrWalSummary *s)
{
	if (s == NULL)
		return;
	if (s->xids)
		pfree(s->xids);
	if (s->rps)
		pfree(s->rps);
	pfree(s);
}
