/*-------------------------------------------------------------------------
 * codec.c
 *	  Streaming compression and authenticated encryption of objects (see
 *	  codec.h for the interface and the object format, docs/FORMAT.md for
 *	  the reasons).
 *
 * Encoder pipeline:  plaintext -> [SHA-256, count] -> content (copy or zstd)
 *		-> payload (content || trailer) -> body (as is, or sealed in chunks)
 *		-> out_fn, after the header.
 * Decoder pipeline, the reverse:  header -> body (as is, or opened chunk by
 * chunk) -> payload, holding back its last 44 bytes (the trailer) -> content
 * (copy or zstd) -> [SHA-256, count] -> out_fn; finish checks the trailer.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <zstd.h>

#include "core/codec.h"

#define HDR_SIZE TBDR_CODEC_HEADER_SIZE
#define TRL_SIZE TBDR_CODEC_TRAILER_SIZE
#define TAG_SIZE TBDR_CODEC_TAG_SIZE
#define SALT_SIZE 32
#define NONCE_SIZE 12
#define TRAILER_MAGIC "TEND"
#define HKDF_INFO "tbdr v1 object key"

#define ENC_NONE 0
#define ENC_AES256GCM 1

/* Read size of the file source: large enough to amortize calls. */
#define SOURCE_READ_SIZE (256 * 1024)

#define MSG_AUTH_FAILED "authentication failed for \"%s\": the object was modified, is corrupt, or was stored under another name"

typedef enum CoderState
{
	CODER_FRESH,				/* nothing fed since create/reset */
	CODER_RUNNING,
	CODER_DONE,					/* finish succeeded */
	CODER_FAILED				/* an error happened: only reset/free */
} CoderState;

/*
 * What the encoder and the decoder both hold for hashing and encryption:
 * the master key, its fingerprint and the OpenSSL contexts.
 */
typedef struct CoderCrypto
{
	unsigned char master_key[TBDR_KEY_LEN];
	unsigned char fingerprint[TBDR_KEY_FINGERPRINT_LEN];
	EVP_MD_CTX *sha;			/* SHA-256 of the plaintext */
	EVP_KDF_CTX *kdf;			/* with a key only */
	EVP_CIPHER_CTX *cipher;		/* with a key only */
} CoderCrypto;

struct TbdrCodecEncoder
{
	TbdrCompression compression;
	int			level;
	int			workers;
	bool		encrypt;
	CoderCrypto cr;

	CoderState	state;
	bool		header_sent;
	bool		needs_new_salt; /* reset was asked for */
	char	   *name;			/* the object's name: AAD after the header */
	unsigned char header[HDR_SIZE];

	ZSTD_CCtx  *cctx;
	char	   *zbuf;			/* zstd output */
	size_t		zbuf_size;

	size_t		chunk_size;
	char	   *pbuf;			/* payload bytes of the chunk being filled */
	size_t		pbuf_len;
	char	   *cbuf;			/* a sealed chunk */
	uint64		chunk_no;

	TbdrCodecStats stats;
};

struct TbdrCodecDecoder
{
	bool		have_key;
	bool		require_encryption;
	CoderCrypto cr;
	char		fingerprint_hex[TBDR_KEY_FINGERPRINT_HEX_LEN];
	char	   *name;			/* the object's name, as for the encoder */

	CoderState	state;
	unsigned char header[HDR_SIZE];
	size_t		header_len;
	bool		header_ok;
	TbdrCodecHeader hdr;

	ZSTD_DCtx  *dctx;
	char	   *zbuf;			/* zstd output */
	size_t		zbuf_size;
	bool		frame_done;		/* zstd reported the end of the frame */

	size_t		chunk_size;		/* of this object; buffers sized for it */
	size_t		buf_chunk_size; /* what cbuf/pbuf are allocated for */
	char	   *cbuf;			/* stored bytes of the chunk being filled */
	size_t		cbuf_len;
	char	   *pbuf;			/* an opened chunk */
	uint64		chunk_no;

	unsigned char tail[TRL_SIZE];	/* the last payload bytes seen */
	size_t		tail_len;

	uint64		max_plain;		/* 0 = no limit (tbdr_codec_decoder_set_limit) */
	const char *max_plain_what;

	TbdrCodecStats stats;
};

/* ----------------------------------------------------------------
 * helpers
 * ----------------------------------------------------------------
 */

static void
hex8(const unsigned char *in, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < TBDR_KEY_FINGERPRINT_LEN; i++)
	{
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * TBDR_KEY_FINGERPRINT_LEN] = '\0';
}

static void
put_be64(unsigned char *p, uint64 v)
{
	for (int i = 7; i >= 0; i--)
	{
		p[i] = (unsigned char) (v & 0xff);
		v >>= 8;
	}
}

static uint64
get_be64(const unsigned char *p)
{
	uint64		v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
make_nonce(unsigned char nonce[NONCE_SIZE], uint64 chunk_no, bool last)
{
	memset(nonce, 0, NONCE_SIZE);
	put_be64(nonce + 3, chunk_no);	/* bytes 0..10: 88-bit counter */
	nonce[11] = last ? 1 : 0;
}

static void
set_openssl_error(TbdrError *err, const char *what)
{
	tbdr_error_set(err, TBDR_ERR_INTERNAL, "OpenSSL failure: %s", what);
}

static EVP_KDF_CTX *
kdf_create(TbdrError *err)
{
	EVP_KDF    *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx;

	if (kdf == NULL)
	{
		set_openssl_error(err, "HKDF is not available");
		return NULL;
	}
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		set_openssl_error(err, "could not create the HKDF context");
	return ctx;
}

/*
 * The digest context and, with a key (else NULL), the key's fingerprint and
 * the key-derivation and cipher contexts.  On failure crypto_free cleans up.
 */
static bool
crypto_init(CoderCrypto *cr, const unsigned char *key, TbdrError *err)
{
	cr->sha = EVP_MD_CTX_new();
	if (cr->sha == NULL)
	{
		set_openssl_error(err, "could not create a digest context");
		return false;
	}
	if (key == NULL)
		return true;
	memcpy(cr->master_key, key, TBDR_KEY_LEN);
	tbdr_key_fingerprint(cr->master_key, cr->fingerprint);
	cr->kdf = kdf_create(err);
	if (cr->kdf == NULL)
		return false;
	cr->cipher = EVP_CIPHER_CTX_new();
	if (cr->cipher == NULL)
	{
		set_openssl_error(err, "could not create a cipher context");
		return false;
	}
	return true;
}

static void
crypto_free(CoderCrypto *cr)
{
	OPENSSL_cleanse(cr->master_key, sizeof(cr->master_key));
	if (cr->sha)
		EVP_MD_CTX_free(cr->sha);
	if (cr->kdf)
		EVP_KDF_CTX_free(cr->kdf);
	if (cr->cipher)
		EVP_CIPHER_CTX_free(cr->cipher);	/* cleanses the key schedule */
}

/* object key = HKDF-SHA256(master, salt, info); cleansed by the caller */
static bool
derive_key(EVP_KDF_CTX *kctx, const unsigned char *master,
		   const unsigned char *salt, unsigned char *out, TbdrError *err)
{
	OSSL_PARAM	params[5];
	OSSL_PARAM *p = params;

	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
											 (void *) master, TBDR_KEY_LEN);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
											 (void *) salt, SALT_SIZE);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
											 (void *) HKDF_INFO, strlen(HKDF_INFO));
	*p = OSSL_PARAM_construct_end();
	EVP_KDF_CTX_reset(kctx);
	if (EVP_KDF_derive(kctx, out, TBDR_KEY_LEN, params) != 1)
	{
		set_openssl_error(err, "HKDF key derivation failed");
		return false;
	}
	return true;
}

