/*-------------------------------------------------------------------------
 * config.c
 *	  The tbdr.* settings, shared by the server (GUCs) and the CLI.
 *
 * The table tbdr_settings[] is the single description of every setting.
 * The backend turns each row into a GUC (src/backend/guc.c); the CLI reads a
 * file in postgresql.conf syntax with tbdr_config_load_file() and applies
 * flags with tbdr_config_set().  Validators are plain functions on the text
 * value so both sides reject the same values with the same words.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/cron.h"
#include "core/expire.h"
#include "lib/stringinfo.h"

/* Same nesting limit as PostgreSQL's own configuration files. */
#define TBDR_CONF_MAX_DEPTH 10

#define SECRET_MASK "********"

static bool check_repository(const char *value, char **message);
static bool check_endpoint(const char *value, char **message);
static bool check_region(const char *value, char **message);
static bool check_access_key_id(const char *value, char **message);
static bool check_credentials_file(const char *value, char **message);
static bool check_ca_file(const char *value, char **message);
static bool check_storage_class(const char *value, char **message);
static bool check_encryption_key_file(const char *value, char **message);
static bool check_database(const char *value, char **message);
static bool check_retention_policy(const char *value, char **message);
static bool check_backup_schedule(const char *value, char **message);

/* Values of tbdr.compression; the same numbers as TbdrCompression. */
static const TbdrEnumValue compression_values[] = {
	{"zstd", 1},
	{"none", 0},
	{NULL, 0}
};

static const TbdrEnumValue uri_style_values[] = {
	{"path", TBDR_URI_STYLE_PATH},
	{"host", TBDR_URI_STYLE_HOST},
	{NULL, 0}
};

static const TbdrEnumValue sse_values[] = {
	{"none", TBDR_SSE_NONE},
	{"AES256", TBDR_SSE_AES256},
	{"aws:kms", TBDR_SSE_KMS},
	{NULL, 0}
};

static const char *const storage_classes[] = {
	"STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
	"GLACIER_IR", "GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY",
	"EXPRESS_ONEZONE", NULL
};

#define OFF(field) offsetof(TbdrConfig, field)

#define STRING_SETTING(nm, field, def, chk, fl, desc) \
	{nm, TBDR_SETTING_STRING, OFF(field), def, 0, 0, 0, NULL, chk, fl, \
	 TBDR_CONTEXT_SIGHUP, desc}
#define INT_SETTING(nm, field, def, lo, hi, fl, desc) \
	{nm, TBDR_SETTING_INT, OFF(field), NULL, def, lo, hi, NULL, NULL, fl, \
	 TBDR_CONTEXT_SIGHUP, desc}
#define BOOL_SETTING(nm, field, def, desc) \
	{nm, TBDR_SETTING_BOOL, OFF(field), NULL, def, 0, 1, NULL, NULL, 0, \
	 TBDR_CONTEXT_SIGHUP, desc}
#define ENUM_SETTING(nm, field, def, vals, desc) \
	{nm, TBDR_SETTING_ENUM, OFF(field), NULL, def, 0, 0, vals, NULL, 0, \
	 TBDR_CONTEXT_SIGHUP, desc}

/*
 * Every setting takes effect on reload: credentials get rotated and
 * endpoints change while the server must keep archiving.
 */
