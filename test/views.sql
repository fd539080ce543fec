--
-- views: technician_performance and service_tier_metrics (SPEC §8),
-- correct for every data shape
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(22);

SELECT has_view('public', 'technician_performance', 'view technician_performance exists');
SELECT has_view('public', 'service_tier_metrics', 'view service_tier_metrics exists');
SELECT results_eq(
  $$SELECT relname::text COLLATE "default",
           'security_invoker=true' = ANY (reloptions)
    FROM pg_class
    WHERE oid IN ('public.technician_performance'::regclass,
                  'public.service_tier_metrics'::regclass)
    ORDER BY 1$$,
  $$VALUES ('service_tier_metrics', true), ('technician_performance', true)$$,
  'both views are security_invoker');
SELECT columns_are('public', 'technician_performance',
  ARRAY['technician_id', 'name', 'is_active', 'total_visits', 'avg_hours_per_visit',
        'completed_visits', 'completion_rate']::name[],
  'technician_performance has its columns');
SELECT columns_are('public', 'service_tier_metrics',
  ARRAY['service_tier', 'customer_count', 'total_visits', 'avg_visit_duration',
        'successful_visits']::name[],
  'service_tier_metrics has its columns');

--
-- an empty database
--
SELECT is_empty('SELECT * FROM public.technician_performance',
                'no technicians: technician_performance is empty');
SELECT results_eq(
  $$SELECT service_tier, customer_count, total_visits, avg_visit_duration, successful_visits
    FROM public.service_tier_metrics ORDER BY service_tier$$,
  $$VALUES ('ASSURE', 0::bigint, 0::bigint, NULL::numeric, 0::bigint),
           ('CORE', 0, 0, NULL, 0),
           ('GUARDIAN', 0, 0, NULL, 0)$$,
  'no customers: all three tiers appear, with zeros');

--
-- customer One has three visits, Two two, Three none; one visit unassigned
--
INSERT INTO public.ame_customers (id, company_name, service_tier) VALUES
  ('c0000000-0000-0000-0000-000000000001', 'One', 'CORE'),
  ('c0000000-0000-0000-0000-000000000002', 'Two', 'CORE'),
  ('c0000000-0000-0000-0000-000000000003', 'Three', 'GUARDIAN');
INSERT INTO public.ame_technicians (id, name, is_active) VALUES
  ('a0000000-0000-0000-0000-000000000001', 'Busy', true),
  ('a0000000-0000-0000-0000-000000000002', 'Idle', false),
  ('a0000000-0000-0000-0000-000000000003', 'Cancelled only', true);
INSERT INTO public.ame_visits (customer_id, technician_id, status, current_phase,
                               actual_start_time, completed_at, duration_hours) VALUES
  ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001',
   'completed', 4, '2026-03-01 08:00+00', '2026-03-01 10:30+00', 2.5),
  ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001',
   'completed', 4, '2026-03-02 08:00+00', '2026-03-02 09:00+00', 1.0),
  ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001',
   'in_progress', 4, '2026-03-03 08:00+00', NULL, NULL),
  ('c0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000003',
   'cancelled', 1, NULL, NULL, NULL),
  ('c0000000-0000-0000-0000-000000000002', NULL, 'scheduled', 1, NULL, NULL, NULL);

SELECT lives_ok('SELECT * FROM public.technician_performance',
                'technician_performance with an idle technician raises no division error');
SELECT results_eq(
  $$SELECT name, is_active, total_visits, completed_visits, completion_rate,
           avg_hours_per_visit
    FROM public.technician_performance WHERE name = 'Idle'$$,
  $$VALUES ('Idle', false, 0::bigint, 0::bigint, NULL::numeric, NULL::numeric)$$,
  'an idle technician appears with 0 visits, 0 completed and NULL completion_rate');
SELECT results_eq(
  $$SELECT name, total_visits, completed_visits, completion_rate, avg_hours_per_visit
    FROM public.technician_performance WHERE name = 'Busy'$$,
  $$VALUES ('Busy', 3::bigint, 2::bigint, 66.67::numeric, 1.75::numeric)$$,
  'Busy: 3 visits, 2 completed, 66.67 %, 1.75 hours per completed visit');
