--
-- workflow: the visit workflow of SPEC §10, enforced by the triggers
-- ame_visits_check_workflow and ame_visit_progress_check_workflow for
-- every client.  Every refusal is shown with its SQLSTATE, constraint
-- name, message and hint, and the row is read again after it.
--
\set VERBOSITY terse
-- run a statement; 'ok', or what the refusal carries
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; detail text; hint text; con text;
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT,
                          con = CONSTRAINT_NAME;
  RETURN st || ' ' || coalesce(nullif(con, ''), '-') || ': ' || msg
         || coalesce(' | detail: ' || nullif(detail, ''), '')
         || coalesce(' | hint: ' || nullif(hint, ''), '');
END
$$;
-- a visit's workflow columns, as one line
CREATE FUNCTION pg_temp.v(id uuid) RETURNS text
LANGUAGE sql AS $$
  SELECT status || ' phase ' || current_phase
         || ' start ' || coalesce(to_char(actual_start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), '-')
         || ' done ' || coalesce(to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), '-')
         || ' hours ' || coalesce(duration_hours::text, '-')
  FROM ame_visits WHERE ame_visits.id = $1
$$;
INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c8000000-0000-0000-0000-000000000001', 'Workflow Co', 'GUARDIAN');
INSERT INTO ame_technicians (id, user_id, name) VALUES
  ('a8000000-0000-0000-0000-00000000000a', '08000000-0000-0000-0000-00000000000a', 'Ada'),
  ('a8000000-0000-0000-0000-00000000000b', '08000000-0000-0000-0000-00000000000b', 'Ben');

