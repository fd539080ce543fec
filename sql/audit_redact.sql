--
-- audit_redact: ame_redact_audit(), the GDPR erasure path of the audit log
--
\set VERBOSITY terse

CREATE SCHEMA red;
CREATE TABLE red.person (id uuid PRIMARY KEY, name text, email text, phone text, note jsonb);
CREATE TABLE red.other (id uuid PRIMARY KEY, email text);
CREATE TABLE red.never (id uuid PRIMARY KEY, email text);
SELECT ame_enable_audit('red.person');
SELECT ame_enable_audit('red.other');

-- a person's life, and another table's row with the same id
INSERT INTO red.person VALUES ('e1000000-0000-0000-0000-000000000001', 'Eve', 'eve@a.example', '555', '{"k": 1}');
SELECT clock_timestamp() AS t1 \gset
UPDATE red.person SET email = 'eve@b.example';
UPDATE red.person SET name = 'Eve B';
INSERT INTO red.person VALUES ('e1000000-0000-0000-0000-000000000002', 'Zed', 'zed@a.example', '556', NULL);
INSERT INTO red.other VALUES ('e1000000-0000-0000-0000-000000000001', 'other@a.example');
UPDATE red.other SET email = 'other@b.example';

-- a fingerprint of every log row but the person's images
CREATE FUNCTION red.fp_others() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(l::text, '|' ORDER BY l.seq)) FROM ame_audit_logs l
  WHERE NOT (l.table_schema = 'red' AND l.table_name = 'person'
             AND l.record_id = 'e1000000-0000-0000-0000-000000000001') $$;
CREATE FUNCTION red.fp_all() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(l::text, '|' ORDER BY l.seq)) FROM ame_audit_logs l $$;
CREATE FUNCTION red.fp_upto(s bigint) RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(l::text, '|' ORDER BY l.seq)) FROM ame_audit_logs l WHERE l.seq <= s $$;
-- the person's rows up to seq s, but their images
CREATE FUNCTION red.fp_rest(s bigint) RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(concat_ws(',', l.id, l.operation, l.changed_fields, l.user_id,
                                  l.performed_at, l.seq, l.context), '|' ORDER BY l.seq))
  FROM ame_audit_logs l
  WHERE l.table_schema = 'red' AND l.table_name = 'person'
    AND l.record_id = 'e1000000-0000-0000-0000-000000000001' AND l.seq <= s $$;
SELECT max(seq) AS maxseq FROM ame_audit_logs \gset
SELECT red.fp_others() AS others, red.fp_rest(:maxseq) AS rest, red.fp_all() AS all_rows \gset

--
-- bad arguments are refused, and the log is as it was
--
SELECT ame_redact_audit(NULL, 'e1000000-0000-0000-0000-000000000001', ARRAY['email'], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', NULL, ARRAY['email'], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', NULL, 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', '{}', 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', ARRAY['email', NULL], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', ARRAY['emial'], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', ARRAY['xmin'], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', ARRAY['id'], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', ARRAY['email', 'email'], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', ARRAY[['email'], ['phone']], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', ARRAY['email'], NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001', ARRAY['email'], '  ');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('red.never', 'e1000000-0000-0000-0000-000000000001', ARRAY['email'], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_redact_audit('technician_performance', 'e1000000-0000-0000-0000-000000000001', ARRAY['name'], 'r');
\echo :LAST_ERROR_SQLSTATE
SELECT red.fp_all() = :'all_rows' AS log_unchanged;

--
-- the redaction: every image of that record that has the column, and a
-- REDACT row; nothing else
--
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "e9000000-0000-0000-0000-000000000009"}';
SET LOCAL ame.audit_context = '{"ticket": "GDPR-42"}';
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001',
                        ARRAY['phone', 'email'], 'erasure request GDPR-42') AS images_redacted;
SELECT operation, user_id, context -> 'redaction' AS redaction,
       context -> 'audit_context' AS audit_context,
       context ? 'txid' AS has_txid, performed_at = now() AS now,
       seq > :maxseq AS last
FROM ame_audit_logs WHERE operation = 'REDACT';
COMMIT;
-- the other tables' rows, and all but the images of the person's: as they were
SELECT red.fp_others() = :'others' AS others_unchanged,
       red.fp_rest(:maxseq) = :'rest' AS rest_of_rows_unchanged;
SELECT operation, changed_fields, old_values, new_values
FROM ame_audit_logs
WHERE table_schema = 'red' AND table_name = 'person'
  AND record_id = 'e1000000-0000-0000-0000-000000000001'
ORDER BY seq;
-- the other table's row with the same id is untouched
SELECT new_values ->> 'email' AS other_email FROM ame_audit_logs
WHERE table_name = 'other' ORDER BY seq;

-- history and time travel show the redacted values
SELECT operation, changed_fields, new_values ->> 'email' AS email
FROM ame_record_history('red.person', 'e1000000-0000-0000-0000-000000000001');
SELECT ame_record_at('red.person', 'e1000000-0000-0000-0000-000000000001', :'t1') AS at_t1;
SELECT ame_record_at('red.person', 'e1000000-0000-0000-0000-000000000001', now()) AS at_now;

-- again: nothing left to redact (0 images), still recorded
SELECT red.fp_all() AS all_rows, max(seq) AS maxseq FROM ame_audit_logs \gset
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001',
                        ARRAY['email'], 'second request') AS images_redacted;
SELECT red.fp_upto(:maxseq) = :'all_rows' AS earlier_rows_unchanged,
       (SELECT count(*) FROM ame_audit_logs WHERE seq > :maxseq) AS new_rows;
