/*-------------------------------------------------------------------------
 * storage_s3.c
 *	  The S3 storage driver (see storage.h, storage_driver.h).
 *
 * Every request is signed with SigV4 over the real SHA-256 of its body, and
 * every body carries Content-MD5, so S3 verifies each upload; the ETag of a
 * plain upload is checked against our MD5 as well.  Retries happen in the
 * HTTP layer (http.c), never here.
 *
 * Uploads read the source into part-sized buffers: data that ends within
 * the first part goes in one PUT, anything larger in a multipart upload with
 * up to tbdr.s3_parallel parts in flight, aborted on any failure.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <time.h>

#include "core/aws_env.h"
#include "core/digest.h"
#include "core/http.h"
#include "core/s3xml.h"
#include "core/sigv4.h"
#include "core/storage_driver.h"

#define MB (1024 * 1024)
#define S3_MAX_PARTS 10000
#define S3_MIN_PART_SIZE (5 * MB)
#define S3_DELETE_BATCH 1000
/* Answers parsed as XML (lists) are capped at this size. */
#define S3_MAX_XML_ANSWER (16 * MB)
/* Reads from an upload source are done in chunks of this size. */
#define READ_CHUNK (1 * MB)
/* Look-ahead after a full part, to know whether the data ends there. */
#define PEEK_SIZE (64 * 1024)

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct S3Priv
{
	TbdrStorage *st;
	TbdrHttpEngine *eng;
	char	   *scheme;			/* "http" or "https" */
	char	   *authority;		/* host[:port] of the endpoint */
	char	   *endpoint;		/* for messages */
	char	   *region;
	char	   *bucket;
	char	   *prefix;			/* "" or "a/b" */
	TbdrAwsCredentials creds;
	int			uri_style;
	int			sse;
	char	   *sse_kms_key_id;
	char	   *storage_class;
	int64		part_size;		/* bytes */
	int			parallel;
	bool		no_conditional; /* the server answered If-None-Match with
								 * 501: write-once stores HEAD first */
} S3Priv;

/* One S3 request: the HTTP request plus what signing needs. */
typedef struct S3Req
{
	TbdrHttpRequest http;
	S3Priv	   *priv;
	char	   *path;			/* unencoded absolute path */
	TbdrKeyValue query[4];
	int			nquery;
	char		payload_hash[TBDR_SHA256_HEX_LEN];
} S3Req;

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------
 */

/* The object key in the bucket: prefix + "/" + key. */
static char *
full_key(S3Priv *priv, const char *key)
{
	if (priv->prefix[0] == '\0')
		return pstrdup(key);
	return psprintf("%s/%s", priv->prefix, key);
}

static bool
s3_sign(void *arg, TbdrHttpRequest *req, TbdrError *err)
{
	S3Req	   *r = arg;
	S3Priv	   *priv = r->priv;
	TbdrSigV4Request sr;
	char		amz_date[17];
	char	   *auth;

	tbdr_sigv4_amz_date(time(NULL), amz_date);
	tbdr_http_attempt_header(req, "x-amz-date", amz_date);

	memset(&sr, 0, sizeof(sr));
	sr.method = req->method;
	sr.path = r->path;
	sr.query = r->query;
	sr.nquery = r->nquery;
	sr.headers = req->attempt_headers;
	sr.nheaders = req->nattempt_headers;
	sr.payload_hash = r->payload_hash;
	sr.region = priv->region;
	sr.service = "s3";
	sr.access_key_id = priv->creds.access_key_id;
	sr.secret_access_key = priv->creds.secret_access_key;
	sr.amz_date = amz_date;
	auth = tbdr_sigv4_authorization(&sr);
	if (auth == NULL)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "could not sign the request to %s", req->what);
		return false;
	}
	tbdr_http_attempt_header(req, "Authorization", auth);
	pfree(auth);
	return true;
}

/*
 * Set up a request on an object (key: full key in the bucket) or on the
 * bucket (key NULL).  query: name/value pairs (NULL-terminated list of
 * names and values), body may be NULL.
 */
static void
s3req_init(S3Req *r, S3Priv *priv, const char *method, const char *fkey,
		   const char *const *query, const char *body, size_t body_len,
		   const char *what)
{
	StringInfoData path;
	StringInfoData url;
	char	   *host;
	char	   *cpath;

	memset(r, 0, sizeof(*r));
	r->priv = priv;

	initStringInfo(&path);
	if (priv->uri_style == TBDR_URI_STYLE_HOST)
		host = psprintf("%s.%s", priv->bucket, priv->authority);
	else
	{
		host = pstrdup(priv->authority);
		appendStringInfo(&path, "/%s", priv->bucket);
	}
	if (fkey)
		appendStringInfo(&path, "/%s", fkey);
	else if (path.len == 0)
		appendStringInfoChar(&path, '/');
	r->path = path.data;

	for (int i = 0; query && query[i]; i += 2)
	{
		Assert(r->nquery < lengthof(r->query));
		r->query[r->nquery].name = pstrdup(query[i]);
		r->query[r->nquery].value = pstrdup(query[i + 1] ? query[i + 1] : "");
		r->nquery++;
	}

	initStringInfo(&url);
	cpath = tbdr_sigv4_canonical_path(r->path);
	appendStringInfo(&url, "%s://%s%s", priv->scheme, host, cpath);
	pfree(cpath);
	if (r->nquery > 0)
	{
		char	   *q = tbdr_sigv4_canonical_query(r->query, r->nquery);

		appendStringInfo(&url, "?%s", q);
		pfree(q);
	}

	tbdr_http_request_init(&r->http, method, url.data, what);
	pfree(url.data);
	r->http.sign = s3_sign;
	r->http.sign_arg = r;
	r->http.user = r;
	r->http.max_response = S3_MAX_XML_ANSWER;

	tbdr_http_add_header(&r->http, "Host", host);
	pfree(host);

	if (body && body_len > 0)
	{
		unsigned char md5[TBDR_MD5_LEN];
		char	   *b64;

		tbdr_sha256_hex(body, body_len, r->payload_hash);
		tbdr_md5(body, body_len, md5);
		b64 = tbdr_base64_encode(md5, TBDR_MD5_LEN);
		tbdr_http_add_header(&r->http, "Content-MD5", b64);
		pfree(b64);
		r->http.body = body;
		r->http.body_len = body_len;
	}
	else
		strlcpy(r->payload_hash, EMPTY_SHA256, sizeof(r->payload_hash));
	tbdr_http_add_header(&r->http, "x-amz-content-sha256", r->payload_hash);
	if (priv->creds.session_token && priv->creds.session_token[0])
		tbdr_http_add_header(&r->http, "x-amz-security-token", priv->creds.session_token);
}

