/*-------------------------------------------------------------------------
 * manifest.c
 *	  The backup manifest as JSON (see manifest.h).
 *
 * Parsing builds a small tree of JSON values from jsonapi's callbacks and
 * then reads the fields from it: the callbacks of PostgreSQL 15 cannot stop
 * the parser, and a tree keeps the field extraction simple and strict (a
 * wrong type is an error, not a zero).  Nesting is limited before parsing,
 * since jsonapi descends recursively.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <limits.h>
#include <time.h>

#include "common/jsonapi.h"

#include "core/manifest.h"
#include "core/pg_compat.h"

#define MANIFEST_MAX_DEPTH 16

/* ---------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

void
tbdr_json_escape(StringInfo out, const char *s)
{
	appendStringInfoCharMacro(out, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			default:
				if (*p < 0x20 || *p == 0x7f)
					appendStringInfo(out, "\\u%04x", *p);
				else
					appendStringInfoCharMacro(out, (char) *p);
		}
	}
	appendStringInfoCharMacro(out, '"');
}

void
tbdr_format_utc(int64 t, char *out, size_t outlen)
{
	time_t		tt = (time_t) t;
	struct tm	tm;

	/* %04d, not strftime's %Y: year 999 is "0999", as the parser wants */
	gmtime_r(&tt, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool
parse_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

static bool
make_utc(int y, int mo, int d, int h, int mi, int sec, int64 *t)
{
	struct tm	tm;

	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*t = (int64) timegm(&tm);
	/* a leap second on 9999-12-31 would be year 10000: not four digits */
	return *t < INT64CONST(253402300800);
}

bool
tbdr_parse_utc(const char *s, int64 *t)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
		s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return false;
	if (!parse_digits(s, 4, &y) || !parse_digits(s + 5, 2, &mo) ||
		!parse_digits(s + 8, 2, &d) || !parse_digits(s + 11, 2, &h) ||
		!parse_digits(s + 14, 2, &mi) || !parse_digits(s + 17, 2, &sec))
		return false;
	return make_utc(y, mo, d, h, mi, sec, t);
}

void
tbdr_backup_id_format(int64 t, char out[TBDR_BACKUP_ID_LEN + 1])
{
	time_t		tt = (time_t) t;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	snprintf(out, TBDR_BACKUP_ID_LEN + 1, "%04d%02d%02dT%02d%02d%02dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec);
}

bool
tbdr_backup_id_parse(const char *id, int64 *t)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec;

	if (strlen(id) != TBDR_BACKUP_ID_LEN || id[8] != 'T' || id[15] != 'Z')
		return false;
	if (!parse_digits(id, 4, &y) || !parse_digits(id + 4, 2, &mo) ||
		!parse_digits(id + 6, 2, &d) || !parse_digits(id + 9, 2, &h) ||
		!parse_digits(id + 11, 2, &mi) || !parse_digits(id + 13, 2, &sec))
		return false;
	return make_utc(y, mo, d, h, mi, sec, t);
}

void
tbdr_format_lsn(uint64 lsn, char *out, size_t outlen)
{
	snprintf(out, outlen, "%X/%X", (uint32) (lsn >> 32), (uint32) lsn);
}

static bool
parse_hex32(const char *s, size_t n, uint32 *v)
{
	uint64		acc = 0;

	if (n == 0 || n > 8)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];
		int			d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		acc = acc * 16 + d;
	}
	*v = (uint32) acc;
	return true;
}

bool
tbdr_parse_lsn(const char *s, uint64 *lsn)
{
	const char *slash = strchr(s, '/');
	uint32		hi,
				lo;

	if (slash == NULL)
		return false;
	if (!parse_hex32(s, slash - s, &hi) ||
		!parse_hex32(slash + 1, strlen(slash + 1), &lo))
		return false;
	*lsn = ((uint64) hi << 32) | lo;
	return true;
}

/* ---------------------------------------------------------------------
 * Building
 * --------------------------------------------------------------------- */

TbdrManifest *
tbdr_manifest_create(const char *id, const char *status)
{
	TbdrManifest *m = palloc0(sizeof(TbdrManifest));

	m->format = TBDR_MANIFEST_FORMAT;
	m->id = pstrdup(id);
	m->status = pstrdup(status);
	return m;
}

