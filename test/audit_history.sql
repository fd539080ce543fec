--
-- audit_history: ame_record_history(regclass, uuid) and
-- ame_record_at(regclass, uuid, timestamptz) (SPEC §5).  Changes made
-- here all carry performed_at = now(); a history spread over years is
-- INSERTed into the log by hand (the log is append-only, not insert-only
-- for its owner).
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(28);

SELECT is(pg_get_function_result('public.ame_record_history(regclass, uuid)'::regprocedure),
          'TABLE(seq bigint, operation text, changed_fields text[], old_values jsonb, new_values jsonb, user_id uuid, performed_at timestamp with time zone, context jsonb)',
          'ame_record_history returns the columns SPEC §5 names');
SELECT is(pg_get_function_result('public.ame_record_at(regclass, uuid, timestamptz)'::regprocedure),
          'jsonb', 'ame_record_at returns jsonb');
SELECT ok(has_function_privilege('public', 'public.ame_record_history(regclass, uuid)', 'EXECUTE')
          AND has_function_privilege('public', 'public.ame_record_at(regclass, uuid, timestamptz)', 'EXECUTE')
          AND (SELECT bool_and(NOT prosecdef) FROM pg_proc
               WHERE oid IN ('public.ame_record_history(regclass, uuid)'::regprocedure,
                             'public.ame_record_at(regclass, uuid, timestamptz)'::regprocedure)),
          'both are callable by PUBLIC and run with the caller''s rights (not SECURITY DEFINER)');

--
-- one record's life in this transaction
--
SET LOCAL request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}';
INSERT INTO public.ame_technicians (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'Ann');
INSERT INTO public.ame_technicians (id, name) VALUES ('a0000000-0000-0000-0000-000000000099', 'Other');
SELECT is(public.ame_record_at('public.ame_technicians', 'a0000000-0000-0000-0000-000000000001',
                               now() - interval '1 microsecond'),
          NULL, 'ame_record_at before the record existed: NULL');
UPDATE public.ame_technicians SET email = 'ann@example.com' WHERE name = 'Ann';
UPDATE public.ame_technicians SET phone = '555', is_active = false WHERE name = 'Ann';
SELECT is(public.ame_record_at('public.ame_technicians', 'a0000000-0000-0000-0000-000000000001', now()),
          (SELECT to_jsonb(t) FROM public.ame_technicians t WHERE name = 'Ann'),
          'ame_record_at(now()) is the live row');
SELECT results_eq(
  $$SELECT seq, operation, changed_fields, old_values, new_values, user_id, performed_at, context
    FROM public.ame_record_history('public.ame_technicians', 'a0000000-0000-0000-0000-000000000001')$$,
  $$SELECT seq, operation COLLATE "default", changed_fields, old_values, new_values, user_id, performed_at, context
    FROM public.ame_audit_logs WHERE record_id = 'a0000000-0000-0000-0000-000000000001' ORDER BY seq$$,
  'ame_record_history lists the record''s log rows, every column, in seq order');
SELECT results_eq(
  $$SELECT operation, changed_fields
    FROM public.ame_record_history('public.ame_technicians', 'a0000000-0000-0000-0000-000000000001')$$,
  $$VALUES ('INSERT', '{}'::text[]), ('UPDATE', '{email}'), ('UPDATE', '{phone,is_active}')$$,
  '... three of them, not the other record''s');
SELECT is((SELECT bool_and(h.old_values = p.new_values) FROM
             (SELECT seq, old_values, lag(seq) OVER (ORDER BY seq) AS prev
              FROM public.ame_record_history('public.ame_technicians', 'a0000000-0000-0000-0000-000000000001')) h
           JOIN public.ame_audit_logs p ON p.seq = h.prev),
          true, 'each change''s old_values are the previous change''s new_values');

