--
-- normalize: normalize_customer_data() on ame_customers (SPEC §4)
--
-- This file also proves that nothing depends on the caller's search_path:
-- pgTAP lives in its own schema "tap", the search_path is only "tap" (and
-- the implicit pg_catalog), every object of ame is qualified with public.,
-- and a decoy tap.customer_sequence sits first on the path.
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE SCHEMA tap;
CREATE EXTENSION IF NOT EXISTS pgtap SCHEMA tap;
CREATE EXTENSION ame;
SET LOCAL search_path = tap;
CREATE SEQUENCE tap.customer_sequence START 500;

SELECT plan(94);

SELECT is(current_setting('search_path'), 'tap', 'public is not on the search_path');

--
-- phone: digits only, a trailing extension moves to phone_extension
--
INSERT INTO public.ame_customers (company_name, service_tier, phone) VALUES
  ('P01', 'CORE', '(555) 123-4567'),
  ('P02', 'CORE', '+1 555.123.4567'),
  ('P03', 'CORE', '555-123-4567 x12'),
  ('P04', 'CORE', '555-123-4567x12'),
  ('P05', 'CORE', '555-123-4567 X 12'),
  ('P06', 'CORE', '555-123-4567 ext 345'),
  ('P07', 'CORE', '555-123-4567 Ext. 345'),
  ('P08', 'CORE', '555-123-4567 EXT.345'),
  ('P09', 'CORE', '555-123-4567 # 9'),
  ('P10', 'CORE', '555-123-4567#9'),
  ('P11', 'CORE', '  555 1234  '),
  ('P12', 'CORE', '+44 20 7946 0958'),
  ('P13', 'CORE', '5551234 x 1234567890'),
  ('P14', 'CORE', '   '),
  ('P15', 'CORE', ''),
  ('P16', 'CORE', NULL),
  ('P17', 'CORE', '555 box 5'),
  ('P18', 'CORE', '555-1234 next 5'),
  ('P19', 'CORE', '555-1234 x'),
  ('P20', 'CORE', E'\t555-1234\n'),
  ('P21', 'CORE', '555-1234 eXt   77'),
  ('P22', 'CORE', '555-1234ext.8');

SELECT results_eq(
  $$SELECT company_name, phone, phone_extension FROM public.ame_customers
    WHERE company_name IN ('P01', 'P02', 'P11', 'P12', 'P20') ORDER BY company_name$$,
  $$VALUES ('P01', '5551234567', NULL::text), ('P02', '15551234567', NULL),
           ('P11', '5551234', NULL), ('P12', '442079460958', NULL),
           ('P20', '5551234', NULL)$$,
  'phone: only the digits are kept, surrounding white space is dropped');
SELECT results_eq(
  $$SELECT company_name, phone, phone_extension FROM public.ame_customers
    WHERE company_name IN ('P03', 'P04', 'P05', 'P13') ORDER BY company_name$$,
  $$VALUES ('P03', '5551234567', '12'), ('P04', '5551234567', '12'),
           ('P05', '5551234567', '12'), ('P13', '5551234', '1234567890')$$,
  'phone: an "x" extension (any case, with or without spaces, up to 10 digits) is split off');
SELECT results_eq(
  $$SELECT company_name, phone, phone_extension FROM public.ame_customers
    WHERE company_name IN ('P06', 'P07', 'P08', 'P21', 'P22') ORDER BY company_name$$,
  $$VALUES ('P06', '5551234567', '345'), ('P07', '5551234567', '345'),
           ('P08', '5551234567', '345'), ('P21', '5551234', '77'),
           ('P22', '5551234', '8')$$,
  'phone: an "ext" or "ext." extension (any case, any spacing) is split off');
SELECT results_eq(
  $$SELECT company_name, phone, phone_extension FROM public.ame_customers
    WHERE company_name IN ('P09', 'P10') ORDER BY company_name$$,
  $$VALUES ('P09', '5551234567', '9'), ('P10', '5551234567', '9')$$,
  'phone: a "#" extension is split off');
SELECT results_eq(
  $$SELECT company_name, phone, phone_extension FROM public.ame_customers
    WHERE company_name IN ('P14', 'P15', 'P16') ORDER BY company_name$$,
  $$VALUES ('P14', NULL::text, NULL::text), ('P15', NULL, NULL), ('P16', NULL, NULL)$$,
  'phone: blank, empty and NULL are NULL');
