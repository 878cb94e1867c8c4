/*-------------------------------------------------------------------------
 * tarstream.c
 *	  ustar/pax tar streams (see tarstream.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include "core/tarstream.h"

/* ustar header field offsets and lengths */
#define T_NAME		0
#define T_NAME_LEN	100
#define T_MODE		100
#define T_UID		108
#define T_GID		116
#define T_SIZE		124
#define T_MTIME		136
#define T_CHKSUM	148
#define T_TYPE		156
#define T_LINK		157
#define T_LINK_LEN	100
#define T_MAGIC		257
#define T_VERSION	263
#define T_UNAME		265
#define T_GNAME		297
#define T_PREFIX	345
#define T_PREFIX_LEN 155

#define MAX_OCTAL_11 INT64CONST(077777777777)	/* 8 GiB - 1 */

static void
put_octal(char *field, int width, int64 value)
{
	/* width includes the terminating NUL */
	char		buf[32];

	snprintf(buf, sizeof(buf), "%0*llo", width - 1, (unsigned long long) value);
	memcpy(field, buf, width - 1);
	field[width - 1] = '\0';
}

static bool
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s >= 0x80)
			return false;
	return true;
}

/* Split path into ustar prefix/name; false if it cannot be. */
static bool
split_name(const char *path, const char **name, size_t *prefix_len)
{
	size_t		len = strlen(path);

	if (len <= T_NAME_LEN)
	{
		*name = path;
		*prefix_len = 0;
		return true;
	}
	/* the last '/' such that prefix <= 155 and name <= 100 */
	for (size_t i = len - 1; i > 0; i--)
	{
		if (path[i] != '/')
			continue;
		if (i <= T_PREFIX_LEN && len - i - 1 <= T_NAME_LEN && len - i - 1 > 0)
		{
			*name = path + i + 1;
			*prefix_len = i;
			return true;
		}
		if (len - i - 1 > T_NAME_LEN)
			break;
	}
	return false;
}

/* One pax record "<len> key=value\n" (len counts itself). */
static void
pax_record(StringInfo out, const char *key, const char *value)
{
	size_t		body = 1 + strlen(key) + 1 + strlen(value) + 1;	/* " k=v\n" */
	size_t		total = body;
	char		digits[32];

	/* the length includes its own digits */
	for (;;)
	{
		size_t		n = snprintf(digits, sizeof(digits), "%zu", total);

		if (body + n == total)
			break;
		total = body + n;
	}
	appendStringInfo(out, "%s %s=%s\n", digits, key, value);
}

static void
finish_header(char *h)
{
	unsigned int sum = 0;

	memset(h + T_CHKSUM, ' ', 8);
	for (int i = 0; i < TBDR_TAR_BLOCK; i++)
		sum += (unsigned char) h[i];
	snprintf(h + T_CHKSUM, 8, "%06o", sum);
	h[T_CHKSUM + 6] = '\0';
	h[T_CHKSUM + 7] = ' ';
}

static void
raw_header(StringInfo out, const char *name, size_t prefix_len,
		   const char *prefix, char type, int64 size, int mode,
		   int64 mtime, const char *linkname)
{
	char		h[TBDR_TAR_BLOCK];

	memset(h, 0, sizeof(h));
	strncpy(h + T_NAME, name, T_NAME_LEN);
	if (prefix_len)
		memcpy(h + T_PREFIX, prefix, prefix_len);
	put_octal(h + T_MODE, 8, mode & 07777);
	put_octal(h + T_UID, 8, 0);
	put_octal(h + T_GID, 8, 0);
	put_octal(h + T_SIZE, 12, size > MAX_OCTAL_11 ? 0 : size);
	put_octal(h + T_MTIME, 12, mtime < 0 ? 0 :
			  (mtime > MAX_OCTAL_11 ? MAX_OCTAL_11 : mtime));
	h[T_TYPE] = type;
	if (linkname)
		strncpy(h + T_LINK, linkname, T_LINK_LEN);
	memcpy(h + T_MAGIC, "ustar", 6);
	memcpy(h + T_VERSION, "00", 2);
	strcpy(h + T_UNAME, "postgres");
	strcpy(h + T_GNAME, "postgres");
	finish_header(h);
	appendBinaryStringInfo(out, h, sizeof(h));
}