static bool
sha_init(EVP_MD_CTX *sha, TbdrError *err)
{
	if (EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
	{
		set_openssl_error(err, "could not initialize SHA-256");
		return false;
	}
	return true;
}

/* Remember the name of the next object (bound into its AAD). */
static void
set_name(char **slot, const char *name)
{
	char	   *old = *slot;

	*slot = name ? pstrdup(name) : NULL;
	if (old)
		pfree(old);
}

/*
 * The name is the additional authenticated data after the header (version
 * 2 on): an object copied or renamed to another key fails authentication.
 */
static bool
add_name_aad(EVP_CIPHER_CTX *c, const char *name, int version)
{
	int			outl = 0;

	if (version < 2 || name[0] == '\0')
		return true;
	return EVP_CipherUpdate(c, NULL, &outl, (const unsigned char *) name,
							(int) strlen(name)) == 1;
}

/* Every object gets a name: without one, nothing binds it to its key. */
static bool
check_name(const char *name, const char *what, TbdrError *err)
{
	if (name != NULL)
		return true;
	tbdr_error_set(err, TBDR_ERR_INTERNAL,
				   "codec %s used without an object name (reset it with the object's key first)",
				   what);
	return false;
}

const char *
tbdr_compression_name(TbdrCompression c)
{
	switch (c)
	{
		case TBDR_COMPRESS_NONE:
			return "none";
		case TBDR_COMPRESS_ZSTD:
			return "zstd";
	}
	return "unknown";
}

bool
tbdr_compression_parse(const char *name, TbdrCompression *c)
{
	if (pg_strcasecmp(name, "none") == 0)
		*c = TBDR_COMPRESS_NONE;
	else if (pg_strcasecmp(name, "zstd") == 0)
		*c = TBDR_COMPRESS_ZSTD;
	else
		return false;
	return true;
}

/* ----------------------------------------------------------------
 * header
 * ----------------------------------------------------------------
 */

bool
tbdr_codec_parse_header(const void *data, size_t len, TbdrCodecHeader *hdr,
						TbdrError *err)
{
	const unsigned char *h = data;
	static const unsigned char zeros[HDR_SIZE];

	memset(hdr, 0, sizeof(*hdr));
	if (len < 4 || memcmp(h, TBDR_CODEC_MAGIC, 4) != 0)
	{
		if (len < 4 && memcmp(h, TBDR_CODEC_MAGIC, len) == 0)
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "object is truncated: it ends within the header after %zu bytes", len);
		else
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT, "not a tbdr object");
			tbdr_error_detail(err, "The object does not start with the magic bytes \"TBDR\".");
			tbdr_error_hint(err, "The object was not written by tbdr, or its start was damaged.");
		}
		return false;
	}
	if (len >= 5 && (h[4] < TBDR_CODEC_VERSION_MIN || h[4] > TBDR_CODEC_VERSION))
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object format version %d is not supported", h[4]);
		tbdr_error_detail(err, "This tbdr reads format versions %d to %d.",
						  TBDR_CODEC_VERSION_MIN, TBDR_CODEC_VERSION);
		tbdr_error_hint(err, "The object may have been written by a newer tbdr; upgrade tbdr.");
		return false;
	}
	if (len < HDR_SIZE)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object is truncated: it ends within the header after %zu bytes", len);
		return false;
	}
	hdr->version = h[4];
	if (h[5] != TBDR_COMPRESS_NONE && h[5] != TBDR_COMPRESS_ZSTD)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object header has unknown compression algorithm %d", h[5]);
		return false;
	}
	hdr->compression = (TbdrCompression) h[5];
	if (h[6] == ENC_NONE)
	{
		/* unused fields must be zero: every header byte is checked */
		if (h[7] != 0 || memcmp(h + 8, zeros, HDR_SIZE - 8) != 0)
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "object header is corrupt: fields of an unencrypted object are not zero");
			return false;
		}
	}
	else if (h[6] == ENC_AES256GCM)
	{
		if (h[7] < TBDR_CODEC_CHUNK_LOG2_MIN || h[7] > TBDR_CODEC_CHUNK_LOG2_MAX)
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "object header has invalid encryption chunk size 2^%d", h[7]);
			return false;
		}
		hdr->encrypted = true;
		hdr->chunk_log2 = h[7];
		memcpy(hdr->key_fingerprint, h + 8, TBDR_KEY_FINGERPRINT_LEN);
		hex8(hdr->key_fingerprint, hdr->key_fingerprint_hex);
	}
	else
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object header has unknown encryption method %d", h[6]);
		return false;
	}
	return true;
}

/* ----------------------------------------------------------------
 * encoder
 * ----------------------------------------------------------------
 */

