/*-------------------------------------------------------------------------
 * s3xml.c
 *	  Parsing of S3's XML answers with libexpat (see s3xml.h).
 *
 * One generic collector drives expat: it keeps the path of the current
 * element relative to the root ("Contents/Key"), collects the character data
 * of each element, enforces the depth limit, refuses DOCTYPEs, and reports
 * every element start and end to a per-answer handler.  The handlers only
 * pick out the paths they know, so unknown elements (S3 adds some every few
 * years) are ignored, and memory stays proportional to the result, not to
 * the document.
 *
 * A document whose root is <Error> is always recognized, whatever answer was
 * expected: S3 can answer 200 with an <Error> body (CompleteMultipartUpload),
 * and turning that into TBDR_ERR_S3 with S3's code is more useful than
 * "unexpected root element".
 *
 * Namespace processing is off: element names are matched on their local
 * part (anything after a ':' prefix), so documents with and without
 * xmlns="http://s3.amazonaws.com/doc/2006-03-01/" parse the same.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <limits.h>
#include <expat.h>

#include "core/error.h"
#include "core/s3xml.h"
#include "lib/stringinfo.h"

struct S3XmlCollector;

/*
 * Per-answer handler: called at the start of each element below the root
 * with text == NULL, and at its end with its character data.  path is
 * relative to the root ("" for the root itself).
 */
typedef void (*S3XmlHandler) (struct S3XmlCollector *c, void *arg,
							  const char *path, const char *text);

typedef struct S3XmlCollector
{
	XML_Parser	parser;
	const char *what;			/* name of the S3 request, for messages */
	const char *root;			/* expected root element */
	S3XmlHandler handler;
	void	   *arg;

	int			depth;			/* number of open elements */
	StringInfoData path;
	int			path_len[TBDR_S3XML_MAX_DEPTH + 1];
	StringInfoData text;

	bool		is_error_doc;	/* root is <Error> */
	TbdrS3ErrorInfo errinfo;	/* filled when is_error_doc */

	char	   *fail;			/* why we stopped the parser, palloc'd */
	unsigned long fail_line;
} S3XmlCollector;

/* ----------------------------------------------------------------
 * Generic collector
 * ----------------------------------------------------------------
 */

/*
 * Stop the parser with a reason.  Only the first reason counts: expat may
 * still deliver a few events after XML_StopParser, which the handlers
 * ignore.
 */
static void
s3xml_fail(S3XmlCollector *c, const char *fmt,...) pg_attribute_printf(2, 3);

static void
s3xml_fail(S3XmlCollector *c, const char *fmt,...)
{
	char		buf[512];
	va_list		ap;

	if (c->fail)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->fail = pstrdup(buf);
	c->fail_line = (unsigned long) XML_GetCurrentLineNumber(c->parser);
	XML_StopParser(c->parser, XML_FALSE);
}

/* Local part of an element name: "s3:Key" -> "Key". */
static const char *
local_name(const XML_Char *name)
{
	const char *colon = strrchr(name, ':');

	return colon ? colon + 1 : name;
}

/* pfree that accepts NULL, for the optional fields of results. */
static void
pfree_if(void *p)
{
	if (p)
		pfree(p);
}

static void
replace_str(char **dst, const char *text)
{
	pfree_if(*dst);
	*dst = pstrdup(text);
}

/* Fills errinfo from an <Error> document. */
static void
error_doc_handler(S3XmlCollector *c, const char *path, const char *text)
{
	TbdrS3ErrorInfo *e = &c->errinfo;

	if (text == NULL)
		return;
	if (strcmp(path, "Code") == 0)
		replace_str(&e->code, text);
	else if (strcmp(path, "Message") == 0)
		replace_str(&e->message, text);
	else if (strcmp(path, "RequestId") == 0)
		replace_str(&e->request_id, text);
	else if (strcmp(path, "Resource") == 0)
		replace_str(&e->resource, text);
	else if (strcmp(path, "Key") == 0 && e->resource == NULL)
		replace_str(&e->resource, text);
}

