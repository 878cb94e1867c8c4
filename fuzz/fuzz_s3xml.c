/*-------------------------------------------------------------------------
 * fuzz_s3xml.c
 *	  Fuzz the parsers of S3's XML answers (src/core/s3xml.c).
 *
 * Input: one byte choosing the parser (error, ListObjectsV2, initiate,
 * complete, DeleteObjects, ListMultipartUploads, ListParts), then the body.
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include "core/s3xml.h"

/* Touch every string of a result, so that ASan sees a bad one. */
static void
touch(const char *s)
{
	if (s)
		(void) strlen(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	TbdrError	err;
	bool		ok;

	if (size < 1)
		return 0;
	body = (const char *) data + 1;
	size--;
	tbdr_error_clear(&err);
	switch (data[0] % 7)
	{
		case 0:
			{
				TbdrS3ErrorInfo info;

				if (tbdr_s3xml_parse_error(body, size, &info))
				{
					FUZZ_CHECK(info.code && info.message && info.request_id);
					touch(info.code);
					touch(info.resource);
					tbdr_s3xml_free_error_info(&info);
				}
				return 0;
			}
		case 1:
			{
				TbdrS3ListResult list;

				ok = tbdr_s3xml_parse_list(body, size, &list, &err);
				if (ok)
				{
					for (int i = 0; i < list.nentries; i++)
					{
						FUZZ_CHECK(list.entries[i].key != NULL);
						touch(list.entries[i].key);
						touch(list.entries[i].etag);
						touch(list.entries[i].last_modified);
					}
					for (int i = 0; i < list.ncommon_prefixes; i++)
						touch(list.common_prefixes[i]);
					touch(list.next_continuation_token);
					tbdr_s3xml_free_list(&list);
				}
				break;
			}
		case 2:
			{
				char	   *upload_id = NULL;

				ok = tbdr_s3xml_parse_initiate(body, size, &upload_id, &err);
				if (ok)
				{
					FUZZ_CHECK(upload_id != NULL);
					pfree(upload_id);
				}
				break;
			}
		case 3:
			{
				char	   *etag = NULL;

				ok = tbdr_s3xml_parse_complete(body, size, &etag, &err);
				if (ok)
				{
					FUZZ_CHECK(etag != NULL);
					pfree(etag);
				}
				break;
			}
		case 4:
			{
				TbdrS3DeleteResult res;

				ok = tbdr_s3xml_parse_delete(body, size, &res, &err);
				if (ok)
				{
					for (int i = 0; i < res.nerrors; i++)
					{
						touch(res.errors[i].key);
						touch(res.errors[i].code);
						touch(res.errors[i].message);
					}
					tbdr_s3xml_free_delete(&res);
				}
				break;
			}
		case 5:
			{
				TbdrS3UploadList list;

				ok = tbdr_s3xml_parse_uploads(body, size, &list, &err);
				if (ok)
				{
					for (int i = 0; i < list.nuploads; i++)
					{
						touch(list.uploads[i].key);
						touch(list.uploads[i].upload_id);
					}
					touch(list.next_key_marker);
					touch(list.next_upload_id_marker);
					tbdr_s3xml_free_uploads(&list);
				}
				break;
			}
		default:
			{
				TbdrS3PartList list;

				ok = tbdr_s3xml_parse_parts(body, size, &list, &err);
				if (ok)
				{
					for (int i = 0; i < list.nparts; i++)
						touch(list.parts[i].etag);
					tbdr_s3xml_free_parts(&list);
				}
				break;
			}
	}
	FUZZ_CHECK(ok || err.message[0] != '\0');
	return 0;
}
