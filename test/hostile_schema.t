#!/bin/bash
# test/hostile_schema.t -- a role that may create objects in the
# extension's schema or in public gains nothing from it: no operator or
# function it plants is bound by ame's views, CHECKs, policies or
# defaults (pg_depend), and none runs inside ame's functions, whoever
# calls them.  Every trap would make its planter a superuser if it ever ran
# as one, and records that it ran.  Plants are made before CREATE
# EXTENSION, again before ame's functions are called, and before ALTER
# EXTENSION ame UPDATE from every released version (installed clean, and
# installed with the plants already there).  TAP output, run by prove
# inside a throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
skip() { n=$((n+1)); echo "ok $n # skip $1"; }
# the harness's own queries see nothing but pg_catalog: only ame can bind
# or call a trap
q() { PGOPTIONS="-c search_path=pg_catalog,pg_temp" psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
# everything a session prints goes to $out, where a trap's warning shows
out=$(mktemp /tmp/ame-hostile.XXXXXX); csv=$(mktemp /tmp/ame-hostile-csv.XXXXXX)
trap 'rm -f "$out" "$csv"' EXIT
run() {		# run DB SCHEMA [psql args]: SQL on stdin, as a user of SCHEMA
	local db=$1 sch=$2 path=$2; shift 2
	[ "$sch" = public ] || path="$sch,public"
	PGOPTIONS="-c search_path=$path" psql -X -q -At -v ON_ERROR_STOP=1 -v s="$sch" -v csvfile="$csv" \
		-d "$db" "$@" >>"$out" 2>&1
}

released=$(ls ame--*.sql | sed -n 's/^ame--\([0-9.]*\)\.sql$/\1/p' \
	| grep -vx "$(sed -n "s/^default_version = '\(.*\)'/\1/p" ame.control)" | sort -V)
nreleased=$(echo "$released" | grep -c .)
echo "1..$((1 + 2 * 9 + nreleased * (7 + 8) + 3))"

printf 'company_name,service_tier\nFile Co,guardian\n' >"$csv"
chmod 644 "$csv"

# Roles are the cluster's: made here, dropped at the end.
q postgres "DROP ROLE IF EXISTS ame_trapper; DROP ROLE IF EXISTS ame_tech;
            CREATE ROLE ame_trapper NOSUPERUSER; CREATE ROLE ame_tech NOSUPERUSER" >/dev/null \
	|| { echo "Bail out! could not create the roles"; exit 1; }

# The trapper's kit: a table anyone may write to (the traps' record) and a
# function that plants a trap for every operator ame's SQL applies to two
# operands of different types (and, where PostgreSQL lets a non-superuser
# declare it, on unknown), for the same-type ones (shadowed by pg_catalog
# if pg_catalog comes first), and look-alikes of the functions ame's
# PL/pgSQL calls unqualified.  Each trap tries ALTER ROLE ame_trapper
# SUPERUSER, which succeeds only when a superuser runs it.
kit_sql=$(cat <<'SQL'
SET ROLE ame_trapper;
CREATE TABLE public.ame_trap_fired (what text, by_role name, at timestamptz DEFAULT now());
GRANT INSERT, SELECT ON public.ame_trap_fired TO PUBLIC;
CREATE FUNCTION public.ame_trap_plant(sch text) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog AS $plant$
DECLARE
	cmp text[] := ARRAY['=', '<>', '<', '>', '<=', '>='];
	arith text[] := ARRAY['+', '-', '*', '/'];
	-- left, right: cross-type pairs first, then same-type ones
	pairs text[][] := ARRAY[
		['numeric', 'integer'], ['integer', 'numeric'], ['numeric', 'bigint'],
		['bigint', 'numeric'], ['bigint', 'integer'], ['integer', 'bigint'],
		['numeric', 'double precision'], ['double precision', 'numeric'],
		['oid', 'regclass'], ['regclass', 'oid'], ['oid', 'regtype'],
		['regtype', 'oid'], ['oid', 'regproc'], ['oid', 'regprocedure'],
		['oid', 'regnamespace'], ['oid', 'regrole'],
		['text', 'name'], ['name', 'text'], ['text', 'unknown'], ['name', 'unknown'],
		['"char"', 'unknown'], ['"char"', 'text'], ['text', 'character varying'],
		['uuid', 'text'], ['text', 'uuid'], ['uuid', 'unknown'],
		['jsonb', 'text'], ['text', 'jsonb'],
		['timestamp with time zone', 'timestamp without time zone'],
		['timestamp with time zone', 'date'], ['date', 'timestamp with time zone'],
		['interval', 'text'], ['boolean', 'integer'],
		['text', 'text'], ['uuid', 'uuid'], ['numeric', 'numeric'],
		['oid', 'oid'], ['bigint', 'bigint'], ['name', 'name'],
		['integer', 'integer'], ['boolean', 'boolean'], ['"char"', '"char"'],
		['date', 'date'], ['interval', 'interval'], ['jsonb', 'jsonb'],
		['timestamp with time zone', 'timestamp with time zone']];
	-- operator, left, right, result
	others text[][] := ARRAY[
		['->>', 'jsonb', 'text', 'text'], ['->>', 'jsonb', 'unknown', 'text'],
		['->', 'jsonb', 'text', 'jsonb'], ['?', 'jsonb', 'text', 'boolean'],
		['@>', 'jsonb', 'text', 'boolean'], ['||', 'jsonb', 'text', 'jsonb'],
		['||', 'text', 'jsonb', 'jsonb'], ['||', 'jsonb', 'jsonb', 'jsonb'],
		['||', 'text', 'uuid', 'text'], ['||', 'text', 'unknown', 'text'],
		['+', 'timestamp with time zone', 'interval', 'timestamp with time zone'],
		['-', 'timestamp with time zone', 'interval', 'timestamp with time zone'],
		['-', 'timestamp with time zone', 'timestamp with time zone', 'interval'],
		['=', 'uuid', 'uuid[]', 'boolean'], ['@>', 'uuid[]', 'uuid', 'boolean']];
	-- name, arguments, result, what the original gives: what a SQL or
	-- PL/pgSQL body may call unqualified
	funcs text[][] := ARRAY[
		['format', 'text, regclass', 'text', 'format($1, $2)'],
		['format', 'text, text', 'text', 'format($1, $2)'],
		['format', 'text, name', 'text', 'format($1, $2)'],
		['format', 'text, text, text', 'text', 'format($1, $2, $3)'],
		['format', 'text, oid', 'text', 'format($1, $2)'],
		['pg_has_role', 'name, oid, text', 'boolean', 'pg_has_role($1, $2, $3)'],
		['pg_has_role', 'text, oid, text', 'boolean', 'pg_has_role($1::name, $2, $3)'],
		['pg_get_userbyid', 'oid', 'name', 'pg_get_userbyid($1)'],
		['pg_get_userbyid', 'regrole', 'name', 'pg_get_userbyid($1)'],
		['current_setting', 'text', 'text', 'current_setting($1)'],
		['now', '', 'timestamp with time zone', 'now()'],
		['gen_random_uuid', '', 'uuid', 'gen_random_uuid()'],
		['round', 'numeric, integer', 'numeric', 'round($1, $2)'],
		['round', 'numeric, bigint', 'numeric', 'round($1, $2::integer)'],
		['nextval', 'text', 'bigint', 'nextval($1::regclass)'],
		['to_jsonb', 'text', 'jsonb', 'to_jsonb($1)'],
		['jsonb_build_object', 'text, text', 'jsonb', 'jsonb_build_object($1, $2)']];
	ops text[][] := '{}';
	o text;
	i integer;
	f text;
	made integer := 0;
	body text := $body$
BEGIN
	RAISE WARNING 'ame-trap fired: %% as %%', %L, current_user;
	BEGIN
		INSERT INTO public.ame_trap_fired (what, by_role) VALUES (%L, current_user);
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	BEGIN
		ALTER ROLE ame_trapper SUPERUSER;
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	-- and gives what the original would, so that nothing looks amiss
	RETURN %s;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END$body$;
BEGIN
	FOREACH o IN ARRAY cmp LOOP
		FOR i IN 1 .. array_length(pairs, 1) LOOP
			ops := ops || ARRAY[[o, pairs[i][1], pairs[i][2], 'boolean']];
		END LOOP;
	END LOOP;
	FOREACH o IN ARRAY arith LOOP
		FOR i IN 1 .. 8 LOOP	-- the numeric pairs
			ops := ops || ARRAY[[o, pairs[i][1], pairs[i][2], 'numeric']];
		END LOOP;
	END LOOP;
	ops := ops || others;

	FOR i IN 1 .. array_length(ops, 1) LOOP
		f := format('%I.ame_trap_%s', sch,
					left(md5(ops[i][1] || ops[i][2] || ops[i][3]), 12));
		CONTINUE WHEN to_regprocedure(format('%s(%s, %s)', f, ops[i][2], ops[i][3])) IS NOT NULL;
		BEGIN
			EXECUTE format('CREATE FUNCTION %s(l %s, r %s) RETURNS %s LANGUAGE plpgsql AS %L',
						   f, ops[i][2], ops[i][3], ops[i][4],
						   format(body,
								  format('%s.%s(%s, %s)', sch, ops[i][1], ops[i][2], ops[i][3]),
								  format('%s.%s(%s, %s)', sch, ops[i][1], ops[i][2], ops[i][3]),
								  format('l OPERATOR(pg_catalog.%s) r', ops[i][1])));
			EXECUTE format('CREATE OPERATOR %I.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %s)',
						   sch, ops[i][1], ops[i][2], ops[i][3], f);
			made := made + 1;
		EXCEPTION
			-- "unknown" cannot be declared by a non-superuser (only C can)
			WHEN invalid_function_definition OR feature_not_supported THEN NULL;
		END;
	END LOOP;

	FOR i IN 1 .. array_length(funcs, 1) LOOP
		f := format('%I.%I', sch, funcs[i][1]);
		CONTINUE WHEN EXISTS (SELECT FROM pg_proc p
							  WHERE p.pronamespace OPERATOR(pg_catalog.=)
									CASE sch WHEN 'pg_temp' THEN pg_my_temp_schema()
											 ELSE sch::regnamespace::oid END
								AND p.proname OPERATOR(pg_catalog.=) funcs[i][1]::name
								AND pg_get_function_identity_arguments(p.oid) OPERATOR(pg_catalog.=) funcs[i][2]);
		EXECUTE format('CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE plpgsql AS %L',
					   f, funcs[i][2], funcs[i][3],
					   format(body,
							  format('%s.%s(%s)', sch, funcs[i][1], funcs[i][2]),
							  format('%s.%s(%s)', sch, funcs[i][1], funcs[i][2]),
							  'pg_catalog.' || funcs[i][4]));
		made := made + 1;
	END LOOP;
	RETURN made;
END
$plant$;
SQL
)
# what the trapper planted, and what of anyone else's depends on it
planted_sql="SELECT count(*) FROM pg_operator o
	WHERE o.oprowner OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) 'ame_trapper')"