static void
free_str(char *s)
{
	if (s)
		pfree(s);
}

void
tbdr_manifest_free(TbdrManifest *m)
{
	if (m == NULL)
		return;
	free_str(m->id);
	free_str(m->status);
	free_str(m->label);
	free_str(m->error);
	free_str(m->wal_start);
	free_str(m->wal_stop);
	free_str(m->compression);
	free_str(m->encryption);
	free_str(m->key_fingerprint);
	for (int i = 0; i < m->ntablespaces; i++)
		free_str(m->tablespaces[i].location);
	for (int i = 0; i < m->nparts; i++)
		free_str(m->parts[i].key);
	for (int i = 0; i < m->ndirs; i++)
		free_str(m->dirs[i].path);
	for (int i = 0; i < m->nfiles; i++)
		free_str(m->files[i].path);
	for (int i = 0; i < m->ncorrupt; i++)
		free_str(m->corrupt[i].path);
	if (m->tablespaces)
		pfree(m->tablespaces);
	if (m->parts)
		pfree(m->parts);
	if (m->dirs)
		pfree(m->dirs);
	if (m->files)
		pfree(m->files);
	if (m->corrupt)
		pfree(m->corrupt);
	pfree(m);
}

/* Make room for one more element of an array of elsize-byte elements. */
static void *
grow(void *array, int n, int *max, size_t elsize)
{
	if (n < *max)
		return array;
	*max = *max ? *max * 2 : 16;
	if (array == NULL)
		return palloc0(*max * elsize);
	array = repalloc(array, *max * elsize);
	memset((char *) array + n * elsize, 0, (*max - n) * elsize);
	return array;
}

TbdrManifestFile *
tbdr_manifest_add_file(TbdrManifest *m, const char *path)
{
	TbdrManifestFile *f;

	m->files = grow(m->files, m->nfiles, &m->max_files, sizeof(TbdrManifestFile));
	f = &m->files[m->nfiles++];
	f->path = pstrdup(path);
	return f;
}

TbdrManifestDir *
tbdr_manifest_add_dir(TbdrManifest *m, const char *path, int64 mtime)
{
	TbdrManifestDir *d;

	m->dirs = grow(m->dirs, m->ndirs, &m->max_dirs, sizeof(TbdrManifestDir));
	d = &m->dirs[m->ndirs++];
	d->path = pstrdup(path);
	d->mtime = mtime;
	return d;
}

TbdrManifestPart *
tbdr_manifest_add_part(TbdrManifest *m, int part, const char *key)
{
	TbdrManifestPart *p;

	m->parts = grow(m->parts, m->nparts, &m->max_parts, sizeof(TbdrManifestPart));
	p = &m->parts[m->nparts++];
	p->part = part;
	p->key = pstrdup(key);
	return p;
}

void
tbdr_manifest_add_tablespace(TbdrManifest *m, uint32 oid, const char *location)
{
	TbdrManifestTablespace *t;

	m->tablespaces = grow(m->tablespaces, m->ntablespaces, &m->max_tablespaces,
						  sizeof(TbdrManifestTablespace));
	t = &m->tablespaces[m->ntablespaces++];
	t->oid = oid;
	t->location = pstrdup(location);
}

void
tbdr_manifest_add_corruption(TbdrManifest *m, const char *path, int64 block)
{
	TbdrManifestCorruption *c;

	m->corrupt = grow(m->corrupt, m->ncorrupt, &m->max_corrupt,
					  sizeof(TbdrManifestCorruption));
	c = &m->corrupt[m->ncorrupt++];
	c->path = pstrdup(path);
	c->block = block;
}

void
tbdr_manifest_merge(TbdrManifest *into, const TbdrManifest *from)
{
	for (int i = 0; i < from->ndirs; i++)
		tbdr_manifest_add_dir(into, from->dirs[i].path, from->dirs[i].mtime);
	for (int i = 0; i < from->nfiles; i++)
	{
		TbdrManifestFile *f = tbdr_manifest_add_file(into, from->files[i].path);
		char	   *path = f->path;

		*f = from->files[i];
		f->path = path;
	}
	for (int i = 0; i < from->nparts; i++)
	{
		TbdrManifestPart *p = tbdr_manifest_add_part(into, from->parts[i].part,
													 from->parts[i].key);
		char	   *key = p->key;

		*p = from->parts[i];
		p->key = key;
	}
	for (int i = 0; i < from->ncorrupt; i++)
		tbdr_manifest_add_corruption(into, from->corrupt[i].path,
									 from->corrupt[i].block);
	into->database_bytes += from->database_bytes;
	into->stored_bytes += from->stored_bytes;
}

