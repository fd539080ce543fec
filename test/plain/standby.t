#!/bin/bash
# test/plain/standby.t -- ame on a streaming hot standby (docs/scale.md,
# "Replicas for BI").  A primary (pg_cron preloaded, as in production) and
# a standby made from it by pg_basebackup -R; ame is created and filled on
# the primary after the standby is up, so everything reaches the standby by
# streaming replay.  On the standby: the history, time travel, the BI views
# and the row-level-security reads of a technician give what the primary
# gives; every write, and every ame function that writes, is refused with
# PostgreSQL's clean read-only error 25006 and changes nothing; and the
# standby's server log holds no error but those refusals.  Needs root
# (the clusters run as postgres); about 15 s.  TAP output.
set -u
cd "$(dirname "$0")/../.."
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root to run clusters as postgres"; exit 0; fi
. test/clusters.sh
echo "1..35"

db=fieldservice
cluster_init primary "wal_level = logical" "max_wal_senders = 4" \
	"shared_preload_libraries = 'pg_cron'" "cron.database_name = '$db'"
cluster_start primary
pq primary postgres -c "CREATE DATABASE $db" || bail "createdb failed"

# the standby, from a base backup taken before ame exists
as_pg "$pgbin/pg_basebackup" -h "$clusters_tmp" -p "$(port_of primary)" -U postgres \
	-D "$clusters_tmp/standby" -R -X stream -c fast >/dev/null 2>&1 || bail "pg_basebackup failed"
cluster_conf standby "port = $(free_port)" "hot_standby = on"
cluster_start standby
ok "$(pq standby postgres -c "SELECT pg_is_in_recovery()")" "t" "the standby is a hot standby in recovery"

# on the primary: pg_cron, ame, the sample data, a technician role, a
# history with a known past, sessions
pq primary $db >/dev/null <<'EOF' || bail "set-up on the primary failed"
CREATE EXTENSION pg_cron;
CREATE EXTENSION ame;
\i demo/sample_data.sql
CREATE ROLE technician NOLOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO technician;
GRANT UPDATE ON ame_visits, ame_visit_progress, ame_visit_sessions TO technician;
UPDATE ame_customers SET site_name = 'Before' WHERE customer_number = 'AME-000001';
EOF
sleep 0.1
past=$(pq primary $db -c "SELECT now()")
sleep 0.1
sub=00000000-0000-4000-8000-000000000001	# Alex Moreno
pq primary $db >/dev/null <<EOF || bail "changes on the primary failed"
UPDATE ame_customers SET site_name = 'After' WHERE customer_number = 'AME-000001';
INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at)
SELECT v.id, 'tok-' || row_number() OVER (ORDER BY v.id), now() - interval '3 days',
       now() - interval '2 days'
FROM ame_visits v JOIN ame_technicians t ON t.id = v.technician_id
WHERE t.user_id = '$sub' AND v.status IN ('scheduled', 'in_progress') LIMIT 2;
INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at)
SELECT v.id, 'live-tok', now() + interval '8 hours' FROM ame_visits v JOIN ame_technicians t ON t.id = v.technician_id
WHERE t.user_id = '$sub' AND v.status = 'in_progress' LIMIT 1;
EOF
lsn=$(pq primary $db -c "SELECT pg_current_wal_lsn()")
wait_until standby $db "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 30
ok "$?" "0" "the standby replays the primary's changes within 30 s"

# what both sides must answer alike
cust="(SELECT id FROM ame_customers WHERE customer_number = 'AME-000001')"
history="SELECT count(*) || '/' || md5(string_agg(h::text, '|' ORDER BY h.seq))
         FROM ame_record_history('ame_customers', $cust) h"
at="SELECT ame_record_at('ame_customers', $cust, '$past') ->> 'site_name'"
views="SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM technician_performance x"
tiers="SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM service_tier_metrics x"
tables="ame_customers ame_technicians ame_visits ame_visit_progress ame_visit_sessions
        ame_visit_sessions_archive device_inventory system_maintenance_log import_batches
        import_errors ame_audit_logs"
fingerprint() {
	local t out=""
	for t in $tables; do
		out="$out $t:$(pq "$1" $db -c "SELECT count(*) || '/' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM $t x")"
	done
	echo "$out"
}
as_tech="SET ROLE technician; SET request.jwt.claims = '{\"sub\": \"$sub\", \"role\": \"authenticated\"}';"

ok "$(pq standby $db -c "SELECT extversion FROM pg_extension WHERE extname = 'ame'")" \
   "$(pq primary $db -c "SELECT extversion FROM pg_extension WHERE extname = 'ame'")" "the extension reached the standby"
ok "$(fingerprint standby)" "$(fingerprint primary)" "every table of ame on the standby equals the primary's"
h=$(pq standby $db -c "$history")
ok "$h" "$(pq primary $db -c "$history")" "ame_record_history on the standby equals the primary's"
ok "${h%%/*}" "3" "... and holds the record's three changes"
ok "$(pq standby $db -c "$at")" "Before" "ame_record_at on the standby rebuilds the row as it was"
ok "$(pq standby $db -c "SELECT ame_record_at('ame_customers', $cust, now()) = to_jsonb(c) FROM ame_customers c WHERE id = $cust")" \
   "t" "ame_record_at(now()) on the standby equals the live row"
