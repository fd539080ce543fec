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
