--
-- service_levels: ame_service_levels and the SLA views on hand-computed data
--
\set VERBOSITY terse

-- the defaults, dumped, and the views security_invoker
SELECT * FROM ame_service_levels ORDER BY response_target;
SELECT c.relname COLLATE "C" AS dumped FROM pg_extension e, unnest(e.extconfig) AS cfg(oid)
JOIN pg_class c ON c.oid = cfg.oid
WHERE e.extname = 'ame' AND c.relname = 'ame_service_levels';
SELECT relname COLLATE "C" AS view, reloptions FROM pg_class
WHERE relname IN ('service_level_visits', 'service_level_metrics', 'service_level_metrics_monthly')
ORDER BY 1;
-- the restore trigger fires ALWAYS (also under session_replication_role = replica)
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'ame_service_levels'::regclass;
-- the columns, in order, with their types
SELECT attrelid::regclass::text COLLATE "C" AS view, attnum, attname, format_type(atttypid, atttypmod)
FROM pg_attribute
WHERE attrelid IN ('service_level_metrics'::regclass, 'service_level_metrics_monthly'::regclass)
  AND attnum > 0
ORDER BY 1, 2;

-- no customers, no visits: all three tiers, zero counts, NULL percentages
SELECT * FROM service_level_metrics ORDER BY service_tier;
SELECT * FROM service_level_metrics_monthly;

CREATE ROLE regress_ame_sla;
-- customer numbers given, so that customer_sequence stays where the later
-- tests expect it
INSERT INTO ame_customers (id, customer_number, company_name, service_tier) VALUES
  ('c5000000-0000-0000-0000-000000000001', 'SLA-1', 'Guardian One', 'GUARDIAN'),
  ('c5000000-0000-0000-0000-000000000002', 'SLA-2', 'Guardian Two', 'GUARDIAN'),
  ('c5000000-0000-0000-0000-000000000003', 'SLA-3', 'Assure One', 'ASSURE');
INSERT INTO ame_technicians (id, user_id, name) VALUES
  ('a5000000-0000-0000-0000-000000000001', '05000000-0000-0000-0000-000000000001', 'Tess'),
  ('a5000000-0000-0000-0000-000000000002', '05000000-0000-0000-0000-000000000002', 'Tom');

