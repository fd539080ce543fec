#!/bin/bash
# test/service_levels_restore.t -- the service-level targets survive every
# way a database comes back: a fresh install has the defaults; pg_dump -Fc
# + pg_restore and a plain dump replayed by psql bring back the targets the
# owner edited, without an error (CREATE EXTENSION has inserted the
# defaults before the dump's COPY: ame_service_levels_restore() turns the
# dump's rows into updates); a dump made with 1.3 (no targets in it)
# restored where 1.4 is the default gets the defaults; a data-only restore
# into an existing database replaces the defaults.  TAP output, run by
# prove inside a throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..26"
dumpfile=$(mktemp /tmp/ame-sla-dump.XXXXXX); errfile=$(mktemp /tmp/ame-sla-err.XXXXXX)
trap 'rm -f "$dumpfile" "$errfile"' EXIT
dbs="ame_sla_src ame_sla_fc ame_sla_replica ame_sla_plain ame_sla_data ame_sla_data_plain ame_sla_13 ame_sla_13_fc ame_sla_13_plain"
for db in $dbs; do dropdb --if-exists "$db" >/dev/null 2>&1; done

default_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" ame.control)
targets="SELECT string_agg(service_tier || '=' || (extract(epoch FROM response_target) / 3600)::integer || 'h/'
                           || (extract(epoch FROM resolution_target) / 3600)::integer || 'h', ' ' ORDER BY service_tier)
         FROM ame_service_levels"
defaults="ASSURE=24h/72h CORE=72h/168h GUARDIAN=4h/24h"
edited="ASSURE=24h/72h CORE=72h/200h GUARDIAN=2h/24h"
# GUARDIAN's one visit was started after 3 hours: met under the default
# 4 h, missed under the edited 2 h
metric="SELECT response_met_pct FROM service_level_metrics WHERE service_tier = 'GUARDIAN'"

# 1. a fresh install
createdb ame_sla_src || { echo "Bail out! createdb failed"; exit 1; }
q ame_sla_src "CREATE EXTENSION ame" >/dev/null
ok "$(q ame_sla_src "$targets")" "$defaults" "a fresh install has the default targets"
ok "$(q ame_sla_src "SELECT count(*) FROM pg_extension e, unnest(e.extconfig) c
                     WHERE e.extname = 'ame' AND c = 'ame_service_levels'::regclass")" "1" \
   "ame_service_levels is dumped with the extension's data"

# the owner edits two targets; a GUARDIAN visit to measure them by
q ame_sla_src "UPDATE ame_service_levels SET response_target = '2 hours' WHERE service_tier = 'GUARDIAN';
               UPDATE ame_service_levels SET resolution_target = '200 hours' WHERE service_tier = 'CORE';
               INSERT INTO ame_customers (id, company_name, service_tier)
               VALUES ('c5000000-0000-0000-0000-000000000001', 'Guardian One', 'GUARDIAN');
               INSERT INTO ame_visits (customer_id, status, current_phase, actual_start_time, created_at)
               VALUES ('c5000000-0000-0000-0000-000000000001', 'in_progress', 1,
                       '2026-03-01 11:00+00', '2026-03-01 08:00+00')" >/dev/null
ok "$(q ame_sla_src "$targets") $(q ame_sla_src "$metric")" "$edited 0.00" "the owner's edits are in place"

# 2. custom format, pg_restore into a new database
pg_dump -Fc -f "$dumpfile" ame_sla_src
createdb ame_sla_fc
pg_restore -d ame_sla_fc "$dumpfile" 2>"$errfile"
ok "$?" "0" "pg_restore of a 1.4 dump with edited targets succeeds"
ok "$(cat "$errfile")" "" "and prints no error"
ok "$(q ame_sla_fc "$targets")" "$edited" "the edited targets come back, each tier once"
ok "$(q ame_sla_fc "$metric")" "0.00" "and the metrics use them"

