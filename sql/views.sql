--
-- views: technician_performance and service_tier_metrics on every data shape
--
\set VERBOSITY terse

-- both are security_invoker
SELECT relname COLLATE "C" AS view, reloptions FROM pg_class
WHERE relname IN ('technician_performance', 'service_tier_metrics') ORDER BY 1;

-- empty database: every tier appears with zeros, no technician rows
SELECT * FROM technician_performance;
SELECT * FROM service_tier_metrics ORDER BY service_tier;

INSERT INTO ame_customers (id, company_name, service_tier) VALUES
  ('c0000000-0000-0000-0000-000000000001', 'One', 'CORE'),
  ('c0000000-0000-0000-0000-000000000002', 'Two', 'CORE'),
  ('c0000000-0000-0000-0000-000000000003', 'Three', 'GUARDIAN');
INSERT INTO ame_technicians (id, name) VALUES
  ('a0000000-0000-0000-0000-000000000001', 'Busy'),
  ('a0000000-0000-0000-0000-000000000002', 'Idle'),
  ('a0000000-0000-0000-0000-000000000003', 'Cancelled only');
-- customer One has three visits, Two one, Three none; one visit unassigned
INSERT INTO ame_visits (customer_id, technician_id, status, current_phase,
                        actual_start_time, completed_at, duration_hours) VALUES
  ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001',
   'completed', 4, '2026-03-01 08:00+00', '2026-03-01 10:30+00', 2.5),
  ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001',
   'completed', 4, '2026-03-02 08:00+00', '2026-03-02 09:00+00', 1.0),
  ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001',
   'in_progress', 2, '2026-03-03 08:00+00', NULL, NULL),
  ('c0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000003',
   'cancelled', 1, NULL, NULL, NULL),
  ('c0000000-0000-0000-0000-000000000002', NULL, 'scheduled', 1, NULL, NULL, NULL);

-- Busy: 3 visits, 2 completed (66.67%), 1.75 h on average;
-- Idle: 0 visits, no division error; Cancelled only: 1 visit, 0%
SELECT name, total_visits, avg_hours_per_visit, completed_visits, completion_rate, is_active
FROM technician_performance ORDER BY name COLLATE "C";

-- CORE: 2 customers (not 5 joined rows), 5 visits, 2 completed, avg 1.75;
-- GUARDIAN: 1 customer, no visits; ASSURE: none at all
SELECT * FROM service_tier_metrics ORDER BY service_tier;

-- the views follow the data
UPDATE ame_customers SET service_tier = 'assure' WHERE company_name = 'Two';
SELECT service_tier, customer_count, total_visits, successful_visits
FROM service_tier_metrics ORDER BY service_tier;

DELETE FROM ame_visits;
DELETE FROM ame_technicians;
DELETE FROM ame_customers;
SELECT setval('customer_sequence', 1, false);
