-- demo/sample_data.sql -- realistic, deterministic sample data for ame:
-- 300 customers on all three tiers with the messy phones and emails a CRM
-- export has, 12 technicians (one without visits), 900 visits in every
-- status and phase, with their phase tasks and some devices.
\set ON_ERROR_STOP on

INSERT INTO ame_customers (company_name, site_name, site_address, primary_contact,
                           phone, email, service_tier, system_type,
                           contract_start_date, contract_end_date)
SELECT format('%s %s', (ARRAY['Northwind', 'Contoso', 'Fabrikam', 'Tailspin', 'Litware',
                               'Proseware', 'Adatum', 'Woodgrove', 'Lucerne', 'Wingtip'])[1 + i % 10],
              (ARRAY['Hospital', 'Campus', 'Tower', 'Plant', 'Mall', 'Data Center'])[1 + i % 6])
         || ' #' || i,
       (ARRAY['Main building', 'North wing', 'Annex', NULL])[1 + i % 4],
       format('%s %s Street, Springfield', 10 + i, (ARRAY['Oak', 'Elm', 'Pine', 'Maple'])[1 + i % 4]),
       (ARRAY['Ana Ruiz', 'Ben Okafor', 'Chen Wei', 'Dana Smith', 'Eli Cohen'])[1 + i % 5],
       -- phones the way people type them
       CASE i % 7
         WHEN 0 THEN format('(%s) %s-%s', 200 + i % 700, 100 + i % 800, lpad((i * 37 % 10000)::text, 4, '0'))
         WHEN 1 THEN format('%s.%s.%s x%s', 200 + i % 700, 100 + i % 800, lpad((i * 37 % 10000)::text, 4, '0'), i % 300)
         WHEN 2 THEN format('+1 %s %s %s', 200 + i % 700, 100 + i % 800, lpad((i * 37 % 10000)::text, 4, '0'))
         WHEN 3 THEN format('%s-%s-%s ext. %s', 200 + i % 700, 100 + i % 800, lpad((i * 37 % 10000)::text, 4, '0'), 10 + i % 90)
         WHEN 4 THEN format('  %s%s%s  ', 200 + i % 700, 100 + i % 800, lpad((i * 37 % 10000)::text, 4, '0'))
         WHEN 5 THEN format('%s %s-%s #%s', 200 + i % 700, 100 + i % 800, lpad((i * 37 % 10000)::text, 4, '0'), i % 9 + 1)
         ELSE '   '
       END,
       -- emails with stray case and spaces, some missing
       CASE i % 5
         WHEN 0 THEN format('  Facilities.%s@Example.COM ', i)
         WHEN 1 THEN format('ops%s@plant-%s.example.org', i, i % 17)
         WHEN 2 THEN format('Service.Desk+%s@Example.net', i)
         WHEN 3 THEN ''
         ELSE NULL
       END,
       (ARRAY['core', ' Assure', 'GUARDIAN ', 'Core', 'assure', 'guardian'])[1 + i % 6],
       (ARRAY['BACnet', 'Niagara N4', 'Modbus', 'LonWorks'])[1 + i % 4],
       date '2024-01-01' + (i % 365),
       date '2027-01-01' + (i % 365)
FROM generate_series(1, 300) AS i;

INSERT INTO ame_technicians (user_id, name, email, phone, is_active)
SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid,
       (ARRAY['Alex Moreno', 'Bianca Rossi', 'Chris Park', 'Deepa Nair', 'Erik Lund',
              'Fatima Zahra', 'Gus Novak', 'Hana Sato', 'Ivan Petrov', 'Jade Wong',
              'Kofi Mensah', 'Lena Vogel'])[i],
       format('tech%s@ame.example', i),
       format('555-01%s', lpad(i::text, 2, '0')),
       i <> 11
FROM generate_series(1, 12) AS i;

