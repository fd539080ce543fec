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

--
-- catalog: text columns in the database's default collation (SPEC §12),
-- so that rows compare with plain text values (pgTAP's results_eq, a
-- record comparison).  No index needs "C": the log has no index on these
-- columns, and customer_number's unique index is rebuilt in the default
-- collation (the trigger's number window scans it in the index's own
-- collation).  Not a rewrite: a unique index rebuilt, the log's CHECK
-- verified; on every partition of the log, and the monthly partitions
-- ame_audit_add_partitions() makes later copy these columns (LIKE).
--

ALTER TABLE @extschema@.ame_customers
	ALTER COLUMN customer_number TYPE text COLLATE "default";
ALTER TABLE @extschema@.ame_audit_logs
	ALTER COLUMN table_schema TYPE text COLLATE "default",
	ALTER COLUMN table_name TYPE text COLLATE "default",
	ALTER COLUMN operation TYPE text COLLATE "default";

-- its names as text in the database's collation: a view's column types
-- cannot be changed in place (nothing of the extension depends on it)
DROP VIEW @extschema@.ame_audited_tables;
CREATE VIEW @extschema@.ame_audited_tables WITH (security_invoker = true) AS
SELECT c.oid::pg_catalog.regclass AS relid,
	   n.nspname::pg_catalog.text COLLATE "default" AS table_schema,
	   c.relname::pg_catalog.text COLLATE "default" AS table_name,
	   (l.cols OPERATOR(pg_catalog.||)
		   CASE WHEN c.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
						 '@extschema@.ame_visit_sessions'::pg_catalog.regclass::pg_catalog.oid,
						 '@extschema@.ame_visit_sessions_archive'::pg_catalog.regclass::pg_catalog.oid])
					 AND NOT 'session_token'::pg_catalog.text OPERATOR(pg_catalog.=) ANY (l.cols)
				THEN '{session_token}'::pg_catalog.text[]
				ELSE '{}'::pg_catalog.text[] END) COLLATE "default" AS excluded_columns,
	   t.tgname::pg_catalog.text COLLATE "default" AS trigger_name,
	   CASE WHEN t.tgenabled OPERATOR(pg_catalog.=) 'O'::pg_catalog."char" THEN 'enabled'
			WHEN t.tgenabled OPERATOR(pg_catalog.=) 'D'::pg_catalog."char" THEN 'disabled'
			WHEN t.tgenabled OPERATOR(pg_catalog.=) 'R'::pg_catalog."char" THEN 'replica'
			WHEN t.tgenabled OPERATOR(pg_catalog.=) 'A'::pg_catalog."char" THEN 'always'
	   END AS trigger_state,
	   (SELECT pt.tgrelid::pg_catalog.regclass FROM pg_catalog.pg_trigger pt
		WHERE pt.oid OPERATOR(pg_catalog.=) t.tgparentid) AS partition_of
FROM pg_catalog.pg_trigger t
	 JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
	 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	 CROSS JOIN LATERAL (
		 SELECT COALESCE(pg_catalog.array_agg(x.col ORDER BY x.src, x.pos), '{}'::pg_catalog.text[]) AS cols
		 FROM (SELECT DISTINCT ON (u.col) u.col, u.src, u.pos
			   FROM (SELECT e.col, 1 AS src, a.level OPERATOR(pg_catalog.*) 10000 OPERATOR(pg_catalog.+) e.pos AS pos
					 FROM (SELECT c.oid AS relid, 0 AS level
						   UNION ALL
						   SELECT p.relid::pg_catalog.oid, p.ord::pg_catalog.int4
						   FROM pg_catalog.pg_partition_ancestors(c.oid)
								WITH ORDINALITY p(relid, ord)
						   WHERE p.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) c.oid) a
						  JOIN @extschema@.ame_audit_exclusions ex
							ON ex.relid::pg_catalog.oid OPERATOR(pg_catalog.=) a.relid
						  CROSS JOIN LATERAL pg_catalog.unnest(ex.excluded_columns)
							  WITH ORDINALITY e(col, pos)
					 UNION ALL
					 SELECT pg_catalog.convert_from(
								pg_catalog.substring(t.tgargs, z.prev OPERATOR(pg_catalog.+) 2,
													 z.i OPERATOR(pg_catalog.-) z.prev OPERATOR(pg_catalog.-) 1),
								pg_catalog.getdatabaseencoding()),
							2, z.i
					 FROM (SELECT g.i, pg_catalog.lag(g.i, 1, -1) OVER (ORDER BY g.i) AS prev
						   FROM pg_catalog.generate_series(0, pg_catalog.octet_length(t.tgargs)
															 OPERATOR(pg_catalog.-) 1) g(i)
						   WHERE pg_catalog.get_byte(t.tgargs, g.i) OPERATOR(pg_catalog.=) 0) z) u
			   ORDER BY u.col, u.src, u.pos) x) l
WHERE t.tgfoid OPERATOR(pg_catalog.=)
	  '@extschema@.audit_trigger_function()'::pg_catalog.regprocedure::pg_catalog.oid;

COMMENT ON VIEW @extschema@.ame_audited_tables IS
'the tables audit_trigger_function() audits (partitions of an audited table included), with the columns left out of their images and the trigger''s state';
