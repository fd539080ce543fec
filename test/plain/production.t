#!/bin/bash
# test/plain/production.t -- follows docs/production.md literally on a real
# server: a cluster made by pg_createcluster with Debian's stock
# postgresql.conf and pg_hba.conf (not the pg_virtualenv cluster that
# scripts/test.sh runs this script in), the page's conf.d/ame.conf, a
# restart, the page's SQL blocks, and then the session cleanup really run by
# pg_cron a minute later.  Then troubleshooting 1 (pg_cron's default,
# background workers off: every run fails with "connection failed") and
# the page's alternative: cron.host on the Unix socket for a job of
# postgres, a pg_hba.conf line and ~postgres/.pgpass for a job of another
# role (the line is added for this run's port and removed on exit).  Every
# block it runs is taken from the page by its marker
# (<!-- production.t: NAME --> before the fence), so the page and the test
# cannot drift apart.  Needs root (pg_createcluster, runuser); takes 1-4
# minutes, most of it waiting for three of pg_cron's minutes.  TAP output.
set -u
cd "$(dirname "$0")/../.."
page=docs/production.md
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for pg_createcluster"; exit 0; fi
echo "1..42"

# the fenced block after the line <!-- production.t: NAME -->
block() {
	awk -v tag="<!-- production.t: $1 -->" '
		$0 == tag { state = 1; next }
		state == 1 && /^```/ { state = 2; next }
		state == 2 && /^```/ { exit }
		state == 2 { print }' "$page"
}
for b in ame.conf settings createdb install roles try runs maintenance copy cron.host recreate pg_hba pgpass; do
	[ -n "$(block "$b")" ] || { echo "Bail out! no block '$b' in $page"; exit 1; }
done

