/*-------------------------------------------------------------------------
 * http.c
 *	  The HTTP request layer: libcurl multi engine with retries (see http.h).
 *
 * Every request goes through the same state machine:
 *
 *	 start -> attempt (sign, add to the multi handle) -> answer or failure
 *		   -> final: DONE, or transient: WAITING (backoff) -> attempt ...
 *
 * tbdr_http_wait() drives the multi handle, starts due retries and returns
 * finished requests one at a time, so callers can keep several requests in
 * flight (parts of a multipart upload) and refill as they finish.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "common/pg_prng.h"
#include "core/http.h"
#include "core/s3xml.h"

/* Error bodies are small XML documents; keep at most this much of them. */
#define ERROR_BODY_MAX (64 * 1024)
/* Default cap of a memory sink. */
#define DEFAULT_MAX_RESPONSE (1024 * 1024)
/* Backoff: full jitter over base * 2^n, capped. */
#define BACKOFF_BASE_S 0.25
#define BACKOFF_CAP_S 20.0
/* Idle easy handles kept for reuse. */
#define MAX_IDLE_HANDLES 16

TbdrHttpInterruptFn tbdr_http_interrupt_hook = NULL;

struct TbdrHttpEngine
{
	CURLM	   *multi;
	TbdrHttpOptions opts;
	char	   *ca_file;
	TbdrHttpRequest *active;	/* started, not yet returned by wait */
	int			nactive;
	CURL	   *idle[MAX_IDLE_HANDLES];
	int			nidle;
	pg_prng_state prng;
};

static bool curl_initialized = false;

static bool begin_attempt(TbdrHttpEngine *eng, TbdrHttpRequest *req);
static void finish_attempt(TbdrHttpEngine *eng, TbdrHttpRequest *req,
						   CURLcode rc);

static double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
kv_free(TbdrKeyValue *kv, int n)
{
	for (int i = 0; i < n; i++)
	{
		pfree((char *) kv[i].name);
		pfree((char *) kv[i].value);
	}
}

static void
kv_add(TbdrKeyValue **kv, int *n, int *max, const char *name, const char *value)
{
	if (*n >= *max)
	{
		int			newmax = *max ? *max * 2 : 8;

		*kv = *kv ? repalloc(*kv, newmax * sizeof(TbdrKeyValue))
			: palloc(newmax * sizeof(TbdrKeyValue));
		*max = newmax;
	}
	(*kv)[*n].name = pstrdup(name);
	(*kv)[*n].value = pstrdup(value ? value : "");
	(*n)++;
}

/* ------------------------------------------------------------------------
 * Engine
 * ------------------------------------------------------------------------
 */

TbdrHttpEngine *
tbdr_http_engine_create(const TbdrHttpOptions *opts, TbdrError *err)
{
	TbdrHttpEngine *eng;

	if (!curl_initialized)
	{
		CURLcode	rc = curl_global_init(CURL_GLOBAL_ALL);

		if (rc != CURLE_OK)
		{
			tbdr_error_set(err, TBDR_ERR_INTERNAL,
						   "could not initialize libcurl: %s",
						   curl_easy_strerror(rc));
			return NULL;
		}
		curl_initialized = true;
	}

	eng = palloc0(sizeof(TbdrHttpEngine));
	eng->opts = *opts;
	if (eng->opts.timeout <= 0)
		eng->opts.timeout = 60;
	if (eng->opts.max_retries < 0)
		eng->opts.max_retries = 0;
	if (eng->opts.parallel < 1)
		eng->opts.parallel = 1;
	eng->ca_file = (opts->ca_file && opts->ca_file[0]) ? pstrdup(opts->ca_file) : NULL;
	eng->opts.ca_file = eng->ca_file;

	eng->multi = curl_multi_init();
	if (eng->multi == NULL)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "could not create a libcurl multi handle");
		if (eng->ca_file)
			pfree(eng->ca_file);
		pfree(eng);
		return NULL;
	}
	/* Keep enough connections alive for parallel part uploads. */
	curl_multi_setopt(eng->multi, CURLMOPT_MAXCONNECTS, (long) Max(8, eng->opts.parallel * 2));

	pg_prng_seed(&eng->prng, (uint64) time(NULL) ^ ((uint64) getpid() << 32) ^
				 (uint64) (now_monotonic() * 1e9));
	return eng;
}

