--
-- audit_exclude: ame_enable_audit(tbl, exclude), ame_audited_tables, the
-- columns that never reach the log
--
\set VERBOSITY terse

-- what is audited by default: nothing excluded
SELECT table_schema, table_name, excluded_columns, trigger_name, trigger_state
FROM ame_audited_tables ORDER BY table_name COLLATE "C";

CREATE SCHEMA gov;
CREATE TABLE gov.tech (id uuid PRIMARY KEY, name text, phone text,
                       last_seen timestamptz, battery int, note text);
SELECT ame_enable_audit('gov.tech', exclude => ARRAY['battery', 'last_seen']);
SELECT table_schema, table_name, excluded_columns, trigger_state
FROM ame_audited_tables WHERE table_schema = 'gov';

-- excluded columns are in no image and in no changed_fields; a change of
-- excluded columns only writes no row (the heartbeat)
INSERT INTO gov.tech VALUES ('d1000000-0000-0000-0000-000000000001', 'Ann', '555',
                             '2026-01-01 10:00+00', 90, 'first');
UPDATE gov.tech SET last_seen = last_seen + interval '1 minute';
UPDATE gov.tech SET last_seen = last_seen + interval '1 minute', battery = 80;
UPDATE gov.tech SET battery = 70, name = 'Anne';
DELETE FROM gov.tech;
SELECT operation, changed_fields, old_values, new_values
FROM ame_audit_logs WHERE table_schema = 'gov' ORDER BY seq;

-- changing the list is one more call: it replaces the list, and keeps the
-- trigger's state (here: disabled, then ENABLE ALWAYS)
ALTER TABLE gov.tech DISABLE TRIGGER ame_audit;
SELECT ame_enable_audit('gov.tech', ARRAY['note']);
SELECT excluded_columns, trigger_state FROM ame_audited_tables WHERE table_schema = 'gov';
ALTER TABLE gov.tech ENABLE ALWAYS TRIGGER ame_audit;
SELECT ame_enable_audit('gov.tech', ARRAY['note', 'battery']);
SELECT excluded_columns, trigger_state FROM ame_audited_tables WHERE table_schema = 'gov';
-- the same list again changes nothing; the list is kept in column order
SELECT ame_enable_audit('gov.tech', ARRAY['battery', 'note']);
INSERT INTO gov.tech VALUES ('d1000000-0000-0000-0000-000000000002', 'Bo', '556',
                             '2026-01-01 10:00+00', 90, 'secret');
SELECT new_values FROM ame_audit_logs
WHERE record_id = 'd1000000-0000-0000-0000-000000000002' ORDER BY seq;
-- an existing call without a list: no column excluded any more
SELECT ame_enable_audit('gov.tech');
SELECT excluded_columns, trigger_state FROM ame_audited_tables WHERE table_schema = 'gov';
UPDATE gov.tech SET note = 'visible', battery = 50;
SELECT changed_fields, new_values ->> 'note' AS note FROM ame_audit_logs
WHERE record_id = 'd1000000-0000-0000-0000-000000000002' ORDER BY seq DESC LIMIT 1;
SELECT ame_enable_audit('gov.tech', ARRAY['last_seen']);

-- refused, and nothing changes: unknown, empty, system or dropped column,
-- "id", NULL list, NULL element, a duplicate, a 2-D list
SELECT ame_enable_audit('gov.tech', ARRAY['nope']);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech', ARRAY['']);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech', ARRAY['ctid']);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech', ARRAY['Name']);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech', ARRAY['id']);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech', ARRAY['note', NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech', ARRAY['note', 'battery', 'note']);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech', ARRAY[['note'], ['battery']]);
\echo :LAST_ERROR_SQLSTATE
SELECT excluded_columns, trigger_state FROM ame_audited_tables WHERE table_schema = 'gov';
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'gov.tech'::regclass;
-- the list is kept in ame_audit_exclusions (which pg_dump dumps), by table
SELECT relid, excluded_columns FROM ame_audit_exclusions ORDER BY relid::text COLLATE "C";
-- a table that was not audited stays so after a refused call
CREATE TABLE gov.fresh (id uuid, secret text);
SELECT ame_enable_audit('gov.fresh', ARRAY['nope']);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'gov.fresh'::regclass;