bound_sql=$(cat <<'SQL'
WITH trapper AS (SELECT r.oid FROM pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) 'ame_trapper'),
planted (cls, obj) AS (
	SELECT 'pg_proc'::regclass::oid, p.oid FROM pg_proc p, trapper t WHERE p.proowner OPERATOR(pg_catalog.=) t.oid
	UNION ALL
	SELECT 'pg_operator'::regclass::oid, o.oid FROM pg_operator o, trapper t WHERE o.oprowner OPERATOR(pg_catalog.=) t.oid)
SELECT coalesce(string_agg(pg_describe_object(d.classid, d.objid, d.objsubid) || ' -> '
						   || pg_describe_object(d.refclassid, d.refobjid, 0), '; ' ORDER BY 1), '')
FROM pg_depend d JOIN planted p
	 ON p.cls OPERATOR(pg_catalog.=) d.refclassid AND p.obj OPERATOR(pg_catalog.=) d.refobjid
WHERE NOT EXISTS (SELECT FROM planted p2
				  WHERE p2.cls OPERATOR(pg_catalog.=) d.classid AND p2.obj OPERATOR(pg_catalog.=) d.objid)
SQL
)

# setup DB: a database where ame_trapper may create in public and fsm
setup() {
	dropdb --if-exists "$1" >/dev/null 2>&1
	createdb "$1" || { echo "Bail out! createdb $1 failed"; exit 1; }
	q "$1" "ALTER ROLE ame_trapper NOSUPERUSER" >/dev/null
	q "$1" "CREATE SCHEMA fsm; GRANT USAGE, CREATE ON SCHEMA public, fsm TO ame_trapper;
	        GRANT USAGE ON SCHEMA public, fsm TO ame_tech" >/dev/null
	q "$1" "$kit_sql" >/dev/null || { echo "Bail out! the trapper's kit failed in $1"; exit 1; }
}
# plant DB SCHEMA...: traps in each schema, as the trapper
plant() {
	local db=$1 s; shift
	for s in "$@"; do
		q "$db" "SET ROLE ame_trapper; SELECT public.ame_trap_plant('$s')" >/dev/null \
			|| { echo "Bail out! planting in $db.$s failed"; exit 1; }
	done
}
fired() { grep -c 'ame-trap fired' "$out"; }
worked() { ok "$1" "0" "$2"; [ "$1" = 0 ] || tail -5 "$out" | sed 's/^/# /'; }
# clean DB LABEL: the four things that must hold (4 assertions)
clean() {
	ok "$(q "$1" "SELECT rolsuper FROM pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'ame_trapper'")" "f" \
	   "$2: the trapper is still no superuser"
	ok "$(q "$1" "SELECT count(*) FROM public.ame_trap_fired")" "0" "$2: no trap recorded a run"
	ok "$(fired)" "0" "$2: no trap raised its warning"
	[ "$(fired)" = 0 ] || grep 'ame-trap fired' "$out" | sort | uniq -c | head -20 | sed 's/^/# /'
	ok "$(q "$1" "$bound_sql")" "" "$2: nothing of ame's depends on a planted object (pg_depend)"
}