/* New salt, object key and header for the next object. */
static bool
encoder_begin_object(TbdrCodecEncoder *enc, TbdrError *err)
{
	unsigned char *h = enc->header;

	memset(h, 0, HDR_SIZE);
	memcpy(h, TBDR_CODEC_MAGIC, 4);
	h[4] = TBDR_CODEC_VERSION;
	h[5] = (unsigned char) enc->compression;
	h[6] = enc->encrypt ? ENC_AES256GCM : ENC_NONE;

	if (enc->encrypt)
	{
		unsigned char okey[TBDR_KEY_LEN];
		bool		ok;

		h[7] = TBDR_CODEC_CHUNK_LOG2;
		memcpy(h + 8, enc->cr.fingerprint, TBDR_KEY_FINGERPRINT_LEN);
		if (RAND_bytes(h + 16, SALT_SIZE) != 1)
		{
			set_openssl_error(err, "could not generate random bytes");
			return false;
		}
		ok = derive_key(enc->cr.kdf, enc->cr.master_key, h + 16, okey, err);
		if (ok && EVP_EncryptInit_ex(enc->cr.cipher, EVP_aes_256_gcm(), NULL,
									 okey, NULL) != 1)
		{
			set_openssl_error(err, "could not initialize AES-256-GCM");
			ok = false;
		}
		OPENSSL_cleanse(okey, sizeof(okey));
		if (!ok)
			return false;
	}
	if (enc->cctx)
	{
		size_t		r = ZSTD_CCtx_reset(enc->cctx, ZSTD_reset_session_only);

		if (ZSTD_isError(r))
		{
			tbdr_error_set(err, TBDR_ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(r));
			return false;
		}
	}
	if (!sha_init(enc->cr.sha, err))
		return false;

	enc->header_sent = false;
	enc->pbuf_len = 0;
	enc->chunk_no = 0;
	memset(&enc->stats, 0, sizeof(enc->stats));
	enc->state = CODER_FRESH;
	enc->needs_new_salt = false;
	return true;
}

TbdrCodecEncoder *
tbdr_codec_encoder_create(const TbdrCodecOptions *opts, TbdrError *err)
{
	TbdrCodecEncoder *enc;
	int			level = opts->level == 0 ? TBDR_CODEC_LEVEL_DEFAULT : opts->level;

	if (opts->compression != TBDR_COMPRESS_NONE &&
		opts->compression != TBDR_COMPRESS_ZSTD)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "unknown compression algorithm %d",
					   (int) opts->compression);
		return NULL;
	}
	if (opts->compression == TBDR_COMPRESS_ZSTD &&
		(level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "zstd compression level %d is out of range", level);
		tbdr_error_hint(err, "Use a level from 1 (fast) to 19 (small), or a negative level for even faster compression; %d to %d are accepted.",
						ZSTD_minCLevel(), ZSTD_maxCLevel());
		return NULL;
	}

	enc = palloc0(sizeof(TbdrCodecEncoder));
	enc->compression = opts->compression;
	enc->level = level;
	enc->workers = opts->workers;
	enc->encrypt = opts->key != NULL;
	if (!crypto_init(&enc->cr, opts->key, err))
		goto fail;

	if (enc->compression == TBDR_COMPRESS_ZSTD)
	{
		size_t		r;

		enc->cctx = ZSTD_createCCtx();
		if (enc->cctx == NULL)
		{
			tbdr_error_set(err, TBDR_ERR_INTERNAL, "could not create a zstd compression context");
			goto fail;
		}
		r = ZSTD_CCtx_setParameter(enc->cctx, ZSTD_c_compressionLevel, level);
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(enc->cctx, ZSTD_c_checksumFlag, 1);
		if (!ZSTD_isError(r) && opts->workers > 0)
			r = ZSTD_CCtx_setParameter(enc->cctx, ZSTD_c_nbWorkers, opts->workers);
		if (ZSTD_isError(r))
		{
			tbdr_error_set(err, TBDR_ERR_CONFIG, "could not configure zstd: %s",
						   ZSTD_getErrorName(r));
			goto fail;
		}
		enc->zbuf_size = ZSTD_CStreamOutSize();
		enc->zbuf = palloc(enc->zbuf_size);
	}

	if (enc->encrypt)
	{
		enc->chunk_size = (size_t) 1 << TBDR_CODEC_CHUNK_LOG2;
		enc->pbuf = palloc(enc->chunk_size);
		enc->cbuf = palloc(enc->chunk_size + TAG_SIZE);
	}

	if (!encoder_begin_object(enc, err))
		goto fail;
	return enc;

fail:
	tbdr_codec_encoder_free(enc);
	return NULL;
}

void
tbdr_codec_encoder_free(TbdrCodecEncoder *enc)
{
	if (enc == NULL)
		return;
	crypto_free(&enc->cr);
	if (enc->cctx)
		ZSTD_freeCCtx(enc->cctx);
	if (enc->zbuf)
		pfree(enc->zbuf);
	if (enc->pbuf)
	{
		/* plaintext of the last chunk */
		OPENSSL_cleanse(enc->pbuf, enc->chunk_size);
		pfree(enc->pbuf);
	}
	if (enc->cbuf)
		pfree(enc->cbuf);
	set_name(&enc->name, NULL);
	pfree(enc);
}

bool
tbdr_codec_encoder_reset(TbdrCodecEncoder *enc, const char *name,
						 TbdrError *err)
{
	set_name(&enc->name, name);
	/* a fresh encoder already has its salt; don't derive twice */
	if (enc->state == CODER_FRESH && !enc->needs_new_salt)
		return true;
	if (!encoder_begin_object(enc, err))
	{
		enc->state = CODER_FAILED;
		enc->needs_new_salt = true;
		return false;
	}
	return true;
}

const TbdrCodecStats *
tbdr_codec_encoder_stats(const TbdrCodecEncoder *enc)
{
	return &enc->stats;
}

static bool
enc_emit(TbdrCodecEncoder *enc, const void *data, size_t len,
		 TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	if (!enc->header_sent)
	{
		enc->header_sent = true;
		enc->stats.stored_bytes += HDR_SIZE;
		if (!out_fn(out_arg, (const char *) enc->header, HDR_SIZE, err))
			return false;
	}
	if (len == 0)
		return true;
	enc->stats.stored_bytes += len;
	return out_fn(out_arg, data, len, err);
}