const TbdrManifestFile *
tbdr_manifest_find_file(const TbdrManifest *m, const char *path)
{
	for (int i = 0; i < m->nfiles; i++)
		if (strcmp(m->files[i].path, path) == 0)
			return &m->files[i];
	return NULL;
}

/* ---------------------------------------------------------------------
 * Writing
 * --------------------------------------------------------------------- */

static void
put_key(StringInfo out, const char *key, bool *first)
{
	if (!*first)
		appendStringInfoString(out, ",\n");
	*first = false;
	appendStringInfo(out, "\"%s\": ", key);
}

static void
put_str(StringInfo out, const char *key, const char *v, bool *first)
{
	put_key(out, key, first);
	if (v)
		tbdr_json_escape(out, v);
	else
		appendStringInfoString(out, "null");
}

static void
put_int(StringInfo out, const char *key, int64 v, bool *first)
{
	put_key(out, key, first);
	appendStringInfo(out, INT64_FORMAT, v);
}

static void
put_time(StringInfo out, const char *key, int64 t, bool *first)
{
	char		buf[32];

	if (t == 0)
	{
		put_str(out, key, NULL, first);
		return;
	}
	tbdr_format_utc(t, buf, sizeof(buf));
	put_str(out, key, buf, first);
}

static void
put_lsn(StringInfo out, const char *key, uint64 lsn, bool *first)
{
	char		buf[32];

	if (lsn == 0)
	{
		put_str(out, key, NULL, first);
		return;
	}
	tbdr_format_lsn(lsn, buf, sizeof(buf));
	put_str(out, key, buf, first);
}

void
tbdr_manifest_write(const TbdrManifest *m, StringInfo out)
{
	bool		first = true;
	char		buf[32];

	appendStringInfoString(out, "{\n");
	put_int(out, "format", m->format, &first);
	put_str(out, "id", m->id, &first);
	put_str(out, "status", m->status, &first);
	put_str(out, "label", m->label, &first);
	put_str(out, "error", m->error, &first);
	put_time(out, "start_time", m->start_time, &first);
	put_time(out, "stop_time", m->stop_time, &first);
	put_lsn(out, "start_lsn", m->start_lsn, &first);
	put_lsn(out, "stop_lsn", m->stop_lsn, &first);
	put_int(out, "timeline", m->timeline, &first);
	put_str(out, "wal_start", m->wal_start, &first);
	put_str(out, "wal_stop", m->wal_stop, &first);
	put_int(out, "pg_version", m->pg_version, &first);
	/* a string: JSON readers often hold numbers as doubles */
	snprintf(buf, sizeof(buf), UINT64_FORMAT, m->system_identifier);
	put_str(out, "system_identifier", buf, &first);
	put_str(out, "compression", m->compression, &first);
	put_int(out, "compression_level", m->compression_level, &first);
	put_str(out, "encryption", m->encryption, &first);
	put_str(out, "key_fingerprint", m->key_fingerprint, &first);
	put_int(out, "database_bytes", m->database_bytes, &first);
	put_int(out, "stored_bytes", m->stored_bytes, &first);

	put_key(out, "tablespaces", &first);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < m->ntablespaces; i++)
	{
		appendStringInfo(out, "%s\n{\"oid\": %u, \"location\": ",
						 i ? "," : "", m->tablespaces[i].oid);
		tbdr_json_escape(out, m->tablespaces[i].location);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ']');

	put_key(out, "parts", &first);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < m->nparts; i++)
	{
		const TbdrManifestPart *p = &m->parts[i];

		appendStringInfo(out, "%s\n{\"part\": %d, \"key\": ", i ? "," : "",
						 p->part);
		tbdr_json_escape(out, p->key);
		appendStringInfo(out, ", \"plain_bytes\": " INT64_FORMAT
						 ", \"stored_bytes\": " INT64_FORMAT
						 ", \"sha256\": \"%s\"}",
						 p->plain_bytes, p->stored_bytes, p->sha256);
	}
	appendStringInfoChar(out, ']');

	put_key(out, "directories", &first);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < m->ndirs; i++)
	{
		appendStringInfo(out, "%s\n{\"path\": ", i ? "," : "");
		tbdr_json_escape(out, m->dirs[i].path);
		appendStringInfo(out, ", \"mtime\": " INT64_FORMAT "}", m->dirs[i].mtime);
	}
	appendStringInfoChar(out, ']');

	put_key(out, "files", &first);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < m->nfiles; i++)
	{
		const TbdrManifestFile *f = &m->files[i];

		appendStringInfo(out, "%s\n{\"path\": ", i ? "," : "");
		tbdr_json_escape(out, f->path);
		appendStringInfo(out, ", \"size\": " INT64_FORMAT
						 ", \"mtime\": " INT64_FORMAT
						 ", \"sha256\": \"%s\", \"part\": %d, \"offset\": "
						 INT64_FORMAT "}",
						 f->size, f->mtime, f->sha256, f->part, f->offset);
	}
	appendStringInfoChar(out, ']');

	put_key(out, "checksum_failures", &first);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < m->ncorrupt; i++)
	{
		appendStringInfo(out, "%s\n{\"path\": ", i ? "," : "");
		tbdr_json_escape(out, m->corrupt[i].path);
		appendStringInfo(out, ", \"block\": " INT64_FORMAT "}",
						 m->corrupt[i].block);
	}
	appendStringInfoString(out, "]\n}\n");
}

