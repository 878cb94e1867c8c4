/*-------------------------------------------------------------------------
 * http.h
 *	  The HTTP request layer of the S3 driver, on libcurl's multi interface.
 *
 * This is the one place where transient failures are retried.  A request
 * (TbdrHttpRequest) describes one logical call: method, URL, headers, an
 * optional body in memory, where the answer goes (a capped memory buffer or
 * a streaming write callback) and a signing callback that is called before
 * every attempt, so that each attempt carries a fresh signature and date.
 *
 * An engine (TbdrHttpEngine) runs any number of requests concurrently; each
 * request is retried on its own (exponential backoff with full jitter) on
 * 5xx answers, 429, 400 RequestTimeout, connection errors, timeouts and
 * truncated answers, up to max_retries retries.  Other answers are final and
 * handed to the caller, who decides what they mean (a 404 on HEAD is not an
 * error).  An interrupted streaming download resumes with a Range from where
 * the sink stopped, guarded by If-Match on the first answer's ETag, since
 * the sink cannot take bytes back.
 *
 * The engine keeps its connections alive across requests (the multi
 * handle's connection cache), never raises signals (CURLOPT_NOSIGNAL), and
 * never prints anything.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_HTTP_H
#define TBDR_HTTP_H

#include <time.h>

#include "core/error.h"
#include "core/sigv4.h"
#include "core/storage.h"
#include "lib/stringinfo.h"

typedef struct TbdrHttpEngine TbdrHttpEngine;
typedef struct TbdrHttpRequest TbdrHttpRequest;

typedef struct TbdrHttpOptions
{
	int			max_retries;	/* retries after the first attempt */
	int			timeout;		/* seconds: connect timeout, and a transfer
								 * without progress for that long fails */
	bool		verify_tls;
	const char *ca_file;		/* NULL or "": the system's CAs */
	int			parallel;		/* hint: connections kept per host */
} TbdrHttpOptions;

/*
 * Called before every attempt of a request: add the per-attempt headers
 * (x-amz-date, Authorization) with tbdr_http_attempt_header().  The headers
 * the attempt will send are in req->attempt_headers (those of the request
 * plus Range/If-Match added by a resume).  Return false with err set to fail
 * the request without retry.
 */
typedef bool (*TbdrHttpSignFn) (void *arg, TbdrHttpRequest *req, TbdrError *err);

typedef enum TbdrHttpState
{
	TBDR_HTTP_IDLE = 0,			/* not started */
	TBDR_HTTP_RUNNING,			/* an attempt is in the multi handle */
	TBDR_HTTP_WAITING,			/* backing off before the next attempt */
	TBDR_HTTP_DONE				/* finished, not yet returned by wait */
} TbdrHttpState;

struct TbdrHttpRequest
{
	/* ---- set by the caller (tbdr_http_request_init, then fields) ---- */
	const char *method;			/* "GET", "PUT", "HEAD", "POST", "DELETE" */
	char	   *url;			/* full, encoded (owned) */
	char	   *what;			/* for messages: "upload \"key\"" (owned) */

	TbdrKeyValue *headers;		/* fixed headers (owned, see add_header) */
	int			nheaders;
	int			maxheaders;

	const char *body;			/* request body (not owned), or NULL */
	size_t		body_len;

	/* Answer sink: write != NULL streams 2xx bodies, else memory. */
	TbdrWriteFn write;
	void	   *write_arg;
	size_t		max_response;	/* memory sink cap (0: 1 MB) */

	/*
	 * Streaming GET of a byte range: first byte and last byte (inclusive, -1
	 * for the end).  The layer sends the Range header itself so that it can
	 * resume.  range_start < 0: no Range header.
	 */
	int64		range_start;
	int64		range_end;

	TbdrHttpSignFn sign;
	void	   *sign_arg;

	void	   *user;			/* the caller's, untouched */