static void
dispatch(S3XmlCollector *c, const char *text)
{
	if (c->is_error_doc)
		error_doc_handler(c, c->path.data, text);
	else if (c->handler)
		c->handler(c, c->arg, c->path.data, text);
}

static void XMLCALL
start_element(void *userData, const XML_Char *name, const XML_Char **atts)
{
	S3XmlCollector *c = (S3XmlCollector *) userData;
	const char *lname = local_name(name);

	if (c->fail)
		return;
	if (c->depth == 0)
	{
		if (strcmp(lname, "Error") == 0)
			c->is_error_doc = true;
		else if (strcmp(lname, c->root) != 0)
		{
			s3xml_fail(c, "unexpected root element <%.100s>, expected <%s>",
					   lname, c->root);
			return;
		}
	}
	if (c->depth >= TBDR_S3XML_MAX_DEPTH)
	{
		s3xml_fail(c, "elements nested deeper than %d levels",
				   TBDR_S3XML_MAX_DEPTH);
		return;
	}

	/* The root is not part of the path. */
	c->path_len[c->depth] = c->path.len;
	if (c->depth > 0)
	{
		if (c->path.len > 0)
			appendStringInfoChar(&c->path, '/');
		appendStringInfoString(&c->path, lname);
	}
	c->depth++;
	resetStringInfo(&c->text);
	dispatch(c, NULL);
}

static void XMLCALL
end_element(void *userData, const XML_Char *name)
{
	S3XmlCollector *c = (S3XmlCollector *) userData;

	if (c->fail || c->depth == 0)
		return;
	dispatch(c, c->text.data);
	resetStringInfo(&c->text);
	c->depth--;
	c->path.len = c->path_len[c->depth];
	c->path.data[c->path.len] = '\0';
}

static void XMLCALL
char_data(void *userData, const XML_Char *s, int len)
{
	S3XmlCollector *c = (S3XmlCollector *) userData;

	if (c->fail || c->depth == 0)
		return;
	appendBinaryStringInfo(&c->text, s, len);
}

/*
 * No DOCTYPE at all: S3 never sends one, and refusing it up front rules out
 * entity expansion (billion laughs) and external entities.
 */
static void XMLCALL
start_doctype(void *userData, const XML_Char *doctypeName,
			  const XML_Char *sysid, const XML_Char *pubid,
			  int has_internal_subset)
{
	s3xml_fail((S3XmlCollector *) userData,
			   "DOCTYPE declarations are not allowed");
}

static void XMLCALL
entity_decl(void *userData, const XML_Char *entityName,
			int is_parameter_entity, const XML_Char *value, int value_length,
			const XML_Char *base, const XML_Char *systemId,
			const XML_Char *publicId, const XML_Char *notationName)
{
	s3xml_fail((S3XmlCollector *) userData,
			   "entity declarations are not allowed");
}

/* The start of a bad body, printable ASCII only, for the error detail. */
static void
body_excerpt(TbdrError *err, const char *body, size_t len)
{
	char		buf[81];
	size_t		n = Min(len, sizeof(buf) - 1);
	size_t		i;

	if (len == 0)
		return;
	for (i = 0; i < n; i++)
	{
		unsigned char ch = (unsigned char) body[i];

		buf[i] = (ch >= 0x20 && ch < 0x7f) ? (char) ch : '?';
	}
	buf[n] = '\0';
	tbdr_error_detail(err, "The answer starts with: %s%s", buf,
					  len > n ? "..." : "");
}

static void
free_error_fields(TbdrS3ErrorInfo *e)
{
	pfree_if(e->code);
	pfree_if(e->message);
	pfree_if(e->request_id);
	pfree_if(e->resource);
	memset(e, 0, sizeof(*e));
}

/* Missing fields of an <Error> become "" (resource stays NULL). */
static void
complete_error_info(TbdrS3ErrorInfo *e)
{
	if (e->code == NULL)
		e->code = pstrdup("");
	if (e->message == NULL)
		e->message = pstrdup("");
	if (e->request_id == NULL)
		e->request_id = pstrdup("");
}

