#!/bin/bash
# test/import_file_swap.t -- CALL ame_import_csv_file_chunked() resumes an
# interrupted batch only from the file it began with: a file rewritten with
# the same size within the same second (its modification time differs only
# below the second) is refused with 23514, and nothing is imported from it.
# TAP output, run by prove inside a throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

echo "1..4"
db=ame_file_swap
file=/tmp/ame-file-swap-$$.csv
dropdb --if-exists $db >/dev/null 2>&1
createdb $db || { echo "Bail out! createdb failed"; exit 1; }
q "CREATE EXTENSION ame;
   CREATE FUNCTION stop_at() RETURNS trigger LANGUAGE plpgsql AS
   \$\$BEGIN
     IF NEW.name = 'A-3' THEN
       RAISE EXCEPTION 'stopped at A-3' USING ERRCODE = 'query_canceled';
     END IF;
     RETURN NEW;
   END\$\$;
   CREATE TRIGGER stop_at BEFORE INSERT ON ame_technicians
   FOR EACH ROW EXECUTE FUNCTION stop_at();" >/dev/null 2>&1
umask 022
printf 'name\nA-1\nA-2\nA-3\nA-4\n' > "$file"
touch -d '2026-01-01 00:00:00.100000000' "$file"
psql -X -q -d $db -c "CALL ame_import_csv_file_chunked('$file', 'technicians', 2)" >/dev/null 2>&1
batch=$(q "SELECT id FROM import_batches")
ok "$(q "SELECT status || ' ' || total_records FROM import_batches")" "interrupted 2" \
   "the batch stops after its first chunk"
q "DROP TRIGGER stop_at ON ame_technicians" >/dev/null

# another file of the same size, modified in the same second
printf 'name\nB-1\nB-2\nB-3\nB-4\n' > "$file"
touch -d '2026-01-01 00:00:00.200000000' "$file"
ok "$(psql -X -q -At -d $db -c "\\set VERBOSITY sqlstate" -c "CALL ame_import_csv_file_chunked('$file', 'technicians', 2, '$batch')" 2>&1)" \
   "ERROR:  23514" "resuming a file rewritten within the same second is 23514"
ok "$(q "SELECT string_agg(name, ',' ORDER BY name) FROM ame_technicians")" "A-1,A-2" \
   "nothing of the other file is imported"
ok "$(q "SELECT status || ' ' || total_records FROM import_batches")" "interrupted 2" \
   "the batch stays as it was"

rm -f "$file"
dropdb $db
exit $((failed > 0))
