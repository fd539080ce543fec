--
-- realtime_rls: the routing keys of a payload under row-level security
-- (SPEC §6, issue #14 item 7).  technician_id is the technician of the
-- session's (or task's) VISIT, looked up by the extension itself: it does
-- not depend on the caller being able to read ame_visits, on the session's
-- own technician_id column, nor on the caller's search_path (a planted
-- ame_visits table or uuid operator is never used).  Ids only.
--
\set VERBOSITY terse

INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c8400000-0000-0000-0000-000000000001', 'Routing Co', 'CORE');
INSERT INTO ame_technicians (id, user_id, name) VALUES
  ('a8400000-0000-0000-0000-00000000000a', '08400000-0000-0000-0000-00000000000a', 'Ann'),
  ('a8400000-0000-0000-0000-00000000000b', '08400000-0000-0000-0000-00000000000b', 'Bob');
INSERT INTO ame_visits (id, customer_id, technician_id, status, actual_start_time) VALUES
  ('d8400000-0000-0000-0000-0000000000a1', 'c8400000-0000-0000-0000-000000000001',
   'a8400000-0000-0000-0000-00000000000a', 'in_progress', now()),
  ('d8400000-0000-0000-0000-0000000000b1', 'c8400000-0000-0000-0000-000000000001',
   'a8400000-0000-0000-0000-00000000000b', 'in_progress', now());
-- the session of Ann's visit says Bob in its own technician_id column
INSERT INTO ame_visit_sessions (id, visit_id, technician_id, session_token, expires_at) VALUES
  ('e8400000-0000-0000-0000-0000000000a1', 'd8400000-0000-0000-0000-0000000000a1',
   'a8400000-0000-0000-0000-00000000000b', 'route-ann', now() + interval '1 hour'),
  ('e8400000-0000-0000-0000-0000000000b1', 'd8400000-0000-0000-0000-0000000000b1',
   'a8400000-0000-0000-0000-00000000000a', 'route-bob', now() + interval '1 hour');

-- an application role that may change sessions and tasks but has no
-- right at all on ame_visits (the policies' helpers run as the owner)
CREATE ROLE regress_rt_app;
GRANT SELECT, UPDATE ON ame_visit_sessions TO regress_rt_app;
GRANT SELECT, INSERT ON ame_visit_progress TO regress_rt_app;

LISTEN ame_realtime;
SET ROLE regress_rt_app;
SET request.jwt.claim.sub = '08400000-0000-0000-0000-00000000000a';   -- Ann
-- Ann cannot read any visit, not even her own
SELECT count(*) FROM ame_visits;
\echo :LAST_ERROR_SQLSTATE
-- she sees only her session
SELECT session_token FROM ame_visit_sessions WHERE session_token LIKE 'route-%';
\o | sed -E 's/PID [0-9]+/PID <pid>/'
-- her change names her (the visit's technician), not Bob (the column)
UPDATE ame_visit_sessions SET auto_save_data = '{"step": 1}' WHERE session_token LIKE 'route-%';
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name)
VALUES ('f8400000-0000-0000-0000-0000000000a1', 'd8400000-0000-0000-0000-0000000000a1', 1, 'Routed task');
\o
-- Bob's session is not hers: nothing changes, nothing is announced
\o | sed -E 's/PID [0-9]+/PID <pid>/'
UPDATE ame_visit_sessions SET auto_save_data = '{"step": 2}' WHERE session_token = 'route-bob';
\o
RESET request.jwt.claim.sub;
RESET ROLE;
SELECT session_token, auto_save_data FROM ame_visit_sessions
WHERE session_token LIKE 'route-%' ORDER BY 1;

-- a planted ame_visits table and uuid "=" operator first on the
-- search_path: neither is used, the payload is the same
CREATE SCHEMA regress_rt_planted;
CREATE TABLE regress_rt_planted.ame_visits (id uuid PRIMARY KEY, technician_id uuid);
INSERT INTO regress_rt_planted.ame_visits
VALUES ('d8400000-0000-0000-0000-0000000000a1', 'a8400000-0000-0000-0000-00000000000b');
CREATE TABLE regress_rt_planted.ran (what text);
CREATE FUNCTION regress_rt_planted.uuid_eq(uuid, uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO regress_rt_planted.ran VALUES ('planted =');
	RETURN $1::text = $2::text;
END $$;
CREATE OPERATOR regress_rt_planted.= (LEFTARG = uuid, RIGHTARG = uuid,
                                     FUNCTION = regress_rt_planted.uuid_eq);
SET search_path = regress_rt_planted, public, pg_catalog;
\o | sed -E 's/PID [0-9]+/PID <pid>/'
UPDATE public.ame_visit_sessions SET auto_save_data = '{"step": 3}'
WHERE session_token OPERATOR(pg_catalog.=) 'route-ann';
\o
RESET search_path;
SELECT count(*) AS planted_ran FROM regress_rt_planted.ran;
UNLISTEN ame_realtime;

DROP SCHEMA regress_rt_planted CASCADE;
DELETE FROM ame_visits WHERE customer_id = 'c8400000-0000-0000-0000-000000000001';
DELETE FROM ame_technicians WHERE id IN ('a8400000-0000-0000-0000-00000000000a', 'a8400000-0000-0000-0000-00000000000b');
DELETE FROM ame_customers WHERE id = 'c8400000-0000-0000-0000-000000000001';
REVOKE ALL ON ame_visit_sessions, ame_visit_progress FROM regress_rt_app;
DROP ROLE regress_rt_app;
