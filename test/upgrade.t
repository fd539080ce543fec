#!/bin/bash
# test/upgrade.t -- ALTER EXTENSION ame UPDATE from every released version
# gives exactly what a fresh CREATE EXTENSION gives, and keeps the data and
# the audit trail working.  TAP output, run by prove inside a throwaway
# cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# Everything the extension's objects are, as text, one line per object:
# what a user could observe of the schema, privileges and comments
# included.  Columns are listed by name (an upgrade may add them in
# another order).
fingerprint_sql=$(cat <<'SQL'
WITH m AS (
	SELECT d.classid, d.objid
	FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  AND e.extname = 'ame'
)
SELECT pg_describe_object(m.classid, m.objid, 0) || ' | ' ||
	coalesce(CASE m.classid
	WHEN 'pg_proc'::regclass THEN
		(SELECT CASE WHEN p.prokind = 'a' THEN '' ELSE pg_get_functiondef(p.oid) END
				|| ' acl=' || coalesce(p.proacl::text, '-')
		 FROM pg_proc p WHERE p.oid = m.objid)
	WHEN 'pg_class'::regclass THEN
		(SELECT c.relkind::text || ' acl=' || coalesce(c.relacl::text, '-')
				|| ' opts=' || coalesce(c.reloptions::text, '-')
				|| ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
				|| ' ident=' || c.relreplident::text
				|| ' view=' || coalesce(pg_get_viewdef(c.oid), '-')
				|| ' cols=' || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
					|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
					|| coalesce(' collate ' || nullif(a.attcollation, 0)::regcollation::text, '')
					|| coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
					|| coalesce(' generated ' || nullif(a.attgenerated::text, ''), '')
					|| coalesce(' comment ' || col_description(c.oid, a.attnum), '')
					|| coalesce(' acl ' || a.attacl::text, ''), ', ' ORDER BY a.attname)
					FROM pg_attribute a
					LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
					WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '-')
				|| ' indexes=' || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY pg_get_indexdef(i.indexrelid))
					FROM pg_index i WHERE i.indrelid = c.oid), '-')
				|| ' constraints=' || coalesce((SELECT string_agg(co.conname || ' ' || pg_get_constraintdef(co.oid), '; ' ORDER BY co.conname)
					FROM pg_constraint co WHERE co.conrelid = c.oid), '-')
				|| ' triggers=' || coalesce((SELECT string_agg(pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text, '; ' ORDER BY t.tgname)
					FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '-')
				|| ' policies=' || coalesce((SELECT string_agg(p.polname || ' ' || p.polcmd::text || ' ' || p.polpermissive
						|| ' ' || p.polroles::regrole[]::text || ' ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '-')
						|| ' ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-'), '; ' ORDER BY p.polname)
					FROM pg_policy p WHERE p.polrelid = c.oid), '-')
				|| ' seq=' || coalesce((SELECT s.seqtypid::regtype || ' ' || s.seqstart || ' ' || s.seqincrement
						|| ' ' || s.seqmax || ' ' || s.seqmin || ' ' || s.seqcache || ' ' || s.seqcycle
					FROM pg_sequence s WHERE s.seqrelid = c.oid), '-')
		 FROM pg_class c WHERE c.oid = m.objid)
	WHEN 'pg_type'::regclass THEN format_type(m.objid, NULL)
	ELSE '' END, '?')
	|| ' comment=' || coalesce(obj_description(m.objid, m.classid::regclass::name), '-')
FROM m
UNION ALL
SELECT 'extension | config=' || coalesce((SELECT string_agg(x::regclass::text, ', ' ORDER BY x::regclass::text)
	FROM unnest(e.extconfig) x), '-')
	|| ' conditions=' || coalesce(array_to_string(e.extcondition, ', '), '-')
FROM pg_extension e WHERE e.extname = 'ame'
UNION ALL
SELECT 'publication ' || p.pubname || ' | ' || p.puballtables::text || p.pubinsert::text || p.pubupdate::text || p.pubdelete::text
	|| ' tables=' || coalesce((SELECT string_agg(pr.prrelid::regclass::text, ', ' ORDER BY pr.prrelid::regclass::text)
		FROM pg_publication_rel pr WHERE pr.prpubid = p.oid), '-')
FROM pg_publication p
ORDER BY 1
SQL
)
fingerprint() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$fingerprint_sql"; }

current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" ame.control)
released=$(ls ame--*.sql | sed -n 's/^ame--\([0-9.]*\)\.sql$/\1/p' | grep -vx "$current" | sort -V)
nreleased=$(echo "$released" | grep -c .)
echo "1..$((4 + 12 * nreleased))"

dropdb --if-exists ame_up_fresh >/dev/null 2>&1
createdb ame_up_fresh || { echo "Bail out! createdb failed"; exit 1; }
q ame_up_fresh "SET client_min_messages = warning; CREATE EXTENSION ame" >/dev/null
fresh=$(fingerprint ame_up_fresh)
ok "$(q ame_up_fresh "SELECT extversion FROM pg_extension WHERE extname = 'ame'")" "$current" \
   "CREATE EXTENSION ame installs the default version $current"