const TbdrSetting tbdr_settings[] = {
	STRING_SETTING("repository", repository, "", check_repository, 0,
				   "Where backups are stored: s3://bucket/prefix or file:///absolute/path."),
	STRING_SETTING("s3_endpoint", s3_endpoint, "", check_endpoint, 0,
				   "S3 endpoint URL (http:// or https://host[:port]); empty means AWS_ENDPOINT_URL or AWS for tbdr.s3_region."),
	STRING_SETTING("s3_region", s3_region, "", check_region, 0,
				   "S3 region; empty means AWS_REGION, AWS_DEFAULT_REGION or us-east-1."),

	/*
	 * Path style is the default because it works with every S3
	 * implementation without DNS setup (MinIO, Ceph, Swift s3api, loopback
	 * test servers) and, on AWS, with every general purpose bucket,
	 * including bucket names with dots, for which virtual-hosted style breaks
	 * TLS certificate verification.  AWS prefers host style and requires it
	 * for directory buckets (EXPRESS_ONEZONE); set it there.
	 */
	ENUM_SETTING("s3_uri_style", s3_uri_style, TBDR_URI_STYLE_PATH, uri_style_values,
				 "S3 addressing: path (endpoint/bucket, works with every S3 server and with AWS) or host (bucket.endpoint, needed for AWS directory buckets)."),
	STRING_SETTING("s3_access_key_id", s3_access_key_id, "", check_access_key_id, 0,
				   "S3 access key ID; empty means the environment or the shared credentials file."),
	STRING_SETTING("s3_secret_access_key", s3_secret_access_key, "", NULL,
				   TBDR_SETTING_SECRET,
				   "S3 secret access key (secret; prefer the shared credentials file)."),
	STRING_SETTING("s3_session_token", s3_session_token, "", NULL,
				   TBDR_SETTING_SECRET,
				   "S3 session token for temporary credentials (secret)."),
	STRING_SETTING("s3_credentials_file", s3_credentials_file, "", check_credentials_file, 0,
				   "Shared credentials file (absolute path); empty means AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials."),
	STRING_SETTING("s3_profile", s3_profile, "", NULL, 0,
				   "Profile in the shared credentials file; empty means AWS_PROFILE or default."),
	STRING_SETTING("s3_ca_file", s3_ca_file, "", check_ca_file, 0,
				   "File of CA certificates (absolute path) to verify the S3 server; empty means the system's."),
	BOOL_SETTING("s3_verify_tls", s3_verify_tls, 1,
				 "Verify the S3 server's TLS certificate and host name."),
	ENUM_SETTING("s3_sse", s3_sse, TBDR_SSE_NONE, sse_values,
				 "S3 server-side encryption: none, AES256 or aws:kms."),
	STRING_SETTING("s3_sse_kms_key_id", s3_sse_kms_key_id, "", NULL, 0,
				   "KMS key for tbdr.s3_sse = aws:kms; empty means the bucket's default key."),
	STRING_SETTING("s3_storage_class", s3_storage_class, "", check_storage_class, 0,
				   "S3 storage class of uploaded objects; empty means the bucket's default (STANDARD)."),
	INT_SETTING("s3_max_retries", s3_max_retries, 4, 0, 100, 0,
				"How many times a failed S3 request is retried."),
	INT_SETTING("s3_timeout", s3_timeout, 60, 1, 3600, TBDR_SETTING_UNIT_S,
				"Time an S3 request may go without progress before it is abandoned."),
	INT_SETTING("s3_part_size", s3_part_size, 16, 5, 5120, TBDR_SETTING_UNIT_MB,
				"Size of multipart upload parts; larger objects are uploaded in parts."),
	INT_SETTING("s3_parallel", s3_parallel, 4, 1, 64, 0,
				"Parts of one object uploaded concurrently."),

	/* WAL archiving */
	ENUM_SETTING("compression", compression, 1, compression_values,
				 "Compression of stored WAL and backups: zstd or none."),
	INT_SETTING("compression_level", compression_level, 3, 1, 19, 0,
				"zstd compression level (1 fastest .. 19 smallest)."),
	STRING_SETTING("encryption_key_file", encryption_key_file, "",
				   check_encryption_key_file, 0,
				   "File with the 256-bit encryption key (absolute path, 64 hex digits); empty means no encryption."),
	BOOL_SETTING("allow_unauthenticated_reads", allow_unauthenticated_reads, 0,
				 "Migration only: with an encryption key, also read unencrypted objects and objects of format version 1, which anyone with write access to the bucket can forge or swap; warns every time."),
	{"archive_parallel", TBDR_SETTING_INT, OFF(archive_parallel), NULL, 4, 1, 32,
		NULL, NULL, 0, TBDR_CONTEXT_POSTMASTER,
	"WAL segments the archive worker stores at once."},
	INT_SETTING("archive_queue_max", archive_queue_max, 0, 0, INT_MAX / 2, 0,
				"Ready WAL segments past which segments are acknowledged without being stored (protects the disk over the archive); 0 means never."),
	INT_SETTING("restore_prefetch", restore_prefetch, 8, 0, 64, 0,
				"WAL segments archive-get fetches ahead in parallel; 0 means none."),
	{"database", TBDR_SETTING_STRING, OFF(database), "postgres", 0, 0, 0,
		NULL, check_database, 0, TBDR_CONTEXT_POSTMASTER,
	"Database tbdr's background workers connect to."},

	/* retention and expiry (issue 7; rules in src/core/expire.h) */
	INT_SETTING("retention_days", retention_days, 30, 1, 36500, 0,
				"Days back to which every point in time stays restorable; older backups are expired unless tbdr.retention_policy keeps them."),
	STRING_SETTING("retention_policy", retention_policy, "", check_retention_policy, 0,
				   "Extra backups to keep, e.g. 'daily=7 weekly=4 monthly=12': the newest backup of each of the last N days, weeks, months (UTC); empty means none."),

	/* restored copies (issue 11; src/core/copyguard.h) */
	STRING_SETTING("copy_of", copy_of, "", check_repository, 0,
				   "Set by tbdr restore --as copy: the repository this server was restored from, which it never writes into (no WAL archiving, backups or expiry); empty on a primary."),

	/* base backups (issue 4; src/core/backup.h, src/backend/backup_worker.c) */
	STRING_SETTING("backup_schedule", backup_schedule, "0 2 * * *", check_backup_schedule, 0,
				   "When base backups run, in cron syntax (minute hour day month weekday, server time zone); empty disables."),
	BOOL_SETTING("backup_catchup", backup_catchup, 1,
				 "Run one base backup at start when a scheduled one was missed while the server was down."),
	INT_SETTING("backup_part_size", backup_part_size, 256, 1, 65536, TBDR_SETTING_UNIT_MB,
				"Size of the parts a base backup's files are grouped into (each a compressed tar object)."),
	INT_SETTING("backup_parallel", backup_parallel, 2, 1, 64, 0,
				"Parts of a base backup written at once, each by its own background worker (\"tbdr backup writer\"); each part is also uploaded in tbdr.s3_parallel pieces at once."),
	INT_SETTING("backup_max_rate", backup_max_rate, 0, 0, 1000000, 0,
				"Most data a base backup reads per second, in MB, all its writers together (to spare a busy server's disks and CPU); 0 means no limit."),
	INT_SETTING("backup_archive_timeout", backup_archive_timeout, 300, 1, 86400, TBDR_SETTING_UNIT_S,
				"How long a base backup waits for the WAL it needs to be archived before it fails."),
};

const int	tbdr_num_settings = lengthof(tbdr_settings);

/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */

static char **
string_field(TbdrConfig *cfg, const TbdrSetting *s)
{
	return (char **) ((char *) cfg + s->offset);
}

static int *
int_field(TbdrConfig *cfg, const TbdrSetting *s)
{
	return (int *) ((char *) cfg + s->offset);
}

static bool *
bool_field(TbdrConfig *cfg, const TbdrSetting *s)
{
	return (bool *) ((char *) cfg + s->offset);
}

