/* ame--1.2--1.3.sql: upgrade from 1.2 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '1.3'" to load this file. \quit

--
-- History that respects row-level security (issue 12, item 7; rlshist):
-- ame_record_history() and ame_record_at() become C functions that show a
-- record's history only to a caller who may SELECT the table and sees its
-- live row under the table's policies, or who may read the log itself.
-- The log is read by two new SQL functions with the caller's rights.
-- Signatures and output columns are unchanged.
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

CREATE OR REPLACE FUNCTION @extschema@.ame_record_history(tbl regclass, record uuid)
RETURNS TABLE (seq bigint, operation text, changed_fields text[],
			   old_values jsonb, new_values jsonb, user_id uuid,
			   performed_at timestamptz, context jsonb)
AS 'MODULE_PATHNAME', 'ame_record_history'
LANGUAGE C STABLE;

COMMENT ON FUNCTION @extschema@.ame_record_history(regclass, uuid) IS
'the audit rows of one record, in order (also those from before its id changed); only for a caller who may SELECT the table and sees the live row, or may read the log';

CREATE OR REPLACE FUNCTION @extschema@.ame_record_at(tbl regclass, record uuid, at timestamptz)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ame_record_at'
LANGUAGE C STABLE;

COMMENT ON FUNCTION @extschema@.ame_record_at(regclass, uuid, timestamptz) IS
'the record as it was at that time, as jsonb (NULL before it existed and after it was deleted); only for a caller who may SELECT the table and sees the live row, or may read the log';

-- Audit: the log partitioned by month (helper "partition"; issue 12, items
-- 1-3).  ame_audit_logs becomes a table partitioned by range of
-- performed_at, as src/sql/10_core.sql and 20_audit.sql make it: the old
-- table steps aside (out of the extension), the new one is made, the
-- monthly partitions for the old rows' months and three ahead are made,
-- the rows are copied in seq order (ids, seq and images unchanged), the
-- old table is dropped.  Its cost is one copy of the log.
--

ALTER TABLE @extschema@.ame_audit_logs RENAME TO ame_audit_logs_before_1_3;
ALTER SEQUENCE @extschema@.ame_audit_logs_seq_seq OWNED BY NONE;
ALTER EXTENSION ame DROP TABLE @extschema@.ame_audit_logs_before_1_3;

CREATE TABLE @extschema@.ame_audit_logs (
	-- the audit trigger writes time-ordered (version 7) uuids
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	table_schema text COLLATE "C" NOT NULL,
	table_name text COLLATE "C" NOT NULL,
	record_id uuid NOT NULL,
	operation text COLLATE "C" NOT NULL,
	old_values jsonb,
	new_values jsonb,
	changed_fields text[] NOT NULL DEFAULT '{}',
	user_id uuid,
	performed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	seq bigint NOT NULL
		DEFAULT pg_catalog.nextval('@extschema@.ame_audit_logs_seq_seq'::pg_catalog.regclass),
	context jsonb,
	CONSTRAINT valid_audit_operation
		CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE'))
) PARTITION BY RANGE (performed_at);

ALTER SEQUENCE @extschema@.ame_audit_logs_seq_seq
	OWNED BY @extschema@.ame_audit_logs.seq;

CREATE TABLE @extschema@.ame_audit_logs_default
	PARTITION OF @extschema@.ame_audit_logs DEFAULT;
ALTER TABLE @extschema@.ame_audit_logs_default
	ADD CONSTRAINT ame_audit_logs_default_pkey PRIMARY KEY (id);
CREATE INDEX ame_audit_logs_default_record_idx
	ON @extschema@.ame_audit_logs_default USING hash (record_id);
CREATE INDEX ame_audit_logs_default_seq_idx
	ON @extschema@.ame_audit_logs_default (seq);

COMMENT ON TABLE @extschema@.ame_audit_logs IS
'append-only trail of every change to audited tables, partitioned by month (UTC) of performed_at';
COMMENT ON TABLE @extschema@.ame_audit_logs_default IS
'the audit rows of months that have no partition of their own (ame_audit_add_partitions() moves them into one)';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_audit_logs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_audit_logs_default', '');

COMMENT ON FUNCTION @extschema@.ame_audit_log_guard() IS
'keeps ame_audit_logs and every partition of it append-only: UPDATE, DELETE and TRUNCATE fail with 42501 (ame_purge_audit_logs() and ame_audit_add_partitions() excepted)';

CREATE TRIGGER ame_audit_logs_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.ame_audit_logs
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
CREATE TRIGGER ame_audit_logs_no_truncate
	BEFORE TRUNCATE ON @extschema@.ame_audit_logs
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
CREATE TRIGGER ame_audit_logs_no_truncate
	BEFORE TRUNCATE ON @extschema@.ame_audit_logs_default
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
ALTER TABLE @extschema@.ame_audit_logs
	ENABLE ALWAYS TRIGGER ame_audit_logs_append_only;
ALTER TABLE @extschema@.ame_audit_logs
	ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate;
ALTER TABLE @extschema@.ame_audit_logs_default
	ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate;

CREATE FUNCTION @extschema@.ame_audit_add_partitions(since date, until date DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'ame_audit_add_partitions'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) IS
'make the missing monthly (UTC) partitions of ame_audit_logs from since''s month to until''s (NULL: three months ahead), moving their rows out of the default partition; returns how many were made; owner only';

COMMENT ON FUNCTION @extschema@.ame_purge_audit_logs(interval) IS
'remove audit rows performed more than older_than ago: whole months are detached and dropped, the boundary month deleted from; logs to system_maintenance_log; returns the count; owner only';

CREATE FUNCTION @extschema@.ame_audit_maintenance()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ame_audit_maintenance'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_maintenance() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_maintenance() IS
'the nightly audit maintenance (pg_cron job audit-maintenance): partitions three months ahead, and the purge of rows older than ame.audit_retention when it is set; owner only';

-- What the owner gave the old log goes over: grants, and columns it added
-- (with their type; defaults and constraints it added are its to make
-- again).  Then a partition for each month that has old rows (of the
-- years 1900 to 9999; others wait in the default partition), this month's
-- and three ahead, and the rows, in seq order.
DO $upgrade_log$
DECLARE
	old pg_catalog.regclass := '@extschema@.ame_audit_logs_before_1_3'::pg_catalog.regclass;
	cols text;
	r record;
BEGIN
	FOR r IN SELECT a.grantee, a.privilege_type, a.is_grantable
			 FROM pg_catalog.aclexplode((SELECT c.relacl FROM pg_catalog.pg_class c
										 WHERE c.oid OPERATOR(pg_catalog.=) old)) a
			 WHERE a.grantee OPERATOR(pg_catalog.<>)
				   (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) old)
	LOOP
		EXECUTE pg_catalog.format('GRANT %s ON @extschema@.ame_audit_logs TO %s%s',
								  r.privilege_type,
								  CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
									   ELSE pg_catalog.quote_ident(r.grantee::pg_catalog.regrole::pg_catalog.text) END,
								  CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;

	FOR r IN SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
			 FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid OPERATOR(pg_catalog.=) old AND a.attnum OPERATOR(pg_catalog.>) 0
			   AND NOT a.attisdropped
			   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute n
							   WHERE n.attrelid OPERATOR(pg_catalog.=) '@extschema@.ame_audit_logs'::pg_catalog.regclass
								 AND n.attname OPERATOR(pg_catalog.=) a.attname)
			 ORDER BY a.attnum
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE @extschema@.ame_audit_logs ADD COLUMN %I %s',
								  r.attname, r.type);
	END LOOP;

	FOR r IN SELECT DISTINCT pg_catalog.date_trunc('month', l.performed_at AT TIME ZONE 'UTC')::pg_catalog.date AS day
			 FROM @extschema@.ame_audit_logs_before_1_3 l
			 WHERE l.performed_at OPERATOR(pg_catalog.>=) '1900-01-01 00:00+00'::pg_catalog.timestamptz
			   AND l.performed_at OPERATOR(pg_catalog.<) '9999-12-01 00:00+00'::pg_catalog.timestamptz
	LOOP
		PERFORM @extschema@.ame_audit_add_partitions(r.day, r.day);
	END LOOP;
	PERFORM @extschema@.ame_audit_add_partitions((pg_catalog.now() AT TIME ZONE 'UTC')::pg_catalog.date);

	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
	FROM pg_catalog.pg_attribute a
	WHERE a.attrelid OPERATOR(pg_catalog.=) old AND a.attnum OPERATOR(pg_catalog.>) 0
	  AND NOT a.attisdropped;
	EXECUTE pg_catalog.format('INSERT INTO @extschema@.ame_audit_logs (%s) SELECT %s FROM %s ORDER BY seq',
							  cols, cols, old);
END
$upgrade_log$;

DROP TABLE @extschema@.ame_audit_logs_before_1_3;

CREATE FUNCTION @extschema@.ame_schedule_audit_maintenance(schedule text DEFAULT '30 2 * * *')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_schedule_audit_maintenance'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_schedule_audit_maintenance(text) IS
'create or change the pg_cron job audit-maintenance (times in GMT), which runs ame_audit_maintenance(), owned by the extension''s owner and run in this database; returns the job id';

CREATE FUNCTION @extschema@.ame_unschedule_audit_maintenance()
RETURNS boolean
AS 'MODULE_PATHNAME', 'ame_unschedule_audit_maintenance'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_unschedule_audit_maintenance() IS
'remove the pg_cron job audit-maintenance; false when there was none';

REVOKE ALL ON FUNCTION @extschema@.ame_schedule_audit_maintenance(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_unschedule_audit_maintenance() FROM PUBLIC;

-- Where the session cleanup is scheduled, the audit maintenance is
-- scheduled beside it (it keeps the partitions three months ahead); a
-- failure is a NOTICE, never a failed update.
DO $schedule_audit$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_extension
			   WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
		IF EXISTS (SELECT FROM cron.job j
				   WHERE j.jobname OPERATOR(pg_catalog.=) 'session-cleanup'
					 AND j.username OPERATOR(pg_catalog.=) CURRENT_USER) THEN
			PERFORM @extschema@.ame_schedule_audit_maintenance();
		END IF;
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'the audit maintenance could not be scheduled: %', SQLERRM
		USING HINT = 'Fix the cause, then run SELECT @extschema@.ame_schedule_audit_maintenance();';
END
$schedule_audit$;
