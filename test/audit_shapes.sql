--
-- audit_shapes: the images are to_jsonb() of the row whatever its shape
-- (dropped and generated columns, TOASTed values, JSON and numeric
-- types, NULLs, odd names, other schemas), and changes undone by a
-- savepoint rollback leave no log row (SPEC §5).
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(44);

CREATE VIEW pg_temp.last_log AS
  SELECT * FROM public.ame_audit_logs ORDER BY seq DESC LIMIT 1;

--
-- savepoints: the very first audit write of the transaction is rolled back
--
CREATE TABLE public.audit_sp (id uuid PRIMARY KEY, v int);
SELECT public.ame_enable_audit('public.audit_sp');
SAVEPOINT a;
INSERT INTO public.audit_sp VALUES ('b0000000-0000-0000-0000-000000000001', 1);
ROLLBACK TO SAVEPOINT a;
SELECT is((SELECT count(*) FROM public.ame_audit_logs), 0::bigint,
          'a change rolled back to a savepoint leaves no log row');
INSERT INTO public.audit_sp VALUES ('b0000000-0000-0000-0000-000000000002', 2);
SELECT is((SELECT count(*) FROM public.ame_audit_logs), 1::bigint,
          'the next change after that rollback is logged');
SAVEPOINT b;
UPDATE public.audit_sp SET v = 3;
SAVEPOINT c;
UPDATE public.audit_sp SET v = 4;
ROLLBACK TO SAVEPOINT c;
RELEASE SAVEPOINT b;
SELECT results_eq(
  $$SELECT operation COLLATE "default", new_values ->> 'v' FROM public.ame_audit_logs ORDER BY seq$$,
  $$VALUES ('INSERT', '2'), ('UPDATE', '3')$$,
  'nested savepoints: the released change stays, the rolled-back one is gone');
DO $$
BEGIN
  UPDATE public.audit_sp SET v = 5;
  RAISE EXCEPTION 'undo';
EXCEPTION WHEN raise_exception THEN
  NULL;
END $$;
SELECT results_eq(
  $$SELECT count(*), max(new_values ->> 'v') FROM public.ame_audit_logs$$,
  $$VALUES (2::bigint, '3')$$,
  'a change undone by a PL/pgSQL exception block leaves no log row');
SELECT is((SELECT v FROM public.audit_sp), 3, '(and the row is as the log says)');

--
-- a dropped column before id; columns added and dropped after the first write
--
CREATE TABLE public.audit_drop (junk int, id uuid PRIMARY KEY, a text, b int);
ALTER TABLE public.audit_drop DROP COLUMN junk;
SELECT public.ame_enable_audit('public.audit_drop');
INSERT INTO public.audit_drop VALUES ('b0000000-0000-0000-0000-000000000010', 'x', 1);
SELECT is((SELECT new_values FROM pg_temp.last_log),
          (SELECT to_jsonb(d) FROM public.audit_drop d),
          'a dropped column before id: the image is to_jsonb() of the row');
UPDATE public.audit_drop SET b = 2, a = 'y';
SELECT results_eq(
  $$SELECT record_id, changed_fields FROM pg_temp.last_log$$,
  $$VALUES ('b0000000-0000-0000-0000-000000000010'::uuid, '{a,b}'::text[])$$,
  '... the id is found and changed_fields are in column order');
ALTER TABLE public.audit_drop DROP COLUMN a;
ALTER TABLE public.audit_drop ADD COLUMN c text DEFAULT 'new';
UPDATE public.audit_drop SET b = 3;
SELECT results_eq(
  $$SELECT old_values, new_values, changed_fields FROM pg_temp.last_log$$,
  $$SELECT jsonb_set(to_jsonb(d), '{b}', '2'), to_jsonb(d), '{b}'::text[] FROM public.audit_drop d$$,
  'after a column is dropped and another added, the images follow the new shape');

--
-- a generated column
--
CREATE TABLE public.audit_gen (id uuid PRIMARY KEY, price numeric(10,2), qty int,
                               total numeric GENERATED ALWAYS AS (price * qty) STORED, note text);
SELECT public.ame_enable_audit('public.audit_gen');
INSERT INTO public.audit_gen (id, price, qty) VALUES ('b0000000-0000-0000-0000-000000000020', 2.50, 2);
SELECT is((SELECT new_values FROM pg_temp.last_log), (SELECT to_jsonb(g) FROM public.audit_gen g),
          'a generated column is in the INSERT image');
SELECT is((SELECT new_values ->> 'total' FROM pg_temp.last_log), '5.00',
          '... with its computed value');
