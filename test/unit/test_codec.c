/*-------------------------------------------------------------------------
 * test_codec.c
 *	  Unit tests of the codec pipeline (src/core/codec.c) and the key file
 *	  (src/core/keyfile.c).
 *
 * TBDR_CODEC_TEST_SMALL=1 skips the 16 MiB cases and byte-at-a-time feeding
 * of large inputs (for valgrind).  TBDR_CODEC_BENCH=1 also measures
 * throughput and prints it as diagnostics.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "core/codec.h"
#include "core/keyfile.h"
#include "lib/stringinfo.h"
#include "tap.h"

#define C ((size_t) 1 << TBDR_CODEC_CHUNK_LOG2)
#define HDR TBDR_CODEC_HEADER_SIZE
#define TRL TBDR_CODEC_TRAILER_SIZE
#define TAG TBDR_CODEC_TAG_SIZE

/* the name most tests give their objects (a WAL segment's key) */
#define OBJ "wal/0000000100000000/000000010000000000000001"

static bool small_mode = false;
static char tmpdir[256];

static const unsigned char key1[TBDR_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};
static const unsigned char key2[TBDR_KEY_LEN] = {
	0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};

/* deterministic PRNG (xorshift64*) */
static uint64 rng_state = 0x9e3779b97f4a7c15ULL;

static uint64
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void
fill_random(char *buf, size_t len)
{
	size_t		i = 0;

	for (; i + 8 <= len; i += 8)
	{
		uint64		v = rng();

		memcpy(buf + i, &v, 8);
	}
	for (; i < len; i++)
		buf[i] = (char) rng();
}

/* 8 KiB pages: a page header, some tuples of text, the rest zeros */
static void
fill_wal_like(char *buf, size_t len)
{
	static const char *words[] = {"insert", "into", "accounts", "values", "42",
	"alice", "bob", "update", "set", "balance", "where", "id", "=", "1000"};

	memset(buf, 0, len);
	for (size_t page = 0; page < len; page += 8192)
	{
		size_t		used = 200 + rng() % 3000;
		size_t		pos = page;

		for (size_t i = 0; i < 24 && pos + i < len; i++)
			buf[pos + i] = (char) rng();
		pos += 24;
		while (pos < page + used && pos < len)
		{
			const char *w = words[rng() % lengthof(words)];
			size_t		wl = strlen(w);

			if (pos + wl + 1 > len)
				break;
			memcpy(buf + pos, w, wl);
			buf[pos + wl] = (rng() % 4 == 0) ? (char) rng() : ' ';
			pos += wl + 1;
		}
	}
}

static void
sha256(const void *data, size_t len, unsigned char *out)
{
	unsigned int l;

	EVP_Digest(data, len, out, &l, EVP_sha256(), NULL);
}

static bool
collect(void *arg, const char *buf, size_t len, TbdrError *err)
{
	appendBinaryStringInfo((StringInfo) arg, buf, (int) len);
	return true;
}

/* feeding patterns: whole, byte at a time, random pieces */
typedef enum Feed
{
	FEED_WHOLE,
	FEED_BYTES,
	FEED_RANDOM,
	FEED_SMALL_RANDOM
} Feed;

static const char *feed_names[] = {"whole", "bytes", "random", "small-random"};

static size_t
next_piece(Feed feed, size_t left)
{
	size_t		n;

	switch (feed)
	{
		case FEED_WHOLE:
			return left;
		case FEED_BYTES:
			return 1;
		case FEED_RANDOM:
			n = 1 + rng() % (3 * C);
			break;
		default:
			n = 1 + rng() % 100;
			break;
	}
	return Min(n, left);
}

static bool
encode(TbdrCodecEncoder *enc, const char *data, size_t len, Feed feed,
	   StringInfo out, TbdrError *err)
{
	size_t		off = 0;

	if (!tbdr_codec_encoder_reset(enc, OBJ, err))
		return false;
	while (off < len)
	{
		size_t		n = next_piece(feed, len - off);

		if (!tbdr_codec_encoder_write(enc, data + off, n, collect, out, err))
			return false;
		off += n;
	}
	return tbdr_codec_encoder_finish(enc, collect, out, err);
}

static bool
decode(TbdrCodecDecoder *dec, const char *data, size_t len, Feed feed,
	   StringInfo out, TbdrError *err)
{
	size_t		off = 0;

	tbdr_codec_decoder_reset(dec, OBJ);
	while (off < len)
	{
		size_t		n = next_piece(feed, len - off);

		if (!tbdr_codec_decoder_write(dec, data + off, n, collect, out, err))
			return false;
		off += n;
	}
	return tbdr_codec_decoder_finish(dec, collect, out, err);
}

static TbdrCodecEncoder *
make_encoder(TbdrCompression comp, bool encrypt)
{
	TbdrCodecOptions o = {0};
	TbdrError	err;
	TbdrCodecEncoder *enc;

	o.compression = comp;
	o.key = encrypt ? key1 : NULL;
	enc = tbdr_codec_encoder_create(&o, &err);
	if (enc == NULL)
	{
		printf("# encoder_create: %s\n", err.message);
		exit(1);
	}
	return enc;
}

static TbdrCodecDecoder *
make_decoder(const unsigned char *key, bool require)
{
	TbdrCodecOptions o = {0};
	TbdrError	err;
	TbdrCodecDecoder *dec;

	o.key = key;
	o.require_encryption = require;
	dec = tbdr_codec_decoder_create(&o, &err);
	if (dec == NULL)
	{
		printf("# decoder_create: %s\n", err.message);
		exit(1);
	}
	return dec;
}

static const char *
combo_name(TbdrCompression comp, bool encrypt)
{
	if (comp == TBDR_COMPRESS_NONE)
		return encrypt ? "none+aes" : "none";
	return encrypt ? "zstd+aes" : "zstd";
}

/* Decode obj and expect a failure; returns the error. */
static bool
decode_fails(TbdrCodecDecoder *dec, const char *obj, size_t len, TbdrError *err)
{
	StringInfoData out;
	bool		ok;

	initStringInfo(&out);
	ok = decode(dec, obj, len, FEED_WHOLE, &out, err);
	pfree(out.data);
	return !ok;
}

static bool
decodes_to(TbdrCodecDecoder *dec, const char *obj, size_t len,
		   const char *plain, size_t plen, Feed feed)
{
	StringInfoData out;
	TbdrError	err;
	bool		ok;

	initStringInfo(&out);
	ok = decode(dec, obj, len, feed, &out, &err);
	if (!ok)
		printf("# decode failed: %s (%s)\n", err.message, err.detail);
	ok = ok && (size_t) out.len == plen && memcmp(out.data, plain, plen) == 0;
	pfree(out.data);
	return ok;
}

/* ---------------------------------------------------------------- */