# Everything ame has, as its owner (the superuser who installed it) with
# SCHEMA first on the path: every trigger, both views, the CHECKs, every
# function.  The statements here compare only values of one type, so that
# they bind nothing planted themselves.
exercise_owner() {
	run "$1" "$2" <<'SQL'
\set VERBOSITY terse
INSERT INTO ame_customers (company_name, service_tier, phone, email, contract_start_date, contract_end_date)
VALUES ('Hostile Co', 'core', '(555) 123-4567 x12', ' Ops@Hostile.Example ', '2024-01-01', '2025-01-01'),
       ('Other Co', 'GUARDIAN', NULL, NULL, NULL, NULL);
INSERT INTO ame_technicians (name, user_id)
VALUES ('Tess', '00000000-0000-0000-0000-0000000000aa'), ('Idle', NULL);
-- the visit workflow (its triggers and functions): a visit in progress is
-- walked through its phases and completed (completed_at stamped,
-- duration_hours derived and checked by valid_duration); the scheduled one
-- stays open for the sessions below
INSERT INTO ame_visits (customer_id, technician_id, status, actual_start_time)
SELECT c.id, t.id, 'in_progress', now() - interval '3 hours'
FROM ame_customers c, ame_technicians t WHERE t.name = 'Tess';
INSERT INTO ame_visits (customer_id, technician_id, status, scheduled_date)
SELECT c.id, t.id, 'scheduled', current_date
FROM ame_customers c, ame_technicians t WHERE t.name = 'Tess';
INSERT INTO ame_visit_progress (visit_id, phase, task_name) SELECT v.id, 1, 'Survey' FROM ame_visits v;
INSERT INTO ame_visit_progress (visit_id, phase, task_name) SELECT v.id, 4, 'Sign-off' FROM ame_visits v;
UPDATE ame_visit_progress SET is_completed = true, completed_at = now()
WHERE phase = 1 AND visit_id IN (SELECT v.id FROM ame_visits v WHERE v.status = 'in_progress');
SELECT count(*) FROM ame_visits v, ame_visit_next_steps(v.id) n;
SELECT ame_advance_phase(v.id) FROM ame_visits v WHERE v.status = 'in_progress';
SELECT ame_advance_phase(v.id) FROM ame_visits v WHERE v.status = 'in_progress';
SELECT ame_advance_phase(v.id) FROM ame_visits v WHERE v.status = 'in_progress';
SELECT ame_complete_task(p.id, 'signed') FROM ame_visit_progress p, ame_visits v
WHERE p.visit_id = v.id AND v.status = 'in_progress' AND p.phase = 4;
UPDATE ame_visits SET status = 'completed' WHERE status = 'in_progress';
INSERT INTO device_inventory (customer_id, device_name, ip_address)
SELECT c.id, 'AHU-1', '10.0.0.1' FROM ame_customers c;
UPDATE device_inventory SET status = 'online';
UPDATE ame_customers SET site_name = 'Main' WHERE company_name = 'Hostile Co';
SELECT count(*) FROM technician_performance WHERE total_visits >= 0::bigint AND completion_rate >= 0::numeric;
SELECT count(*) FROM service_tier_metrics WHERE avg_visit_duration >= 0::numeric;
SELECT count(*) FROM service_level_metrics WHERE response_met_pct >= 0::numeric AND median_response >= '0'::interval;
SELECT count(*) FROM service_level_metrics_monthly WHERE first_time_fix_pct >= 0::numeric;
UPDATE ame_service_levels SET response_target = '5 hours'::interval WHERE service_tier = 'GUARDIAN'::text;
-- a restore session's insert of an existing tier: the trigger's update
SET row_security = off;
INSERT INTO ame_service_levels VALUES ('GUARDIAN'::text, '4 hours'::interval, '24 hours'::interval);
RESET row_security;
SELECT ame_current_user_id(), ame_current_technician_id(), ame_current_visit_ids();
SET request.jwt.claims = '{"sub": "00000000-0000-0000-0000-0000000000aa"}';
SELECT ame_current_user_id(), ame_current_technician_id(), ame_current_visit_ids();
RESET request.jwt.claims;
-- sessions, their errors, and the cleanup
SELECT s.session_token AS tok FROM (SELECT v.id FROM ame_visits v WHERE v.status = 'scheduled' LIMIT 1) v,
     ame_start_session(v.id, '1 hour') s \gset
SELECT ame_touch_session(:'tok', '{"step": 1}') IS NOT NULL;
SELECT ame_end_session(:'tok') IS NOT NULL;
DO $$BEGIN PERFORM ame_touch_session('no such token'); EXCEPTION WHEN invalid_parameter_value THEN NULL; END$$;
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
SELECT v.id, 'old-' || v.id::text, now() - interval '3 days', now() - interval '2 days' FROM ame_visits v;
SELECT cleanup_expired_sessions();
DO $$BEGIN PERFORM ame_end_session(a.session_token) FROM ame_visit_sessions_archive a LIMIT 1;
   EXCEPTION WHEN check_violation THEN NULL; END$$;
DO $$BEGIN PERFORM ame_schedule_cleanup('0 3 * * *'); EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL; END$$;
DO $$BEGIN PERFORM ame_unschedule_cleanup(); EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL; END$$;
SELECT ame_setup_realtime();
-- audit: enable (every branch), history, time travel, disable, purge
CREATE TABLE hostile_things (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), v text);
CREATE DOMAIN hostile_uuid AS uuid;
CREATE TABLE hostile_domain (id hostile_uuid PRIMARY KEY, v text);
CREATE TABLE hostile_parts (id uuid NOT NULL, k integer) PARTITION BY RANGE (k);
CREATE TABLE hostile_parts_1 PARTITION OF hostile_parts FOR VALUES FROM (0) TO (10);
CREATE TABLE hostile_no_id (v text);
CREATE TABLE hostile_int_id (id integer);
CREATE VIEW hostile_view AS SELECT 1 AS id;
SELECT ame_enable_audit('hostile_things');
SELECT ame_enable_audit('hostile_things');
SELECT ame_enable_audit('hostile_domain');
SELECT ame_enable_audit('hostile_parts');
DO $$BEGIN PERFORM ame_enable_audit('hostile_no_id'); EXCEPTION WHEN invalid_parameter_value THEN NULL; END$$;
DO $$BEGIN PERFORM ame_enable_audit('hostile_int_id'); EXCEPTION WHEN invalid_parameter_value THEN NULL; END$$;
DO $$BEGIN PERFORM ame_enable_audit('hostile_view'); EXCEPTION WHEN invalid_parameter_value THEN NULL; END$$;
DO $$BEGIN PERFORM ame_enable_audit(NULL); EXCEPTION WHEN invalid_parameter_value THEN NULL; END$$;
INSERT INTO hostile_things (v) VALUES ('a');
UPDATE hostile_things SET v = 'b';
UPDATE hostile_things SET id = gen_random_uuid();
INSERT INTO hostile_domain VALUES ('00000000-0000-0000-0000-0000000000d1', 'd');
INSERT INTO hostile_parts VALUES ('00000000-0000-0000-0000-0000000000e1', 1);
SELECT count(*) FROM hostile_things h, ame_record_history('hostile_things', h.id);
SELECT ame_record_at('hostile_things', h.id, now()) IS NOT NULL FROM hostile_things h;
SELECT count(*) FROM hostile_parts p, ame_record_history('hostile_parts', p.id);
SELECT count(*) FROM ame_visits v, ame_record_history('ame_visits', v.id);
SELECT ame_disable_audit('hostile_things');
SELECT ame_disable_audit('hostile_things');
DO $$BEGIN PERFORM ame_disable_audit(NULL); EXCEPTION WHEN invalid_parameter_value THEN NULL; END$$;
SELECT ame_purge_audit_logs('100 years');
-- the import, all three forms and all three types
SELECT id AS batch FROM ame_import_csv(E'company_name,service_tier,phone\nImported Co,assure,555 222 3333\n', 'customers') \gset
SELECT status FROM import_batches WHERE id = :'batch';
SELECT id AS batch FROM ame_import_csv_bytes(convert_to(E'name,email,user_id\nTina,T@X.Example,00000000-0000-0000-0000-0000000000bb\n', 'UTF8'), 'technicians') \gset
SELECT status FROM import_batches WHERE id = :'batch';
SELECT i.id AS batch
FROM ame_customers c, ame_import_csv(E'customer_number,device_name,ip_address\n' || c.customer_number || E',VAV-7,10.0.0.7\nNOPE-1,X,\n', 'devices') i
WHERE c.company_name = 'Hostile Co' \gset
SELECT status, success_count, error_count FROM import_batches WHERE id = :'batch';
SELECT id AS batch FROM ame_import_csv_file(:'csvfile', 'customers') \gset
SELECT status FROM import_batches WHERE id = :'batch';
-- deletes through every trigger
DELETE FROM device_inventory;
DELETE FROM ame_visit_progress;
DELETE FROM ame_visit_sessions;
SQL
}

