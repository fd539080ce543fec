--
-- audit_batch: the log rows of a statement are inserted as a batch; what
-- any query can see must be what it would see if every row were inserted
-- at once, and rows of rolled-back work must go with it
--
\set VERBOSITY terse
CREATE SCHEMA batch;
CREATE TABLE batch.t (id uuid PRIMARY KEY, n int NOT NULL);
SELECT ame_enable_audit('batch.t');
CREATE FUNCTION batch.uid(i int) RETURNS uuid LANGUAGE sql IMMUTABLE
AS $$ SELECT lpad(to_hex(i), 32, '0')::uuid $$;
CREATE VIEW batch.log AS
  SELECT * FROM ame_audit_logs WHERE table_schema = 'batch' AND table_name = 't';

-- more rows than one batch holds (1000): every change logged once, and
-- seq follows the order in which the rows changed
INSERT INTO batch.t SELECT batch.uid(i), i FROM generate_series(1, 2500) i;
UPDATE batch.t SET n = n + 1;
SELECT operation, count(*), count(DISTINCT record_id) AS records,
       count(DISTINCT id) AS ids
FROM batch.log GROUP BY operation ORDER BY operation;
-- the INSERT's rows, in seq order, are the rows in insertion order
SELECT bool_and(rn = (new_values ->> 'n')::int) AS seq_follows_changes
FROM (SELECT new_values, row_number() OVER (ORDER BY seq) AS rn
      FROM batch.log WHERE operation = 'INSERT') s;
-- every UPDATE row has the images of its own row
SELECT count(*) FILTER (WHERE (new_values ->> 'n')::int <> (old_values ->> 'n')::int + 1
                          OR record_id <> (new_values ->> 'id')::uuid) AS wrong
FROM batch.log WHERE operation = 'UPDATE';

-- a later statement of the same transaction sees the rows
BEGIN;
UPDATE batch.t SET n = 0 WHERE n <= 10;
SELECT count(*) AS seen_in_same_transaction FROM batch.log WHERE new_values ->> 'n' = '0';
ROLLBACK;
SELECT count(*) AS after_rollback FROM batch.log WHERE new_values ->> 'n' = '0';

-- a rolled-back savepoint takes its rows along, the rest stays
BEGIN;
UPDATE batch.t SET n = -1 WHERE n = 2;
SAVEPOINT s;
UPDATE batch.t SET n = -2 WHERE n BETWEEN 3 AND 1500;
ROLLBACK TO SAVEPOINT s;
UPDATE batch.t SET n = -3 WHERE n = 1600;
COMMIT;
SELECT new_values ->> 'n' AS n, count(*) FROM batch.log
WHERE (new_values ->> 'n')::int < 0 GROUP BY 1 ORDER BY 1;
-- a released savepoint keeps them
BEGIN;
SAVEPOINT s;
UPDATE batch.t SET n = -4 WHERE n BETWEEN 1601 AND 2700;
RELEASE SAVEPOINT s;
COMMIT;
SELECT count(*) AS released FROM batch.log WHERE new_values ->> 'n' = '-4';

-- a PL/pgSQL exception block that catches an error rolls back its rows
DO $$
BEGIN
  BEGIN
    UPDATE batch.t SET n = -5 WHERE n BETWEEN 100 AND 1400;
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  UPDATE batch.t SET n = -6 WHERE n = 99;
END $$;
SELECT new_values ->> 'n' AS n, count(*) FROM batch.log
WHERE new_values ->> 'n' IN ('-5', '-6') GROUP BY 1 ORDER BY 1;

-- a statement that fails after its rows were logged leaves no log row
CREATE FUNCTION batch.fail_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.n = -7 AND OLD.n = 1200 THEN
    RAISE EXCEPTION 'row % refused', OLD.n;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_fail AFTER UPDATE ON batch.t
  FOR EACH ROW EXECUTE FUNCTION batch.fail_at();
SELECT count(*) AS log_rows_before FROM batch.log;
UPDATE batch.t SET n = -7 WHERE n BETWEEN 100 AND 1400;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS log_rows_after FROM batch.log;
SELECT count(*) AS table_unchanged FROM batch.t WHERE n = -7;
DROP TRIGGER zz_fail ON batch.t;

-- another AFTER trigger of the same statement that reads the log sees the
-- row its own change produced when it fires after ame_audit (trigger
-- names order them), and not when it fires before
CREATE TABLE batch.seen (trigger text, id uuid, logged bigint);
CREATE FUNCTION batch.probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO batch.seen
  SELECT TG_NAME, NEW.id, count(*) FROM batch.log
  WHERE record_id = NEW.id AND new_values ->> 'n' = '-8';
  RETURN NULL;