void
tbdr_http_engine_destroy(TbdrHttpEngine *eng)
{
	if (eng == NULL)
		return;
	while (eng->active)
	{
		TbdrHttpRequest *req = eng->active;

		tbdr_http_cancel(eng, req);
		eng->active = req->next_active;
		req->next_active = NULL;
	}
	for (int i = 0; i < eng->nidle; i++)
		curl_easy_cleanup(eng->idle[i]);
	curl_multi_cleanup(eng->multi);
	if (eng->ca_file)
		pfree(eng->ca_file);
	pfree(eng);
}

int
tbdr_http_active(TbdrHttpEngine *eng)
{
	return eng->nactive;
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------
 */

void
tbdr_http_request_init(TbdrHttpRequest *req, const char *method,
					   const char *url, const char *what)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = pstrdup(url);
	req->what = pstrdup(what);
	req->range_start = -1;
	req->range_end = -1;
	req->content_length = -1;
	initStringInfo(&req->response);
}

void
tbdr_http_add_header(TbdrHttpRequest *req, const char *name, const char *value)
{
	kv_add(&req->headers, &req->nheaders, &req->maxheaders, name, value);
}

void
tbdr_http_attempt_header(TbdrHttpRequest *req, const char *name, const char *value)
{
	kv_add(&req->attempt_headers, &req->nattempt_headers,
		   &req->maxattempt_headers, name, value);
}

static void
clear_attempt_headers(TbdrHttpRequest *req)
{
	kv_free(req->attempt_headers, req->nattempt_headers);
	req->nattempt_headers = 0;
}

static void
release_easy(TbdrHttpEngine *eng, TbdrHttpRequest *req)
{
	CURL	   *easy = req->easy;

	if (easy == NULL)
		return;
	curl_multi_remove_handle(eng->multi, easy);
	if (eng->nidle < MAX_IDLE_HANDLES)
		eng->idle[eng->nidle++] = easy;
	else
		curl_easy_cleanup(easy);
	req->easy = NULL;
	if (req->slist)
	{
		curl_slist_free_all(req->slist);
		req->slist = NULL;
	}
}

void
tbdr_http_request_free(TbdrHttpEngine *eng, TbdrHttpRequest *req)
{
	if (eng && req->state != TBDR_HTTP_IDLE)
	{
		/* still in the engine: take it out */
		TbdrHttpRequest **p;

		if (req->state != TBDR_HTTP_DONE)
			tbdr_http_cancel(eng, req);
		for (p = &eng->active; *p; p = &(*p)->next_active)
		{
			if (*p == req)
			{
				*p = req->next_active;
				eng->nactive--;
				break;
			}
		}
		req->state = TBDR_HTTP_IDLE;
	}
	if (eng)
		release_easy(eng, req);
	if (req->url)
		pfree(req->url);
	if (req->what)
		pfree(req->what);
	kv_free(req->headers, req->nheaders);
	if (req->headers)
		pfree(req->headers);
	clear_attempt_headers(req);
	if (req->attempt_headers)
		pfree(req->attempt_headers);
	if (req->response.data)
		pfree(req->response.data);
	if (req->etag)
		pfree(req->etag);
	if (req->first_etag)
		pfree(req->first_etag);
	memset(req, 0, sizeof(*req));
}

/* ------------------------------------------------------------------------
 * curl callbacks
 * ------------------------------------------------------------------------
 */

/* Forget what an earlier answer's headers said (new attempt, 100 Continue). */
static void
reset_answer_headers(TbdrHttpRequest *req)
{
	req->status = 0;
	if (req->etag)
	{
		pfree(req->etag);
		req->etag = NULL;
	}
	req->content_length = -1;
	req->last_modified = 0;
	req->request_id[0] = '\0';
	req->content_range[0] = '\0';
}

