/*-------------------------------------------------------------------------
 * test_sigv4.c
 *	  Unit tests of digest.c and sigv4.c: known digest vectors, and AWS's
 *	  published S3 SigV4 examples ("Examples: Signature Calculations in AWS
 *	  Signature Version 4", Authorization header, examplebucket, 2013-05-24).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include "core/digest.h"
#include "core/sigv4.h"
#include "lib/stringinfo.h"
#include "tap.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EX_HOST "examplebucket.s3.amazonaws.com"
#define EX_DATE "20130524T000000Z"
#define EX_AK "AKIAIOSFODNN7EXAMPLE"
#define EX_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static char *
hex_of(const unsigned char *bin, size_t len)
{
	char	   *out = palloc(2 * len + 1);

	tbdr_hex_encode(bin, len, out);
	return out;
}

static char *
enc(const char *s, bool encode_slash)
{
	StringInfoData buf;

	initStringInfo(&buf);
	tbdr_uri_encode(&buf, s, encode_slash);
	return buf.data;
}

static char *
sha256_hex_str(const char *s)
{
	char	   *out = palloc(TBDR_SHA256_HEX_LEN);

	tbdr_sha256_hex(s, strlen(s), out);
	return out;
}

static TbdrSigV4Request
example_request(const char *method, const char *path,
				const TbdrKeyValue *query, int nquery,
				const TbdrKeyValue *headers, int nheaders,
				const char *payload_hash)
{
	TbdrSigV4Request r;

	memset(&r, 0, sizeof(r));
	r.method = method;
	r.path = path;
	r.query = query;
	r.nquery = nquery;
	r.headers = headers;
	r.nheaders = nheaders;
	r.payload_hash = payload_hash;
	r.region = "us-east-1";
	r.service = "s3";
	r.access_key_id = EX_AK;
	r.secret_access_key = EX_SK;
	r.amz_date = EX_DATE;
	return r;
}

/*
 * Check one AWS example: canonical request (when given), hash of the
 * canonical request as in the string to sign, signature and Authorization.
 */
static void
check_example(const char *name, const TbdrSigV4Request *r,
			  const char *expected_cr, const char *expected_cr_hash,
			  const char *expected_signed_headers, const char *expected_sig)
{
	char	   *sh;
	char	   *cr = tbdr_sigv4_canonical_request(r, &sh);
	char	   *sts = tbdr_sigv4_string_to_sign(r, cr);
	char	   *sig = tbdr_sigv4_signature(r, sts);
	char	   *auth = tbdr_sigv4_authorization(r);
	char	   *want_sts = psprintf("AWS4-HMAC-SHA256\n" EX_DATE "\n20130524/us-east-1/s3/aws4_request\n%s",
									expected_cr_hash);
	char	   *want_auth = psprintf("AWS4-HMAC-SHA256 Credential=" EX_AK "/20130524/us-east-1/s3/aws4_request, SignedHeaders=%s, Signature=%s",
									 expected_signed_headers, expected_sig);

	if (expected_cr)
		is_str(cr, expected_cr, psprintf("%s: canonical request", name));
	is_str(sh, expected_signed_headers, psprintf("%s: signed headers", name));
	is_str(sts, want_sts, psprintf("%s: string to sign", name));
	is_str(sig, expected_sig, psprintf("%s: signature", name));
	is_str(auth, want_auth, psprintf("%s: Authorization", name));
}

