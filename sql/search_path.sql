--
-- search_path: nothing depends on the caller's search_path, and objects of
-- the same name earlier on the path are not picked up
--
\set VERBOSITY terse

-- an empty search_path (only pg_catalog): everything still works
SET search_path = pg_catalog;
INSERT INTO public.ame_customers (company_name, service_tier, phone, email)
VALUES ('Path Co', 'guardian', '555 222 3333 ext 4', 'X@Y.Z')
RETURNING customer_number, phone, phone_extension, email, service_tier;
UPDATE public.ame_customers SET site_name = 'Annex' RETURNING updated_at = now() AS stamped;
SET request.jwt.claim.sub = '00000000-0000-0000-0000-00000000beef';
SELECT public.ame_current_user_id();
RESET request.jwt.claim.sub;
SELECT service_tier, customer_count FROM public.service_tier_metrics ORDER BY 1;
SELECT name, total_visits FROM public.technician_performance;

-- decoys: a schema first on the path with look-alike objects
CREATE SCHEMA decoy;
CREATE SEQUENCE decoy.customer_sequence START 500;
CREATE TABLE decoy.ame_customers (LIKE public.ame_customers);
-- (a decoy btrim() that blanks everything would fail company_name_not_blank;
-- constraints and column defaults are bound to their functions when
-- created, so these two only show that nothing ame runs while writing a
-- row looks either function up by name; the sequence and table decoys
-- above are the ones a search_path-dependent lookup would hit)
CREATE FUNCTION decoy.btrim(text) RETURNS text LANGUAGE sql AS $$ SELECT '' $$;
CREATE FUNCTION decoy.gen_random_uuid() RETURNS uuid LANGUAGE sql
  AS $$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;
SET search_path = decoy, public;
INSERT INTO public.ame_customers (company_name, service_tier)
VALUES (' Decoy Co ', 'core')
RETURNING customer_number, id <> '00000000-0000-0000-0000-000000000000' AS real_uuid;
SELECT last_value FROM decoy.customer_sequence;
SELECT count(*) AS decoy_rows FROM decoy.ame_customers;
RESET search_path;
DROP SCHEMA decoy CASCADE;

DELETE FROM ame_customers;
SELECT setval('customer_sequence', 1, false);
