#!/bin/bash
# scripts/report.sh -- write report.html: per-tier SLA compliance and
# first-time fix, the monthly trend and technician performance, as charts
# (Chart.js, inlined) with the numbers beside each chart.
#
#   bash scripts/report.sh [OUT.html]      default: report.html
#
# It reads the views service_level_metrics, service_level_metrics_monthly
# and technician_performance of the database psql connects to (PGHOST,
# PGDATABASE etc., as for psql), from the schema ame is installed in,
# whatever the caller's search_path.  The page is built by report/build.js
# with the charting library that scripts/setup.sh installed in
# report/node_modules (npm ci).  scripts/demo.sh runs it after
# demo/main.sql; docs/bi-views.md describes the page.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-report.html}

command -v node >/dev/null || { echo "report: node is not installed (run scripts/setup.sh)" >&2; exit 1; }
[ -d "$root/report/node_modules/chart.js" ] \
	|| { echo "report: report/node_modules is missing (run scripts/setup.sh, or npm ci in report/)" >&2; exit 1; }

data=$(mktemp /tmp/ame-report.XXXXXX)
trap 'rm -f "$data"' EXIT

# the views of the schema ame lives in, named by psql's :"var" quoting;
# nothing is looked up on the caller's search_path
psql -X -q -At -v ON_ERROR_STOP=1 -o "$data" <<'SQL'
SET search_path = pg_catalog, pg_temp;
SET IntervalStyle = postgres;
SELECT pg_catalog.count(*) AS ame_installed FROM pg_catalog.pg_extension
WHERE extname OPERATOR(pg_catalog.=) 'ame' \gset
\if :ame_installed
\else
\warn 'report: ame is not installed in this database'
\quit
\endif
SELECT n.nspname AS ame_schema, e.extversion AS ame_version
FROM pg_catalog.pg_extension e
	 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
WHERE e.extname OPERATOR(pg_catalog.=) 'ame' \gset
SELECT pg_catalog.json_build_object(
	'database', pg_catalog.current_database(),
	'extversion', :'ame_version'::text,
	'generated_at', pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
	'tiers', COALESCE((
		SELECT pg_catalog.json_agg(m ORDER BY pg_catalog.array_position(ARRAY['CORE', 'ASSURE', 'GUARDIAN']::text[], m.service_tier), m.service_tier)
		FROM :"ame_schema".service_level_metrics m), '[]'::json),
	'monthly', COALESCE((
		SELECT pg_catalog.json_agg(m ORDER BY m.month, pg_catalog.array_position(ARRAY['CORE', 'ASSURE', 'GUARDIAN']::text[], m.service_tier), m.service_tier)
		FROM :"ame_schema".service_level_metrics_monthly m), '[]'::json),
	'technicians', COALESCE((
		SELECT pg_catalog.json_agg(t ORDER BY t.name, t.technician_id)
		FROM :"ame_schema".technician_performance t), '[]'::json));
SQL
[ -s "$data" ] || exit 1

node "$root/report/build.js" "$data" "$out"
echo "report: wrote $out"
