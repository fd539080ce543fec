/* ame--1.1--1.2.sql: upgrade from 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '1.2'" to load this file. \quit

-- Each change of 1.2 has its own section below; a fresh 1.2 install
-- (src/sql/) and this upgrade give the same objects (test/upgrade.t).

--
-- Realtime stays bounded (SPEC §6): the row trigger notes each change, a
-- new statement trigger sends one notification per row, or one summary
-- {"table", "operation", "rows", "bulk": true} for a statement above 100
-- rows; only the table's owner or a superuser can mute it with the
-- restore signals (in C).
--

COMMENT ON FUNCTION @extschema@.ame_realtime_notify() IS
'AFTER row trigger: notes each change for ame_realtime_notify_statement() (ids only; past 100 rows of a statement, only a count)';

CREATE FUNCTION @extschema@.ame_realtime_notify_statement()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_realtime_notify_statement'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_realtime_notify_statement() IS
'AFTER statement trigger: NOTIFY ame_realtime with {"table", "operation", "id", "visit_id"} per changed row, or {"table", "operation", "rows", "bulk": true} above 100 rows';

CREATE TRIGGER ame_visit_sessions_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_sessions
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();
CREATE TRIGGER ame_visit_progress_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_progress
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();
CREATE TRIGGER device_inventory_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_inventory
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();

-- Import: statement triggers fire once per import, and a row a BEFORE ROW
-- trigger suppresses is counted in import_batches.skipped_count
ALTER TABLE @extschema@.import_batches
	ADD COLUMN skipped_count integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN @extschema@.import_batches.skipped_count IS
'records a BEFORE ROW trigger of the target suppressed (neither imported nor errors); success_count + error_count + skipped_count = total_records';
COMMENT ON FUNCTION @extschema@.ame_import_csv(text, text, text) IS
'imports CSV text (customers, technicians or devices); every record is imported, recorded in import_errors, or counted in skipped_count when a BEFORE ROW trigger suppresses it; returns the import_batches id';