static bool
has_control_or_space(const char *value)
{
	for (const unsigned char *p = (const unsigned char *) value; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return true;
	return false;
}

const TbdrSetting *
tbdr_setting_find(const char *name)
{
	if (name == NULL)
		return NULL;
	if (pg_strncasecmp(name, "tbdr.", 5) == 0)
		name += 5;
	for (int i = 0; i < tbdr_num_settings; i++)
		if (pg_strcasecmp(tbdr_settings[i].name, name) == 0)
			return &tbdr_settings[i];
	return NULL;
}

void
tbdr_config_set_defaults(TbdrConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (int i = 0; i < tbdr_num_settings; i++)
	{
		const TbdrSetting *s = &tbdr_settings[i];

		switch (s->type)
		{
			case TBDR_SETTING_STRING:
				*string_field(cfg, s) = pstrdup(s->boot_string ? s->boot_string : "");
				break;
			case TBDR_SETTING_BOOL:
				*bool_field(cfg, s) = s->boot_int != 0;
				break;
			case TBDR_SETTING_INT:
			case TBDR_SETTING_ENUM:
				*int_field(cfg, s) = s->boot_int;
				break;
		}
	}
}

/* ---------------------------------------------------------------------
 * Validators of string settings
 * ---------------------------------------------------------------------
 */

/*
 * S3 bucket naming rules (the ones every implementation enforces): 3 to 63
 * characters of lower case letters, digits, dots and hyphens, beginning and
 * ending with a letter or digit, no "..", not an IPv4 address.
 */
static bool
bucket_name_ok(const char *b, const char **why)
{
	size_t		len = strlen(b);
	bool		all_digits_dots = true;
	int			dots = 0;

	if (len < 3 || len > 63)
	{
		*why = "must be 3 to 63 characters long";
		return false;
	}
	for (const char *p = b; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			  *p == '.' || *p == '-'))
		{
			*why = "may contain only lower case letters, digits, dots and hyphens";
			return false;
		}
		if (*p == '.')
			dots++;
		else if (!(*p >= '0' && *p <= '9'))
			all_digits_dots = false;
	}
	if (!isalnum((unsigned char) b[0]) || !isalnum((unsigned char) b[len - 1]))
	{
		*why = "must begin and end with a letter or digit";
		return false;
	}
	if (strstr(b, "..") || strstr(b, ".-") || strstr(b, "-."))
	{
		*why = "must not contain \"..\", \".-\" or \"-.\"";
		return false;
	}
	if (all_digits_dots && dots == 3)
	{
		*why = "must not be formatted as an IP address";
		return false;
	}
	return true;
}

static bool
repo_fail(TbdrError *err, const char *uri, const char *detail)
{
	if (err)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "invalid value for parameter \"tbdr.repository\": \"%s\"", uri);
		tbdr_error_detail(err, "%s", detail);
		tbdr_error_hint(err, "Use s3://bucket/prefix or file:///absolute/path.");
	}
	return false;
}

bool
tbdr_repo_parse(const char *uri, TbdrRepoLocation *loc, TbdrError *err)
{
	memset(loc, 0, sizeof(*loc));
	if (err)
		tbdr_error_clear(err);
	if (uri == NULL || uri[0] == '\0')
	{
		loc->type = TBDR_REPO_NONE;
		return true;
	}

	if (has_control_or_space(uri))
		return repo_fail(err, uri, "tbdr.repository must not contain spaces or control characters.");

	if (pg_strncasecmp(uri, "s3://", 5) == 0)
	{
		const char *rest = uri + 5;
		const char *slash = strchr(rest, '/');
		char	   *bucket;
		const char *why;
		char	   *prefix;
		int			plen;

		bucket = slash ? pnstrdup(rest, slash - rest) : pstrdup(rest);
		if (bucket[0] == '\0')
			return repo_fail(err, uri, "tbdr.repository names no bucket: expected s3://bucket/prefix.");
		if (!bucket_name_ok(bucket, &why))
		{
			char	   *detail = psprintf("The bucket name \"%s\" %s (S3 bucket names are 3 to 63 lower case letters, digits, dots and hyphens).",
										  bucket, why);

			repo_fail(err, uri, detail);
			pfree(detail);
			pfree(bucket);
			return false;
		}
		if (strpbrk(rest, "?#\\%") != NULL)
			return repo_fail(err, uri, "The prefix in tbdr.repository must not contain \"?\", \"#\", \"%\" or \"\\\".");

		/* prefix: without trailing slashes; "a/b" or "" */
		prefix = pstrdup(slash ? slash + 1 : "");
		if (prefix[0] == '/')
			return repo_fail(err, uri, "The prefix in tbdr.repository must not begin with \"/\": use s3://bucket/prefix.");
		plen = strlen(prefix);
		while (plen > 0 && prefix[plen - 1] == '/')
			prefix[--plen] = '\0';
		if (strstr(prefix, "//"))
			return repo_fail(err, uri, "The prefix in tbdr.repository must not contain empty path elements (\"//\").");
		/* "." and ".." elements would name other keys than they seem to */
		for (const char *el = prefix; *el;)
		{
			const char *end = strchr(el, '/');
			size_t		len = end ? (size_t) (end - el) : strlen(el);

			if ((len == 1 && el[0] == '.') || (len == 2 && el[0] == '.' && el[1] == '.'))
				return repo_fail(err, uri, "The prefix in tbdr.repository must not contain \".\" or \"..\" elements.");
			el += len;
			if (*el == '/')
				el++;
		}

		loc->type = TBDR_REPO_S3;
		loc->bucket = bucket;
		loc->prefix = prefix;
		return true;
	}

	if (pg_strncasecmp(uri, "file:", 5) == 0)
	{
		const char *p = uri + 5;
		char	   *path;
		int			plen;

		if (strncmp(p, "//", 2) != 0)
			return repo_fail(err, uri, "A file repository is written file:///absolute/path (three slashes).");
		p += 2;
		if (p[0] != '/')
			return repo_fail(err, uri, "A file repository needs an absolute path: file:///absolute/path (file://host/... and relative paths are not supported).");
		path = pstrdup(p);
		plen = strlen(path);
		while (plen > 1 && path[plen - 1] == '/')
			path[--plen] = '\0';
		loc->type = TBDR_REPO_FILE;
		loc->path = path;
		return true;
	}

	return repo_fail(err, uri, "tbdr.repository must begin with s3:// or file://.");
}

