--
-- updated_at: moves only when another column's value really changed
--
\set VERBOSITY terse

-- every table with updated_at has the trigger, and only those
SELECT c.relname COLLATE "C" AS tbl,
       EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid
               AND t.tgfoid = 'ame_set_updated_at'::regproc) AS has_trigger
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'updated_at'
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
ORDER BY 1;

CREATE TEMP TABLE stamps (label text, tbl text, updated_at timestamptz);

-- rows created in an earlier transaction, so that now() moves
INSERT INTO ame_customers (id, company_name, service_tier, email, phone)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Stamp Co', 'CORE', 'a@example.com', '5551234');
INSERT INTO ame_technicians (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'Sam');
INSERT INTO ame_visits (id, customer_id) VALUES ('d0000000-0000-0000-0000-000000000001',
       'c0000000-0000-0000-0000-000000000001');
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name)
VALUES ('e0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 1, 'Walk-through');
INSERT INTO device_inventory (id, customer_id, device_name)
VALUES ('f0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000001', 'VAV-7');

-- backdate them (bypassing the trigger is the owner's privilege)
SET session_replication_role = replica;
UPDATE ame_customers SET updated_at = '2020-01-01';
UPDATE ame_technicians SET updated_at = '2020-01-01';
UPDATE ame_visits SET updated_at = '2020-01-01';
UPDATE ame_visit_progress SET updated_at = '2020-01-01';
UPDATE device_inventory SET updated_at = '2020-01-01';
RESET session_replication_role;

-- no-op updates: same values, or values that normalize to the same
UPDATE ame_customers SET company_name = company_name, email = ' A@Example.com ', phone = '555-1234';
UPDATE ame_technicians SET name = name, is_active = true;
UPDATE ame_visits SET status = 'scheduled', current_phase = 1;
UPDATE ame_visit_progress SET is_completed = false;
UPDATE device_inventory SET device_name = 'VAV-7', ip_address = NULL;
-- an explicit updated_at alone is not a change and is not honoured
UPDATE ame_technicians SET updated_at = '2030-01-01';
SELECT 'customers' AS tbl, updated_at FROM ame_customers
UNION ALL SELECT 'technicians', updated_at FROM ame_technicians
UNION ALL SELECT 'visits', updated_at FROM ame_visits
UNION ALL SELECT 'progress', updated_at FROM ame_visit_progress
UNION ALL SELECT 'devices', updated_at FROM device_inventory;

-- real changes move updated_at to now()
BEGIN;
UPDATE ame_customers SET site_name = 'Main plant';
UPDATE ame_technicians SET is_active = false;
-- (the visit's real change is its start: the workflow moves a phase only
-- while the visit is in progress, with the phase's tasks done)
UPDATE ame_visits SET status = 'in_progress';
UPDATE ame_visit_progress SET notes = 'ok';
UPDATE device_inventory SET ip_address = '10.0.0.7';
SELECT 'customers' AS tbl, updated_at = now() AS now FROM ame_customers
UNION ALL SELECT 'technicians', updated_at = now() FROM ame_technicians
UNION ALL SELECT 'visits', updated_at = now() FROM ame_visits
UNION ALL SELECT 'progress', updated_at = now() FROM ame_visit_progress
UNION ALL SELECT 'devices', updated_at = now() FROM device_inventory;
COMMIT;

-- NULL to value and value to NULL are changes
SET session_replication_role = replica;
UPDATE ame_customers SET updated_at = '2020-01-01';
RESET session_replication_role;
BEGIN;
UPDATE ame_customers SET site_name = NULL;
SELECT updated_at = now() AS moved FROM ame_customers;
COMMIT;
SET session_replication_role = replica;
UPDATE ame_customers SET updated_at = '2020-01-01';
RESET session_replication_role;
UPDATE ame_customers SET site_name = NULL;
SELECT updated_at AS kept FROM ame_customers;

-- a large (TOASTed) value left alone is not a change; a new one is
CREATE TEMP TABLE big AS
SELECT string_agg(md5(i::text), ' ') AS notes FROM generate_series(1, 2000) i;
UPDATE ame_visits SET notes = (SELECT notes FROM big);
-- stored out of line
SELECT pg_column_size(notes) > 2000 AS out_of_line,
       (SELECT reltoastrelid <> 0 FROM pg_class WHERE relname = 'ame_visits') AS has_toast
FROM ame_visits;
SET session_replication_role = replica;
UPDATE ame_visits SET updated_at = '2020-01-01';
RESET session_replication_role;
UPDATE ame_visits SET status = status;
SELECT updated_at AS kept FROM ame_visits;
UPDATE ame_visits SET notes = (SELECT notes FROM big);
SELECT updated_at AS kept_same_value FROM ame_visits;
BEGIN;
UPDATE ame_visits SET notes = (SELECT notes || '.' FROM big);
SELECT updated_at = now() AS moved FROM ame_visits;
COMMIT;

-- a dropped column does not confuse the comparison
ALTER TABLE device_inventory ADD COLUMN scratch int;
ALTER TABLE device_inventory DROP COLUMN scratch;
SET session_replication_role = replica;
UPDATE device_inventory SET updated_at = '2020-01-01';
RESET session_replication_role;
UPDATE device_inventory SET status = NULL;
SELECT updated_at AS kept FROM device_inventory;
BEGIN;
UPDATE device_inventory SET status = 'online';
SELECT updated_at = now() AS moved FROM device_inventory;
COMMIT;

DELETE FROM device_inventory;
DELETE FROM ame_visits;
DELETE FROM ame_technicians;
DELETE FROM ame_customers;
SELECT setval('customer_sequence', 1, false);
