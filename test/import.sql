--
-- import: ame_import_csv() with an empty search_path (SPEC §7).  Decoy
-- tables named like ame's sit first on the path: the import must write
-- only to the extension's own tables.
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE SCHEMA tap;
CREATE EXTENSION IF NOT EXISTS pgtap SCHEMA tap;
CREATE EXTENSION ame;
SET LOCAL search_path = tap;
CREATE TABLE tap.ame_customers (LIKE public.ame_customers);
CREATE TABLE tap.import_batches (LIKE public.import_batches);
CREATE TABLE tap.import_errors (LIKE public.import_errors);

SELECT plan(16);

SELECT has_function('public', 'ame_import_csv', ARRAY['text', 'text', 'text'], 'ame_import_csv(text) exists');
SELECT has_function('public', 'ame_import_csv_bytes', ARRAY['bytea', 'text', 'text'], 'ame_import_csv_bytes(bytea) exists');
SELECT has_function('public', 'ame_import_csv_file', ARRAY['text', 'text'], 'ame_import_csv_file exists');
SELECT ok(NOT has_function_privilege('public', 'public.ame_import_csv(text, text, text)', 'EXECUTE'),
          'PUBLIC cannot run the text import');
SELECT ok(NOT has_function_privilege('public', 'public.ame_import_csv_file(text, text)', 'EXECUTE'),
          'PUBLIC cannot run the file import');

SELECT throws_ok($$SELECT public.ame_import_csv('a', 'visits')$$, '22023',
                 'invalid import type "visits"', 'a bad import type is 22023');
SELECT throws_ok($$SELECT public.ame_import_csv(NULL::text, 'customers')$$, '22023',
                 'argument "data" must not be null', 'NULL data is 22023');

CREATE TEMP TABLE b AS
SELECT id FROM public.ame_import_csv(E'company_name,service_tier,email\nTap One,core,ONE@X.EXAMPLE\nTap Two,gold,\nTap Three,assure,x@y\n',
                             'customers', 'tap.csv');

SELECT results_eq(
  $$SELECT status, total_records, success_count, error_count FROM public.import_batches WHERE id = (SELECT id FROM b)$$,
  $$VALUES ('completed_with_errors'::text, 3, 2, 1)$$,
  'the batch counts every record');
SELECT results_eq(
  $$SELECT row_number, line_number, sqlstate FROM public.import_errors WHERE batch_id = (SELECT id FROM b)$$,
  $$VALUES (2, 3::bigint, '22023'::text)$$,
  'the bad record is recorded with its row, line and SQLSTATE');
SELECT is((SELECT raw_data FROM public.import_errors WHERE batch_id = (SELECT id FROM b)),
          '{"company_name": "Tap Two", "service_tier": "gold", "email": null}'::jsonb,
          'raw_data holds the fields keyed by header');
SELECT is((SELECT raw_record FROM public.import_errors WHERE batch_id = (SELECT id FROM b)),
          convert_to('Tap Two,gold,', 'UTF8'), 'raw_record holds the exact bytes');
SELECT results_eq(
  $$SELECT company_name, service_tier, email FROM public.ame_customers WHERE company_name LIKE 'Tap%' ORDER BY 1$$,
  $$VALUES ('Tap One'::text, 'CORE'::text, 'one@x.example'::text), ('Tap Three', 'ASSURE', 'x@y')$$,
  'the good records went through the normalization trigger');
SELECT is((SELECT count(*) FROM tap.ame_customers) + (SELECT count(*) FROM tap.import_batches)
          + (SELECT count(*) FROM tap.import_errors), 0::bigint,
          'nothing went to the decoy tables on the search_path');

-- a failed batch: the function returns, the batch says why
CREATE TEMP TABLE f AS
SELECT id FROM public.ame_import_csv(E'company_name\nTap Four\n', 'customers');
SELECT results_eq(
  $$SELECT status, total_records, error_message FROM public.import_batches WHERE id = (SELECT id FROM f)$$,
  $$VALUES ('failed'::text, 0, 'required column "service_tier" is missing from the header'::text)$$,
  'a missing required column fails the batch');
SELECT is((SELECT count(*) FROM public.ame_customers WHERE company_name = 'Tap Four'), 0::bigint,
          'a failed batch imports nothing');

-- the bytea form turns invalid UTF-8 into a row error
CREATE TEMP TABLE y AS
SELECT id FROM public.ame_import_csv_bytes('\x6e616d650a4f6b0a4261ff640a'::bytea, 'technicians');
SELECT results_eq(
  $$SELECT e.sqlstate, e.raw_data->>'name' FROM public.import_errors e WHERE e.batch_id = (SELECT id FROM y)$$,
  $$VALUES ('22021'::text, E'Ba\uFFFDd'::text)$$,
  'invalid UTF-8 is 22021, shown as U+FFFD in raw_data');

SELECT * FROM finish();
ROLLBACK;