typedef enum S3XmlOutcome
{
	S3XML_OK,					/* well-formed, expected root */
	S3XML_ERROR_DOC,			/* well-formed <Error>; c->errinfo filled */
	S3XML_BAD					/* err set (TBDR_ERR_CORRUPT) */
} S3XmlOutcome;

/*
 * Parse body, calling handler for each element.  err may be NULL (then the
 * reason is dropped).  The caller frees c->errinfo on S3XML_ERROR_DOC.
 */
static S3XmlOutcome
s3xml_run(S3XmlCollector *c, const char *what, const char *root,
		  S3XmlHandler handler, void *arg,
		  const char *body, size_t len, TbdrError *err)
{
	TbdrError	dummy;
	S3XmlOutcome result;
	enum XML_Status status;
	const char *why = NULL;
	char		whybuf[128];

	if (err == NULL)
		err = &dummy;
	memset(c, 0, sizeof(*c));
	c->what = what;
	c->root = root;
	c->handler = handler;
	c->arg = arg;

	/*
	 * S3 sends keep-alive whitespace while it works on a long
	 * CompleteMultipartUpload; expat refuses anything before "<?xml".
	 */
	if (body == NULL)
		len = 0;
	while (len > 0 && (*body == ' ' || *body == '\t' || *body == '\r' ||
					   *body == '\n'))
	{
		body++;
		len--;
	}

	if (len == 0)
		why = "the body is empty";
	else if (len > (size_t) TBDR_S3XML_MAX_BYTES)
	{
		snprintf(whybuf, sizeof(whybuf),
				 "the body is larger than the limit of %d bytes",
				 TBDR_S3XML_MAX_BYTES);
		why = whybuf;
	}
	if (why)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "could not parse the S3 answer to %s: %s", what, why);
		body_excerpt(err, body, len);
		return S3XML_BAD;
	}

	/*
	 * Declaring UTF-8 overrides any encoding= in the document: S3 speaks
	 * UTF-8 only, and anything else is rejected as invalid tokens.
	 */
	c->parser = XML_ParserCreate("UTF-8");
	if (c->parser == NULL)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL,
					   "could not parse the S3 answer to %s: out of memory",
					   what);
		return S3XML_BAD;
	}
	initStringInfo(&c->path);
	initStringInfo(&c->text);
	XML_SetUserData(c->parser, c);
	XML_SetElementHandler(c->parser, start_element, end_element);
	XML_SetCharacterDataHandler(c->parser, char_data);
	XML_SetStartDoctypeDeclHandler(c->parser, start_doctype);
	XML_SetEntityDeclHandler(c->parser, entity_decl);
	XML_SetParamEntityParsing(c->parser, XML_PARAM_ENTITY_PARSING_NEVER);

	status = XML_Parse(c->parser, body, (int) len, XML_TRUE);

	if (c->fail)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "could not parse the S3 answer to %s: %s at line %lu",
					   what, c->fail, c->fail_line);
		body_excerpt(err, body, len);
		result = S3XML_BAD;
	}
	else if (status != XML_STATUS_OK)
	{
		enum XML_Error code = XML_GetErrorCode(c->parser);

		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "could not parse the S3 answer to %s: %s at line %lu, column %lu",
					   what, XML_ErrorString(code),
					   (unsigned long) XML_GetCurrentLineNumber(c->parser),
					   (unsigned long) XML_GetCurrentColumnNumber(c->parser));
		body_excerpt(err, body, len);
		result = S3XML_BAD;
	}
	else if (c->is_error_doc)
	{
		complete_error_info(&c->errinfo);
		result = S3XML_ERROR_DOC;
	}
	else
		result = S3XML_OK;

	if (result != S3XML_ERROR_DOC)
		free_error_fields(&c->errinfo);
	if (result == S3XML_BAD)
		tbdr_error_hint(err, "The endpoint may not be an S3 server, or something between tbdr and S3 altered the answer.");
	pfree_if(c->fail);
	pfree(c->path.data);
	pfree(c->text.data);
	XML_ParserFree(c->parser);
	c->parser = NULL;
	return result;
}

