--
-- sessions: the session API, cleanup and policies with ame in its own
-- schema and an empty search_path (SPEC §1, §6): nothing depends on the
-- caller's path, and every bad input is refused with its SQLSTATE and
-- message and changes nothing.
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE SCHEMA fsm;
CREATE EXTENSION ame SCHEMA fsm;
SET LOCAL search_path = public, pg_catalog;

SELECT plan(26);

INSERT INTO fsm.ame_customers (id, company_name, service_tier)
VALUES ('c1000000-0000-0000-0000-000000000001', 'Tap Co', 'CORE');
INSERT INTO fsm.ame_technicians (id, user_id, name)
VALUES ('a1000000-0000-0000-0000-000000000001', '01000000-0000-0000-0000-000000000001', 'Tia');
INSERT INTO fsm.ame_visits (id, customer_id, technician_id, status, current_phase,
                            actual_start_time, completed_at) VALUES
  ('d1000000-0000-0000-0000-000000000001', 'c1000000-0000-0000-0000-000000000001', 'a1000000-0000-0000-0000-000000000001', 'in_progress', 1,
   '2026-01-05 08:00+00', NULL),
  ('d1000000-0000-0000-0000-000000000002', 'c1000000-0000-0000-0000-000000000001', 'a1000000-0000-0000-0000-000000000001', 'completed', 4,
   '2026-01-02 08:00+00', '2026-01-02 12:00+00');

-- nothing on the path: the caller sees neither fsm nor public's objects
SET LOCAL search_path = '';
CREATE TEMP TABLE tap_tokens AS
SELECT s.session_id, s.session_token AS token, s.expires_at
FROM fsm.ame_start_session('d1000000-0000-0000-0000-000000000001', '1 hour') s;
SET LOCAL search_path = public, pg_catalog;

SELECT is((SELECT count(*) FROM tap_tokens), 1::bigint, 'ame_start_session returns one row');
SELECT is((SELECT (session_id, expires_at) FROM tap_tokens),
          (SELECT (id, expires_at) FROM fsm.ame_visit_sessions),
          'the row holds the new session''s id and expires_at');

SELECT matches((SELECT token FROM tap_tokens), '^[0-9a-f]{64}$', 'a token is 64 hex digits');
SELECT is((SELECT technician_id FROM fsm.ame_visit_sessions), 'a1000000-0000-0000-0000-000000000001'::uuid,
          'the session belongs to the visit''s technician');
SELECT is((SELECT expires_at - created_at FROM fsm.ame_visit_sessions), '1 hour'::interval,
          'expires_at = created_at + ttl');

SELECT throws_ok($$SELECT fsm.ame_start_session('d1000000-0000-0000-0000-00000000ffff')$$,
                 '22023', 'visit "d1000000-0000-0000-0000-00000000ffff" not found',
                 'a missing visit is 22023');
SELECT throws_ok($$SELECT fsm.ame_start_session('d1000000-0000-0000-0000-000000000002')$$,
                 '23514', 'visit "d1000000-0000-0000-0000-000000000002" is completed',
                 'a completed visit is 23514 (the visit workflow''s rule)');
SELECT throws_ok($$SELECT fsm.ame_start_session('d1000000-0000-0000-0000-000000000001', '-5 minutes')$$,
                 '22023', 'session ttl must be positive', 'a negative ttl is 22023');
SELECT is((SELECT count(*) FROM fsm.ame_visit_sessions), 1::bigint, 'the refused starts wrote nothing');

SET LOCAL search_path = '';
CREATE TEMP TABLE tap_touch AS
SELECT fsm.ame_touch_session((SELECT token FROM pg_temp.tap_tokens), '{"a": 1, "b": {"c": 2}}') AS expires;
INSERT INTO pg_temp.tap_touch
SELECT fsm.ame_touch_session((SELECT token FROM pg_temp.tap_tokens), '{"b": 3}');
SET LOCAL search_path = public, pg_catalog;
SELECT is((SELECT count(*) FROM tap_touch WHERE expires = now() + interval '1 hour'), 2::bigint,
          'two touches with an empty search_path, each returning now() + ttl');
SELECT is((SELECT auto_save_data FROM fsm.ame_visit_sessions), '{"a": 1, "b": 3}'::jsonb,
          'touches merge at the top level');
SELECT throws_ok($$SELECT fsm.ame_touch_session((SELECT token FROM tap_tokens), '[1]')$$,
                 '22023', 'auto-save data must be a JSON object', 'an array is 22023');
SELECT throws_ok($$SELECT fsm.ame_touch_session('nope')$$,
                 '22023', 'session not found', 'an unknown token is 22023');
SELECT is((SELECT auto_save_data FROM fsm.ame_visit_sessions), '{"a": 1, "b": 3}'::jsonb,
          'the refused touches changed nothing');

SELECT is(fsm.ame_end_session((SELECT token FROM tap_tokens)), now() + interval '1 microsecond',
          'ending in the starting transaction: one microsecond after created_at');
SELECT throws_ok($$SELECT fsm.ame_end_session((SELECT token FROM tap_tokens))$$,
                 '23514', 'session has ended', 'ending twice is 23514');
SELECT throws_ok($$SELECT fsm.ame_touch_session((SELECT token FROM tap_tokens))$$,
                 '23514', 'session has ended', 'touching an ended session is 23514');

-- cleanup, with an empty search_path
INSERT INTO fsm.ame_visit_sessions (visit_id, session_token, created_at, expires_at)
VALUES ('d1000000-0000-0000-0000-000000000001', 'tap-old', now() - interval '3 days', now() - interval '2 days');
SET LOCAL search_path = '';
CREATE TEMP TABLE tap_cleanup AS SELECT fsm.cleanup_expired_sessions() AS moved;
SET LOCAL search_path = public, pg_catalog;
SELECT is((SELECT moved FROM tap_cleanup), 1::bigint,
          'the cleanup, with an empty search_path, moves the one old session');
SELECT is((SELECT session_token FROM fsm.ame_visit_sessions_archive), 'tap-old', 'into fsm''s archive');
SELECT is((SELECT affected_rows FROM fsm.system_maintenance_log WHERE operation = 'session_cleanup'),
          1::bigint, 'and logs it in fsm''s log');
SELECT throws_ok($$SELECT fsm.ame_touch_session('tap-old')$$,
                 '23514', 'session has expired and was archived', 'an archived session says so');
SELECT is((SELECT count(*) FROM fsm.ame_visit_sessions_archive WHERE session_token = 'tap-old'), 1::bigint,
          'the refused touch left the archived session where it was');

-- the helpers pin their search_path: pg_catalog, without the extension's schema
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'fsm.ame_current_visit_ids()'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'ame_current_visit_ids pins search_path');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'fsm.ame_current_technician_id()'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'ame_current_technician_id pins search_path');
SELECT ok((SELECT bool_and(prosecdef) FROM pg_proc
           WHERE oid IN ('fsm.ame_current_visit_ids()'::regprocedure, 'fsm.ame_current_technician_id()'::regprocedure)),
          'both helpers are SECURITY DEFINER');
-- the C functions carry no SET clause
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
           WHERE p.pronamespace = 'fsm'::regnamespace AND l.lanname = 'c' AND p.proconfig IS NOT NULL),
          0::bigint, 'no C function of ame has a SET clause');

SELECT * FROM finish();
ROLLBACK;
