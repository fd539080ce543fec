--
-- realtime_bulk: realtime stays bounded (SPEC §6).  A statement that
-- changes at most 100 rows of a realtime table sends one notification per
-- row; above 100 it sends one summary {"table", "operation", "rows",
-- "bulk": true}.  Rows of rolled-back work are never announced, nested
-- statements neither lose nor repeat a row.  psql prints what it receives
-- after each command; "uniq -c" counts runs of the same line once the
-- varying ids and PID are masked.
--
\set VERBOSITY terse

INSERT INTO ame_customers (id, company_name, service_tier, customer_number)
VALUES ('c8100000-0000-0000-0000-000000000001', 'Bulk Co', 'CORE', 'RT-BULK');
LISTEN ame_realtime;

-- 150 rows in one statement: exactly one summary
\o | sed -E 's/PID [0-9]+/PID <pid>/'
INSERT INTO device_inventory (customer_id, device_name)
SELECT 'c8100000-0000-0000-0000-000000000001', 'bulk-' || g FROM generate_series(1, 150) g;
\o

-- 100 rows in one statement: 100 per-row notifications, each with its own id
\o | sed -E 's/PID [0-9]+/PID <pid>/; s/"id":"[0-9a-f-]{36}"/"id":<id>/' | uniq -c
INSERT INTO device_inventory (customer_id, device_name)
SELECT 'c8100000-0000-0000-0000-000000000001', 'hundred-' || g FROM generate_series(1, 100) g;
\o
SELECT count(*) AS devices FROM device_inventory
WHERE customer_id = 'c8100000-0000-0000-0000-000000000001';

-- 101 rows: the summary
\o | sed -E 's/PID [0-9]+/PID <pid>/'
UPDATE device_inventory SET vendor = 'v1'
WHERE device_name LIKE 'hundred-%' OR device_name = 'bulk-1';
\o

-- the limit is per statement, not per transaction: 60 + 60 rows are 120
-- per-row notifications
\o | sed -E 's/PID [0-9]+/PID <pid>/; s/"id":"[0-9a-f-]{36}"/"id":<id>/' | uniq -c
BEGIN;
UPDATE device_inventory SET vendor = 'v2'
WHERE device_name IN (SELECT 'bulk-' || g FROM generate_series(1, 60) g);
UPDATE device_inventory SET vendor = 'v2'
WHERE device_name IN (SELECT 'bulk-' || g FROM generate_series(61, 120) g);
COMMIT;
\o

-- an UPDATE that changes nothing is not counted: 250 rows matched, none changed
\o | sed -E 's/PID [0-9]+/PID <pid>/'
UPDATE device_inventory SET customer_id = customer_id
WHERE customer_id = 'c8100000-0000-0000-0000-000000000001';
\o

-- a statement that fires no statement trigger (a disabled statement
-- trigger, C code that fires only row triggers) is summed up
-- when its executor call ends, never mixed with the next statement
ALTER TABLE device_inventory DISABLE TRIGGER device_inventory_realtime_statement;
\o | sed -E 's/PID [0-9]+/PID <pid>/; s/"id":"[0-9a-f-]{36}"/"id":<id>/' | uniq -c
BEGIN;
UPDATE device_inventory SET vendor = 'v3' WHERE device_name LIKE 'bulk-%';
UPDATE device_inventory SET vendor = 'v3' WHERE device_name LIKE 'hundred-1%';
COMMIT;
\o
ALTER TABLE device_inventory ENABLE TRIGGER device_inventory_realtime_statement;

-- COPY is one statement
\o | sed -E 's/PID [0-9]+/PID <pid>/'
\copy device_inventory (customer_id, device_name) from program 'seq -f c8100000-0000-0000-0000-000000000001,copy-%g 150' with (format csv)
\o

-- rolled back to a savepoint: the rows of the rolled-back work are not
-- announced, whether their statement finished or failed half-way
CREATE FUNCTION rt_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.device_name = 'fail-me' THEN
		RAISE EXCEPTION 'rt_fail';
	END IF;
	RETURN NULL;
END $$;
-- fires after device_inventory_realtime (name order): the realtime row
-- trigger has already seen the rows when the statement fails
CREATE TRIGGER zz_rt_fail AFTER INSERT ON device_inventory
	FOR EACH ROW EXECUTE FUNCTION rt_fail();
\o | sed -E 's/PID [0-9]+/PID <pid>/'
BEGIN;
INSERT INTO device_inventory (id, customer_id, device_name)
VALUES ('b8100000-0000-0000-0000-000000000001', 'c8100000-0000-0000-0000-000000000001', 'kept');
SAVEPOINT s1;
INSERT INTO device_inventory (customer_id, device_name)
SELECT 'c8100000-0000-0000-0000-000000000001', 'gone-' || g FROM generate_series(1, 150) g;
INSERT INTO device_inventory (customer_id, device_name)
SELECT 'c8100000-0000-0000-0000-000000000001', 'gone-' || g FROM generate_series(151, 155) g;
ROLLBACK TO s1;
SAVEPOINT s2;
INSERT INTO device_inventory (customer_id, device_name)
SELECT 'c8100000-0000-0000-0000-000000000001', 'failed-' || g FROM generate_series(1, 5) g
UNION ALL SELECT 'c8100000-0000-0000-0000-000000000001'::uuid, 'fail-me';
ROLLBACK TO s2;
-- the same inside a PL/pgSQL exception block
DO $$
BEGIN
	INSERT INTO device_inventory (customer_id, device_name)
	SELECT 'c8100000-0000-0000-0000-000000000001', 'failed-' || g FROM generate_series(1, 3) g
	UNION ALL SELECT 'c8100000-0000-0000-0000-000000000001'::uuid, 'fail-me';
