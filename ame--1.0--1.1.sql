/* ame--1.0--1.1.sql: upgrade from 1.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '1.1'" to load this file. \quit

-- The index that finds a record's history becomes a hash index on
-- record_id: one bucket page per insert where the btree on (record_id,
-- seq) descended its levels, on every audited change.  The history
-- functions sort the few rows found by seq.  Rebuilding it reads the whole
-- log once.
DROP INDEX @extschema@.ame_audit_logs_record_idx;
CREATE INDEX ame_audit_logs_record_idx
	ON @extschema@.ame_audit_logs USING hash (record_id);