static void
s3req_free(S3Req *r)
{
	tbdr_http_request_free(r->priv->eng, &r->http);
	for (int i = 0; i < r->nquery; i++)
	{
		pfree((char *) r->query[i].name);
		pfree((char *) r->query[i].value);
	}
	if (r->path)
		pfree(r->path);
	r->nquery = 0;
	r->path = NULL;
}

/* Headers of object creation: encryption and storage class. */
static void
add_put_headers(S3Priv *priv, S3Req *r)
{
	if (priv->sse == TBDR_SSE_AES256)
		tbdr_http_add_header(&r->http, "x-amz-server-side-encryption", "AES256");
	else if (priv->sse == TBDR_SSE_KMS)
	{
		tbdr_http_add_header(&r->http, "x-amz-server-side-encryption", "aws:kms");
		if (priv->sse_kms_key_id && priv->sse_kms_key_id[0])
			tbdr_http_add_header(&r->http, "x-amz-server-side-encryption-aws-kms-key-id",
								 priv->sse_kms_key_id);
	}
	if (priv->storage_class && priv->storage_class[0])
		tbdr_http_add_header(&r->http, "x-amz-storage-class", priv->storage_class);
}

static void
note_date(S3Priv *priv, const TbdrHttpRequest *req)
{
	if (req->date > 0)
		priv->st->server_date = req->date;
}

/*
 * Run one request to its final answer.  Returns false only when there is no
 * HTTP answer (network failure after retries); the status is then checked
 * by the caller.
 */
static bool
s3_perform(S3Priv *priv, S3Req *r, TbdrError *err)
{
	bool		ok = tbdr_http_perform(priv->eng, &r->http, err);

	note_date(priv, &r->http);
	return ok;
}

/*
 * Run a request whose only good answer is 200 with an XML body (lists,
 * CreateMultipartUpload): false with err filled on any other outcome.
 */
static bool
s3_perform_200(S3Priv *priv, S3Req *r, TbdrError *err)
{
	if (!s3_perform(priv, r, err))
		return false;
	if (r->http.status != 200)
	{
		tbdr_http_answer_error(&r->http, err);
		return false;
	}
	return true;
}

/*
 * The full-key prefix of a listing: the repository's root ("" or
 * "prefix/") followed by prefix; *rootlen gets the root's length.
 */
static char *
list_prefix(S3Priv *priv, const char *prefix, size_t *rootlen)
{
	*rootlen = priv->prefix[0] ? strlen(priv->prefix) + 1 : 0;
	return psprintf("%s%s%s", priv->prefix, priv->prefix[0] ? "/" : "",
					prefix ? prefix : "");
}

/* "s3://bucket/key" for messages. */
static char *
what_key(S3Priv *priv, const char *verb, const char *fkey)
{
	return psprintf("%s s3://%s/%s", verb, priv->bucket, fkey);
}

/* ------------------------------------------------------------------------
 * HEAD, GET, DELETE
 * ------------------------------------------------------------------------
 */

static int
head_fkey(S3Priv *priv, const char *key, const char *fkey,
		  TbdrObjectInfo *info, TbdrError *err)
{
	char	   *what = what_key(priv, "check", fkey);
	S3Req		r;
	int			result = -1;

	s3req_init(&r, priv, "HEAD", fkey, NULL, NULL, 0, what);
	if (s3_perform(priv, &r, err))
	{
		if (r.http.status == 200)
		{
			if (info)
			{
				info->key = key;
				info->size = r.http.content_length;
				info->mtime = r.http.last_modified;
				info->etag = r.http.etag ? pstrdup(r.http.etag) : NULL;
			}
			result = 1;
		}
		else if (r.http.status == 404)
			result = 0;
		else
			tbdr_http_answer_error(&r.http, err);
	}
	s3req_free(&r);
	pfree(what);
	return result;
}

static int
s3_head(TbdrStorage *st, const char *key, TbdrObjectInfo *info, TbdrError *err)
{
	S3Priv	   *priv = st->priv;
	char	   *fkey = full_key(priv, key);
	int			result = head_fkey(priv, key, fkey, info, err);

	pfree(fkey);
	return result;
}

/*
 * A write-once store whose conditional request the server does not
 * implement (501): remember that, and decide with a HEAD (not atomic; see
 * tbdr_storage_put_new).  1: the key is free, store unconditionally; 0: it
 * exists (*existed set); -1: error.
 */
static int
conditional_fallback(S3Priv *priv, const char *fkey, bool *existed, TbdrError *err)
{
	int			found;

	priv->no_conditional = true;
	tbdr_error_clear(err);
	found = head_fkey(priv, fkey, fkey, NULL, err);
	if (found > 0)
		*existed = true;
	return found < 0 ? -1 : (found == 0 ? 1 : 0);
}

