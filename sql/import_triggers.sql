--
-- import_triggers: the import treats the target's triggers as COPY does.
-- Statement-level INSERT triggers fire once per import: not once per
-- chunk, not again when a chunk is retried, also when every row fails or
-- there is none.  A row that a BEFORE ROW trigger suppresses (RETURN NULL)
-- is counted in skipped_count, never as a success and never in
-- import_errors: success_count + error_count + skipped_count =
-- total_records.
--
\set VERBOSITY terse
BEGIN;
-- taken before the triggers exist: row 5 below duplicates this user_id
INSERT INTO ame_technicians (name, user_id)
VALUES ('Existing tech', '00000000-0000-0000-0000-0000000000e1');

CREATE TABLE trig_log (n serial, what text, imported bigint);
CREATE FUNCTION trig_log_stmt() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO trig_log (what, imported)
	VALUES (TG_WHEN || ' ' || TG_LEVEL || ' ' || TG_OP,
	        (SELECT count(*) FROM ame_technicians WHERE name LIKE 'TR-%'));
	RETURN NULL;
END $$;
CREATE TRIGGER tr_before_stmt BEFORE INSERT ON ame_technicians
	FOR EACH STATEMENT EXECUTE FUNCTION trig_log_stmt();
CREATE TRIGGER tr_after_stmt AFTER INSERT ON ame_technicians
	FOR EACH STATEMENT EXECUTE FUNCTION trig_log_stmt();
-- suppresses rows named TR-skip... and rows without a name (which would
-- otherwise be a 23502 error)
CREATE FUNCTION trig_skip() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.name IS NULL OR NEW.name LIKE 'TR-skip%' THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER tr_skip BEFORE INSERT ON ame_technicians
	FOR EACH ROW EXECUTE FUNCTION trig_skip();

-- rows 2 and 6 are suppressed in the chunk, row 3 (no name: inserted alone)
-- too; row 4 is a 22P02 error; row 5's unique violation rolls the chunk
-- back, and rows 1 to 3 are inserted (and suppressed) again
SELECT id AS batch FROM ame_import_csv(
  'name,user_id,is_active' || chr(10) ||
  'TR-a,,true' || chr(10) ||
  'TR-skip-1,,true' || chr(10) ||
  ',,true' || chr(10) ||
  'TR-b,,maybe' || chr(10) ||
  'TR-dup,00000000-0000-0000-0000-0000000000e1,true' || chr(10) ||
  'TR-skip-2,,true' || chr(10) ||
  'TR-c,,true' || chr(10),
  'technicians') \gset
-- the statement triggers fired once each, before and after every row
SELECT what, imported FROM trig_log ORDER BY n;
SELECT status, total_records, success_count, error_count, skipped_count,
       success_count + error_count + skipped_count = total_records AS sums_up
FROM import_batches WHERE id = :'batch';
-- only the errors are error rows: no suppressed row is among them
SELECT row_number, sqlstate FROM import_errors WHERE batch_id = :'batch'
ORDER BY row_number;
SELECT name FROM ame_technicians WHERE name LIKE 'TR-%' ORDER BY name;

-- every row fails: the statement triggers still fire once each
TRUNCATE trig_log;
SELECT id AS batch FROM ame_import_csv(
  'name,user_id,is_active' || chr(10) ||
  'TR-bad-1,,maybe' || chr(10) ||
  'TR-bad-2,00000000-0000-0000-0000-0000000000e1,true' || chr(10) ||
  'TR-bad-3,not-a-uuid,true' || chr(10),
  'technicians') \gset
SELECT status, total_records, success_count, error_count, skipped_count
FROM import_batches WHERE id = :'batch';
SELECT what, imported FROM trig_log ORDER BY n;

-- every row suppressed: completed, nothing imported, nothing an error
TRUNCATE trig_log;
SELECT id AS batch FROM ame_import_csv(
  'name' || chr(10) || 'TR-skip-3' || chr(10) || 'TR-skip-4' || chr(10),
  'technicians') \gset
SELECT status, total_records, success_count, error_count, skipped_count
FROM import_batches WHERE id = :'batch';
SELECT count(*) AS error_rows FROM import_errors WHERE batch_id = :'batch';
SELECT what, imported FROM trig_log ORDER BY n;

-- a header-only input fires them too, as a COPY of no rows does
TRUNCATE trig_log;
SELECT id AS batch FROM ame_import_csv('name' || chr(10), 'technicians') \gset
SELECT status, total_records FROM import_batches WHERE id = :'batch';
SELECT what, imported FROM trig_log ORDER BY n;

-- a failed batch (bad header) inserts nothing and fires nothing
TRUNCATE trig_log;
SELECT id AS batch FROM ame_import_csv('name,colour' || chr(10) || 'TR-x,red', 'technicians') \gset
SELECT status FROM import_batches WHERE id = :'batch';
SELECT count(*) AS fired FROM trig_log;

