#!/bin/bash
# test/workflow_restore.t -- a database made before the visit workflow
# (version 1.3), with visits and tasks that break its rules, is dumped and
# restored onto the current version: pg_restore (custom format, and in
# one transaction) and a plain dump run by psql load every row as it was, without an
# error; afterwards the rules hold for every change.  TAP output, run by
# prove inside a throwaway cluster (scripts/test.sh).  (pg_restore -j is not
# among the forms: it loads the extension's tables in parallel, against
# their foreign keys, whatever the version: see docs/install.md.)
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..14"
dump=$(mktemp /tmp/ame-wf-dump.XXXXXX)
plain=$(mktemp /tmp/ame-wf-plain.XXXXXX)
trap 'rm -f "$dump" "$plain"' EXIT
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" ame.control)
for db in ame_wf_src ame_wf_fc ame_wf_j ame_wf_plain; do dropdb --if-exists "$db" >/dev/null 2>&1; done
createdb ame_wf_src || { echo "Bail out! createdb failed"; exit 1; }
q ame_wf_src "SET client_min_messages = warning; CREATE EXTENSION ame VERSION '1.3'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d ame_wf_src -f demo/sample_data.sql >/dev/null || { echo "Bail out! sample data failed"; exit 1; }
# what 1.3 let anyone write: a completed visit without completed_at and
# with a duration of its own, one in progress without a start, one
# scheduled at phase 3, a cancelled one with an end; an open task on the
# completed visit and a done one on the scheduled visit
q ame_wf_src "INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time, completed_at, duration_hours)
              SELECT v.id, c.id, v.status, v.phase, v.start::timestamptz, v.done::timestamptz, v.hours
              FROM (SELECT id FROM ame_customers ORDER BY customer_number LIMIT 1) c,
                   (VALUES ('f2000000-0000-0000-0000-000000000001'::uuid, 'completed', 4, '2026-02-01 08:00+00', NULL, 7.5),
                           ('f2000000-0000-0000-0000-000000000002'::uuid, 'in_progress', 2, NULL, NULL, NULL),
                           ('f2000000-0000-0000-0000-000000000003'::uuid, 'scheduled', 3, NULL, NULL, NULL),
                           ('f2000000-0000-0000-0000-000000000004'::uuid, 'cancelled', 1, '2026-02-01 08:00+00', '2026-02-01 09:00+00', 1)
                   ) v (id, status, phase, start, done, hours);
              INSERT INTO ame_visit_progress (visit_id, phase, task_name, is_completed, completed_at)
              VALUES ('f2000000-0000-0000-0000-000000000001', 1, 'left open', false, NULL),
                     ('f2000000-0000-0000-0000-000000000003', 4, 'done early', true, '2026-02-01 10:00+00')" >/dev/null

rows="SELECT (SELECT count(*) || '/' || md5(string_agg(v::text, '|' ORDER BY v.id)) FROM ame_visits v)
             || ' ' ||
             (SELECT count(*) || '/' || md5(string_agg(p::text, '|' ORDER BY p.id)) FROM ame_visit_progress p)"
src=$(q ame_wf_src "SET TimeZone = 'UTC'; $rows")

pg_dump -Fc -f "$dump" ame_wf_src
ok "$?" "0" "pg_dump -Fc of a 1.3 database whose visits break the workflow's rules"
pg_dump -f "$plain" ame_wf_src
ok "$?" "0" "pg_dump (plain) of it"

# onto the current version: the dump says CREATE EXTENSION ame, which
# installs the default version
createdb ame_wf_fc && createdb ame_wf_j && createdb ame_wf_plain
err=$(pg_restore -d ame_wf_fc "$dump" 2>&1 >/dev/null); rc=$?
ok "$rc:$err" "0:" "pg_restore -Fc onto $current loads without an error"
err=$(pg_restore --single-transaction -d ame_wf_j "$dump" 2>&1 >/dev/null); rc=$?
ok "$rc:$err" "0:" "pg_restore --single-transaction onto $current loads without an error"
err=$(psql -X -q -v ON_ERROR_STOP=1 -d ame_wf_plain -f "$plain" 2>&1 >/dev/null); rc=$?
ok "$rc:$(echo "$err" | grep -v 'wal_level\|Set wal_level' )" "0:" "a plain dump run by psql onto $current loads without an error"
for db in ame_wf_fc ame_wf_j ame_wf_plain; do
	ok "$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'ame'")" "$current" "$db: the restored extension is $current"
	ok "$(q "$db" "SET TimeZone = 'UTC'; $rows")" "$src" "$db: every visit and task is there exactly as it was"
done

# the rules hold for every change after the restore
db=ame_wf_fc
ok "$(q "$db" "UPDATE ame_visits SET status = 'scheduled' WHERE status = 'completed' AND id <> 'f2000000-0000-0000-0000-000000000001'" 2>&1 | grep -c 'cannot change the status of visit')" \
   "1" "after the restore a completed visit cannot go back to scheduled"
ok "$(q "$db" "INSERT INTO ame_visits (customer_id, status) SELECT id, 'in_progress' FROM ame_customers LIMIT 1" 2>&1 | grep -o 'cannot be created as "in_progress" with these columns')" \
   'cannot be created as "in_progress" with these columns' "an ordinary session's INSERT is checked"
# and the old rows are repaired in place as docs/workflow.md says
ok "$(q "$db" "UPDATE ame_visits SET completed_at = actual_start_time + duration_hours * interval '1 hour'
               WHERE id = 'f2000000-0000-0000-0000-000000000001';
               SET TimeZone = 'UTC';
               SELECT completed_at || ' ' || duration_hours FROM ame_visits WHERE id = 'f2000000-0000-0000-0000-000000000001'")" \
   "2026-02-01 15:30:00+00 7.50" "a restored visit that broke the rules is repaired in place"

for db in ame_wf_src ame_wf_fc ame_wf_j ame_wf_plain; do dropdb "$db"; done
[ "$failed" -eq 0 ]