ok "$(echo "$fresh" | grep -c 'USING hash (record_id)')" "1" "the fingerprint sees the log's indexes"
# the monthly partitions are not extension objects: the fingerprint does
# not depend on the date of the install, only the default partition is in it
ok "$(echo "$fresh" | grep -c '^table ame_audit_logs')" "2" "the log and its default partition are the extension's tables of the log"
ok "$(q ame_up_fresh "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass")" "5" \
   "a fresh install makes the default partition, this month's and three ahead"
month_of="'ame_audit_logs_' || to_char(performed_at AT TIME ZONE 'UTC', '\"y\"YYYY\"m\"MM')"

for from in $released; do
	db=ame_up_$(echo "$from" | tr . _)
	dropdb --if-exists "$db" >/dev/null 2>&1
	createdb "$db" || { echo "Bail out! createdb failed"; exit 1; }
	q "$db" "SET client_min_messages = warning; CREATE EXTENSION ame VERSION '$from'" >/dev/null
	ok "$?" "0" "version $from installs"
	# data and audit history written under the old version
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f demo/sample_data.sql >/dev/null
	q "$db" "UPDATE ame_technicians SET phone = '555-0001' WHERE name = 'Alex Moreno'" >/dev/null
	# a log of some age: a record's history across past months (7, 4 and 2
	# months back) and a row from long ago
	q "$db" "INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation, new_values, performed_at)
	         SELECT 'public', 'ame_technicians', 'f0000000-0000-0000-0000-000000000001', op,
	                jsonb_build_object('id', 'f0000000-0000-0000-0000-000000000001', 'phone', ph),
	                now() - m * interval '1 month'
	         FROM (VALUES ('INSERT', '555-7', 7), ('UPDATE', '555-4', 4), ('UPDATE', '555-2', 2)) v (op, ph, m) ORDER BY m DESC;
	         INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation, performed_at)
	         VALUES ('public', 'gone', gen_random_uuid(), 'DELETE', '1850-02-03 00:00+00')" >/dev/null
	# visits that break the workflow's rules (1.4), as the old versions let
	# anyone write them: completed without completed_at, in progress
	# without a start, scheduled at phase 3, an open task on a closed visit
	# (from 1.4 on loaded as a restore loads them: the owner with
	# row_security off, which the rules let through)
	q "$db" "SET row_security = off;
	         INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time, completed_at, duration_hours)
	         SELECT v.id, c.id, v.status, v.phase, v.start, NULL, v.hours
	         FROM (SELECT id FROM ame_customers ORDER BY customer_number LIMIT 1) c,
	              (VALUES ('f1000000-0000-0000-0000-000000000001'::uuid, 'completed', 4, timestamptz '2026-02-01 08:00+00', 3.0),
	                      ('f1000000-0000-0000-0000-000000000002'::uuid, 'in_progress', 2, NULL, NULL),
	                      ('f1000000-0000-0000-0000-000000000003'::uuid, 'scheduled', 3, NULL, NULL)) v (id, status, phase, start, hours);
	         INSERT INTO ame_visit_progress (visit_id, phase, task_name)
	         VALUES ('f1000000-0000-0000-0000-000000000001', 1, 'left open')" >/dev/null
	broken_sql="SET TimeZone = 'UTC'; SELECT string_agg(id || ' ' || status || ' ' || current_phase || ' ' || coalesce(actual_start_time::text, '-')
	                              || ' ' || coalesce(completed_at::text, '-') || ' ' || coalesce(duration_hours::text, '-'), '; ' ORDER BY id)
	            FROM ame_visits WHERE id::text LIKE 'f1000000-%'"
	broken=$(q "$db" "$broken_sql")
	before=$(q "$db" "SELECT count(*) || '/' || md5(string_agg(x::text, '|' ORDER BY x.seq)) FROM ame_audit_logs x")

	q "$db" "ALTER EXTENSION ame UPDATE" >/dev/null
	ok "$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'ame'")" "$current" \
	   "ALTER EXTENSION ame UPDATE takes $from to $current"
	got=$(fingerprint "$db")
	ok "$(echo "$got" | md5sum)" "$(echo "$fresh" | md5sum)" \
	   "$from updated to $current is what a fresh $current install is"
	[ "$got" = "$fresh" ] || diff <(echo "$fresh") <(echo "$got") | sed 's/^/# /'
	ok "$(q "$db" "SELECT count(*) || '/' || md5(string_agg(x::text, '|' ORDER BY x.seq)) FROM ame_audit_logs x")" \
	   "$before" "the audit trail written under $from is unchanged (every row, id, seq and image)"
	ok "$(q "$db" "$broken_sql")" "$broken" \
	   "visits of $from that break the workflow's rules are kept as they were by the update"
	# from 1.3 on the log is partitioned already: the update leaves it as
	# it is, and rows written for months without a partition wait in the
	# default partition until the nightly maintenance makes their months
	if [ "$(printf '%s\n' "$from" 1.3 | sort -V | head -1)" = 1.3 ]; then
		q "$db" "SELECT ame_audit_add_partitions((now() - interval '8 months')::date, now()::date)" >/dev/null
	fi
	ok "$(q "$db" "SELECT count(*) FILTER (WHERE tableoid::regclass::text = $month_of) || '/'
	                      || count(*) FILTER (WHERE tableoid = 'ame_audit_logs_default'::regclass)
	               FROM ame_audit_logs")" "$(( $(echo "$before" | cut -d/ -f1) - 1 ))/1" \
	   "every row of $from is in its month's partition, the one from 1850 (before 1900) in the default partition"
	ok "$(q "$db" "SELECT string_agg(h.operation || ':' || (h.new_values ->> 'phone'), ' ' ORDER BY h.seq)
	                      || ' ' || (ame_record_at('ame_technicians', 'f0000000-0000-0000-0000-000000000001',
	                                               now() - interval '3 months') ->> 'phone')
	               FROM ame_record_history('ame_technicians', 'f0000000-0000-0000-0000-000000000001') h")" \
	   "INSERT:555-7 UPDATE:555-4 UPDATE:555-2 555-4" "history across the months and ame_record_at in one of them work"
	ok "$(q "$db" "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass
	               AND inhrelid::regclass::text >= 'ame_audit_logs_y' || to_char(now() AT TIME ZONE 'UTC', 'YYYY\"m\"MM')")" \
	   "4" "this month's partition and three ahead are there"
	# the history written before the update is still found, and goes on
	q "$db" "UPDATE ame_technicians SET phone = '555-0002' WHERE name = 'Alex Moreno'" >/dev/null
	ok "$(q "$db" "SELECT string_agg(operation || ':' || coalesce(new_values ->> 'phone', '-'), ' ' ORDER BY seq)
	               FROM ame_technicians t, ame_record_history('ame_technicians', t.id)
	               WHERE t.name = 'Alex Moreno'" | sed 's/^INSERT:[^ ]* //')" \
	   "UPDATE:555-0001 UPDATE:555-0002" "history written before and after the update is found"
	ok "$(q "$db" "SELECT ame_record_at('ame_technicians', id, now()) = to_jsonb(t)
	               FROM ame_technicians t WHERE name = 'Alex Moreno'")" \
	   "t" "time travel to now() after the update gives the live row"
	# docs/workflow.md: they keep working, are found, and are repaired in place
	ok "$(q "$db" "UPDATE ame_visits SET notes = 'kept' WHERE id::text LIKE 'f1000000-%';
	               SELECT count(*) FROM ame_visits
	               WHERE (status = 'scheduled' AND (current_phase <> 1 OR actual_start_time IS NOT NULL
	                                                OR completed_at IS NOT NULL OR duration_hours IS NOT NULL))
	                  OR (status = 'in_progress' AND (actual_start_time IS NULL OR completed_at IS NOT NULL
	                                                  OR duration_hours IS NOT NULL))
	                  OR (status = 'completed' AND (current_phase <> 4 OR actual_start_time IS NULL OR completed_at IS NULL
	                      OR duration_hours IS DISTINCT FROM
	                         CASE WHEN isfinite(completed_at) AND isfinite(actual_start_time)
          THEN round((extract(epoch FROM completed_at - actual_start_time) / 3600)::numeric, 2) END))
	                  OR (status = 'cancelled' AND (completed_at IS NOT NULL OR duration_hours IS NOT NULL))
	                  OR NOT isfinite(actual_start_time) OR NOT isfinite(completed_at) OR NOT isfinite(created_at)")" \
	   "3" "they take an UPDATE of their notes, and the docs' query finds exactly them (the sample data breaks no rule)"
	ok "$(q "$db" "UPDATE ame_visits SET completed_at = actual_start_time + duration_hours * interval '1 hour'
	               WHERE status = 'completed' AND completed_at IS NULL
	                 AND actual_start_time IS NOT NULL AND duration_hours IS NOT NULL;
	               UPDATE ame_visits SET actual_start_time = '2026-02-03 08:00+00' WHERE id = 'f1000000-0000-0000-0000-000000000002';
	               UPDATE ame_visits SET current_phase = 1 WHERE id = 'f1000000-0000-0000-0000-000000000003';
	               $broken_sql")" \
	   "f1000000-0000-0000-0000-000000000001 completed 4 2026-02-01 08:00:00+00 2026-02-01 11:00:00+00 3.00; f1000000-0000-0000-0000-000000000002 in_progress 2 2026-02-03 08:00:00+00 - -; f1000000-0000-0000-0000-000000000003 scheduled 1 - - -" \
	   "the docs' repairs make them agree with their status, in place"
	dropdb "$db"
done
dropdb ame_up_fresh
[ "$failed" -eq 0 ]
