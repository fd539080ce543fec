#!/bin/bash
# test/plain/install.t -- CREATE EXTENSION ame on a plain server: no pg_cron
# preloaded and wal_level below logical.  The install must succeed and say
# what it could not set up.  TAP output; scripts/test.sh runs it in a
# cluster of its own, with PostgreSQL's default settings.
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ame_plain -c "$1"; }

echo "1..9"
dropdb --if-exists ame_plain >/dev/null 2>&1
createdb ame_plain || { echo "Bail out! createdb failed"; exit 1; }

ok "$(q "SHOW wal_level")" "replica" "the server's wal_level is below logical"
out=$(psql -X -v ON_ERROR_STOP=1 -d ame_plain -c "SET client_min_messages = notice" -c "CREATE EXTENSION ame" 2>&1)
ok "$?" "0" "CREATE EXTENSION ame succeeds"
ok "$(echo "$out" | grep -c 'pg_cron is not installed')" "1" "a NOTICE says that pg_cron is missing and how to schedule later"
ok "$(echo "$out" | grep -cE '"?wal_level"? is insufficient to publish logical changes')" "1" "PostgreSQL's WARNING about wal_level is shown, not an error"
ok "$(q "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'ame_realtime'")" "3" \
   "publication ame_realtime is set up on its three tables all the same"
ok "$(q "INSERT INTO ame_customers (company_name, service_tier) VALUES ('Plain', 'core') RETURNING customer_number")" \
   "AME-000001" "the extension works"

# the install's NOTICE follows the user's own client_min_messages (it is
# sent when the install commits, after CREATE EXTENSION restored the level)
q "DROP EXTENSION ame" >/dev/null; q "DROP PUBLICATION IF EXISTS ame_realtime" >/dev/null 2>&1
out=$(psql -X -v ON_ERROR_STOP=1 -d ame_plain -c "SET client_min_messages = warning" -c "CREATE EXTENSION ame" 2>&1)
ok "$(echo "$out" | grep -c 'NOTICE')" "0" "under client_min_messages = warning the install says nothing but warnings"
q "DROP EXTENSION ame" >/dev/null; q "DROP PUBLICATION IF EXISTS ame_realtime" >/dev/null 2>&1
out=$(psql -X -v ON_ERROR_STOP=1 -d ame_plain -c "BEGIN" -c "CREATE EXTENSION ame" -c "ROLLBACK" 2>&1)
ok "$(echo "$out" | grep -c 'pg_cron is not installed')" "0" "a rolled-back install sends no NOTICE"
out=$(psql -X -v ON_ERROR_STOP=1 -d ame_plain -c "BEGIN" -c "SAVEPOINT s" -c "CREATE EXTENSION ame" \
      -c "ROLLBACK TO SAVEPOINT s" -c "SELECT 1" -c "COMMIT" 2>&1)
ok "$(echo "$out" | grep -c 'pg_cron is not installed')" "0" "... nor one rolled back to a savepoint"

q "DROP EXTENSION IF EXISTS ame" >/dev/null 2>&1; q "DROP PUBLICATION IF EXISTS ame_realtime" >/dev/null 2>&1
dropdb ame_plain
[ $failed -eq 0 ]
