--
-- rls: row-level security on visits, progress, sessions and the session
-- archive (SPEC §6).  A technician sees and changes only the rows of
-- their own visits; no identity, no rows; the owner and BYPASSRLS roles
-- see everything.
--
\set VERBOSITY terse
-- a plan as EXPLAIN (COSTS OFF) shows it, with an InitPlan's output written
-- the same on every major: "InitPlan 1 (returns $0)" and "$0" up to
-- PostgreSQL 16, "InitPlan 1" and "(InitPlan 1).col1" from 17
CREATE FUNCTION pg_temp.plan(query text) RETURNS TABLE ("QUERY PLAN" text)
LANGUAGE plpgsql AS $$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    line := regexp_replace(line, '^(\s*InitPlan \d+) \(returns \$\d+\)$', '\1');
    "QUERY PLAN" := regexp_replace(line, '\(InitPlan 1\)\.col1', '$0', 'g');
    RETURN NEXT;
  END LOOP;
END
$$;
DELETE FROM ame_visit_sessions;
DELETE FROM ame_visit_sessions_archive;

INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c7000000-0000-0000-0000-000000000001', 'Policy Co', 'ASSURE');
INSERT INTO ame_technicians (id, user_id, name) VALUES
  ('a7000000-0000-0000-0000-00000000000a', '07000000-0000-0000-0000-00000000000a', 'Ann'),
  ('a7000000-0000-0000-0000-00000000000b', '07000000-0000-0000-0000-00000000000b', 'Bob');
INSERT INTO ame_visits (id, customer_id, technician_id, status, actual_start_time) VALUES
  ('d7000000-0000-0000-0000-0000000000a1', 'c7000000-0000-0000-0000-000000000001', 'a7000000-0000-0000-0000-00000000000a', 'in_progress', '2026-01-05 08:00+00'),
  ('d7000000-0000-0000-0000-0000000000a2', 'c7000000-0000-0000-0000-000000000001', 'a7000000-0000-0000-0000-00000000000a', 'scheduled', NULL),
  ('d7000000-0000-0000-0000-0000000000b1', 'c7000000-0000-0000-0000-000000000001', 'a7000000-0000-0000-0000-00000000000b', 'in_progress', '2026-01-05 08:00+00'),
  ('d7000000-0000-0000-0000-0000000000c1', 'c7000000-0000-0000-0000-000000000001', NULL, 'scheduled', NULL);
-- Ann's task is in phase 2: her visit's phase 1 has no open task, so that
-- she can advance it below (the workflow's rule)
INSERT INTO ame_visit_progress (visit_id, phase, task_name) VALUES
  ('d7000000-0000-0000-0000-0000000000a1', 2, 'Ann task'),
  ('d7000000-0000-0000-0000-0000000000b1', 1, 'Bob task');
-- session technician_id deliberately disagrees with the visit: the
-- visit's technician decides
INSERT INTO ame_visit_sessions (id, visit_id, technician_id, session_token, expires_at) VALUES
  ('e7000000-0000-0000-0000-0000000000a1', 'd7000000-0000-0000-0000-0000000000a1', 'a7000000-0000-0000-0000-00000000000b', 'rls-ann', now() + interval '1 day'),
  ('e7000000-0000-0000-0000-0000000000b1', 'd7000000-0000-0000-0000-0000000000b1', 'a7000000-0000-0000-0000-00000000000a', 'rls-bob', now() + interval '1 day');
INSERT INTO ame_visit_sessions_archive (id, visit_id, session_token, auto_save_data, is_active,
                                        last_activity, created_at, expires_at, ttl) VALUES
  ('e7000000-0000-0000-0000-0000000000a9', 'd7000000-0000-0000-0000-0000000000a1', 'rls-ann-old', '{}', false, '2026-01-01', '2026-01-01', '2026-01-02', '8 hours'),
  ('e7000000-0000-0000-0000-0000000000b9', 'd7000000-0000-0000-0000-0000000000b1', 'rls-bob-old', '{}', false, '2026-01-01', '2026-01-01', '2026-01-02', '8 hours');
-- many sessions of other visits, so that plans are real
INSERT INTO ame_visits (id, customer_id, status)
SELECT format('d7100000-0000-0000-0000-%s', lpad(i::text, 12, '0'))::uuid,
       'c7000000-0000-0000-0000-000000000001', 'cancelled'
FROM generate_series(1, 500) i;
INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at)
SELECT format('d7100000-0000-0000-0000-%s', lpad((1 + i % 500)::text, 12, '0'))::uuid,
       'rls-bulk-' || i, now() + interval '1 day'
FROM generate_series(1, 5000) i;
ANALYZE ame_visits, ame_visit_sessions;