static void
test_round_trips(void)
{
	size_t		sizes[] = {0, 1, 2, 100, TRL, C - TRL - 1, C - TRL, C - TRL + 1,
		C - 1, C, C + 1, 2 * C - TRL, 2 * C, 3 * C + 12345, 16 * 1024 * 1024};
	size_t		maxsize = 16 * 1024 * 1024;
	char	   *wal = palloc(maxsize);
	char	   *rnd = palloc(maxsize);

	fill_wal_like(wal, maxsize);
	fill_random(rnd, maxsize);

	for (int comp = 0; comp <= 1; comp++)
		for (int encrypt = 0; encrypt <= 1; encrypt++)
		{
			TbdrCodecEncoder *enc = make_encoder(comp, encrypt);
			TbdrCodecDecoder *dec = make_decoder(encrypt ? key1 : NULL, encrypt);

			for (int si = 0; si < lengthof(sizes); si++)
			{
				size_t		len = sizes[si];
				Feed		efeed,
							dfeed;
				StringInfoData obj,
							out;
				TbdrError	err;
				bool		ok;
				unsigned char sha[32];
				const char *src = (si % 2) ? rnd : wal;
				char		name[256];
				const TbdrCodecStats *es,
						   *ds;

				if (small_mode && len > 4 * C)
					continue;
				/* byte-at-a-time feeding for small inputs, random otherwise */
				if (len <= (small_mode ? 1024 : C + 1))
				{
					efeed = (si % 3 == 0) ? FEED_WHOLE : FEED_BYTES;
					dfeed = (si % 3 == 1) ? FEED_SMALL_RANDOM : FEED_BYTES;
				}
				else
				{
					efeed = (si % 2) ? FEED_RANDOM : FEED_SMALL_RANDOM;
					dfeed = (si % 2) ? FEED_SMALL_RANDOM : FEED_RANDOM;
					if (len > 8 * C)
						efeed = dfeed = FEED_RANDOM;
				}
				snprintf(name, sizeof(name), "%s: %zu bytes of %s data (encoder fed %s, decoder fed %s)",
						 combo_name(comp, encrypt), len, (si % 2) ? "random" : "WAL-like",
						 feed_names[efeed], feed_names[dfeed]);

				initStringInfo(&obj);
				initStringInfo(&out);
				ok = encode(enc, src, len, efeed, &obj, &err);
				if (!ok)
					printf("# encode: %s\n", err.message);
				es = tbdr_codec_encoder_stats(enc);
				sha256(src, len, sha);
				ok = ok && es->plain_bytes == len && es->stored_bytes == (uint64) obj.len &&
					memcmp(es->sha256, sha, 32) == 0;
				if (ok && !encrypt && comp == TBDR_COMPRESS_NONE)
					ok = obj.len == (int) (len + HDR + TRL) && es->compressed_bytes == len;
				if (ok && encrypt && comp == TBDR_COMPRESS_NONE)
				{
					size_t		payload = len + TRL;
					size_t		nchunks = (payload + C - 1) / C;

					ok = obj.len == (int) (HDR + payload + nchunks * TAG);
				}
				if (ok)
				{
					ok = decode(dec, obj.data, obj.len, dfeed, &out, &err);
					if (!ok)
						printf("# decode: %s (%s)\n", err.message, err.detail);
				}
				ds = tbdr_codec_decoder_stats(dec);
				ok = ok && (size_t) out.len == len && memcmp(out.data, src, len) == 0 &&
					ds->plain_bytes == len && ds->stored_bytes == (uint64) obj.len &&
					ds->compressed_bytes == es->compressed_bytes &&
					memcmp(ds->sha256, sha, 32) == 0;
				ok = ok && tbdr_codec_decoder_header(dec) != NULL &&
					tbdr_codec_decoder_header(dec)->encrypted == (bool) encrypt &&
					tbdr_codec_decoder_header(dec)->compression == comp;
				tap_ok(ok, name);
				if (len == maxsize)
				{
					char		msg[200];

					snprintf(msg, sizeof(msg), "%s: %zu -> %d bytes", name, len, obj.len);
					diag(msg);
				}
				pfree(obj.data);
				pfree(out.data);
			}
			tbdr_codec_encoder_free(enc);
			tbdr_codec_decoder_free(dec);
		}
	pfree(wal);
	pfree(rnd);
}

/* Two encodings of the same plaintext differ (fresh salt), both decode. */
static void
test_reuse_and_salt(void)
{
	TbdrCodecEncoder *enc = make_encoder(TBDR_COMPRESS_ZSTD, true);
	TbdrCodecDecoder *dec = make_decoder(key1, false);
	StringInfoData a,
				b,
				out;
	TbdrError	err;
	const char *text = "the same plaintext twice";
	TbdrCodecHeader hdr;

	initStringInfo(&a);
	initStringInfo(&b);
	initStringInfo(&out);
	ok(tbdr_codec_encode_buffer(enc, OBJ, text, strlen(text), &a, &err) &&
	   tbdr_codec_encode_buffer(enc, OBJ, text, strlen(text), &b, &err),
	   "encoder reused for two objects");
	ok(a.len == b.len && memcmp(a.data, b.data, a.len) != 0 &&
	   memcmp(a.data + 16, b.data + 16, 32) != 0,
	   "each object gets a new salt");
	ok(tbdr_codec_decode_buffer(dec, OBJ, a.data, a.len, &out, &err) &&
	   out.len == (int) strlen(text) && memcmp(out.data, text, out.len) == 0,
	   "first decodes");
	resetStringInfo(&out);
	ok(tbdr_codec_decode_buffer(dec, OBJ, b.data, b.len, &out, &err) &&
	   out.len == (int) strlen(text) && memcmp(out.data, text, out.len) == 0,
	   "second decodes with the same decoder");

	/* encoder must be reset between objects */
	ok(!tbdr_codec_encoder_write(enc, "x", 1, collect, &out, &err) &&
	   err.code == TBDR_ERR_INTERNAL, "write after finish without reset is refused");

	ok(tbdr_codec_parse_header(a.data, a.len, &hdr, &err) && hdr.encrypted &&
	   hdr.version == TBDR_CODEC_VERSION && hdr.compression == TBDR_COMPRESS_ZSTD &&
	   hdr.chunk_log2 == TBDR_CODEC_CHUNK_LOG2, "parse_header describes the object");
	{
		char		fp[TBDR_KEY_FINGERPRINT_HEX_LEN];

		tbdr_key_fingerprint_hex(key1, fp);
		is_str(hdr.key_fingerprint_hex, fp, "header carries the key fingerprint");
	}

	/* salt swapped between two objects: key derivation differs */
	{
		char	   *c = palloc(a.len);

		memcpy(c, a.data, a.len);
		memcpy(c + 16, b.data + 16, 32);
		ok(decode_fails(dec, c, a.len, &err) && err.code == TBDR_ERR_CRYPTO,
		   "header (salt) of another object is rejected");
		pfree(c);
	}

	pfree(a.data);
	pfree(b.data);
	pfree(out.data);
	tbdr_codec_encoder_free(enc);
	tbdr_codec_decoder_free(dec);
}

