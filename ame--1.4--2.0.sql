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

-- A month dumped before 2.0 is restored as a table whose table_schema,
-- table_name and operation are COLLATE "C", and ATTACH PARTITION refuses
-- it ("child table ... has different collation") under the log of 2.0,
-- whose columns have the database's default collation.  So a table made
-- under a month's name in the extension's schema, not yet a partition,
-- gets the log's collation as it is made (it is empty then: pg_dump
-- attaches a month before it loads its rows).
CREATE FUNCTION @extschema@.ame_audit_partition_collation()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	rel pg_catalog.regclass;
	col pg_catalog.name;
BEGIN
	FOR rel IN
		SELECT r.oid::pg_catalog.regclass
		FROM pg_catalog.pg_event_trigger_ddl_commands() d
			 JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) d.objid
		WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid
		  AND r.relkind OPERATOR(pg_catalog.=) 'r'::pg_catalog."char"
		  AND NOT r.relispartition
		  AND r.relnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace::pg_catalog.oid
		  AND r.relname::pg_catalog.text OPERATOR(pg_catalog.~) '^ame_audit_logs_y[0-9]{4}m[0-9]{2}$'::pg_catalog.text
	LOOP
		FOR col IN
			SELECT a.attname FROM pg_catalog.pg_attribute a
			WHERE a.attrelid OPERATOR(pg_catalog.=) rel::pg_catalog.oid
			  AND a.attname OPERATOR(pg_catalog.=) ANY ('{table_schema,table_name,operation}'::pg_catalog.name[])
			  AND a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.text'::pg_catalog.regtype::pg_catalog.oid
			  AND a.attcollation OPERATOR(pg_catalog.=) 'pg_catalog."C"'::pg_catalog.regcollation::pg_catalog.oid
			  AND NOT a.attisdropped
			ORDER BY a.attnum
		LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE pg_catalog.text COLLATE pg_catalog."default"',
									  rel, col);
		END LOOP;
	END LOOP;
END
$fn$;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_partition_collation() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_partition_collation() IS
'ddl_command_end event trigger on CREATE TABLE: a table made under the name of a month of ame_audit_logs (ame_audit_logs_yYYYYmMM) in the extension''s schema, not yet a partition, whose table_schema, table_name or operation is COLLATE "C" (a month dumped before 2.0) gets the log''s default collation, so that ATTACH PARTITION takes it. Errors: none.';

CREATE EVENT TRIGGER ame_audit_partition_collation ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE')
	EXECUTE FUNCTION @extschema@.ame_audit_partition_collation();

--
-- catalog: a comment on every column of every table and view, and every
-- function's comment ends with its errors (SPEC §12), as 2.0's install
-- script (src/sql/90_comments.sql and the comments next to the functions)
--

