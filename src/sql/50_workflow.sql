
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
'BEFORE INSERT OR UPDATE row trigger of ame_visits: allowed status changes only, phases forward one at a time with their tasks done, stamps actual_start_time and completed_at, derives duration_hours. Errors: 23514 a change the workflow refuses (constraint ame_visit_workflow); 22008 times too far apart; 55000 a damaged install; 39P01 fired other than as installed.';

CREATE TRIGGER ame_visits_check_workflow
	BEFORE INSERT OR UPDATE ON @extschema@.ame_visits
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_visit_workflow();

CREATE FUNCTION @extschema@.ame_visit_task_workflow()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_visit_task_workflow'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_visit_task_workflow() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_visit_task_workflow() IS
'AFTER INSERT OR UPDATE row trigger of ame_visit_progress: open tasks only in the current or a later phase of an open visit, tasks completed only while the visit is in progress. Errors: 23514 a change the workflow refuses (constraint ame_visit_task_workflow); 55000 a damaged install; 39P01 fired other than as installed.';

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
'moves a visit in progress to its next phase and returns it; the tasks of the phase left must be done. Errors: 22023 no such visit visible to you; 23514 refused by the workflow, or another change moved the visit first.';

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
'marks a task done (completed_at now; a task already done keeps its time) and sets its notes when given. Errors: 22023 no such task visible to you; 23514 the visit is not in progress, or the task is of a later phase.';

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
'what can be done next with a visit, as the caller sees it: start, advance_phase, complete, cancel and complete_task (one row per open task), each with allowed and, when not, the reason; no rows for a visit the caller cannot see. Errors: none.';
