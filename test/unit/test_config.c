/*-------------------------------------------------------------------------
 * test_config.c
 *	  Unit tests of the settings (config.c) and of where S3 credentials,
 *	  region and endpoint come from (aws_env.c).
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/aws_env.h"
#include "core/config.h"
#include "tap.h"

static char tmpdir[] = "/tmp/tbdr-test-config-XXXXXX";

static char *
write_file(const char *name, const char *content)
{
	char	   *path = psprintf("%s/%s", tmpdir, name);
	FILE	   *fp = fopen(path, "w");

	if (fp == NULL)
	{
		perror(path);
		exit(2);
	}
	fputs(content, fp);
	fclose(fp);
	return path;
}

static bool
contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle) != NULL;
}

static void
clear_aws_env(void)
{
	const char *vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", NULL
	};

	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	/* so that the real ~/.aws/credentials of whoever runs this is not read */
	setenv("HOME", tmpdir, 1);
}

static void
test_defaults_and_table(void)
{
	TbdrConfig	c;

	tbdr_config_set_defaults(&c);
	is_str(c.repository, "", "default repository is empty");
	is_int(c.s3_uri_style, TBDR_URI_STYLE_PATH, "default uri style is path");
	ok(c.s3_verify_tls, "default s3_verify_tls is on");
	is_int(c.s3_sse, TBDR_SSE_NONE, "default s3_sse is none");
	is_int(c.s3_max_retries, 4, "default s3_max_retries");
	is_int(c.s3_timeout, 60, "default s3_timeout");
	is_int(c.s3_part_size, 16, "default s3_part_size");
	is_int(c.s3_parallel, 4, "default s3_parallel");
	ok(tbdr_num_settings >= 18, "at least the 18 S3 and repository settings");
	ok(tbdr_setting_find("tbdr.s3_region") == tbdr_setting_find("s3_region") &&
	   tbdr_setting_find("s3_region") != NULL, "find with and without prefix");
	ok(tbdr_setting_find("TBDR.S3_Region") != NULL, "names are case-insensitive");
	ok(tbdr_setting_find("s3_nope") == NULL, "unknown name not found");
	ok(tbdr_setting_find("s3_secret_access_key")->flags & TBDR_SETTING_SECRET,
	   "secret key is secret");
	ok(tbdr_setting_find("s3_session_token")->flags & TBDR_SETTING_SECRET,
	   "session token is secret");
	ok(!(tbdr_setting_find("s3_access_key_id")->flags & TBDR_SETTING_SECRET),
	   "access key id is not secret");
}

