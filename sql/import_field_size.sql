--
-- import_field_size: a field over ame.import_max_field_size (1 MB by
-- default) is a 54000 row error; the GUC moves the limit
--
\set VERBOSITY terse
LOAD 'ame';
SHOW ame.import_max_field_size;
BEGIN;
SELECT id AS batch FROM ame_import_csv(
  'company_name,service_tier,site_name' || chr(10) ||
  'F-small,core,ok' || chr(10) ||
  'F-big,core,' || repeat('x', 2 * 1024 * 1024) || chr(10) ||
  'F-quoted-big,core,"' || repeat('y,', 600 * 1024) || '"' || chr(10) ||
  'F-after,core,fine' || chr(10),
  'customers') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, line_number, sqlstate, error_message,
       length(raw_record) AS raw_bytes,
       length(raw_data->>'site_name') AS kept_chars
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
SELECT company_name, length(site_name) FROM ame_customers
WHERE company_name LIKE 'F-%' ORDER BY 1;
ROLLBACK;

-- a larger limit lets the 2 MB field in; a smaller one refuses 2 kB
BEGIN;
SET LOCAL ame.import_max_field_size = '4MB';
SELECT id AS batch FROM ame_import_csv('company_name,service_tier,site_name' || chr(10) ||
  'F-big,core,' || repeat('x', 2 * 1024 * 1024), 'customers') \gset
SELECT status, success_count, error_count FROM import_batches WHERE id = :'batch';
SELECT company_name, length(site_name) FROM ame_customers WHERE company_name = 'F-big';
SET LOCAL ame.import_max_field_size = '1kB';
SELECT id AS batch FROM ame_import_csv('company_name,service_tier,site_name' || chr(10) ||
  'F-2k,core,' || repeat('z', 2048), 'customers') \gset
SELECT status, success_count, error_count FROM import_batches WHERE id = :'batch';
SELECT sqlstate, error_message FROM import_errors WHERE batch_id = :'batch';
-- a too-long field past the fields kept of a ragged record (3 columns + 64
-- extra fields are kept): its length is still reported exactly
SELECT id AS batch FROM ame_import_csv('company_name,service_tier,site_name' || chr(10) ||
  'F-far,core,s' || repeat(',', 300) || repeat('w', 3000), 'customers') \gset
SELECT status, success_count, error_count FROM import_batches WHERE id = :'batch';
SELECT sqlstate, error_message FROM import_errors WHERE batch_id = :'batch';
SELECT count(*) AS imported FROM ame_customers WHERE company_name = 'F-far';
ROLLBACK;
-- below the minimum: refused, the setting unchanged.  (PostgreSQL words
-- the range in its message differently across majors, "(1024 .. 67108864)"
-- on 15, "(1024 B .. 67108864 B)" from 16: the range is read from
-- pg_settings instead.)
\set VERBOSITY sqlstate
SET ame.import_max_field_size = 100;
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
SHOW ame.import_max_field_size;
SELECT min_val, max_val, unit FROM pg_settings
WHERE name = 'ame.import_max_field_size';
RESET ame.import_max_field_size;

-- a field of exactly ame.import_max_field_size bytes imports, one byte
-- more is the 54000 row error: unquoted, quoted (the quotes do not count)
-- and in multi-byte characters (the limit is in bytes)
BEGIN;
SET LOCAL ame.import_max_field_size = '1kB';
SELECT id AS batch FROM ame_import_csv('company_name,service_tier,site_name' || chr(10) ||
  'F-exact,core,' || repeat('x', 1024) || chr(10) ||
  'F-over,core,' || repeat('x', 1025) || chr(10) ||
  'F-exact-quoted,core,"' || repeat('q,', 512) || '"' || chr(10) ||
  'F-over-quoted,core,"' || repeat('q,', 512) || 'q"' || chr(10) ||
  'F-exact-utf8,core,' || repeat('é', 512) || chr(10) ||
  'F-over-utf8,core,' || repeat('é', 512) || 'x' || chr(10),
  'customers') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, sqlstate, error_message
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
SELECT company_name, octet_length(site_name) FROM ame_customers
WHERE company_name LIKE 'F-%' ORDER BY 1;
ROLLBACK;

-- a class-54 error raised by the insert itself -- a 13 kB customer_number
-- is too large for its unique index -- is that row's error, not the
-- import's: the rows on both sides of it are imported
BEGIN;
SELECT string_agg(encode(sha256(i::text::bytea), 'base64'), '') AS long_number
FROM generate_series(1, 300) i \gset
SELECT length(:'long_number') AS long_number_bytes;
SELECT id AS batch FROM ame_import_csv('company_name,service_tier,customer_number' || chr(10) ||
  'F-before,core,F-N-1' || chr(10) ||
  'F-huge,core,' || :'long_number' || chr(10) ||
  'F-after,core,F-N-2' || chr(10), 'customers') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, sqlstate, error_message
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
SELECT company_name, customer_number FROM ame_customers
WHERE company_name LIKE 'F-%' ORDER BY 1;
ROLLBACK;