/* ---------------------------------------------------------------------
 * Parsing: jsonapi callbacks build a tree of JNodes
 * --------------------------------------------------------------------- */

typedef enum JType
{
	J_NULL,
	J_BOOL,
	J_NUMBER,
	J_STRING,
	J_OBJECT,
	J_ARRAY
} JType;

typedef struct JNode
{
	JType		type;
	char	   *key;			/* member name when inside an object */
	char	   *text;			/* scalar token */
	struct JNode *first;		/* children */
	struct JNode *last;
	struct JNode *next;			/* sibling */
	struct JNode *parent;
} JNode;

typedef struct JBuild
{
	JNode	   *root;
	JNode	   *cur;			/* innermost open container */
	char	   *pending_key;	/* member name for the next value */
} JBuild;

static JNode *
jb_add(JBuild *b, JType type)
{
	JNode	   *n = palloc0(sizeof(JNode));

	n->type = type;
	n->key = b->pending_key;
	b->pending_key = NULL;
	n->parent = b->cur;
	if (b->cur)
	{
		if (b->cur->last)
			b->cur->last->next = n;
		else
			b->cur->first = n;
		b->cur->last = n;
	}
	else if (b->root == NULL)
		b->root = n;
	return n;
}

static TBDR_JSON_CB_RETURN_TYPE
jb_object_start(void *state)
{
	JBuild	   *b = state;

	b->cur = jb_add(b, J_OBJECT);
	TBDR_JSON_CB_RETURN;
}

static TBDR_JSON_CB_RETURN_TYPE
jb_array_start(void *state)
{
	JBuild	   *b = state;

	b->cur = jb_add(b, J_ARRAY);
	TBDR_JSON_CB_RETURN;
}

static TBDR_JSON_CB_RETURN_TYPE
jb_end(void *state)
{
	JBuild	   *b = state;

	if (b->cur)
		b->cur = b->cur->parent;
	TBDR_JSON_CB_RETURN;
}

static TBDR_JSON_CB_RETURN_TYPE
jb_field_start(void *state, char *fname, bool isnull)
{
	JBuild	   *b = state;

	b->pending_key = fname;
	TBDR_JSON_CB_RETURN;
}

static TBDR_JSON_CB_RETURN_TYPE
jb_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JBuild	   *b = state;
	JNode	   *n;
	JType		t;

	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			t = J_STRING;
			break;
		case JSON_TOKEN_NUMBER:
			t = J_NUMBER;
			break;
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
			t = J_BOOL;
			break;
		default:
			t = J_NULL;
			break;
	}
	n = jb_add(b, t);
	n->text = token;
	TBDR_JSON_CB_RETURN;
}

