/*-------------------------------------------------------------------------
 * repo.c
 *	  Repository layout: key names and the identity object (see repo.h and
 *	  docs/LAYOUT.md).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <errno.h>
#include <limits.h>
#include <time.h>

#include "common/jsonapi.h"
#include "lib/stringinfo.h"

#include "core/manifest.h"
#include "core/pg_compat.h"
#include "core/repo.h"

/* tbdr.json is a few hundred bytes; refuse to read anything much larger. */
#define IDENTITY_MAX_LEN	65536

static bool
all_hex(const char *s, int n)
{
	for (int i = 0; i < n; i++)
	{
		char		c = s[i];

		/* PostgreSQL writes upper-case hex only. */
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

TbdrWalFileKind
tbdr_wal_file_kind(const char *name)
{
	size_t		len = strlen(name);

	if (len == 24 && all_hex(name, 24))
		return TBDR_WAL_SEGMENT;
	if (len == 24 + 8 && all_hex(name, 24) && strcmp(name + 24, ".partial") == 0)
		return TBDR_WAL_PARTIAL;
	if (len == 24 + 1 + 8 + 7 && all_hex(name, 24) && name[24] == '.' &&
		all_hex(name + 25, 8) && strcmp(name + 33, ".backup") == 0)
		return TBDR_WAL_BACKUP_HISTORY;
	if (len == 8 + 8 && all_hex(name, 8) && strcmp(name + 8, ".history") == 0)
		return TBDR_WAL_TIMELINE_HISTORY;
	return TBDR_WAL_INVALID;
}

char *
tbdr_repo_wal_key(const char *name, TbdrError *err)
{
	switch (tbdr_wal_file_kind(name))
	{
		case TBDR_WAL_SEGMENT:
		case TBDR_WAL_PARTIAL:
		case TBDR_WAL_BACKUP_HISTORY:
			return psprintf(TBDR_REPO_WAL_PREFIX "%.16s/%s", name, name);
		case TBDR_WAL_TIMELINE_HISTORY:
			return psprintf(TBDR_REPO_WAL_PREFIX "%s", name);
		case TBDR_WAL_INVALID:
			break;
	}
	tbdr_error_set(err, TBDR_ERR_CONFIG,
				   "\"%s\" is not the name of a WAL segment, partial segment, backup history or timeline history file",
				   name);
	tbdr_error_hint(err, "Pass the file name as PostgreSQL gives it (%%f), e.g. 000000010000000000000001.");
	return NULL;
}

char *
tbdr_repo_gap_key(const char *name, TbdrError *err)
{
	if (tbdr_wal_file_kind(name) == TBDR_WAL_SEGMENT)
		return psprintf(TBDR_REPO_GAP_PREFIX "%s", name);
	tbdr_error_set(err, TBDR_ERR_CONFIG,
				   "\"%s\" is not the name of a WAL segment", name);
	return NULL;
}

char *
tbdr_repo_walsum_key(const char *name, TbdrError *err)
{
	if (tbdr_wal_file_kind(name) == TBDR_WAL_SEGMENT)
		return psprintf(TBDR_REPO_WALSUM_PREFIX "%.16s/%s", name, name);
	tbdr_error_set(err, TBDR_ERR_CONFIG,
				   "\"%s\" is not the name of a WAL segment", name);
	return NULL;
}

char *
tbdr_repo_walsum_name(const char *key)
{
	const char *rest;

	if (strncmp(key, TBDR_REPO_WALSUM_PREFIX, strlen(TBDR_REPO_WALSUM_PREFIX)) != 0)
		return NULL;
	rest = key + strlen(TBDR_REPO_WALSUM_PREFIX);
	if (strlen(rest) != 16 + 1 + 24 || rest[16] != '/' ||
		strncmp(rest, rest + 17, 16) != 0 ||
		tbdr_wal_file_kind(rest + 17) != TBDR_WAL_SEGMENT)
		return NULL;
	return pstrdup(rest + 17);
}

char *
tbdr_repo_wal_name(const char *key)
{
	const char *rest;
	const char *slash;

	if (strncmp(key, TBDR_REPO_WAL_PREFIX, strlen(TBDR_REPO_WAL_PREFIX)) != 0)
		return NULL;
	rest = key + strlen(TBDR_REPO_WAL_PREFIX);
	slash = strchr(rest, '/');
	if (slash == NULL)
	{
		if (tbdr_wal_file_kind(rest) == TBDR_WAL_TIMELINE_HISTORY)
			return pstrdup(rest);
		return NULL;
	}
	/* wal/<16 hex>/<name>, with the folder matching the name */
	if (slash - rest != 16 || strncmp(rest, slash + 1, 16) != 0)
		return NULL;
	switch (tbdr_wal_file_kind(slash + 1))
	{
		case TBDR_WAL_SEGMENT:
		case TBDR_WAL_PARTIAL:
		case TBDR_WAL_BACKUP_HISTORY:
			return pstrdup(slash + 1);
		default:
			return NULL;
	}
}

/* ---------------------------------------------------------------------
 * Base backup keys
 * ---------------------------------------------------------------------
 */

char *
tbdr_repo_backup_prefix(const char *id)
{
	return psprintf(TBDR_REPO_BACKUP_PREFIX "%s/", id);
}

char *
tbdr_repo_backup_key(const char *id, const char *name)
{
	return psprintf(TBDR_REPO_BACKUP_PREFIX "%s/%s", id, name);
}

char *
tbdr_repo_backup_part_key(const char *id, int part)
{
	return psprintf(TBDR_REPO_BACKUP_PREFIX "%s/part-%06d", id, part);
}

bool
tbdr_repo_backup_key_id(const char *key, char *id, const char **rest)
{
	size_t		plen = strlen(TBDR_REPO_BACKUP_PREFIX);
	int64		t;

	if (strncmp(key, TBDR_REPO_BACKUP_PREFIX, plen) != 0 ||
		strlen(key) < plen + TBDR_BACKUP_ID_LEN + 1 ||
		key[plen + TBDR_BACKUP_ID_LEN] != '/')
		return false;
	memcpy(id, key + plen, TBDR_BACKUP_ID_LEN);
	id[TBDR_BACKUP_ID_LEN] = '\0';
	if (!tbdr_backup_id_parse(id, &t))
		return false;
	if (rest)
		*rest = key + plen + TBDR_BACKUP_ID_LEN + 1;
	return true;
}

/* ---------------------------------------------------------------------
 * The identity object
 * ---------------------------------------------------------------------
 */

static char *
identity_to_json(const TbdrRepoIdentity *id)
{
	/* system_identifier as a string: it does not fit a JSON double */
	return psprintf("{\n"
					"  \"format\": \"tbdr\",\n"
					"  \"format_version\": %d,\n"
					"  \"system_identifier\": \"" UINT64_FORMAT "\",\n"
					"  \"pg_version\": %d,\n"
					"  \"created_at\": \"%s\"\n"
					"}\n",
					id->format_version, id->system_identifier, id->pg_major,
					id->created_at);
}

typedef struct IdentityParse
{
	TbdrRepoIdentity *id;
	int			depth;
	char	   *field;			/* current top-level field */
	bool		have_format;
	bool		have_sysid;
	bool		have_version;
	bool		bad;
} IdentityParse;

static TBDR_JSON_CB_RETURN_TYPE
identity_object_start(void *state)
{
	((IdentityParse *) state)->depth++;
	TBDR_JSON_CB_RETURN;
}

static TBDR_JSON_CB_RETURN_TYPE
identity_object_end(void *state)
{
	((IdentityParse *) state)->depth--;
	TBDR_JSON_CB_RETURN;
}

static TBDR_JSON_CB_RETURN_TYPE
identity_field_start(void *state, char *fname, bool isnull)
{
	IdentityParse *p = (IdentityParse *) state;

	if (p->depth == 1)
	{
		if (p->field)
			pfree(p->field);
		p->field = pstrdup(fname);
	}
	TBDR_JSON_CB_RETURN;
}

static TBDR_JSON_CB_RETURN_TYPE
identity_scalar(void *state, char *token, JsonTokenType tokentype)
{
	IdentityParse *p = (IdentityParse *) state;
	char	   *end;
	long		v;
	unsigned long long u;

	if (p->depth != 1 || p->field == NULL)
		TBDR_JSON_CB_RETURN;

	if (strcmp(p->field, "format_version") == 0)
	{
		errno = 0;
		v = strtol(token, &end, 10);
		if (tokentype != JSON_TOKEN_NUMBER || errno != 0 || *end != '\0' ||
			v <= 0 || v > INT_MAX)
			p->bad = true;
		else
		{
			p->id->format_version = (int) v;
			p->have_format = true;
		}
	}
	else if (strcmp(p->field, "system_identifier") == 0)
	{
		errno = 0;
		u = strtoull(token, &end, 10);
		if (tokentype != JSON_TOKEN_STRING || errno != 0 || *end != '\0' ||
			token[0] < '0' || token[0] > '9')
			p->bad = true;
		else
		{
			p->id->system_identifier = (uint64) u;
			p->have_sysid = true;
		}
	}
	else if (strcmp(p->field, "pg_version") == 0)
	{
		errno = 0;
		v = strtol(token, &end, 10);
		if (tokentype != JSON_TOKEN_NUMBER || errno != 0 || *end != '\0' ||
			v <= 0 || v > 1000)
			p->bad = true;
		else
		{
			p->id->pg_major = (int) v;
			p->have_version = true;
		}
	}
	else if (strcmp(p->field, "created_at") == 0 &&
			 tokentype == JSON_TOKEN_STRING)
		strlcpy(p->id->created_at, token, sizeof(p->id->created_at));
	TBDR_JSON_CB_RETURN;
}

static bool
identity_from_json(char *json, size_t len, TbdrRepoIdentity *id,
				   TbdrError *err)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	IdentityParse p;
	JsonParseErrorType rc;

	memset(id, 0, sizeof(*id));
	memset(&p, 0, sizeof(p));
	p.id = id;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &p;
	sem.object_start = identity_object_start;
	sem.object_end = identity_object_end;
	sem.object_field_start = identity_field_start;
	sem.scalar = identity_scalar;

	lex = tbdr_json_lex_create(json, len);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "repository identity \"%s\" is not valid JSON (parse error %d near byte %d)",
					   TBDR_REPO_IDENTITY_KEY, (int) rc,
					   (int) (lex->token_start ? lex->token_start - json : 0));
	tbdr_json_lex_free(lex);
	if (rc != JSON_SUCCESS)
		goto fail;
	if (p.bad || !p.have_format || !p.have_sysid || !p.have_version)
	{
		tbdr_error_set(err, TBDR_ERR_CORRUPT,
					   "repository identity \"%s\" lacks or has an invalid format_version, system_identifier or pg_version",
					   TBDR_REPO_IDENTITY_KEY);
		goto fail;
	}
	if (p.field)
		pfree(p.field);
	return true;

fail:
	tbdr_error_hint(err, "The object was not written by tbdr or was damaged; point tbdr.repository at another prefix or repair the object.");
	if (p.field)
		pfree(p.field);
	return false;
}

