/*-------------------------------------------------------------------------
 * walarchive.c
 *	  Push and fetch of one WAL-directory file (see walarchive.h).
 *
 * Push streams: the codec source reads the file and yields encoded bytes
 * that the storage layer uploads as they come, so a segment is never held
 * in memory twice (the S3 driver holds at most one part of the encoded
 * object).  WAL is never overwritten: whether the key exists is asked
 * first (HEAD: usually it does when the archiver repeats what a WAL pusher
 * stored, and then nothing is uploaded), and the store itself is
 * conditional (tbdr_storage_put_new), so that a writer coming between the
 * two is noticed too; either way the stored object is compared.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/digest.h"
#include "core/keyfile.h"
#include "core/repo.h"
#include "core/walarchive.h"
#include "core/walsummary.h"
#include "core/window.h"

#define WAL_READ_CHUNK	(256 * 1024)

struct TbdrWalArchive
{
	TbdrStorage *storage;
	bool		own_storage;
	TbdrCodecOptions opts;
	unsigned char key[TBDR_KEY_LEN];
	bool		have_key;
	TbdrCodecEncoder *enc;
	TbdrCodecDecoder *dec;
	bool		identity_checked;
	char	   *buf;			/* WAL_READ_CHUNK, for hashing local files */
	uint64		seg_size;		/* of the cluster; 0 = unknown */
};

TbdrWalArchive *
tbdr_walarchive_create(TbdrStorage *st, bool own_storage,
					   const TbdrCodecOptions *opts, TbdrError *err)
{
	TbdrWalArchive *wa = palloc0(sizeof(TbdrWalArchive));

	wa->storage = st;
	wa->own_storage = own_storage;
	wa->opts = *opts;
	if (opts->key)
	{
		memcpy(wa->key, opts->key, TBDR_KEY_LEN);
		wa->have_key = true;
		wa->opts.key = wa->key;
	}
	wa->enc = tbdr_codec_encoder_create(&wa->opts, err);
	if (wa->enc == NULL)
		goto fail;
	wa->dec = tbdr_codec_decoder_create(&wa->opts, err);
	if (wa->dec == NULL)
		goto fail;
	wa->buf = palloc(WAL_READ_CHUNK);
	return wa;

fail:
	wa->own_storage = false;	/* the caller keeps it on failure */
	tbdr_walarchive_close(wa);
	return NULL;
}

TbdrWalArchive *
tbdr_walarchive_open(const TbdrConfig *cfg, TbdrError *err)
{
	TbdrCodecOptions opts;
	unsigned char key[TBDR_KEY_LEN];
	TbdrStorage *st;
	TbdrWalArchive *wa;

	memset(&opts, 0, sizeof(opts));
	opts.compression = (TbdrCompression) cfg->compression;
	opts.level = cfg->compression_level;
	opts.require_encryption = tbdr_config_require_encryption(cfg);
	if (cfg->encryption_key_file && cfg->encryption_key_file[0] != '\0')
	{
		if (!tbdr_key_load(cfg->encryption_key_file, key, err))
		{
			tbdr_error_prefix(err, "tbdr.encryption_key_file: ");
			return NULL;
		}
		opts.key = key;
	}

	st = tbdr_storage_open(cfg, err);
	if (st == NULL)
	{
		tbdr_key_clear(key);
		return NULL;
	}
	wa = tbdr_walarchive_create(st, true, &opts, err);
	tbdr_key_clear(key);
	if (wa == NULL)
		tbdr_storage_close(st);
	return wa;
}

void
tbdr_walarchive_set_segment_size(TbdrWalArchive *wa, uint64 seg_size)
{
	wa->seg_size = seg_size;
}

/*
 * Limit the plaintext of the object of WAL file name that dec is about to
 * decode: a segment is at most one segment long (the cluster's size, or
 * PostgreSQL's largest when unknown), a history file at most
 * TBDR_WAL_HISTORY_MAX_BYTES.  Call after the decoder's reset.
 */
static void
limit_decoded(TbdrWalArchive *wa, const char *name)
{
	TbdrWalFileKind kind = tbdr_wal_file_kind(name);

	if (kind == TBDR_WAL_SEGMENT || kind == TBDR_WAL_PARTIAL)
		tbdr_codec_decoder_set_limit(wa->dec,
									 wa->seg_size ? wa->seg_size : TBDR_WAL_SEG_SIZE_MAX,
									 wa->seg_size ? "a WAL segment of this cluster" : "a WAL segment");
	else
		tbdr_codec_decoder_set_limit(wa->dec, TBDR_WAL_HISTORY_MAX_BYTES,
									 "a history file");
}

