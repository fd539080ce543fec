--
-- import_chunked_deferred: a deferred trigger of the target that fails when
-- a chunk commits is an error of that chunk like any other: the chunk is
-- rolled back, the batch is marked interrupted with the error's message,
-- and the resume imports every record once
--
\set VERBOSITY terse
SELECT lo_from_bytea(0, convert_to(E'name\nD-1\nD-2\nD-3\nD-4\n', 'UTF8')) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_import_regress_deferred.csv');
SELECT lo_unlink(:lo);
CREATE FUNCTION refuse_d3() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN
  IF NEW.name = 'D-3' THEN
    RAISE EXCEPTION 'D-3 refused at commit' USING ERRCODE = 'query_canceled';
  END IF;
  RETURN NULL;
END$$;
CREATE CONSTRAINT TRIGGER refuse_d3 AFTER INSERT ON ame_technicians
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_d3();
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_deferred.csv', 'technicians', 2);
SELECT id AS stopped FROM import_batches
WHERE source_file = '/tmp/ame_import_regress_deferred.csv' \gset
-- the second chunk is undone; the batch says why it stopped
SELECT status, total_records, success_count, error_message FROM import_batches
WHERE id = :'stopped';
SELECT name FROM ame_technicians WHERE name LIKE 'D-%' ORDER BY name;

DROP TRIGGER refuse_d3 ON ame_technicians;
DROP FUNCTION refuse_d3();
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_deferred.csv', 'technicians', 2, :'stopped') \gset
SELECT status, total_records, success_count FROM import_batches WHERE id = :'stopped';
SELECT name, count(*) FROM ame_technicians WHERE name LIKE 'D-%' GROUP BY name ORDER BY name;

DELETE FROM ame_technicians;
DELETE FROM import_batches;