UPDATE public.audit_gen SET qty = 3;
SELECT results_eq(
  $$SELECT changed_fields, old_values ->> 'total', new_values ->> 'total' FROM pg_temp.last_log$$,
  $$VALUES ('{qty,total}'::text[], '5.00', '7.50')$$,
  'changing its input: the generated column is among the changed fields, with both values');
UPDATE public.audit_gen SET note = 'n';
SELECT is((SELECT changed_fields FROM pg_temp.last_log), '{note}'::text[],
          'changing another column leaves the generated one out');

--
-- a TOASTed value
--
CREATE TABLE public.audit_toast (id uuid PRIMARY KEY, big text, n int);
ALTER TABLE public.audit_toast ALTER COLUMN big SET STORAGE EXTERNAL;
SELECT public.ame_enable_audit('public.audit_toast');
CREATE TEMP TABLE bigval AS SELECT string_agg(md5(i::text), '') AS v FROM generate_series(1, 400) i;
INSERT INTO public.audit_toast SELECT 'b0000000-0000-0000-0000-000000000030', v, 1 FROM bigval;
SELECT cmp_ok((SELECT pg_relation_size(reltoastrelid) FROM pg_class
               WHERE oid = 'public.audit_toast'::regclass), '>', 0::bigint,
              'the 12800-byte value is stored out of line');
UPDATE public.audit_toast SET n = 2;
SELECT is((SELECT changed_fields FROM pg_temp.last_log), '{n}'::text[],
          'an UPDATE of another column: the TOASTed column is not among the changed fields');
SELECT ok((SELECT old_values ->> 'big' = b.v AND new_values ->> 'big' = b.v FROM pg_temp.last_log, bigval b),
          '... and both images hold its full value');
SELECT is((SELECT new_values FROM pg_temp.last_log), (SELECT to_jsonb(t) FROM public.audit_toast t),
          '... the whole image is to_jsonb() of the row');
CREATE TEMP TABLE n_toast AS SELECT count(*) AS n FROM public.ame_audit_logs;
UPDATE public.audit_toast SET big = big || '';
UPDATE public.audit_toast SET big = (SELECT v FROM bigval);
SELECT is((SELECT count(*) FROM public.ame_audit_logs), (SELECT n FROM n_toast),
          'setting the TOASTed column to an equal value built anew is no change');
UPDATE public.audit_toast SET big = big || 'x';
SELECT results_eq(
  $$SELECT changed_fields, length(old_values ->> 'big'), length(new_values ->> 'big'),
           right(new_values ->> 'big', 1)
    FROM pg_temp.last_log$$,
  $$VALUES ('{big}'::text[], 12800, 12801, 'x')$$,
  'a real change of the TOASTed column is logged with both full values');

--
-- JSON, numeric and other types: as to_jsonb() writes them
--
CREATE TYPE public.audit_mood AS ENUM ('calm', 'busy');
CREATE TYPE public.audit_pair AS (a int, b text);
CREATE DOMAIN public.audit_code AS text CHECK (VALUE <> '');
CREATE TABLE public.audit_types (
  id uuid PRIMARY KEY, j jsonb, js json, num numeric, num_nan numeric, num_inf numeric,
  f8 float8, f4 real, f_nan float8, f_inf float8, i2 smallint, i8 bigint, b bool,
  d date, ts timestamp, tstz timestamptz, tm time, iv interval, ip inet, by bytea,
  arr int[], tarr text[], mood public.audit_mood, pair public.audit_pair, code public.audit_code,
  ch char(4), ref uuid, r int4range);
SELECT public.ame_enable_audit('public.audit_types');
INSERT INTO public.audit_types VALUES (
  'b0000000-0000-0000-0000-000000000040', '{"a": {"b": [1, 2.50, null, true]}, "s": "x\"y"}',
  '{"k": 1, "k": 2, "z": [ ]}', 1.50, 'NaN', 'Infinity', 1.5e300, 0.1, 'NaN', '-Infinity',
  -32768, 9223372036854775807, true, '2024-02-29', '2024-02-29 13:14:15.123456',
  '2024-02-29 13:14:15+05', '23:59:59.5', '1 year 2 days 03:04:05', '10.0.0.0/8', '\x00ff',
  '{1,NULL,3}', '{"a b","c,d"}', 'busy', ROW(1, 'p q'), 'C-1', 'ab',
  'b0000000-0000-0000-0000-0000000000ff', '[1,5)');
SELECT is((SELECT new_values FROM pg_temp.last_log), (SELECT to_jsonb(t) FROM public.audit_types t),
          'a row of many types: new_values = to_jsonb(row)');