COMMENT ON FUNCTION @extschema@.ame_current_user_id() IS
'the acting user: GUC request.jwt.claim.sub, else "sub" of the JSON in request.jwt.claims; NULL when unset. Errors: 22P02 a claim that is set but is not a uuid, not JSON, or not a JSON object.';
COMMENT ON FUNCTION @extschema@.normalize_customer_data() IS
'BEFORE INSERT OR UPDATE row trigger of ame_customers: canonical phone, extension, email, service tier and customer number. Errors: 22P02 a phone or extension without digits; 22023 an invalid email or service tier, an extension of more than 10 digits; 55000 customer_sequence missing; 39P01 fired other than as a BEFORE INSERT OR UPDATE row trigger of a table with those columns.';
COMMENT ON FUNCTION @extschema@.ame_set_updated_at() IS
'BEFORE UPDATE row trigger: sets updated_at to now() when another column really changed, else keeps it. Errors: 39P01 fired other than as a BEFORE UPDATE row trigger of a table with a timestamptz updated_at.';
COMMENT ON FUNCTION @extschema@.audit_trigger_function() IS
'AFTER INSERT OR UPDATE OR DELETE row trigger: one ame_audit_logs row per changed row; its arguments name the columns left out of the images. Errors: 39P01 fired other than as an AFTER row trigger, or on a table without a usable uuid id; 55000 an excluded column renamed or dropped, the log or its sequence missing; 09000 a change made while a row is written to the log; 54000 an image larger than jsonb allows.';
COMMENT ON FUNCTION @extschema@.ame_audit_log_guard() IS
'keeps ame_audit_logs and every partition of it append-only: UPDATE, DELETE and TRUNCATE fail (ame_purge_audit_logs(), ame_audit_add_partitions() and ame_redact_audit() excepted). Errors: 42501 every such change; 39P01 called directly.';
COMMENT ON FUNCTION @extschema@.ame_require_owner(text) IS
'returns nothing for a caller with the privileges of the extension''s owner; the first step of every owner-only function. Errors: 42501 "permission denied for function" for any other caller; 42704 the extension''s catalog row is gone.';
COMMENT ON FUNCTION @extschema@.ame_enable_audit(regclass, text[]) IS
'audit a table (it needs a uuid column "id"), leaving out the columns in exclude: adds trigger ame_audit, or replaces its list of excluded columns (kept in ame_audit_exclusions); owner only. Errors: 42501 not the extension''s owner; 22023 a NULL or unusable table (not a table, no uuid id) or a bad exclude list; 22004 a NULL in exclude; 42703 an unknown column; 42710 the table has a trigger ame_audit of its own; 55000 another list on a partition of an audited table.';
COMMENT ON FUNCTION @extschema@.ame_disable_audit(regclass) IS
'stop auditing a table (drops trigger ame_audit and its list of excluded columns; its history stays); owner only. Errors: 42501 not the extension''s owner; 22023 a NULL table.';
COMMENT ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) IS
'make the missing monthly (UTC) partitions of ame_audit_logs from since''s month to until''s (NULL: three months ahead), moving their rows out of the default partition; returns how many were made; owner only. Errors: 42501 not the extension''s owner; 22023 NULL, infinite or reversed dates, more than 1200 months, years outside 1900 to 9999; 42P17 a month a partition someone attached covers in part.';
COMMENT ON FUNCTION @extschema@.ame_purge_audit_logs(interval) IS
'remove audit rows performed more than older_than ago: whole months are detached and dropped, the boundary month deleted from; logs to system_maintenance_log; returns the count; owner only. Errors: 42501 not the extension''s owner; 22023 a NULL or negative older_than.';
COMMENT ON FUNCTION @extschema@.ame_audit_maintenance() IS
'the nightly audit maintenance (pg_cron job audit-maintenance): partitions three months ahead, and the purge of rows older than ame.audit_retention when it is set; returns what it did as JSON; owner only. Errors: 42501 not the extension''s owner.';
COMMENT ON FUNCTION @extschema@.ame_redact_audit(regclass, uuid, text[], text) IS
'replace those columns'' values with "[redacted]" in every image of the record in ame_audit_logs, log a REDACT row with the reason; returns the images changed; owner only. Errors: 42501 not the extension''s owner; 22023 a NULL or empty argument, not a table, a column listed twice or id; 22004 a NULL in columns; 42703 an unknown column; 55000 a table neither audited nor in the log.';
COMMENT ON FUNCTION @extschema@.ame_audit_log_history(regclass, uuid, timestamptz) IS
'every log row of one record id up to a time (also from before its id changed), in order; caller''s rights: needs SELECT on ame_audit_logs. Errors: 42501 without SELECT on ame_audit_logs.';
COMMENT ON FUNCTION @extschema@.ame_audit_log_lineage(regclass, uuid, timestamptz) IS
'the log rows of the row that now has this id, up to a time: since its last INSERT, back through the id changes that made it; caller''s rights: needs SELECT on ame_audit_logs. Errors: 42501 without SELECT on ame_audit_logs.';
COMMENT ON FUNCTION @extschema@.ame_record_history(regclass, uuid) IS
'the audit rows of one record, in order (also those from before its id changed); only for a caller who may SELECT the table and sees the live row, or may read the log. Errors: 22023 a NULL argument, not a table, no uuid id; 42P01 a dropped table; 42501 a caller who may read neither the table nor the log.';
COMMENT ON FUNCTION @extschema@.ame_record_at(regclass, uuid, timestamptz) IS
'the record as it was at that time, as jsonb (NULL before it existed and after it was deleted); only for a caller who may SELECT the table and sees the live row, or may read the log. Errors: 22023 a NULL argument, not a table, no uuid id; 42P01 a dropped table; 42501 a caller who may read neither the table nor the log.';
COMMENT ON FUNCTION @extschema@.ame_visit_workflow() IS
'BEFORE INSERT OR UPDATE row trigger of ame_visits: allowed status changes only, phases forward one at a time with their tasks done, stamps actual_start_time and completed_at, derives duration_hours. Errors: 23514 a change the workflow refuses (constraint ame_visit_workflow); 22008 times too far apart; 55000 a damaged install; 39P01 fired other than as installed.';
COMMENT ON FUNCTION @extschema@.ame_visit_task_workflow() IS
'AFTER INSERT OR UPDATE row trigger of ame_visit_progress: open tasks only in the current or a later phase of an open visit, tasks completed only while the visit is in progress. Errors: 23514 a change the workflow refuses (constraint ame_visit_task_workflow); 55000 a damaged install; 39P01 fired other than as installed.';
COMMENT ON FUNCTION @extschema@.ame_advance_phase(uuid) IS
'moves a visit in progress to its next phase and returns it; the tasks of the phase left must be done. Errors: 22023 no such visit visible to you; 23514 refused by the workflow, or another change moved the visit first.';
COMMENT ON FUNCTION @extschema@.ame_complete_task(uuid, text) IS
'marks a task done (completed_at now; a task already done keeps its time) and sets its notes when given. Errors: 22023 no such task visible to you; 23514 the visit is not in progress, or the task is of a later phase.';
COMMENT ON FUNCTION @extschema@.ame_visit_next_steps(uuid) IS
'what can be done next with a visit, as the caller sees it: start, advance_phase, complete, cancel and complete_task (one row per open task), each with allowed and, when not, the reason; no rows for a visit the caller cannot see. Errors: none.';
COMMENT ON FUNCTION @extschema@.ame_service_levels_restore() IS
'BEFORE INSERT row trigger of ame_service_levels: in a restore session of the owner, a row for a tier that exists updates its targets instead of failing with 23505. Errors: 39P01 fired other than as a BEFORE INSERT row trigger of a table with those columns.';

--
-- ame_customers
--
COMMENT ON COLUMN @extschema@.ame_customers.id IS
'primary key';
COMMENT ON COLUMN @extschema@.ame_customers.customer_number IS
'unique customer number; generated by the trigger when not given (AME-000001, AME-000002, ... from customer_sequence, skipping numbers taken)';
COMMENT ON COLUMN @extschema@.ame_customers.company_name IS
'the customer''s company; not blank';
COMMENT ON COLUMN @extschema@.ame_customers.site_name IS
'the name of the site serviced';
COMMENT ON COLUMN @extschema@.ame_customers.site_address IS
'the site''s address';
COMMENT ON COLUMN @extschema@.ame_customers.primary_contact IS
'the person to contact at the site';
COMMENT ON COLUMN @extschema@.ame_customers.phone IS
'the contact''s phone number, digits only (normalized; an extension written in it moves to phone_extension)';
COMMENT ON COLUMN @extschema@.ame_customers.phone_extension IS
'the phone extension, digits only, at most 10 (normalized)';
COMMENT ON COLUMN @extschema@.ame_customers.email IS
'the contact''s email address, trimmed and lower-cased, of the form local@domain (normalized)';
COMMENT ON COLUMN @extschema@.ame_customers.service_tier IS
'CORE, ASSURE or GUARDIAN (any case on input, stored upper case); its targets are in ame_service_levels';
COMMENT ON COLUMN @extschema@.ame_customers.system_type IS
'the building-automation system at the site (free text)';
COMMENT ON COLUMN @extschema@.ame_customers.contract_start_date IS
'the first day of the service contract';
COMMENT ON COLUMN @extschema@.ame_customers.contract_end_date IS
'the last day of the service contract; not before contract_start_date';
COMMENT ON COLUMN @extschema@.ame_customers.created_at IS
'when the row was inserted';
COMMENT ON COLUMN @extschema@.ame_customers.updated_at IS
'when a column last changed (set by ame_set_updated_at())';

