/*-------------------------------------------------------------------------
 * sigv4.c
 *	  AWS Signature Version 4 for S3 requests (see sigv4.h).
 *
 * S3's flavour of SigV4 differs from the generic one in one place: the
 * canonical URI is the path encoded once (each byte outside the unreserved
 * set as %XX, '/' kept), with no dot-segment or '//' normalization and no
 * second encoding.  Everything else follows the generic rules:
 *
 * - query: names and values encoded (space is %20, never '+'; '=', '+',
 *   '/' and '&' encoded), sorted by encoded name then encoded value, a
 *   parameter without a value signed as "name=";
 * - headers: names lowercased and sorted, values trimmed with runs of white
 *   space collapsed to one space, repeated names joined with ',';
 * - signing key: HMAC chain "AWS4"+secret -> date -> region -> service ->
 *   "aws4_request".
 *
 * Intermediate strings are freed: the signer runs per request in backends
 * that live for days.  Key material is wiped from the stack after use.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <time.h>

#include "core/digest.h"
#include "core/sigv4.h"
#include "lib/stringinfo.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

/* A query parameter or header in canonical form, with its input position. */
typedef struct CanonPair
{
	char	   *name;
	char	   *value;
	int			pos;
} CanonPair;

static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
}

void
tbdr_uri_encode(StringInfo buf, const char *s, bool encode_slash)
{
	static const char hexdigits[] = "0123456789ABCDEF";
	const unsigned char *p;

	if (s == NULL)
		return;
	for (p = (const unsigned char *) s; *p; p++)
	{
		if (is_unreserved(*p) || (*p == '/' && !encode_slash))
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hexdigits[*p >> 4]);
			appendStringInfoChar(buf, hexdigits[*p & 0x0f]);
		}
	}
}

char *
tbdr_sigv4_canonical_path(const char *path)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (path == NULL || path[0] == '\0')
		appendStringInfoChar(&buf, '/');
	else
		tbdr_uri_encode(&buf, path, false);
	return buf.data;
}

static char *
uri_encode_dup(const char *s, bool encode_slash)
{
	StringInfoData buf;

	initStringInfo(&buf);
	tbdr_uri_encode(&buf, s, encode_slash);
	return buf.data;
}

/* Byte order of name, then value, then input position (a stable sort). */
static int
canon_pair_cmp(const void *a, const void *b)
{
	const CanonPair *pa = (const CanonPair *) a;
	const CanonPair *pb = (const CanonPair *) b;
	int			c;

	c = strcmp(pa->name, pb->name);
	if (c == 0)
		c = strcmp(pa->value, pb->value);
	if (c == 0)
		c = (pa->pos > pb->pos) - (pa->pos < pb->pos);
	return c;
}

/* Same, but values keep their input order (repeated headers are joined). */
static int
canon_header_cmp(const void *a, const void *b)
{
	const CanonPair *pa = (const CanonPair *) a;
	const CanonPair *pb = (const CanonPair *) b;
	int			c;

	c = strcmp(pa->name, pb->name);
	if (c == 0)
		c = (pa->pos > pb->pos) - (pa->pos < pb->pos);
	return c;
}

static void
free_pairs(CanonPair *pairs, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		pfree(pairs[i].name);
		pfree(pairs[i].value);
	}
	if (pairs)
		pfree(pairs);
}

char *
tbdr_sigv4_canonical_query(const TbdrKeyValue *query, int nquery)
{
	StringInfoData buf;
	CanonPair  *pairs;
	int			i;

	initStringInfo(&buf);
	if (nquery <= 0 || query == NULL)
		return buf.data;

	pairs = palloc(sizeof(CanonPair) * nquery);
	for (i = 0; i < nquery; i++)
	{
		pairs[i].name = uri_encode_dup(query[i].name, true);
		pairs[i].value = uri_encode_dup(query[i].value, true);
		pairs[i].pos = i;
	}
	qsort(pairs, nquery, sizeof(CanonPair), canon_pair_cmp);

	for (i = 0; i < nquery; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, '&');
		/* "name=" even without a value: S3 signs ?delete as "delete=". */
		appendStringInfo(&buf, "%s=%s", pairs[i].name, pairs[i].value);
	}
	free_pairs(pairs, nquery);
	return buf.data;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trimall: strip both ends, collapse each run of white space to one space. */
static void
append_trimmed(StringInfo buf, const char *s)
{
	bool		pending_space = false;
	bool		any = false;

	if (s == NULL)
		return;
	for (; *s; s++)
	{
		if (is_space(*s))
		{
			pending_space = any;
			continue;
		}
		if (pending_space)
			appendStringInfoChar(buf, ' ');
		appendStringInfoChar(buf, *s);
		pending_space = false;
		any = true;
	}
}

static char *
lowercase_dup(const char *s)
{
	char	   *out = pstrdup(s ? s : "");
	char	   *p;

	for (p = out; *p; p++)
	{
		if (*p >= 'A' && *p <= 'Z')
			*p = *p - 'A' + 'a';
	}
	return out;
}

