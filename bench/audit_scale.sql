-- bench/audit_scale.sql -- the audit log at scale, in one run
-- (bash bench/run.sh audit_scale; about 10-16 minutes on this project's
-- 2-core machine, most of it the fill; 20-25 GB of disk while it runs,
-- given back when the throwaway cluster goes):
--
-- 1. ame's log filled with 8M rows spread over the 24 months before this
--    one, as the trigger writes them (UPDATE images of device_inventory
--    rows, ~1.2 kB a row; time-ordered version 7 ids; seq increasing;
--    500k records, each with rows all over the 24 months), into the
--    monthly partitions when the log has them.
-- 2. the UPDATE of bench/audit (200k rows of a device_inventory copy, 3
--    columns), best of 3 after a warm-up round, in two databases of the
--    same cluster, their rounds interleaved so that both states see the
--    same load: "empty", the log emptied before every round, with no
--    trigger, ame's C trigger and the seed's PL/pgSQL trigger; "filled",
--    the 8M-row log NOT emptied between rounds (8.0M to 8.6M rows before
--    the UPDATE), with no trigger and ame's.
-- 3. topped up to 10M rows: ame_record_history() and ame_record_at() of
--    100 random records.
-- 4. ame_purge_audit_logs() removing the oldest month (~390k rows).
--
-- The cluster is bench/run.sh's: shared_buffers 1GB, so the log's indexes
-- (about 1 GB at 10M rows unpartitioned) do not all stay in PostgreSQL's
-- cache, and a CHECKPOINT before every UPDATE, so the first change of each
-- index page afterwards is a full-page write, as between checkpoints in
-- production.  Targets (issue 12): the trigger's cost per row at 8M within
-- 1.3x of the empty log's; UPDATE <= 2.5x no trigger in both states (goal
-- 2.0x); history and time travel < 5 ms per record at 10M rows; the purge
-- of a month < 1 s.
--
-- psql variables (for a quick try, e.g. -v fill=400000 -v total=500000
-- -v records=20000): rows, fill, total, records.
\set ON_ERROR_STOP on
\if :{?rows}
\else
\set rows 200000
\endif
\if :{?fill}
\else
\set fill 8000000
\endif
\if :{?total}
\else
\set total 10000000
\endif
\if :{?records}
\else
\set records 500000
\endif
SET client_min_messages = warning;
SELECT current_database() AS filled_db \gset
DROP DATABASE IF EXISTS ame_bench_empty;
CREATE DATABASE ame_bench_empty;

\c ame_bench_empty
\ir audit_scale_setup.sql
\c :filled_db
\ir audit_scale_setup.sql

\echo
SELECT version() AS server, current_setting('shared_buffers') AS shared_buffers,
       current_setting('max_wal_size') AS max_wal_size,
       CASE WHEN :'partitioned'::boolean THEN format('partitioned, %s partitions',
                (SELECT count(*) - 1 FROM pg_partition_tree('public.ame_audit_logs')))
            ELSE 'not partitioned' END AS ame_audit_logs;

CREATE TABLE bench.steps (step text, rows bigint, s numeric);

