/*-------------------------------------------------------------------------
 * test_s3xml.c
 *	  Unit tests of the S3 XML parsers (src/core/s3xml.c).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <stdlib.h>
#include <time.h>

#include "core/error.h"
#include "core/s3xml.h"
#include "lib/stringinfo.h"
#include "tap.h"

#define S3NS " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define XMLDECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

#define L(s) (s), strlen(s)

static bool
contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle) != NULL;
}

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- */

static void
test_error_doc(void)
{
	TbdrS3ErrorInfo e;
	const char *nosuchkey = XMLDECL
		"<Error><Code>NoSuchKey</Code>"
		"<Message>The specified key does not exist.</Message>"
		"<Key>wal/000000010000000000000001.zst</Key>"
		"<RequestId>4442587FB7D0A2F9</RequestId>"
		"<HostId>Zw0b4Xyz+abc/def=</HostId></Error>";
	const char *denied =
		"<Error" S3NS "><Code>AccessDenied</Code><Message>Access Denied</Message>"
		"<Resource>/bucket/base/x</Resource><Key>ignored</Key>"
		"<RequestId>TX1</RequestId></Error>";

	ok(tbdr_s3xml_parse_error(L(nosuchkey), &e), "error: NoSuchKey parses");
	is_str(e.code, "NoSuchKey", "error: code");
	is_str(e.message, "The specified key does not exist.", "error: message");
	is_str(e.request_id, "4442587FB7D0A2F9", "error: request id");
	is_str(e.resource, "wal/000000010000000000000001.zst", "error: <Key> as resource");
	tbdr_s3xml_free_error_info(&e);
	ok(e.code == NULL && e.resource == NULL, "error: free zeroes");

	ok(tbdr_s3xml_parse_error(L(denied), &e), "error: with namespace parses");
	is_str(e.code, "AccessDenied", "error: ns code");
	is_str(e.resource, "/bucket/base/x", "error: <Resource> wins over <Key>");
	tbdr_s3xml_free_error_info(&e);

	ok(tbdr_s3xml_parse_error(L("<Error><Code>SlowDown</Code></Error>"), &e),
	   "error: only a code");
	ok(e.message && e.message[0] == '\0' && e.request_id && e.request_id[0] == '\0'
	   && e.resource == NULL, "error: absent fields are \"\" (resource NULL)");
	tbdr_s3xml_free_error_info(&e);

	ok(!tbdr_s3xml_parse_error(L("<ListBucketResult/>"), &e) && e.code == NULL,
	   "error: other root is not an error");
	ok(!tbdr_s3xml_parse_error("", 0, &e), "error: empty body is not an error");
	ok(!tbdr_s3xml_parse_error(NULL, 0, &e), "error: NULL body is not an error");
	ok(!tbdr_s3xml_parse_error(L("<Error><Code>X</Code>"), &e) && e.code == NULL,
	   "error: truncated error is not an error, nothing left");
	ok(!tbdr_s3xml_parse_error(L("<html>Bad Gateway</html>"), &e),
	   "error: html is not an error");
}

/* ---------------------------------------------------------------- */