static void
test_options(void)
{
	TbdrCodecOptions o = {0};
	TbdrError	err;
	TbdrCodecEncoder *enc;
	TbdrCompression c;

	o.compression = TBDR_COMPRESS_ZSTD;
	o.level = 100;
	ok(tbdr_codec_encoder_create(&o, &err) == NULL && err.code == TBDR_ERR_CONFIG,
	   "zstd level 100 is refused");
	for (int lv = -5; lv <= 19; lv += 6)
	{
		StringInfoData obj,
					out;
		TbdrCodecDecoder *dec = make_decoder(NULL, false);
		char		name[64];
		const char *text = "level test level test level test level test";

		o.level = lv;
		enc = tbdr_codec_encoder_create(&o, &err);
		initStringInfo(&obj);
		initStringInfo(&out);
		snprintf(name, sizeof(name), "zstd level %d round trip", lv);
		ok(enc && tbdr_codec_encode_buffer(enc, OBJ, text, strlen(text), &obj, &err) &&
		   tbdr_codec_decode_buffer(dec, OBJ, obj.data, obj.len, &out, &err) &&
		   strcmp(out.data, text) == 0, name);
		tbdr_codec_encoder_free(enc);
		tbdr_codec_decoder_free(dec);
		pfree(obj.data);
		pfree(out.data);
	}
	/* zstd worker threads: same format */
	{
		size_t		len = 3 * 1024 * 1024;
		char	   *data = palloc(len);
		StringInfoData obj;
		TbdrCodecDecoder *dec = make_decoder(key1, false);

		fill_wal_like(data, len);
		o.level = 0;
		o.workers = 2;
		o.key = key1;
		enc = tbdr_codec_encoder_create(&o, &err);
		initStringInfo(&obj);
		ok(enc && tbdr_codec_encode_buffer(enc, OBJ, data, len, &obj, &err) &&
		   decodes_to(dec, obj.data, obj.len, data, len, FEED_RANDOM),
		   "zstd with 2 worker threads, encrypted, round trip");
		tbdr_codec_encoder_free(enc);
		tbdr_codec_decoder_free(dec);
		pfree(obj.data);
		pfree(data);
		o.workers = 0;
		o.key = NULL;
	}
	ok(tbdr_compression_parse("zstd", &c) && c == TBDR_COMPRESS_ZSTD &&
	   tbdr_compression_parse("none", &c) && c == TBDR_COMPRESS_NONE &&
	   !tbdr_compression_parse("gzip", &c), "compression names parse");
	is_str(tbdr_compression_name(TBDR_COMPRESS_ZSTD), "zstd", "compression name");
}

/*
 * Every byte of a small object flipped (two ways) is detected.  For plain
 * zstd objects a flip may also leave the plaintext intact (e.g. a larger
 * window size in the frame header); then the output must be right.
 */
static void
test_flips(TbdrCompression comp, bool encrypt, size_t plen)
{
	TbdrCodecEncoder *enc = make_encoder(comp, encrypt);
	TbdrCodecDecoder *dec = make_decoder(encrypt ? key1 : NULL, false);
	char	   *plain = palloc(plen + 1);
	StringInfoData obj;
	TbdrError	err;
	int			detected = 0,
				harmless = 0,
				bad = 0,
				total = 0;
	char		name[200];

	fill_wal_like(plain, plen);
	initStringInfo(&obj);
	if (!tbdr_codec_encode_buffer(enc, OBJ, plain, plen, &obj, &err))
		printf("# encode: %s\n", err.message);

	for (int pos = 0; pos < obj.len; pos++)
		for (int m = 0; m < 2; m++)
		{
			char	   *c = palloc(obj.len);
			StringInfoData out;

			memcpy(c, obj.data, obj.len);
			c[pos] ^= m ? 0x80 : 0x01;
			initStringInfo(&out);
			total++;
			if (!decode(dec, c, obj.len, FEED_WHOLE, &out, &err))
			{
				if (err.code == TBDR_ERR_CORRUPT || err.code == TBDR_ERR_CRYPTO)
					detected++;
				else
				{
					printf("# flip at %d: unexpected error code %d: %s\n", pos, err.code, err.message);
					bad++;
				}
			}
			else if (!encrypt && comp == TBDR_COMPRESS_ZSTD &&
					 (size_t) out.len == plen && memcmp(out.data, plain, plen) == 0)
				harmless++;
			else
			{
				printf("# flip at %d (^%02x) not detected\n", pos, m ? 0x80 : 0x01);
				bad++;
			}
			pfree(out.data);
			pfree(c);
		}
	snprintf(name, sizeof(name), "%s, %zu bytes: each of %d byte flips detected (%d) or harmless (%d)",
			 combo_name(comp, encrypt), plen, total, detected, harmless);
	ok(bad == 0 && detected + harmless == total, name);
	pfree(plain);
	pfree(obj.data);
	tbdr_codec_encoder_free(enc);
	tbdr_codec_decoder_free(dec);
}

/* Every truncation of a small object fails. */
static void
test_truncate_all(TbdrCompression comp, bool encrypt, size_t plen)
{
	TbdrCodecEncoder *enc = make_encoder(comp, encrypt);
	TbdrCodecDecoder *dec = make_decoder(encrypt ? key1 : NULL, false);
	char	   *plain = palloc(plen + 1);
	StringInfoData obj;
	TbdrError	err;
	int			bad = 0;
	char		name[200];

	fill_random(plain, plen);
	initStringInfo(&obj);
	tbdr_codec_encode_buffer(enc, OBJ, plain, plen, &obj, &err);
	for (int cut = 0; cut < obj.len; cut++)
	{
		if (!decode_fails(dec, obj.data, cut, &err) ||
			(err.code != TBDR_ERR_CORRUPT && err.code != TBDR_ERR_CRYPTO))
		{
			printf("# truncation to %d bytes: %s\n", cut, err.message);
			bad++;
		}
	}
	snprintf(name, sizeof(name), "%s, %zu bytes: each of %d truncations detected",
			 combo_name(comp, encrypt), plen, obj.len);
	ok(bad == 0, name);

	/* trailing garbage */
	for (int extra = 1; extra <= 64; extra *= 4)
	{
		char	   *c = palloc(obj.len + extra);

		memcpy(c, obj.data, obj.len);
		memset(c + obj.len, 'x', extra);
		snprintf(name, sizeof(name), "%s: %d bytes of trailing garbage detected",
				 combo_name(comp, encrypt), extra);
		ok(decode_fails(dec, c, obj.len + extra, &err), name);
		pfree(c);
	}
	/* the object twice */
	{
		char	   *c = palloc(obj.len * 2);

		memcpy(c, obj.data, obj.len);
		memcpy(c + obj.len, obj.data, obj.len);
		snprintf(name, sizeof(name), "%s: object concatenated with itself detected",
				 combo_name(comp, encrypt));
		ok(decode_fails(dec, c, obj.len * 2, &err), name);
		pfree(c);
	}
	pfree(plain);
	pfree(obj.data);
	tbdr_codec_encoder_free(enc);
	tbdr_codec_decoder_free(dec);
}