# The C functions run their SQL under the caller's search_path: here one
# that puts the traps ahead of pg_catalog, so that even an operator on two
# values of one type would find a trap unless it is OPERATOR(pg_catalog.…).
# The statements here qualify every operator themselves.
exercise_c() {
	local path=$2
	[ "$2" = public ] || path="$2,public"
	PGOPTIONS="-c search_path=$path,pg_catalog" psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" >>"$out" 2>&1 <<'SQL'
\set VERBOSITY terse
SELECT v.id AS vid FROM ame_visits v WHERE v.status OPERATOR(pg_catalog.=) 'scheduled'::text LIMIT 1 \gset
SELECT session_token AS tok FROM ame_start_session(:'vid'::uuid, '1 hour'::interval) \gset
SELECT ame_touch_session(:'tok'::text, '{"c": 1}'::jsonb) IS NOT NULL;
SELECT ame_end_session(:'tok'::text) IS NOT NULL;
DO $$BEGIN PERFORM ame_end_session('no such token'::text); EXCEPTION WHEN invalid_parameter_value THEN NULL; END$$;
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
VALUES (:'vid', 'c-old', pg_catalog.now() OPERATOR(pg_catalog.-) '3 days'::interval,
        pg_catalog.now() OPERATOR(pg_catalog.-) '2 days'::interval);
SELECT cleanup_expired_sessions();
DO $$BEGIN PERFORM ame_touch_session('c-old'::text); EXCEPTION WHEN check_violation THEN NULL; END$$;
UPDATE ame_customers SET phone = '555 000 1111'::text WHERE company_name OPERATOR(pg_catalog.=) 'Other Co'::text;
INSERT INTO ame_visits (customer_id, status, current_phase, actual_start_time, completed_at, duration_hours)
SELECT c.id, 'completed'::text, 4, '2026-01-01 08:00+00'::timestamptz, '2026-01-01 09:30+00'::timestamptz,
       1.5::numeric
FROM ame_customers c WHERE c.company_name OPERATOR(pg_catalog.=) 'Other Co'::text;
INSERT INTO ame_visit_progress (visit_id, phase, task_name) VALUES (:'vid', 3, 'C path task');
SELECT pg_catalog.count(*) FROM technician_performance;
SELECT pg_catalog.count(*) FROM service_tier_metrics;
SELECT pg_catalog.count(*) FROM service_level_metrics;
SELECT pg_catalog.count(*) FROM service_level_metrics_monthly;
SELECT pg_catalog.count(*) FROM ame_record_history('ame_visits'::regclass, :'vid'::uuid);
SELECT id AS b1 FROM ame_import_csv(E'company_name,service_tier\nC Path Co,core\n'::text, 'customers'::text) \gset
SELECT id AS b2 FROM ame_import_csv_bytes(pg_catalog.convert_to(E'name\nCarl\n'::text, 'UTF8'::name), 'technicians'::text) \gset
SELECT c.customer_number AS cnum FROM ame_customers c WHERE c.company_name OPERATOR(pg_catalog.=) 'C Path Co'::text \gset
SELECT id AS b3 FROM ame_import_csv(pg_catalog.concat(E'customer_number,device_name\n'::text, :'cnum'::text, E',D9\nNOPE-9,D0\n'::text),
                      'devices'::text) \gset
SELECT b.status FROM import_batches b
WHERE b.id OPERATOR(pg_catalog.=) ANY (ARRAY[:'b1', :'b2', :'b3']::uuid[]);
SELECT ame_purge_audit_logs('100 years'::interval);
DO $$BEGIN PERFORM ame_schedule_cleanup('0 3 * * *'::text); EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL; END$$;
DO $$BEGIN PERFORM ame_unschedule_cleanup(); EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL; END$$;
DELETE FROM ame_visit_sessions;
SQL
}