-- GUARDIAN (targets: response 4 h, resolution 24 h), all times UTC:
--  v1 Guardian One, Tess, completed: created 03-01 02:00, started 04:00
--     (response 2 h, met), completed 14:00 (resolution 12 h, met).  v3 is
--     created exactly 720 h (30 days) after 03-01 14:00: a follow-up
--     within the window, so v1 is NOT a first-time fix.  (02:00 UTC on
--     03-01 is still February in America/Los_Angeles.)
--  v2 Guardian Two, Tom, completed: created 03-10 08:00, started 14:00
--     (6 h, missed), completed 03-12 08:00 (48 h, missed).  v4 is created
--     720 h + 1 min after that: outside the window, so v2 IS a first-time
--     fix (a cancelled visit would count as a follow-up: any status does).
--  v3 Guardian One, Tess, scheduled: created 03-31 14:00, never started.
--  v4 Guardian Two, Tom, cancelled after it started: created 04-11 08:01,
--     started 09:01 (1 h, met; a started visit, whatever its status).
--  v6 Guardian One, Tess, in_progress: created 04-05 08:00, started 11:00
--     (3 h, met).
--  v7 Guardian One, Tess, completed: created 04-20 08:00, started 09:00
--     (1 h, met), completed 04-21 10:00 (26 h, missed); no later visit of
--     Guardian One, so a first-time fix.
-- ASSURE (24 h / 72 h): Assure One's two visits never started:
--  v8 Tom, scheduled, created 03-15 08:00; v9 unassigned, cancelled
--     without a start, created 03-16 08:00.
-- CORE: no customers.
INSERT INTO ame_visits (id, customer_id, technician_id, status, current_phase,
                        actual_start_time, completed_at, duration_hours, created_at) VALUES
  ('d5000000-0000-0000-0000-000000000001', 'c5000000-0000-0000-0000-000000000001',
   'a5000000-0000-0000-0000-000000000001', 'completed', 4,
   '2026-03-01 04:00+00', '2026-03-01 14:00+00', NULL, '2026-03-01 02:00+00'),
  ('d5000000-0000-0000-0000-000000000002', 'c5000000-0000-0000-0000-000000000002',
   'a5000000-0000-0000-0000-000000000002', 'completed', 4,
   '2026-03-10 14:00+00', '2026-03-12 08:00+00', NULL, '2026-03-10 08:00+00'),
  ('d5000000-0000-0000-0000-000000000003', 'c5000000-0000-0000-0000-000000000001',
   'a5000000-0000-0000-0000-000000000001', 'scheduled', 1,
   NULL, NULL, NULL, '2026-03-31 14:00+00'),
  ('d5000000-0000-0000-0000-000000000004', 'c5000000-0000-0000-0000-000000000002',
   'a5000000-0000-0000-0000-000000000002', 'cancelled', 1,
   '2026-04-11 09:01+00', NULL, NULL, '2026-04-11 08:01+00'),
  ('d5000000-0000-0000-0000-000000000006', 'c5000000-0000-0000-0000-000000000001',
   'a5000000-0000-0000-0000-000000000001', 'in_progress', 2,
   '2026-04-05 11:00+00', NULL, NULL, '2026-04-05 08:00+00'),
  ('d5000000-0000-0000-0000-000000000007', 'c5000000-0000-0000-0000-000000000001',
   'a5000000-0000-0000-0000-000000000001', 'completed', 4,
   '2026-04-20 09:00+00', '2026-04-21 10:00+00', NULL, '2026-04-20 08:00+00'),
  ('d5000000-0000-0000-0000-000000000008', 'c5000000-0000-0000-0000-000000000003',
   'a5000000-0000-0000-0000-000000000002', 'scheduled', 1,
   NULL, NULL, NULL, '2026-03-15 08:00+00'),
  ('d5000000-0000-0000-0000-000000000009', 'c5000000-0000-0000-0000-000000000003',
   NULL, 'cancelled', 1,
   NULL, NULL, NULL, '2026-03-16 08:00+00');

-- per visit (NULL: not applicable)
SELECT right(visit_id::text, 1) AS v, service_tier, month, status, response_time,
       resolution_time, response_met, resolution_met, first_time_fix
FROM service_level_visits ORDER BY visit_id;

-- GUARDIAN: 6 visits; started v1 2h, v2 6h, v4 1h, v6 3h, v7 1h = 5;
--   met (<= 4 h) v1 v4 v6 v7 = 4/5 = 80.00;
--   sorted 1h 1h 2h 3h 6h: median 2h; p90 at 0.9 * (5 - 1) = 3.6:
--   3h + 0.6 * (6h - 3h) = 4h48m;
--   completed v1 v2 v7 = 3; resolution met (<= 24 h) v1 only = 33.33;
--   first-time fix v2 v7 = 2/3 = 66.67.
-- ASSURE: 2 visits, none started, none completed: NULL percentages and
--   percentiles, no division error.
-- CORE: nothing.
SELECT * FROM service_level_metrics ORDER BY service_tier;

-- monthly, one row per tier and month with visits (CORE has none):
-- GUARDIAN 2026-03: v1 v2 v3 = 3; started v1 2h, v2 6h: met 1/2 = 50.00,
--   median 4h, p90 2h + 0.9 * 4h = 5h36m; completed v1 v2, resolution met
--   v1 = 50.00, first-time fix v2 = 50.00.
-- GUARDIAN 2026-04: v4 v6 v7 = 3; started 1h 3h 1h, all met = 100.00;
--   sorted 1h 1h 3h: median 1h, p90 at 1.8: 1h + 0.8 * 2h = 2h36m;
--   completed v7: resolution 26 h missed = 0.00, first-time fix 100.00.
-- ASSURE 2026-03: v8 v9, nothing started or completed.
SELECT * FROM service_level_metrics_monthly ORDER BY service_tier, month;

