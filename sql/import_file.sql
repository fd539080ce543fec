--
-- import_file: ame_import_csv_file() reads a server file as bytes; the
-- fixtures are written with lo_export, so the test does not depend on
-- where the repository lives (the server may not be able to read it)
--
\set VERBOSITY terse
\set csv `cat data/customers_basic.csv`
SELECT lo_from_bytea(0, convert_to(:'csv', 'UTF8')) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_import_regress_basic.csv');
SELECT lo_unlink(:lo);
-- invalid UTF-8 and a NUL byte, which only a file or bytea can carry
SELECT lo_from_bytea(0,
  convert_to(E'name,email\nN-ok,\nN-nul', 'UTF8') || '\x00'::bytea ||
  convert_to(E',\nN-bad ', 'UTF8') || '\xc328'::bytea ||
  convert_to(E',\nN-ok2,\n', 'UTF8')) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_import_regress_bytes.csv');
SELECT lo_unlink(:lo);
SELECT lo_from_bytea(0, ''::bytea) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_import_regress_empty.csv');
SELECT lo_unlink(:lo);

BEGIN;
SELECT count(*) AS customers_before FROM ame_customers \gset
SELECT id AS batch FROM ame_import_csv_file('/tmp/ame_import_regress_basic.csv', 'customers') \gset
SELECT source_file, status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT company_name, service_tier, site_address FROM ame_customers
WHERE company_name LIKE 'T-%' ORDER BY 1;
SELECT count(*) - :customers_before AS customers_added FROM ame_customers;

SELECT id AS batch FROM ame_import_csv_file('/tmp/ame_import_regress_bytes.csv', 'technicians') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, line_number, sqlstate, error_message, raw_data, raw_record
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
SELECT name FROM ame_technicians WHERE name LIKE 'N-%' ORDER BY 1;

SELECT id AS batch FROM ame_import_csv_file('/tmp/ame_import_regress_empty.csv', 'customers') \gset
SELECT status, total_records, error_message FROM import_batches WHERE id = :'batch';

-- once the import is done no progress row of it is left behind (that it
-- reports progress while running is shown by specs/import_progress.spec)
SELECT count(*) AS running_imports FROM pg_stat_progress_copy WHERE pid = pg_backend_pid();
ROLLBACK;

-- a directory, or a missing file, is an error before anything is written
SELECT count(*) AS batches_before FROM import_batches \gset
SELECT ame_import_csv_file('/tmp', 'customers');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_import_csv_file('/tmp/ame_import_regress_missing.csv', 'customers');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :batches_before AS batches_added FROM import_batches;