int
tbdr_repo_identity_read(TbdrStorage *st, TbdrRepoIdentity *id, TbdrError *err)
{
	char	   *data = NULL;
	size_t		len = 0;
	bool		ok;

	if (!tbdr_storage_get_buffer(st, TBDR_REPO_IDENTITY_KEY, IDENTITY_MAX_LEN,
								 &data, &len, err))
	{
		if (err->code == TBDR_ERR_NOT_FOUND)
		{
			tbdr_error_clear(err);
			return 0;
		}
		tbdr_error_prefix(err, "could not read repository identity \"%s\": ",
						  TBDR_REPO_IDENTITY_KEY);
		return -1;
	}
	ok = identity_from_json(data, len, id, err);
	if (data)
		pfree(data);
	return ok ? 1 : -1;
}

static bool
identity_matches(TbdrStorage *st, const TbdrRepoIdentity *id,
				 uint64 system_identifier, int pg_major, TbdrError *err)
{
	if (id->format_version > TBDR_REPO_FORMAT_VERSION)
	{
		tbdr_error_set(err, TBDR_ERR_CONFLICT,
					   "repository %s has format version %d, this tbdr understands up to %d",
					   tbdr_storage_describe(st), id->format_version,
					   TBDR_REPO_FORMAT_VERSION);
		tbdr_error_hint(err, "Upgrade tbdr, or set tbdr.repository to another prefix.");
		return false;
	}
	/*
	 * The major version first: after pg_upgrade the system identifier
	 * differs too, and the version says why and what to do.
	 */
	if (id->pg_major != pg_major)
	{
		tbdr_error_set(err, TBDR_ERR_CONFLICT,
					   "repository %s holds WAL and backups of PostgreSQL %d, this server is PostgreSQL %d",
					   tbdr_storage_describe(st), id->pg_major, pg_major);
		tbdr_error_detail(err, "A major version upgrade (pg_upgrade) starts a new database system: WAL of the old version cannot be replayed by the new one.");
		tbdr_error_hint(err, "Set tbdr.repository to a new prefix for PostgreSQL %d and take a new full backup there (SELECT tbdr_backup_now()); keep the old repository to restore PostgreSQL %d backups.",
						pg_major, id->pg_major);
		return false;
	}
	if (id->system_identifier != system_identifier)
	{
		tbdr_error_set(err, TBDR_ERR_CONFLICT,
					   "repository %s belongs to database system " UINT64_FORMAT ", this server is " UINT64_FORMAT,
					   tbdr_storage_describe(st), id->system_identifier,
					   system_identifier);
		tbdr_error_detail(err, "WAL of two database systems must never be mixed in one repository.");
		tbdr_error_hint(err, "Set tbdr.repository to another prefix (one per database system, e.g. s3://bucket/<cluster name>).");
		return false;
	}
	return true;
}

