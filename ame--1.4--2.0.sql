/* ame--1.4--2.0.sql: upgrade from 1.4 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '2.0'" to load this file. \quit

-- realtime: routing keys in the per-row payload (schema, visit_id,
-- technician_id of the visit, customer_id), named by the row triggers'
-- arguments; the cleanup's summary lists the visits (C only, no SQL change
-- beyond the comment)

DROP TRIGGER ame_visit_sessions_realtime ON @extschema@.ame_visit_sessions;
DROP TRIGGER ame_visit_progress_realtime ON @extschema@.ame_visit_progress;
DROP TRIGGER device_inventory_realtime ON @extschema@.device_inventory;
CREATE TRIGGER ame_visit_sessions_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_sessions
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify('visit_id', 'technician_id');
CREATE TRIGGER ame_visit_progress_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_progress
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify('visit_id', 'technician_id');
CREATE TRIGGER device_inventory_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_inventory
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify('visit_id', 'customer_id');

COMMENT ON FUNCTION @extschema@.ame_realtime_notify() IS
'AFTER row trigger: notes each change for ame_realtime_notify_statement() (ids only; past 100 rows of a statement, only a count); its arguments name the routing keys of the payload after "id": visit_id, customer_id, technician_id (the visit''s). Errors: 39P01 an unknown or repeated key, a missing column.';
COMMENT ON FUNCTION @extschema@.ame_realtime_notify_statement() IS
'AFTER statement trigger: NOTIFY ame_realtime with {"schema", "table", "operation", "id", <routing keys>} per changed row, or {"schema", "table", "operation", "rows", "bulk": true} above 100 rows. Errors: 39P01 when not fired as an AFTER statement trigger.';
COMMENT ON FUNCTION @extschema@.cleanup_expired_sessions() IS
'atomically move sessions expired more than 24 hours ago into ame_visit_sessions_archive (an id already there is archived again, next to its earlier copy); logs to system_maintenance_log; sends one NOTIFY ame_realtime saying how many sessions of which visits were archived; returns the number moved';

-- sessions: ame_start_session() returns the session's row
-- (session_id, session_token, expires_at); the session errors a client
-- causes are 22023 (unknown token) and 23514 (constraints
-- ame_session_active, ame_visit_workflow); ame_visits_technician_idx on
-- (technician_id, id), read index-only by ame_current_visit_ids()
DROP FUNCTION @extschema@.ame_start_session(uuid, interval);

CREATE FUNCTION @extschema@.ame_start_session(visit_id uuid,
											  ttl interval DEFAULT '8 hours')
RETURNS TABLE (session_id uuid, session_token text, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'ame_start_session'
LANGUAGE C VOLATILE ROWS 1;

COMMENT ON FUNCTION @extschema@.ame_start_session(uuid, interval) IS
'start a new session on a scheduled or in-progress visit the caller can see; returns one row: its id, its unguessable token and its expires_at (now() + ttl). Errors: 22023 visit not found or not visible, NULL argument, ttl not positive; 23514 (constraint ame_visit_workflow) visit completed or cancelled; 42501 without the table rights.';

COMMENT ON FUNCTION @extschema@.ame_touch_session(text, jsonb) IS
'merge a JSON object into the session''s auto_save_data and extend it by its ttl; returns the new expires_at. Errors: 22023 unknown or invisible token, NULL token, auto_save not an object; 23514 (constraint ame_session_active) session ended, expired or archived.';

COMMENT ON FUNCTION @extschema@.ame_end_session(text) IS
'end an active session (is_active = false, expires_at = the end time); returns the end time. Errors: 22023 unknown or invisible token, NULL token; 23514 (constraint ame_session_active) session already ended, expired or archived.';

DROP INDEX @extschema@.ame_visits_technician_idx;
CREATE INDEX ame_visits_technician_idx
	ON @extschema@.ame_visits (technician_id, id);

COMMENT ON INDEX @extschema@.ame_visits_technician_idx IS
'a technician''s visits: the row-level security helper ame_current_visit_ids() reads their ids from it index-only, and the seed''s "active sessions of a technician" starts from it';