/* Multi-chunk encrypted objects: truncation at chunk boundaries, reorder. */
static void
test_chunks(TbdrCompression comp)
{
	TbdrCodecEncoder *enc = make_encoder(comp, true);
	TbdrCodecDecoder *dec = make_decoder(key1, false);
	size_t		plen = 3 * C + 1000;
	char	   *plain = palloc(plen);
	StringInfoData obj;
	TbdrError	err;
	size_t		full = C + TAG;
	int			nchunks;
	char		name[200];
	const char *cn = combo_name(comp, true);

	fill_random(plain, plen);	/* incompressible: several chunks for zstd */
	initStringInfo(&obj);
	tbdr_codec_encode_buffer(enc, OBJ, plain, plen, &obj, &err);
	nchunks = (int) ((obj.len - HDR + full - 1) / full);
	snprintf(name, sizeof(name), "%s: %zu bytes make %d chunks", cn, plen, nchunks);
	ok(nchunks == 4, name);

	for (int k = 0; k < nchunks; k++)
	{
		size_t		cut = HDR + k * full;
		int			d;

		snprintf(name, sizeof(name), "%s: truncation after chunk %d (a chunk boundary) is reported as truncation", cn, k);
		ok(decode_fails(dec, obj.data, cut, &err) && err.code == TBDR_ERR_CORRUPT &&
		   strstr(err.message, "truncated") != NULL, name);
		if (k > 0 && strstr(err.message, "truncated") == NULL)
			printf("#   got: %s\n", err.message);
		for (d = -TAG - 1; d <= TAG + 1; d += TAG + 1)
		{
			if (d == 0)
				continue;
			snprintf(name, sizeof(name), "%s: truncation at chunk %d boundary %+d detected", cn, k, d);
			ok(decode_fails(dec, obj.data, cut + d, &err), name);
		}
	}

	/* flipped byte in the middle of chunk 1, in the tag of chunk 0, in the header */
	{
		size_t		positions[] = {5, 7, 8, 20, HDR + full + 1000, HDR + full - 1,
		HDR + full - TAG, obj.len - 1, obj.len - TAG - 1};

		for (int i = 0; i < lengthof(positions); i++)
		{
			char	   *c = palloc(obj.len);

			memcpy(c, obj.data, obj.len);
			c[positions[i]] ^= 0x10;
			snprintf(name, sizeof(name), "%s: flipped byte at %zu detected", cn, positions[i]);
			ok(decode_fails(dec, c, obj.len, &err) &&
			   (err.code == TBDR_ERR_CRYPTO || err.code == TBDR_ERR_CORRUPT), name);
			if (positions[i] > HDR)
				is_str(err.message, "authentication failed for \"" OBJ "\": the object was modified, is corrupt, or was stored under another name",
					   "  ... with the authentication failure message");
			pfree(c);
		}
	}

	/* swap chunks 0 and 1 */
	{
		char	   *c = palloc(obj.len);

		memcpy(c, obj.data, obj.len);
		memcpy(c + HDR, obj.data + HDR + full, full);
		memcpy(c + HDR + full, obj.data + HDR, full);
		snprintf(name, sizeof(name), "%s: swapped chunks detected", cn);
		ok(decode_fails(dec, c, obj.len, &err) && err.code == TBDR_ERR_CRYPTO, name);
		/* drop chunk 1 */
		memcpy(c, obj.data, HDR + full);
		memcpy(c + HDR + full, obj.data + HDR + 2 * full, obj.len - HDR - 2 * full);
		snprintf(name, sizeof(name), "%s: dropped middle chunk detected", cn);
		ok(decode_fails(dec, c, obj.len - full, &err), name);
		pfree(c);
	}
	/* duplicate chunk 0; append a full extra chunk of garbage */
	{
		char	   *c = palloc(obj.len + full);

		memcpy(c, obj.data, HDR + full);
		memcpy(c + HDR + full, obj.data + HDR, obj.len - HDR);
		snprintf(name, sizeof(name), "%s: duplicated chunk detected", cn);
		ok(decode_fails(dec, c, obj.len + full, &err), name);
		memcpy(c, obj.data, obj.len);
		fill_random(c + obj.len, full);
		snprintf(name, sizeof(name), "%s: a chunk of trailing garbage detected", cn);
		ok(decode_fails(dec, c, obj.len + full, &err), name);
		pfree(c);
	}
	pfree(plain);
	pfree(obj.data);
	tbdr_codec_encoder_free(enc);
	tbdr_codec_decoder_free(dec);
}

/* An object whose payload is an exact number of chunks: trailing garbage. */
static void
test_exact_chunks(void)
{
	TbdrCodecEncoder *enc = make_encoder(TBDR_COMPRESS_NONE, true);
	TbdrCodecDecoder *dec = make_decoder(key1, false);
	size_t		plen = 2 * C - TRL;
	char	   *plain = palloc(plen);
	StringInfoData obj;
	TbdrError	err;
	char	   *c;

	fill_random(plain, plen);
	initStringInfo(&obj);
	tbdr_codec_encode_buffer(enc, OBJ, plain, plen, &obj, &err);
	ok(obj.len == (int) (HDR + 2 * (C + TAG)), "payload of exactly 2 chunks makes 2 full chunks");
	ok(decodes_to(dec, obj.data, obj.len, plain, plen, FEED_RANDOM), "  ... and decodes");
	c = palloc(obj.len + 1);
	memcpy(c, obj.data, obj.len);
	c[obj.len] = 0;
	ok(decode_fails(dec, c, obj.len + 1, &err) && err.code == TBDR_ERR_CORRUPT &&
	   strstr(err.message, "after the end") != NULL,
	   "one byte after a full last chunk is reported as trailing data");
	ok(decode_fails(dec, obj.data, HDR + C + TAG, &err) &&
	   strstr(err.message, "truncated") != NULL,
	   "missing last full chunk is reported as truncation");
	pfree(c);
	pfree(plain);
	pfree(obj.data);
	tbdr_codec_encoder_free(enc);
	tbdr_codec_decoder_free(dec);
}