--
-- 1. INSERT: any status whose columns agree with it
--
INSERT INTO ame_visits (id, customer_id, technician_id, status, current_phase,
                        actual_start_time, completed_at) VALUES
  ('d8000000-0000-0000-0000-000000000001', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a', 'scheduled', 1, NULL, NULL),
  ('d8000000-0000-0000-0000-000000000002', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a', 'in_progress', 3, '2026-03-02 08:00+00', NULL),
  ('d8000000-0000-0000-0000-000000000003', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a', 'completed', 4, '2026-03-02 08:00+00', '2026-03-02 10:20+00'),
  ('d8000000-0000-0000-0000-000000000004', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a', 'cancelled', 2, '2026-03-02 08:00+00', NULL),
  ('d8000000-0000-0000-0000-000000000005', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000b', 'cancelled', 1, NULL, NULL);
-- a completed visit's duration_hours is derived: 2 h 20 min = 2.33
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000003');
-- a duration that agrees with the times is accepted
INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time, completed_at, duration_hours)
VALUES ('d8000000-0000-0000-0000-000000000006', 'c8000000-0000-0000-0000-000000000001', 'completed', 4,
        '2026-03-03 08:00+00', '2026-03-03 09:30+00', 1.5);
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000006');
-- refused: each status with a column that disagrees
SELECT pg_temp.try(format($$INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time, completed_at, duration_hours)
                             VALUES ('d8000000-0000-0000-0000-0000000000ff', 'c8000000-0000-0000-0000-000000000001', %L, %s, %L, %L, %L)$$,
                          status, phase, start, done, hours)) AS refused
FROM (VALUES ('scheduled', 2, NULL, NULL, NULL),
             ('scheduled', 1, '2026-03-02 08:00+00', NULL, NULL),
             ('in_progress', 1, NULL, NULL, NULL),
             ('in_progress', 2, '2026-03-02 08:00+00', '2026-03-02 09:00+00', NULL),
             ('in_progress', 2, '2026-03-02 08:00+00', NULL, '1'),
             ('completed', 3, '2026-03-02 08:00+00', '2026-03-02 09:00+00', NULL),
             ('completed', 4, NULL, '2026-03-02 09:00+00', NULL),
             ('completed', 4, '2026-03-02 08:00+00', NULL, NULL),
             ('completed', 4, '2026-03-02 08:00+00', '2026-03-02 09:00+00', '2'),
             ('cancelled', 1, '2026-03-02 08:00+00', '2026-03-02 09:00+00', NULL),
             ('cancelled', 1, NULL, NULL, '1'),
             ('paused', 1, NULL, NULL, NULL),
             ('in_progress', 1, '-infinity', NULL, NULL),
             ('completed', 4, '2026-03-02 08:00+00', 'infinity', NULL),
             ('completed', 4, '-infinity', 'infinity', NULL)) AS t (status, phase, start, done, hours);
-- created_at is a finite time: the service levels measure from it
SELECT pg_temp.try($$INSERT INTO ame_visits (id, customer_id, created_at) VALUES ('d8000000-0000-0000-0000-0000000000fe', 'c8000000-0000-0000-0000-000000000001', 'infinity')$$);
SELECT pg_temp.try($$UPDATE ame_visits SET created_at = '-infinity' WHERE id = 'd8000000-0000-0000-0000-000000000001'$$);
-- a duration over what numeric(7,2) holds is the column's own error
SELECT pg_temp.try($$INSERT INTO ame_visits (customer_id, status, current_phase, actual_start_time, completed_at)
                     VALUES ('c8000000-0000-0000-0000-000000000001', 'completed', 4, '1900-01-01', '2026-01-01')$$);
-- nothing of the refused rows is there
SELECT count(*) FROM ame_visits WHERE customer_id = 'c8000000-0000-0000-0000-000000000001';

--
-- 2. status changes
--
-- scheduled -> in_progress stamps actual_start_time with now()
BEGIN;
UPDATE ame_visits SET status = 'in_progress' WHERE id = 'd8000000-0000-0000-0000-000000000001';
SELECT actual_start_time = now() AS stamped_now, completed_at IS NULL AS not_done, duration_hours IS NULL AS no_hours
FROM ame_visits WHERE id = 'd8000000-0000-0000-0000-000000000001';
ROLLBACK;
-- a start time the UPDATE gives is kept
UPDATE ame_visits SET status = 'in_progress', actual_start_time = '2026-03-05 07:45+00'
WHERE id = 'd8000000-0000-0000-0000-000000000001';
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000001');
-- refused transitions, each re-read unchanged
SELECT t.id, t.status AS requested,
       pg_temp.try(format('UPDATE ame_visits SET status = %L WHERE id = %L', t.status, t.id)) AS refused,
       pg_temp.v(t.id) AS after
FROM (VALUES ('d8000000-0000-0000-0000-000000000001'::uuid, 'scheduled'),
             ('d8000000-0000-0000-0000-000000000003'::uuid, 'scheduled'),
             ('d8000000-0000-0000-0000-000000000003'::uuid, 'in_progress'),
             ('d8000000-0000-0000-0000-000000000003'::uuid, 'cancelled'),
             ('d8000000-0000-0000-0000-000000000004'::uuid, 'in_progress'),
             ('d8000000-0000-0000-0000-000000000004'::uuid, 'completed'),
             ('d8000000-0000-0000-0000-000000000005'::uuid, 'scheduled')) AS t (id, status);
-- scheduled -> completed skips the work
INSERT INTO ame_visits (id, customer_id, technician_id) VALUES
  ('d8000000-0000-0000-0000-000000000007', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000b');
SELECT pg_temp.try($$UPDATE ame_visits SET status = 'completed', current_phase = 4 WHERE id = 'd8000000-0000-0000-0000-000000000007'$$);
SELECT pg_temp.try($$UPDATE ame_visits SET status = 'completed' WHERE id = 'd8000000-0000-0000-0000-000000000007'$$);
-- a start time on a visit that stays scheduled
SELECT pg_temp.try($$UPDATE ame_visits SET actual_start_time = now() WHERE id = 'd8000000-0000-0000-0000-000000000007'$$);
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000007');
-- scheduled -> cancelled, and in_progress -> cancelled; a visit that
-- never started does not get a start time by being cancelled
SELECT pg_temp.try($$UPDATE ame_visits SET status = 'cancelled', actual_start_time = created_at WHERE id = 'd8000000-0000-0000-0000-000000000007'$$);
UPDATE ame_visits SET status = 'cancelled' WHERE id = 'd8000000-0000-0000-0000-000000000007';
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000007');
INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time) VALUES
  ('d8000000-0000-0000-0000-000000000008', 'c8000000-0000-0000-0000-000000000001', 'in_progress', 2, '2026-03-04 08:00+00');
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name) VALUES
  ('e8000000-0000-0000-0000-000000000081', 'd8000000-0000-0000-0000-000000000008', 2, 'Left undone');
UPDATE ame_visits SET status = 'cancelled' WHERE id = 'd8000000-0000-0000-0000-000000000008';
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000008');
-- its open task stays undone, also when moved in the same UPDATE
SELECT pg_temp.try(format('UPDATE ame_visit_progress SET is_completed = true, completed_at = now()%s WHERE id = %L', m, 'e8000000-0000-0000-0000-000000000081')) AS refused
FROM (VALUES (''), (', phase = 2'), (', phase = 3')) AS t (m);
-- a visit in progress cannot lose its start time or gain an end
SELECT pg_temp.try($$UPDATE ame_visits SET actual_start_time = NULL WHERE id = 'd8000000-0000-0000-0000-000000000002'$$);
SELECT pg_temp.try($$UPDATE ame_visits SET completed_at = now() WHERE id = 'd8000000-0000-0000-0000-000000000002'$$);
SELECT pg_temp.try($$UPDATE ame_visits SET duration_hours = 3 WHERE id = 'd8000000-0000-0000-0000-000000000002'$$);
-- nor move its start, by which the service levels measure its response,
-- nor its created_at, from which they measure
SELECT pg_temp.try($$UPDATE ame_visits SET actual_start_time = '2026-03-02 07:30+00' WHERE id = 'd8000000-0000-0000-0000-000000000002'$$);
SELECT pg_temp.try($$UPDATE ame_visits SET created_at = created_at - interval '1 hour' WHERE id = 'd8000000-0000-0000-0000-000000000002'$$);
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000002');

--
-- 3. a closed visit: status, phase and times frozen; other columns not
--
SELECT pg_temp.try(format('UPDATE ame_visits SET %s WHERE id = %L', s, 'd8000000-0000-0000-0000-000000000003')) AS refused
FROM (VALUES ('current_phase = 3'), ('completed_at = completed_at + interval ''1 hour'''),
             ('actual_start_time = NULL'), ('duration_hours = 9')) AS t (s);
UPDATE ame_visits SET notes = 'Invoice sent.', scheduled_date = '2026-03-02'
WHERE id = 'd8000000-0000-0000-0000-000000000003';
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000003'), notes, scheduled_date
FROM ame_visits WHERE id = 'd8000000-0000-0000-0000-000000000003';
-- an UPDATE that writes the same values is no change
UPDATE ame_visits SET status = 'completed', current_phase = 4 WHERE id = 'd8000000-0000-0000-0000-000000000003';

--
-- 4. phases: forward one at a time, only in progress, tasks done
--
INSERT INTO ame_visits (id, customer_id, technician_id) VALUES
  ('d8000000-0000-0000-0000-000000000010', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a');
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name) VALUES
  ('e8000000-0000-0000-0000-000000000011', 'd8000000-0000-0000-0000-000000000010', 1, 'Review alarms'),
  ('e8000000-0000-0000-0000-000000000012', 'd8000000-0000-0000-0000-000000000010', 1, 'Back up controllers'),
  ('e8000000-0000-0000-0000-000000000041', 'd8000000-0000-0000-0000-000000000010', 4, 'Walk-through');
-- not while scheduled
SELECT pg_temp.try($$SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000010')$$);
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 2 WHERE id = 'd8000000-0000-0000-0000-000000000010'$$);
-- nor together with the start
SELECT pg_temp.try($$UPDATE ame_visits SET status = 'in_progress', current_phase = 2 WHERE id = 'd8000000-0000-0000-0000-000000000010'$$);
UPDATE ame_visits SET status = 'in_progress', actual_start_time = '2026-03-05 08:00+00'
WHERE id = 'd8000000-0000-0000-0000-000000000010';
-- tasks of the current phase are completed only while in progress (now)
-- and not ahead of the phase
SELECT pg_temp.try($$SELECT ame_complete_task('e8000000-0000-0000-0000-000000000041')$$);
-- two open tasks in phase 1
SELECT pg_temp.try($$SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000010')$$);
BEGIN;
SELECT ame_complete_task('e8000000-0000-0000-0000-000000000011');
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 2 WHERE id = 'd8000000-0000-0000-0000-000000000010'$$);
SELECT ame_complete_task('e8000000-0000-0000-0000-000000000012', 'Backups on the NAS.');
SELECT phase, task_name, is_completed, completed_at = now() AS at_now, notes
FROM ame_visit_progress WHERE visit_id = 'd8000000-0000-0000-0000-000000000010' ORDER BY phase, task_name;
COMMIT;
-- completing a done task again keeps its time; notes given replace the old
UPDATE ame_visit_progress SET completed_at = '2026-03-05 09:00+00' WHERE id = 'e8000000-0000-0000-0000-000000000011';
SELECT ame_complete_task('e8000000-0000-0000-0000-000000000011', 'Two alarms cleared.');
SELECT completed_at, notes FROM ame_visit_progress WHERE id = 'e8000000-0000-0000-0000-000000000011';
-- jumping, going back
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 3 WHERE id = 'd8000000-0000-0000-0000-000000000010'$$);
SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000010');
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 1 WHERE id = 'd8000000-0000-0000-0000-000000000010'$$);
-- phase 2 has no tasks: it counts as done
SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000010');
-- a task already done is history: not in a later phase than the visit's
SELECT pg_temp.try($$INSERT INTO ame_visit_progress (visit_id, phase, task_name, is_completed, completed_at)
                     VALUES ('d8000000-0000-0000-0000-000000000010', 4, 'Done early', true, now())$$);
