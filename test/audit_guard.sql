--
-- audit_guard: the log is append-only (42501, also under
-- session_replication_role = replica) except for ame_purge_audit_logs();
-- misuse of the trigger is 39P01 and writes nothing; a bad identity never
-- breaks the write; an ordinary role is audited without any right on the
-- log (SPEC §5).
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(59);

-- runs one statement as another role; 'ok' or 'SQLSTATE: message'
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

CREATE VIEW pg_temp.log_rows AS SELECT count(*) AS n FROM public.ame_audit_logs;

--
-- append-only.  TRUNCATE comes first: once this transaction has written to
-- the log, the log stays open (see the TODO below).
--
SELECT throws_ok('TRUNCATE public.ame_audit_logs', '42501',
                 'audit log "ame_audit_logs" is append-only', 'TRUNCATE of the log is 42501');
SET LOCAL session_replication_role = replica;
SELECT throws_ok('TRUNCATE public.ame_audit_logs', '42501',
                 'audit log "ame_audit_logs" is append-only',
                 'TRUNCATE of the log is 42501 under session_replication_role = replica too');
SET LOCAL session_replication_role = origin;

-- a NOT NULL the owner adds to a column the trigger may leave NULL is
-- checked on every audit row (while the log is still empty it can be added)
ALTER TABLE public.ame_audit_logs ALTER COLUMN user_id SET NOT NULL;
SELECT throws_ok($$INSERT INTO public.ame_technicians (name) VALUES ('No claim')$$, '23502', NULL,
                 'an audit row without user_id breaks an owner-added NOT NULL on user_id');
SELECT is((SELECT count(*) FROM public.ame_technicians WHERE name = 'No claim'), 0::bigint,
          'and the refused change is not made');
ALTER TABLE public.ame_audit_logs ALTER COLUMN user_id DROP NOT NULL;

INSERT INTO public.ame_technicians (id, name)
VALUES ('a0000000-0000-0000-0000-000000000001', 'Ann'), ('a0000000-0000-0000-0000-000000000002', 'Bob');
UPDATE public.ame_technicians SET email = 'x@example.com';
CREATE TEMP TABLE before_guard AS SELECT * FROM public.ame_audit_logs;
SELECT is((SELECT count(*) FROM before_guard), 4::bigint, 'four rows logged');

SELECT throws_ok($$UPDATE public.ame_audit_logs SET user_id = NULL$$, '42501',
                 'audit log "ame_audit_logs" is append-only', 'UPDATE of the log is 42501');
SELECT throws_ok($$DELETE FROM public.ame_audit_logs WHERE operation = 'UPDATE'$$, '42501',
                 'audit log "ame_audit_logs" is append-only', 'DELETE from the log is 42501');
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$UPDATE public.ame_audit_logs SET user_id = NULL$$, '42501',
                 'audit log "ame_audit_logs" is append-only',
                 'UPDATE of the log is 42501 under session_replication_role = replica');
SELECT throws_ok($$DELETE FROM public.ame_audit_logs$$, '42501',
                 'audit log "ame_audit_logs" is append-only',
                 'DELETE from the log is 42501 under session_replication_role = replica');
-- replica is also the (superuser-only) way to change audited rows unlogged
UPDATE public.ame_technicians SET phone = '555' WHERE name = 'Ann';
SET LOCAL session_replication_role = origin;
SELECT is((SELECT n FROM pg_temp.log_rows), 4::bigint,
          'under session_replication_role = replica an audited change writes no row');
SELECT set_eq($$SELECT * FROM public.ame_audit_logs$$, $$SELECT * FROM before_guard$$,
              'the log is unchanged after the refused UPDATEs and DELETEs');

SELECT throws_ok('TRUNCATE public.ame_audit_logs', '42501',
                 'audit log "ame_audit_logs" is append-only',
                 'TRUNCATE of the log is 42501 also after an audited write in the same transaction');
SELECT lives_ok('CREATE INDEX ON public.ame_audit_logs (performed_at)',
                'the owner can index the log after an audited write in the same transaction');

