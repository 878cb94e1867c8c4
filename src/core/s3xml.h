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

/* code, message and request_id are never NULL ("" when absent). */
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

/* ListParts (<ListPartsResult>), for resuming/inspecting an upload. */
typedef struct TbdrS3Part
{
	int			part_number;
	int64		size;
	char	   *etag;			/* without quotes */
} TbdrS3Part;

typedef struct TbdrS3PartList
{
	TbdrS3Part *parts;
	int			nparts;
	bool		is_truncated;
	int			next_part_number_marker;	/* 0 if none */
} TbdrS3PartList;

/*
 * Conventions of all parsers below:
 * - Everything returned is palloc'd in CurrentMemoryContext; free list
 *   results with the matching tbdr_s3xml_free_*() (it frees the contents and
 *   zeroes the struct, not the struct itself), or drop the context.
 * - On failure nothing is left allocated in *out and err is set:
 *   TBDR_ERR_CORRUPT for a body that is not the expected answer (malformed,
 *   truncated, too big, too deep, DOCTYPE, wrong root element, bad value),
 *   TBDR_ERR_S3 (with s3_code, request_id) when the body is an <Error>.
 * - Unknown elements are ignored; the xmlns may be present or not.
 * - Leading whitespace before the document is skipped (S3 sends keep-alive
 *   spaces during a long CompleteMultipartUpload).
 */

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

/* ListParts (<ListPartsResult>). */
extern bool tbdr_s3xml_parse_parts(const char *body, size_t len,
								   TbdrS3PartList *out, TbdrError *err);

/* Free the contents of a result (not the struct itself); NULL-safe. */
extern void tbdr_s3xml_free_error_info(TbdrS3ErrorInfo *info);
extern void tbdr_s3xml_free_list(TbdrS3ListResult *list);
extern void tbdr_s3xml_free_uploads(TbdrS3UploadList *list);
extern void tbdr_s3xml_free_delete(TbdrS3DeleteResult *res);
extern void tbdr_s3xml_free_parts(TbdrS3PartList *list);

/* XML-escape text for request bodies (DeleteObjects, Complete). */
extern void tbdr_xml_escape(StringInfo buf, const char *s);

#endif							/* TBDR_S3XML_H */
