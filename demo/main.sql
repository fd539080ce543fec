-- demo/main.sql -- the README's main job: install ame, load sample data,
-- show what the extension did with it.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\echo '== CREATE EXTENSION pg_cron, ame'
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION ame;
SELECT extname, extversion, extnamespace::regnamespace AS schema
FROM pg_extension WHERE extname IN ('ame', 'pg_cron') ORDER BY extname;

\echo '== sample data: customers, technicians, visits, tasks, devices'
\i demo/sample_data.sql
SELECT (SELECT count(*) FROM ame_customers) AS customers,
       (SELECT count(*) FROM ame_technicians) AS technicians,
       (SELECT count(*) FROM ame_visits) AS visits,
       (SELECT count(*) FROM ame_visit_progress) AS tasks,
       (SELECT count(*) FROM device_inventory) AS devices;

\echo '== normalized customers (messy phones, emails and tiers as typed, stored canonically)'
SELECT customer_number, company_name, phone, phone_extension, email, service_tier
FROM ame_customers ORDER BY customer_number LIMIT 14;

\echo '== bad input is refused and changes nothing'
\set ON_ERROR_STOP off
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Gold Star Inc', 'gold');
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Typo Ltd', 'core', 'ops at typo.example');
\set ON_ERROR_STOP on
SELECT count(*) AS customers_still FROM ame_customers;

\echo '== visits by status and phase'
SELECT status, current_phase, count(*) AS visits
FROM ame_visits GROUP BY 1, 2 ORDER BY 1, 2;

\echo '== visit workflow: a technician walks one visit through its four phases (docs/workflow.md)'
-- the app connects as a role of its own and names the technician by the
-- JWT claim, as under Supabase; row-level security limits it to their visits
CREATE ROLE demo_tech;
GRANT SELECT, UPDATE ON ame_visits TO demo_tech;
GRANT SELECT, INSERT, UPDATE ON ame_visit_progress TO demo_tech;
SELECT v.id AS visit FROM ame_visits v JOIN ame_technicians t ON t.id = v.technician_id
WHERE t.user_id = '00000000-0000-4000-8000-000000000001' AND v.status = 'scheduled'
ORDER BY v.scheduled_date, v.id LIMIT 1 \gset
SET ROLE demo_tech;
SET request.jwt.claims = '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated"}';
INSERT INTO ame_visit_progress (visit_id, phase, task_name)
VALUES (:'visit', 1, 'Review alarms and trends'), (:'visit', 1, 'Back up controller databases'),
       (:'visit', 2, 'Inspect field devices'), (:'visit', 3, 'Calibrate sensors'),
       (:'visit', 4, 'Walk-through with customer');
-- the app sends when the technician arrived (it syncs when back online)
UPDATE ame_visits SET status = 'in_progress', actual_start_time = now() - interval '2 hours 30 minutes'
WHERE id = :'visit';
\echo '-- the shortcut is refused, and the visit is as it was'
\set ON_ERROR_STOP off
\set SHOW_CONTEXT never
UPDATE ame_visits SET status = 'completed' WHERE id = :'visit';
SELECT ame_advance_phase(:'visit');
\set ON_ERROR_STOP on
\set SHOW_CONTEXT errors
SELECT status, current_phase, actual_start_time IS NOT NULL AS started FROM ame_visits WHERE id = :'visit';
\echo '-- what the technician can do next'
SELECT action, allowed, reason,
       (SELECT task_name FROM ame_visit_progress p WHERE p.id = s.task_id) AS task
