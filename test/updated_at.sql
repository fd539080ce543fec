--
-- updated_at (SPEC §4): moves to now() only when some other column's value
-- really changed, judged after normalization.  Every row here is created
-- in this transaction, so it is backdated first, with the triggers off
-- (session_replication_role = replica, superuser only).
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(29);

-- every table of the extension that has updated_at has the trigger
SELECT set_eq(
  $$SELECT c.relname::text COLLATE "default" FROM pg_class c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'updated_at' AND NOT a.attisdropped
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'$$,
  $$SELECT c.relname::text COLLATE "default" FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE t.tgfoid = 'public.ame_set_updated_at()'::regprocedure$$,
  'exactly the tables with updated_at have the ame_set_updated_at trigger');
SELECT cmp_ok((SELECT count(*) FROM pg_trigger
               WHERE tgfoid = 'public.ame_set_updated_at()'::regprocedure), '>=', 5::bigint,
              'at least the five tables of SPEC §2 have it');

INSERT INTO public.ame_customers (id, company_name, service_tier, email, phone)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Stamp Co', 'CORE', 'a@example.com', '5551234');
INSERT INTO public.ame_technicians (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'Sam');
INSERT INTO public.ame_visits (id, customer_id)
VALUES ('d0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000001');
INSERT INTO public.ame_visit_progress (id, visit_id, phase, task_name)
VALUES ('e0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 1, 'Walk-through');
INSERT INTO public.device_inventory (id, customer_id, device_name)
VALUES ('f0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000001', 'VAV-7');

CREATE PROCEDURE pg_temp.backdate() LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL session_replication_role = replica;
  UPDATE public.ame_customers SET updated_at = '2020-01-01 00:00+00';
  UPDATE public.ame_technicians SET updated_at = '2020-01-01 00:00+00';
  UPDATE public.ame_visits SET updated_at = '2020-01-01 00:00+00';
  UPDATE public.ame_visit_progress SET updated_at = '2020-01-01 00:00+00';
  UPDATE public.device_inventory SET updated_at = '2020-01-01 00:00+00';
  SET LOCAL session_replication_role = origin;
END $$;

CREATE VIEW pg_temp.stamps AS
SELECT 'customers' AS tbl, updated_at FROM public.ame_customers
UNION ALL SELECT 'technicians', updated_at FROM public.ame_technicians
UNION ALL SELECT 'visits', updated_at FROM public.ame_visits
UNION ALL SELECT 'progress', updated_at FROM public.ame_visit_progress
UNION ALL SELECT 'devices', updated_at FROM public.device_inventory;

CALL pg_temp.backdate();
SELECT is((SELECT count(*) FROM pg_temp.stamps WHERE updated_at = '2020-01-01 00:00+00'),
          5::bigint, 'the five rows are backdated');
SELECT is(current_setting('session_replication_role'), 'origin',
          'triggers are on again');

--
-- no-op UPDATEs keep updated_at
--
UPDATE public.ame_customers SET company_name = company_name;
UPDATE public.ame_technicians SET name = name, is_active = true;
UPDATE public.ame_visits SET status = 'scheduled', current_phase = 1;
UPDATE public.ame_visit_progress SET is_completed = false;
UPDATE public.device_inventory SET device_name = 'VAV-7', ip_address = NULL;
SELECT results_eq(
  $$SELECT tbl, updated_at FROM pg_temp.stamps ORDER BY tbl$$,
  $$VALUES ('customers', '2020-01-01 00:00+00'::timestamptz),
           ('devices', '2020-01-01 00:00+00'), ('progress', '2020-01-01 00:00+00'),
           ('technicians', '2020-01-01 00:00+00'), ('visits', '2020-01-01 00:00+00')$$,
  'an UPDATE that sets every column to its own value keeps updated_at, on every table');

-- values that normalize to what is stored are no change either
UPDATE public.ame_customers
SET email = ' A@Example.COM ', phone = '555-1234', service_tier = ' core ';
SELECT is((SELECT updated_at FROM public.ame_customers), '2020-01-01 00:00+00'::timestamptz,
          'customers: values that normalize to the stored ones keep updated_at');
SELECT results_eq(
  $$SELECT email, phone, service_tier FROM public.ame_customers$$,
  $$VALUES ('a@example.com', '5551234', 'CORE')$$,
  '(and the stored values are the normalized ones)');

-- an explicit updated_at alone is neither a change nor honoured
UPDATE public.ame_technicians SET updated_at = '2030-01-01 00:00+00';
SELECT is((SELECT updated_at FROM public.ame_technicians), '2020-01-01 00:00+00'::timestamptz,
          'an UPDATE of updated_at alone keeps the old value');
UPDATE public.ame_technicians SET updated_at = NULL;
SELECT is((SELECT updated_at FROM public.ame_technicians), '2020-01-01 00:00+00'::timestamptz,
          'an UPDATE of updated_at to NULL keeps the old value');

--
-- real changes move it to now()
--
UPDATE public.ame_customers SET site_name = 'Main plant';
UPDATE public.ame_technicians SET is_active = false;
-- (the visit's real change is its start: the workflow moves a phase only
-- while the visit is in progress, with the phase's tasks done)
UPDATE public.ame_visits SET status = 'in_progress';
UPDATE public.ame_visit_progress SET notes = 'ok';
UPDATE public.device_inventory SET ip_address = '10.0.0.7';
SELECT results_eq(
  $$SELECT tbl, updated_at FROM pg_temp.stamps ORDER BY tbl$$,
  $$SELECT t, now() FROM unnest(ARRAY['customers', 'devices', 'progress', 'technicians',
                                       'visits']) AS t ORDER BY t$$,
  'a real change sets updated_at to now(), on every table');
SELECT results_eq(
  $$SELECT created_at FROM public.ame_customers$$,
  $$VALUES (now())$$,
  '(created_at is left alone)');

-- a real change together with an explicit updated_at: now() wins
CALL pg_temp.backdate();
UPDATE public.ame_visits SET scheduled_date = '2026-03-01', updated_at = '2030-01-01 00:00+00';
SELECT is((SELECT updated_at FROM public.ame_visits), now(),
          'a real change with an explicit updated_at still sets now()');

-- a customer change that exists only after normalization is a change
CALL pg_temp.backdate();
UPDATE public.ame_customers SET phone = '555-1234 x 9';
SELECT results_eq(
  $$SELECT phone, phone_extension, updated_at FROM public.ame_customers$$,
  $$VALUES ('5551234', '9', now())$$,
  'a phone that gains an extension is a change (phone_extension moved)');
CALL pg_temp.backdate();
UPDATE public.ame_customers SET email = 'B@example.com';
SELECT is((SELECT updated_at FROM public.ame_customers), now(),
          'a new email is a change');

-- NULL to value and value to NULL are changes; NULL to NULL is not
CALL pg_temp.backdate();
UPDATE public.ame_customers SET site_name = NULL;
SELECT is((SELECT updated_at FROM public.ame_customers), now(), 'value to NULL is a change');
CALL pg_temp.backdate();
UPDATE public.ame_customers SET site_name = NULL;
SELECT is((SELECT updated_at FROM public.ame_customers), '2020-01-01 00:00+00'::timestamptz,
          'NULL to NULL is no change');
UPDATE public.ame_customers SET site_name = 'Annex';
SELECT is((SELECT updated_at FROM public.ame_customers), now(), 'NULL to value is a change');

-- a value that compares equal but is stored differently is a change
CALL pg_temp.backdate();
UPDATE public.device_inventory SET ip_address = '10.0.0.7/32';
SELECT is((SELECT updated_at FROM public.device_inventory), '2020-01-01 00:00+00'::timestamptz,
          'inet 10.0.0.7 to 10.0.0.7/32 (the same stored value) is no change');
-- (the visit is walked to completed: its duration_hours, derived, is 1.50)
UPDATE public.ame_visit_progress SET is_completed = true, completed_at = now();
UPDATE public.ame_visits SET current_phase = 2;
UPDATE public.ame_visits SET current_phase = 3;
UPDATE public.ame_visits SET current_phase = 4;
UPDATE public.ame_visits SET status = 'completed', completed_at = actual_start_time + interval '90 minutes';
SELECT is((SELECT duration_hours FROM public.ame_visits), 1.50::numeric,
          '(the completed visit''s duration_hours is 1.50)');
CALL pg_temp.backdate();
UPDATE public.ame_visits SET duration_hours = 1.50;
SELECT is((SELECT updated_at FROM public.ame_visits), '2020-01-01 00:00+00'::timestamptz,
          'numeric 1.5 to 1.50 in a numeric(7,2) (same stored value) is no change');
UPDATE public.ame_visit_progress SET notes = 'OK';
SELECT is((SELECT updated_at FROM public.ame_visit_progress), now(),
          'a change of case is a change');

--
-- a large (TOASTed) value: left alone or rewritten with the same value
-- is no change; a different one is
--
CREATE TEMP TABLE big AS
SELECT string_agg(md5(i::text), ' ') AS notes FROM generate_series(1, 2000) AS i;
UPDATE public.ame_visits SET notes = (SELECT notes FROM pg_temp.big);
SELECT isnt_empty(format('SELECT * FROM %s',
                         (SELECT reltoastrelid::regclass FROM pg_class
                          WHERE oid = 'public.ame_visits'::regclass)),
                  'the visit notes are stored out of line, in the TOAST table');
CALL pg_temp.backdate();
UPDATE public.ame_visits SET status = status;
SELECT is((SELECT updated_at FROM public.ame_visits), '2020-01-01 00:00+00'::timestamptz,
          'a TOASTed value left alone is no change');
UPDATE public.ame_visits SET notes = (SELECT notes FROM pg_temp.big);
SELECT is((SELECT updated_at FROM public.ame_visits), '2020-01-01 00:00+00'::timestamptz,
          'a TOASTed value rewritten with the same text is no change');
UPDATE public.ame_visits SET notes = (SELECT notes || '.' FROM pg_temp.big);
SELECT is((SELECT updated_at FROM public.ame_visits), now(),
          'a TOASTed value changed by one character is a change');
CALL pg_temp.backdate();
UPDATE public.ame_visits SET notes = (SELECT left(notes, -1) || ',' FROM public.ame_visits);
SELECT is((SELECT updated_at FROM public.ame_visits), now(),
          'a TOASTed value of the same length with a different last character is a change');

--
-- a dropped column does not confuse the comparison
--
ALTER TABLE public.device_inventory ADD COLUMN scratch int;
ALTER TABLE public.device_inventory DROP COLUMN scratch;
CALL pg_temp.backdate();
UPDATE public.device_inventory SET status = NULL;
SELECT is((SELECT updated_at FROM public.device_inventory), '2020-01-01 00:00+00'::timestamptz,
          'after a dropped column: a no-op keeps updated_at');
UPDATE public.device_inventory SET status = 'online';
SELECT is((SELECT updated_at FROM public.device_inventory), now(),
          'after a dropped column: a change sets now()');

-- and nothing of this moved updated_at on rows that were not updated
CALL pg_temp.backdate();
INSERT INTO public.ame_technicians (name) VALUES ('Other');
UPDATE public.ame_technicians SET phone = '555' WHERE name = 'Other';
SELECT is((SELECT updated_at FROM public.ame_technicians WHERE name = 'Sam'),
          '2020-01-01 00:00+00'::timestamptz,
          'a row the UPDATE did not match keeps its updated_at');

SELECT * FROM finish();
ROLLBACK;
