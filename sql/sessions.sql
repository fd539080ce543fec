--
-- sessions: ame_start_session, ame_touch_session, ame_end_session (SPEC §6)
--
\set VERBOSITY terse
DELETE FROM ame_visit_sessions;
DELETE FROM ame_visit_sessions_archive;

INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c5000000-0000-0000-0000-000000000001', 'Session Co', 'CORE');
INSERT INTO ame_technicians (id, user_id, name) VALUES
  ('a5000000-0000-0000-0000-000000000001', '05000000-0000-0000-0000-000000000001', 'Sid'),
  ('a5000000-0000-0000-0000-000000000002', '05000000-0000-0000-0000-000000000002', 'Sue');
-- each visit's columns agree with its status (the workflow's rules)
INSERT INTO ame_visits (id, customer_id, technician_id, status, current_phase,
                        actual_start_time, completed_at) VALUES
  ('d5000000-0000-0000-0000-000000000001', 'c5000000-0000-0000-0000-000000000001', 'a5000000-0000-0000-0000-000000000001', 'scheduled', 1, NULL, NULL),
  ('d5000000-0000-0000-0000-000000000002', 'c5000000-0000-0000-0000-000000000001', 'a5000000-0000-0000-0000-000000000001', 'in_progress', 1, '2026-01-05 08:00+00', NULL),
  ('d5000000-0000-0000-0000-000000000003', 'c5000000-0000-0000-0000-000000000001', 'a5000000-0000-0000-0000-000000000002', 'completed', 4, '2026-01-02 08:00+00', '2026-01-02 12:00+00'),
  ('d5000000-0000-0000-0000-000000000004', 'c5000000-0000-0000-0000-000000000001', 'a5000000-0000-0000-0000-000000000002', 'cancelled', 1, NULL, NULL),
  ('d5000000-0000-0000-0000-000000000005', 'c5000000-0000-0000-0000-000000000001', NULL, 'scheduled', 1, NULL, NULL);

