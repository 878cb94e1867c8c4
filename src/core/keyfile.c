/*-------------------------------------------------------------------------
 * keyfile.c
 *	  The repository encryption key (see keyfile.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/digest.h"
#include "core/keyfile.h"

/* Anything longer than this cannot be a key file; don't read it. */
#define KEYFILE_MAX_READ 128

#define KEYFILE_HINT \
	"Generate a key with: openssl rand -hex 32 > FILE && chmod 600 FILE"

/*
 * The open key file must be a regular file of the current user or root
 * without access for others: the same rule as PostgreSQL's check of
 * ssl_key_file.  fstat of the open file, so that what we check is what we
 * read.
 */
static bool
check_key_file(int fd, const char *path, TbdrError *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
	{
		tbdr_error_errno(err, "could not stat encryption key file \"%s\"", path);
		return false;
	}
	if (!S_ISREG(st.st_mode))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "encryption key file \"%s\" is not a regular file", path);
		tbdr_error_hint(err, KEYFILE_HINT);
		return false;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "encryption key file \"%s\" must be owned by the current user or root",
					   path);
		tbdr_error_hint(err, "Run chown on the file so that the user running tbdr owns it.");
		return false;
	}
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "encryption key file \"%s\" has group or world access", path);
		tbdr_error_detail(err, "File must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root.");
		tbdr_error_hint(err, "Run: chmod 600 %s", path);
		return false;
	}
	return true;
}

/*
 * Read at most KEYFILE_MAX_READ + 1 bytes (to detect an overlong file) into
 * buf; one trailing newline is dropped.
 */
static bool
read_key_text(int fd, const char *path, unsigned char *buf, size_t bufsize,
			  size_t *len, TbdrError *err)
{
	*len = 0;
	while (*len < bufsize)
	{
		ssize_t		n = read(fd, buf + *len, bufsize - *len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not read encryption key file \"%s\"", path);
			return false;
		}
		if (n == 0)
			break;
		*len += n;
	}
	if (*len > 0 && buf[*len - 1] == '\n')
	{
		(*len)--;
		if (*len > 0 && buf[*len - 1] == '\r')
			(*len)--;
	}
	return true;
}

/* 64 hexadecimal characters, not all zero, into key_out. */
static bool
parse_key(const unsigned char *buf, size_t len, const char *path,
		  unsigned char key_out[TBDR_KEY_LEN], TbdrError *err)
{
	bool		allzero = true;

	if (len != 2 * TBDR_KEY_LEN)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "encryption key file \"%s\" has the wrong length", path);
		if (len > KEYFILE_MAX_READ)
			tbdr_error_detail(err, "It must contain 64 hexadecimal characters (a 256-bit key), but it is longer than %d bytes.",
							  KEYFILE_MAX_READ);
		else
			tbdr_error_detail(err, "It must contain 64 hexadecimal characters (a 256-bit key), optionally followed by a newline, but it contains %zu characters.",
							  len);
		tbdr_error_hint(err, KEYFILE_HINT);
		return false;
	}
	if (!tbdr_hex_decode((const char *) buf, key_out, TBDR_KEY_LEN))
	{
		/* never say which character: it is part of the key */
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "encryption key file \"%s\" contains a character that is not a hexadecimal digit",
					   path);
		tbdr_error_detail(err, "It must contain 64 hexadecimal characters (a 256-bit key), optionally followed by a newline.");
		tbdr_error_hint(err, KEYFILE_HINT);
		return false;
	}
	for (int i = 0; i < TBDR_KEY_LEN; i++)
	{
		if (key_out[i] != 0)
			allzero = false;
	}
	if (allzero)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "encryption key file \"%s\" contains an all-zero key", path);
		tbdr_error_hint(err, KEYFILE_HINT);
		return false;
	}
	return true;
}

bool
tbdr_key_load(const char *path, unsigned char key_out[TBDR_KEY_LEN],
			  TbdrError *err)
{
	int			fd;
	unsigned char buf[KEYFILE_MAX_READ + 1];
	size_t		len = 0;
	bool		ok;

	memset(key_out, 0, TBDR_KEY_LEN);

	if (path == NULL || path[0] == '\0')
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "no encryption key file is configured");
		tbdr_error_hint(err, "Set tbdr.encryption_key_file. " KEYFILE_HINT);
		return false;
	}

	fd = open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
	{
		tbdr_error_errno(err, "could not open encryption key file \"%s\"", path);
		tbdr_error_hint(err, "Check tbdr.encryption_key_file. " KEYFILE_HINT);
		return false;
	}

	ok = check_key_file(fd, path, err) &&
		read_key_text(fd, path, buf, sizeof(buf), &len, err) &&
		parse_key(buf, len, path, key_out, err);

	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	if (!ok)
		OPENSSL_cleanse(key_out, TBDR_KEY_LEN);
	return ok;
}

void
tbdr_key_fingerprint(const unsigned char key[TBDR_KEY_LEN],
					 unsigned char fp[TBDR_KEY_FINGERPRINT_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(key, TBDR_KEY_LEN, md, &mdlen, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));	/* cannot happen with a working libcrypto */
	memcpy(fp, md, TBDR_KEY_FINGERPRINT_LEN);
	OPENSSL_cleanse(md, sizeof(md));
}

void
tbdr_key_fingerprint_hex(const unsigned char key[TBDR_KEY_LEN],
						 char out[TBDR_KEY_FINGERPRINT_HEX_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char fp[TBDR_KEY_FINGERPRINT_LEN];

	tbdr_key_fingerprint(key, fp);
	for (int i = 0; i < TBDR_KEY_FINGERPRINT_LEN; i++)
	{
		out[2 * i] = hex[fp[i] >> 4];
		out[2 * i + 1] = hex[fp[i] & 0xf];
	}
	out[2 * TBDR_KEY_FINGERPRINT_LEN] = '\0';
}

void
tbdr_key_clear(unsigned char key[TBDR_KEY_LEN])
{
	OPENSSL_cleanse(key, TBDR_KEY_LEN);
}