-- the policies: one per table, for every command, TO PUBLIC
SELECT tablename COLLATE "C" AS tablename, policyname, permissive, roles, cmd,
       qual = with_check AS check_equals_using
FROM pg_policies WHERE schemaname = 'public' ORDER BY 1;
SELECT relname COLLATE "C" AS relname, relrowsecurity, relforcerowsecurity
FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
  AND relrowsecurity ORDER BY 1;
-- the helpers: SECURITY DEFINER, pinned search_path, executable by PUBLIC
SELECT proname COLLATE "C" AS proname, prosecdef, provolatile, proconfig,
       has_function_privilege('public', oid, 'EXECUTE') AS public_exec
FROM pg_proc WHERE proname IN ('ame_current_technician_id', 'ame_current_visit_ids')
ORDER BY 1;
-- the columns the policies filter on are indexed
SELECT c.relname COLLATE "C" AS indexed_table, a.attname AS leading_column
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE c.relnamespace = 'public'::regnamespace AND c.relrowsecurity
  AND a.attname IN ('technician_id', 'visit_id') AND i.indpred IS NULL
ORDER BY 1, 2;

-- an application role with plain table rights (as Supabase's
-- "authenticated"), and a BYPASSRLS role
CREATE ROLE regress_ame_app;
GRANT SELECT, INSERT, UPDATE, DELETE
  ON ame_visits, ame_visit_progress, ame_visit_sessions, ame_visit_sessions_archive
  TO regress_ame_app;
GRANT SELECT ON technician_performance TO regress_ame_app;
GRANT SELECT ON ame_technicians TO regress_ame_app;
CREATE ROLE regress_ame_auditor BYPASSRLS;
GRANT SELECT ON ame_visits, ame_visit_sessions TO regress_ame_auditor;

CREATE VIEW rls_seen AS
SELECT 'visits' AS tbl, string_agg(right(id::text, 2), ',' ORDER BY id) AS ids FROM ame_visits
 WHERE customer_id = 'c7000000-0000-0000-0000-000000000001' AND status <> 'cancelled'
UNION ALL SELECT 'progress', string_agg(task_name, ',' ORDER BY task_name) FROM ame_visit_progress
UNION ALL SELECT 'sessions', string_agg(CASE WHEN length(session_token) = 64 THEN '(new)' ELSE session_token END,
                                         ',' ORDER BY session_token) FROM ame_visit_sessions
 WHERE session_token NOT LIKE 'rls-bulk-%'
UNION ALL SELECT 'archive', string_agg(session_token, ',' ORDER BY session_token) FROM ame_visit_sessions_archive;
ALTER VIEW rls_seen SET (security_invoker = true);
GRANT SELECT ON rls_seen TO regress_ame_app, regress_ame_auditor;

SET ROLE regress_ame_app;
-- no identity: no rows
SELECT * FROM rls_seen;
-- Ann (PostgREST/Supabase style claims)
SET request.jwt.claims = '{"sub": "07000000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT * FROM rls_seen;
-- Bob (claim.sub style)
RESET request.jwt.claims;
SET request.jwt.claim.sub = '07000000-0000-0000-0000-00000000000b';
SELECT * FROM rls_seen;
-- an identity that is no technician: no rows
SET request.jwt.claim.sub = '07000000-0000-0000-0000-0000000000ff';
SELECT * FROM rls_seen;
-- a malformed claim is an error, not an empty result
SET request.jwt.claim.sub = 'not-a-uuid';
SELECT count(*) FROM ame_visits;
\echo :LAST_ERROR_SQLSTATE

