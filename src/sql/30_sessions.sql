/* src/sql/30_sessions.sql: sessions, cleanup, pg_cron, realtime, row-level security */

--
-- Session API (C, caller's rights: row-level security decides)
--

CREATE FUNCTION @extschema@.ame_start_session(visit_id uuid,
											  ttl interval DEFAULT '8 hours')
RETURNS TABLE (session_id uuid, session_token text, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'ame_start_session'
LANGUAGE C VOLATILE ROWS 1;

COMMENT ON FUNCTION @extschema@.ame_start_session(uuid, interval) IS
'start a new session on a scheduled or in-progress visit the caller can see; returns one row: its id, its unguessable token and its expires_at (now() + ttl). Errors: 22023 visit not found or not visible, NULL argument, ttl not positive; 23514 (constraint ame_visit_workflow) visit completed or cancelled; 42501 without the table rights.';

CREATE FUNCTION @extschema@.ame_touch_session(token text,
											  auto_save jsonb DEFAULT NULL)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'ame_touch_session'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_touch_session(text, jsonb) IS
'merge a JSON object into the session''s auto_save_data and extend it by its ttl; returns the new expires_at. Errors: 22023 unknown or invisible token, NULL token, auto_save not an object; 23514 (constraint ame_session_active) session ended, expired or archived.';

CREATE FUNCTION @extschema@.ame_end_session(token text)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'ame_end_session'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_end_session(text) IS
'end an active session (is_active = false, expires_at = the end time); returns the end time. Errors: 22023 unknown or invisible token, NULL token; 23514 (constraint ame_session_active) session already ended, expired or archived.';

-- touching an archived session says so: look tokens up in the archive too
CREATE INDEX ame_visit_sessions_archive_token_idx
	ON @extschema@.ame_visit_sessions_archive (session_token);

--
-- Cleanup and its pg_cron job (owner only)
--

CREATE FUNCTION @extschema@.cleanup_expired_sessions()
RETURNS bigint
AS 'MODULE_PATHNAME', 'cleanup_expired_sessions'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.cleanup_expired_sessions() IS
'atomically move sessions expired more than 24 hours ago into ame_visit_sessions_archive (an id already there is archived again, next to its earlier copy); logs to system_maintenance_log; sends one NOTIFY ame_realtime saying how many sessions of which visits were archived; returns the number moved';

CREATE FUNCTION @extschema@.ame_schedule_cleanup(schedule text DEFAULT '0 2 * * *')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_schedule_cleanup'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_schedule_cleanup(text) IS
'create or change the pg_cron job session-cleanup (times in GMT), owned by the extension''s owner and run in this database (a restored job is repaired); returns the job id';

CREATE FUNCTION @extschema@.ame_unschedule_cleanup()
RETURNS boolean
AS 'MODULE_PATHNAME', 'ame_unschedule_cleanup'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_unschedule_cleanup() IS
'remove the pg_cron job session-cleanup; false when there was none';

-- beside it, the audit log's nightly maintenance (20_audit.sql)
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

REVOKE ALL ON FUNCTION @extschema@.cleanup_expired_sessions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_schedule_cleanup(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_unschedule_cleanup() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_schedule_audit_maintenance(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_unschedule_audit_maintenance() FROM PUBLIC;

--
-- Realtime: a NOTIFY per change (one summary per statement above 100 rows),
-- and publication ame_realtime
--

CREATE FUNCTION @extschema@.ame_realtime_notify()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_realtime_notify'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_realtime_notify() IS
'AFTER row trigger: notes each change for ame_realtime_notify_statement() (ids only; past 100 rows of a statement, only a count); its arguments name the routing keys of the payload after "id": visit_id, customer_id, technician_id (the visit''s). Errors: 39P01 an unknown or repeated key, a missing column.';

CREATE FUNCTION @extschema@.ame_realtime_notify_statement()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_realtime_notify_statement'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_realtime_notify_statement() IS
'AFTER statement trigger: NOTIFY ame_realtime with {"schema", "table", "operation", "id", <routing keys>} per changed row, or {"schema", "table", "operation", "rows", "bulk": true} above 100 rows. Errors: 39P01 when not fired as an AFTER statement trigger.';

-- the routing keys each table's payload carries after "id"
CREATE TRIGGER ame_visit_sessions_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_sessions
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify('visit_id', 'technician_id');
CREATE TRIGGER ame_visit_progress_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_progress
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify('visit_id', 'technician_id');
CREATE TRIGGER device_inventory_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_inventory
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify('visit_id', 'customer_id');
CREATE TRIGGER ame_visit_sessions_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_sessions
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();
CREATE TRIGGER ame_visit_progress_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_progress
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();
CREATE TRIGGER device_inventory_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_inventory
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();

CREATE FUNCTION @extschema@.ame_setup_realtime()
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

COMMENT ON FUNCTION @extschema@.ame_setup_realtime() IS
'create or repair publication ame_realtime on sessions, progress and devices; add them to supabase_realtime when it exists and may be altered';

REVOKE ALL ON FUNCTION @extschema@.ame_setup_realtime() FROM PUBLIC;

--
-- Row-level security: a technician sees and changes only the rows of
-- their own visits.  The helpers run as the owner, so a role needs no
-- right on ame_technicians for the policies to work; each policy calls
-- its helper in a scalar subquery, evaluated once per statement.  The
-- helpers' bodies are bound when they are created (BEGIN ATOMIC): an
-- overload planted later in a writable schema cannot make the call by
-- name ambiguous and fail every technician's query.
--

CREATE FUNCTION @extschema@.ame_current_technician_id()
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT t.id FROM @extschema@.ame_technicians t
	WHERE t.user_id OPERATOR(pg_catalog.=) @extschema@.ame_current_user_id();
END;

COMMENT ON FUNCTION @extschema@.ame_current_technician_id() IS
'the technician whose user_id is ame_current_user_id(), or NULL; used by the row-level security policies';

CREATE FUNCTION @extschema@.ame_current_visit_ids()
RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT COALESCE(pg_catalog.array_agg(v.id), '{}')
	FROM @extschema@.ame_visits v
	WHERE v.technician_id OPERATOR(pg_catalog.=)
		  @extschema@.ame_current_technician_id();
END;

COMMENT ON FUNCTION @extschema@.ame_current_visit_ids() IS
'the ids of the visits of the current technician (empty without one); used by the row-level security policies';

ALTER TABLE @extschema@.ame_visits ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.ame_visit_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.ame_visit_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.ame_visit_sessions_archive ENABLE ROW LEVEL SECURITY;

CREATE POLICY ame_visits_technician ON @extschema@.ame_visits
	FOR ALL TO PUBLIC
	USING (technician_id OPERATOR(pg_catalog.=)
		   (SELECT @extschema@.ame_current_technician_id()))
	WITH CHECK (technician_id OPERATOR(pg_catalog.=)
				(SELECT @extschema@.ame_current_technician_id()));

CREATE POLICY ame_visit_progress_technician ON @extschema@.ame_visit_progress
	FOR ALL TO PUBLIC
	USING (visit_id OPERATOR(pg_catalog.=) ANY
		   ((SELECT @extschema@.ame_current_visit_ids())::uuid[]))
	WITH CHECK (visit_id OPERATOR(pg_catalog.=) ANY
				((SELECT @extschema@.ame_current_visit_ids())::uuid[]));

CREATE POLICY ame_visit_sessions_technician ON @extschema@.ame_visit_sessions
	FOR ALL TO PUBLIC
	USING (visit_id OPERATOR(pg_catalog.=) ANY
		   ((SELECT @extschema@.ame_current_visit_ids())::uuid[]))
	WITH CHECK (visit_id OPERATOR(pg_catalog.=) ANY
				((SELECT @extschema@.ame_current_visit_ids())::uuid[]));

CREATE POLICY ame_visit_sessions_archive_technician
	ON @extschema@.ame_visit_sessions_archive
	FOR ALL TO PUBLIC
	USING (visit_id OPERATOR(pg_catalog.=) ANY
		   ((SELECT @extschema@.ame_current_visit_ids())::uuid[]))
	WITH CHECK (visit_id OPERATOR(pg_catalog.=) ANY
				((SELECT @extschema@.ame_current_visit_ids())::uuid[]));

--
-- At install: schedule the cleanup and set up the publication, unless
-- this is a restore (a pg_dump script sets row_security = off, pg_restore
-- connects as application_name pg_restore): the restored cron.job rows
-- and the dumped publication must not collide with new ones.  Nothing
-- here can make the install fail.
--

CREATE FUNCTION @extschema@.ame_install_notice(message text, hint text)
RETURNS void
AS 'MODULE_PATHNAME', 'ame_install_notice'
LANGUAGE C;

DO $install$
BEGIN
	IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off'
	   OR pg_catalog.current_setting('application_name') OPERATOR(pg_catalog.=) 'pg_restore' THEN
		PERFORM @extschema@.ame_install_notice(
			'restore detected: the session cleanup is not scheduled and publication "ame_realtime" is not set up',
			'The restored cron.job rows keep their schedule. After the restore, run SELECT @extschema@.ame_setup_realtime();');
		RETURN;
	END IF;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension
				   WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
		PERFORM @extschema@.ame_install_notice(
			'pg_cron is not installed: expired sessions are not cleaned up automatically',
			'Install pg_cron in this database, then run SELECT @extschema@.ame_schedule_cleanup();');
	ELSE
		BEGIN
			PERFORM @extschema@.ame_schedule_cleanup();
		EXCEPTION WHEN OTHERS THEN
			PERFORM @extschema@.ame_install_notice(
				pg_catalog.format('the session cleanup could not be scheduled: %s', SQLERRM),
				'Fix the cause, then run SELECT @extschema@.ame_schedule_cleanup();');
		END;
		BEGIN
			PERFORM @extschema@.ame_schedule_audit_maintenance();
		EXCEPTION WHEN OTHERS THEN
			PERFORM @extschema@.ame_install_notice(
				pg_catalog.format('the audit maintenance could not be scheduled: %s', SQLERRM),
				'Fix the cause, then run SELECT @extschema@.ame_schedule_audit_maintenance();');
		END;
	END IF;

	BEGIN
		PERFORM @extschema@.ame_setup_realtime();
	EXCEPTION WHEN OTHERS THEN
		PERFORM @extschema@.ame_install_notice(
			pg_catalog.format('publication "ame_realtime" could not be set up: %s', SQLERRM),
			'Fix the cause, then run SELECT @extschema@.ame_setup_realtime();');
	END;
END
$install$;

DROP FUNCTION @extschema@.ame_install_notice(text, text);