SELECT is((SELECT new_values::text FROM pg_temp.last_log), (SELECT to_jsonb(t)::text FROM public.audit_types t),
          '... to the byte (numeric scale, float digits, timestamps, escapes)');
-- the images are written in jsonb's binary layout directly: byte for byte
-- what to_jsonb() writes (a binary-coercible cast shows the bytes), over
-- 56 entries, so past an offset stride, with aligned numbers and containers
CREATE CAST (jsonb AS bytea) WITHOUT FUNCTION;
SELECT is((SELECT new_values::bytea FROM pg_temp.last_log), (SELECT to_jsonb(t)::bytea FROM public.audit_types t),
          '... byte for byte the layout to_jsonb() writes');
SELECT results_eq(
  $$SELECT k, jsonb_typeof(l.new_values -> k) FROM pg_temp.last_log l,
      unnest('{j,js,num,num_nan,f8,f_inf,i8,b,arr,pair,mood,ref}'::text[]) WITH ORDINALITY u(k, o)
    ORDER BY o$$,
  $$VALUES ('j', 'object'), ('js', 'object'), ('num', 'number'), ('num_nan', 'string'),
           ('f8', 'number'), ('f_inf', 'string'), ('i8', 'number'), ('b', 'boolean'),
           ('arr', 'array'), ('pair', 'object'), ('mood', 'string'), ('ref', 'string')$$,
  'jsonb and json as objects, numbers as numbers (NaN and infinities as strings), arrays and composites as JSON');
SELECT results_eq(
  $$SELECT new_values -> 'num', new_values -> 'i8', new_values #> '{j,a,b}' FROM pg_temp.last_log$$,
  $$VALUES ('1.50'::jsonb, '9223372036854775807'::jsonb, '[1, 2.50, null, true]'::jsonb)$$,
  'numbers keep their exact value');
UPDATE public.audit_types SET j = jsonb_set(j, '{a,b,0}', '10'), num = 1.5, arr[2] = 2, ts = NULL;
SELECT results_eq(
  $$SELECT changed_fields, old_values #>> '{j,a,b,0}', new_values #>> '{j,a,b,0}',
           old_values ->> 'num', new_values ->> 'num', new_values -> 'arr'
    FROM pg_temp.last_log$$,
  $$VALUES ('{j,num,ts,arr}'::text[], '1', '10', '1.50', '1.5', '[1, 2, 3]'::jsonb)$$,
  'an UPDATE of jsonb, numeric scale, an array element and a value to NULL: those four columns, in column order');
SELECT is((SELECT new_values FROM pg_temp.last_log), (SELECT to_jsonb(t) FROM public.audit_types t),
          '... new_values = to_jsonb(row) after it');
UPDATE public.audit_types SET ts = '2000-01-01', ip = NULL, ch = NULL;
SELECT results_eq(
  $$SELECT changed_fields, old_values -> 'ts', new_values -> 'ts', old_values ->> 'ip', new_values -> 'ip'
    FROM pg_temp.last_log$$,
  $$VALUES ('{ts,ip,ch}'::text[], 'null'::jsonb, '"2000-01-01T00:00:00"'::jsonb, '10.0.0.0/8', 'null'::jsonb)$$,
  'NULL to a value and a value to NULL are changes, shown as JSON null');
CREATE TEMP TABLE n_types AS SELECT count(*) AS n FROM public.ame_audit_logs;
UPDATE public.audit_types SET ip = NULL, ch = NULL, j = j, pair = ROW(1, 'p q'), r = '[1,4]';
SELECT is((SELECT count(*) FROM public.ame_audit_logs), (SELECT n FROM n_types),
          'NULL to NULL, and values set to equal ones, are no change');

-- jsonb scalars, empty containers, JSON null, a json scalar
CREATE TABLE public.audit_jscalar (id uuid PRIMARY KEY, a jsonb, b jsonb, c jsonb, d jsonb, e jsonb,
                                   f json, g json);
SELECT public.ame_enable_audit('public.audit_jscalar');
INSERT INTO public.audit_jscalar VALUES ('b0000000-0000-0000-0000-000000000041',
  '5', '"str"', 'null', '[]', '{}', '12.50', '"x"');
SELECT is((SELECT new_values::text FROM pg_temp.last_log),
          (SELECT to_jsonb(t)::text FROM public.audit_jscalar t),
          'jsonb scalars, JSON null, empty array and object, json scalars: as to_jsonb() writes them');