void
tbdr_walarchive_close(TbdrWalArchive *wa)
{
	if (wa == NULL)
		return;
	if (wa->enc)
		tbdr_codec_encoder_free(wa->enc);
	if (wa->dec)
		tbdr_codec_decoder_free(wa->dec);
	if (wa->own_storage && wa->storage)
		tbdr_storage_close(wa->storage);
	tbdr_key_clear(wa->key);
	if (wa->buf)
		pfree(wa->buf);
	pfree(wa);
}

TbdrStorage *
tbdr_walarchive_storage(TbdrWalArchive *wa)
{
	return wa->storage;
}

bool
tbdr_walarchive_check_identity(TbdrWalArchive *wa, uint64 system_identifier,
							   int pg_major, TbdrError *err)
{
	if (wa->identity_checked)
		return true;
	if (!tbdr_repo_check_identity(wa->storage, system_identifier, pg_major,
								  true, err))
		return false;
	wa->identity_checked = true;
	return true;
}

/* SHA-256 and size of a local file. */
static bool
hash_file(TbdrWalArchive *wa, const char *path,
		  unsigned char out[TBDR_SHA256_LEN], uint64 *size, TbdrError *err)
{
	TbdrDigest *d;
	int			fd;
	ssize_t		n;

	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		tbdr_error_errno(err, "could not open \"%s\"", path);
		return false;
	}
	d = tbdr_digest_create(TBDR_DIGEST_SHA256);
	*size = 0;
	while ((n = read(fd, wa->buf, WAL_READ_CHUNK)) != 0)
	{
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not read \"%s\"", path);
			tbdr_digest_free(d);
			close(fd);
			return false;
		}
		tbdr_digest_update(d, wa->buf, n);
		*size += n;
	}
	close(fd);
	return tbdr_digest_final_checked(d, out, err);
}

static bool
discard_write(void *arg, const char *buf, size_t len, TbdrError *err)
{
	return true;
}

typedef struct DecodeTarget
{
	TbdrCodecDecoder *dec;
	TbdrWriteFn out;
	void	   *out_arg;
} DecodeTarget;

static bool
decode_write(void *arg, const char *buf, size_t len, TbdrError *err)
{
	DecodeTarget *t = (DecodeTarget *) arg;

	return tbdr_codec_decoder_write(t->dec, buf, len, t->out, t->out_arg, err);
}

/*
 * The key exists: fetch and decode the stored object and compare its
 * plaintext with the local file.  Identical: success.  Otherwise a loud
 * conflict; nothing is written.
 */
static bool
compare_existing(TbdrWalArchive *wa, const char *path, const char *name,
				 const char *key, TbdrWalPushResult *res, TbdrError *err)
{
	unsigned char local_sha[TBDR_SHA256_LEN];
	uint64		local_size;
	DecodeTarget t;
	const TbdrCodecStats *stats;
	char		local_hex[TBDR_SHA256_HEX_LEN];
	char		stored_hex[TBDR_SHA256_HEX_LEN];

	if (!hash_file(wa, path, local_sha, &local_size, err))
		return false;

	tbdr_codec_decoder_reset(wa->dec, key);
	limit_decoded(wa, name);
	t.dec = wa->dec;
	t.out = discard_write;
	t.out_arg = NULL;
	if (!tbdr_storage_get(wa->storage, key, 0, -1, decode_write, &t, err) ||
		!tbdr_codec_decoder_finish(wa->dec, discard_write, NULL, err))
	{
		tbdr_error_prefix(err, "\"%s\" is already in the repository, but it could not be read to compare it with the local file: ",
						  name);
		return false;
	}
	stats = tbdr_codec_decoder_stats(wa->dec);
	if (stats->plain_bytes == local_size &&
		memcmp(stats->sha256, local_sha, TBDR_SHA256_LEN) == 0)
	{
		if (res)
		{
			res->already_stored = true;
			res->plain_bytes = local_size;
			res->stored_bytes = stats->stored_bytes;
		}
		return true;
	}

	tbdr_hex_encode(local_sha, TBDR_SHA256_LEN, local_hex);
	tbdr_hex_encode(stats->sha256, TBDR_SHA256_LEN, stored_hex);
	tbdr_error_set(err, TBDR_ERR_CONFLICT,
				   "WAL file \"%s\" is already in repository %s with different content",
				   name, tbdr_storage_describe(wa->storage));
	tbdr_error_detail(err, "Object \"%s\": " UINT64_FORMAT " bytes, SHA-256 %s; local file \"%s\": " UINT64_FORMAT " bytes, SHA-256 %s.",
					  key, stats->plain_bytes, stored_hex, path, local_size,
					  local_hex);
	tbdr_error_hint(err, "The object was not overwritten and PostgreSQL keeps the segment. "
					"Another database system or a diverged timeline may be archiving into this repository: "
					"check tbdr.repository; do not delete the object before you know which copy is right.");
	return false;
}

