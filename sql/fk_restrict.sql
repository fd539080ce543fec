--
-- fk_restrict: the ON DELETE RESTRICT keys keep a customer and a
-- technician that still have visits, and a customer that still has
-- devices.  PostgreSQL 18 reports such a delete as 23001
-- restrict_violation, earlier majors as 23503 foreign_key_violation:
-- expected/fk_restrict_1.out is PostgreSQL 18's output.
--
\set VERBOSITY terse
INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c1000000-0000-0000-0000-000000000001', 'Restrict Co', 'CORE');
INSERT INTO ame_technicians (id, name, user_id)
VALUES ('a1000000-0000-0000-0000-000000000001', 'Rita Restrict',
        'b1000000-0000-0000-0000-000000000001');
INSERT INTO ame_visits (id, customer_id, technician_id)
VALUES ('d1000000-0000-0000-0000-000000000001',
        'c1000000-0000-0000-0000-000000000001',
        'a1000000-0000-0000-0000-000000000001');

-- fk_visits_customer: a customer with visits stays
DELETE FROM ame_customers;
\echo :LAST_ERROR_SQLSTATE
-- fk_visits_technician: a technician with visits stays
DELETE FROM ame_technicians;
\echo :LAST_ERROR_SQLSTATE
-- fk_devices_customer: a customer with devices (and no visit) stays
DELETE FROM ame_visits;
INSERT INTO device_inventory (customer_id, device_name)
VALUES ('c1000000-0000-0000-0000-000000000001', 'Panel');
DELETE FROM ame_customers;
\echo :LAST_ERROR_SQLSTATE

-- the keys are RESTRICT, not NO ACTION: on PostgreSQL 15 and 17 both
-- refuse the deletes above with the same 23503 error, and pg_regress takes
-- either expected file on 18, so only the catalog tells them apart
SELECT conname COLLATE "C" AS conname, confdeltype, condeferrable
FROM pg_constraint
WHERE conname IN ('fk_visits_customer', 'fk_visits_technician', 'fk_devices_customer')
  AND connamespace = 'public'::regnamespace
ORDER BY 1;

-- nothing the refused deletes touched is gone
SELECT (SELECT count(*) FROM ame_customers) AS customers,
       (SELECT count(*) FROM ame_technicians) AS technicians,
       (SELECT count(*) FROM device_inventory) AS devices;

-- clean up for the next test
DELETE FROM device_inventory;
DELETE FROM ame_customers;
DELETE FROM ame_technicians;
