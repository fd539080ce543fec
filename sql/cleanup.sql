--
-- cleanup: cleanup_expired_sessions() moves every session expired more
-- than 24 hours ago into the archive in one statement, logs the true
-- count, sends one summary NOTIFY (SPEC §6).  Concurrency: specs/.
--
\set VERBOSITY terse
DELETE FROM ame_visit_sessions;
DELETE FROM ame_visit_sessions_archive;
DELETE FROM system_maintenance_log;

INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c6000000-0000-0000-0000-000000000001', 'Cleanup Co', 'CORE');
INSERT INTO ame_visits (id, customer_id, status, actual_start_time)
VALUES ('d6000000-0000-0000-0000-000000000001', 'c6000000-0000-0000-0000-000000000001', 'in_progress', now());

-- sessions on both sides of the grace period (expires_at + 24 hours)
INSERT INTO ame_visit_sessions (id, visit_id, session_token, is_active, auto_save_data,
                                created_at, last_activity, expires_at, ttl)
SELECT format('e6000000-0000-0000-0000-%s', lpad(i::text, 12, '0'))::uuid,
       'd6000000-0000-0000-0000-000000000001', 'cleanup-' || i, i % 2 = 0,
       jsonb_build_object('i', i),
       now() - interval '40 days', now() - interval '39 days', now() - e.ago, '8 hours'
FROM generate_series(1, 8) i,
     LATERAL (SELECT (ARRAY[interval '3 days', '25 hours', '24 hours 1 minute', '23 hours',
                            '1 hour', '-1 hour', '2 days', '30 days'])[i] AS ago) e;
SELECT session_token, is_active, expires_at < now() - interval '24 hours' AS past_grace
FROM ame_visit_sessions ORDER BY session_token;
CREATE TEMP TABLE orig AS SELECT * FROM ame_visit_sessions;

-- not for PUBLIC; the owner grants it
SELECT has_function_privilege('public', 'cleanup_expired_sessions()', 'EXECUTE') AS public_exec;
CREATE ROLE regress_ame_clerk;
SET ROLE regress_ame_clerk;
SELECT cleanup_expired_sessions();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS live, (SELECT count(*) FROM ame_visit_sessions_archive) AS archived,
       (SELECT count(*) FROM system_maintenance_log) AS log_rows
FROM ame_visit_sessions;

-- one LISTEN sees the summary NOTIFY (the PID varies: masked)
LISTEN ame_realtime;
\o | sed -E 's/PID [0-9]+/PID <pid>/'
SELECT cleanup_expired_sessions() AS moved;
\o
UNLISTEN ame_realtime;

-- exactly the five sessions past the grace period moved, unchanged
SELECT session_token FROM ame_visit_sessions ORDER BY 1;
SELECT a.session_token, a.is_active, a.auto_save_data,
       now() - a.archived_at < interval '1 minute' AS archived_recently
FROM ame_visit_sessions_archive a ORDER BY 1;
SELECT count(*) AS archived_rows_that_differ FROM (
  SELECT id, visit_id, technician_id, session_token, auto_save_data, is_active,
         last_activity, created_at, expires_at, ttl FROM ame_visit_sessions_archive
  EXCEPT SELECT * FROM orig) x;
-- never both live and archived
SELECT count(*) AS in_both FROM ame_visit_sessions s
JOIN ame_visit_sessions_archive a USING (id);

-- one log row with the true count, a duration and the details
SELECT operation, affected_rows, duration_ms >= 0 AS has_duration,
       jsonb_typeof(details -> 'cutoff') AS cutoff, details -> 'grace_period_hours' AS grace_hours,
       (details -> 'lock_wait_ms')::float8 >= 0 AS lock_wait,
       now() - performed_at < interval '1 minute' AS logged_recently
FROM system_maintenance_log;

-- the owner may grant it; the grantee moves all sessions even though it
-- cannot read them (owner rights), and nothing else
GRANT EXECUTE ON FUNCTION cleanup_expired_sessions() TO regress_ame_clerk;
UPDATE ame_visit_sessions SET expires_at = now() - interval '25 hours',
       created_at = now() - interval '26 hours', last_activity = now() - interval '26 hours'
WHERE session_token = 'cleanup-4';
SET ROLE regress_ame_clerk;
SELECT cleanup_expired_sessions() AS moved_by_grantee;
SELECT count(*) FROM ame_visit_sessions;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS live, (SELECT count(*) FROM ame_visit_sessions_archive) AS archived
FROM ame_visit_sessions;

-- a run with nothing to move still logs (0) and returns 0
SELECT cleanup_expired_sessions() AS moved_again;
SELECT affected_rows FROM system_maintenance_log ORDER BY performed_at, affected_rows DESC;

