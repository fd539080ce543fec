#!/bin/bash
# test/cron_moved.t -- a database that uses ame with pg_cron, restored into
# a database of another name on another server (whose cron.database_name
# names the new database).  The restored cron.job row still names the old
# database, so pg_cron would run the cleanup nowhere, every night; the
# documented SELECT ame_schedule_cleanup() repairs it: the same job, now
# in the new database, whose command cleans up there.  SPEC §6; see
# docs/cleanup-and-scheduling.md.  pg_cron can live only in the database
# cron.database_name names, so the new database is on a second throwaway
# server started here with pg_virtualenv.  Leaves ame_tap empty again.
# TAP output, run by prove.
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ame_tap -c "$1"; }
fresh() { dropdb --force ame_tap && createdb ame_tap; }

echo "1..9"
work=$(mktemp -d /tmp/ame-cron-moved.XXXXXX)
fresh || { echo "Bail out! could not recreate ame_tap"; exit 1; }
q "CREATE EXTENSION pg_cron" >/dev/null
q "CREATE EXTENSION ame" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d ame_tap -f demo/sample_data.sql >/dev/null || { echo "Bail out! sample data failed"; exit 1; }
q "INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
   SELECT id, 'moved-' || id, now() - interval '3 days', now() - interval '2 days'
   FROM ame_visits WHERE status = 'in_progress' LIMIT 3" >/dev/null
q "SELECT cron.alter_job(jobid, schedule => '15 4 * * *') FROM cron.job WHERE jobname = 'session-cleanup'" >/dev/null
ok "$(q "SELECT database || ' ' || schedule FROM cron.job WHERE jobname = 'session-cleanup'")" "ame_tap 15 4 * * *" \
   "the job runs in ame_tap at 04:15"
pg_dump -Fc -f "$work/dump" ame_tap; ok "$?" "0" "pg_dump -Fc of ame_tap succeeds"

# the second server: only the commands' output comes back, as key=value
cat >"$work/moved.sh" <<'EOF'
m() { psql -X -q -At -v ON_ERROR_STOP=1 -d ame_moved -c "$1"; }
createdb ame_moved || exit 1
pg_restore -d ame_moved "$1" 2>"$2/restore.err"; echo "restore=$?"
echo "errors=$(grep -ci error "$2/restore.err")"
echo "before=$(m "SELECT jobid || ' ' || database FROM cron.job WHERE jobname = 'session-cleanup'")"
echo "returned=$(m "SELECT ame_schedule_cleanup('15 4 * * *')")"
echo "after=$(m "SELECT jobid || ' ' || database || ' ' || schedule || ' ' || active FROM cron.job WHERE jobname = 'session-cleanup'")"
echo "jobs=$(m "SELECT count(*) FROM cron.job")"
m "$(m "SELECT command FROM cron.job WHERE jobname = 'session-cleanup'")" >/dev/null
echo "cleaned=$(m "SELECT affected_rows FROM system_maintenance_log WHERE operation = 'session_cleanup'")"
EOF
env -u PGPORT -u PGDATABASE pg_virtualenv -t -o shared_preload_libraries=pg_cron \
	-o cron.database_name=ame_moved -o max_worker_processes=32 \
	bash "$work/moved.sh" "$work/dump" "$work" >"$work/out" 2>"$work/log"
got() { sed -n "s/^$1=//p" "$work/out"; }
jobid=$(q "SELECT jobid FROM cron.job WHERE jobname = 'session-cleanup'")

ok "$(got restore)" "0" "pg_restore into ame_moved on the second server succeeds"
ok "$(got errors)" "0" "pg_restore prints no error"
ok "$(got before)" "$jobid ame_tap" "the restored job still names the old database"
ok "$(got returned)" "$jobid" "ame_schedule_cleanup() returns the restored job's id"
ok "$(got after)" "$jobid ame_moved 15 4 * * * true" \
   "and repairs it: the same job, now in ame_moved, schedule and state kept"
ok "$(got jobs)" "2" "no second job (session-cleanup and audit-maintenance, both restored)"
ok "$(got cleaned)" "3" "the repaired job's command cleans up in ame_moved"
[ $failed -eq 0 ] || sed 's/^/# /' "$work/log" | tail -30

fresh
rm -rf "$work"
[ $failed -eq 0 ]