-- months are UTC months and the window is 720 hours, whatever the
-- session's TimeZone: in Los Angeles v1 was created in February and
-- 03-01 14:00 UTC + '30 days' of local time would end an hour before v3
-- (daylight saving time begins on 03-08), yet nothing changes
SET TimeZone = 'America/Los_Angeles';
SELECT * FROM service_level_metrics_monthly ORDER BY service_tier, month;
SELECT service_tier, first_time_fix_pct FROM service_level_metrics ORDER BY service_tier;
RESET TimeZone;

-- a technician under row-level security sees the metrics of their own
-- visits only: Tom has v2 v4 (GUARDIAN) and v8 (ASSURE).
-- GUARDIAN for Tom: 2 visits, started v2 6h (missed) v4 1h (met) = 50.00;
--   median 3h30m; p90 1h + 0.9 * 5h = 5h30m; completed v2: resolution
--   missed = 0.00; first-time fix 100.00 (v4 is outside the window).
-- ASSURE for Tom: v8 only.
GRANT SELECT ON service_level_metrics, service_level_metrics_monthly, service_level_visits,
  ame_service_levels, ame_customers, ame_visits TO regress_ame_sla;
SET ROLE regress_ame_sla;
SET request.jwt.claim.sub = '05000000-0000-0000-0000-000000000002';
SELECT * FROM service_level_metrics ORDER BY service_tier;
SELECT service_tier, month, visits FROM service_level_metrics_monthly ORDER BY service_tier, month;
-- without an identity: no visits, still the three tiers
RESET request.jwt.claim.sub;
SELECT service_tier, visits, started_visits, response_met_pct FROM service_level_metrics
ORDER BY service_tier;
RESET ROLE;

-- the owner edits a target: with response 6 h for GUARDIAN, v2 (6 h) meets
-- it too: 5/5 = 100.00; March 2/2 = 100.00
UPDATE ame_service_levels SET response_target = '6 hours' WHERE service_tier = 'GUARDIAN';
SELECT service_tier, response_met_pct FROM service_level_metrics ORDER BY service_tier;
SELECT service_tier, month, response_met_pct FROM service_level_metrics_monthly
WHERE service_tier = 'GUARDIAN' ORDER BY month;
-- and resolution 48 h: v1 (12 h) and v2 (48 h) meet it, v7 (26 h) too = 100.00
UPDATE ame_service_levels SET resolution_target = '2 days' WHERE service_tier = 'GUARDIAN';
SELECT service_tier, resolution_met_pct FROM service_level_metrics WHERE service_tier = 'GUARDIAN';

-- a non-owner cannot edit the targets (it may read them)
SET ROLE regress_ame_sla;
UPDATE ame_service_levels SET response_target = '1 hour' WHERE service_tier = 'CORE';
INSERT INTO ame_service_levels VALUES ('CORE', '1 hour', '2 hours');
DELETE FROM ame_service_levels;
RESET ROLE;
SELECT * FROM ame_service_levels ORDER BY service_tier;

