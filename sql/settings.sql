--
-- tbdr.* settings: one GUC per row of the core's settings table, validated
-- by the same checks as the tbdr program, secrets visible only to superusers
-- and only as "********".
--

-- Every S3 and repository setting, with its default, unit and context.
SELECT name, setting, unit, vartype, context, enumvals, min_val, max_val
FROM pg_settings
WHERE name IN ('tbdr.repository', 'tbdr.s3_endpoint', 'tbdr.s3_region',
	'tbdr.s3_uri_style', 'tbdr.s3_access_key_id', 'tbdr.s3_secret_access_key',
	'tbdr.s3_session_token', 'tbdr.s3_credentials_file', 'tbdr.s3_profile',
	'tbdr.s3_ca_file', 'tbdr.s3_verify_tls', 'tbdr.s3_sse',
	'tbdr.s3_sse_kms_key_id', 'tbdr.s3_storage_class', 'tbdr.s3_max_retries',
	'tbdr.s3_timeout', 'tbdr.s3_part_size', 'tbdr.s3_parallel')
ORDER BY name;
SHOW tbdr.s3_timeout;
SHOW tbdr.s3_part_size;

-- They apply on reload, so a session cannot SET them.
SET tbdr.s3_region = 'eu-west-1';
SELECT set_config('tbdr.s3_parallel', '8', false);

-- "tbdr" is a reserved prefix: misspelled settings are errors.
SET tbdr.s3_regoin = 'eu-west-1';

-- ALTER SYSTEM runs the checks and writes nothing when they fail.  Each
-- message names the setting and what it accepts.
ALTER SYSTEM SET tbdr.s3_uri_style = 'bogus';
ALTER SYSTEM SET tbdr.s3_sse = 'aes';
ALTER SYSTEM SET tbdr.s3_verify_tls = 'maybe';
ALTER SYSTEM SET tbdr.s3_parallel = 65;
ALTER SYSTEM SET tbdr.s3_max_retries = -1;
ALTER SYSTEM SET tbdr.s3_timeout = '2h';
ALTER SYSTEM SET tbdr.s3_part_size = '4MB';
ALTER SYSTEM SET tbdr.repository = 's3://My_Bucket/pg';
ALTER SYSTEM SET tbdr.repository = 's3://ab/pg';
ALTER SYSTEM SET tbdr.repository = 's3:///pg';
ALTER SYSTEM SET tbdr.repository = 'file://relative/dir';
ALTER SYSTEM SET tbdr.repository = '/var/backups';
ALTER SYSTEM SET tbdr.s3_endpoint = 's3.example.com';
ALTER SYSTEM SET tbdr.s3_endpoint = 'https://s3.example.com/bucket';
ALTER SYSTEM SET tbdr.s3_storage_class = 'glacier';
ALTER SYSTEM SET tbdr.s3_ca_file = 'ca.pem';
ALTER SYSTEM SET tbdr.s3_credentials_file = '.aws/credentials';
ALTER SYSTEM SET tbdr.s3_region = 'eu west 1';
SELECT count(*) AS tbdr_lines_in_auto_conf
FROM pg_file_settings WHERE name LIKE 'tbdr.%';

-- Good values are accepted; enum names in any case, as GUC does.
ALTER SYSTEM SET tbdr.s3_uri_style = 'HOST';
ALTER SYSTEM SET tbdr.s3_sse = 'aws:kms';
ALTER SYSTEM SET tbdr.s3_timeout = '2min';
ALTER SYSTEM SET tbdr.repository = 's3://my-bucket.example/pg/main/';
ALTER SYSTEM SET tbdr.repository = 'file:///var/lib/tbdr/repo';
ALTER SYSTEM SET tbdr.s3_endpoint = 'http://127.0.0.1:9000';
ALTER SYSTEM SET tbdr.s3_storage_class = 'STANDARD_IA';
ALTER SYSTEM SET tbdr.s3_ca_file = '/etc/ssl/certs/ca-certificates.crt';
SELECT name, setting FROM pg_file_settings WHERE name LIKE 'tbdr.%' ORDER BY seqno;
ALTER SYSTEM RESET tbdr.s3_uri_style;
ALTER SYSTEM RESET tbdr.s3_sse;
ALTER SYSTEM RESET tbdr.s3_timeout;
ALTER SYSTEM RESET tbdr.repository;
ALTER SYSTEM RESET tbdr.s3_endpoint;
ALTER SYSTEM RESET tbdr.s3_storage_class;
ALTER SYSTEM RESET tbdr.s3_ca_file;

-- Secrets: a superuser sees that they exist and whether they are set ...
SELECT name, setting, reset_val FROM pg_settings
WHERE name IN ('tbdr.s3_secret_access_key', 'tbdr.s3_session_token')
ORDER BY name;
SHOW tbdr.s3_secret_access_key;

-- ... never their value.  The reload also must not log it: the postmaster
-- logs 'parameter "x" changed to "<value>"' for changed settings, which
-- tbdr avoids by keeping the secret out of the GUC variable.
ALTER SYSTEM SET tbdr.s3_secret_access_key = 'regress-secret-value-1';
ALTER SYSTEM SET tbdr.s3_region = 'eu-west-1';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_sleep(0.5);
SHOW tbdr.s3_secret_access_key;
SELECT current_setting('tbdr.s3_secret_access_key');
SELECT name, setting, reset_val FROM pg_settings
WHERE name IN ('tbdr.s3_secret_access_key', 'tbdr.s3_region')
ORDER BY name;
-- the server log of pg_regress's temporary instance (see the Makefile)
SELECT position('regress-secret-value' IN log) = 0 AS secret_not_logged,
	position('parameter "tbdr.s3_region" changed to "eu-west-1"' IN log) > 0
		AS other_changes_logged
FROM (SELECT pg_read_file(regexp_replace(current_setting('data_directory'),
		'tmp_check_regress/data$', 'log/postmaster.log')) AS log) AS l;

-- A role without superuser or pg_read_all_settings cannot see them at all.
CREATE ROLE tbdr_regress_nobody;
SET ROLE tbdr_regress_nobody;
SELECT name FROM pg_settings
WHERE name IN ('tbdr.s3_secret_access_key', 'tbdr.s3_session_token',
	'tbdr.s3_access_key_id')
ORDER BY name;
SHOW tbdr.s3_secret_access_key;
SELECT current_setting('tbdr.s3_session_token');
RESET ROLE;
DROP ROLE tbdr_regress_nobody;

ALTER SYSTEM RESET tbdr.s3_secret_access_key;
ALTER SYSTEM RESET tbdr.s3_region;
SELECT pg_reload_conf();
