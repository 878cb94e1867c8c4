/*-------------------------------------------------------------------------
 * codec.h
 *	  The codec pipeline: compression (zstd or none) and authenticated
 *	  encryption (AES-256-GCM, optional) of every object tbdr stores.
 *
 * Both directions stream.  An encoder is fed plaintext in pieces of any size
 * and hands the object's bytes to a callback; a decoder is fed the object's
 * bytes in pieces of any size and hands plaintext to a callback.  Adapters
 * fit them to the storage API: a TbdrReadFn that reads a local file and
 * yields encoded bytes (uploads), and a TbdrWriteFn that decodes and writes
 * plaintext to a file (downloads).  Every encoder/decoder also computes the
 * SHA-256 of the plaintext and counts plaintext, compressed and stored bytes.
 *
 * Object format, version 2 (docs/FORMAT.md has the rationale):
 *
 *	 header (48 bytes, always present)
 *	   0  4  magic "TBDR"
 *	   4  1  format version (2; decoders also read 1)
 *	   5  1  compression: 0 none, 1 zstd
 *	   6  1  encryption: 0 none, 1 AES-256-GCM
 *	   7  1  log2 of the encryption chunk size (18 = 256 KiB); 0 if plain
 *	   8  8  key fingerprint: SHA-256(master key)[0..8]; zeros if plain
 *	  16 32  salt: random per object; zeros if plain
 *
 *	 payload = content || trailer
 *	   content: the plaintext (none), or exactly one zstd frame with a
 *				content checksum (zstd)
 *	   trailer (44 bytes): "TEND", plaintext length (uint64 big-endian),
 *				SHA-256 of the plaintext
 *
 *	 body
 *	   plain:	  the payload as is
 *	   encrypted: the payload cut into chunks of 2^log2 bytes (the last one
 *				  1..2^log2 bytes), each stored as ciphertext || 16-byte tag,
 *				  sealed with AES-256-GCM under
 *					object key = HKDF-SHA256(ikm = master key, salt = salt,
 *								 info = "tbdr v1 object key")
 *					nonce	   = 88-bit big-endian chunk number || last flag
 *								 (1 byte: 1 for the last chunk, else 0)
 *					AAD		   = the 48-byte header || the object's name
 *								 (version 1: the header only)
 *
 * The name is the object's repository-relative key (for WAL it holds the
 * timeline and segment number), given with every reset: an encrypted object
 * copied or renamed to another key fails authentication.  Every encoder and
 * decoder reset takes it, so no caller can forget it.
 *
 * A decoder rejects, with TBDR_ERR_CORRUPT unless said otherwise: a foreign
 * object (wrong magic: "not a tbdr object"), an unknown version or flag, a
 * key mismatch (TBDR_ERR_CRYPTO, naming both fingerprints), a missing key
 * (TBDR_ERR_CRYPTO), with require_encryption an object the key does not
 * authenticate as its name (plain or version 1: TBDR_ERR_CRYPTO), any
 * modified byte or other name (GCM tag: TBDR_ERR_CRYPTO
 * "authentication failed for ..."; plain objects: zstd checksum, trailer length
 * or SHA-256), truncation anywhere (incl. at a chunk boundary: the last
 * chunk's flag), trailing data, and zstd frame errors.
 *
 * Plaintext is passed on before the end of the object has been checked; the
 * verdict is the result of ..._finish().  Encrypted plaintext is only passed
 * on after its chunk has been authenticated.  Callers write downloads to a
 * temporary file and use it only when finish succeeded.
 *
 * All memory comes from palloc (the current memory context); zstd and
 * OpenSSL contexts are freed by ..._free().  Key material is cleansed on
 * free.  An encoder or decoder can be reset and reused for the next object,
 * which keeps its zstd and OpenSSL contexts and buffers (per WAL segment).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_CODEC_H
#define TBDR_CODEC_H

#include "core/error.h"
#include "core/keyfile.h"
#include "core/storage.h"
#include "lib/stringinfo.h"

#define TBDR_CODEC_MAGIC "TBDR"
#define TBDR_CODEC_VERSION 2		/* what encoders write */
#define TBDR_CODEC_VERSION_MIN 1	/* the oldest decoders read */
#define TBDR_CODEC_HEADER_SIZE 48
#define TBDR_CODEC_TRAILER_SIZE 44
#define TBDR_CODEC_TAG_SIZE 16
#define TBDR_CODEC_CHUNK_LOG2 18	/* what encoders write: 256 KiB */
#define TBDR_CODEC_CHUNK_LOG2_MIN 12	/* what decoders accept */
#define TBDR_CODEC_CHUNK_LOG2_MAX 24

