/* tbdr--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION tbdr" to load this file. \quit

-- Role for monitoring and operating tbdr without superuser rights.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tbdr_operator') THEN
		CREATE ROLE tbdr_operator NOLOGIN;
	END IF;
END
$$;

-- Archiving status (shared memory; needs tbdr in shared_preload_libraries).
-- The last eleven columns (backups, archive lag, repository, expiry) are
-- described in docs/MONITORING.md.
-- Counters count since stats_since (server start); queue_depth and
-- oldest_ready_* are computed on call from pg_wal/archive_status.  gap_*:
-- segments acknowledged without being stored (tbdr.archive_queue_max).
CREATE FUNCTION tbdr_status(
	OUT last_archived_wal text,
	OUT last_archived_time timestamptz,
	OUT last_failed_wal text,
	OUT last_failed_time timestamptz,
	OUT last_failure text,
	OUT archived_count bigint,
	OUT failed_count bigint,
	OUT archived_bytes bigint,
	OUT stored_bytes bigint,
	OUT queue_depth bigint,
	OUT oldest_ready_wal text,
	OUT oldest_ready_age interval,
	OUT worker_state text,
	OUT stats_since timestamptz,
	OUT gap_count bigint,
	OUT last_gap_wal text,
	OUT last_gap_time timestamptz,
	OUT last_successful_backup_time timestamptz,
	OUT last_successful_backup_bytes bigint,
	OUT recent_backup_median_bytes bigint,
	OUT last_backup_id text,
	OUT last_backup_status text,
	OUT last_backup_bytes bigint,
	OUT seconds_since_last_archive double precision,
	OUT archive_lag_segments bigint,
	OUT repository_bytes bigint,
	OUT last_expiry_time timestamptz,
	OUT last_expiry_result text)
RETURNS record
AS 'MODULE_PATHNAME', 'tbdr_status'
LANGUAGE C STRICT VOLATILE;

REVOKE ALL ON FUNCTION tbdr_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tbdr_status() TO tbdr_operator;

-- Base backups (src/backend/backup.h).  The worker runs as superuser on
-- behalf of the caller, so only tbdr_operator (and superusers) may start
-- one; the list reads the repository.
CREATE FUNCTION tbdr_backup_now(wait boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'tbdr_backup_now'
LANGUAGE C VOLATILE;

CREATE FUNCTION tbdr_list_backups(
	OUT backup_id text,
	OUT status text,
	OUT started_at timestamptz,
	OUT finished_at timestamptz,
	OUT start_lsn pg_lsn,
	OUT stop_lsn pg_lsn,
	OUT timeline integer,
	OUT database_bytes bigint,
	OUT stored_bytes bigint,
	OUT wal_start text,
	OUT wal_stop text,
	OUT error text,
	OUT checksum_failures integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'tbdr_list_backups'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION tbdr_backup_progress(
	OUT backup_id text,
	OUT phase text,
	OUT pid integer,
	OUT started_at timestamptz,
	OUT bytes_done bigint,
	OUT bytes_total bigint,
	OUT parts_done integer,
	OUT parts_total integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'tbdr_backup_progress'
LANGUAGE C STRICT VOLATILE;

REVOKE ALL ON FUNCTION tbdr_backup_now(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION tbdr_list_backups() FROM PUBLIC;
REVOKE ALL ON FUNCTION tbdr_backup_progress() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tbdr_backup_now(boolean) TO tbdr_operator;
GRANT EXECUTE ON FUNCTION tbdr_list_backups() TO tbdr_operator;
GRANT EXECUTE ON FUNCTION tbdr_backup_progress() TO tbdr_operator;

-- Retention (src/core/expire.h): delete what tbdr.retention_days and
-- tbdr.retention_policy no longer keep, or with dry_run only show it.  One
-- row per deleted backup, failed backup's data, or run of WAL files.
CREATE FUNCTION tbdr_expire(
	dry_run boolean DEFAULT false,
	OUT kind text,
	OUT name text,
	OUT last text,
	OUT objects integer,
	OUT bytes bigint,
	OUT done boolean,
	OUT reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'tbdr_expire'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION tbdr_expire(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tbdr_expire(boolean) TO tbdr_operator;
