#!/bin/bash
# test/audit_restore.t -- the audit trail after a restore and after a
# logical-replication cut-over (docs/audit.md, "Dump, restore and
# replication").  For each source state a review found, and each way of
# restoring it, the restore adds no audit row for the rows it loads, every
# later change by any role is audited, seq never repeats (the new rows come
# after every restored one), and ame_record_at(now()) equals the live row
# of every record.
#
# Source states:
#   empty     the log empty, its sequence never used (all rows loaded under
#             session_replication_role = replica)
#   purged    the log purged, its sequence used
#   replica   some rows audited, others loaded under replica role
#   subscriber  a logical-replication subscriber of the log, after cut-over
#             (its sequence never used: PostgreSQL 15 does not replicate
#             sequences)
# Restore forms: pg_dump -Fc + pg_restore, the same with -j 4 (of the tables
# no foreign key links: see below), a plain dump replayed with psql,
# pg_restore under session_replication_role = replica, and that with -j 4.
#
# The subscriber runs in a second cluster made here (initdb + pg_ctl); it
# also shows that a purge on the publisher does not stall it.  TAP output,
# run by prove inside a throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..110"

work=$(mktemp -d /tmp/ame-audit-restore.XXXXXX)
chmod 755 "$work"
role=ame_restore_user
subdb=ame_ar_sub
pubdb=ame_ar_pub
sources="empty purged replica subscriber"
forms="custom parallel plain replica parallel-replica"
dbs="ame_ar_empty ame_ar_purged ame_ar_replica $pubdb"
for s in $sources; do for f in $forms; do dbs="$dbs ame_ar_${s}_${f//-/_}"; done; done

# the subscriber's cluster: a second server on its own socket directory
bindir=/usr/lib/postgresql/$(psql -X -At -c "SELECT current_setting('server_version_num')::int / 10000")/bin
[ -x "$bindir/initdb" ] || bindir=$(pg_config --bindir)
subport=$((PGPORT + 17))
subdir=$work/sub			# the subscriber's data, socket and log
subdata=$subdir/data
mkdir -p "$subdir"; [ "$(id -u)" = 0 ] && chown postgres "$subdir"
asdb() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
subq() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$subdir" -p "$subport" -U postgres -d "$1" -c "$2"; }
cleanup() {
	[ -f "$subdata/postmaster.pid" ] && asdb "$bindir/pg_ctl" -D "$subdata" -m immediate -w stop >/dev/null 2>&1
	for d in $dbs; do dropdb --if-exists "$d" >/dev/null 2>&1; done
	psql -X -q -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
for d in $dbs; do dropdb --if-exists "$d" >/dev/null 2>&1; done
psql -X -q -c "DROP ROLE IF EXISTS $role; CREATE ROLE $role LOGIN" >/dev/null 2>&1

# A small data set.  $1: a database; $2: which part ("people": customers and
# technicians; "work": visits, progress, devices; "all"); $3: "replica" to
# load it with triggers off (auditing included).  Rows carry their customer
# numbers, so that they are the same with or without the triggers.
load() {
	local opts=""
	[ "${3:-}" = replica ] && opts="-c session_replication_role=replica"
	local people="INSERT INTO ame_customers (customer_number, company_name, service_tier, phone, email)
	        SELECT 'AME-' || lpad(i::text, 6, '0'), 'Customer ' || i, 'CORE', '55501' || i, 'c' || i || '@example.com'
	        FROM generate_series(1, 8) i;
	    INSERT INTO ame_technicians (user_id, name)
	        SELECT gen_random_uuid(), 'Tech ' || i FROM generate_series(1, 3) i;"
	local wk="INSERT INTO ame_visits (customer_id, technician_id, status, current_phase, scheduled_date)
	        SELECT c.id, t.id, 'scheduled', 1, date '2026-01-01' + c.n::integer
	        FROM (SELECT id, row_number() OVER (ORDER BY customer_number) n FROM ame_customers) c
	        JOIN (SELECT id, row_number() OVER (ORDER BY name) n FROM ame_technicians) t ON t.n = 1 + c.n % 3
	        WHERE c.n <= 6;
	    INSERT INTO ame_visit_progress (visit_id, phase, task_name)
	        SELECT v.id, p, 'Task ' || p FROM ame_visits v, generate_series(1, 2) p;
	    INSERT INTO device_inventory (customer_id, device_name)
	        SELECT id, 'Device of ' || company_name FROM ame_customers;"
	local sql
	case $2 in people) sql=$people;; work) sql=$wk;; *) sql="$people $wk";; esac
	PGOPTIONS="$opts" psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "$sql" >/dev/null
}
# some history: updates, a delete
churn() {
	q "$1" "UPDATE ame_customers SET site_name = 'Site ' || customer_number WHERE customer_number <= 'AME-000004';
	        UPDATE ame_technicians SET phone = '5550100' WHERE name = 'Tech 1';
	        DELETE FROM device_inventory WHERE device_name = 'Device of Customer 8'" >/dev/null
}

