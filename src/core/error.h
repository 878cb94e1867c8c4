/*-------------------------------------------------------------------------
 * error.h
 *	  Error values returned by the core.
 *
 * Core code never ereport()s or exits: it returns false (or NULL) and fills
 * a TbdrError.  The backend turns that into ereport() with the hint; the CLI
 * prints it.  This keeps longjmp out of code that holds curl handles, file
 * descriptors and OpenSSL contexts, and it lets archive callbacks report a
 * failure without an ERROR.
 *
 * Messages must never contain a secret: callers format only key names,
 * bucket names, endpoints and S3's own error text.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_ERROR_H
#define TBDR_ERROR_H

typedef enum TbdrErrCode
{
	TBDR_OK = 0,
	TBDR_ERR_CONFIG,			/* a setting is missing or invalid */
	TBDR_ERR_IO,				/* local file system */
	TBDR_ERR_NOT_FOUND,			/* object/file does not exist */
	TBDR_ERR_AUTH,				/* credentials rejected (403, bad signature) */
	TBDR_ERR_S3,				/* any other error answer from S3 */
	TBDR_ERR_NETWORK,			/* connection, timeout, TLS */
	TBDR_ERR_CORRUPT,			/* checksum, truncation, bad format */
	TBDR_ERR_CONFLICT,			/* exists with different content, lock held */
	TBDR_ERR_CRYPTO,			/* key missing/wrong, authentication failed */
	TBDR_ERR_INTERNAL
} TbdrErrCode;

typedef struct TbdrError
{
	TbdrErrCode code;
	char		message[1024];	/* primary message, no trailing newline */
	char		detail[1024];	/* optional */
	char		hint[512];		/* optional: what the user should do */
	int			http_status;	/* 0 if not an HTTP answer */
	char		s3_code[64];	/* S3 <Code>, e.g. SignatureDoesNotMatch */
	char		request_id[128];	/* S3 x-amz-request-id, for support */
} TbdrError;

extern void tbdr_error_clear(TbdrError *err);
extern void tbdr_error_set(TbdrError *err, TbdrErrCode code, const char *fmt,...) pg_attribute_printf(3, 4);
extern void tbdr_error_detail(TbdrError *err, const char *fmt,...) pg_attribute_printf(2, 3);
extern void tbdr_error_hint(TbdrError *err, const char *fmt,...) pg_attribute_printf(2, 3);
/* Prepend context: "could not store \"x\": " + existing message. */
extern void tbdr_error_prefix(TbdrError *err, const char *fmt,...) pg_attribute_printf(2, 3);
/* Set from errno (after a failed system call) with context. */
extern void tbdr_error_errno(TbdrError *err, const char *fmt,...) pg_attribute_printf(2, 3);
/* Short name of an error code for logs and JSON, e.g. "network". */
extern const char *tbdr_error_code_name(TbdrErrCode code);
/* One-line rendering: message, S3 code/request id and detail (not hint). */
extern char *tbdr_error_format(const TbdrError *err);

#endif							/* TBDR_ERROR_H */
