/* src/sql/20_audit.sql: the audit trail */

--
-- The trigger, and the log's append-only guard
--

CREATE FUNCTION @extschema@.audit_trigger_function()
RETURNS trigger
AS 'MODULE_PATHNAME', 'audit_trigger_function'
LANGUAGE C;

-- attaching it to a table writes to the log as the owner: owner only
REVOKE EXECUTE ON FUNCTION @extschema@.audit_trigger_function() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.audit_trigger_function() IS
'AFTER INSERT OR UPDATE OR DELETE row trigger: one ame_audit_logs row per changed row';

CREATE FUNCTION @extschema@.ame_audit_log_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_audit_log_guard'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_log_guard() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_log_guard() IS
'keeps ame_audit_logs and every partition of it append-only: UPDATE, DELETE and TRUNCATE fail with 42501 (ame_purge_audit_logs() and ame_audit_add_partitions() excepted)';

-- the row trigger is cloned to every partition, now and later, enabled
-- ALWAYS as here; a statement trigger is not: every partition gets its own
-- TRUNCATE guard (ame_audit_add_partitions() makes and repairs them)
CREATE TRIGGER ame_audit_logs_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.ame_audit_logs
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
CREATE TRIGGER ame_audit_logs_no_truncate
	BEFORE TRUNCATE ON @extschema@.ame_audit_logs
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
CREATE TRIGGER ame_audit_logs_no_truncate
	BEFORE TRUNCATE ON @extschema@.ame_audit_logs_default
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
-- also under session_replication_role = replica
ALTER TABLE @extschema@.ame_audit_logs
	ENABLE ALWAYS TRIGGER ame_audit_logs_append_only;
ALTER TABLE @extschema@.ame_audit_logs
	ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate;
ALTER TABLE @extschema@.ame_audit_logs_default
	ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate;

--
-- Audited by default
--

CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_customers
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();
CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_technicians
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();
CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visits
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();
CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_progress
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();
CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_inventory
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();

--
-- The owner check of every owner-only function (C: ame_require_owner()):
-- EXECUTE alone is not enough, so a grant hands out nothing
--

CREATE FUNCTION @extschema@.ame_require_owner(function_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'ame_require_owner_fn'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_require_owner(text) IS
'raise 42501 "permission denied for function" unless the caller has the privileges of the extension''s owner; the first step of every owner-only function';

--
-- Turning auditing on and off (owner only)
--

CREATE FUNCTION @extschema@.ame_enable_audit(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
	SELECT c.relkind, c.relname INTO kind, name
	FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', name USING ERRCODE = '22023';
	END IF;
	SELECT a.atttypid INTO idtype
	FROM pg_attribute a
	WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname = 'id' AND NOT a.attisdropped;
	IF idtype IS NULL THEN
		RAISE EXCEPTION 'table "%" has no column "id"', name
			USING ERRCODE = '22023',
				  HINT = 'Only tables with a uuid column "id" can be audited.';
	END IF;
	IF idtype OPERATOR(pg_catalog.<>) 'pg_catalog.uuid'::pg_catalog.regtype AND
	   (SELECT t.typbasetype FROM pg_type t WHERE t.oid = idtype)
		   OPERATOR(pg_catalog.<>) 'pg_catalog.uuid'::pg_catalog.regtype THEN
		RAISE EXCEPTION 'column "id" of table "%" is of type %, not uuid', name, idtype::regtype
			USING ERRCODE = '22023',
				  HINT = 'Only tables with a uuid column "id" can be audited.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_trigger t
			   WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl AND t.tgname = 'ame_audit'
				 AND t.tgfoid OPERATOR(pg_catalog.=)
					 '@extschema@.audit_trigger_function()'::pg_catalog.regprocedure) THEN
		RAISE NOTICE 'table "%" is already audited', name;
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_trigger t
			   WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl AND t.tgname = 'ame_audit') THEN
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

REVOKE EXECUTE ON FUNCTION @extschema@.ame_enable_audit(regclass) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_enable_audit(regclass) IS
'audit a table (it needs a uuid column "id"): adds trigger ame_audit; owner only';

CREATE FUNCTION @extschema@.ame_disable_audit(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.ame_require_owner('ame_disable_audit'::pg_catalog.text);
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = '22023';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger t
				   WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl AND t.tgname = 'ame_audit'
					 AND t.tgfoid OPERATOR(pg_catalog.=)
						 '@extschema@.audit_trigger_function()'::pg_catalog.regprocedure) THEN
		RAISE NOTICE 'table "%" is not audited',
			(SELECT c.relname FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl);
		RETURN;
	END IF;
	EXECUTE format('DROP TRIGGER ame_audit ON %s', tbl);
