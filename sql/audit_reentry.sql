--
-- audit_reentry: user code the image building calls (here a cast to json
-- of a range type) renames columns of the audited table and writes to it,
-- re-entering audit_trigger_function() while the outer call still walks
-- what it knows of the table.  Each image must be whole and true to the
-- columns as the call found them, or the write must fail cleanly; what
-- the outer call uses must never be freed under it.
--
\set VERBOSITY terse
CREATE SCHEMA reent;
CREATE TYPE reent.span AS RANGE (subtype = int4);
CREATE TABLE reent.t (id uuid PRIMARY KEY, alpha text, beta int, s reent.span,
                      at timestamptz DEFAULT '2026-01-02 03:04:05+00');
SELECT ame_enable_audit('reent.t');

-- the cast renames two columns of reent.t and inserts a row into it, once
-- per SET reent.go = 'on' (the inner row's own cast then does nothing)
CREATE FUNCTION reent.span_json(reent.span) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('reent.go', true) = 'on' THEN
    PERFORM set_config('reent.go', 'off', false);
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'reent.t'::regclass
               AND attname = 'alpha') THEN
      ALTER TABLE reent.t RENAME COLUMN alpha TO alpha_with_a_much_longer_name;
      ALTER TABLE reent.t RENAME COLUMN beta TO b;
      INSERT INTO reent.t VALUES ('00000000-0000-0000-0000-0000000000f2', 'inner', 2, '[5,6)');
    ELSE
      ALTER TABLE reent.t RENAME COLUMN alpha_with_a_much_longer_name TO alpha;
      ALTER TABLE reent.t RENAME COLUMN b TO beta;
      INSERT INTO reent.t VALUES ('00000000-0000-0000-0000-0000000000f3', 'inner again', 3, '[7,8)');
    END IF;
  END IF;
  RETURN json_build_object('lo', lower($1), 'hi', upper($1));
END $$;
CREATE CAST (reent.span AS json) WITH FUNCTION reent.span_json(reent.span);
CREATE VIEW reent.log AS
  SELECT seq, operation, record_id, old_values, new_values, changed_fields
  FROM ame_audit_logs WHERE table_schema = 'reent';

-- INSERT: the outer image has the columns as they were when the row was
-- inserted, the inner one the renamed columns
SET reent.go = 'on';
SET timezone = 'UTC';
INSERT INTO reent.t VALUES ('00000000-0000-0000-0000-0000000000f1', 'outer', 1, '[1,3)');
SELECT attname FROM pg_attribute WHERE attrelid = 'reent.t'::regclass AND attnum > 0
ORDER BY attnum;
SELECT operation, record_id, new_values, changed_fields FROM reent.log ORDER BY seq;
SELECT count(*) FILTER (WHERE jsonb_typeof(new_values) = 'object') AS objects,
       count(*) AS log_rows
FROM reent.log;

-- UPDATE: both images and changed_fields of the outer call keep the names
-- it started with while the cast renames them back and inserts again
SET reent.go = 'on';
UPDATE reent.t SET b = 10, s = '[1,4)' WHERE id = '00000000-0000-0000-0000-0000000000f1';
SELECT attname FROM pg_attribute WHERE attrelid = 'reent.t'::regclass AND attnum > 0
ORDER BY attnum;
SELECT operation, record_id, old_values, new_values, changed_fields
FROM reent.log ORDER BY seq OFFSET 2;
-- the row the inner call inserted after renaming the columns back has an
-- image equal to to_jsonb() of the row
SELECT l.new_values = to_jsonb(t) AS inner_image_is_row
FROM reent.t t JOIN reent.log l ON l.record_id = t.id
WHERE t.id = '00000000-0000-0000-0000-0000000000f3';

-- a cast that renames, inserts and then fails, caught by an exception
-- block, twenty times: every call is undone, nothing is logged, and the
-- cache keeps no entry of the failed calls alive (its contexts do not grow)
CREATE OR REPLACE FUNCTION reent.span_json(reent.span) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('reent.go', true) = 'on' THEN
    PERFORM set_config('reent.go', 'off', false);
    ALTER TABLE reent.t RENAME COLUMN alpha TO a;
    INSERT INTO reent.t VALUES (gen_random_uuid(), 'doomed', 0, '[0,1)');
    RAISE EXCEPTION 'cast refused';
  END IF;
  RETURN json_build_object('lo', lower($1), 'hi', upper($1));
END $$;
CREATE TEMP TABLE log_before AS SELECT count(*) AS n FROM reent.log;
CREATE TEMP TABLE contexts (at text, n bigint);
INSERT INTO contexts
  SELECT 'before', count(*) FROM pg_backend_memory_contexts WHERE name = 'ame audited relation';
DO $$
BEGIN
  FOR i IN 1 .. 20 LOOP
    BEGIN
      PERFORM set_config('reent.go', 'on', false);
      UPDATE reent.t SET beta = beta + 100 WHERE id = '00000000-0000-0000-0000-0000000000f1';
    EXCEPTION WHEN raise_exception THEN
      NULL;
    END;
  END LOOP;
  -- still in the transaction of the failed calls
  INSERT INTO contexts
    SELECT 'in the transaction', count(*) FROM pg_backend_memory_contexts
    WHERE name = 'ame audited relation';
END $$;
INSERT INTO contexts
  SELECT 'after', count(*) FROM pg_backend_memory_contexts WHERE name = 'ame audited relation';
SELECT c.at, c.n - b.n AS contexts_added
FROM contexts c, contexts b WHERE b.at = 'before' AND c.at <> 'before' ORDER BY c.at DESC;
SELECT (SELECT count(*) FROM reent.log) - n AS log_rows_added FROM log_before;
SELECT beta, count(*) FROM reent.t GROUP BY beta ORDER BY beta;
SELECT attname FROM pg_attribute WHERE attrelid = 'reent.t'::regclass AND attnum > 0
ORDER BY attnum;
-- and the table is audited as before
UPDATE reent.t SET beta = 11 WHERE id = '00000000-0000-0000-0000-0000000000f1';
SELECT changed_fields, new_values ->> 'beta' AS beta FROM reent.log ORDER BY seq DESC LIMIT 1;

RESET reent.go;
DROP SCHEMA reent CASCADE;