static bool
check_repository(const char *value, char **message)
{
	TbdrError	err;
	TbdrRepoLocation loc;

	if (tbdr_repo_parse(value, &loc, &err))
		return true;
	*message = pstrdup(err.detail);
	return false;
}

/*
 * Is "host[:port]" acceptable?  host is a DNS name or IPv4 address, or an
 * IPv6 address in brackets.
 */
static bool
hostport_ok(const char *hp)
{
	const char *port = NULL;
	const char *host_end;

	if (hp[0] == '[')
	{
		const char *close = strchr(hp, ']');

		if (close == NULL || close == hp + 1)
			return false;
		for (const char *p = hp + 1; p < close; p++)
			if (!(isxdigit((unsigned char) *p) || *p == ':' || *p == '.'))
				return false;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return false;
	}
	else
	{
		const char *colon = strchr(hp, ':');

		host_end = colon ? colon : hp + strlen(hp);
		if (host_end == hp)
			return false;
		for (const char *p = hp; p < host_end; p++)
			if (!(isalnum((unsigned char) *p) || *p == '-' || *p == '.' || *p == '_'))
				return false;
		if (colon)
			port = colon + 1;
	}
	if (port)
	{
		long		n = 0;

		if (*port == '\0' || strlen(port) > 5)
			return false;
		for (const char *p = port; *p; p++)
		{
			if (!isdigit((unsigned char) *p))
				return false;
			n = n * 10 + (*p - '0');
		}
		if (n < 1 || n > 65535)
			return false;
	}
	return true;
}

static bool
check_endpoint(const char *value, char **message)
{
	const char *hp;
	char	   *copy;
	int			len;
	bool		ok;

	if (value[0] == '\0')
		return true;
	if (pg_strncasecmp(value, "https://", 8) == 0)
		hp = value + 8;
	else if (pg_strncasecmp(value, "http://", 7) == 0)
		hp = value + 7;
	else
	{
		*message = pstrdup("tbdr.s3_endpoint must be an http:// or https:// URL, like https://s3.example.com or http://127.0.0.1:9000.");
		return false;
	}
	/* one trailing slash is harmless; anything else after the host is not */
	copy = pstrdup(hp);
	len = strlen(copy);
	if (len > 0 && copy[len - 1] == '/')
		copy[--len] = '\0';
	ok = len > 0 && strpbrk(copy, "/?#@") == NULL && hostport_ok(copy);
	if (!ok)
		*message = pstrdup("tbdr.s3_endpoint must be scheme://host[:port] with no path, query or user name, like https://s3.example.com or http://127.0.0.1:9000; the bucket goes in tbdr.repository.");
	pfree(copy);
	return ok;
}

static bool
check_region(const char *value, char **message)
{
	if (strlen(value) > 64)
	{
		*message = pstrdup("tbdr.s3_region must be at most 64 characters.");
		return false;
	}
	for (const char *p = value; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '-' || *p == '_' || *p == '.'))
		{
			*message = pstrdup("tbdr.s3_region may contain only letters, digits, \"-\", \"_\" and \".\", like eu-west-1.");
			return false;
		}
	return true;
}

static bool
check_access_key_id(const char *value, char **message)
{
	if (has_control_or_space(value))
	{
		*message = pstrdup("tbdr.s3_access_key_id must not contain spaces or control characters.");
		return false;
	}
	return true;
}

static bool
check_absolute_path(const char *value, const char *name, char **message)
{
	if (value[0] == '\0' || is_absolute_path(value))
		return true;
	*message = psprintf("tbdr.%s must be an absolute path (or empty), since the server and the tbdr program run in different directories.", name);
	return false;
}

static bool
check_credentials_file(const char *value, char **message)
{
	return check_absolute_path(value, "s3_credentials_file", message);
}

static bool
check_ca_file(const char *value, char **message)
{
	return check_absolute_path(value, "s3_ca_file", message);
}

static bool
check_encryption_key_file(const char *value, char **message)
{
	return check_absolute_path(value, "encryption_key_file", message);
}

static bool
check_database(const char *value, char **message)
{
	if (value[0] == '\0' || strlen(value) >= 64)
	{
		*message = pstrdup("tbdr.database must be the name of a database (1 to 63 bytes).");
		return false;
	}
	return true;
}

static bool
check_storage_class(const char *value, char **message)
{
	StringInfoData buf;

	if (value[0] == '\0')
		return true;
	for (int i = 0; storage_classes[i]; i++)
		if (strcmp(value, storage_classes[i]) == 0)
			return true;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "tbdr.s3_storage_class must be empty or one of");
	for (int i = 0; storage_classes[i]; i++)
		appendStringInfo(&buf, "%s %s", i ? "," : "", storage_classes[i]);
	appendStringInfoString(&buf, " (upper case, as S3 spells them).");
	*message = buf.data;
	return false;
}