-- Ann cannot move her rows to Bob, nor write into Bob's visits
SET request.jwt.claim.sub = '07000000-0000-0000-0000-00000000000a';
UPDATE ame_visits SET technician_id = 'a7000000-0000-0000-0000-00000000000b'
WHERE id = 'd7000000-0000-0000-0000-0000000000a1';
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_visit_sessions SET visit_id = 'd7000000-0000-0000-0000-0000000000b1'
WHERE session_token = 'rls-ann';
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_visit_progress SET visit_id = 'd7000000-0000-0000-0000-0000000000b1'
WHERE task_name = 'Ann task';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at)
VALUES ('d7000000-0000-0000-0000-0000000000b1', 'rls-sneak', now() + interval '1 hour');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_visits (customer_id, technician_id)
VALUES ('c7000000-0000-0000-0000-000000000001', 'a7000000-0000-0000-0000-00000000000b');
\echo :LAST_ERROR_SQLSTATE
-- Bob's rows are invisible to her UPDATE and DELETE: nothing happens
UPDATE ame_visit_sessions SET auto_save_data = '{"hacked": true}' WHERE session_token = 'rls-bob';
DELETE FROM ame_visit_progress WHERE task_name = 'Bob task';
DELETE FROM ame_visit_sessions_archive WHERE session_token = 'rls-bob-old';
-- the session API judges by the same policies
SELECT * FROM ame_start_session('d7000000-0000-0000-0000-0000000000b1');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_touch_session('rls-bob', '{"hacked": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_end_session('rls-bob');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_touch_session('rls-bob-old');
\echo :LAST_ERROR_SQLSTATE
-- ... and works on her own visit
SELECT length(session_token) AS token_length FROM ame_start_session('d7000000-0000-0000-0000-0000000000a2');
SELECT ame_touch_session('rls-ann', '{"ok": true}') IS NOT NULL AS touched;
-- her own visit she may change
UPDATE ame_visits SET current_phase = 2 WHERE id = 'd7000000-0000-0000-0000-0000000000a1';
-- the BI view, security_invoker, shows her visits only
SELECT name, total_visits FROM technician_performance
WHERE technician_id IN ('a7000000-0000-0000-0000-00000000000a', 'a7000000-0000-0000-0000-00000000000b')
ORDER BY name;

-- the identity is looked up once per statement (InitPlan), and the
-- policy column is an index condition
SELECT * FROM pg_temp.plan('SELECT count(*) FROM ame_visit_sessions');
SELECT count(*) FROM ame_visit_sessions;
SELECT * FROM pg_temp.plan($$SELECT * FROM ame_visits WHERE status = 'scheduled'$$);
RESET request.jwt.claim.sub;
RESET ROLE;

-- nothing of Bob's changed; Ann's changes are there
SELECT CASE WHEN length(session_token) = 64 THEN '(new)' ELSE session_token END AS token,
       visit_id, auto_save_data
FROM ame_visit_sessions WHERE session_token NOT LIKE 'rls-bulk-%' ORDER BY session_token;
SELECT task_name, visit_id FROM ame_visit_progress
WHERE visit_id::text LIKE 'd7%' ORDER BY 1;
SELECT right(id::text, 2) AS visit, technician_id, current_phase FROM ame_visits
WHERE customer_id = 'c7000000-0000-0000-0000-000000000001' AND status <> 'cancelled' ORDER BY 1;
SELECT count(*) AS archived FROM ame_visit_sessions_archive;

-- the owner (the extension's, exempt as table owner) sees everything,
-- with or without an identity, and the BI views are complete for it
SET request.jwt.claim.sub = '07000000-0000-0000-0000-00000000000a';
SELECT tbl, ids FROM rls_seen WHERE tbl IN ('visits', 'sessions');
SELECT name, total_visits FROM technician_performance
WHERE technician_id IN ('a7000000-0000-0000-0000-00000000000a', 'a7000000-0000-0000-0000-00000000000b')
ORDER BY name;
RESET request.jwt.claim.sub;
-- a BYPASSRLS role sees everything
SET ROLE regress_ame_auditor;
SELECT count(*) AS visits FROM ame_visits WHERE customer_id = 'c7000000-0000-0000-0000-000000000001';
SELECT count(*) AS sessions FROM ame_visit_sessions;
RESET ROLE;

-- A role with CREATE on the extension's schema (PUBLIC, in a database
-- upgraded from PostgreSQL 14) plants overloads with a default argument:
-- a call of the helpers by name would become ambiguous ("is not unique")
-- and every technician's query would fail.  The helpers are bound when
-- they are created, so the policies still work.
CREATE ROLE regress_ame_planter;
GRANT CREATE ON SCHEMA public TO regress_ame_planter;
SET ROLE regress_ame_planter;
CREATE FUNCTION public.ame_current_user_id(x int DEFAULT 0) RETURNS uuid
LANGUAGE sql AS $$ SELECT NULL::uuid $$;
CREATE FUNCTION public.ame_current_technician_id(x int DEFAULT 0) RETURNS uuid
LANGUAGE sql AS $$ SELECT NULL::uuid $$;
RESET ROLE;
SET ROLE regress_ame_app;
SET request.jwt.claim.sub = '07000000-0000-0000-0000-00000000000a';
SELECT * FROM rls_seen;
RESET request.jwt.claim.sub;
RESET ROLE;
DROP FUNCTION public.ame_current_user_id(int);
DROP FUNCTION public.ame_current_technician_id(int);
REVOKE CREATE ON SCHEMA public FROM regress_ame_planter;
DROP ROLE regress_ame_planter;

DELETE FROM ame_visits WHERE id::text LIKE 'd71%';

DROP VIEW rls_seen;
REVOKE ALL ON ame_visits, ame_visit_progress, ame_visit_sessions, ame_visit_sessions_archive,
  technician_performance, ame_technicians FROM regress_ame_app;
REVOKE ALL ON ame_visits, ame_visit_sessions FROM regress_ame_auditor;
DROP ROLE regress_ame_app;
DROP ROLE regress_ame_auditor;