static bool
s3_get(TbdrStorage *st, const char *key, int64 offset, int64 length,
	   TbdrWriteFn write, void *arg, TbdrError *err)
{
	S3Priv	   *priv = st->priv;
	char	   *fkey;
	char	   *what;
	S3Req		r;
	bool		ok = false;

	if (offset < 0)
		offset = 0;
	if (length == 0)
	{
		/* nothing to read, but a missing object is still an error */
		int			rc = s3_head(st, key, NULL, err);

		if (rc == 0)
		{
			fkey = full_key(priv, key);
			tbdr_error_set(err, TBDR_ERR_NOT_FOUND, "could not read s3://%s/%s: no such object",
						   priv->bucket, fkey);
			pfree(fkey);
		}
		return rc == 1;
	}

	fkey = full_key(priv, key);
	what = what_key(priv, "read", fkey);
	s3req_init(&r, priv, "GET", fkey, NULL, NULL, 0, what);
	r.http.write = write;
	r.http.write_arg = arg;
	if (offset > 0 || length > 0)
	{
		r.http.range_start = offset;
		r.http.range_end = length > 0 ? offset + length - 1 : -1;
	}

	if (s3_perform(priv, &r, err))
	{
		if (r.http.status == 200 || r.http.status == 206)
		{
			if (length > 0 && r.http.delivered != length)
			{
				tbdr_error_set(err, TBDR_ERR_CORRUPT,
							   "could not %s: got " INT64_FORMAT " bytes of the " INT64_FORMAT " asked for from offset " INT64_FORMAT,
							   what, r.http.delivered, length, offset);
				tbdr_error_hint(err, "The object is shorter than expected.");
			}
			else
				ok = true;
		}
		else
		{
			tbdr_http_answer_error(&r.http, err);
			if (r.http.status == 404)
				err->code = TBDR_ERR_NOT_FOUND;
		}
	}
	s3req_free(&r);
	pfree(what);
	pfree(fkey);
	return ok;
}

static bool
s3_delete(TbdrStorage *st, const char *key, TbdrError *err)
{
	S3Priv	   *priv = st->priv;
	char	   *fkey = full_key(priv, key);
	char	   *what = what_key(priv, "delete", fkey);
	S3Req		r;
	bool		ok = false;

	s3req_init(&r, priv, "DELETE", fkey, NULL, NULL, 0, what);
	if (s3_perform(priv, &r, err))
	{
		if ((r.http.status >= 200 && r.http.status < 300) || r.http.status == 404)
			ok = true;
		else
			tbdr_http_answer_error(&r.http, err);
	}
	s3req_free(&r);
	pfree(what);
	pfree(fkey);
	return ok;
}

/* ------------------------------------------------------------------------
 * DeleteObjects
 * ------------------------------------------------------------------------
 */

