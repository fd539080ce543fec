/* ame--1.1--1.2.sql: upgrade from 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '1.2'" to load this file. \quit

-- Each change of 1.2 has its own section below; a fresh 1.2 install
-- (src/sql/) and this upgrade give the same objects (test/upgrade.t).

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