-- bad input is refused, and the table is unchanged
INSERT INTO ame_service_levels VALUES ('PLATINUM', '1 hour', '2 hours');
INSERT INTO ame_service_levels VALUES ('guardian', '1 hour', '2 hours');
INSERT INTO ame_service_levels VALUES (NULL, '1 hour', '2 hours');
UPDATE ame_service_levels SET response_target = '0' WHERE service_tier = 'CORE';
UPDATE ame_service_levels SET resolution_target = '-1 hour' WHERE service_tier = 'CORE';
-- a day less 25 hours is below zero too
UPDATE ame_service_levels SET response_target = '1 day -25 hours' WHERE service_tier = 'CORE';
UPDATE ame_service_levels SET response_target = NULL WHERE service_tier = 'CORE';
UPDATE ame_service_levels SET service_tier = 'GOLD' WHERE service_tier = 'CORE';
-- outside a restore, a second row for a tier is the ordinary 23505
INSERT INTO ame_service_levels VALUES ('CORE', '1 hour', '2 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ame_service_levels ORDER BY service_tier;

-- In a restore session of the owner (a plain dump sets row_security = off;
-- pg_restore connects as application_name pg_restore), a row for an
-- existing tier updates its targets and is not inserted (INSERT 0 0);
-- test/service_levels_restore.t restores real dumps
SET row_security = off;
INSERT INTO ame_service_levels VALUES ('CORE', '70 hours', '160 hours');
SELECT * FROM ame_service_levels ORDER BY service_tier;
-- bad values are refused there too, by the update
INSERT INTO ame_service_levels VALUES ('CORE', '0', '160 hours');
INSERT INTO ame_service_levels VALUES ('CORE', NULL, '160 hours');
RESET row_security;
SET application_name = 'pg_restore';
INSERT INTO ame_service_levels VALUES ('CORE', '72 hours', '168 hours');
SELECT * FROM ame_service_levels ORDER BY service_tier;
-- a missing tier is inserted as usual
DELETE FROM ame_service_levels WHERE service_tier = 'ASSURE';
INSERT INTO ame_service_levels VALUES ('ASSURE', '24 hours', '72 hours');
SELECT * FROM ame_service_levels ORDER BY service_tier;
-- the signal means nothing from a role without the owner's privileges,
-- even one that may insert
GRANT INSERT ON ame_service_levels TO regress_ame_sla;
SET ROLE regress_ame_sla;
SET row_security = off;
INSERT INTO ame_service_levels VALUES ('CORE', '1 hour', '2 hours');
\echo :LAST_ERROR_SQLSTATE
RESET row_security;
RESET ROLE;
RESET application_name;
SELECT * FROM ame_service_levels ORDER BY service_tier;

-- the trigger function runs only as the BEFORE INSERT row trigger
SELECT ame_service_levels_restore();
CREATE TABLE sla_misuse (service_tier text, response_target interval, resolution_target interval);
CREATE TRIGGER misuse AFTER INSERT ON sla_misuse
  FOR EACH ROW EXECUTE FUNCTION ame_service_levels_restore();
INSERT INTO sla_misuse VALUES ('CORE', '1 hour', '2 hours');
DROP TRIGGER misuse ON sla_misuse;
ALTER TABLE sla_misuse DROP COLUMN resolution_target;
CREATE TRIGGER misuse BEFORE INSERT ON sla_misuse
  FOR EACH ROW EXECUTE FUNCTION ame_service_levels_restore();
INSERT INTO sla_misuse VALUES ('CORE', '1 hour');
SELECT count(*) AS misuse_rows FROM sla_misuse;
DROP TRIGGER misuse ON sla_misuse;
INSERT INTO sla_misuse VALUES ('CORE', '1 hour');
CREATE TRIGGER misuse BEFORE UPDATE ON sla_misuse
  FOR EACH ROW EXECUTE FUNCTION ame_service_levels_restore();
UPDATE sla_misuse SET response_target = '2 hours';
SELECT * FROM sla_misuse;
DROP TABLE sla_misuse;

-- clean up: the defaults again, no visits, no role
UPDATE ame_service_levels SET response_target = '4 hours', resolution_target = '24 hours'
WHERE service_tier = 'GUARDIAN';
SELECT * FROM ame_service_levels ORDER BY response_target;
DELETE FROM ame_visits WHERE id::text LIKE 'd5000000-%';
DELETE FROM ame_technicians WHERE id::text LIKE 'a5000000-%';
DELETE FROM ame_customers WHERE id::text LIKE 'c5000000-%';
REVOKE ALL ON service_level_metrics, service_level_metrics_monthly, service_level_visits,
  ame_service_levels, ame_customers, ame_visits FROM regress_ame_sla;
DROP ROLE regress_ame_sla;
