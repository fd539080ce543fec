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
'AFTER INSERT OR UPDATE OR DELETE row trigger: one ame_audit_logs row per changed row; its arguments name the columns left out of the images. Errors: 39P01 fired other than as an AFTER row trigger, or on a table without a usable uuid id; 55000 an excluded column renamed or dropped, the log or its sequence missing; 09000 a change made while a row is written to the log; 54000 an image larger than jsonb allows.';

CREATE FUNCTION @extschema@.ame_audit_log_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_audit_log_guard'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_log_guard() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_log_guard() IS
'keeps ame_audit_logs and every partition of it append-only: UPDATE, DELETE and TRUNCATE fail (ame_purge_audit_logs(), ame_audit_add_partitions() and ame_redact_audit() excepted). Errors: 42501 every such change; 39P01 called directly.';

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
'returns nothing for a caller with the privileges of the extension''s owner; the first step of every owner-only function. Errors: 42501 "permission denied for function" for any other caller; 42704 the extension''s catalog row is gone.';

--
-- Which columns each audited table leaves out of the log
--

-- kept here, not only in the trigger: pg_dump dumps this table, but not the
-- triggers of the extension's own tables (the install script makes them)
CREATE TABLE @extschema@.ame_audit_exclusions (
	relid regclass NOT NULL,
	excluded_columns text[] NOT NULL,
	CONSTRAINT ame_audit_exclusions_pkey PRIMARY KEY (relid)
);

COMMENT ON TABLE @extschema@.ame_audit_exclusions IS
'the columns the audit trigger leaves out of each table''s images (a partitioned table''s list holds for its partitions); kept by ame_enable_audit(), read by the trigger';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_audit_exclusions', '');

