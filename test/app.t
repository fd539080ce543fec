#!/bin/bash
# test/app.t -- every function of ame called from node-postgres the way
# PostgREST (and so Supabase) calls an RPC: a transaction per request, SET
# LOCAL ROLE authenticated (or anon), the JWT claims in
# request.jwt.claims, SELECT * FROM "public"."fn"("arg" := $1, ...).  The
# tests are test/app/*.test.js (node, with the pg module that
# scripts/setup.sh installs into test/app/node_modules from the committed
# package-lock.json); test/app/run.js prints their TAP.
#
# Runs in database ame_tap (pg_cron lives there, for the schedule
# functions), made fresh and left empty again; makes the roles anon and
# authenticated and drops them at the end.  TAP output, run by prove inside
# the throwaway cluster of scripts/test.sh, on every major: in the chroots
# of 17 and 18 the node of the chroot (Debian's nodejs) uses the host's
# test/app/node_modules through the bind-mounted tree (pure JavaScript).
set -u
cd "$(dirname "$0")/.."
db=ame_tap
export PGDATABASE=$db

fail() {	# a prerequisite is missing: one planned test, failed
	echo "1..1"
	echo "not ok 1 - $1"
	exit 1
}
command -v node >/dev/null 2>&1 || fail "node is installed (scripts/setup.sh installs nodejs)"
[ -f test/app/node_modules/pg/package.json ] \
	|| fail "test/app/node_modules has pg (scripts/setup.sh runs npm ci in test/app)"

cleanup() {
	dropdb --force --if-exists $db >/dev/null 2>&1
	psql -X -q -d postgres -c 'DROP ROLE IF EXISTS anon' -c 'DROP ROLE IF EXISTS authenticated' >/dev/null 2>&1
	createdb $db
}
# the server reads the files of the server-file imports: a copy of data/
# it can read wherever the tree is (a clone under /root is not)
datadir=$(mktemp -d /tmp/ame-app-data.XXXXXX)
cp data/*.csv "$datadir"/
chmod 755 "$datadir"
chmod 644 "$datadir"/*.csv
export PGDATABASE=$db AME_DATA_DIR=$datadir
cleanup
trap 'cleanup; rm -rf "$datadir"' EXIT
log=$(mktemp /tmp/ame-app.XXXXXX)
if ! psql -X -q -v ON_ERROR_STOP=1 -d $db \
	-c 'CREATE EXTENSION IF NOT EXISTS pg_cron' -c 'CREATE EXTENSION ame' \
	-f test/app/fixture.sql >"$log" 2>&1; then
	sed 's/^/# /' "$log"; rm -f "$log"
	fail "the fixture (test/app/fixture.sql) loads"
fi
rm -f "$log"
echo "# $(node --version), pg $(node -p 'require("./test/app/node_modules/pg/package.json").version')"
node test/app/run.js