void
tbdr_tar_write_header(StringInfo out, const TbdrTarEntry *e)
{
	const char *name;
	size_t		prefix_len = 0;
	bool		need_path = false;
	bool		need_link = false;
	bool		need_size = false;
	char	   *path = (char *) e->path;
	bool		free_path = false;

	if (e->type == TBDR_TAR_DIR)
	{
		/* directories end in '/' in tar */
		path = psprintf("%s/", e->path);
		free_path = true;
	}

	if (!is_ascii(path) || !split_name(path, &name, &prefix_len))
	{
		need_path = true;
		name = path;
		prefix_len = 0;
	}
	if (e->linkname && (strlen(e->linkname) > T_LINK_LEN || !is_ascii(e->linkname)))
		need_link = true;
	if (e->size > MAX_OCTAL_11)
		need_size = true;

	if (need_path || need_link || need_size)
	{
		StringInfoData pax;
		char		buf[32];
		char		pname[T_NAME_LEN + 1];

		initStringInfo(&pax);
		if (need_path)
			pax_record(&pax, "path", path);
		if (need_link)
			pax_record(&pax, "linkpath", e->linkname);
		if (need_size)
		{
			snprintf(buf, sizeof(buf), INT64_FORMAT, e->size);
			pax_record(&pax, "size", buf);
		}
		/* the pax header's own name is informational only */
		snprintf(pname, sizeof(pname), "PaxHeaders/%.80s",
				 strrchr(path, '/') && strrchr(path, '/')[1] ?
				 strrchr(path, '/') + 1 : "entry");
		for (char *p = pname; *p; p++)
			if ((unsigned char) *p >= 0x80)
				*p = '_';
		raw_header(out, pname, 0, NULL, 'x', pax.len, 0644, e->mtime, NULL);
		appendBinaryStringInfo(out, pax.data, pax.len);
		for (size_t i = tbdr_tar_padding(pax.len); i > 0; i--)
			appendStringInfoCharMacro(out, '\0');
		pfree(pax.data);
	}

	if (need_path)
	{
		/* a truncated ASCII fallback name; readers use the pax path */
		char		fallback[T_NAME_LEN + 1];
		size_t		len = strlen(path);
		const char *tail = len > T_NAME_LEN ? path + len - T_NAME_LEN : path;

		strlcpy(fallback, tail, sizeof(fallback));
		for (char *p = fallback; *p; p++)
			if ((unsigned char) *p >= 0x80)
				*p = '_';
		raw_header(out, fallback, 0, NULL, (char) e->type, e->size,
				   e->mode, e->mtime, need_link ? "" : e->linkname);
	}
	else
		raw_header(out, name, prefix_len, path, (char) e->type, e->size,
				   e->mode, e->mtime, need_link ? "" : e->linkname);

	if (free_path)
		pfree(path);
}

void
tbdr_tar_write_end(StringInfo out)
{
	for (int i = 0; i < 2 * TBDR_TAR_BLOCK; i++)
		appendStringInfoCharMacro(out, '\0');
}

/* ---------------------------------------------------------------------
 * Reader
 * --------------------------------------------------------------------- */

typedef enum ReaderState
{
	R_HEADER,					/* collecting a 512-byte header */
	R_DATA,						/* passing on entry data */
	R_PAD,						/* skipping padding after data */
	R_EXT,						/* collecting a pax/GNU extension body */
	R_END						/* saw the end marker */
} ReaderState;

struct TbdrTarReader
{
	TbdrTarCallbacks cb;
	ReaderState state;
	char		block[TBDR_TAR_BLOCK];
	size_t		block_fill;
	int64		remaining;		/* of data, padding or extension body */
	int64		offset;			/* bytes consumed from the stream */
	char		ext_type;		/* 'x', 'g', 'L', 'K' while in R_EXT */
	int64		ext_size;
	StringInfoData ext;
	int			zero_blocks;
	bool		in_entry;
	/* overrides from a pax header or GNU long names, for the next entry */
	char	   *next_path;
	char	   *next_link;
	int64		next_size;		/* -1: none */
	int64		next_mtime;		/* -1: none */
	char	   *cur_path;
	char	   *cur_link;
};