EXCEPTION WHEN raise_exception THEN
	NULL;
END $$;
COMMIT;
\o
SELECT device_name FROM device_inventory
WHERE device_name IN ('kept', 'fail-me') OR device_name LIKE 'gone-%' OR device_name LIKE 'failed-%';
DROP TRIGGER zz_rt_fail ON device_inventory;
DROP FUNCTION rt_fail();

-- nested statements: a trigger that inserts into the same table while the
-- outer statement's row triggers fire.  Each row is announced once; an
-- inner statement's rows come when it ends, before the outer statement's.
CREATE FUNCTION rt_nested() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO device_inventory (id, customer_id, device_name)
	VALUES (md5('inner' || NEW.id)::uuid, NEW.customer_id, 'inner-of-' || NEW.device_name);
	RETURN NULL;
END $$;
CREATE TRIGGER aa_rt_nested AFTER INSERT ON device_inventory
	FOR EACH ROW WHEN (NEW.device_name IN ('outer-1', 'outer-2'))
	EXECUTE FUNCTION rt_nested();
\o | sed -E 's/PID [0-9]+/PID <pid>/'
INSERT INTO device_inventory (id, customer_id, device_name)
SELECT format('b8200000-0000-0000-0000-%s', lpad(g::text, 12, '0'))::uuid,
       'c8100000-0000-0000-0000-000000000001', 'outer-' || g
FROM generate_series(1, 3) g;
\o
-- 150 outer rows, two of which insert an inner row: the two inner rows one
-- by one, then the outer statement's summary
\o | sed -E 's/PID [0-9]+/PID <pid>/; s/"id":"[0-9a-f-]{36}"/"id":<id>/'
INSERT INTO device_inventory (customer_id, device_name)
SELECT 'c8100000-0000-0000-0000-000000000001', 'outer-' || g FROM generate_series(1, 150) g;
\o
SELECT count(*) AS inner_rows FROM device_inventory WHERE device_name LIKE 'inner-of-%';
DROP TRIGGER aa_rt_nested ON device_inventory;
DROP FUNCTION rt_nested();

-- the import: one summary for 150 rows; a row that fails half-way through
-- a chunk (its earlier rows are redone) is not counted, nor are the rows
-- counted twice
SELECT 'customer_number,device_name,ip_address' || E'\n' ||
       string_agg(format('RT-BULK,imp-%s,%s', g, CASE WHEN g = 120 THEN 'not-an-ip' ELSE '' END), E'\n')
       AS csv FROM generate_series(1, 150) g \gset
\o | sed -E 's/PID [0-9]+/PID <pid>/'
SELECT id AS batch FROM ame_import_csv(:'csv', 'devices') \gset
\o
SELECT status, total_records, success_count, error_count FROM import_batches WHERE id = :'batch';
-- and 10 rows (one failing) are 9 per-row notifications
SELECT 'customer_number,device_name,ip_address' || E'\n' ||
       string_agg(format('RT-BULK,few-%s,%s', g, CASE WHEN g = 5 THEN 'not-an-ip' ELSE '' END), E'\n')
       AS csv FROM generate_series(1, 10) g \gset
\o | sed -E 's/PID [0-9]+/PID <pid>/; s/"id":"[0-9a-f-]{36}"/"id":<id>/' | uniq -c
SELECT id AS batch FROM ame_import_csv(:'csv', 'devices') \gset
\o
SELECT status, total_records, success_count, error_count FROM import_batches WHERE id = :'batch';

-- INSERT ... ON CONFLICT DO UPDATE: inserted and updated rows count apart
\o | sed -E 's/PID [0-9]+/PID <pid>/; s/"id":"[0-9a-f-]{36}"/"id":<id>/' | uniq -c
INSERT INTO device_inventory (id, customer_id, device_name)
SELECT id, customer_id, device_name || '-upserted' FROM device_inventory WHERE device_name LIKE 'copy-%'
UNION ALL
SELECT gen_random_uuid(), 'c8100000-0000-0000-0000-000000000001', 'upsert-' || g FROM generate_series(1, 3) g
ON CONFLICT (id) DO UPDATE SET device_name = excluded.device_name;
\o

-- rows a foreign key's action changes count with the statement that caused
-- them: deleting a visit sets visit_id of its 150 devices to null
INSERT INTO ame_visits (id, customer_id, status, actual_start_time)
VALUES ('d8100000-0000-0000-0000-000000000001', 'c8100000-0000-0000-0000-000000000001', 'in_progress', now());
\o | sed -E 's/PID [0-9]+/PID <pid>/'
UPDATE device_inventory SET visit_id = 'd8100000-0000-0000-0000-000000000001'
WHERE device_name LIKE 'bulk-%';
DELETE FROM ame_visits WHERE id = 'd8100000-0000-0000-0000-000000000001';
\o
SELECT count(*) AS devices_on_the_visit FROM device_inventory WHERE visit_id IS NOT NULL;

-- DELETE of them all: one summary
SELECT count(*) AS devices FROM device_inventory
WHERE customer_id = 'c8100000-0000-0000-0000-000000000001';
\o | sed -E 's/PID [0-9]+/PID <pid>/'
DELETE FROM device_inventory WHERE customer_id = 'c8100000-0000-0000-0000-000000000001';
\o
UNLISTEN ame_realtime;
DELETE FROM import_errors;
DELETE FROM import_batches;
DELETE FROM ame_customers WHERE id = 'c8100000-0000-0000-0000-000000000001';