FROM ame_visit_next_steps(:'visit') s;
\echo '-- each phase: its tasks done, then the next phase'
SELECT p.phase, string_agg(p.task_name, ', ' ORDER BY p.task_name) AS tasks_completed
FROM ame_visit_progress p, LATERAL ame_complete_task(p.id, 'done on site') c
WHERE p.visit_id = :'visit' AND p.phase = 1 GROUP BY p.phase;
SELECT ame_advance_phase(:'visit') AS now_at_phase;
SELECT p.phase, string_agg(p.task_name, ', ' ORDER BY p.task_name) AS tasks_completed
FROM ame_visit_progress p, LATERAL ame_complete_task(p.id, 'done on site') c
WHERE p.visit_id = :'visit' AND p.phase = 2 GROUP BY p.phase;
SELECT ame_advance_phase(:'visit') AS now_at_phase;
SELECT p.phase, string_agg(p.task_name, ', ' ORDER BY p.task_name) AS tasks_completed
FROM ame_visit_progress p, LATERAL ame_complete_task(p.id, 'done on site') c
WHERE p.visit_id = :'visit' AND p.phase = 3 GROUP BY p.phase;
SELECT ame_advance_phase(:'visit') AS now_at_phase;
SELECT p.phase, string_agg(p.task_name, ', ' ORDER BY p.task_name) AS tasks_completed
FROM ame_visit_progress p, LATERAL ame_complete_task(p.id, 'done on site') c
WHERE p.visit_id = :'visit' AND p.phase = 4 GROUP BY p.phase;
\echo '-- phase 4 done: the visit is completed'
UPDATE ame_visits SET status = 'completed' WHERE id = :'visit';
SELECT status, current_phase, completed_at >= actual_start_time AS times_stamped, duration_hours
FROM ame_visits WHERE id = :'visit';
RESET request.jwt.claims;
RESET ROLE;
REVOKE ALL ON ame_visits, ame_visit_progress FROM demo_tech;
DROP ROLE demo_tech;

\echo '== BI view: technician_performance'
SELECT name, is_active, total_visits, completed_visits, completion_rate, avg_hours_per_visit
FROM technician_performance ORDER BY name;

\echo '== BI view: service_tier_metrics'
SELECT * FROM service_tier_metrics ORDER BY service_tier;

\echo '== service levels: the targets, and how each tier did (docs/workflow.md)'
SELECT * FROM ame_service_levels ORDER BY response_target;
SELECT * FROM service_level_metrics ORDER BY service_tier;

\echo '== audit trail: a customer changes, and its history'
SELECT clock_timestamp() AS before_survey \gset
SET request.jwt.claims = '{"sub": "00000000-0000-4000-8000-000000000003"}';
SET ame.audit_context = '{"reason": "site survey", "ticket": 4711}';
UPDATE ame_customers SET site_name = 'East wing', phone = '(555) 010-2000 ext. 7'
WHERE customer_number = 'AME-000042';
UPDATE ame_customers SET service_tier = 'guardian' WHERE customer_number = 'AME-000042';
UPDATE ame_customers SET site_name = 'East wing' WHERE customer_number = 'AME-000042';  -- no change, no row
RESET ame.audit_context;
RESET request.jwt.claims;
SELECT h.seq, h.operation, h.changed_fields,
       h.new_values ->> 'phone' AS phone, h.new_values ->> 'service_tier' AS tier,
       t.name AS by_technician, h.context -> 'audit_context' AS audit_context
FROM ame_customers c,
     ame_record_history('ame_customers', c.id) h
     LEFT JOIN ame_technicians t ON t.user_id = h.user_id
WHERE c.customer_number = 'AME-000042'
ORDER BY h.seq;
\echo '== time travel: the customer before the survey'
SELECT r.customer_number, r.site_name, r.phone, r.service_tier
FROM ame_customers c,
     jsonb_populate_record(NULL::ame_customers,
       ame_record_at('ame_customers', c.id, :'before_survey')) r
WHERE c.customer_number = 'AME-000042';
SELECT operation, count(*) AS audit_rows FROM ame_audit_logs GROUP BY 1 ORDER BY 1;