--
-- ame_technicians
--
COMMENT ON COLUMN @extschema@.ame_technicians.id IS
'primary key';
COMMENT ON COLUMN @extschema@.ame_technicians.user_id IS
'the uuid of the technician''s login identity (the JWT "sub", ame_current_user_id()); unique; NULL when none';
COMMENT ON COLUMN @extschema@.ame_technicians.name IS
'the technician''s name';
COMMENT ON COLUMN @extschema@.ame_technicians.email IS
'the technician''s email address (not normalized)';
COMMENT ON COLUMN @extschema@.ame_technicians.phone IS
'the technician''s phone number (not normalized)';
COMMENT ON COLUMN @extschema@.ame_technicians.is_active IS
'false for a technician who no longer takes visits';
COMMENT ON COLUMN @extschema@.ame_technicians.created_at IS
'when the row was inserted';
COMMENT ON COLUMN @extschema@.ame_technicians.updated_at IS
'when a column last changed (set by ame_set_updated_at())';

--
-- ame_visits
--
COMMENT ON COLUMN @extschema@.ame_visits.id IS
'primary key';
COMMENT ON COLUMN @extschema@.ame_visits.customer_id IS
'the customer visited (ame_customers.id; a customer with visits cannot be deleted)';
COMMENT ON COLUMN @extschema@.ame_visits.technician_id IS
'the technician assigned (ame_technicians.id); NULL while unassigned; row-level security shows a technician only their own visits';
COMMENT ON COLUMN @extschema@.ame_visits.status IS
'scheduled, in_progress, completed or cancelled; changed only as the workflow allows (ame_visit_workflow())';
COMMENT ON COLUMN @extschema@.ame_visits.current_phase IS
'the phase the visit is in, 1 to 4; moves forward one at a time once the phase''s tasks are done (ame_advance_phase())';
COMMENT ON COLUMN @extschema@.ame_visits.scheduled_date IS
'the day the visit is planned for';
COMMENT ON COLUMN @extschema@.ame_visits.actual_start_time IS
'when the visit started (stamped when it becomes in_progress)';
COMMENT ON COLUMN @extschema@.ame_visits.completed_at IS
'when the visit was completed (stamped when it becomes completed); not before actual_start_time';
COMMENT ON COLUMN @extschema@.ame_visits.duration_hours IS
'hours from actual_start_time to completed_at, derived when the visit is completed';
COMMENT ON COLUMN @extschema@.ame_visits.notes IS
'free-text notes on the visit';
COMMENT ON COLUMN @extschema@.ame_visits.created_at IS
'when the visit was requested; the service levels measure response and resolution from it';
COMMENT ON COLUMN @extschema@.ame_visits.updated_at IS
'when a column last changed (set by ame_set_updated_at())';

--
-- ame_visit_progress
--
COMMENT ON COLUMN @extschema@.ame_visit_progress.id IS
'primary key; the task id ame_complete_task() takes';
COMMENT ON COLUMN @extschema@.ame_visit_progress.visit_id IS
'the visit the task belongs to (ame_visits.id; deleted with it)';
COMMENT ON COLUMN @extschema@.ame_visit_progress.phase IS
'the phase of the visit the task belongs to, 1 to 4';
COMMENT ON COLUMN @extschema@.ame_visit_progress.task_name IS
'the task; unique within one phase of one visit';
COMMENT ON COLUMN @extschema@.ame_visit_progress.is_completed IS
'whether the task is done';
COMMENT ON COLUMN @extschema@.ame_visit_progress.completed_at IS
'when the task was done; required when is_completed';
COMMENT ON COLUMN @extschema@.ame_visit_progress.notes IS
'free-text notes on the task';
COMMENT ON COLUMN @extschema@.ame_visit_progress.created_at IS
'when the row was inserted';
COMMENT ON COLUMN @extschema@.ame_visit_progress.updated_at IS
'when a column last changed (set by ame_set_updated_at())';

--
-- ame_visit_sessions and its archive (the same columns, plus archived_at)
--
COMMENT ON COLUMN @extschema@.ame_visit_sessions.id IS
'primary key; the session id';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.visit_id IS
'the visit the session works on (ame_visits.id; deleted with it)';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.technician_id IS
'the visit''s technician when the session started (ame_technicians.id; NULL when none, or once deleted)';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.session_token IS
'the unguessable token the session is touched and ended with; unique; never written to the audit log';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.auto_save_data IS
'the form data auto-saved during the session, a JSON object (ame_touch_session() merges into it)';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.is_active IS
'false once the session was ended';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.last_activity IS
'when the session was started, last touched or ended';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.created_at IS
'when the session started';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.expires_at IS
'when the session expires (last activity plus ttl), or when it was ended; after created_at';
COMMENT ON COLUMN @extschema@.ame_visit_sessions.ttl IS
'how long the session lives after each activity; positive';

COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.id IS
'the session id (with archived_at the primary key: a session archived again keeps each copy)';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.visit_id IS
'the visit the session worked on (no foreign key: the archive outlives the visit)';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.technician_id IS
'the visit''s technician when the session started';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.session_token IS
'the session''s token (touching it says the session was archived)';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.auto_save_data IS
'the form data auto-saved during the session';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.is_active IS
'false when the session was ended, true when it simply expired';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.last_activity IS
'when the session was last started, touched or ended';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.created_at IS
'when the session started';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.expires_at IS
'when the session expired or was ended';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.ttl IS
'how long the session lived after each activity';
COMMENT ON COLUMN @extschema@.ame_visit_sessions_archive.archived_at IS
'when cleanup_expired_sessions() moved the session here';

--
-- device_inventory
--
COMMENT ON COLUMN @extschema@.device_inventory.id IS
'primary key';
COMMENT ON COLUMN @extschema@.device_inventory.customer_id IS
'the customer whose site has the device (ame_customers.id; a customer with devices cannot be deleted)';
COMMENT ON COLUMN @extschema@.device_inventory.visit_id IS
'the visit that found or last saw the device (ame_visits.id); NULL when none, or once deleted';
COMMENT ON COLUMN @extschema@.device_inventory.device_name IS
'the device''s name';
COMMENT ON COLUMN @extschema@.device_inventory.device_type IS
'the kind of device: controller, sensor, ... (free text)';
COMMENT ON COLUMN @extschema@.device_inventory.vendor IS
'the device''s maker';
COMMENT ON COLUMN @extschema@.device_inventory.model IS
'the device''s model';
COMMENT ON COLUMN @extschema@.device_inventory.firmware_version IS
'the firmware version installed';
COMMENT ON COLUMN @extschema@.device_inventory.ip_address IS
'the device''s IP address';
COMMENT ON COLUMN @extschema@.device_inventory.status IS
'the device''s state as last seen (free text)';
COMMENT ON COLUMN @extschema@.device_inventory.last_seen IS
'when the device was last seen';
COMMENT ON COLUMN @extschema@.device_inventory.created_at IS
'when the row was inserted';
COMMENT ON COLUMN @extschema@.device_inventory.updated_at IS
'when a column last changed (set by ame_set_updated_at())';

