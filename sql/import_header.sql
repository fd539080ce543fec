--
-- import_header: an unknown, duplicate or missing required column, an
-- empty input or a broken header fail the batch: the function returns, the
-- batch is 'failed' with its message, and nothing is imported
--
\set VERBOSITY terse
BEGIN;
SELECT count(*) AS customers_before FROM ame_customers \gset
CREATE TEMP TABLE header_cases (n int, csv text, import_type text);
INSERT INTO header_cases VALUES
  (1, E'company_name,service_tier,colour\nH-1,core,red\n', 'customers'),
  (2, E'company_name,service_tier,Company Name\nH-2,core,x\n', 'customers'),
  (3, E'company_name,email\nH-3,h@x\n', 'customers'),
  (4, '', 'customers'),
  (5, E'\n\n\r\n', 'customers'),
  (6, E'\xef\xbb\xbf', 'customers'),
  (7, E'company_name,"service_tier\nH-7,core\n', 'customers'),
  (8, E'name,,email\nH-8,,\n', 'technicians'),
  (9, E'device_name\nH-9\n', 'devices'),
  (10, E'name,phone_extension\nH-10,1\n', 'technicians');
CREATE TEMP TABLE header_batches AS
SELECT h.n, b.id FROM header_cases h, ame_import_csv(h.csv, h.import_type) b ORDER BY h.n;
SELECT h.n, b.status, b.total_records, b.success_count, b.error_count, b.error_message
FROM header_batches h JOIN import_batches b USING (id)
ORDER BY h.n;
SELECT count(*) AS error_rows FROM import_errors e JOIN import_batches b ON b.id = e.batch_id
WHERE b.status = 'failed';
SELECT count(*) - :customers_before AS customers_added FROM ame_customers;
SELECT count(*) AS technicians_added FROM ame_technicians WHERE name LIKE 'H-%';
ROLLBACK;