# As a technician under row-level security (the policies, and the
# SECURITY DEFINER helpers they call).
exercise_technician() {
	q "$1" "GRANT USAGE ON SCHEMA $2 TO ame_tech;
	        GRANT SELECT ON $2.ame_technicians TO ame_tech;
	        GRANT SELECT, UPDATE ON $2.ame_visits TO ame_tech;
	        GRANT SELECT, INSERT, UPDATE ON $2.ame_visit_progress, $2.ame_visit_sessions TO ame_tech;
	        GRANT SELECT ON $2.ame_visit_sessions_archive TO ame_tech" >/dev/null
	run "$1" "$2" <<'SQL'
\set VERBOSITY terse
SET ROLE ame_tech;
SET request.jwt.claims = '{"sub": "00000000-0000-0000-0000-0000000000aa"}';
SELECT count(*) FROM ame_visits;
SELECT count(*) FROM ame_visit_progress;
SELECT count(*) FROM ame_visit_sessions;
SELECT count(*) FROM ame_visit_sessions_archive;
UPDATE ame_visits SET notes = 'seen' WHERE status = 'scheduled';
INSERT INTO ame_visit_progress (visit_id, phase, task_name)
SELECT v.id, 2, 'Check' FROM ame_visits v WHERE v.status = 'scheduled';
SELECT s.session_token IS NOT NULL FROM (SELECT v.id FROM ame_visits v WHERE v.status = 'scheduled' LIMIT 1) v,
     ame_start_session(v.id) s;
RESET request.jwt.claims;
SELECT count(*) FROM ame_visits;
SQL
}