-- a record of the fill, by number
CREATE FUNCTION bench.record(rec bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT md5('record' || rec)::uuid $$;

-- what the fill's images are made of, made once: 'records' devices with
-- the part of their image that does not change; 200 technicians'
-- identities and contexts; for every hour of the 24 months, the 4 columns
-- an UPDATE changes, before and after (a row's images take its hour's:
-- building them row by row would double the fill's time)
CREATE PROCEDURE bench.make_parts(records int, t_from timestamptz, t_to timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
  CREATE TABLE bench.records AS
  SELECT rec, bench.record(rec) AS rid,
         jsonb_build_object(
           'id', bench.record(rec),
           'customer_id', md5('customer' || rec % 20000)::uuid,
           'visit_id', NULL,
           'device_name', format('%s-%s', (ARRAY['AHU', 'VAV', 'CHLR', 'BLR', 'JACE'])[1 + rec % 5], rec),
           'device_type', (ARRAY['controller', 'sensor', 'supervisor', 'actuator'])[1 + rec % 4],
           'vendor', (ARRAY['Tridium', 'Johnson Controls', 'Honeywell', 'Siemens'])[1 + rec % 4],
           'model', format('M-%s', 100 + rec % 50),
           'ip_address', format('10.%s.%s.%s', rec % 250, (rec / 250) % 250, 1 + rec % 200),
           'created_at', t_from - interval '1 month' + (rec % 1000) * interval '1 hour') AS img
  FROM generate_series(0, records - 1) rec;
  ALTER TABLE bench.records ADD PRIMARY KEY (rec);
  CREATE TABLE bench.contexts AS
  SELECT k, md5('technician' || k)::uuid AS user_id,
         jsonb_build_object('txid', 1000 + k, 'client_addr', '10.0.0.' || k,
                            'current_user', 'authenticated', 'session_user', 'authenticator',
                            'application_name', 'postgrest') AS ctx
  FROM generate_series(0, 199) k;
  ALTER TABLE bench.contexts ADD PRIMARY KEY (k);
  CREATE TABLE bench.hours AS
  SELECT h,
         jsonb_build_object('firmware_version', format('4.%s.%s', h % 10, h % 7),
                            'status', CASE h % 3 WHEN 0 THEN 'online' ELSE 'offline' END,
                            'last_seen', t - interval '5 minutes',
                            'updated_at', t - interval '1 day') AS o,
         jsonb_build_object('firmware_version', format('4.%s.%s.1', h % 10, h % 7),
                            'status', CASE h % 3 WHEN 0 THEN 'offline' ELSE 'online' END,
                            'last_seen', t,
                            'updated_at', t) AS n
  FROM (SELECT h, t_from + h * interval '1 hour' + (h * 7919 % 3600) * interval '1.000123 s' AS t
        FROM generate_series(0, (extract(epoch FROM t_to - t_from) / 3600)::int) h) x;
  ALTER TABLE bench.hours ADD PRIMARY KEY (h);
  ANALYZE bench.records, bench.contexts, bench.hours;
END $$;

-- rows lo .. hi-1 of the log as the trigger would have written them
-- (UPDATEs of 4 columns, one in 20 an INSERT), spread evenly over
-- [t_from, t_to), each of a record picked by a hash of its number, seq
-- from seq_base + 1, the id a version 7 uuid of its performed_at (48 bits
-- of Unix milliseconds, the version, the variant, the row's number); in
-- chunks of 1M rows, one transaction each
CREATE PROCEDURE bench.fill(lo bigint, hi bigint, t_from timestamptz, t_to timestamptz,
                            seq_base bigint, records int)
LANGUAGE plpgsql AS $$
DECLARE
  a bigint := lo;
  b bigint;
  ms_from float8 := extract(epoch FROM t_from) * 1000;
  ms_step float8 := extract(epoch FROM t_to - t_from) * 1000 / (hi - lo);
BEGIN
  WHILE a < hi LOOP
    b := least(a + 1000000, hi);
    INSERT INTO public.ame_audit_logs (id, table_schema, table_name, record_id, operation,
                                       old_values, new_values, changed_fields, user_id,
                                       performed_at, seq, context)
    SELECT overlay(lpad(to_hex(g.ms), 12, '0') || '7' || lpad(to_hex(g.i), 19, '0')
                   PLACING '8' FROM 17)::uuid,
           'public', 'device_inventory', r.rid,
           CASE WHEN g.ins THEN 'INSERT' ELSE 'UPDATE' END,
           CASE WHEN g.ins THEN NULL ELSE r.img || h.o END,
           r.img || h.n,
           CASE WHEN g.ins THEN '{}'::text[]
                ELSE '{firmware_version,status,last_seen,updated_at}' END,
           c.user_id, to_timestamp(g.ms / 1000.0), seq_base + 1 + g.i - lo, c.ctx
    FROM (SELECT i, ms, i % 20 = 0 AS ins,
                 abs(hashint8(i)::bigint) % records AS rec,
                 ((ms - ms_from) / 3600000)::int AS h
          FROM (SELECT i, floor(ms_from + (i - lo) * ms_step)::bigint AS ms
                FROM generate_series(a, b - 1) i) s) g
    JOIN bench.records r ON r.rec = g.rec
    JOIN bench.contexts c ON c.k = g.i % 200
    JOIN bench.hours h ON h.h = g.h;
    COMMIT;
    a := b;
  END LOOP;
  PERFORM setval('public.ame_audit_logs_seq_seq', seq_base + hi - lo);
END $$;

CREATE FUNCTION bench.log_size() RETURNS text LANGUAGE sql AS $$
  SELECT pg_size_pretty(sum(pg_total_relation_size(p.relid)))
  FROM (SELECT 'public.ame_audit_logs'::regclass AS relid
        UNION SELECT relid FROM pg_partition_tree('public.ame_audit_logs')) p
$$;

--
-- 1. 8M rows over 24 months
--
SELECT clock_timestamp() AS t0 \gset
CALL bench.make_parts(:records, :'since', :'until');
CALL bench.fill(0, :fill, :'since', :'until', 0, :records);
INSERT INTO bench.steps
SELECT 'fill', :fill, round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), 1);
-- as autovacuum would have done by now, so that the UPDATEs below do not
-- pay for the first visit of the fill's pages
SELECT clock_timestamp() AS t0 \gset
VACUUM (ANALYZE) public.ame_audit_logs;
INSERT INTO bench.steps
SELECT 'vacuum analyze', :fill, round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), 1);
SELECT round(avg(pg_column_size(l.*))) AS fill_row_bytes
FROM public.ame_audit_logs l TABLESAMPLE SYSTEM (0.1) \gset
-- the log's indexes at 8M rows, all partitions together
SELECT string_agg(format('%s %s %s', ix.amname, ix.col, pg_size_pretty(ix.bytes)), ', ')
       AS indexes_at_8m
