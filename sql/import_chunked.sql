--
-- import_chunked: CALL ame_import_csv_file_chunked() imports a server file
-- in transactions of chunk_rows records; the batch row carries the counts
-- and the resume point; an interrupted batch resumes after its last
-- committed record and ends with exactly what one transaction imports;
-- the refusals (22023, 23514, 2D000) change nothing
--
\set VERBOSITY terse
-- 25 records: row 3 spans two lines, an empty line after row 10 (at a
-- chunk boundary), rows 7 and 19 bad booleans (22P02), row 12 ragged (22P04)
SELECT string_agg(
         CASE WHEN i = 3 THEN E'"T-3 first\nsecond",,true'
              WHEN i IN (7, 19) THEN format('T-%s,,maybe', i)
              WHEN i = 12 THEN 'T-12,a,b,c'
              WHEN i = 10 THEN E'T-10,,true\n'
              ELSE format('T-%s,,true', i) END, E'\n' ORDER BY i)
       AS rows FROM generate_series(1, 25) i \gset
SELECT lo_from_bytea(0, convert_to(E'name,email,is_active\n' || :'rows' || E'\n', 'UTF8')) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_import_regress_chunked.csv');
SELECT lo_unlink(:lo);

\set changed none
\set stopped none
-- the one-transaction import of the same file, for comparison
SELECT id AS single FROM ame_import_csv_file('/tmp/ame_import_regress_chunked.csv', 'technicians') \gset

-- chunks of 10: the procedure returns the batch id
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10) \gset
SELECT source_file, import_type, status, total_records, success_count, error_count,
       skipped_count, error_message, resume_offset = file_size AS at_end, resume_line,
       file_size = (pg_stat_file('/tmp/ame_import_regress_chunked.csv')).size AS size_kept
FROM import_batches WHERE id = :'batch_id';
-- the same rows and the same errors (row and line numbers across chunks) as one transaction
SELECT row_number, line_number, sqlstate, convert_from(raw_record, 'UTF8') AS raw
FROM import_errors WHERE batch_id = :'batch_id' ORDER BY row_number;
SELECT (SELECT count(*) FROM (
          SELECT row_number, line_number, sqlstate, error_message, raw_data, raw_record
          FROM import_errors WHERE batch_id = :'batch_id'
          EXCEPT
          SELECT row_number, line_number, sqlstate, error_message, raw_data, raw_record
          FROM import_errors WHERE batch_id = :'single') d) AS errors_not_in_single,
       (SELECT count(*) FROM import_errors WHERE batch_id = :'single') AS single_errors,
       (SELECT count(*) FROM ame_technicians WHERE name LIKE 'T-%') AS technicians;
SELECT name, count(*) FROM ame_technicians WHERE name LIKE 'T-%'
GROUP BY name HAVING count(*) <> 2;
-- the progress reader shows a finished batch's committed counts
SELECT id = :'batch_id' AS same, status, pid, records_read, imported, failed, skipped,
       bytes_processed = bytes_total AS all_bytes
FROM ame_import_progress(:'batch_id');
-- and nothing for no import running
SELECT count(*) AS running FROM ame_import_progress();

-- an interruption: a trigger raises an error that is not a row's fault
-- (class 57, as a cancel) at row 15, in the second chunk
DELETE FROM ame_technicians WHERE name LIKE 'T-%';
CREATE FUNCTION stop_at_15() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN
  IF NEW.name = 'T-15' THEN
    RAISE EXCEPTION 'stopped at T-15' USING ERRCODE = 'query_canceled';
  END IF;
  RETURN NEW;
END$$;
CREATE TRIGGER stop_at_15 BEFORE INSERT ON ame_technicians
FOR EACH ROW EXECUTE FUNCTION stop_at_15();
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10);
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
-- the first chunk stays committed, with its counts and resume point
SELECT id AS stopped, status, total_records, success_count, error_count, error_message,
       resume_offset, resume_line
FROM import_batches WHERE status = 'interrupted' \gset
SELECT :'status' AS status, :total_records AS total_records, :success_count AS success_count,
       :error_count AS error_count, :'error_message' AS error_message, :resume_line AS resume_line;
