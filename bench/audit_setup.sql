-- bench/audit_setup.sql -- what bench/audit and bench/audit_scale share
-- (included with \ir, not a benchmark of its own): three identical copies
-- of device_inventory, bench.dev_none (no trigger), bench.dev_c (ame's C
-- audit_trigger_function()) and bench.dev_seed (the seed's PL/pgSQL
-- audit_trigger_function, with only its ambiguity fixed, writing to a log
-- table as the seed defines it); bench.src, :rows rows to load into them;
-- bench.empty_log(), which empties ame's append-only log.  Expects schema
-- bench to exist and :rows to be set.

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

-- ame's log is append-only; the benchmark (a superuser) empties it by
-- switching off the triggers of the log and of every partition it may
-- have, then putting each back exactly as it was
CREATE PROCEDURE bench.empty_log()
LANGUAGE plpgsql AS $$
DECLARE
  t record;
  saved jsonb := '[]';
BEGIN
  FOR t IN SELECT tg.tgrelid::regclass AS rel, tg.tgname, tg.tgenabled
           FROM pg_trigger tg
           JOIN (SELECT 'public.ame_audit_logs'::regclass AS relid
                 UNION SELECT relid FROM pg_partition_tree('public.ame_audit_logs')) p
             ON p.relid = tg.tgrelid
           WHERE NOT tg.tgisinternal AND tg.tgenabled <> 'D' LOOP
    EXECUTE format('ALTER TABLE ONLY %s DISABLE TRIGGER %I', t.rel, t.tgname);
    saved := saved || jsonb_build_object('rel', t.rel::text, 'name', t.tgname,
                                         'enabled', t.tgenabled);
  END LOOP;
  TRUNCATE public.ame_audit_logs;
  FOR t IN SELECT * FROM jsonb_to_recordset(saved) AS s(rel text, name text, enabled text) LOOP
    EXECUTE format('ALTER TABLE ONLY %s ENABLE %s TRIGGER %I', t.rel,
                   CASE t.enabled WHEN 'A' THEN 'ALWAYS' WHEN 'R' THEN 'REPLICA' ELSE '' END,
                   t.name);
  END LOOP;
END $$;