static void
test_set_and_validate(void)
{
	TbdrConfig	c;
	TbdrError	e;

	tbdr_config_set_defaults(&c);

	/* enums: case-insensitive */
	ok(tbdr_config_set(&c, "s3_uri_style", "HOST", &e), "enum case-insensitive");
	is_int(c.s3_uri_style, TBDR_URI_STYLE_HOST, "uri style host");
	ok(tbdr_config_set(&c, "tbdr.s3_sse", "AWS:KMS", &e), "sse aws:kms any case");
	is_int(c.s3_sse, TBDR_SSE_KMS, "sse kms");
	ok(!tbdr_config_set(&c, "s3_uri_style", "bogus", &e), "bad enum rejected");
	ok(contains(e.message, "\"tbdr.s3_uri_style\"") && contains(e.message, "bogus"),
	   "bad enum message names setting and value");
	ok(contains(e.detail, "path, host"), "bad enum detail lists values");
	is_int(e.code, TBDR_ERR_CONFIG, "bad enum is a config error");

	/* bools */
	ok(tbdr_config_set(&c, "s3_verify_tls", "off", &e) && !c.s3_verify_tls, "bool off");
	ok(tbdr_config_set(&c, "s3_verify_tls", "TRUE", &e) && c.s3_verify_tls, "bool TRUE");
	ok(tbdr_config_set(&c, "s3_verify_tls", "0", &e) && !c.s3_verify_tls, "bool 0");
	ok(!tbdr_config_set(&c, "s3_verify_tls", "maybe", &e) &&
	   contains(e.detail, "on or off"), "bad bool rejected, says on or off");

	/* ints, ranges and units */
	ok(tbdr_config_set(&c, "s3_timeout", "2min", &e) && c.s3_timeout == 120, "2min = 120 s");
	ok(tbdr_config_set(&c, "s3_timeout", "90 s", &e) && c.s3_timeout == 90, "90 s");
	ok(tbdr_config_set(&c, "s3_part_size", "1GB", &e) && c.s3_part_size == 1024, "1GB = 1024 MB");
	ok(tbdr_config_set(&c, "s3_part_size", "64", &e) && c.s3_part_size == 64, "plain MB");
	ok(!tbdr_config_set(&c, "s3_part_size", "4", &e), "part size 4 rejected");
	ok(contains(e.detail, "5 .. 5120"), "range in message");
	ok(!tbdr_config_set(&c, "s3_parallel", "65", &e) && contains(e.detail, "1 .. 64"),
	   "parallel 65 rejected");
	ok(!tbdr_config_set(&c, "s3_max_retries", "-1", &e), "negative retries rejected");
	ok(tbdr_config_set(&c, "s3_max_retries", "0", &e) && c.s3_max_retries == 0, "0 retries ok");
	ok(!tbdr_config_set(&c, "s3_parallel", "4MB", &e) && contains(e.detail, "integer from 1 to 64"),
	   "unit on a unitless int rejected");
	ok(!tbdr_config_set(&c, "s3_timeout", "10 parsecs", &e) && contains(e.detail, "seconds"),
	   "bad unit rejected");
	ok(!tbdr_config_set(&c, "s3_timeout", "", &e), "empty int rejected");
	ok(!tbdr_config_set(&c, "s3_parallel", "2.5", &e), "fraction rejected");

	/* endpoint */
	ok(tbdr_config_set(&c, "s3_endpoint", "http://127.0.0.1:9000", &e), "http endpoint with port");
	ok(tbdr_config_set(&c, "s3_endpoint", "https://s3.example.com/", &e), "endpoint with trailing slash");
	ok(tbdr_config_set(&c, "s3_endpoint", "https://[::1]:8443", &e), "IPv6 endpoint");
	ok(tbdr_config_set(&c, "s3_endpoint", "", &e), "empty endpoint");
	ok(!tbdr_config_set(&c, "s3_endpoint", "s3.example.com", &e) &&
	   contains(e.detail, "http:// or https://"), "endpoint without scheme rejected");
	ok(!tbdr_config_set(&c, "s3_endpoint", "ftp://x", &e), "ftp endpoint rejected");
	ok(!tbdr_config_set(&c, "s3_endpoint", "https://s3.example.com/bucket", &e) &&
	   contains(e.detail, "no path"), "endpoint with path rejected");
	ok(!tbdr_config_set(&c, "s3_endpoint", "https://s3.example.com?x=1", &e), "endpoint with query rejected");
	ok(!tbdr_config_set(&c, "s3_endpoint", "https://u:p@s3.example.com", &e), "endpoint with user rejected");
	ok(!tbdr_config_set(&c, "s3_endpoint", "http://host:99999", &e), "bad port rejected");
	ok(!tbdr_config_set(&c, "s3_endpoint", "http://:9000", &e), "missing host rejected");

	/* region, storage class, paths, key id */
	ok(tbdr_config_set(&c, "s3_region", "eu-west-1", &e), "region ok");
	ok(!tbdr_config_set(&c, "s3_region", "eu west", &e) && contains(e.message, "tbdr.s3_region"),
	   "region with space rejected");
	ok(tbdr_config_set(&c, "s3_storage_class", "STANDARD_IA", &e), "storage class ok");
	ok(tbdr_config_set(&c, "s3_storage_class", "", &e), "empty storage class ok");
	ok(!tbdr_config_set(&c, "s3_storage_class", "glacier", &e), "lower case storage class rejected");
	ok(contains(e.detail, "DEEP_ARCHIVE") && contains(e.detail, "EXPRESS_ONEZONE"),
	   "storage class message lists classes");
	ok(tbdr_config_set(&c, "s3_ca_file", "/etc/ssl/ca.pem", &e), "absolute CA file ok");
	ok(!tbdr_config_set(&c, "s3_ca_file", "ca.pem", &e) && contains(e.detail, "absolute path"),
	   "relative CA file rejected");
	ok(!tbdr_config_set(&c, "s3_credentials_file", "creds", &e), "relative credentials file rejected");
	ok(!tbdr_config_set(&c, "s3_access_key_id", "AKIA X", &e), "key id with space rejected");
	ok(tbdr_config_set(&c, "s3_access_key_id", "AKIAEXAMPLE", &e), "key id ok");

	/* repository via set */
	ok(!tbdr_config_set(&c, "repository", "s3://Upper/x", &e) &&
	   contains(e.message, "tbdr.repository"), "bad repository rejected by set");
	ok(tbdr_config_set(&c, "repository", "s3://my-bucket/pg", &e), "repository ok");
	is_str(c.repository, "s3://my-bucket/pg", "repository stored");

	ok(!tbdr_config_set(&c, "tbdr.nope", "1", &e) &&
	   contains(e.message, "unrecognized configuration parameter \"tbdr.nope\""),
	   "unknown setting rejected");
}