-- the id changes: the new id's history goes back through the old one
UPDATE public.ame_technicians SET id = 'a0000000-0000-0000-0000-000000000002' WHERE name = 'Ann';
UPDATE public.ame_technicians SET name = 'Ann B' WHERE name = 'Ann';
SELECT results_eq(
  $$SELECT operation, changed_fields, new_values ->> 'id'
    FROM public.ame_record_history('public.ame_technicians', 'a0000000-0000-0000-0000-000000000002')$$,
  $$VALUES ('INSERT', '{}'::text[], 'a0000000-0000-0000-0000-000000000001'),
           ('UPDATE', '{email}', 'a0000000-0000-0000-0000-000000000001'),
           ('UPDATE', '{phone,is_active}', 'a0000000-0000-0000-0000-000000000001'),
           ('UPDATE', '{id}', 'a0000000-0000-0000-0000-000000000002'),
           ('UPDATE', '{name}', 'a0000000-0000-0000-0000-000000000002')$$,
  'after an id change, the new id''s history includes the changes made under the old id, in order');
SELECT results_eq(
  $$SELECT operation, changed_fields
    FROM public.ame_record_history('public.ame_technicians', 'a0000000-0000-0000-0000-000000000001')$$,
  $$VALUES ('INSERT', '{}'::text[]), ('UPDATE', '{email}'), ('UPDATE', '{phone,is_active}')$$,
  'the old id''s history ends before the id changed');
SELECT is(public.ame_record_at('public.ame_technicians', 'a0000000-0000-0000-0000-000000000002', now()),
          (SELECT to_jsonb(t) FROM public.ame_technicians t WHERE name = 'Ann B'),
          'ame_record_at(now()) under the new id is the live row');
-- a second id change, in a chain
UPDATE public.ame_technicians SET id = 'a0000000-0000-0000-0000-000000000003', email = NULL WHERE name = 'Ann B';
SELECT is((SELECT count(*) FROM public.ame_record_history('public.ame_technicians', 'a0000000-0000-0000-0000-000000000003')),
          6::bigint, 'two id changes: the history follows both');
SELECT is((SELECT array_agg(seq ORDER BY seq) = array_agg(seq) FROM
             public.ame_record_history('public.ame_technicians', 'a0000000-0000-0000-0000-000000000003')),
          true, '... still in seq order');

DELETE FROM public.ame_technicians WHERE name = 'Ann B';
SELECT is(public.ame_record_at('public.ame_technicians', 'a0000000-0000-0000-0000-000000000003', now()),
          NULL, 'ame_record_at after the deletion: NULL');
SELECT is((SELECT operation FROM public.ame_record_history('public.ame_technicians', 'a0000000-0000-0000-0000-000000000003')
           ORDER BY seq DESC LIMIT 1),
          'DELETE', 'the deletion is the last entry of the history');
SELECT is((SELECT count(*) FROM public.ame_record_history('public.ame_technicians', gen_random_uuid())),
          0::bigint, 'an unknown id has no history');
SELECT is((SELECT count(*) FROM public.ame_record_history('public.ame_customers', 'a0000000-0000-0000-0000-000000000099')),
          0::bigint, 'the history is per table: the id under another table has none');

--
-- as of a time: a history written over three years
--
INSERT INTO public.ame_audit_logs
  (table_schema, table_name, record_id, operation, old_values, new_values, changed_fields, performed_at)
VALUES
  ('public', 'ame_technicians', 'a0000000-0000-0000-0000-0000000000a1', 'INSERT',
   NULL, '{"id": "a0000000-0000-0000-0000-0000000000a1", "name": "Old"}', '{}', '2020-01-01 00:00+00'),
  ('public', 'ame_technicians', 'a0000000-0000-0000-0000-0000000000a1', 'UPDATE',
   '{"id": "a0000000-0000-0000-0000-0000000000a1", "name": "Old"}',
   '{"id": "a0000000-0000-0000-0000-0000000000a1", "name": "Older"}', '{name}', '2021-01-01 00:00+00'),
  ('public', 'ame_technicians', 'a0000000-0000-0000-0000-0000000000a1', 'DELETE',
   '{"id": "a0000000-0000-0000-0000-0000000000a1", "name": "Older"}', NULL, '{}', '2022-01-01 00:00+00');
CREATE FUNCTION pg_temp.at(ts timestamptz) RETURNS jsonb LANGUAGE sql AS
  $$SELECT public.ame_record_at('public.ame_technicians', 'a0000000-0000-0000-0000-0000000000a1', ts)$$;
