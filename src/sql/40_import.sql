/* src/sql/40_import.sql: CSV import of customers, technicians and devices */

CREATE FUNCTION @extschema@.ame_import_csv(data text, import_type text,
										   source_file text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'ame_import_csv_inline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv(text, text, text) IS
'imports CSV text (customers, technicians or devices); every record is imported, recorded in import_errors, or counted in skipped_count when a BEFORE ROW trigger suppresses it; returns the import_batches id';

CREATE FUNCTION @extschema@.ame_import_csv(data bytea, import_type text,
										   source_file text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'ame_import_csv_inline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv(bytea, text, text) IS
'imports CSV bytes (may hold invalid UTF-8 or NUL, recorded as row errors); returns the import_batches id';

CREATE FUNCTION @extschema@.ame_import_csv_file(path text, import_type text)
RETURNS uuid
AS 'MODULE_PATHNAME', 'ame_import_csv_file'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv_file(text, text) IS
'imports a CSV file of the server, streamed with bounded memory (needs pg_read_server_files); returns the import_batches id';

-- imports write many rows: the owner grants them as needed
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv(bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv_file(text, text) FROM PUBLIC;