-- an open task cannot be added to a phase already left
SELECT pg_temp.try($$INSERT INTO ame_visit_progress (visit_id, phase, task_name)
                     VALUES ('d8000000-0000-0000-0000-000000000010', 2, 'Forgotten check')$$);
-- nor a done task reopened there, nor moved there
SELECT pg_temp.try($$UPDATE ame_visit_progress SET is_completed = false WHERE id = 'e8000000-0000-0000-0000-000000000011'$$);
SELECT pg_temp.try($$UPDATE ame_visit_progress SET phase = 1 WHERE id = 'e8000000-0000-0000-0000-000000000041'$$);
-- a task added already done goes to the current phase only
SELECT pg_temp.try($$INSERT INTO ame_visit_progress (visit_id, phase, task_name, is_completed, completed_at)
                     VALUES ('d8000000-0000-0000-0000-000000000010', 1, 'Done long ago', true, now())$$);
INSERT INTO ame_visit_progress (visit_id, phase, task_name, is_completed, completed_at)
VALUES ('d8000000-0000-0000-0000-000000000010', 3, 'Reset the alarm panel', true, now());
-- a task of the current phase, open: allowed; it blocks the next step
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name) VALUES
  ('e8000000-0000-0000-0000-000000000031', 'd8000000-0000-0000-0000-000000000010', 3, 'Calibrate sensors');