audited="ame_customers ame_technicians ame_visits ame_visit_progress device_inventory"
# the log as text: which partition holds how many rows (the log is
# partitioned by month, a dump carries its partitions), then every row in
# seq order
logsql="SELECT coalesce((SELECT string_agg(p || ':' || n, ',' ORDER BY p)
                         FROM (SELECT tableoid::regclass::text p, count(*) n FROM ame_audit_logs GROUP BY 1) s), '-')
               || ' ' || count(*) || '/' || coalesce(md5(string_agg(x::text, '|' ORDER BY x.seq)), '-')
        FROM ame_audit_logs x"
logprint() { q "$1" "$logsql"; }

# After a restore (or the cut-over): change every record of every audited
# table, as a plain role where row-level security lets it and as the
# owner elsewhere; then the three promises.  $1: psql runner; $2: database;
# $3: label.
later_changes() {
	local run=$1 db=$2 label=$3 before maxseq rows after
	$run "$db" "GRANT SELECT, UPDATE ON ame_customers, ame_technicians, device_inventory TO $role" >/dev/null
	before=$($run "$db" "SELECT count(*) FROM ame_audit_logs")
	maxseq=$($run "$db" "SELECT coalesce(max(seq), 0) FROM ame_audit_logs")
	rows=$($run "$db" "SELECT (SELECT count(*) FROM ame_customers) + (SELECT count(*) FROM ame_technicians)
	                        + (SELECT count(*) FROM ame_visits) + (SELECT count(*) FROM ame_visit_progress)
	                        + (SELECT count(*) FROM device_inventory)")
	$run "$db" "SET ROLE $role;
	            UPDATE ame_customers SET site_name = coalesce(site_name, '') || ' (moved)';
	            UPDATE ame_technicians SET email = lower(replace(name, ' ', '.')) || '@ame.example';
	            UPDATE device_inventory SET firmware_version = '2.0';
	            RESET ROLE;
	            UPDATE ame_visits SET notes = 'after restore';
	            UPDATE ame_visit_progress SET notes = 'after restore'" >/dev/null
	after=$($run "$db" "SELECT count(*) FROM ame_audit_logs")
	ok "$((after - before))" "$rows" "$label: every later change is audited, by a plain role and by the owner"
	ok "$($run "$db" "SELECT count(*) = count(DISTINCT seq) AND count(*) FILTER (WHERE seq > $maxseq) = $rows
	                  FROM ame_audit_logs")" "t" "$label: no seq repeats, every new row comes after every restored one"
	ok "$($run "$db" "SELECT sum(bad) FROM (
	        SELECT count(*) FILTER (WHERE ame_record_at('ame_customers', x.id, now()) IS DISTINCT FROM to_jsonb(x)) bad FROM ame_customers x
	        UNION ALL SELECT count(*) FILTER (WHERE ame_record_at('ame_technicians', x.id, now()) IS DISTINCT FROM to_jsonb(x)) FROM ame_technicians x
	        UNION ALL SELECT count(*) FILTER (WHERE ame_record_at('ame_visits', x.id, now()) IS DISTINCT FROM to_jsonb(x)) FROM ame_visits x
	        UNION ALL SELECT count(*) FILTER (WHERE ame_record_at('ame_visit_progress', x.id, now()) IS DISTINCT FROM to_jsonb(x)) FROM ame_visit_progress x
	        UNION ALL SELECT count(*) FILTER (WHERE ame_record_at('device_inventory', x.id, now()) IS DISTINCT FROM to_jsonb(x)) FROM device_inventory x) s")" \
	   "0" "$label: ame_record_at(now()) equals the live row of every record"
}

# $1: source name; dumps in $work/$1.dump (custom) and $work/$1.sql (plain)
restore_all() {
	local s=$1 f db rc
	for f in $forms; do
		db=ame_ar_${s}_${f//-/_}
		createdb "$db"
		case $f in
			custom) pg_restore -d "$db" "$work/$s.dump" 2>"$work/err";;
			# pg_restore -j does not keep the order pg_dump gives the data
			# of an extension's tables (their TABLE DATA entries depend only
			# on their tables), so their foreign keys need the replica role
			# (docs/audit.md); with default options, the tables no foreign
			# key links, loaded by parallel jobs
			parallel) pg_restore -l "$work/$s.dump" |
					grep -Ev 'TABLE DATA [a-z_]+ (ame_visits|ame_visit_progress|device_inventory|ame_visit_sessions|ame_visit_sessions_archive|import_errors) ' \
					>"$work/$s.list"
				pg_restore -j 4 -L "$work/$s.list" -d "$db" "$work/$s.dump" 2>"$work/err";;
			parallel-replica) PGOPTIONS='-c session_replication_role=replica' \
				pg_restore -j 4 -d "$db" "$work/$s.dump" 2>"$work/err";;
			plain) psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$work/$s.sql" >/dev/null 2>"$work/err";;
			replica) PGOPTIONS='-c session_replication_role=replica' pg_restore -d "$db" "$work/$s.dump" 2>"$work/err";;
		esac
		rc=$?
		ok "$rc/$(grep -c ERROR "$work/err")" "0/0" "$s, $f restore: succeeds without an error"
		ok "$(logprint "$db")" "$(cat "$work/$s.log")" "$s, $f restore: the log is the dumped one (no audit row for a loaded row)"
		later_changes q "$db" "$s, $f restore"
		dropdb "$db"
	done
}
dump_local() {
	pg_dump -Fc -f "$work/$1.dump" "ame_ar_$1" && pg_dump -Fp -f "$work/$1.sql" "ame_ar_$1"
	logprint "ame_ar_$1" >"$work/$1.log"
}

