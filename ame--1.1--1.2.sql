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

--
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

-- ame_enable_audit and ame_disable_audit call it first: they are made
-- again, with their pinned search_path, in the hostile-schemas section below.


--
-- Hostile schemas: nothing a role with CREATE on the extension's schema or
-- on public plants is bound or run by ame (SPEC §1).  1.0 and 1.1 bound the
-- CHECK valid_duration and both views, at install time, to whatever
-- operator the installer's path found first for numeric >= integer,
-- numeric * bigint, numeric / integer and numeric = integer, and their
-- functions compared oid with regclass, regtype and regproc under a
-- search_path that held the extension's schema.  Everything of that is
-- made again here, unconditionally: an install made while look-alikes were
-- planted depends on them, and this rebinds it to pg_catalog's.  The
-- functions keep their signatures, privileges and comments; the views
-- their columns.
--

ALTER TABLE @extschema@.ame_visits
	DROP CONSTRAINT valid_duration,
	ADD CONSTRAINT valid_duration CHECK (duration_hours >= 0::numeric);

CREATE OR REPLACE VIEW @extschema@.technician_performance
WITH (security_invoker = true) AS
SELECT t.id AS technician_id,
	   t.name,
	   t.is_active,
	   pg_catalog.count(v.id) AS total_visits,
	   pg_catalog.round(pg_catalog.avg(EXTRACT(EPOCH FROM v.completed_at - v.actual_start_time)
									   OPERATOR(pg_catalog./) 3600)
					   FILTER (WHERE v.status = 'completed'), 2)
		   AS avg_hours_per_visit,
	   pg_catalog.count(*) FILTER (WHERE v.status = 'completed')
		   AS completed_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE v.status = 'completed')
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(v.id), 0::bigint), 2)
		   AS completion_rate
FROM @extschema@.ame_technicians t
	 LEFT JOIN @extschema@.ame_visits v ON v.technician_id = t.id
GROUP BY t.id, t.name, t.is_active;

CREATE OR REPLACE VIEW @extschema@.service_tier_metrics
WITH (security_invoker = true) AS
SELECT tier.service_tier,
	   pg_catalog.count(c.id) AS customer_count,
	   COALESCE(pg_catalog.sum(c.total_visits), 0)::bigint AS total_visits,
	   pg_catalog.round(pg_catalog.sum(c.sum_duration)
					   OPERATOR(pg_catalog./)
					   NULLIF(pg_catalog.sum(c.timed_visits), 0::numeric), 2)
		   AS avg_visit_duration,
	   COALESCE(pg_catalog.sum(c.completed_visits), 0)::bigint
		   AS successful_visits
FROM (VALUES ('CORE'), ('ASSURE'), ('GUARDIAN')) AS tier (service_tier)
	 LEFT JOIN (SELECT cu.id,
					   cu.service_tier,
					   pg_catalog.count(v.id) AS total_visits,
					   pg_catalog.sum(v.duration_hours) AS sum_duration,
					   pg_catalog.count(v.duration_hours) AS timed_visits,
					   pg_catalog.count(*) FILTER (WHERE v.status = 'completed')
						   AS completed_visits
				FROM @extschema@.ame_customers cu
					 LEFT JOIN @extschema@.ame_visits v ON v.customer_id = cu.id
				GROUP BY cu.id, cu.service_tier) c
		 ON c.service_tier = tier.service_tier
GROUP BY tier.service_tier;

CREATE OR REPLACE FUNCTION @extschema@.ame_enable_audit(tbl regclass)
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

CREATE OR REPLACE FUNCTION @extschema@.ame_disable_audit(tbl regclass)
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

