--
-- import_ragged: a record with too few or too many fields, and an
-- unterminated quote, are 22P04 row errors with their raw data and exact
-- bytes; the rest of the file is imported
--
\set VERBOSITY terse
BEGIN;
SELECT count(*) AS customers_before FROM ame_customers \gset
\set csv `cat data/customers_ragged.csv`
SELECT id AS batch FROM ame_import_csv(:'csv', 'customers') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, line_number, sqlstate, error_message, raw_data,
       convert_from(raw_record, 'UTF8') AS raw_record
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
-- only the good record is in the table: R5 went into R4's quoted field
SELECT company_name, site_name FROM ame_customers
WHERE company_name LIKE 'T-R%' ORDER BY 1;
SELECT count(*) - :customers_before AS customers_added FROM ame_customers;
-- every record accounted for exactly once
SELECT b.total_records = b.success_count + b.error_count AS balanced,
       b.error_count = (SELECT count(*) FROM import_errors e WHERE e.batch_id = b.id) AS errors_recorded
FROM import_batches b WHERE b.id = :'batch';
ROLLBACK;