--
-- ame_purge_audit_logs
--
-- rows written now have performed_at = now(); older ones can only be
-- INSERTed by hand (a superuser may INSERT: the log is append-only)
INSERT INTO public.ame_audit_logs (table_schema, table_name, record_id, operation, new_values, performed_at)
VALUES ('public', 'ame_technicians', 'a0000000-0000-0000-0000-0000000000f1', 'INSERT', '{}', now() - interval '2 years'),
       ('public', 'ame_technicians', 'a0000000-0000-0000-0000-0000000000f2', 'INSERT', '{}', now() - interval '1 year'),
       ('public', 'ame_technicians', 'a0000000-0000-0000-0000-0000000000f3', 'INSERT', '{}', now() - interval '1 year' + interval '1 microsecond');
SELECT is(public.ame_purge_audit_logs('1 year'), 1::bigint,
          'ame_purge_audit_logs(''1 year'') removes the one row older than a year and returns 1');
SELECT set_eq($$SELECT record_id FROM public.ame_audit_logs WHERE record_id::text LIKE '%f_'$$,
              $$VALUES ('a0000000-0000-0000-0000-0000000000f2'::uuid), ('a0000000-0000-0000-0000-0000000000f3')$$,
              'a row exactly a year old and a younger one stay');
SELECT set_eq($$SELECT * FROM public.ame_audit_logs WHERE performed_at = now()$$,
              $$SELECT * FROM before_guard$$, 'the rows of this transaction stay');
SELECT is(public.ame_purge_audit_logs('0'), 2::bigint,
          'ame_purge_audit_logs(''0'') removes every row from before this transaction');
SELECT set_eq($$SELECT * FROM public.ame_audit_logs$$, $$SELECT * FROM before_guard$$,
              '... and none of this transaction''s rows (performed_at = now() is not older than now())');
SELECT results_eq(
  $$SELECT operation, affected_rows, details ->> 'older_than', (details ->> 'cutoff')::timestamptz,
           duration_ms >= 0
    FROM public.system_maintenance_log WHERE operation = 'audit_purge' ORDER BY affected_rows$$,
  $$VALUES ('audit_purge', 1::bigint, '1 year', now() - interval '1 year', true),
           ('audit_purge', 2, '00:00:00', now(), true)$$,
  'each purge logs a system_maintenance_log row: operation audit_purge, the count, interval and cutoff');
SELECT throws_ok($$SELECT public.ame_purge_audit_logs('-1 day')$$, '22023',
                 'older_than must not be negative', 'a negative interval is 22023');
SELECT throws_ok($$SELECT public.ame_purge_audit_logs(NULL)$$, '22023',
                 'older_than must not be NULL', 'a NULL interval is 22023');
SELECT is((SELECT count(*) FROM public.system_maintenance_log), 2::bigint,
          'the refused purges logged nothing');
SELECT set_eq($$SELECT * FROM public.ame_audit_logs$$, $$SELECT * FROM before_guard$$,
              'the refused purges removed nothing');
SELECT ok(NOT has_function_privilege('public', 'public.ame_purge_audit_logs(interval)', 'EXECUTE'),
          'PUBLIC has no EXECUTE on ame_purge_audit_logs');
CREATE ROLE ame_tap_audit_clerk NOLOGIN;
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$SELECT public.ame_purge_audit_logs('0')$$),
          '42501: permission denied for function ame_purge_audit_logs',
          'an ordinary role cannot purge');
SELECT throws_ok($$SELECT public.ame_audit_log_guard()$$, '39P01',
                 'function "ame_audit_log_guard" was not called by trigger manager',
                 'the guard called directly is 39P01');

--
-- misuse of the trigger: 39P01, nothing written
--
CREATE TEMP TABLE n_before AS SELECT n FROM pg_temp.log_rows;
CREATE TABLE public.audit_mis (id uuid PRIMARY KEY, v text);
INSERT INTO public.audit_mis VALUES ('b0000000-0000-0000-0000-000000000001', 'kept');

CREATE TRIGGER t BEFORE INSERT OR UPDATE ON public.audit_mis
  FOR EACH ROW EXECUTE FUNCTION public.audit_trigger_function();
SELECT throws_ok($$INSERT INTO public.audit_mis VALUES ('b0000000-0000-0000-0000-000000000002', 'x')$$,
                 '39P01', 'function "audit_trigger_function" must be fired AFTER',
                 'attached BEFORE: 39P01');
