/*-------------------------------------------------------------------------
 * digest.c
 *	  SHA-256, MD5 and HMAC-SHA256 through OpenSSL's EVP interface, and the
 *	  hex and base64 encodings S3 wants them in (see digest.h).
 *
 * OpenSSL can fail only when it cannot allocate memory or when the provider
 * refuses the algorithm (MD5 in FIPS mode).  The interface has no error
 * argument because every caller would treat that like palloc's
 * out-of-memory; instead a failed context remembers it, the output is all
 * zeros (which never matches a real digest, so S3 or a later verification
 * rejects it rather than accepting wrong data), and callers that must know
 * use tbdr_digest_final_checked().
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/digest.h"
#include "core/error.h"

struct TbdrDigest
{
	EVP_MD_CTX *ctx;
	TbdrDigestType type;
	bool		failed;
};

static const EVP_MD *
digest_md(TbdrDigestType type)
{
	return type == TBDR_DIGEST_MD5 ? EVP_md5() : EVP_sha256();
}

static size_t
digest_len(TbdrDigestType type)
{
	return type == TBDR_DIGEST_MD5 ? TBDR_MD5_LEN : TBDR_SHA256_LEN;
}

TbdrDigest *
tbdr_digest_create(TbdrDigestType type)
{
	TbdrDigest *d = palloc0(sizeof(TbdrDigest));

	d->type = type;
	d->ctx = EVP_MD_CTX_new();
	if (d->ctx == NULL || EVP_DigestInit_ex(d->ctx, digest_md(type), NULL) != 1)
		d->failed = true;
	return d;
}

void
tbdr_digest_update(TbdrDigest *d, const void *data, size_t len)
{
	if (d->failed || len == 0)
		return;
	if (EVP_DigestUpdate(d->ctx, data, len) != 1)
		d->failed = true;
}

bool
tbdr_digest_final_checked(TbdrDigest *d, unsigned char *out, TbdrError *err)
{
	size_t		len = digest_len(d->type);
	bool		ok = !d->failed;

	if (ok)
	{
		unsigned int outlen = 0;

		if (EVP_DigestFinal_ex(d->ctx, out, &outlen) != 1 || outlen != len)
			ok = false;
	}
	if (!ok)
	{
		memset(out, 0, len);
		if (err)
		{
			tbdr_error_set(err, TBDR_ERR_CRYPTO, "could not compute %s digest",
						   d->type == TBDR_DIGEST_MD5 ? "MD5" : "SHA-256");
			tbdr_error_hint(err, "OpenSSL is out of memory or does not provide the algorithm (MD5 is unavailable in FIPS mode).");
		}
	}
	tbdr_digest_free(d);
	return ok;
}

void
tbdr_digest_final(TbdrDigest *d, unsigned char *out)
{
	(void) tbdr_digest_final_checked(d, out, NULL);
}

void
tbdr_digest_free(TbdrDigest *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->ctx);	/* accepts NULL */
	pfree(d);
}

static void
oneshot(TbdrDigestType type, const void *data, size_t len, unsigned char *out)
{
	unsigned int outlen = 0;

	/* EVP_Digest wants a non-NULL pointer even for empty input. */
	if (data == NULL)
		data = "";
	if (EVP_Digest(data, len, out, &outlen, digest_md(type), NULL) != 1 ||
		outlen != digest_len(type))
		memset(out, 0, digest_len(type));
}

void
tbdr_sha256(const void *data, size_t len, unsigned char out[TBDR_SHA256_LEN])
{
	oneshot(TBDR_DIGEST_SHA256, data, len, out);
}

void
tbdr_sha256_hex(const void *data, size_t len, char out[TBDR_SHA256_HEX_LEN])
{
	unsigned char bin[TBDR_SHA256_LEN];

	tbdr_sha256(data, len, bin);
	tbdr_hex_encode(bin, sizeof(bin), out);
}

void
tbdr_md5(const void *data, size_t len, unsigned char out[TBDR_MD5_LEN])
{
	oneshot(TBDR_DIGEST_MD5, data, len, out);
}

void
tbdr_hmac_sha256(const void *key, size_t keylen,
				 const void *data, size_t len,
				 unsigned char out[TBDR_SHA256_LEN])
{
	unsigned int outlen = 0;

	/*
	 * HMAC() treats a NULL key as "reuse the previous key" in some OpenSSL
	 * versions, and a NULL data pointer is not allowed: give it empty
	 * strings instead.
	 */
	if (key == NULL)
		key = "";
	if (data == NULL)
		data = "";
	if (keylen > INT_MAX ||
		HMAC(EVP_sha256(), key, (int) keylen, data, len, out, &outlen) == NULL ||
		outlen != TBDR_SHA256_LEN)
		memset(out, 0, TBDR_SHA256_LEN);
}

void
tbdr_hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char hexdigits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
tbdr_hex_decode(const char *in, unsigned char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		int			hi = hexval((unsigned char) in[2 * i]);
		int			lo = hexval((unsigned char) in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char) ((hi << 4) | lo);
	}
	return true;
}

char *
tbdr_base64_encode(const unsigned char *in, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char	   *out = palloc((len + 2) / 3 * 4 + 1);
	char	   *p = out;
	size_t		i = 0;

	for (; i + 3 <= len; i += 3)
	{
		uint32		v = ((uint32) in[i] << 16) | ((uint32) in[i + 1] << 8) | in[i + 2];

		*p++ = alphabet[(v >> 18) & 0x3f];
		*p++ = alphabet[(v >> 12) & 0x3f];
		*p++ = alphabet[(v >> 6) & 0x3f];
		*p++ = alphabet[v & 0x3f];
	}
	if (len - i == 1)
	{
		uint32		v = (uint32) in[i] << 16;

		*p++ = alphabet[(v >> 18) & 0x3f];
		*p++ = alphabet[(v >> 12) & 0x3f];
		*p++ = '=';
		*p++ = '=';
	}
	else if (len - i == 2)
	{
		uint32		v = ((uint32) in[i] << 16) | ((uint32) in[i + 1] << 8);

		*p++ = alphabet[(v >> 18) & 0x3f];
		*p++ = alphabet[(v >> 12) & 0x3f];
		*p++ = alphabet[(v >> 6) & 0x3f];
		*p++ = '=';
	}
	*p = '\0';
	return out;
}
