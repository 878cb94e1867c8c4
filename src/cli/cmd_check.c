/*-------------------------------------------------------------------------
 * cmd_check.c
 *	  tbdr check: verify the configuration and the repository end to end.
 *
 * Each step prints one line, "ok: ..." or "FAILED: ... HINT: ...", and the
 * first failure stops the check (later steps would only fail for the same
 * reason).  The steps: settings valid and repository configured;
 * credentials found (S3); a list of the repository (reachable, credentials
 * accepted); the clock against the server's; a probe object written, read
 * back, compared and deleted.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <ctype.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/aws_env.h"
#include "core/storage.h"

#define CHECK_PROBE_DIR		".tbdr-check"
#define CHECK_PROBE_SIZE	65536
#define CHECK_LIST_MAX		1000
/* S3 refuses requests signed more than 15 minutes off its clock. */
#define CHECK_SKEW_FAIL		(15 * 60)
#define CHECK_SKEW_WARN		60
/* Configuration files up to this size are read for secrets. */
#define CHECK_CONF_MAX		(1024 * 1024)

static const struct option check_options[] = {
	CLI_COMMON_LONGOPTS,
	{NULL, 0, NULL, 0}
};

static void
step_ok(const char *step, const char *fmt,...) pg_attribute_printf(2, 3);
static void
step_warn(const char *step, const char *fmt,...) pg_attribute_printf(2, 3);