FROM (SELECT am.amname, a.attname AS col, sum(pg_relation_size(i.indexrelid)) AS bytes
      FROM (SELECT 'public.ame_audit_logs'::regclass AS relid
            UNION SELECT relid FROM pg_partition_tree('public.ame_audit_logs')) p
      JOIN pg_index i ON i.indrelid = p.relid
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_am am ON am.oid = c.relam
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      GROUP BY am.amname, a.attname ORDER BY a.attname) ix \gset
CHECKPOINT;

--
-- 2. The UPDATE: round 0 warms up; the empty log's rounds in the other
--    database, interleaved
--
\c ame_bench_empty
CALL bench.round('empty', ARRAY['none', 'seed', 'c'], 0, true);
\c :filled_db
CALL bench.round('filled', ARRAY['none', 'c'], 0, false);
\c ame_bench_empty
CALL bench.round('empty', ARRAY['c', 'none', 'seed'], 1, true);
\c :filled_db
CALL bench.round('filled', ARRAY['c', 'none'], 1, false);
\c ame_bench_empty
CALL bench.round('empty', ARRAY['seed', 'c', 'none'], 2, true);
\c :filled_db
CALL bench.round('filled', ARRAY['none', 'c'], 2, false);
\c ame_bench_empty
CALL bench.round('empty', ARRAY['none', 'seed', 'c'], 3, true);
-- what the trigger wrote (the C variant came last), to compare with the fill
SELECT round(avg(pg_column_size(l.*))) AS trigger_row_bytes
FROM public.ame_audit_logs l \gset
SELECT string_agg(format('(%L, %L, %s, %s, %s)', state, variant, round, ms,
                         coalesce(log_rows::text, 'NULL')), ', ') AS empty_timings
FROM bench.timings \gset
\c :filled_db
CALL bench.round('filled', ARRAY['c', 'none'], 3, false);
SET client_min_messages = warning;
SET TimeZone = 'UTC';
INSERT INTO bench.timings VALUES :empty_timings;
DROP DATABASE ame_bench_empty;

--
-- 3. history and time travel at 10M rows
--
SELECT bench.log_rows() AS now_rows \gset
SELECT clock_timestamp() AS t0 \gset
CALL bench.fill(:fill, :total - :now_rows + :fill, :'since', :'until', :now_rows, :records);
INSERT INTO bench.steps
SELECT 'top-up', :total - :now_rows, round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), 1);
ANALYZE public.ame_audit_logs;
SELECT bench.log_rows() AS log_rows, bench.log_size() AS log_size \gset
CHECKPOINT;

CREATE TABLE bench.reads (fn text, k int, ms double precision, n bigint);
DO $$
DECLARE
  t0 timestamptz;
  rid uuid;
  at timestamptz;
  n bigint;
  since timestamptz := date_trunc('month', now()) - interval '24 months';
BEGIN
  PERFORM setseed(0.12);
  FOR k IN 1 .. 100 LOOP
    rid := bench.record(floor(random() * (SELECT count(*) FROM bench.records))::bigint);
    at := since + random() * (now() - since);
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM public.ame_record_history('public.device_inventory', rid);
    INSERT INTO bench.reads VALUES ('ame_record_history', k, extract(epoch FROM clock_timestamp() - t0) * 1000, n);
    t0 := clock_timestamp();
    SELECT count(j) INTO n FROM public.ame_record_at('public.device_inventory', rid, at) j;
    INSERT INTO bench.reads VALUES ('ame_record_at', k, extract(epoch FROM clock_timestamp() - t0) * 1000, n);
  END LOOP;
