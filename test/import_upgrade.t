#!/bin/bash
# test/import_upgrade.t -- the update to 2.0 drops and creates the import
# functions again (their result type changed): EXECUTE granted on the 1.4
# functions is granted again on their 2.0 names (the bytea form's on
# ame_import_csv_bytes), PUBLIC still has none, and the new functions are
# not PUBLIC's.  TAP output, run by prove inside a throwaway cluster
# (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..6"
db=ame_import_upgrade
dropdb --if-exists $db >/dev/null 2>&1
createdb $db || { echo "Bail out! createdb failed"; exit 1; }
q postgres "DROP ROLE IF EXISTS ame_up_text; DROP ROLE IF EXISTS ame_up_bytes; CREATE ROLE ame_up_text; CREATE ROLE ame_up_bytes" >/dev/null
q $db "SET client_min_messages = warning; CREATE EXTENSION ame VERSION '1.4'" >/dev/null
q $db "GRANT EXECUTE ON FUNCTION ame_import_csv(text, text, text), ame_import_csv_file(text, text) TO ame_up_text;
       GRANT EXECUTE ON FUNCTION ame_import_csv(bytea, text, text) TO ame_up_bytes WITH GRANT OPTION" >/dev/null
q $db "SET client_min_messages = warning; ALTER EXTENSION ame UPDATE TO '2.0'" >/dev/null
ok "$(q $db "SELECT extversion FROM pg_extension WHERE extname = 'ame'")" "2.0" "updated to 2.0"
ok "$(q $db "SELECT has_function_privilege('ame_up_text', 'ame_import_csv(text, text, text)', 'EXECUTE') AND
                    has_function_privilege('ame_up_text', 'ame_import_csv_file(text, text)', 'EXECUTE') AND
                    NOT has_function_privilege('ame_up_text', 'ame_import_csv_bytes(bytea, text, text)', 'EXECUTE')")" \
   "t" "the grants on the text and file forms are kept, nothing more"
ok "$(q $db "SELECT has_function_privilege('ame_up_bytes', 'ame_import_csv_bytes(bytea, text, text)', 'EXECUTE WITH GRANT OPTION') AND
                    NOT has_function_privilege('ame_up_bytes', 'ame_import_csv(text, text, text)', 'EXECUTE')")" \
   "t" "the grant on the bytea form is on ame_import_csv_bytes, with its grant option"
ok "$(q $db "SELECT count(*) FROM pg_proc WHERE proname LIKE 'ame_import%' AND has_function_privilege('public', oid, 'EXECUTE')")" \
   "0" "PUBLIC may run none of the imports"
ok "$(q $db "SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text) FROM pg_proc p
             WHERE proname LIKE 'ame_import%'")" \
   "ame_import_csv(text,text,text), ame_import_csv_bytes(bytea,text,text), ame_import_csv_file(text,text), ame_import_csv_file_chunked(text,text,integer,uuid), ame_import_progress(uuid)" \
   "the 2.0 import functions, none overloaded"
ok "$(q $db "SELECT obj_description('ame_import_csv_bytes(bytea, text, text)'::regprocedure, 'pg_proc') LIKE 'imports CSV bytes%'")" \
   "t" "the new functions carry their comments"
dropdb $db
q postgres "DROP ROLE ame_up_text; DROP ROLE ame_up_bytes" >/dev/null
[ $failed -eq 0 ]
