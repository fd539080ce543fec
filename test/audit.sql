--
-- audit: what one ame_audit_logs row holds (SPEC §5), where auditing is on
-- by default, and ame_enable_audit() / ame_disable_audit().
-- Every row is written in this transaction, so performed_at is now() for
-- all of them and seq is what orders them.
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(77);

--
-- on by default
--
SELECT has_trigger('public', 'ame_customers', 'ame_audit', 'ame_customers is audited');
SELECT has_trigger('public', 'ame_technicians', 'ame_audit', 'ame_technicians is audited');
SELECT has_trigger('public', 'ame_visits', 'ame_audit', 'ame_visits is audited');
SELECT has_trigger('public', 'ame_visit_progress', 'ame_audit', 'ame_visit_progress is audited');
SELECT has_trigger('public', 'device_inventory', 'ame_audit', 'device_inventory is audited');
-- tgtype 29 = ROW (1) | INSERT (4) | DELETE (8) | UPDATE (16), AFTER; 'O' = enabled
SELECT results_eq(
  $$SELECT c.relname::text COLLATE "default", t.tgname::text COLLATE "default", t.tgtype::int, t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE t.tgfoid = 'public.audit_trigger_function()'::regprocedure
    ORDER BY 1$$,
  $$VALUES ('ame_customers', 'ame_audit', 29, 'O'), ('ame_technicians', 'ame_audit', 29, 'O'),
           ('ame_visit_progress', 'ame_audit', 29, 'O'), ('ame_visits', 'ame_audit', 29, 'O'),
           ('device_inventory', 'ame_audit', 29, 'O')$$,
  'exactly those five tables carry ame_audit: AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW');
SELECT is((SELECT count(*) FROM public.ame_audit_logs), 0::bigint,
          'a fresh install has an empty log');

--
-- one row per changed row, every column
--
SET LOCAL request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "role": "authenticated"}';
SET LOCAL application_name = 'ame_tap_audit';
SET LOCAL ame.audit_context = '{"request_id": "r-1", "hops": [1, 2]}';

INSERT INTO public.ame_customers (id, company_name, service_tier, email)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Audit Co', 'core', 'Ops@Audit.Example');
CREATE TEMP TABLE snap (step int, img jsonb);
INSERT INTO snap SELECT 1, to_jsonb(c) FROM public.ame_customers c;

UPDATE public.ame_customers SET phone = '555-123-4567 x12', email = 'desk@audit.example';
INSERT INTO snap SELECT 2, to_jsonb(c) FROM public.ame_customers c;

DELETE FROM public.ame_customers;

SELECT results_eq(
  $$SELECT table_schema COLLATE "default", table_name COLLATE "default", record_id, operation COLLATE "default", changed_fields
    FROM public.ame_audit_logs ORDER BY seq$$,
  $$VALUES ('public', 'ame_customers', 'c0000000-0000-0000-0000-000000000001'::uuid, 'INSERT', '{}'::text[]),
           ('public', 'ame_customers', 'c0000000-0000-0000-0000-000000000001', 'UPDATE',
            '{phone,phone_extension,email}'),
           ('public', 'ame_customers', 'c0000000-0000-0000-0000-000000000001', 'DELETE', '{}')$$,
  'INSERT, UPDATE, DELETE: one row each, in seq order; changed_fields in column order (normalization included), {} for INSERT and DELETE');
SELECT is((SELECT new_values FROM public.ame_audit_logs WHERE operation = 'INSERT'),
          (SELECT img FROM snap WHERE step = 1),
          'INSERT: new_values is to_jsonb() of the inserted row');
SELECT is((SELECT old_values FROM public.ame_audit_logs WHERE operation = 'INSERT'), NULL,
          'INSERT: old_values is NULL');
SELECT is((SELECT old_values FROM public.ame_audit_logs WHERE operation = 'UPDATE'),
          (SELECT img FROM snap WHERE step = 1),
          'UPDATE: old_values is to_jsonb() of the row before');
SELECT is((SELECT new_values FROM public.ame_audit_logs WHERE operation = 'UPDATE'),
          (SELECT img FROM snap WHERE step = 2),
          'UPDATE: new_values is to_jsonb() of the row after');
