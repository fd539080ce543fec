-- bench/workflow.sql -- 200k visit UPDATEs that pass the workflow rules,
-- three ways in one run, all on ame_visits itself (its foreign keys,
-- indexes and the tables that reference it are the same for all three):
-- ame's C trigger (ame_visits_check_workflow), the same rules written as
-- a PL/pgSQL trigger instead (the seed has no workflow trigger at all:
-- this is what its style would cost), and no trigger, where the UPDATE
-- itself writes what the trigger would stamp.  Each round runs the
-- four updates a visit meets, each over all 200k visits:
--   start     scheduled -> in_progress (actual_start_time stamped)
--   advance   phase 1 -> 2 (the two tasks of phase 1 checked, done)
--   complete  phase 4 -> completed (phase 4's task checked, completed_at
--             stamped, duration_hours derived)
--   edit      notes changed (no workflow column: the trigger's fast path)
-- The tasks (1M rows, five per visit) are laid out as they arrive in real
-- life: a visit's tasks are written at different times, far apart in the
-- table.  Best of 3, variants interleaved; prints per-update and overall
-- ratios.  Only the workflow trigger is measured: the other triggers of
-- ame_visits (audit, updated_at) are disabled for the run.
\set ON_ERROR_STOP on
\set visits 200000
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ame;
SELECT public.ame_disable_audit('public.ame_visits');
ALTER TABLE public.ame_visits DISABLE TRIGGER ame_visits_updated_at;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

INSERT INTO public.ame_customers (company_name, service_tier)
SELECT 'Bench customer ' || i, (ARRAY['CORE', 'ASSURE', 'GUARDIAN'])[1 + i % 3]
FROM generate_series(1, 1000) i;

-- the visits, scheduled
INSERT INTO public.ame_visits (customer_id, created_at)
SELECT c.id, timestamptz '2026-01-01 00:00+00' + i * interval '1 minute'
FROM generate_series(1, :visits) i
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM public.ame_customers) c
  ON c.n = 1 + i % 1000;

-- five tasks per visit, all done (the rounds measure updates that pass):
-- written phase by phase across all visits, in no visit order, so that a
-- visit's tasks are scattered over the table; loaded in replica mode,
-- since done tasks on a visit not started break the rules the triggers
-- guard (the rows are set up, not measured)
SET session_replication_role = replica;
INSERT INTO public.ame_visit_progress (visit_id, phase, task_name, is_completed, completed_at)
SELECT v.id, t.phase, t.task, true, now()
FROM (VALUES (1, 'Review alarms'), (1, 'Back up controllers'), (2, 'Inspect devices'),
             (3, 'Calibrate sensors'), (4, 'Walk-through')) AS t (phase, task)
CROSS JOIN public.ame_visits v
ORDER BY t.phase, md5(v.id::text || t.task);
RESET session_replication_role;
VACUUM ANALYZE public.ame_visits, public.ame_visit_progress;

-- the same rules in PL/pgSQL, reading the same tasks
CREATE FUNCTION bench.plpgsql_workflow() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  IF (NEW.status, NEW.current_phase, NEW.actual_start_time, NEW.completed_at, NEW.duration_hours)
     IS NOT DISTINCT FROM
     (OLD.status, OLD.current_phase, OLD.actual_start_time, OLD.completed_at, OLD.duration_hours) THEN
    RETURN NEW;
  END IF;
  IF OLD.status IN ('completed', 'cancelled') THEN
    RAISE EXCEPTION 'visit % is %', OLD.id, OLD.status USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.status <> OLD.status
     AND NOT ((OLD.status = 'scheduled' AND NEW.status IN ('in_progress', 'cancelled'))
              OR (OLD.status = 'in_progress' AND NEW.status IN ('completed', 'cancelled'))) THEN
    RAISE EXCEPTION 'cannot go from % to %', OLD.status, NEW.status USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.current_phase <> OLD.current_phase THEN
    IF OLD.status <> 'in_progress' OR NEW.status <> 'in_progress'
       OR NEW.current_phase <> OLD.current_phase + 1 THEN
      RAISE EXCEPTION 'cannot move phase' USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*) INTO n FROM public.ame_visit_progress p
    WHERE p.visit_id = NEW.id AND p.phase = OLD.current_phase AND NOT p.is_completed;
    IF n > 0 THEN
      RAISE EXCEPTION 'open tasks' USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  IF NEW.status = 'in_progress' AND OLD.status = 'scheduled' AND NEW.actual_start_time IS NULL THEN
    NEW.actual_start_time := now();
  END IF;
  IF NEW.status = 'completed' THEN
    IF NEW.current_phase <> 4 THEN
      RAISE EXCEPTION 'not at phase 4' USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*) INTO n FROM public.ame_visit_progress p
    WHERE p.visit_id = NEW.id AND p.phase = 4 AND NOT p.is_completed;
    IF n > 0 THEN
      RAISE EXCEPTION 'open tasks' USING ERRCODE = 'check_violation';
    END IF;
    NEW.completed_at := coalesce(NEW.completed_at, now());
    NEW.duration_hours := round((extract(epoch FROM NEW.completed_at - NEW.actual_start_time) / 3600)::numeric, 2);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER plpgsql_workflow BEFORE UPDATE ON public.ame_visits
  FOR EACH ROW EXECUTE FUNCTION bench.plpgsql_workflow();