ok "$(pq standby $db -c "$views")" "$(pq primary $db -c "$views")" "technician_performance on the standby equals the primary's"
ok "$(pq standby $db -c "$tiers")" "$(pq primary $db -c "$tiers")" "service_tier_metrics on the standby equals the primary's"

# row-level security on the standby, with the claims a JWT gives
ok "$(pq standby $db -c "$as_tech SELECT ame_current_user_id()")" "$sub" "ame_current_user_id() reads the JWT claims on the standby"
mine="SELECT count(*) FROM ame_visits v JOIN ame_technicians t ON t.id = v.technician_id WHERE t.user_id = '$sub'"
ok "$(pq standby $db -c "$as_tech SELECT count(*) FROM ame_visits")" "$(pq primary $db -c "$mine")" \
   "the technician sees exactly their own visits on the standby"
ok "$(pq standby $db -c "$as_tech SELECT count(*) FROM ame_visit_sessions")" "3" "... and their visits' sessions"
ok "$(pq standby $db -c "SET ROLE technician; SELECT count(*) FROM ame_visits")" "0" "... and nothing without an identity"
ok "$(pq standby $db -c "$as_tech $views")" "$(pq primary $db -c "$as_tech $views")" \
   "technician_performance read by the technician is filtered the same on both"

# every write is a clean refusal: 25006, nothing changed
before=$(fingerprint standby)
refused() {	# SQL [ROLE-PREFIX]: the SQLSTATE of its error
	pq standby $db -v VERBOSITY=verbose -c "${2:-} $1" 2>&1 | sed -nE 's/^(psql:[^ ]* )?ERROR:  ([0-9A-Z]{5}): .*/\2/p' | head -1
}
token=live-tok
visit="(SELECT visit_id FROM ame_visit_sessions WHERE session_token = 'live-tok')"
ok "$(refused "INSERT INTO ame_customers (company_name, service_tier) VALUES ('X', 'core')")" "25006" "an INSERT is refused with 25006"
ok "$(refused "UPDATE ame_visits SET notes = 'x'" "$as_tech")" "25006" "a technician's UPDATE is refused with 25006"
ok "$(refused "SELECT nextval('customer_sequence')")" "25006" "nextval of customer_sequence is refused with 25006"
ok "$(refused "SELECT * FROM ame_start_session($visit)" "$as_tech")" "25006" "ame_start_session is refused with 25006"
ok "$(refused "SELECT ame_touch_session('$token', '{\"phase\": 2}')" "$as_tech")" "25006" "ame_touch_session is refused with 25006"
ok "$(refused "SELECT ame_end_session('$token')" "$as_tech")" "25006" "ame_end_session is refused with 25006"
ok "$(refused "SELECT cleanup_expired_sessions()")" "25006" "cleanup_expired_sessions is refused with 25006"
ok "$(refused "SELECT * FROM ame_import_csv(E'company_name,service_tier\nStandby Co,core\n', 'customers')")" "25006" \
   "ame_import_csv is refused with 25006"
ok "$(refused "SELECT ame_disable_audit('device_inventory')")" "25006" "ame_disable_audit is refused with 25006"
ok "$(refused "SELECT ame_purge_audit_logs('1 day')")" "25006" "ame_purge_audit_logs is refused with 25006"
ok "$(refused "SELECT ame_setup_realtime()")" "25006" "ame_setup_realtime is refused with 25006"
ok "$(refused "SELECT ame_schedule_cleanup('0 3 * * *')")" "25006" "ame_schedule_cleanup is refused with 25006"
ok "$(refused "LISTEN ame_realtime")" "25006" "LISTEN ame_realtime is refused with 25006 (listen on the primary)"
ok "$(fingerprint standby)" "$before" "the refused calls changed nothing on the standby"

# the standby's server log: no error of ame but those refusals
others=$(errors_in_log standby | grep -v '^25006 ERROR: ')
ok "$(printf '%s' "$others" | grep -c .)" "0" "the standby's log holds no error, crash or FATAL but the 25006 refusals"
[ -n "$others" ] && printf '%s\n' "$others" | sed 's/^/#   /'
ok "$(errors_in_log standby | grep -c '^25006 ERROR: ')" "13" "... and holds the 13 refusals"

# the primary goes on, and so does the standby's replay
pq primary $db -c "UPDATE ame_customers SET site_name = 'Later' WHERE customer_number = 'AME-000001'"
pq primary $db -c "SELECT cleanup_expired_sessions()" >/dev/null
lsn=$(pq primary $db -c "SELECT pg_current_wal_lsn()")
wait_until standby $db "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 30
ok "$?" "0" "later changes on the primary replay on the standby"
ok "$(pq standby $db -c "$history" | cut -d/ -f1)" "4" "the standby's history shows the later change"
ok "$(pq standby $db -c "SELECT count(*) FROM ame_visit_sessions_archive")" "2" \
   "the primary's cleanup archived the expired sessions, and the standby shows it"
ok "$(fingerprint standby)" "$(fingerprint primary)" "the standby still equals the primary"

[ $failed -eq 0 ]