/* ---------------------------------------------------------------------
 * Setting a value from text
 * ---------------------------------------------------------------------
 */

/* GUC's boolean spellings: on/off, true/false, yes/no, 1/0, prefixes. */
static bool
parse_bool_text(const char *value, bool *result)
{
	size_t		len = strlen(value);

	if (len == 0)
		return false;
	if (pg_strncasecmp(value, "true", len) == 0 ||
		pg_strncasecmp(value, "yes", len) == 0 ||
		(len >= 2 && pg_strncasecmp(value, "on", len) == 0) ||
		strcmp(value, "1") == 0)
	{
		*result = true;
		return true;
	}
	if (pg_strncasecmp(value, "false", len) == 0 ||
		pg_strncasecmp(value, "no", len) == 0 ||
		(len >= 2 && pg_strncasecmp(value, "off", len) == 0) ||
		strcmp(value, "0") == 0)
	{
		*result = false;
		return true;
	}
	return false;
}

typedef struct UnitDef
{
	const char *name;
	double		factor;			/* to the setting's base unit */
} UnitDef;

/* Case-sensitive like GUC's (MB vs mb matters elsewhere). */
static const UnitDef unit_s[] = {
	{"ms", 0.001}, {"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}, {NULL, 0}
};
static const UnitDef unit_mb[] = {
	{"kB", 1.0 / 1024}, {"MB", 1}, {"GB", 1024}, {"TB", 1024 * 1024}, {NULL, 0}
};

/*
 * An integer, optionally with a unit of the setting's kind, rounded to the
 * base unit as GUC does.
 */
static bool
parse_int_text(const char *value, const TbdrSetting *s, int *result)
{
	char	   *end;
	double		val;
	const UnitDef *units = NULL;

	errno = 0;
	val = strtod(value, &end);
	if (end == value || errno == ERANGE || isnan(val) || isinf(val))
		return false;
	/* only a plain integer, or a number with a unit, as GUC */
	while (isspace((unsigned char) *end))
		end++;
	if (*end != '\0')
	{
		if (s->flags & TBDR_SETTING_UNIT_S)
			units = unit_s;
		else if (s->flags & TBDR_SETTING_UNIT_MB)
			units = unit_mb;
		if (units == NULL)
			return false;
		for (; units->name; units++)
		{
			size_t		ulen = strlen(units->name);

			if (strncmp(end, units->name, ulen) == 0)
			{
				const char *after = end + ulen;

				while (isspace((unsigned char) *after))
					after++;
				if (*after == '\0')
					break;
			}
		}
		if (units->name == NULL)
			return false;
		val *= units->factor;
	}
	else
	{
		/* a unitless value must be an integer */
		if (strpbrk(value, ".eE") != NULL)
			return false;
	}
	val = rint(val);
	if (val > INT_MAX || val < INT_MIN)
		return false;
	*result = (int) val;
	return true;
}

static const char *
unit_name(const TbdrSetting *s)
{
	if (s->flags & TBDR_SETTING_UNIT_S)
		return "s";
	if (s->flags & TBDR_SETTING_UNIT_MB)
		return "MB";
	return "";
}

static char *
enum_names(const TbdrSetting *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const TbdrEnumValue *e = s->enum_values; e->name; e++)
		appendStringInfo(&buf, "%s%s", e == s->enum_values ? "" : ", ", e->name);
	return buf.data;
}

static void
set_invalid(TbdrError *err, const TbdrSetting *s, const char *value)
{
	if (s->flags & TBDR_SETTING_SECRET)
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "invalid value for parameter \"tbdr.%s\"", s->name);
	else
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "invalid value for parameter \"tbdr.%s\": \"%s\"", s->name, value);
}

bool
tbdr_config_set(TbdrConfig *cfg, const char *name, const char *value,
				TbdrError *err)
{
	const TbdrSetting *s = tbdr_setting_find(name);

	tbdr_error_clear(err);
	if (s == NULL)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "unrecognized configuration parameter \"%s%s\"",
					   pg_strncasecmp(name, "tbdr.", 5) == 0 ? "" : "tbdr.", name);
		return false;
	}
	if (value == NULL)
		value = "";

	switch (s->type)
	{
		case TBDR_SETTING_STRING:
			{
				char	   *message = NULL;

				if (s->check && !s->check(value, &message))
				{
					set_invalid(err, s, value);
					tbdr_error_detail(err, "%s", message);
					pfree(message);
					return false;
				}

				/*
				 * The old string is not freed: in the server it may belong
				 * to the GUC machinery, and the CLI sets few values once.
				 */
				*string_field(cfg, s) = pstrdup(value);
				return true;
			}
		case TBDR_SETTING_BOOL:
			{
				bool		b;

				if (!parse_bool_text(value, &b))
				{
					set_invalid(err, s, value);
					tbdr_error_detail(err, "tbdr.%s is a boolean: on or off (also true/false, yes/no, 1/0).", s->name);
					return false;
				}
				*bool_field(cfg, s) = b;
				return true;
			}
		case TBDR_SETTING_INT:
			{
				int			n;

				if (!parse_int_text(value, s, &n))
				{
					set_invalid(err, s, value);
					if (s->flags & TBDR_SETTING_UNIT_S)
						tbdr_error_detail(err, "tbdr.%s is an integer number of seconds from %d to %d; the units ms, s, min, h and d are accepted.",
										  s->name, s->min_value, s->max_value);
					else if (s->flags & TBDR_SETTING_UNIT_MB)
						tbdr_error_detail(err, "tbdr.%s is an integer number of megabytes from %d to %d; the units kB, MB, GB and TB are accepted.",
										  s->name, s->min_value, s->max_value);
					else
						tbdr_error_detail(err, "tbdr.%s is an integer from %d to %d.",
										  s->name, s->min_value, s->max_value);
					return false;
				}
				if (n < s->min_value || n > s->max_value)
				{
					set_invalid(err, s, value);
					tbdr_error_detail(err, "%d%s is outside the valid range for parameter \"tbdr.%s\" (%d .. %d%s).",
									  n, unit_name(s), s->name,
									  s->min_value, s->max_value, unit_name(s));
					return false;
				}
				*int_field(cfg, s) = n;
				return true;
			}
		case TBDR_SETTING_ENUM:
			{
				for (const TbdrEnumValue *e = s->enum_values; e->name; e++)
					if (pg_strcasecmp(e->name, value) == 0)
					{
						*int_field(cfg, s) = e->value;
						return true;
					}
				set_invalid(err, s, value);
				tbdr_error_detail(err, "Available values for tbdr.%s: %s.", s->name, enum_names(s));
				return false;
			}
	}
	tbdr_error_set(err, TBDR_ERR_INTERNAL, "setting \"tbdr.%s\" has an unknown type", s->name);
	return false;
}

