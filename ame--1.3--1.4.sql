/* ame--1.3--1.4.sql: upgrade from 1.3 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '1.4'" to load this file. \quit

-- ==== Visit workflow: the triggers of ame_visits and ame_visit_progress, ame_advance_phase, ame_complete_task, ame_visit_next_steps ====
-- Existing rows are not checked nor rewritten: the rules apply to what changes from now on (docs/workflow.md: finding and repairing visits that break them).

--
-- Visit workflow (src/workflow.c; docs/workflow.md): the status and phase
-- rules of ame_visits and the task rules of ame_visit_progress, enforced
-- by two row triggers for every client: BEFORE on ame_visits (it stamps;
-- its name sorts before ame_visits_updated_at, so updated_at sees the row
-- with the stamps made here), AFTER on ame_visit_progress (it checks the
-- row as written, once row-level security has let it through).
--

CREATE FUNCTION @extschema@.ame_visit_workflow()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_visit_workflow'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_visit_workflow() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_visit_workflow() IS
'BEFORE INSERT OR UPDATE row trigger of ame_visits: allowed status changes only, phases forward one at a time with their tasks done, stamps actual_start_time and completed_at, derives duration_hours; a refusal is 23514 (constraint ame_visit_workflow)';

CREATE TRIGGER ame_visits_check_workflow
	BEFORE INSERT OR UPDATE ON @extschema@.ame_visits
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_visit_workflow();

CREATE FUNCTION @extschema@.ame_visit_task_workflow()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_visit_task_workflow'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_visit_task_workflow() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_visit_task_workflow() IS
'AFTER INSERT OR UPDATE row trigger of ame_visit_progress: open tasks only in the current or a later phase of an open visit, tasks completed only while the visit is in progress; a refusal is 23514 (constraint ame_visit_task_workflow)';

CREATE TRIGGER ame_visit_progress_check_workflow
	AFTER INSERT OR UPDATE ON @extschema@.ame_visit_progress
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_visit_task_workflow();

-- the open tasks of a visit's phase: what a phase change or a completion
-- checks (a phase whose tasks are done has no entry), and what an app
-- lists as "left to do"
CREATE INDEX ame_visit_progress_open_idx
	ON @extschema@.ame_visit_progress (visit_id, phase)
	WHERE NOT is_completed;

--
-- The calls an app makes.  They run as the caller: row-level security
-- decides which visits and tasks they reach, the triggers decide what may
-- change.
--

CREATE FUNCTION @extschema@.ame_advance_phase(visit_id uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	from_phase integer;
	to_phase integer;
BEGIN
	SELECT v.current_phase INTO from_phase
	FROM @extschema@.ame_visits v
	WHERE v.id OPERATOR(pg_catalog.=) ame_advance_phase.visit_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'visit % does not exist or is not visible to you', visit_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- from the phase read above only: a second caller that waited for a
	-- first one to move the visit gets a refusal, not a second step
	UPDATE @extschema@.ame_visits v
	SET current_phase = from_phase OPERATOR(pg_catalog.+) 1
	WHERE v.id OPERATOR(pg_catalog.=) ame_advance_phase.visit_id
	  AND v.current_phase OPERATOR(pg_catalog.=) from_phase
	RETURNING v.current_phase INTO to_phase;
	IF NOT FOUND THEN
		SELECT v.current_phase INTO to_phase
		FROM @extschema@.ame_visits v
		WHERE v.id OPERATOR(pg_catalog.=) ame_advance_phase.visit_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'visit % does not exist or is not visible to you', visit_id
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RAISE EXCEPTION 'cannot move visit % from phase % to phase %: it is at phase % now',
			visit_id, from_phase, from_phase OPERATOR(pg_catalog.+) 1, to_phase
			USING ERRCODE = 'check_violation',
				  CONSTRAINT = 'ame_visit_workflow',
				  HINT = 'Another change moved the visit first: read it again before advancing.';
	END IF;
	RETURN to_phase;
END
$fn$;

COMMENT ON FUNCTION @extschema@.ame_advance_phase(uuid) IS
'moves a visit in progress to its next phase and returns it; the tasks of the phase left must be done; errors: 22023 (no such visit visible to you), 23514 (refused by the workflow, or another change moved the visit first)';

CREATE FUNCTION @extschema@.ame_complete_task(progress_id uuid, notes text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	UPDATE @extschema@.ame_visit_progress p
	SET is_completed = true,
		completed_at = CASE WHEN p.is_completed THEN p.completed_at
							ELSE pg_catalog.now() END,
		notes = COALESCE(ame_complete_task.notes, p.notes)
	WHERE p.id OPERATOR(pg_catalog.=) ame_complete_task.progress_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'task % does not exist or is not visible to you', progress_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@.ame_complete_task(uuid, text) IS
'marks a task done (completed_at now; a task already done keeps its time) and sets its notes when given; errors: 22023 (no such task visible to you), 23514 (the visit is not in progress, or the task is of a later phase)';

CREATE FUNCTION @extschema@.ame_visit_next_steps(visit_id uuid)
RETURNS TABLE (action text, task_id uuid, allowed boolean, reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH v AS (
		SELECT v.id, v.status, v.current_phase
		FROM @extschema@.ame_visits v
		WHERE v.id OPERATOR(pg_catalog.=) ame_visit_next_steps.visit_id
	), o AS (
		SELECT pg_catalog.count(p.id) AS open_tasks
		FROM v LEFT JOIN @extschema@.ame_visit_progress p
			 ON p.visit_id OPERATOR(pg_catalog.=) v.id
			AND p.phase OPERATOR(pg_catalog.=) v.current_phase
			AND NOT p.is_completed
	), steps AS (
		SELECT 1 AS ord, 'start'::text AS action, NULL::uuid AS task_id,
			   v.status OPERATOR(pg_catalog.=) 'scheduled'::text AS allowed,
			   CASE WHEN v.status OPERATOR(pg_catalog.=) 'scheduled'::text THEN NULL::text
					ELSE 'the visit is ' OPERATOR(pg_catalog.||) v.status END AS reason,
			   NULL::integer AS phase, NULL::text AS task_name
		FROM v
		UNION ALL
		SELECT 2, 'advance_phase', NULL,
			   v.status OPERATOR(pg_catalog.=) 'in_progress'::text
			   AND v.current_phase OPERATOR(pg_catalog.<) 4
			   AND o.open_tasks OPERATOR(pg_catalog.=) 0::bigint,
			   CASE WHEN v.status OPERATOR(pg_catalog.<>) 'in_progress'::text
						THEN 'the visit is ' OPERATOR(pg_catalog.||) v.status
					WHEN v.current_phase OPERATOR(pg_catalog.>=) 4
						THEN 'phase 4 is the last'
					WHEN o.open_tasks OPERATOR(pg_catalog.>) 0::bigint
						THEN o.open_tasks::text OPERATOR(pg_catalog.||) ' open task(s) in phase '
							 OPERATOR(pg_catalog.||) v.current_phase::text
			   END,
			   NULL, NULL
		FROM v, o
		UNION ALL
		SELECT 3, 'complete', NULL,
			   v.status OPERATOR(pg_catalog.=) 'in_progress'::text
			   AND v.current_phase OPERATOR(pg_catalog.=) 4
			   AND o.open_tasks OPERATOR(pg_catalog.=) 0::bigint,
			   CASE WHEN v.status OPERATOR(pg_catalog.<>) 'in_progress'::text
						THEN 'the visit is ' OPERATOR(pg_catalog.||) v.status
					WHEN v.current_phase OPERATOR(pg_catalog.<>) 4
						THEN 'the visit is at phase ' OPERATOR(pg_catalog.||) v.current_phase::text
							 OPERATOR(pg_catalog.||) ', not 4'
					WHEN o.open_tasks OPERATOR(pg_catalog.>) 0::bigint
						THEN o.open_tasks::text OPERATOR(pg_catalog.||) ' open task(s) in phase 4'
			   END,
			   NULL, NULL
		FROM v, o
		UNION ALL
		SELECT 4, 'cancel', NULL,
			   v.status OPERATOR(pg_catalog.=) ANY (ARRAY['scheduled', 'in_progress']::text[]),
			   CASE WHEN v.status OPERATOR(pg_catalog.=) ANY (ARRAY['scheduled', 'in_progress']::text[])
						THEN NULL::text
					ELSE 'the visit is ' OPERATOR(pg_catalog.||) v.status END,
			   NULL, NULL
		FROM v
		UNION ALL
		SELECT 5, 'complete_task', p.id,
			   v.status OPERATOR(pg_catalog.=) 'in_progress'::text
			   AND p.phase OPERATOR(pg_catalog.<=) v.current_phase,
			   CASE WHEN v.status OPERATOR(pg_catalog.<>) 'in_progress'::text
						THEN 'the visit is ' OPERATOR(pg_catalog.||) v.status
					WHEN p.phase OPERATOR(pg_catalog.>) v.current_phase
						THEN 'the task is of phase ' OPERATOR(pg_catalog.||) p.phase::text
							 OPERATOR(pg_catalog.||) ', the visit at phase '
							 OPERATOR(pg_catalog.||) v.current_phase::text
			   END,
			   p.phase, p.task_name
		FROM v JOIN @extschema@.ame_visit_progress p
			 ON p.visit_id OPERATOR(pg_catalog.=) v.id AND NOT p.is_completed
	)
	SELECT s.action, s.task_id, s.allowed, s.reason
	FROM steps s
	ORDER BY s.ord, s.phase, s.task_name, s.task_id;
END;

COMMENT ON FUNCTION @extschema@.ame_visit_next_steps(uuid) IS
'what can be done next with a visit, as the caller sees it: start, advance_phase, complete, cancel and complete_task (one row per open task), each with allowed and, when not, the reason; no rows for a visit the caller cannot see';

-- ==== Service levels: ame_service_levels with the default targets and its restore trigger, the views service_level_visits, service_level_metrics and service_level_metrics_monthly ====

--
-- The targets.  One row per service tier, made here with the defaults;
-- the owner edits them with UPDATE.  The table is dumped; the rows of a
-- dump are restored over the defaults that CREATE EXTENSION made by the
-- trigger below (a restore's COPY would otherwise collide with them).
--

CREATE FUNCTION @extschema@.ame_service_levels_restore()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_service_levels_restore'
LANGUAGE C;

-- attached only to ame_service_levels
REVOKE EXECUTE ON FUNCTION @extschema@.ame_service_levels_restore() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_service_levels_restore() IS
'BEFORE INSERT row trigger of ame_service_levels: in a restore session of the owner, a row for a tier that exists updates its targets instead of failing with 23505';

CREATE TABLE @extschema@.ame_service_levels (
	service_tier text NOT NULL,
	response_target interval NOT NULL,
	resolution_target interval NOT NULL,
	CONSTRAINT ame_service_levels_pkey PRIMARY KEY (service_tier),
	CONSTRAINT valid_service_level_tier
		CHECK (service_tier OPERATOR(pg_catalog.=) ANY (ARRAY['CORE', 'ASSURE', 'GUARDIAN']::text[])),
	CONSTRAINT valid_response_target
		CHECK (response_target OPERATOR(pg_catalog.>) '0'::interval),
	CONSTRAINT valid_resolution_target
		CHECK (resolution_target OPERATOR(pg_catalog.>) '0'::interval)
);

COMMENT ON TABLE @extschema@.ame_service_levels IS
'the response and resolution targets of each service tier (defaults GUARDIAN 4 h / 24 h, ASSURE 24 h / 72 h, CORE 72 h / 168 h); the owner edits them';
COMMENT ON COLUMN @extschema@.ame_service_levels.response_target IS
'longest time from a visit''s created_at to its actual_start_time that meets the target';
COMMENT ON COLUMN @extschema@.ame_service_levels.resolution_target IS
'longest time from a visit''s created_at to its completed_at that meets the target';

CREATE TRIGGER ame_service_levels_restore
	BEFORE INSERT ON @extschema@.ame_service_levels
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_service_levels_restore();
-- ALWAYS: a restore run with session_replication_role = replica (the way
-- docs/audit.md restores without new audit rows) needs it most
ALTER TABLE @extschema@.ame_service_levels
	ENABLE ALWAYS TRIGGER ame_service_levels_restore;

INSERT INTO @extschema@.ame_service_levels
	(service_tier, response_target, resolution_target) VALUES
	('GUARDIAN', '4 hours', '24 hours'),
	('ASSURE', '24 hours', '72 hours'),
	('CORE', '72 hours', '168 hours');

SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_service_levels', '');

--
-- The SLA views.  security_invoker: row-level security on ame_visits
-- applies to the reader.  Bound at install time, so every operator is
-- OPERATOR(pg_catalog.…).  Independent of the session's TimeZone: months
-- are UTC months, and "30 days" is 720 hours.
--

CREATE VIEW @extschema@.service_level_visits
WITH (security_invoker = true) AS
SELECT v.id AS visit_id,
	   v.customer_id,
	   v.technician_id,
	   c.service_tier,
	   pg_catalog.date_trunc('month', pg_catalog.timezone('UTC', v.created_at))::date
		   AS month,
	   v.status,
	   v.actual_start_time OPERATOR(pg_catalog.-) v.created_at AS response_time,
	   CASE WHEN v.status OPERATOR(pg_catalog.=) 'completed'
			THEN v.completed_at OPERATOR(pg_catalog.-) v.created_at END
		   AS resolution_time,
	   (v.actual_start_time OPERATOR(pg_catalog.-) v.created_at)
		   OPERATOR(pg_catalog.<=) sl.response_target AS response_met,
	   CASE WHEN v.status OPERATOR(pg_catalog.=) 'completed'
			THEN (v.completed_at OPERATOR(pg_catalog.-) v.created_at)
				 OPERATOR(pg_catalog.<=) sl.resolution_target END
		   AS resolution_met,
	   CASE WHEN v.status OPERATOR(pg_catalog.=) 'completed'
				 AND v.completed_at IS NOT NULL
			THEN NOT EXISTS (
				SELECT FROM @extschema@.ame_visits o
				WHERE o.customer_id OPERATOR(pg_catalog.=) v.customer_id
				  AND o.id OPERATOR(pg_catalog.<>) v.id
				  AND o.created_at OPERATOR(pg_catalog.>=) v.completed_at
				  AND o.created_at OPERATOR(pg_catalog.<=)
					  (v.completed_at OPERATOR(pg_catalog.+) '720 hours'::interval)) END
		   AS first_time_fix
FROM @extschema@.ame_visits v
	 JOIN @extschema@.ame_customers c ON c.id OPERATOR(pg_catalog.=) v.customer_id
	 LEFT JOIN @extschema@.ame_service_levels sl
		 ON sl.service_tier OPERATOR(pg_catalog.=) c.service_tier;

COMMENT ON VIEW @extschema@.service_level_visits IS
'per visit: its tier, UTC month of created_at, response and resolution time, whether each met its target, whether it was a first-time fix (NULL where not applicable)';

CREATE VIEW @extschema@.service_level_metrics
WITH (security_invoker = true) AS
SELECT tier.service_tier,
	   pg_catalog.count(s.visit_id) AS visits,
	   pg_catalog.count(s.response_time) AS started_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.response_met)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.response_met), 0::bigint), 2)
		   AS response_met_pct,
	   pg_catalog.percentile_cont(0.5::double precision)
		   WITHIN GROUP (ORDER BY s.response_time) AS median_response,
	   pg_catalog.percentile_cont(0.9::double precision)
		   WITHIN GROUP (ORDER BY s.response_time) AS p90_response,
	   pg_catalog.count(*) FILTER (WHERE s.status OPERATOR(pg_catalog.=) 'completed')
		   AS completed_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.resolution_met)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.resolution_met), 0::bigint), 2)
		   AS resolution_met_pct,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.first_time_fix)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.first_time_fix), 0::bigint), 2)
		   AS first_time_fix_pct
FROM (VALUES ('CORE'), ('ASSURE'), ('GUARDIAN')) AS tier (service_tier)
	 LEFT JOIN @extschema@.service_level_visits s
		 ON s.service_tier OPERATOR(pg_catalog.=) tier.service_tier
GROUP BY tier.service_tier;

COMMENT ON VIEW @extschema@.service_level_metrics IS
'per service tier (all three, also without visits): visits, started and completed visits, percent meeting the response and resolution targets, median and 90th percentile response time, first-time fix percent';

CREATE VIEW @extschema@.service_level_metrics_monthly
WITH (security_invoker = true) AS
SELECT s.service_tier,
	   s.month,
	   pg_catalog.count(s.visit_id) AS visits,
	   pg_catalog.count(s.response_time) AS started_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.response_met)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.response_met), 0::bigint), 2)
		   AS response_met_pct,
	   pg_catalog.percentile_cont(0.5::double precision)
		   WITHIN GROUP (ORDER BY s.response_time) AS median_response,
	   pg_catalog.percentile_cont(0.9::double precision)
		   WITHIN GROUP (ORDER BY s.response_time) AS p90_response,
	   pg_catalog.count(*) FILTER (WHERE s.status OPERATOR(pg_catalog.=) 'completed')
		   AS completed_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.resolution_met)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.resolution_met), 0::bigint), 2)
		   AS resolution_met_pct,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.first_time_fix)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.first_time_fix), 0::bigint), 2)
		   AS first_time_fix_pct
FROM @extschema@.service_level_visits s
GROUP BY s.service_tier, s.month;

COMMENT ON VIEW @extschema@.service_level_metrics_monthly IS
'service_level_metrics per tier and month (UTC month of created_at, as a date): one row per tier and month that has visits';