DROP TRIGGER t ON public.audit_mis;
CREATE TRIGGER t AFTER UPDATE ON public.audit_mis
  FOR EACH STATEMENT EXECUTE FUNCTION public.audit_trigger_function();
SELECT throws_ok($$UPDATE public.audit_mis SET v = 'x'$$,
                 '39P01', 'function "audit_trigger_function" must be fired FOR EACH ROW',
                 'attached FOR EACH STATEMENT: 39P01');
DROP TRIGGER t ON public.audit_mis;
CREATE TRIGGER t AFTER TRUNCATE ON public.audit_mis
  FOR EACH STATEMENT EXECUTE FUNCTION public.audit_trigger_function();
SELECT throws_ok($$TRUNCATE public.audit_mis$$,
                 '39P01', 'function "audit_trigger_function" must be fired FOR EACH ROW',
                 'attached ON TRUNCATE: 39P01');
DROP TRIGGER t ON public.audit_mis;
CREATE VIEW public.audit_mis_v AS SELECT * FROM public.audit_mis;
CREATE TRIGGER t INSTEAD OF INSERT ON public.audit_mis_v
  FOR EACH ROW EXECUTE FUNCTION public.audit_trigger_function();
SELECT throws_ok($$INSERT INTO public.audit_mis_v VALUES ('b0000000-0000-0000-0000-000000000003', 'x')$$,
                 '39P01', 'function "audit_trigger_function" must be fired AFTER',
                 'attached INSTEAD OF on a view: 39P01');
DROP VIEW public.audit_mis_v;
SELECT throws_ok($$SELECT public.audit_trigger_function()$$,
                 '39P01', 'function "audit_trigger_function" was not called by trigger manager',
                 'called directly: 39P01');

-- the table loses its uuid id after auditing was enabled
SELECT public.ame_enable_audit('public.audit_mis');
UPDATE public.audit_mis SET v = 'seen';
SELECT is((SELECT n FROM pg_temp.log_rows), (SELECT n + 1 FROM n_before),
          'audit_mis is audited (its shape is now cached)');
ALTER TABLE public.audit_mis RENAME COLUMN id TO key;
SELECT throws_ok($$UPDATE public.audit_mis SET v = 'x'$$,
                 '39P01', 'relation "audit_mis" cannot be audited',
                 'after its id is renamed away: 39P01');
ALTER TABLE public.audit_mis RENAME COLUMN key TO id;
ALTER TABLE public.audit_mis ALTER COLUMN id TYPE text;
SELECT throws_ok($$UPDATE public.audit_mis SET v = 'x'$$,
                 '39P01', 'relation "audit_mis" cannot be audited',
                 'after its id becomes text: 39P01');
ALTER TABLE public.audit_mis DROP COLUMN id;
SELECT throws_ok($$DELETE FROM public.audit_mis$$,
                 '39P01', 'relation "audit_mis" cannot be audited',
                 'after its id is dropped: 39P01');
CREATE TABLE public.audit_intid (id int PRIMARY KEY, v text);
INSERT INTO public.audit_intid VALUES (1, 'kept');
CREATE TRIGGER ame_audit AFTER INSERT OR UPDATE OR DELETE ON public.audit_intid
  FOR EACH ROW EXECUTE FUNCTION public.audit_trigger_function();
SELECT throws_ok($$UPDATE public.audit_intid SET v = 'x'$$,
                 '39P01', 'relation "audit_intid" cannot be audited',
                 'attached by hand to a table with an integer id: 39P01');
CREATE TABLE public.audit_nullid (id uuid, v text);
SELECT public.ame_enable_audit('public.audit_nullid');
SELECT throws_ok($$INSERT INTO public.audit_nullid VALUES (NULL, 'x')$$,
                 '39P01', 'relation "audit_nullid" cannot be audited',
                 'a row with a NULL id: 39P01');
SELECT results_eq(
  $$SELECT v FROM public.audit_mis UNION ALL SELECT v FROM public.audit_intid
    UNION ALL SELECT v FROM public.audit_nullid$$,
  $$VALUES ('seen'), ('kept')$$,
  'the refused changes changed no row');