/* Deepest nesting of [ and { outside strings; -1 if unbalanced quotes. */
static int
json_depth(const char *s, size_t len)
{
	int			depth = 0,
				max = 0;
	bool		in_str = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (in_str)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		}
		else if (c == '"')
			in_str = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > max)
				max = depth;
		}
		else if (c == ']' || c == '}')
			depth--;
	}
	return max;
}

static JNode *
j_get(const JNode *obj, const char *key)
{
	for (JNode *n = obj->first; n; n = n->next)
		if (n->key && strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

typedef struct PState
{
	TbdrError  *err;
	const char *where;			/* e.g. "files[3]" */
	bool		failed;
} PState;

static bool
p_fail(PState *ps, const char *key, const char *what)
{
	if (!ps->failed)
		tbdr_error_set(ps->err, TBDR_ERR_CORRUPT,
					   "invalid backup manifest: %s%s\"%s\" %s",
					   ps->where ? ps->where : "", ps->where ? ": " : "",
					   key, what);
	ps->failed = true;
	return false;
}

/* String member; NULL if absent or null (unless required). */
static char *
p_str(PState *ps, const JNode *obj, const char *key, bool required)
{
	JNode	   *n = j_get(obj, key);

	if (n == NULL || n->type == J_NULL)
	{
		if (required)
			p_fail(ps, key, "is missing");
		return NULL;
	}
	if (n->type != J_STRING)
	{
		p_fail(ps, key, "is not a string");
		return NULL;
	}
	return pstrdup(n->text);
}

static int64
p_int(PState *ps, const JNode *obj, const char *key, bool required)
{
	JNode	   *n = j_get(obj, key);
	char	   *end;
	long long	v;

	if (n == NULL || n->type == J_NULL)
	{
		if (required)
			p_fail(ps, key, "is missing");
		return 0;
	}
	if (n->type != J_NUMBER)
	{
		p_fail(ps, key, "is not a number");
		return 0;
	}
	errno = 0;
	v = strtoll(n->text, &end, 10);
	if (*end != '\0' || errno != 0)
	{
		p_fail(ps, key, "is not an integer");
		return 0;
	}
	return (int64) v;
}

static int64
p_time(PState *ps, const JNode *obj, const char *key)
{
	char	   *s = p_str(ps, obj, key, false);
	int64		t = 0;

	if (s && !tbdr_parse_utc(s, &t))
		p_fail(ps, key, "is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)");
	if (s)
		pfree(s);
	return t;
}

static uint64
p_lsn(PState *ps, const JNode *obj, const char *key)
{
	char	   *s = p_str(ps, obj, key, false);
	uint64		lsn = 0;

	if (s && !tbdr_parse_lsn(s, &lsn))
		p_fail(ps, key, "is not an LSN");
	if (s)
		pfree(s);
	return lsn;
}

static void
p_sha(PState *ps, const JNode *obj, char out[65])
{
	char	   *s = p_str(ps, obj, "sha256", true);

	out[0] = '\0';
	if (s == NULL)
		return;
	if (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64)
		p_fail(ps, "sha256", "is not 64 lowercase hex digits");
	else
		memcpy(out, s, 65);
	pfree(s);
}

/* Member key as an array (absent = empty); NULL on a type error. */
static const JNode *
p_array(PState *ps, const JNode *obj, const char *key, bool *ok)
{
	JNode	   *n = j_get(obj, key);

	*ok = true;
	if (n == NULL || n->type == J_NULL)
		return NULL;
	if (n->type != J_ARRAY)
	{
		*ok = false;
		p_fail(ps, key, "is not an array");
		return NULL;
	}
	return n;
}

static bool
p_element_is_object(PState *ps, const JNode *el, const char *array, int i)
{
	if (el->type != J_OBJECT)
	{
		char		buf[64];

		snprintf(buf, sizeof(buf), "%d", i);
		ps->where = NULL;
		p_fail(ps, array, psprintf("element %s is not an object", buf));
		return false;
	}
	return true;
}

static void
free_tree(JNode *n)
{
	while (n)
	{
		JNode	   *next = n->next;

		free_tree(n->first);
		if (n->key)
			pfree(n->key);
		if (n->text)
			pfree(n->text);
		pfree(n);
		n = next;
	}
}

TbdrManifest *
tbdr_manifest_parse(const char *data, size_t len, TbdrError *err)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	JBuild		b;
	JsonParseErrorType rc;
	char	   *copy;
	TbdrManifest *m = NULL;
	PState		ps;
	char	   *s;
	bool		ok;
	const JNode *arr;
	int			i;
	bool		bad = true;		/* until the end is reached */

	memset(&ps, 0, sizeof(ps));
	ps.err = err;
	memset(&b, 0, sizeof(b));

	if (len > (size_t) INT_MAX)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT, "backup manifest is too large");
		return NULL;
	}
	if (memchr(data, '\0', len) != NULL)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "invalid backup manifest: contains a NUL byte");
		return NULL;
	}
	if (json_depth(data, len) > MANIFEST_MAX_DEPTH)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "invalid backup manifest: nested too deeply");
		return NULL;
	}

	copy = palloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &b;
	sem.object_start = jb_object_start;
	sem.object_end = jb_end;
	sem.array_start = jb_array_start;
	sem.array_end = jb_end;
	sem.object_field_start = jb_field_start;
	sem.scalar = jb_scalar;

	lex = tbdr_json_lex_create(copy, len);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
	{
#ifdef FRONTEND
		/* PostgreSQL 15's frontend libpgcommon lacks json_errdetail(). */
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "invalid backup manifest: JSON parse error %d near byte %d",
					   (int) rc,
					   (int) (lex->token_start ? lex->token_start - copy : 0));