TbdrTarReader *
tbdr_tar_reader_create(const TbdrTarCallbacks *cb)
{
	TbdrTarReader *r = palloc0(sizeof(TbdrTarReader));

	r->cb = *cb;
	r->state = R_HEADER;
	r->next_size = -1;
	r->next_mtime = -1;
	initStringInfo(&r->ext);
	return r;
}

void
tbdr_tar_reader_free(TbdrTarReader *r)
{
	if (r == NULL)
		return;
	if (r->next_path)
		pfree(r->next_path);
	if (r->next_link)
		pfree(r->next_link);
	if (r->cur_path)
		pfree(r->cur_path);
	if (r->cur_link)
		pfree(r->cur_link);
	pfree(r->ext.data);
	pfree(r);
}

static bool
parse_octal(const char *field, int len, int64 *value)
{
	int64		v = 0;
	int			i = 0;

	/* GNU base-256 for large values */
	if ((unsigned char) field[0] & 0x80)
	{
		v = (unsigned char) field[0] & 0x3f;
		for (i = 1; i < len; i++)
		{
			if (v > (PG_INT64_MAX >> 8))
				return false;
			v = (v << 8) | (unsigned char) field[i];
		}
		*value = v;
		return true;
	}
	while (i < len && field[i] == ' ')
		i++;
	for (; i < len && field[i] >= '0' && field[i] <= '7'; i++)
		v = v * 8 + (field[i] - '0');
	for (; i < len; i++)
		if (field[i] != ' ' && field[i] != '\0')
			return false;
	*value = v;
	return true;
}

static bool
header_checksum_ok(const char *h)
{
	int64		stored;
	unsigned int sum = 0;

	if (!parse_octal(h + T_CHKSUM, 8, &stored))
		return false;
	for (int i = 0; i < TBDR_TAR_BLOCK; i++)
		sum += (i >= T_CHKSUM && i < T_CHKSUM + 8) ? ' ' : (unsigned char) h[i];
	return stored == sum;
}

static bool
corrupt(TbdrError *err, const TbdrTarReader *r, const char *what)
{
	tbdr_error_set(err, TBDR_ERR_CORRUPT, "invalid tar stream at byte " INT64_FORMAT ": %s",
				   r->offset, what);
	return false;
}

/*
 * The decimal number at p (digits only, before end) into *v; the first
 * character after it in *after.  false if there is none or it does not fit.
 * (strtol would skip leading white space and accept a sign, and read past
 * end: a record length must be plain digits within the record.)
 */