static void
test_list(void)
{
	TbdrS3ListResult r;
	TbdrError	err;
	const char *page1 = XMLDECL
		"<ListBucketResult" S3NS ">"
		"<Name>backups</Name><Prefix>pg/</Prefix><KeyCount>3</KeyCount>"
		"<MaxKeys>1000</MaxKeys>"
		"<ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>"
		"<NextContinuationToken>1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==</NextContinuationToken>"
		"<IsTruncated>true</IsTruncated>"
		"<Contents><Key>pg/base/20240101T000000Z/base.tar.zst</Key>"
		"<LastModified>2024-01-01T00:10:00.000Z</LastModified>"
		"<ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>"
		"<ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
		"<Size>5368709120</Size>"
		"<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>"
		"<DisplayName>mtd</DisplayName></Owner>"
		"<StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>pg/a &amp; b &lt;c&gt; d\xc3\xa9j\xc3\xa0 \xe6\x97\xa5\xe6\x9c\xac &#x1F600;</Key>"
		"<LastModified>2024-01-02T00:00:00.000Z</LastModified>"
		"<ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag><Size>0</Size>"
		"<StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>pg/big</Key><Size>9223372036854775807</Size>"
		"<ETag>&quot;x&quot;</ETag></Contents>"
		"</ListBucketResult>";
	const char *prefixes =
		"<ListBucketResult><Name>backups</Name><Prefix>pg/</Prefix>"
		"<Delimiter>/</Delimiter><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
		"<IsTruncated>false</IsTruncated>"
		"<CommonPrefixes><Prefix>pg/base/</Prefix></CommonPrefixes>\n"
		"<CommonPrefixes><Prefix>pg/wal/</Prefix></CommonPrefixes>\n"
		"</ListBucketResult>";
	const char *empty = XMLDECL
		"<ListBucketResult" S3NS "><Name>backups</Name><Prefix>none/</Prefix>"
		"<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
		"<IsTruncated>false</IsTruncated></ListBucketResult>";

	ok(tbdr_s3xml_parse_list(L(page1), &r, &err), "list: AWS page with namespace parses");
	is_int(r.nentries, 3, "list: 3 entries");
	is_str(r.entries[0].key, "pg/base/20240101T000000Z/base.tar.zst", "list: key 0");
	is_int(r.entries[0].size, 5368709120LL, "list: size > 4 GiB");
	is_str(r.entries[0].etag, "3858f62230ac3c915f300c664312c11f-9", "list: &quot; etag unquoted");
	is_str(r.entries[0].last_modified, "2024-01-01T00:10:00.000Z", "list: last modified");
	is_str(r.entries[1].key, "pg/a & b <c> d\xc3\xa9j\xc3\xa0 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
		   "list: key with entities, unicode and a character reference");
	is_str(r.entries[1].etag, "d41d8cd98f00b204e9800998ecf8427e", "list: \"etag\" unquoted");
	is_int(r.entries[1].size, 0, "list: size 0");
	ok(r.entries[1].last_modified != NULL, "list: entry 1 last modified");
	is_int(r.entries[2].size, INT64CONST(9223372036854775807), "list: int64 max size");
	ok(r.entries[2].last_modified == NULL, "list: absent LastModified is NULL");
	ok(r.is_truncated, "list: truncated");
	is_str(r.next_continuation_token,
		   "1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==",
		   "list: next continuation token");
	is_int(r.ncommon_prefixes, 0, "list: no common prefixes");
	tbdr_s3xml_free_list(&r);
	ok(r.entries == NULL && r.nentries == 0 && r.next_continuation_token == NULL,
	   "list: free zeroes");

	ok(tbdr_s3xml_parse_list(L(prefixes), &r, &err), "list: CommonPrefixes without namespace");
	is_int(r.nentries, 0, "list: prefixes only");
	is_int(r.ncommon_prefixes, 2, "list: 2 common prefixes (root <Prefix> not among them)");
	is_str(r.common_prefixes[0], "pg/base/", "list: prefix 0");
	is_str(r.common_prefixes[1], "pg/wal/", "list: prefix 1");
	ok(!r.is_truncated && r.next_continuation_token == NULL, "list: not truncated");
	tbdr_s3xml_free_list(&r);

	ok(tbdr_s3xml_parse_list(L(empty), &r, &err), "list: empty listing");
	ok(r.nentries == 0 && r.entries == NULL && r.ncommon_prefixes == 0 &&
	   !r.is_truncated && r.next_continuation_token == NULL, "list: empty result");
	tbdr_s3xml_free_list(&r);

	ok(tbdr_s3xml_parse_list(L("  \r\n<ListBucketResult/>"), &r, &err),
	   "list: leading whitespace and an empty root element");
	tbdr_s3xml_free_list(&r);

	/* many entries: array growth */
	{
		StringInfoData b;
		int			i;
		bool		good = true;

		initStringInfo(&b);
		appendStringInfoString(&b, "<ListBucketResult" S3NS ">");
		for (i = 0; i < 1000; i++)
			appendStringInfo(&b, "<Contents><Key>wal/%08X</Key><Size>%d</Size>"
							 "<ETag>&quot;%d&quot;</ETag></Contents>", i, i * 7, i);
		appendStringInfoString(&b, "<NextContinuationToken>t</NextContinuationToken>"
							   "<IsTruncated>true</IsTruncated></ListBucketResult>");
		ok(tbdr_s3xml_parse_list(b.data, b.len, &r, &err), "list: 1000 entries parse");
		is_int(r.nentries, 1000, "list: 1000 entries");
		for (i = 0; i < r.nentries && good; i++)
		{
			char		k[32];

			snprintf(k, sizeof(k), "wal/%08X", i);
			good = strcmp(r.entries[i].key, k) == 0 && r.entries[i].size == i * 7;
		}
		ok(good, "list: 1000 entries in order with sizes");
		tbdr_s3xml_free_list(&r);
		pfree(b.data);
	}

	/* bad values */
	ok(!tbdr_s3xml_parse_list(L("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"),
							  &r, &err), "list: truncated without token fails");
	ok(err.code == TBDR_ERR_CORRUPT && contains(err.message, "NextContinuationToken"),
	   "list: ... naming the missing token");
	ok(!tbdr_s3xml_parse_list(L("<ListBucketResult><Contents><Key>a</Key><Size>12x</Size></Contents></ListBucketResult>"),
							  &r, &err), "list: bad size fails");
	ok(err.code == TBDR_ERR_CORRUPT && contains(err.message, "Size") &&
	   contains(err.message, "ListObjectsV2"), "list: ... naming <Size> and the request");
	ok(r.entries == NULL && r.nentries == 0, "list: nothing left after failure");
	ok(!tbdr_s3xml_parse_list(L("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>"),
							  &r, &err), "list: negative size fails");
	ok(!tbdr_s3xml_parse_list(L("<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999</Size></Contents></ListBucketResult>"),
							  &r, &err), "list: overflowing size fails");
	ok(!tbdr_s3xml_parse_list(L("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>"),
							  &r, &err), "list: <Contents> without <Key> fails");
	ok(!tbdr_s3xml_parse_list(L("<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>"),
							  &r, &err), "list: bad IsTruncated fails");
	ok(!tbdr_s3xml_parse_list(L("<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
								"<RequestId>R1</RequestId></Error>"), &r, &err),
	   "list: <Error> document fails");
	ok(err.code == TBDR_ERR_S3, "list: ... as TBDR_ERR_S3");
	is_str(err.s3_code, "AccessDenied", "list: ... with the S3 code");
	is_str(err.request_id, "R1", "list: ... and the request id");
}

