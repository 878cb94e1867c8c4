/*-------------------------------------------------------------------------
 * digest.h
 *	  SHA-256, MD5 and HMAC-SHA256 through OpenSSL's EVP interface.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_DIGEST_H
#define TBDR_DIGEST_H

#include "core/error.h"

#define TBDR_SHA256_LEN 32
#define TBDR_SHA256_HEX_LEN 65	/* with terminating NUL */
#define TBDR_MD5_LEN 16

typedef struct TbdrDigest TbdrDigest;	/* opaque, wraps EVP_MD_CTX */

typedef enum TbdrDigestType
{
	TBDR_DIGEST_SHA256,
	TBDR_DIGEST_MD5
} TbdrDigestType;

extern TbdrDigest *tbdr_digest_create(TbdrDigestType type);
extern void tbdr_digest_update(TbdrDigest *d, const void *data, size_t len);
/* Writes 32 (SHA-256) or 16 (MD5) bytes and frees the context. */
extern void tbdr_digest_final(TbdrDigest *d, unsigned char *out);
extern void tbdr_digest_free(TbdrDigest *d);

/*
 * Like tbdr_digest_final, but says whether OpenSSL failed (out of memory, or
 * MD5 refused in FIPS mode) at any step since create: then out is all zeros
 * and err (if not NULL) is filled.  tbdr_digest_final and the one-shot
 * helpers below write zeros in that case, which never match a real digest.
 */
extern bool tbdr_digest_final_checked(TbdrDigest *d, unsigned char *out,
									  TbdrError *err);

/* One-shot helpers. */
extern void tbdr_sha256(const void *data, size_t len, unsigned char out[TBDR_SHA256_LEN]);
extern void tbdr_sha256_hex(const void *data, size_t len, char out[TBDR_SHA256_HEX_LEN]);
extern void tbdr_md5(const void *data, size_t len, unsigned char out[TBDR_MD5_LEN]);
extern void tbdr_hmac_sha256(const void *key, size_t keylen,
							 const void *data, size_t len,
							 unsigned char out[TBDR_SHA256_LEN]);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
extern void tbdr_hex_encode(const unsigned char *in, size_t len, char *out);
/* The len bytes that 2*len hex digits in (either case) encode; false if any is not one. */
extern bool tbdr_hex_decode(const char *in, unsigned char *out, size_t len);
/* Standard base64 with padding; returns palloc'd string. */
extern char *tbdr_base64_encode(const unsigned char *in, size_t len);

#endif							/* TBDR_DIGEST_H */
