-- Base backups: SQL signatures, permissions, bad arguments, settings.
-- (No repository is configured here: the backups themselves are tested by
-- the TAP tests test/t/04*.pl.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tbdr;
RESET client_min_messages;

-- Signatures.
SELECT p.proname, pg_get_function_result(p.oid) AS result, p.proisstrict, p.provolatile
FROM pg_proc p
WHERE p.proname IN ('tbdr_backup_now', 'tbdr_list_backups', 'tbdr_backup_progress')
ORDER BY p.proname;
SELECT pg_get_function_arguments('tbdr_backup_now'::regproc) AS arguments;
SELECT unnest(string_to_array(pg_get_function_arguments('tbdr_list_backups'::regproc), ', ')) AS out_column;
SELECT unnest(string_to_array(pg_get_function_arguments('tbdr_backup_progress'::regproc), ', ')) AS out_column;

-- Nothing for PUBLIC.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
	   has_function_privilege('tbdr_operator', p.oid, 'EXECUTE') AS operator_execute
FROM pg_proc p
WHERE p.proname IN ('tbdr_backup_now', 'tbdr_list_backups', 'tbdr_backup_progress')
ORDER BY p.proname;

CREATE ROLE tbdr_backup_regress;
SET ROLE tbdr_backup_regress;
SELECT tbdr_backup_now();
SELECT * FROM tbdr_list_backups();
SELECT * FROM tbdr_backup_progress();
RESET ROLE;

-- tbdr_operator may: it gets as far as the missing repository.
GRANT tbdr_operator TO tbdr_backup_regress;
SET ROLE tbdr_backup_regress;
SELECT tbdr_backup_now();
SELECT tbdr_backup_now(wait => true);
SELECT * FROM tbdr_list_backups();
SELECT * FROM tbdr_backup_progress();
RESET ROLE;
DROP ROLE tbdr_backup_regress;

-- Bad arguments.
SELECT tbdr_backup_now(wait => NULL);
SELECT tbdr_backup_now('maybe');
SELECT tbdr_backup_now(true, true);

-- Settings: defaults and validation (ALTER SYSTEM checks the value).
SHOW tbdr.backup_schedule;
SHOW tbdr.backup_catchup;
SHOW tbdr.backup_part_size;
SHOW tbdr.backup_parallel;
SHOW tbdr.backup_max_rate;
SHOW tbdr.backup_archive_timeout;
ALTER SYSTEM SET tbdr.backup_schedule = '61 * * * *';
ALTER SYSTEM SET tbdr.backup_schedule = '* * *';
ALTER SYSTEM SET tbdr.backup_schedule = 'every day';
ALTER SYSTEM SET tbdr.backup_part_size = 0;
ALTER SYSTEM SET tbdr.backup_parallel = 65;
ALTER SYSTEM SET tbdr.backup_max_rate = -1;
ALTER SYSTEM SET tbdr.backup_archive_timeout = 0;
ALTER SYSTEM SET tbdr.backup_catchup = 'sometimes';
-- valid ones are accepted (and reset again)
ALTER SYSTEM SET tbdr.backup_schedule = '30 3 * * sun';
ALTER SYSTEM SET tbdr.backup_schedule = '';
ALTER SYSTEM SET tbdr.backup_schedule = '@daily';
ALTER SYSTEM RESET tbdr.backup_schedule;