SELECT is((SELECT new_values::bytea FROM pg_temp.last_log),
          (SELECT to_jsonb(t)::bytea FROM public.audit_jscalar t),
          '... byte for byte');
UPDATE public.audit_jscalar SET a = '6', c = '{"k": null}';
SELECT results_eq(
  $$SELECT changed_fields, old_values -> 'a', new_values -> 'a', old_values -> 'c', new_values -> 'c'
    FROM pg_temp.last_log$$,
  $$VALUES ('{a,c}'::text[], '5'::jsonb, '6'::jsonb, 'null'::jsonb, '{"k": null}'::jsonb)$$,
  'an UPDATE of jsonb scalars: both images right');

--
-- odd names, a schema that is not on search_path
--
CREATE SCHEMA "Audit ""Side""";
CREATE TABLE "Audit ""Side"""."Odd ""Table""" (id uuid PRIMARY KEY, "Mixed Case" text, "a,b" int, "{x}" bool);
SELECT public.ame_enable_audit('"Audit ""Side"""."Odd ""Table"""');
SELECT has_trigger('Audit "Side"', 'Odd "Table"', 'ame_audit', 'ame_enable_audit takes a regclass with odd quoted names');
INSERT INTO "Audit ""Side"""."Odd ""Table""" VALUES ('b0000000-0000-0000-0000-000000000050', 'v', 1, false);
UPDATE "Audit ""Side"""."Odd ""Table""" SET "Mixed Case" = 'w', "{x}" = true;
SELECT results_eq(
  $$SELECT table_schema COLLATE "default", table_name COLLATE "default", operation COLLATE "default", changed_fields FROM public.ame_audit_logs
    WHERE record_id = 'b0000000-0000-0000-0000-000000000050' ORDER BY seq$$,
  $$VALUES ('Audit "Side"', 'Odd "Table"', 'INSERT', '{}'::text[]),
           ('Audit "Side"', 'Odd "Table"', 'UPDATE', ARRAY['Mixed Case', '{x}'])$$,
  'schema and table names as they are (not quoted), odd column names in changed_fields');
SELECT is((SELECT new_values FROM pg_temp.last_log),
          (SELECT to_jsonb(t) FROM "Audit ""Side"""."Odd ""Table""" t),
          'the image keys are the column names as they are');
SELECT is((SELECT count(*) FROM public.ame_record_history('"Audit ""Side"""."Odd ""Table"""',
                                                        'b0000000-0000-0000-0000-000000000050')),
          2::bigint, 'ame_record_history finds it');
SELECT is(public.ame_record_at('"Audit ""Side"""."Odd ""Table"""', 'b0000000-0000-0000-0000-000000000050', now()),
          (SELECT to_jsonb(t) FROM "Audit ""Side"""."Odd ""Table""" t), 'ame_record_at finds it');
SELECT lives_ok($$SELECT public.ame_disable_audit('"Audit ""Side"""."Odd ""Table"""')$$,
                'ame_disable_audit takes it too');
SELECT hasnt_trigger('Audit "Side"', 'Odd "Table"', 'ame_audit', '... and drops the trigger');

--
-- other statement forms: COPY, INSERT ... ON CONFLICT, MERGE
--
CREATE TABLE public.audit_forms (id uuid PRIMARY KEY, n int, t text);
SELECT public.ame_enable_audit('public.audit_forms');
COPY public.audit_forms FROM STDIN;
b0000000-0000-0000-0000-000000000071	1	one
b0000000-0000-0000-0000-000000000072	2	\N
\.
SELECT results_eq(
  $$SELECT record_id, operation COLLATE "default", new_values FROM public.ame_audit_logs
    WHERE table_name = 'audit_forms' ORDER BY seq$$,
  $$SELECT id, 'INSERT', to_jsonb(f) FROM public.audit_forms f ORDER BY id$$,
  'COPY FROM: one INSERT row per copied row, with its image');
INSERT INTO public.audit_forms VALUES ('b0000000-0000-0000-0000-000000000071', 10, 'one'),
                                      ('b0000000-0000-0000-0000-000000000073', 3, 'three')
ON CONFLICT (id) DO UPDATE SET n = excluded.n;
INSERT INTO public.audit_forms VALUES ('b0000000-0000-0000-0000-000000000072', 20, NULL)
ON CONFLICT (id) DO NOTHING;
MERGE INTO public.audit_forms f
USING (VALUES ('b0000000-0000-0000-0000-000000000072'::uuid, 'two'),
              ('b0000000-0000-0000-0000-000000000073', NULL),
              ('b0000000-0000-0000-0000-000000000074', 'four')) v(id, t)