SELECT results_eq(
  $$SELECT name, total_visits, completed_visits, completion_rate, avg_hours_per_visit
    FROM public.technician_performance WHERE name = 'Cancelled only'$$,
  $$VALUES ('Cancelled only', 1::bigint, 0::bigint, 0.00::numeric, NULL::numeric)$$,
  'a technician whose only visit was cancelled: 1 visit, 0 %, no average');
SELECT results_eq(
  $$SELECT technician_id FROM public.technician_performance ORDER BY technician_id$$,
  $$VALUES ('a0000000-0000-0000-0000-000000000001'::uuid),
           ('a0000000-0000-0000-0000-000000000002'),
           ('a0000000-0000-0000-0000-000000000003')$$,
  'one row per technician; the unassigned visit makes no row');

SELECT results_eq(
  $$SELECT service_tier, customer_count, total_visits, avg_visit_duration, successful_visits
    FROM public.service_tier_metrics ORDER BY service_tier$$,
  $$VALUES ('ASSURE', 0::bigint, 0::bigint, NULL::numeric, 0::bigint),
           ('CORE', 2, 5, 1.75, 2),
           ('GUARDIAN', 1, 0, NULL, 0)$$,
  'per tier: customers (not joined visit rows), visits, average duration, completed visits');
SELECT is((SELECT customer_count FROM public.service_tier_metrics WHERE service_tier = 'CORE'),
          2::bigint, 'CORE counts its 2 customers, not their 5 visits');
SELECT is((SELECT count(*) FROM public.service_tier_metrics), 3::bigint,
          'exactly one row per tier');

-- the views follow the data
UPDATE public.ame_customers SET service_tier = 'assure' WHERE company_name = 'Two';
SELECT results_eq(
  $$SELECT service_tier, customer_count, total_visits, successful_visits
    FROM public.service_tier_metrics ORDER BY service_tier$$,
  $$VALUES ('ASSURE', 1::bigint, 2::bigint, 0::bigint),
           ('CORE', 1, 3, 2),
           ('GUARDIAN', 1, 0, 0)$$,
  'moving a customer to another tier moves its visits with it');
-- (the visit in progress is at phase 4, without tasks: it may be
-- completed; the duration given agrees with its times)
UPDATE public.ame_visits SET status = 'completed', completed_at = actual_start_time + interval '3 hours',
       duration_hours = 3
WHERE status = 'in_progress';
SELECT results_eq(
  $$SELECT name, total_visits, completed_visits, completion_rate, avg_hours_per_visit
    FROM public.technician_performance WHERE name = 'Busy'$$,
  $$VALUES ('Busy', 3::bigint, 3::bigint, 100.00::numeric, 2.17::numeric)$$,
  'completing Busy''s third visit: 100 %, 2.17 hours on average');
SELECT results_eq(
  $$SELECT customer_count, total_visits, avg_visit_duration, successful_visits
    FROM public.service_tier_metrics WHERE service_tier = 'CORE'$$,
  $$VALUES (1::bigint, 3::bigint, 2.17::numeric, 3::bigint)$$,
  'CORE now has three completed visits averaging 2.17 hours');

-- a tier with customers but every visit deleted; technicians with none left
DELETE FROM public.ame_visits;
SELECT lives_ok('SELECT * FROM public.technician_performance',
                'no visits at all: still no division error');
SELECT is((SELECT count(*) FROM public.technician_performance
           WHERE total_visits = 0 AND completed_visits = 0 AND completion_rate IS NULL
             AND avg_hours_per_visit IS NULL),
          3::bigint, 'every technician shows 0 visits and NULL rates');
SELECT results_eq(
  $$SELECT service_tier, customer_count, total_visits, avg_visit_duration, successful_visits
    FROM public.service_tier_metrics ORDER BY service_tier$$,
  $$VALUES ('ASSURE', 1::bigint, 0::bigint, NULL::numeric, 0::bigint),
           ('CORE', 1, 0, NULL, 0),
           ('GUARDIAN', 1, 0, NULL, 0)$$,
  'customers without visits are counted, with zero visits');

-- no customers at all: the three tiers are still there
DELETE FROM public.ame_customers;
SELECT results_eq(
  $$SELECT service_tier, customer_count FROM public.service_tier_metrics ORDER BY service_tier$$,
  $$VALUES ('ASSURE', 0::bigint), ('CORE', 0::bigint), ('GUARDIAN', 0::bigint)$$,
  'all three tiers are present after every customer is gone');

SELECT * FROM finish();
ROLLBACK;