# The trapper's own session, with look-alikes in pg_temp too: the SECURITY
# DEFINER helpers of the policies run there as the owner.
exercise_temp() {
	q "$1" "GRANT SELECT ON $2.ame_visits, $2.ame_audit_logs TO ame_trapper" >/dev/null
	run "$1" "$2" <<'SQL'
\set VERBOSITY terse
SET ROLE ame_trapper;
CREATE TEMP TABLE ame_technicians (id uuid, user_id uuid);
CREATE TEMP TABLE ame_visits (id uuid, technician_id uuid);
CREATE TEMP TABLE pg_class (oid oid, relname name, relnamespace oid);
SELECT pg_catalog.concat('pg_temp plants: ', public.ame_trap_plant('pg_temp') OPERATOR(pg_catalog.>) 200);
SET request.jwt.claims = '{"sub": "00000000-0000-0000-0000-0000000000aa"}';
SELECT ame_current_technician_id() IS NOT NULL, pg_catalog.cardinality(ame_current_visit_ids());
SELECT pg_catalog.count(*) FROM :"s".ame_visits;
SELECT pg_catalog.count(*) FROM ame_record_history('ame_customers', '00000000-0000-0000-0000-000000000000');
SQL
}

# The CHECK still does its job (a trap bound to it would let this through).
# The workflow trigger would refuse this row first (only a completed visit
# has a duration, and it is derived): the CHECK is proven on its own, with
# the triggers out of the way for that one statement.
refuses_negative() {
	run "$1" "$2" -c "SET session_replication_role = replica" \
		-c "INSERT INTO ame_visits (customer_id, duration_hours)
	                  SELECT c.id, -1 FROM ame_customers c LIMIT 1"
	ok "$(tail -3 "$out" | grep -c 'violates check constraint "valid_duration"')" "1" \
	   "$3: a negative duration is refused by valid_duration"
}