	/* ---- results, valid when finished ---- */
	bool		ok;				/* got a final HTTP answer (any status) */
	TbdrError	err;			/* when !ok: what went wrong (last attempt) */
	long		status;			/* HTTP status of the final answer */
	StringInfoData response;	/* memory sink, or the body of a non-2xx
								 * answer (capped) */
	char	   *etag;			/* ETag header without quotes, or NULL */
	int64		content_length; /* -1 if absent */
	time_t		last_modified;	/* 0 if absent */
	time_t		date;			/* Date header, 0 if absent */
	char		request_id[128];	/* x-amz-request-id */
	int64		delivered;		/* bytes given to the write sink, all
								 * attempts */
	int			attempts;

	/* ---- private to http.c ---- */
	TbdrHttpState state;
	TbdrKeyValue *attempt_headers;
	int			nattempt_headers;
	int			maxattempt_headers;
	void	   *easy;			/* CURL * */
	struct curl_slist *slist;
	size_t		body_pos;
	bool		resuming;
	bool		ranged;
	bool		sink_failed;
	bool		too_big;
	bool		in_body;
	int64		attempt_delivered;
	int64		resume_offset;
	char	   *first_etag;
	char		content_range[128];
	double		next_attempt_at;	/* monotonic seconds */
	double		attempt_started;
	char		errbuf[256];	/* CURL_ERROR_SIZE */
	TbdrHttpRequest *next_active;
};

/*
 * Optional: called about once a second while waiting; return true to abort
 * every running request (the backend checks for pending interrupts).
 */
typedef bool (*TbdrHttpInterruptFn) (void);
extern TbdrHttpInterruptFn tbdr_http_interrupt_hook;

extern TbdrHttpEngine *tbdr_http_engine_create(const TbdrHttpOptions *opts,
											   TbdrError *err);
extern void tbdr_http_engine_destroy(TbdrHttpEngine *eng);

/* Zero the request and set method, URL (copied) and what (copied). */
extern void tbdr_http_request_init(TbdrHttpRequest *req, const char *method,
								   const char *url, const char *what);
/* Add a fixed header (name and value copied). */
extern void tbdr_http_add_header(TbdrHttpRequest *req, const char *name,
								 const char *value);
/* From a sign callback: add a header to this attempt only (copied). */
extern void tbdr_http_attempt_header(TbdrHttpRequest *req, const char *name,
									 const char *value);
/* Free what the request owns (not the struct itself); stops it if running. */
extern void tbdr_http_request_free(TbdrHttpEngine *eng, TbdrHttpRequest *req);

/*
 * Add a request to the engine; it runs while tbdr_http_wait() or
 * tbdr_http_poll() is called.  Returns false (err set) if it could not start.
 */
extern bool tbdr_http_start(TbdrHttpEngine *eng, TbdrHttpRequest *req,
							TbdrError *err);

/*
 * Run the engine until some request finishes (with all its retries) and
 * return it; NULL when no request is active.  Finished requests have ok
 * (and status) or err set.
 */
extern TbdrHttpRequest *tbdr_http_wait(TbdrHttpEngine *eng);

/* Make progress without blocking (e.g. between reads of an upload source). */
extern void tbdr_http_poll(TbdrHttpEngine *eng);

/* Stop a running request (it is then finished, !ok). */
extern void tbdr_http_cancel(TbdrHttpEngine *eng, TbdrHttpRequest *req);

/* Start one request and wait for it; returns req->ok (err copied). */
extern bool tbdr_http_perform(TbdrHttpEngine *eng, TbdrHttpRequest *req,
							  TbdrError *err);

/* Number of requests started and not yet returned by tbdr_http_wait. */
extern int	tbdr_http_active(TbdrHttpEngine *eng);

/*
 * Turn a final non-2xx answer into an error: S3 code, message and request
 * id from the XML body or headers, "could not <what>: ..." and a hint
 * saying what to check.
 */
extern void tbdr_http_answer_error(const TbdrHttpRequest *req, TbdrError *err);

#endif							/* TBDR_HTTP_H */