ON f.id = v.id
WHEN MATCHED AND v.t IS NULL THEN DELETE
WHEN MATCHED THEN UPDATE SET t = v.t
WHEN NOT MATCHED THEN INSERT VALUES (v.id, 4, v.t);
SELECT results_eq(
  $$SELECT right(record_id::text, 2), operation COLLATE "default", changed_fields
    FROM public.ame_audit_logs WHERE table_name = 'audit_forms' ORDER BY seq OFFSET 2$$,
  $$VALUES ('71', 'UPDATE', '{n}'::text[]), ('73', 'INSERT', '{}'),
           ('72', 'UPDATE', '{t}'), ('73', 'DELETE', '{}'), ('74', 'INSERT', '{}')$$,
  'ON CONFLICT DO UPDATE logs an UPDATE, DO NOTHING nothing; MERGE logs each UPDATE, DELETE and INSERT');

--
-- time and timetz: as to_jsonb() writes them (their output functions), with
-- fractional seconds, 24:00:00, whole-hour, minute and second offsets,
-- under every DateStyle
--
CREATE TABLE public.audit_time (id uuid PRIMARY KEY, t time, t3 time(3), tz timetz, tz0 timetz(0), n int);
SELECT public.ame_enable_audit('public.audit_time');
INSERT INTO public.audit_time VALUES
  ('b0000000-0000-0000-0000-000000000081', '13:14:15.123456', '13:14:15.1239', '13:14:15.5+05', '23:59:59.6-03', 1),
  ('b0000000-0000-0000-0000-000000000082', '24:00:00', '00:00:00', '24:00:00+00', '00:00:00+14:59', 1),
  ('b0000000-0000-0000-0000-000000000083', '00:00:00.000001', '12:00', '12:00:00+05:30', '06:07:08-09:30:15', 1),
  ('b0000000-0000-0000-0000-000000000084', NULL, '23:59:59.999', '10:00:00-00:00:01', NULL, 1);
SELECT is((SELECT array_agg(l.record_id ORDER BY l.seq) FROM public.ame_audit_logs l
           JOIN public.audit_time r ON r.id = l.record_id
           WHERE l.new_values::bytea IS DISTINCT FROM to_jsonb(r)::bytea),
          NULL, 'time and timetz: the INSERT images are to_jsonb(row), byte for byte');
SET LOCAL DateStyle = 'SQL, DMY';
UPDATE public.audit_time SET n = 2;
SET LOCAL DateStyle = 'Postgres, MDY';
UPDATE public.audit_time SET n = 3;
SET LOCAL DateStyle = 'German';
UPDATE public.audit_time SET n = 4;
SELECT is((SELECT count(*) FROM public.ame_audit_logs l
           WHERE l.table_name = 'audit_time' AND l.operation = 'UPDATE'), 12::bigint,
          '... three UPDATEs of four rows under three DateStyles logged');
SELECT is((SELECT array_agg(l.record_id ORDER BY l.seq) FROM public.ame_audit_logs l
           JOIN public.audit_time r ON r.id = l.record_id
           WHERE l.operation = 'UPDATE'
             AND l.new_values::bytea IS DISTINCT FROM
                 (to_jsonb(r) || jsonb_build_object('n', l.new_values -> 'n'))::bytea),
          NULL, '... under DateStyle SQL, Postgres and German too (time output does not depend on it)');
RESET DateStyle;

--
-- timestamptz images follow the session's TimeZone, as to_jsonb() does
--
CREATE TABLE public.audit_tz (id uuid PRIMARY KEY, ts timestamptz, n int);
SELECT public.ame_enable_audit('public.audit_tz');
SET LOCAL TimeZone = 'UTC';
INSERT INTO public.audit_tz VALUES ('b0000000-0000-0000-0000-000000000060', '2024-01-01 00:00+00', 1);
SELECT is((SELECT new_values ->> 'ts' FROM pg_temp.last_log), '2024-01-01T00:00:00+00:00',
          'under TimeZone UTC: +00:00');
SET LOCAL TimeZone = 'Asia/Tokyo';
UPDATE public.audit_tz SET n = 2;
SELECT results_eq(
  $$SELECT old_values ->> 'ts', new_values ->> 'ts' FROM pg_temp.last_log$$,
  $$VALUES ('2024-01-01T09:00:00+09:00', '2024-01-01T09:00:00+09:00')$$,
  'the same value written under TimeZone Asia/Tokyo: +09:00, as to_jsonb() writes it now');
RESET TimeZone;

SELECT * FROM finish();
ROLLBACK;