: >"$out"
ok "$(q postgres "SELECT rolsuper FROM pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'ame_trapper'")" "f" \
   "the trapper starts without superuser"

#
# A fresh install into public, then into fsm (plants in fsm and public)
#
for sch in public fsm; do
	db=ame_hostile_$sch
	setup $db
	if [ $sch = public ]; then plant $db public; else plant $db fsm public; fi
	ok "$([ "$(q $db "$planted_sql")" -gt 200 ] && echo planted)" "planted" \
	   "install into $sch: the traps are planted"
	run $db $sch -c "CREATE EXTENSION ame SCHEMA $sch"
	ok "$?" "0" "install into $sch: CREATE EXTENSION ame succeeds among the traps"
	if [ $sch = public ]; then plant $db public; else plant $db fsm public; fi
	exercise_owner $db $sch
	rc=$?; exercise_c $db $sch
	worked $((rc + $?)) "install into $sch: every function, view and trigger works as the owner"
	exercise_technician $db $sch
	exercise_temp $db $sch
	rc=$?; worked $((rc + $(grep -c '^pg_temp plants: t$' "$out") - 1)) \
	   "install into $sch: the trapper's session with look-alikes in pg_temp works"
	refuses_negative $db $sch "install into $sch"
	clean $db "install into $sch"
	: >"$out"
	dropdb $db