-- a column that is in no image (added since): 0, recorded
ALTER TABLE red.person ADD COLUMN extra text;
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000002',
                        ARRAY['extra'], 'nothing to do') AS images_redacted;
-- a change made after a redaction logs the live row as it is: erase the
-- live value first, then redact the history
SELECT ame_enable_audit('red.person', ARRAY['note']);
UPDATE red.person SET note = '{"k": 2}', name = 'Eve C';
-- the earlier REDACT rows are images of the record too
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000001',
                        ARRAY['name'], 'name too') AS images_redacted;
SELECT operation, changed_fields, new_values ->> 'name' AS name, new_values ->> 'email' AS email
FROM ame_audit_logs
WHERE table_name = 'person' AND record_id = 'e1000000-0000-0000-0000-000000000001'
ORDER BY seq;

-- a deleted record: its REDACT row has no image, and ame_record_at() stays NULL
DELETE FROM red.person WHERE id = 'e1000000-0000-0000-0000-000000000002';
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000002',
                        ARRAY['email'], 'deleted person') AS images_redacted;
SELECT operation, changed_fields, old_values ->> 'email' AS old_email, new_values ->> 'email' AS new_email
FROM ame_audit_logs WHERE record_id = 'e1000000-0000-0000-0000-000000000002' ORDER BY seq;
SELECT ame_record_at('red.person', 'e1000000-0000-0000-0000-000000000002', now()) AS at_now;

-- a partitioned table logs under its partitions' names: the parent's
-- redaction reaches them
CREATE TABLE red.parted (id uuid, k int, email text) PARTITION BY LIST (k);
CREATE TABLE red.parted_1 PARTITION OF red.parted FOR VALUES IN (1);
CREATE TABLE red.parted_2 PARTITION OF red.parted FOR VALUES IN (2);
SELECT ame_enable_audit('red.parted');
INSERT INTO red.parted VALUES ('e1000000-0000-0000-0000-000000000003', 1, 'p@a.example');
UPDATE red.parted SET k = 2;
SELECT ame_redact_audit('red.parted', 'e1000000-0000-0000-0000-000000000003',
                        ARRAY['email'], 'partitioned') AS images_redacted;
SELECT table_name, operation, old_values ->> 'email' AS old_email, new_values ->> 'email' AS new_email
FROM ame_audit_logs WHERE record_id = 'e1000000-0000-0000-0000-000000000003' ORDER BY seq;

--
-- the append-only guard still refuses everything else: as superuser, under
-- replica role, after a redaction
--
SELECT red.fp_all() AS all_rows \gset
UPDATE ame_audit_logs SET new_values = '{}' WHERE operation = 'REDACT';
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_audit_logs SET old_values = old_values WHERE table_name = 'person';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ame_audit_logs WHERE operation = 'REDACT';
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
UPDATE ame_audit_logs SET new_values = '{}' WHERE operation = 'REDACT';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ame_audit_logs WHERE operation = 'REDACT';
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
SELECT red.fp_all() = :'all_rows' AS log_unchanged;

-- a redaction that fails midway changes nothing, and leaves the guard as
-- strict as before in the same session
CREATE FUNCTION red.fail_on_phone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.new_values ->> 'phone' = '[redacted]' OR NEW.old_values ->> 'phone' = '[redacted]' THEN
    RAISE EXCEPTION 'refusing this redaction';
  END IF;
  RETURN NEW;
END $$;
INSERT INTO red.other VALUES ('e1000000-0000-0000-0000-000000000004', 'x@a.example');
INSERT INTO red.person VALUES ('e1000000-0000-0000-0000-000000000004', 'Fay', 'fay@a.example', '557', NULL);
UPDATE red.person SET phone = '558';
SELECT red.fp_all() AS all_rows \gset
CREATE TRIGGER zz_fail BEFORE UPDATE ON ame_audit_logs
  FOR EACH ROW EXECUTE FUNCTION red.fail_on_phone();
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000004',
                        ARRAY['phone'], 'fails');
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_audit_logs SET new_values = '{}' WHERE record_id = 'e1000000-0000-0000-0000-000000000004';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ame_audit_logs WHERE record_id = 'e1000000-0000-0000-0000-000000000004';
\echo :LAST_ERROR_SQLSTATE
-- also inside a transaction that goes on after the failure
BEGIN;
SAVEPOINT s;
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000004',
                        ARRAY['phone'], 'fails');
ROLLBACK TO s;
UPDATE ame_audit_logs SET new_values = '{}' WHERE record_id = 'e1000000-0000-0000-0000-000000000004';
ROLLBACK;
DROP TRIGGER zz_fail ON ame_audit_logs;
SELECT red.fp_all() = :'all_rows' AS log_unchanged;

-- owner only: a grant of EXECUTE hands out nothing
CREATE ROLE ame_red_user;
GRANT USAGE ON SCHEMA red TO ame_red_user;
GRANT EXECUTE ON FUNCTION ame_redact_audit(regclass, uuid, text[], text) TO ame_red_user;
SET ROLE ame_red_user;
SELECT ame_redact_audit('red.person', 'e1000000-0000-0000-0000-000000000004', ARRAY['phone'], 'r');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT red.fp_all() = :'all_rows' AS log_unchanged;
SELECT has_function_privilege('public', 'ame_redact_audit(regclass, uuid, text[], text)', 'EXECUTE')
  AS public_exec;

DROP SCHEMA red CASCADE;
REVOKE ALL ON FUNCTION ame_redact_audit(regclass, uuid, text[], text) FROM ame_red_user;
DROP ROLE ame_red_user;
