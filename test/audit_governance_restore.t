#!/bin/bash
# test/audit_governance_restore.t -- the columns a table's audit excludes
# (the audit trigger's arguments) and the log's redactions survive
# pg_dump / pg_restore: after the restore, ame_audited_tables shows the
# same lists, an excluded column still never reaches the log, the
# redacted images stay redacted, and a redaction works on the restored
# database.  TAP output, run by prove inside a throwaway cluster
# (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..10"
dumpfile=$(mktemp /tmp/ame-gov-dump.XXXXXX)
src=ame_gov_src; dst=ame_gov_dst
dropdb --if-exists $src >/dev/null 2>&1; dropdb --if-exists $dst >/dev/null 2>&1
createdb $src && createdb $dst || { echo "Bail out! createdb failed"; exit 1; }
q $src "CREATE EXTENSION ame" >/dev/null

# exclusions on one of the extension's own tables (whose triggers pg_dump
# does not dump: the install script makes them) and on a table of the
# user's, with a dropped column before its excluded one, so that the
# restored table's attribute numbers differ from the original's: the
# exclusions are kept by name and must still match
q $src "CREATE TABLE public.gear (id uuid PRIMARY KEY, gone int, name text, last_seen timestamptz, secret text);
        ALTER TABLE public.gear DROP COLUMN gone;
        SELECT ame_enable_audit('public.gear', ARRAY['secret', 'last_seen']);
        SELECT ame_enable_audit('device_inventory', ARRAY['last_seen', 'updated_at']);
        INSERT INTO public.gear VALUES ('a0000000-0000-0000-0000-00000000000a', 'pump', now(), 's1');
        INSERT INTO ame_customers (id, company_name, service_tier, email)
        VALUES ('c0000000-0000-0000-0000-00000000000c', 'Gov Co', 'CORE', 'x@example.com');
        UPDATE ame_customers SET email = 'y@example.com';
        INSERT INTO device_inventory (id, customer_id, device_name, last_seen)
        VALUES ('d0000000-0000-0000-0000-00000000000d', 'c0000000-0000-0000-0000-00000000000c', 'AHU', now());
        SELECT ame_redact_audit('ame_customers', 'c0000000-0000-0000-0000-00000000000c',
                                ARRAY['email'], 'request 1')" >/dev/null

lists="SELECT string_agg(table_name || '=' || excluded_columns::text || '/' || trigger_state, ' ' ORDER BY table_name COLLATE \"C\")
       FROM ame_audited_tables"
log="SELECT count(*) || '/' || md5(string_agg(l::text, '|' ORDER BY l.seq)) FROM ame_audit_logs l"
before_lists=$(q $src "$lists")
before_log=$(q $src "$log")

pg_dump -Fc -f "$dumpfile" $src
ok "$?" "0" "pg_dump succeeds"
pg_restore -d $dst "$dumpfile" 2>/tmp/ame-gov-restore.err
ok "$?" "0" "pg_restore with default options succeeds"
ok "$(q $dst "$lists")" "$before_lists" "ame_audited_tables shows the same tables, exclusions and states"
ok "$(q $dst "$log")" "$before_log" "the log, its REDACT row and redacted images, comes back unchanged"
attnums="SELECT attnum FROM pg_attribute WHERE attrelid = 'public.gear'::regclass AND attname = 'secret'"
ok "$(q $dst "$attnums") $(q $src "$attnums")" \
   "4 5" "the restored table's columns have other numbers (the dropped one is gone)"

# the excluded columns still stay out, by name
q $dst "UPDATE public.gear SET last_seen = now(), secret = 's2'" >/dev/null
q $dst "UPDATE public.gear SET name = 'valve', secret = 's3'" >/dev/null
ok "$(q $dst "SELECT count(*) || ' ' || string_agg(changed_fields::text || (new_values ? 'secret')::text
                                               || (new_values ? 'last_seen')::text, ' ' ORDER BY seq)
              FROM ame_audit_logs WHERE table_name = 'gear'")" \
   "2 {}falsefalse {name}falsefalse" "after the restore, excluded columns stay out and a change of only them writes nothing"
q $dst "UPDATE device_inventory SET last_seen = now()" >/dev/null
ok "$(q $dst "SELECT string_agg(operation || (new_values ? 'last_seen')::text, ' ' ORDER BY seq)
              FROM ame_audit_logs WHERE table_name = 'device_inventory'")" \
   "INSERTfalse" "on the extension's own table too: a heartbeat writes nothing after the restore"
ok "$(q $dst "SELECT count(*) FROM ame_audit_logs WHERE new_values::text LIKE '%s2%' OR new_values::text LIKE '%s3%'
                                                   OR old_values::text LIKE '%s1%'")" \
   "0" "no value of an excluded column is in the restored log"

# redaction on the restored database
ok "$(q $dst "SELECT ame_redact_audit('ame_customers', 'c0000000-0000-0000-0000-00000000000c',
                                      ARRAY['company_name'], 'request 2')")" \
   "4" "a redaction works after the restore (4 images: INSERT, UPDATE twice, the earlier REDACT row)"
ok "$(q $dst "SELECT string_agg(operation || ':' || coalesce(new_values ->> 'email', '-') || ':'
                                || coalesce(new_values ->> 'company_name', '-'), ' ' ORDER BY seq)
              FROM ame_audit_logs WHERE record_id = 'c0000000-0000-0000-0000-00000000000c'")" \
   "INSERT:[redacted]:[redacted] UPDATE:[redacted]:[redacted] REDACT:[redacted]:[redacted] REDACT:[redacted]:[redacted]" \
   "both redactions hold"

dropdb $src; dropdb $dst; rm -f "$dumpfile" /tmp/ame-gov-restore.err
[ $failed -eq 0 ]
