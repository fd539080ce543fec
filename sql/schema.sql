--
-- schema: the tables, their columns, named constraints, foreign keys and
-- indexes, and that each constraint really bites (the data is re-read
-- after every error to show that nothing changed)
--
\set VERBOSITY terse

-- The monthly partitions of ame_audit_logs (named by the date of the
-- install) are left out here; sql/audit_partitions.sql shows them.
-- columns: name, type, NOT NULL, default
SELECT c.relname COLLATE "C" AS tbl, a.attname COLLATE "C" AS col,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
       pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
  AND c.relname !~ '^ame_audit_logs_y\d{4}m\d{2}$'
ORDER BY 1, a.attnum;

-- constraints, named as the seed names them (NOT NULL is in the column
-- list above; PostgreSQL 18 also records it here, as contype 'n')
SELECT conrelid::regclass::text COLLATE "C" AS tbl, conname COLLATE "C",
       contype, pg_get_constraintdef(oid) AS definition
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND contype <> 'n'
  AND conrelid::regclass::text !~ '^ame_audit_logs_y\d{4}m\d{2}$'
ORDER BY 1, 2;

-- indexes
SELECT indexrelid::regclass::text COLLATE "C" AS index, pg_get_indexdef(indexrelid) AS definition
FROM pg_index
WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace
                   AND relname !~ '^ame_audit_logs_y\d{4}m\d{2}$')
ORDER BY 1;

-- triggers
SELECT tgrelid::regclass::text COLLATE "C" AS tbl, tgname COLLATE "C", pg_get_triggerdef(oid) AS definition
FROM pg_trigger WHERE NOT tgisinternal
  AND tgrelid::regclass::text !~ '^ame_audit_logs_y\d{4}m\d{2}$'
ORDER BY 1, 2;

-- fixtures
INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Northwind Plant', 'CORE');
INSERT INTO ame_technicians (id, name, user_id)
VALUES ('a0000000-0000-0000-0000-000000000001', 'Tess Tech',
        'b0000000-0000-0000-0000-000000000001');
INSERT INTO ame_visits (id, customer_id, technician_id)
VALUES ('d0000000-0000-0000-0000-000000000001',
        'c0000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001');
INSERT INTO ame_visit_progress (visit_id, phase, task_name)
VALUES ('d0000000-0000-0000-0000-000000000001', 1, 'Inspect controllers');
BEGIN;
INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at)
VALUES ('d0000000-0000-0000-0000-000000000001', 'tok-1', now() + interval '1 hour');
SELECT auto_save_data, is_active, ttl, created_at = now() AS created_now,
       last_activity = now() AS active_now
FROM ame_visit_sessions;
COMMIT;
INSERT INTO device_inventory (customer_id, visit_id, device_name, ip_address)
VALUES ('c0000000-0000-0000-0000-000000000001',
        'd0000000-0000-0000-0000-000000000001', 'AHU-1 controller', '10.1.2.3');

-- defaults the spec names
SELECT status, current_phase FROM ame_visits;
SELECT is_completed, completed_at FROM ame_visit_progress;

CREATE VIEW snapshot AS
SELECT (SELECT count(*) FROM ame_customers) AS customers,
       (SELECT count(*) FROM ame_technicians) AS technicians,
       (SELECT string_agg(status || '/' || current_phase, ',') FROM ame_visits) AS visits,
       (SELECT string_agg(phase || ':' || task_name || ':' || is_completed, ',') FROM ame_visit_progress) AS progress,
       (SELECT string_agg(session_token, ',') FROM ame_visit_sessions) AS sessions,
       (SELECT count(*) FROM device_inventory) AS devices;
SELECT * FROM snapshot;

-- valid_service_tier: the trigger rejects a bad tier first; with the
-- trigger out of the way the CHECK still holds
ALTER TABLE ame_customers DISABLE TRIGGER ame_customers_normalize;
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('X', 'core', 'N-1');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ame_customers ENABLE TRIGGER ame_customers_normalize;

-- NOT NULL and blank company
INSERT INTO ame_customers (company_name, service_tier) VALUES (NULL, 'CORE');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier) VALUES ('   ', 'CORE');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier) VALUES ('X', NULL);
\echo :LAST_ERROR_SQLSTATE
-- a contract cannot end before it starts
INSERT INTO ame_customers (company_name, service_tier, contract_start_date, contract_end_date)
VALUES ('X', 'CORE', '2026-02-01', '2026-01-01');
\echo :LAST_ERROR_SQLSTATE
-- customer numbers are unique
INSERT INTO ame_customers (company_name, service_tier, customer_number)
SELECT 'Copy', 'CORE', customer_number FROM ame_customers;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_technicians (name) VALUES (NULL);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_technicians (name, user_id)
VALUES ('Twin', 'b0000000-0000-0000-0000-000000000001');
\echo :LAST_ERROR_SQLSTATE

