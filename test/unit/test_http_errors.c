/*-------------------------------------------------------------------------
 * test_http_errors.c
 *	  What an S3 error answer becomes (tbdr_http_answer_error): the error
 *	  class, S3's code, message and request id, the "gave up after N
 *	  attempts" detail, and a hint that names the setting to fix, for the
 *	  answers S3 and S3-compatible stores really give.  The TAP tests see
 *	  some of these against a real server; the others (clock skew, expired
 *	  tokens, KMS, redirects) cannot be provoked on loopback.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "core/http.h"
#include "tap.h"

#define WHAT "upload s3://bkt/pg/wal/0001"

static bool
contains(const char *s, const char *sub)
{
	return s && sub && strstr(s, sub) != NULL;
}

/* An answer of status with body (may be NULL) after attempts attempts. */
static TbdrError
answer(long status, const char *body, int attempts)
{
	TbdrHttpRequest req;
	TbdrError	err;

	tbdr_http_request_init(&req, "PUT", "http://127.0.0.1:9/bkt/pg/wal/0001", WHAT);
	req.ok = true;
	req.status = status;
	req.attempts = attempts;
	strlcpy(req.request_id, "HDRREQID", sizeof(req.request_id));
	if (body)
		appendStringInfoString(&req.response, body);
	tbdr_error_clear(&err);
	tbdr_http_answer_error(&req, &err);
	return err;
}

static char *
error_doc(const char *code, const char *message)
{
	return psprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
					"<Error><Code>%s</Code><Message>%s</Message>"
					"<RequestId>REQ123</RequestId><HostId>h</HostId></Error>",
					code, message);
}

static void
check_hint(const char *code, long status, const char *hint_part, TbdrErrCode ecode)
{
	TbdrError	e = answer(status, error_doc(code, "S3 says no"), 1);
	char	   *name = psprintf("%ld %s", status, code);

	is_int(e.code, ecode, psprintf("%s: error class %s", name, tbdr_error_code_name(ecode)));
	ok(contains(e.hint, hint_part), psprintf("%s: hint mentions \"%s\"", name, hint_part));
	if (!contains(e.hint, hint_part))
		printf("#   hint: %s\n", e.hint);
	is_str(e.s3_code, code, psprintf("%s: S3 code kept", name));
	is_int(e.http_status, status, psprintf("%s: HTTP status kept", name));
}

int
main(void)
{
	TbdrError	e;

	/* a wrong secret: everything a user needs, nothing retried */
	e = answer(403, error_doc("SignatureDoesNotMatch",
							  "The request signature we calculated does not match the signature you provided."), 1);
	is_int(e.code, TBDR_ERR_AUTH, "403 SignatureDoesNotMatch is an auth error");
	ok(contains(e.message, WHAT) && contains(e.message, "signature we calculated"),
	   "message: what was done and S3's message");
	is_str(e.request_id, "REQ123", "request id from the body");
	ok(contains(e.hint, "tbdr.s3_secret_access_key") && contains(e.hint, "AWS_SECRET_ACCESS_KEY"),
	   "hint: the settings and variables of the credentials");
	is_str(e.detail, "", "one attempt: no retry detail");

	/* the usual S3 answers and the setting each hint names */
	check_hint("InvalidAccessKeyId", 403, "tbdr.s3_access_key_id", TBDR_ERR_AUTH);
	check_hint("AccessDenied", 403, "bucket policy", TBDR_ERR_AUTH);
	check_hint("NoSuchBucket", 404, "tbdr.repository", TBDR_ERR_NOT_FOUND);
	check_hint("RequestTimeTooSkewed", 403, "clock", TBDR_ERR_AUTH);
	check_hint("ExpiredToken", 400, "tbdr.s3_session_token", TBDR_ERR_S3);
	check_hint("AuthorizationHeaderMalformed", 400, "tbdr.s3_region", TBDR_ERR_S3);
	check_hint("PermanentRedirect", 301, "tbdr.s3_region", TBDR_ERR_S3);
	check_hint("InvalidStorageClass", 400, "tbdr.s3_storage_class", TBDR_ERR_S3);
	check_hint("KMS.NotFoundException", 400, "tbdr.s3_sse_kms_key_id", TBDR_ERR_S3);
	check_hint("NotImplemented", 501, "tbdr.s3_sse", TBDR_ERR_S3);
	check_hint("PreconditionFailed", 412, "", TBDR_ERR_CONFLICT);
	check_hint("SlowDown", 503, "tbdr.s3_max_retries", TBDR_ERR_S3);

	/* past the retry limit: how many attempts, and which setting */
	e = answer(503, error_doc("SlowDown", "Please reduce your request rate."), 5);
	ok(contains(e.detail, "Gave up after 5 attempts"), "retried: detail counts the attempts");
	ok(contains(e.hint, "retried 4 times") && contains(e.hint, "tbdr.s3_max_retries"),
	   "retried: hint counts the retries and names tbdr.s3_max_retries");

	/* no XML body (HEAD answers, proxies, load balancers) */
	e = answer(403, NULL, 1);
	is_int(e.code, TBDR_ERR_AUTH, "403 without a body is an auth error");
	ok(contains(e.message, "HTTP 403 Forbidden"), "403 without a body: status in the message");
	ok(contains(e.hint, "tbdr.s3_access_key_id"), "403 without a body: credentials hint");
	is_str(e.request_id, "HDRREQID", "request id from the header when the body has none");
	e = answer(502, "<html><body>Bad Gateway</body></html>", 1);
	is_int(e.code, TBDR_ERR_S3, "HTML 502 from a proxy: S3 error class");
	ok(contains(e.message, "HTTP 502 Bad Gateway"), "HTML 502: status in the message");
	is_str(e.s3_code, "", "HTML 502: no S3 code invented");
	e = answer(404, NULL, 1);
	is_int(e.code, TBDR_ERR_NOT_FOUND, "404 without a body is not-found");

	/* an error body that is cut short is not trusted */
	e = answer(403, "<Error><Code>SignatureDoesNotMatch</Code><Message>The req", 1);
	is_int(e.code, TBDR_ERR_AUTH, "truncated error body: still an auth error (by status)");
	ok(contains(e.message, "HTTP 403"), "truncated error body: the status is reported");

	/* a huge message does not overflow the fixed-size error */
	{
		StringInfoData big;

		initStringInfo(&big);
		for (int i = 0; i < 5000; i++)
			appendStringInfoString(&big, "abcdefghij");
		e = answer(400, error_doc("InvalidArgument", big.data), 1);
		ok(strlen(e.message) < sizeof(e.message) && contains(e.message, WHAT),
		   "a 50 kB S3 message is cut to fit, the context kept");
		is_str(e.s3_code, "InvalidArgument", "huge message: code kept");
	}

	return done_testing();
}
