-- bench/import.sql -- CSV import of a 1M-row customers file, in one run:
--   copy    plain COPY of the file into an identical table without triggers
--   ame     ame_import_csv_file() into ame_customers (normalization trigger,
--           constraints, indexes; audit trigger disabled)
--   ame_bad the same with 1% bad rows (bad tier, bad email, duplicate
--           customer number, impossible date, ragged record, invalid UTF-8)
--   plpgsql the seed-style design: COPY into a staging table, then a
--           PL/pgSQL loop with one BEGIN ... EXCEPTION block per row
-- Best of 3 for copy/ame/ame_bad, one round of plpgsql (it is slow);
-- prints the ratios, the XIDs each run consumed, and the backend's peak
-- memory for the 1x and a 10x file (fresh backends).
\set ON_ERROR_STOP on
\if :{?rows}
\else
\set rows 1000000
\endif
\if :{?memory_factor}
\else
\set memory_factor 10
\endif
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ame;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- the audit trigger, if there is one, is off for this benchmark
DO $$
DECLARE t record;
BEGIN
  FOR t IN SELECT tgname FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
           WHERE g.tgrelid = 'public.ame_customers'::regclass
             AND p.proname = 'audit_trigger_function' LOOP
    EXECUTE format('ALTER TABLE public.ame_customers DISABLE TRIGGER %I', t.tgname);
  END LOOP;
END $$;

