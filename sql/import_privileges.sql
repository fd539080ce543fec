--
-- import_privileges: the import functions are not executable by PUBLIC;
-- a granted role needs INSERT on the target but no right on the
-- bookkeeping tables; the file form needs pg_read_server_files
--
\set VERBOSITY terse
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
FROM pg_proc p WHERE p.proname LIKE 'ame_import%' ORDER BY 1::text;

CREATE ROLE ame_importer;
SELECT count(*) AS batches_before FROM import_batches \gset
SET ROLE ame_importer;
SELECT ame_import_csv(E'company_name,service_tier\nP-1,core\n', 'customers');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

GRANT EXECUTE ON FUNCTION ame_import_csv(text, text, text),
                           ame_import_csv_file(text, text) TO ame_importer;
-- EXECUTE alone: no INSERT right on the target
SET ROLE ame_importer;
SELECT ame_import_csv(E'company_name,service_tier\nP-1,core\n', 'customers');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) - :batches_before AS batches_added FROM import_batches;

-- with INSERT on ame_customers the import works; the batch and error rows
-- are written without any right on import_batches or import_errors
GRANT INSERT ON ame_customers TO ame_importer;
SET ROLE ame_importer;
SELECT id AS batch FROM ame_import_csv(E'company_name,service_tier\nP-1,core\nP-2,gold\n', 'customers') \gset
SELECT * FROM import_batches;
\echo :LAST_ERROR_SQLSTATE
-- the file form needs pg_read_server_files
RESET ROLE;
SELECT count(*) AS batches_before FROM import_batches \gset
SET ROLE ame_importer;
SELECT ame_import_csv_file('/tmp/ame_import_regress_basic.csv', 'customers');
\echo :LAST_ERROR_SQLSTATE
-- so does the chunked procedure, once granted; and the progress reader
-- needs its grant
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_basic.csv', 'customers');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM ame_import_progress();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON PROCEDURE ame_import_csv_file_chunked(text, text, integer, uuid) TO ame_importer;
SET ROLE ame_importer;
CALL ame_import_csv_file_chunked('/tmp/ame_import_regress_basic.csv', 'customers');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE ALL ON PROCEDURE ame_import_csv_file_chunked(text, text, integer, uuid) FROM ame_importer;
SELECT count(*) - :batches_before AS batches_added FROM import_batches;
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, sqlstate FROM import_errors WHERE batch_id = :'batch';
SELECT company_name FROM ame_customers WHERE company_name LIKE 'P-%';

-- devices look customers up with the caller's rights
GRANT INSERT ON device_inventory TO ame_importer;
SET ROLE ame_importer;
SELECT ame_import_csv(E'customer_number,device_name\nAME-000001,x\n', 'devices');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS devices_added FROM device_inventory WHERE device_name = 'x';

DELETE FROM ame_customers WHERE company_name LIKE 'P-%';
DELETE FROM import_batches;
REVOKE ALL ON ame_customers, device_inventory FROM ame_importer;
REVOKE ALL ON FUNCTION ame_import_csv(text, text, text),
                       ame_import_csv_file(text, text) FROM ame_importer;
DROP ROLE ame_importer;
