/*-------------------------------------------------------------------------
 * error.c
 *	  Error values returned by the core (see error.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>

#include "core/error.h"
#include "lib/stringinfo.h"

void
tbdr_error_clear(TbdrError *err)
{
	memset(err, 0, sizeof(*err));
}

void
tbdr_error_set(TbdrError *err, TbdrErrCode code, const char *fmt,...)
{
	va_list		ap;

	tbdr_error_clear(err);
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void
tbdr_error_detail(TbdrError *err, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

void
tbdr_error_hint(TbdrError *err, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

void
tbdr_error_prefix(TbdrError *err, const char *fmt,...)
{
	char		prefix[512];
	char		old[sizeof(err->message)];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	strlcpy(old, err->message, sizeof(old));
	snprintf(err->message, sizeof(err->message), "%s%s", prefix, old);
}

void
tbdr_error_errno(TbdrError *err, const char *fmt,...)
{
	int			save_errno = errno;
	char		msg[768];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tbdr_error_set(err, save_errno == ENOENT ? TBDR_ERR_NOT_FOUND : TBDR_ERR_IO,
				   "%s: %s", msg, strerror(save_errno));
	errno = save_errno;
}

const char *
tbdr_error_code_name(TbdrErrCode code)
{
	switch (code)
	{
		case TBDR_OK:
			return "ok";
		case TBDR_ERR_CONFIG:
			return "config";
		case TBDR_ERR_IO:
			return "io";
		case TBDR_ERR_NOT_FOUND:
			return "not_found";
		case TBDR_ERR_AUTH:
			return "auth";
		case TBDR_ERR_S3:
			return "s3";
		case TBDR_ERR_NETWORK:
			return "network";
		case TBDR_ERR_CORRUPT:
			return "corrupt";
		case TBDR_ERR_CONFLICT:
			return "conflict";
		case TBDR_ERR_CRYPTO:
			return "crypto";
		case TBDR_ERR_INTERNAL:
			return "internal";
	}
	return "unknown";
}

char *
tbdr_error_format(const TbdrError *err)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, err->message);
	if (err->s3_code[0] || err->http_status)
	{
		appendStringInfoString(&buf, " (");
		if (err->http_status)
			appendStringInfo(&buf, "HTTP %d", err->http_status);
		if (err->s3_code[0])
			appendStringInfo(&buf, "%s%s", err->http_status ? " " : "", err->s3_code);
		if (err->request_id[0])
			appendStringInfo(&buf, ", request id %s", err->request_id);
		appendStringInfoChar(&buf, ')');
	}
	if (err->detail[0])
		appendStringInfo(&buf, ": %s", err->detail);
	return buf.data;
}