# our own cluster, not pg_virtualenv's: forget its connection settings
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGSYSCONFDIR
major=${PG_MAJOR:-$(pg_config --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')}
name=ame_prod_$$
tmp=$(mktemp -d /tmp/ame-prod.XXXXXX); chmod 755 "$tmp"
export PG_CLUSTER_CONF_ROOT=$tmp/etc	# keeps /etc/postgresql untouched
mkdir "$PG_CLUSTER_CONF_ROOT"
# a line in ~postgres/.pgpass for this test's port, under a lock (other
# runs may share the file), removed again on exit with the file if it is
# then empty
pgpass=""
pgpass_add() {
	pgpass=$1
	(flock 9; touch "$1" && chown postgres:postgres "$1" && chmod 600 "$1" && echo "$2" >> "$1") \
		9>/tmp/ame-prod-pgpass.lock || bail "$1 could not be written"
}
pgpass_remove() {
	[ -n "$pgpass" ] && [ -f "$pgpass" ] || return 0
	(flock 9; sed -i "/^[^:]*:$port:fieldservice:ame_admin:/d" "$pgpass"; [ -s "$pgpass" ] || rm -f "$pgpass") \
		9>/tmp/ame-prod-pgpass.lock
}
cleanup() {
	pgpass_remove
	pg_dropcluster --stop "$major" "$name" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP
bail() { echo "Bail out! $*"; [ -f "$tmp/log" ] && sed 's/^/# /' "$tmp/log" | tail -20; exit 1; }

# a free port: nothing listens on it
port=$((5500 + $$ % 400))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || [ -e "/var/run/postgresql/.s.PGSQL.$port" ]; do
	port=$((port + 1))
done
pg_createcluster "$major" "$name" -p "$port" -d "$tmp/data" -l "$tmp/log" >/dev/null 2>&1 \
	|| bail "pg_createcluster $major $name failed"
conf=$PG_CLUSTER_CONF_ROOT/$major/$name
pgctl() { pg_ctlcluster --skip-systemctl-redirect "$major" "$name" "$@"; }
pgctl start || bail "the stock cluster did not start"

# psql as the operating system user postgres, over the socket (peer auth)
# as postgres, from a directory it may enter (the tree may sit in /root)
pq() { local db=$1; shift; (cd / && runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$port" -d "$db" "$@"); }

ok "$(grep -c "^include_dir = 'conf.d'" "$conf/postgresql.conf")" "1" "the stock postgresql.conf reads conf.d/, as the page says"
ok "$(grep -cE '^host +all +all +127\.0\.0\.1/32 +scram-sha-256' "$conf/pg_hba.conf")" "1" \
   "the stock pg_hba.conf asks for a password over TCP (why pg_cron's own login fails)"
out=$(pq postgres -c "CREATE EXTENSION pg_cron" 2>&1)
ok "$(echo "$out" | grep -c 'unrecognized configuration parameter "cron.database_name"')" "1" \
   "troubleshooting 2: before the settings, CREATE EXTENSION pg_cron fails with the page's message"

# the page's settings, in conf.d/ame.conf, then a restart
block ame.conf > "$conf/conf.d/ame.conf"
pgctl restart || bail "the cluster did not restart with the page's ame.conf"
ok "$(block settings | pq postgres | tr '\n' ' ')" \
   "cron.database_name|fieldservice cron.use_background_workers|on max_worker_processes|32 shared_preload_libraries|pg_cron wal_level|logical " \
   "after the restart the page's check shows its five settings"

ok "$(block createdb | pq postgres 2>&1; echo $?)" "0" "the page's CREATE DATABASE"
out=$(block install | pq fieldservice 2>&1); rc=$?
ok "$rc" "0" "the page's install block: pg_cron, schema fsm, CREATE EXTENSION ame SCHEMA fsm"
ok "$(echo "$out" | grep -c '^session-cleanup|0 2 \* \* \*|postgres|t$')" "1" \
   "its query shows job session-cleanup at 0 2 * * *, owned by postgres"
ok "$(echo "$out" | grep -ci 'warning\|error')" "0" "the install prints no warning (wal_level is logical) and no error"
out=$(pq postgres -c "CREATE EXTENSION pg_cron" 2>&1)
ok "$(echo "$out" | grep -c 'can only create extension in database fieldservice')" "1" \
   "troubleshooting 3: pg_cron in another database fails with the page's message"

ok "$(block roles | pq fieldservice 2>&1; echo $?)" "0" "the page's roles and grants"
out=$(pq postgres -c "SET ROLE app_user" -c "CREATE EXTENSION ame" 2>&1)
ok "$(echo "$out" | grep -c 'permission denied to create extension "ame"')" "1" \
   "troubleshooting 5: a non-superuser cannot create ame"
out=$(pq fieldservice -c "GRANT EXECUTE ON FUNCTION fsm.ame_schedule_cleanup(text) TO app_user" \
      -c "SET ROLE app_user" -c "SELECT fsm.ame_schedule_cleanup('0 4 * * *')" 2>&1)
ok "$(echo "$out" | grep -c 'permission denied for function "ame_schedule_cleanup"')" "1" \
   "a non-superuser granted EXECUTE still cannot reschedule the owner's job"
pq fieldservice -c "REVOKE EXECUTE ON FUNCTION fsm.ame_schedule_cleanup(text) FROM app_user"

# the application's view through the grants: a technician with an identity
sub=3f0e2f52-0000-4000-8000-00000000e001
pq fieldservice >/dev/null <<EOF || bail "sample data failed"
INSERT INTO fsm.ame_customers (company_name, service_tier) VALUES ('Prod Co', 'core');
INSERT INTO fsm.ame_technicians (name, email, user_id)
  VALUES ('Tess Field', 'tess@example.com', '$sub');
INSERT INTO fsm.ame_visits (customer_id, technician_id, scheduled_date)
  SELECT c.id, t.id, current_date FROM fsm.ame_customers c, fsm.ame_technicians t;
INSERT INTO fsm.ame_visit_sessions (visit_id, session_token, created_at, expires_at)
  SELECT id, 'prod-expired', now() - interval '3 days', now() - interval '2 days' FROM fsm.ame_visits
  UNION ALL
  SELECT id, 'prod-live', now(), now() + interval '8 hours' FROM fsm.ame_visits;
EOF
ok "$(pq fieldservice -c "SET ROLE technician" -c "SET request.jwt.claim.sub = '$sub'" \
      -c "SELECT count(*) FROM fsm.ame_visit_sessions")" "2" "the technician role sees its visit's sessions"
ok "$(pq fieldservice -c "SET ROLE technician" -c "SELECT count(*) FROM fsm.ame_visit_sessions")" "0" \
   "... and nothing without an identity"
out=$(pq fieldservice -c "SET ROLE technician" -c "SELECT count(*) FROM fsm.ame_audit_logs" 2>&1)
ok "$(echo "$out" | grep -c 'permission denied for table ame_audit_logs')" "1" "the technician role cannot read the audit log"

# "Try the schedule now": past the 50th second, wait for the next minute
try_now() {
	local sec
	sec=$(pq postgres -c "SELECT extract(second FROM now())::int")
	[ "$sec" -ge 50 ] && sleep $((61 - sec))
	block try | pq fieldservice 2>&1
}
# the status of job $1's first run after run id $2, once it ended (or what
# it was when 90 s passed)
next_run() {
	local start status=""
	start=$(date +%s)
	while [ $(( $(date +%s) - start )) -lt 90 ]; do
		status=$(pq fieldservice -c "SELECT d.status FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid
		                              WHERE j.jobname = '$1' AND d.runid > $2
		                              ORDER BY d.runid LIMIT 1")
		case $status in succeeded|failed) break ;; esac
		sleep 2
	done
	echo "# pg_cron ran $1 after $(( $(date +%s) - start )) s: ${status:-no run}" >&2
	echo "$status"
}
last_run() { pq fieldservice -c "SELECT coalesce(max(runid), 0) FROM cron.job_run_details"; }
out=$(try_now); rc=$?
ok "$rc" "0" "the page's block moves session-cleanup to the next minute"
ok "$(pq fieldservice -c "SELECT schedule ~ '^[0-9]{1,2} [0-9]{1,2} \* \* \*$' AND
        make_time(split_part(schedule, ' ', 2)::int, split_part(schedule, ' ', 1)::int, 0)
          = date_trunc('minute', (now() AT TIME ZONE 'GMT')::time + interval '1 minute')
      FROM cron.job WHERE jobname = 'session-cleanup'")" "t" "... to the next minute, in GMT"

status=$(next_run session-cleanup 0)
ok "$status" "succeeded" "pg_cron ran session-cleanup within 90 s and it succeeded"
ok "$(block runs | pq fieldservice | grep -c '^succeeded|')" "1" "the page's monitoring query shows the run as succeeded"
ok "$(block maintenance | pq fieldservice | cut -d'|' -f2)" "1" \
   "the page's system_maintenance_log query shows one session archived"
ok "$(pq fieldservice -c "SELECT string_agg(session_token, ',') FROM fsm.ame_visit_sessions_archive")" "prod-expired" \
   "the expired session is archived"
ok "$(pq fieldservice -c "SELECT string_agg(session_token, ',') FROM fsm.ame_visit_sessions")" "prod-live" \
   "the live session is still live"
ok "$(block copy | pq fieldservice >/dev/null 2>&1; echo $?)" "0" "the page's pg_stat_progress_copy query runs"
ok "$(pq fieldservice -c "SELECT fsm.ame_schedule_cleanup('0 2 * * *') IS NOT NULL" -c "SELECT schedule FROM cron.job WHERE jobname = 'session-cleanup'")" \
   "$(printf 't\n0 2 * * *')" "putting the schedule back to 0 2 * * *"

# Troubleshooting 1: pg_cron's default, cron.use_background_workers = off,
# under the stock pg_hba.conf.  pg_cron then logs in over TCP to localhost
# and is asked for a password it does not have.
pq fieldservice -c "INSERT INTO fsm.ame_visit_sessions (visit_id, session_token, created_at, expires_at)
  SELECT id, 'prod-expired-2', now() - interval '3 days', now() - interval '2 days' FROM fsm.ame_visits" >/dev/null \
	|| bail "a second expired session could not be inserted"
sed -i 's/^cron\.use_background_workers = on /cron.use_background_workers = off/' "$conf/conf.d/ame.conf"
pgctl restart || bail "the cluster did not restart with cron.use_background_workers = off"
ok "$(pq postgres -c "SHOW cron.use_background_workers")" "off" "troubleshooting 1: background workers off (pg_cron's default)"
runid=$(last_run); logsize=$(stat -c %s "$tmp/log")
try_now >/dev/null
ok "$(next_run session-cleanup "$runid")" "failed" "... the next run of session-cleanup fails"
ok "$(block runs | pq fieldservice | head -1 | cut -d'|' -f1,2)" "failed|connection failed" \
   "... and the page's monitoring query shows the page's message, connection failed"
log=$(tail -c +$((logsize + 1)) "$tmp/log" | grep -v ' LOG:  cron job [0-9]* starting: ')
echo "$log" | sed 's/^/# server log: /'
ok "$(echo "$log" | grep -cE '^.* LOG:  cron job [0-9]+ connection failed$')" "1" \
   "... the server log has pg_cron's line, cron job N connection failed"
ok "$(echo "$log" | grep -cE 'FATAL|authentication')" "0" "... and no reason, as the page says"
out=$(cd / && runuser -u postgres -- psql -X -w -h localhost -p "$port" -d fieldservice -c 'SELECT 1' 2>&1)
echo "$out" | sed 's/^/# psql: /'
ok "$(echo "$out" | grep -c 'fe_sendauth: no password supplied$')" "$(echo "$out" | grep -c .)" \
   "... logging in as pg_cron does shows the page's reason, fe_sendauth: no password supplied"
ok "$(pq fieldservice -c "SELECT string_agg(session_token, ',' ORDER BY session_token) FROM fsm.ame_visit_sessions")" \
   "prod-expired-2,prod-live" "... and the failed run archived nothing"

# The alternative: pg_cron logs in over the Unix socket, peer auth.
ok "$(pq postgres -c "SHOW unix_socket_directories")" "/var/run/postgresql" \
   "the cluster's socket is in /var/run/postgresql, the page's cron.host"
sed -i '/^cron\.use_background_workers /d' "$conf/conf.d/ame.conf"
block cron.host >> "$conf/conf.d/ame.conf"
pgctl restart || bail "the cluster did not restart with the page's cron.host"
ok "$(pq postgres -c "SHOW cron.use_background_workers" -c "SHOW cron.host" | tr '\n' ' ')" "off /var/run/postgresql " \
   "the alternative's settings are in effect after a restart"
try_now >/dev/null
ok "$(pq fieldservice -c "SELECT nodename FROM cron.job WHERE jobname = 'session-cleanup'")" "localhost" \
   "a job created before cron.host was set still names localhost, even when rescheduled"
out=$(block recreate | pq fieldservice 2>&1); rc=$?
ok "$rc" "0" "the page's block re-creates the job"
ok "$(echo "$out" | tail -1)" "session-cleanup|0 2 * * *|/var/run/postgresql" \
   "... which now names the socket directory, at 0 2 * * *"

# ... and a job owned by another role: the page's pg_hba.conf line above
# the general ones, a reload, and its password in ~postgres/.pgpass
pw=prod-$$-$RANDOM
pq fieldservice -c "CREATE ROLE ame_admin LOGIN PASSWORD '$pw'" -c "GRANT USAGE ON SCHEMA fsm TO ame_admin" \
	-c "GRANT EXECUTE ON FUNCTION fsm.cleanup_expired_sessions() TO ame_admin" || bail "role ame_admin could not be set up"
awk -v line="$(block pg_hba)" '!done && /^local/ { print line; done = 1 } { print }' "$conf/pg_hba.conf" > "$tmp/hba" \
	&& cat "$tmp/hba" > "$conf/pg_hba.conf" && pgctl reload || bail "pg_hba.conf could not be changed"
pghome=$(getent passwd postgres | cut -d: -f6)
ok "$pghome" "/var/lib/postgresql" "~postgres is /var/lib/postgresql, as the page says"
pgpass_line=$(block pgpass | sed "s/:5432:/:$port:/; s/<password>/$pw/")
# the page's line with the socket directory as its host field: never used
echo "$pgpass_line" | sed 's|^localhost:|/var/run/postgresql:|' > "$tmp/pgpass.socket"
chown postgres "$tmp/pgpass.socket"; chmod 600 "$tmp/pgpass.socket"
out=$(cd / && runuser -u postgres -- env PGPASSFILE="$tmp/pgpass.socket" \
      psql -X -w -At -h /var/run/postgresql -p "$port" -U ame_admin -d fieldservice -c 'SELECT current_user' 2>&1)
ok "$(echo "$out" | grep -c 'fe_sendauth: no password supplied')" "1" \
   "a .pgpass line whose host is /var/run/postgresql is not used"
pgpass_add "$pghome/.pgpass" "$pgpass_line"
ok "$(cd / && runuser -u postgres -- psql -X -w -At -h /var/run/postgresql -p "$port" -U ame_admin -d fieldservice \
      -c 'SELECT current_user' 2>&1)" "ame_admin" "the page's .pgpass line (host localhost) logs ame_admin in over the socket"

# both jobs in the same minute: session-cleanup as postgres (peer) and a
# cleanup job of ame_admin (password from ~postgres/.pgpass)
runid=$(last_run)
try_now >/dev/null
pq fieldservice -c "SELECT cron.schedule_in_database('admin-cleanup', schedule, 'SELECT fsm.cleanup_expired_sessions()',
                      'fieldservice', 'ame_admin') FROM cron.job WHERE jobname = 'session-cleanup'" >/dev/null \
	|| bail "the job of ame_admin could not be scheduled"
ok "$(next_run session-cleanup "$runid")" "succeeded" "the next run of session-cleanup logs in over the socket and succeeds"
ok "$(next_run admin-cleanup "$runid")" "succeeded" "... and so does the job of ame_admin, with the page's pg_hba.conf line and .pgpass"
ok "$(pq fieldservice -c "SELECT string_agg(session_token, ',' ORDER BY session_token) FROM fsm.ame_visit_sessions_archive")" \
   "prod-expired,prod-expired-2" "... and the second expired session is archived"
pq fieldservice -c "SELECT fsm.ame_schedule_cleanup('0 2 * * *')" -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'admin-cleanup'" >/dev/null

[ $failed -eq 0 ]