static void
test_show_masks_secrets(void)
{
	TbdrConfig	c;
	TbdrError	e;
	char	   *shown;

	tbdr_config_set_defaults(&c);
	is_str(tbdr_config_show(&c, tbdr_setting_find("s3_secret_access_key")), "",
		   "unset secret shows empty");
	ok(tbdr_config_set(&c, "s3_secret_access_key", "wJalrXUtnFEMI/K7MDENG", &e), "set secret");
	shown = tbdr_config_show(&c, tbdr_setting_find("s3_secret_access_key"));
	is_str(shown, "********", "set secret is masked");
	ok(tbdr_config_set(&c, "s3_session_token", "FwoGZXIvYXdzEBY", &e), "set token");
	is_str(tbdr_config_show(&c, tbdr_setting_find("s3_session_token")), "********",
		   "session token masked");
	ok(tbdr_config_set(&c, "s3_access_key_id", "AKIAEXAMPLE", &e), "set key id");
	is_str(tbdr_config_show(&c, tbdr_setting_find("s3_access_key_id")), "AKIAEXAMPLE",
		   "key id shown");
	is_str(tbdr_config_show(&c, tbdr_setting_find("s3_timeout")), "60s", "int with unit shown");
	is_str(tbdr_config_show(&c, tbdr_setting_find("s3_part_size")), "16MB", "MB shown");
	is_str(tbdr_config_show(&c, tbdr_setting_find("s3_sse")), "none", "enum shown by name");
	is_str(tbdr_config_show(&c, tbdr_setting_find("s3_verify_tls")), "on", "bool shown");
}