static bool
config_has_key(const TbdrConfig *cfg)
{
	return cfg->encryption_key_file && cfg->encryption_key_file[0] != '\0';
}

bool
tbdr_config_require_encryption(const TbdrConfig *cfg)
{
	return config_has_key(cfg) && !cfg->allow_unauthenticated_reads;
}

const char *
tbdr_config_unauthenticated_warning(const TbdrConfig *cfg)
{
	if (!config_has_key(cfg) || !cfg->allow_unauthenticated_reads)
		return NULL;
	return "tbdr.allow_unauthenticated_reads is on: unencrypted and format version 1 objects are read although tbdr.encryption_key_file is set, "
		"so anyone with write access to the bucket can substitute backups and WAL; "
		"turn it off as soon as the objects stored before encryption (or before format version 2) have expired";
}

char *
tbdr_config_show(const TbdrConfig *cfg, const TbdrSetting *s)
{
	TbdrConfig *c = (TbdrConfig *) cfg;

	switch (s->type)
	{
		case TBDR_SETTING_STRING:
			{
				const char *v = *string_field(c, s);

				if (v == NULL)
					v = "";
				if ((s->flags & TBDR_SETTING_SECRET) && v[0] != '\0')
					return pstrdup(SECRET_MASK);
				return pstrdup(v);
			}
		case TBDR_SETTING_BOOL:
			return pstrdup(*bool_field(c, s) ? "on" : "off");
		case TBDR_SETTING_INT:
			return psprintf("%d%s", *int_field(c, s), unit_name(s));
		case TBDR_SETTING_ENUM:
			for (const TbdrEnumValue *e = s->enum_values; e->name; e++)
				if (e->value == *int_field(c, s))
					return pstrdup(e->name);
			return psprintf("%d", *int_field(c, s));
	}
	return pstrdup("");
}

/* ---------------------------------------------------------------------
 * The configuration file reader (postgresql.conf syntax)
 * ---------------------------------------------------------------------
 */

static bool load_file(TbdrConfig *cfg, const char *path, bool missing_ok,
					  int depth, TbdrError *err);

/* Where a line came from, appended to messages. */
static void
add_location(TbdrError *err, const char *path, int line)
{
	size_t		len = strlen(err->message);

	snprintf(err->message + len, sizeof(err->message) - len,
			 " in file \"%s\" line %d", path, line);
}

static void
syntax_error(TbdrError *err, const char *path, int line, const char *what)
{
	tbdr_error_set(err, TBDR_ERR_CONFIG, "syntax error in file \"%s\" line %d: %s",
				   path, line, what);
}

