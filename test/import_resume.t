#!/bin/bash
# test/import_resume.t -- CALL ame_import_csv_file_chunked() of a 200,000-
# record file with bad rows, stopped four times mid-file -- pg_cancel_backend,
# statement_timeout, pg_terminate_backend and kill -9 of the backend (the
# postmaster restarts) -- and resumed each time: after every stop the batch
# is interrupted with counts that match exactly the rows and error rows
# committed, and in the end the target table and import_errors equal, row
# by row, those of one ame_import_csv_file() on a fresh database.  TAP
# output, run by prove inside a throwaway cluster (scripts/test.sh).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..33"
db=ame_resume; clean=ame_resume_clean
file=/tmp/ame-resume-$$.csv
log=$(mktemp /tmp/ame-resume.XXXXXX)
for d in $db $clean; do
	dropdb --if-exists $d >/dev/null 2>&1
	createdb $d || { echo "Bail out! createdb failed"; exit 1; }
	# a trigger that sleeps at the row named by ame_test.stop_at: the
	# import waits there, at a known record, to be stopped
	q $d "CREATE EXTENSION ame;
	      CREATE FUNCTION stop_here() RETURNS trigger LANGUAGE plpgsql AS
	      \$\$BEGIN
	        IF NEW.company_name = current_setting('ame_test.stop_at', true) THEN
	          PERFORM pg_sleep(600);
	        END IF;
	        RETURN NEW;
	      END\$\$;
	      CREATE TRIGGER stop_here BEFORE INSERT ON ame_customers
	      FOR EACH ROW EXECUTE FUNCTION stop_here();" >/dev/null
done
# 200,000 records: a bad tier every 997th (22023), a ragged record every
# 1499th (22P04), every 2003rd repeats the customer number before it (23505)
# (written by the client, so that this script may touch it; the server reads it)
umask 022
psql -X -q -d $db -c "\\copy (SELECT line FROM (SELECT 0 AS i, 'company_name,service_tier,customer_number,email' AS line UNION ALL SELECT i, CASE WHEN i % 1499 = 0 THEN format('C-%s,core', i) ELSE format('C-%s,%s,N-%s,c%s@example.com', i, CASE WHEN i % 997 = 0 THEN 'gold' ELSE 'core' END, CASE WHEN i % 2003 = 0 THEN i - 1 ELSE i END, i) END FROM generate_series(1, 200000) i) s ORDER BY i) TO '$file'"

# the same file in one transaction on a fresh database: what the chunked
# import must end with
q $clean "SELECT status FROM ame_import_csv_file('$file', 'customers')" >/dev/null
expected=$(q $clean "SELECT status || ' ' || total_records || ' ' || success_count || ' ' || error_count FROM import_batches")
ok "$(echo "$expected" | cut -d' ' -f1,2)" "completed_with_errors 200000" "the one-transaction import of the file"

# start the chunked import (chunks of 5,000) in the background, stopping at
# record $1, with the settings $2; the batch id once it runs
start() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d $db \
		-c "SET ame_test.stop_at = 'C-$1'" -c "$2" \
		-c "CALL ame_import_csv_file_chunked('$file', 'customers', 5000${batch:+, '$batch'})" >"$log" 2>&1 &
	bg=$!
	[ "$1" = 0 ] && return
	for _ in $(seq 600); do
		[ "$(q $db "SELECT count(*) FROM pg_stat_activity
		            WHERE wait_event = 'PgSleep' AND query LIKE 'CALL ame_import_csv_file_chunked%'")" = 1 ] && break
		sleep 0.1
	done
	batch=$(q $db "SELECT id FROM import_batches")
	pid=$(q $db "SELECT pid FROM ame_import_progress('$batch')")
}
# the batch as committed, and what ame_import_progress() says of it
state() {
	q $db "SELECT b.status || ' ' || p.status || ' ' || b.total_records || ' ' ||
	              (b.success_count = (SELECT count(*) FROM ame_customers)) || ' ' ||
	              (b.error_count = (SELECT count(*) FROM import_errors WHERE batch_id = b.id)) || ' ' ||
	              (b.total_records = b.success_count + b.error_count + b.skipped_count) || ' ' ||
	              ((SELECT coalesce(max(row_number), 0) FROM import_errors) <= b.total_records) || ' ' ||
	              (p.records_read = b.total_records AND p.bytes_processed = b.resume_offset)
	       FROM import_batches b, ame_import_progress(b.id) p"
}
batch=""

# 1. pg_cancel_backend at record 30,000: chunks 1-5 stay, marked at once
start 30000 "SET application_name = ame_resume"
ok "$(q $db "SELECT records_read FROM ame_import_progress('$batch')")" "30000" \
   "another session sees the running import by batch id, at record 30,000"
ok "$(q $db "SELECT pg_cancel_backend($pid)")" "t" "the backend is cancelled"
wait $bg
ok "$(grep -c 'canceling statement due to user request' "$log")" "1" "the CALL fails with the cancel"
ok "$(state)" "interrupted interrupted 25000 true true true true true" \
   "cancelled: interrupted, 25,000 records, counts equal to the committed rows and errors"
ok "$(q $db "SELECT error_message FROM import_batches")" "canceling statement due to user request" \
   "the batch says why"

# 2. statement_timeout (8 s, Supabase's) at record 70,000
start 70000 "SET statement_timeout = '8s'"
wait $bg
ok "$(grep -c 'canceling statement due to statement timeout' "$log")" "1" "the CALL fails with the statement timeout"
ok "$(state)" "interrupted interrupted 65000 true true true true true" \
   "timed out: interrupted, 65,000 records, counts equal to the committed rows and errors"
