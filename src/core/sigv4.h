/*-------------------------------------------------------------------------
 * sigv4.h
 *	  AWS Signature Version 4 for S3 requests.
 *
 * Pure functions over a request description: no I/O, no clock (the time is
 * an argument), so they are unit-tested against AWS's published examples
 * and cross-checked against botocore.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_SIGV4_H
#define TBDR_SIGV4_H

#include "lib/stringinfo.h"

/* A query parameter or header, unencoded. */
typedef struct TbdrKeyValue
{
	const char *name;
	const char *value;			/* "" for a valueless query parameter */
} TbdrKeyValue;

typedef struct TbdrSigV4Request
{
	const char *method;			/* "GET", "PUT", ... */
	const char *path;			/* unencoded absolute path, e.g.
								 * "/bucket/wal/0000 0001"; encoded per S3
								 * rules (each segment, '/' kept) */
	const TbdrKeyValue *query;	/* unencoded; order does not matter */
	int			nquery;
	const TbdrKeyValue *headers;	/* every header to sign, host and
									 * x-amz-date and x-amz-content-sha256
									 * included; names any case, values
									 * trimmed by the signer */
	int			nheaders;
	const char *payload_hash;	/* hex SHA-256 or "UNSIGNED-PAYLOAD" */
	const char *region;
	const char *service;		/* "s3" */
	const char *access_key_id;
	const char *secret_access_key;
	const char *amz_date;		/* "20261125T120000Z", same as the header */
} TbdrSigV4Request;

/* RFC 3986 encoding as SigV4 wants it: unreserved kept, rest %XX uppercase. */
extern void tbdr_uri_encode(StringInfo buf, const char *s, bool encode_slash);

/*
 * The canonical URI of an unencoded path ("/" if empty): each byte outside
 * the unreserved set as %XX, '/' kept, '//' and dot segments kept (S3 does
 * not normalize).  Send exactly this on the wire.
 */
extern char *tbdr_sigv4_canonical_path(const char *path);

/* The encoded, sorted query string, as sent on the wire and as signed. */
extern char *tbdr_sigv4_canonical_query(const TbdrKeyValue *query, int nquery);

/* The canonical request (for tests and debugging). */
extern char *tbdr_sigv4_canonical_request(const TbdrSigV4Request *req,
										  char **signed_headers);

extern char *tbdr_sigv4_string_to_sign(const TbdrSigV4Request *req,
									   const char *canonical_request);

/* Hex signature. */
extern char *tbdr_sigv4_signature(const TbdrSigV4Request *req,
								  const char *string_to_sign);

/* The full Authorization header value. */
extern char *tbdr_sigv4_authorization(const TbdrSigV4Request *req);

/* Format t (UTC) as "YYYYMMDDTHHMMSSZ" into out[17]. */
extern void tbdr_sigv4_amz_date(time_t t, char out[17]);

#endif							/* TBDR_SIGV4_H */