END
$$;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_disable_audit(regclass) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_disable_audit(regclass) IS
'stop auditing a table (drops trigger ame_audit; its history stays); owner only';

--
-- Partitions and retention (owner only)
--

CREATE FUNCTION @extschema@.ame_audit_add_partitions(since date, until date DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'ame_audit_add_partitions'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) IS
'make the missing monthly (UTC) partitions of ame_audit_logs from since''s month to until''s (NULL: three months ahead), moving their rows out of the default partition; returns how many were made; owner only';

CREATE FUNCTION @extschema@.ame_purge_audit_logs(older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_purge_audit_logs'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_purge_audit_logs(interval) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_purge_audit_logs(interval) IS
'remove audit rows performed more than older_than ago: whole months are detached and dropped, the boundary month deleted from; logs to system_maintenance_log; returns the count; owner only';

CREATE FUNCTION @extschema@.ame_audit_maintenance()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ame_audit_maintenance'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_maintenance() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_maintenance() IS
'the nightly audit maintenance (pg_cron job audit-maintenance): partitions three months ahead, and the purge of rows older than ame.audit_retention when it is set; owner only';

-- This month's partition and three ahead, unless this is a restore (see
-- 30_sessions.sql): the dump brings the partitions it had, and ones made
-- here would collide with them.  The rows of months without a partition
-- wait in the default one until the next ame_audit_add_partitions().
DO $partitions$
BEGIN
	IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.<>) 'off'
	   AND pg_catalog.current_setting('application_name') OPERATOR(pg_catalog.<>) 'pg_restore' THEN
		PERFORM @extschema@.ame_audit_add_partitions(
			(pg_catalog.now() AT TIME ZONE 'UTC')::pg_catalog.date);
	END IF;
END
$partitions$;

--
-- History and time travel, for callers who may see the record
--

-- Reading the log: two PL/pgSQL functions (their plans are kept for the
-- session) with the caller's rights (a caller needs SELECT on the log).  ame_record_history() and ame_record_at() call
-- them, after their own check, as the caller or as the owner.

