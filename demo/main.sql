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
