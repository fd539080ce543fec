-- bench/audit.sql -- the audit trigger on a 200k-row copy of
-- device_inventory: INSERT, an UPDATE changing 3 columns, DELETE, three ways
-- in one run: ame's C audit_trigger_function(), the seed's PL/pgSQL
-- audit_trigger_function (with only its ambiguity fixed) writing to a log
-- table as the seed defines it, and no trigger.  Best of 3, interleaved.
\set ON_ERROR_STOP on
\set rows 200000
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ame;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- identical tables: columns, defaults, constraints, indexes; no FKs, and
-- only the trigger under test
CREATE TABLE bench.dev_none (LIKE public.device_inventory INCLUDING ALL);
CREATE TABLE bench.dev_c (LIKE public.device_inventory INCLUDING ALL);
CREATE TABLE bench.dev_seed (LIKE public.device_inventory INCLUDING ALL);
SELECT public.ame_enable_audit('bench.dev_c');

-- the seed's log table and trigger; auth.uid() as Supabase defines it
CREATE TABLE bench.seed_audit_logs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  table_name TEXT NOT NULL,
  record_id UUID NOT NULL,
  operation TEXT NOT NULL,
  old_values JSONB,
  new_values JSONB,
  changed_fields TEXT[],
  user_id UUID,
  performed_at TIMESTAMPTZ DEFAULT NOW(),
  context JSONB
);
CREATE FUNCTION bench.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid
$$;
CREATE FUNCTION bench.seed_audit_trigger_function()
RETURNS TRIGGER AS $$
DECLARE
  old_row JSONB := NULL;
  new_row JSONB := NULL;
  changed_fields TEXT[] := '{}';
BEGIN
  IF TG_OP = 'DELETE' THEN
    old_row = to_jsonb(OLD);
  ELSIF TG_OP = 'UPDATE' THEN
    old_row = to_jsonb(OLD);
    new_row = to_jsonb(NEW);
    -- the seed's query, with its ambiguous "key" qualified
    SELECT array_agg(old_kv.key) INTO changed_fields
    FROM jsonb_each(old_row) old_kv
    JOIN jsonb_each(new_row) new_kv ON old_kv.key = new_kv.key
    WHERE old_kv.value != new_kv.value;
  ELSIF TG_OP = 'INSERT' THEN
    new_row = to_jsonb(NEW);
  END IF;

  INSERT INTO bench.seed_audit_logs (
    table_name, record_id, operation,
    old_values, new_values, changed_fields,
    user_id
  ) VALUES (
    TG_TABLE_NAME,
    COALESCE(NEW.id, OLD.id),
    TG_OP,
    old_row, new_row, changed_fields,
    bench.uid()
  );

  RETURN COALESCE(NEW, OLD);
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER seed_audit AFTER INSERT OR UPDATE OR DELETE ON bench.dev_seed
  FOR EACH ROW EXECUTE FUNCTION bench.seed_audit_trigger_function();

CREATE TABLE bench.src AS
SELECT gen_random_uuid() AS id,
       gen_random_uuid() AS customer_id,
       format('%s-%s', (ARRAY['AHU', 'VAV', 'CHLR', 'BLR', 'JACE'])[1 + i % 5], i) AS device_name,
       (ARRAY['controller', 'sensor', 'supervisor', 'actuator'])[1 + i % 4] AS device_type,
       (ARRAY['Tridium', 'Johnson Controls', 'Honeywell', 'Siemens'])[1 + i % 4] AS vendor,
       format('M-%s', 100 + i % 50) AS model,
       format('4.%s.%s', i % 10, i % 7) AS firmware_version,
       format('10.%s.%s.%s', i % 250, (i / 250) % 250, 1 + i % 200)::inet AS ip_address,
       'online' AS status,
       timestamptz '2026-11-01 00:00+00' + i * interval '1 second' AS last_seen
FROM generate_series(1, :rows) i;
VACUUM ANALYZE bench.src;

CREATE TABLE bench.timings (variant text, op text, round int, ms double precision);

CREATE PROCEDURE bench.run(rounds int)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  v text;
  tbl text;
BEGIN
  -- round 0 warms up and is not counted
  FOR r IN 0 .. rounds LOOP
    FOREACH v IN ARRAY ARRAY['none', 'seed', 'c'] LOOP
      tbl := 'bench.dev_' || v;
      -- the log is append-only; the benchmark (a superuser) empties it
      ALTER TABLE public.ame_audit_logs DISABLE TRIGGER ame_audit_logs_no_truncate;
      TRUNCATE public.ame_audit_logs, bench.seed_audit_logs, bench.dev_none, bench.dev_c, bench.dev_seed;
      ALTER TABLE public.ame_audit_logs ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate;
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

      t0 := clock_timestamp();
      EXECUTE format('UPDATE %s SET firmware_version = firmware_version || ''.1'',
                             status = ''offline'', last_seen = last_seen + interval ''1 hour''', tbl);
      INSERT INTO bench.timings VALUES (v, 'update', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
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
SELECT op, variant, round(min(ms)) AS best_ms, round(max(ms)) AS worst_ms
FROM bench.timings GROUP BY op, variant
ORDER BY array_position(ARRAY['insert', 'update', 'delete'], op), min(ms);

-- the C path really logged every change (the last round was the C one)
SELECT operation, count(*), min(cardinality(changed_fields)) AS min_changed
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

ALTER TABLE public.ame_audit_logs DISABLE TRIGGER ame_audit_logs_no_truncate;
TRUNCATE public.ame_audit_logs;
ALTER TABLE public.ame_audit_logs ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate;
DROP SCHEMA bench CASCADE;
