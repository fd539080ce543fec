--
-- realtime_cleanup: the summary NOTIFY of cleanup_expired_sessions() says
-- how many sessions of which visits were archived, with each visit's
-- technician, and stays under PostgreSQL's 8000-byte payload limit
-- however many visits a run touches (SPEC §6, issue #14 item 7):
--
--   {"schema", "table": "ame_visit_sessions", "operation": "CLEANUP",
--    "rows": <sessions archived>,
--    "visits": [{"visit_id", "technician_id", "sessions"}, ...]
--    [, "truncated": true, "visits_left_out": <n>]}
--
-- Visits are listed in visit_id order, as many as fit.
--
\set VERBOSITY terse
DELETE FROM ame_visit_sessions;
DELETE FROM ame_visit_sessions_archive;

INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c8500000-0000-0000-0000-000000000001', 'Cleanup Route Co', 'CORE');
INSERT INTO ame_technicians (id, user_id, name) VALUES
  ('a8500000-0000-0000-0000-00000000000a', '08500000-0000-0000-0000-00000000000a', 'Ann');
-- visit 1 (Ann's): 3 expired sessions, one live; visit 2 (no technician):
-- 1 expired session; visit 3: only a live one, not listed
INSERT INTO ame_visits (id, customer_id, technician_id, status) VALUES
  ('d8500000-0000-0000-0000-000000000001', 'c8500000-0000-0000-0000-000000000001', 'a8500000-0000-0000-0000-00000000000a', 'scheduled'),
  ('d8500000-0000-0000-0000-000000000002', 'c8500000-0000-0000-0000-000000000001', NULL, 'scheduled'),
  ('d8500000-0000-0000-0000-000000000003', 'c8500000-0000-0000-0000-000000000001', 'a8500000-0000-0000-0000-00000000000a', 'scheduled');
-- the sessions' own technician_id says nothing: the visit's counts
INSERT INTO ame_visit_sessions (visit_id, technician_id, session_token, created_at, expires_at)
SELECT v.visit_id::uuid, NULL, 'rc-' || g, now() - interval '3 days', now() - v.ago
FROM (VALUES ('d8500000-0000-0000-0000-000000000001', interval '2 days'),
             ('d8500000-0000-0000-0000-000000000001', interval '25 hours'),
             ('d8500000-0000-0000-0000-000000000001', interval '30 hours'),
             ('d8500000-0000-0000-0000-000000000001', interval '-1 hour'),
             ('d8500000-0000-0000-0000-000000000002', interval '2 days'),
             ('d8500000-0000-0000-0000-000000000003', interval '-1 hour')) v(visit_id, ago),
     LATERAL (SELECT v.visit_id || v.ago AS g) n;

LISTEN ame_realtime;
\o | sed -E 's/PID [0-9]+/PID <pid>/'
SELECT cleanup_expired_sessions() AS moved;
\o
-- a run that moves nothing says so
\o | sed -E 's/PID [0-9]+/PID <pid>/'
SELECT cleanup_expired_sessions() AS moved;
\o

-- 300 visits with 1 to 3 expired sessions each (600 sessions): the
-- payload lists the first visits that fit, says how many it left out, and
-- stays under 8000 bytes.  The payload goes to a file and is read back as
-- JSON to check it against the archive.
INSERT INTO ame_visits (id, customer_id, technician_id, status)
SELECT format('d8510000-0000-0000-0000-%s', lpad(i::text, 12, '0'))::uuid,
       'c8500000-0000-0000-0000-000000000001',
       CASE WHEN i % 2 = 0 THEN 'a8500000-0000-0000-0000-00000000000a'::uuid END, 'scheduled'
FROM generate_series(1, 300) i;
\o | sed -E 's/PID [0-9]+/PID <pid>/'
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
SELECT format('d8510000-0000-0000-0000-%s', lpad(i::text, 12, '0'))::uuid,
       format('rc-many-%s-%s', i, k), now() - interval '3 days', now() - interval '2 days'
FROM generate_series(1, 300) i, generate_series(1, 1 + i % 3) k;
\o
DELETE FROM ame_visit_sessions_archive;
\o | sed -nE 's/^Asynchronous notification "ame_realtime" with payload "(.*)" received from server process with PID [0-9]+\.$/\1/p' > results/realtime_cleanup_payload.json
SELECT cleanup_expired_sessions() AS moved;
\o
UNLISTEN ame_realtime;
CREATE TEMP TABLE heard (payload text);
\copy heard FROM 'results/realtime_cleanup_payload.json' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
SELECT count(*) AS notifications, octet_length(payload) < 8000 AS under_8000_bytes,
       octet_length(payload) > 7000 AS nearly_full
FROM heard GROUP BY payload;
SELECT p ->> 'schema' AS schema, p ->> 'table' AS "table", p ->> 'operation' AS operation,
       p -> 'rows' AS rows, p -> 'truncated' AS truncated,
       jsonb_array_length(p -> 'visits') AS listed,
       jsonb_array_length(p -> 'visits') + (p ->> 'visits_left_out')::int AS listed_plus_left_out
FROM heard, LATERAL (SELECT payload::jsonb AS p) j;
-- the listed visits are the first ones by visit_id, each with its
-- technician and its number of archived sessions, exactly
WITH listed AS (
  SELECT (v ->> 'visit_id')::uuid AS visit_id, (v ->> 'technician_id')::uuid AS technician_id,
         (v ->> 'sessions')::bigint AS sessions, o
  FROM heard, jsonb_array_elements(payload::jsonb -> 'visits') WITH ORDINALITY e(v, o)),
truth AS (
  SELECT a.visit_id, vi.technician_id, count(*) AS sessions,
         row_number() OVER (ORDER BY a.visit_id) AS o
  FROM ame_visit_sessions_archive a JOIN ame_visits vi ON vi.id = a.visit_id
  GROUP BY a.visit_id, vi.technician_id)
SELECT count(*) AS listed, count(*) FILTER (WHERE t.visit_id IS NOT DISTINCT FROM l.visit_id
                                             AND t.technician_id IS NOT DISTINCT FROM l.technician_id
                                             AND t.sessions = l.sessions) AS matching
FROM listed l LEFT JOIN truth t USING (o);
SELECT count(DISTINCT visit_id) AS visits_archived, count(*) AS sessions_archived
FROM ame_visit_sessions_archive;

DELETE FROM ame_visit_sessions WHERE session_token LIKE 'rc-%';
DELETE FROM ame_visit_sessions_archive;
DELETE FROM ame_visits WHERE customer_id = 'c8500000-0000-0000-0000-000000000001';
DELETE FROM ame_technicians WHERE id = 'a8500000-0000-0000-0000-00000000000a';
DELETE FROM ame_customers WHERE id = 'c8500000-0000-0000-0000-000000000001';
DELETE FROM system_maintenance_log;