SELECT count(*) AS committed_rows FROM ame_technicians WHERE name LIKE 'T-%';
SELECT row_number FROM import_errors WHERE batch_id = :'stopped' ORDER BY 1;
SELECT status, records_read, imported, failed, bytes_processed = :resume_offset AS at_resume_point
FROM ame_import_progress(:'stopped');

-- the refusals: each changes nothing
SELECT count(*) AS batches_before FROM import_batches \gset
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'customers', 10, :'stopped');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_basic.csv', 'technicians', 10, :'stopped');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10, :'single');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10, '00000000-0000-0000-0000-000000000000');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10, :'batch_id');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 0, :'stopped');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked(NULL, 'technicians');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'visits');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_missing.csv', 'technicians');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
BEGIN;
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10, :'stopped');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT status, total_records, success_count, error_count, resume_offset = :resume_offset AS same_point
FROM import_batches WHERE id = :'stopped';
SELECT count(*) - :batches_before AS batches_added FROM import_batches;
SELECT count(*) AS committed_rows FROM ame_technicians WHERE name LIKE 'T-%';

-- resumed without the trigger: ends exactly as one transaction does
DROP TRIGGER stop_at_15 ON ame_technicians;
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10, :'stopped') \gset resumed_
SELECT :'resumed_batch_id' = :'stopped' AS same_batch;
SELECT status, total_records, success_count, error_count, error_message,
       resume_offset = file_size AS at_end
FROM import_batches WHERE id = :'stopped';
SELECT (SELECT count(*) FROM (
          SELECT row_number, line_number, sqlstate, error_message, raw_data, raw_record
          FROM import_errors WHERE batch_id = :'stopped'
          EXCEPT
          SELECT row_number, line_number, sqlstate, error_message, raw_data, raw_record
          FROM import_errors WHERE batch_id = :'single') d) AS errors_not_in_single,
       (SELECT count(*) FROM import_errors WHERE batch_id = :'stopped') AS errors;
SELECT count(*) AS technicians, count(DISTINCT name) AS names
FROM ame_technicians WHERE name LIKE 'T-%';
-- a completed batch cannot be resumed
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10, :'stopped');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;

-- a file that changed since the batch began is refused
CREATE TRIGGER stop_at_15 BEFORE INSERT ON ame_technicians
FOR EACH ROW EXECUTE FUNCTION stop_at_15();
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10);
SELECT id AS changed FROM import_batches WHERE status = 'interrupted' \gset
DROP TRIGGER stop_at_15 ON ame_technicians;
SELECT lo_from_bytea(0, convert_to(E'name,email,is_active\n' || :'rows' || E'\nT-26,,true\n', 'UTF8')) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_import_regress_chunked.csv');
SELECT lo_unlink(:lo);
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked.csv', 'technicians', 10, :'changed');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;
SELECT status, total_records, success_count FROM import_batches WHERE id = :'changed';

-- a bad header fails the batch, which the call still commits
SELECT lo_from_bytea(0, convert_to(E'name,colour\nX,red\n', 'UTF8')) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_import_regress_chunked_bad.csv');
SELECT lo_unlink(:lo);
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked_bad.csv', 'technicians') \gset
SELECT status, total_records, error_message FROM import_batches WHERE id = :'batch_id';
\set VERBOSITY sqlstate
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_chunked_bad.csv', 'technicians', 10, :'batch_id');
\set VERBOSITY terse
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate, replace(replace(replace(replace(:'LAST_ERROR_MESSAGE', :'stopped', '<stopped>'), :'single', '<single>'), :'batch_id', '<batch_id>'), :'changed', '<changed>') AS message;

-- the one-transaction forms return the batch row
SELECT source_file, status, total_records, success_count, error_count, skipped_count,
       resume_offset, resume_line, file_size, file_mtime
FROM ame_import_csv(E'name\nRow-1\n', 'technicians', 'row.csv');
SELECT status, total_records, error_count
FROM ame_import_csv_bytes('\x6e616d650a4f6b0a4261ff640a'::bytea, 'technicians');

DROP FUNCTION stop_at_15();
DELETE FROM ame_technicians;
DELETE FROM import_batches;