static bool
delete_batch(S3Priv *priv, const char *const *keys, int nkeys, TbdrError *err)
{
	static const char *const query[] = {"delete", "", NULL};
	StringInfoData body;
	S3Req		r;
	bool		ok = false;
	char	   *what;

	initStringInfo(&body);
	appendStringInfoString(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
						   "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
	for (int i = 0; i < nkeys; i++)
	{
		char	   *fkey = full_key(priv, keys[i]);

		appendStringInfoString(&body, "<Object><Key>");
		tbdr_xml_escape(&body, fkey);
		appendStringInfoString(&body, "</Key></Object>");
		pfree(fkey);
	}
	appendStringInfoString(&body, "</Delete>");

	what = psprintf("delete %d objects in s3://%s/%s", nkeys, priv->bucket, priv->prefix);
	s3req_init(&r, priv, "POST", NULL, query, body.data, body.len, what);
	if (s3_perform(priv, &r, err))
	{
		if (r.http.status == 200)
		{
			TbdrS3DeleteResult res;

			if (tbdr_s3xml_parse_delete(r.http.response.data, r.http.response.len, &res, err))
			{
				if (res.nerrors > 0)
				{
					tbdr_error_set(err, TBDR_ERR_S3, "could not delete %d of %d objects in s3://%s: %s: %s",
								   res.nerrors, nkeys, priv->bucket,
								   res.errors[0].key ? res.errors[0].key : "?",
								   res.errors[0].message && res.errors[0].message[0] ?
								   res.errors[0].message : "error");
					if (res.errors[0].code)
						strlcpy(err->s3_code, res.errors[0].code, sizeof(err->s3_code));
					err->http_status = 200;
					strlcpy(err->request_id, r.http.request_id, sizeof(err->request_id));
					if (strcmp(err->s3_code, "AccessDenied") == 0)
						tbdr_error_hint(err, "Check that the credentials may delete objects under tbdr.repository.");
				}
				else
					ok = true;
				tbdr_s3xml_free_delete(&res);
			}
			else
				tbdr_error_prefix(err, "could not %s: ", what);
		}
		else
			tbdr_http_answer_error(&r.http, err);
	}
	s3req_free(&r);
	pfree(what);
	pfree(body.data);
	return ok;
}

static bool
s3_delete_many(TbdrStorage *st, const char *const *keys, int nkeys, TbdrError *err)
{
	S3Priv	   *priv = st->priv;

	for (int i = 0; i < nkeys; i += S3_DELETE_BATCH)
	{
		if (!delete_batch(priv, keys + i, Min(S3_DELETE_BATCH, nkeys - i), err))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * Listing
 * ------------------------------------------------------------------------
 */

/* "2024-01-02T03:04:05.000Z" -> time_t, 0 if malformed. */
static time_t
parse_iso8601(const char *s)
{
	struct tm	tm;

	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

static bool
s3_list(TbdrStorage *st, const char *prefix, TbdrListFn fn, void *arg, TbdrError *err)
{
	S3Priv	   *priv = st->priv;
	size_t		rootlen;
	char	   *lprefix = list_prefix(priv, prefix, &rootlen);
	char	   *token = NULL;
	char	   *what = psprintf("list s3://%s/%s", priv->bucket, lprefix);
	bool		ok = true;

	for (;;)
	{
		const char *query[7];
		int			nq = 0;
		S3Req		r;
		TbdrS3ListResult res;
		bool		more = false;

		query[nq++] = "list-type";
		query[nq++] = "2";
		query[nq++] = "prefix";
		query[nq++] = lprefix;
		if (token)
		{
			query[nq++] = "continuation-token";
			query[nq++] = token;
		}
		query[nq] = NULL;

		s3req_init(&r, priv, "GET", NULL, query, NULL, 0, what);
		if (!s3_perform_200(priv, &r, err))
			ok = false;
		else if (!tbdr_s3xml_parse_list(r.http.response.data, r.http.response.len, &res, err))
		{
			tbdr_error_prefix(err, "could not %s: ", what);
			ok = false;
		}
		else
		{
			for (int i = 0; i < res.nentries && ok; i++)
			{
				TbdrS3ListEntry *e = &res.entries[i];
				TbdrObjectInfo info;

				/* S3 lists only keys under lprefix, hence under the root */
				if (strncmp(e->key, lprefix, rootlen) != 0)
					continue;
				info.key = e->key + rootlen;
				info.size = e->size;
				info.mtime = parse_iso8601(e->last_modified);
				info.etag = e->etag;
				if (!fn(arg, &info, err))
					ok = false;
			}
			if (token)
				pfree(token);
			token = NULL;
			if (ok && res.is_truncated)
			{
				if (res.next_continuation_token == NULL || res.next_continuation_token[0] == '\0')
				{
					tbdr_error_set(err, TBDR_ERR_CORRUPT,
								   "could not %s: truncated listing without a continuation token", what);
					ok = false;
				}
				else
				{
					token = pstrdup(res.next_continuation_token);
					more = true;
				}
			}
			tbdr_s3xml_free_list(&res);
		}
		s3req_free(&r);
		if (!ok || !more)
			break;
	}
	if (token)
		pfree(token);
	pfree(what);
	pfree(lprefix);
	return ok;
}

/* ------------------------------------------------------------------------
 * Uploads
 * ------------------------------------------------------------------------
 */

static void *
alloc_huge(size_t size)
{
#ifdef FRONTEND
	return palloc(size);
#else
	return palloc_extended(size, MCXT_ALLOC_HUGE);
#endif
}

static bool
put_single(S3Priv *priv, const char *fkey, const char *data, size_t len,
		   bool *existed, TbdrError *err)
{
	char	   *what = what_key(priv, "upload", fkey);
	S3Req		r;
	bool		ok = false;
	bool		unsupported = false;

	s3req_init(&r, priv, "PUT", fkey, NULL, data, len, what);
	add_put_headers(priv, &r);
	if (existed)
		tbdr_http_add_header(&r.http, "If-None-Match", "*");
	if (s3_perform(priv, &r, err))
	{
		if (existed && r.http.status == 412)
		{
			*existed = true;
			ok = true;
		}
		else if (existed && r.http.status == 501)
			unsupported = true;
		else if (r.http.status == 200)
		{
			unsigned char md5[TBDR_MD5_LEN];
			char		md5hex[2 * TBDR_MD5_LEN + 1];

			tbdr_md5(data, len, md5);
			tbdr_hex_encode(md5, TBDR_MD5_LEN, md5hex);
			/* with SSE-KMS the ETag is not the MD5 */
			if (priv->sse != TBDR_SSE_KMS && r.http.etag &&
				pg_strcasecmp(r.http.etag, md5hex) != 0)
			{
				tbdr_error_set(err, TBDR_ERR_CORRUPT,
							   "could not %s: the server's ETag does not match the data sent", what);
				tbdr_error_detail(err, "ETag \"%s\", MD5 of the data %s.", r.http.etag, md5hex);
			}
			else
				ok = true;
		}
		else
			tbdr_http_answer_error(&r.http, err);
	}
	s3req_free(&r);
	pfree(what);
	if (unsupported)
	{
		int			free_key = conditional_fallback(priv, fkey, existed, err);

		ok = free_key == 0 ||
			(free_key > 0 && put_single(priv, fkey, data, len, NULL, err));
	}
	return ok;
}

/* State of a multipart upload. */
typedef struct Upload
{
	S3Priv	   *priv;
	char	   *fkey;
	char	   *upload_id;
	TbdrReadFn	read;
	void	   *read_arg;
	int64		part_size;
	char	   *peek;			/* look-ahead after a full part */
	size_t		peek_len;
	bool		eof;
	int64		total;
	bool	   *existed;		/* write-once: set if the key was taken */
} Upload;

typedef struct PartSlot
{
	char	   *buf;
	size_t		cap;
	size_t		len;
	int			part_number;
	bool		busy;
	char		md5hex[2 * TBDR_MD5_LEN + 1];
	unsigned char md5[TBDR_MD5_LEN];
	S3Req		req;
} PartSlot;

static void
grow_slot(PartSlot *slot, size_t cap)
{
	if (cap <= slot->cap)
		return;
	if (slot->buf == NULL)
		slot->buf = alloc_huge(Max(cap, 1));
	else
#ifdef FRONTEND
		slot->buf = repalloc(slot->buf, cap);
#else
		slot->buf = repalloc_huge(slot->buf, cap);
#endif
	slot->cap = cap;
}

/*
 * Fill a slot with the next part of the source: up to part_size bytes,
 * growing the slot's buffer as needed.  The engine keeps running between
 * reads, so that parts in flight do not stall while the source is slow.
 * Sets up->eof when the data ends with this part.
 */
static bool
fill_part(Upload *up, PartSlot *slot, TbdrError *err)
{
	size_t		n = 0;
	size_t		part_size = (size_t) up->part_size;

	if (up->peek_len > 0)
	{
		if (slot->cap < up->peek_len)
			grow_slot(slot, Min(part_size, Max((size_t) READ_CHUNK, up->peek_len)));
		memcpy(slot->buf, up->peek, up->peek_len);
		n = up->peek_len;
		up->peek_len = 0;
	}
	while (!up->eof && n < part_size)
	{
		ssize_t		got;

		if (n == slot->cap)
			grow_slot(slot, Min(part_size, Max(slot->cap * 2, (size_t) READ_CHUNK)));
		got = up->read(up->read_arg, slot->buf + n,
					   Min((size_t) READ_CHUNK, slot->cap - n), err);
		if (got < 0)
			return false;
		if (got == 0)
			up->eof = true;
		n += got;
		if (tbdr_http_active(up->priv->eng) > 0)
			tbdr_http_poll(up->priv->eng);
	}
	if (!up->eof)
	{
		/* full part: is there more? */
		ssize_t		got = up->read(up->read_arg, up->peek, PEEK_SIZE, err);

		if (got < 0)
			return false;
		if (got == 0)
			up->eof = true;
		up->peek_len = got;
	}
	slot->len = n;
	up->total += n;
	return true;
}

static bool
create_upload(Upload *up, TbdrError *err)
{
	static const char *const query[] = {"uploads", "", NULL};
	S3Priv	   *priv = up->priv;
	char	   *what = what_key(priv, "start a multipart upload of", up->fkey);
	S3Req		r;
	bool		ok = false;

	s3req_init(&r, priv, "POST", up->fkey, query, NULL, 0, what);
	add_put_headers(priv, &r);
	if (s3_perform_200(priv, &r, err))
	{
		if (tbdr_s3xml_parse_initiate(r.http.response.data, r.http.response.len,
									  &up->upload_id, err))
			ok = true;
		else
			tbdr_error_prefix(err, "could not %s: ", what);
	}
	s3req_free(&r);
	pfree(what);
	return ok;
}

/* Best effort: the original error is what the caller reports. */
static bool
abort_upload(S3Priv *priv, const char *fkey, const char *upload_id)
{
	const char *query[] = {"uploadId", upload_id, NULL};
	char	   *what = what_key(priv, "abort the multipart upload of", fkey);
	S3Req		r;
	TbdrError	err;
	bool		ok = false;

	tbdr_error_clear(&err);
	s3req_init(&r, priv, "DELETE", fkey, query, NULL, 0, what);
	if (s3_perform(priv, &r, &err))
		ok = (r.http.status >= 200 && r.http.status < 300) || r.http.status == 404;
	s3req_free(&r);
	pfree(what);
	return ok;
}

static void
start_part(Upload *up, PartSlot *slot)
{
	S3Priv	   *priv = up->priv;
	char		num[16];
	const char *query[] = {"partNumber", num, "uploadId", up->upload_id, NULL};
	char	   *what;

	snprintf(num, sizeof(num), "%d", slot->part_number);
	what = psprintf("upload part %d of s3://%s/%s", slot->part_number, priv->bucket, up->fkey);
	s3req_init(&slot->req, priv, "PUT", up->fkey, query, slot->buf, slot->len, what);
	pfree(what);
	tbdr_md5(slot->buf, slot->len, slot->md5);
	tbdr_hex_encode(slot->md5, TBDR_MD5_LEN, slot->md5hex);
	slot->busy = true;
	tbdr_http_start(priv->eng, &slot->req.http, NULL);
}

/* Check a finished part; on success its ETag goes to etags[]. */
static bool
finish_part(Upload *up, PartSlot *slot, char **etags, TbdrError *err)
{
	TbdrHttpRequest *req = &slot->req.http;
	bool		ok = false;

	note_date(up->priv, req);
	if (!req->ok)
		*err = req->err;
	else if (req->status != 200)
		tbdr_http_answer_error(req, err);
	else if (req->etag == NULL || req->etag[0] == '\0')
		tbdr_error_set(err, TBDR_ERR_S3, "could not %s: the answer has no ETag", req->what);
	else if (up->priv->sse != TBDR_SSE_KMS && pg_strcasecmp(req->etag, slot->md5hex) != 0)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "could not %s: the server's ETag does not match the data sent", req->what);
		tbdr_error_detail(err, "ETag \"%s\", MD5 of the data %s.", req->etag, slot->md5hex);
	}
	else
	{
		etags[slot->part_number - 1] = pstrdup(req->etag);
		ok = true;
	}
	s3req_free(&slot->req);
	slot->busy = false;
	return ok;
}

static bool
complete_upload(Upload *up, char **etags, int nparts, const unsigned char *md5s,
				TbdrError *err)
{
	S3Priv	   *priv = up->priv;
	const char *query[] = {"uploadId", up->upload_id, NULL};
	char	   *what = what_key(priv, "complete the multipart upload of", up->fkey);
	StringInfoData body;
	S3Req		r;
	bool		ok = false;
	bool		unsupported = false;

	initStringInfo(&body);
	appendStringInfoString(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
						   "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (int i = 0; i < nparts; i++)
	{
		appendStringInfo(&body, "<Part><PartNumber>%d</PartNumber><ETag>\"", i + 1);
		tbdr_xml_escape(&body, etags[i]);
		appendStringInfoString(&body, "\"</ETag></Part>");
	}
	appendStringInfoString(&body, "</CompleteMultipartUpload>");

	s3req_init(&r, priv, "POST", up->fkey, query, body.data, body.len, what);
	if (up->existed)
		tbdr_http_add_header(&r.http, "If-None-Match", "*");
	if (s3_perform(priv, &r, err))
	{
		if (up->existed && r.http.status == 412)
		{
			/* taken: the caller aborts the upload */
			*up->existed = true;
			ok = true;
		}
		else if (up->existed && r.http.status == 501)
			unsupported = true;
		else if (r.http.status == 200)
		{
			char	   *etag = NULL;

			/* a 200 answer may still carry an <Error> */
			if (tbdr_s3xml_parse_complete(r.http.response.data, r.http.response.len, &etag, err))
			{
				ok = true;
				pfree(etag);
			}
			else
				tbdr_error_prefix(err, "could not %s: ", what);
		}
		else if (r.http.status == 404 && r.http.attempts > 1)
		{
			/*
			 * An earlier attempt may have completed the upload and lost its
			 * answer: then the object is there with the multipart ETag of
			 * our parts.
			 */
			TbdrS3ErrorInfo info;
			bool		no_upload = false;

			if (tbdr_s3xml_parse_error(r.http.response.data, r.http.response.len, &info))
			{
				no_upload = strcmp(info.code, "NoSuchUpload") == 0;
				tbdr_s3xml_free_error_info(&info);
			}
			tbdr_http_answer_error(&r.http, err);
			if (no_upload)
			{
				unsigned char md5[TBDR_MD5_LEN];
				char		hex[2 * TBDR_MD5_LEN + 1];
				char	   *expected;
				S3Req		h;
				TbdrError	herr;
				char	   *hwhat = what_key(priv, "check", up->fkey);

				tbdr_md5(md5s, (size_t) nparts * TBDR_MD5_LEN, md5);
				tbdr_hex_encode(md5, TBDR_MD5_LEN, hex);
				expected = psprintf("%s-%d", hex, nparts);
				s3req_init(&h, priv, "HEAD", up->fkey, NULL, NULL, 0, hwhat);
				if (s3_perform(priv, &h, &herr) && h.http.status == 200 &&
					h.http.etag && pg_strcasecmp(h.http.etag, expected) == 0 &&
					h.http.content_length == up->total)
				{
					tbdr_error_clear(err);
					ok = true;
				}
				s3req_free(&h);
				pfree(hwhat);
				pfree(expected);
			}
		}
		else
			tbdr_http_answer_error(&r.http, err);
	}
	s3req_free(&r);
	pfree(body.data);
	pfree(what);
	if (unsupported)
	{
		bool	   *existed = up->existed;
		int			free_key = conditional_fallback(priv, up->fkey, existed, err);

		ok = free_key == 0;
		if (free_key > 0)
		{
			up->existed = NULL;
			ok = complete_upload(up, etags, nparts, md5s, err);
			up->existed = existed;
		}
	}
	return ok;
}

/* The parts started so far: their ETags (as they finish) and MD5s. */
typedef struct PartList
{
	char	  **etags;
	unsigned char *md5s;
	int			nparts;
	int			max;
} PartList;

/* Number the filled slot as the next part and start it. */
static void
start_next_part(Upload *up, PartSlot *slot, PartList *pl)
{
	if (pl->nparts >= pl->max)
	{
		pl->max *= 2;
		pl->etags = repalloc(pl->etags, pl->max * sizeof(char *));
		memset(pl->etags + pl->nparts, 0, (pl->max - pl->nparts) * sizeof(char *));
		pl->md5s = repalloc(pl->md5s, pl->max * TBDR_MD5_LEN);
	}
	slot->part_number = ++pl->nparts;
	start_part(up, slot);
	memcpy(pl->md5s + (pl->nparts - 1) * TBDR_MD5_LEN, slot->md5, TBDR_MD5_LEN);
}

/* Fill free slots and start their parts while there is data. */
static bool
refill_slots(Upload *up, PartSlot *slots, int nslots, PartList *pl,
			 int *inflight, TbdrError *err)
{
	while (!up->eof && *inflight < nslots)
	{
		PartSlot   *free_slot = NULL;

		for (int i = 0; i < nslots; i++)
			if (!slots[i].busy)
			{
				free_slot = &slots[i];
				break;
			}
		Assert(free_slot);
		if (!fill_part(up, free_slot, err))
			return false;
		if (free_slot->len == 0)
			break;				/* the data ended exactly at a part boundary */
		if (pl->nparts >= S3_MAX_PARTS)
		{
			tbdr_error_set(err, TBDR_ERR_CONFIG,
						   "could not upload s3://%s/%s: more than %d parts of %d MB",
						   up->priv->bucket, up->fkey, S3_MAX_PARTS, (int) (up->part_size / MB));
			tbdr_error_hint(err, "Raise tbdr.s3_part_size, or give the size of the data in advance.");
			return false;
		}
		start_next_part(up, free_slot, pl);
		(*inflight)++;
	}
	return true;
}

/* Wait for one part to finish and record its ETag. */
static bool
wait_part(Upload *up, PartSlot *slots, int nslots, PartList *pl,
		  int *inflight, TbdrError *err)
{
	TbdrHttpRequest *done = tbdr_http_wait(up->priv->eng);
	PartSlot   *slot = NULL;

	if (done == NULL)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "multipart upload lost track of its parts");
		return false;
	}
	for (int i = 0; i < nslots; i++)
		if (slots[i].busy && &slots[i].req.http == done)
			slot = &slots[i];
	Assert(slot);
	(*inflight)--;
	return finish_part(up, slot, pl->etags, err);
}

/* After a failure: stop the other parts (the upload is then aborted). */
static void
stop_parts(PartSlot *slots, int nslots)
{
	for (int i = 0; i < nslots; i++)
		if (slots[i].busy)
		{
			s3req_free(&slots[i].req);
			slots[i].busy = false;
		}
}

/*
 * Store the data as a multipart upload, nslots parts at a time; slot 0
 * holds part 1 already.  An upload that fails is aborted.
 */
static bool
put_multipart(Upload *up, PartSlot *slots, int nslots, TbdrError *err)
{
	PartList	pl;
	int			inflight = 0;
	bool		failed = false;
	bool		ok = false;

	if (!create_upload(up, err))
		return false;

	pl.max = 64;
	pl.nparts = 0;
	pl.etags = palloc0(pl.max * sizeof(char *));
	pl.md5s = palloc(pl.max * TBDR_MD5_LEN);
	start_next_part(up, &slots[0], &pl);
	inflight++;

	for (;;)
	{
		if (!failed && !refill_slots(up, slots, nslots, &pl, &inflight, err))
			failed = true;
		if (inflight == 0)
			break;
		if (failed)
		{
			stop_parts(slots, nslots);
			break;
		}
		if (!wait_part(up, slots, nslots, &pl, &inflight, err))
			failed = true;
	}

	if (!failed)
		ok = complete_upload(up, pl.etags, pl.nparts, pl.md5s, err);
	if (ok && up->existed && *up->existed)
		(void) abort_upload(up->priv, up->fkey, up->upload_id);
	else if (!ok && !abort_upload(up->priv, up->fkey, up->upload_id))
	{
		char		detail[sizeof(err->detail)];

		strlcpy(detail, err->detail, sizeof(detail));
		tbdr_error_detail(err, "%s%sThe incomplete multipart upload could not be aborted; \"tbdr cleanup\" removes it.",
						  detail, detail[0] ? " " : "");
	}

	for (int i = 0; i < pl.max; i++)
		if (pl.etags[i])
			pfree(pl.etags[i]);
	pfree(pl.etags);
	pfree(pl.md5s);
	return ok;
}

static bool
s3_put(TbdrStorage *st, const char *key, TbdrReadFn read, void *arg,
	   int64 size_hint, bool if_absent, bool *existed, TbdrError *err)
{
	S3Priv	   *priv = st->priv;
	Upload		up;
	PartSlot   *slots;
	int			nslots = Max(1, priv->parallel);
	bool		ok = false;

	memset(&up, 0, sizeof(up));
	up.priv = priv;
	up.fkey = full_key(priv, key);
	if (if_absent && priv->no_conditional)
	{
		int			free_key = conditional_fallback(priv, up.fkey, existed, err);

		if (free_key <= 0)
		{
			pfree(up.fkey);
			return free_key == 0;
		}
	}
	else if (if_absent)
		up.existed = existed;
	up.read = read;
	up.read_arg = arg;
	up.part_size = priv->part_size;
	if (size_hint > 0 && (size_hint + up.part_size - 1) / up.part_size > S3_MAX_PARTS)
	{
		/* grow the parts so that the object fits in 10000 of them */
		int64		need = (size_hint + S3_MAX_PARTS - 1) / S3_MAX_PARTS;

		up.part_size = ((need + MB - 1) / MB) * MB;
	}
	up.peek = palloc(PEEK_SIZE);

	slots = palloc0(nslots * sizeof(PartSlot));

	/*
	 * The first buffer: data of a known small size gets a small buffer (one
	 * byte more than announced, to see the end without growing), so that
	 * storing a 100-byte file does not touch part_size bytes of memory.
	 */
	if (size_hint >= 0 && size_hint < up.part_size)
		grow_slot(&slots[0], (size_t) size_hint + 1);
	else
		grow_slot(&slots[0], (size_t) up.part_size);
	if (!fill_part(&up, &slots[0], err))
		goto done;

	if (up.eof && up.peek_len == 0)
	{
		ok = put_single(priv, up.fkey, slots[0].buf, slots[0].len, up.existed, err);
		goto done;
	}

	for (int i = 1; i < nslots; i++)
		grow_slot(&slots[i], (size_t) up.part_size);
	ok = put_multipart(&up, slots, nslots, err);

done:
	for (int i = 0; i < nslots; i++)
	{
		if (slots[i].busy)
			s3req_free(&slots[i].req);
		if (slots[i].buf)
			pfree(slots[i].buf);
	}
	pfree(slots);
	pfree(up.peek);
	if (up.upload_id)
		pfree(up.upload_id);
	pfree(up.fkey);
	return ok;
}

/* ------------------------------------------------------------------------
 * Incomplete uploads
 * ------------------------------------------------------------------------
 */

static bool
s3_cleanup_uploads(TbdrStorage *st, const char *prefix, int *count, TbdrError *err)
{
	S3Priv	   *priv = st->priv;
	size_t		rootlen;
	char	   *lprefix = list_prefix(priv, prefix, &rootlen);
	char	   *key_marker = NULL;
	char	   *id_marker = NULL;
	char	   *what = psprintf("list the multipart uploads in s3://%s/%s", priv->bucket, lprefix);
	bool		ok = true;
	int			n = 0;

	for (;;)
	{
		const char *query[9];
		int			nq = 0;
		S3Req		r;
		TbdrS3UploadList res;
		bool		more = false;

		query[nq++] = "uploads";
		query[nq++] = "";
		query[nq++] = "prefix";
		query[nq++] = lprefix;
		if (key_marker)
		{
			query[nq++] = "key-marker";
			query[nq++] = key_marker;
			if (id_marker)
			{
				query[nq++] = "upload-id-marker";
				query[nq++] = id_marker;
			}
		}
		query[nq] = NULL;

		s3req_init(&r, priv, "GET", NULL, query, NULL, 0, what);
		if (!s3_perform_200(priv, &r, err))
			ok = false;
		else if (!tbdr_s3xml_parse_uploads(r.http.response.data, r.http.response.len, &res, err))
		{
			tbdr_error_prefix(err, "could not %s: ", what);
			ok = false;
		}
		else
		{
			for (int i = 0; i < res.nuploads && ok; i++)
			{
				const char *q[] = {"uploadId", res.uploads[i].upload_id, NULL};
				char	   *awhat = what_key(priv, "abort the multipart upload of", res.uploads[i].key);
				S3Req		a;

				s3req_init(&a, priv, "DELETE", res.uploads[i].key, q, NULL, 0, awhat);
				if (!s3_perform(priv, &a, err))
					ok = false;
				else if ((a.http.status >= 200 && a.http.status < 300) || a.http.status == 404)
					n++;
				else
				{
					tbdr_http_answer_error(&a.http, err);
					ok = false;
				}
				s3req_free(&a);
				pfree(awhat);
			}
			if (key_marker)
				pfree(key_marker);
			if (id_marker)
				pfree(id_marker);
			key_marker = id_marker = NULL;
			if (ok && res.is_truncated && res.next_key_marker && res.next_key_marker[0])
			{
				key_marker = pstrdup(res.next_key_marker);
				if (res.next_upload_id_marker && res.next_upload_id_marker[0])
					id_marker = pstrdup(res.next_upload_id_marker);
				more = true;
			}
			tbdr_s3xml_free_uploads(&res);
		}
		s3req_free(&r);
		if (!ok || !more)
			break;
	}
	if (key_marker)
		pfree(key_marker);
	if (id_marker)
		pfree(id_marker);
	pfree(what);
	pfree(lprefix);
	if (count)
		*count = n;
	return ok;
}

/* ------------------------------------------------------------------------
 * Open, close
 * ------------------------------------------------------------------------
 */

/* pfree that accepts NULL, for fields an open that failed never set. */
static void
pfree_if(void *p)
{
	if (p)
		pfree(p);
}

/* pfree a secret, overwritten first: not left in freed memory. */
static void
pfree_secret(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		pfree(s);
	}
}