--
-- system_maintenance_log
--
COMMENT ON COLUMN @extschema@.system_maintenance_log.id IS
'primary key';
COMMENT ON COLUMN @extschema@.system_maintenance_log.operation IS
'what ran: session_cleanup, audit_purge, ...';
COMMENT ON COLUMN @extschema@.system_maintenance_log.affected_rows IS
'how many rows it moved or removed';
COMMENT ON COLUMN @extschema@.system_maintenance_log.performed_at IS
'when it ran';
COMMENT ON COLUMN @extschema@.system_maintenance_log.duration_ms IS
'how long it took, in milliseconds';
COMMENT ON COLUMN @extschema@.system_maintenance_log.details IS
'what else the run reports, a JSON object (its keys depend on operation)';

--
-- import_batches and import_errors
--
COMMENT ON COLUMN @extschema@.import_batches.id IS
'primary key; the batch id the import functions return';
COMMENT ON COLUMN @extschema@.import_batches.source_file IS
'the file imported: its path, the source_file given, or (inline)';
COMMENT ON COLUMN @extschema@.import_batches.import_type IS
'customers, technicians or devices: the table imported into';
COMMENT ON COLUMN @extschema@.import_batches.status IS
'processing, completed, completed_with_errors, failed, or interrupted (a chunked import stopped by an error; resumable)';
COMMENT ON COLUMN @extschema@.import_batches.total_records IS
'the data records read (the header not counted)';
COMMENT ON COLUMN @extschema@.import_batches.success_count IS
'the records imported';
COMMENT ON COLUMN @extschema@.import_batches.error_count IS
'the records not imported, each a row of import_errors';
COMMENT ON COLUMN @extschema@.import_batches.error_message IS
'why the batch failed (a bad header, ...); NULL otherwise';
COMMENT ON COLUMN @extschema@.import_batches.created_at IS
'when the import started';

COMMENT ON COLUMN @extschema@.import_errors.id IS
'primary key';
COMMENT ON COLUMN @extschema@.import_errors.batch_id IS
'the import the record belongs to (import_batches.id; deleted with it)';
COMMENT ON COLUMN @extschema@.import_errors.row_number IS
'the record''s ordinal in the file (1 = the first data record)';
COMMENT ON COLUMN @extschema@.import_errors.line_number IS
'the physical line of the file where the record starts';
COMMENT ON COLUMN @extschema@.import_errors.sqlstate IS
'the SQLSTATE of the error (22P04 a ragged record, 23505 a duplicate, ...)';
COMMENT ON COLUMN @extschema@.import_errors.error_message IS
'the error''s message, with its DETAIL and HINT lines';
COMMENT ON COLUMN @extschema@.import_errors.raw_data IS
'the record''s fields keyed by the header''s column names, as JSON';
COMMENT ON COLUMN @extschema@.import_errors.raw_record IS
'the record''s exact bytes as read';
COMMENT ON COLUMN @extschema@.import_errors.created_at IS
'when the error was recorded';

--
-- ame_audit_logs, its default partition, and the monthly ones: a
-- partition carries the log's column comments (LIKE ... INCLUDING ALL
-- copies them to the partitions ame_audit_add_partitions() makes)
--
COMMENT ON COLUMN @extschema@.ame_audit_logs.id IS
'the row''s id, a time-ordered (version 7) uuid; unique within its partition';
COMMENT ON COLUMN @extschema@.ame_audit_logs.table_schema IS
'the schema of the table changed';
COMMENT ON COLUMN @extschema@.ame_audit_logs.table_name IS
'the table changed (for a partitioned table, the partition)';
COMMENT ON COLUMN @extschema@.ame_audit_logs.record_id IS
'the id of the row changed';
COMMENT ON COLUMN @extschema@.ame_audit_logs.operation IS
'INSERT, UPDATE, DELETE, or REDACT (ame_redact_audit())';
COMMENT ON COLUMN @extschema@.ame_audit_logs.old_values IS
'the whole row before an UPDATE or DELETE as JSON, but for its excluded columns; NULL for INSERT';
COMMENT ON COLUMN @extschema@.ame_audit_logs.new_values IS
'the whole row after an INSERT or UPDATE as JSON, but for its excluded columns; NULL for DELETE';
COMMENT ON COLUMN @extschema@.ame_audit_logs.changed_fields IS
'UPDATE: the columns whose values changed, in column order; REDACT: the columns redacted; else empty';
COMMENT ON COLUMN @extschema@.ame_audit_logs.user_id IS
'who made the change: ame_current_user_id() (no foreign key); NULL without an identity';
COMMENT ON COLUMN @extschema@.ame_audit_logs.performed_at IS
'the time of the change''s transaction; the partition key';
COMMENT ON COLUMN @extschema@.ame_audit_logs.seq IS
'orders the changes, also within one transaction (ame_audit_logs_seq_seq)';
COMMENT ON COLUMN @extschema@.ame_audit_logs.context IS
'a JSON object: txid, application_name, current_user, session_user, client_addr, and audit_context when ame.audit_context is set';

DO $comments$
DECLARE
	part record;