SELECT is((SELECT old_values FROM public.ame_audit_logs WHERE operation = 'DELETE'),
          (SELECT img FROM snap WHERE step = 2),
          'DELETE: old_values is to_jsonb() of the deleted row');
SELECT is((SELECT new_values FROM public.ame_audit_logs WHERE operation = 'DELETE'), NULL,
          'DELETE: new_values is NULL');
SELECT is((SELECT new_values::text FROM public.ame_audit_logs WHERE operation = 'UPDATE'),
          (SELECT img::text FROM snap WHERE step = 2),
          'the images are byte for byte what to_jsonb() writes (timestamps and dates included)');
SELECT is((SELECT array_agg(DISTINCT user_id) FROM public.ame_audit_logs),
          '{9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b}'::uuid[],
          'user_id is the sub of request.jwt.claims');
SELECT is((SELECT count(*) FROM public.ame_audit_logs WHERE performed_at = now()), 3::bigint,
          'performed_at is the transaction''s timestamp, now()');
SELECT is((SELECT count(DISTINCT id) FROM public.ame_audit_logs), 3::bigint,
          'each log row has its own id');

-- the context
SELECT is((SELECT context -> 'txid' FROM public.ame_audit_logs WHERE operation = 'INSERT'),
          to_jsonb(txid_current()), 'context.txid is the transaction id (a JSON number)');
SELECT is((SELECT (context ->> 'txid')::xid8 FROM public.ame_audit_logs WHERE operation = 'DELETE'),
          pg_current_xact_id(), 'context.txid is pg_current_xact_id()');
SELECT is((SELECT context ->> 'application_name' FROM public.ame_audit_logs WHERE operation = 'INSERT'),
          'ame_tap_audit', 'context.application_name');
SELECT is((SELECT context ->> 'current_user' FROM public.ame_audit_logs WHERE operation = 'INSERT'),
          current_user::text, 'context.current_user');
SELECT is((SELECT context ->> 'session_user' FROM public.ame_audit_logs WHERE operation = 'INSERT'),
          session_user::text, 'context.session_user');
SELECT is((SELECT context -> 'client_addr' FROM public.ame_audit_logs WHERE operation = 'INSERT'),
          coalesce(to_jsonb(inet_client_addr()), 'null'::jsonb),
          'context.client_addr is inet_client_addr() (JSON null over a Unix socket)');
SELECT is((SELECT context -> 'audit_context' FROM public.ame_audit_logs WHERE operation = 'INSERT'),
          '{"request_id": "r-1", "hops": [1, 2]}'::jsonb,
          'context.audit_context holds the JSON of ame.audit_context, as JSON');
SELECT is((SELECT array_agg(k ORDER BY k) FROM public.ame_audit_logs l, jsonb_object_keys(l.context) k
           WHERE l.operation = 'INSERT'),
          '{application_name,audit_context,client_addr,current_user,session_user,txid}'::text[],
          'with a valid claim, the context has exactly these keys (no invalid_claim)');

-- ame.audit_context that is not JSON: a string, never an error
SET LOCAL ame.audit_context = 'ticket 42 {not json';
INSERT INTO public.ame_technicians (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'Tess');
SELECT is((SELECT context -> 'audit_context' FROM public.ame_audit_logs
           WHERE record_id = 'a0000000-0000-0000-0000-000000000001'),
          to_jsonb('ticket 42 {not json'::text),
          'an ame.audit_context that is not valid JSON is kept as a JSON string');
SET LOCAL ame.audit_context = '';
UPDATE public.ame_technicians SET email = 'tess@example.com';
SELECT is((SELECT context ? 'audit_context' FROM public.ame_audit_logs
           WHERE record_id = 'a0000000-0000-0000-0000-000000000001' AND operation = 'UPDATE'),
          false, 'an empty ame.audit_context adds no key');
SET LOCAL ame.audit_context = '[1, "two"]';
UPDATE public.ame_technicians SET phone = '555';
SELECT is((SELECT context -> 'audit_context' FROM public.ame_audit_logs
           WHERE record_id = 'a0000000-0000-0000-0000-000000000001' AND changed_fields = '{phone}'),
          '[1, "two"]'::jsonb, 'a JSON array in ame.audit_context is kept as JSON too');