static void
test_keys_and_foreign(void)
{
	TbdrCodecEncoder *enc = make_encoder(TBDR_COMPRESS_ZSTD, true);
	TbdrCodecEncoder *penc = make_encoder(TBDR_COMPRESS_ZSTD, false);
	TbdrCodecDecoder *dec2 = make_decoder(key2, false);
	TbdrCodecDecoder *dec0 = make_decoder(NULL, false);
	TbdrCodecDecoder *decr = make_decoder(key1, true);
	StringInfoData obj,
				pobj,
				out;
	TbdrError	err;
	char		fp1[TBDR_KEY_FINGERPRINT_HEX_LEN],
				fp2[TBDR_KEY_FINGERPRINT_HEX_LEN],
				expect[256];
	const char *text = "secret WAL";

	tbdr_key_fingerprint_hex(key1, fp1);
	tbdr_key_fingerprint_hex(key2, fp2);
	initStringInfo(&obj);
	initStringInfo(&pobj);
	initStringInfo(&out);
	tbdr_codec_encode_buffer(enc, OBJ, text, strlen(text), &obj, &err);
	tbdr_codec_encode_buffer(penc, OBJ, text, strlen(text), &pobj, &err);

	ok(decode_fails(dec2, obj.data, obj.len, &err) && err.code == TBDR_ERR_CRYPTO,
	   "wrong key is refused");
	snprintf(expect, sizeof(expect),
			 "object was encrypted with key %s, tbdr.encryption_key_file has key %s", fp1, fp2);
	is_str(err.message, expect, "  ... naming both fingerprints");
	ok(err.hint[0] != '\0', "  ... with a hint");
	ok(dec2 && tbdr_codec_decoder_stats(dec2)->plain_bytes == 0, "  ... before any plaintext");

	ok(decode_fails(dec0, obj.data, obj.len, &err) && err.code == TBDR_ERR_CRYPTO &&
	   strstr(err.message, "no encryption key") != NULL, "encrypted object without a key is refused");
	ok(decode_fails(decr, pobj.data, pobj.len, &err) && err.code == TBDR_ERR_CRYPTO,
	   "plain object refused when encryption is required");
	ok(decodes_to(dec2, pobj.data, pobj.len, text, strlen(text), FEED_WHOLE),
	   "plain object decodes with a key configured (not required)");

	/* foreign objects */
	{
		const char *foreign = "PK\003\004 this is a zip file";
		char		wal[8192];

		ok(decode_fails(dec0, foreign, strlen(foreign), &err) && err.code == TBDR_ERR_CORRUPT,
		   "foreign object is refused");
		is_str(err.message, "not a tbdr object", "  ... as not a tbdr object");
		fill_wal_like(wal, sizeof(wal));
		ok(decode_fails(dec0, wal, sizeof(wal), &err) &&
		   strcmp(err.message, "not a tbdr object") == 0, "raw WAL page is not a tbdr object");
		ok(decode_fails(dec0, "", 0, &err) && err.code == TBDR_ERR_CORRUPT &&
		   strstr(err.message, "not a tbdr object") != NULL, "empty object is refused");
		ok(decode_fails(dec0, "TB", 2, &err) && strstr(err.message, "truncated") != NULL,
		   "2-byte object is truncated");
		ok(decode_fails(dec0, "TBDX", 4, &err) && strcmp(err.message, "not a tbdr object") == 0,
		   "wrong 4th magic byte");
	}
	/* unknown version */
	{
		char	   *c = palloc(pobj.len);

		memcpy(c, pobj.data, pobj.len);
		c[4] = TBDR_CODEC_VERSION + 1;
		ok(decode_fails(dec0, c, pobj.len, &err) && err.code == TBDR_ERR_CORRUPT &&
		   strstr(err.message, "version 3 is not supported") != NULL, "unknown version is refused");
		c[4] = 0;
		ok(decode_fails(dec0, c, pobj.len, &err) && err.code == TBDR_ERR_CORRUPT &&
		   strstr(err.message, "version 0 is not supported") != NULL, "version 0 is refused");
		pfree(c);
	}

	/* zstd frame cut short, the trailer intact: the frame check catches it */
	{
		size_t		flen = pobj.len - HDR - TRL;
		StringInfoData c;

		initStringInfo(&c);
		appendBinaryStringInfo(&c, pobj.data, HDR);
		appendBinaryStringInfo(&c, pobj.data + HDR, flen - 4);	/* no checksum */
		appendBinaryStringInfo(&c, pobj.data + HDR + flen, TRL);
		ok(decode_fails(dec0, c.data, c.len, &err) && err.code == TBDR_ERR_CORRUPT,
		   "zstd frame cut short (trailer intact) is refused");
		resetStringInfo(&c);
		appendBinaryStringInfo(&c, pobj.data, pobj.len - TRL);
		appendStringInfoString(&c, "junk");
		appendBinaryStringInfo(&c, pobj.data + pobj.len - TRL, TRL);
		ok(decode_fails(dec0, c.data, c.len, &err) &&
		   strstr(err.message, "after the end of the compressed data") != NULL,
		   "data between zstd frame and trailer is refused");
		pfree(c.data);
	}

	pfree(obj.data);
	pfree(pobj.data);
	pfree(out.data);
	tbdr_codec_encoder_free(enc);
	tbdr_codec_encoder_free(penc);
	tbdr_codec_decoder_free(dec2);
	tbdr_codec_decoder_free(dec0);
	tbdr_codec_decoder_free(decr);
}

/* ---------------------------------------------------------------- */

/* Returns the path in a static buffer, valid until the next call. */
static char *
write_file(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[512];
	int			fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t) len)
	{
		perror(path);
		exit(1);
	}
	close(fd);
	chmod(path, mode);
	return path;
}

static bool
err_has_no_secret(const TbdrError *err, const char *secret)
{
	return strstr(err->message, secret) == NULL && strstr(err->detail, secret) == NULL &&
		strstr(err->hint, secret) == NULL;
}