static void
test_repo_parse(void)
{
	TbdrRepoLocation l;
	TbdrError	e;

	ok(tbdr_repo_parse("", &l, &e) && l.type == TBDR_REPO_NONE, "empty: none");
	ok(tbdr_repo_parse("s3://my-bucket", &l, &e) && l.type == TBDR_REPO_S3, "bucket only");
	is_str(l.bucket, "my-bucket", "bucket");
	is_str(l.prefix, "", "no prefix");
	ok(tbdr_repo_parse("s3://my.bucket-1/a/b/", &l, &e), "prefix with trailing slash");
	is_str(l.bucket, "my.bucket-1", "bucket with dot");
	is_str(l.prefix, "a/b", "trailing slash removed");
	ok(tbdr_repo_parse("s3://bkt/pg///", &l, &e) && strcmp(l.prefix, "pg") == 0,
	   "trailing slashes removed");
	ok(tbdr_repo_parse("s3://bkt/", &l, &e) && strcmp(l.prefix, "") == 0, "bucket/ = no prefix");

	ok(!tbdr_repo_parse("s3://", &l, &e) && contains(e.detail, "no bucket"), "missing bucket");
	ok(!tbdr_repo_parse("s3:///prefix", &l, &e) && contains(e.detail, "no bucket"), "empty bucket");
	ok(!tbdr_repo_parse("s3://MyBucket/x", &l, &e) && contains(e.detail, "lower case"),
	   "upper case bucket rejected");
	ok(contains(e.message, "tbdr.repository"), "message names tbdr.repository");
	ok(!tbdr_repo_parse("s3://ab", &l, &e) && contains(e.detail, "3 to 63"), "short bucket");
	ok(!tbdr_repo_parse("s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &l, &e),
	   "64-character bucket rejected");
	ok(!tbdr_repo_parse("s3://-abc", &l, &e), "bucket starting with hyphen");
	ok(!tbdr_repo_parse("s3://a..b", &l, &e), "bucket with ..");
	ok(!tbdr_repo_parse("s3://a_b_c", &l, &e), "bucket with underscore");
	ok(!tbdr_repo_parse("s3://192.168.1.1", &l, &e), "bucket like an IP address");
	ok(!tbdr_repo_parse("s3://bkt//x", &l, &e), "prefix starting with /");
	ok(!tbdr_repo_parse("s3://bkt/a//b", &l, &e), "empty prefix element");
	ok(!tbdr_repo_parse("s3://bkt/a/../b", &l, &e), ".. element");
	ok(!tbdr_repo_parse("s3://bkt/a?x", &l, &e), "query in prefix");
	ok(!tbdr_repo_parse("s3://bkt/a b", &l, &e), "space");

	ok(tbdr_repo_parse("file:///var/backups/pg/", &l, &e) && l.type == TBDR_REPO_FILE, "file repo");
	is_str(l.path, "/var/backups/pg", "file path without trailing slash");
	ok(tbdr_repo_parse("file:///", &l, &e) && strcmp(l.path, "/") == 0, "root path");
	ok(!tbdr_repo_parse("file://relative/path", &l, &e) && contains(e.detail, "absolute"),
	   "file://relative rejected");
	ok(!tbdr_repo_parse("file:relative", &l, &e), "file:relative rejected");
	ok(!tbdr_repo_parse("/var/backups", &l, &e) && contains(e.detail, "s3:// or file://"),
	   "bare path rejected");
	ok(!tbdr_repo_parse("gs://bucket", &l, &e), "other scheme rejected");
	ok(contains(e.hint, "s3://bucket/prefix"), "hint shows the forms");
}

static void
test_load_file(void)
{
	TbdrConfig	c;
	TbdrError	e;
	char	   *main_conf;
	char	   *path;

	mkdir(psprintf("%s/conf.d", tmpdir), 0700);
	write_file("conf.d/01-a.conf", "tbdr.s3_parallel = 8\n");
	write_file("conf.d/02-b.conf", "tbdr.s3_parallel = 9   # later wins\n");
	write_file("conf.d/.hidden.conf", "tbdr.s3_parallel = 1\n");
	write_file("inc.conf", "tbdr.s3_region = 'eu-central-1'\n");
	main_conf = write_file("main.conf",
						   "# a postgresql.conf with tbdr settings\n"
						   "shared_buffers = 128MB\n"
						   "archive_command = 'cp %p /x/%f # not a comment'\n"
						   "\n"
						   "tbdr.repository = 's3://my-bucket/pg'   # comment\n"
						   "tbdr.s3_endpoint http://127.0.0.1:9000\n"
						   "tbdr.s3_profile = 'it''s'\n"
						   "TBDR.S3_URI_STYLE = HOST\n"
						   "tbdr.s3_sse_kms_key_id = 'a\\tb\\\\c\\'d\\101'\n"
						   "\ttbdr.s3_timeout=5min\n"
						   "tbdr.s3_verify_tls = false\r\n"
						   "include 'inc.conf'\n"
						   "include_if_exists 'missing.conf'\n"
						   "include_dir 'conf.d'\n"
						   "tbdr.s3_access_key_id = ''\n");
	tbdr_config_set_defaults(&c);
	ok(tbdr_config_load_file(&c, main_conf, false, &e), "load main.conf");
	if (e.message[0])
		diag(e.message);
	is_str(c.repository, "s3://my-bucket/pg", "quoted value with trailing comment");
	is_str(c.s3_endpoint, "http://127.0.0.1:9000", "name value without =");
	is_str(c.s3_profile, "it's", "'' inside quotes");
	is_int(c.s3_uri_style, TBDR_URI_STYLE_HOST, "upper case name and enum value");
	is_str(c.s3_sse_kms_key_id, "a\tb\\c'dA", "backslash escapes");
	is_int(c.s3_timeout, 300, "unit in file");
	ok(!c.s3_verify_tls, "CRLF line");
	is_str(c.s3_region, "eu-central-1", "include relative to the file");
	is_int(c.s3_parallel, 9, "include_dir in name order, dotfiles skipped");
	is_str(c.s3_access_key_id, "", "empty quoted value");

	/* unknown tbdr.* name: error with file and line */
	path = write_file("unknown.conf", "tbdr.repository = 'file:///x'\n\n# c\ntbdr.s3_regoin = 'x'\n");
	tbdr_config_set_defaults(&c);
	ok(!tbdr_config_load_file(&c, path, false, &e), "unknown tbdr setting is an error");
	ok(contains(e.message, "\"tbdr.s3_regoin\"") && contains(e.message, "unknown.conf") &&
	   contains(e.message, "line 4"), "error names setting, file and line");
	if (!contains(e.message, "line 4"))
		diag(e.message);
	ok(contains(e.hint, "s3_region"), "hint lists the settings");

	/* unknown name in an included file: that file's name and line */
	write_file("bad-inc.conf", "\ntbdr.bogus = 1\n");
	path = write_file("has-bad-inc.conf", "include 'bad-inc.conf'\n");
	ok(!tbdr_config_load_file(&c, path, false, &e) &&
	   contains(e.message, "bad-inc.conf\" line 2"), "error in included file located");

	/* invalid value: located, names the setting */
	path = write_file("badval.conf", "tbdr.s3_parallel = 100\n");
	ok(!tbdr_config_load_file(&c, path, false, &e) &&
	   contains(e.message, "tbdr.s3_parallel") && contains(e.message, "line 1"),
	   "invalid value located");

	/* a bad secret is never echoed (there is no validator, but a bad line is) */
	path = write_file("unterminated.conf", "tbdr.s3_secret_access_key = 'abc\n");
	ok(!tbdr_config_load_file(&c, path, false, &e) && contains(e.message, "unterminated") &&
	   !contains(e.message, "abc"), "unterminated string, secret not echoed");

	path = write_file("junk.conf", "tbdr.s3_region = a b\n");
	ok(!tbdr_config_load_file(&c, path, false, &e) && contains(e.message, "syntax error"),
	   "text after value is a syntax error");
	path = write_file("noval.conf", "tbdr.s3_region =\n");
	ok(!tbdr_config_load_file(&c, path, false, &e) && contains(e.message, "missing value"),
	   "missing value");

	/* include loops stop at the depth limit */
	path = write_file("loop.conf", "include 'loop.conf'\n");
	ok(!tbdr_config_load_file(&c, path, false, &e) && contains(e.message, "nesting depth"),
	   "include loop stopped");

	/* missing files */
	ok(!tbdr_config_load_file(&c, "/nonexistent/tbdr.conf", false, &e) &&
	   contains(e.message, "/nonexistent/tbdr.conf"), "missing file is an error");
	ok(tbdr_config_load_file(&c, "/nonexistent/tbdr.conf", true, &e), "missing_ok");
	path = write_file("inc-missing.conf", "include 'nope.conf'\n");
	ok(!tbdr_config_load_file(&c, path, false, &e), "missing include is an error");
}

static void
test_credentials(void)
{
	TbdrConfig	c;
	TbdrError	e;
	TbdrAwsCredentials cr;
	char	   *creds;

	clear_aws_env();
	creds = write_file("credentials",
					   "[default]\n"
					   "aws_access_key_id = AKIDDEFAULT\n"
					   "aws_secret_access_key = secretdefault\n"
					   "\n"
					   "# comment\n"
					   "[prod]\n"
					   "aws_access_key_id=AKIDPROD\n"
					   "aws_secret_access_key=secretprod\n"
					   "aws_session_token = tokenprod\n"
					   "region = eu-west-1\n"
					   "[profile half]\n"
					   "aws_access_key_id = AKIDHALF\n"
					   "[nosecretid]\n"
					   "aws_secret_access_key = onlysecret\n");

	/* nothing anywhere */
	tbdr_config_set_defaults(&c);
	ok(!tbdr_aws_credentials(&c, &cr, &e), "no credentials: error");
	ok(contains(e.message, "no S3 credentials"), "no credentials message");
	ok(contains(e.hint, "tbdr.s3_access_key_id") && contains(e.hint, "AWS_ACCESS_KEY_ID") &&
	   contains(e.hint, "credentials file"), "hint lists the three ways");

	/* ~/.aws/credentials (HOME is the temp dir) */
	mkdir(psprintf("%s/.aws", tmpdir), 0700);
	write_file(".aws/credentials", "[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = secrethome\n");
	ok(tbdr_aws_credentials(&c, &cr, &e), "credentials from ~/.aws/credentials");
	is_str(cr.access_key_id, "AKIDHOME", "home file key id");
	is_str(cr.source, "credentials file", "source: credentials file");
	ok(cr.session_token == NULL, "no token");

	/* AWS_SHARED_CREDENTIALS_FILE beats ~/.aws/credentials */
	setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
	ok(tbdr_aws_credentials(&c, &cr, &e) && strcmp(cr.access_key_id, "AKIDDEFAULT") == 0,
	   "AWS_SHARED_CREDENTIALS_FILE, default profile");

	/* AWS_PROFILE */
	setenv("AWS_PROFILE", "prod", 1);
	ok(tbdr_aws_credentials(&c, &cr, &e), "AWS_PROFILE=prod");
	is_str(cr.access_key_id, "AKIDPROD", "prod key id");
	is_str(cr.secret_access_key, "secretprod", "prod secret");
	is_str(cr.session_token, "tokenprod", "prod token");

	/* tbdr.s3_profile beats AWS_PROFILE */
	c.s3_profile = "default";
	ok(tbdr_aws_credentials(&c, &cr, &e) && strcmp(cr.access_key_id, "AKIDDEFAULT") == 0,
	   "tbdr.s3_profile beats AWS_PROFILE");
	c.s3_profile = "";
	unsetenv("AWS_PROFILE");

	/* partial profiles */
	c.s3_profile = "half";
	ok(!tbdr_aws_credentials(&c, &cr, &e), "profile without secret: error");
	ok(contains(e.message, "aws_secret_access_key") && contains(e.message, "\"half\"") &&
	   contains(e.message, creds), "says what is missing and where");
	c.s3_profile = "nosecretid";
	ok(!tbdr_aws_credentials(&c, &cr, &e) && contains(e.message, "no aws_access_key_id"),
	   "profile without key id: error");
	ok(!contains(e.message, "onlysecret"), "secret not in message");
	c.s3_profile = "missing";
	ok(!tbdr_aws_credentials(&c, &cr, &e) && contains(e.message, "profile \"missing\" not found"),
	   "explicit missing profile: error");
	c.s3_profile = "";

	/* tbdr.s3_credentials_file beats AWS_SHARED_CREDENTIALS_FILE */
	c.s3_credentials_file = psprintf("%s/.aws/credentials", tmpdir);
	ok(tbdr_aws_credentials(&c, &cr, &e) && strcmp(cr.access_key_id, "AKIDHOME") == 0,
	   "tbdr.s3_credentials_file beats AWS_SHARED_CREDENTIALS_FILE");
	c.s3_credentials_file = "/nonexistent/credentials";
	ok(!tbdr_aws_credentials(&c, &cr, &e) && contains(e.message, "/nonexistent/credentials") &&
	   contains(e.message, "tbdr.s3_credentials_file"), "named file missing: error");
	c.s3_credentials_file = "";

	/* environment beats the file */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	ok(!tbdr_aws_credentials(&c, &cr, &e), "env key id without secret: error");
	ok(contains(e.message, "AWS_SECRET_ACCESS_KEY") && contains(e.message, "environment"),
	   "says the env secret is missing");
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
	ok(tbdr_aws_credentials(&c, &cr, &e), "environment credentials");
	is_str(cr.access_key_id, "AKIDENV", "env key id");
	is_str(cr.session_token, "tokenenv", "env token");
	is_str(cr.source, "environment", "source: environment");
	unsetenv("AWS_ACCESS_KEY_ID");
	ok(!tbdr_aws_credentials(&c, &cr, &e) && contains(e.message, "AWS_ACCESS_KEY_ID is not"),
	   "env secret without key id: error");
	ok(!contains(e.message, "secretenv"), "env secret not in message");
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);

	/* settings beat the environment */
	c.s3_access_key_id = "AKIDSET";
	ok(!tbdr_aws_credentials(&c, &cr, &e), "setting key id without secret: error");
	ok(contains(e.message, "tbdr.s3_secret_access_key is not"), "says the secret setting is missing");
	c.s3_secret_access_key = "secretset";
	ok(tbdr_aws_credentials(&c, &cr, &e), "settings credentials");
	is_str(cr.access_key_id, "AKIDSET", "settings key id");
	is_str(cr.secret_access_key, "secretset", "settings secret");
	ok(cr.session_token == NULL, "settings: no token (env token not mixed in)");
	is_str(cr.source, "settings", "source: settings");
	c.s3_access_key_id = "";
	ok(!tbdr_aws_credentials(&c, &cr, &e) && contains(e.message, "tbdr.s3_access_key_id is not"),
	   "setting secret without key id: error");
	ok(!contains(e.message, "secretset"), "setting secret not in message");
	c.s3_secret_access_key = "";
	c.s3_session_token = "tok";
	ok(!tbdr_aws_credentials(&c, &cr, &e), "token alone: error");
	c.s3_session_token = "";

	clear_aws_env();
}