/* Seal one chunk of payload and emit it. */
static bool
enc_seal(TbdrCodecEncoder *enc, const char *data, size_t len, bool last,
		 TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	unsigned char nonce[NONCE_SIZE];
	int			outl = 0;
	int			finl = 0;
	EVP_CIPHER_CTX *c = enc->cr.cipher;

	make_nonce(nonce, enc->chunk_no, last);
	if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
		EVP_EncryptUpdate(c, NULL, &outl, enc->header, HDR_SIZE) != 1 ||
		!add_name_aad(c, enc->name, TBDR_CODEC_VERSION) ||
		EVP_EncryptUpdate(c, (unsigned char *) enc->cbuf, &outl,
						  (const unsigned char *) data, (int) len) != 1 ||
		EVP_EncryptFinal_ex(c, (unsigned char *) enc->cbuf + outl, &finl) != 1 ||
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_SIZE,
							enc->cbuf + outl + finl) != 1)
	{
		set_openssl_error(err, "AES-256-GCM encryption failed");
		return false;
	}
	Assert(outl + finl == (int) len);
	enc->chunk_no++;
	return enc_emit(enc, enc->cbuf, len + TAG_SIZE, out_fn, out_arg, err);
}

/*
 * Payload bytes.  A full chunk is sealed only when more payload follows, so
 * that the last chunk is known to be the last when it is sealed.
 */
static bool
enc_payload(TbdrCodecEncoder *enc, const char *data, size_t len,
			TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	size_t		C = enc->chunk_size;

	if (!enc->encrypt)
		return enc_emit(enc, data, len, out_fn, out_arg, err);

	while (len > 0)
	{
		size_t		k;

		if (enc->pbuf_len == C)
		{
			if (!enc_seal(enc, enc->pbuf, C, false, out_fn, out_arg, err))
				return false;
			enc->pbuf_len = 0;
		}
		if (enc->pbuf_len == 0 && len > C)
		{
			/* more follows in this very call: seal in place, no copy */
			if (!enc_seal(enc, data, C, false, out_fn, out_arg, err))
				return false;
			data += C;
			len -= C;
			continue;
		}
		k = Min(len, C - enc->pbuf_len);
		memcpy(enc->pbuf + enc->pbuf_len, data, k);
		enc->pbuf_len += k;
		data += k;
		len -= k;
	}
	return true;
}

static bool
enc_check_state(TbdrCodecEncoder *enc, TbdrError *err)
{
	if (enc->state == CODER_FAILED)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "codec encoder used after a failure without a reset");
		return false;
	}
	if (enc->state == CODER_DONE)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "codec encoder used after finish without a reset");
		return false;
	}
	if (!check_name(enc->name, "encoder", err))
		return false;
	if (enc->needs_new_salt && !encoder_begin_object(enc, err))
		return false;
	enc->state = CODER_RUNNING;
	return true;
}

static bool
enc_zstd(TbdrCodecEncoder *enc, const void *data, size_t len,
		 ZSTD_EndDirective mode, TbdrWriteFn out_fn, void *out_arg,
		 TbdrError *err)
{
	ZSTD_inBuffer in = {data, len, 0};

	for (;;)
	{
		ZSTD_outBuffer out = {enc->zbuf, enc->zbuf_size, 0};
		size_t		r = ZSTD_compressStream2(enc->cctx, &out, &in, mode);

		if (ZSTD_isError(r))
		{
			tbdr_error_set(err, TBDR_ERR_INTERNAL, "zstd compression failed: %s",
						   ZSTD_getErrorName(r));
			return false;
		}
		if (out.pos > 0)
		{
			enc->stats.compressed_bytes += out.pos;
			if (!enc_payload(enc, enc->zbuf, out.pos, out_fn, out_arg, err))
				return false;
		}
		if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size)
			break;
	}
	return true;
}

bool
tbdr_codec_encoder_write(TbdrCodecEncoder *enc, const void *data, size_t len,
						 TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	bool		ok;

	if (!enc_check_state(enc, err))
		return false;
	if (len == 0)
		return true;
	if (EVP_DigestUpdate(enc->cr.sha, data, len) != 1)
	{
		set_openssl_error(err, "SHA-256 failed");
		enc->state = CODER_FAILED;
		return false;
	}
	enc->stats.plain_bytes += len;
	if (enc->compression == TBDR_COMPRESS_ZSTD)
		ok = enc_zstd(enc, data, len, ZSTD_e_continue, out_fn, out_arg, err);
	else
	{
		enc->stats.compressed_bytes += len;
		ok = enc_payload(enc, data, len, out_fn, out_arg, err);
	}
	if (!ok)
		enc->state = CODER_FAILED;
	return ok;
}

bool
tbdr_codec_encoder_finish(TbdrCodecEncoder *enc, TbdrWriteFn out_fn,
						  void *out_arg, TbdrError *err)
{
	unsigned char trailer[TRL_SIZE];
	unsigned int mdlen = 0;

	if (!enc_check_state(enc, err))
		return false;
	if (enc->compression == TBDR_COMPRESS_ZSTD &&
		!enc_zstd(enc, NULL, 0, ZSTD_e_end, out_fn, out_arg, err))
		goto fail;

	if (EVP_DigestFinal_ex(enc->cr.sha, enc->stats.sha256, &mdlen) != 1)
	{
		set_openssl_error(err, "SHA-256 failed");
		goto fail;
	}
	memcpy(trailer, TRAILER_MAGIC, 4);
	put_be64(trailer + 4, enc->stats.plain_bytes);
	memcpy(trailer + 12, enc->stats.sha256, 32);
	if (!enc_payload(enc, (const char *) trailer, TRL_SIZE, out_fn, out_arg, err))
		goto fail;
	if (enc->encrypt &&
		!enc_seal(enc, enc->pbuf, enc->pbuf_len, true, out_fn, out_arg, err))
		goto fail;
	/* the header even when the payload went out unencrypted and empty */
	if (!enc_emit(enc, NULL, 0, out_fn, out_arg, err))
		goto fail;
	enc->pbuf_len = 0;
	enc->state = CODER_DONE;
	enc->needs_new_salt = true;
	return true;

fail:
	enc->state = CODER_FAILED;
	enc->needs_new_salt = true;
	return false;
}

/* ----------------------------------------------------------------
 * decoder
 * ----------------------------------------------------------------
 */

