/*-------------------------------------------------------------------------
 * aws_env.c
 *	  Where S3 credentials, region and endpoint come from (see aws_env.h).
 *
 * The order follows the AWS SDKs and awscli, so that a machine already set
 * up for them works unchanged: explicit settings, then the environment, then
 * the shared credentials file.  One difference: AWS_ENDPOINT_URL (and
 * AWS_ENDPOINT_URL_S3) are honoured, which awscli before 2.13 ignores; a
 * user who exported it means it.
 *
 * Messages name where a value came from and which part is missing, never
 * the secret itself.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <unistd.h>

#include "core/aws_env.h"
#include "lib/stringinfo.h"

#define CREDENTIALS_HINT \
	"Set tbdr.s3_access_key_id and tbdr.s3_secret_access_key; or the environment " \
	"variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; or put aws_access_key_id " \
	"and aws_secret_access_key in a shared credentials file (tbdr.s3_credentials_file, " \
	"AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials) under the profile " \
	"tbdr.s3_profile (or AWS_PROFILE, default \"default\")."

/* An environment variable, or NULL when unset or empty. */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return (v && v[0]) ? v : NULL;
}

static bool
nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static void
fill(TbdrAwsCredentials *out, const char *id, const char *secret,
	 const char *token, const char *source)
{
	out->access_key_id = pstrdup(id);
	out->secret_access_key = pstrdup(secret);
	out->session_token = nonempty(token) ? pstrdup(token) : NULL;
	out->source = source;
}

static char *
home_dir(void)
{
	const char *h = env("HOME");
	struct passwd *pw;

	if (h)
		return pstrdup(h);
	pw = getpwuid(geteuid());
	if (pw && pw->pw_dir)
		return pstrdup(pw->pw_dir);
	return NULL;
}

static char *
trim(char *s)
{
	char	   *end;

	while (isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Read the keys of one profile from an INI file.  Returns -1 when the file
 * cannot be opened (errno set), 0 when the profile is not in it, 1 when
 * found (each key NULL when absent or empty).  Sections are "[name]" as in
 * the credentials file; "[profile name]" as in ~/.aws/config is accepted too.
 */
static int
read_profile(const char *path, const char *profile, char **id, char **secret,
			 char **token)
{
	FILE	   *fp;
	StringInfoData line;
	bool		in_profile = false;
	bool		found = false;
	int			c;

	*id = *secret = *token = NULL;
	fp = fopen(path, "r");
	if (fp == NULL)
		return -1;

	initStringInfo(&line);
	for (;;)
	{
		char	   *l;

		resetStringInfo(&line);
		while ((c = getc(fp)) != EOF && c != '\n')
			appendStringInfoChar(&line, (char) c);
		if (c == EOF && line.len == 0)
			break;
		l = trim(line.data);
		if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
			;
		else if (l[0] == '[')
		{
			char	   *close = strchr(l, ']');
			char	   *name;

			if (close)
				*close = '\0';
			name = trim(l + 1);
			if (strncmp(name, "profile", 7) == 0 && isspace((unsigned char) name[7]))
				name = trim(name + 8);
			in_profile = strcmp(name, profile) == 0;
			if (in_profile)
				found = true;
		}
		else if (in_profile)
		{
			char	   *eq = strchr(l, '=');
			char	   *key;
			char	   *val;
			char	  **dst = NULL;

			if (eq)
			{
				*eq = '\0';
				key = trim(l);
				val = trim(eq + 1);
				if (pg_strcasecmp(key, "aws_access_key_id") == 0)
					dst = id;
				else if (pg_strcasecmp(key, "aws_secret_access_key") == 0)
					dst = secret;
				else if (pg_strcasecmp(key, "aws_session_token") == 0)
					dst = token;
				if (dst)
				{
					if (*dst)
						pfree(*dst);
					*dst = val[0] ? pstrdup(val) : NULL;
				}
			}
		}
		if (c == EOF)
			break;
	}
	/* don't leave a secret in freed memory longer than needed */
	memset(line.data, 0, line.maxlen);
	pfree(line.data);
	fclose(fp);
	return found ? 1 : 0;
}

/* What one source of credentials gave. */
typedef enum CredSource
{
	CRED_FOUND,					/* out is filled */
	CRED_NONE,					/* nothing there: try the next source */
	CRED_ERROR					/* err is set (half set, unreadable, ...) */
} CredSource;

/* Overwrite a secret before freeing it; NULL is fine. */
static void
free_secret(char *s)
{
	if (s == NULL)
		return;
	memset(s, 0, strlen(s));
	pfree(s);
}

/* 1. explicit settings */
static CredSource
from_settings(const TbdrConfig *cfg, TbdrAwsCredentials *out, TbdrError *err)
{
	if (nonempty(cfg->s3_access_key_id) || nonempty(cfg->s3_secret_access_key))
	{
		if (!nonempty(cfg->s3_secret_access_key))
		{
			tbdr_error_set(err, TBDR_ERR_CONFIG,
						   "tbdr.s3_access_key_id is set but tbdr.s3_secret_access_key is not");
			tbdr_error_hint(err, "Set both in the settings, or neither to use the environment or the shared credentials file.");
			return CRED_ERROR;
		}
		if (!nonempty(cfg->s3_access_key_id))
		{
			tbdr_error_set(err, TBDR_ERR_CONFIG,
						   "tbdr.s3_secret_access_key is set but tbdr.s3_access_key_id is not");
			tbdr_error_hint(err, "Set both in the settings, or neither to use the environment or the shared credentials file.");
			return CRED_ERROR;
		}
		fill(out, cfg->s3_access_key_id, cfg->s3_secret_access_key,
			 cfg->s3_session_token, "settings");
		return CRED_FOUND;
	}
	if (nonempty(cfg->s3_session_token))
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "tbdr.s3_session_token is set but tbdr.s3_access_key_id and tbdr.s3_secret_access_key are not");
		tbdr_error_hint(err, "A session token belongs to temporary credentials: set all three settings.");
		return CRED_ERROR;
	}
	return CRED_NONE;
}