BEGIN
	-- every partition (the default one, and the months made at install or
	-- before 2.0) gets the log's column comments, and a monthly one a
	-- comment of its own if it has none
	FOR part IN
		SELECT i.inhrelid::pg_catalog.regclass AS rel, c.relname
		FROM pg_catalog.pg_inherits i
			 JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
		WHERE i.inhparent OPERATOR(pg_catalog.=) '@extschema@.ame_audit_logs'::pg_catalog.regclass
	LOOP
		EXECUTE (SELECT pg_catalog.string_agg(
							pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', part.rel, a.attname,
											  pg_catalog.col_description(a.attrelid, a.attnum)),
							'; ')
				 FROM pg_catalog.pg_attribute a
				 WHERE a.attrelid OPERATOR(pg_catalog.=) '@extschema@.ame_audit_logs'::pg_catalog.regclass
				   AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped);
		IF pg_catalog.obj_description(part.rel, 'pg_class') IS NULL
		   AND part.relname OPERATOR(pg_catalog.~) '^ame_audit_logs_y[0-9]{4}m[0-9]{2}$' THEN
			EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', part.rel,
				pg_catalog.format('the audit rows of %s-%s (UTC), a partition of ame_audit_logs; read them through ame_audit_logs',
								  pg_catalog.substr(part.relname, 17, 4), pg_catalog.substr(part.relname, 22, 2)));
		END IF;
	END LOOP;
END
$comments$;

--
-- ame_audit_exclusions and ame_audited_tables
--
COMMENT ON COLUMN @extschema@.ame_audit_exclusions.relid IS
'the audited table (a partitioned table''s list holds for its partitions)';
COMMENT ON COLUMN @extschema@.ame_audit_exclusions.excluded_columns IS
'the columns its audit leaves out of the images, in column order';

COMMENT ON COLUMN @extschema@.ame_audited_tables.relid IS
'the audited table';
COMMENT ON COLUMN @extschema@.ame_audited_tables.table_schema IS
'its schema';
COMMENT ON COLUMN @extschema@.ame_audited_tables.table_name IS
'its name';
COMMENT ON COLUMN @extschema@.ame_audited_tables.excluded_columns IS
'the columns left out of its images: its list, its ancestors'' lists, the trigger''s arguments, and session_token on the sessions and their archive';
COMMENT ON COLUMN @extschema@.ame_audited_tables.trigger_name IS
'the trigger that runs audit_trigger_function() (ame_audit when made by ame_enable_audit())';
COMMENT ON COLUMN @extschema@.ame_audited_tables.trigger_state IS
'enabled, disabled, replica or always (ALTER TABLE ... ENABLE/DISABLE TRIGGER)';
COMMENT ON COLUMN @extschema@.ame_audited_tables.partition_of IS
'for a partition''s trigger cloned from an audited partitioned table, that table; else NULL';

--
-- ame_service_levels (its targets are commented in 60_service_levels.sql)
--
COMMENT ON COLUMN @extschema@.ame_service_levels.service_tier IS
'CORE, ASSURE or GUARDIAN; primary key';

--
-- The BI and SLA views
--
COMMENT ON COLUMN @extschema@.technician_performance.technician_id IS
'the technician (ame_technicians.id)';
COMMENT ON COLUMN @extschema@.technician_performance.name IS
'the technician''s name';
COMMENT ON COLUMN @extschema@.technician_performance.is_active IS
'whether the technician takes visits';
COMMENT ON COLUMN @extschema@.technician_performance.total_visits IS
'the technician''s visits, in any status';
COMMENT ON COLUMN @extschema@.technician_performance.avg_hours_per_visit IS
'average hours from start to completion of the completed visits; NULL without any';
COMMENT ON COLUMN @extschema@.technician_performance.completed_visits IS
'the technician''s completed visits';
COMMENT ON COLUMN @extschema@.technician_performance.completion_rate IS
'completed visits in percent of all visits; NULL without visits';

COMMENT ON COLUMN @extschema@.service_tier_metrics.service_tier IS
'CORE, ASSURE or GUARDIAN (all three, also without customers)';
COMMENT ON COLUMN @extschema@.service_tier_metrics.customer_count IS
'the customers on the tier';
COMMENT ON COLUMN @extschema@.service_tier_metrics.total_visits IS
'their visits, in any status';
COMMENT ON COLUMN @extschema@.service_tier_metrics.avg_visit_duration IS
'the average duration_hours of their visits that have one; NULL without any';
COMMENT ON COLUMN @extschema@.service_tier_metrics.successful_visits IS
'their completed visits';

COMMENT ON COLUMN @extschema@.service_level_visits.visit_id IS
'the visit (ame_visits.id)';
COMMENT ON COLUMN @extschema@.service_level_visits.customer_id IS
'its customer';
COMMENT ON COLUMN @extschema@.service_level_visits.technician_id IS
'its technician; NULL while unassigned';
COMMENT ON COLUMN @extschema@.service_level_visits.service_tier IS
'the customer''s service tier';
COMMENT ON COLUMN @extschema@.service_level_visits.month IS
'the first day of the UTC month of the visit''s created_at';
COMMENT ON COLUMN @extschema@.service_level_visits.status IS
'the visit''s status';
COMMENT ON COLUMN @extschema@.service_level_visits.response_time IS
'from created_at to actual_start_time; NULL before the visit started';
COMMENT ON COLUMN @extschema@.service_level_visits.resolution_time IS
'from created_at to completed_at of a completed visit; NULL otherwise';
COMMENT ON COLUMN @extschema@.service_level_visits.response_met IS
'whether response_time is within the tier''s response_target; NULL without a response_time';
COMMENT ON COLUMN @extschema@.service_level_visits.resolution_met IS
'whether resolution_time is within the tier''s resolution_target; NULL without a resolution_time';
COMMENT ON COLUMN @extschema@.service_level_visits.first_time_fix IS
'for a completed visit: no other visit of the customer was requested in the 30 days (720 hours) after it; NULL otherwise';

COMMENT ON COLUMN @extschema@.service_level_metrics.service_tier IS
'CORE, ASSURE or GUARDIAN (all three, also without visits)';
COMMENT ON COLUMN @extschema@.service_level_metrics.visits IS
'the visits of the tier''s customers';
COMMENT ON COLUMN @extschema@.service_level_metrics.started_visits IS
'those that started (have a response_time)';
COMMENT ON COLUMN @extschema@.service_level_metrics.response_met_pct IS
'started visits that met the response target, in percent; NULL without any';
COMMENT ON COLUMN @extschema@.service_level_metrics.median_response IS
'the median response_time';
COMMENT ON COLUMN @extschema@.service_level_metrics.p90_response IS
'the 90th percentile of response_time';
COMMENT ON COLUMN @extschema@.service_level_metrics.completed_visits IS
'the completed visits';
COMMENT ON COLUMN @extschema@.service_level_metrics.resolution_met_pct IS
'completed visits that met the resolution target, in percent; NULL without any';
COMMENT ON COLUMN @extschema@.service_level_metrics.first_time_fix_pct IS
'completed visits that were first-time fixes, in percent; NULL without any';

COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.service_tier IS
'CORE, ASSURE or GUARDIAN';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.month IS
'the first day of the UTC month of the visits'' created_at';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.visits IS
'the visits of the tier''s customers requested in the month';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.started_visits IS
'those that started (have a response_time)';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.response_met_pct IS
'started visits that met the response target, in percent; NULL without any';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.median_response IS
'the median response_time';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.p90_response IS
'the 90th percentile of response_time';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.completed_visits IS
'the completed visits';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.resolution_met_pct IS
'completed visits that met the resolution target, in percent; NULL without any';
COMMENT ON COLUMN @extschema@.service_level_metrics_monthly.first_time_fix_pct IS
'completed visits that were first-time fixes, in percent; NULL without any';

--
-- The functions of 30_sessions.sql that keep their signatures in 2.0
-- (those whose signatures or payloads change are commented there)
--
COMMENT ON FUNCTION @extschema@.cleanup_expired_sessions() IS
'atomically move sessions expired more than 24 hours ago into ame_visit_sessions_archive (an id already there is archived again, next to its earlier copy); logs to system_maintenance_log; sends one NOTIFY ame_realtime saying how many sessions of which visits were archived; returns the number moved. Errors: 42501 without EXECUTE (PUBLIC has none); the error of a move that fails (a trigger of yours on the archive raises), which moves nothing.';
COMMENT ON FUNCTION @extschema@.ame_schedule_cleanup(text) IS
'create or change the pg_cron job session-cleanup (times in GMT), owned by the extension''s owner and run in this database (a restored job is repaired); returns the job id; owner only. Errors: 42501 not the extension''s owner; 22023 a NULL or invalid cron schedule; 55000 pg_cron not installed in this database.';
COMMENT ON FUNCTION @extschema@.ame_unschedule_cleanup() IS
'remove the pg_cron job session-cleanup; false when there was none; owner only. Errors: 42501 not the extension''s owner; 55000 pg_cron not installed in this database.';
COMMENT ON FUNCTION @extschema@.ame_schedule_audit_maintenance(text) IS
'create or change the pg_cron job audit-maintenance (times in GMT), which runs ame_audit_maintenance(), owned by the extension''s owner and run in this database; returns the job id; owner only. Errors: 42501 not the extension''s owner; 22023 a NULL or invalid cron schedule; 55000 pg_cron not installed in this database.';
COMMENT ON FUNCTION @extschema@.ame_unschedule_audit_maintenance() IS
'remove the pg_cron job audit-maintenance; false when there was none; owner only. Errors: 42501 not the extension''s owner; 55000 pg_cron not installed in this database.';
COMMENT ON FUNCTION @extschema@.ame_setup_realtime() IS
'create or repair publication ame_realtime on sessions, progress and devices; add them to supabase_realtime when it exists and may be altered. Errors: 42501 without EXECUTE (PUBLIC has none) or without the right to create or alter the publication.';
COMMENT ON FUNCTION @extschema@.ame_current_technician_id() IS
'the technician whose user_id is ame_current_user_id(), or NULL; used by the row-level security policies. Errors: 22P02 a JWT claim that is set but unusable.';
COMMENT ON FUNCTION @extschema@.ame_current_visit_ids() IS
'the ids of the visits of the current technician (empty without one); used by the row-level security policies. Errors: 22P02 a JWT claim that is set but unusable.';


-- imports: no overloaded names (the bytea form is ame_import_csv_bytes), the
-- imports return their batch row, ame_import_csv_file_chunked() commits in
-- chunks and resumes an interrupted batch, ame_import_progress() by batch id
ALTER TABLE @extschema@.import_batches
	ADD COLUMN resume_offset bigint,
	ADD COLUMN resume_line bigint,
	ADD COLUMN file_size bigint,
	ADD COLUMN file_mtime timestamptz;
ALTER TABLE @extschema@.import_batches DROP CONSTRAINT valid_import_status;
ALTER TABLE @extschema@.import_batches ADD CONSTRAINT valid_import_status
	CHECK (status IN ('processing', 'completed', 'completed_with_errors',
					  'failed', 'interrupted'));
COMMENT ON COLUMN @extschema@.import_batches.resume_offset IS
'ame_import_csv_file_chunked: byte offset in the file of the first record not yet committed (the end of the file once completed); NULL for the one-transaction imports';
COMMENT ON COLUMN @extschema@.import_batches.resume_line IS
'ame_import_csv_file_chunked: the line number at resume_offset; NULL for the one-transaction imports';
COMMENT ON COLUMN @extschema@.import_batches.file_size IS
'ame_import_csv_file_chunked: the file''s size in bytes when the batch began (a resume refuses a changed file)';
COMMENT ON COLUMN @extschema@.import_batches.file_mtime IS
'ame_import_csv_file_chunked: the file''s modification time when the batch began (a resume refuses a changed file)';

-- the result type changes: drop and create again, with the comments and the
-- REVOKE of a fresh install; EXECUTE granted on the 1.4 functions is granted
-- again on their 2.0 names (the bytea form's grants on ame_import_csv_bytes)
SELECT pg_catalog.set_config('ame_upgrade.import_grants', COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		'function', CASE WHEN p.proname OPERATOR(pg_catalog.=) 'ame_import_csv_file'
						 THEN 'ame_import_csv_file(text, text)'
						 WHEN p.proargtypes[0] OPERATOR(pg_catalog.=) 'pg_catalog.bytea'::pg_catalog.regtype
						 THEN 'ame_import_csv_bytes(bytea, text, text)'
						 ELSE 'ame_import_csv(text, text, text)' END,
		'grantee', a.grantee, 'grantable', a.is_grantable))::text, '[]'), true)
FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
WHERE p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
  AND p.proname IN ('ame_import_csv', 'ame_import_csv_file')
  AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
  AND a.grantee OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
  AND a.grantee OPERATOR(pg_catalog.<>) p.proowner;