-- many chunks (they start at 256 rows), with failures that make chunks
-- retry and every 7th row suppressed: still one firing each
TRUNCATE trig_log;
SELECT 'name,user_id' || chr(10) || string_agg(
  CASE WHEN i % 7 = 0 THEN 'TR-skip-m' || i || ','
       WHEN i % 250 = 0 THEN 'TR-m' || i || ',00000000-0000-0000-0000-0000000000e1'
       ELSE 'TR-m' || i || ',' END, chr(10) ORDER BY i) AS csv
FROM generate_series(1, 2000) i \gset
SELECT id AS batch FROM ame_import_csv(:'csv', 'technicians') \gset
SELECT status, total_records, success_count, error_count, skipped_count
FROM import_batches WHERE id = :'batch';
SELECT count(*) FILTER (WHERE i % 7 = 0) AS expect_skipped,
       count(*) FILTER (WHERE i % 7 <> 0 AND i % 250 = 0) AS expect_errors
FROM generate_series(1, 2000) i;
SELECT what, imported FROM trig_log ORDER BY n;
SELECT count(*) AS imported FROM ame_technicians WHERE name LIKE 'TR-m%';
SELECT count(*) AS error_rows,
       count(*) FILTER (WHERE raw_data->>'name' LIKE 'TR-skip%') AS suppressed_among_them
FROM import_errors WHERE batch_id = :'batch';
ROLLBACK;

-- a statement trigger with a transition table sees exactly the rows the
-- import inserted: none from a chunk that was rolled back, none twice
BEGIN;
INSERT INTO ame_technicians (name, user_id)
VALUES ('Existing tech', '00000000-0000-0000-0000-0000000000e1');
CREATE TABLE trig_log (n serial, rows_seen bigint, names text);
CREATE FUNCTION trig_log_new() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO trig_log (rows_seen, names)
	SELECT count(*), string_agg(name, ' ' ORDER BY name) FROM new_rows;
	RETURN NULL;
END $$;
CREATE TRIGGER tr_after_stmt_new AFTER INSERT ON ame_technicians
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION trig_log_new();
SELECT id AS batch FROM ame_import_csv(
  'name,user_id' || chr(10) ||
  'TT-a,' || chr(10) ||
  'TT-b,' || chr(10) ||
  'TT-dup,00000000-0000-0000-0000-0000000000e1' || chr(10) ||
  'TT-c,' || chr(10),
  'technicians') \gset
SELECT status, total_records, success_count, error_count, skipped_count
FROM import_batches WHERE id = :'batch';
SELECT rows_seen, names FROM trig_log ORDER BY n;
-- and with many rows, spread over chunks and retries, the transition
-- table spilling to disk
TRUNCATE trig_log;
SET LOCAL work_mem = '64kB';
SELECT 'name,user_id' || chr(10) || string_agg(
  CASE WHEN i % 300 = 0 THEN 'TT-m' || i || ',00000000-0000-0000-0000-0000000000e1'
       ELSE 'TT-m' || i || ',' END, chr(10) ORDER BY i) AS csv
FROM generate_series(1, 3000) i \gset
SELECT id AS batch FROM ame_import_csv(:'csv', 'technicians') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT rows_seen, md5(names) = (SELECT md5(string_agg(name, ' ' ORDER BY name))
                                FROM ame_technicians WHERE name LIKE 'TT-m%') AS same_rows
FROM trig_log ORDER BY n;
ROLLBACK;

-- a BEFORE STATEMENT trigger that raises stops the import like a COPY:
-- the error reaches the caller and nothing is written, not even the batch
BEGIN;
CREATE FUNCTION trig_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'no imports today';
END $$;
CREATE TRIGGER tr_refuse BEFORE INSERT ON ame_technicians
	FOR EACH STATEMENT EXECUTE FUNCTION trig_refuse();
SAVEPOINT s;
SELECT count(*) AS batches_before FROM import_batches \gset
SELECT ame_import_csv('name' || chr(10) || 'TR-refused', 'technicians');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT count(*) - :batches_before AS batches_added,
       (SELECT count(*) FROM ame_technicians WHERE name = 'TR-refused') AS imported
FROM import_batches;
ROLLBACK;

-- a ROW trigger with a transition table would need every row's AFTER
-- trigger held to the end of the import: refused, nothing written
BEGIN;
CREATE FUNCTION trig_row_new() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER tr_row_new AFTER INSERT ON ame_technicians
	REFERENCING NEW TABLE AS new_rows
	FOR EACH ROW EXECUTE FUNCTION trig_row_new();
SAVEPOINT s;
SELECT count(*) AS batches_before FROM import_batches \gset
SELECT ame_import_csv('name' || chr(10) || 'TR-refused', 'technicians');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT count(*) - :batches_before AS batches_added FROM import_batches;
ROLLBACK;
