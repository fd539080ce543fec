--
-- cron: the pg_cron job session-cleanup (SPEC §6).  pg_cron can be
-- created here because the test cluster names this database in
-- cron.database_name.  Times in pg_cron 1.4 schedules are GMT.
--
\set VERBOSITY terse
-- the install's NOTICEs are part of the behaviour under test
SET client_min_messages = notice;
CREATE EXTENSION pg_cron;
CREATE VIEW cron_jobs AS
SELECT jobname, schedule, username = (SELECT pg_get_userbyid(extowner) FROM pg_extension
                                      WHERE extname = 'ame') AS owned_by_ame_owner,
       database = current_database() AS here
FROM cron.job ORDER BY jobid;

-- ame was installed before pg_cron: no job yet
SELECT * FROM cron_jobs;

-- schedule it: one job, owned by the extension's owner, with a guarded,
-- schema-qualified command
SELECT ame_schedule_cleanup() > 0 AS scheduled;
SELECT * FROM cron_jobs;
SELECT command FROM cron.job WHERE jobname = 'session-cleanup';
-- rescheduling changes the one job
SELECT ame_schedule_cleanup('30 3 * * 1-5') = (SELECT jobid FROM cron.job) AS same_job;
SELECT * FROM cron_jobs;

-- bad schedules are refused clearly, and the job is unchanged
SELECT ame_schedule_cleanup('every night');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup('0 2 * *');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup('0 2 * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup('0 24 * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup('0 2 31-1 * *');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup('5/10 2 * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup('0 2 * foo *');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup('@reboot');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup('');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_schedule_cleanup(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM cron_jobs;
-- what pg_cron accepts, ame accepts
SELECT ame_schedule_cleanup('*/15 0-6,22,23 1,15 jan-mar,DEC sun,tue-sat') > 0 AS ok;
-- day of week 7 is Sunday, as in pg_cron
SELECT ame_schedule_cleanup('0 2 * * 7') > 0 AS ok;
SELECT schedule FROM cron.job WHERE jobname = 'session-cleanup';
SELECT ame_schedule_cleanup('@daily') > 0 AS ok;
SELECT * FROM cron_jobs;

-- owner only: not for PUBLIC, and a grantee is still no owner
SELECT has_function_privilege('public', 'ame_schedule_cleanup(text)', 'EXECUTE') AS schedule_public,
       has_function_privilege('public', 'ame_unschedule_cleanup()', 'EXECUTE') AS unschedule_public;
CREATE ROLE regress_ame_cron;
SET ROLE regress_ame_cron;
SELECT ame_schedule_cleanup();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION ame_schedule_cleanup(text), ame_unschedule_cleanup() TO regress_ame_cron;
SET ROLE regress_ame_cron;
SELECT ame_schedule_cleanup();
\echo :LAST_ERROR_SQLSTATE
SELECT ame_unschedule_cleanup();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT * FROM cron_jobs;
REVOKE ALL ON FUNCTION ame_schedule_cleanup(text), ame_unschedule_cleanup() FROM regress_ame_cron;
DROP ROLE regress_ame_cron;

-- the job's stored command, run as pg_cron runs it (its own statement,
-- no search_path help), cleans up and logs
INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c9000000-0000-0000-0000-000000000001', 'Cron Co', 'CORE');
INSERT INTO ame_visits (id, customer_id) VALUES
  ('d9000000-0000-0000-0000-000000000001', 'c9000000-0000-0000-0000-000000000001');
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
VALUES ('d9000000-0000-0000-0000-000000000001', 'cron-old', now() - interval '3 days', now() - interval '2 days'),
       ('d9000000-0000-0000-0000-000000000001', 'cron-new', now() - interval '1 hour', now() + interval '1 hour');
DELETE FROM system_maintenance_log;
SELECT command AS job_command FROM cron.job WHERE jobname = 'session-cleanup' \gset
SET search_path = pg_catalog;
:job_command;
RESET search_path;
SELECT session_token FROM ame_visit_sessions WHERE visit_id = 'd9000000-0000-0000-0000-000000000001';
SELECT session_token FROM ame_visit_sessions_archive WHERE visit_id = 'd9000000-0000-0000-0000-000000000001';
SELECT operation, affected_rows FROM system_maintenance_log;

-- the command names no schema: after ALTER SCHEMA ... RENAME it finds
-- the cleanup through the extension, cleans up, and the job stays
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
VALUES ('d9000000-0000-0000-0000-000000000001', 'cron-renamed', now() - interval '3 days', now() - interval '2 days');
DELETE FROM system_maintenance_log;
ALTER SCHEMA public RENAME TO ame_home;
SET search_path = pg_catalog;
:job_command;
SELECT count(*) AS still_live FROM ame_home.ame_visit_sessions WHERE session_token = 'cron-renamed';
SELECT count(*) AS archived FROM ame_home.ame_visit_sessions_archive WHERE session_token = 'cron-renamed';
SELECT operation, affected_rows FROM ame_home.system_maintenance_log;
SELECT * FROM ame_home.cron_jobs;
RESET search_path;
ALTER SCHEMA ame_home RENAME TO public;

-- a job restored from a database of another name runs nowhere; the
-- documented ame_schedule_cleanup() call repairs it, keeping the job id
UPDATE cron.job SET database = 'ame_old_name' WHERE jobname = 'session-cleanup';
SELECT * FROM cron_jobs;
SELECT jobid AS old_jobid FROM cron.job WHERE jobname = 'session-cleanup' \gset
SELECT ame_schedule_cleanup() = :old_jobid AS same_job;
SELECT * FROM cron_jobs;
-- the repaired job's command is still the guarded one
SELECT command = :'job_command' AS same_command
FROM cron.job WHERE jobname = 'session-cleanup';

-- CREATE EXTENSION schedules it when pg_cron is there
DROP EXTENSION ame;
-- DROP EXTENSION leaves the job, but its next run (of the command as
-- stored now) removes it
SELECT * FROM cron_jobs;
SELECT command AS job_command FROM cron.job WHERE jobname = 'session-cleanup' \gset
:job_command;
SELECT * FROM cron_jobs;
CREATE EXTENSION ame;
SELECT * FROM cron_jobs;
SELECT command FROM cron.job WHERE jobname = 'session-cleanup';

-- the restore signals skip the schedule (and the publication set-up)
DROP EXTENSION ame;
SELECT cron.unschedule('session-cleanup');
-- the audit maintenance's job, scheduled beside it, removes itself too at
-- its next run once ame is gone
SELECT command AS audit_command FROM cron.job WHERE jobname = 'audit-maintenance' \gset
:audit_command;
SELECT count(*) AS jobs FROM cron.job;
SET row_security = off;
CREATE EXTENSION ame;
RESET row_security;
SELECT count(*) AS jobs FROM cron.job;
DROP EXTENSION ame;
SET application_name = 'pg_restore';
CREATE EXTENSION ame;
RESET application_name;
SELECT count(*) AS jobs FROM cron.job;
-- a restored job row stays the only one after the restore's CREATE EXTENSION
INSERT INTO cron.job (jobid, schedule, command, jobname)
VALUES (42, '0 2 * * *', 'SELECT 1', 'session-cleanup');
DROP EXTENSION ame;
SET row_security = off;
CREATE EXTENSION ame;
RESET row_security;
SELECT jobid, jobname FROM cron.job;
SELECT cron.unschedule(42);

-- a scheduling error at install time is a NOTICE, never a failed install
CREATE FUNCTION cron_refuses() RETURNS trigger LANGUAGE plpgsql
AS $$BEGIN RAISE EXCEPTION 'cron is refusing jobs'; END$$;
CREATE TRIGGER refuse BEFORE INSERT ON cron.job FOR EACH ROW EXECUTE FUNCTION cron_refuses();
DROP EXTENSION ame;
CREATE EXTENSION ame;
SELECT count(*) AS jobs, (SELECT count(*) FROM pg_extension WHERE extname = 'ame') AS installed
FROM cron.job;
-- called directly, the same error is an error
SELECT ame_schedule_cleanup();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS jobs FROM cron.job;
DROP TRIGGER refuse ON cron.job;
DROP FUNCTION cron_refuses();

-- unschedule: true when it removed the job, false when there was none
SELECT ame_schedule_cleanup() > 0 AS scheduled;
SELECT ame_unschedule_cleanup();
SELECT ame_unschedule_cleanup();
SELECT count(*) AS jobs FROM cron.job;

-- without pg_cron: a clear error, and CREATE EXTENSION says what to do
DROP VIEW cron_jobs;
DROP EXTENSION pg_cron;
SELECT ame_schedule_cleanup();
\echo :LAST_ERROR_SQLSTATE
SELECT ame_unschedule_cleanup();
\echo :LAST_ERROR_SQLSTATE
DROP EXTENSION ame;
\set VERBOSITY default
CREATE EXTENSION ame;