static void
test_keyfile(void)
{
	const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	unsigned char key[TBDR_KEY_LEN];
	TbdrError	err;
	char	   *path;
	char		buf[200];
	unsigned char md[32];
	char		fp[TBDR_KEY_FINGERPRINT_HEX_LEN];
	char		expect[17];

	snprintf(buf, sizeof(buf), "%s\n", hex);
	path = write_file("k1", buf, strlen(buf), 0600);
	ok(tbdr_key_load(path, key, &err) && memcmp(key, key1, 32) == 0, "hex key with newline loads");
	path = write_file("k2", hex, strlen(hex), 0400);
	ok(tbdr_key_load(path, key, &err) && memcmp(key, key1, 32) == 0, "hex key without newline, mode 0400");
	snprintf(buf, sizeof(buf), "%s\r\n", hex);
	for (char *p = buf; *p; p++)
		*p = toupper((unsigned char) *p);
	path = write_file("k3", buf, strlen(buf), 0600);
	ok(tbdr_key_load(path, key, &err) && memcmp(key, key1, 32) == 0, "uppercase hex key with CRLF loads");

	path = write_file("k4", hex, strlen(hex), 0644);
	ok(!tbdr_key_load(path, key, &err) && err.code == TBDR_ERR_CONFIG &&
	   strstr(err.message, "group or world access") != NULL &&
	   strstr(err.hint, "chmod 600") != NULL, "world-readable key file refused, hint chmod 600");
	path = write_file("k5", hex, strlen(hex), 0640);
	ok(!tbdr_key_load(path, key, &err) && err.code == TBDR_ERR_CONFIG,
	   "group-readable key file (owned by us) refused");
	path = write_file("k6", hex, 63, 0600);
	ok(!tbdr_key_load(path, key, &err) && strstr(err.message, "wrong length") != NULL &&
	   err_has_no_secret(&err, "0001020304"), "63 hex chars refused, key not in message");
	snprintf(buf, sizeof(buf), "%s0\n", hex);
	path = write_file("k7", buf, strlen(buf), 0600);
	ok(!tbdr_key_load(path, key, &err) && strstr(err.message, "wrong length") != NULL,
	   "65 hex chars refused");
	path = write_file("k8", key1, 32, 0600);
	ok(!tbdr_key_load(path, key, &err) && strstr(err.message, "wrong length") != NULL &&
	   strstr(err.hint, "openssl rand -hex 32") != NULL, "32 raw bytes refused, hint says how to generate");
	snprintf(buf, sizeof(buf), "%s", hex);
	buf[10] = 'g';
	path = write_file("k9", buf, strlen(buf), 0600);
	ok(!tbdr_key_load(path, key, &err) && strstr(err.message, "hexadecimal") != NULL &&
	   err_has_no_secret(&err, "0001020304"), "non-hex character refused, key not in message");
	{
		bool		zero = true;

		for (int i = 0; i < 32; i++)
			zero = zero && key[i] == 0;
		ok(zero, "key buffer zeroed after a failure");
	}
	memset(buf, '0', 64);
	buf[64] = '\n';
	path = write_file("k10", buf, 65, 0600);
	ok(!tbdr_key_load(path, key, &err) && strstr(err.message, "all-zero") != NULL,
	   "all-zero key refused");
	path = psprintf("%s/missing", tmpdir);
	ok(!tbdr_key_load(path, key, &err) && err.code == TBDR_ERR_NOT_FOUND,
	   "missing key file is NOT_FOUND");
	pfree(path);
	ok(!tbdr_key_load(tmpdir, key, &err) && err.code == TBDR_ERR_CONFIG,
	   "directory as key file refused");
	ok(!tbdr_key_load("", key, &err) && err.code == TBDR_ERR_CONFIG, "empty path refused");

	sha256(key1, 32, md);
	for (int i = 0; i < 8; i++)
		snprintf(expect + 2 * i, 3, "%02x", md[i]);
	tbdr_key_fingerprint_hex(key1, fp);
	is_str(fp, expect, "fingerprint is SHA-256(key)[0..8] in hex");
}

/* ---------------------------------------------------------------- */

static void
test_file_adapters(TbdrCompression comp, bool encrypt)
{
	size_t		plen = 2 * C + 777;
	char	   *plain = palloc(plen);
	char	   *inpath,
			   *outpath;
	int			fd,
				ofd;
	TbdrCodecEncoder *enc = make_encoder(comp, encrypt);
	TbdrCodecDecoder *dec = make_decoder(encrypt ? key1 : NULL, false);
	TbdrCodecSource *src;
	TbdrCodecSink *sink;
	StringInfoData obj;
	TbdrError	err;
	char	   *rbuf = palloc(3 * C);
	ssize_t		n;
	bool		ok_read = true;
	unsigned char sha[32];
	struct stat st;
	char		name[200];
	const char *cn = combo_name(comp, encrypt);

	fill_wal_like(plain, plen);
	sha256(plain, plen, sha);
	inpath = write_file("in", plain, plen, 0600);
	outpath = psprintf("%s/out", tmpdir);

	/* upload side: pull in random sizes, from 1 byte to more than a chunk */
	fd = open(inpath, O_RDONLY);
	src = tbdr_codec_source_create(fd, enc, OBJ, &err);
	initStringInfo(&obj);
	for (;;)
	{
		size_t		want = (rng() % 4 == 0) ? 1 + rng() % 10 : 1 + rng() % (3 * C);

		n = tbdr_codec_source_read(src, rbuf, want, &err);
		if (n < 0)
		{
			printf("# source read: %s\n", err.message);
			ok_read = false;
			break;
		}
		if (n == 0)
			break;
		if ((size_t) n != want)
		{
			/* short reads happen only at the end */
			appendBinaryStringInfo(&obj, rbuf, n);
			n = tbdr_codec_source_read(src, rbuf, 1, &err);
			if (n != 0)
			{
				printf("# short read before the end\n");
				ok_read = false;
			}
			break;
		}
		appendBinaryStringInfo(&obj, rbuf, n);
	}
	close(fd);
	snprintf(name, sizeof(name), "%s: file source yields the object, stats right", cn);
	ok(ok_read && tbdr_codec_source_stats(src)->plain_bytes == plen &&
	   tbdr_codec_source_stats(src)->stored_bytes == (uint64) obj.len &&
	   memcmp(tbdr_codec_source_stats(src)->sha256, sha, 32) == 0 &&
	   decodes_to(dec, obj.data, obj.len, plain, plen, FEED_RANDOM), name);
	tbdr_codec_source_free(src);

	/* download side */
	ofd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	sink = tbdr_codec_sink_create(ofd, dec, OBJ, &err);
	{
		size_t		off = 0;
		bool		ok_w = true;

		while (off < (size_t) obj.len && ok_w)
		{
			size_t		k = next_piece(FEED_RANDOM, obj.len - off);

			ok_w = tbdr_codec_sink_write(sink, obj.data + off, k, &err);
			off += k;
		}
		ok_w = ok_w && tbdr_codec_sink_finish(sink, &err);
		if (!ok_w)
			printf("# sink: %s\n", err.message);
		close(ofd);
		stat(outpath, &st);
		snprintf(name, sizeof(name), "%s: file sink writes the plaintext, stats right", cn);
		ok(ok_w && st.st_size == (off_t) plen &&
		   tbdr_codec_sink_stats(sink)->plain_bytes == plen &&
		   tbdr_codec_sink_stats(sink)->stored_bytes == (uint64) obj.len &&
		   memcmp(tbdr_codec_sink_stats(sink)->sha256, sha, 32) == 0, name);
		{
			char	   *back = palloc(plen);
			int			rfd = open(outpath, O_RDONLY);
			bool		same = read(rfd, back, plen) == (ssize_t) plen && memcmp(back, plain, plen) == 0;

			close(rfd);
			snprintf(name, sizeof(name), "%s: file content is the plaintext", cn);
			ok(same, name);
			pfree(back);
		}
	}
	tbdr_codec_sink_free(sink);

	/* a corrupted download fails at write or at finish */
	ofd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	sink = tbdr_codec_sink_create(ofd, dec, OBJ, &err);
	obj.data[obj.len / 2] ^= 1;
	snprintf(name, sizeof(name), "%s: corrupted download fails", cn);
	ok(!(tbdr_codec_sink_write(sink, obj.data, obj.len, &err) &&
		 tbdr_codec_sink_finish(sink, &err)), name);
	close(ofd);
	tbdr_codec_sink_free(sink);

	/* the source of an empty file */
	fd = open(write_file("empty", "", 0, 0600), O_RDONLY);
	src = tbdr_codec_source_create(fd, enc, OBJ, &err);
	resetStringInfo(&obj);
	while ((n = tbdr_codec_source_read(src, rbuf, 7, &err)) > 0)
		appendBinaryStringInfo(&obj, rbuf, n);
	close(fd);
	snprintf(name, sizeof(name), "%s: empty file round trip through the source", cn);
	ok(n == 0 && decodes_to(dec, obj.data, obj.len, "", 0, FEED_BYTES), name);
	tbdr_codec_source_free(src);

	pfree(obj.data);
	pfree(plain);
	pfree(rbuf);
	pfree(outpath);
	tbdr_codec_encoder_free(enc);
	tbdr_codec_decoder_free(dec);
}