SELECT pg_temp.try($$SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000010')$$);
SELECT ame_complete_task('e8000000-0000-0000-0000-000000000031');
SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000010');
-- 4 is the last phase
SELECT pg_temp.try($$SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000010')$$);
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000010');
-- completing needs phase 4's tasks done
SELECT pg_temp.try($$UPDATE ame_visits SET status = 'completed' WHERE id = 'd8000000-0000-0000-0000-000000000010'$$);
SELECT ame_complete_task('e8000000-0000-0000-0000-000000000041');
-- a duration that disagrees with the times is refused
SELECT pg_temp.try($$UPDATE ame_visits SET status = 'completed', completed_at = actual_start_time + interval '90 minutes', duration_hours = 2
                     WHERE id = 'd8000000-0000-0000-0000-000000000010'$$);
-- completed_at given: kept; duration_hours derived from it
UPDATE ame_visits SET status = 'completed', completed_at = actual_start_time + interval '90 minutes'
WHERE id = 'd8000000-0000-0000-0000-000000000010';
SELECT status, current_phase, completed_at - actual_start_time AS took, duration_hours
FROM ame_visits WHERE id = 'd8000000-0000-0000-0000-000000000010';
-- no task can be added to, reopened in or completed on a closed visit,
-- not even one already done
SELECT pg_temp.try($$INSERT INTO ame_visit_progress (visit_id, phase, task_name)
                     VALUES ('d8000000-0000-0000-0000-000000000010', 4, 'One more')$$);
SELECT pg_temp.try($$INSERT INTO ame_visit_progress (visit_id, phase, task_name, is_completed, completed_at)
                     VALUES ('d8000000-0000-0000-0000-000000000010', 4, 'Done after', true, now())$$);
SELECT pg_temp.try($$UPDATE ame_visit_progress SET is_completed = false WHERE id = 'e8000000-0000-0000-0000-000000000041'$$);
SELECT pg_temp.try($$INSERT INTO ame_visit_progress (visit_id, phase, task_name)
                     VALUES ('d8000000-0000-0000-0000-000000000005', 1, 'On a cancelled visit')$$);
-- a completed task recorded on a scheduled visit has no past
INSERT INTO ame_visits (id, customer_id) VALUES ('d8000000-0000-0000-0000-000000000009', 'c8000000-0000-0000-0000-000000000001');
SELECT pg_temp.try($$INSERT INTO ame_visit_progress (visit_id, phase, task_name, is_completed, completed_at)
                     VALUES ('d8000000-0000-0000-0000-000000000009', 1, 'x', true, now())$$);
-- but an open one is the plan
INSERT INTO ame_visit_progress (visit_id, phase, task_name)
VALUES ('d8000000-0000-0000-0000-000000000009', 1, 'Plan: review alarms');
-- the tasks are as they were
SELECT phase, task_name, is_completed FROM ame_visit_progress
WHERE visit_id = 'd8000000-0000-0000-0000-000000000010' ORDER BY phase, task_name;
-- the stamps on entering completed
BEGIN;
UPDATE ame_visits SET current_phase = 4 WHERE id = 'd8000000-0000-0000-0000-000000000002';
UPDATE ame_visits SET status = 'completed' WHERE id = 'd8000000-0000-0000-0000-000000000002';
SELECT completed_at = now() AS stamped_now,
       duration_hours = round((extract(epoch FROM now() - actual_start_time) / 3600)::numeric, 2) AS derived
FROM ame_visits WHERE id = 'd8000000-0000-0000-0000-000000000002';
ROLLBACK;
-- unknown ids: 22023, nothing changed
SELECT pg_temp.try($$SELECT ame_advance_phase('d8000000-0000-0000-0000-0000000000ee')$$);
SELECT pg_temp.try($$SELECT ame_complete_task('e8000000-0000-0000-0000-0000000000ee')$$);

--
-- 5. what can be done next
--
SELECT * FROM ame_visit_next_steps('d8000000-0000-0000-0000-000000000001');
INSERT INTO ame_visits (id, customer_id, technician_id, status, actual_start_time) VALUES
  ('d8000000-0000-0000-0000-000000000020', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a', 'in_progress', '2026-03-06 08:00+00');
INSERT INTO ame_visit_progress (id, visit_id, phase, task_name) VALUES
  ('e8000000-0000-0000-0000-000000000021', 'd8000000-0000-0000-0000-000000000020', 1, 'Review alarms'),
  ('e8000000-0000-0000-0000-000000000022', 'd8000000-0000-0000-0000-000000000020', 2, 'Inspect devices');
SELECT * FROM ame_visit_next_steps('d8000000-0000-0000-0000-000000000020');
SELECT * FROM ame_visit_next_steps('d8000000-0000-0000-0000-000000000010');
SELECT count(*) FROM ame_visit_next_steps('d8000000-0000-0000-0000-0000000000ee');

--
-- 6. a technician under row-level security
--
CREATE ROLE ame_wf_tech;
GRANT SELECT, UPDATE ON ame_visits, ame_visit_progress TO ame_wf_tech;
GRANT INSERT ON ame_visit_progress TO ame_wf_tech;
SET ROLE ame_wf_tech;
SET request.jwt.claim.sub = '08000000-0000-0000-0000-00000000000a';
SELECT ame_complete_task('e8000000-0000-0000-0000-000000000021', 'Checked.');
SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000020');
SELECT action, allowed, reason FROM ame_visit_next_steps('d8000000-0000-0000-0000-000000000020');
-- a refusal reaches the technician like anyone else
SELECT pg_temp.try($$SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000020')$$);
-- Ben's visit does not exist for Ada
SET request.jwt.claim.sub = '08000000-0000-0000-0000-00000000000b';
SELECT pg_temp.try($$SELECT ame_advance_phase('d8000000-0000-0000-0000-000000000020')$$);
SELECT pg_temp.try($$SELECT ame_complete_task('e8000000-0000-0000-0000-000000000022')$$);
SELECT count(*) FROM ame_visit_next_steps('d8000000-0000-0000-0000-000000000020');
-- a task for Ada's visit is refused by row-level security, before the
-- workflow's check could tell Ben anything of that visit (its phase)
SELECT pg_temp.try($$INSERT INTO ame_visit_progress (visit_id, phase, task_name)
                     VALUES ('d8000000-0000-0000-0000-000000000020', 1, 'Probe')$$);
RESET ROLE;
RESET request.jwt.claim.sub;
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000020');
SELECT is_completed, notes FROM ame_visit_progress WHERE id = 'e8000000-0000-0000-0000-000000000021';

--
-- 7. rows made before the rules: loaded as they are by a restore, kept
-- as they are by other updates, repaired in place
--
BEGIN;
SET LOCAL row_security = off;      -- what a plain-format dump sets
INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time, completed_at, duration_hours) VALUES
  ('d8000000-0000-0000-0000-000000000030', 'c8000000-0000-0000-0000-000000000001', 'completed', 4, '2026-02-01 08:00+00', NULL, 3),
  ('d8000000-0000-0000-0000-000000000031', 'c8000000-0000-0000-0000-000000000001', 'completed', 2, NULL, NULL, NULL),
  ('d8000000-0000-0000-0000-000000000033', 'c8000000-0000-0000-0000-000000000001', 'in_progress', 2, NULL, NULL, NULL),
  ('d8000000-0000-0000-0000-000000000034', 'c8000000-0000-0000-0000-000000000001', 'scheduled', 3, NULL, NULL, NULL),
  ('d8000000-0000-0000-0000-000000000035', 'c8000000-0000-0000-0000-000000000001', 'completed', 4, '2026-02-04 08:00+00', 'infinity', NULL);
INSERT INTO ame_visit_progress (visit_id, phase, task_name) VALUES
  ('d8000000-0000-0000-0000-000000000030', 1, 'Open on a completed visit');
INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time, created_at) VALUES
  ('d8000000-0000-0000-0000-000000000036', 'c8000000-0000-0000-0000-000000000001', 'in_progress', 1, '2026-02-05 08:00+00', 'infinity');
COMMIT;
-- the service levels read such rows without an error (no figure for them)
SELECT service_tier, visits, started_visits FROM service_level_metrics WHERE service_tier = 'GUARDIAN';
-- a role that is not the owner gives no restore signal (even one that
-- bypasses row-level security)
CREATE ROLE ame_wf_other BYPASSRLS;
GRANT INSERT, SELECT ON ame_visits TO ame_wf_other;
SET ROLE ame_wf_other;
SET row_security = off;
SELECT pg_temp.try($$INSERT INTO ame_visits (id, customer_id, status) VALUES ('d8000000-0000-0000-0000-000000000032', 'c8000000-0000-0000-0000-000000000001', 'completed')$$);
RESET row_security;
RESET ROLE;
-- the docs' query finds them
SELECT id, status, current_phase, actual_start_time IS NOT NULL AS has_start,
       completed_at IS NOT NULL AS has_end, duration_hours
FROM ame_visits
WHERE (status = 'scheduled' AND (current_phase <> 1 OR actual_start_time IS NOT NULL OR completed_at IS NOT NULL OR duration_hours IS NOT NULL))
   OR (status = 'in_progress' AND (actual_start_time IS NULL OR completed_at IS NOT NULL OR duration_hours IS NOT NULL))
   OR (status = 'completed' AND (current_phase <> 4 OR actual_start_time IS NULL OR completed_at IS NULL
       OR duration_hours IS DISTINCT FROM CASE WHEN isfinite(completed_at) AND isfinite(actual_start_time)
          THEN round((extract(epoch FROM completed_at - actual_start_time) / 3600)::numeric, 2) END))
   OR (status = 'cancelled' AND (completed_at IS NOT NULL OR duration_hours IS NOT NULL))
   OR NOT isfinite(actual_start_time) OR NOT isfinite(completed_at) OR NOT isfinite(created_at)
ORDER BY id;
-- other columns still change; the status still may not
UPDATE ame_visits SET notes = 'imported from the old system' WHERE id = 'd8000000-0000-0000-0000-000000000030';
SELECT pg_temp.try($$UPDATE ame_visits SET status = 'in_progress' WHERE id = 'd8000000-0000-0000-0000-000000000030'$$);
-- a repair that leaves it inconsistent is refused
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 4 WHERE id = 'd8000000-0000-0000-0000-000000000031'$$);
-- the repair: give what is missing; the duration given must agree
SELECT pg_temp.try($$UPDATE ame_visits SET completed_at = '2026-02-01 12:00+00' WHERE id = 'd8000000-0000-0000-0000-000000000030'$$);
UPDATE ame_visits SET completed_at = '2026-02-01 11:00+00' WHERE id = 'd8000000-0000-0000-0000-000000000030';
UPDATE ame_visits SET current_phase = 4, actual_start_time = '2026-02-02 08:00+00', completed_at = '2026-02-02 09:15+00'
WHERE id = 'd8000000-0000-0000-0000-000000000031';
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000030'), pg_temp.v('d8000000-0000-0000-0000-000000000031');
-- open ones too; a repair moves no phase but the one the status demands
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 4, actual_start_time = '2026-02-03 08:00+00' WHERE id = 'd8000000-0000-0000-0000-000000000033'$$);
UPDATE ame_visits SET actual_start_time = '2026-02-03 08:00+00' WHERE id = 'd8000000-0000-0000-0000-000000000033';
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 2 WHERE id = 'd8000000-0000-0000-0000-000000000034'$$);
UPDATE ame_visits SET current_phase = 1 WHERE id = 'd8000000-0000-0000-0000-000000000034';
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000033'), pg_temp.v('d8000000-0000-0000-0000-000000000034');
-- an infinite time is repaired the same way; notes change meanwhile
UPDATE ame_visits SET notes = 'end unknown' WHERE id = 'd8000000-0000-0000-0000-000000000035';
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 4, duration_hours = 1 WHERE id = 'd8000000-0000-0000-0000-000000000035'$$);
UPDATE ame_visits SET completed_at = '2026-02-04 10:30+00' WHERE id = 'd8000000-0000-0000-0000-000000000035';
SELECT pg_temp.v('d8000000-0000-0000-0000-000000000035');
-- repaired, they are closed like any other
SELECT pg_temp.try($$UPDATE ame_visits SET completed_at = '2026-02-01 12:00+00' WHERE id = 'd8000000-0000-0000-0000-000000000030'$$);