static size_t
header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	TbdrHttpRequest *req = userdata;
	size_t		len = size * nitems;
	char		line[1024];
	char	   *colon;
	char	   *value;
	size_t		n;

	n = Min(len, sizeof(line) - 1);
	memcpy(line, buffer, n);
	line[n] = '\0';
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		line[--n] = '\0';

	if (strncmp(line, "HTTP/", 5) == 0)
	{
		/* A new answer (after 100 Continue, or the only one): reset. */
		char	   *sp = strchr(line, ' ');

		reset_answer_headers(req);
		req->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}

	colon = strchr(line, ':');
	if (colon == NULL)
		return len;
	*colon = '\0';
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;

	if (pg_strcasecmp(line, "etag") == 0)
	{
		size_t		vl = strlen(value);

		if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"')
		{
			value[vl - 1] = '\0';
			value++;
		}
		if (req->etag)
			pfree(req->etag);
		req->etag = pstrdup(value);
	}
	else if (pg_strcasecmp(line, "content-length") == 0)
		req->content_length = strtoll(value, NULL, 10);
	else if (pg_strcasecmp(line, "last-modified") == 0)
	{
		time_t		t = curl_getdate(value, NULL);

		req->last_modified = t > 0 ? t : 0;
	}
	else if (pg_strcasecmp(line, "date") == 0)
	{
		time_t		t = curl_getdate(value, NULL);

		if (t > 0)
			req->date = t;
	}
	else if (pg_strcasecmp(line, "x-amz-request-id") == 0)
		strlcpy(req->request_id, value, sizeof(req->request_id));
	else if (pg_strcasecmp(line, "content-range") == 0)
		strlcpy(req->content_range, value, sizeof(req->content_range));
	return len;
}

static bool
is_2xx(long status)
{
	return status >= 200 && status < 300;
}

/*
 * First body bytes of an answer: for a resumed download, check that the
 * server sends exactly the bytes we asked for before any reach the sink.
 */
static bool
check_ranged_answer(TbdrHttpRequest *req)
{
	int64		start = -1;

	if (req->status != 206)
	{
		tbdr_error_set(&req->err, TBDR_ERR_S3,
					   "could not %s: the server answered HTTP %ld to a ranged read",
					   req->what, req->status);
		tbdr_error_detail(&req->err, "Expected 206 Partial Content; the server may not support Range requests.");
		return false;
	}
	if (strncmp(req->content_range, "bytes ", 6) == 0)
		start = strtoll(req->content_range + 6, NULL, 10);
	if (start != req->resume_offset)
	{
		tbdr_error_set(&req->err, TBDR_ERR_CORRUPT,
					   "could not %s: the ranged read starts at the wrong offset",
					   req->what);
		tbdr_error_detail(&req->err, "Asked for offset " INT64_FORMAT ", got Content-Range \"%s\".",
						  req->resume_offset, req->content_range);
		return false;
	}
	return true;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	TbdrHttpRequest *req = userdata;
	size_t		len = size * nmemb;

	if (!req->in_body)
	{
		req->in_body = true;
		if (req->write && is_2xx(req->status))
		{
			if (req->first_etag == NULL && req->etag)
				req->first_etag = pstrdup(req->etag);
			/* a ranged read must get exactly its range, never the object */
			if (req->ranged && !check_ranged_answer(req))
			{
				req->sink_failed = true;
				return 0;
			}
		}
	}

	if (req->write && is_2xx(req->status))
	{
		TbdrError	serr;

		tbdr_error_clear(&serr);
		if (!req->write(req->write_arg, ptr, len, &serr))
		{
			req->err = serr;
			if (req->err.code == TBDR_OK)
				tbdr_error_set(&req->err, TBDR_ERR_IO, "could not %s: the receiver failed", req->what);
			req->sink_failed = true;
			return 0;
		}
		req->delivered += len;
		req->attempt_delivered += len;
		return len;
	}

	if (is_2xx(req->status))
	{
		size_t		cap = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE;

		if (req->response.len + len > cap)
		{
			req->too_big = true;
			return 0;
		}
		appendBinaryStringInfo(&req->response, ptr, len);
		return len;
	}

	/* error answer: keep the beginning, which holds the <Error> */
	if (req->response.len < ERROR_BODY_MAX)
		appendBinaryStringInfo(&req->response, ptr,
							   Min(len, ERROR_BODY_MAX - req->response.len));
	return len;
}

