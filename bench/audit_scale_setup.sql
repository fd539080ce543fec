-- bench/audit_scale_setup.sql -- one database of bench/audit_scale
-- (included with \ir into each of its two databases, not a benchmark of
-- its own): ame, the tables of bench/audit_setup.sql, a partitioned log's
-- partitions for the 24 months before this one, bench.timings and
-- bench.round(), one round of the UPDATE.  Sets :since, :until and
-- :partitioned.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
CREATE EXTENSION IF NOT EXISTS ame;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

\ir audit_setup.sql

-- the 24 months before this one; a partitioned log gets their partitions
-- (and those up to three months ahead) before anything is written
SELECT date_trunc('month', now()) - interval '24 months' AS since,
       date_trunc('month', now()) AS until,
       c.relkind = 'p' AS partitioned
FROM pg_class c WHERE c.oid = 'public.ame_audit_logs'::regclass \gset
\if :partitioned
SELECT public.ame_audit_add_partitions(:'since'::date) AS partitions_made \gset
\endif

CREATE TABLE bench.timings (state text, variant text, round int, ms double precision,
                            log_rows bigint);

-- rows in ame's log, from its sequence (nothing is removed from the log
-- while it is not emptied, and its seq runs without gaps from the fill on)
CREATE FUNCTION bench.log_rows() RETURNS bigint LANGUAGE sql AS
$$ SELECT last_value FROM public.ame_audit_logs_seq_seq $$;

-- round r of the UPDATE of bench/audit: each variant on a freshly loaded
-- table (loaded without its trigger: only the UPDATE writes to the log),
-- after a CHECKPOINT; with empty, ame's log (and the seed's) is emptied
-- first
CREATE PROCEDURE bench.round(state text, variants text[], r int, empty boolean)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  v text;
  tbl text;
  n bigint;
BEGIN
  FOREACH v IN ARRAY variants LOOP
    tbl := 'bench.dev_' || v;
    TRUNCATE bench.dev_none, bench.dev_c, bench.dev_seed;
    IF empty THEN
      CALL bench.empty_log();
      TRUNCATE bench.seed_audit_logs;
    END IF;
    COMMIT;
    PERFORM set_config('session_replication_role', 'replica', true);
    EXECUTE format('INSERT INTO %s (id, customer_id, device_name, device_type, vendor, model,
                      firmware_version, ip_address, status, last_seen)
                    SELECT * FROM bench.src', tbl);
    COMMIT;
    EXECUTE format('ANALYZE %s', tbl);
    n := CASE WHEN v = 'none' THEN NULL WHEN empty THEN 0 ELSE bench.log_rows() END;
    CHECKPOINT;

    t0 := clock_timestamp();
    EXECUTE format('UPDATE %s SET firmware_version = firmware_version || ''.1'',
                           status = ''offline'', last_seen = last_seen + interval ''1 hour''', tbl);
    INSERT INTO bench.timings
    VALUES (state, v, r, extract(epoch FROM clock_timestamp() - t0) * 1000, n);
    COMMIT;
  END LOOP;
END $$;
