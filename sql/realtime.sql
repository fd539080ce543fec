--
-- realtime: publication ame_realtime, ame_setup_realtime(), and a NOTIFY
-- on channel ame_realtime with ids only for each change of sessions,
-- progress and devices (SPEC §6).  psql prints each notification it
-- receives; the sender's PID varies, so the output goes through sed.
--
\set VERBOSITY terse

-- CREATE EXTENSION set up the publication on exactly the three tables
SELECT pubname, puballtables, pubinsert, pubupdate, pubdelete, pubtruncate
FROM pg_publication WHERE pubname = 'ame_realtime';
SELECT schemaname, tablename COLLATE "C" AS tablename FROM pg_publication_tables
WHERE pubname = 'ame_realtime' ORDER BY 2;
SELECT has_function_privilege('public', 'ame_setup_realtime()', 'EXECUTE') AS public_exec;

-- repair: a missing table comes back, a foreign one goes, options reset
CREATE TABLE rt_other (id int PRIMARY KEY);
ALTER PUBLICATION ame_realtime DROP TABLE device_inventory;
ALTER PUBLICATION ame_realtime ADD TABLE rt_other;
ALTER PUBLICATION ame_realtime SET (publish = 'insert');
SELECT ame_setup_realtime();
SELECT tablename COLLATE "C" AS tablename FROM pg_publication_tables
WHERE pubname = 'ame_realtime' ORDER BY 1;
SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = 'ame_realtime';
-- and it is created again when it was dropped
DROP PUBLICATION ame_realtime;
SELECT ame_setup_realtime();
SELECT count(*) AS tables FROM pg_publication_tables WHERE pubname = 'ame_realtime';

-- supabase_realtime, when present, gets the three tables once
CREATE PUBLICATION supabase_realtime FOR TABLE rt_other, ame_visit_progress;
SELECT ame_setup_realtime();
SELECT ame_setup_realtime();
SELECT tablename COLLATE "C" AS tablename FROM pg_publication_tables
WHERE pubname = 'supabase_realtime' ORDER BY 1;
DROP PUBLICATION supabase_realtime;
-- ... unless it publishes all tables anyway
CREATE PUBLICATION supabase_realtime FOR ALL TABLES;
SELECT ame_setup_realtime();
SELECT count(*) AS rels FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
WHERE p.pubname = 'supabase_realtime';
DROP PUBLICATION supabase_realtime;
DROP TABLE rt_other;

-- only the owner may set it up
CREATE ROLE regress_ame_rt;
SET ROLE regress_ame_rt;
SELECT ame_setup_realtime();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_ame_rt;

-- one notification per changed row, ids only, with what a listener needs
-- to route it: schema, table, operation, id, and per table
--   ame_visit_sessions, ame_visit_progress: visit_id, technician_id (the
--     VISIT's technician, whatever the session's own column says)
--   device_inventory: visit_id, customer_id
-- a key of its table is always there (null when the row has no such id);
-- the keys of the other tables never are
INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c8000000-0000-0000-0000-000000000001', 'Realtime Co', 'GUARDIAN');
INSERT INTO ame_technicians (id, user_id, name) VALUES
  ('a8000000-0000-0000-0000-00000000000a', '08000000-0000-0000-0000-00000000000a', 'Rita'),
  ('a8000000-0000-0000-0000-00000000000b', '08000000-0000-0000-0000-00000000000b', 'Sam');
INSERT INTO ame_visits (id, customer_id, technician_id, status, actual_start_time)
VALUES ('d8000000-0000-0000-0000-000000000001', 'c8000000-0000-0000-0000-000000000001',
        'a8000000-0000-0000-0000-00000000000a', 'in_progress', now());
LISTEN ame_realtime;
\o | sed -E 's/PID [0-9]+/PID <pid>/'
-- the session's own technician_id (Sam) disagrees with the visit's (Rita):
-- the payload names Rita
INSERT INTO ame_visit_sessions (id, visit_id, technician_id, session_token, expires_at)
VALUES ('e8000000-0000-0000-0000-000000000001', 'd8000000-0000-0000-0000-000000000001',
        'a8000000-0000-0000-0000-00000000000b', 'rt-1', now() + interval '1 hour');
