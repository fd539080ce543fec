--
-- other_schema: CREATE EXTENSION ame SCHEMA fsm works (SPEC §1), and
-- nothing depends on the caller's search_path: fsm is never on it, and a
-- decoy schema with look-alike objects comes first.
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE SCHEMA fsm;
CREATE EXTENSION ame SCHEMA fsm;
CREATE SCHEMA decoy;
CREATE SEQUENCE decoy.customer_sequence START 500;
CREATE TABLE decoy.ame_customers (LIKE fsm.ame_customers);
CREATE TABLE decoy.ame_visits (LIKE fsm.ame_visits);
CREATE FUNCTION decoy.gen_random_uuid() RETURNS uuid LANGUAGE sql
  AS $$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;
SET LOCAL search_path = decoy, public, pg_catalog;

SELECT plan(16);

SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'ame'),
          'fsm', 'ame is installed in schema fsm');
SELECT is((SELECT count(*) FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
           WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
             AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ame')
             AND c.relnamespace <> 'fsm'::regnamespace),
          0::bigint, 'no relation of ame lives outside fsm');
SELECT is((SELECT count(*) FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
           WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
             AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ame')
             AND p.pronamespace <> 'fsm'::regnamespace),
          0::bigint, 'no function of ame lives outside fsm');
SELECT has_table('fsm', 'ame_customers', 'fsm.ame_customers exists');
SELECT has_sequence('fsm', 'customer_sequence', 'fsm.customer_sequence exists');

-- the trigger normalizes and numbers from fsm's own sequence
INSERT INTO fsm.ame_customers (company_name, service_tier, phone, email)
VALUES ('Schema Co', 'assure', '(555) 444-1212 #3', ' Ops@Schema.Example ');
SELECT results_eq(
  $$SELECT customer_number COLLATE "default", phone, phone_extension, email, service_tier,
           id <> '00000000-0000-0000-0000-000000000000'
    FROM fsm.ame_customers$$,
  $$VALUES ('AME-000001', '5554441212', '3', 'ops@schema.example', 'ASSURE', true)$$,
  'fsm.ame_customers: normalized, numbered from fsm.customer_sequence, a real uuid');
SELECT results_eq(
  $$SELECT last_value, is_called FROM decoy.customer_sequence$$,
  $$VALUES (500::bigint, false)$$,
  'the decoy customer_sequence first on the path is not touched');
SELECT is_empty('SELECT * FROM decoy.ame_customers', 'the decoy ame_customers stays empty');

-- foreign keys, views, updated_at and identity in fsm
INSERT INTO fsm.ame_technicians (name) VALUES ('Fay'), ('Idle');
INSERT INTO fsm.ame_visits (customer_id, technician_id, status, current_phase,
                            actual_start_time, completed_at)
SELECT c.id, t.id, 'completed', 4, '2026-03-02 08:00+00', '2026-03-02 11:30+00'
FROM fsm.ame_customers c, fsm.ame_technicians t
WHERE t.name = 'Fay';
SELECT results_eq(
  $$SELECT name, total_visits, completed_visits, completion_rate
    FROM fsm.technician_performance ORDER BY name$$,
  $$VALUES ('Fay', 1::bigint, 1::bigint, 100.00::numeric), ('Idle', 0, 0, NULL)$$,
  'fsm.technician_performance reads fsm''s tables');
SELECT results_eq(
  $$SELECT service_tier, customer_count, total_visits FROM fsm.service_tier_metrics
    ORDER BY service_tier$$,
  $$VALUES ('ASSURE', 1::bigint, 1::bigint), ('CORE', 0, 0), ('GUARDIAN', 0, 0)$$,
  'fsm.service_tier_metrics reads fsm''s tables');
SELECT throws_ok(
  $$INSERT INTO fsm.ame_visits (customer_id) VALUES ('c0000000-0000-0000-0000-0000000000ff')$$,
  '23503', 'insert or update on table "ame_visits" violates foreign key constraint "fk_visits_customer"',
  'fk_visits_customer points at fsm.ame_customers');

SET LOCAL session_replication_role = replica;
UPDATE fsm.ame_visits SET updated_at = '2020-01-01 00:00+00';
SET LOCAL session_replication_role = origin;
UPDATE fsm.ame_visits SET status = 'completed';
SELECT is((SELECT updated_at FROM fsm.ame_visits), '2020-01-01 00:00+00'::timestamptz,
          'fsm: a no-op UPDATE keeps updated_at');
-- (a completed visit's workflow columns are frozen: its notes still change)
UPDATE fsm.ame_visits SET notes = 'Filters replaced';
SELECT is((SELECT updated_at FROM fsm.ame_visits), now(),
          'fsm: a real change sets updated_at to now()');

SET LOCAL request.jwt.claims = '{"sub": "00000000-0000-0000-0000-0000000000f5"}';
SELECT is(fsm.ame_current_user_id(), '00000000-0000-0000-0000-0000000000f5'::uuid,
          'fsm.ame_current_user_id() reads the claims');

-- a second customer with an empty search_path (only pg_catalog)
SET LOCAL search_path = pg_catalog;
INSERT INTO fsm.ame_customers (company_name, service_tier) VALUES ('Second', 'core');
SET LOCAL search_path = decoy, public, pg_catalog;
SELECT is((SELECT customer_number FROM fsm.ame_customers WHERE company_name = 'Second'),
          'AME-000002', 'with search_path = pg_catalog the next number still comes');
SELECT is((SELECT last_value FROM fsm.customer_sequence), 2::bigint,
          'fsm.customer_sequence gave both numbers');

SELECT * FROM finish();
ROLLBACK;