SELECT results_eq(
  $$SELECT company_name, phone, phone_extension FROM public.ame_customers
    WHERE company_name IN ('P17', 'P18', 'P19') ORDER BY company_name$$,
  $$VALUES ('P17', '5555', NULL::text), ('P18', '55512345', NULL),
           ('P19', '5551234', NULL)$$,
  'phone: a marker glued to a word, or without digits after it, is not an extension');

-- phone_extension given on its own is normalized too
INSERT INTO public.ame_customers (company_name, service_tier, phone, phone_extension) VALUES
  ('E01', 'CORE', '555-1234', ' 42 '),
  ('E02', 'CORE', '555-1234', 'x 42'),
  ('E03', 'CORE', '555-1234', '  '),
  ('E04', 'CORE', '555-1234 x7', '42');
SELECT results_eq(
  $$SELECT company_name, phone, phone_extension FROM public.ame_customers
    WHERE company_name LIKE 'E%' ORDER BY company_name$$,
  $$VALUES ('E01', '5551234', '42'), ('E02', '5551234', '42'),
           ('E03', '5551234', NULL), ('E04', '5551234', '7')$$,
  'phone_extension: digits only, blank is NULL, an extension in the phone wins');

--
-- email: trimmed, lower-cased, empty is NULL
--
INSERT INTO public.ame_customers (company_name, service_tier, email) VALUES
  ('M01', 'CORE', '  John.Doe@Example.COM  '),
  ('M02', 'CORE', 'ops+alerts@plant.example.org'),
  ('M03', 'CORE', ''),
  ('M04', 'CORE', '   '),
  ('M05', 'CORE', NULL),
  ('M06', 'CORE', E'\tÉLODIE@EXAMPLE.FR\n'),
  ('M07', 'CORE', 'root@localhost');
SELECT results_eq(
  $$SELECT company_name, email FROM public.ame_customers
    WHERE company_name LIKE 'M%' ORDER BY company_name$$,
  $$VALUES ('M01', 'john.doe@example.com'), ('M02', 'ops+alerts@plant.example.org'),
           ('M03', NULL), ('M04', NULL), ('M05', NULL),
           ('M06', 'élodie@example.fr'), ('M07', 'root@localhost')$$,
  'email: trimmed and lower-cased (also non-ASCII), empty or blank is NULL');

--
-- service_tier: trimmed and upper-cased
--
INSERT INTO public.ame_customers (company_name, service_tier) VALUES
  ('T01', 'core'), ('T02', ' Assure '), ('T03', E'guardian\n'), ('T04', 'GUARDIAN'),
  ('T05', 'gUaRdIaN');
SELECT results_eq(
  $$SELECT company_name, service_tier FROM public.ame_customers
    WHERE company_name LIKE 'T%' ORDER BY company_name$$,
  $$VALUES ('T01', 'CORE'), ('T02', 'ASSURE'), ('T03', 'GUARDIAN'), ('T04', 'GUARDIAN'),
           ('T05', 'GUARDIAN')$$,
  'service_tier: trimmed and upper-cased');

--
-- customer_number: AME- and the sequence, at least six digits, skipping
-- numbers already taken; the extension's own sequence, not the decoy
--
SELECT results_eq(
  $$SELECT company_name, customer_number COLLATE "default" FROM public.ame_customers
    WHERE company_name IN ('P01', 'P02', 'P22') ORDER BY company_name$$,
  $$VALUES ('P01', 'AME-000001'), ('P02', 'AME-000002'), ('P22', 'AME-000022')$$,
  'customer_number: generated in row order from AME-000001, zero-padded to six digits');
SELECT results_eq(
  $$SELECT last_value, is_called FROM tap.customer_sequence$$,
  $$VALUES (500::bigint, false)$$,
  'the decoy customer_sequence first on the search_path is not touched');

DO $$ BEGIN PERFORM pg_catalog.setval('public.customer_sequence', 100); END $$;
INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
VALUES ('N01', 'CORE', '  LEGACY-7  '), ('N02', 'CORE', ''), ('N03', 'CORE', NULL);
SELECT results_eq(
  $$SELECT company_name, customer_number COLLATE "default" FROM public.ame_customers
    WHERE company_name LIKE 'N%' ORDER BY company_name$$,
  $$VALUES ('N01', 'LEGACY-7'), ('N02', 'AME-000101'), ('N03', 'AME-000102')$$,
  'customer_number: a given number is kept (trimmed); empty or NULL gets the next one');

