#!/bin/bash
# test/cron_upgrade.t -- ALTER EXTENSION ame UPDATE with pg_cron: the
# session-cleanup job that 1.1 scheduled named the schema in its command,
# so renaming the schema made it unschedule itself.  The update gives it
# the command a fresh install writes (found through the extension),
# keeping its id, schedule and state; a command the user rewrote is left
# alone.  Then the schema is renamed and the job still cleans up, and
# after DROP EXTENSION its next run unschedules it.  SPEC §6.  Runs in
# ame_tap (pg_cron lives there) and leaves it empty.  TAP output.
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ame_tap -c "$1"; }
fresh() { dropdb --force ame_tap && createdb ame_tap; }
job() { q "SELECT jobid || ' ' || schedule || ' ' || active || ' ' || database FROM cron.job WHERE jobname = 'session-cleanup'"; }
cmd() { q "SELECT command FROM cron.job WHERE jobname = 'session-cleanup'"; }
audit_cmd() { q "SELECT command FROM cron.job WHERE jobname = 'audit-maintenance'"; }

echo "1..13"
fresh || { echo "Bail out! could not recreate ame_tap"; exit 1; }
q "CREATE EXTENSION pg_cron" >/dev/null
q "CREATE SCHEMA fsm" >/dev/null
q "SET client_min_messages = warning; CREATE EXTENSION ame SCHEMA fsm VERSION '1.1'" >/dev/null
# the job as the 1.1 library wrote it (today's library, which CREATE
# EXTENSION ... VERSION '1.1' runs, writes the new command already)
q "SELECT cron.alter_job(jobid, schedule => '15 4 * * *', active => false,
   command => \$c\$DO \$ame\$BEGIN IF pg_catalog.to_regprocedure('fsm.cleanup_expired_sessions()') IS NULL THEN PERFORM cron.unschedule('session-cleanup'::pg_catalog.name); ELSE PERFORM fsm.cleanup_expired_sessions(); END IF; END\$ame\$\$c\$)
   FROM cron.job WHERE jobname = 'session-cleanup'" >/dev/null
before=$(job)
ok "$(cmd | grep -c "fsm.cleanup_expired_sessions")" "1" "1.1 wrote the schema into the job's command"

q "ALTER EXTENSION ame UPDATE" >/dev/null 2>&1
ok "$?" "0" "ALTER EXTENSION ame UPDATE succeeds"
updated=$(cmd)
ok "$(job)" "$before" "the job keeps its id, schedule, state and database"
ok "$(echo "$updated" | grep -c "fsm")" "0" "its command names no schema"
ok "$(q "SELECT count(*) || ' ' || min(schedule) FROM cron.job WHERE jobname = 'audit-maintenance'")" "1 30 2 * * *" \
   "the update schedules the audit maintenance beside the cleanup"

# the schema renamed: the updated command still cleans up, the job stays
q "INSERT INTO fsm.ame_customers (id, company_name, service_tier)
   VALUES ('c7000000-0000-0000-0000-000000000001', 'Up Co', 'CORE');
   INSERT INTO fsm.ame_visits (id, customer_id) VALUES
   ('d7000000-0000-0000-0000-000000000001', 'c7000000-0000-0000-0000-000000000001');
   INSERT INTO fsm.ame_visit_sessions (visit_id, session_token, created_at, expires_at)
   VALUES ('d7000000-0000-0000-0000-000000000001', 'up-old', now() - interval '3 days', now() - interval '2 days')" >/dev/null
q "ALTER SCHEMA fsm RENAME TO field" >/dev/null
q "$(cmd)" >/dev/null
ok "$(q "SELECT count(*) FROM field.ame_visit_sessions_archive WHERE session_token = 'up-old'")" "1" \
   "after ALTER SCHEMA RENAME the job's command archives the expired session"
ok "$(q "SELECT count(*) FROM cron.job WHERE jobname = 'session-cleanup'")" "1" "and the job is still scheduled"
q "SELECT field.ame_schedule_cleanup('15 4 * * *')" >/dev/null
ok "$(cmd)" "$updated" "it is the command ame_schedule_cleanup() writes"
ok "$(q "SELECT count(*) FROM cron.job")" "2" "no second cleanup job: the cleanup and the audit maintenance"

# DROP EXTENSION: the next run removes the job
q "DROP EXTENSION ame" >/dev/null
q "$(cmd)" >/dev/null
q "$(audit_cmd)" >/dev/null
ok "$(q "SELECT count(*) FROM cron.job")" "0" "after DROP EXTENSION each job's next run unschedules it"

# a command the user rewrote is not replaced by the update
fresh
q "CREATE EXTENSION pg_cron" >/dev/null
q "SET client_min_messages = warning; CREATE EXTENSION ame VERSION '1.1'" >/dev/null
q "SELECT cron.alter_job(jobid, command => 'SET statement_timeout = ''1h''; SELECT public.cleanup_expired_sessions()')
   FROM cron.job WHERE jobname = 'session-cleanup'" >/dev/null
own=$(cmd)
q "ALTER EXTENSION ame UPDATE" >/dev/null 2>&1
ok "$?" "0" "ALTER EXTENSION ame UPDATE succeeds with a rewritten job"
ok "$(cmd)" "$own" "the user's own command is left as it is"

# without pg_cron the update has nothing to do
fresh
q "SET client_min_messages = warning; CREATE EXTENSION ame VERSION '1.1'" >/dev/null
q "ALTER EXTENSION ame UPDATE" >/dev/null 2>&1
ok "$?" "0" "ALTER EXTENSION ame UPDATE succeeds without pg_cron"

fresh
[ $failed -eq 0 ]