RESET ame.audit_context;

-- the top-level transaction id, also inside a savepoint
SAVEPOINT sp;
UPDATE public.ame_technicians SET name = 'Tess B';
SELECT is((SELECT context -> 'txid' FROM public.ame_audit_logs
           WHERE record_id = 'a0000000-0000-0000-0000-000000000001' AND changed_fields = '{name}'),
          to_jsonb(txid_current()),
          'inside a savepoint, context.txid is still the top-level transaction id');
RELEASE SAVEPOINT sp;

--
-- an UPDATE that changes nothing writes nothing
--
CREATE TEMP TABLE n0 AS SELECT count(*) AS n FROM public.ame_audit_logs;
UPDATE public.ame_technicians SET name = name, email = email, is_active = true;
UPDATE public.ame_technicians SET email = 'tess@example.com', phone = '555', user_id = NULL;
SELECT is((SELECT count(*) FROM public.ame_audit_logs), (SELECT n FROM n0),
          'UPDATEs that set every column to its own value write no audit row');
UPDATE public.ame_technicians SET user_id = NULL, phone = NULL;
SELECT results_eq(
  $$SELECT changed_fields, old_values ->> 'phone', new_values -> 'phone'
    FROM public.ame_audit_logs WHERE seq = (SELECT max(seq) FROM public.ame_audit_logs)$$,
  $$VALUES ('{phone}'::text[], '555', 'null'::jsonb)$$,
  'an UPDATE that changes one column of two lists only that one (value to NULL)');

--
-- an UPDATE that changes the id
--
UPDATE public.ame_technicians SET id = 'a0000000-0000-0000-0000-000000000002';
SELECT results_eq(
  $$SELECT record_id, changed_fields, old_values ->> 'id', new_values ->> 'id'
    FROM public.ame_audit_logs WHERE seq = (SELECT max(seq) FROM public.ame_audit_logs)$$,
  $$VALUES ('a0000000-0000-0000-0000-000000000002'::uuid, '{id}'::text[],
            'a0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000002')$$,
  'an UPDATE of the id: record_id is the new id, the old one is in old_values');

--
-- several rows in one statement: one log row each, consecutive seq
--
INSERT INTO public.ame_technicians (id, name)
SELECT ('a1000000-0000-0000-0000-00000000000' || i)::uuid, 'Tech ' || i FROM generate_series(1, 4) i;
SELECT results_eq(
  $$SELECT record_id, new_values ->> 'name' FROM public.ame_audit_logs
    WHERE seq > (SELECT max(seq) - 4 FROM public.ame_audit_logs) ORDER BY seq$$,
  $$SELECT ('a1000000-0000-0000-0000-00000000000' || i)::uuid, 'Tech ' || i FROM generate_series(1, 4) i$$,
  'a four-row INSERT writes four rows, with the last four seq values, in row order');
UPDATE public.ame_technicians SET is_active = false WHERE name LIKE 'Tech %';
SELECT is((SELECT count(*) FROM public.ame_audit_logs
           WHERE operation = 'UPDATE' AND changed_fields = '{is_active}'), 4::bigint,
          'a four-row UPDATE writes four rows');
SELECT ok((SELECT bool_and(seq > prev) FROM
             (SELECT seq, lag(seq) OVER (ORDER BY seq) AS prev FROM public.ame_audit_logs) s
           WHERE prev IS NOT NULL)
          AND (SELECT count(DISTINCT seq) = count(*) FROM public.ame_audit_logs),
          'seq values are distinct within the transaction');
SELECT is((SELECT count(*) FROM public.ame_audit_logs WHERE performed_at <> now()), 0::bigint,
          'every row of every statement carries the same performed_at');