\echo '== on-site sessions: start, auto-save, end; expire some; nightly cleanup'
\set QUIET on
-- the nightly job CREATE EXTENSION scheduled (pg_cron is installed here)
SELECT jobname, schedule, username FROM cron.job WHERE jobname = 'session-cleanup';
-- technicians start sessions on their open visits and auto-save into them
CREATE TEMP TABLE demo_sessions AS
WITH open_visits AS MATERIALIZED (
  SELECT row_number() OVER (ORDER BY v.scheduled_date, t.name) AS n,
         v.id AS visit_id, t.name AS technician
  FROM ame_visits v JOIN ame_technicians t ON t.id = v.technician_id
  WHERE v.status IN ('scheduled', 'in_progress')
  ORDER BY v.scheduled_date, t.name LIMIT 40)
SELECT o.n, o.visit_id, o.technician, s.session_id, s.session_token AS token, s.expires_at
FROM open_visits o
CROSS JOIN LATERAL ame_start_session(o.visit_id, interval '8 hours') s;
SELECT count(ame_touch_session(token, jsonb_build_object('phase', 1 + n % 4, 'note', 'readings taken')))
         AS auto_saves
FROM demo_sessions;
SELECT count(ame_end_session(token)) AS ended
FROM (SELECT token FROM demo_sessions ORDER BY n LIMIT 10) s;
-- a touch of an ended session is refused and changes nothing
\set ON_ERROR_STOP off
SELECT ame_touch_session((SELECT token FROM demo_sessions ORDER BY n LIMIT 1), '{"late": true}');
\set ON_ERROR_STOP on
-- pretend fifteen sessions were left behind days ago (as an import would bring them)
UPDATE ame_visit_sessions SET created_at = now() - interval '4 days',
       last_activity = now() - interval '4 days', expires_at = now() - interval '3 days'
WHERE session_token IN (SELECT token FROM demo_sessions ORDER BY n DESC LIMIT 15);
SELECT count(*) FILTER (WHERE is_active AND expires_at > now()) AS active,
       count(*) FILTER (WHERE NOT is_active) AS ended,
       count(*) FILTER (WHERE expires_at < now() - interval '24 hours') AS expired_past_grace
FROM ame_visit_sessions;
-- what the nightly job runs
SELECT cleanup_expired_sessions() AS archived;
SELECT (SELECT count(*) FROM ame_visit_sessions) AS live_sessions,
       (SELECT count(*) FROM ame_visit_sessions_archive) AS archived_sessions;
SELECT operation, affected_rows, round(duration_ms::numeric, 1) AS duration_ms,
       details - 'cutoff' AS details
FROM system_maintenance_log ORDER BY performed_at;
-- row-level security: an application role, identified as under Supabase,
-- sees only the sessions of its technician's visits
CREATE ROLE demo_app;
GRANT SELECT ON ame_visit_sessions, ame_visits TO demo_app;
SET ROLE demo_app;
SET request.jwt.claims = '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated"}';
SELECT ame_current_user_id() AS acting_user, count(*) AS sessions_visible FROM ame_visit_sessions;
RESET request.jwt.claims;
SELECT count(*) AS sessions_visible_without_identity FROM ame_visit_sessions;
RESET ROLE;
SELECT count(*) AS sessions_visible_to_the_owner FROM ame_visit_sessions;
REVOKE ALL ON ame_visit_sessions, ame_visits FROM demo_app;
DROP ROLE demo_app;
\set QUIET off

\echo '== CSV import: demo/customers.csv, with some bad rows (docs/import.md)'
\set csv `cat demo/customers.csv`
SELECT source_file, status, total_records, success_count, error_count
FROM ame_import_csv(:'csv', 'customers', 'demo/customers.csv');
SELECT id AS batch FROM import_batches WHERE source_file = 'demo/customers.csv' \gset
\echo '-- every record is imported or explained: the errors, with the line of the file'
SELECT row_number, line_number, sqlstate,
       split_part(error_message, E'\n', 1) AS error,
       raw_data->>'company_name' AS company
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
\echo '-- the imported customers, normalized on the way in'
SELECT customer_number, company_name, service_tier, phone, phone_extension, email
FROM ame_customers WHERE customer_number LIKE 'AME-9%' OR company_name = 'Elm Warehouse'
ORDER BY company_name;
