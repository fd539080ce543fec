#!/bin/bash
# test/plain/subscriber.t -- a logical subscriber of publication ame_realtime
# (docs/scale.md, "Logical subscribers").  A publisher with ame and the
# sample data; a subscriber cluster (pg_cron preloaded, as in production)
# whose database installs ame and subscribes to ame_realtime.  Proves what
# the page says a subscriber must install and must not run: the three
# tables arrive exactly as the publisher wrote them (no trigger of the
# subscriber touches them: no audit row, no updated_at, no notification);
# the log is not published; the subscriber's install schedules its own
# cleanup, which must be removed, because a cleanup run there deletes
# sessions the publisher still has and the two drift apart for good; an
# audit trigger enabled ALWAYS there audits replicated rows a second time,
# without their user.  Realtime there is opt-in (ENABLE ALWAYS on the
# realtime row triggers) and then announces replicated changes.
# Needs root (the clusters run as postgres); about 20 s.  TAP output.
set -u
cd "$(dirname "$0")/../.."
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root to run clusters as postgres"; exit 0; fi
. test/clusters.sh
echo "1..20"

db=fieldservice
cluster_init pub "wal_level = logical" "max_wal_senders = 4" "max_replication_slots = 4"
cluster_init sub "shared_preload_libraries = 'pg_cron'" "cron.database_name = '$db'"
cluster_start pub
cluster_start sub
pq pub postgres -c "CREATE DATABASE $db" || bail "createdb on the publisher failed"
pq sub postgres -c "CREATE DATABASE $db" || bail "createdb on the subscriber failed"

pq pub $db >/dev/null 2>&1 <<'EOF' || bail "set-up on the publisher failed"
CREATE EXTENSION ame;
\i demo/sample_data.sql
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
SELECT id, 'old-' || row_number() OVER (ORDER BY id), now() - interval '3 days', now() - interval '2 days'
FROM ame_visits WHERE status = 'in_progress' LIMIT 3;
INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at)
SELECT id, 'live-' || row_number() OVER (ORDER BY id), now() + interval '8 hours'
FROM ame_visits WHERE status = 'in_progress' LIMIT 5;
EOF
ok "$(pq pub $db -c "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'ame_realtime'")" \
   "ame_visit_progress ame_visit_sessions device_inventory" "ame_realtime publishes the three realtime tables, not the audit log"

# the subscriber: what it must install, and what its install schedules
pq sub $db -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION ame" >/dev/null 2>&1
ok "$?" "0" "the subscriber installs ame (CREATE EXTENSION ame) for the tables"
cleanup_jobs="SELECT count(*) FROM cron.job WHERE jobname = 'session-cleanup'"
ok "$(pq sub $db -c "$cleanup_jobs")" "1" "... and its install scheduled a cleanup of its own"
ok "$(pq sub $db -c "SELECT ame_unschedule_cleanup()" -c "$cleanup_jobs")" "$(printf 't\n0')" \
   "ame_unschedule_cleanup() removes it, as a subscriber must"
mark=$(wc -l <"$clusters_tmp/sub.log")
pq sub $db -c "CREATE SUBSCRIPTION ame_sub CONNECTION 'host=$clusters_tmp port=$(port_of pub) dbname=$db user=postgres'
               PUBLICATION ame_realtime" >/dev/null 2>&1 || bail "CREATE SUBSCRIPTION failed"
wait_until sub $db "SELECT count(*) = 3 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel" 30
ok "$?" "0" "the three tables are synchronized within 30 s"

