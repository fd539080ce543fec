--
-- audit_history: ame_record_history() and ame_record_at(), row shapes
--
\set VERBOSITY terse

-- a record's life over several transactions
SELECT clock_timestamp() AS t0 \gset
SELECT pg_sleep(0.01);
WITH c AS (INSERT INTO ame_customers (company_name, service_tier)
           VALUES ('History Co', 'CORE') RETURNING id)
INSERT INTO device_inventory (id, customer_id, device_name, status)
SELECT 'f0000000-0000-0000-0000-000000000001', id, 'AHU-1', 'online' FROM c;
SELECT pg_sleep(0.01);
SELECT clock_timestamp() AS t1 \gset
SELECT pg_sleep(0.01);
UPDATE device_inventory SET status = 'offline', firmware_version = '4.2';
SELECT pg_sleep(0.01);
SELECT clock_timestamp() AS t2 \gset
SELECT pg_sleep(0.01);
UPDATE device_inventory SET id = 'f0000000-0000-0000-0000-000000000002';
SELECT pg_sleep(0.01);
SELECT clock_timestamp() AS t3 \gset
SELECT pg_sleep(0.01);
DELETE FROM device_inventory;
SELECT pg_sleep(0.01);
SELECT clock_timestamp() AS t4 \gset

-- the whole history under the new id, including the changes made while
-- it had the old one, in order
SELECT operation, changed_fields, old_values ->> 'id' AS old_id,
       new_values ->> 'status' AS status
FROM ame_record_history('device_inventory', 'f0000000-0000-0000-0000-000000000002');
-- the old id's own history ends with the change of id
SELECT operation, changed_fields
FROM ame_record_history('device_inventory', 'f0000000-0000-0000-0000-000000000001');

-- time travel
SELECT ame_record_at('device_inventory', 'f0000000-0000-0000-0000-000000000002', :'t0') IS NULL AS before_it_existed;
SELECT ame_record_at('device_inventory', 'f0000000-0000-0000-0000-000000000002', :'t1') ->> 'status' AS at_t1;
SELECT ame_record_at('device_inventory', 'f0000000-0000-0000-0000-000000000002', :'t2') ->> 'status' AS at_t2;
SELECT ame_record_at('device_inventory', 'f0000000-0000-0000-0000-000000000002', :'t3') ->> 'id' AS at_t3;
SELECT ame_record_at('device_inventory', 'f0000000-0000-0000-0000-000000000002', :'t4') IS NULL AS after_deletion;
-- as a row of the table again
SELECT r.device_name, r.status, r.firmware_version
FROM jsonb_populate_record(NULL::device_inventory,
       ame_record_at('device_inventory', 'f0000000-0000-0000-0000-000000000002', :'t2')) r;
-- an unknown record, or another table's: no history
SELECT count(*) AS rows FROM ame_record_history('device_inventory', gen_random_uuid());
SELECT count(*) AS rows FROM ame_record_history('ame_visits', 'f0000000-0000-0000-0000-000000000002');

-- columns added or dropped since: the old image is what it was, and it
-- still rebuilds a row of today's table
ALTER TABLE device_inventory ADD COLUMN location text;
SELECT r.device_name, r.location
FROM jsonb_populate_record(NULL::device_inventory,
       ame_record_at('device_inventory', 'f0000000-0000-0000-0000-000000000002', :'t2')) r;
ALTER TABLE device_inventory DROP COLUMN location;

-- row shapes: a dropped column before id, a generated column, a large
-- TOASTed value left unchanged, jsonb and numeric, NULL <-> value
CREATE TABLE shapes (gone int, id uuid PRIMARY KEY, big text, doc jsonb, amount numeric(10, 2),
                     note text, twice numeric GENERATED ALWAYS AS (amount * 2) STORED);
ALTER TABLE shapes DROP COLUMN gone;
SELECT ame_enable_audit('shapes');
INSERT INTO shapes (id, big, doc, amount, note)
SELECT 'e0000000-0000-0000-0000-000000000009', string_agg(md5(i::text), ''), '{"k": {"n": 1}}', 12.5, NULL
FROM generate_series(1, 2000) i;
UPDATE shapes SET note = 'set';
UPDATE shapes SET note = NULL, amount = 7;
UPDATE shapes SET doc = '{"k": {"n": 2}}';
SELECT operation, changed_fields,
       new_values - 'big' AS new_values,
       length(new_values ->> 'big') AS big_in_new, length(old_values ->> 'big') AS big_in_old
FROM ame_record_history('shapes', 'e0000000-0000-0000-0000-000000000009');
-- the unchanged TOASTed value was never reported as changed, and both
-- images hold it in full
SELECT bool_and(NOT 'big' = ANY (changed_fields)) AS big_never_changed
FROM ame_audit_logs WHERE table_name = 'shapes' AND operation = 'UPDATE';
-- the image of today equals the live row
SELECT ame_record_at('shapes', 'e0000000-0000-0000-0000-000000000009', now()) = to_jsonb(s) AS matches_live
FROM shapes s;

DROP TABLE shapes;
DELETE FROM ame_customers;
SELECT setval('customer_sequence', 1, false);