static void
test_region_endpoint(void)
{
	TbdrConfig	c;

	clear_aws_env();
	tbdr_config_set_defaults(&c);
	is_str(tbdr_aws_region(&c), "us-east-1", "default region");
	setenv("AWS_DEFAULT_REGION", "eu-west-2", 1);
	is_str(tbdr_aws_region(&c), "eu-west-2", "AWS_DEFAULT_REGION");
	setenv("AWS_REGION", "eu-west-3", 1);
	is_str(tbdr_aws_region(&c), "eu-west-3", "AWS_REGION beats AWS_DEFAULT_REGION");
	c.s3_region = "ap-south-1";
	is_str(tbdr_aws_region(&c), "ap-south-1", "tbdr.s3_region beats the environment");

	is_str(tbdr_aws_endpoint(&c, NULL), "https://s3.ap-south-1.amazonaws.com",
		   "AWS endpoint of the resolved region");
	is_str(tbdr_aws_endpoint(&c, "us-west-2"), "https://s3.us-west-2.amazonaws.com",
		   "AWS endpoint of a given region");
	is_str(tbdr_aws_endpoint(&c, "cn-north-1"), "https://s3.cn-north-1.amazonaws.com.cn",
		   "China partition");
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/", 1);
	is_str(tbdr_aws_endpoint(&c, NULL), "http://127.0.0.1:9000", "AWS_ENDPOINT_URL honoured");
	setenv("AWS_ENDPOINT_URL_S3", "minio.local:9000", 1);
	is_str(tbdr_aws_endpoint(&c, NULL), "https://minio.local:9000",
		   "AWS_ENDPOINT_URL_S3 wins, https:// added");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	is_str(tbdr_aws_endpoint(&c, NULL), "https://s3.ap-south-1.amazonaws.com",
		   "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	c.s3_endpoint = "https://s3.example.com/";
	is_str(tbdr_aws_endpoint(&c, NULL), "https://s3.example.com",
		   "tbdr.s3_endpoint beats the environment");
	clear_aws_env();
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
	{
		perror("mkdtemp");
		return 2;
	}
	clear_aws_env();

	test_defaults_and_table();
	test_set_and_validate();
	test_show_masks_secrets();
	test_repo_parse();
	test_load_file();
	test_credentials();
	test_region_endpoint();

	{
		char	   *cmd = psprintf("rm -rf '%s'", tmpdir);

		if (system(cmd) != 0)
			diag("could not remove the temporary directory");
	}
	return done_testing();
}