#define TBDR_CODEC_LEVEL_DEFAULT 3	/* zstd's default */

typedef enum TbdrCompression
{
	TBDR_COMPRESS_NONE = 0,
	TBDR_COMPRESS_ZSTD = 1
} TbdrCompression;

typedef struct TbdrCodecOptions
{
	TbdrCompression compression;	/* encoder only; decoders read the header */
	int			level;			/* zstd level: 0 = default (3), 1..19, or
								 * negative (fast); encoder only */
	int			workers;		/* zstd worker threads, 0 = none; encoder
								 * only */
	const unsigned char *key;	/* TBDR_KEY_LEN bytes (copied), or NULL: the
								 * encoder does not encrypt, the decoder
								 * refuses encrypted objects */
	bool		require_encryption; /* decoder: refuse objects that the key
									 * does not authenticate as their name:
									 * plain ones and version 1 (so that
									 * nobody with write access to the bucket
									 * can substitute, copy or rename one) */
} TbdrCodecOptions;

typedef struct TbdrCodecStats
{
	uint64		plain_bytes;	/* plaintext (before compression) */
	uint64		compressed_bytes;	/* content: after compression, before
									 * trailer and encryption */
	uint64		stored_bytes;	/* the object (header, tags and all) */
	unsigned char sha256[32];	/* of the plaintext; valid after finish */
} TbdrCodecStats;

/* What a header says (tbdr_codec_parse_header). */
typedef struct TbdrCodecHeader
{
	int			version;
	TbdrCompression compression;
	bool		encrypted;
	int			chunk_log2;		/* 0 if not encrypted */
	unsigned char key_fingerprint[TBDR_KEY_FINGERPRINT_LEN];
	char		key_fingerprint_hex[TBDR_KEY_FINGERPRINT_HEX_LEN];	/* "" if plain */
} TbdrCodecHeader;

typedef struct TbdrCodecEncoder TbdrCodecEncoder;
typedef struct TbdrCodecDecoder TbdrCodecDecoder;

/* "none", "zstd"; parse: false if unknown. */
extern const char *tbdr_compression_name(TbdrCompression c);
extern bool tbdr_compression_parse(const char *name, TbdrCompression *c);

/* ---- encoder ---- */

/* NULL with err set (TBDR_ERR_CONFIG for a bad level, else INTERNAL). */
extern TbdrCodecEncoder *tbdr_codec_encoder_create(const TbdrCodecOptions *opts,
												   TbdrError *err);
/* Feed plaintext; object bytes go to out_fn (may be called 0..n times). */
extern bool tbdr_codec_encoder_write(TbdrCodecEncoder *enc, const void *data,
									 size_t len, TbdrWriteFn out_fn,
									 void *out_arg, TbdrError *err);
/* End of plaintext: flush everything; the stats are final afterwards. */
extern bool tbdr_codec_encoder_finish(TbdrCodecEncoder *enc, TbdrWriteFn out_fn,
									  void *out_arg, TbdrError *err);
/*
 * Start a new object named name (its repository-relative key, bound into
 * the AAD; copied), with a new salt, keeping contexts and buffers.  An
 * encoder encodes nothing before its first reset.
 */
extern bool tbdr_codec_encoder_reset(TbdrCodecEncoder *enc, const char *name,
									 TbdrError *err);
extern const TbdrCodecStats *tbdr_codec_encoder_stats(const TbdrCodecEncoder *enc);
extern void tbdr_codec_encoder_free(TbdrCodecEncoder *enc);

/* ---- decoder ---- */

extern TbdrCodecDecoder *tbdr_codec_decoder_create(const TbdrCodecOptions *opts,
												   TbdrError *err);
/* Feed object bytes; plaintext goes to out_fn. */
extern bool tbdr_codec_decoder_write(TbdrCodecDecoder *dec, const void *data,
									 size_t len, TbdrWriteFn out_fn,
									 void *out_arg, TbdrError *err);
/* End of object bytes: checks that the object was complete and intact. */
extern bool tbdr_codec_decoder_finish(TbdrCodecDecoder *dec, TbdrWriteFn out_fn,
									  void *out_arg, TbdrError *err);