static void
step_ok(const char *step, const char *fmt,...)
{
	va_list		ap;

	printf("ok: %s: ", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
step_warn(const char *step, const char *fmt,...)
{
	va_list		ap;

	printf("WARNING: %s: ", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/*
 * Report a failed step on one line (message, S3 code, detail, hint) and
 * return the exit code; default_hint is used when the error has none.
 */
static int
step_failed(const char *step, const TbdrError *err, const char *default_hint)
{
	const char *hint = err->hint[0] ? err->hint : default_hint;

	printf("FAILED: %s: %s", step, err->message);
	if (err->http_status || err->s3_code[0])
	{
		printf(" (");
		if (err->http_status)
			printf("HTTP %d", err->http_status);
		if (err->s3_code[0])
			printf("%s%s", err->http_status ? " " : "", err->s3_code);
		if (err->request_id[0])
			printf(", request id %s", err->request_id);
		printf(")");
	}
	if (err->detail[0])
		printf(" DETAIL: %s", err->detail);
	if (hint && hint[0])
		printf(" HINT: %s", hint);
	putchar('\n');
	fflush(stdout);
	return CLI_EXIT_ERROR;
}

/* A default hint by kind of failure, for errors that carry none. */
static const char *
hint_for(const TbdrError *err, bool is_s3)
{
	if (strcmp(err->s3_code, "NoSuchBucket") == 0)
		return "Create the bucket, or correct the bucket name in tbdr.repository.";
	if (strcmp(err->s3_code, "RequestTimeTooSkewed") == 0)
		return "Synchronize this machine's clock (e.g. with NTP): S3 refuses requests more than 15 minutes off.";
	switch (err->code)
	{
		case TBDR_ERR_NETWORK:
			return "Check tbdr.s3_endpoint (or AWS_ENDPOINT_URL), that the server is running and reachable from this machine, and any proxy or firewall.";
		case TBDR_ERR_AUTH:
			return "Check the access key id and the secret access key (tbdr.s3_access_key_id, tbdr.s3_secret_access_key, AWS_* variables or the credentials file), and that the key may access this bucket and prefix.";
		case TBDR_ERR_NOT_FOUND:
			return is_s3 ? "Check the bucket name in tbdr.repository and tbdr.s3_endpoint/tbdr.s3_region."
				: "Create the repository directory, or correct tbdr.repository.";
		case TBDR_ERR_IO:
			return is_s3 ? NULL : "Check the permissions of the repository directory and the free space of its file system.";
		default:
			return NULL;
	}
}

/* An access key id for display: its ends only. */
static char *
mask_key_id(const char *id)
{
	size_t		len = strlen(id);

	if (len <= 12)
		return psprintf("%.*s****", (int) (len / 3), id);
	return psprintf("%.4s...%s", id, id + len - 4);
}

typedef struct CountState
{
	int			count;
	bool		stopped;
} CountState;

static bool
count_one(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	CountState *cs = (CountState *) arg;

	if (++cs->count >= CHECK_LIST_MAX)
	{
		/* enough to know the listing works; stop without a real error */
		cs->stopped = true;
		tbdr_error_set(err, TBDR_ERR_INTERNAL, "listing stopped after %d objects", cs->count);
		return false;
	}
	return true;
}

/* Local clock minus the server's, from the last answer; false if unknown. */
static bool
clock_skew(TbdrStorage *st, long *skew)
{
	time_t		server = tbdr_storage_server_date(st);

	if (server == 0)
		return false;
	*skew = (long) (time(NULL) - server);
	return true;
}

/*
 * The data directory the configuration belongs to: $PGDATA, else the
 * directory of the configuration file if it is one (holds PG_VERSION).
 */
static char *
data_directory(void)
{
	const char *pgdata = getenv("PGDATA");
	char	   *conf = cli_config_file();
	char	   *version;
	bool		is_data;

	if (pgdata && pgdata[0])
		return make_absolute_path(pgdata);
	if (conf == NULL)
		return NULL;
	get_parent_directory(conf);
	version = psprintf("%s/PG_VERSION", conf);
	is_data = access(version, F_OK) == 0;
	pfree(version);
	return is_data ? conf : NULL;
}

/*
 * Settings that weaken the protection of the repository: warnings, not
 * failures (the checks after still tell whether the repository works).
 * tbdr.s3_verify_tls = off; a secret in a configuration file of the data
 * directory, which base backups store without it (so a restored server
 * would miss it) and which is readable wherever the data directory is.
 */
static void
check_safety(const TbdrConfig *cfg, bool is_s3)
{
	char	   *datadir = data_directory();
	DIR		   *d;
	struct dirent *de;

	if (is_s3 && !cfg->s3_verify_tls)
		step_warn("tls", TBDR_VERIFY_TLS_OFF_WARNING "; set tbdr.s3_verify_tls = on (with tbdr.s3_ca_file for a private CA)");
	if (datadir == NULL || (d = opendir(datadir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		char	   *path;
		const char *first;
		StringInfoData scratch;
		TbdrError	err;
		int			n;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		path = psprintf("%s/%s", datadir, de->d_name);
		initStringInfo(&scratch);
		n = tbdr_config_redact_file(path, CHECK_CONF_MAX, &scratch, &first, &err);
		if (n > 0)
			step_warn("secrets", "\"%s\" sets tbdr.%s%s inside the data directory: base backups store this file with the secret removed, so a restored server lacks it; "
					  "move secrets to a file outside the data directory (tbdr.s3_credentials_file, or a tbdr.conf given with -c and included by postgresql.conf)",
					  path, first, n > 1 ? " and other secrets" : "");
		pfree(scratch.data);
		pfree(path);
	}
	closedir(d);
}

int
cmd_check(const CliCommand *cmd, int argc, char **argv)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrRepoLocation loc;
	TbdrStorage *st;
	const char *source;
	bool		is_s3;
	CountState	cs;
	long		skew;
	char		host[256];
	char	   *probe_key;
	char	   *probe;
	char	   *back;
	size_t		back_len;
	int			c;
	int			i;

	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, check_options, NULL)) != -1)
	{
		if (!cli_common_option(cmd, c, optarg))
			cli_usage_error(cmd, NULL);
	}
	if (optind < argc)
		cli_usage_error(cmd, "too many arguments");

	/* 1. configuration */
	tbdr_error_clear(&err);
	if (!cli_try_load_config(&cfg, &source, &err))
		return step_failed("configuration", &err, NULL);
	if (cfg.repository[0] == '\0')
	{
		tbdr_error_set(&err, TBDR_ERR_CONFIG, "tbdr.repository is not set (%s)", source);
		return step_failed("configuration", &err,
						   "Set tbdr.repository to s3://bucket/prefix or file:///absolute/path, "
						   "in the configuration file (-c FILE, default $PGDATA/tbdr.conf) or with --set.");
	}
	if (!tbdr_repo_parse(cfg.repository, &loc, &err))
		return step_failed("configuration", &err, NULL);
	is_s3 = loc.type == TBDR_REPO_S3;
	step_ok("configuration", "settings valid (%s), repository %s",
			source, cfg.repository);
	check_safety(&cfg, is_s3);

	/* 2. credentials (the S3 driver needs them to open) */
	if (is_s3)
	{
		TbdrAwsCredentials cred;

		memset(&cred, 0, sizeof(cred));
		if (!tbdr_aws_credentials(&cfg, &cred, &err))
			return step_failed("credentials", &err, NULL);
		step_ok("credentials", "access key id %s from %s%s",
				mask_key_id(cred.access_key_id), cred.source,
				cred.session_token ? ", with a session token" : "");
	}
	else
		step_ok("credentials", "none needed for a file:// repository");

	st = tbdr_storage_open(&cfg, &err);
	if (st == NULL)
		return step_failed("configuration", &err, NULL);

	/* 3. list: reachable, credentials accepted */
	memset(&cs, 0, sizeof(cs));
	if (!tbdr_storage_list(st, "", count_one, &cs, &err) && !cs.stopped)
	{
		/* a skewed clock makes S3 refuse everything: say that, not "403" */
		if (is_s3 && clock_skew(st, &skew) && labs(skew) > CHECK_SKEW_FAIL)
		{
			TbdrError	clk;

			tbdr_error_set(&clk, TBDR_ERR_CONFIG,
						   "the local clock is %ld seconds %s the server's; S3 refuses requests more than 15 minutes off",
						   labs(skew), skew > 0 ? "ahead of" : "behind");
			return step_failed("clock", &clk,
							   "Synchronize this machine's clock (e.g. with NTP).");
		}
		return step_failed("list", &err, hint_for(&err, is_s3));
	}
	if (cs.stopped)
		step_ok("list", "%s reachable%s: %d+ objects",
				tbdr_storage_describe(st), is_s3 ? ", credentials accepted" : "", cs.count);
	else
		step_ok("list", "%s reachable%s: %d object%s",
				tbdr_storage_describe(st), is_s3 ? ", credentials accepted" : "",
				cs.count, cs.count == 1 ? "" : "s");

	/* 4. clock */
	if (!is_s3)
		step_ok("clock", "not applicable to a file:// repository");
	else if (!clock_skew(st, &skew))
		step_warn("clock", "the server sent no Date header; clock skew not checked");
	else if (labs(skew) > CHECK_SKEW_FAIL)
	{
		tbdr_error_set(&err, TBDR_ERR_CONFIG,
					   "the local clock is %ld seconds %s the server's; S3 refuses requests more than 15 minutes off",
					   labs(skew), skew > 0 ? "ahead of" : "behind");
		return step_failed("clock", &err,
						   "Synchronize this machine's clock (e.g. with NTP).");
	}
	else if (labs(skew) > CHECK_SKEW_WARN)
		step_warn("clock", "the local clock is %ld seconds %s the server's (S3 refuses requests beyond 15 minutes); synchronize it with NTP",
				  labs(skew), skew > 0 ? "ahead of" : "behind");
	else
		step_ok("clock", "local clock within %ld s of the server's", labs(skew));

	/* 5. write, read back, compare, delete a probe object */
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i]; i++)
	{
		/* keep the key plain whatever the host name holds */
		if (!(isalnum((unsigned char) host[i]) || host[i] == '-' || host[i] == '.' || host[i] == '_'))
			host[i] = '_';
	}
	probe_key = psprintf(CHECK_PROBE_DIR "/%s-%d-%ld", host, (int) getpid(), (long) time(NULL));
	probe = palloc(CHECK_PROBE_SIZE);
	{
		uint32		x = (uint32) getpid() ^ (uint32) time(NULL);

		/* content that a truncation or mix-up would not reproduce */
		for (i = 0; i < CHECK_PROBE_SIZE; i++)
		{
			x = x * 1103515245 + 12345;
			probe[i] = (char) (x >> 16);
		}
	}
	if (!tbdr_storage_put_buffer(st, probe_key, probe, CHECK_PROBE_SIZE, &err))
		return step_failed("write", &err, hint_for(&err, is_s3) ? hint_for(&err, is_s3) :
						   (is_s3 ? "Check that the credentials may write (s3:PutObject) under the repository prefix." : NULL));
	step_ok("write", "stored probe object %s (%d bytes)", probe_key, CHECK_PROBE_SIZE);

	if (!tbdr_storage_get_buffer(st, probe_key, CHECK_PROBE_SIZE * 2, &back, &back_len, &err))
	{
		TbdrError	ignore;

		tbdr_storage_delete(st, probe_key, &ignore);
		return step_failed("read", &err, hint_for(&err, is_s3) ? hint_for(&err, is_s3) :
						   (is_s3 ? "Check that the credentials may read (s3:GetObject) under the repository prefix." : NULL));
	}
	if (back_len != CHECK_PROBE_SIZE || memcmp(back, probe, CHECK_PROBE_SIZE) != 0)
	{
		TbdrError	ignore;

		tbdr_storage_delete(st, probe_key, &ignore);
		tbdr_error_set(&err, TBDR_ERR_CORRUPT,
					   "probe object %s read back differs from what was written (%zu bytes read, %d written)",
					   probe_key, back_len, CHECK_PROBE_SIZE);
		return step_failed("read", &err,
						   "Something between tbdr and the storage alters data (a proxy, a gateway, a full or faulty disk).");
	}
	step_ok("read", "probe object read back, content identical");

	if (!tbdr_storage_delete(st, probe_key, &err))
		return step_failed("delete", &err, hint_for(&err, is_s3) ? hint_for(&err, is_s3) :
						   (is_s3 ? "Check that the credentials may delete (s3:DeleteObject) under the repository prefix; retention needs it." : NULL));
	step_ok("delete", "probe object deleted");

	tbdr_storage_close(st);
	printf("all checks passed\n");
	return CLI_EXIT_OK;
}