bool
tbdr_repo_check_identity(TbdrStorage *st, uint64 system_identifier,
						 int pg_major, bool create, TbdrError *err)
{
	TbdrRepoIdentity id;
	int			rc;
	char	   *json;
	time_t		now;
	struct tm	tm;
	bool		ok;

	rc = tbdr_repo_identity_read(st, &id, err);
	if (rc < 0)
		return false;
	if (rc > 0)
		return identity_matches(st, &id, system_identifier, pg_major, err);

	if (!create)
	{
		tbdr_error_set(err, TBDR_ERR_NOT_FOUND,
					   "repository %s has no identity object \"%s\"",
					   tbdr_storage_describe(st), TBDR_REPO_IDENTITY_KEY);
		tbdr_error_hint(err, "Check tbdr.repository: nothing has been archived there yet.");
		return false;
	}

	memset(&id, 0, sizeof(id));
	id.format_version = TBDR_REPO_FORMAT_VERSION;
	id.system_identifier = system_identifier;
	id.pg_major = pg_major;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(id.created_at, sizeof(id.created_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json = identity_to_json(&id);
	ok = tbdr_storage_put_buffer(st, TBDR_REPO_IDENTITY_KEY, json,
								 strlen(json), err);
	pfree(json);
	if (!ok)
	{
		tbdr_error_prefix(err, "could not write repository identity \"%s\": ",
						  TBDR_REPO_IDENTITY_KEY);
		return false;
	}

	/*
	 * Read it back: if another cluster created the repository at the same
	 * moment, the last writer wins and one of us sees the other's identity
	 * here.  (S3 has no portable create-if-absent.)
	 */
	rc = tbdr_repo_identity_read(st, &id, err);
	if (rc < 0)
		return false;
	if (rc == 0)
	{
		tbdr_error_set(err, TBDR_ERR_S3,
					   "repository identity \"%s\" was written but cannot be read back",
					   TBDR_REPO_IDENTITY_KEY);
		return false;
	}
	return identity_matches(st, &id, system_identifier, pg_major, err);
}