CREATE FUNCTION @extschema@.ame_audit_log_history(tbl regclass, record uuid, upto timestamptz)
RETURNS TABLE (seq bigint, operation text, changed_fields text[],
			   old_values jsonb, new_values jsonb, user_id uuid,
			   performed_at timestamptz, context jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	-- every row logged under the record's id, following it back through
	-- every UPDATE that changed an id into one of the chain's; a
	-- partitioned table's rows are logged under their partitions' names
	WITH RECURSIVE t AS (
		SELECT n.nspname AS sch, c.relname AS tab
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = ANY (ARRAY(SELECT tbl::oid
								 UNION SELECT p.relid::oid FROM pg_catalog.pg_partition_tree(tbl) p))
	), chain (rid, before_seq) AS (
		SELECT record, NULL::bigint
		UNION ALL
		SELECT (l.old_values OPERATOR(pg_catalog.->>) 'id')::uuid, l.seq
		FROM chain ch, t, @extschema@.ame_audit_logs l
		WHERE l.record_id = ch.rid
		  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
		  AND l.table_name OPERATOR(pg_catalog.=) t.tab
		  AND l.operation = 'UPDATE'
		  AND (ch.before_seq IS NULL OR l.seq < ch.before_seq)
		  AND (l.old_values OPERATOR(pg_catalog.->>) 'id') IS DISTINCT FROM l.record_id::text
	)
	-- an id that changes and changes back is twice in the chain: each row once
	SELECT DISTINCT ON (l.seq, l.id)
		   l.seq, l.operation, l.changed_fields, l.old_values, l.new_values,
		   l.user_id, l.performed_at, l.context
	FROM chain ch, t, @extschema@.ame_audit_logs l
	WHERE l.record_id = ch.rid
	  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
	  AND l.table_name OPERATOR(pg_catalog.=) t.tab
	  AND (ch.before_seq IS NULL OR l.seq < ch.before_seq)
	  AND l.performed_at <= upto
	ORDER BY l.seq, l.id;
END
$$;

COMMENT ON FUNCTION @extschema@.ame_audit_log_history(regclass, uuid, timestamptz) IS
'every log row of one record id up to a time (also from before its id changed), in order; caller''s rights: needs SELECT on ame_audit_logs';

CREATE FUNCTION @extschema@.ame_audit_log_lineage(tbl regclass, record uuid, upto timestamptz)
RETURNS TABLE (seq bigint, operation text, changed_fields text[],
			   old_values jsonb, new_values jsonb, user_id uuid,
			   performed_at timestamptz, context jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	-- the live row's own past only: under each id, the rows since its last
	-- birth (an INSERT, or an UPDATE that changed another id into it; that
	-- one continues under the other id) or since its last DELETE.  What an
	-- id logged before (an earlier row that was deleted, truncated or moved
	-- away) belongs to another row.
	WITH RECURSIVE t AS (
		SELECT n.nspname AS sch, c.relname AS tab
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = ANY (ARRAY(SELECT tbl::oid
								 UNION SELECT p.relid::oid FROM pg_catalog.pg_partition_tree(tbl) p))
	), life (rid, hi, lo, lo_op, from_id) AS (
		SELECT record, NULL::bigint, b.seq, b.operation, b.from_id
		FROM (SELECT) one
			 LEFT JOIN LATERAL (
				SELECT l.seq, l.operation,
					   CASE WHEN l.operation = 'UPDATE'
							THEN (l.old_values OPERATOR(pg_catalog.->>) 'id')::uuid END AS from_id
				FROM t, @extschema@.ame_audit_logs l
				WHERE l.record_id = record
				  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
				  AND l.table_name OPERATOR(pg_catalog.=) t.tab
				  AND (l.operation IN ('INSERT', 'DELETE')
					   OR (l.operation = 'UPDATE'
						   AND (l.old_values OPERATOR(pg_catalog.->>) 'id')
							   IS DISTINCT FROM l.record_id::text))
				ORDER BY l.seq DESC LIMIT 1) b ON true
		UNION ALL
		SELECT ch.from_id, ch.lo, b.seq, b.operation, b.from_id
		FROM life ch
			 LEFT JOIN LATERAL (
				SELECT l.seq, l.operation,
					   CASE WHEN l.operation = 'UPDATE'
							THEN (l.old_values OPERATOR(pg_catalog.->>) 'id')::uuid END AS from_id
				FROM t, @extschema@.ame_audit_logs l
				WHERE l.record_id = ch.from_id
				  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
				  AND l.table_name OPERATOR(pg_catalog.=) t.tab
				  AND l.seq < ch.lo
				  AND (l.operation IN ('INSERT', 'DELETE')
					   OR (l.operation = 'UPDATE'
						   AND (l.old_values OPERATOR(pg_catalog.->>) 'id')
							   IS DISTINCT FROM l.record_id::text))
				ORDER BY l.seq DESC LIMIT 1) b ON true
		WHERE ch.lo_op = 'UPDATE'
	)
	SELECT l.seq, l.operation, l.changed_fields, l.old_values, l.new_values,
		   l.user_id, l.performed_at, l.context
	FROM life ch, t, @extschema@.ame_audit_logs l
	WHERE l.record_id = ch.rid
	  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
	  AND l.table_name OPERATOR(pg_catalog.=) t.tab
	  AND (ch.hi IS NULL OR l.seq < ch.hi)
	  AND (ch.lo IS NULL OR l.seq > ch.lo OR (l.seq = ch.lo AND ch.lo_op <> 'DELETE'))
	  AND l.performed_at <= upto
	ORDER BY l.seq;
END
$$;

COMMENT ON FUNCTION @extschema@.ame_audit_log_lineage(regclass, uuid, timestamptz) IS
'the log rows of the row that now has this id, up to a time: since its last INSERT, back through the id changes that made it; caller''s rights: needs SELECT on ame_audit_logs';

-- The public functions check the caller (C: audit_history.c).  The caller
-- needs SELECT on the table and must see the live row under its policies;
-- then they read the log as the owner.  A caller who may read the log
-- itself reads every record's history, deleted ones too.

CREATE FUNCTION @extschema@.ame_record_history(tbl regclass, record uuid)
RETURNS TABLE (seq bigint, operation text, changed_fields text[],
			   old_values jsonb, new_values jsonb, user_id uuid,
			   performed_at timestamptz, context jsonb)
AS 'MODULE_PATHNAME', 'ame_record_history'
LANGUAGE C STABLE;

COMMENT ON FUNCTION @extschema@.ame_record_history(regclass, uuid) IS
'the audit rows of one record, in order (also those from before its id changed); only for a caller who may SELECT the table and sees the live row, or may read the log';

CREATE FUNCTION @extschema@.ame_record_at(tbl regclass, record uuid, at timestamptz)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ame_record_at'
LANGUAGE C STABLE;

COMMENT ON FUNCTION @extschema@.ame_record_at(regclass, uuid, timestamptz) IS
'the record as it was at that time, as jsonb (NULL before it existed and after it was deleted); only for a caller who may SELECT the table and sees the live row, or may read the log';