SELECT is(pg_temp.at('2019-12-31 23:59:59+00'), NULL, 'before the INSERT: NULL');
SELECT is(pg_temp.at('2020-01-01 00:00+00'), '{"id": "a0000000-0000-0000-0000-0000000000a1", "name": "Old"}'::jsonb,
          'at the instant of the INSERT: the inserted row');
SELECT is(pg_temp.at('2020-06-30 12:00+00'), '{"id": "a0000000-0000-0000-0000-0000000000a1", "name": "Old"}'::jsonb,
          'between INSERT and UPDATE: the inserted row');
SELECT is(pg_temp.at('2021-06-30 12:00+00'), '{"id": "a0000000-0000-0000-0000-0000000000a1", "name": "Older"}'::jsonb,
          'after the UPDATE: the updated row');
SELECT is(pg_temp.at('2022-01-01 00:00+00'), NULL, 'at the DELETE: NULL');
SELECT is(pg_temp.at(now()), NULL, 'long after the DELETE: NULL');

--
-- history is kept by schema and table name
--
CREATE SCHEMA audit_h1;
CREATE SCHEMA audit_h2;
CREATE TABLE audit_h1.t (id uuid PRIMARY KEY, v int);
CREATE TABLE audit_h2.t (id uuid PRIMARY KEY, v int);
SELECT public.ame_enable_audit('audit_h1.t');
SELECT public.ame_enable_audit('audit_h2.t');
INSERT INTO audit_h1.t VALUES ('b0000000-0000-0000-0000-000000000001', 1);
INSERT INTO audit_h2.t VALUES ('b0000000-0000-0000-0000-000000000001', 2);
UPDATE audit_h2.t SET v = 3;
SELECT results_eq(
  $$SELECT operation, new_values ->> 'v' FROM public.ame_record_history('audit_h1.t', 'b0000000-0000-0000-0000-000000000001')$$,
  $$VALUES ('INSERT', '1')$$,
  'the same id in a same-named table of another schema is another history');
ALTER TABLE audit_h2.t RENAME TO t2;
UPDATE audit_h2.t2 SET v = 4;
SELECT results_eq(
  $$SELECT operation, new_values ->> 'v' FROM public.ame_record_history('audit_h2.t2', 'b0000000-0000-0000-0000-000000000001')$$,
  $$VALUES ('UPDATE', '4')$$,
  'after a rename the table''s history starts anew under the new name (documented)');
SELECT is((SELECT count(*) FROM public.ame_audit_logs WHERE table_schema = 'audit_h2' AND table_name = 't'),
          2::bigint, '... the earlier history stays under the old name');

--
-- known problems
--
CREATE TABLE public.audit_swap (id uuid PRIMARY KEY, v text);
SELECT public.ame_enable_audit('public.audit_swap');
INSERT INTO public.audit_swap VALUES ('b0000000-0000-0000-0000-00000000000a', 'one');
UPDATE public.audit_swap SET id = 'b0000000-0000-0000-0000-00000000000b';
UPDATE public.audit_swap SET id = 'b0000000-0000-0000-0000-00000000000a';
SELECT results_eq(
  $$SELECT operation, changed_fields, new_values ->> 'id'
    FROM public.ame_record_history('public.audit_swap', 'b0000000-0000-0000-0000-00000000000a')$$,
  $$VALUES ('INSERT', '{}'::text[], 'b0000000-0000-0000-0000-00000000000a'),
           ('UPDATE', '{id}', 'b0000000-0000-0000-0000-00000000000b'),
           ('UPDATE', '{id}', 'b0000000-0000-0000-0000-00000000000a')$$,
  'an id that changes and changes back: every change once');

CREATE TABLE public.audit_parted (id uuid NOT NULL, k int, v text) PARTITION BY LIST (k);
CREATE TABLE public.audit_parted_1 PARTITION OF public.audit_parted FOR VALUES IN (1);
SELECT public.ame_enable_audit('public.audit_parted');
INSERT INTO public.audit_parted VALUES ('b0000000-0000-0000-0000-0000000000c1', 1, 'p');
SELECT is((SELECT count(*) FROM public.ame_record_history('public.audit_parted', 'b0000000-0000-0000-0000-0000000000c1')),
          1::bigint, 'the history of a row of an audited partitioned table, asked for by that table');

SELECT * FROM finish();
ROLLBACK;