TbdrCodecDecoder *
tbdr_codec_decoder_create(const TbdrCodecOptions *opts, TbdrError *err)
{
	TbdrCodecDecoder *dec = palloc0(sizeof(TbdrCodecDecoder));

	dec->require_encryption = opts->require_encryption;
	if (!crypto_init(&dec->cr, opts->key, err))
		goto fail;
	if (opts->key)
	{
		dec->have_key = true;
		hex8(dec->cr.fingerprint, dec->fingerprint_hex);
	}
	tbdr_codec_decoder_reset(dec, NULL);
	return dec;

fail:
	tbdr_codec_decoder_free(dec);
	return NULL;
}

void
tbdr_codec_decoder_free(TbdrCodecDecoder *dec)
{
	if (dec == NULL)
		return;
	crypto_free(&dec->cr);
	if (dec->dctx)
		ZSTD_freeDCtx(dec->dctx);
	if (dec->zbuf)
		pfree(dec->zbuf);
	if (dec->cbuf)
		pfree(dec->cbuf);
	if (dec->pbuf)
	{
		OPENSSL_cleanse(dec->pbuf, dec->buf_chunk_size);
		pfree(dec->pbuf);
	}
	set_name(&dec->name, NULL);
	pfree(dec);
}

void
tbdr_codec_decoder_reset(TbdrCodecDecoder *dec, const char *name)
{
	set_name(&dec->name, name);
	dec->state = CODER_FRESH;
	dec->header_len = 0;
	dec->header_ok = false;
	memset(&dec->hdr, 0, sizeof(dec->hdr));
	dec->frame_done = false;
	dec->cbuf_len = 0;
	dec->chunk_no = 0;
	dec->tail_len = 0;
	dec->max_plain = 0;
	dec->max_plain_what = NULL;
	memset(&dec->stats, 0, sizeof(dec->stats));
	/* sha is (re)initialized when the header is complete */
}

void
tbdr_codec_decoder_set_limit(TbdrCodecDecoder *dec, uint64 max_plain,
							 const char *what)
{
	dec->max_plain = max_plain;
	dec->max_plain_what = what;
}

const TbdrCodecStats *
tbdr_codec_decoder_stats(const TbdrCodecDecoder *dec)
{
	return &dec->stats;
}

const TbdrCodecHeader *
tbdr_codec_decoder_header(const TbdrCodecDecoder *dec)
{
	return dec->header_ok ? &dec->hdr : NULL;
}

/*
 * An object that the key does not authenticate as this name: unencrypted,
 * or encrypted in format version 1 (whose AAD has no name).
 */
static void
set_unauthenticated_error(TbdrCodecDecoder *dec, TbdrError *err)
{
	if (!dec->hdr.encrypted)
	{
		tbdr_error_set(err, TBDR_ERR_CRYPTO,
					   "object \"%s\" is not encrypted, but tbdr.encryption_key_file is set",
					   dec->name);
		tbdr_error_detail(err, "With an encryption key, every object must be encrypted with it; anyone with write access to the bucket can store an unencrypted one.");
	}
	else
	{
		tbdr_error_set(err, TBDR_ERR_CRYPTO,
					   "object \"%s\" has format version %d, which does not bind an object to its name",
					   dec->name, dec->hdr.version);
		tbdr_error_detail(err, "Anyone with write access to the bucket can copy a version %d object to another name.",
						  dec->hdr.version);
	}
	tbdr_error_hint(err, "If nobody but tbdr wrote to the repository and it still holds objects stored before encryption (or before tbdr's object format version %d), set tbdr.allow_unauthenticated_reads = on until they have expired; otherwise the repository was tampered with.",
					TBDR_CODEC_VERSION);
}

/* The header is complete: check it and set up for its body. */
static bool
dec_begin_body(TbdrCodecDecoder *dec, TbdrError *err)
{
	TbdrCodecHeader *hdr = &dec->hdr;

	if (!tbdr_codec_parse_header(dec->header, HDR_SIZE, hdr, err) ||
		!check_name(dec->name, "decoder", err))
		return false;

	if (hdr->encrypted)
	{
		unsigned char okey[TBDR_KEY_LEN];
		bool		ok;

		if (!dec->have_key)
		{
			tbdr_error_set(err, TBDR_ERR_CRYPTO,
						   "object is encrypted (with key %s), but no encryption key is configured",
						   hdr->key_fingerprint_hex);
			tbdr_error_hint(err, "Set tbdr.encryption_key_file to the file with the key that was used when the object was stored.");
			return false;
		}
		if (memcmp(hdr->key_fingerprint, dec->cr.fingerprint, TBDR_KEY_FINGERPRINT_LEN) != 0)
		{
			tbdr_error_set(err, TBDR_ERR_CRYPTO,
						   "object was encrypted with key %s, tbdr.encryption_key_file has key %s",
						   hdr->key_fingerprint_hex, dec->fingerprint_hex);
			tbdr_error_hint(err, "Set tbdr.encryption_key_file to the file with the key that was used when the object was stored (the fingerprint of a key file is the start of: xxd -r -p FILE | sha256sum).");
			return false;
		}
		dec->chunk_size = (size_t) 1 << hdr->chunk_log2;
		if (dec->buf_chunk_size != dec->chunk_size)
		{
			if (dec->cbuf)
				pfree(dec->cbuf);
			if (dec->pbuf)
			{
				OPENSSL_cleanse(dec->pbuf, dec->buf_chunk_size);
				pfree(dec->pbuf);
			}
			dec->cbuf = palloc(dec->chunk_size + TAG_SIZE);
			dec->pbuf = palloc(dec->chunk_size);
			dec->buf_chunk_size = dec->chunk_size;
		}
		ok = derive_key(dec->cr.kdf, dec->cr.master_key, dec->header + 16, okey, err);
		if (ok && EVP_DecryptInit_ex(dec->cr.cipher, EVP_aes_256_gcm(), NULL,
									 okey, NULL) != 1)
		{
			set_openssl_error(err, "could not initialize AES-256-GCM");
			ok = false;
		}
		OPENSSL_cleanse(okey, sizeof(okey));
		if (!ok)
			return false;
	}
	if (dec->require_encryption && !(hdr->encrypted && hdr->version >= 2))
	{
		set_unauthenticated_error(dec, err);
		return false;
	}

	if (hdr->compression == TBDR_COMPRESS_ZSTD)
	{
		size_t		r;

		if (dec->dctx == NULL)
		{
			dec->dctx = ZSTD_createDCtx();
			if (dec->dctx == NULL)
			{
				tbdr_error_set(err, TBDR_ERR_INTERNAL, "could not create a zstd decompression context");
				return false;
			}
			dec->zbuf_size = ZSTD_DStreamOutSize();
			dec->zbuf = palloc(dec->zbuf_size);
		}
		r = ZSTD_DCtx_reset(dec->dctx, ZSTD_reset_session_only);
		if (ZSTD_isError(r))
		{
			tbdr_error_set(err, TBDR_ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(r));
			return false;
		}
	}
	if (!sha_init(dec->cr.sha, err))
		return false;
	dec->header_ok = true;
	return true;
}

