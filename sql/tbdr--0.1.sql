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
-- Counters count since stats_since (server start); queue_depth and
-- oldest_ready_* are computed on call from pg_wal/archive_status.
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
	OUT stats_since timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'tbdr_status'
LANGUAGE C STRICT VOLATILE;

REVOKE ALL ON FUNCTION tbdr_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tbdr_status() TO tbdr_operator;