-- valid_phase_progression, status, times.  The workflow trigger
-- (ame_visits_check_workflow) refuses each of these rows first, with its own
-- 23514; the CHECK constraints must hold on their own all the same, so the
-- trigger is out of the way here and the constraint's name is what the
-- error shows.  The workflow's refusals are tested in workflow.
ALTER TABLE ame_visits DISABLE TRIGGER ame_visits_check_workflow;
UPDATE ame_visits SET current_phase = 5;
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_visits SET current_phase = 0;
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_visits SET status = 'done';
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_visits SET actual_start_time = now(), completed_at = now() - interval '1 hour';
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_visits SET duration_hours = -1;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ame_visits ENABLE TRIGGER ame_visits_check_workflow;
INSERT INTO ame_visits (customer_id) VALUES (NULL);
\echo :LAST_ERROR_SQLSTATE
-- fk_visits_customer
INSERT INTO ame_visits (customer_id) VALUES ('c0000000-0000-0000-0000-0000000000ff');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_visits (customer_id, technician_id)
VALUES ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-0000000000ff');
\echo :LAST_ERROR_SQLSTATE

-- completion_requires_time (the task workflow's trigger fires AFTER the
-- row is written: the CHECK refuses this row first)
UPDATE ame_visit_progress SET is_completed = true;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_visit_progress (visit_id, phase, task_name)
VALUES ('d0000000-0000-0000-0000-000000000001', 1, 'Inspect controllers');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_visit_progress (visit_id, phase, task_name)
VALUES ('d0000000-0000-0000-0000-000000000001', 5, 'Phase five');
\echo :LAST_ERROR_SQLSTATE

-- valid_session_duration, ttl, unique token
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
VALUES ('d0000000-0000-0000-0000-000000000001', 'tok-2', now(), now());
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at, ttl)
VALUES ('d0000000-0000-0000-0000-000000000001', 'tok-2', now() + interval '1 hour', '0');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at)
VALUES ('d0000000-0000-0000-0000-000000000001', 'tok-1', now() + interval '1 hour');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at)
VALUES ('d0000000-0000-0000-0000-000000000001', NULL, now() + interval '1 hour');
\echo :LAST_ERROR_SQLSTATE

-- devices: inet is checked, the customer must exist
INSERT INTO device_inventory (customer_id, device_name, ip_address)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Bad IP', '300.1.1.1');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO device_inventory (customer_id, device_name)
VALUES ('c0000000-0000-0000-0000-0000000000ff', 'Orphan');
\echo :LAST_ERROR_SQLSTATE

-- import bookkeeping
INSERT INTO import_batches (source_file, import_type) VALUES ('x.csv', 'widgets');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO import_batches (source_file, import_type, status) VALUES ('x.csv', 'customers', 'done');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation)
VALUES ('public', 't', gen_random_uuid(), 'MERGE');
\echo :LAST_ERROR_SQLSTATE

-- (ON DELETE RESTRICT has a file of its own: fk_restrict)

-- nothing above changed anything
SELECT * FROM snapshot;

-- ON DELETE CASCADE: progress and sessions go with their visit; devices
-- keep their customer and lose the visit
DELETE FROM ame_visits;
SELECT * FROM snapshot;
SELECT device_name, visit_id FROM device_inventory;

-- the archive keeps what it is given, with its own timestamp
BEGIN;
INSERT INTO ame_visit_sessions_archive (id, visit_id, session_token, auto_save_data,
       is_active, last_activity, created_at, expires_at, ttl)
VALUES (gen_random_uuid(), 'd0000000-0000-0000-0000-000000000001', 'old', '{}',
        false, '2026-01-01', '2026-01-01', '2026-01-02', '1 day');
SELECT session_token, archived_at = now() AS archived_now FROM ame_visit_sessions_archive;
COMMIT;

-- clean up for the next test
DROP VIEW snapshot;
DELETE FROM device_inventory;
DELETE FROM ame_visit_sessions_archive;
DELETE FROM ame_customers;
DELETE FROM ame_technicians;