/* Everything of S3Priv; also for an open that failed half-way. */
static void
s3_priv_free(S3Priv *priv)
{
	if (priv == NULL)
		return;
	tbdr_http_engine_destroy(priv->eng);
	pfree_if(priv->scheme);
	pfree_if(priv->authority);
	pfree_if(priv->endpoint);
	pfree_if(priv->region);
	pfree_if(priv->bucket);
	pfree_if(priv->prefix);
	pfree_if(priv->creds.access_key_id);
	pfree_secret(priv->creds.secret_access_key);
	pfree_secret(priv->creds.session_token);
	pfree_if(priv->sse_kms_key_id);
	pfree_if(priv->storage_class);
	pfree(priv);
}

static void
s3_close(TbdrStorage *st)
{
	s3_priv_free(st->priv);
}

static const TbdrStorageDriver s3_driver = {
	.name = "s3",
	.put = s3_put,
	.get = s3_get,
	.head = s3_head,
	.delete = s3_delete,
	.delete_many = s3_delete_many,
	.list = s3_list,
	.cleanup_uploads = s3_cleanup_uploads,
	.close = s3_close,
};

/*
 * Is the host of "host[:port]" an IP address?  Virtual-hosted style cannot
 * put a bucket in front of one.
 */
static bool
is_ip_literal(const char *authority)
{
	if (authority[0] == '[')
		return true;			/* IPv6 */
	for (const char *p = authority; *p && *p != ':'; p++)
		if (!isdigit((unsigned char) *p) && *p != '.')
			return false;
	return true;
}