static size_t
read_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	TbdrHttpRequest *req = userdata;
	size_t		n = Min(size * nitems, req->body_len - req->body_pos);

	if (n > 0)
		memcpy(buffer, req->body + req->body_pos, n);
	req->body_pos += n;
	return n;
}

static int
seek_cb(void *userdata, curl_off_t offset, int origin)
{
	TbdrHttpRequest *req = userdata;

	if (origin != SEEK_SET || offset < 0 || (size_t) offset > req->body_len)
		return CURL_SEEKFUNC_FAIL;
	req->body_pos = (size_t) offset;
	return CURL_SEEKFUNC_OK;
}

/* ------------------------------------------------------------------------
 * Attempts
 * ------------------------------------------------------------------------
 */

static void
mark_done(TbdrHttpRequest *req, bool ok)
{
	req->ok = ok;
	req->state = TBDR_HTTP_DONE;
	clear_attempt_headers(req);
}

/* Hint for a transfer that failed below HTTP. */
static void
network_hint(TbdrError *err, CURLcode rc)
{
	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
			tbdr_error_hint(err, "Check tbdr.s3_endpoint (or AWS_ENDPOINT_URL) and that the S3 server is reachable from this host.");
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_ISSUER_ERROR:
			tbdr_error_hint(err, "Check the server's TLS certificate and tbdr.s3_ca_file; tbdr.s3_verify_tls = off disables verification (not for production).");
			break;
		case CURLE_OPERATION_TIMEDOUT:
			tbdr_error_hint(err, "The transfer made no progress for tbdr.s3_timeout seconds or took too long; check the network and the S3 server, or raise tbdr.s3_timeout.");
			break;
		default:
			tbdr_error_hint(err, "Check the network and the S3 server at tbdr.s3_endpoint.");
			break;
	}
}

/* Transfer errors that a new attempt may fix. */
static bool
curl_error_retryable(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_OUT_OF_MEMORY:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_ABORTED_BY_CALLBACK:
		case CURLE_BAD_FUNCTION_ARGUMENT:
		case CURLE_NOT_BUILT_IN:
			return false;
		default:
			return true;
	}
}

/* Answers that a new attempt may fix. */
static bool
status_retryable(TbdrHttpRequest *req)
{
	long		status = req->status;

	/* 501 Not Implemented and 505 answer the request, not the server's load */
	if (status == 501 || status == 505)
		return false;
	if (status >= 500 || status == 429 || status == 408)
		return true;
	if (status == 400 && req->response.len > 0)
	{
		TbdrS3ErrorInfo info;
		bool		retry = false;

		if (tbdr_s3xml_parse_error(req->response.data, req->response.len, &info))
		{
			retry = strcmp(info.code, "RequestTimeout") == 0 ||
				strcmp(info.code, "SlowDown") == 0;
			tbdr_s3xml_free_error_info(&info);
		}
		return retry;
	}
	return false;
}

static void
schedule_retry(TbdrHttpEngine *eng, TbdrHttpRequest *req)
{
	double		ceiling = BACKOFF_BASE_S * (double) (1 << Min(req->attempts - 1, 16));

	if (ceiling > BACKOFF_CAP_S)
		ceiling = BACKOFF_CAP_S;
	req->next_attempt_at = now_monotonic() + ceiling * pg_prng_double(&eng->prng);
	req->state = TBDR_HTTP_WAITING;
	clear_attempt_headers(req);
}

/* Forget what the previous attempt received; start from the fixed headers. */
static void
reset_attempt(TbdrHttpRequest *req)
{
	req->attempts++;
	tbdr_error_clear(&req->err);
	resetStringInfo(&req->response);
	reset_answer_headers(req);
	req->in_body = false;
	req->too_big = false;
	req->sink_failed = false;
	req->attempt_delivered = 0;
	req->body_pos = 0;
	req->errbuf[0] = '\0';
	clear_attempt_headers(req);
	for (int i = 0; i < req->nheaders; i++)
		tbdr_http_attempt_header(req, req->headers[i].name, req->headers[i].value);
}