static bool
dec_plain_out(TbdrCodecDecoder *dec, const char *data, size_t len,
			  TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	if (dec->max_plain > 0 && len > dec->max_plain - dec->stats.plain_bytes)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object decodes to more than %llu bytes, more than %s can have",
					   (unsigned long long) dec->max_plain, dec->max_plain_what);
		tbdr_error_hint(err, "The object was not written by tbdr for this name (for example a compression bomb stored by someone with write access to the bucket); check the repository.");
		return false;
	}
	if (EVP_DigestUpdate(dec->cr.sha, data, len) != 1)
	{
		set_openssl_error(err, "SHA-256 failed");
		return false;
	}
	dec->stats.plain_bytes += len;
	return out_fn(out_arg, data, len, err);
}

/* Content bytes (the payload without its trailer). */
static bool
dec_content(TbdrCodecDecoder *dec, const char *data, size_t len,
			TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	ZSTD_inBuffer in = {data, len, 0};

	if (len == 0)
		return true;
	dec->stats.compressed_bytes += len;
	if (dec->hdr.compression == TBDR_COMPRESS_NONE)
		return dec_plain_out(dec, data, len, out_fn, out_arg, err);

	if (dec->frame_done)
		goto trailing;
	for (;;)
	{
		ZSTD_outBuffer out = {dec->zbuf, dec->zbuf_size, 0};
		size_t		r = ZSTD_decompressStream(dec->dctx, &out, &in);

		if (ZSTD_isError(r))
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "object is corrupt: zstd decompression failed: %s",
						   ZSTD_getErrorName(r));
			return false;
		}
		if (out.pos > 0 &&
			!dec_plain_out(dec, dec->zbuf, out.pos, out_fn, out_arg, err))
			return false;
		if (r == 0)
		{
			dec->frame_done = true;
			if (in.pos < in.size)
				goto trailing;
			break;
		}
		/* all input consumed and all output flushed */
		if (in.pos == in.size && out.pos < out.size)
			break;
	}
	return true;

trailing:
	tbdr_error_set(err, TBDR_ERR_CORRUPT,
				   "object is corrupt: unexpected data after the end of the compressed data");
	return false;
}

/*
 * Payload bytes: everything but the last TRL_SIZE bytes seen so far goes on
 * to the content; those are held back, as they may be the trailer.
 */
static bool
dec_payload(TbdrCodecDecoder *dec, const char *data, size_t len,
			TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	size_t		release;
	size_t		from_tail;

	if (dec->tail_len + len <= TRL_SIZE)
	{
		memcpy(dec->tail + dec->tail_len, data, len);
		dec->tail_len += len;
		return true;
	}
	release = dec->tail_len + len - TRL_SIZE;
	from_tail = Min(release, dec->tail_len);
	if (from_tail > 0)
	{
		if (!dec_content(dec, (const char *) dec->tail, from_tail, out_fn, out_arg, err))
			return false;
		memmove(dec->tail, dec->tail + from_tail, dec->tail_len - from_tail);
		dec->tail_len -= from_tail;
		release -= from_tail;
	}
	if (release > 0)
	{
		if (!dec_content(dec, data, release, out_fn, out_arg, err))
			return false;
		data += release;
		len -= release;
	}
	Assert(dec->tail_len + len == TRL_SIZE);
	memcpy(dec->tail + dec->tail_len, data, len);
	dec->tail_len += len;
	return true;
}

/* Authenticate and decrypt one chunk into pbuf; false if the tag is wrong. */
static bool
dec_open_chunk(TbdrCodecDecoder *dec, const char *data, size_t len, bool last)
{
	unsigned char nonce[NONCE_SIZE];
	int			outl = 0;
	int			finl = 0;
	size_t		clen = len - TAG_SIZE;
	EVP_CIPHER_CTX *c = dec->cr.cipher;

	make_nonce(nonce, dec->chunk_no, last);
	if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
		EVP_DecryptUpdate(c, NULL, &outl, dec->header, HDR_SIZE) != 1 ||
		!add_name_aad(c, dec->name, dec->hdr.version) ||
		EVP_DecryptUpdate(c, (unsigned char *) dec->pbuf, &outl,
						  (const unsigned char *) data, (int) clen) != 1 ||
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_SIZE,
							(void *) (data + clen)) != 1 ||
		EVP_DecryptFinal_ex(c, (unsigned char *) dec->pbuf + outl, &finl) != 1)
		return false;
	return true;
}

static void
set_auth_error(TbdrCodecDecoder *dec, TbdrError *err)
{
	tbdr_error_set(err, TBDR_ERR_CRYPTO, MSG_AUTH_FAILED, dec->name);
	tbdr_error_hint(err, "Someone with write access to the bucket may have replaced, copied or renamed the object; do not use it.");
	tbdr_error_detail(err, "The authentication tag of encrypted chunk %llu (at stored offset %llu) does not match.",
					  (unsigned long long) dec->chunk_no,
					  (unsigned long long) (HDR_SIZE + dec->chunk_no * (dec->chunk_size + TAG_SIZE)));
}

/* A full chunk followed by more bytes: a chunk that is not the last. */
static bool
dec_middle_chunk(TbdrCodecDecoder *dec, const char *data,
				 TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	size_t		len = dec->chunk_size + TAG_SIZE;

	if (!dec_open_chunk(dec, data, len, false))
	{
		/* say what happened if we can tell */
		if (dec_open_chunk(dec, data, len, true))
		{
			OPENSSL_cleanse(dec->pbuf, dec->chunk_size);
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "object is corrupt: unexpected data after the end of the object");
		}
		else
			set_auth_error(dec, err);
		return false;
	}
	dec->chunk_no++;
	return dec_payload(dec, dec->pbuf, dec->chunk_size, out_fn, out_arg, err);
}