/* ---------------------------------------------------------------- */

static void
test_initiate(void)
{
	char	   *id;
	TbdrError	err;
	const char *aws = XMLDECL
		"<InitiateMultipartUploadResult" S3NS ">"
		"<Bucket>backups</Bucket><Key>pg/base/base.tar.zst</Key>"
		"<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
		"</InitiateMultipartUploadResult>";
	const char *swift =
		"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
		"<UploadId>ZTNmY2E0ZDMtNTk0My00NzBkLWJkZmEtOGU5YjkwYWM0NTQ5</UploadId>"
		"</InitiateMultipartUploadResult>";

	ok(tbdr_s3xml_parse_initiate(L(aws), &id, &err), "initiate: AWS answer");
	is_str(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA", "initiate: upload id");
	pfree(id);
	ok(tbdr_s3xml_parse_initiate(L(swift), &id, &err), "initiate: without namespace");
	is_str(id, "ZTNmY2E0ZDMtNTk0My00NzBkLWJkZmEtOGU5YjkwYWM0NTQ5", "initiate: upload id (no ns)");
	pfree(id);

	ok(!tbdr_s3xml_parse_initiate(L("<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>"),
								  &id, &err) && id == NULL, "initiate: missing UploadId fails");
	ok(err.code == TBDR_ERR_CORRUPT && contains(err.message, "UploadId"),
	   "initiate: ... naming <UploadId>");
	ok(!tbdr_s3xml_parse_initiate(L("<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>"),
								  &id, &err), "initiate: empty UploadId fails");
	ok(!tbdr_s3xml_parse_initiate(L("<ListBucketResult><UploadId>x</UploadId></ListBucketResult>"),
								  &id, &err) && id == NULL, "initiate: wrong root fails");
	ok(err.code == TBDR_ERR_CORRUPT && contains(err.message, "CreateMultipartUpload") &&
	   contains(err.message, "<ListBucketResult>") &&
	   contains(err.message, "<InitiateMultipartUploadResult>"),
	   "initiate: ... naming request, found and expected roots");
}

/* ---------------------------------------------------------------- */

static void
test_complete(void)
{
	char	   *etag;
	TbdrError	err;
	const char *aws = XMLDECL
		"<CompleteMultipartUploadResult" S3NS ">"
		"<Location>https://backups.s3.eu-west-1.amazonaws.com/pg/base/base.tar.zst</Location>"
		"<Bucket>backups</Bucket><Key>pg/base/base.tar.zst</Key>"
		"<ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>"
		"<ChecksumCRC32>abcd</ChecksumCRC32>"
		"</CompleteMultipartUploadResult>";
	const char *trap = XMLDECL
		"\n                                                      \n"
		"<Error><Code>InternalError</Code>"
		"<Message>We encountered an internal error. Please try again.</Message>"
		"<RequestId>656c76696e6727732072657175657374</RequestId>"
		"<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>"
		"</Error>";
	const char *trap_ws =
		"             \n      \n"
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
		"<RequestId>R2</RequestId></Error>";

	ok(tbdr_s3xml_parse_complete(L(aws), &etag, &err), "complete: AWS answer");
	is_str(etag, "3858f62230ac3c915f300c664312c11f-9", "complete: etag unquoted");
	pfree(etag);
	ok(tbdr_s3xml_parse_complete(L("<CompleteMultipartUploadResult><ETag>\"abc-2\"</ETag></CompleteMultipartUploadResult>"),
								 &etag, &err), "complete: without namespace");
	is_str(etag, "abc-2", "complete: literal quotes stripped");
	pfree(etag);

	ok(!tbdr_s3xml_parse_complete(L(trap), &etag, &err) && etag == NULL,
	   "complete: 200 with <Error> fails");
	ok(err.code == TBDR_ERR_S3, "complete: ... as TBDR_ERR_S3");
	is_str(err.s3_code, "InternalError", "complete: ... S3 code");
	is_str(err.request_id, "656c76696e6727732072657175657374", "complete: ... request id");
	ok(contains(err.message, "We encountered an internal error") &&
	   contains(err.message, "CompleteMultipartUpload"), "complete: ... message names request and S3's text");

	ok(!tbdr_s3xml_parse_complete(L(trap_ws), &etag, &err) && err.code == TBDR_ERR_S3,
	   "complete: <Error> after keep-alive whitespace before <?xml fails as S3 error");
	is_str(err.s3_code, "SlowDown", "complete: ... S3 code");

	ok(!tbdr_s3xml_parse_complete(L("<CompleteMultipartUploadResult><Bucket>b</Bucket></CompleteMultipartUploadResult>"),
								  &etag, &err) && err.code == TBDR_ERR_CORRUPT,
	   "complete: missing ETag fails");
	ok(!tbdr_s3xml_parse_complete(L(XMLDECL "\n       \n"), &etag, &err) &&
	   err.code == TBDR_ERR_CORRUPT,
	   "complete: only keep-alive whitespace (connection cut) fails");
}

/* ---------------------------------------------------------------- */

static void
test_delete(void)
{
	TbdrS3DeleteResult r;
	TbdrError	err;
	const char *doc = XMLDECL
		"<DeleteResult" S3NS ">"
		"<Deleted><Key>wal/000000010000000000000001.zst</Key></Deleted>"
		"<Deleted><Key>wal/a&amp;b</Key><VersionId>v1</VersionId>"
		"<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>v2</DeleteMarkerVersionId></Deleted>"
		"<Error><Key>base/x &lt;1&gt;</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
		"<Deleted><Key>wal/3</Key></Deleted>"
		"<Error><Key>base/y</Key><VersionId>v9</VersionId><Code>InternalError</Code>"
		"<Message>We encountered an internal error. Please try again.</Message></Error>"
		"</DeleteResult>";

	ok(tbdr_s3xml_parse_delete(L(doc), &r, &err), "delete: mixed result parses");
	is_int(r.ndeleted, 3, "delete: 3 deleted");
	is_int(r.nerrors, 2, "delete: 2 errors");
	is_str(r.errors[0].key, "base/x <1>", "delete: error 0 key (entities)");
	is_str(r.errors[0].code, "AccessDenied", "delete: error 0 code");
	is_str(r.errors[0].message, "Access Denied", "delete: error 0 message");
	is_str(r.errors[1].key, "base/y", "delete: error 1 key");
	is_str(r.errors[1].code, "InternalError", "delete: error 1 code");
	tbdr_s3xml_free_delete(&r);
	ok(r.errors == NULL && r.nerrors == 0 && r.ndeleted == 0, "delete: free zeroes");

	ok(tbdr_s3xml_parse_delete(L("<DeleteResult/>"), &r, &err), "delete: quiet, no errors");
	ok(r.ndeleted == 0 && r.nerrors == 0 && r.errors == NULL, "delete: empty result");
	tbdr_s3xml_free_delete(&r);

	ok(tbdr_s3xml_parse_delete(L("<DeleteResult><Error><Code>X</Code></Error></DeleteResult>"), &r, &err),
	   "delete: error without key/message");
	ok(r.nerrors == 1 && r.errors[0].key && r.errors[0].key[0] == '\0' &&
	   r.errors[0].message && r.errors[0].message[0] == '\0', "delete: absent fields are \"\"");
	tbdr_s3xml_free_delete(&r);

	ok(!tbdr_s3xml_parse_delete(L("<Error><Code>MalformedXML</Code><Message>The XML you provided was not well-formed</Message></Error>"),
								&r, &err), "delete: top-level <Error> fails");
	ok(err.code == TBDR_ERR_S3 && strcmp(err.s3_code, "MalformedXML") == 0,
	   "delete: ... as TBDR_ERR_S3 MalformedXML");
	ok(!tbdr_s3xml_parse_delete(L("<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key>"),
								&r, &err) && r.nerrors == 0 && r.errors == NULL,
	   "delete: truncated fails, nothing left");
}

/* ---------------------------------------------------------------- */

static void
test_uploads(void)
{
	TbdrS3UploadList r;
	TbdrError	err;
	const char *doc = XMLDECL
		"<ListMultipartUploadsResult" S3NS ">"
		"<Bucket>backups</Bucket><KeyMarker>pg/a</KeyMarker>"
		"<UploadIdMarker>U0</UploadIdMarker>"
		"<NextKeyMarker>pg/base/2.tar</NextKeyMarker>"
		"<NextUploadIdMarker>U2</NextUploadIdMarker>"
		"<MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>"
		"<Upload><Key>pg/base/1.tar</Key><UploadId>U1</UploadId>"
		"<Initiator><ID>arn:aws:iam::111122223333:user/u</ID><DisplayName>u</DisplayName></Initiator>"
		"<Owner><ID>75aa57f0</ID><DisplayName>o</DisplayName></Owner>"
		"<StorageClass>STANDARD</StorageClass><Initiated>2024-01-01T00:00:00.000Z</Initiated></Upload>"
		"<Upload><Key>pg/base/2 &amp; \xc3\xa9.tar</Key><UploadId>U2</UploadId>"
		"<Initiated>2024-01-01T00:00:01.000Z</Initiated></Upload>"
		"</ListMultipartUploadsResult>";
	const char *last =
		"<ListMultipartUploadsResult><Bucket>b</Bucket><KeyMarker></KeyMarker>"
		"<UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker>"
		"<NextUploadIdMarker/><MaxUploads>1000</MaxUploads>"
		"<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";

	ok(tbdr_s3xml_parse_uploads(L(doc), &r, &err), "uploads: AWS answer");
	is_int(r.nuploads, 2, "uploads: 2 uploads");
	is_str(r.uploads[0].key, "pg/base/1.tar", "uploads: key 0");
	is_str(r.uploads[0].upload_id, "U1", "uploads: id 0");
	is_str(r.uploads[1].key, "pg/base/2 & \xc3\xa9.tar", "uploads: key 1 (entity, unicode)");
	is_str(r.uploads[1].upload_id, "U2", "uploads: id 1");
	ok(r.is_truncated, "uploads: truncated");
	is_str(r.next_key_marker, "pg/base/2.tar", "uploads: next key marker");
	is_str(r.next_upload_id_marker, "U2", "uploads: next upload id marker");
	tbdr_s3xml_free_uploads(&r);
	ok(r.uploads == NULL && r.next_key_marker == NULL, "uploads: free zeroes");

	ok(tbdr_s3xml_parse_uploads(L(last), &r, &err), "uploads: empty last page, no namespace");
	ok(r.nuploads == 0 && !r.is_truncated && r.next_key_marker == NULL &&
	   r.next_upload_id_marker == NULL, "uploads: empty markers are NULL");
	tbdr_s3xml_free_uploads(&r);

	ok(!tbdr_s3xml_parse_uploads(L("<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>"),
								 &r, &err) && err.code == TBDR_ERR_CORRUPT,
	   "uploads: truncated without marker fails");
	ok(!tbdr_s3xml_parse_uploads(L("<ListMultipartUploadsResult><Upload><Key>k</Key></Upload></ListMultipartUploadsResult>"),
								 &r, &err) && r.uploads == NULL,
	   "uploads: upload without id fails, nothing left");
}

/* ---------------------------------------------------------------- */

static void
test_parts(void)
{
	TbdrS3PartList r;
	TbdrError	err;
	const char *doc = XMLDECL
		"<ListPartsResult" S3NS "><Bucket>b</Bucket><Key>k</Key><UploadId>U</UploadId>"
		"<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker>"
		"<MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>"
		"<Part><PartNumber>1</PartNumber><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
		"<ETag>&quot;7778aef83f66abc1fa1e8477f296d394&quot;</ETag><Size>5368709120</Size></Part>"
		"<Part><PartNumber>2</PartNumber><ETag>\"aaaa\"</ETag><Size>10485760</Size></Part>"
		"</ListPartsResult>";

	ok(tbdr_s3xml_parse_parts(L(doc), &r, &err), "parts: AWS answer");
	is_int(r.nparts, 2, "parts: 2 parts");
	is_int(r.parts[0].part_number, 1, "parts: number 0");
	is_int(r.parts[0].size, 5368709120LL, "parts: size 0 > 4 GiB");
	is_str(r.parts[0].etag, "7778aef83f66abc1fa1e8477f296d394", "parts: etag 0");
	is_int(r.parts[1].part_number, 2, "parts: number 1");
	is_str(r.parts[1].etag, "aaaa", "parts: etag 1");
	ok(r.is_truncated && r.next_part_number_marker == 2, "parts: truncated, marker 2");
	tbdr_s3xml_free_parts(&r);
	ok(r.parts == NULL && r.nparts == 0, "parts: free zeroes");

	ok(!tbdr_s3xml_parse_parts(L("<ListPartsResult><Part><ETag>x</ETag></Part></ListPartsResult>"),
							   &r, &err) && err.code == TBDR_ERR_CORRUPT,
	   "parts: part without number fails");
}

/* ---------------------------------------------------------------- */

static TbdrError last_err;

/* Every hostile document must fail as TBDR_ERR_CORRUPT, quickly. */
static void
hostile(const char *name, const char *body, size_t len, const char *expect)
{
	TbdrS3ListResult r;
	TbdrError	err;
	double		t0 = now_sec();
	bool		failed;
	char		buf[256];

	memset(&err, 0, sizeof(err));
	failed = !tbdr_s3xml_parse_list(body, len, &r, &err);
	snprintf(buf, sizeof(buf), "hostile: %s fails cleanly", name);
	ok(failed && err.code == TBDR_ERR_CORRUPT && r.entries == NULL &&
	   contains(err.message, "ListObjectsV2"), buf);
	if (expect)
	{
		snprintf(buf, sizeof(buf), "hostile: %s message mentions \"%s\"", name, expect);
		ok(contains(err.message, expect), buf);
	}
	if (!failed)
		tbdr_s3xml_free_list(&r);
	last_err = err;
	snprintf(buf, sizeof(buf), "hostile: %s fails quickly", name);
	/* generous: valgrind is ~50 times slower */
	ok(now_sec() - t0 < 5.0, buf);
	if (failed)
	{
		snprintf(buf, sizeof(buf), "%s: %s", name, err.message);
		diag(buf);
	}
}

static void
test_hostile(void)
{
	const char *laughs =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE lolz [\n"
		" <!ENTITY lol \"lol\">\n"
		" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		" <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		" <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		" <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		" <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
		" <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
		" <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
		" <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
		" <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
		"]>\n"
		"<ListBucketResult><Prefix>&lol9;</Prefix></ListBucketResult>";
	const char *xxe =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE ListBucketResult [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
		"<ListBucketResult><Contents><Key>&xxe;</Key><Size>1</Size></Contents></ListBucketResult>";
	const char *ext_dtd =
		"<!DOCTYPE ListBucketResult SYSTEM \"http://127.0.0.1:1/evil.dtd\">"
		"<ListBucketResult/>";
	const char *html =
		"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>";
	const char *full =
		"<ListBucketResult" S3NS "><Name>b</Name><IsTruncated>false</IsTruncated>"
		"<Contents><Key>a &amp; b</Key><Size>12</Size><ETag>&quot;e&quot;</ETag></Contents>"
		"</ListBucketResult>";
	TbdrS3ListResult r;
	TbdrError	err;
	size_t		fulllen = strlen(full);
	size_t		n;
	bool		all_fail = true;
	char		garbage[4096];
	StringInfoData b;
	int			i;

	hostile("billion laughs", L(laughs), "DOCTYPE");
	hostile("external entity", L(xxe), "DOCTYPE");
	ok(!contains(last_err.message, "root:") && !contains(last_err.detail, "root:"),
	   "hostile: no file content anywhere");
	hostile("external DTD", L(ext_dtd), "DOCTYPE");
	hostile("html error page with DOCTYPE", L(html), NULL);
	hostile("wrong root element", L("<html><body>502 Bad Gateway</body></html>"), "<html>");
	hostile("empty body", "", 0, "empty");
	hostile("whitespace-only body", L(" \r\n\t "), "empty");
	hostile("NULL body", NULL, 0, "empty");
	hostile("truncated in a tag", full, 60, "line");
	hostile("truncated before the root end", full, fulllen - 5, NULL);
	hostile("junk after the document", L("<ListBucketResult/>junk"), NULL);
	hostile("two roots", L("<ListBucketResult/><ListBucketResult/>"), NULL);
	hostile("mismatched tags", L("<ListBucketResult><Contents><Key>a</Contents></Key></ListBucketResult>"), NULL);
	hostile("invalid UTF-8", L("<ListBucketResult><Prefix>\xff\xfe\xc3</Prefix></ListBucketResult>"), NULL);
	hostile("latin-1 declared", L("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><ListBucketResult><Prefix>caf\xe9</Prefix></ListBucketResult>"), NULL);
	hostile("NUL character reference", L("<ListBucketResult><Prefix>&#0;</Prefix></ListBucketResult>"), NULL);
	hostile("embedded NUL byte", "<ListBucketResult><Prefix>a\0b</Prefix></ListBucketResult>",
			sizeof("<ListBucketResult><Prefix>a\0b</Prefix></ListBucketResult>") - 1, NULL);
	hostile("undefined entity", L("<ListBucketResult><Prefix>&foo;</Prefix></ListBucketResult>"), NULL);

	/* every strict prefix of a valid document fails */
	for (n = 0; n < fulllen; n++)
	{
		memset(&err, 0, sizeof(err));
		if (tbdr_s3xml_parse_list(full, n, &r, &err) || err.code != TBDR_ERR_CORRUPT ||
			r.entries != NULL)
		{
			all_fail = false;
			break;
		}
	}
	ok(all_fail, "hostile: every truncation of a list fails cleanly");
	ok(tbdr_s3xml_parse_list(full, fulllen, &r, &err), "hostile: ... and the whole one parses");
	tbdr_s3xml_free_list(&r);

	/* binary garbage, fixed seed */
	srandom(42);
	for (i = 0; i < (int) sizeof(garbage); i++)
		garbage[i] = (char) (random() & 0xff);
	hostile("binary garbage", garbage, sizeof(garbage), NULL);
	garbage[0] = '<';
	hostile("binary garbage after <", garbage, sizeof(garbage), NULL);

	/* 10000-deep nesting */
	initStringInfo(&b);
	appendStringInfoString(&b, "<ListBucketResult>");
	for (i = 0; i < 10000; i++)
		appendStringInfoString(&b, "<a>");
	for (i = 0; i < 10000; i++)
		appendStringInfoString(&b, "</a>");
	appendStringInfoString(&b, "</ListBucketResult>");
	hostile("10000-deep nesting", b.data, b.len, "deeper");

	/* depth limit boundary: exactly TBDR_S3XML_MAX_DEPTH levels are fine */
	resetStringInfo(&b);
	appendStringInfoString(&b, "<ListBucketResult>");
	for (i = 1; i < TBDR_S3XML_MAX_DEPTH; i++)
		appendStringInfoString(&b, "<a>");
	for (i = 1; i < TBDR_S3XML_MAX_DEPTH; i++)
		appendStringInfoString(&b, "</a>");
	appendStringInfoString(&b, "</ListBucketResult>");
	ok(tbdr_s3xml_parse_list(b.data, b.len, &r, &err), "hostile: MAX_DEPTH levels parse");
	tbdr_s3xml_free_list(&r);
	resetStringInfo(&b);
	appendStringInfoString(&b, "<ListBucketResult>");
	for (i = 0; i < TBDR_S3XML_MAX_DEPTH; i++)
		appendStringInfoString(&b, "<a>");
	for (i = 0; i < TBDR_S3XML_MAX_DEPTH; i++)
		appendStringInfoString(&b, "</a>");
	appendStringInfoString(&b, "</ListBucketResult>");
	ok(!tbdr_s3xml_parse_list(b.data, b.len, &r, &err), "hostile: MAX_DEPTH + 1 levels fail");
	pfree(b.data);

	/* over the size cap: refused before parsing */
	{
		size_t		biglen = (size_t) TBDR_S3XML_MAX_BYTES + 1;
		char	   *big = malloc(biglen);
		const char *head = "<ListBucketResult><Prefix>";
		const char *tail = "</Prefix></ListBucketResult>";

		memset(big, 'x', biglen);
		memcpy(big, head, strlen(head));
		memcpy(big + biglen - strlen(tail), tail, strlen(tail));
		hostile("body over the size cap", big, biglen, "larger");
		free(big);
	}

	/* random single-byte mutations of valid documents never crash */
	{
		char		mut[512];
		int			parsed = 0;

		srandom(7);
		for (i = 0; i < 3000; i++)
		{
			int			pos = random() % fulllen;

			memcpy(mut, full, fulllen);
			mut[pos] = (char) (random() & 0xff);
			if (tbdr_s3xml_parse_list(mut, fulllen, &r, &err))
			{
				parsed++;
				tbdr_s3xml_free_list(&r);
			}
			else if (err.code != TBDR_ERR_CORRUPT || r.entries != NULL)
				break;
		}
		ok(i == 3000, "hostile: 3000 mutated documents parse or fail cleanly");
	}
}

/* ---------------------------------------------------------------- */

static void
test_escape(void)
{
	StringInfoData b;
	TbdrS3ListResult r;
	TbdrError	err;
	const char *tricky = "a&b<c>d\"e'f \xc3\xbc\xe6\x97\xa5 \r\n\tz&amp;";

	initStringInfo(&b);
	tbdr_xml_escape(&b, "a&b<c>d\"e'f");
	is_str(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f", "escape: & < > \" '");
	resetStringInfo(&b);
	tbdr_xml_escape(&b, "wal/000000010000000000000001 \xc3\xa9");
	is_str(b.data, "wal/000000010000000000000001 \xc3\xa9", "escape: plain text and UTF-8 unchanged");
	resetStringInfo(&b);
	tbdr_xml_escape(&b, "");
	tbdr_xml_escape(&b, NULL);
	is_str(b.data, "", "escape: empty and NULL");
	resetStringInfo(&b);
	tbdr_xml_escape(&b, "a\r\nb");
	is_str(b.data, "a&#13;&#10;b", "escape: CR LF as character references");

	/* round trip through the parser, CR/LF/TAB included */
	resetStringInfo(&b);
	appendStringInfoString(&b, "<ListBucketResult><Contents><Key>");
	tbdr_xml_escape(&b, tricky);
	appendStringInfoString(&b, "</Key></Contents></ListBucketResult>");
	ok(tbdr_s3xml_parse_list(b.data, b.len, &r, &err), "escape: escaped key parses");
	is_str(r.nentries == 1 ? r.entries[0].key : NULL, tricky, "escape: round trip");
	tbdr_s3xml_free_list(&r);
	pfree(b.data);
}

int
main(void)
{
	test_error_doc();
	test_list();
	test_initiate();
	test_complete();
	test_delete();
	test_uploads();
	test_parts();
	test_hostile();
	test_escape();
	return done_testing();
}
