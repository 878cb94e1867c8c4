/*-------------------------------------------------------------------------
 * s3xml.h
 *	  Parsing of S3's XML answers with libexpat.
 *
 * Every parser refuses documents with a DOCTYPE or entity declarations (no
 * entity expansion), bodies over TBDR_S3XML_MAX_BYTES, nesting deeper than
 * TBDR_S3XML_MAX_DEPTH, and truncated or malformed XML, with a clear error.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_S3XML_H
#define TBDR_S3XML_H

#include "core/error.h"
#include "lib/stringinfo.h"

#define TBDR_S3XML_MAX_BYTES (64 * 1024 * 1024)
#define TBDR_S3XML_MAX_DEPTH 16

typedef struct TbdrS3ErrorInfo
{
	char	   *code;			/* <Code>, e.g. "NoSuchKey" */
	char	   *message;
	char	   *request_id;
	char	   *resource;		/* <Resource> or <Key>, may be NULL */
} TbdrS3ErrorInfo;

typedef struct TbdrS3ListEntry
{
	char	   *key;
	int64		size;
	char	   *etag;			/* without quotes */
	char	   *last_modified;	/* ISO 8601 as sent */
} TbdrS3ListEntry;

typedef struct TbdrS3ListResult
{
	TbdrS3ListEntry *entries;
	int			nentries;
	char	  **common_prefixes;
	int			ncommon_prefixes;
	bool		is_truncated;
	char	   *next_continuation_token;	/* NULL if none */
} TbdrS3ListResult;

typedef struct TbdrS3Upload
{
	char	   *key;
	char	   *upload_id;
} TbdrS3Upload;

typedef struct TbdrS3UploadList
{
	TbdrS3Upload *uploads;
	int			nuploads;
	bool		is_truncated;
	char	   *next_key_marker;
	char	   *next_upload_id_marker;
} TbdrS3UploadList;

typedef struct TbdrS3DeleteError
{
	char	   *key;
	char	   *code;
	char	   *message;
} TbdrS3DeleteError;

typedef struct TbdrS3DeleteResult
{
	int			ndeleted;
	TbdrS3DeleteError *errors;
	int			nerrors;
} TbdrS3DeleteResult;

/*
 * Returns true if body is a well-formed <Error> document and fills out.
 * Returns false (no error set) for anything else, including an empty body.
 */
extern bool tbdr_s3xml_parse_error(const char *body, size_t len,
								   TbdrS3ErrorInfo *out);

/* ListObjectsV2 (<ListBucketResult>). */
extern bool tbdr_s3xml_parse_list(const char *body, size_t len,
								  TbdrS3ListResult *out, TbdrError *err);

/* CreateMultipartUpload (<InitiateMultipartUploadResult>): the UploadId. */
extern bool tbdr_s3xml_parse_initiate(const char *body, size_t len,
									  char **upload_id, TbdrError *err);

/*
 * CompleteMultipartUpload.  S3 may answer 200 with an <Error> body: that is
 * returned as a failure with the S3 code in err.  On success *etag is set.
 */
extern bool tbdr_s3xml_parse_complete(const char *body, size_t len,
									  char **etag, TbdrError *err);

/* DeleteObjects (<DeleteResult>): counts <Deleted>, lists <Error>s. */
extern bool tbdr_s3xml_parse_delete(const char *body, size_t len,
									TbdrS3DeleteResult *out, TbdrError *err);

/* ListMultipartUploads (<ListMultipartUploadsResult>). */
extern bool tbdr_s3xml_parse_uploads(const char *body, size_t len,
									 TbdrS3UploadList *out, TbdrError *err);

/* XML-escape text for request bodies (DeleteObjects, Complete). */
extern void tbdr_xml_escape(StringInfo buf, const char *s);

#endif							/* TBDR_S3XML_H */