static void
test_digests(void)
{
	unsigned char bin[TBDR_SHA256_LEN];
	unsigned char md5[TBDR_MD5_LEN];
	char		hex[TBDR_SHA256_HEX_LEN];
	unsigned char key1[20];
	TbdrDigest *d;
	TbdrError	err;
	const char *abc448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	size_t		i;

	tbdr_sha256_hex("", 0, hex);
	is_str(hex, EMPTY_SHA256, "SHA-256 of empty input");
	tbdr_sha256_hex(NULL, 0, hex);
	is_str(hex, EMPTY_SHA256, "SHA-256 of NULL, 0");
	tbdr_sha256_hex("abc", 3, hex);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		   "SHA-256 of abc (FIPS 180-2)");
	tbdr_sha256(abc448, strlen(abc448), bin);
	is_str(hex_of(bin, sizeof(bin)),
		   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
		   "SHA-256 of the 448-bit FIPS message");
	is_str(sha256_hex_str("Welcome to Amazon S3."),
		   "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		   "SHA-256 of the AWS PUT example body");

	/* Streaming, in uneven pieces, gives the one-shot digest. */
	d = tbdr_digest_create(TBDR_DIGEST_SHA256);
	for (i = 0; i < strlen(abc448); i += 7)
		tbdr_digest_update(d, abc448 + i, Min(7, strlen(abc448) - i));
	tbdr_digest_update(d, "", 0);
	tbdr_digest_final(d, bin);
	is_str(hex_of(bin, sizeof(bin)),
		   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
		   "streaming SHA-256 in 7-byte pieces");

	d = tbdr_digest_create(TBDR_DIGEST_SHA256);
	ok(tbdr_digest_final_checked(d, bin, &err), "final_checked succeeds");
	is_str(hex_of(bin, sizeof(bin)), EMPTY_SHA256, "streaming SHA-256 of nothing");

	tbdr_md5("", 0, md5);
	is_str(hex_of(md5, sizeof(md5)), "d41d8cd98f00b204e9800998ecf8427e", "MD5 of empty input");
	is_str(tbdr_base64_encode(md5, sizeof(md5)), "1B2M2Y8AsgTpgAmY7PhCfg==",
		   "Content-MD5 of empty input");
	tbdr_md5("abc", 3, md5);
	is_str(hex_of(md5, sizeof(md5)), "900150983cd24fb0d6963f7d28e17f72", "MD5 of abc (RFC 1321)");
	d = tbdr_digest_create(TBDR_DIGEST_MD5);
	tbdr_digest_update(d, "a", 1);
	tbdr_digest_update(d, "bc", 2);
	tbdr_digest_final(d, md5);
	is_str(hex_of(md5, sizeof(md5)), "900150983cd24fb0d6963f7d28e17f72", "streaming MD5 of abc");

	/* RFC 4231 test cases 1 and 2. */
	memset(key1, 0x0b, sizeof(key1));
	tbdr_hmac_sha256(key1, sizeof(key1), "Hi There", 8, bin);
	is_str(hex_of(bin, sizeof(bin)),
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
		   "HMAC-SHA256 RFC 4231 case 1");
	tbdr_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, bin);
	is_str(hex_of(bin, sizeof(bin)),
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		   "HMAC-SHA256 RFC 4231 case 2");
	tbdr_hmac_sha256("", 0, "", 0, bin);
	is_str(hex_of(bin, sizeof(bin)),
		   "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
		   "HMAC-SHA256 with empty key and data");

	/* RFC 4648 section 10. */
	is_str(tbdr_base64_encode((const unsigned char *) "", 0), "", "base64 of empty");
	is_str(tbdr_base64_encode((const unsigned char *) "f", 1), "Zg==", "base64 f");
	is_str(tbdr_base64_encode((const unsigned char *) "fo", 2), "Zm8=", "base64 fo");
	is_str(tbdr_base64_encode((const unsigned char *) "foo", 3), "Zm9v", "base64 foo");
	is_str(tbdr_base64_encode((const unsigned char *) "foob", 4), "Zm9vYg==", "base64 foob");
	is_str(tbdr_base64_encode((const unsigned char *) "fooba", 5), "Zm9vYmE=", "base64 fooba");
	is_str(tbdr_base64_encode((const unsigned char *) "foobar", 6), "Zm9vYmFy", "base64 foobar");
	is_str(tbdr_base64_encode((const unsigned char *) "\xff\xfe\xfd\x00", 4), "//79AA==",
		   "base64 uses + and / and binary");

	{
		const unsigned char b[] = {0x00, 0x0f, 0xa0, 0xff};

		is_str(hex_of(b, 4), "000fa0ff", "hex is lowercase");
	}
}

