#!/bin/bash
# scripts/sqlsmith.sh -- a bounded random-query run against ame (make
# sqlsmith-check).  sqlsmith sends SQLSMITH_QUERIES random queries (default
# 10000) as a non-superuser with the documented application grants to a
# database holding ame and its sample data, in a throwaway cluster.  Errors
# of the queries are expected and ignored; the check fails only when a
# server process crashed (the server log says "terminated by signal") or the
# server stopped answering.  Not part of the default test command: it takes
# a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8

if [ -z "${PG_CLUSTER_CONF_ROOT:-}" ]; then
	bash scripts/setup.sh
	command -v sqlsmith >/dev/null || {
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq sqlsmith >/dev/null
	}
	# re-run this script inside a throwaway cluster
	exec pg_virtualenv -t \
		-o shared_preload_libraries=pg_cron \
		-o cron.database_name=ame_smith \
		-o cron.use_background_workers=on \
		-o max_worker_processes=32 \
		-o wal_level=logical \
		bash "$0" "$@"
fi

queries=${SQLSMITH_QUERIES:-10000}
seed=${SQLSMITH_SEED:-20261206}
log=$PG_CLUSTER_CONF_ROOT/$PGVERSION/regress/log

createdb ame_smith
psql -X -q -v ON_ERROR_STOP=1 -d ame_smith <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION ame;
\i demo/sample_data.sql
CREATE ROLE smith LOGIN PASSWORD 'smith';
-- the application grants of docs/install.md and docs/rls.md
GRANT SELECT, INSERT, UPDATE, DELETE
  ON ame_customers, ame_technicians, ame_visits, ame_visit_progress,
     ame_visit_sessions, device_inventory
  TO smith;
GRANT SELECT ON technician_performance, service_tier_metrics,
  ame_visit_sessions_archive TO smith;
-- the identity of a technician, so that row-level security lets rows through
ALTER ROLE smith SET request.jwt.claim.sub = '00000000-0000-0000-0000-0000000000a1';
UPDATE ame_technicians SET user_id = '00000000-0000-0000-0000-0000000000a1'
  WHERE id = (SELECT id FROM ame_technicians ORDER BY name LIMIT 1);
ALTER ROLE smith SET statement_timeout = '2s';
ALTER ROLE smith SET lock_timeout = '1s';
SQL

start=$(date +%s)
set +e
timeout 1800 sqlsmith --target="host=$PGHOST port=$PGPORT dbname=ame_smith user=smith password=smith" \
	--max-queries="$queries" --seed="$seed" --exclude-catalog >"${TMPDIR:-/tmp}/ame-sqlsmith.out" 2>&1
rc=$?
set -e
echo "sqlsmith: $queries queries, seed $seed, exit $rc, $(( $(date +%s) - start )) s"
tail -5 "${TMPDIR:-/tmp}/ame-sqlsmith.out" | sed 's/^/  sqlsmith: /'

failed=0
if ! psql -X -q -At -d ame_smith -c 'SELECT 1' >/dev/null 2>&1; then
	echo "sqlsmith-check: the server no longer answers"; failed=1
fi
if grep -E 'terminated by signal|was terminated by exception|PANIC' $log; then
	echo "sqlsmith-check: a server process crashed (above, from the server log)"; failed=1
fi
echo "most frequent query errors:"
grep -o 'ERROR:  .*' $log | cut -c1-70 | sed 's/"[^"]*"/"…"/g' | sort | uniq -c | sort -rn | sed 's/^/  /' | head -8 || true
if [ $failed -eq 0 ]; then
	echo "sqlsmith-check: no crash ($(grep -c 'ERROR:' $log || true) query errors in the log, as expected)"
fi
exit $failed