-- the other audited tables log too
INSERT INTO public.ame_customers (id, company_name, service_tier)
VALUES ('c0000000-0000-0000-0000-000000000002', 'Visit Co', 'ASSURE');
INSERT INTO public.ame_visits (id, customer_id)
VALUES ('d0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000002');
INSERT INTO public.ame_visit_progress (id, visit_id, phase, task_name)
VALUES ('e0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 1, 'Walk');
INSERT INTO public.device_inventory (id, customer_id, visit_id, device_name, ip_address)
VALUES ('f0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000002',
        'd0000000-0000-0000-0000-000000000001', 'VAV-1', '10.0.0.7');
SELECT results_eq(
  $$SELECT l.table_name COLLATE "default", l.new_values = x.img
    FROM public.ame_audit_logs l
    JOIN (SELECT 'ame_visits' AS t, id, to_jsonb(v) AS img FROM public.ame_visits v
          UNION ALL SELECT 'ame_visit_progress', id, to_jsonb(p) FROM public.ame_visit_progress p
          UNION ALL SELECT 'device_inventory', id, to_jsonb(d) FROM public.device_inventory d) x
      ON x.t = l.table_name AND x.id = l.record_id
    ORDER BY l.seq$$,
  $$VALUES ('ame_visits', true), ('ame_visit_progress', true), ('device_inventory', true)$$,
  'visits, visit progress and devices are logged with their whole row');
-- ON DELETE SET NULL of device_inventory.visit_id is an UPDATE of the device
DELETE FROM public.ame_visits;
SELECT results_eq(
  $$SELECT table_name COLLATE "default", operation COLLATE "default", changed_fields FROM public.ame_audit_logs
    WHERE seq > (SELECT max(seq) FROM public.ame_audit_logs WHERE table_name = 'device_inventory'
                 AND operation = 'INSERT')
    ORDER BY table_name$$,
  $$VALUES ('ame_visit_progress', 'DELETE', '{}'::text[]), ('ame_visits', 'DELETE', '{}'),
           ('device_inventory', 'UPDATE', '{visit_id}')$$,
  'changes made by foreign-key actions (cascade, set null) are logged too');

--
-- ame_enable_audit / ame_disable_audit
--
CREATE TABLE public.audit_widget (id uuid PRIMARY KEY, name text);
SELECT lives_ok($$SELECT public.ame_enable_audit('public.audit_widget')$$,
                'ame_enable_audit on a table with a uuid id');
SELECT results_eq(
  $$SELECT tgname::text COLLATE "default", tgtype::int, tgfoid::regprocedure::text FROM pg_trigger
    WHERE tgrelid = 'public.audit_widget'::regclass$$,
  $$VALUES ('ame_audit', 29, 'audit_trigger_function()')$$,
  'it adds trigger ame_audit, AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW');
INSERT INTO public.audit_widget VALUES ('b0000000-0000-0000-0000-000000000001', 'w');
SELECT results_eq(
  $$SELECT table_schema COLLATE "default", table_name COLLATE "default", operation COLLATE "default", new_values FROM public.ame_audit_logs
    WHERE record_id = 'b0000000-0000-0000-0000-000000000001'$$,
  $$VALUES ('public', 'audit_widget', 'INSERT', '{"id": "b0000000-0000-0000-0000-000000000001", "name": "w"}'::jsonb)$$,
  'a user table is logged once enabled');
SELECT lives_ok($$SELECT public.ame_enable_audit('public.audit_widget')$$,
                'ame_enable_audit a second time is no error (only a notice)');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.audit_widget'::regclass), 1::bigint,
          '... and adds no second trigger');
UPDATE public.audit_widget SET name = 'w2';
SELECT is((SELECT count(*) FROM public.ame_audit_logs
           WHERE record_id = 'b0000000-0000-0000-0000-000000000001'), 2::bigint,
          '... so a change is still logged exactly once');
SELECT lives_ok($$SELECT public.ame_disable_audit('public.audit_widget')$$, 'ame_disable_audit');
SELECT hasnt_trigger('public', 'audit_widget', 'ame_audit', 'it drops trigger ame_audit');
UPDATE public.audit_widget SET name = 'w3';
DELETE FROM public.audit_widget;
SELECT is((SELECT count(*) FROM public.ame_audit_logs
           WHERE record_id = 'b0000000-0000-0000-0000-000000000001'), 2::bigint,
          'once disabled, changes are not logged, and the earlier history stays');