DROP FUNCTION @extschema@.ame_import_csv(text, text, text);
DROP FUNCTION @extschema@.ame_import_csv(bytea, text, text);
DROP FUNCTION @extschema@.ame_import_csv_file(text, text);

CREATE FUNCTION @extschema@.ame_import_csv(data text, import_type text,
										   source_file text DEFAULT NULL)
RETURNS @extschema@.import_batches
AS 'MODULE_PATHNAME', 'ame_import_csv_inline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv(text, text, text) IS
'imports CSV text (customers, technicians or devices) in the caller''s transaction; every record is imported, recorded in import_errors, or counted in skipped_count when a BEFORE ROW trigger suppresses it; returns the batch''s import_batches row. Errors: 22023 NULL data or import_type, or an unknown import_type; 42501 without INSERT on the target; 0A000 a target with row-level security or a row-level transition-table trigger.';

CREATE FUNCTION @extschema@.ame_import_csv_bytes(data bytea, import_type text,
												 source_file text DEFAULT NULL)
RETURNS @extschema@.import_batches
AS 'MODULE_PATHNAME', 'ame_import_csv_inline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv_bytes(bytea, text, text) IS
'imports CSV bytes (may hold invalid UTF-8 or NUL, recorded as row errors 22021) in the caller''s transaction; returns the batch''s import_batches row. Errors: 22023 NULL data or import_type, or an unknown import_type; 42501 without INSERT on the target; 0A000 a target with row-level security or a row-level transition-table trigger.';

CREATE FUNCTION @extschema@.ame_import_csv_file(path text, import_type text)
RETURNS @extschema@.import_batches
AS 'MODULE_PATHNAME', 'ame_import_csv_file'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv_file(text, text) IS
'imports a CSV file of the server in the caller''s transaction, streamed with bounded memory (needs pg_read_server_files); returns the batch''s import_batches row. Errors: 22023 NULL path or import_type, or an unknown import_type; 42501 without pg_read_server_files or INSERT on the target; 58P01 a missing file; 42809 a directory; 0A000 as ame_import_csv.';

CREATE PROCEDURE @extschema@.ame_import_csv_file_chunked(path text, import_type text,
														 chunk_rows integer DEFAULT 100000,
														 INOUT batch_id uuid DEFAULT NULL)
AS 'MODULE_PATHNAME', 'ame_import_csv_file_chunked'
LANGUAGE C;

COMMENT ON PROCEDURE @extschema@.ame_import_csv_file_chunked(text, text, integer, uuid) IS
'imports a CSV file of the server in transactions of chunk_rows records each (needs pg_read_server_files); the batch row is committed first, each chunk commits with the batch''s counts and resume point; an interrupted batch resumes when called again with its batch_id; returns the batch id. Errors: 22023 NULL path or import_type, an unknown import_type, chunk_rows < 1, an unknown batch_id, or one of another file, type or kind of import; 23514 (constraint ame_import_resume) a batch already completed or failed, run by another session, or whose file changed; 2D000 called inside a transaction block; 42501 without pg_read_server_files or INSERT on the target; 58P01, 42809 as ame_import_csv_file.';