SELECT is((SELECT n FROM pg_temp.log_rows), (SELECT n + 1 FROM n_before),
          'misuse wrote no log row');
-- and the details say why
CREATE FUNCTION pg_temp.detail_of(stmt text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE d text;
BEGIN
  EXECUTE stmt;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN d;
END $f$;
SELECT is(pg_temp.detail_of($$DELETE FROM public.audit_mis$$),
          'It has no column "id" of type uuid.', 'detail: no id');
SELECT is(pg_temp.detail_of($$UPDATE public.audit_intid SET v = 'x'$$),
          'Its column "id" is not of type uuid.', 'detail: id not a uuid');
SELECT is(pg_temp.detail_of($$INSERT INTO public.audit_nullid VALUES (NULL, 'x')$$),
          'A row has a NULL "id".', 'detail: NULL id');

--
-- identity never breaks the write
--
CREATE TABLE public.audit_who (id uuid PRIMARY KEY, n int);
SELECT public.ame_enable_audit('public.audit_who');
CREATE VIEW pg_temp.who AS
  SELECT l.new_values ->> 'n' AS n, l.user_id, l.context ->> 'invalid_claim' AS raw,
         l.context ->> 'invalid_claim_guc' AS guc
  FROM public.ame_audit_logs l WHERE l.table_name = 'audit_who';

INSERT INTO public.audit_who VALUES ('b1000000-0000-0000-0000-000000000001', 1);
SET LOCAL request.jwt.claims = '{"sub": "not-a-uuid"}';
INSERT INTO public.audit_who VALUES ('b1000000-0000-0000-0000-000000000002', 2);
SET LOCAL request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"';
INSERT INTO public.audit_who VALUES ('b1000000-0000-0000-0000-000000000003', 3);
SET LOCAL request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}';
INSERT INTO public.audit_who VALUES ('b1000000-0000-0000-0000-000000000004', 4);
SET LOCAL request.jwt.claim.sub = '12345';
INSERT INTO public.audit_who VALUES ('b1000000-0000-0000-0000-000000000005', 5);
SET LOCAL request.jwt.claim.sub = '';
SET LOCAL request.jwt.claims = '';
INSERT INTO public.audit_who VALUES ('b1000000-0000-0000-0000-000000000006', 6);
SELECT results_eq(
  $$SELECT n, user_id, raw, guc FROM pg_temp.who ORDER BY n$$,
  $$VALUES ('1', NULL::uuid, NULL, NULL),
           ('2', NULL, 'not-a-uuid', 'request.jwt.claims'),
           ('3', NULL, '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"', 'request.jwt.claims'),
           ('4', '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b', NULL, NULL),
           ('5', NULL, '12345', 'request.jwt.claim.sub'),
           ('6', NULL, NULL, NULL)$$,
  'no claim: NULL user_id; a sub that is not a uuid, or claims that are not JSON: NULL user_id, the raw text and its GUC in context; a good claim: its uuid');
SELECT is((SELECT count(*) FROM public.audit_who), 6::bigint,
          'every write went through, whatever the claim');
-- the claim changes between statements of one transaction: the context follows
SET LOCAL request.jwt.claims = '{"sub": "bad-1"}';
UPDATE public.audit_who SET n = 11 WHERE n = 1;
SET LOCAL request.jwt.claims = '{"sub": "bad-2"}';
UPDATE public.audit_who SET n = 12 WHERE n = 2;
SET LOCAL request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}';
UPDATE public.audit_who SET n = 13 WHERE n = 3;
SELECT results_eq(
  $$SELECT n, user_id, raw FROM pg_temp.who WHERE n::int > 10 ORDER BY n$$,
  $$VALUES ('11', NULL::uuid, 'bad-1'), ('12', NULL, 'bad-2'),
           ('13', '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b', NULL)$$,
  'each statement records the claim in force (no stale context)');
SET LOCAL request.jwt.claims = '';

