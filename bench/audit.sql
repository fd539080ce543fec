-- bench/audit.sql -- the audit trigger on a 200k-row copy of
-- device_inventory: INSERT, an UPDATE changing 3 columns, DELETE, three ways
-- in one run: ame's C audit_trigger_function(), the seed's PL/pgSQL
-- audit_trigger_function (with only its ambiguity fixed) writing to a log
-- table as the seed defines it, and no trigger.  Best of 3, interleaved.
-- Neither log is emptied between rounds, as in real life: each round adds
-- 600k rows to ame's log (and to the seed's), so the last C round writes to
-- a log of about 2M rows.  bench/audit_scale measures the UPDATE with an
-- empty log and with 8M rows in it.
\set ON_ERROR_STOP on
\if :{?rows}
\else
\set rows 200000
\endif
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ame;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

\ir audit_setup.sql

CREATE TABLE bench.timings (variant text, op text, round int, ms double precision,
                            log_rows bigint);

CREATE PROCEDURE bench.run(rounds int)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  v text;
  tbl text;
  n bigint;
BEGIN
  -- round 0 warms up and is not counted
  FOR r IN 0 .. rounds LOOP
    FOREACH v IN ARRAY ARRAY['none', 'seed', 'c'] LOOP
      tbl := 'bench.dev_' || v;
      -- the tables start empty; the logs keep what earlier rounds wrote
      TRUNCATE bench.dev_none, bench.dev_c, bench.dev_seed;
      COMMIT;
      CHECKPOINT;

      t0 := clock_timestamp();
      EXECUTE format('INSERT INTO %s (id, customer_id, device_name, device_type, vendor, model,
                        firmware_version, ip_address, status, last_seen)
                      SELECT * FROM bench.src', tbl);
      INSERT INTO bench.timings VALUES (v, 'insert', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
      COMMIT;
      EXECUTE format('ANALYZE %s', tbl);
      CHECKPOINT;

      -- how many rows the log held before this UPDATE
      n := CASE v WHEN 'c' THEN (SELECT count(*) FROM public.ame_audit_logs)
                  WHEN 'seed' THEN (SELECT count(*) FROM bench.seed_audit_logs) END;
      t0 := clock_timestamp();
      EXECUTE format('UPDATE %s SET firmware_version = firmware_version || ''.1'',
                             status = ''offline'', last_seen = last_seen + interval ''1 hour''', tbl);
      INSERT INTO bench.timings VALUES (v, 'update', r, extract(epoch FROM clock_timestamp() - t0) * 1000, n);
      COMMIT;
      CHECKPOINT;

      t0 := clock_timestamp();
      EXECUTE format('DELETE FROM %s', tbl);
      INSERT INTO bench.timings VALUES (v, 'delete', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
      COMMIT;
    END LOOP;
  END LOOP;
END $$;

CALL bench.run(3);
DELETE FROM bench.timings WHERE round = 0;

\echo
\echo 'audit: 200k rows of a device_inventory copy, best of 3 (ms)'
\echo 'the logs are NOT emptied between rounds: log_rows_before_update is what the'
\echo 'trigger''s log held before each counted UPDATE (first and last round)'
SELECT op, variant, round(min(ms)) AS best_ms, round(max(ms)) AS worst_ms,
       CASE WHEN op = 'update' AND variant <> 'none'
            THEN format('%s .. %s', min(log_rows), max(log_rows)) END AS log_rows_before_update
FROM bench.timings GROUP BY op, variant
ORDER BY array_position(ARRAY['insert', 'update', 'delete'], op), min(ms);

-- the C path really logged every change: 200k rows of each operation per
-- round, warm-up included
SELECT operation, count(*), count(*) = 4 * :rows AS all_logged,
       min(cardinality(changed_fields)) AS min_changed
FROM public.ame_audit_logs GROUP BY operation ORDER BY operation;

WITH b AS (SELECT op, variant, min(ms) AS ms FROM bench.timings GROUP BY op, variant)
SELECT op,
       round((c.ms / n.ms)::numeric, 2) AS c_vs_no_trigger,
       round((s.ms / n.ms)::numeric, 2) AS seed_vs_no_trigger,
       round((s.ms / c.ms)::numeric, 2) AS c_speedup_over_seed
FROM b n JOIN b c USING (op) JOIN b s USING (op)
WHERE n.variant = 'none' AND c.variant = 'c' AND s.variant = 'seed'
ORDER BY array_position(ARRAY['insert', 'update', 'delete'], op);
\echo 'targets: update c_vs_no_trigger <= 2.5, c_speedup_over_seed >= 3'

CALL bench.empty_log();
DROP SCHEMA bench CASCADE;