# -- the log empty, its sequence never used
createdb ame_ar_empty; q ame_ar_empty "CREATE EXTENSION ame" >/dev/null 2>&1
load ame_ar_empty all replica
ok "$(q ame_ar_empty "SELECT count(*) || '/' || (SELECT count(*) FROM ame_visit_progress) FROM ame_audit_logs")" \
   "0/12" "empty: rows loaded, the log empty"
dump_local empty
restore_all empty

# -- the log purged, its sequence used
createdb ame_ar_purged; q ame_ar_purged "CREATE EXTENSION ame" >/dev/null 2>&1
load ame_ar_purged all; churn ame_ar_purged
q ame_ar_purged "SELECT ame_audit_add_partitions((now() - interval '3 months')::date, (now() - interval '2 months')::date);
                 INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation, performed_at)
                 SELECT 'public', 'archived', gen_random_uuid(), 'INSERT', now() - g * interval '1 month'
                 FROM generate_series(2, 3) g" >/dev/null
q ame_ar_purged "SELECT ame_purge_audit_logs('0 seconds')" >/dev/null
ok "$(q ame_ar_purged "SELECT count(*) || '/' || (SELECT last_value > 30 FROM ame_audit_logs_seq_seq) FROM ame_audit_logs")" \
   "0/true" "purged: the log empty, its sequence used"
dump_local purged
restore_all purged

# -- some rows audited, the rest loaded under replica role
createdb ame_ar_replica; q ame_ar_replica "CREATE EXTENSION ame" >/dev/null 2>&1
load ame_ar_replica people; churn ame_ar_replica
load ame_ar_replica work replica
# and a log of some age: rows in the partitions of two past months (made
# after the install, so not the extension's), and one so old that it sits
# in the default partition
q ame_ar_replica "SELECT ame_audit_add_partitions((now() - interval '3 months')::date, (now() - interval '2 months')::date);
                  INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation, new_values, performed_at)
                  SELECT 'public', 'archived', gen_random_uuid(), 'INSERT', '{}'::jsonb, now() - g * interval '1 month'
                  FROM generate_series(2, 3) g, generate_series(1, 5) r
                  UNION ALL SELECT 'public', 'archived', gen_random_uuid(), 'INSERT', '{}', now() - interval '15 years'" >/dev/null