/* 2. environment */
static CredSource
from_environment(TbdrAwsCredentials *out, TbdrError *err)
{
	const char *eid = env("AWS_ACCESS_KEY_ID");
	const char *esecret = env("AWS_SECRET_ACCESS_KEY");

	if (!eid && !esecret)
		return CRED_NONE;
	if (!esecret)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "environment variable AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
		tbdr_error_hint(err, "Set both, or unset AWS_ACCESS_KEY_ID to use the shared credentials file.");
		return CRED_ERROR;
	}
	if (!eid)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "environment variable AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
		tbdr_error_hint(err, "Set both, or unset AWS_SECRET_ACCESS_KEY to use the shared credentials file.");
		return CRED_ERROR;
	}
	fill(out, eid, esecret, env("AWS_SESSION_TOKEN"), "environment");
	return CRED_FOUND;
}

/* The shared credentials file and its profile, and who named them. */
typedef struct CredFile
{
	char	   *path;			/* NULL: no HOME for the default */
	const char *path_from;		/* the setting or variable; NULL: default */
	const char *profile;
	bool		profile_explicit;
} CredFile;

static void
choose_file(const TbdrConfig *cfg, CredFile *f)
{
	char	   *home;

	f->path_from = NULL;
	if (nonempty(cfg->s3_credentials_file))
	{
		f->path = pstrdup(cfg->s3_credentials_file);
		f->path_from = "tbdr.s3_credentials_file";
	}
	else if (env("AWS_SHARED_CREDENTIALS_FILE"))
	{
		f->path = pstrdup(env("AWS_SHARED_CREDENTIALS_FILE"));
		f->path_from = "AWS_SHARED_CREDENTIALS_FILE";
	}
	else if ((home = home_dir()) != NULL)
	{
		f->path = psprintf("%s/.aws/credentials", home);
		pfree(home);
	}
	else
		f->path = NULL;

	f->profile_explicit = true;
	if (nonempty(cfg->s3_profile))
		f->profile = cfg->s3_profile;
	else if (env("AWS_PROFILE"))
		f->profile = env("AWS_PROFILE");
	else
	{
		f->profile = "default";
		f->profile_explicit = false;
	}
}