--
-- an ordinary role with INSERT/UPDATE/DELETE on a table and no right on
-- the log is audited
--
CREATE TABLE public.audit_clerk (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), note text);
SELECT public.ame_enable_audit('public.audit_clerk');
GRANT INSERT, UPDATE, DELETE ON public.audit_clerk TO ame_tap_audit_clerk;
SELECT ok(NOT has_table_privilege('ame_tap_audit_clerk', 'public.ame_audit_logs', 'SELECT')
          AND NOT has_table_privilege('ame_tap_audit_clerk', 'public.ame_audit_logs', 'INSERT')
          AND NOT has_table_privilege('ame_tap_audit_clerk', 'public.ame_audit_logs', 'UPDATE')
          AND NOT has_table_privilege('ame_tap_audit_clerk', 'public.ame_audit_logs', 'DELETE')
          AND NOT has_sequence_privilege('ame_tap_audit_clerk', 'public.ame_audit_logs_seq_seq', 'USAGE'),
          'the clerk has no right on the log or its sequence');
SET LOCAL request.jwt.claims = '{"sub": "11111111-2222-3333-4444-555555555555"}';
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$INSERT INTO public.audit_clerk (note) VALUES ('a')$$),
          'ok', 'the clerk can INSERT into an audited table');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$UPDATE public.audit_clerk SET note = 'b'$$),
          'ok', 'the clerk can UPDATE it');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$DELETE FROM public.audit_clerk$$),
          'ok', 'the clerk can DELETE from it');
SET LOCAL request.jwt.claims = '';
SELECT results_eq(
  $$SELECT operation COLLATE "default", old_values ->> 'note', new_values ->> 'note', user_id,
           context ->> 'current_user', context ->> 'session_user'
    FROM public.ame_audit_logs WHERE table_name = 'audit_clerk' ORDER BY seq$$,
  $$VALUES ('INSERT', NULL, 'a', '11111111-2222-3333-4444-555555555555'::uuid, 'ame_tap_audit_clerk', session_user::text COLLATE "default"),
           ('UPDATE', 'a', 'b', '11111111-2222-3333-4444-555555555555', 'ame_tap_audit_clerk', session_user::text COLLATE "default"),
           ('DELETE', 'b', NULL, '11111111-2222-3333-4444-555555555555', 'ame_tap_audit_clerk', session_user::text COLLATE "default")$$,
  'the clerk''s changes are logged, with the clerk as current_user');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$SELECT 1 FROM public.ame_audit_logs$$),
          '42501: permission denied for table ame_audit_logs', 'the clerk cannot SELECT from the log');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk',
            $$INSERT INTO public.ame_audit_logs (table_schema, table_name, record_id, operation)
              VALUES ('public', 'audit_clerk', gen_random_uuid(), 'INSERT')$$),
          '42501: permission denied for table ame_audit_logs', 'the clerk cannot INSERT into the log');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$DELETE FROM public.ame_audit_logs$$),
          '42501: permission denied for table ame_audit_logs', 'the clerk cannot DELETE from the log');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk',
            $$SELECT * FROM public.ame_record_history('public.audit_clerk', gen_random_uuid())$$),
          '42501: permission denied for table audit_clerk',
          'ame_record_history: without SELECT on the log, the caller needs SELECT on the table');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$SELECT public.ame_disable_audit('public.audit_clerk')$$),
          '42501: permission denied for function ame_disable_audit',
          'the clerk cannot turn auditing off');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$SET session_replication_role = replica$$),
          '42501: permission denied to set parameter "session_replication_role"',
          'nor set session_replication_role');
SELECT is(current_user::text, session_user::text, 'back to the session user');
-- the owner grants SELECT: then the clerk reads the history
GRANT SELECT ON public.ame_audit_logs TO ame_tap_audit_clerk;
SELECT is(pg_temp.as_role('ame_tap_audit_clerk',
            $q$DO $d$ BEGIN
                IF (SELECT count(*) FROM public.ame_record_history('public.audit_clerk',
                      (SELECT record_id FROM public.ame_audit_logs WHERE table_name = 'audit_clerk' LIMIT 1))) <> 3
                THEN RAISE EXCEPTION 'wrong count'; END IF;
              END $d$$q$),
          'ok', 'with SELECT granted by the owner, the clerk reads the history');
SELECT is(pg_temp.as_role('ame_tap_audit_clerk', $$UPDATE public.ame_audit_logs SET user_id = NULL$$),
          '42501: permission denied for table ame_audit_logs',
          'SELECT does not make the log writable');

SELECT * FROM finish();
ROLLBACK;