END $$;

--
-- 4. the purge of the oldest month
--
SELECT clock_timestamp() AS t0 \gset
SELECT public.ame_purge_audit_logs(now() - (:'since'::timestamptz + interval '1 month')) AS purged \gset
INSERT INTO bench.steps
SELECT 'purge of the oldest month', :purged, round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), 2);

--
-- The results
--
\echo
\echo 'audit_scale: the 200k-row UPDATE of 3 columns of a device_inventory copy, best of 3 (ms)'
\echo '(empty: the log emptied before every round; filled: 8M rows over 24 months, not emptied)'
SELECT state, variant, round(min(ms)) AS best_ms, round(max(ms)) AS worst_ms,
       format('%s .. %s', min(log_rows), max(log_rows)) AS log_rows_before
FROM bench.timings WHERE round > 0
GROUP BY state, variant ORDER BY state DESC, min(ms);

\echo
\echo 'rows: bytes per log row as the trigger writes it, and as filled'
SELECT :trigger_row_bytes AS trigger_row_bytes, :fill_row_bytes AS fill_row_bytes,
       :log_rows AS log_rows_at_10m, :'log_size' AS log_size_at_10m;
SELECT :'indexes_at_8m' AS log_indexes_at_8m;

SELECT step, rows, s AS seconds FROM bench.steps;

\echo
\echo 'ratios (one run): UPDATE vs no trigger, and the trigger''s own cost per row'
\echo '(us_per_row: best with trigger - best without; paired: the median over the'
\echo 'rounds of each round''s difference, less sensitive to a busy machine)'
CREATE TEMP VIEW best AS
SELECT state, variant, min(ms) AS ms FROM bench.timings WHERE round > 0 GROUP BY state, variant;
CREATE TEMP VIEW paired AS
SELECT t.state, percentile_cont(0.5) WITHIN GROUP (ORDER BY t.ms - n.ms) AS ms
FROM bench.timings t JOIN bench.timings n USING (state, round)
WHERE t.variant = 'c' AND n.variant = 'none' AND round > 0 GROUP BY t.state;
SELECT b.state,
       round((c.ms / b.ms)::numeric, 2) AS c_vs_no_trigger,
       round((s.ms / b.ms)::numeric, 2) AS seed_vs_no_trigger,
       round(((c.ms - b.ms) * 1000 / :rows)::numeric, 2) AS c_us_per_row,
       round((p.ms * 1000 / :rows)::numeric, 2) AS c_us_per_row_paired,
       round(((s.ms - b.ms) * 1000 / :rows)::numeric, 2) AS seed_us_per_row
FROM best b JOIN best c USING (state) JOIN paired p USING (state)
     LEFT JOIN best s ON s.state = b.state AND s.variant = 'seed'
WHERE b.variant = 'none' AND c.variant = 'c'
ORDER BY b.state DESC;
SELECT round(((f.ms - fn.ms) / (e.ms - en.ms))::numeric, 2) AS per_row_cost_filled_vs_empty,
       round((pf.ms / pe.ms)::numeric, 2) AS paired_filled_vs_empty
FROM best e, best en, best f, best fn, paired pe, paired pf
WHERE e.state = 'empty' AND e.variant = 'c' AND en.state = 'empty' AND en.variant = 'none'
  AND f.state = 'filled' AND f.variant = 'c' AND fn.state = 'filled' AND fn.variant = 'none'
  AND pe.state = 'empty' AND pf.state = 'filled';
\echo 'targets: per_row_cost_filled_vs_empty <= 1.3; c_vs_no_trigger <= 2.5 in both (goal 2.0)'

\echo
\echo 'history and time travel: 100 random records, log at 10M rows (ms per call)'
SELECT fn, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS median_ms,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p90_ms,
       round(max(ms)::numeric, 2) AS max_ms,
       (array_agg(k ORDER BY ms DESC))[1] AS slowest_call,
       count(*) FILTER (WHERE ms >= 5) AS calls_over_5ms, round(avg(n), 1) AS avg_rows
FROM bench.reads GROUP BY fn ORDER BY fn DESC;
\echo 'target: < 5 ms per record'

\echo
SELECT s AS purge_s, rows AS purged_rows FROM bench.steps WHERE step LIKE 'purge%';
\echo 'target: purge of the oldest month < 1 s'

CALL bench.empty_log();
DROP SCHEMA bench CASCADE;
