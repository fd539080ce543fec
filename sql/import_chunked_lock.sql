--
-- import_chunked_lock: the lock that says "a session runs this chunked
-- batch" cannot be taken from SQL; a role with no privilege at all that
-- calls pg_advisory_lock() with the batch's key neither makes an
-- interrupted batch look running nor blocks its resume
--
\set VERBOSITY terse
SELECT lo_from_bytea(0, convert_to(E'name\nL-1\nL-2\nL-3\n', 'UTF8')) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_import_regress_lock.csv');
SELECT lo_unlink(:lo);
-- a batch stopped at its second chunk
CREATE FUNCTION stop_at_l3() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN
  IF NEW.name = 'L-3' THEN
    RAISE EXCEPTION 'stopped at L-3' USING ERRCODE = 'query_canceled';
  END IF;
  RETURN NEW;
END$$;
CREATE TRIGGER stop_at_l3 BEFORE INSERT ON ame_technicians
FOR EACH ROW EXECUTE FUNCTION stop_at_l3();
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_lock.csv', 'technicians', 2);
DROP TRIGGER stop_at_l3 ON ame_technicians;
DROP FUNCTION stop_at_l3();
SELECT id AS stopped FROM import_batches WHERE source_file = '/tmp/ame_import_regress_lock.csv' \gset
-- as a terminated backend leaves it: processing, no session holding it
UPDATE import_batches SET status = 'processing' WHERE id = :'stopped';
SELECT status, pid IS NULL AS no_pid, records_read FROM ame_import_progress(:'stopped');

-- a role with no privilege takes the int4-pair advisory lock of the batch
CREATE ROLE ame_lock_squatter;
SET ROLE ame_lock_squatter;
SELECT pg_advisory_lock(1634559305, uuid_hash(:'stopped'));
RESET ROLE;
-- the batch is still reported interrupted, held by no session
SELECT status, pid IS NULL AS no_pid, records_read FROM ame_import_progress(:'stopped');
SELECT pg_advisory_unlock_all();

-- resumed: every record once
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_lock.csv', 'technicians', 2, :'stopped') \gset
SELECT status, total_records, success_count FROM import_batches WHERE id = :'stopped';
SELECT name, count(*) FROM ame_technicians WHERE name LIKE 'L-%' GROUP BY name ORDER BY name;

DROP ROLE ame_lock_squatter;
DELETE FROM ame_technicians;
DELETE FROM import_batches;