-- the next two numbers are taken explicitly (as an import would)
INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
VALUES ('N04', 'CORE', 'AME-000103'), ('N05', 'CORE', 'AME-000104');
INSERT INTO public.ame_customers (company_name, service_tier) VALUES ('N06', 'CORE');
SELECT is((SELECT customer_number FROM public.ame_customers WHERE company_name = 'N06'),
          'AME-000105', 'customer_number: numbers already taken are skipped');
SELECT is((SELECT last_value FROM public.customer_sequence), 105::bigint,
          'customer_sequence moved past the skipped numbers');

-- a taken number further ahead than the next generated ones is skipped when
-- the sequence gets there, also within one long statement
DO $$ BEGIN PERFORM pg_catalog.setval('public.customer_sequence', 300); END $$;
INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
VALUES ('Far ahead', 'CORE', 'AME-001330');
INSERT INTO public.ame_customers (company_name, service_tier)
SELECT 'Bulk ' || i, 'CORE' FROM pg_catalog.generate_series(1, 1100) AS i;
SELECT results_eq(
  $$SELECT pg_catalog.count(*), pg_catalog.min(customer_number COLLATE "default"),
           pg_catalog.max(customer_number COLLATE "default"),
           pg_catalog.count(*) FILTER (WHERE customer_number = 'AME-001330')
    FROM public.ame_customers WHERE company_name LIKE 'Bulk %'$$,
  $$VALUES (1100::bigint, 'AME-000301', 'AME-001401', 0::bigint)$$,
  'a 1100-row INSERT gets AME-000301..AME-001401 and skips the number taken far ahead');

-- a number taken by an earlier row of the same statement is skipped too
-- (as when an import mixes given and generated numbers)
DO $$ BEGIN PERFORM pg_catalog.setval('public.customer_sequence', 200); END $$;
SELECT lives_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
    VALUES ('S1', 'CORE', NULL), ('S2', 'CORE', 'AME-000202'), ('S3', 'CORE', NULL)$$,
  'a statement that takes the next number explicitly between generated ones succeeds');
SELECT results_eq(
  $$SELECT company_name, customer_number COLLATE "default" FROM public.ame_customers
    WHERE company_name IN ('S1', 'S2', 'S3') ORDER BY company_name$$,
  $$VALUES ('S1', 'AME-000201'), ('S2', 'AME-000202'), ('S3', 'AME-000203')$$,
  'customer_number: a number taken earlier in the same statement is skipped');

-- past 999999 the number grows a digit instead of wrapping
DO $$ BEGIN PERFORM pg_catalog.setval('public.customer_sequence', 999998); END $$;
INSERT INTO public.ame_customers (company_name, service_tier)
VALUES ('N07', 'CORE'), ('N08', 'CORE');
INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
VALUES ('N09', 'CORE', 'AME-1000001');
INSERT INTO public.ame_customers (company_name, service_tier) VALUES ('N10', 'CORE');
SELECT results_eq(
  $$SELECT company_name, customer_number COLLATE "default" FROM public.ame_customers
    WHERE company_name IN ('N07', 'N08', 'N09', 'N10') ORDER BY company_name$$,
  $$VALUES ('N07', 'AME-999999'), ('N08', 'AME-1000000'), ('N09', 'AME-1000001'),
           ('N10', 'AME-1000002')$$,
  'customer_number: seven digits past AME-999999, and a taken seven-digit number is skipped');
SELECT is((SELECT count(DISTINCT customer_number) FROM public.ame_customers),
          (SELECT count(*) FROM public.ame_customers),
          'customer numbers are unique');
SELECT is((SELECT count(*) FROM public.ame_customers WHERE customer_number IS NULL),
          0::bigint, 'every customer has a number');

-- UPDATE: NULL or blank keeps the old number; a new one is trimmed
UPDATE public.ame_customers SET customer_number = NULL WHERE company_name = 'N06';
SELECT is((SELECT customer_number FROM public.ame_customers WHERE company_name = 'N06'),
          'AME-000105', 'UPDATE customer_number = NULL keeps the number');
UPDATE public.ame_customers SET customer_number = '  ' WHERE company_name = 'N06';
SELECT is((SELECT customer_number FROM public.ame_customers WHERE company_name = 'N06'),
          'AME-000105', 'UPDATE customer_number = blank keeps the number');
UPDATE public.ame_customers SET customer_number = ' AME-777 ' WHERE company_name = 'N06';
SELECT is((SELECT customer_number FROM public.ame_customers WHERE company_name = 'N06'),
          'AME-777', 'UPDATE customer_number to a new value stores it trimmed');