-- the open tasks are found through the partial index on them; without it
-- (or beside an index whose predicate would hide open tasks) through the
-- index on all tasks: the answer is the same
INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time) VALUES
  ('d8000000-0000-0000-0000-000000000040', 'c8000000-0000-0000-0000-000000000001', 'in_progress', 1, '2026-03-07 08:00+00');
INSERT INTO ame_visit_progress (visit_id, phase, task_name) VALUES
  ('d8000000-0000-0000-0000-000000000040', 1, 'Open one');
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 2 WHERE id = 'd8000000-0000-0000-0000-000000000040'$$);
BEGIN;
DROP INDEX ame_visit_progress_open_idx;
CREATE INDEX wf_done_only ON ame_visit_progress (visit_id, phase) WHERE is_completed;
SELECT pg_temp.try($$UPDATE ame_visits SET current_phase = 2 WHERE id = 'd8000000-0000-0000-0000-000000000040'$$);
ROLLBACK;
SELECT indexdef FROM pg_indexes WHERE indexname = 'ame_visit_progress_open_idx';

--
-- 8. the triggers are the extension's: misuse is refused
--
SELECT pg_temp.try('SELECT ame_visit_workflow()');
CREATE TABLE wf_other (id uuid, status text);
CREATE TRIGGER t BEFORE INSERT ON wf_other FOR EACH ROW EXECUTE FUNCTION ame_visit_workflow();
SELECT pg_temp.try($$INSERT INTO wf_other VALUES (gen_random_uuid(), 'scheduled')$$);
DROP TABLE wf_other;

DELETE FROM ame_visits WHERE customer_id = 'c8000000-0000-0000-0000-000000000001';
DELETE FROM ame_customers WHERE id = 'c8000000-0000-0000-0000-000000000001';
DELETE FROM ame_technicians WHERE id IN ('a8000000-0000-0000-0000-00000000000a', 'a8000000-0000-0000-0000-00000000000b');
REVOKE ALL ON ame_visits, ame_visit_progress FROM ame_wf_tech, ame_wf_other;
DROP ROLE ame_wf_tech;
DROP ROLE ame_wf_other;