/*
 * Store the summary of segment name (walsummary.h) unless it exists: it is
 * computed from the segment alone, so an existing one has this content.
 * A file that is not valid WAL gets no summary (readers are conservative
 * about segments without one); only a failure to store it is an error, so
 * that the segment is archived again and the summary with it.
 */
static bool
store_summary(TbdrWalArchive *wa, const char *path, const char *name,
			  uint64 seg_size, TbdrError *err)
{
	char	   *key = tbdr_repo_walsum_key(name, err);
	int			exists;
	uint32		tli;
	uint64		segno;
	TbdrWalSummary *sum;
	TbdrError	serr;
	StringInfoData text;
	StringInfoData obj;
	bool		ok;

	if (key == NULL)
		return false;
	exists = tbdr_storage_head(wa->storage, key, NULL, err);
	tbdr_error_clear(&serr);
	if (exists != 0 || seg_size == 0 || (seg_size & (seg_size - 1)) != 0 ||
		!tbdr_wal_segment_parse(name, seg_size, &tli, &segno) ||
		(sum = tbdr_wal_summarize_file(path, segno * seg_size, seg_size, &serr)) == NULL)
	{
		pfree(key);
		if (exists < 0)
			tbdr_error_prefix(err, "could not check whether the summary of \"%s\" is stored: ", name);
		return exists >= 0;
	}
	initStringInfo(&text);
	initStringInfo(&obj);
	tbdr_wal_summary_write(sum, &text);
	ok = tbdr_codec_encode_buffer(wa->enc, key, text.data, text.len, &obj, err) &&
		tbdr_storage_put_buffer(wa->storage, key, obj.data, obj.len, err);
	if (!ok)
		tbdr_error_prefix(err, "could not store the summary of \"%s\": ", name);
	tbdr_wal_summary_free(sum);
	pfree(text.data);
	pfree(obj.data);
	pfree(key);
	return ok;
}

bool
tbdr_wal_push(TbdrWalArchive *wa, const char *path, const char *name,
			  TbdrWalPushResult *res, TbdrError *err)
{
	char	   *key;
	int			exists;
	bool		existed;
	int			fd = -1;
	struct stat stbuf;
	TbdrCodecSource *src = NULL;
	const TbdrCodecStats *stats;
	bool		ok = false;

	if (res)
		memset(res, 0, sizeof(*res));
	key = tbdr_repo_wal_key(name, err);
	if (key == NULL)
		return false;

	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		tbdr_error_errno(err, "could not open WAL file \"%s\"", path);
		goto done;
	}
	if (fstat(fd, &stbuf) != 0)
	{
		tbdr_error_errno(err, "could not stat WAL file \"%s\"", path);
		goto done;
	}

	exists = tbdr_storage_head(wa->storage, key, NULL, err);
	if (exists < 0)
	{
		tbdr_error_prefix(err, "could not check whether \"%s\" is archived: ", name);
		goto done;
	}
	if (exists > 0)
	{
		close(fd);
		fd = -1;
		ok = compare_existing(wa, path, name, key, res, err);
		goto summary;
	}

	src = tbdr_codec_source_create(fd, wa->enc, key, err);
	if (src == NULL)
		goto done;
	/* stored only if still absent: another writer may have come between */
	if (!tbdr_storage_put_new(wa->storage, key, tbdr_codec_source_read, src,
							  -1, &existed, err))
	{
		tbdr_error_prefix(err, "could not archive \"%s\": ", name);
		goto done;
	}
	if (existed)
	{
		close(fd);
		fd = -1;
		ok = compare_existing(wa, path, name, key, res, err);
		goto done;
	}
	stats = tbdr_codec_source_stats(src);

	/*
	 * WAL files are complete and immutable when PostgreSQL hands them over;
	 * a size change means something else wrote to the file.
	 */
	if (stats->plain_bytes != (uint64) stbuf.st_size)
	{
		tbdr_error_set(err, TBDR_ERR_IO,
					   "WAL file \"%s\" changed size while it was archived (" UINT64_FORMAT " bytes read, %lld expected)",
					   path, stats->plain_bytes, (long long) stbuf.st_size);
		tbdr_error_hint(err, "Nothing but PostgreSQL may write to pg_wal.");
		/* do not leave a possibly wrong object behind */
		{
			TbdrError	derr;

			tbdr_error_clear(&derr);
			(void) tbdr_storage_delete(wa->storage, key, &derr);
		}
		goto done;
	}
	if (res)
	{
		res->plain_bytes = stats->plain_bytes;
		res->stored_bytes = stats->stored_bytes;
	}
	ok = true;