# the way docs/audit.md restores without new audit rows: the trigger is
# ALWAYS, so it fires there too
createdb ame_sla_replica
PGOPTIONS='-c session_replication_role=replica' pg_restore -d ame_sla_replica "$dumpfile" 2>"$errfile"
ok "$?/$(cat "$errfile")" "0/" "pg_restore with session_replication_role = replica succeeds without error"
ok "$(q ame_sla_replica "$targets")" "$edited" "and brings back the edited targets"

# 3. a plain dump replayed by psql
createdb ame_sla_plain
pg_dump -Fp ame_sla_src | psql -X -q -v ON_ERROR_STOP=1 -d ame_sla_plain >/dev/null 2>"$errfile"
ok "$?" "0" "a plain dump with edited targets replays without error"
ok "$(cat "$errfile")" "" "and prints nothing on stderr"
ok "$(q ame_sla_plain "$targets")" "$edited" "the edited targets come back"

# 4. data only, into an existing 1.4 database that has the defaults
createdb ame_sla_data
q ame_sla_data "CREATE EXTENSION ame" >/dev/null
pg_restore -a -d ame_sla_data "$dumpfile" 2>"$errfile"
ok "$?" "0" "a data-only pg_restore into an existing database succeeds"
ok "$(cat "$errfile")" "" "and prints no error"
ok "$(q ame_sla_data "$targets") $(q ame_sla_data "$metric")" "$edited 0.00" \
   "the dump's targets replace the defaults; the visit came too"
createdb ame_sla_data_plain
q ame_sla_data_plain "CREATE EXTENSION ame" >/dev/null
pg_dump -Fp -a ame_sla_src | psql -X -q -v ON_ERROR_STOP=1 -d ame_sla_data_plain >/dev/null 2>"$errfile"
ok "$?/$(cat "$errfile")" "0/" "a plain data-only dump replays into an existing database without error"
ok "$(q ame_sla_data_plain "$targets")" "$edited" "and its targets replace the defaults"

# outside a restore, the same row is the ordinary unique violation
ok "$(psql -X -q -At -d ame_sla_fc -c "INSERT INTO ame_service_levels VALUES ('CORE', '1 hour', '2 hours')" 2>&1)" \
   'ERROR:  duplicate key value violates unique constraint "ame_service_levels_pkey"
DETAIL:  Key (service_tier)=(CORE) already exists.' "an ordinary session's duplicate tier is refused with 23505"
ok "$(q ame_sla_fc "$targets")" "$edited" "and changes nothing"

# 5. a dump made with 1.3, which has no service levels, restored where 1.4
# is the default version
createdb ame_sla_13
q ame_sla_13 "CREATE EXTENSION ame VERSION '1.3'" >/dev/null
q ame_sla_13 "INSERT INTO ame_customers (company_name, service_tier) VALUES ('Old Co', 'CORE')" >/dev/null
ok "$(q ame_sla_13 "SELECT extversion || '/' || (to_regclass('ame_service_levels') IS NULL) FROM pg_extension WHERE extname = 'ame'")" \
   "1.3/true" "the source is a 1.3 database without service levels"
pg_dump -Fc -f "$dumpfile" ame_sla_13
createdb ame_sla_13_fc
pg_restore -d ame_sla_13_fc "$dumpfile" 2>"$errfile"
ok "$?/$(cat "$errfile")" "0/" "its dump restores without error"
ok "$(q ame_sla_13_fc "SELECT extversion FROM pg_extension WHERE extname = 'ame'")" "$default_version" \
   "as version $default_version"
ok "$(q ame_sla_13_fc "$targets")" "$defaults" "with the default targets"
ok "$(q ame_sla_13_fc "SELECT count(*) FROM ame_customers")" "1" "and the 1.3 data"
createdb ame_sla_13_plain
pg_dump -Fp ame_sla_13 | psql -X -q -v ON_ERROR_STOP=1 -d ame_sla_13_plain >/dev/null 2>"$errfile"
ok "$?/$(cat "$errfile")" "0/" "its plain dump replays without error"
ok "$(q ame_sla_13_plain "$targets")" "$defaults" "with the default targets"

for db in $dbs; do dropdb "$db"; done
[ $failed -eq 0 ]