/* 3. the profile of the shared credentials file */
static CredSource
from_file(const CredFile *f, TbdrAwsCredentials *out, TbdrError *err)
{
	char	   *id,
			   *secret,
			   *token;
	int			r = f->path ? read_profile(f->path, f->profile, &id, &secret, &token) : -1;

	if (r < 0)
	{
		/* a file named on purpose must be there; the default one need not */
		if (f->path_from == NULL && (f->path == NULL || errno == ENOENT))
			return CRED_NONE;
		tbdr_error_errno(err, "could not read S3 credentials file \"%s\"%s%s",
						 f->path, f->path_from ? " named by " : "",
						 f->path_from ? f->path_from : "");
		err->code = TBDR_ERR_CONFIG;
		return CRED_ERROR;
	}
	if (r == 0)
	{
		if (!f->profile_explicit)
			return CRED_NONE;
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "profile \"%s\" not found in S3 credentials file \"%s\"",
					   f->profile, f->path);
		tbdr_error_hint(err, "Add a [%s] section with aws_access_key_id and aws_secret_access_key, or set tbdr.s3_profile to a profile in the file.",
						f->profile);
		return CRED_ERROR;
	}
	if (id && secret)
	{
		fill(out, id, secret, token, "credentials file");
		free_secret(secret);
		free_secret(token);
		pfree(id);
		return CRED_FOUND;
	}
	if (id || secret || token)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG,
					   "profile \"%s\" in S3 credentials file \"%s\" has no %s",
					   f->profile, f->path,
					   !id ? "aws_access_key_id" : "aws_secret_access_key");
		tbdr_error_hint(err, "A profile needs both aws_access_key_id and aws_secret_access_key.");
		free_secret(secret);
		return CRED_ERROR;
	}
	/* an empty default profile: as if there were none */
	if (!f->profile_explicit)
		return CRED_NONE;
	tbdr_error_set(err, TBDR_ERR_CONFIG,
				   "profile \"%s\" in S3 credentials file \"%s\" has no aws_access_key_id and aws_secret_access_key",
				   f->profile, f->path);
	return CRED_ERROR;
}

bool
tbdr_aws_credentials(const TbdrConfig *cfg, TbdrAwsCredentials *out,
					 TbdrError *err)
{
	CredSource	r;
	CredFile	f;

	memset(out, 0, sizeof(*out));
	tbdr_error_clear(err);

	if ((r = from_settings(cfg, out, err)) != CRED_NONE)
		return r == CRED_FOUND;
	if ((r = from_environment(out, err)) != CRED_NONE)
		return r == CRED_FOUND;
	choose_file(cfg, &f);
	r = from_file(&f, out, err);
	if (r == CRED_NONE)
	{
		tbdr_error_set(err, TBDR_ERR_CONFIG, "no S3 credentials found");
		tbdr_error_detail(err, "Looked in the settings, the environment and %s%s%s (profile \"%s\").",
						  f.path ? "\"" : "", f.path ? f.path : "no credentials file (HOME is not set)",
						  f.path ? "\"" : "", f.profile);
		tbdr_error_hint(err, "%s", CREDENTIALS_HINT);
	}
	if (f.path)
		pfree(f.path);
	return r == CRED_FOUND;
}

char *
tbdr_aws_region(const TbdrConfig *cfg)
{
	const char *v;

	if (cfg && nonempty(cfg->s3_region))
		return pstrdup(cfg->s3_region);
	if ((v = env("AWS_REGION")) != NULL)
		return pstrdup(v);
	if ((v = env("AWS_DEFAULT_REGION")) != NULL)
		return pstrdup(v);
	return pstrdup("us-east-1");
}

/* scheme://host[:port] without trailing slashes; https:// when no scheme. */
static char *
normalize_endpoint(const char *v)
{
	char	   *s;
	int			len;

	while (isspace((unsigned char) *v))
		v++;
	if (pg_strncasecmp(v, "http://", 7) == 0 || pg_strncasecmp(v, "https://", 8) == 0)
		s = pstrdup(v);
	else
		s = psprintf("https://%s", v);
	len = strlen(s);
	while (len > 0 && (s[len - 1] == '/' || isspace((unsigned char) s[len - 1])))
		s[--len] = '\0';
	return s;
}

static bool
env_true(const char *name)
{
	const char *v = env(name);

	return v && (pg_strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

char *
tbdr_aws_endpoint(const TbdrConfig *cfg, const char *region)
{
	const char *v;
	char	   *r;
	char	   *result;

	if (cfg && nonempty(cfg->s3_endpoint))
		return normalize_endpoint(cfg->s3_endpoint);

	/* as the AWS SDKs: the service-specific variable wins */
	if (!env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
	{
		if ((v = env("AWS_ENDPOINT_URL_S3")) != NULL)
			return normalize_endpoint(v);
		if ((v = env("AWS_ENDPOINT_URL")) != NULL)
			return normalize_endpoint(v);
	}

	r = nonempty(region) ? pstrdup(region) : tbdr_aws_region(cfg);
	/* the China partition has its own domain */
	if (strncmp(r, "cn-", 3) == 0)
		result = psprintf("https://s3.%s.amazonaws.com.cn", r);
	else
		result = psprintf("https://s3.%s.amazonaws.com", r);
	pfree(r);
	return result;
}
