--
-- import_csv: ame_import_csv(text) -- RFC 4180 quoting, BOM, CRLF, blank
-- lines, empty vs "", header names normalized; bad arguments are 22023
--
\set VERBOSITY terse
BEGIN;
SELECT count(*) AS customers_before FROM ame_customers \gset

-- BOM, CRLF, " Company Name " and "SERVICE  TIER" headers, a quoted comma,
-- doubled quotes, a quoted CRLF, a blank line, "" (empty, not NULL)
\set csv `cat data/customers_basic.csv`
SELECT id AS batch FROM ame_import_csv(:'csv', 'customers', 'customers_basic.csv') \gset
SELECT source_file, import_type, status, total_records, success_count,
       error_count, error_message
FROM import_batches WHERE id = :'batch';
SELECT count(*) AS errors FROM import_errors WHERE batch_id = :'batch';
SELECT company_name, service_tier, email, phone, phone_extension,
       site_address, contract_start_date, contract_end_date
FROM ame_customers WHERE company_name LIKE 'T-%' ORDER BY company_name;
-- "" is the empty string, an empty unquoted field is NULL (site_address is
-- stored as given, so the difference shows)
SELECT company_name, email IS NULL AS email_null, site_address IS NULL AS site_null,
       site_address = '' AS site_empty_string
FROM ame_customers WHERE company_name IN ('T-Empty', 'T-Acme') ORDER BY 1;
SELECT count(*) - :customers_before AS customers_added FROM ame_customers;

-- a header-only input completes with 0 records; so does one with a BOM
SELECT id AS batch FROM ame_import_csv(E'company_name,service_tier\n', 'customers') \gset
SELECT source_file, status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT id AS batch FROM ame_import_csv(E'\xef\xbb\xbfcompany_name,service_tier', 'customers') \gset
SELECT status, total_records FROM import_batches WHERE id = :'batch';
COMMIT;

-- bad arguments: 22023, and nothing is written (not even a batch)
SELECT count(*) AS batches_before FROM import_batches \gset
SELECT ame_import_csv(NULL::text, 'customers');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_import_csv('a,b', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_import_csv('a,b', 'visits');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_import_csv('a,b', 'Customers');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_import_csv_bytes(NULL::bytea, 'customers');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_import_csv_file(NULL, 'customers');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_import_csv_file('/nonexistent/file.csv', 'customers');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :batches_before AS batches_added FROM import_batches;

-- clean up for the next tests
DELETE FROM ame_customers WHERE company_name LIKE 'T-%';

-- query cancel stops an import: the error is not taken for a row error,
-- and the whole call is rolled back, batch row included
SELECT 'company_name,service_tier' || chr(10) ||
       string_agg('Cancel ' || i || ',core', chr(10)) AS big
FROM generate_series(1, 300000) i \gset
SELECT count(*) AS batches_before FROM import_batches \gset
SET statement_timeout = '200ms';
-- only the SQLSTATE: a loaded server may word the cancel either way
\set VERBOSITY sqlstate
SELECT ame_import_csv(:'big', 'customers');
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT count(*) - :batches_before AS batches_added,
       (SELECT count(*) FROM ame_customers WHERE company_name LIKE 'Cancel %') AS customers_added
FROM import_batches;
-- the same when the cancel comes while suspect rows are tried one by one
SELECT 'company_name,service_tier' || chr(10) ||
       string_agg('Cancel ' || i || ',gold', chr(10)) AS big
FROM generate_series(1, 300000) i \gset
SET statement_timeout = '200ms';
-- only the SQLSTATE: a loaded server may word the cancel either way
\set VERBOSITY sqlstate
SELECT ame_import_csv(:'big', 'customers');
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT count(*) - :batches_before AS batches_added,
       (SELECT count(*) FROM import_errors) AS error_rows
FROM import_batches;
SELECT 1 AS session_is_usable;