ok "$(q $db "SELECT error_message FROM import_batches")" "canceling statement due to statement timeout" \
   "the batch says why"

# 3. pg_terminate_backend at record 110,000: nothing can be written, the
# batch stays processing, but no session holds its lock any more
start 110000 "SET application_name = ame_resume"
ok "$(q $db "SELECT status FROM ame_import_progress('$batch')")" "processing" "running again: processing"
ok "$(q $db "SELECT pg_terminate_backend($pid)")" "t" "the backend is terminated"
wait $bg
for _ in $(seq 100); do
	[ "$(q $db "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid")" = 0 ] && break; sleep 0.1
done
ok "$(state)" "processing interrupted 105000 true true true true true" \
   "terminated: the row says processing, ame_import_progress() interrupted; 105,000 records, counts exact"
ok "$(q $db "SELECT error_message IS NULL FROM import_batches")" "t" "a terminated backend wrote nothing"

# 4. kill -9 of the backend at record 150,000: the postmaster restarts
start 150000 "SET application_name = ame_resume"
ok "$(q $db "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" "$pid" "the importing backend is waiting"
kill -9 "$pid"
wait $bg
# back when a session can connect and the killed backend's entry is gone
# (a query that succeeds before the postmaster noticed the crash still
# sees it)
for _ in $(seq 300); do
	[ "$(q $db "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid" 2>/dev/null)" = 0 ] && break
	sleep 0.2
done
ok "$(q $db "SELECT 1")" "1" "the server is back after the crash"
ok "$(state)" "processing interrupted 145000 true true true true true" \
   "killed: the row says processing, ame_import_progress() interrupted; 145,000 records, counts exact"
ok "$(q $db "SELECT resume_line FROM import_batches")" "145002" "the resume point: line 145,002"

# the refusals while interrupted: another type, another file, a changed
# file; each leaves the batch as it was
before=$(state)
ok "$(psql -X -q -At -d $db -c "\\set VERBOSITY sqlstate" -c "CALL ame_import_csv_file_chunked('$file', 'devices', 5000, '$batch')" 2>&1)" \
   "ERROR:  22023" "resuming as another import type is 22023"
cp "$file" "$file.copy"
ok "$(psql -X -q -At -d $db -c "\\set VERBOSITY sqlstate" -c "CALL ame_import_csv_file_chunked('$file.copy', 'customers', 5000, '$batch')" 2>&1)" \
   "ERROR:  22023" "resuming from another path is 22023"
cp -p "$file" "$file.keep"
touch "$file"
ok "$(psql -X -q -At -d $db -c "\\set VERBOSITY sqlstate" -c "CALL ame_import_csv_file_chunked('$file', 'customers', 5000, '$batch')" 2>&1)" \
   "ERROR:  23514" "resuming a file whose modification time changed is 23514"
mv "$file.keep" "$file"
ok "$(state)" "$before" "the refusals changed nothing"

# 5. resumed to the end
start 0 "SET application_name = ame_resume"
wait $bg
ok "$(cat "$log")" "$batch" "resumed, the CALL succeeds and returns the batch id"
ok "$(state)" "completed_with_errors completed_with_errors 200000 true true true true true" \
   "completed: 200,000 records, counts exact"
ok "$(q $db "SELECT status || ' ' || total_records || ' ' || success_count || ' ' || error_count FROM import_batches")" \
   "$expected" "the same counts as the one-transaction import"
ok "$(q $db "SELECT count(*) FROM (SELECT row_number FROM import_errors GROUP BY 1 HAVING count(*) > 1) d")" "0" \
   "no record is in import_errors twice"
ok "$(q $db "SELECT count(*) FROM ame_customers c JOIN import_errors e ON e.raw_data->>'company_name' = c.company_name")" "0" \
   "no record is both imported and an error"
ok "$(q $db "SELECT count(*) FROM (SELECT company_name FROM ame_customers GROUP BY 1 HAVING count(*) > 1) d")" "0" \
   "no record is imported twice"

rows() {
	q "$1" "SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s', company_name, service_tier, customer_number,
	                                    email, phone, site_name, contract_start_date), E'\n' ORDER BY company_name))
	        FROM ame_customers"
}
errors() {
	q "$1" "SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s', row_number, line_number, sqlstate, error_message,
	                                    raw_data, encode(raw_record, 'hex')), E'\n' ORDER BY row_number))
	        FROM import_errors"
}
ok "$(rows $db)" "$(rows $clean)" "the imported rows equal the clean run's, row by row"
ok "$(errors $db)" "$(errors $clean)" "import_errors equals the clean run's, row by row (row and line numbers, errors, raw bytes)"
ok "$(q $db "SELECT count(*) FROM ame_customers")" "$(q $clean "SELECT count(*) FROM ame_customers")" "as many rows"
ok "$(q $db "SELECT count(*) FROM import_errors")" "$(q $clean "SELECT count(*) FROM import_errors")" "as many errors"
ok "$(q $db "SELECT count(*) FROM ame_import_progress()")" "0" "nothing runs any more"
ok "$(q $db "SELECT resume_offset = file_size FROM import_batches")" "t" "the resume point is the end of the file"

rm -f "$file" "$file.copy" "$log"
dropdb $db; dropdb $clean
[ $failed -eq 0 ]