-- one CSV line per customer, as a CRM export would have it; the files are
-- written by the server (COPY ... TO), so the server can read them
CREATE FUNCTION bench.line(i bigint, bad boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN bad AND i % 600 = 0 THEN
              format('Company %s,GOLD,AME-%s,(555) 010-%s,user%s@example.com,Site %s,2024-01-01,2026-12-31', i, lpad(i::text, 8, '0'), lpad((i % 10000)::text, 4, '0'), i, i)
            WHEN bad AND i % 600 = 100 THEN
              format('Company %s,CORE,AME-%s,(555) 010-%s,user%s at example.com,Site %s,2024-01-01,2026-12-31', i, lpad(i::text, 8, '0'), lpad((i % 10000)::text, 4, '0'), i, i)
            WHEN bad AND i % 600 = 200 THEN   -- the customer number of the row before
              format('Company %s,CORE,AME-%s,(555) 010-%s,user%s@example.com,Site %s,2024-01-01,2026-12-31', i, lpad((i - 1)::text, 8, '0'), lpad((i % 10000)::text, 4, '0'), i, i)
            WHEN bad AND i % 600 = 300 THEN
              format('Company %s,CORE,AME-%s,(555) 010-%s,user%s@example.com,Site %s,2024-02-30,2026-12-31', i, lpad(i::text, 8, '0'), lpad((i % 10000)::text, 4, '0'), i, i)
            WHEN bad AND i % 600 = 400 THEN
              format('Company %s,CORE,AME-%s', i, lpad(i::text, 8, '0'))
            ELSE
              format('"Company %s, Inc.",%s,AME-%s,(555) 010-%s,user%s@example.com,Site %s,2024-01-01,2026-12-31',
                     i, (ARRAY['CORE', 'ASSURE', 'GUARDIAN'])[1 + i % 3], lpad(i::text, 8, '0'),
                     lpad((i % 10000)::text, 4, '0'), i, i)
       END
$$;

\set header 'company_name,service_tier,customer_number,phone,email,site_name,contract_start_date,contract_end_date'
COPY (SELECT :'header' UNION ALL
      SELECT bench.line(i, false) FROM generate_series(1, :rows) i)
  TO '/tmp/ame_bench_clean.csv';
-- 1% bad: every 100th row, six kinds in turn (i % 600 = 0, 100, ... 500);
-- the invalid-UTF-8 kind holds a raw 0xff byte, so this file is built as
-- bytes and written with lo_export
CREATE TABLE bench.badlines AS
SELECT i, CASE WHEN i % 100 = 0 AND i % 600 = 500
               THEN convert_to(format('Company %s,CORE,AME-%s,x,', i, lpad(i::text, 8, '0')), 'UTF8')
                    || '\xff'::bytea || convert_to(',Site,2024-01-01,2026-12-31', 'UTF8')
               ELSE convert_to(bench.line(i, i % 100 = 0), 'UTF8') END AS line
FROM generate_series(1, :rows) i;
SELECT lo_from_bytea(0, convert_to(:'header' || E'\n', 'UTF8')
       || (SELECT string_agg(line, '\x0a'::bytea ORDER BY i) FROM bench.badlines)
       || '\x0a'::bytea) AS lo \gset
SELECT lo_export(:lo, '/tmp/ame_bench_bad.csv') \gset
SELECT lo_unlink(:lo) \gset
DROP TABLE bench.badlines;

SELECT pg_size_pretty((pg_stat_file('/tmp/ame_bench_clean.csv')).size) AS clean_file,
       pg_size_pretty((pg_stat_file('/tmp/ame_bench_bad.csv')).size) AS bad_file;

-- identical table without triggers, and the seed design's staging table
CREATE TABLE bench.plain_customers (LIKE public.ame_customers INCLUDING ALL);
CREATE TABLE bench.staging (company_name text, service_tier text,
  customer_number text, phone text, email text, site_name text,
  contract_start_date text, contract_end_date text);
CREATE TABLE bench.timings (variant text, round int, ms double precision,
                            xids bigint, ok bigint, errors bigint);

CREATE PROCEDURE bench.run(rounds int)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  x0 bigint;
  v text;
  ok bigint;
  bad bigint;
  r2 record;
BEGIN
  FOR r IN 0 .. rounds LOOP
    FOREACH v IN ARRAY ARRAY['copy', 'ame', 'ame_bad'] LOOP
      TRUNCATE public.ame_customers, bench.plain_customers CASCADE;
      DELETE FROM public.import_batches;
      COMMIT;
      CHECKPOINT;
      x0 := pg_current_xact_id()::text::bigint;
      COMMIT;
      t0 := clock_timestamp();
      IF v = 'copy' THEN
        COPY bench.plain_customers (company_name, service_tier, customer_number,
             phone, email, site_name, contract_start_date, contract_end_date)
          FROM '/tmp/ame_bench_clean.csv' WITH (FORMAT csv, HEADER);
        GET DIAGNOSTICS ok = ROW_COUNT;
        bad := 0;
      ELSE
        SELECT i.success_count, i.error_count INTO ok, bad
        FROM public.ame_import_csv_file(
               CASE v WHEN 'ame' THEN '/tmp/ame_bench_clean.csv' ELSE '/tmp/ame_bench_bad.csv' END,
               'customers') AS i;
      END IF;
      COMMIT;
      INSERT INTO bench.timings
        VALUES (v, r, extract(epoch FROM clock_timestamp() - t0) * 1000,
                pg_current_xact_id()::text::bigint - x0 - 1, ok, bad);
      COMMIT;
    END LOOP;
  END LOOP;
END $$;

-- the seed's design: staging COPY, then one exception block per row
CREATE PROCEDURE bench.run_plpgsql(path text, variant text)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  x0 bigint;
  b uuid;
  n int := 0;
  ok bigint := 0;
  bad bigint := 0;
  r record;
BEGIN
  TRUNCATE public.ame_customers, bench.staging CASCADE;
  DELETE FROM public.import_batches;
  COMMIT;
  CHECKPOINT;
  x0 := pg_current_xact_id()::text::bigint;
  COMMIT;
  t0 := clock_timestamp();
  INSERT INTO public.import_batches (source_file, import_type)
  VALUES (path, 'customers') RETURNING id INTO b;
  BEGIN
    EXECUTE format('COPY bench.staging FROM %L WITH (FORMAT csv, HEADER)', path);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'seed design: the staging COPY failed: %', SQLERRM;
  END;
  FOR r IN SELECT * FROM bench.staging LOOP
    n := n + 1;
    BEGIN
      INSERT INTO public.ame_customers (company_name, service_tier, customer_number,
             phone, email, site_name, contract_start_date, contract_end_date)
      VALUES (r.company_name, r.service_tier, r.customer_number, r.phone, r.email,
              r.site_name, r.contract_start_date::date, r.contract_end_date::date);
      ok := ok + 1;
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO public.import_errors (batch_id, row_number, error_message, raw_data)
      VALUES (b, n, SQLERRM, to_jsonb(r));
      bad := bad + 1;
    END;
  END LOOP;
  UPDATE public.import_batches SET status = 'completed', total_records = n,
         success_count = ok, error_count = bad WHERE id = b;
  COMMIT;
  INSERT INTO bench.timings
    VALUES (variant, 1, extract(epoch FROM clock_timestamp() - t0) * 1000,
            pg_current_xact_id()::text::bigint - x0 - 1, ok, bad);
  COMMIT;
END $$;

CALL bench.run(3);

-- the bad rows were all recorded, with their SQLSTATEs
SELECT e.sqlstate, count(*) FROM public.import_errors e
JOIN public.import_batches b ON b.id = e.batch_id
WHERE b.source_file = '/tmp/ame_bench_bad.csv' GROUP BY 1 ORDER BY 1;

-- (the seed design runs on the clean file only: its staging COPY, like any
-- COPY, aborts on the first ragged or non-UTF-8 record of the bad file)
CALL bench.run_plpgsql('/tmp/ame_bench_clean.csv', 'plpgsql');

\echo
\echo 'import of a customers file, best of 3 (ms); xids = XIDs the run consumed'
DELETE FROM bench.timings WHERE round = 0;
SELECT variant, round(min(ms)) AS best_ms, round(max(ms)) AS worst_ms,
       max(xids) AS xids, max(ok) AS imported, max(errors) AS errors
FROM bench.timings GROUP BY variant ORDER BY min(ms);

WITH b AS (SELECT variant, min(ms) AS ms FROM bench.timings GROUP BY variant)
SELECT round(((SELECT ms FROM b WHERE variant = 'ame') / (SELECT ms FROM b WHERE variant = 'copy'))::numeric, 3)
         AS ame_vs_copy,
       '<= 1.5' AS target,
       round(((SELECT ms FROM b WHERE variant = 'ame_bad') / (SELECT ms FROM b WHERE variant = 'ame'))::numeric, 3)
         AS bad_1pct_vs_clean,
       '<= 1.2' AS target2,
       round(((SELECT ms FROM b WHERE variant = 'plpgsql') / (SELECT ms FROM b WHERE variant = 'ame'))::numeric, 3)
         AS plpgsql_vs_ame;

-- peak memory of a backend that imports the 1x file, and one that imports
-- a file memory_factor times larger (RSS includes shared buffers touched;
-- "private" subtracts the shared memory still mapped at the end)
COPY (SELECT :'header' UNION ALL
      SELECT bench.line(i, false) FROM generate_series(1, :rows * :memory_factor) i)
  TO '/tmp/ame_bench_big.csv';
CREATE TABLE bench.memory (file text, rows bigint, vmhwm_kb bigint, rssshmem_kb bigint);
\c
SET client_min_messages = warning;
TRUNCATE public.ame_customers CASCADE;
SELECT id IS NOT NULL AS imported FROM public.ame_import_csv_file('/tmp/ame_bench_clean.csv', 'customers');
INSERT INTO bench.memory
SELECT '1x', :rows,
       substring(s FROM 'VmHWM:\s+(\d+)')::bigint, substring(s FROM 'RssShmem:\s+(\d+)')::bigint
FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') s;
\c
SET client_min_messages = warning;
TRUNCATE public.ame_customers CASCADE;
SELECT id IS NOT NULL AS imported FROM public.ame_import_csv_file('/tmp/ame_bench_big.csv', 'customers');
INSERT INTO bench.memory
SELECT :'memory_factor' || 'x', :rows * :memory_factor,
       substring(s FROM 'VmHWM:\s+(\d+)')::bigint, substring(s FROM 'RssShmem:\s+(\d+)')::bigint
FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') s;
SELECT file, rows, round(vmhwm_kb / 1024.0, 1) AS peak_rss_mb,
       round((vmhwm_kb - rssshmem_kb) / 1024.0, 1) AS private_mb
FROM bench.memory ORDER BY rows;

TRUNCATE public.ame_customers CASCADE;
DELETE FROM public.import_batches;
DROP SCHEMA bench CASCADE;
\! rm -f /tmp/ame_bench_clean.csv /tmp/ame_bench_bad.csv /tmp/ame_bench_big.csv