done

#
# ALTER EXTENSION ame UPDATE from every released version: installed clean
# then planted, and installed with the traps already there (what the
# released scripts bound to them must be bound to pg_catalog's after the
# update)
#
for from in $released; do
	db=ame_hostile_up_$(echo "$from" | tr . _)
	setup $db
	run $db public -c "CREATE EXTENSION ame VERSION '$from'"
	plant $db public
	run $db public -c "ALTER EXTENSION ame UPDATE"
	ok "$(q $db "SELECT extversion FROM pg_extension WHERE extname OPERATOR(pg_catalog.=) 'ame'")" \
	   "$(sed -n "s/^default_version = '\(.*\)'/\1/p" ame.control)" "update from $from among the traps succeeds"
	exercise_owner $db public
	rc=$?; exercise_c $db public
	worked $((rc + $?)) "update from $from: every function, view and trigger works as the owner"
	refuses_negative $db public "update from $from"
	clean $db "update from $from"
	: >"$out"
	dropdb $db

	db=ame_hostile_dirty_$(echo "$from" | tr . _)
	setup $db
	plant $db fsm public
	run $db fsm -c "CREATE EXTENSION ame SCHEMA fsm VERSION '$from'"
	# 1.0 and 1.1 bound what was planted (what the update must repair);
	# from 1.2 on an install binds nothing planted
	if [ "$(printf '%s\n' "$from" 1.2 | sort -V | head -1)" != 1.2 ]; then
		ok "$([ -n "$(q $db "$bound_sql")" ] && echo bound)" "bound" \
		   "$from installed among the traps binds to them (what the update must repair)"
	else
		ok "$(q $db "$bound_sql")" "" \
		   "$from installed among the traps binds to nothing planted"
	fi
	# what that install ran is history; from here on nothing may run
	q $db "ALTER ROLE ame_trapper NOSUPERUSER; TRUNCATE public.ame_trap_fired" >/dev/null
	: >"$out"
	run $db fsm -c "ALTER EXTENSION ame UPDATE"
	ok "$?" "0" "update from a $from install among the traps succeeds"
	exercise_owner $db fsm
	rc=$?; exercise_c $db fsm
	worked $((rc + $?)) "update from a $from install among the traps: everything works as the owner"
	exercise_technician $db fsm
	refuses_negative $db fsm "update from a $from install among the traps"
	clean $db "update from a $from install among the traps"
	: >"$out"
	dropdb $db
done

#
# pg_cron: ame_schedule_cleanup() at install and when called, in the one
# database pg_cron may live in (left empty as cron_restore.t leaves it)
#
db=$(q postgres "SELECT current_setting('cron.database_name', true)")
if [ -n "$db" ] && [ "$(q postgres "SELECT count(*) FROM pg_available_extensions WHERE name OPERATOR(pg_catalog.=) 'pg_cron'")" = 1 ]; then
	dropdb --if-exists --force "$db" >/dev/null 2>&1
	setup "$db"
	q "$db" "CREATE EXTENSION pg_cron" >/dev/null
	plant "$db" public
	run "$db" public -c "CREATE EXTENSION ame"
	run "$db" public -c "SELECT ame_schedule_cleanup('0 4 * * *')" -c "SELECT ame_unschedule_cleanup()" \
		-c "SELECT ame_schedule_cleanup()"
	ok "$(q "$db" "SELECT count(*) FROM cron.job WHERE jobname OPERATOR(pg_catalog.=) 'session-cleanup'")" "1" \
	   "with pg_cron: the cleanup is scheduled among the traps"
	clean_cron=$(fired)/$(q "$db" "SELECT rolsuper FROM pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'ame_trapper'")
	dropdb --force "$db"; createdb "$db"
	ok "$clean_cron" "0/f" "with pg_cron: no trap ran, the trapper is no superuser"
else
	skip "pg_cron is not available"; skip "pg_cron is not available"
fi

q postgres "DROP ROLE ame_trapper; DROP ROLE ame_tech" >/dev/null
ok "$?" "0" "the roles are dropped"
[ "$failed" -eq 0 ]
