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
