--
-- collation: the rows of ame's tables compare with plain text values as a
-- user writes them (SPEC §12).  A column of another collation than the
-- database's makes a record comparison such as pgTAP's results_eq fail
-- with "could not determine which collation to use for string
-- comparison"; until 2.0, ame_customers.customer_number and the audit
-- log's table_schema, table_name and operation were COLLATE "C".
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(12);

-- no text column of ame's tables and views has a collation of its own,
-- on the log's partitions neither (the default one and the monthly ones)
SELECT is_empty(
  $$SELECT c.relname || '.' || a.attname || ' ' || a.attcollation::regcollation::text
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE c.relnamespace = 'public'::regnamespace
      AND c.relkind IN ('r', 'p', 'v')
      AND (c.relname LIKE 'ame%' OR c.relname IN ('device_inventory', 'import_batches',
             'import_errors', 'system_maintenance_log', 'technician_performance',
             'service_tier_metrics', 'service_level_visits', 'service_level_metrics',
             'service_level_metrics_monthly'))
      AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attcollation <> 0 AND a.attcollation <> 'pg_catalog.default'::regcollation$$,
  'every text column of ame''s tables, views and log partitions has the database''s default collation');
SELECT cmp_ok((SELECT count(*) FROM pg_inherits
               WHERE inhparent = 'public.ame_audit_logs'::regclass), '>=', 2::bigint,
              'the log has its default partition and monthly ones (checked above)');

INSERT INTO public.ame_customers (id, company_name, service_tier)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Northwind Plant', 'core'),
       ('c0000000-0000-0000-0000-000000000002', 'Southwind Depot', 'ASSURE');
UPDATE public.ame_customers SET site_name = 'North gate'
WHERE id = 'c0000000-0000-0000-0000-000000000001';

-- the customers' rows, customer number included, against plain VALUES
SELECT results_eq(
  $$SELECT customer_number, company_name, service_tier FROM public.ame_customers
    ORDER BY customer_number$$,
  $$VALUES ('AME-000001', 'Northwind Plant', 'CORE'),
           ('AME-000002', 'Southwind Depot', 'ASSURE')$$,
  'ame_customers rows compare with plain text values (results_eq)');
SELECT results_eq(
  $$SELECT * FROM public.ame_customers WHERE customer_number = 'AME-000002'$$,
  $$SELECT 'c0000000-0000-0000-0000-000000000002'::uuid, 'AME-000002', 'Southwind Depot',
           NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
           'ASSURE', NULL::text, NULL::date, NULL::date, created_at, updated_at
    FROM public.ame_customers WHERE id = 'c0000000-0000-0000-0000-000000000002'$$,
  'a whole ame_customers row compares with a row of plain values');
SELECT set_eq(
  $$SELECT customer_number FROM public.ame_customers$$,
  ARRAY['AME-000001', 'AME-000002'],
  'customer numbers compare with a text array (set_eq)');

-- the audit log's rows against plain VALUES
SELECT results_eq(
  $$SELECT table_schema, table_name, operation, changed_fields
    FROM public.ame_audit_logs ORDER BY seq$$,
  $$VALUES ('public', 'ame_customers', 'INSERT', '{}'::text[]),
           ('public', 'ame_customers', 'INSERT', '{}'),
           ('public', 'ame_customers', 'UPDATE', '{site_name}')$$,
  'ame_audit_logs rows compare with plain text values (results_eq)');
SELECT results_eq(
  $$SELECT operation, count(*) FROM public.ame_audit_logs
    GROUP BY operation ORDER BY operation$$,
  $$VALUES ('INSERT', 2::bigint), ('UPDATE', 1::bigint)$$,
  'audit operations group and sort as plain text');
-- and a record's history as a row type
SELECT results_eq(
  $$SELECT operation, changed_fields FROM public.ame_record_history(
      'public.ame_customers', 'c0000000-0000-0000-0000-000000000001')$$,
  $$VALUES ('INSERT', '{}'::text[]), ('UPDATE', '{site_name}')$$,
  'a record''s history compares with plain text values');

-- the audited tables' view too
SELECT results_eq(
  $$SELECT table_schema, table_name, excluded_columns, trigger_name, trigger_state
    FROM public.ame_audited_tables WHERE table_name = 'ame_customers'$$,
  $$VALUES ('public', 'ame_customers', '{}'::text[], 'ame_audit', 'enabled')$$,
  'ame_audited_tables rows compare with plain text values');

-- a month dumped before 2.0 (its text columns COLLATE "C") is restored
-- as a table of that name, then attached: it takes the log's collation
CREATE TABLE public.ame_audit_logs_y2040m01 (LIKE public.ame_audit_logs INCLUDING ALL);
ALTER TABLE public.ame_audit_logs_y2040m01
  ALTER COLUMN table_schema TYPE text COLLATE "C";
CREATE TABLE public.ame_audit_logs_y2040m02 (
  id uuid NOT NULL, table_schema text COLLATE "C" NOT NULL, table_name text COLLATE "C" NOT NULL,
  record_id uuid NOT NULL, operation text COLLATE "C" NOT NULL, old_values jsonb, new_values jsonb,
  changed_fields text[] NOT NULL DEFAULT '{}', user_id uuid, performed_at timestamptz NOT NULL,
  seq bigint NOT NULL, context jsonb,
  CONSTRAINT valid_audit_operation CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'REDACT')));
SELECT lives_ok(
  $$ALTER TABLE public.ame_audit_logs ATTACH PARTITION public.ame_audit_logs_y2040m02
      FOR VALUES FROM ('2040-02-01 00:00+00') TO ('2040-03-01 00:00+00')$$,
  'a month made as before 2.0 (COLLATE "C") attaches to the log');
-- only a table made under such a name gets it: a later ALTER stays
SELECT is((SELECT attcollation::regcollation::text FROM pg_attribute
           WHERE attrelid = 'public.ame_audit_logs_y2040m01'::regclass AND attname = 'table_schema'),
          '"C"', 'a collation set later by ALTER TABLE is left alone');

-- an equality lookup by customer number, as a user writes it, can use
-- the unique index (an index of another collation could not serve it)
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  line text;
  plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    plan := plan || line || E'\n';
  END LOOP;
  RETURN plan;
END
$f$;
SET LOCAL enable_seqscan = off;
SELECT matches(pg_temp.plan_of($$SELECT id FROM public.ame_customers WHERE customer_number = 'AME-000002'$$),
               'Index.*ame_customers_customer_number_key',
               'customer_number = <text> is answered by ame_customers_customer_number_key');
RESET enable_seqscan;

SELECT * FROM finish();
ROLLBACK;