-- a session id already in the archive (a migration, an import, an old
-- dump) is archived again next to its earlier copy, never a failed run:
-- the session leaves the live table exactly once, both copies are kept
-- (told apart by archived_at), and the run's log row says which ids
DELETE FROM system_maintenance_log;
INSERT INTO ame_visit_sessions (id, visit_id, session_token, auto_save_data, created_at, expires_at)
VALUES ('e6000000-0000-0000-0000-000000000001', 'd6000000-0000-0000-0000-000000000001',
        'clash', '{"copy": "newer"}', now() - interval '5 days', now() - interval '4 days'),
       ('e6000000-0000-0000-0000-000000000020', 'd6000000-0000-0000-0000-000000000001',
        'no-clash', '{}', now() - interval '5 days', now() - interval '4 days');
-- an imported archive row dated in the future still gets a later copy
INSERT INTO ame_visit_sessions_archive (id, visit_id, session_token, auto_save_data, is_active,
       last_activity, created_at, expires_at, ttl, archived_at)
VALUES ('e6000000-0000-0000-0000-000000000021', 'd6000000-0000-0000-0000-000000000001',
        'imported-future', '{"copy": "imported"}', false, now() - interval '9 days',
        now() - interval '9 days', now() - interval '8 days', '1 day', now() + interval '1 day');
INSERT INTO ame_visit_sessions (id, visit_id, session_token, auto_save_data, created_at, expires_at)
VALUES ('e6000000-0000-0000-0000-000000000021', 'd6000000-0000-0000-0000-000000000001',
        'clash-future', '{"copy": "newer"}', now() - interval '5 days', now() - interval '4 days');
CREATE TEMP TABLE archive_before AS SELECT * FROM ame_visit_sessions_archive;
SELECT cleanup_expired_sessions() AS moved_with_clashes;
SELECT count(*) AS still_live FROM ame_visit_sessions
WHERE session_token IN ('clash', 'no-clash', 'clash-future');
-- every earlier archived row is still there, unchanged
SELECT count(*) AS earlier_copies_lost FROM (
  SELECT * FROM archive_before EXCEPT SELECT * FROM ame_visit_sessions_archive) x;
-- the clashing ids now have two copies each, the newer one archived later
SELECT id, session_token, auto_save_data,
       archived_at > lag(archived_at) OVER (PARTITION BY id ORDER BY archived_at) AS later_copy
FROM ame_visit_sessions_archive
WHERE id IN ('e6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-000000000020',
             'e6000000-0000-0000-0000-000000000021')
ORDER BY id, archived_at;
SELECT operation, affected_rows, details -> 'archived_again' AS archived_again,
       details -> 'archived_again_ids' AS ids, details ->> 'note' AS note
FROM system_maintenance_log;
-- and the next run goes on as usual
SELECT cleanup_expired_sessions() AS next_run;
SELECT count(*) AS log_rows, count(*) FILTER (WHERE details -> 'archived_again' = '0') AS clean_runs
FROM system_maintenance_log;
DROP TABLE archive_before;

-- a move that fails (here a user trigger on the archive refuses) rolls
-- back whole: nothing lost, nothing logged
CREATE FUNCTION refuse_archive() RETURNS trigger LANGUAGE plpgsql
AS $$BEGIN RAISE EXCEPTION 'the archive refuses'; END$$;
CREATE TRIGGER refuse BEFORE INSERT ON ame_visit_sessions_archive
FOR EACH ROW EXECUTE FUNCTION refuse_archive();
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
VALUES ('d6000000-0000-0000-0000-000000000001', 'refused', now() - interval '5 days', now() - interval '4 days');
SELECT count(*) AS live, (SELECT count(*) FROM ame_visit_sessions_archive) AS archived,
       (SELECT count(*) FROM system_maintenance_log) AS log_rows
FROM ame_visit_sessions;
SELECT cleanup_expired_sessions();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS live, (SELECT count(*) FROM ame_visit_sessions_archive) AS archived,
       (SELECT count(*) FROM system_maintenance_log) AS log_rows
FROM ame_visit_sessions;
DROP TRIGGER refuse ON ame_visit_sessions_archive;
DROP FUNCTION refuse_archive();
DELETE FROM ame_visit_sessions WHERE session_token = 'refused';

-- search_path plays no part
SET search_path = pg_catalog;
SELECT public.cleanup_expired_sessions() AS moved_without_path;
RESET search_path;

REVOKE EXECUTE ON FUNCTION cleanup_expired_sessions() FROM regress_ame_clerk;
DROP ROLE regress_ame_clerk;