static void
test_aws_examples(void)
{
	TbdrSigV4Request r;

	/* Example: GET Object, with a Range header. */
	{
		TbdrKeyValue h[] = {
			{"Host", EX_HOST},
			{"x-amz-date", EX_DATE},
			{"Range", "bytes=0-9"},
			{"x-amz-content-sha256", EMPTY_SHA256},
		};

		r = example_request("GET", "/test.txt", NULL, 0, h, lengthof(h), EMPTY_SHA256);
		check_example("GET Object", &r,
					  "GET\n/test.txt\n\n"
					  "host:" EX_HOST "\n"
					  "range:bytes=0-9\n"
					  "x-amz-content-sha256:" EMPTY_SHA256 "\n"
					  "x-amz-date:" EX_DATE "\n\n"
					  "host;range;x-amz-content-sha256;x-amz-date\n"
					  EMPTY_SHA256,
					  "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
					  "host;range;x-amz-content-sha256;x-amz-date",
					  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	}

	/* Example: PUT Object: '$' in the key, a Date header, a body hash. */
	{
		const char *body_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
		TbdrKeyValue h[] = {
			{"Host", EX_HOST},
			{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
			{"x-amz-date", EX_DATE},
			{"x-amz-storage-class", "REDUCED_REDUNDANCY"},
			{"x-amz-content-sha256", body_hash},
		};

		r = example_request("PUT", "/test$file.text", NULL, 0, h, lengthof(h), body_hash);
		check_example("PUT Object", &r,
					  "PUT\n/test%24file.text\n\n"
					  "date:Fri, 24 May 2013 00:00:00 GMT\n"
					  "host:" EX_HOST "\n"
					  "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
					  "x-amz-date:" EX_DATE "\n"
					  "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
					  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
					  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
					  "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
					  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
					  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	}

	/* Example: GET Bucket Lifecycle: a valueless parameter is "lifecycle=". */
	{
		TbdrKeyValue q[] = {{"lifecycle", ""}};
		TbdrKeyValue h[] = {
			{"Host", EX_HOST},
			{"x-amz-date", EX_DATE},
			{"x-amz-content-sha256", EMPTY_SHA256},
		};

		r = example_request("GET", "/", q, lengthof(q), h, lengthof(h), EMPTY_SHA256);
		check_example("GET Bucket Lifecycle", &r,
					  "GET\n/\nlifecycle=\n"
					  "host:" EX_HOST "\n"
					  "x-amz-content-sha256:" EMPTY_SHA256 "\n"
					  "x-amz-date:" EX_DATE "\n\n"
					  "host;x-amz-content-sha256;x-amz-date\n"
					  EMPTY_SHA256,
					  "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
					  "host;x-amz-content-sha256;x-amz-date",
					  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	}

	/* Example: GET Bucket (List Objects): parameters given unsorted. */
	{
		TbdrKeyValue q[] = {{"prefix", "J"}, {"max-keys", "2"}};
		TbdrKeyValue h[] = {
			{"x-amz-content-sha256", EMPTY_SHA256},
			{"x-amz-date", EX_DATE},
			{"host", EX_HOST},
		};

		r = example_request("GET", "/", q, lengthof(q), h, lengthof(h), EMPTY_SHA256);
		check_example("GET Bucket (List Objects)", &r,
					  "GET\n/\nmax-keys=2&prefix=J\n"
					  "host:" EX_HOST "\n"
					  "x-amz-content-sha256:" EMPTY_SHA256 "\n"
					  "x-amz-date:" EX_DATE "\n\n"
					  "host;x-amz-content-sha256;x-amz-date\n"
					  EMPTY_SHA256,
					  "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
					  "host;x-amz-content-sha256;x-amz-date",
					  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
		is_str(tbdr_sigv4_canonical_query(q, lengthof(q)), "max-keys=2&prefix=J",
			   "query string for the URL is sorted");
	}
}

static void
test_encoding(void)
{
	is_str(enc("", true), "", "encode empty");
	is_str(enc(NULL, true), "", "encode NULL");
	is_str(enc("AZaz09-_.~", true), "AZaz09-_.~", "unreserved kept, '~' included");
	is_str(enc("a b", true), "a%20b", "space is %20, never '+'");
	is_str(enc("a+b", true), "a%2Bb", "'+' encoded");
	is_str(enc("a=b&c", true), "a%3Db%26c", "'=' and '&' encoded");
	is_str(enc("100%", true), "100%25", "'%' encoded");
	is_str(enc("%2F", true), "%252F", "already encoded input is encoded again (input is raw)");
	is_str(enc("a/b", true), "a%2Fb", "'/' encoded in query");
	is_str(enc("a/b", false), "a/b", "'/' kept in path");
	is_str(enc("\xc3\xa9", true), "%C3%A9", "e-acute as UTF-8, uppercase hex");
	is_str(enc("\xe6\x97\xa5\xe6\x9c\xac", false), "%E6%97%A5%E6%9C%AC", "Japanese as UTF-8");
	is_str(enc("!'()*$:@,;?#[]", true), "%21%27%28%29%2A%24%3A%40%2C%3B%3F%23%5B%5D",
		   "sub-delims and gen-delims encoded");
	is_str(enc("\x01\x7f", true), "%01%7F", "controls encoded");

	is_str(tbdr_sigv4_canonical_path(""), "/", "empty path is /");
	is_str(tbdr_sigv4_canonical_path(NULL), "/", "NULL path is /");
	is_str(tbdr_sigv4_canonical_path("/bucket/wal/0000 0001+x=y~z"),
		   "/bucket/wal/0000%200001%2Bx%3Dy~z", "path segments encoded once");
	is_str(tbdr_sigv4_canonical_path("/bucket//a/./b/../c/"),
		   "/bucket//a/./b/../c/", "S3 path not normalized ('//', dot segments)");
	is_str(tbdr_sigv4_canonical_path("/b/caf\xc3\xa9/%41"),
		   "/b/caf%C3%A9/%2541", "path: UTF-8 and '%' encoded once");
}

static void
test_query(void)
{
	{
		TbdrKeyValue q[] = {{"delete", ""}};

		is_str(tbdr_sigv4_canonical_query(q, 1), "delete=", "valueless ?delete is delete=");
	}
	{
		TbdrKeyValue q[] = {
			{"uploadId", "a/b+c=="},
			{"partNumber", "2"},
		};

		is_str(tbdr_sigv4_canonical_query(q, 2), "partNumber=2&uploadId=a%2Fb%2Bc%3D%3D",
			   "multipart query encoded and sorted");
	}
	{
		TbdrKeyValue q[] = {
			{"prefix", "wal/0000 1"},
			{"list-type", "2"},
			{"continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="},
			{"delimiter", "/"},
		};

		is_str(tbdr_sigv4_canonical_query(q, 4),
			   "continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D&"
			   "delimiter=%2F&list-type=2&prefix=wal%2F0000%201",
			   "ListObjectsV2 query");
	}
	{
		/* Sorted by the encoded name: "%C3%A9" < "~" although 'é' > '~'. */
		TbdrKeyValue q[] = {{"~", "1"}, {"\xc3\xa9", "2"}, {".", "3"}, {"/", "4"}};

		is_str(tbdr_sigv4_canonical_query(q, 4), "%2F=4&%C3%A9=2&.=3&~=1",
			   "sorted by encoded name, byte order");
	}
	{
		/* Repeated names: sorted by encoded value. */
		TbdrKeyValue q[] = {{"a", "z"}, {"a", ""}, {"a", "b c"}, {"a", "+"}};

		is_str(tbdr_sigv4_canonical_query(q, 4), "a=&a=%2B&a=b%20c&a=z",
			   "repeated name sorted by encoded value");
	}
	is_str(tbdr_sigv4_canonical_query(NULL, 0), "", "no query is empty");
}

static void
test_headers(void)
{
	TbdrKeyValue h[] = {
		{"Host", "s3.example.test"},
		{"X-Amz-Meta-Note", "  two   spaces\tand tab  "},
		{"x-amz-date", EX_DATE},
		{"X-AMZ-META-EMPTY", "   "},
		{"x-amz-meta-multi", "first "},
		{"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
		{"X-Amz-Meta-Multi", " second"},
		{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
		{"x-amz-meta-quoted", "\"a   b\""},
	};
	TbdrKeyValue q[] = {{"delete", ""}};
	TbdrSigV4Request r = example_request("POST", "/bucket", q, 1, h, lengthof(h),
										 "UNSIGNED-PAYLOAD");
	char	   *sh;
	char	   *cr = tbdr_sigv4_canonical_request(&r, &sh);

	is_str(cr,
		   "POST\n/bucket\ndelete=\n"
		   "content-md5:1B2M2Y8AsgTpgAmY7PhCfg==\n"
		   "host:s3.example.test\n"
		   "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"
		   "x-amz-date:" EX_DATE "\n"
		   "x-amz-meta-empty:\n"
		   "x-amz-meta-multi:first,second\n"
		   "x-amz-meta-note:two spaces and tab\n"
		   "x-amz-meta-quoted:\"a b\"\n\n"
		   "content-md5;host;x-amz-content-sha256;x-amz-date;x-amz-meta-empty;x-amz-meta-multi;x-amz-meta-note;x-amz-meta-quoted\n"
		   "UNSIGNED-PAYLOAD",
		   "headers lowercased, sorted, trimmed, collapsed, repeats joined; POST ?delete");
	is_str(sh, "content-md5;host;x-amz-content-sha256;x-amz-date;x-amz-meta-empty;x-amz-meta-multi;x-amz-meta-note;x-amz-meta-quoted",
		   "signed headers list");
}

static void
test_dates(void)
{
	char		d[17];

	tbdr_sigv4_amz_date((time_t) 1369353600, d);
	is_str(d, "20130524T000000Z", "amz date of the AWS examples");
	tbdr_sigv4_amz_date((time_t) 0, d);
	is_str(d, "19700101T000000Z", "amz date of the epoch");
	tbdr_sigv4_amz_date((time_t) 951868799, d);
	is_str(d, "20000229T235959Z", "amz date on a leap day, UTC");
	tbdr_sigv4_amz_date((time_t) 4102444799, d);
	is_str(d, "20991231T235959Z", "amz date past 2038");
}

int
main(void)
{
	test_digests();
	test_aws_examples();
	test_encoding();
	test_query();
	test_headers();
	test_dates();
	return done_testing();
}
