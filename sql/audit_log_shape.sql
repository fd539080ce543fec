--
-- audit_log_shape: what the owner adds to ame_audit_logs (a NOT NULL
-- column with a default, a generated column, triggers, a rule) is honoured
-- by the audit trigger's writes, and never makes users' writes fail; once
-- removed, the log is written as before
--
\set VERBOSITY terse
CREATE SCHEMA shape;
CREATE TABLE shape.t (id uuid PRIMARY KEY, n int);
SELECT ame_enable_audit('shape.t');
CREATE FUNCTION shape.uid(i int) RETURNS uuid LANGUAGE sql IMMUTABLE
AS $$ SELECT lpad(to_hex(i), 32, '0')::uuid $$;
CREATE ROLE regress_ame_shape;
GRANT USAGE ON SCHEMA shape TO regress_ame_shape;
GRANT SELECT, INSERT, UPDATE, DELETE ON shape.t TO regress_ame_shape;
-- the owner of the log, as whom its triggers run
CREATE VIEW shape.log_owner AS
  SELECT pg_get_userbyid(relowner) AS rolname FROM pg_class
  WHERE oid = 'ame_audit_logs'::regclass;

-- a NOT NULL column with a default, added in a transaction that has
-- audited a change already: audited writes by a role without any right
-- on the log go on, and each row gets the default
BEGIN;
INSERT INTO shape.t VALUES (shape.uid(1), 1);
ALTER TABLE ame_audit_logs ADD COLUMN source text NOT NULL DEFAULT 'app';
SET LOCAL ROLE regress_ame_shape;
INSERT INTO shape.t VALUES (shape.uid(2), 2);
UPDATE shape.t SET n = 20 WHERE id = shape.uid(2);
DELETE FROM shape.t WHERE id = shape.uid(1);
COMMIT;
SELECT operation, record_id, old_values, new_values, changed_fields, source
FROM ame_audit_logs WHERE table_schema = 'shape' ORDER BY seq;

-- a generated column: computed for each row
ALTER TABLE ame_audit_logs
  ADD COLUMN op_initial text GENERATED ALWAYS AS (left(operation, 1)) STORED;
SET ROLE regress_ame_shape;
UPDATE shape.t SET n = 21 WHERE id = shape.uid(2);
RESET ROLE;
SELECT operation, new_values ->> 'n' AS n, source, op_initial
FROM ame_audit_logs WHERE table_schema = 'shape' ORDER BY seq DESC LIMIT 1;

-- triggers on the log: a BEFORE INSERT trigger that changes the row and
-- an AFTER INSERT trigger that records it elsewhere.  They run as the
-- log's owner, with search_path = pg_catalog, pg_temp.
CREATE TABLE shape.side (seq bigint, operation text, as_owner boolean, path text);
CREATE FUNCTION shape.log_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.source := 'stamped by trigger';
  RETURN NEW;
END $$;
CREATE FUNCTION shape.log_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO shape.side
  SELECT NEW.seq, NEW.operation, current_user = o.rolname, current_setting('search_path')
  FROM shape.log_owner o;
  RETURN NULL;
END $$;
CREATE TRIGGER log_before BEFORE INSERT ON ame_audit_logs
  FOR EACH ROW EXECUTE FUNCTION shape.log_before();
CREATE TRIGGER log_after AFTER INSERT ON ame_audit_logs
  FOR EACH ROW EXECUTE FUNCTION shape.log_after();
SET ROLE regress_ame_shape;
INSERT INTO shape.t VALUES (shape.uid(3), 3);
UPDATE shape.t SET n = n + 1;
RESET ROLE;
SELECT l.operation, l.record_id, l.new_values ->> 'n' AS n, l.source, l.op_initial,
       s.operation AS side_operation, s.as_owner, s.path
FROM ame_audit_logs l LEFT JOIN shape.side s USING (seq)
WHERE l.table_schema = 'shape' AND l.source = 'stamped by trigger' ORDER BY l.seq;
SELECT count(*) AS side_rows FROM shape.side;

-- a rule on the log is honoured too
CREATE TABLE shape.copied (seq bigint);
CREATE RULE log_copy AS ON INSERT TO ame_audit_logs
  DO ALSO INSERT INTO shape.copied VALUES (NEW.seq);
UPDATE shape.t SET n = 40 WHERE id = shape.uid(3);
SELECT count(*) AS copied,
       max(seq) = (SELECT max(seq) FROM ame_audit_logs) AS copied_the_last
FROM shape.copied;
DROP RULE log_copy ON ame_audit_logs;

-- the shape changes in the middle of a transaction, while rows wait: all
-- are written, each in the shape of the log when it was written
DROP TRIGGER log_before ON ame_audit_logs;
DROP TRIGGER log_after ON ame_audit_logs;
BEGIN;
UPDATE shape.t SET n = 50 WHERE id = shape.uid(2);
ALTER TABLE ame_audit_logs ALTER COLUMN source SET DEFAULT 'second default';
UPDATE shape.t SET n = 51 WHERE id = shape.uid(2);
ALTER TABLE ame_audit_logs DROP COLUMN op_initial;
UPDATE shape.t SET n = 52 WHERE id = shape.uid(2);
COMMIT;
SELECT new_values ->> 'n' AS n, source FROM ame_audit_logs
WHERE table_schema = 'shape' AND new_values ->> 'n' IN ('50', '51', '52') ORDER BY seq;

-- a trigger of the log that changes an audited table cannot be audited:
-- a clear error (09000), and nothing changes
CREATE FUNCTION shape.log_meddle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE shape.t SET n = n + 1000 WHERE id = shape.uid(3);
  RETURN NULL;
END $$;
CREATE TRIGGER log_meddle AFTER INSERT ON ame_audit_logs
  FOR EACH ROW EXECUTE FUNCTION shape.log_meddle();
CREATE TEMP TABLE log_count AS SELECT count(*) AS n FROM ame_audit_logs;
UPDATE shape.t SET n = 60 WHERE id = shape.uid(2);
\echo :LAST_ERROR_SQLSTATE
SELECT id, n FROM shape.t ORDER BY id;
SELECT count(*) - (SELECT n FROM log_count) AS log_rows_added FROM ame_audit_logs;
DROP TRIGGER log_meddle ON ame_audit_logs;

-- everything removed: the log is written as before, with the images and
-- changed fields of each change, and nothing of the removed parts runs
ALTER TABLE ame_audit_logs DROP COLUMN source;
CREATE TEMP TABLE side_count AS SELECT count(*) AS n FROM shape.side;
SET ROLE regress_ame_shape;
INSERT INTO shape.t VALUES (shape.uid(4), 4);
UPDATE shape.t SET n = 41 WHERE id = shape.uid(4);
DELETE FROM shape.t WHERE id = shape.uid(4);
RESET ROLE;
SELECT operation, table_name, record_id, old_values, new_values, changed_fields,
       user_id IS NULL AS no_user
FROM ame_audit_logs WHERE table_schema = 'shape' AND record_id = shape.uid(4) ORDER BY seq;
SELECT count(*) - (SELECT n FROM side_count) AS side_rows_added FROM shape.side;
SELECT count(*) AS copied FROM shape.copied;
SELECT count(*) AS extra_columns FROM pg_attribute
WHERE attrelid = 'ame_audit_logs'::regclass AND attnum > 0 AND NOT attisdropped
  AND attname IN ('source', 'op_initial');

DROP SCHEMA shape CASCADE;
DROP ROLE regress_ame_shape;
