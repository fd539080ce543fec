--
-- audit_other_schema: with CREATE EXTENSION ame SCHEMA fsm, the audit
-- trail writes to fsm's own log, whatever the caller's search_path holds:
-- a decoy schema with a look-alike log, sequence and trigger function
-- comes first (SPEC §1, §5).
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE SCHEMA fsm;
CREATE EXTENSION ame SCHEMA fsm;
CREATE SCHEMA decoy;
CREATE TABLE decoy.ame_audit_logs (LIKE fsm.ame_audit_logs INCLUDING DEFAULTS);
CREATE SEQUENCE decoy.ame_audit_logs_seq_seq START 1000;
CREATE TABLE decoy.system_maintenance_log (LIKE fsm.system_maintenance_log INCLUDING DEFAULTS);
CREATE FUNCTION decoy.audit_trigger_function() RETURNS trigger LANGUAGE plpgsql
  AS $$BEGIN RAISE EXCEPTION 'decoy trigger function called'; END$$;
SET LOCAL search_path = decoy, public, pg_catalog;

SELECT plan(12);

SELECT has_trigger('fsm', 'ame_technicians', 'ame_audit', 'fsm.ame_technicians is audited');
INSERT INTO fsm.ame_technicians (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'Fay');
UPDATE fsm.ame_technicians SET email = 'fay@example.com';
SELECT results_eq(
  $$SELECT table_schema COLLATE "default", table_name COLLATE "default", operation COLLATE "default", changed_fields, seq FROM fsm.ame_audit_logs ORDER BY seq$$,
  $$VALUES ('fsm', 'ame_technicians', 'INSERT', '{}'::text[], 1::bigint),
           ('fsm', 'ame_technicians', 'UPDATE', '{email}', 2)$$,
  'changes are logged in fsm.ame_audit_logs, numbered from fsm''s sequence');
SELECT is_empty('SELECT * FROM decoy.ame_audit_logs', 'the decoy log first on the path stays empty');
SELECT results_eq($$SELECT last_value, is_called FROM decoy.ame_audit_logs_seq_seq$$,
                  $$VALUES (1000::bigint, false)$$, 'the decoy sequence is not touched');

-- enable / disable: the trigger calls fsm's function, not the decoy first on the path
CREATE TABLE public.audit_fsm (id uuid PRIMARY KEY, v text);
SELECT fsm.ame_enable_audit('public.audit_fsm');
SELECT is((SELECT tgfoid::regprocedure::text FROM pg_trigger
           WHERE tgrelid = 'public.audit_fsm'::regclass AND tgname = 'ame_audit'),
          'fsm.audit_trigger_function()',
          'ame_enable_audit attaches fsm.audit_trigger_function()');
INSERT INTO public.audit_fsm VALUES ('b0000000-0000-0000-0000-000000000001', 'x');
SELECT is((SELECT new_values FROM fsm.ame_audit_logs WHERE table_name = 'audit_fsm'),
          '{"id": "b0000000-0000-0000-0000-000000000001", "v": "x"}'::jsonb,
          'a user table enabled from fsm is logged in fsm');
SELECT is((SELECT count(*) FROM fsm.ame_record_history('public.audit_fsm', 'b0000000-0000-0000-0000-000000000001')),
          1::bigint, 'fsm.ame_record_history reads fsm''s log');
SELECT is(fsm.ame_record_at('public.audit_fsm', 'b0000000-0000-0000-0000-000000000001', now()),
          (SELECT to_jsonb(a) FROM public.audit_fsm a), 'fsm.ame_record_at reads fsm''s log');
SELECT fsm.ame_disable_audit('public.audit_fsm');
SELECT hasnt_trigger('public', 'audit_fsm', 'ame_audit', 'ame_disable_audit drops it');

-- append-only and purge in fsm
SELECT throws_ok($$DELETE FROM fsm.ame_audit_logs$$, '42501',
                 'audit log "ame_audit_logs" is append-only', 'fsm''s log is append-only');
SELECT is(fsm.ame_purge_audit_logs('0'), 0::bigint, 'fsm.ame_purge_audit_logs runs');
SELECT results_eq(
  $$SELECT (SELECT count(*) FROM fsm.system_maintenance_log WHERE operation = 'audit_purge'),
           (SELECT count(*) FROM decoy.system_maintenance_log)$$,
  $$VALUES (1::bigint, 0::bigint)$$,
  'the purge is logged in fsm.system_maintenance_log, not the decoy');

SELECT * FROM finish();
ROLLBACK;
