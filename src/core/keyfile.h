/*-------------------------------------------------------------------------
 * keyfile.h
 *	  The repository encryption key (tbdr.encryption_key_file).
 *
 * The key file holds one 256-bit key as 64 hexadecimal characters,
 * optionally followed by one newline ("\n" or "\r\n") and nothing else.
 * Generate one with:
 *
 *		openssl rand -hex 32 > tbdr.key && chmod 600 tbdr.key
 *
 * As PostgreSQL does for ssl_key_file, the file must be a regular file owned
 * by the current user with no group or world access (0600 or less), or owned
 * by root with at most group read access (0640 or less).
 *
 * The key is identified in objects and messages by its fingerprint: the first
 * 8 bytes of SHA-256 over the 32 raw key bytes, shown as 16 hex digits
 * (xxd -r -p tbdr.key | sha256sum | cut -c1-16).  Key bytes themselves never
 * appear in any message.  Callers should OPENSSL_cleanse() key buffers when
 * done (tbdr_key_clear()).
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_KEYFILE_H
#define TBDR_KEYFILE_H

#include "core/error.h"

#define TBDR_KEY_LEN 32
#define TBDR_KEY_FINGERPRINT_LEN 8
#define TBDR_KEY_FINGERPRINT_HEX_LEN 17	/* with terminating NUL */

/*
 * Read and check the key file.  On failure key_out is zeroed and err says
 * why (TBDR_ERR_NOT_FOUND, TBDR_ERR_IO or TBDR_ERR_CONFIG), with a hint.
 */
extern bool tbdr_key_load(const char *path, unsigned char key_out[TBDR_KEY_LEN],
						  TbdrError *err);

/* First 8 bytes of SHA-256(key). */
extern void tbdr_key_fingerprint(const unsigned char key[TBDR_KEY_LEN],
								 unsigned char fp[TBDR_KEY_FINGERPRINT_LEN]);
/* The same as 16 lowercase hex digits. */
extern void tbdr_key_fingerprint_hex(const unsigned char key[TBDR_KEY_LEN],
									 char out[TBDR_KEY_FINGERPRINT_HEX_LEN]);

/* OPENSSL_cleanse() the key. */
extern void tbdr_key_clear(unsigned char key[TBDR_KEY_LEN]);

#endif							/* TBDR_KEYFILE_H */
