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

\echo '== BI view: technician_performance'
SELECT name, is_active, total_visits, completed_visits, completion_rate, avg_hours_per_visit
FROM technician_performance ORDER BY name;

\echo '== BI view: service_tier_metrics'
SELECT * FROM service_tier_metrics ORDER BY service_tier;

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