/* A path named in an include directive, relative to the including file. */
static char *
include_path(const char *including, const char *target)
{
	char	   *dir;
	char	   *slash;

	if (is_absolute_path(target))
		return pstrdup(target);
	dir = pstrdup(including);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return pstrdup(target);
	*slash = '\0';
	return psprintf("%s/%s", dir[0] ? dir : "", target);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* include_dir: every *.conf file not starting with ".", in name order. */
static bool
load_dir(TbdrConfig *cfg, const char *dirpath, int depth, TbdrError *err)
{
	DIR		   *dir;
	struct dirent *de;
	char	  **names = NULL;
	int			n = 0,
				cap = 0;
	bool		ok = true;

	dir = opendir(dirpath);
	if (dir == NULL)
	{
		tbdr_error_errno(err, "could not open configuration directory \"%s\"", dirpath);
		return false;
	}
	while ((de = readdir(dir)) != NULL)
	{
		size_t		len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		if (n == cap)
		{
			cap = cap ? cap * 2 : 16;
			names = names ? repalloc(names, cap * sizeof(char *)) : palloc(cap * sizeof(char *));
		}
		names[n++] = psprintf("%s/%s", dirpath, de->d_name);
	}
	closedir(dir);
	if (n > 1)
		qsort(names, n, sizeof(char *), cmp_names);
	for (int i = 0; i < n && ok; i++)
	{
		struct stat st;

		if (stat(names[i], &st) == 0 && S_ISDIR(st.st_mode))
			continue;
		ok = load_file(cfg, names[i], false, depth + 1, err);
	}
	for (int i = 0; i < n; i++)
		pfree(names[i]);
	if (names)
		pfree(names);
	return ok;
}

/*
 * Parse one value starting at *pp: a single-quoted string with '' and
 * backslash escapes, or a bare word ending at white space or #.  Returns
 * NULL with *what set on a syntax error.
 */
static char *
parse_value(const char **pp, const char **what)
{
	const char *p = *pp;
	StringInfoData buf;

	initStringInfo(&buf);
	if (*p == '\'')
	{
		p++;
		for (;;)
		{
			if (*p == '\0' || *p == '\n' || *p == '\r')
			{
				*what = "unterminated quoted string";
				pfree(buf.data);
				return NULL;
			}
			if (*p == '\'')
			{
				if (p[1] == '\'')
				{
					appendStringInfoChar(&buf, '\'');
					p += 2;
					continue;
				}
				p++;
				break;
			}
			if (*p == '\\')
			{
				p++;
				switch (*p)
				{
					case 'b':
						appendStringInfoChar(&buf, '\b');
						p++;
						break;
					case 'f':
						appendStringInfoChar(&buf, '\f');
						p++;
						break;
					case 'n':
						appendStringInfoChar(&buf, '\n');
						p++;
						break;
					case 'r':
						appendStringInfoChar(&buf, '\r');
						p++;
						break;
					case 't':
						appendStringInfoChar(&buf, '\t');
						p++;
						break;
					case '0':
					case '1':
					case '2':
					case '3':
					case '4':
					case '5':
					case '6':
					case '7':
						{
							int			v = 0;

							for (int k = 0; k < 3 && *p >= '0' && *p <= '7'; k++, p++)
								v = v * 8 + (*p - '0');
							appendStringInfoChar(&buf, (char) v);
							break;
						}
					case '\0':
					case '\n':
					case '\r':
						*what = "unterminated quoted string";
						pfree(buf.data);
						return NULL;
					default:
						appendStringInfoChar(&buf, *p);
						p++;
						break;
				}
				continue;
			}
			appendStringInfoChar(&buf, *p++);
		}
	}
	else
	{
		while (*p && !isspace((unsigned char) *p) && *p != '#')
		{
			if (*p == '\'')
			{
				*what = "unexpected quote in unquoted value";
				pfree(buf.data);
				return NULL;
			}
			appendStringInfoChar(&buf, *p++);
		}
		if (buf.len == 0)
		{
			*what = "missing value";
			pfree(buf.data);
			return NULL;
		}
	}
	*pp = p;
	return buf.data;
}

/* The end of a parameter name: letters, digits, _, $ and . (qualified). */
static const char *
name_end(const char *p)
{
	while (isalnum((unsigned char) *p) || *p == '_' || *p == '$' || *p == '.' ||
		   (unsigned char) *p >= 0x80)
		p++;
	return p;
}

/* Handle one line; false on error (err filled). */
static bool
process_line(TbdrConfig *cfg, const char *path, int lineno, const char *line,
			 int depth, TbdrError *err)
{
	const char *p = line;
	const char *name_start;
	char	   *name;
	char	   *value;
	const char *what = NULL;
	bool		ok;

	while (isspace((unsigned char) *p))
		p++;
	if (*p == '\0' || *p == '#')
		return true;

	/* a name: letters, digits, _, $ and . (qualified names) */
	name_start = p;
	if (!(isalpha((unsigned char) *p) || *p == '_' || (unsigned char) *p >= 0x80))
	{
		syntax_error(err, path, lineno, "expected a parameter name");
		return false;
	}
	p = name_end(p);
	name = pnstrdup(name_start, p - name_start);

	while (isspace((unsigned char) *p))
		p++;
	if (*p == '=')
	{
		p++;
		while (isspace((unsigned char) *p))
			p++;
	}
	else if (p == name_start + strlen(name))
	{
		/* "name value" needs white space between them */
		syntax_error(err, path, lineno, "expected \"=\" or white space after the parameter name");
		return false;
	}

	value = parse_value(&p, &what);
	if (value == NULL)
	{
		syntax_error(err, path, lineno, what);
		return false;
	}
	while (isspace((unsigned char) *p))
		p++;
	if (*p != '\0' && *p != '#')
	{
		syntax_error(err, path, lineno, "unexpected text after the value");
		return false;
	}

	if (pg_strcasecmp(name, "include") == 0 ||
		pg_strcasecmp(name, "include_if_exists") == 0 ||
		pg_strcasecmp(name, "include_dir") == 0)
	{
		char	   *target = include_path(path, value);

		if (depth + 1 > TBDR_CONF_MAX_DEPTH)
		{
			tbdr_error_set(err, TBDR_ERR_CONFIG,
						   "could not open configuration file \"%s\": maximum nesting depth exceeded",
						   target);
			add_location(err, path, lineno);
			tbdr_error_hint(err, "Check for an include loop.");
			return false;
		}
		if (pg_strcasecmp(name, "include_dir") == 0)
			ok = load_dir(cfg, target, depth, err);
		else
			ok = load_file(cfg, target,
						   pg_strcasecmp(name, "include_if_exists") == 0,
						   depth + 1, err);
		if (!ok && err->message[0] && strstr(err->message, " in file \"") == NULL)
			add_location(err, path, lineno);
		pfree(target);
		return ok;
	}

	if (pg_strncasecmp(name, "tbdr.", 5) != 0)
		return true;			/* someone else's setting */

	if (tbdr_setting_find(name) == NULL)
	{
		StringInfoData known;

		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "unrecognized configuration parameter \"%s\" in file \"%s\" line %d",
					   name, path, lineno);
		initStringInfo(&known);
		for (int i = 0; i < tbdr_num_settings; i++)
			appendStringInfo(&known, "%s%s", i ? ", " : "", tbdr_settings[i].name);
		tbdr_error_hint(err, "tbdr settings are: %s.", known.data);
		pfree(known.data);
		return false;
	}
	ok = tbdr_config_set(cfg, name, value, err);
	if (!ok)
		add_location(err, path, lineno);
	pfree(value);
	pfree(name);
	return ok;
}

