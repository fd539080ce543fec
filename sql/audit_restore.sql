--
-- audit_restore: a restore adds no audit rows, but only the owner (or a
-- superuser) can make a session a restore; the log's sequence is kept past
-- the log's highest seq, so that no seq repeats after a restore or a
-- logical-replication cut-over.  (test/audit_restore.t runs the real
-- restores and the subscriber.)
--
\set VERBOSITY terse
-- the superuser running the test owns the extension (its name varies)
SELECT current_user AS owner \gset

CREATE ROLE regress_ar_user;
GRANT SELECT, INSERT, UPDATE ON ame_customers TO regress_ar_user;
SELECT count(*) AS log_rows FROM ame_audit_logs \gset

-- the restore signals, in a superuser's session: rows load unaudited
SET row_security = off;
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Restored 1', 'CORE');
RESET row_security;
SET application_name = 'pg_restore';
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Restored 2', 'CORE');
UPDATE ame_customers SET site_name = 'restored' WHERE company_name = 'Restored 2';
RESET application_name;
SELECT count(*) - :log_rows AS rows_written FROM ame_audit_logs;

-- the same signals in a plain role's session count for nothing
SET SESSION AUTHORIZATION regress_ar_user;
SET row_security = off;
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Plain 1', 'CORE');
RESET row_security;
SET application_name = 'pg_restore';
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Plain 2', 'CORE');
RESET application_name;
RESET SESSION AUTHORIZATION;
-- nor in a superuser's session after SET ROLE to an ordinary role
SET ROLE regress_ar_user;
SET row_security = off;
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Plain 3', 'CORE');
RESET row_security;
RESET ROLE;
SELECT count(*) - :log_rows AS rows_written FROM ame_audit_logs;
SELECT new_values->>'company_name' AS audited, context->>'current_user' AS current_user,
       (context->>'session_user') = :'owner' AS session_user_is_owner
FROM ame_audit_logs ORDER BY seq DESC LIMIT 3;

-- nor through a function that runs as the owner
CREATE FUNCTION regress_ar_rename(newname text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ UPDATE public.ame_customers SET site_name = newname WHERE company_name = 'Plain 1' $$;
GRANT EXECUTE ON FUNCTION regress_ar_rename(text) TO regress_ar_user;
SET SESSION AUTHORIZATION regress_ar_user;
SET row_security = off;
SET application_name = 'pg_restore';
SELECT regress_ar_rename('via the owner');
RESET application_name;
RESET row_security;
RESET SESSION AUTHORIZATION;
SELECT operation, changed_fields, new_values->>'site_name' AS site_name,
       (context->>'current_user') = :'owner' AS current_user_is_owner,
       context->>'session_user' AS session_user
FROM ame_audit_logs ORDER BY seq DESC LIMIT 1;

-- a role that SET ROLE made the owner counts (pg_restore --role)
GRANT :"owner" TO regress_ar_user;
SET SESSION AUTHORIZATION regress_ar_user;
SET ROLE :"owner";
SET row_security = off;
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Restored 3', 'CORE');
RESET row_security;
RESET ROLE;
RESET SESSION AUTHORIZATION;
REVOKE :"owner" FROM regress_ar_user;
SELECT count(*) AS audited_restored FROM ame_audit_logs
WHERE new_values->>'company_name' LIKE 'Restored%';

-- the sequence behind the log (as a restore of a subscriber leaves it):
-- the next audited change moves it past the highest seq first
SELECT max(seq) AS max_seq FROM ame_audit_logs \gset
SELECT setval('ame_audit_logs_seq_seq', 1);
UPDATE ame_customers SET site_name = 'after setval' WHERE company_name = 'Restored 1';
SELECT seq > :max_seq AS above_every_row, count(*) OVER () AS rows_of_change
FROM ame_audit_logs WHERE new_values->>'site_name' = 'after setval';
SELECT count(*) = count(DISTINCT seq) AS no_seq_repeats FROM ame_audit_logs;

-- never used since it was set (setval(1, false), as pg_dump writes an
-- unused sequence): the same
SELECT max(seq) AS max_seq FROM ame_audit_logs \gset
SELECT setval('ame_audit_logs_seq_seq', 1, false);
UPDATE ame_customers SET site_name = 'after unused' WHERE company_name = 'Restored 1';
SELECT seq > :max_seq AS above_every_row
FROM ame_audit_logs WHERE new_values->>'site_name' = 'after unused';

-- a sequence ahead of the log is left alone: never moved back
SELECT setval('ame_audit_logs_seq_seq', :max_seq + 1000) - :max_seq AS ahead_by;
UPDATE ame_customers SET site_name = 'ahead' WHERE company_name = 'Restored 1';
SELECT seq - :max_seq AS seq_after_max
FROM ame_audit_logs WHERE new_values->>'site_name' = 'ahead';

-- in one transaction with several changes: checked once, seq increasing
BEGIN;
SELECT setval('ame_audit_logs_seq_seq', 5);
SELECT max(seq) AS max_seq FROM ame_audit_logs \gset
UPDATE ame_customers SET site_name = 'tx ' || company_name WHERE company_name LIKE 'Restored%';
COMMIT;
SELECT count(*) AS changes, min(seq) > :max_seq AS above_every_row,
       count(DISTINCT seq) = count(*) AS distinct_seq
FROM ame_audit_logs WHERE new_values->>'site_name' LIKE 'tx %';

-- without those indexes (dropped by the owner) the check scans each
-- partition, and still holds
SELECT string_agg(format('DROP INDEX %s', i.indexrelid::regclass), '; ') AS drops,
       string_agg(format('CREATE INDEX %I ON %s (seq)', c.relname, i.indrelid::regclass), '; ') AS creates
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass)
  AND pg_get_indexdef(i.indexrelid) LIKE '%USING btree (seq)' \gset
:drops;
SELECT max(seq) AS max_seq FROM ame_audit_logs \gset
SELECT setval('ame_audit_logs_seq_seq', 1);
UPDATE ame_customers SET site_name = 'no index' WHERE company_name = 'Restored 1';
SELECT seq > :max_seq AS above_every_row
FROM ame_audit_logs WHERE new_values->>'site_name' = 'no index';
:creates;

-- the indexes that make the check one probe per partition (not UNIQUE: a
-- restore must never fail on them)
SELECT indexrelid::regclass AS index, indisunique, pg_get_indexdef(indexrelid) AS definition
FROM pg_index WHERE indexrelid = 'ame_audit_logs_default_seq_idx'::regclass;
SELECT count(*) AS partitions_without_one
FROM pg_inherits h
WHERE h.inhparent = 'ame_audit_logs'::regclass
  AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = h.inhrelid AND NOT i.indisunique
                  AND pg_get_indexdef(i.indexrelid) LIKE '%USING btree (seq)');

DROP FUNCTION regress_ar_rename(text);
REVOKE ALL ON ame_customers FROM regress_ar_user;
DROP ROLE regress_ar_user;
DELETE FROM ame_customers;
SELECT setval('customer_sequence', 1, false);