/* ---------------------------------------------------------------- */

static bool
discard(void *arg, const char *buf, size_t len, TbdrError *err)
{
	*(size_t *) arg += len;
	return true;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
bench(void)
{
	size_t		len = 16 * 1024 * 1024;
	char	   *wal = palloc(len);
	char	   *rnd = palloc(len);
	int			reps = 8;

	fill_wal_like(wal, len);
	fill_random(rnd, len);
	for (int d = 0; d < 2; d++)
		for (int comp = 0; comp <= 1; comp++)
			for (int encrypt = 0; encrypt <= 1; encrypt++)
			{
				const char *data = d ? rnd : wal;
				TbdrCodecEncoder *enc = make_encoder(comp, encrypt);
				TbdrCodecDecoder *dec = make_decoder(encrypt ? key1 : NULL, false);
				StringInfoData obj;
				TbdrError	err;
				double		t0,
							te,
							td;
				char		msg[256];
				size_t		sink = 0;

				initStringInfo(&obj);
				tbdr_codec_encode_buffer(enc, OBJ, data, len, &obj, &err);	/* warm up */
				t0 = now();
				for (int r = 0; r < reps; r++)
				{
					/* pieces of 1 MiB, as from a file */
					tbdr_codec_encoder_reset(enc, OBJ, &err);
					for (size_t off = 0; off < len; off += 1024 * 1024)
						tbdr_codec_encoder_write(enc, data + off, 1024 * 1024, discard, &sink, &err);
					tbdr_codec_encoder_finish(enc, discard, &sink, &err);
				}
				te = (now() - t0) / reps;
				t0 = now();
				for (int r = 0; r < reps; r++)
				{
					tbdr_codec_decoder_reset(dec, OBJ);
					for (size_t off = 0; off < (size_t) obj.len; off += 1024 * 1024)
						tbdr_codec_decoder_write(dec, obj.data + off,
												 Min(1024 * 1024, obj.len - off),
												 discard, &sink, &err);
					if (!tbdr_codec_decoder_finish(dec, discard, &sink, &err))
						printf("# bench decode failed: %s\n", err.message);
				}
				td = (now() - t0) / reps;
				snprintf(msg, sizeof(msg),
						 "bench %-8s %-8s 16 MiB -> %9d bytes (%5.1f%%): encode %7.0f MB/s, decode %7.0f MB/s",
						 combo_name(comp, encrypt), d ? "random" : "WAL-like", obj.len,
						 100.0 * obj.len / len, len / te / 1e6, len / td / 1e6);
				diag(msg);
				pfree(obj.data);
				tbdr_codec_encoder_free(enc);
				tbdr_codec_decoder_free(dec);
			}
	pfree(wal);
	pfree(rnd);
}

/*
 * A version 1 encrypted object, as tbdr wrote them before names were bound
 * (AAD = header only): one chunk, no compression, key1.
 */
static void
make_v1_object(const char *plain, size_t plen, StringInfo out)
{
	unsigned char h[HDR];
	unsigned char okey[TBDR_KEY_LEN];
	unsigned char nonce[12] = {0};
	unsigned char *payload = palloc(plen + TRL);
	unsigned char *ct = palloc(plen + TRL + TAG);
	unsigned char sum[32];
	size_t		olen = sizeof(okey);
	int			outl,
				finl;
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	memset(h, 0, HDR);
	memcpy(h, "TBDR", 4);
	h[4] = 1;
	h[6] = 1;
	h[7] = TBDR_CODEC_CHUNK_LOG2;
	tbdr_key_fingerprint(key1, h + 8);
	fill_random((char *) h + 16, 32);
	EVP_PKEY_derive_init(kctx);
	EVP_PKEY_CTX_set_hkdf_md(kctx, EVP_sha256());
	EVP_PKEY_CTX_set1_hkdf_key(kctx, key1, TBDR_KEY_LEN);
	EVP_PKEY_CTX_set1_hkdf_salt(kctx, h + 16, 32);
	EVP_PKEY_CTX_add1_hkdf_info(kctx, (const unsigned char *) "tbdr v1 object key", 18);
	EVP_PKEY_derive(kctx, okey, &olen);
	EVP_PKEY_CTX_free(kctx);

	memcpy(payload, plain, plen);
	memcpy(payload + plen, "TEND", 4);
	for (int i = 0; i < 8; i++)
		payload[plen + 4 + i] = (unsigned char) ((uint64) plen >> (56 - 8 * i));
	sha256(plain, plen, sum);
	memcpy(payload + plen + 12, sum, 32);

	nonce[11] = 1;				/* the last (only) chunk */
	EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, okey, nonce);
	EVP_EncryptUpdate(c, NULL, &outl, h, HDR);
	EVP_EncryptUpdate(c, ct, &outl, payload, (int) (plen + TRL));
	EVP_EncryptFinal_ex(c, ct + outl, &finl);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, ct + plen + TRL);
	EVP_CIPHER_CTX_free(c);

	appendBinaryStringInfo(out, (const char *) h, HDR);
	appendBinaryStringInfo(out, (const char *) ct, (int) (plen + TRL + TAG));
	pfree(payload);
	pfree(ct);
}

/* Decode obj as the object called name; true if it decodes to text. */
static bool
decodes_as(TbdrCodecDecoder *dec, const char *name, const StringInfo obj,
		   const char *text, TbdrError *err)
{
	StringInfoData out;
	bool		ok;

	initStringInfo(&out);
	ok = tbdr_codec_decode_buffer(dec, name, obj->data, obj->len, &out, err) &&
		out.len == (int) strlen(text) && memcmp(out.data, text, out.len) == 0;
	pfree(out.data);
	return ok;
}