TbdrStorage *
tbdr_storage_s3_open(const TbdrConfig *cfg, const TbdrRepoLocation *loc, TbdrError *err)
{
	TbdrStorage *st;
	S3Priv	   *priv;
	TbdrHttpOptions opts;
	char	   *endpoint = NULL;
	const char *p;
	char	   *slash;

	priv = palloc0(sizeof(S3Priv));
	if (!tbdr_aws_credentials(cfg, &priv->creds, err))
		goto fail;
	priv->region = tbdr_aws_region(cfg);
	endpoint = tbdr_aws_endpoint(cfg, priv->region);

	p = strstr(endpoint, "://");
	if (p == NULL)
	{
		priv->scheme = pstrdup("https");
		p = endpoint;
	}
	else
	{
		priv->scheme = pnstrdup(endpoint, p - endpoint);
		p += 3;
	}
	for (char *c = priv->scheme; *c; c++)
		*c = pg_tolower((unsigned char) *c);
	if (strcmp(priv->scheme, "http") != 0 && strcmp(priv->scheme, "https") != 0)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "invalid S3 endpoint \"%s\": the scheme must be http or https",
					   endpoint);
		tbdr_error_hint(err, "Check tbdr.s3_endpoint (or AWS_ENDPOINT_URL).");
		goto fail;
	}
	priv->authority = pstrdup(p);
	slash = strchr(priv->authority, '/');
	if (slash)
		*slash = '\0';			/* a path on the endpoint is not supported */
	for (char *c = priv->authority; *c; c++)
		*c = pg_tolower((unsigned char) *c);
	if (priv->authority[0] == '\0')
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "invalid S3 endpoint \"%s\": no host", endpoint);
		tbdr_error_hint(err, "Check tbdr.s3_endpoint (or AWS_ENDPOINT_URL).");
		goto fail;
	}
	if (cfg->s3_uri_style == TBDR_URI_STYLE_HOST && is_ip_literal(priv->authority))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "tbdr.s3_uri_style = host needs an endpoint with a host name, not the IP address in \"%s\"",
					   endpoint);
		tbdr_error_hint(err, "Set tbdr.s3_uri_style = path, or use a host name whose subdomains (bucket.host) resolve.");
		goto fail;
	}
	priv->endpoint = psprintf("%s://%s", priv->scheme, priv->authority);
	pfree(endpoint);
	endpoint = NULL;

	priv->bucket = pstrdup(loc->bucket);
	priv->prefix = pstrdup(loc->prefix ? loc->prefix : "");
	priv->uri_style = cfg->s3_uri_style;
	priv->sse = cfg->s3_sse;
	priv->sse_kms_key_id = cfg->s3_sse_kms_key_id ? pstrdup(cfg->s3_sse_kms_key_id) : NULL;
	priv->storage_class = cfg->s3_storage_class ? pstrdup(cfg->s3_storage_class) : NULL;
	priv->part_size = (int64) Max(cfg->s3_part_size, 5) * MB;
	priv->parallel = Max(cfg->s3_parallel, 1);

	memset(&opts, 0, sizeof(opts));
	opts.max_retries = cfg->s3_max_retries;
	opts.timeout = cfg->s3_timeout;
	opts.verify_tls = cfg->s3_verify_tls;
	opts.ca_file = cfg->s3_ca_file;
	opts.parallel = priv->parallel;
	priv->eng = tbdr_http_engine_create(&opts, err);
	if (priv->eng == NULL)
		goto fail;

	st = palloc0(sizeof(TbdrStorage));
	st->driver = &s3_driver;
	st->priv = priv;
	priv->st = st;
	st->description = psprintf("s3://%s%s%s (endpoint %s, region %s)",
							   priv->bucket, priv->prefix[0] ? "/" : "", priv->prefix,
							   priv->endpoint, priv->region);
	return st;

fail:
	pfree_if(endpoint);
	s3_priv_free(priv);
	return NULL;
}