summary:
	if (ok && tbdr_wal_file_kind(name) == TBDR_WAL_SEGMENT)
		ok = store_summary(wa, path, name, (uint64) stbuf.st_size, err);

done:
	if (src)
		tbdr_codec_source_free(src);
	if (fd >= 0)
		close(fd);
	pfree(key);
	return ok;
}

/* fsync the directory that holds path, so that a rename in it is durable. */
static bool
fsync_parent(const char *path, TbdrError *err)
{
	char	   *copy = pstrdup(path);
	char	   *dir = dirname(copy);
	int			fd;
	bool		ok = true;

	fd = open(dir, O_RDONLY, 0);
	if (fd < 0 || fsync(fd) != 0)
	{
		tbdr_error_errno(err, "could not fsync directory \"%s\"", dir);
		ok = false;
	}
	if (fd >= 0)
		close(fd);
	pfree(copy);
	return ok;
}

bool
tbdr_wal_fetch(TbdrWalArchive *wa, const char *name, const char *dest,
			   bool durable, uint64 *bytes, TbdrError *err)
{
	char	   *key;
	char	   *tmp;
	int			fd;
	TbdrCodecSink *sink = NULL;
	bool		ok = false;

	key = tbdr_repo_wal_key(name, err);
	if (key == NULL)
		return false;
	tmp = psprintf("%s.tbdr-tmp.%d", dest, (int) getpid());

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, 0600);
	if (fd < 0)
	{
		tbdr_error_errno(err, "could not create \"%s\"", tmp);
		goto done;
	}
	sink = tbdr_codec_sink_create(fd, wa->dec, key, err);
	if (sink == NULL)
		goto done;
	limit_decoded(wa, name);
	if (!tbdr_storage_get(wa->storage, key, 0, -1, tbdr_codec_sink_write, sink, err))
	{
		if (err->code == TBDR_ERR_NOT_FOUND)
		{
			tbdr_error_set(err, TBDR_ERR_NOT_FOUND,
						   "WAL file \"%s\" is not in repository %s", name,
						   tbdr_storage_describe(wa->storage));
		}
		else
			tbdr_error_prefix(err, "could not fetch \"%s\": ", name);
		goto done;
	}
	if (!tbdr_codec_sink_finish(sink, err))
	{
		tbdr_error_prefix(err, "WAL file \"%s\" (object \"%s\") failed verification: ",
						  name, key);
		goto done;
	}
	if (bytes)
		*bytes = tbdr_codec_sink_stats(sink)->plain_bytes;
	if (durable && fsync(fd) != 0)
	{
		tbdr_error_errno(err, "could not fsync \"%s\"", tmp);
		goto done;
	}
	if (close(fd) != 0)
	{
		fd = -1;
		tbdr_error_errno(err, "could not close \"%s\"", tmp);
		goto done;
	}
	fd = -1;
	if (rename(tmp, dest) != 0)
	{
		tbdr_error_errno(err, "could not rename \"%s\" to \"%s\"", tmp, dest);
		goto done;
	}
	if (durable && !fsync_parent(dest, err))
		goto done;
	ok = true;

done:
	if (sink)
		tbdr_codec_sink_free(sink);
	if (fd >= 0)
		close(fd);
	if (!ok)
		(void) unlink(tmp);
	pfree(tmp);
	pfree(key);
	return ok;
}

bool
tbdr_wal_record_gap(TbdrWalArchive *wa, const char *name, const char *reason,
					TbdrError *err)
{
	char	   *key = tbdr_repo_gap_key(name, err);
	char		now[32];
	time_t		t = time(NULL);
	struct tm	tm;
	char	   *json;
	int			exists;
	bool		existed;
	bool		ok;

	if (key == NULL)
		return false;
	Assert(strpbrk(reason, "\"\\") == NULL);
	exists = tbdr_storage_head(wa->storage, key, NULL, err);
	if (exists != 0)
	{
		pfree(key);
		return exists > 0;		/* written once: keep the first */
	}
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json = psprintf("{\"segment\": \"%s\", \"recorded_at\": \"%s\", \"reason\": \"%s\"}\n",
					name, now, reason);
	/* written once: a record that came in between stays */
	ok = tbdr_storage_put_buffer_new(wa->storage, key, json, strlen(json),
									 &existed, err);
	if (!ok)
		tbdr_error_prefix(err, "could not record the WAL gap at \"%s\": ", name);
	pfree(json);
	pfree(key);
	return ok;
}