/* The AEAD binds an encrypted object to its name (format version 2). */
static void
test_name_binding(void)
{
	const char *seg1 = "wal/0000000100000000/000000010000000000000001";
	const char *seg2 = "wal/0000000100000000/000000010000000000000002";
	const char *seg1_tli2 = "wal/0000000200000000/000000020000000000000001";
	const char *text = "WAL record of segment 1";
	TbdrCodecEncoder *enc = make_encoder(TBDR_COMPRESS_ZSTD, true);
	TbdrCodecEncoder *penc = make_encoder(TBDR_COMPRESS_NONE, false);
	TbdrCodecDecoder *dec = make_decoder(key1, false);
	TbdrCodecDecoder *decr = make_decoder(key1, true);
	StringInfoData obj,
				pobj,
				v1,
				out;
	TbdrError	err;
	TbdrCodecHeader hdr;

	initStringInfo(&obj);
	initStringInfo(&pobj);
	initStringInfo(&v1);
	initStringInfo(&out);
	ok(tbdr_codec_encode_buffer(enc, seg1, text, strlen(text), &obj, &err),
	   "binding: encoded as segment 1");
	ok(tbdr_codec_parse_header(obj.data, obj.len, &hdr, &err) && hdr.version == 2,
	   "binding: encoders write format version 2");
	ok(decodes_as(decr, seg1, &obj, text, &err), "binding: decodes under its own name");

	/* a copy of segment 1 stored as segment 2: recovery must not get it */
	ok(!decodes_as(decr, seg2, &obj, text, &err) && err.code == TBDR_ERR_CRYPTO,
	   "binding: the object under another segment's name is refused");
	is_str(err.message, psprintf("authentication failed for \"%s\": the object was modified, is corrupt, or was stored under another name", seg2),
		   "  ... naming the object it was read as");
	ok(strstr(err.hint, "renamed") != NULL, "  ... with a hint");
	ok(tbdr_codec_decoder_stats(decr)->plain_bytes == 0, "  ... before any plaintext");
	ok(!decodes_as(dec, seg1_tli2, &obj, text, &err) && err.code == TBDR_ERR_CRYPTO,
	   "binding: the same segment number on another timeline is refused");
	ok(!decodes_as(dec, "wal/0000000100000000/00000001000000000000000", &obj, text, &err) &&
	   err.code == TBDR_ERR_CRYPTO, "binding: a prefix of the name is refused");
	ok(!decodes_as(dec, "backups/20261125T020000Z/part-000001", &obj, text, &err) &&
	   err.code == TBDR_ERR_CRYPTO, "binding: a WAL object read as a backup part is refused");

	/* unnamed coders refuse to work */
	{
		TbdrCodecEncoder *fresh = make_encoder(TBDR_COMPRESS_NONE, true);
		TbdrCodecDecoder *fdec = make_decoder(key1, true);

		ok(!tbdr_codec_encoder_write(fresh, "x", 1, collect, &out, &err) &&
		   err.code == TBDR_ERR_INTERNAL && strstr(err.message, "without an object name"),
		   "binding: an encoder without a name encodes nothing");
		ok(!tbdr_codec_decoder_write(fdec, obj.data, obj.len, collect, &out, &err) &&
		   err.code == TBDR_ERR_INTERNAL && strstr(err.message, "without an object name"),
		   "binding: a decoder without a name decodes nothing");
		ok(out.len == 0, "  ... and neither passed anything on");
		tbdr_codec_encoder_free(fresh);
		tbdr_codec_decoder_free(fdec);
	}

	/* unencrypted objects: refused when required, named in the error */
	tbdr_codec_encode_buffer(penc, seg1, text, strlen(text), &pobj, &err);
	ok(!decodes_as(decr, seg1, &pobj, text, &err) && err.code == TBDR_ERR_CRYPTO,
	   "binding: an unencrypted object is refused when encryption is required");
	is_str(err.message, psprintf("object \"%s\" is not encrypted, but tbdr.encryption_key_file is set", seg1),
		   "  ... naming the object");
	ok(strstr(err.hint, "tbdr.allow_unauthenticated_reads") != NULL,
	   "  ... with the migration opt-in in the hint");
	ok(decodes_as(dec, seg2, &pobj, text, &err),
	   "binding: unencrypted objects are not bound (the opt-in reads one under any name)");

	/* version 1 encrypted objects: readable only with the opt-in */
	make_v1_object(text, strlen(text), &v1);
	ok(decodes_as(dec, seg1, &v1, text, &err),
	   "binding: a version 1 object decodes when encryption is not required");
	ok(!decodes_as(decr, seg1, &v1, text, &err) && err.code == TBDR_ERR_CRYPTO,
	   "binding: a version 1 object is refused when encryption is required");
	is_str(err.message, psprintf("object \"%s\" has format version 1, which does not bind an object to its name", seg1),
		   "  ... saying why");
	v1.data[HDR + 3] ^= 1;
	ok(!decodes_as(dec, seg1, &v1, text, &err) && err.code == TBDR_ERR_CRYPTO,
	   "binding: a modified version 1 object still fails authentication");

	pfree(obj.data);
	pfree(pobj.data);
	pfree(v1.data);
	pfree(out.data);
	tbdr_codec_encoder_free(enc);
	tbdr_codec_encoder_free(penc);
	tbdr_codec_decoder_free(dec);
	tbdr_codec_decoder_free(decr);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	small_mode = getenv("TBDR_CODEC_TEST_SMALL") != NULL;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_codec.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
	{
		perror("mkdtemp");
		return 1;
	}

	test_keyfile();
	test_options();
	test_round_trips();
	test_reuse_and_salt();
	test_keys_and_foreign();
	test_name_binding();
	for (int comp = 0; comp <= 1; comp++)
		for (int encrypt = 0; encrypt <= 1; encrypt++)
		{
			test_flips(comp, encrypt, 0);
			test_flips(comp, encrypt, 300);
			test_truncate_all(comp, encrypt, 0);
			test_truncate_all(comp, encrypt, 500);
			test_file_adapters(comp, encrypt);
		}
	test_chunks(TBDR_COMPRESS_NONE);
	test_chunks(TBDR_COMPRESS_ZSTD);
	test_exact_chunks();

	if (getenv("TBDR_CODEC_BENCH"))
		bench();

	/* remove the temporary files */
	{
		const char *names[] = {"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8",
		"k9", "k10", "in", "out", "empty"};

		for (int i = 0; i < lengthof(names); i++)
		{
			char	   *p = psprintf("%s/%s", tmpdir, names[i]);

			unlink(p);
			pfree(p);
		}
		rmdir(tmpdir);
	}
	return done_testing();
}