-- progress of running imports, and of committed chunked batches, by id
CREATE FUNCTION @extschema@.ame_import_progress(batch_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, status text, pid integer, records_read bigint,
			   imported bigint, failed bigint, skipped bigint,
			   bytes_processed bigint, bytes_total bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH live AS (
		SELECT pg_catalog.lpad(pg_catalog.to_hex(p.param15), 16, '0')
				   OPERATOR(pg_catalog.||)
			   pg_catalog.lpad(pg_catalog.to_hex(p.param16), 16, '0') AS hex,
			   p.pid, p.param17 AS records_read, p.param3 AS imported,
			   p.param18 AS failed, p.param19 AS skipped,
			   p.param1 AS bytes_processed, p.param2 AS bytes_total
		FROM pg_catalog.pg_stat_get_progress_info('COPY') AS p
		WHERE p.param14 OPERATOR(pg_catalog.=) 6384997::bigint  -- AME_PROGRESS_MARKER_VALUE (compat.h)
		  AND p.datid OPERATOR(pg_catalog.=)
			  (SELECT d.oid FROM pg_catalog.pg_database AS d
			   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
	), running AS (
		SELECT live.hex::uuid AS id, live.pid, live.records_read, live.imported,
			   live.failed, live.skipped, live.bytes_processed, live.bytes_total
		FROM live
	)
	SELECT r.id, 'processing'::text, r.pid, r.records_read, r.imported,
		   r.failed, r.skipped, r.bytes_processed, r.bytes_total
	FROM running AS r
	WHERE $1 IS NULL OR r.id OPERATOR(pg_catalog.=) $1
	UNION ALL
	SELECT b.id,
		   CASE WHEN b.status OPERATOR(pg_catalog.=) 'processing'
					 AND b.resume_offset IS NOT NULL AND h.pid IS NULL
				THEN 'interrupted' ELSE b.status END,
		   h.pid, b.total_records::bigint, b.success_count::bigint,
		   b.error_count::bigint, b.skipped_count::bigint,
		   b.resume_offset, b.file_size
	FROM @extschema@.import_batches AS b
	LEFT JOIN LATERAL (
		SELECT l.pid FROM pg_catalog.pg_locks AS l
		WHERE b.resume_offset IS NOT NULL
		  AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
		  AND l.database OPERATOR(pg_catalog.=)
			  (SELECT d.oid FROM pg_catalog.pg_database AS d
			   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
		  AND l.classid OPERATOR(pg_catalog.=) 1634559305::oid  -- AME_IMPORT_LOCK_KEY (import.h)
		  AND l.objid OPERATOR(pg_catalog.=) pg_catalog.uuid_hash(b.id)::oid
		  AND l.objsubid OPERATOR(pg_catalog.=) 2::smallint
		  AND l.granted
		LIMIT 1
	) AS h ON true
	WHERE $1 IS NOT NULL AND b.id OPERATOR(pg_catalog.=) $1
	  AND NOT EXISTS (SELECT FROM running AS r
					  WHERE r.id OPERATOR(pg_catalog.=) b.id)
$$;

COMMENT ON FUNCTION @extschema@.ame_import_progress(uuid) IS
'progress of an import by batch id (NULL: every import running in this database): while it runs, the live counts of the importing backend (records read, imported, failed, skipped, bytes of total; visible to its own role and pg_read_all_stats); otherwise the batch''s committed counts, with status interrupted for a chunked batch that no session is running. Errors: 42501 without SELECT on import_batches.';

-- imports write many rows: the owner grants them as needed
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv_bytes(bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv_file(text, text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.ame_import_csv_file_chunked(text, text, integer, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_progress(uuid) FROM PUBLIC;

DO $$
DECLARE
	g jsonb;
BEGIN
	FOR g IN SELECT * FROM pg_catalog.jsonb_array_elements(
				pg_catalog.current_setting('ame_upgrade.import_grants')::jsonb)
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %I.%s TO %I%s',
			'@extschema@', g OPERATOR(pg_catalog.->>) 'function',
			(SELECT r.rolname FROM pg_catalog.pg_roles AS r
			 WHERE r.oid OPERATOR(pg_catalog.=) (g OPERATOR(pg_catalog.->>) 'grantee')::pg_catalog.oid),
			CASE WHEN (g OPERATOR(pg_catalog.->>) 'grantable')::boolean THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;

-- review3: the chunked import's lock has objsubid 3, a tag pg_advisory_lock()
-- cannot take (no role can make a batch look running or block its resume)
CREATE OR REPLACE FUNCTION @extschema@.ame_import_progress(batch_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, status text, pid integer, records_read bigint,
			   imported bigint, failed bigint, skipped bigint,
			   bytes_processed bigint, bytes_total bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH live AS (
		SELECT pg_catalog.lpad(pg_catalog.to_hex(p.param15), 16, '0')
				   OPERATOR(pg_catalog.||)
			   pg_catalog.lpad(pg_catalog.to_hex(p.param16), 16, '0') AS hex,
			   p.pid, p.param17 AS records_read, p.param3 AS imported,
			   p.param18 AS failed, p.param19 AS skipped,
			   p.param1 AS bytes_processed, p.param2 AS bytes_total
		FROM pg_catalog.pg_stat_get_progress_info('COPY') AS p
		WHERE p.param14 OPERATOR(pg_catalog.=) 6384997::bigint  -- AME_PROGRESS_MARKER_VALUE (compat.h)
		  AND p.datid OPERATOR(pg_catalog.=)
			  (SELECT d.oid FROM pg_catalog.pg_database AS d
			   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
	), running AS (
		SELECT live.hex::uuid AS id, live.pid, live.records_read, live.imported,
			   live.failed, live.skipped, live.bytes_processed, live.bytes_total
		FROM live
	)
	SELECT r.id, 'processing'::text, r.pid, r.records_read, r.imported,
		   r.failed, r.skipped, r.bytes_processed, r.bytes_total
	FROM running AS r
	WHERE $1 IS NULL OR r.id OPERATOR(pg_catalog.=) $1
	UNION ALL
	SELECT b.id,
		   CASE WHEN b.status OPERATOR(pg_catalog.=) 'processing'
					 AND b.resume_offset IS NOT NULL AND h.pid IS NULL
				THEN 'interrupted' ELSE b.status END,
		   h.pid, b.total_records::bigint, b.success_count::bigint,
		   b.error_count::bigint, b.skipped_count::bigint,
		   b.resume_offset, b.file_size
	FROM @extschema@.import_batches AS b
	LEFT JOIN LATERAL (
		SELECT l.pid FROM pg_catalog.pg_locks AS l
		WHERE b.resume_offset IS NOT NULL
		  AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
		  AND l.database OPERATOR(pg_catalog.=)
			  (SELECT d.oid FROM pg_catalog.pg_database AS d
			   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
		  AND l.classid OPERATOR(pg_catalog.=) 1634559305::oid  -- AME_IMPORT_LOCK_KEY (import.h)
		  AND l.objid OPERATOR(pg_catalog.=) pg_catalog.uuid_hash(b.id)::oid
		  AND l.objsubid OPERATOR(pg_catalog.=) 3::smallint  -- AME_IMPORT_LOCK_SUBID: not pg_advisory_lock()'s
		  AND l.granted
		LIMIT 1
	) AS h ON true
	WHERE $1 IS NOT NULL AND b.id OPERATOR(pg_catalog.=) $1
	  AND NOT EXISTS (SELECT FROM running AS r
					  WHERE r.id OPERATOR(pg_catalog.=) b.id)
$$;

-- review3: the event trigger ame_audit_partition_collation finds the
-- extension's schema by oid: renaming the schema must not fail every CREATE TABLE
CREATE OR REPLACE FUNCTION @extschema@.ame_audit_partition_collation()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	rel pg_catalog.regclass;
	col pg_catalog.name;
BEGIN
	FOR rel IN
		SELECT r.oid::pg_catalog.regclass
		FROM pg_catalog.pg_event_trigger_ddl_commands() d
			 JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) d.objid
		WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid
		  AND r.relkind OPERATOR(pg_catalog.=) 'r'::pg_catalog."char"
		  AND NOT r.relispartition
		  -- the schema by its oid, not by name: a renamed schema must not
		  -- fail every CREATE TABLE of the database
		  AND r.relnamespace OPERATOR(pg_catalog.=)
			  (SELECT e.extnamespace FROM pg_catalog.pg_extension e
			   WHERE e.extname OPERATOR(pg_catalog.=) 'ame'::pg_catalog.name)
		  AND r.relname::pg_catalog.text OPERATOR(pg_catalog.~) '^ame_audit_logs_y[0-9]{4}m[0-9]{2}$'::pg_catalog.text
	LOOP
		FOR col IN
			SELECT a.attname FROM pg_catalog.pg_attribute a
			WHERE a.attrelid OPERATOR(pg_catalog.=) rel::pg_catalog.oid
			  AND a.attname OPERATOR(pg_catalog.=) ANY ('{table_schema,table_name,operation}'::pg_catalog.name[])
			  AND a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.text'::pg_catalog.regtype::pg_catalog.oid
			  AND a.attcollation OPERATOR(pg_catalog.=) 'pg_catalog."C"'::pg_catalog.regcollation::pg_catalog.oid
			  AND NOT a.attisdropped
			ORDER BY a.attnum
		LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE pg_catalog.text COLLATE pg_catalog."default"',
									  rel, col);
		END LOOP;
	END LOOP;
END
$fn$;