/*
 * Range and If-Match of this attempt: a ranged read, or the rest of an
 * interrupted download (only of the same object: its first ETag).  false
 * with req->err set when the download cannot be resumed.
 */
static bool
add_range_headers(TbdrHttpRequest *req)
{
	char		buf[128];
	int64		start;

	req->resuming = false;
	req->ranged = false;
	if (req->write && req->delivered > 0)
	{
		if (req->first_etag == NULL)
		{
			tbdr_error_set(&req->err, TBDR_ERR_NETWORK,
						   "could not %s: the transfer was interrupted and cannot be resumed (the server sent no ETag)",
						   req->what);
			return false;
		}
		req->resuming = true;
	}
	if (req->range_start < 0 && !req->resuming)
		return true;

	start = (req->range_start >= 0 ? req->range_start : 0) + req->delivered;
	if (req->range_end >= 0)
		snprintf(buf, sizeof(buf), "bytes=" INT64_FORMAT "-" INT64_FORMAT, start, req->range_end);
	else
		snprintf(buf, sizeof(buf), "bytes=" INT64_FORMAT "-", start);
	tbdr_http_attempt_header(req, "Range", buf);
	req->resume_offset = start;
	req->ranged = true;
	if (req->resuming)
	{
		snprintf(buf, sizeof(buf), "\"%s\"", req->first_etag);
		tbdr_http_attempt_header(req, "If-Match", buf);
	}
	return true;
}

/* The attempt's headers as curl takes them. */
static void
set_headers(TbdrHttpRequest *req, CURL *easy)
{
	req->slist = NULL;
	for (int i = 0; i < req->nattempt_headers; i++)
	{
		char	   *line;

		if (req->attempt_headers[i].value[0])
			line = psprintf("%s: %s", req->attempt_headers[i].name, req->attempt_headers[i].value);
		else
			line = psprintf("%s;", req->attempt_headers[i].name);
		req->slist = curl_slist_append(req->slist, line);
		pfree(line);
	}
	/* "Expect:" stops curl from waiting for 100 Continue */
	req->slist = curl_slist_append(req->slist, "Expect:");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->slist);
}

static void
set_method(TbdrHttpRequest *req, CURL *easy)
{
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	else if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0)
	{
		/* both as an upload of a known size; curl says PUT unless told */
		curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(easy, CURLOPT_READDATA, req);
		curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(easy, CURLOPT_SEEKDATA, req);
		curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t) (req->body ? req->body_len : 0));
		if (strcmp(req->method, "POST") == 0)
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "POST");
	}
	else
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
}

/*
 * Timeouts: connecting, then no progress for the timeout, then an overall
 * cap per attempt so that a trickle cannot hold a request forever; and TLS
 * verification.
 */
static void
set_limits(TbdrHttpEngine *eng, TbdrHttpRequest *req, CURL *easy)
{
	long		max_time;

	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, (long) eng->opts.timeout);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, (long) eng->opts.timeout);
	if (req->write)
		max_time = 24 * 3600;
	else
		max_time = Max(600, 10L * eng->opts.timeout) +
			(long) ((req->body ? req->body_len : 0) / (64 * 1024));
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, max_time);

	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, eng->opts.verify_tls ? 1L : 0L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, eng->opts.verify_tls ? 2L : 0L);
	if (eng->ca_file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, eng->ca_file);
}