END $$;
CREATE TRIGGER aa_probe AFTER UPDATE ON batch.t
  FOR EACH ROW EXECUTE FUNCTION batch.probe();
CREATE TRIGGER zz_probe AFTER UPDATE ON batch.t
  FOR EACH ROW EXECUTE FUNCTION batch.probe();
UPDATE batch.t SET n = -8 WHERE n BETWEEN 200 AND 204;
SELECT trigger, count(*) AS fired, min(logged), max(logged)
FROM batch.seen GROUP BY trigger ORDER BY trigger;
DROP TRIGGER aa_probe ON batch.t;
DROP TRIGGER zz_probe ON batch.t;

-- a change audited in a subtransaction begun while a batch waits (an
-- exception block in a trigger) is logged too, and seq still orders the
-- changes as they happened
CREATE FUNCTION batch.nested() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    UPDATE batch.t SET n = -10 WHERE id = batch.uid(2400) AND NEW.n = -9;
  EXCEPTION WHEN others THEN
    RAISE;
  END;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_nested AFTER UPDATE ON batch.t
  FOR EACH ROW EXECUTE FUNCTION batch.nested();
UPDATE batch.t SET n = -9 WHERE id IN (batch.uid(2300), batch.uid(2301));
DROP TRIGGER zz_nested ON batch.t;
SELECT record_id = batch.uid(2400) AS nested_row, new_values ->> 'n' AS n,
       rank() OVER (ORDER BY seq) AS seq_rank
FROM batch.log WHERE new_values ->> 'n' IN ('-9', '-10')
ORDER BY seq;

