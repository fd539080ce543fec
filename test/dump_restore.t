#!/bin/bash
# test/dump_restore.t -- pg_dump / pg_restore of a database using ame loses
# nothing: every row comes back exactly once, sequences continue where they
# were, and the restored database works.  TAP output, run by prove inside a
# throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..19"
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
# the log is partitioned by month: rows in two past months' partitions
# (made after the install, so not the extension's: pg_dump writes them
# whole) and in the default partition (the extension's, dumped as its data)
q ame_dump_src "SELECT ame_audit_add_partitions((now() - interval '5 months')::date, (now() - interval '4 months')::date);
                INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation, new_values, performed_at)
                SELECT 'public', 'archived', gen_random_uuid(), 'INSERT', jsonb_build_object('n', g), now() - (4 + g % 2) * interval '1 month'
                FROM generate_series(1, 50) g
                UNION ALL SELECT 'public', 'archived', gen_random_uuid(), 'INSERT', '{}', now() - interval '10 years'" >/dev/null
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
	# the log: which partition holds how many rows, every row in seq order
	out="$out log:$(q "$db" "SELECT string_agg(p || '=' || n, ',' ORDER BY p) FROM
	                         (SELECT tableoid::regclass::text p, count(*) n FROM ame_audit_logs GROUP BY 1) s")"
	out="$out seq:$(q "$db" "SELECT md5(string_agg(x::text, '|' ORDER BY x.seq)) FROM ame_audit_logs x")"
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
# the months came back as the dump had them: not the extension's, guarded
guards="SELECT count(*) FILTER (WHERE EXISTS (SELECT FROM pg_depend d WHERE d.objid = h.inhrelid AND d.deptype = 'e'))
               || '/' || count(*) || '/'
               || count(*) FILTER (WHERE (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = h.inhrelid
                                          AND t.tgname IN ('ame_audit_logs_append_only', 'ame_audit_logs_no_truncate')
                                          AND t.tgenabled = 'A') = 2)
        FROM pg_inherits h WHERE h.inhparent = 'ame_audit_logs'::regclass"
ok "$(q ame_dump_dst "$guards")" "$(q ame_dump_src "$guards")" \
   "the log's partitions are back, the default one alone the extension's, each guarded ALWAYS"
ok "$(q ame_dump_dst "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass")" "7" \
   "seven partitions: the default, two past months, this month and three ahead"

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
ok "$(q ame_dump_replica "$guards")" "$(q ame_dump_src "$guards")" "the partitions are back and guarded after the replica restore too"
ok "$(q ame_dump_replica "SELECT count(*) FROM ame_audit_logs WHERE table_name = 'ame_customers'")" \
   "$(q ame_dump_src "SELECT count(*) FROM ame_audit_logs WHERE table_name = 'ame_customers'")" \
   "the customers' audit rows are those of the source"
dropdb ame_dump_replica

# a plain SQL dump replayed by psql (it runs with row_security = off)
createdb ame_dump_plain
pg_dump -Fp ame_dump_src | psql -X -q -v ON_ERROR_STOP=1 -d ame_dump_plain >/dev/null 2>/tmp/ame-restore.err
ok "$?" "0" "a plain-format dump replays without error"
ok "$(fingerprint ame_dump_plain)" "$src" "and restores every row exactly once, unchanged"
ok "$(q ame_dump_plain "$guards")" "$(q ame_dump_src "$guards")" "the partitions are back and guarded after the plain restore too"
dropdb ame_dump_plain
dropdb ame_dump_src; dropdb ame_dump_dst; rm -f "$dumpfile" /tmp/ame-restore.err
[ $failed -eq 0 ]
