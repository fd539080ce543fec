#!/bin/bash
# test/collation_icu.t -- ame in a database whose default collation is not
# "C"-like (ICU en-US; the test clusters run in C.UTF-8, where the default
# collation sorts as "C" does).  Since 2.0 customer_number and the audit
# log's text columns use the database's default collation (SPEC §12), so
# the customer-number generator scans its unique index in that collation:
# generated numbers still skip every number taken, the index still answers
# equality, and rows compare with plain text.  TAP output, run by prove
# inside the throwaway cluster of scripts/test.sh.
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
db=ame_icu
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

echo "1..6"
dropdb --if-exists "$db" >/dev/null 2>&1
if ! createdb "$db" --locale-provider=icu --icu-locale=en-US -T template0 2>/dev/null; then
	for i in 1 2 3 4 5 6; do echo "ok $i # skip this server has no ICU"; done
	exit 0
fi
q "SET client_min_messages = warning; CREATE EXTENSION ame" >/dev/null
ok "$(q "SELECT datlocprovider::text || ' ' || ('a' < 'B')::text FROM pg_database WHERE datname = current_database()")" \
   "i true" "the database's default collation is ICU's, and not C's order ('a' < 'B')"
# en-US orders "ame-000003" and "AME-0000040" between the numbers of six
# digits, where "C" does not: numbers taken around them are still skipped
q "INSERT INTO ame_customers (company_name, service_tier, customer_number) VALUES
     ('Taken', 'CORE', 'AME-000002'), ('Lower case', 'CORE', 'ame-000003'),
     ('Seven digits', 'CORE', 'AME-0000040'), ('No dash', 'CORE', 'AME000005');
   INSERT INTO ame_customers (company_name, service_tier)
   SELECT 'Generated ' || g, 'core' FROM generate_series(1, 6) g ORDER BY g" >/dev/null
ok "$(q "SELECT string_agg(customer_number, ' ' ORDER BY customer_number COLLATE \"C\")
         FROM ame_customers WHERE company_name LIKE 'Generated %'")" \
   "AME-000001 AME-000003 AME-000004 AME-000005 AME-000006 AME-000007" \
   "generated numbers skip AME-000002 only (other spellings are other numbers)"
ok "$(q "SELECT count(*) FROM ame_customers") $(q "SELECT count(DISTINCT customer_number) FROM ame_customers")" \
   "10 10" "every customer has a number of its own"
ok "$(q "SET enable_seqscan = off;
         EXPLAIN (COSTS OFF) SELECT id FROM ame_customers WHERE customer_number = 'AME-000004'" |
      grep -c 'ame_customers_customer_number_key')" \
   "1" "an equality lookup by customer number uses the unique index"
ok "$(q "SELECT count(*) FROM (
           SELECT customer_number, service_tier FROM ame_customers WHERE company_name = 'Taken'
           EXCEPT SELECT * FROM (VALUES ('AME-000002', 'CORE')) v) x")" \
   "0" "a customer row compares with plain text values"
ok "$(q "SELECT count(*) FROM (
           SELECT table_schema, table_name, operation FROM ame_audit_logs
           EXCEPT SELECT * FROM (VALUES ('public', 'ame_customers', 'INSERT')) v) x")" \
   "0" "the audit log's rows compare with plain text values"
dropdb "$db"
[ "$failed" -eq 0 ]