three="ame_visit_sessions ame_visit_progress device_inventory"
fp() {
	local t out=""
	for t in $three; do
		out="$out $t:$(pq "$1" $db -c "SELECT count(*) || '/' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM $t x")"
	done
	echo "$out"
}
# poll (at most 30 s) until the subscriber answers SQL as the publisher does
caught_up() {
	local want deadline=$(( $(date +%s) + 30 ))
	want=$(pq pub $db -c "$1")
	while [ "$(date +%s)" -lt "$deadline" ]; do
		[ "$(pq sub $db -c "$1" 2>/dev/null)" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}
ok "$(fp sub)" "$(fp pub)" "the subscriber's copy of the three tables equals the publisher's"
ok "$(pq sub $db -c "SELECT (SELECT count(*) FROM ame_visits) || '/' || (SELECT count(*) FROM ame_visit_sessions s
                    WHERE NOT EXISTS (SELECT FROM ame_visits v WHERE v.id = s.visit_id))")" "0/8" \
   "the replicated sessions' visits are not there: the apply worker checks no foreign key"
ok "$(pq sub $db -c "SELECT count(*) FROM ame_audit_logs")" "0" "the initial copy wrote no audit row on the subscriber"
tech=$(pq pub $db -c "SELECT t.user_id FROM ame_visit_sessions s JOIN ame_visits v ON v.id = s.visit_id
                      JOIN ame_technicians t ON t.id = v.technician_id ORDER BY s.session_token LIMIT 1")
as_tech() { pq "$1" $db -c "SET ROLE technician" -c "SET request.jwt.claims = '{\"sub\": \"$tech\"}'" -c "$2"; }
for c in pub sub; do
	pq $c $db -c "CREATE ROLE technician NOLOGIN" -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO technician" >/dev/null
done
ok "$(as_tech pub "SELECT count(*) > 0 FROM ame_visit_sessions")|$(as_tech sub "SELECT count(*) FROM ame_visit_sessions")" "t|0" \
   "row-level security judges sessions by their visit, which is not there: a technician who sees sessions on the publisher sees none"

# changes on the publisher, with a listener on the subscriber
fifo=$clusters_tmp/listen.fifo; mkfifo "$fifo" || bail "mkfifo failed"
"$pgbin/psql" -X -q -At -h "$clusters_tmp" -p "$(port_of sub)" -U postgres -d $db <"$fifo" >"$clusters_tmp/listen.out" 2>&1 &
lpid=$!
exec 3>"$fifo"
echo "LISTEN ame_realtime;" >&3
wait_until sub $db "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query = 'LISTEN ame_realtime;' AND state = 'idle')" 30 \
	|| bail "the listener did not start"
dev=$(pq pub $db -c "SELECT id FROM device_inventory ORDER BY id LIMIT 1")
seq_before=$(pq pub $db -c "SELECT max(seq) FROM ame_audit_logs")
progress=$(pq pub $db -c "SELECT count(*) FROM ame_visit_progress WHERE task_name = 'Calibrate sensors'")
pq pub $db -c "SELECT ame_touch_session('live-1', '{\"phase\": 2}')" \
           -c "UPDATE ame_visit_progress SET notes = 'checked' WHERE task_name = 'Calibrate sensors'" \
           -c "UPDATE device_inventory SET firmware_version = '9.9' WHERE id = '$dev'" >/dev/null
caught_up "SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM device_inventory x WHERE id = '$dev'"
ok "$?" "0" "the publisher's changes reach the subscriber within 30 s"
ok "$(fp sub)" "$(fp pub)" "... exactly as the publisher wrote them, updated_at included (no trigger of the subscriber ran)"
ok "$(pq sub $db -c "SELECT count(*) FROM ame_audit_logs")" "0" "the subscriber audits no replicated change ..."
ok "$(pq pub $db -c "SELECT string_agg(table_name || ':' || n, ' ' ORDER BY table_name)
                    FROM (SELECT table_name, count(*) AS n FROM ame_audit_logs WHERE seq > $seq_before GROUP BY 1) x")" \
   "ame_visit_progress:$progress device_inventory:1" "... while the publisher audited each (the progress rows and the device)"

# realtime on the subscriber is opt-in: ENABLE ALWAYS on the row trigger
pq sub $db -c "ALTER TABLE ame_visit_sessions ENABLE ALWAYS TRIGGER ame_visit_sessions_realtime" \
           -c "ALTER TABLE device_inventory ENABLE ALWAYS TRIGGER device_inventory_realtime" >/dev/null
live2=$(pq pub $db -c "SELECT id FROM ame_visit_sessions WHERE session_token = 'live-2'")
pq pub $db -c "SELECT ame_touch_session('live-2', '{\"phase\": 3}')" \
           -c "UPDATE device_inventory SET firmware_version = '9.8'" >/dev/null
caught_up "SELECT count(*) FROM device_inventory WHERE firmware_version = '9.8'"
echo "SELECT 'done';" >&3; exec 3>&-
wait $lpid
heard=$(sed -nE 's/^Asynchronous notification "ame_realtime" with payload "(.*)" received from server process with PID [0-9]+\.$/\1/p' "$clusters_tmp/listen.out")
ok "$(printf '%s\n' "$heard" | grep -c .)" "2" "the subscriber's listener heard nothing of the first changes, then two notifications"
ok "$(printf '%s\n' "$heard" | head -1 | grep -c "\"operation\":\"UPDATE\",\"id\":\"$live2\"")" "1" \
   "with ENABLE ALWAYS, a replicated session change is announced on the subscriber, ids only"
ok "$(printf '%s\n' "$heard" | tail -1)" \
   "{\"schema\":\"public\",\"table\":\"device_inventory\",\"operation\":\"UPDATE\",\"rows\":$(pq pub $db -c "SELECT count(*) FROM device_inventory"),\"bulk\":true}" \
   "... and a replicated bulk UPDATE as one summary"

# the subscriber must not run its own cleanup: the publisher still has the
# expired sessions; a cleanup on the subscriber deletes them there, and a
# later change of one on the publisher never arrives
ok "$(pq sub $db -c "SELECT cleanup_expired_sessions()")" "3" "a cleanup run on the subscriber archives the 3 expired sessions there ..."
pq pub $db -c "UPDATE ame_visit_sessions SET expires_at = now() + interval '1 hour' WHERE session_token = 'old-1'" \
           -c "UPDATE device_inventory SET firmware_version = '9.7' WHERE id = '$dev'" >/dev/null
caught_up "SELECT firmware_version FROM device_inventory WHERE id = '$dev'"
ok "$(pq pub $db -c "SELECT count(*) FROM ame_visit_sessions WHERE session_token LIKE 'old-%'")/$(pq sub $db -c "SELECT count(*) FROM ame_visit_sessions WHERE session_token LIKE 'old-%'")" \
   "3/0" "... which the publisher still has: it revives one, and the subscriber never gets it back"

# nor its own audit of replicated rows: enabled ALWAYS, the subscriber's
# audit trigger writes a second history of the change, without its user
pq sub $db -c "ALTER TABLE device_inventory ENABLE ALWAYS TRIGGER ame_audit" >/dev/null
pq pub $db -c "SET request.jwt.claim.sub = '00000000-0000-4000-8000-000000000001'" \
           -c "UPDATE device_inventory SET model = 'M-audited' WHERE id = '$dev'" >/dev/null
caught_up "SELECT model FROM device_inventory WHERE id = '$dev'"
last="SELECT operation || ' ' || coalesce(user_id::text, 'no user') FROM ame_audit_logs
      WHERE record_id = '$dev' AND new_values ->> 'model' = 'M-audited'"
ok "$(pq pub $db -c "$last")|$(pq sub $db -c "$last")" "UPDATE 00000000-0000-4000-8000-000000000001|UPDATE no user" \
   "an audit trigger enabled ALWAYS on the subscriber records the replicated change again, without the publisher's user"

# the subscriber's server log since the subscription: no error
ok "$(tail -n +$((mark + 1)) "$clusters_tmp/sub.log" | grep -cE ' (ERROR|FATAL|PANIC): |terminated by signal')" "0" \
   "the subscriber's log holds no error since the subscription (apply worker with ame loaded)"

[ $failed -eq 0 ]