static bool
load_file(TbdrConfig *cfg, const char *path, bool missing_ok, int depth,
		  TbdrError *err)
{
	FILE	   *fp;
	StringInfoData line;
	int			lineno = 0;
	bool		ok = true;
	int			c;

	if (depth > TBDR_CONF_MAX_DEPTH)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "could not open configuration file \"%s\": maximum nesting depth exceeded", path);
		tbdr_error_hint(err, "Check for an include loop.");
		return false;
	}
	fp = fopen(path, "r");
	if (fp == NULL)
	{
		if (errno == ENOENT && missing_ok)
			return true;
		tbdr_error_errno(err, "could not open configuration file \"%s\"", path);
		if (err->code == TBDR_ERR_NOT_FOUND)
			err->code = TBDR_ERR_CONFIG;
		return false;
	}

	initStringInfo(&line);
	while (ok)
	{
		resetStringInfo(&line);
		while ((c = getc(fp)) != EOF && c != '\n')
			appendStringInfoChar(&line, (char) c);
		if (c == EOF && line.len == 0)
			break;
		lineno++;
		if (line.len > 0 && line.data[line.len - 1] == '\r')
			line.data[--line.len] = '\0';
		if (memchr(line.data, '\0', line.len) != NULL)
		{
			syntax_error(err, path, lineno, "NUL character");
			ok = false;
			break;
		}
		ok = process_line(cfg, path, lineno, line.data, depth, err);
		if (c == EOF)
			break;
	}
	if (ok && ferror(fp))
	{
		tbdr_error_errno(err, "could not read configuration file \"%s\"", path);
		ok = false;
	}
	fclose(fp);
	pfree(line.data);
	return ok;
}

bool
tbdr_config_load_file(TbdrConfig *cfg, const char *path, bool missing_ok,
					  TbdrError *err)
{
	tbdr_error_clear(err);
	return load_file(cfg, path, missing_ok, 0, err);
}

/* tbdr.retention_policy: the rules of src/core/expire.c */
static bool
check_retention_policy(const char *value, char **message)
{
	TbdrRetentionPolicy policy;
	TbdrError	err;

	if (tbdr_retention_policy_parse(value, &policy, &err))
		return true;
	*message = psprintf("%s. %s", err.message, err.hint);
	return false;
}

/* tbdr.backup_schedule: "" (disabled) or a schedule of src/core/cron.h */
static bool
check_backup_schedule(const char *value, char **message)
{
	TbdrCron	cron;
	TbdrError	err;

	if (value == NULL || value[0] == '\0')
		return true;
	tbdr_error_clear(&err);
	if (tbdr_cron_parse(value, &cron, &err))
		return true;
	*message = pstrdup(err.message);
	return false;
}

/*
 * The secret setting a line of a configuration file sets, or NULL.  Only
 * the name matters: the value of a secret line is what must go, whatever
 * its syntax.
 */
static const TbdrSetting *
secret_line(const char *line, size_t len)
{
	char	   *copy = pnstrdup(line, len);	/* data need not end in NUL */
	char	   *p = copy;
	const TbdrSetting *s = NULL;

	while (*p == ' ' || *p == '\t')
		p++;
	if (pg_strncasecmp(p, "tbdr.", 5) == 0)
	{
		*(char *) name_end(p) = '\0';
		s = tbdr_setting_find(p);
	}
	pfree(copy);
	return (s && (s->flags & TBDR_SETTING_SECRET)) ? s : NULL;
}

int
tbdr_config_redact(const char *data, size_t len, StringInfo out,
				   const char **first)
{
	const char *p = data;
	const char *end = data + len;
	int			n = 0;

	if (first)
		*first = NULL;
	while (p < end)
	{
		const char *nl = memchr(p, '\n', end - p);
		size_t		linelen = nl ? (size_t) (nl - p) : (size_t) (end - p);
		const TbdrSetting *s = secret_line(p, linelen);

		if (s)
		{
			appendStringInfo(out, "# tbdr.%s: " TBDR_REDACTED_NOTE "\n", s->name);
			if (first && *first == NULL)
				*first = s->name;
			n++;
		}
		else
		{
			appendBinaryStringInfo(out, p, linelen);
			if (nl)
				appendStringInfoChar(out, '\n');
		}
		p += linelen + (nl ? 1 : 0);
	}
	return n;
}

int
tbdr_config_redact_file(const char *path, size_t max_len, StringInfo out,
						const char **first, TbdrError *err)
{
	int			fd = open(path, O_RDONLY | PG_BINARY, 0);
	char	   *buf;
	ssize_t		len;
	int			n;

	if (fd < 0)
	{
		tbdr_error_errno(err, "could not open \"%s\"", path);
		if (errno == ENOENT)
			err->code = TBDR_ERR_NOT_FOUND;
		return -1;
	}
	buf = palloc(max_len + 1);
	len = read(fd, buf, max_len + 1);
	if (len < 0 || (size_t) len > max_len)
	{
		if (len < 0)
			tbdr_error_errno(err, "could not read \"%s\"", path);
		else
			tbdr_error_set(err, TBDR_ERR_IO, "configuration file \"%s\" is larger than %zu bytes",
						   path, max_len);
		close(fd);
		pfree(buf);
		return -1;
	}
	close(fd);
	n = tbdr_config_redact(buf, len, out, first);
	pfree(buf);
	return n;
}
