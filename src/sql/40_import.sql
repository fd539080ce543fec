/* src/sql/40_import.sql: CSV import of customers, technicians and devices */

CREATE FUNCTION @extschema@.ame_import_csv(data text, import_type text,
										   source_file text DEFAULT NULL)
RETURNS @extschema@.import_batches
AS 'MODULE_PATHNAME', 'ame_import_csv_inline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv(text, text, text) IS
'imports CSV text (customers, technicians or devices) in the caller''s transaction; every record is imported, recorded in import_errors, or counted in skipped_count when a BEFORE ROW trigger suppresses it; returns the batch''s import_batches row. Errors: 22023 NULL data or import_type, or an unknown import_type; 42501 without INSERT on the target; 0A000 a target with row-level security or a row-level transition-table trigger.';

CREATE FUNCTION @extschema@.ame_import_csv_bytes(data bytea, import_type text,
												 source_file text DEFAULT NULL)
RETURNS @extschema@.import_batches
AS 'MODULE_PATHNAME', 'ame_import_csv_inline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv_bytes(bytea, text, text) IS
'imports CSV bytes (may hold invalid UTF-8 or NUL, recorded as row errors 22021) in the caller''s transaction; returns the batch''s import_batches row. Errors: 22023 NULL data or import_type, or an unknown import_type; 42501 without INSERT on the target; 0A000 a target with row-level security or a row-level transition-table trigger.';

CREATE FUNCTION @extschema@.ame_import_csv_file(path text, import_type text)
RETURNS @extschema@.import_batches
AS 'MODULE_PATHNAME', 'ame_import_csv_file'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv_file(text, text) IS
'imports a CSV file of the server in the caller''s transaction, streamed with bounded memory (needs pg_read_server_files); returns the batch''s import_batches row. Errors: 22023 NULL path or import_type, or an unknown import_type; 42501 without pg_read_server_files or INSERT on the target; 58P01 a missing file; 42809 a directory; 0A000 as ame_import_csv.';

CREATE PROCEDURE @extschema@.ame_import_csv_file_chunked(path text, import_type text,
														 chunk_rows integer DEFAULT 100000,
														 INOUT batch_id uuid DEFAULT NULL)
AS 'MODULE_PATHNAME', 'ame_import_csv_file_chunked'
LANGUAGE C;

COMMENT ON PROCEDURE @extschema@.ame_import_csv_file_chunked(text, text, integer, uuid) IS
'imports a CSV file of the server in transactions of chunk_rows records each (needs pg_read_server_files); the batch row is committed first, each chunk commits with the batch''s counts and resume point; an interrupted batch resumes when called again with its batch_id; returns the batch id. Errors: 22023 NULL path or import_type, an unknown import_type, chunk_rows < 1, an unknown batch_id, or one of another file, type or kind of import; 23514 (constraint ame_import_resume) a batch already completed or failed, run by another session, or whose file changed; 2D000 called inside a transaction block; 42501 without pg_read_server_files or INSERT on the target; 58P01, 42809 as ame_import_csv_file.';

-- progress of running imports, and of committed chunked batches, by id
CREATE FUNCTION @extschema@.ame_import_progress(batch_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, status text, pid integer, records_read bigint,
			   imported bigint, failed bigint, skipped bigint,
			   bytes_processed bigint, bytes_total bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH live AS (
		SELECT pg_catalog.lpad(pg_catalog.to_hex(p.param15), 16, '0')
				   OPERATOR(pg_catalog.||)
			   pg_catalog.lpad(pg_catalog.to_hex(p.param16), 16, '0') AS hex,
			   p.pid, p.param17 AS records_read, p.param3 AS imported,
			   p.param18 AS failed, p.param19 AS skipped,
			   p.param1 AS bytes_processed, p.param2 AS bytes_total
		FROM pg_catalog.pg_stat_get_progress_info('COPY') AS p
		WHERE p.param14 OPERATOR(pg_catalog.=) 6384997::bigint  -- AME_PROGRESS_MARKER_VALUE (compat.h)
		  AND p.datid OPERATOR(pg_catalog.=)
			  (SELECT d.oid FROM pg_catalog.pg_database AS d
			   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
	), running AS (
		SELECT live.hex::uuid AS id, live.pid, live.records_read, live.imported,
			   live.failed, live.skipped, live.bytes_processed, live.bytes_total
		FROM live
	)
	SELECT r.id, 'processing'::text, r.pid, r.records_read, r.imported,
		   r.failed, r.skipped, r.bytes_processed, r.bytes_total
	FROM running AS r
	WHERE $1 IS NULL OR r.id OPERATOR(pg_catalog.=) $1
	UNION ALL
	SELECT b.id,
		   CASE WHEN b.status OPERATOR(pg_catalog.=) 'processing'
					 AND b.resume_offset IS NOT NULL AND h.pid IS NULL
				THEN 'interrupted' ELSE b.status END,
		   h.pid, b.total_records::bigint, b.success_count::bigint,
		   b.error_count::bigint, b.skipped_count::bigint,
		   b.resume_offset, b.file_size
	FROM @extschema@.import_batches AS b
	LEFT JOIN LATERAL (
		SELECT l.pid FROM pg_catalog.pg_locks AS l
		WHERE b.resume_offset IS NOT NULL
		  AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
		  AND l.database OPERATOR(pg_catalog.=)
			  (SELECT d.oid FROM pg_catalog.pg_database AS d
			   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
		  AND l.classid OPERATOR(pg_catalog.=) 1634559305::oid  -- AME_IMPORT_LOCK_KEY (import.h)
		  AND l.objid OPERATOR(pg_catalog.=) pg_catalog.uuid_hash(b.id)::oid
		  AND l.objsubid OPERATOR(pg_catalog.=) 3::smallint  -- AME_IMPORT_LOCK_SUBID: not pg_advisory_lock()'s
		  AND l.granted
		LIMIT 1
	) AS h ON true
	WHERE $1 IS NOT NULL AND b.id OPERATOR(pg_catalog.=) $1
	  AND NOT EXISTS (SELECT FROM running AS r
					  WHERE r.id OPERATOR(pg_catalog.=) b.id)
$$;

COMMENT ON FUNCTION @extschema@.ame_import_progress(uuid) IS
'progress of an import by batch id (NULL: every import running in this database): while it runs, the live counts of the importing backend (records read, imported, failed, skipped, bytes of total; visible to its own role and pg_read_all_stats); otherwise the batch''s committed counts, with status interrupted for a chunked batch that no session is running. Errors: 42501 without SELECT on import_batches.';

-- imports write many rows: the owner grants them as needed
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv_bytes(bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv_file(text, text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.ame_import_csv_file_chunked(text, text, integer, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_progress(uuid) FROM PUBLIC;