SELECT lives_ok($$SELECT public.ame_disable_audit('public.audit_widget')$$,
                'ame_disable_audit on a table that is not audited is no error (only a notice)');

-- a domain over uuid is a uuid
CREATE DOMAIN public.audit_uuid AS uuid NOT NULL;
CREATE TABLE public.audit_domain (id public.audit_uuid PRIMARY KEY, v int);
SELECT public.ame_enable_audit('public.audit_domain');
INSERT INTO public.audit_domain VALUES ('b0000000-0000-0000-0000-000000000002', 1);
SELECT is((SELECT new_values FROM public.ame_audit_logs WHERE table_name = 'audit_domain'),
          '{"id": "b0000000-0000-0000-0000-000000000002", "v": 1}'::jsonb,
          'a table whose id is a domain over uuid can be audited');

-- refused: 22023, and no trigger
CREATE TABLE public.audit_noid (key uuid PRIMARY KEY);
CREATE TABLE public.audit_intid (id int PRIMARY KEY);
CREATE TABLE public.audit_textid (id text PRIMARY KEY);
CREATE VIEW public.audit_view AS SELECT gen_random_uuid() AS id;
SELECT throws_ok($$SELECT public.ame_enable_audit('public.audit_noid')$$,
                 '22023', 'table "audit_noid" has no column "id"',
                 'a table without an id is refused with 22023');
SELECT throws_ok($$SELECT public.ame_enable_audit('public.audit_intid')$$,
                 '22023', 'column "id" of table "audit_intid" is of type integer, not uuid',
                 'a table with an integer id is refused with 22023');
SELECT throws_ok($$SELECT public.ame_enable_audit('public.audit_textid')$$,
                 '22023', 'column "id" of table "audit_textid" is of type text, not uuid',
                 'a table with a text id is refused with 22023');
SELECT throws_ok($$SELECT public.ame_enable_audit('public.audit_view')$$,
                 '22023', '"audit_view" is not a table', 'a view is refused with 22023');
SELECT throws_ok($$SELECT public.ame_enable_audit(NULL)$$,
                 '22023', 'table must not be NULL', 'ame_enable_audit(NULL) is 22023');
SELECT throws_ok($$SELECT public.ame_disable_audit(NULL)$$,
                 '22023', 'table must not be NULL', 'ame_disable_audit(NULL) is 22023');
SELECT is((SELECT count(*) FROM pg_trigger
           WHERE tgrelid IN ('public.audit_noid'::regclass, 'public.audit_intid'::regclass,
                             'public.audit_textid'::regclass, 'public.audit_view'::regclass)),
          0::bigint, 'the refused tables got no trigger');

-- owner only
CREATE ROLE ame_tap_audit_other NOLOGIN;
CREATE SCHEMA audit_own AUTHORIZATION ame_tap_audit_other;
CREATE TABLE audit_own.mine (id uuid PRIMARY KEY);
ALTER TABLE audit_own.mine OWNER TO ame_tap_audit_other;
CREATE FUNCTION pg_temp.as_role(r text, stmt text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE format('SET LOCAL ROLE %I', r);
  BEGIN
    EXECUTE stmt;
  EXCEPTION WHEN OTHERS THEN
    RESET ROLE;
    RETURN SQLSTATE || ': ' || SQLERRM;
  END;
  RESET ROLE;
  RETURN 'ok';
END $f$;
SELECT is(pg_temp.as_role('ame_tap_audit_other', $$SELECT public.ame_enable_audit('audit_own.mine')$$),
          '42501: permission denied for function ame_enable_audit',
          'ame_enable_audit is not executable by another role, even on its own table');
SELECT is(pg_temp.as_role('ame_tap_audit_other', $$SELECT public.ame_disable_audit('public.ame_customers')$$),
          '42501: permission denied for function ame_disable_audit',
          'ame_disable_audit is not executable by another role');
SELECT is(pg_temp.as_role('ame_tap_audit_other',
            $$CREATE TRIGGER t AFTER INSERT ON audit_own.mine
              FOR EACH ROW EXECUTE FUNCTION public.audit_trigger_function()$$),
          '42501: permission denied for function public.audit_trigger_function',
          'another role cannot attach audit_trigger_function to its own table');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_own.mine'::regclass), 0::bigint,
          '... and so got no trigger');
