-- tbdr_expire() and the retention settings: signature, permissions, errors.
-- (What expiry keeps and deletes is tested against S3 in test/t/07*.pl.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tbdr;
RESET client_min_messages;

SELECT pg_get_function_arguments('tbdr_expire'::regproc) AS arguments;

-- Without a repository: a clear error (dry run or not).
SELECT * FROM tbdr_expire(dry_run => true);
SELECT * FROM tbdr_expire();

-- The monitoring columns of tbdr_status() are unknown before any expiry.
SELECT last_successful_backup_time IS NULL AS backup_unknown,
	   last_backup_id IS NULL AS no_last_backup,
	   repository_bytes IS NULL AS repository_unknown,
	   last_expiry_time IS NULL AS no_expiry,
	   archive_lag_segments >= 0 AS lag_known
FROM tbdr_status();

-- Permissions: not PUBLIC, but tbdr_operator.
CREATE ROLE tbdr_expire_user;
SET ROLE tbdr_expire_user;
SELECT * FROM tbdr_expire(true);
RESET ROLE;
GRANT tbdr_operator TO tbdr_expire_user;
SET ROLE tbdr_expire_user;
SELECT * FROM tbdr_expire(true);
RESET ROLE;
DROP ROLE tbdr_expire_user;

-- The settings.
SHOW tbdr.retention_days;
SHOW tbdr.retention_policy;
ALTER SYSTEM SET tbdr.retention_days = 0;
ALTER SYSTEM SET tbdr.retention_days = 36501;
ALTER SYSTEM SET tbdr.retention_policy = 'daily=7 yearly=1';
ALTER SYSTEM SET tbdr.retention_policy = 'daily=7,weekly=4 monthly=12';
ALTER SYSTEM RESET tbdr.retention_policy;
