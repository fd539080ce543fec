-- bench/normalize.sql -- 300k-row INSERT ... SELECT into ame_customers three
-- ways in one run: ame's C trigger, the seed's PL/pgSQL trigger on an
-- identical table, and no trigger on an identical table (customer numbers
-- given).  Best of 3, runs interleaved; prints the ratios.
\set ON_ERROR_STOP on
\set rows 300000
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ame;
-- the target names "audit off": only the normalization trigger is measured
SELECT public.ame_disable_audit('public.ame_customers');
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- messy input, as a CRM export would have it; the no-trigger table gets
-- the tier already upper-cased (its CHECK would refuse "core") and a number
CREATE TABLE bench.src AS
SELECT 'Company ' || i AS company_name,
       (ARRAY['core', 'Assure', 'GUARDIAN'])[1 + i % 3] AS service_tier,
       (ARRAY['CORE', 'ASSURE', 'GUARDIAN'])[1 + i % 3] AS service_tier_upper,
       format('(%s) %s-%s', 200 + i % 700, 100 + i % 900, lpad((i % 10000)::text, 4, '0'))
         || CASE WHEN i % 5 = 0 THEN ' ext. ' || (i % 1000) ELSE '' END AS phone,
       format('  User.%s@Example.COM ', i) AS email,
       'AME-' || lpad(i::text, 6, '0') AS customer_number
FROM generate_series(1, :rows) i;
VACUUM ANALYZE bench.src;

-- identical tables (same columns, defaults, constraints, indexes)
CREATE TABLE bench.plain_customers (LIKE public.ame_customers INCLUDING ALL);
CREATE TABLE bench.seed_customers (LIKE public.ame_customers INCLUDING ALL);
CREATE SEQUENCE bench.seed_sequence;

-- the seed's design, verbatim but for the schema-qualified sequence
CREATE FUNCTION bench.seed_normalize_customer_data()
RETURNS TRIGGER AS $$
BEGIN
  NEW.phone = regexp_replace(NEW.phone, '[^0-9]', '', 'g');
  NEW.email = LOWER(TRIM(NEW.email));
  NEW.service_tier = UPPER(NEW.service_tier);
  IF NEW.customer_number IS NULL THEN
    NEW.customer_number = 'AME-' || LPAD(nextval('bench.seed_sequence')::text, 6, '0');
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER seed_normalize BEFORE INSERT OR UPDATE ON bench.seed_customers
  FOR EACH ROW EXECUTE FUNCTION bench.seed_normalize_customer_data();

CREATE TABLE bench.timings (variant text, round int, ms double precision);

CREATE PROCEDURE bench.run(rounds int)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  v text;
BEGIN
  -- round 0 warms caches and WAL segments and is not counted
  FOR r IN 0 .. rounds LOOP
    FOREACH v IN ARRAY ARRAY['none', 'seed', 'c'] LOOP
      TRUNCATE public.ame_customers, bench.plain_customers, bench.seed_customers CASCADE;
      PERFORM setval('public.customer_sequence', 1, false);
      PERFORM setval('bench.seed_sequence', 1, false);
      COMMIT;
      CHECKPOINT;
      t0 := clock_timestamp();
      IF v = 'none' THEN
        INSERT INTO bench.plain_customers (company_name, service_tier, phone, email, customer_number)
        SELECT company_name, service_tier_upper, phone, email, customer_number FROM bench.src;
      ELSIF v = 'c' THEN
        INSERT INTO public.ame_customers (company_name, service_tier, phone, email)
        SELECT company_name, service_tier, phone, email FROM bench.src;
      ELSE
        INSERT INTO bench.seed_customers (company_name, service_tier, phone, email)
        SELECT company_name, service_tier, phone, email FROM bench.src;
      END IF;
      INSERT INTO bench.timings
        VALUES (v, r, extract(epoch FROM clock_timestamp() - t0) * 1000);
      COMMIT;
    END LOOP;
  END LOOP;
END $$;

CALL bench.run(3);

\echo
\echo 'normalization: 300k-row INSERT ... SELECT, best of 3 (ms)'
DELETE FROM bench.timings WHERE round = 0;
SELECT variant, round(min(ms)) AS best_ms, round(max(ms)) AS worst_ms
FROM bench.timings GROUP BY variant ORDER BY min(ms);

-- the C path really normalized (the last run was the C one)
SELECT customer_number, phone, phone_extension, email, service_tier
FROM public.ame_customers ORDER BY customer_number LIMIT 3;

WITH b AS (SELECT variant, min(ms) AS ms FROM bench.timings GROUP BY variant)
SELECT round(((SELECT ms FROM b WHERE variant = 'c') / (SELECT ms FROM b WHERE variant = 'none'))::numeric, 3)
         AS c_vs_no_trigger,
       round(((SELECT ms FROM b WHERE variant = 'seed') / (SELECT ms FROM b WHERE variant = 'none'))::numeric, 3)
         AS seed_vs_no_trigger,
       round(((SELECT ms FROM b WHERE variant = 'seed') / (SELECT ms FROM b WHERE variant = 'c'))::numeric, 3)
         AS c_speedup_over_seed,
       '<= 1.20' AS target_c_vs_no_trigger;

TRUNCATE public.ame_customers CASCADE;
SELECT public.ame_enable_audit('public.ame_customers');
DROP SCHEMA bench CASCADE;