SELECT ok(NOT has_function_privilege('public', 'public.ame_enable_audit(regclass, text[])', 'EXECUTE')
          AND NOT has_function_privilege('public', 'public.ame_disable_audit(regclass)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'public.audit_trigger_function()', 'EXECUTE'),
          'PUBLIC cannot execute ame_enable_audit, ame_disable_audit, audit_trigger_function');
SELECT is((SELECT count(*) FROM public.ame_audit_logs WHERE table_name = 'ame_customers'
             AND record_id = 'c0000000-0000-0000-0000-000000000002'), 1::bigint,
          'ame_customers is still audited (the refused disable changed nothing)');

-- owner only also for a role the owner grants EXECUTE: the grant hands out nothing
GRANT EXECUTE ON FUNCTION public.ame_enable_audit(regclass, text[]), public.ame_disable_audit(regclass),
  public.ame_purge_audit_logs(interval) TO ame_tap_audit_other;
CREATE TEMP TABLE log_before AS SELECT * FROM public.ame_audit_logs;
SELECT is(pg_temp.as_role('ame_tap_audit_other', $$SELECT public.ame_enable_audit('audit_own.mine')$$),
          '42501: permission denied for function "ame_enable_audit"',
          'ame_enable_audit with EXECUTE granted: still 42501 for a role that is not the owner');
SELECT is(pg_temp.as_role('ame_tap_audit_other', $$SELECT public.ame_disable_audit('public.ame_customers')$$),
          '42501: permission denied for function "ame_disable_audit"',
          'ame_disable_audit with EXECUTE granted: still 42501');
SELECT is(pg_temp.as_role('ame_tap_audit_other', $$SELECT public.ame_purge_audit_logs('0')$$),
          '42501: permission denied for function "ame_purge_audit_logs"',
          'ame_purge_audit_logs with EXECUTE granted: still 42501');
SELECT is(pg_temp.as_role('ame_tap_audit_other', $$SELECT public.ame_require_owner('anything')$$),
          '42501: permission denied for function "anything"',
          'ame_require_owner() itself refuses such a role');
SELECT ok((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_own.mine'::regclass) = 0
          AND (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.ame_customers'::regclass
                 AND tgname = 'ame_audit') = 1,
          '... re-read: no trigger added, none dropped');
SELECT set_eq('SELECT id, seq FROM public.ame_audit_logs', 'SELECT id, seq FROM pg_temp.log_before',
              '... re-read: the log is as it was');
REVOKE EXECUTE ON FUNCTION public.ame_enable_audit(regclass, text[]), public.ame_disable_audit(regclass),
  public.ame_purge_audit_logs(interval) FROM ame_tap_audit_other;

--
-- audit ids are time-ordered: ids made in one millisecond still increase
-- (a counter after the millisecond), so id order is seq order
--
CREATE TABLE public.audit_many (id uuid PRIMARY KEY, n int);
SELECT public.ame_enable_audit('public.audit_many');
INSERT INTO public.audit_many SELECT gen_random_uuid(), i FROM generate_series(1, 5000) i;
SELECT cmp_ok((SELECT count(DISTINCT left(l.id::text, 13)) FROM public.ame_audit_logs l
               WHERE l.table_name = 'audit_many'), '<', 2500::bigint,
              '5000 audit ids made in one statement share milliseconds (the first 48 bits)');
SELECT is((SELECT count(*) FROM (SELECT l.id, lag(l.id) OVER (ORDER BY l.seq) AS prev
                                 FROM public.ame_audit_logs l WHERE l.table_name = 'audit_many') s
           WHERE s.id <= s.prev), 0::bigint,
          'audit ids increase in seq order, also within one millisecond');

--
-- ame.audit_context values jsonb refuses never fail the user's write: they
-- are stored as a string; everything jsonb accepts is kept as JSON
--
CREATE TABLE public.audit_ctx (id uuid PRIMARY KEY, n int);
SELECT public.ame_enable_audit('public.audit_ctx');
INSERT INTO public.audit_ctx VALUES ('c0000000-0000-0000-0000-000000000001', 0);
CREATE FUNCTION pg_temp.write_with_context(v text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM pg_catalog.set_config('ame.audit_context', v, true);
  UPDATE public.audit_ctx SET n = n + 1;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $f$;
CREATE FUNCTION pg_temp.jsonb_accepts(v text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM v::jsonb;
  RETURN true;
EXCEPTION WHEN OTHERS THEN
  RETURN false;
END $f$;
CREATE TEMP TABLE ctx_values (k int GENERATED ALWAYS AS IDENTITY, v text, written text, stored jsonb);
INSERT INTO ctx_values (v) VALUES
  ('{"note": "a\u0000b"}'), ('"\u0000"'), ('1e1000000'), ('{"n": 1e-20000}'), ('"\ud800"'),
  ('["\udc00\ud800"]'), (repeat('[', 100000) || repeat(']', 100000)),
  ('1e131072'), ('1e-16384'), ('1.5e-16383'), ('0e-16384'), ('10e131071'), ('0e-99999999999'),
  ('1e99999999999999999999'), ('0.' || repeat('0', 16384)), ('1' || repeat('0', 131072)),
  ('0.' || repeat('0', 16390) || 'e6'),
  -- and their neighbours that jsonb accepts
  ('{"n": 1e1000, "s": "\u00e9\ud83d\ude00"}'), ('1e131071'), ('9999e131068'), ('1e-16383'),
  ('0e999999'), ('0.' || repeat('0', 16383)), ('1' || repeat('0', 131071)),
  ('0.' || repeat('0', 16390) || 'e20'), ('0.' || repeat('0', 20000) || '1e20000'),
  ('-0.0e-5'), ('[[[[[[[[[[{"deep": [[[[[[[[[[1]]]]]]]]]]}]]]]]]]]]]'),
  -- numeric's bound on the exponent itself (INT_MAX / 2)
  ('0e1073741822'), ('0e1073741823');
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT k, v FROM pg_temp.ctx_values ORDER BY k LOOP
    UPDATE pg_temp.ctx_values SET written = pg_temp.write_with_context(r.v) WHERE k = r.k;
  END LOOP;
END $$;
UPDATE pg_temp.ctx_values c SET stored = l.context -> 'audit_context'
FROM public.ame_audit_logs l
WHERE l.table_name = 'audit_ctx' AND (l.new_values ->> 'n')::int = c.k;
SELECT is((SELECT string_agg(DISTINCT written, ', ') FROM pg_temp.ctx_values), 'ok',
          'ame.audit_context: no value fails the user''s write (\u0000, 1e1000000, lone surrogates, deep nesting, numbers out of range)');
SELECT is((SELECT count(*) FROM pg_temp.ctx_values WHERE stored IS NOT NULL),
          (SELECT count(*) FROM pg_temp.ctx_values), '... every write is logged with its context');
SELECT is((SELECT array_agg(k ORDER BY k) FROM pg_temp.ctx_values
           WHERE stored IS DISTINCT FROM to_jsonb(v) AND NOT pg_temp.jsonb_accepts(v)),
          NULL, 'a value jsonb refuses is stored as a JSON string');
SELECT is((SELECT array_agg(k ORDER BY k) FROM pg_temp.ctx_values
           WHERE CASE WHEN pg_temp.jsonb_accepts(v) THEN stored IS DISTINCT FROM v::jsonb END),
          NULL, 'a value jsonb accepts is stored as that JSON');
-- 0e1073741823 (an exponent of INT_MAX / 2) is valid from PostgreSQL 16 on
SELECT is((SELECT count(*) FILTER (WHERE pg_temp.jsonb_accepts(v)) || '/' || count(*) FROM pg_temp.ctx_values),
          CASE WHEN current_setting('server_version_num')::int >= 160000 THEN '13/30' ELSE '12/30' END,
          '(12 of the 30 values are valid jsonb on PostgreSQL 15, 13 from 16)');
SELECT is((SELECT n FROM public.audit_ctx), 30, 'the table holds every write');
RESET ame.audit_context;

SELECT * FROM finish();
ROLLBACK;
