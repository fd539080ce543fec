--
-- audit: audit_trigger_function(), the append-only log, purge, enabling
-- and disabling, misuse
--
\set VERBOSITY terse
-- what earlier tests left is not this test's: their log rows and
-- maintenance entries go, customer numbers start again from 1 (the purge
-- counts below are this test's rows only, whatever ran before)
SELECT ame_purge_audit_logs('0') >= 0 AS earlier_rows_purged;
DELETE FROM system_maintenance_log;
SELECT setval('customer_sequence', 1, false);
SELECT coalesce(max(seq), 0) AS seq0 FROM ame_audit_logs \gset

-- on by default for these tables
SELECT tgrelid::regclass::text COLLATE "C" AS audited
FROM pg_trigger WHERE tgname = 'ame_audit' ORDER BY 1;

-- one row per changed row, with both images and the changed columns
INSERT INTO ame_customers (id, company_name, service_tier, phone, email)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Audit Co', 'core', '555-1234 x7', 'A@Example.com');
UPDATE ame_customers SET site_name = 'North', phone = '555 9999';
UPDATE ame_customers SET site_name = 'North';          -- no change: no row
UPDATE ame_customers SET email = ' a@example.com ';     -- normalizes to the same: no row
DELETE FROM ame_customers;
SELECT operation, table_schema, table_name, record_id, changed_fields,
       old_values - 'created_at' - 'updated_at' AS old_values,
       new_values - 'created_at' - 'updated_at' AS new_values
FROM ame_audit_logs WHERE seq > :seq0 ORDER BY seq;

-- the images are to_jsonb() of the row, and performed_at is the
-- transaction's time; seq orders changes within one transaction
BEGIN;
INSERT INTO ame_technicians (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'Ann');
UPDATE ame_technicians SET name = 'Anne';
SAVEPOINT s;    -- the txid in context is the top-level one, also here
UPDATE ame_technicians SET is_active = false;
SELECT l.new_values = to_jsonb(t) AS image_is_to_jsonb,
       l.performed_at = now() AS at_transaction_time,
       (l.context ->> 'txid')::bigint = txid_current() AS top_level_txid
FROM ame_audit_logs l, ame_technicians t
WHERE l.record_id = t.id ORDER BY l.seq DESC LIMIT 1;
SELECT operation, changed_fields, seq - min(seq) OVER () AS seq_offset
FROM ame_audit_logs WHERE table_name = 'ame_technicians' AND seq > :seq0 ORDER BY seq;
COMMIT;

-- who and where: the JWT identity and the context
SET request.jwt.claims = '{"sub": "b0000000-0000-0000-0000-000000000001"}';
SET application_name = 'audit-test';
SET ame.audit_context = '{"reason": "data fix", "ticket": 42}';
UPDATE ame_technicians SET phone = '555-0101';
SELECT user_id, context - 'txid' - 'current_user' - 'session_user' - 'client_addr' AS context,
       context ? 'txid' AS has_txid, context ? 'client_addr' AS has_client_addr,
       context ->> 'current_user' = current_user AS has_current_user,
       context ->> 'session_user' = session_user AS has_session_user
FROM ame_audit_logs ORDER BY seq DESC LIMIT 1;
-- ame.audit_context that is not JSON is kept as a string
SET ame.audit_context = 'nightly fix, not JSON';
UPDATE ame_technicians SET phone = '555-0102';
SELECT context -> 'audit_context' AS audit_context FROM ame_audit_logs ORDER BY seq DESC LIMIT 1;
RESET ame.audit_context;
RESET application_name;
-- a bad claim never breaks the write: NULL user_id, the claim in context
SET request.jwt.claims = '{"sub": "not-a-uuid"}';
UPDATE ame_technicians SET phone = '555-0103';
SELECT user_id, context ->> 'invalid_claim' AS invalid_claim,
       context ->> 'invalid_claim_guc' AS guc
FROM ame_audit_logs ORDER BY seq DESC LIMIT 1;
SET request.jwt.claims = '{broken';
UPDATE ame_technicians SET phone = '555-0104';
SELECT user_id, context ->> 'invalid_claim' AS invalid_claim
FROM ame_audit_logs ORDER BY seq DESC LIMIT 1;
-- no claim: NULL user_id
RESET request.jwt.claims;
UPDATE ame_technicians SET phone = '555-0105';
SELECT user_id, context ? 'invalid_claim' AS has_invalid_claim
FROM ame_audit_logs ORDER BY seq DESC LIMIT 1;

-- a changed id: record_id is the new one, the old one is in old_values
UPDATE ame_technicians SET id = 'a0000000-0000-0000-0000-000000000002';
SELECT record_id, old_values ->> 'id' AS old_id, changed_fields
FROM ame_audit_logs ORDER BY seq DESC LIMIT 1;

-- savepoints: a rolled-back change leaves no audit row
SELECT count(*) AS rows_before FROM ame_audit_logs \gset
BEGIN;
UPDATE ame_technicians SET name = 'Kept';
SAVEPOINT s1;
UPDATE ame_technicians SET name = 'Rolled back';
ROLLBACK TO s1;
UPDATE ame_technicians SET is_active = true;
COMMIT;
SELECT count(*) - :rows_before AS new_rows FROM ame_audit_logs;
SELECT new_values ->> 'name' AS name FROM ame_audit_logs ORDER BY seq DESC LIMIT 2;
BEGIN;
UPDATE ame_technicians SET name = 'Never';
ROLLBACK;
SELECT count(*) - :rows_before AS new_rows FROM ame_audit_logs;

--
-- the log is append-only, for everyone, also as replica
--
SELECT count(*) AS log_rows FROM ame_audit_logs \gset
UPDATE ame_audit_logs SET operation = 'DELETE';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
DELETE FROM ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
SELECT count(*) = :log_rows AS log_unchanged FROM ame_audit_logs;

-- ame_purge_audit_logs: the only way out, owner only, logged
SELECT ame_purge_audit_logs(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_purge_audit_logs('-1 day');
\echo :LAST_ERROR_SQLSTATE
-- an interval that compares equal to zero (a month counts as 30 days) but
-- reaches about 5 days past now: refused too, nothing goes
SELECT ame_purge_audit_logs('-1 year +360 days');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :log_rows AS log_unchanged FROM ame_audit_logs;
SELECT ame_purge_audit_logs('1 day') AS purged_recent;
SELECT count(*) = :log_rows AS log_unchanged FROM ame_audit_logs;
SELECT ame_purge_audit_logs('0') AS purged_all_older;
SELECT count(*) AS log_rows_left FROM ame_audit_logs;
SELECT operation, affected_rows, details ->> 'older_than' AS older_than
FROM system_maintenance_log ORDER BY performed_at, affected_rows;
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
FROM pg_proc p WHERE p.proname IN ('ame_purge_audit_logs', 'ame_enable_audit',
  'ame_disable_audit', 'audit_trigger_function', 'ame_record_history', 'ame_record_at')
ORDER BY 1;

--
-- an ordinary role needs no right on the log to be audited, and gets none
--
CREATE ROLE ame_auditee;
GRANT SELECT, INSERT, UPDATE ON ame_technicians TO ame_auditee;
SET ROLE ame_auditee;
INSERT INTO ame_technicians (id, name) VALUES ('a0000000-0000-0000-0000-000000000003', 'By role');
UPDATE ame_technicians SET phone = '555-0200' WHERE name = 'By role';
SELECT count(*) FROM ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation)
VALUES ('public', 'x', gen_random_uuid(), 'INSERT');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_purge_audit_logs('0');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT operation, context ->> 'current_user' AS current_user, new_values ->> 'phone' AS phone
FROM ame_audit_logs WHERE record_id = 'a0000000-0000-0000-0000-000000000003' ORDER BY seq;

--
-- any table with a uuid id
--
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Odd ""Table""" (
  "Mixed Case" int, id uuid PRIMARY KEY, payload jsonb, amount numeric,
  doubled int GENERATED ALWAYS AS ("Mixed Case" * 2) STORED);
SELECT ame_enable_audit('"Odd Schema"."Odd ""Table"""');
SELECT ame_enable_audit('"Odd Schema"."Odd ""Table"""');
SET search_path = pg_catalog;
INSERT INTO "Odd Schema"."Odd ""Table""" VALUES (1, 'e0000000-0000-0000-0000-000000000001', '{"a": [1, 2]}', 1.50);
UPDATE "Odd Schema"."Odd ""Table""" SET "Mixed Case" = 2, amount = NULL;
RESET search_path;
SELECT table_schema, table_name, changed_fields, new_values
FROM ame_audit_logs WHERE record_id = 'e0000000-0000-0000-0000-000000000001' ORDER BY seq;
SELECT ame_disable_audit('"Odd Schema"."Odd ""Table"""');
SELECT ame_disable_audit('"Odd Schema"."Odd ""Table"""');
UPDATE "Odd Schema"."Odd ""Table""" SET "Mixed Case" = 3;
SELECT count(*) AS rows_after_disable FROM ame_audit_logs
WHERE record_id = 'e0000000-0000-0000-0000-000000000001';

-- refused up front: no id, an id that is not a uuid, not a table, NULL
CREATE TABLE no_id (key uuid);
CREATE TABLE text_id (id text);
SELECT ame_enable_audit('no_id');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('text_id');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit('technician_performance');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_enable_audit(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid IN ('no_id'::regclass, 'text_id'::regclass);

--
-- misuse at fire time is 39P01 and writes nothing
--
SELECT count(*) AS log_rows FROM ame_audit_logs \gset
SELECT audit_trigger_function();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER t BEFORE INSERT ON text_id FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();
INSERT INTO text_id VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON text_id;
CREATE TRIGGER t AFTER INSERT ON text_id FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger_function();
INSERT INTO text_id VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON text_id;
CREATE TRIGGER t AFTER TRUNCATE ON text_id FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger_function();
TRUNCATE text_id;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON text_id;
CREATE TRIGGER t AFTER INSERT ON text_id FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();
INSERT INTO text_id VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON text_id;
CREATE TRIGGER t AFTER INSERT ON no_id FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();
INSERT INTO no_id VALUES (gen_random_uuid());
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON no_id;
-- an audited table whose id is renamed away, or dropped
CREATE TABLE renamed (id uuid, v int);
SELECT ame_enable_audit('renamed');
INSERT INTO renamed VALUES (gen_random_uuid(), 1);
ALTER TABLE renamed RENAME COLUMN id TO ident;
INSERT INTO renamed VALUES (gen_random_uuid(), 2);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE renamed DROP COLUMN ident;
INSERT INTO renamed VALUES (3);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :log_rows AS rows_written FROM ame_audit_logs;
SELECT count(*) AS renamed_rows FROM renamed;

DROP TABLE renamed, no_id, text_id;
DROP SCHEMA "Odd Schema" CASCADE;
REVOKE ALL ON ame_technicians FROM ame_auditee;
DROP ROLE ame_auditee;
DELETE FROM ame_technicians;
DELETE FROM system_maintenance_log;
SELECT setval('customer_sequence', 1, false);