SELECT is((SELECT last_value FROM public.customer_sequence), 1000002::bigint,
          'UPDATEs draw no customer numbers');

--
-- UPDATE normalizes what changed, and keeps what it does not touch
--
UPDATE public.ame_customers
SET phone = '(555) 987-6543 ext 21', email = ' New@Example.com', service_tier = 'assure'
WHERE company_name = 'P01';
SELECT results_eq(
  $$SELECT phone, phone_extension, email, service_tier FROM public.ame_customers
    WHERE company_name = 'P01'$$,
  $$VALUES ('5559876543', '21', 'new@example.com', 'ASSURE')$$,
  'UPDATE normalizes phone, extension, email and tier');
UPDATE public.ame_customers SET site_name = 'North wing' WHERE company_name = 'P01';
SELECT results_eq(
  $$SELECT phone, phone_extension, site_name FROM public.ame_customers
    WHERE company_name = 'P01'$$,
  $$VALUES ('5559876543', '21', 'North wing')$$,
  'an UPDATE that does not touch phone keeps phone_extension');
UPDATE public.ame_customers SET phone = '555 000 1111' WHERE company_name = 'P01';
SELECT results_eq(
  $$SELECT phone, phone_extension FROM public.ame_customers WHERE company_name = 'P01'$$,
  $$VALUES ('5550001111', '21')$$,
  'a new phone without an extension leaves phone_extension alone');
UPDATE public.ame_customers SET phone = '555 000 2222 #5' WHERE company_name = 'P01';
SELECT results_eq(
  $$SELECT phone, phone_extension FROM public.ame_customers WHERE company_name = 'P01'$$,
  $$VALUES ('5550002222', '5')$$,
  'a new phone with an extension replaces phone_extension');

--
-- idempotent: a normalized row normalizes to itself
--
CREATE TEMP TABLE normalized AS SELECT * FROM public.ame_customers;
UPDATE public.ame_customers
SET phone = phone || '', email = email || '', service_tier = service_tier || '',
    phone_extension = phone_extension || '', customer_number = customer_number || '';
SELECT bag_eq('SELECT * FROM public.ame_customers', 'SELECT * FROM pg_temp.normalized',
              're-normalizing every normalized row changes nothing');
UPDATE public.ame_customers c
SET phone = n.phone, phone_extension = n.phone_extension, email = n.email,
    service_tier = n.service_tier, customer_number = n.customer_number
FROM pg_temp.normalized n WHERE n.id = c.id;
SELECT bag_eq('SELECT * FROM public.ame_customers', 'SELECT * FROM pg_temp.normalized',
              'feeding every normalized value back in explicitly changes nothing');

--
-- bad input: the exact error and SQLSTATE, then the table re-read
--
CREATE TEMP TABLE reference AS SELECT * FROM public.ame_customers;

CREATE FUNCTION pg_temp.unchanged(what text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
  RETURN NEXT tap.is((SELECT pg_catalog.count(*) FROM public.ame_customers),
                     (SELECT pg_catalog.count(*) FROM pg_temp.reference),
                     what || ': row count unchanged');
  RETURN NEXT tap.bag_eq('SELECT * FROM public.ame_customers',
                         'SELECT * FROM pg_temp.reference',
                         what || ': contents unchanged');
END $$;

CREATE FUNCTION pg_temp.error_hint(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  hint text;
BEGIN
  EXECUTE sql;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
  RETURN hint;
END $$;

SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier) VALUES ('Bad', 'platinum')$$,
  '22023', 'invalid service tier "platinum"', 'a tier outside CORE/ASSURE/GUARDIAN is 22023');
SELECT pg_temp.unchanged('bad tier');
SELECT matches(
  pg_temp.error_hint($$INSERT INTO public.ame_customers (company_name, service_tier)
                       VALUES ('Bad', 'platinum')$$),
  'CORE.*ASSURE.*GUARDIAN', 'the hint of a bad tier names the valid tiers');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier) VALUES ('Bad', '  ')$$,
  '22023', 'invalid service tier "  "', 'a blank tier is 22023');
SELECT pg_temp.unchanged('blank tier');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, email)
    VALUES ('Bad', 'CORE', 'no-at-sign')$$,
  '22023', 'invalid email address "no-at-sign"', 'an email without @ is 22023');
SELECT pg_temp.unchanged('email without @');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, email)
    VALUES ('Bad', 'CORE', 'john doe@example.com')$$,
  '22023', 'invalid email address "john doe@example.com"', 'an email with a space is 22023');
