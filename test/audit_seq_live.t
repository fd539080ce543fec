#!/bin/bash
# test/audit_seq_live.t -- seq after a load that a long-lived session did not
# make (docs/audit.md, "Dump, restore and replication").  One session writes
# (so that whatever it may know about the log is fresh), another loads log
# rows that did not take their seq from the log's sequence, the way a
# data-only restore or a manual load does, and then the first session writes
# again: its new row must come after every loaded one (seq never repeats and
# keeps ordering the record's history), whatever the load was:
#   replica     INSERT under session_replication_role = replica into a month
#   disabled    ALTER TABLE ... DISABLE TRIGGER ALL, COPY, ENABLE TRIGGER ALL
#               (what pg_restore --disable-triggers sends), into a month
#   default     COPY into the default partition
#   routed      COPY into the parent, routed to this month's partition
#   setval      a load, a write, then the sequence set back (a data-only
#               restore's SEQUENCE SET comes after the table data), a write
# These hold with the writer's check of the log before each transaction's
# first row; a check remembered by the session from an earlier transaction
# fails them unless it is forgotten on each such load.  TAP output, run by
# prove inside a throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
db=ame_seq_live
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db -c "$1"; }
qr() { PGOPTIONS='-c session_replication_role=replica' psql -X -q -At -v ON_ERROR_STOP=1 -d $db -c "$1"; }

echo "1..18"

dropdb --if-exists $db >/dev/null 2>&1
createdb $db
trap 'exec 7>&- 8<&-; [ -n "${lpid:-}" ] && wait "$lpid"; rm -rf "${fifo:-/nonexistent}"; dropdb --force --if-exists $db >/dev/null 2>&1' EXIT
q "CREATE EXTENSION ame" >/dev/null
q "INSERT INTO ame_customers (customer_number, company_name, service_tier, phone, email)
       VALUES ('AME-000001', 'Customer 1', 'CORE', '555011', 'c1@example.com')" >/dev/null
q "SELECT ame_audit_add_partitions((now() - interval '2 months')::date)" >/dev/null
past=$(q "SELECT 'ame_audit_logs_y' || to_char(now() AT TIME ZONE 'UTC' - interval '1 month', 'YYYY\"m\"MM')")
ok "$(q "SELECT to_regclass('$past') IS NOT NULL AND to_regclass('ame_audit_logs_default') IS NOT NULL")" "t" \
   "setup: a past month's partition and the default partition exist"

# the long-lived session: one backend for the whole test, fed through fifos
fifo=$(mktemp -d /tmp/ame-seq-live.XXXXXX)
mkfifo "$fifo/in" "$fifo/out"
stdbuf -oL -eL psql -X -q -At -d $db <"$fifo/in" >"$fifo/out" 2>&1 &
lpid=$!
exec 7>"$fifo/in" 8<"$fifo/out"
k=0
# $1: SQL for the long-lived session; its output (errors included) in $LOUT
lsql() {
	local line
	k=$((k+1)); LOUT=""
	printf '%s;\nSELECT %s;\n' "$1" "'sync-$k'" >&7
	while IFS= read -r -t 60 line <&8; do
		[ "$line" = "sync-$k" ] && break
		LOUT="$LOUT$line"
	done
}
lsql "SELECT pg_backend_pid()"; pid=$LOUT
# the long-lived session changes customer 1 (one transaction); $1: a tag
lwrite() { lsql "UPDATE ame_customers SET site_name = '$1' WHERE customer_number = 'AME-000001'"; }

