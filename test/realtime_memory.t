#!/bin/bash
# test/realtime_memory.t -- realtime stays bounded (SPEC §6): importing
# 100,000 devices in one transaction holds no more memory with the realtime
# trigger than without it (within 10 MB; one pending NOTIFY per row was
# ~26 MB), and a listener gets one summary for the import.  The backend's
# memory is read from pg_backend_memory_contexts in the importing
# transaction, just before it ends.  TAP output, run by prove inside a
# throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ame_rt_mem -c "$1"; }
rows=100000
limit=$((10 * 1024 * 1024))

echo "1..6"
dropdb --if-exists ame_rt_mem >/dev/null 2>&1
createdb ame_rt_mem || { echo "Bail out! createdb failed"; exit 1; }
q "CREATE EXTENSION ame" >/dev/null
q "INSERT INTO ame_customers (company_name, service_tier, customer_number)
   VALUES ('Memory Co', 'CORE', 'MEM-1')" >/dev/null

# One session: import $rows devices in one transaction, then report the
# batch, the backend's memory (all contexts, and TopTransactionContext with
# its children, which hold the pending notifications) and, after the end
# of the transaction, what it received on ame_realtime.  $1: SQL run first
# in the transaction; $2: COMMIT or ROLLBACK.
import() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d ame_rt_mem <<SQL 2>&1
LISTEN ame_realtime;
BEGIN;
$1
SELECT id AS batch FROM ame_import_csv((SELECT 'customer_number,device_name' || E'\n' ||
                              string_agg('MEM-1,dev-' || g, E'\n')
                       FROM generate_series(1, $rows) g), 'devices') \gset
SELECT 'batch ' || status || ' ' || success_count FROM import_batches WHERE id = :'batch';
SELECT 'total ' || sum(total_bytes) FROM pg_backend_memory_contexts;
WITH c AS (SELECT *, row_number() OVER () AS n FROM pg_backend_memory_contexts),
     t AS (SELECT n, level FROM c WHERE name = 'TopTransactionContext'),
     e AS (SELECT min(c.n) AS n FROM c, t WHERE c.n > t.n AND c.level <= t.level)
SELECT 'xact ' || sum(c.total_bytes) FROM c, t
WHERE c.n >= t.n AND c.n < coalesce((SELECT n FROM e), 9223372036854775807);
$2;
SELECT 'done';
SQL
}

without=$(import "ALTER TABLE device_inventory DISABLE TRIGGER device_inventory_realtime;" ROLLBACK)
with=$(import "" COMMIT)

ok "$(echo "$without" | grep '^batch')" "batch completed $rows" "without realtime: $rows devices imported"
ok "$(echo "$with" | grep '^batch')" "batch completed $rows" "with realtime: $rows devices imported"
total_without=$(echo "$without" | sed -n 's/^total //p')
total_with=$(echo "$with" | sed -n 's/^total //p')
xact_without=$(echo "$without" | sed -n 's/^xact //p')
xact_with=$(echo "$with" | sed -n 's/^xact //p')
echo "# backend memory before the end of the transaction: $total_without bytes without realtime, $total_with with"
echo "# TopTransactionContext and children: $xact_without bytes without realtime, $xact_with with"
ok "$([ -n "$total_with" ] && [ -n "$total_without" ] && [ $((total_with - total_without)) -lt $limit ] && echo yes)" \
   "yes" "the backend holds less than 10 MB more with realtime than without"
ok "$([ -n "$xact_with" ] && [ -n "$xact_without" ] && [ $((xact_with - xact_without)) -lt $limit ] && echo yes)" \
   "yes" "so does the transaction's memory"
ok "$(echo "$with" | grep -c 'Asynchronous notification')" "1" "the listener gets one notification for the import"
ok "$(echo "$with" | grep -o 'payload "{.*}"')" \
   "payload \"{\"schema\":\"public\",\"table\":\"device_inventory\",\"operation\":\"INSERT\",\"rows\":$rows,\"bulk\":true}\"" \
   "a summary of the $rows rows"

dropdb ame_rt_mem
[ $failed -eq 0 ]