-- what a client sees of an error: its SQLSTATE and, for a refusal by a
-- rule, the constraint field (libpq's PG_DIAG_CONSTRAINT_NAME,
-- node-postgres' error.constraint) and the table it names
CREATE FUNCTION pg_temp.client_error(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  state text; con text; tab text; nsp text; msg text;
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
    con = CONSTRAINT_NAME, tab = TABLE_NAME, nsp = SCHEMA_NAME;
  RETURN format('%s %s [constraint %s, table %s.%s]', state, msg,
                coalesce(nullif(con, ''), '-'), coalesce(nullif(nsp, ''), '-'),
                coalesce(nullif(tab, ''), '-'));
END $$;

-- start: a fresh 64-hex-digit token per call, the visit's technician,
-- expires_at = now() + ttl, the defaults of the table; one row back:
-- (session_id, session_token, expires_at) of the new session
CREATE TEMP TABLE tokens (label text PRIMARY KEY, session_id uuid, token text,
                          expires_at timestamptz);
INSERT INTO tokens SELECT 'a', s.* FROM ame_start_session('d5000000-0000-0000-0000-000000000001') s;
INSERT INTO tokens SELECT 'b', s.* FROM ame_start_session('d5000000-0000-0000-0000-000000000001', '30 minutes') s;
INSERT INTO tokens SELECT 'c', s.* FROM ame_start_session('d5000000-0000-0000-0000-000000000002', '2 hours') s;
INSERT INTO tokens SELECT 'd', s.* FROM ame_start_session(visit_id => 'd5000000-0000-0000-0000-000000000005') s;
SELECT label, token ~ '^[0-9a-f]{64}$' AS hex64 FROM tokens ORDER BY label;
SELECT count(DISTINCT token) AS distinct_tokens FROM tokens;
-- the row returned is the session's: its id, token and expiry
SELECT t.label, s.id = t.session_id AS same_id, s.expires_at = t.expires_at AS same_expiry
FROM tokens t JOIN ame_visit_sessions s ON s.session_token = t.token ORDER BY t.label;
SELECT t.label, s.visit_id, s.technician_id, s.ttl, s.expires_at - s.created_at AS lasts,
       s.auto_save_data, s.is_active, s.last_activity = s.created_at AS active_at_start,
       now() - s.created_at < interval '1 minute' AS recent
FROM tokens t JOIN ame_visit_sessions s ON s.session_token = t.token ORDER BY t.label;
-- exactly one row, also called in a target list
SELECT count(*) AS rows_returned FROM ame_start_session('d5000000-0000-0000-0000-000000000002', '1 hour');
SELECT (ame_start_session('d5000000-0000-0000-0000-000000000002', '1 hour')).session_token ~ '^[0-9a-f]{64}$' AS hex64;
DELETE FROM ame_visit_sessions WHERE session_token NOT IN (SELECT token FROM tokens);

-- bad starts: each is an error, and no session appears, no visit changes
CREATE TEMP TABLE visits_before AS SELECT * FROM ame_visits;
SELECT ame_start_session('d5000000-0000-0000-0000-0000000000ff');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_start_session('d5000000-0000-0000-0000-000000000003');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_start_session('d5000000-0000-0000-0000-000000000004');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_start_session(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_start_session('d5000000-0000-0000-0000-000000000001', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_start_session('d5000000-0000-0000-0000-000000000001', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_start_session('d5000000-0000-0000-0000-000000000001', '-1 hour');
\echo :LAST_ERROR_SQLSTATE
-- a closed visit is refused by the visit workflow's rule, as its other refusals
SELECT pg_temp.client_error($$SELECT * FROM ame_start_session('d5000000-0000-0000-0000-000000000003')$$);
SELECT pg_temp.client_error($$SELECT * FROM ame_start_session('d5000000-0000-0000-0000-000000000004')$$);
SELECT pg_temp.client_error($$SELECT * FROM ame_start_session('d5000000-0000-0000-0000-0000000000ff')$$);
SELECT count(*) AS sessions FROM ame_visit_sessions;
SELECT count(*) AS changed_visits FROM (
  SELECT * FROM ame_visits EXCEPT SELECT * FROM visits_before) x;

-- touch: merges at the top level, refreshes last_activity and expires_at
UPDATE ame_visit_sessions SET last_activity = now() - interval '10 minutes',
       expires_at = now() + interval '1 minute',
       auto_save_data = '{"form": {"step": 1}, "note": "old"}'
WHERE session_token = (SELECT token FROM tokens WHERE label = 'b');
BEGIN;
SELECT ame_touch_session((SELECT token FROM tokens WHERE label = 'b'),
                         '{"note": "new", "temp": 21.5}') = now() + interval '30 minutes' AS new_expiry;
SELECT auto_save_data, last_activity = now() AS active_now,
       expires_at = now() + interval '30 minutes' AS extended_by_ttl
FROM ame_visit_sessions WHERE session_token = (SELECT token FROM tokens WHERE label = 'b');
COMMIT;
-- without data: only the times move
SELECT ame_touch_session((SELECT token FROM tokens WHERE label = 'b')) IS NOT NULL AS touched;
SELECT auto_save_data FROM ame_visit_sessions
WHERE session_token = (SELECT token FROM tokens WHERE label = 'b');

-- bad touches: error, nothing changes
CREATE TEMP TABLE before AS SELECT * FROM ame_visit_sessions;
SELECT ame_touch_session((SELECT token FROM tokens WHERE label = 'b'), '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_touch_session((SELECT token FROM tokens WHERE label = 'b'), '"text"');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_touch_session('no-such-token', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_touch_session(NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
-- an unknown token is a bad argument (22023), named by no constraint
SELECT pg_temp.client_error($$SELECT ame_touch_session('no-such-token', '{}')$$);
SELECT count(*) AS changed_rows FROM (
  SELECT * FROM ame_visit_sessions EXCEPT SELECT * FROM before) x;
-- an expired session (still live, not yet archived)
UPDATE ame_visit_sessions SET created_at = now() - interval '3 hours',
       expires_at = now() - interval '1 hour'
WHERE session_token = (SELECT token FROM tokens WHERE label = 'c');
DELETE FROM before; INSERT INTO before SELECT * FROM ame_visit_sessions;
SELECT ame_touch_session((SELECT token FROM tokens WHERE label = 'c'), '{"x": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_end_session((SELECT token FROM tokens WHERE label = 'c'));
\echo :LAST_ERROR_SQLSTATE
-- refused by the rule that a session is active: constraint ame_session_active
SELECT pg_temp.client_error($$SELECT ame_touch_session((SELECT token FROM tokens WHERE label = 'c'), '{"x": 1}')$$);
SELECT pg_temp.client_error($$SELECT ame_end_session((SELECT token FROM tokens WHERE label = 'c'))$$);
SELECT count(*) AS changed_rows FROM (
  SELECT * FROM ame_visit_sessions EXCEPT SELECT * FROM before) x;

-- end: is_active = false, expires_at = the end time; once only
BEGIN;
SELECT ame_end_session((SELECT token FROM tokens WHERE label = 'a')) = now() AS ended_now;
SELECT is_active, expires_at = now() AS expires_now, last_activity = now() AS active_now
FROM ame_visit_sessions WHERE session_token = (SELECT token FROM tokens WHERE label = 'a');
COMMIT;
DELETE FROM before; INSERT INTO before SELECT * FROM ame_visit_sessions;
SELECT ame_end_session((SELECT token FROM tokens WHERE label = 'a'));
\echo :LAST_ERROR_SQLSTATE
SELECT ame_touch_session((SELECT token FROM tokens WHERE label = 'a'), '{"late": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_end_session('no-such-token');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_end_session(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.client_error($$SELECT ame_end_session((SELECT token FROM tokens WHERE label = 'a'))$$);
SELECT pg_temp.client_error($$SELECT ame_touch_session((SELECT token FROM tokens WHERE label = 'a'))$$);
SELECT pg_temp.client_error($$SELECT ame_end_session('no-such-token')$$);
SELECT count(*) AS changed_rows FROM (
  SELECT * FROM ame_visit_sessions EXCEPT SELECT * FROM before) x;

-- an unknown token is 22023 also for a role that may not read the
-- archive: the archive is asked only when the caller may read it
CREATE ROLE regress_ame_no_archive;
GRANT SELECT, UPDATE ON ame_visit_sessions TO regress_ame_no_archive;
SET ROLE regress_ame_no_archive;
SELECT has_table_privilege('ame_visit_sessions_archive', 'SELECT') AS reads_archive;
SELECT ame_touch_session('no-such-token', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_end_session('no-such-token');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS changed_rows FROM (
  SELECT * FROM ame_visit_sessions EXCEPT SELECT * FROM before) x;
REVOKE ALL ON ame_visit_sessions FROM regress_ame_no_archive;
DROP ROLE regress_ame_no_archive;

-- an archived session: refused by the same rule, and nothing changes
INSERT INTO ame_visit_sessions_archive (id, visit_id, session_token, auto_save_data,
  is_active, last_activity, created_at, expires_at, ttl)
VALUES ('e5000000-0000-0000-0000-000000000001', 'd5000000-0000-0000-0000-000000000001',
        'archived-token', '{"kept": true}', true, now() - interval '3 days',
        now() - interval '3 days', now() - interval '2 days', '1 day');
CREATE TEMP TABLE archive_before AS SELECT * FROM ame_visit_sessions_archive;
SELECT pg_temp.client_error($$SELECT ame_touch_session('archived-token', '{"late": 1}')$$);
SELECT pg_temp.client_error($$SELECT ame_end_session('archived-token')$$);
SELECT count(*) AS changed_rows FROM (
  SELECT * FROM ame_visit_sessions EXCEPT SELECT * FROM before) x;
SELECT count(*) AS changed_archive_rows FROM (
  SELECT * FROM ame_visit_sessions_archive EXCEPT SELECT * FROM archive_before) x;
DELETE FROM ame_visit_sessions_archive;

-- ending in the transaction that started it keeps expires_at > created_at
BEGIN;
SELECT ame_end_session((SELECT session_token FROM ame_start_session('d5000000-0000-0000-0000-000000000002')))
       = now() + interval '1 microsecond' AS one_microsecond_later;
SELECT count(*) AS ended_sessions FROM ame_visit_sessions
WHERE NOT is_active AND created_at = now() AND expires_at > created_at;
ROLLBACK;

-- direct inserts with caller-given tokens and times stay allowed
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at, ttl)
VALUES ('d5000000-0000-0000-0000-000000000001', 'imported-token-1',
        '2026-01-01 08:00+00', '2026-01-01 16:00+00', '8 hours');
SELECT session_token, is_active, auto_save_data FROM ame_visit_sessions
WHERE session_token = 'imported-token-1';

-- functions are callable by PUBLIC and run with the caller's rights
SELECT p.proname COLLATE "C" AS proname, p.prosecdef, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
FROM pg_proc p
WHERE p.proname IN ('ame_start_session', 'ame_touch_session', 'ame_end_session')
ORDER BY 1;

-- the seed's "active sessions of a technician" uses the indexes: 200
-- technicians with 10 visits each, 10 sessions per visit
INSERT INTO ame_technicians (id, name)
SELECT format('a5100000-0000-0000-0000-%s', lpad(i::text, 12, '0'))::uuid, 'Bulk ' || i
FROM generate_series(1, 200) i;
INSERT INTO ame_visits (customer_id, technician_id, status, actual_start_time)
SELECT 'c5000000-0000-0000-0000-000000000001',
       format('a5100000-0000-0000-0000-%s', lpad((1 + i % 200)::text, 12, '0'))::uuid,
       'in_progress', now() - interval '2 hours'
FROM generate_series(1, 2000) i;
INSERT INTO ame_visit_sessions (visit_id, session_token, is_active, created_at, expires_at)
SELECT v.id, 'bulk-' || v.id || '-' || i, i % 3 = 0, now() - interval '1 day',
       now() + (i - 5) * interval '1 hour'
FROM ame_visits v, generate_series(1, 10) i
WHERE v.technician_id IN (SELECT id FROM ame_technicians WHERE name LIKE 'Bulk %');
ANALYZE ame_technicians, ame_visits, ame_visit_sessions;
PREPARE active_sessions(uuid) AS
SELECT vs.* FROM ame_visit_sessions vs
JOIN ame_visits v ON vs.visit_id = v.id
WHERE vs.is_active = true
  AND vs.expires_at > NOW()
  AND v.technician_id = $1;
EXPLAIN (COSTS OFF) EXECUTE active_sessions('a5100000-0000-0000-0000-000000000007');
SELECT count(*) AS active_sessions FROM ame_visit_sessions vs
JOIN ame_visits v ON vs.visit_id = v.id
WHERE vs.is_active AND vs.expires_at > now()
  AND v.technician_id = 'a5100000-0000-0000-0000-000000000007';
DEALLOCATE active_sessions;
DELETE FROM ame_visits WHERE technician_id IN (SELECT id FROM ame_technicians WHERE name LIKE 'Bulk %');
DELETE FROM ame_technicians WHERE name LIKE 'Bulk %';
SELECT count(*) AS sessions_left FROM ame_visit_sessions;