static bool
parse_decimal(const char *p, const char *end, int64 *v, const char **after)
{
	int64		n = 0;
	const char *q = p;

	for (; q < end && *q >= '0' && *q <= '9'; q++)
	{
		if (n > (PG_INT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (*q - '0');
	}
	*v = n;
	*after = q;
	return q > p;
}

/*
 * Apply the records of a pax extended header to the next entry.  A record
 * is "<length> <key>=<value>\n", length counting the whole record.
 */
static bool
apply_pax(TbdrTarReader *r, TbdrError *err)
{
	const char *p = r->ext.data;
	const char *end = r->ext.data + r->ext.len;

	while (p < end)
	{
		const char *sp;
		const char *eq;
		const char *key;
		int64		reclen;
		size_t		keylen;
		const char *rec_end;
		char	   *value;

		/* the shortest record is "<length> k=\n": past the space, 3 bytes */
		if (!parse_decimal(p, end, &reclen, &sp) || sp >= end || *sp != ' ' ||
			reclen > end - p || reclen < (sp - p) + 4)
			return corrupt(err, r, "bad pax record length");
		rec_end = p + reclen;
		if (rec_end[-1] != '\n')
			return corrupt(err, r, "pax record does not end in a newline");
		key = sp + 1;
		eq = memchr(key, '=', rec_end - 1 - key);
		if (eq == NULL)
			return corrupt(err, r, "pax record without '='");
		keylen = eq - key;
		value = pnstrdup(eq + 1, rec_end - 1 - (eq + 1));
		if (keylen == 4 && strncmp(key, "path", 4) == 0)
		{
			if (r->next_path)
				pfree(r->next_path);
			r->next_path = value;
			value = NULL;
		}
		else if (keylen == 8 && strncmp(key, "linkpath", 8) == 0)
		{
			if (r->next_link)
				pfree(r->next_link);
			r->next_link = value;
			value = NULL;
		}
		else if (keylen == 4 && strncmp(key, "size", 4) == 0)
		{
			const char *e;
			int64		size;

			if (!parse_decimal(value, value + strlen(value), &size, &e) || *e != '\0')
			{
				pfree(value);
				return corrupt(err, r, "bad pax size");
			}
			r->next_size = size;
		}
		else if (keylen == 5 && strncmp(key, "mtime", 5) == 0)
		{
			/* seconds, maybe with a fraction (dropped) or a sign */
			const char *v = value + (value[0] == '-');
			const char *e;
			int64		mtime;

			if (!parse_decimal(v, v + strlen(v), &mtime, &e) ||
				(*e != '\0' && *e != '.'))
			{
				pfree(value);
				return corrupt(err, r, "bad pax mtime");
			}
			r->next_mtime = value[0] == '-' ? -mtime : mtime;
		}
		if (value)
			pfree(value);
		p = rec_end;
	}
	return true;
}

static bool
handle_header(TbdrTarReader *r, TbdrError *err)
{
	const char *h = r->block;
	int64		size,
				mtime,
				mode;
	char		type = h[T_TYPE];
	bool		allzero = true;

	for (int i = 0; i < TBDR_TAR_BLOCK; i++)
		if (h[i] != 0)
		{
			allzero = false;
			break;
		}
	if (allzero)
	{
		if (++r->zero_blocks == 2)
			r->state = R_END;
		return true;
	}
	if (r->zero_blocks)
		return corrupt(err, r, "data after a zero block");
	if (!header_checksum_ok(h))
		return corrupt(err, r, "header checksum mismatch");
	if (!parse_octal(h + T_SIZE, 12, &size) ||
		!parse_octal(h + T_MTIME, 12, &mtime) ||
		!parse_octal(h + T_MODE, 8, &mode))
		return corrupt(err, r, "bad numeric field in header");

	if (type == 'x' || type == 'g' || type == 'L' || type == 'K')
	{
		if (size > 1024 * 1024)
			return corrupt(err, r, "extended header too large");
		r->ext_type = type;
		r->ext_size = size;
		r->remaining = size;
		resetStringInfo(&r->ext);
		r->state = R_EXT;
		if (size == 0)
			r->state = R_HEADER;
		return true;
	}

	/* a regular entry: the name, with overrides */
	if (r->cur_path)
		pfree(r->cur_path);
	if (r->cur_link)
		pfree(r->cur_link);
	if (r->next_path)
		r->cur_path = r->next_path;
	else
	{
		char		name[T_NAME_LEN + 1];
		char		prefix[T_PREFIX_LEN + 1];

		strlcpy(name, h + T_NAME, sizeof(name));
		if (memcmp(h + T_MAGIC, "ustar", 5) == 0 && h[T_PREFIX])
		{
			strlcpy(prefix, h + T_PREFIX, sizeof(prefix));
			r->cur_path = psprintf("%s/%s", prefix, name);
		}
		else
			r->cur_path = pstrdup(name);
	}
	if (r->next_link)
		r->cur_link = r->next_link;
	else
	{
		char		link[T_LINK_LEN + 1];

		strlcpy(link, h + T_LINK, sizeof(link));
		r->cur_link = pstrdup(link);
	}
	r->next_path = NULL;
	r->next_link = NULL;
	if (r->next_size >= 0)
		size = r->next_size;
	if (r->next_mtime >= 0)
		mtime = r->next_mtime;
	r->next_size = -1;
	r->next_mtime = -1;

	{
		TbdrTarEntry e;
		size_t		plen = strlen(r->cur_path);

		memset(&e, 0, sizeof(e));
		switch (type)
		{
			case '0':
			case '\0':
			case '7':
				e.type = TBDR_TAR_FILE;
				break;
			case '2':
				e.type = TBDR_TAR_SYMLINK;
				size = 0;
				break;
			case '5':
				e.type = TBDR_TAR_DIR;
				size = 0;
				break;
			default:
				return corrupt(err, r, psprintf("unsupported entry type '%c'", type));
		}
		/* strip the trailing '/' of directories */
		while (plen > 1 && r->cur_path[plen - 1] == '/')
			r->cur_path[--plen] = '\0';
		if (plen == 0)
			return corrupt(err, r, "entry without a name");
		e.path = r->cur_path;
		e.size = size;
		e.mode = (int) mode;
		e.mtime = mtime;
		e.linkname = e.type == TBDR_TAR_SYMLINK ? r->cur_link : NULL;
		r->in_entry = true;
		if (r->cb.entry_start && !r->cb.entry_start(r->cb.arg, &e, err))
			return false;
	}
	r->remaining = size;
	if (size == 0)
	{
		r->in_entry = false;
		if (r->cb.entry_end && !r->cb.entry_end(r->cb.arg, err))
			return false;
		r->state = R_HEADER;
	}
	else
		r->state = R_DATA;
	return true;
}

bool
tbdr_tar_reader_write(TbdrTarReader *r, const char *data, size_t len,
					  TbdrError *err)
{
	while (len > 0)
	{
		switch (r->state)
		{
			case R_END:
				/* GNU tar pads the archive to a record; accept zeros */
				for (size_t i = 0; i < len; i++)
					if (data[i] != 0)
						return corrupt(err, r, "data after the end of the archive");
				r->offset += len;
				return true;

			case R_HEADER:
				{
					size_t		n = Min(len, TBDR_TAR_BLOCK - r->block_fill);

					memcpy(r->block + r->block_fill, data, n);
					r->block_fill += n;
					data += n;
					len -= n;
					r->offset += n;
					if (r->block_fill == TBDR_TAR_BLOCK)
					{
						r->block_fill = 0;
						if (!handle_header(r, err))
							return false;
					}
					break;
				}

			case R_DATA:
				{
					size_t		n = (size_t) Min((int64) len, r->remaining);

					if (r->cb.entry_data && !r->cb.entry_data(r->cb.arg, data, n, err))
						return false;
					data += n;
					len -= n;
					r->offset += n;
					r->remaining -= n;
					if (r->remaining == 0)
					{
						r->in_entry = false;
						if (r->cb.entry_end && !r->cb.entry_end(r->cb.arg, err))
							return false;
						r->remaining = tbdr_tar_padding(r->offset);
						r->state = r->remaining ? R_PAD : R_HEADER;
					}
					break;
				}

			case R_PAD:
				{
					size_t		n = (size_t) Min((int64) len, r->remaining);

					data += n;
					len -= n;
					r->offset += n;
					r->remaining -= n;
					if (r->remaining == 0)
						r->state = R_HEADER;
					break;
				}

			case R_EXT:
				{
					size_t		n = (size_t) Min((int64) len, r->remaining);

					appendBinaryStringInfo(&r->ext, data, n);
					data += n;
					len -= n;
					r->offset += n;
					r->remaining -= n;
					if (r->remaining == 0)
					{
						if (r->ext_type == 'x')
						{
							if (!apply_pax(r, err))
								return false;
						}
						else if (r->ext_type == 'L')
						{
							if (r->next_path)
								pfree(r->next_path);
							r->next_path = pnstrdup(r->ext.data, r->ext.len);
						}
						else if (r->ext_type == 'K')
						{
							if (r->next_link)
								pfree(r->next_link);
							r->next_link = pnstrdup(r->ext.data, r->ext.len);
						}
						r->remaining = tbdr_tar_padding(r->ext_size);
						r->state = r->remaining ? R_PAD : R_HEADER;
					}
					break;
				}
		}
	}
	return true;
}

bool
tbdr_tar_reader_finish(TbdrTarReader *r, TbdrError *err)
{
	if (r->state == R_END)
		return true;
	if (r->in_entry)
		return corrupt(err, r, psprintf("stream ends inside \"%s\"",
										r->cur_path ? r->cur_path : "?"));
	return corrupt(err, r, "stream ends before the end-of-archive marker");
}