# rows loaded as a restore would: copies of customer 1's first log row with
# new ids, seq high above the log's (the sequence is left where it is).
# $1: the runner (q or qr); $2: target table; $3: performed_at; $4: how far
# above the log's highest seq
rows_sql() {
	echo "SELECT gen_random_uuid(), table_schema, table_name, record_id, operation, old_values,
	             new_values, changed_fields, user_id, timestamptz '$1', (SELECT max(seq) FROM ame_audit_logs) + $2 + g, context
	      FROM (SELECT * FROM ame_audit_logs WHERE table_name = 'ame_customers' ORDER BY seq LIMIT 1) r,
	           generate_series(0, 2) g"
}
load_insert() { $1 "INSERT INTO $2 $(rows_sql "$3" "$4")" >/dev/null; }
load_copy() { # COPY from a file made of the rows; $1 runner, $2 target, $3 time, $4 offset, $5 prefix SQL, $6 suffix SQL
	local f; f=$(mktemp /tmp/ame-seq-live.XXXXXX); chmod 644 "$f"
	q "COPY ($(rows_sql "$3" "$4")) TO STDOUT" >"$f"
	$1 "${5:-}" >/dev/null 2>&1
	PGOPTIONS="${PGOPTIONS:-}" psql -X -q -v ON_ERROR_STOP=1 -d $db -c "COPY $2 FROM STDIN" <"$f" >/dev/null
	$1 "${6:-}" >/dev/null 2>&1
	rm -f "$f"
}

# After a load: the long-lived session writes; its row comes after every
# other row of the log, no seq repeats, the record's history ends with it.
# $1: label; $2: tag
check_after() {
	local label=$1 tag=$2
	lwrite "$tag"
	ok "$LOUT" "" "$label: the long-lived session's write succeeds"
	ok "$(q "SELECT count(*) = count(DISTINCT seq)
	                AND (SELECT seq FROM ame_audit_logs WHERE new_values ->> 'site_name' = '$tag')
	                    > (SELECT max(seq) FROM ame_audit_logs WHERE coalesce(new_values ->> 'site_name', '') <> '$tag')
	         FROM ame_audit_logs")" "t" \
	   "$label: no seq repeats, the new row comes after every loaded one"
	ok "$(q "SELECT (SELECT new_values ->> 'site_name' FROM ame_record_history('ame_customers', c.id) ORDER BY seq DESC LIMIT 1)
	                || '/' || (ame_record_at('ame_customers', c.id, now()) = to_jsonb(c))
	         FROM ame_customers c WHERE customer_number = 'AME-000001'")" "$tag/true" \
	   "$label: the record's history ends with the new change, ame_record_at(now()) is the live row"
}

lwrite warm0
lwrite warm1

# -- replica role, INSERT into a past month's partition
load_insert qr "$past" "$(q "SELECT now() - interval '1 month'")" 1000
check_after "replica INSERT into $past" after-replica

# -- what pg_restore --disable-triggers sends, COPY into a past month
PGOPTIONS='' load_copy q "$past" "$(q "SELECT now() - interval '1 month'")" 1000 \
	"ALTER TABLE $past DISABLE TRIGGER ALL" "ALTER TABLE $past ENABLE TRIGGER ALL"
check_after "DISABLE TRIGGER ALL + COPY into $past" after-disabled

# -- COPY into the default partition, under replica role
PGOPTIONS='-c session_replication_role=replica' load_copy qr ame_audit_logs_default "2001-01-15 12:00+00" 1000
check_after "replica COPY into the default partition" after-default

# -- COPY into the parent, routed to this month's partition
PGOPTIONS='' load_copy q ame_audit_logs "$(q "SELECT now()")" 1000
check_after "COPY into the parent, routed to this month" after-routed

# -- a load, the sequence moved past it (as a trigger on the partitions
#    could do), a write, then the sequence set back as a data-only restore's
#    SEQUENCE SET does after the table data (no relcache invalidation: a
#    remembered check cannot see it), a write
load_insert qr "$past" "$(q "SELECT now() - interval '1 month'")" 1000
q "SELECT setval('ame_audit_logs_seq_seq', (SELECT max(seq) FROM ame_audit_logs))" >/dev/null
lwrite between
q "SELECT setval('ame_audit_logs_seq_seq', 5)" >/dev/null
check_after "a load, a write, the sequence set back" after-setval

# -- the same long-lived session throughout; nothing loaded was audited
lsql "SELECT pg_backend_pid()"
ok "$LOUT" "$pid" "one backend wrote every change of the long-lived session"
ok "$(q "SELECT count(*) FROM ame_audit_logs WHERE new_values ->> 'site_name' LIKE 'after-%' OR new_values ->> 'site_name' IN ('warm0', 'warm1', 'between')")" \
   "8" "every change of the long-lived session was audited once"

exit $((failed > 0))