char *
tbdr_sigv4_canonical_request(const TbdrSigV4Request *req,
							 char **signed_headers)
{
	StringInfoData buf;
	StringInfoData sh;
	CanonPair  *hdrs = NULL;
	char	   *s;
	int			n = req->nheaders;
	int			i;

	initStringInfo(&buf);
	initStringInfo(&sh);

	appendStringInfo(&buf, "%s\n", req->method);

	s = tbdr_sigv4_canonical_path(req->path);
	appendStringInfo(&buf, "%s\n", s);
	pfree(s);

	s = tbdr_sigv4_canonical_query(req->query, req->nquery);
	appendStringInfo(&buf, "%s\n", s);
	pfree(s);

	if (n > 0)
	{
		hdrs = palloc(sizeof(CanonPair) * n);
		for (i = 0; i < n; i++)
		{
			StringInfoData v;

			initStringInfo(&v);
			append_trimmed(&v, req->headers[i].value);
			hdrs[i].name = lowercase_dup(req->headers[i].name);
			hdrs[i].value = v.data;
			hdrs[i].pos = i;
		}
		qsort(hdrs, n, sizeof(CanonPair), canon_header_cmp);
	}

	for (i = 0; i < n; i++)
	{
		if (i > 0 && strcmp(hdrs[i].name, hdrs[i - 1].name) == 0)
		{
			/* A repeated header: its values are joined with ','. */
			appendStringInfo(&buf, ",%s", hdrs[i].value);
			continue;
		}
		if (i > 0)
		{
			appendStringInfoChar(&buf, '\n');
			appendStringInfoChar(&sh, ';');
		}
		appendStringInfo(&buf, "%s:%s", hdrs[i].name, hdrs[i].value);
		appendStringInfoString(&sh, hdrs[i].name);
	}
	if (n > 0)
		appendStringInfoChar(&buf, '\n');
	free_pairs(hdrs, n);

	/* The header block ends with a newline, then the separator one. */
	appendStringInfo(&buf, "\n%s\n%s", sh.data,
					 req->payload_hash ? req->payload_hash : "UNSIGNED-PAYLOAD");

	if (signed_headers)
		*signed_headers = sh.data;
	else
		pfree(sh.data);
	return buf.data;
}

static const char *
service_of(const TbdrSigV4Request *req)
{
	return req->service ? req->service : "s3";
}

/* "20130524/us-east-1/s3/aws4_request" */
static char *
credential_scope(const TbdrSigV4Request *req)
{
	return psprintf("%.8s/%s/%s/aws4_request",
					req->amz_date, req->region, service_of(req));
}

char *
tbdr_sigv4_string_to_sign(const TbdrSigV4Request *req,
						  const char *canonical_request)
{
	char		hash[TBDR_SHA256_HEX_LEN];
	char	   *scope = credential_scope(req);
	char	   *sts;

	tbdr_sha256_hex(canonical_request, strlen(canonical_request), hash);
	sts = psprintf(SIGV4_ALGORITHM "\n%s\n%s\n%s", req->amz_date, scope, hash);
	pfree(scope);
	return sts;
}

char *
tbdr_sigv4_signature(const TbdrSigV4Request *req,
					 const char *string_to_sign)
{
	unsigned char kdate[TBDR_SHA256_LEN];	/* then kService */
	unsigned char key[TBDR_SHA256_LEN]; /* kRegion, then kSigning */
	unsigned char sig[TBDR_SHA256_LEN];
	char	   *hex = palloc(TBDR_SHA256_LEN * 2 + 1);
	const char *secret = req->secret_access_key ? req->secret_access_key : "";
	size_t		ksecret_len = 4 + strlen(secret);
	char	   *ksecret = palloc(ksecret_len + 1);
	const char *service = service_of(req);

	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret, ksecret_len - 4 + 1);

	/* The date in the scope is the first 8 characters of x-amz-date. */
	tbdr_hmac_sha256(ksecret, ksecret_len, req->amz_date,
					 Min(strlen(req->amz_date), 8), kdate);
	tbdr_hmac_sha256(kdate, sizeof(kdate), req->region, strlen(req->region), key);
	tbdr_hmac_sha256(key, sizeof(key), service, strlen(service), kdate);
	tbdr_hmac_sha256(kdate, sizeof(kdate), "aws4_request", 12, key);
	tbdr_hmac_sha256(key, sizeof(key), string_to_sign, strlen(string_to_sign), sig);
	tbdr_hex_encode(sig, sizeof(sig), hex);

	explicit_bzero(ksecret, ksecret_len);
	explicit_bzero(kdate, sizeof(kdate));
	explicit_bzero(key, sizeof(key));
	pfree(ksecret);
	return hex;
}

char *
tbdr_sigv4_authorization(const TbdrSigV4Request *req)
{
	char	   *signed_headers;
	char	   *cr = tbdr_sigv4_canonical_request(req, &signed_headers);
	char	   *sts = tbdr_sigv4_string_to_sign(req, cr);
	char	   *sig = tbdr_sigv4_signature(req, sts);
	char	   *scope = credential_scope(req);
	char	   *auth;

	/* Same layout as the AWS SDKs (botocore): ", " between the parts. */
	auth = psprintf(SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
					req->access_key_id, scope, signed_headers, sig);
	pfree(scope);
	pfree(sig);
	pfree(sts);
	pfree(cr);
	pfree(signed_headers);
	return auth;
}

void
tbdr_sigv4_amz_date(time_t t, char out[17])
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
		strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		strlcpy(out, "19700101T000000Z", 17);
}
