/*-------------------------------------------------------------------------
 * config.h
 *	  The tbdr.* settings, shared by the server (GUCs) and the CLI.
 *
 * One table (tbdr_settings) describes every setting: name, type, default,
 * range or allowed values, whether it is secret, and a validator.  The
 * backend defines one GUC per row, pointing into a TbdrConfig; the CLI fills
 * a TbdrConfig from a file in postgresql.conf syntax, then flags.  Both use
 * the same validators, so a value is accepted or rejected with the same
 * message everywhere.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_CONFIG_H
#define TBDR_CONFIG_H

#include "core/error.h"
#include "lib/stringinfo.h"

typedef enum TbdrUriStyle
{
	TBDR_URI_STYLE_PATH = 0,
	TBDR_URI_STYLE_HOST
} TbdrUriStyle;

typedef enum TbdrSse
{
	TBDR_SSE_NONE = 0,
	TBDR_SSE_AES256,
	TBDR_SSE_KMS
} TbdrSse;

/*
 * Values of all settings.  Strings are never NULL after
 * tbdr_config_set_defaults() ("" means unset).  Time values are in seconds,
 * sizes in MB, as their GUCs.
 */
typedef struct TbdrConfig
{
	char	   *repository;		/* s3://bucket/prefix or file:///path */
	char	   *s3_endpoint;
	char	   *s3_region;
	int			s3_uri_style;	/* TbdrUriStyle */
	char	   *s3_access_key_id;
	char	   *s3_secret_access_key;	/* secret */
	char	   *s3_session_token;	/* secret */
	char	   *s3_credentials_file;
	char	   *s3_profile;
	char	   *s3_ca_file;
	bool		s3_verify_tls;
	int			s3_sse;			/* TbdrSse */
	char	   *s3_sse_kms_key_id;
	char	   *s3_storage_class;
	int			s3_max_retries;
	int			s3_timeout;		/* seconds, per request without progress */
	int			s3_part_size;	/* MB: multipart threshold and part size */
	int			s3_parallel;	/* concurrent part uploads of one object */

	/* WAL archiving (issue 3) */
	int			compression;	/* TbdrCompression (core/codec.h) */
	int			compression_level;	/* zstd level 1..19 */
	char	   *encryption_key_file;	/* absolute path, "" = no encryption */
	bool		allow_unauthenticated_reads;	/* migration: read objects the
												 * key does not authenticate */
	int			archive_parallel;	/* segments pushed at once by the worker */
	int			archive_queue_max;	/* ready segments before dropping, 0 = off */
	int			restore_prefetch;	/* segments archive-get fetches ahead */
	char	   *database;		/* what background workers connect to */

	/* retention and expiry (issue 7) */
	int			retention_days; /* keep every point of the last N days */
	char	   *retention_policy;	/* 'daily=7 weekly=4 monthly=12', "" none */

	/* restored copies (issue 11) */
	char	   *copy_of;		/* repository restored from as a copy, "" */

	/* base backups (issue 4) */
	char	   *backup_schedule;	/* cron syntax, "" = no scheduled backups */
	bool		backup_catchup; /* run a missed scheduled backup at start */
	int			backup_part_size;	/* MB per part */
	int			backup_parallel;	/* part writers at once */
	int			backup_max_rate;	/* MB/s read, 0 = no limit */
	int			backup_archive_timeout; /* seconds to wait for the WAL */
} TbdrConfig;

typedef enum TbdrSettingType
{
	TBDR_SETTING_STRING,
	TBDR_SETTING_BOOL,
	TBDR_SETTING_INT,
	TBDR_SETTING_ENUM
} TbdrSettingType;

/* When a changed value takes effect in the server (maps to GucContext). */
typedef enum TbdrSettingContext
{
	TBDR_CONTEXT_SIGHUP,		/* reload */
	TBDR_CONTEXT_POSTMASTER		/* restart */
} TbdrSettingContext;

#define TBDR_SETTING_SECRET		0x01	/* superuser-only, never shown/logged */
#define TBDR_SETTING_UNIT_S		0x02	/* int, seconds */
#define TBDR_SETTING_UNIT_MB	0x04	/* int, megabytes */

typedef struct TbdrEnumValue
{
	const char *name;
	int			value;
} TbdrEnumValue;

/*
 * Validator for string settings: returns false and sets *message (palloc'd,
 * says what is allowed) when the value is not acceptable.
 */