-- an AFTER trigger that fires after ame_audit sees the row of its own
-- change also inside a PL/pgSQL exception block (a subtransaction begun
-- while the statement's rows wait); when that block fails after looking,
-- the waiting rows are still logged, exactly once
CREATE TABLE batch.seen_sub (n int, inside bigint, outside bigint, failed boolean);
CREATE FUNCTION batch.probe_sub() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  inside bigint;
  outside bigint;
  failed boolean := false;
BEGIN
  BEGIN
    SELECT count(*) INTO inside FROM batch.log
    WHERE record_id = NEW.id AND new_values ->> 'n' = NEW.n::text;
    IF NEW.n = -13 THEN
      RAISE EXCEPTION 'undo the block';
    END IF;
  EXCEPTION WHEN raise_exception THEN
    failed := true;
  END;
  SELECT count(*) INTO outside FROM batch.log
  WHERE record_id = NEW.id AND new_values ->> 'n' = NEW.n::text;
  INSERT INTO batch.seen_sub VALUES (NEW.n, inside, outside, failed);
  RETURN NULL;
END $$;
CREATE TRIGGER zz_probe_sub AFTER UPDATE ON batch.t
  FOR EACH ROW EXECUTE FUNCTION batch.probe_sub();
UPDATE batch.t SET n = -12 WHERE id IN (batch.uid(2302), batch.uid(2303), batch.uid(2304));
UPDATE batch.t SET n = -13 WHERE id IN (batch.uid(2305), batch.uid(2306));
DROP TRIGGER zz_probe_sub ON batch.t;
SELECT n, failed, count(*) AS rows, min(inside) AS inside_min, max(inside) AS inside_max,
       min(outside) AS outside_min, max(outside) AS outside_max
FROM batch.seen_sub GROUP BY n, failed ORDER BY n DESC;
SELECT new_values ->> 'n' AS n, count(*) AS logged, count(DISTINCT record_id) AS records,
       count(DISTINCT seq) AS seqs
FROM batch.log WHERE new_values ->> 'n' IN ('-12', '-13') GROUP BY 1 ORDER BY 1 DESC;

-- the same with a savepoint rolled back after the rows were written inside
-- it, two levels deep, and with one released: the statement's rows stay,
-- once each; the rows of the rolled-back work go
CREATE FUNCTION batch.probe_nested() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.n <> -14 THEN
    RETURN NULL;
  END IF;
  BEGIN
    BEGIN
      RAISE NOTICE 'inner block: % logged', (SELECT count(*) FROM batch.log
        WHERE record_id = NEW.id AND new_values ->> 'n' = '-14');
      UPDATE batch.t SET n = -15 WHERE id = batch.uid(2399);
      PERFORM count(*) FROM batch.log;
      RAISE EXCEPTION 'undo the inner block';
    EXCEPTION WHEN raise_exception THEN
      NULL;
    END;
    RAISE NOTICE 'outer block: % logged', (SELECT count(*) FROM batch.log
      WHERE record_id = NEW.id AND new_values ->> 'n' = '-14');
    IF NEW.id = batch.uid(2308) THEN
      RAISE EXCEPTION 'undo the outer block';
    END IF;
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_probe_nested AFTER UPDATE ON batch.t
  FOR EACH ROW EXECUTE FUNCTION batch.probe_nested();
BEGIN;
UPDATE batch.t SET n = -14 WHERE id IN (batch.uid(2307), batch.uid(2308), batch.uid(2309));
SAVEPOINT s;
UPDATE batch.t SET n = -16 WHERE id = batch.uid(2310);
ROLLBACK TO SAVEPOINT s;
COMMIT;
DROP TRIGGER zz_probe_nested ON batch.t;
SELECT new_values ->> 'n' AS n, count(*) AS logged, count(DISTINCT record_id) AS records,
       count(DISTINCT seq) AS seqs
FROM batch.log WHERE new_values ->> 'n' IN ('-14', '-15', '-16') GROUP BY 1 ORDER BY 1 DESC;
SELECT n, count(*) FROM batch.t WHERE n IN (-14, -15, -16) GROUP BY n ORDER BY n DESC;

-- a deferred audit trigger logs at commit; SET CONSTRAINTS ... IMMEDIATE
-- logs at once
CREATE TABLE batch.d (id uuid PRIMARY KEY, n int);
CREATE CONSTRAINT TRIGGER ame_audit AFTER INSERT OR UPDATE OR DELETE ON batch.d
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();
BEGIN;
INSERT INTO batch.d SELECT batch.uid(i), i FROM generate_series(1, 3) i;
SELECT count(*) AS before_commit FROM ame_audit_logs WHERE table_name = 'd';
SET CONSTRAINTS ALL IMMEDIATE;
SELECT count(*) AS after_set_immediate FROM ame_audit_logs WHERE table_name = 'd';
SET CONSTRAINTS ALL DEFERRED;
UPDATE batch.d SET n = n * 10;
COMMIT;
SELECT operation, count(*) FROM ame_audit_logs WHERE table_name = 'd'
GROUP BY operation ORDER BY operation;

-- COPY: the rows are in the log when the next command runs
BEGIN;
COPY batch.t FROM STDIN;
00000000-0000-0000-0000-00000000c001	1
00000000-0000-0000-0000-00000000c002	2
\.
SELECT count(*) AS copied FROM batch.log
WHERE operation = 'INSERT' AND record_id::text LIKE '00000000-0000-0000-0000-00000000c%';
COMMIT;

-- history and time travel see the rows of the statement just run
BEGIN;
UPDATE batch.t SET n = 4242 WHERE id = batch.uid(5);
SELECT operation, new_values ->> 'n' AS n
FROM ame_record_history('batch.t', batch.uid(5)) ORDER BY seq DESC LIMIT 1;
SELECT ame_record_at('batch.t', batch.uid(5), now()) ->> 'n' AS n_now;
COMMIT;

-- a change made while a log row is written (here by a CHECK constraint
-- of the log) cannot be audited: a clear error, and nothing changes
CREATE FUNCTION batch.meddle(text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE batch.t SET n = n + 1 WHERE id = batch.uid(6);
  RETURN true;
END $$;
ALTER TABLE ame_audit_logs ADD CONSTRAINT meddle CHECK (batch.meddle(operation)) NOT VALID;
SELECT n FROM batch.t WHERE id = batch.uid(7);
UPDATE batch.t SET n = n + 100 WHERE id = batch.uid(7);
\echo :LAST_ERROR_SQLSTATE
SELECT n FROM batch.t WHERE id IN (batch.uid(6), batch.uid(7)) ORDER BY id;
ALTER TABLE ame_audit_logs DROP CONSTRAINT meddle;

-- constraints an owner adds to the log hold for every row: a CHECK on
-- operation alone, checks of other columns (test/audit_guard.sql: a NOT
-- NULL); a refused row changes nothing.  (The error names the month's
-- partition, as PostgreSQL's does for a routed row: only its SQLSTATE is
-- shown, the output must not hold a date.)
\set VERBOSITY sqlstate
ALTER TABLE ame_audit_logs ADD CONSTRAINT no_deletes CHECK (operation <> 'DELETE') NOT VALID;
DELETE FROM batch.t WHERE id = batch.uid(8);
\echo :LAST_ERROR_SQLSTATE
UPDATE batch.t SET n = 800 WHERE id = batch.uid(8);
SELECT n FROM batch.t WHERE id = batch.uid(8);
ALTER TABLE ame_audit_logs DROP CONSTRAINT no_deletes;
ALTER TABLE ame_audit_logs ADD CONSTRAINT not_t CHECK (table_name <> 't') NOT VALID;
UPDATE batch.t SET n = 801 WHERE id = batch.uid(8);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ame_audit_logs DROP CONSTRAINT not_t;
ALTER TABLE ame_audit_logs ADD CONSTRAINT has_user CHECK (user_id IS NOT NULL) NOT VALID;
UPDATE batch.t SET n = 802 WHERE id = batch.uid(8);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ame_audit_logs DROP CONSTRAINT has_user;
\set VERBOSITY terse
SELECT n FROM batch.t WHERE id = batch.uid(8);
SELECT count(*) FILTER (WHERE new_values ->> 'n' IN ('801', '802')) AS refused_logged,
       count(*) FILTER (WHERE new_values ->> 'n' = '800') AS allowed_logged
FROM batch.log WHERE record_id = batch.uid(8);
-- and the install script's valid_audit_operation is still there
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'ame_audit_logs'::regclass AND contype = 'c';

-- a log whose columns no longer have the types the trigger writes is
-- refused (39P01), also when the error is caught, and then nothing leaks
DROP VIEW batch.log;
BEGIN;
ALTER TABLE ame_audit_logs ALTER COLUMN seq TYPE numeric;
UPDATE batch.t SET n = 803 WHERE id = batch.uid(8);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
ALTER TABLE ame_audit_logs ALTER COLUMN seq TYPE numeric;
DO $$
BEGIN
  UPDATE batch.t SET n = 804 WHERE id = batch.uid(8);
EXCEPTION WHEN trigger_protocol_violated THEN
  RAISE NOTICE 'refused: %', SQLERRM;
END $$;
ALTER TABLE ame_audit_logs ALTER COLUMN seq TYPE bigint;
COMMIT;
SELECT n FROM batch.t WHERE id = batch.uid(8);
-- a subtransaction that alters the log while rows of the enclosing
-- statement wait: those rows are in the log before the ALTER runs, and
-- every change is logged once, whether the ALTER stays or is undone
CREATE FUNCTION batch.alter_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attname = 'extra'
                   AND attrelid = 'ame_audit_logs'::regclass AND NOT attisdropped) THEN
      -- this row's change, and every earlier one of the statement, is in
      -- the log already
      RAISE NOTICE 'n = %: % rows logged before the ALTER', NEW.n,
        (SELECT count(*) FROM ame_audit_logs
         WHERE table_name = 't' AND new_values ->> 'n' = NEW.n::text);
      ALTER TABLE ame_audit_logs ADD COLUMN extra int;
      IF NEW.n = -17 THEN
        RAISE EXCEPTION 'undo the ALTER';
      END IF;
    END IF;
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_alter AFTER UPDATE ON batch.t
  FOR EACH ROW EXECUTE FUNCTION batch.alter_log();
UPDATE batch.t SET n = -17 WHERE n BETWEEN 41 AND 60;
SELECT count(*) AS extra_column FROM pg_attribute
WHERE attrelid = 'ame_audit_logs'::regclass AND attname = 'extra';
UPDATE batch.t SET n = -11 WHERE n BETWEEN 20 AND 40;
DROP TRIGGER zz_alter ON batch.t;
SELECT n, count(*) AS changed FROM batch.t WHERE n IN (-11, -17) GROUP BY n ORDER BY n;
SELECT new_values ->> 'n' AS n, count(*) AS logged, count(DISTINCT record_id) AS records,
       count(DISTINCT seq) AS seqs, count(extra) AS extra_set
FROM ame_audit_logs WHERE table_name = 't' AND new_values ->> 'n' IN ('-11', '-17')
GROUP BY 1 ORDER BY 1;
SELECT count(*) AS extra_column FROM pg_attribute
WHERE attrelid = 'ame_audit_logs'::regclass AND attname = 'extra';
ALTER TABLE ame_audit_logs DROP COLUMN extra;

DROP SCHEMA batch CASCADE;
