-- tbdr_status(): columns, values of a fresh instance, permissions.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tbdr;
RESET client_min_messages;

-- The columns, in order.
SELECT unnest(string_to_array(pg_get_function_arguments('tbdr_status'::regproc), ', ')) AS out_column;

-- A fresh instance without archiving: nothing archived, nothing failed.
SELECT last_archived_wal IS NULL AS no_last_archived,
	   last_failed_wal IS NULL AS no_last_failed,
	   last_failure IS NULL AS no_failure,
	   archived_count, failed_count, archived_bytes, stored_bytes,
	   queue_depth,
	   (oldest_ready_wal IS NULL) = (queue_depth = 0) AS oldest_consistent,
	   worker_state,
	   stats_since <= now() AS stats_since_past
FROM tbdr_status();

-- No WAL gap (tbdr.archive_queue_max is off).
SELECT gap_count, last_gap_wal IS NULL AS no_gap_wal,
	   last_gap_time IS NULL AS no_gap_time
FROM tbdr_status();

-- Permissions: not PUBLIC, but tbdr_operator.
SELECT rolcanlogin FROM pg_roles WHERE rolname = 'tbdr_operator';
CREATE ROLE tbdr_regress_user;
SET ROLE tbdr_regress_user;
SELECT count(*) FROM tbdr_status();
RESET ROLE;
GRANT tbdr_operator TO tbdr_regress_user;
SET ROLE tbdr_regress_user;
SELECT count(*) FROM tbdr_status();
RESET ROLE;
DROP ROLE tbdr_regress_user;

-- Validation of the archiving settings (ALTER SYSTEM checks the value).
ALTER SYSTEM SET tbdr.compression = 'lz4';
ALTER SYSTEM SET tbdr.compression_level = 20;
ALTER SYSTEM SET tbdr.compression_level = 0;
ALTER SYSTEM SET tbdr.encryption_key_file = 'relative/key';
ALTER SYSTEM SET tbdr.archive_parallel = 33;
ALTER SYSTEM SET tbdr.restore_prefetch = -1;
ALTER SYSTEM SET tbdr.archive_queue_max = -1;
ALTER SYSTEM SET tbdr.database = '';
ALTER SYSTEM SET tbdr.compression = 'none';
ALTER SYSTEM RESET tbdr.compression;
SHOW tbdr.compression;
SHOW tbdr.compression_level;
SHOW tbdr.archive_parallel;
SHOW tbdr.restore_prefetch;
SHOW tbdr.database;