-- one row per trigger running audit_trigger_function() (names as text in
-- the database's collation, as the log writes them): the table's list
-- (and its ancestors', for a partition), the names the trigger's own
-- arguments give (a trigger attached by hand), and, on the extension's own
-- ame_visit_sessions and its archive, session_token, which the trigger
-- always leaves out there
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

--
-- Turning auditing on and off (owner only)
--

CREATE FUNCTION @extschema@.ame_enable_audit(tbl regclass, exclude text[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	idtype oid;
	kind "char";
	name text;
	col text;
	cols text[];
	old_cols text[];
	found_trigger boolean := false;
	old_state text;
	parent regclass;
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

	-- the columns to leave out: each a column of the table as it is now
	IF exclude IS NULL THEN
		RAISE EXCEPTION 'exclude must not be NULL' USING ERRCODE = '22023',
			HINT = 'Pass ''{}'' to exclude no column.';
	END IF;
	IF pg_catalog.array_ndims(exclude) OPERATOR(pg_catalog.>) 1 THEN
		RAISE EXCEPTION 'exclude must be a one-dimensional array' USING ERRCODE = '22023';
	END IF;
	FOREACH col IN ARRAY exclude LOOP
		IF col IS NULL THEN
			RAISE EXCEPTION 'exclude must not contain NULL' USING ERRCODE = '22004';
		END IF;
		IF NOT EXISTS (SELECT FROM pg_attribute a
					   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
						 AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) col
						 AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2
						 AND NOT a.attisdropped) THEN
			RAISE EXCEPTION 'column "%" of table "%" does not exist', col, name
				USING ERRCODE = '42703';
		END IF;
		IF col OPERATOR(pg_catalog.=) 'id'::pg_catalog.text THEN
			RAISE EXCEPTION 'column "id" cannot be excluded from the audit'
				USING ERRCODE = '22023',
					  DETAIL = 'A record''s history is kept by its "id".';
		END IF;
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.unnest(exclude) x
			WHERE x OPERATOR(pg_catalog.=) col) OPERATOR(pg_catalog.>) 1::pg_catalog.int8 THEN
			RAISE EXCEPTION 'column "%" is listed twice in exclude', col USING ERRCODE = '22023';
		END IF;
	END LOOP;
	-- kept in column order; a session token never reaches the log
	SELECT COALESCE(pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attnum),
					'{}'::pg_catalog.text[])
	INTO cols
	FROM pg_attribute a
	WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
	  AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped
	  AND (a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (exclude)
		   OR (a.attname::pg_catalog.text OPERATOR(pg_catalog.=) 'session_token'::pg_catalog.text
			   AND tbl::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
				   '@extschema@.ame_visit_sessions'::pg_catalog.regclass::pg_catalog.oid,
				   '@extschema@.ame_visit_sessions_archive'::pg_catalog.regclass::pg_catalog.oid])));

	SELECT true, v.trigger_state, v.partition_of
	INTO found_trigger, old_state, parent
	FROM @extschema@.ame_audited_tables v
	WHERE v.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid
	  AND v.trigger_name OPERATOR(pg_catalog.=) 'ame_audit'::pg_catalog.name;
	SELECT COALESCE((SELECT x.excluded_columns FROM @extschema@.ame_audit_exclusions x
					 WHERE x.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid),
					'{}'::pg_catalog.text[])
	INTO old_cols;
	IF found_trigger THEN
		IF parent IS NOT NULL THEN
			IF cols OPERATOR(pg_catalog.=) '{}'::pg_catalog.text[] THEN
				RAISE NOTICE 'table "%" is already audited', name;
				RETURN;
			END IF;
			RAISE EXCEPTION 'table "%" is audited as a partition of "%"', name, parent
				USING ERRCODE = '55000',
					  HINT = 'Set the excluded columns on the partitioned table.';
		END IF;
		IF old_cols OPERATOR(pg_catalog.=) cols THEN
			RAISE NOTICE 'table "%" is already audited', name;
			RETURN;
		END IF;
		-- another list: the trigger is made again (so that every session
		-- reads the new list), in the state it was in
		EXECUTE format('DROP TRIGGER ame_audit ON %s', tbl);
		RAISE NOTICE 'columns excluded from the audit of table "%": % (were: %)',
			name, cols, old_cols;
	ELSIF EXISTS (SELECT 1 FROM pg_trigger t
				  WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl AND t.tgname = 'ame_audit') THEN
		RAISE EXCEPTION 'table "%" already has a trigger "ame_audit" that is not ame''s', name
			USING ERRCODE = '42710';
	END IF;

	-- the list, by the table (rows of tables dropped since go)
	DELETE FROM @extschema@.ame_audit_exclusions x
	WHERE x.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid
	   OR NOT EXISTS (SELECT FROM pg_class c
					  WHERE c.oid OPERATOR(pg_catalog.=) x.relid::pg_catalog.oid);
	IF cols OPERATOR(pg_catalog.<>) '{}'::pg_catalog.text[] THEN
		INSERT INTO @extschema@.ame_audit_exclusions (relid, excluded_columns) VALUES (tbl, cols);
	END IF;

	EXECUTE format('CREATE TRIGGER ame_audit AFTER INSERT OR UPDATE OR DELETE ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION %I.audit_trigger_function()',
				   tbl,
				   (SELECT n.nspname FROM pg_extension e
					JOIN pg_namespace n ON n.oid = e.extnamespace
					WHERE e.extname = 'ame'));
	IF old_state OPERATOR(pg_catalog.=) 'disabled'::pg_catalog.text THEN
		EXECUTE format('ALTER TABLE %s DISABLE TRIGGER ame_audit', tbl);
	ELSIF old_state OPERATOR(pg_catalog.=) 'replica'::pg_catalog.text THEN
		EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ame_audit', tbl);
	ELSIF old_state OPERATOR(pg_catalog.=) 'always'::pg_catalog.text THEN
		EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER ame_audit', tbl);
	END IF;