-- 900 visits by the first eleven technicians (Lena Vogel has none yet):
-- scheduled, in progress in every phase, completed, cancelled; each
-- requested (created_at) some hours before its day's 08:00 start
WITH c AS (SELECT id, row_number() OVER (ORDER BY customer_number) AS n FROM ame_customers),
     t AS (SELECT id, row_number() OVER (ORDER BY name) AS n FROM ame_technicians
           WHERE name <> 'Lena Vogel')
INSERT INTO ame_visits (customer_id, technician_id, status, current_phase, scheduled_date,
                        actual_start_time, completed_at, duration_hours, notes, created_at)
SELECT c.id, t.id, v.status, v.phase, v.day,
       CASE WHEN v.status IN ('in_progress', 'completed') THEN v.day + time '08:00' END,
       CASE WHEN v.status = 'completed' THEN v.day + time '08:00' + v.hours * interval '1 hour' END,
       CASE WHEN v.status = 'completed' THEN v.hours END,
       CASE WHEN i % 9 = 0 THEN 'Customer asked for a follow-up on the chiller plant.' END,
       -- requested 1 to 79 hours before the technician started: the
       -- response times of the service-level metrics
       v.day + time '08:00' - (1 + (i * 7) % 79) * interval '1 hour'
FROM generate_series(1, 900) AS i
CROSS JOIN LATERAL (
  SELECT (ARRAY['completed', 'completed', 'in_progress', 'scheduled', 'completed', 'cancelled'])[1 + i % 6] AS status,
         date '2026-06-01' + (i % 180) AS day,
         round((1.5 + (i % 13) * 0.5)::numeric, 2) AS hours
) s
CROSS JOIN LATERAL (
  SELECT s.status,
         CASE s.status WHEN 'completed' THEN 4 WHEN 'in_progress' THEN 1 + (i / 6) % 4 ELSE 1 END AS phase,
         s.day, s.hours
) v
JOIN c ON c.n = 1 + (i / 3) % 300
JOIN t ON t.n = 1 + i % 11;

-- the tasks of each phase up to the current one; done ones carry a time.
-- This is history from before the visits came here: tasks done in phases
-- a visit has left, on visits already completed, which the workflow would
-- not let anyone add today.  The owner loads such history as a restore
-- does, with row_security off (docs/workflow.md, "Loading history").
SET row_security = off;
INSERT INTO ame_visit_progress (visit_id, phase, task_name, is_completed, completed_at)
SELECT v.id, p.phase, p.task,
       p.phase < v.current_phase OR v.status = 'completed',
       CASE WHEN p.phase < v.current_phase OR v.status = 'completed'
            THEN v.actual_start_time + p.phase * interval '20 minutes' END
FROM ame_visits v
CROSS JOIN (VALUES (1, 'Review alarms and trends'), (1, 'Back up controller databases'),
                   (2, 'Inspect field devices'), (3, 'Calibrate sensors'),
                   (4, 'Walk-through with customer')) AS p (phase, task)
WHERE v.status IN ('in_progress', 'completed') AND p.phase <= v.current_phase;
RESET row_security;

-- devices found on site
INSERT INTO device_inventory (customer_id, device_name, device_type, vendor, model,
                              firmware_version, ip_address, status, last_seen)
SELECT c.id,
       format('%s-%s', (ARRAY['AHU', 'VAV', 'CHLR', 'BLR', 'JACE'])[1 + d % 5], d),
       (ARRAY['controller', 'sensor', 'supervisor', 'actuator'])[1 + d % 4],
       (ARRAY['Tridium', 'Johnson Controls', 'Honeywell', 'Siemens'])[1 + d % 4],
       format('M-%s', 100 + d % 50),
       format('4.%s.%s', d % 10, d % 7),
       format('10.%s.%s.%s', c.n % 250, d % 250, 10 + d % 200)::inet,
       (ARRAY['online', 'online', 'offline', 'fault'])[1 + d % 4],
       timestamptz '2026-11-01 00:00+00' + d * interval '7 minutes'
FROM (SELECT id, row_number() OVER (ORDER BY customer_number) AS n FROM ame_customers) c
CROSS JOIN generate_series(1, 3) AS d
WHERE c.n % 4 = 0;