ok "$(q ame_ar_replica "SELECT count(DISTINCT table_name) FILTER (WHERE table_name <> 'archived') || '/'
                        || count(DISTINCT tableoid) FROM ame_audit_logs")" "2/4" \
   "replica: history for customers and technicians only; rows in four partitions (this month, two past, default)"
dump_local replica
restore_all replica

# -- a subscriber of the log, after cut-over
createdb $pubdb; q $pubdb "CREATE EXTENSION ame" >/dev/null 2>&1
load $pubdb all; churn $pubdb
q $pubdb "CREATE PUBLICATION ame_ar_pub FOR TABLE ame_customers, ame_technicians, ame_visits,
          ame_visit_progress, device_inventory, ame_audit_logs" >/dev/null
asdb "$bindir/initdb" -D "$subdata" -A trust -U postgres >/dev/null 2>&1 &&
asdb "$bindir/pg_ctl" -D "$subdata" -l "$subdir/log" -w \
	-o "-p $subport -k $subdir -c listen_addresses=''" start >/dev/null 2>&1 ||
	{ echo "Bail out! the subscriber's cluster does not start"; cat "$subdir/log" 2>/dev/null; exit 1; }
subq postgres "CREATE DATABASE $subdb" >/dev/null
subq postgres "DROP ROLE IF EXISTS $role; CREATE ROLE $role LOGIN" >/dev/null 2>&1
subq $subdb "CREATE EXTENSION ame" >/dev/null 2>&1
subq $subdb "CREATE SUBSCRIPTION ame_ar_sub
             CONNECTION 'host=${PGHOST:-localhost} port=$PGPORT user=$PGUSER password=${PGPASSWORD:-} dbname=$pubdb'
             PUBLICATION ame_ar_pub" >/dev/null 2>&1
# wait (at most 30 s) until the subscriber holds what $1 asks for
sub_waits() {
	local i
	for i in $(seq 1 150); do
		[ "$(subq $subdb "$1" 2>/dev/null)" = "t" ] && return 0
		sleep 0.2
	done
	return 1
}
pubprint=$(logprint $pubdb)
sub_waits "SELECT ($logsql) = '$pubprint'"
ok "$?" "0" "subscriber: the log is replicated"

# a purge on the publisher (replicated DELETEs of log rows) does not stall
# the subscriber: later changes still arrive
q $pubdb "SELECT ame_purge_audit_logs('0 seconds')" >/dev/null
q $pubdb "UPDATE ame_customers SET phone = '5559999' WHERE customer_number = 'AME-000001';
          UPDATE ame_visits SET notes = 'on the publisher'" >/dev/null
sub_waits "SELECT phone = '5559999' FROM ame_customers WHERE customer_number = 'AME-000001'"
ok "$?" "0" "subscriber: a purge on the publisher does not stall replication"
pubprint=$(logprint $pubdb)
sub_waits "SELECT ($logsql) = '$pubprint'"
ok "$?" "0" "subscriber: its log follows the publisher's, purge included"
ok "$(subq $subdb "SELECT count(*) > 0 AND (SELECT last_value FROM ame_audit_logs_seq_seq) = 1 FROM ame_audit_logs")" \
   "t" "subscriber: the log holds rows, its own sequence never moved"

# cut-over: the subscription goes, the subscriber takes the writes
subq $subdb "DROP SUBSCRIPTION ame_ar_sub" >/dev/null 2>&1
subdump() { pg_dump -h "$subdir" -p "$subport" -U postgres "$@" $subdb; }
subdump -Fc -f "$work/subscriber.dump" && subdump -Fp -f "$work/subscriber.sql"
subq $subdb "$logsql" >"$work/subscriber.log"
later_changes subq $subdb "subscriber after cut-over"
restore_all subscriber

[ $n -eq 110 ] || echo "# ran $n tests, planned 110"
[ $failed -eq 0 ]