UPDATE ame_visit_sessions SET auto_save_data = '{"secret": "not in the payload"}'
WHERE session_token = 'rt-1';
-- an UPDATE that changes nothing sends nothing
UPDATE ame_visit_sessions SET is_active = true WHERE session_token = 'rt-1';
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name)
VALUES ('f8000000-0000-0000-0000-000000000001', 'd8000000-0000-0000-0000-000000000001', 1, 'Check');
INSERT INTO device_inventory (id, customer_id, device_name)
VALUES ('b8000000-0000-0000-0000-000000000001', 'c8000000-0000-0000-0000-000000000001', 'JACE-1');
UPDATE device_inventory SET visit_id = 'd8000000-0000-0000-0000-000000000001'
WHERE id = 'b8000000-0000-0000-0000-000000000001';
-- two rows in one transaction: two notifications at commit
BEGIN;
DELETE FROM ame_visit_progress WHERE id = 'f8000000-0000-0000-0000-000000000001';
DELETE FROM device_inventory WHERE id = 'b8000000-0000-0000-0000-000000000001';
SELECT 'nothing delivered before commit' AS note;
COMMIT;
-- rolled back: nothing
BEGIN;
DELETE FROM ame_visit_sessions WHERE session_token = 'rt-1';
ROLLBACK;
-- the restore signals silence it (a dump script sets row_security = off)
SET row_security = off;
UPDATE ame_visit_sessions SET auto_save_data = '{"restored": true}' WHERE session_token = 'rt-1';
RESET row_security;
SET application_name = 'pg_restore';
UPDATE ame_visit_sessions SET auto_save_data = '{"restored": 2}' WHERE session_token = 'rt-1';
RESET application_name;
-- the session API notifies as any change does
SELECT ame_end_session('rt-1') IS NOT NULL AS ended;
\o

-- the visit's technician as the statement leaves it: a statement that
-- reassigns the visit and changes its session names the new technician
\o | sed -E 's/PID [0-9]+/PID <pid>/'
WITH v AS (UPDATE ame_visits SET technician_id = 'a8000000-0000-0000-0000-00000000000b'
           WHERE id = 'd8000000-0000-0000-0000-000000000001' RETURNING id)
UPDATE ame_visit_sessions SET auto_save_data = '{"reassigned": true}'
WHERE visit_id IN (SELECT id FROM v);
-- a visit without a technician: technician_id null
UPDATE ame_visits SET technician_id = NULL WHERE id = 'd8000000-0000-0000-0000-000000000001';
UPDATE ame_visit_sessions SET auto_save_data = '{"unassigned": true}' WHERE session_token = 'rt-1';
\o

-- deleting a visit deletes its sessions and progress (ON DELETE CASCADE):
-- those DELETEs are announced with the visit_id; the visit is gone by
-- then, so technician_id is null (route them by visit_id)
\o | sed -E 's/PID [0-9]+/PID <pid>/'
INSERT INTO ame_visits (id, customer_id, technician_id)
VALUES ('d8000000-0000-0000-0000-000000000002', 'c8000000-0000-0000-0000-000000000001',
        'a8000000-0000-0000-0000-00000000000a');
INSERT INTO ame_visit_sessions (id, visit_id, session_token, expires_at)
VALUES ('e8000000-0000-0000-0000-000000000002', 'd8000000-0000-0000-0000-000000000002',
        'rt-2', now() + interval '1 hour');
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name)
VALUES ('f8000000-0000-0000-0000-000000000002', 'd8000000-0000-0000-0000-000000000002', 1, 'Check');
DELETE FROM ame_visits WHERE id = 'd8000000-0000-0000-0000-000000000002';
\o
UNLISTEN ame_realtime;
DELETE FROM ame_visit_sessions WHERE session_token = 'rt-1';
DELETE FROM ame_technicians WHERE id IN ('a8000000-0000-0000-0000-00000000000a', 'a8000000-0000-0000-0000-00000000000b');
