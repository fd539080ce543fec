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
-- Owner-only means owner-only (small): ame_enable_audit, ame_disable_audit
-- (and, in C, ame_purge_audit_logs and the schedule functions) first call
-- ame_require_owner(), so an owner who grants EXECUTE hands out nothing.
--

CREATE FUNCTION @extschema@.ame_require_owner(function_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'ame_require_owner_fn'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_require_owner(text) IS
'raise 42501 "permission denied for function" unless the caller has the privileges of the extension''s owner; the first step of every owner-only function';

CREATE OR REPLACE FUNCTION @extschema@.ame_enable_audit(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
	idtype oid;
	kind "char";
	name text;
BEGIN
	PERFORM @extschema@.ame_require_owner('ame_enable_audit'::pg_catalog.text);
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = '22023';
	END IF;
	SELECT c.relkind, c.relname INTO kind, name FROM pg_class c WHERE c.oid = tbl;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', name USING ERRCODE = '22023';
	END IF;
	SELECT a.atttypid INTO idtype
	FROM pg_attribute a
	WHERE a.attrelid = tbl AND a.attname = 'id' AND NOT a.attisdropped;
	IF idtype IS NULL THEN
		RAISE EXCEPTION 'table "%" has no column "id"', name
			USING ERRCODE = '22023',
				  HINT = 'Only tables with a uuid column "id" can be audited.';
	END IF;
	IF idtype <> 'uuid'::regtype AND
	   (SELECT t.typbasetype FROM pg_type t WHERE t.oid = idtype) <> 'uuid'::regtype THEN
		RAISE EXCEPTION 'column "id" of table "%" is of type %, not uuid', name, idtype::regtype
			USING ERRCODE = '22023',
				  HINT = 'Only tables with a uuid column "id" can be audited.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_trigger t
			   WHERE t.tgrelid = tbl AND t.tgname = 'ame_audit'
				 AND t.tgfoid = '@extschema@.audit_trigger_function'::regproc) THEN
		RAISE NOTICE 'table "%" is already audited', name;
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_trigger t
			   WHERE t.tgrelid = tbl AND t.tgname = 'ame_audit') THEN
		RAISE EXCEPTION 'table "%" already has a trigger "ame_audit" that is not ame''s', name
			USING ERRCODE = '42710';
	END IF;
	EXECUTE format('CREATE TRIGGER ame_audit AFTER INSERT OR UPDATE OR DELETE ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION %I.audit_trigger_function()',
				   tbl,
				   (SELECT n.nspname FROM pg_extension e
					JOIN pg_namespace n ON n.oid = e.extnamespace
					WHERE e.extname = 'ame'));
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.ame_disable_audit(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.ame_require_owner('ame_disable_audit'::pg_catalog.text);
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = '22023';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger t
				   WHERE t.tgrelid = tbl AND t.tgname = 'ame_audit'
					 AND t.tgfoid = '@extschema@.audit_trigger_function'::regproc) THEN
		RAISE NOTICE 'table "%" is not audited',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl);
		RETURN;
	END IF;
	EXECUTE format('DROP TRIGGER ame_audit ON %s', tbl);
END
$$;