SELECT pg_temp.unchanged('email with a space');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, email)
    VALUES ('Bad', 'CORE', 'two@@example.com')$$,
  '22023', 'invalid email address "two@@example.com"', 'an email with two @ is 22023');
SELECT pg_temp.unchanged('email with two @');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, email)
    VALUES ('Bad', 'CORE', 'john@')$$,
  '22023', 'invalid email address "john@"', 'an email without a domain is 22023');
SELECT pg_temp.unchanged('email without domain');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, phone)
    VALUES ('Bad', 'CORE', 'call the office')$$,
  '22P02', 'invalid phone number "call the office"', 'a phone without a digit is 22P02');
SELECT pg_temp.unchanged('phone without a digit');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, phone)
    VALUES ('Bad', 'CORE', 'x 42')$$,
  '22P02', 'invalid phone number "x 42"', 'a phone that is only an extension is 22P02');
SELECT pg_temp.unchanged('phone that is only an extension');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, phone)
    VALUES ('Bad', 'CORE', '555-1234 ext 12345678901')$$,
  '22023', 'phone extension "12345678901" is too long', 'an extension of 11 digits is 22023');
SELECT pg_temp.unchanged('11-digit extension in phone');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, phone_extension)
    VALUES ('Bad', 'CORE', '123456789012')$$,
  '22023', 'phone extension "123456789012" is too long',
  'a phone_extension of 12 digits is 22023');
SELECT pg_temp.unchanged('12-digit phone_extension');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, phone_extension)
    VALUES ('Bad', 'CORE', 'front desk')$$,
  '22P02', 'invalid phone extension "front desk"', 'a phone_extension without a digit is 22P02');
SELECT pg_temp.unchanged('phone_extension without a digit');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier) VALUES (NULL, 'CORE')$$,
  '23502', 'null value in column "company_name" of relation "ame_customers" violates not-null constraint',
  'a NULL company_name is 23502');
SELECT pg_temp.unchanged('NULL company_name');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier) VALUES ('Bad', NULL)$$,
  '23502', 'null value in column "service_tier" of relation "ame_customers" violates not-null constraint',
  'a NULL service_tier is 23502');
SELECT pg_temp.unchanged('NULL service_tier');
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier)
    VALUES ('Good', 'CORE'), ('Bad', 'GOLD')$$,
  '22023', 'invalid service tier "GOLD"', 'one bad row fails the whole statement');
SELECT pg_temp.unchanged('statement with one bad row');
-- the same on UPDATE
SELECT throws_ok(
  $$UPDATE public.ame_customers SET service_tier = 'gold' WHERE company_name = 'T01'$$,
  '22023', 'invalid service tier "gold"', 'UPDATE to a bad tier is 22023');
SELECT pg_temp.unchanged('UPDATE to a bad tier');
SELECT throws_ok(
  $$UPDATE public.ame_customers SET email = 'nobody' WHERE company_name = 'M01'$$,
  '22023', 'invalid email address "nobody"', 'UPDATE to a bad email is 22023');
SELECT pg_temp.unchanged('UPDATE to a bad email');
SELECT throws_ok(
  $$UPDATE public.ame_customers SET phone = '---' WHERE company_name = 'P02'$$,
  '22P02', 'invalid phone number "---"', 'UPDATE to a phone without a digit is 22P02');
SELECT pg_temp.unchanged('UPDATE to a bad phone');
SELECT throws_ok(
  $$UPDATE public.ame_customers SET company_name = NULL WHERE company_name = 'P02'$$,
  '23502', 'null value in column "company_name" of relation "ame_customers" violates not-null constraint',
  'UPDATE company_name to NULL is 23502');
SELECT pg_temp.unchanged('UPDATE company_name to NULL');

--
-- a row stored before the rules (trigger bypassed) does not block
-- updates of other columns; touching the bad column is checked
--
ALTER TABLE public.ame_customers DISABLE TRIGGER ame_customers_normalize;
INSERT INTO public.ame_customers (company_name, service_tier, customer_number, email, phone)
VALUES ('Legacy', 'CORE', 'OLD-1', 'Legacy At Example', 'n/a');
ALTER TABLE public.ame_customers ENABLE TRIGGER ame_customers_normalize;
SELECT lives_ok(
  $$UPDATE public.ame_customers SET site_name = 'Depot' WHERE company_name = 'Legacy'$$,
  'a legacy row can be updated in columns other than its bad ones');
