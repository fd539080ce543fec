#!/bin/bash
# test/dump_restore.t -- pg_dump / pg_restore of a database using ame loses
# nothing: every row comes back exactly once, sequences continue where they
# were, and the restored database works.  TAP output, run by prove inside a
# throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..15"
dumpfile=$(mktemp /tmp/ame-dump.XXXXXX)
dropdb --if-exists ame_dump_src >/dev/null 2>&1; dropdb --if-exists ame_dump_dst >/dev/null 2>&1
createdb ame_dump_src && createdb ame_dump_dst || { echo "Bail out! createdb failed"; exit 1; }
q ame_dump_src "CREATE EXTENSION ame" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d ame_dump_src -f demo/sample_data.sql >/dev/null || { echo "Bail out! sample data failed"; exit 1; }
# bookkeeping rows too, and a sequence that has moved on
q ame_dump_src "INSERT INTO import_batches (source_file, import_type, status, total_records)
                VALUES ('a.csv', 'customers', 'completed', 3)" >/dev/null
q ame_dump_src "INSERT INTO system_maintenance_log (operation, affected_rows) VALUES ('session_cleanup', 0)" >/dev/null
q ame_dump_src "SELECT setval('customer_sequence', 5000)" >/dev/null
# a row stored while the normalization trigger was bypassed must survive a
# restore with default options (which runs the trigger again)
q ame_dump_src "SET session_replication_role = replica;
                INSERT INTO ame_customers (company_name, service_tier, customer_number, email, phone)
                VALUES ('Legacy', 'CORE', 'OLD-1', 'Legacy At Example', 'n/a')" >/dev/null

tables="ame_customers ame_technicians ame_visits ame_visit_progress ame_visit_sessions
        ame_visit_sessions_archive device_inventory system_maintenance_log import_batches
        import_errors ame_audit_logs"
fingerprint() {
	local db=$1 out="" t
	for t in $tables; do
		out="$out $t:$(q "$db" "SELECT count(*) || '/' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM $t x")"
	done
	echo "$out"
}

src=$(fingerprint ame_dump_src)
pg_dump -Fc -f "$dumpfile" ame_dump_src
ok "$?" "0" "pg_dump succeeds"
pg_restore -d ame_dump_dst "$dumpfile" 2>/tmp/ame-restore.err
ok "$?" "0" "pg_restore with default options succeeds"
ok "$(cat /tmp/ame-restore.err)" "" "pg_restore prints no error"
dst=$(fingerprint ame_dump_dst)
ok "$dst" "$src" "every row of every table comes back exactly once, unchanged"
ok "$(q ame_dump_dst "SELECT count(*) FROM ame_customers")" "301" "301 customers restored, the legacy row too"
ok "$(q ame_dump_dst "SELECT last_value FROM customer_sequence")" "5000" "customer_sequence continues where it was"
ok "$(q ame_dump_dst "INSERT INTO ame_customers (company_name, service_tier) VALUES ('After restore', 'core') RETURNING customer_number")" \
   "AME-005001" "a new customer gets the next number"
ok "$(q ame_dump_dst "SELECT extversion FROM pg_extension WHERE extname = 'ame'")" "$(sed -n "s/^default_version = '\(.*\)'/\1/p" ame.control)" "the extension is restored as an extension"
ok "$(q ame_dump_dst "SELECT count(*) FROM technician_performance")" "12" "the views work after the restore"

# auditing goes on after the restore, with seq above every restored row
ok "$(q ame_dump_dst "UPDATE ame_technicians SET phone = '555-0000' WHERE name = 'Alex Moreno';
                      SELECT (SELECT max(seq) FROM ame_audit_logs) =
                             (SELECT seq FROM ame_audit_logs WHERE table_name = 'ame_technicians'
                              ORDER BY seq DESC LIMIT 1)
                         AND (SELECT count(DISTINCT seq) = count(*) FROM ame_audit_logs)")" \
   "t" "a change after the restore is audited with the highest seq, and no seq repeats"

# the documented restore: session_replication_role = replica adds no audit rows
createdb ame_dump_replica
PGOPTIONS='-c session_replication_role=replica' pg_restore -d ame_dump_replica "$dumpfile" 2>/tmp/ame-restore.err
ok "$?" "0" "pg_restore with session_replication_role = replica succeeds"
ok "$(fingerprint ame_dump_replica)" "$src" "and restores every row exactly once, adding no audit row"
ok "$(q ame_dump_replica "SELECT count(*) FROM ame_audit_logs WHERE table_name = 'ame_customers'")" \
   "$(q ame_dump_src "SELECT count(*) FROM ame_audit_logs WHERE table_name = 'ame_customers'")" \
   "the customers' audit rows are those of the source"
dropdb ame_dump_replica

# a plain SQL dump replayed by psql (it runs with row_security = off)
createdb ame_dump_plain
pg_dump -Fp ame_dump_src | psql -X -q -v ON_ERROR_STOP=1 -d ame_dump_plain >/dev/null 2>/tmp/ame-restore.err
ok "$?" "0" "a plain-format dump replays without error"
ok "$(fingerprint ame_dump_plain)" "$src" "and restores every row exactly once, unchanged"
dropdb ame_dump_plain
dropdb ame_dump_src; dropdb ame_dump_dst; rm -f "$dumpfile" /tmp/ame-restore.err
[ $failed -eq 0 ]