/* Turn an <Error> document received for `what` into err; frees errinfo. */
static void
error_doc_to_err(S3XmlCollector *c, TbdrError *err)
{
	TbdrS3ErrorInfo *e = &c->errinfo;

	tbdr_error_set(err, TBDR_ERR_S3, "S3 error %s in the answer to %s: %s",
				   e->code[0] ? e->code : "(no code)", c->what,
				   e->message[0] ? e->message : "(no message)");
	strlcpy(err->s3_code, e->code, sizeof(err->s3_code));
	strlcpy(err->request_id, e->request_id, sizeof(err->request_id));
	if (e->resource)
		tbdr_error_detail(err, "Resource: %s", e->resource);
	free_error_fields(e);
}

/*
 * Run the collector for an answer whose result is built by handler; on an
 * <Error> document set err to TBDR_ERR_S3.  true only for S3XML_OK.
 */
static bool
s3xml_parse(const char *what, const char *root, S3XmlHandler handler,
			void *arg, const char *body, size_t len, TbdrError *err)
{
	S3XmlCollector c;

	switch (s3xml_run(&c, what, root, handler, arg, body, len, err))
	{
		case S3XML_OK:
			return true;
		case S3XML_ERROR_DOC:
			error_doc_to_err(&c, err);
			return false;
		case S3XML_BAD:
			break;
	}
	return false;
}

static void
set_missing(TbdrError *err, const char *what, const char *elem)
{
	tbdr_error_set(err, TBDR_ERR_CORRUPT,
				   "could not parse the S3 answer to %s: element <%s> is missing",
				   what, elem);
	tbdr_error_hint(err, "The endpoint may not be an S3 server, or something between tbdr and S3 altered the answer.");
}

/*
 * A page of a listing that says it is truncated must say where the next
 * page starts: without that marker the caller would list the first page
 * forever.
 */
static bool
next_page_known(bool is_truncated, bool has_marker, const char *what,
				const char *marker, TbdrError *err)
{
	if (is_truncated && !has_marker)
	{
		set_missing(err, what, marker);
		return false;
	}
	return true;
}

/* ----------------------------------------------------------------
 * Value helpers
 * ----------------------------------------------------------------
 */

static bool
is_xml_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool
parse_int64_text(const char *text, int64 *out)
{
	char	   *end;
	long long	v;

	while (is_xml_space(*text))
		text++;
	if (*text < '0' || *text > '9')
		return false;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text)
		return false;
	while (is_xml_space(*end))
		end++;
	if (*end != '\0')
		return false;
	*out = (int64) v;
	return true;
}

