-- test/app/fixture.sql -- what test/app.t sets up before the node tests,
-- as the extension's owner: the roles of Supabase (anon, authenticated:
-- NOLOGIN, reached with SET ROLE as PostgREST's authenticator does),
-- their grants as docs/app-guide.md gives them, and a small data set.
-- Ana (user ...0001) has visits in every state; Ben (user ...0002) has
-- one, which Ana must never reach.
\set ON_ERROR_STOP on
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticated NOLOGIN;

-- the grants of docs/app-guide.md ("Roles and grants")
GRANT USAGE ON SCHEMA public TO anon, authenticated;
GRANT SELECT ON ame_customers, ame_technicians, device_inventory TO authenticated;
GRANT SELECT, UPDATE ON ame_visits TO authenticated;
GRANT SELECT, INSERT, UPDATE ON ame_visit_progress, ame_visit_sessions TO authenticated;
GRANT SELECT ON ame_visit_sessions_archive TO authenticated;
GRANT SELECT ON technician_performance, service_tier_metrics TO authenticated;

INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Northwind Plant', 'CORE');
INSERT INTO ame_technicians (id, name, user_id) VALUES
  ('a0000000-0000-0000-0000-000000000001', 'Ana', '00000000-0000-4000-8000-000000000001'),
  ('a0000000-0000-0000-0000-000000000002', 'Ben', '00000000-0000-4000-8000-000000000002');
INSERT INTO ame_visits (id, customer_id, technician_id, status, current_phase,
                        scheduled_date, actual_start_time, completed_at) VALUES
  -- Ana: scheduled, two in progress at phase 1, completed, cancelled
  ('d0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000001', 'scheduled', 1, '2026-12-08', NULL, NULL),
  ('d0000000-0000-0000-0000-000000000002', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000001', 'in_progress', 1, '2026-12-08', '2026-12-08 08:00+00', NULL),
  ('d0000000-0000-0000-0000-000000000003', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000001', 'in_progress', 1, '2026-12-08', '2026-12-08 09:00+00', NULL),
  ('d0000000-0000-0000-0000-000000000004', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000001', 'completed', 4, '2026-12-01', '2026-12-01 08:00+00', '2026-12-01 10:30+00'),
  ('d0000000-0000-0000-0000-000000000005', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000001', 'cancelled', 1, '2026-12-02', NULL, NULL),
  -- Ben: one visit in progress
  ('d0000000-0000-0000-0000-000000000009', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000002', 'in_progress', 1, '2026-12-08', '2026-12-08 08:00+00', NULL);
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name) VALUES
  ('e0000000-0000-0000-0000-000000000021', 'd0000000-0000-0000-0000-000000000002', 1, 'Review alarms'),
  ('e0000000-0000-0000-0000-000000000022', 'd0000000-0000-0000-0000-000000000002', 1, 'Back up controllers'),
  ('e0000000-0000-0000-0000-000000000024', 'd0000000-0000-0000-0000-000000000002', 4, 'Walk-through'),
  ('e0000000-0000-0000-0000-000000000031', 'd0000000-0000-0000-0000-000000000003', 1, 'Review alarms'),
  ('e0000000-0000-0000-0000-000000000091', 'd0000000-0000-0000-0000-000000000009', 1, 'Review alarms');
-- sessions written directly (allowed: imports, migrations, tests): one to
-- end, one expired three days ago for the cleanup
INSERT INTO ame_visit_sessions (id, visit_id, technician_id, session_token, expires_at) VALUES
  ('f0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000002',
   'a0000000-0000-0000-0000-000000000001', 'tok-to-end', now() + interval '1 hour');
INSERT INTO ame_visit_sessions (id, visit_id, technician_id, session_token, created_at, last_activity, expires_at) VALUES
  ('f0000000-0000-0000-0000-000000000002', 'd0000000-0000-0000-0000-000000000002',
   'a0000000-0000-0000-0000-000000000001', 'tok-long-expired',
   now() - interval '4 days', now() - interval '4 days', now() - interval '3 days');

-- a table of the application's own, for ame_enable_audit()
CREATE TABLE app_notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), body text, secret text);
INSERT INTO app_notes (id, body, secret) VALUES ('b0000000-0000-0000-0000-000000000001', 'first', 's1');
