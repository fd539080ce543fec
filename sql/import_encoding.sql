--
-- import_encoding: invalid UTF-8 and NUL bytes (only the bytea form can
-- carry them) are 22021 row errors; raw_data shows U+FFFD, raw_record
-- keeps the exact bytes
--
\set VERBOSITY terse
BEGIN;
SELECT count(*) AS technicians_before FROM ame_technicians \gset
SELECT id AS batch FROM ame_import_csv_bytes(
  convert_to(E'name,email\nE-ok,\nE-latin1 ', 'UTF8') || '\xe9'::bytea ||
  convert_to(E',\nE-nul', 'UTF8') || '\x00'::bytea ||
  convert_to(E'byte,\nE-truncated ', 'UTF8') || '\xe282'::bytea ||
  convert_to(E',x@y\nE-surrogate ', 'UTF8') || '\xeda080'::bytea ||
  convert_to(E',\nE-euro €,\n"E-quoted ', 'UTF8') || '\xff'::bytea ||
  convert_to(E'",\n', 'UTF8'),
  'technicians', 'bytes.csv') \gset
SELECT source_file, status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, line_number, sqlstate, error_message, raw_data, raw_record
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
SELECT name FROM ame_technicians WHERE name LIKE 'E-%' ORDER BY 1;
SELECT count(*) - :technicians_before AS technicians_added FROM ame_technicians;
-- a header with an invalid byte fails the batch
SELECT id AS batch FROM ame_import_csv_bytes('\x6e616d65ff0a410a'::bytea, 'technicians') \gset
SELECT status, total_records, error_message FROM import_batches WHERE id = :'batch';
ROLLBACK;

-- overlong forms (E0 80 80 is U+0000 in three bytes, F0 80 80 80 in four)
-- and code points above U+10FFFF (F4 90 80 80) are invalid UTF-8 too, each
-- a 22021 row error; the shortest three- and four-byte forms and U+10FFFF
-- itself, right next to them, are valid
BEGIN;
SELECT id AS batch FROM ame_import_csv_bytes(
  convert_to(E'name\nE-overlong-3 ', 'UTF8') || '\xe08080'::bytea ||
  convert_to(E'\nE-overlong-4 ', 'UTF8') || '\xf0808080'::bytea ||
  convert_to(E'\nE-above-max ', 'UTF8') || '\xf4908080'::bytea ||
  convert_to(E'\nE-overlong-2 ', 'UTF8') || '\xc1bf'::bytea ||
  convert_to(E'\nE-lowest-3 ', 'UTF8') || '\xe0a080'::bytea ||
  convert_to(E'\nE-lowest-4 ', 'UTF8') || '\xf0908080'::bytea ||
  convert_to(E'\nE-highest ', 'UTF8') || '\xf48fbfbf'::bytea ||
  convert_to(E'\n', 'UTF8'),
  'technicians', 'overlong.csv') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, sqlstate, error_message, raw_record
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
SELECT encode(convert_to(name, 'UTF8'), 'hex') AS imported_name_bytes
FROM ame_technicians WHERE name LIKE 'E-%' ORDER BY 1;
ROLLBACK;