bool
tbdr_codec_decoder_write(TbdrCodecDecoder *dec, const void *vdata, size_t len,
						 TbdrWriteFn out_fn, void *out_arg, TbdrError *err)
{
	const char *data = vdata;

	if (dec->state == CODER_FAILED || dec->state == CODER_DONE)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "codec decoder used after %s without a reset",
					   dec->state == CODER_DONE ? "finish" : "a failure");
		return false;
	}
	dec->state = CODER_RUNNING;
	dec->stats.stored_bytes += len;

	if (!dec->header_ok)
	{
		size_t		k = Min(len, HDR_SIZE - dec->header_len);

		memcpy(dec->header + dec->header_len, data, k);
		dec->header_len += k;
		data += k;
		len -= k;
		/* a foreign object is recognized by its first bytes */
		if (memcmp(dec->header, TBDR_CODEC_MAGIC, Min(dec->header_len, 4)) != 0 ||
			(dec->header_len >= 5 &&
			 (dec->header[4] < TBDR_CODEC_VERSION_MIN ||
			  dec->header[4] > TBDR_CODEC_VERSION)))
		{
			tbdr_codec_parse_header(dec->header, dec->header_len, &dec->hdr, err);
			goto fail;
		}
		if (dec->header_len < HDR_SIZE)
			return true;
		if (!dec_begin_body(dec, err))
			goto fail;
	}

	if (!dec->hdr.encrypted)
	{
		if (len > 0 && !dec_payload(dec, data, len, out_fn, out_arg, err))
			goto fail;
		return true;
	}

	while (len > 0)
	{
		size_t		full = dec->chunk_size + TAG_SIZE;
		size_t		k;

		if (dec->cbuf_len == full)
		{
			if (!dec_middle_chunk(dec, dec->cbuf, out_fn, out_arg, err))
				goto fail;
			dec->cbuf_len = 0;
		}
		if (dec->cbuf_len == 0 && len > full)
		{
			/* a whole chunk and more in this call: open in place */
			if (!dec_middle_chunk(dec, data, out_fn, out_arg, err))
				goto fail;
			data += full;
			len -= full;
			continue;
		}
		k = Min(len, full - dec->cbuf_len);
		memcpy(dec->cbuf + dec->cbuf_len, data, k);
		dec->cbuf_len += k;
		data += k;
		len -= k;
	}
	return true;

fail:
	dec->state = CODER_FAILED;
	return false;
}

bool
tbdr_codec_decoder_finish(TbdrCodecDecoder *dec, TbdrWriteFn out_fn,
						  void *out_arg, TbdrError *err)
{
	unsigned char sha[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64		length;

	if (dec->state == CODER_FAILED || dec->state == CODER_DONE)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "codec decoder used after %s without a reset",
					   dec->state == CODER_DONE ? "finish" : "a failure");
		return false;
	}
	if (!dec->header_ok)
	{
		if (dec->header_len == 0)
			tbdr_error_set(err, TBDR_ERR_CORRUPT, "not a tbdr object: the object is empty");
		else
			tbdr_codec_parse_header(dec->header, dec->header_len, &dec->hdr, err);
		goto fail;
	}

	if (dec->hdr.encrypted)
	{
		if (dec->cbuf_len <= TAG_SIZE)
		{
			tbdr_error_set(err, TBDR_ERR_CORRUPT,
						   "object is truncated: the last encrypted chunk is missing");
			tbdr_error_detail(err, "The object ends after %llu bytes.",
							  (unsigned long long) dec->stats.stored_bytes);
			goto fail;
		}
		if (!dec_open_chunk(dec, dec->cbuf, dec->cbuf_len, true))
		{
			if (dec->cbuf_len == dec->chunk_size + TAG_SIZE &&
				dec_open_chunk(dec, dec->cbuf, dec->cbuf_len, false))
			{
				OPENSSL_cleanse(dec->pbuf, dec->chunk_size);
				tbdr_error_set(err, TBDR_ERR_CORRUPT,
							   "object is truncated: it ends after encrypted chunk %llu, which is not the last",
							   (unsigned long long) dec->chunk_no);
			}
			else
				set_auth_error(dec, err);
			goto fail;
		}
		dec->chunk_no++;
		if (!dec_payload(dec, dec->pbuf, dec->cbuf_len - TAG_SIZE, out_fn, out_arg, err))
			goto fail;
		dec->cbuf_len = 0;
	}

	if (dec->tail_len < TRL_SIZE || memcmp(dec->tail, TRAILER_MAGIC, 4) != 0)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object is truncated or corrupt: the trailer is missing");
		tbdr_error_detail(err, "The object ends after %llu bytes.",
						  (unsigned long long) dec->stats.stored_bytes);
		goto fail;
	}
	if (dec->hdr.compression == TBDR_COMPRESS_ZSTD && !dec->frame_done)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object is truncated or corrupt: the compressed data ends before the end of its zstd frame");
		goto fail;
	}
	length = get_be64(dec->tail + 4);
	if (length != dec->stats.plain_bytes)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object is corrupt: it decodes to %llu bytes, but its trailer says %llu",
					   (unsigned long long) dec->stats.plain_bytes,
					   (unsigned long long) length);
		goto fail;
	}
	if (EVP_DigestFinal_ex(dec->cr.sha, sha, &mdlen) != 1)
	{
		set_openssl_error(err, "SHA-256 failed");
		goto fail;
	}
	if (memcmp(sha, dec->tail + 12, 32) != 0)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "object is corrupt: the SHA-256 of its content does not match its trailer");
		goto fail;
	}
	memcpy(dec->stats.sha256, sha, 32);
	dec->state = CODER_DONE;
	return true;

fail:
	dec->state = CODER_FAILED;
	return false;
}

/* ----------------------------------------------------------------
 * whole buffers
 * ----------------------------------------------------------------
 */

static bool
append_to_stringinfo(void *arg, const char *buf, size_t len, TbdrError *err)
{
	StringInfo	out = arg;

	if ((size_t) out->len + len >= (size_t) 0x3fffffff)	/* MaxAllocSize */
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "object too large for a memory buffer");
		return false;
	}
	appendBinaryStringInfo(out, buf, (int) len);
	return true;
}