CREATE TABLE bench.timings (variant text, op text, round int, ms double precision);

-- the visits back to "scheduled" (replica mode: no trigger), and the
-- variant's trigger alone enabled
CREATE PROCEDURE bench.reset(v text)
LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL session_replication_role = replica;
  UPDATE public.ame_visits SET status = 'scheduled', current_phase = 1, actual_start_time = NULL,
         completed_at = NULL, duration_hours = NULL, notes = NULL;
  EXECUTE format('ALTER TABLE public.ame_visits %s TRIGGER ame_visits_check_workflow',
                 CASE v WHEN 'c' THEN 'ENABLE' ELSE 'DISABLE' END);
  EXECUTE format('ALTER TABLE public.ame_visits %s TRIGGER plpgsql_workflow',
                 CASE v WHEN 'plpgsql' THEN 'ENABLE' ELSE 'DISABLE' END);
END $$;

-- phase 2 -> 4 between "advance" and "complete" is set up, not measured
CREATE PROCEDURE bench.to_phase_4(tbl regclass)
LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL session_replication_role = replica;
  EXECUTE format('UPDATE %s SET current_phase = 4', tbl);
END $$;

-- one variant's four updates in one round
CREATE PROCEDURE bench.round(v text, r int)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  op text;
  tbl text := 'public.ame_visits';
BEGIN
  FOREACH op IN ARRAY ARRAY['start', 'advance', 'complete', 'edit'] LOOP
    IF op = 'complete' THEN
      CALL bench.to_phase_4(tbl::regclass);
      COMMIT;
    END IF;
    CHECKPOINT;
    t0 := clock_timestamp();
    IF v = 'none' THEN
      -- what an app writes when no trigger does it
      EXECUTE format(CASE op
        WHEN 'start' THEN 'UPDATE %s SET status = ''in_progress'', actual_start_time = now()'
        WHEN 'advance' THEN 'UPDATE %s SET current_phase = current_phase + 1'
        WHEN 'complete' THEN 'UPDATE %s SET status = ''completed'', completed_at = now(),
                             duration_hours = round((extract(epoch FROM now() - actual_start_time) / 3600)::numeric, 2)'
        ELSE 'UPDATE %s SET notes = ''Checked on site.''' END, tbl);
    ELSE
      EXECUTE format(CASE op
        WHEN 'start' THEN 'UPDATE %s SET status = ''in_progress'''
        WHEN 'advance' THEN 'UPDATE %s SET current_phase = current_phase + 1'
        WHEN 'complete' THEN 'UPDATE %s SET status = ''completed'''
        ELSE 'UPDATE %s SET notes = ''Checked on site.''' END, tbl);
    END IF;
    INSERT INTO bench.timings
      VALUES (v, op, r, extract(epoch FROM clock_timestamp() - t0) * 1000);
    COMMIT;
  END LOOP;
END $$;

-- round 0 warms caches and is not counted; variants interleaved; every
-- visit back to "scheduled" and vacuumed before each variant's round
SELECT format('CALL bench.reset(%L)', v), 'VACUUM', format('CALL bench.round(%L, %s)', v, r)
FROM generate_series(0, 3) r, unnest(ARRAY['none', 'plpgsql', 'c']) WITH ORDINALITY AS u (v, o)
ORDER BY r, o
\gexec

-- the C path really did the work (it was the last one run)
SELECT status, count(*), count(actual_start_time) AS started, count(completed_at) AS stamped,
       min(duration_hours) AS min_hours
FROM public.ame_visits GROUP BY status;

\echo
\echo 'workflow: 200k-visit UPDATEs, best of 3 (ms)'
DELETE FROM bench.timings WHERE round = 0;
SELECT op, variant, round(min(ms)) AS best_ms, round(max(ms)) AS worst_ms
FROM bench.timings GROUP BY op, variant
ORDER BY array_position(ARRAY['start', 'advance', 'complete', 'edit'], op), min(ms);

WITH b AS (SELECT op, variant, min(ms) AS ms FROM bench.timings GROUP BY op, variant),
     t AS (SELECT 'all four' AS op, variant, sum(ms) AS ms FROM b GROUP BY variant
           UNION ALL SELECT op, variant, ms FROM b)
SELECT op,
       round((max(ms) FILTER (WHERE variant = 'c') / max(ms) FILTER (WHERE variant = 'none'))::numeric, 3)
         AS c_vs_no_trigger,
       round((max(ms) FILTER (WHERE variant = 'plpgsql') / max(ms) FILTER (WHERE variant = 'none'))::numeric, 3)
         AS plpgsql_vs_no_trigger,
       round((max(ms) FILTER (WHERE variant = 'plpgsql') / max(ms) FILTER (WHERE variant = 'c'))::numeric, 3)
         AS c_speedup_over_plpgsql,
       '<= 1.15' AS target_c_vs_no_trigger
FROM t GROUP BY op
ORDER BY array_position(ARRAY['start', 'advance', 'complete', 'edit', 'all four'], op);

-- leave the database as it was
DROP TRIGGER plpgsql_workflow ON public.ame_visits;
ALTER TABLE public.ame_visits ENABLE TRIGGER ame_visits_check_workflow;
ALTER TABLE public.ame_visits ENABLE TRIGGER ame_visits_updated_at;
TRUNCATE public.ame_customers CASCADE;
SELECT public.ame_enable_audit('public.ame_visits');
DROP SCHEMA bench CASCADE;