/* Start decoding the object named name (as for the encoder; copied). */
extern void tbdr_codec_decoder_reset(TbdrCodecDecoder *dec, const char *name);

/*
 * Refuse the object being decoded (TBDR_ERR_CORRUPT, before passing any of
 * it on) once its plaintext would exceed max_plain bytes: what it may be is
 * bounded (a WAL segment by the segment size), and a small object must not
 * decompress into gigabytes.  what names the kind for the message ("a WAL
 * segment of this cluster").  Set after the reset: a reset clears it.
 */
extern void tbdr_codec_decoder_set_limit(TbdrCodecDecoder *dec,
										 uint64 max_plain, const char *what);
extern const TbdrCodecStats *tbdr_codec_decoder_stats(const TbdrCodecDecoder *dec);
/* The header of the object being decoded; NULL before 48 bytes were fed. */
extern const TbdrCodecHeader *tbdr_codec_decoder_header(const TbdrCodecDecoder *dec);
extern void tbdr_codec_decoder_free(TbdrCodecDecoder *dec);

/* Check and describe a header (len >= TBDR_CODEC_HEADER_SIZE). */
extern bool tbdr_codec_parse_header(const void *data, size_t len,
									TbdrCodecHeader *hdr, TbdrError *err);

/* ---- whole buffers (manifests, tests) ---- */

/* Encode/decode object name into out (appended); the coder is reset first. */
extern bool tbdr_codec_encode_buffer(TbdrCodecEncoder *enc, const char *name,
									 const void *data, size_t len,
									 StringInfo out, TbdrError *err);
extern bool tbdr_codec_decode_buffer(TbdrCodecDecoder *dec, const char *name,
									 const void *data, size_t len,
									 StringInfo out, TbdrError *err);
/*
 * The most an object of plain bytes of plaintext can take stored: header,
 * trailer, a tag per chunk of at least 4 KiB, and zstd's worst expansion of
 * incompressible data, with room to spare; for reading objects whose
 * plaintext is bounded.
 */
#define TBDR_CODEC_MAX_STORED(plain) \
	((uint64) (plain) + (uint64) (plain) / 64 + 4096)

/* The same, refusing an object whose plaintext exceeds max_plain bytes. */
extern bool tbdr_codec_decode_buffer_max(TbdrCodecDecoder *dec,
										 const char *name,
										 const void *data, size_t len,
										 uint64 max_plain, const char *what,
										 StringInfo out, TbdrError *err);

/* ---- file adapters for the storage API ---- */

/*
 * Upload source: reads fd from its current offset to EOF and yields the
 * encoded object.  Pass tbdr_codec_source_read as the TbdrReadFn and the
 * source as its arg.  The encoder is the caller's (reset here, so that one
 * encoder serves many objects); its stats are final once read returned 0.
 * The fd is not closed.
 */
typedef struct TbdrCodecSource TbdrCodecSource;

extern TbdrCodecSource *tbdr_codec_source_create(int fd, TbdrCodecEncoder *enc,
												 const char *name,
												 TbdrError *err);
extern ssize_t tbdr_codec_source_read(void *arg, char *buf, size_t len,
									  TbdrError *err);
extern const TbdrCodecStats *tbdr_codec_source_stats(const TbdrCodecSource *src);
extern void tbdr_codec_source_free(TbdrCodecSource *src);

/*
 * Download sink: decodes what it is given and writes the plaintext to fd.
 * Pass tbdr_codec_sink_write as the TbdrWriteFn and the sink as its arg,
 * then call tbdr_codec_sink_finish: only if it succeeds is the file
 * complete and verified.  The decoder is the caller's (reset here).  The fd
 * is neither fsynced nor closed.
 */
typedef struct TbdrCodecSink TbdrCodecSink;

extern TbdrCodecSink *tbdr_codec_sink_create(int fd, TbdrCodecDecoder *dec,
											 const char *name, TbdrError *err);
extern bool tbdr_codec_sink_write(void *arg, const char *buf, size_t len,
								  TbdrError *err);
extern bool tbdr_codec_sink_finish(TbdrCodecSink *sink, TbdrError *err);
extern const TbdrCodecStats *tbdr_codec_sink_stats(const TbdrCodecSink *sink);
extern void tbdr_codec_sink_free(TbdrCodecSink *sink);

#endif							/* TBDR_CODEC_H */