#else
		tbdr_error_set(err, TBDR_ERR_CORRUPT, "invalid backup manifest: %s",
					   json_errdetail(rc, lex));
#endif
	}
	tbdr_json_lex_free(lex);
	if (rc != JSON_SUCCESS)
		goto done;
	if (b.root == NULL || b.root->type != J_OBJECT)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "invalid backup manifest: not a JSON object");
		goto done;
	}

	if (p_int(&ps, b.root, "format", true) != TBDR_MANIFEST_FORMAT && !ps.failed)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "backup manifest has an unsupported format");
		tbdr_error_hint(err, "It was written by a newer tbdr; use that version.");
		goto done;
	}
	s = p_str(&ps, b.root, "id", true);
	if (s == NULL)
		goto done;
	m = tbdr_manifest_create(s, "");
	pfree(s);
	pfree(m->status);
	m->status = p_str(&ps, b.root, "status", true);
	if (m->status && strcmp(m->status, "running") != 0 &&
		strcmp(m->status, "complete") != 0 && strcmp(m->status, "failed") != 0)
		p_fail(&ps, "status", "is not running, complete or failed");
	m->label = p_str(&ps, b.root, "label", false);
	m->error = p_str(&ps, b.root, "error", false);
	m->start_time = p_time(&ps, b.root, "start_time");
	m->stop_time = p_time(&ps, b.root, "stop_time");
	m->start_lsn = p_lsn(&ps, b.root, "start_lsn");
	m->stop_lsn = p_lsn(&ps, b.root, "stop_lsn");
	m->timeline = (uint32) p_int(&ps, b.root, "timeline", false);
	m->wal_start = p_str(&ps, b.root, "wal_start", false);
	m->wal_stop = p_str(&ps, b.root, "wal_stop", false);
	m->pg_version = (int) p_int(&ps, b.root, "pg_version", false);
	s = p_str(&ps, b.root, "system_identifier", false);
	if (s)
	{
		char	   *end;

		errno = 0;
		m->system_identifier = strtoull(s, &end, 10);
		if (*end != '\0' || errno != 0)
			p_fail(&ps, "system_identifier", "is not an integer");
		pfree(s);
	}
	m->compression = p_str(&ps, b.root, "compression", false);
	m->compression_level = (int) p_int(&ps, b.root, "compression_level", false);
	m->encryption = p_str(&ps, b.root, "encryption", false);
	m->key_fingerprint = p_str(&ps, b.root, "key_fingerprint", false);
	m->database_bytes = p_int(&ps, b.root, "database_bytes", false);
	m->stored_bytes = p_int(&ps, b.root, "stored_bytes", false);
	if (ps.failed)
		goto done;

	arr = p_array(&ps, b.root, "tablespaces", &ok);
	i = 0;
	for (const JNode *el = arr ? arr->first : NULL; el && !ps.failed; el = el->next, i++)
	{
		char	   *loc;
		int64		oid;

		if (!p_element_is_object(&ps, el, "tablespaces", i))
			break;
		ps.where = "tablespaces";
		oid = p_int(&ps, el, "oid", true);
		loc = p_str(&ps, el, "location", true);
		if (!ps.failed)
			tbdr_manifest_add_tablespace(m, (uint32) oid, loc);
		if (loc)
			pfree(loc);
	}

	arr = p_array(&ps, b.root, "parts", &ok);
	i = 0;
	for (const JNode *el = arr ? arr->first : NULL; el && !ps.failed; el = el->next, i++)
	{
		TbdrManifestPart *p;
		int64		num;
		char	   *key;

		if (!p_element_is_object(&ps, el, "parts", i))
			break;
		ps.where = "parts";
		num = p_int(&ps, el, "part", true);
		key = p_str(&ps, el, "key", true);
		if (ps.failed)
			break;
		if (num < 1 || num > INT_MAX)
		{
			p_fail(&ps, "part", "is out of range");
			break;
		}
		p = tbdr_manifest_add_part(m, (int) num, key);
		pfree(key);
		p->plain_bytes = p_int(&ps, el, "plain_bytes", true);
		p->stored_bytes = p_int(&ps, el, "stored_bytes", true);
		p_sha(&ps, el, p->sha256);
	}

	arr = p_array(&ps, b.root, "directories", &ok);
	i = 0;
	for (const JNode *el = arr ? arr->first : NULL; el && !ps.failed; el = el->next, i++)
	{
		char	   *path;
		int64		mtime;

		if (!p_element_is_object(&ps, el, "directories", i))
			break;
		ps.where = "directories";
		path = p_str(&ps, el, "path", true);
		mtime = p_int(&ps, el, "mtime", false);
		if (!ps.failed)
			tbdr_manifest_add_dir(m, path, mtime);
		if (path)
			pfree(path);
	}

	arr = p_array(&ps, b.root, "files", &ok);
	i = 0;
	for (const JNode *el = arr ? arr->first : NULL; el && !ps.failed; el = el->next, i++)
	{
		TbdrManifestFile *f;
		char	   *path;
		int64		part;

		if (!p_element_is_object(&ps, el, "files", i))
			break;
		ps.where = "files";
		path = p_str(&ps, el, "path", true);
		if (path == NULL)
			break;
		f = tbdr_manifest_add_file(m, path);
		pfree(path);
		f->size = p_int(&ps, el, "size", true);
		f->mtime = p_int(&ps, el, "mtime", false);
		p_sha(&ps, el, f->sha256);
		part = p_int(&ps, el, "part", true);
		f->offset = p_int(&ps, el, "offset", true);
		if (!ps.failed && (f->size < 0 || f->offset < 0 ||
						   part < 1 || part > INT_MAX))
			p_fail(&ps, f->path, "has a negative size or offset, or a bad part");
		f->part = (int) part;
	}

	arr = p_array(&ps, b.root, "checksum_failures", &ok);
	i = 0;
	for (const JNode *el = arr ? arr->first : NULL; el && !ps.failed; el = el->next, i++)
	{
		char	   *path;
		int64		block;

		if (!p_element_is_object(&ps, el, "checksum_failures", i))
			break;
		ps.where = "checksum_failures";
		path = p_str(&ps, el, "path", true);
		block = p_int(&ps, el, "block", true);
		if (!ps.failed)
			tbdr_manifest_add_corruption(m, path, block);
		if (path)
			pfree(path);
	}

	/* every file must be in a listed part */
	for (i = 0; i < m->nfiles && !ps.failed && m->nparts > 0; i++)
	{
		bool		found = false;

		for (int k = 0; k < m->nparts; k++)
			if (m->parts[k].part == m->files[i].part)
				found = true;
		if (!found)
		{
			ps.where = "files";
			p_fail(&ps, m->files[i].path, "refers to a part that is not listed");
		}
	}

	bad = ps.failed;

done:
	if (bad && m)
	{
		tbdr_manifest_free(m);
		m = NULL;
	}
	free_tree(b.root);
	pfree(copy);
	return m;
}
