--
-- import_devices and import_technicians: devices name their customer by
-- number (unknown: 23503), typed columns go through their type's input
--
\set VERBOSITY terse
BEGIN;
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('Device Owner', 'CORE', 'T-DEV-1');
SELECT count(*) AS devices_before FROM device_inventory \gset
\set csv `cat data/devices.csv`
SELECT id AS batch FROM ame_import_csv(:'csv', 'devices') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, line_number, sqlstate, regexp_replace(error_message, 'Failing row contains \(.*\)', 'Failing row contains (...)') AS error_message
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
SELECT c.customer_number, d.device_name, d.device_type, d.vendor, d.ip_address, d.last_seen
FROM device_inventory d JOIN ame_customers c ON c.id = d.customer_id
WHERE c.customer_number = 'T-DEV-1' ORDER BY d.device_name;
SELECT count(*) - :devices_before AS devices_added FROM device_inventory;

\set csv `cat data/technicians.csv`
SELECT id AS batch FROM ame_import_csv(:'csv', 'technicians') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT row_number, line_number, sqlstate,
       regexp_replace(error_message, 'Failing row contains \(.*\)', 'Failing row contains (...)') AS error_message
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
SELECT name, email, user_id, is_active FROM ame_technicians
WHERE name LIKE '% Tech' ORDER BY name;
ROLLBACK;

-- the customer number is trimmed before the lookup: " T-1 " unquoted and
-- " T-1<tab>" quoted both find customer T-1
BEGIN;
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('Trim Owner', 'CORE', 'T-1');
SELECT id AS batch FROM ame_import_csv('customer_number,device_name' || chr(10) ||
  ' T-1 ,Trim device unquoted' || chr(10) ||
  '" T-1	",Trim device quoted' || chr(10), 'devices') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT c.customer_number, d.device_name
FROM device_inventory d JOIN ame_customers c ON c.id = d.customer_id
WHERE d.device_name LIKE 'Trim device%' ORDER BY d.device_name;
ROLLBACK;