CREATE OR REPLACE FUNCTION @extschema@.ame_record_history(tbl regclass, record uuid)
RETURNS TABLE (seq bigint, operation text, changed_fields text[],
			   old_values jsonb, new_values jsonb, user_id uuid,
			   performed_at timestamptz, context jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	-- follow the record back through UPDATEs that changed its id
	-- a partitioned table's rows are logged under their partitions' names
	WITH RECURSIVE t AS (
		SELECT n.nspname AS sch, c.relname AS tab
		FROM (SELECT tbl AS relid
			  UNION SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p) p
			 JOIN pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid
			 JOIN pg_namespace n ON n.oid = c.relnamespace
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
	SELECT l.seq, l.operation, l.changed_fields, l.old_values, l.new_values,
		   l.user_id, l.performed_at, l.context
	FROM @extschema@.ame_audit_logs l
	WHERE l.id IN (SELECT l2.id
				   FROM chain ch, t, @extschema@.ame_audit_logs l2
				   WHERE l2.record_id = ch.rid
					 AND l2.table_schema OPERATOR(pg_catalog.=) t.sch
					 AND l2.table_name OPERATOR(pg_catalog.=) t.tab
					 AND (ch.before_seq IS NULL OR l2.seq < ch.before_seq))
	ORDER BY l.seq
$$;

CREATE OR REPLACE FUNCTION @extschema@.ame_record_at(tbl regclass, record uuid, at timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.new_values END
	FROM @extschema@.ame_record_history(tbl, record) h
	WHERE h.performed_at <= at
	ORDER BY h.seq DESC
	LIMIT 1
$$;

CREATE OR REPLACE FUNCTION @extschema@.ame_setup_realtime()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	rels oid[] := ARRAY['@extschema@.ame_visit_sessions'::regclass,
						'@extschema@.ame_visit_progress'::regclass,
						'@extschema@.device_inventory'::regclass];
	list text;
	pub record;
	rel record;
BEGIN
	SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', '
					  ORDER BY c.relname)
	INTO list
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = ANY (rels);

	SELECT p.puballtables INTO pub
	FROM pg_publication p WHERE p.pubname = 'ame_realtime';
	IF NOT FOUND THEN
		EXECUTE format('CREATE PUBLICATION ame_realtime FOR TABLE %s', list);
	ELSIF pub.puballtables THEN
		RAISE NOTICE 'publication "ame_realtime" publishes all tables and is left as it is';
	ELSE
		EXECUTE format('ALTER PUBLICATION ame_realtime SET TABLE %s', list);
		ALTER PUBLICATION ame_realtime
			SET (publish = 'insert, update, delete, truncate');
	END IF;

	-- Supabase's own publication, when there is one we may alter
	SELECT p.oid, p.puballtables, p.pubowner INTO pub
	FROM pg_publication p WHERE p.pubname = 'supabase_realtime';
	IF FOUND AND NOT pub.puballtables THEN
		IF NOT pg_has_role(current_user, pub.pubowner, 'USAGE') THEN
			RAISE NOTICE 'publication "supabase_realtime" is not altered: it belongs to role "%"',
				pg_get_userbyid(pub.pubowner);
		ELSE
			FOR rel IN
				SELECT format('%I.%I', n.nspname, c.relname) AS name
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE c.oid = ANY (rels)
				  AND NOT EXISTS (SELECT FROM pg_publication_rel pr
								  WHERE pr.prpubid = pub.oid AND pr.prrelid = c.oid)
				ORDER BY c.relname
			LOOP
				EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE %s',
							   rel.name);
			END LOOP;
		END IF;
	END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.ame_current_technician_id()
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT t.id FROM @extschema@.ame_technicians t
	WHERE t.user_id OPERATOR(pg_catalog.=) @extschema@.ame_current_user_id()
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.ame_current_visit_ids()
RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT COALESCE(pg_catalog.array_agg(v.id), '{}')
	FROM @extschema@.ame_visits v
	WHERE v.technician_id OPERATOR(pg_catalog.=)
		  @extschema@.ame_current_technician_id()
$fn$;


-- Import: statement triggers fire once per import, and a row a BEFORE ROW
-- trigger suppresses is counted in import_batches.skipped_count
ALTER TABLE @extschema@.import_batches
	ADD COLUMN skipped_count integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN @extschema@.import_batches.skipped_count IS
'records a BEFORE ROW trigger of the target suppressed (neither imported nor errors); success_count + error_count + skipped_count = total_records';
COMMENT ON FUNCTION @extschema@.ame_import_csv(text, text, text) IS
'imports CSV text (customers, technicians or devices); every record is imported, recorded in import_errors, or counted in skipped_count when a BEFORE ROW trigger suppresses it; returns the import_batches id';

--
-- Maintenance never stops on one row or one rename (issue 10, item 8)
--

-- a session id already in the archive is archived again, next to its
-- earlier copy: the archive's key becomes (id, archived_at)
ALTER TABLE @extschema@.ame_visit_sessions_archive
	DROP CONSTRAINT ame_visit_sessions_archive_pkey,
	ADD CONSTRAINT ame_visit_sessions_archive_pkey PRIMARY KEY (id, archived_at);

COMMENT ON FUNCTION @extschema@.cleanup_expired_sessions() IS
'atomically move sessions expired more than 24 hours ago into ame_visit_sessions_archive (an id already there is archived again, next to its earlier copy); logs to system_maintenance_log; returns the number moved';

COMMENT ON FUNCTION @extschema@.ame_schedule_cleanup(text) IS
'create or change the pg_cron job session-cleanup (times in GMT), owned by the extension''s owner and run in this database (a restored job is repaired); returns the job id';

-- The session-cleanup job of 1.0 and 1.1 names the schema in its command
-- (renaming the schema made it unschedule itself): give it the 1.2
-- command, which finds the cleanup through the extension, keeping its id,
-- schedule and state.  Only a command ame wrote is replaced; a job the
-- user rewrote is left alone.  Nothing here can make the update fail.
DO $maint$
DECLARE
	job record;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension
				   WHERE extname OPERATOR(pg_catalog.=) 'pg_cron'::pg_catalog.name) THEN
		RETURN;
	END IF;
	FOR job IN
		SELECT j.jobid, j.schedule FROM cron.job j, pg_catalog.pg_extension e
		WHERE e.extname OPERATOR(pg_catalog.=) 'ame'::pg_catalog.name
		  AND j.jobname OPERATOR(pg_catalog.=) 'session-cleanup'::pg_catalog.name
		  AND j.username OPERATOR(pg_catalog.=) pg_catalog.pg_get_userbyid(e.extowner)::pg_catalog.text
		  AND pg_catalog.starts_with(j.command,
				'DO $ame$BEGIN IF pg_catalog.to_regprocedure(')
	LOOP
		BEGIN
			PERFORM @extschema@.ame_schedule_cleanup(job.schedule);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'the command of pg_cron job % (session-cleanup) was not updated: %',
				job.jobid, SQLERRM
				USING HINT = 'Run SELECT @extschema@.ame_schedule_cleanup(); as the owner of extension ame.';
		END;
	END LOOP;
END
$maint$;

--
-- Audit after a restore or a logical-replication cut-over: the audit
-- trigger makes sure, once per transaction, that the log's sequence is past
-- the highest seq in the log; this index makes that one probe.
--

CREATE INDEX ame_audit_logs_seq_idx
	ON @extschema@.ame_audit_logs (seq);

--
-- Review: the row-level security helpers are bound at creation (BEGIN
-- ATOMIC), so an overload with a default argument planted later in a
-- writable schema cannot make their calls ambiguous
--

CREATE OR REPLACE FUNCTION @extschema@.ame_current_technician_id()
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT t.id FROM @extschema@.ame_technicians t
	WHERE t.user_id OPERATOR(pg_catalog.=) @extschema@.ame_current_user_id();
END;

CREATE OR REPLACE FUNCTION @extschema@.ame_current_visit_ids()
RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT COALESCE(pg_catalog.array_agg(v.id), '{}')
	FROM @extschema@.ame_visits v
	WHERE v.technician_id OPERATOR(pg_catalog.=)
		  @extschema@.ame_current_technician_id();
END;