/* A curl handle for req: an idle one of the engine, or a new one. */
static CURL *
take_easy(TbdrHttpEngine *eng, TbdrHttpRequest *req)
{
	CURL	   *easy;

	if (eng->nidle > 0)
	{
		easy = eng->idle[--eng->nidle];
		curl_easy_reset(easy);
	}
	else
		easy = curl_easy_init();
	if (easy == NULL)
		return NULL;

	curl_easy_setopt(easy, CURLOPT_URL, req->url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_VERBOSE, 0L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	return easy;
}

/*
 * Set up and add one attempt.  Returns false when the request could not be
 * attempted (it is then DONE with err set).
 */
static bool
begin_attempt(TbdrHttpEngine *eng, TbdrHttpRequest *req)
{
	reset_attempt(req);
	if (!add_range_headers(req))
	{
		mark_done(req, false);
		return false;
	}
	if (req->sign && !req->sign(req->sign_arg, req, &req->err))
	{
		if (req->err.code == TBDR_OK)
			tbdr_error_set(&req->err, TBDR_ERR_INTERNAL, "could not sign the request to %s", req->what);
		mark_done(req, false);
		return false;
	}

	req->easy = take_easy(eng, req);
	if (req->easy == NULL)
	{
		tbdr_error_set(&req->err, TBDR_ERR_INTERNAL, "could not create a libcurl handle");
		mark_done(req, false);
		return false;
	}
	set_headers(req, req->easy);
	set_method(req, req->easy);
	set_limits(eng, req, req->easy);

	req->attempt_started = now_monotonic();
	if (curl_multi_add_handle(eng->multi, req->easy) != CURLM_OK)
	{
		release_easy(eng, req);
		tbdr_error_set(&req->err, TBDR_ERR_INTERNAL, "could not start the request to %s", req->what);
		mark_done(req, false);
		return false;
	}
	req->state = TBDR_HTTP_RUNNING;
	return true;
}

static void
finish_attempt(TbdrHttpEngine *eng, TbdrHttpRequest *req, CURLcode rc)
{
	bool		retries_left = req->attempts <= eng->opts.max_retries;

	release_easy(eng, req);

	if (req->sink_failed)
	{
		/* the receiver refused, or a resumed answer was wrong: final */
		mark_done(req, false);
		return;
	}
	if (req->too_big)
	{
		tbdr_error_set(&req->err, TBDR_ERR_CORRUPT,
					   "could not %s: the answer is larger than %zu bytes", req->what,
					   req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE);
		mark_done(req, false);
		return;
	}

	if (rc == CURLE_OK && req->write && is_2xx(req->status) &&
		req->content_length >= 0 && req->attempt_delivered != req->content_length &&
		strcmp(req->method, "HEAD") != 0)
	{
		/* curl checks this too; a short object must never pass */
		rc = CURLE_PARTIAL_FILE;
	}

	if (rc != CURLE_OK)
	{
		tbdr_error_set(&req->err, TBDR_ERR_NETWORK, "could not %s: %s",
					   req->what,
					   rc == CURLE_PARTIAL_FILE ? "the answer was cut short" :
					   curl_easy_strerror(rc));
		if (req->errbuf[0])
			tbdr_error_detail(&req->err, "%s (attempt %d of %d).", req->errbuf,
							  req->attempts, eng->opts.max_retries + 1);
		else
			tbdr_error_detail(&req->err, "Attempt %d of %d.", req->attempts,
							  eng->opts.max_retries + 1);
		network_hint(&req->err, rc);
		if (req->status)
			req->err.http_status = (int) req->status;
		strlcpy(req->err.request_id, req->request_id, sizeof(req->err.request_id));

		if (curl_error_retryable(rc) && retries_left)
			schedule_retry(eng, req);
		else
			mark_done(req, false);
		return;
	}

	if (req->resuming && req->status == 412)
	{
		tbdr_error_set(&req->err, TBDR_ERR_CONFLICT,
					   "could not %s: the object changed while it was being read",
					   req->what);
		req->err.http_status = 412;
		mark_done(req, false);
		return;
	}

	if (!is_2xx(req->status) && status_retryable(req) && retries_left)
	{
		schedule_retry(eng, req);
		return;
	}
	mark_done(req, true);
}

/* ------------------------------------------------------------------------
 * Driving the engine
 * ------------------------------------------------------------------------
 */

bool
tbdr_http_start(TbdrHttpEngine *eng, TbdrHttpRequest *req, TbdrError *err)
{
	req->attempts = 0;
	req->delivered = 0;
	req->ok = false;
	req->next_active = eng->active;
	eng->active = req;
	eng->nactive++;
	if (!begin_attempt(eng, req))
	{
		/* stays DONE in the active list: wait() returns it */
		if (err)
			*err = req->err;
		return false;
	}
	return true;
}

void
tbdr_http_cancel(TbdrHttpEngine *eng, TbdrHttpRequest *req)
{
	if (req->state == TBDR_HTTP_RUNNING || req->state == TBDR_HTTP_WAITING)
	{
		release_easy(eng, req);
		if (req->err.code == TBDR_OK)
			tbdr_error_set(&req->err, TBDR_ERR_INTERNAL, "could not %s: canceled", req->what);
		mark_done(req, false);
	}
}

/* Let curl work and collect finished attempts; start due retries. */
static void
drive(TbdrHttpEngine *eng, int timeout_ms)
{
	int			running;
	CURLMsg    *msg;
	int			left;
	double		now;
	bool		any_done = false;

	curl_multi_perform(eng->multi, &running);
	while ((msg = curl_multi_info_read(eng->multi, &left)) != NULL)
	{
		TbdrHttpRequest *req = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		if (req)
		{
			finish_attempt(eng, req, msg->data.result);
			if (req->state == TBDR_HTTP_DONE)
				any_done = true;
		}
	}

	now = now_monotonic();
	for (TbdrHttpRequest *req = eng->active; req; req = req->next_active)
	{
		if (req->state != TBDR_HTTP_WAITING)
			continue;
		if (now >= req->next_attempt_at)
		{
			if (!begin_attempt(eng, req))
				any_done = true;
		}
		else
		{
			int			ms = (int) ((req->next_attempt_at - now) * 1000) + 1;

			if (ms < timeout_ms)
				timeout_ms = ms;
		}
	}

	if (tbdr_http_interrupt_hook && tbdr_http_interrupt_hook())
	{
		for (TbdrHttpRequest *req = eng->active; req; req = req->next_active)
		{
			if (req->state == TBDR_HTTP_RUNNING || req->state == TBDR_HTTP_WAITING)
			{
				tbdr_error_set(&req->err, TBDR_ERR_INTERNAL, "could not %s: interrupted", req->what);
				tbdr_http_cancel(eng, req);
			}
		}
		any_done = true;
	}

	if (!any_done && timeout_ms > 0)
		curl_multi_poll(eng->multi, NULL, 0, timeout_ms, NULL);
}

static TbdrHttpRequest *
take_done(TbdrHttpEngine *eng)
{
	for (TbdrHttpRequest **p = &eng->active; *p; p = &(*p)->next_active)
	{
		TbdrHttpRequest *req = *p;

		if (req->state == TBDR_HTTP_DONE)
		{
			*p = req->next_active;
			req->next_active = NULL;
			req->state = TBDR_HTTP_IDLE;
			eng->nactive--;
			return req;
		}
	}
	return NULL;
}

TbdrHttpRequest *
tbdr_http_wait(TbdrHttpEngine *eng)
{
	for (;;)
	{
		TbdrHttpRequest *req = take_done(eng);

		if (req)
			return req;
		if (eng->active == NULL)
			return NULL;
		drive(eng, 1000);
	}
}

void
tbdr_http_poll(TbdrHttpEngine *eng)
{
	if (eng->active)
		drive(eng, 0);
}

bool
tbdr_http_perform(TbdrHttpEngine *eng, TbdrHttpRequest *req, TbdrError *err)
{
	TbdrHttpRequest *done;

	tbdr_http_start(eng, req, NULL);
	do
	{
		done = tbdr_http_wait(eng);
	} while (done != NULL && done != req);
	if (!req->ok && err)
		*err = req->err;
	return req->ok;
}

/* ------------------------------------------------------------------------
 * Error answers
 * ------------------------------------------------------------------------
 */

static const char *
status_text(long status)
{
	switch (status)
	{
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 409:
			return "Conflict";
		case 411:
			return "Length Required";
		case 412:
			return "Precondition Failed";
		case 416:
			return "Range Not Satisfiable";
		case 429:
			return "Too Many Requests";
		case 500:
			return "Internal Server Error";
		case 501:
			return "Not Implemented";
		case 502:
			return "Bad Gateway";
		case 503:
			return "Service Unavailable";
		case 504:
			return "Gateway Timeout";
	}
	return "error";
}

void
tbdr_http_answer_error(const TbdrHttpRequest *req, TbdrError *err)
{
	TbdrS3ErrorInfo info;
	bool		have_info;
	const char *code;
	TbdrErrCode ecode;

	have_info = req->response.len > 0 &&
		tbdr_s3xml_parse_error(req->response.data, req->response.len, &info);
	code = have_info ? info.code : "";

	if (req->status == 404)
		ecode = TBDR_ERR_NOT_FOUND;
	else if (req->status == 401 || req->status == 403)
		ecode = TBDR_ERR_AUTH;
	else if (req->status == 412 || req->status == 409)
		ecode = TBDR_ERR_CONFLICT;
	else
		ecode = TBDR_ERR_S3;

	if (have_info && info.message[0])
		tbdr_error_set(err, ecode, "could not %s: %s", req->what, info.message);
	else if (have_info && code[0])
		tbdr_error_set(err, ecode, "could not %s: %s", req->what, code);
	else
		tbdr_error_set(err, ecode, "could not %s: HTTP %ld %s", req->what,
					   req->status, status_text(req->status));
	err->http_status = (int) req->status;
	strlcpy(err->s3_code, code, sizeof(err->s3_code));
	if (have_info && info.request_id[0])
		strlcpy(err->request_id, info.request_id, sizeof(err->request_id));
	else
		strlcpy(err->request_id, req->request_id, sizeof(err->request_id));
	if (req->attempts > 1)
		tbdr_error_detail(err, "Gave up after %d attempts.", req->attempts);

	if (strcmp(code, "SignatureDoesNotMatch") == 0 ||
		strcmp(code, "InvalidAccessKeyId") == 0 ||
		(code[0] == '\0' && (req->status == 401 || req->status == 403)))
		tbdr_error_hint(err, "Check tbdr.s3_access_key_id and tbdr.s3_secret_access_key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the credentials file and profile).");
	else if (strcmp(code, "AccessDenied") == 0)
		tbdr_error_hint(err, "The credentials are valid but not allowed to do this: check the bucket policy or IAM permissions for the bucket and prefix of tbdr.repository.");
	else if (strcmp(code, "NoSuchBucket") == 0)
		tbdr_error_hint(err, "Check the bucket name in tbdr.repository (and tbdr.s3_endpoint).");
	else if (strcmp(code, "RequestTimeTooSkewed") == 0)
		tbdr_error_hint(err, "The local clock differs too much from the server's: fix the clock (NTP).");
	else if (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidToken") == 0 ||
			 strcmp(code, "TokenRefreshRequired") == 0)
		tbdr_error_hint(err, "The session token is expired or invalid: refresh tbdr.s3_session_token (or AWS_SESSION_TOKEN).");
	else if (strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
			 strcmp(code, "PermanentRedirect") == 0 ||
			 strcmp(code, "IllegalLocationConstraintException") == 0)
		tbdr_error_hint(err, "Check tbdr.s3_region (the bucket's region) and tbdr.s3_endpoint.");
	else if (strcmp(code, "InvalidStorageClass") == 0)
		tbdr_error_hint(err, "Check tbdr.s3_storage_class.");
	else if (strncmp(code, "KMS", 3) == 0)
		tbdr_error_hint(err, "Check tbdr.s3_sse and tbdr.s3_sse_kms_key_id, and the KMS key's permissions.");
	else if (req->status == 501)
		tbdr_error_hint(err, "The S3 server does not implement this request: not every S3-compatible store supports tbdr.s3_sse or tbdr.s3_storage_class; try without them.");
	else if (req->status >= 500 || req->status == 429 || strcmp(code, "SlowDown") == 0)
		tbdr_error_hint(err, "The S3 server kept failing or throttling; retried %d times (tbdr.s3_max_retries).",
						req->attempts - 1);

	if (have_info)
		tbdr_s3xml_free_error_info(&info);
}