static bool
parse_bool_text(const char *text, bool *out)
{
	char		buf[8];
	size_t		n;

	while (is_xml_space(*text))
		text++;
	n = strlen(text);
	while (n > 0 && is_xml_space(text[n - 1]))
		n--;
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (pg_strcasecmp(buf, "true") == 0)
		*out = true;
	else if (pg_strcasecmp(buf, "false") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* ETag without whitespace and surrounding quotes. */
static char *
etag_dup(const char *text)
{
	size_t		n;

	while (is_xml_space(*text))
		text++;
	n = strlen(text);
	while (n > 0 && is_xml_space(text[n - 1]))
		n--;
	if (n >= 2 && text[0] == '"' && text[n - 1] == '"')
	{
		text++;
		n -= 2;
	}
	return pnstrdup(text, n);
}

static void
field_int64(S3XmlCollector *c, const char *text, const char *elem, int64 *out)
{
	if (!parse_int64_text(text, out))
		s3xml_fail(c, "invalid <%s> \"%.64s\"", elem, text);
}

static void
field_bool(S3XmlCollector *c, const char *text, const char *elem, bool *out)
{
	if (!parse_bool_text(text, out))
		s3xml_fail(c, "invalid <%s> \"%.64s\"", elem, text);
}

/* NULL for an empty marker/token: S3 sends <NextKeyMarker/> at the end. */
static void
field_marker(const char *text, char **out)
{
	pfree_if(*out);
	*out = text[0] ? pstrdup(text) : NULL;
}

/* Grow a palloc'd array to hold one more element; zero the new one. */
static void *
array_add(void *array, int *n, int *cap, size_t elem_size)
{
	char	   *a = array;

	if (*n >= *cap)
	{
		int			newcap = *cap ? *cap * 2 : 16;

		a = a ? repalloc(a, newcap * elem_size) : palloc(newcap * elem_size);
		*cap = newcap;
	}
	memset(a + (size_t) *n * elem_size, 0, elem_size);
	(*n)++;
	return a;
}

/* ----------------------------------------------------------------
 * <Error>
 * ----------------------------------------------------------------
 */

bool
tbdr_s3xml_parse_error(const char *body, size_t len, TbdrS3ErrorInfo *out)
{
	S3XmlCollector c;

	memset(out, 0, sizeof(*out));
	if (s3xml_run(&c, "an S3 request (error)", "Error", NULL, NULL,
				  body, len, NULL) != S3XML_ERROR_DOC)
		return false;
	*out = c.errinfo;
	return true;
}

void
tbdr_s3xml_free_error_info(TbdrS3ErrorInfo *info)
{
	if (info)
		free_error_fields(info);
}

/* ----------------------------------------------------------------
 * ListObjectsV2
 * ----------------------------------------------------------------
 */

typedef struct ListState
{
	TbdrS3ListResult *out;
	int			cap_entries;
	int			cap_prefixes;
	bool		in_contents;
} ListState;

static void
list_handler(S3XmlCollector *c, void *arg, const char *path, const char *text)
{
	ListState  *st = arg;
	TbdrS3ListResult *out = st->out;
	TbdrS3ListEntry *e;

	if (text == NULL)
	{
		if (strcmp(path, "Contents") == 0)
		{
			out->entries = array_add(out->entries, &out->nentries,
									 &st->cap_entries, sizeof(TbdrS3ListEntry));
			st->in_contents = true;
		}
		return;
	}

	if (strncmp(path, "Contents/", 9) == 0 && st->in_contents)
	{
		const char *f = path + 9;

		e = &out->entries[out->nentries - 1];
		if (strcmp(f, "Key") == 0)
			replace_str(&e->key, text);
		else if (strcmp(f, "Size") == 0)
			field_int64(c, text, "Size", &e->size);
		else if (strcmp(f, "ETag") == 0)
		{
			pfree_if(e->etag);
			e->etag = etag_dup(text);
		}
		else if (strcmp(f, "LastModified") == 0)
			replace_str(&e->last_modified, text);
	}
	else if (strcmp(path, "Contents") == 0)
	{
		e = &out->entries[out->nentries - 1];
		if (e->key == NULL)
			s3xml_fail(c, "<Contents> without <Key>");
		st->in_contents = false;
	}
	else if (strcmp(path, "CommonPrefixes/Prefix") == 0)
	{
		out->common_prefixes = array_add(out->common_prefixes,
										 &out->ncommon_prefixes,
										 &st->cap_prefixes, sizeof(char *));
		out->common_prefixes[out->ncommon_prefixes - 1] = pstrdup(text);
	}
	else if (strcmp(path, "IsTruncated") == 0)
		field_bool(c, text, "IsTruncated", &out->is_truncated);
	else if (strcmp(path, "NextContinuationToken") == 0)
		field_marker(text, &out->next_continuation_token);
}

bool
tbdr_s3xml_parse_list(const char *body, size_t len,
					  TbdrS3ListResult *out, TbdrError *err)
{
	ListState	st;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	st.out = out;
	if (!s3xml_parse("ListObjectsV2", "ListBucketResult", list_handler, &st,
					 body, len, err) ||
		!next_page_known(out->is_truncated, out->next_continuation_token != NULL,
						 "ListObjectsV2", "NextContinuationToken", err))
	{
		tbdr_s3xml_free_list(out);
		return false;
	}
	return true;
}

void
tbdr_s3xml_free_list(TbdrS3ListResult *list)
{
	int			i;

	if (list == NULL)
		return;
	for (i = 0; i < list->nentries; i++)
	{
		TbdrS3ListEntry *e = &list->entries[i];

		pfree_if(e->key);
		pfree_if(e->etag);
		pfree_if(e->last_modified);
	}
	pfree_if(list->entries);
	for (i = 0; i < list->ncommon_prefixes; i++)
		pfree(list->common_prefixes[i]);
	pfree_if(list->common_prefixes);
	pfree_if(list->next_continuation_token);
	memset(list, 0, sizeof(*list));
}

/* ----------------------------------------------------------------
 * CreateMultipartUpload and CompleteMultipartUpload
 * ----------------------------------------------------------------
 */

typedef struct SingleState
{
	const char *elem;			/* top-level element to capture */
	bool		is_etag;
	char	   *value;
} SingleState;

static void
single_handler(S3XmlCollector *c, void *arg, const char *path, const char *text)
{
	SingleState *st = arg;

	if (text == NULL || strcmp(path, st->elem) != 0)
		return;
	pfree_if(st->value);
	st->value = st->is_etag ? etag_dup(text) : pstrdup(text);
}

static bool
parse_single(const char *what, const char *root, const char *elem,
			 bool is_etag, const char *body, size_t len,
			 char **value, TbdrError *err)
{
	SingleState st;

	*value = NULL;
	memset(&st, 0, sizeof(st));
	st.elem = elem;
	st.is_etag = is_etag;
	if (!s3xml_parse(what, root, single_handler, &st, body, len, err))
	{
		pfree_if(st.value);
		return false;
	}
	if (st.value == NULL || st.value[0] == '\0')
	{
		pfree_if(st.value);
		set_missing(err, what, elem);
		return false;
	}
	*value = st.value;
	return true;
}

bool
tbdr_s3xml_parse_initiate(const char *body, size_t len,
						  char **upload_id, TbdrError *err)
{
	return parse_single("CreateMultipartUpload",
						"InitiateMultipartUploadResult", "UploadId", false,
						body, len, upload_id, err);
}

bool
tbdr_s3xml_parse_complete(const char *body, size_t len,
						  char **etag, TbdrError *err)
{
	bool		ok;

	ok = parse_single("CompleteMultipartUpload",
					  "CompleteMultipartUploadResult", "ETag", true,
					  body, len, etag, err);
	if (!ok && err && err->code == TBDR_ERR_S3 && err->detail[0] == '\0')
		tbdr_error_detail(err, "S3 accepted the request (HTTP 200) but did not complete the upload.");
	return ok;
}

/* ----------------------------------------------------------------
 * DeleteObjects
 * ----------------------------------------------------------------
 */

typedef struct DeleteState
{
	TbdrS3DeleteResult *out;
	int			cap;
	bool		in_error;
} DeleteState;

static void
delete_handler(S3XmlCollector *c, void *arg, const char *path, const char *text)
{
	DeleteState *st = arg;
	TbdrS3DeleteResult *out = st->out;
	TbdrS3DeleteError *e;

	if (text == NULL)
	{
		if (strcmp(path, "Deleted") == 0)
			out->ndeleted++;
		else if (strcmp(path, "Error") == 0)
		{
			out->errors = array_add(out->errors, &out->nerrors, &st->cap,
									sizeof(TbdrS3DeleteError));
			st->in_error = true;
		}
		return;
	}
	if (!st->in_error)
		return;
	e = &out->errors[out->nerrors - 1];
	if (strcmp(path, "Error/Key") == 0)
		replace_str(&e->key, text);
	else if (strcmp(path, "Error/Code") == 0)
		replace_str(&e->code, text);
	else if (strcmp(path, "Error/Message") == 0)
		replace_str(&e->message, text);
	else if (strcmp(path, "Error") == 0)
	{
		/* Never NULL, so callers can print them as they are. */
		if (e->key == NULL)
			e->key = pstrdup("");
		if (e->code == NULL)
			e->code = pstrdup("");
		if (e->message == NULL)
			e->message = pstrdup("");
		st->in_error = false;
	}
}

bool
tbdr_s3xml_parse_delete(const char *body, size_t len,
						TbdrS3DeleteResult *out, TbdrError *err)
{
	DeleteState st;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	st.out = out;
	if (!s3xml_parse("DeleteObjects", "DeleteResult", delete_handler, &st,
					 body, len, err))
	{
		tbdr_s3xml_free_delete(out);
		return false;
	}
	return true;
}

void
tbdr_s3xml_free_delete(TbdrS3DeleteResult *res)
{
	int			i;

	if (res == NULL)
		return;
	for (i = 0; i < res->nerrors; i++)
	{
		TbdrS3DeleteError *e = &res->errors[i];

		pfree_if(e->key);
		pfree_if(e->code);
		pfree_if(e->message);
	}
	pfree_if(res->errors);
	memset(res, 0, sizeof(*res));
}

/* ----------------------------------------------------------------
 * ListMultipartUploads
 * ----------------------------------------------------------------
 */

typedef struct UploadsState
{
	TbdrS3UploadList *out;
	int			cap;
	bool		in_upload;
} UploadsState;

static void
uploads_handler(S3XmlCollector *c, void *arg, const char *path,
				const char *text)
{
	UploadsState *st = arg;
	TbdrS3UploadList *out = st->out;
	TbdrS3Upload *u;

	if (text == NULL)
	{
		if (strcmp(path, "Upload") == 0)
		{
			out->uploads = array_add(out->uploads, &out->nuploads, &st->cap,
									 sizeof(TbdrS3Upload));
			st->in_upload = true;
		}
		return;
	}
	if (st->in_upload && strncmp(path, "Upload/", 7) == 0)
	{
		u = &out->uploads[out->nuploads - 1];
		if (strcmp(path + 7, "Key") == 0)
			replace_str(&u->key, text);
		else if (strcmp(path + 7, "UploadId") == 0)
			replace_str(&u->upload_id, text);
	}
	else if (strcmp(path, "Upload") == 0)
	{
		u = &out->uploads[out->nuploads - 1];
		if (u->key == NULL || u->upload_id == NULL || u->upload_id[0] == '\0')
			s3xml_fail(c, "<Upload> without <Key> or <UploadId>");
		st->in_upload = false;
	}
	else if (strcmp(path, "IsTruncated") == 0)
		field_bool(c, text, "IsTruncated", &out->is_truncated);
	else if (strcmp(path, "NextKeyMarker") == 0)
		field_marker(text, &out->next_key_marker);
	else if (strcmp(path, "NextUploadIdMarker") == 0)
		field_marker(text, &out->next_upload_id_marker);
}

bool
tbdr_s3xml_parse_uploads(const char *body, size_t len,
						 TbdrS3UploadList *out, TbdrError *err)
{
	UploadsState st;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	st.out = out;
	if (!s3xml_parse("ListMultipartUploads", "ListMultipartUploadsResult",
					 uploads_handler, &st, body, len, err) ||
		!next_page_known(out->is_truncated, out->next_key_marker != NULL,
						 "ListMultipartUploads", "NextKeyMarker", err))
	{
		tbdr_s3xml_free_uploads(out);
		return false;
	}
	return true;
}

void
tbdr_s3xml_free_uploads(TbdrS3UploadList *list)
{
	int			i;

	if (list == NULL)
		return;
	for (i = 0; i < list->nuploads; i++)
	{
		pfree_if(list->uploads[i].key);
		pfree_if(list->uploads[i].upload_id);
	}
	pfree_if(list->uploads);
	pfree_if(list->next_key_marker);
	pfree_if(list->next_upload_id_marker);
	memset(list, 0, sizeof(*list));
}

/* ----------------------------------------------------------------
 * ListParts
 * ----------------------------------------------------------------
 */

typedef struct PartsState
{
	TbdrS3PartList *out;
	int			cap;
	bool		in_part;
} PartsState;

static void
field_part_number(S3XmlCollector *c, const char *text, const char *elem,
				  int *out)
{
	int64		v;

	/* S3 part numbers are 1..10000; markers may be 0. */
	if (!parse_int64_text(text, &v) || v > INT_MAX)
		s3xml_fail(c, "invalid <%s> \"%.64s\"", elem, text);
	else
		*out = (int) v;
}

static void
parts_handler(S3XmlCollector *c, void *arg, const char *path, const char *text)
{
	PartsState *st = arg;
	TbdrS3PartList *out = st->out;
	TbdrS3Part *p;

	if (text == NULL)
	{
		if (strcmp(path, "Part") == 0)
		{
			out->parts = array_add(out->parts, &out->nparts, &st->cap,
								   sizeof(TbdrS3Part));
			st->in_part = true;
		}
		return;
	}
	if (st->in_part && strncmp(path, "Part/", 5) == 0)
	{
		p = &out->parts[out->nparts - 1];
		if (strcmp(path + 5, "PartNumber") == 0)
			field_part_number(c, text, "PartNumber", &p->part_number);
		else if (strcmp(path + 5, "Size") == 0)
			field_int64(c, text, "Size", &p->size);
		else if (strcmp(path + 5, "ETag") == 0)
		{
			pfree_if(p->etag);
			p->etag = etag_dup(text);
		}
	}
	else if (strcmp(path, "Part") == 0)
	{
		p = &out->parts[out->nparts - 1];
		if (p->part_number <= 0 || p->etag == NULL)
			s3xml_fail(c, "<Part> without <PartNumber> or <ETag>");
		st->in_part = false;
	}
	else if (strcmp(path, "IsTruncated") == 0)
		field_bool(c, text, "IsTruncated", &out->is_truncated);
	else if (strcmp(path, "NextPartNumberMarker") == 0 && text[0] != '\0')
		field_part_number(c, text, "NextPartNumberMarker",
						  &out->next_part_number_marker);
}

bool
tbdr_s3xml_parse_parts(const char *body, size_t len,
					   TbdrS3PartList *out, TbdrError *err)
{
	PartsState	st;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	st.out = out;
	if (!s3xml_parse("ListParts", "ListPartsResult", parts_handler, &st,
					 body, len, err) ||
		!next_page_known(out->is_truncated, out->next_part_number_marker > 0,
						 "ListParts", "NextPartNumberMarker", err))
	{
		tbdr_s3xml_free_parts(out);
		return false;
	}
	return true;
}

void
tbdr_s3xml_free_parts(TbdrS3PartList *list)
{
	int			i;

	if (list == NULL)
		return;
	for (i = 0; i < list->nparts; i++)
		pfree_if(list->parts[i].etag);
	pfree_if(list->parts);
	memset(list, 0, sizeof(*list));
}

/* ----------------------------------------------------------------
 * Escaping
 * ----------------------------------------------------------------
 */

/*
 * Escape for element content.  CR, LF and TAB become character references
 * because an XML parser would otherwise normalize them (S3 keys may contain
 * them); other C0 controls cannot be represented in XML 1.0 and are sent as
 * references too, which S3 accepts for keys.
 */
void
tbdr_xml_escape(StringInfo buf, const char *s)
{
	const unsigned char *p;

	if (s == NULL)
		return;
	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '&':
				appendStringInfoString(buf, "&amp;");
				break;
			case '<':
				appendStringInfoString(buf, "&lt;");
				break;
			case '>':
				appendStringInfoString(buf, "&gt;");
				break;
			case '"':
				appendStringInfoString(buf, "&quot;");
				break;
			case '\'':
				appendStringInfoString(buf, "&apos;");
				break;
			default:
				if (*p < 0x20)
					appendStringInfo(buf, "&#%d;", (int) *p);
				else
					appendStringInfoChar(buf, (char) *p);
				break;
		}
	}
}