END
$$;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_enable_audit(regclass, text[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_enable_audit(regclass, text[]) IS
'audit a table (it needs a uuid column "id"), leaving out the columns in exclude: adds trigger ame_audit, or replaces its list of excluded columns (kept in ame_audit_exclusions); owner only. Errors: 42501 not the extension''s owner; 22023 a NULL or unusable table (not a table, no uuid id) or a bad exclude list; 22004 a NULL in exclude; 42703 an unknown column; 42710 the table has a trigger ame_audit of its own; 55000 another list on a partition of an audited table.';

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
	-- its excluded columns go with it
	DELETE FROM @extschema@.ame_audit_exclusions x
	WHERE x.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid;
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
'stop auditing a table (drops trigger ame_audit and its list of excluded columns; its history stays); owner only. Errors: 42501 not the extension''s owner; 22023 a NULL table.';

--
-- Partitions and retention (owner only)
--

CREATE FUNCTION @extschema@.ame_audit_add_partitions(since date, until date DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'ame_audit_add_partitions'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) IS
'make the missing monthly (UTC) partitions of ame_audit_logs from since''s month to until''s (NULL: three months ahead), moving their rows out of the default partition; returns how many were made; owner only. Errors: 42501 not the extension''s owner; 22023 NULL, infinite or reversed dates, more than 1200 months, years outside 1900 to 9999; 42P17 a month a partition someone attached covers in part.';

CREATE FUNCTION @extschema@.ame_purge_audit_logs(older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_purge_audit_logs'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_purge_audit_logs(interval) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_purge_audit_logs(interval) IS
'remove audit rows performed more than older_than ago: whole months are detached and dropped, the boundary month deleted from; logs to system_maintenance_log; returns the count; owner only. Errors: 42501 not the extension''s owner; 22023 a NULL or negative older_than.';

CREATE FUNCTION @extschema@.ame_audit_maintenance()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ame_audit_maintenance'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_maintenance() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_maintenance() IS
'the nightly audit maintenance (pg_cron job audit-maintenance): partitions three months ahead, and the purge of rows older than ame.audit_retention when it is set; returns what it did as JSON; owner only. Errors: 42501 not the extension''s owner.';

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

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_partition_collation() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_partition_collation() IS
'ddl_command_end event trigger on CREATE TABLE: a table made under the name of a month of ame_audit_logs (ame_audit_logs_yYYYYmMM) in the extension''s schema, not yet a partition, whose table_schema, table_name or operation is COLLATE "C" (a month dumped before 2.0) gets the log''s default collation, so that ATTACH PARTITION takes it. Errors: none.';

CREATE EVENT TRIGGER ame_audit_partition_collation ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE')
	EXECUTE FUNCTION @extschema@.ame_audit_partition_collation();

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
-- Redaction, the erasure path (owner only)
--

CREATE FUNCTION @extschema@.ame_redact_audit(tbl regclass, record_id uuid,
											 columns text[], reason text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_redact_audit'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_redact_audit(regclass, uuid, text[], text) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_redact_audit(regclass, uuid, text[], text) IS
'replace those columns'' values with "[redacted]" in every image of the record in ame_audit_logs, log a REDACT row with the reason; returns the images changed; owner only. Errors: 42501 not the extension''s owner; 22023 a NULL or empty argument, not a table, a column listed twice or id; 22004 a NULL in columns; 42703 an unknown column; 55000 a table neither audited nor in the log.';

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
'every log row of one record id up to a time (also from before its id changed), in order; caller''s rights: needs SELECT on ame_audit_logs. Errors: 42501 without SELECT on ame_audit_logs.';

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
'the log rows of the row that now has this id, up to a time: since its last INSERT, back through the id changes that made it; caller''s rights: needs SELECT on ame_audit_logs. Errors: 42501 without SELECT on ame_audit_logs.';

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
'the audit rows of one record, in order (also those from before its id changed); only for a caller who may SELECT the table and sees the live row, or may read the log. Errors: 22023 a NULL argument, not a table, no uuid id; 42P01 a dropped table; 42501 a caller who may read neither the table nor the log.';

CREATE FUNCTION @extschema@.ame_record_at(tbl regclass, record uuid, at timestamptz)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ame_record_at'
LANGUAGE C STABLE;

COMMENT ON FUNCTION @extschema@.ame_record_at(regclass, uuid, timestamptz) IS
'the record as it was at that time, as jsonb (NULL before it existed and after it was deleted); only for a caller who may SELECT the table and sees the live row, or may read the log. Errors: 22023 a NULL argument, not a table, no uuid id; 42P01 a dropped table; 42501 a caller who may read neither the table nor the log.';
