#!/bin/bash
# test/cron_restore.t -- pg_dump / pg_restore of a database that uses ame
# with pg_cron: every cron job (ame's session-cleanup and the user's own)
# comes back exactly once, the restore prints no error, the restored
# job's command works, and ame_setup_realtime() repairs the publication
# afterwards, as docs/cleanup-and-scheduling.md describes.  pg_cron can
# live only in the database cron.database_name names, ame_tap in the TAP
# cluster (scripts/test.sh), so the test dumps ame_tap, recreates it, and
# restores into it; it leaves ame_tap empty again.  TAP output, run by prove.
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ame_tap -c "$1"; }
db=ame_tap
fresh() { dropdb --force "$db" && createdb "$db"; }

echo "1..17"
dumpfile=$(mktemp /tmp/ame-cron-dump.XXXXXX); plainfile=$(mktemp /tmp/ame-cron-plain.XXXXXX)
errfile=$(mktemp /tmp/ame-cron-err.XXXXXX)
fresh || { echo "Bail out! could not recreate $db"; exit 1; }
q "CREATE EXTENSION pg_cron" >/dev/null
q "CREATE EXTENSION ame" >/dev/null 2>&1
q "SELECT cron.schedule('nightly-vacuum', '0 3 * * *', 'VACUUM ANALYZE')" >/dev/null
q "SELECT cron.schedule('*/10 * * * *', 'SELECT 1')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f demo/sample_data.sql >/dev/null || { echo "Bail out! sample data failed"; exit 1; }
q "INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
   SELECT id, 'restore-' || id, now() - interval '3 days', now() - interval '2 days'
   FROM ame_visits WHERE status = 'in_progress' LIMIT 5" >/dev/null

jobs() { q "SELECT string_agg(jobid || ':' || coalesce(jobname, '-') || ':' || schedule || ':' || command || ':' || username, ' | ' ORDER BY jobid) FROM cron.job"; }
before=$(jobs)
ok "$(q "SELECT count(*) FROM cron.job WHERE jobname = 'session-cleanup'")" "1" "CREATE EXTENSION ame scheduled session-cleanup"
ok "$(q "SELECT count(*) FROM cron.job")" "4" "four jobs before the dump (ame's two: session-cleanup, audit-maintenance)"
sessions_before=$(q "SELECT count(*) FROM ame_visit_sessions")

pg_dump -Fc -f "$dumpfile" "$db"; ok "$?" "0" "pg_dump -Fc succeeds"
pg_dump -f "$plainfile" "$db"; ok "$?" "0" "pg_dump (plain) succeeds"

# custom format through pg_restore (application_name = pg_restore and
# row_security = off: the install schedules nothing, creates no publication)
fresh
pg_restore -d "$db" "$dumpfile" 2>"$errfile"
ok "$?" "0" "pg_restore with default options succeeds"
ok "$(grep -i error "$errfile")" "" "pg_restore prints no error"
ok "$(jobs)" "$before" "every cron job is back exactly once, same id, schedule, command and owner"
ok "$(q "SELECT count(*) FROM ame_visit_sessions")" "$sessions_before" "the sessions are back"
# pg_dump writes the publication's extension-owned tables into it from
# PostgreSQL 18 on; up to 17 it leaves them out
if [ "$(q "SHOW server_version_num")" -ge 180000 ]; then pubtables=3; else pubtables=0; fi
ok "$(q "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'ame_realtime'")" "$pubtables" \
   "the restored publication: empty up to PostgreSQL 17 (pg_dump leaves extension tables out), complete from 18"
q "SELECT ame_setup_realtime()" >/dev/null
ok "$(q "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'ame_realtime'")" \
   "ame_visit_progress,ame_visit_sessions,device_inventory" "one documented call repairs the publication"
# the restored job's command, as pg_cron runs it
q "$(q "SELECT command FROM cron.job WHERE jobname = 'session-cleanup'")" >/dev/null
ok "$(q "SELECT affected_rows FROM system_maintenance_log WHERE operation = 'session_cleanup' ORDER BY performed_at DESC LIMIT 1")" \
   "5" "the restored job's command archives the expired sessions"
q "$(q "SELECT command FROM cron.job WHERE jobname = 'audit-maintenance'")" >/dev/null
ok "$?" "0" "the restored audit-maintenance job's command runs"
ok "$(q "SELECT count(*) FROM cron.job")" "4" "running them changed no job"

# a plain dump through psql (row_security = off)
fresh
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$plainfile" >/dev/null 2>"$errfile"
ok "$?" "0" "a plain dump restores through psql with ON_ERROR_STOP"
ok "$(jobs)" "$before" "every cron job is back exactly once after the plain restore too"

# DROP EXTENSION ame leaves the job, whose next run removes it
q "DROP EXTENSION ame" >/dev/null
q "$(q "SELECT command FROM cron.job WHERE jobname = 'session-cleanup'")" >/dev/null
q "$(q "SELECT command FROM cron.job WHERE jobname = 'audit-maintenance'")" >/dev/null
ok "$(q "SELECT string_agg(coalesce(jobname, '-'), ',' ORDER BY jobid) FROM cron.job")" "nightly-vacuum,-" \
   "after DROP EXTENSION each of ame's jobs unschedules itself at its next run; the user's jobs stay"
q "DROP PUBLICATION ame_realtime" >/dev/null
ok "$(q "SELECT count(*) FROM pg_publication")" "0" "the publication is all DROP EXTENSION left, and it can be dropped"

fresh
rm -f "$dumpfile" "$plainfile" "$errfile"
[ $failed -eq 0 ]