-- odd names are stored and matched exactly
CREATE TABLE gov."Odd" (id uuid, "Sec ret" text, "it's" text, "back\slash" text, "é" text, v int);
SELECT ame_enable_audit('gov."Odd"', ARRAY['Sec ret', 'it''s', 'back\slash', 'é']);
SELECT table_name, excluded_columns FROM ame_audited_tables WHERE table_name = 'Odd';
INSERT INTO gov."Odd" VALUES ('d1000000-0000-0000-0000-000000000003', 'a', 'b', 'c', 'd', 1);
SELECT new_values FROM ame_audit_logs
WHERE record_id = 'd1000000-0000-0000-0000-000000000003' ORDER BY seq;

--
-- a renamed or dropped excluded column: the exclusion is by name, so the
-- trigger refuses the change (55000) rather than log the column under its
-- new name, until ame_enable_audit() is called again
--
SELECT count(*) AS log_rows FROM ame_audit_logs \gset
ALTER TABLE gov.tech RENAME COLUMN last_seen TO seen_at;
UPDATE gov.tech SET seen_at = now();
\echo :LAST_ERROR_SQLSTATE
INSERT INTO gov.tech (id, name) VALUES ('d1000000-0000-0000-0000-000000000004', 'Cy');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :log_rows AS rows_written FROM ame_audit_logs;
SELECT name, seen_at IS NOT NULL AS seen FROM gov.tech ORDER BY name;
SELECT excluded_columns FROM ame_audited_tables WHERE table_schema = 'gov' AND table_name = 'tech';
SELECT ame_enable_audit('gov.tech', ARRAY['seen_at']);
UPDATE gov.tech SET seen_at = now();
UPDATE gov.tech SET seen_at = now(), name = 'Bob';
SELECT changed_fields, new_values ? 'seen_at' AS has_seen_at FROM ame_audit_logs
WHERE record_id = 'd1000000-0000-0000-0000-000000000002' ORDER BY seq DESC LIMIT 1;
SELECT count(*) - :log_rows AS rows_written FROM ame_audit_logs;
-- dropped: the same
ALTER TABLE gov.tech DROP COLUMN seen_at;
UPDATE gov.tech SET name = 'Bobby';
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('gov.tech');
UPDATE gov.tech SET name = 'Bobby';
SELECT changed_fields FROM ame_audit_logs
WHERE record_id = 'd1000000-0000-0000-0000-000000000002' ORDER BY seq DESC LIMIT 1;
-- a column renamed to an excluded column's name is excluded
SELECT ame_enable_audit('gov.tech', ARRAY['note']);
ALTER TABLE gov.tech RENAME COLUMN note TO note_old;
ALTER TABLE gov.tech RENAME COLUMN phone TO note;
UPDATE gov.tech SET note = '999', note_old = 'x';
SELECT changed_fields, new_values ? 'note' AS has_note FROM ame_audit_logs
WHERE record_id = 'd1000000-0000-0000-0000-000000000002' ORDER BY seq DESC LIMIT 1;

--
-- a trigger attached by hand takes its arguments as the exclusions, with
-- the same checks at fire time
--
CREATE TABLE gov.hand (id uuid, a text, b text);
CREATE TRIGGER hand_audit AFTER INSERT OR UPDATE OR DELETE ON gov.hand
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function('b');
INSERT INTO gov.hand VALUES ('d1000000-0000-0000-0000-000000000005', 'x', 'y');
SELECT new_values FROM ame_audit_logs
WHERE record_id = 'd1000000-0000-0000-0000-000000000005' ORDER BY seq;
SELECT table_name, excluded_columns, trigger_name FROM ame_audited_tables WHERE table_name = 'hand';
DROP TRIGGER hand_audit ON gov.hand;
CREATE TRIGGER hand_audit AFTER INSERT OR UPDATE OR DELETE ON gov.hand
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function('id');
INSERT INTO gov.hand VALUES ('d1000000-0000-0000-0000-000000000006', 'x', 'y');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER hand_audit ON gov.hand;
CREATE TRIGGER hand_audit AFTER INSERT OR UPDATE OR DELETE ON gov.hand
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function('c');
INSERT INTO gov.hand VALUES ('d1000000-0000-0000-0000-000000000006', 'x', 'y');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER hand_audit ON gov.hand;
SELECT count(*) AS hand_rows FROM gov.hand;