typedef bool (*TbdrSettingCheck) (const char *value, char **message);

typedef struct TbdrSetting
{
	const char *name;			/* without "tbdr." */
	TbdrSettingType type;
	size_t		offset;			/* of the field in TbdrConfig */
	const char *boot_string;	/* STRING */
	int			boot_int;		/* INT, ENUM; BOOL as 0/1 */
	int			min_value;		/* INT */
	int			max_value;		/* INT */
	const TbdrEnumValue *enum_values;	/* ENUM, NULL-terminated */
	TbdrSettingCheck check;		/* STRING, may be NULL */
	int			flags;			/* TBDR_SETTING_* */
	TbdrSettingContext context;
	const char *short_desc;
} TbdrSetting;

extern const TbdrSetting tbdr_settings[];
extern const int tbdr_num_settings;

/* Find by "name" or "tbdr.name"; NULL if unknown. */
extern const TbdrSetting *tbdr_setting_find(const char *name);

/* Fill every field with its default (strings pstrdup'd). */
extern void tbdr_config_set_defaults(TbdrConfig *cfg);

/*
 * Parse, validate and store one value given as text (as in a config file or
 * a command-line flag).  On failure the error names the setting and what is
 * allowed, and never repeats the value of a secret setting.
 */
extern bool tbdr_config_set(TbdrConfig *cfg, const char *name,
							const char *value, TbdrError *err);

/*
 * Read a file in postgresql.conf syntax (name = value, '' quoting, #
 * comments) and apply every tbdr.* line; other names are ignored, so the file
 * may be a postgresql.conf.  include/include_if_exists directives are
 * followed relative to the file.  A missing file is fine when missing_ok.
 */
extern bool tbdr_config_load_file(TbdrConfig *cfg, const char *path,
								  bool missing_ok, TbdrError *err);

/*
 * Whether decoders must refuse objects that the key does not authenticate
 * as their name (codec.h require_encryption): with a key, unless
 * tbdr.allow_unauthenticated_reads is on.
 */
extern bool tbdr_config_require_encryption(const TbdrConfig *cfg);

/*
 * The warning to give every time objects are read with a key and
 * tbdr.allow_unauthenticated_reads on, or NULL when that is not the case.
 */
extern const char *tbdr_config_unauthenticated_warning(const TbdrConfig *cfg);

/*
 * Copy a file's content in postgresql.conf syntax (data, len) to out with
 * each line that sets a secret tbdr.* setting (TBDR_SETTING_SECRET)
 * replaced by the comment "# tbdr.NAME: " TBDR_REDACTED_NOTE: what a base
 * backup stores of a configuration file, so that no secret reaches the
 * repository.  Returns how many lines were replaced; *first (may be NULL)
 * gets the name of the first such setting.
 */
#define TBDR_REDACTED_NOTE "value removed (tbdr stores no secret in backups; keep secrets in a file outside the data directory)"
extern int	tbdr_config_redact(const char *data, size_t len, StringInfo out,
							   const char **first);
/* The same for a file of at most max_len bytes; -1 with err set on error. */
extern int	tbdr_config_redact_file(const char *path, size_t max_len,
									StringInfo out, const char **first,
									TbdrError *err);

/*
 * tbdr.s3_verify_tls = off: said by the server at start and reload, and by
 * tbdr check.
 */
#define TBDR_VERIFY_TLS_OFF_WARNING "tbdr.s3_verify_tls is off: the S3 server's TLS certificate is not verified, so anyone on the network path can pose as the server, read unencrypted backups and WAL, and alter or withhold what is stored and restored"

/* A value as text, for display ("********" for a set secret). */
extern char *tbdr_config_show(const TbdrConfig *cfg, const TbdrSetting *s);

/*
 * Where the repository is, parsed from tbdr.repository.
 */
typedef enum TbdrRepoType
{
	TBDR_REPO_NONE = 0,			/* not configured */
	TBDR_REPO_S3,
	TBDR_REPO_FILE
} TbdrRepoType;

typedef struct TbdrRepoLocation
{
	TbdrRepoType type;
	char	   *bucket;			/* S3 */
	char	   *prefix;			/* S3: "" or "a/b" (no leading/trailing /) */
	char	   *path;			/* file: absolute directory */
} TbdrRepoLocation;

extern bool tbdr_repo_parse(const char *uri, TbdrRepoLocation *loc,
							TbdrError *err);

#endif							/* TBDR_CONFIG_H */