bool
tbdr_codec_encode_buffer(TbdrCodecEncoder *enc, const char *name,
						 const void *data, size_t len, StringInfo out,
						 TbdrError *err)
{
	return tbdr_codec_encoder_reset(enc, name, err) &&
		tbdr_codec_encoder_write(enc, data, len, append_to_stringinfo, out, err) &&
		tbdr_codec_encoder_finish(enc, append_to_stringinfo, out, err);
}

bool
tbdr_codec_decode_buffer(TbdrCodecDecoder *dec, const char *name,
						 const void *data, size_t len, StringInfo out,
						 TbdrError *err)
{
	return tbdr_codec_decode_buffer_max(dec, name, data, len, 0, NULL, out, err);
}

bool
tbdr_codec_decode_buffer_max(TbdrCodecDecoder *dec, const char *name,
							 const void *data, size_t len, uint64 max_plain,
							 const char *what, StringInfo out, TbdrError *err)
{
	tbdr_codec_decoder_reset(dec, name);
	tbdr_codec_decoder_set_limit(dec, max_plain, what);
	return tbdr_codec_decoder_write(dec, data, len, append_to_stringinfo, out, err) &&
		tbdr_codec_decoder_finish(dec, append_to_stringinfo, out, err);
}

/* ----------------------------------------------------------------
 * file adapters
 * ----------------------------------------------------------------
 */

struct TbdrCodecSource
{
	TbdrCodecEncoder *enc;
	int			fd;
	char	   *inbuf;
	bool		done;			/* encoder finished */
	bool		failed;
	/* where encoder output goes: first the caller's buffer, then pending */
	char	   *dst;
	size_t		dst_room;
	char	   *pend;
	size_t		pend_len;
	size_t		pend_off;
	size_t		pend_cap;
};

TbdrCodecSource *
tbdr_codec_source_create(int fd, TbdrCodecEncoder *enc, const char *name,
						 TbdrError *err)
{
	TbdrCodecSource *src;

	if (!tbdr_codec_encoder_reset(enc, name, err))
		return NULL;
	src = palloc0(sizeof(TbdrCodecSource));
	src->enc = enc;
	src->fd = fd;
	src->inbuf = palloc(SOURCE_READ_SIZE);
	return src;
}

void
tbdr_codec_source_free(TbdrCodecSource *src)
{
	if (src == NULL)
		return;
	pfree(src->inbuf);
	if (src->pend)
		pfree(src->pend);
	pfree(src);
}

const TbdrCodecStats *
tbdr_codec_source_stats(const TbdrCodecSource *src)
{
	return tbdr_codec_encoder_stats(src->enc);
}

static bool
source_out(void *arg, const char *data, size_t len, TbdrError *err)
{
	TbdrCodecSource *src = arg;
	size_t		k = Min(len, src->dst_room);

	if (k > 0)
	{
		memcpy(src->dst, data, k);
		src->dst += k;
		src->dst_room -= k;
		data += k;
		len -= k;
	}
	if (len > 0)
	{
		if (src->pend_len + len > src->pend_cap)
		{
			size_t		cap = Max(src->pend_cap * 2, src->pend_len + len);

			cap = Max(cap, 64 * 1024);
			if (src->pend)
				src->pend = repalloc(src->pend, cap);
			else
				src->pend = palloc(cap);
			src->pend_cap = cap;
		}
		memcpy(src->pend + src->pend_len, data, len);
		src->pend_len += len;
	}
	return true;
}

ssize_t
tbdr_codec_source_read(void *arg, char *buf, size_t len, TbdrError *err)
{
	TbdrCodecSource *src = arg;
	size_t		avail = src->pend_len - src->pend_off;
	size_t		k = Min(avail, len);

	if (src->failed)
	{
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "codec source read after a failure");
		return -1;
	}
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;

	/* first what is pending from the last call */
	if (k > 0)
		memcpy(buf, src->pend + src->pend_off, k);
	src->pend_off += k;
	if (src->pend_off == src->pend_len)
		src->pend_off = src->pend_len = 0;

	src->dst = buf + k;
	src->dst_room = len - k;
	while (src->dst_room > 0 && !src->done)
	{
		ssize_t		n = read(src->fd, src->inbuf, SOURCE_READ_SIZE);
		bool		ok;

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not read file to upload");
			src->failed = true;
			return -1;
		}
		if (n == 0)
		{
			ok = tbdr_codec_encoder_finish(src->enc, source_out, src, err);
			src->done = true;
		}
		else
			ok = tbdr_codec_encoder_write(src->enc, src->inbuf, n, source_out, src, err);
		if (!ok)
		{
			src->failed = true;
			return -1;
		}
	}
	return (ssize_t) (len - src->dst_room);
}

struct TbdrCodecSink
{
	TbdrCodecDecoder *dec;
	int			fd;
};

TbdrCodecSink *
tbdr_codec_sink_create(int fd, TbdrCodecDecoder *dec, const char *name,
					   TbdrError *err)
{
	TbdrCodecSink *sink = palloc0(sizeof(TbdrCodecSink));

	tbdr_codec_decoder_reset(dec, name);
	sink->dec = dec;
	sink->fd = fd;
	return sink;
}

void
tbdr_codec_sink_free(TbdrCodecSink *sink)
{
	if (sink)
		pfree(sink);
}

const TbdrCodecStats *
tbdr_codec_sink_stats(const TbdrCodecSink *sink)
{
	return tbdr_codec_decoder_stats(sink->dec);
}

static bool
sink_out(void *arg, const char *data, size_t len, TbdrError *err)
{
	TbdrCodecSink *sink = arg;

	while (len > 0)
	{
		ssize_t		n = write(sink->fd, data, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not write downloaded data to file");
			return false;
		}
		data += n;
		len -= n;
	}
	return true;
}

bool
tbdr_codec_sink_write(void *arg, const char *buf, size_t len, TbdrError *err)
{
	TbdrCodecSink *sink = arg;

	return tbdr_codec_decoder_write(sink->dec, buf, len, sink_out, sink, err);
}

bool
tbdr_codec_sink_finish(TbdrCodecSink *sink, TbdrError *err)
{
	return tbdr_codec_decoder_finish(sink->dec, sink_out, sink, err);
}