SELECT results_eq(
  $$SELECT email, phone, site_name FROM public.ame_customers WHERE company_name = 'Legacy'$$,
  $$VALUES ('Legacy At Example', 'n/a', 'Depot')$$,
  'the legacy row kept its unnormalized values and got the new one');
SELECT throws_ok(
  $$UPDATE public.ame_customers SET email = email || ' ' WHERE company_name = 'Legacy'$$,
  '22023', 'invalid email address "Legacy At Example "',
  'touching the legacy row''s bad email is checked (the message shows the value as given)');

--
-- an ordinary role, with INSERT on the table and no right on the trigger
-- function or the sequence, gets its rows normalized and numbered; the
-- signals a restore sets are not a way around the rules
--
CREATE ROLE ame_tap_clerk NOLOGIN;
GRANT SELECT, INSERT ON public.ame_customers TO ame_tap_clerk;
SET LOCAL ROLE ame_tap_clerk;
DO $$
BEGIN
  INSERT INTO public.ame_customers (company_name, service_tier, email, phone)
  VALUES ('Clerk Co', 'guardian', ' Clerk@Example.COM ', '555 1234 x 5');
END $$;
SET LOCAL row_security = off;
DO $$
BEGIN
  INSERT INTO public.ame_customers (company_name, service_tier, email)
  VALUES ('Clerk RLS', 'CORE', 'not an email');
  PERFORM pg_catalog.set_config('ame_tap.row_security_off', 'inserted', true);
EXCEPTION WHEN OTHERS THEN
  PERFORM pg_catalog.set_config('ame_tap.row_security_off', SQLSTATE, true);
END $$;
SET LOCAL row_security = on;
SET LOCAL application_name = 'pg_restore';
DO $$
BEGIN
  INSERT INTO public.ame_customers (company_name, service_tier, phone)
  VALUES ('Clerk app', 'CORE', 'call the office');
  PERFORM pg_catalog.set_config('ame_tap.pg_restore_name', 'inserted', true);
EXCEPTION WHEN OTHERS THEN
  PERFORM pg_catalog.set_config('ame_tap.pg_restore_name', SQLSTATE, true);
END $$;
RESET application_name;
RESET ROLE;
SELECT results_eq(
  $$SELECT customer_number ~ '^AME-[0-9]{6,}$', email, phone, phone_extension, service_tier
    FROM public.ame_customers WHERE company_name = 'Clerk Co'$$,
  $$VALUES (true, 'clerk@example.com', '5551234', '5', 'GUARDIAN')$$,
  'a role with only INSERT on ame_customers gets its row normalized and numbered');
SELECT is(current_setting('ame_tap.row_security_off'), '22023',
          'an ordinary role with SET row_security = off still gets 22023 for a bad email');
SELECT is(current_setting('ame_tap.pg_restore_name'), '22P02',
          'an ordinary role with application_name = pg_restore still gets 22P02 for a bad phone');

-- after an explicit AME-999999 the next generated number is AME-1000000:
-- the window of taken numbers stops where the digit count changes (in
-- text order 'AME-1000000' sorts before 'AME-999999')
DELETE FROM public.ame_customers WHERE company_name IN ('N07', 'N08', 'N09', 'N10');
DO $$ BEGIN PERFORM pg_catalog.setval('public.customer_sequence', 999998); END $$;
INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
VALUES ('E1', 'CORE', 'AME-999999');
INSERT INTO public.ame_customers (company_name, service_tier) VALUES ('E2', 'CORE');
SELECT results_eq(
  $$SELECT company_name, customer_number COLLATE "default" FROM public.ame_customers
    WHERE company_name IN ('E1', 'E2') ORDER BY company_name$$,
  $$VALUES ('E1', 'AME-999999'), ('E2', 'AME-1000000')$$,
  'customer_number: after an explicit AME-999999 the next generated number is AME-1000000');
DELETE FROM public.ame_customers WHERE company_name IN ('E1', 'E2');
DO $$ BEGIN PERFORM pg_catalog.setval('public.customer_sequence', 999997); END $$;
INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
VALUES ('F1', 'CORE', NULL), ('F2', 'CORE', 'AME-999999'), ('F3', 'CORE', NULL);
SELECT results_eq(
  $$SELECT company_name, customer_number COLLATE "default" FROM public.ame_customers
    WHERE company_name IN ('F1', 'F2', 'F3') ORDER BY company_name$$,
  $$VALUES ('F1', 'AME-999998'), ('F2', 'AME-999999'), ('F3', 'AME-1000000')$$,
  '... also when AME-999999 is given in the same statement');

SELECT * FROM finish();
ROLLBACK;