--
-- ame_visit_sessions (and its archive): session_token never reaches the
-- log.  ame_enable_audit() always excludes it; the trigger enforces it
-- whatever its arguments
--
INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('d2000000-0000-0000-0000-000000000001', 'Gov Co', 'CORE');
INSERT INTO ame_visits (id, customer_id, status, current_phase)
VALUES ('d2000000-0000-0000-0000-000000000002', 'd2000000-0000-0000-0000-000000000001', 'scheduled', 1);
SELECT ame_enable_audit('ame_visit_sessions');
SELECT table_name, excluded_columns FROM ame_audited_tables WHERE table_name = 'ame_visit_sessions';
SELECT ame_enable_audit('ame_visit_sessions', ARRAY['auto_save_data']);
SELECT table_name, excluded_columns FROM ame_audited_tables WHERE table_name = 'ame_visit_sessions';
INSERT INTO ame_visit_sessions (id, visit_id, session_token, expires_at)
VALUES ('d2000000-0000-0000-0000-000000000003', 'd2000000-0000-0000-0000-000000000002',
        'tok-secret-1', now() + interval '1 hour');
UPDATE ame_visit_sessions SET session_token = 'tok-secret-2';
SELECT operation, old_values ? 'session_token' AS old_has_token,
       new_values ? 'session_token' AS new_has_token, new_values ? 'visit_id' AS has_visit
FROM ame_audit_logs WHERE record_id = 'd2000000-0000-0000-0000-000000000003' ORDER BY seq;
SELECT ame_disable_audit('ame_visit_sessions');
-- attached by hand, with no arguments: still excluded, and shown so
CREATE TRIGGER sneaky AFTER INSERT OR UPDATE OR DELETE ON ame_visit_sessions
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();
SELECT table_name, excluded_columns, trigger_name FROM ame_audited_tables WHERE table_name = 'ame_visit_sessions';
UPDATE ame_visit_sessions SET session_token = 'tok-secret-3', is_active = false;
DELETE FROM ame_visit_sessions;
SELECT operation, changed_fields, old_values ? 'session_token' AS old_has_token,
       new_values ? 'session_token' AS new_has_token
FROM ame_audit_logs WHERE record_id = 'd2000000-0000-0000-0000-000000000003' ORDER BY seq;
SELECT count(*) AS token_in_log FROM ame_audit_logs
WHERE old_values::text LIKE '%tok-secret%' OR new_values::text LIKE '%tok-secret%';
DROP TRIGGER sneaky ON ame_visit_sessions;
SELECT ame_enable_audit('ame_visit_sessions_archive');
SELECT table_name, excluded_columns FROM ame_audited_tables WHERE table_name = 'ame_visit_sessions_archive';
SELECT ame_disable_audit('ame_visit_sessions_archive');
-- disabling drops the list; a dropped table's list goes at the next call
DROP TABLE gov."Odd";
SELECT ame_disable_audit('gov.tech');
SELECT ame_enable_audit('gov.fresh');
SELECT relid, excluded_columns FROM ame_audit_exclusions ORDER BY relid::text COLLATE "C";
SELECT ame_disable_audit('gov.fresh');
-- on a partitioned table the list holds for its partitions; it is set on
-- the parent only
CREATE TABLE gov.parted (id uuid, k int, secret text) PARTITION BY LIST (k);
CREATE TABLE gov.parted_1 PARTITION OF gov.parted FOR VALUES IN (1);
SELECT ame_enable_audit('gov.parted', ARRAY['secret']);
CREATE TABLE gov.parted_2 PARTITION OF gov.parted FOR VALUES IN (2);
SELECT table_name, excluded_columns, partition_of FROM ame_audited_tables
WHERE table_name LIKE 'parted%' ORDER BY table_name COLLATE "C";
INSERT INTO gov.parted VALUES ('d1000000-0000-0000-0000-000000000007', 1, 's'),
                              ('d1000000-0000-0000-0000-000000000008', 2, 's');
SELECT table_name, new_values FROM ame_audit_logs WHERE table_name LIKE 'parted%' ORDER BY seq;
SELECT ame_enable_audit('gov.parted_1');
SELECT ame_enable_audit('gov.parted_1', ARRAY['k']);
\echo :LAST_ERROR_SQLSTATE

-- owner only, like the rest
CREATE ROLE ame_gov_user;
GRANT USAGE ON SCHEMA gov TO ame_gov_user;
SET ROLE ame_gov_user;
SELECT ame_enable_audit('gov.fresh', ARRAY['secret']);
\echo :LAST_ERROR_SQLSTATE
-- like the extension's other relations, the view needs a grant
SELECT count(*) FROM ame_audited_tables;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'gov.fresh'::regclass;

DELETE FROM ame_visits;
DELETE FROM ame_customers;
DROP SCHEMA gov CASCADE;
DROP ROLE ame_gov_user;
