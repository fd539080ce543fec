--
-- normalize: normalize_customer_data() on ame_customers
--
\set VERBOSITY default
SELECT setval('customer_sequence', 1, false);

-- phones: digits only, an extension moves to phone_extension
INSERT INTO ame_customers (company_name, service_tier, phone) VALUES
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
  ('P20', 'CORE', E'\t555-1234\n');
SELECT company_name, phone, phone_extension FROM ame_customers
WHERE company_name LIKE 'P%' ORDER BY company_name;

-- phone_extension given on its own is normalized too
INSERT INTO ame_customers (company_name, service_tier, phone, phone_extension) VALUES
  ('E01', 'CORE', '555-1234', ' 42 '),
  ('E02', 'CORE', '555-1234', 'x 42'),
  ('E03', 'CORE', '555-1234', '  '),
  ('E04', 'CORE', '555-1234 x7', '42');
SELECT company_name, phone, phone_extension FROM ame_customers
WHERE company_name LIKE 'E%' ORDER BY company_name;

-- emails: trimmed, lower-cased, empty is NULL
INSERT INTO ame_customers (company_name, service_tier, email) VALUES
  ('M01', 'CORE', '  John.Doe@Example.COM  '),
  ('M02', 'CORE', 'ops+alerts@plant.example.org'),
  ('M03', 'CORE', ''),
  ('M04', 'CORE', '   '),
  ('M05', 'CORE', NULL),
  ('M06', 'CORE', 'ÉLODIE@EXAMPLE.FR'),
  ('M07', 'CORE', 'root@localhost');
SELECT company_name, email FROM ame_customers
WHERE company_name LIKE 'M%' ORDER BY company_name;

-- tiers: trimmed and upper-cased
INSERT INTO ame_customers (company_name, service_tier) VALUES
  ('T01', 'core'), ('T02', ' Assure '), ('T03', E'guardian\n'), ('T04', 'GUARDIAN');
SELECT company_name, service_tier FROM ame_customers
WHERE company_name LIKE 'T%' ORDER BY company_name;

-- customer numbers: generated in order, six digits, given ones kept
SELECT company_name, customer_number FROM ame_customers
WHERE company_name IN ('P01', 'P02', 'P20', 'T04') ORDER BY customer_number;
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('N01', 'CORE', '  LEGACY-7  '), ('N02', 'CORE', '');
SELECT company_name, customer_number FROM ame_customers
WHERE company_name LIKE 'N%' ORDER BY company_name;

-- a number already taken is skipped: take the next two explicitly
SELECT last_value FROM customer_sequence;
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('N03', 'CORE', 'AME-000037'), ('N04', 'CORE', 'AME-000038');
INSERT INTO ame_customers (company_name, service_tier)
VALUES ('N05', 'CORE') RETURNING customer_number;
-- numbers are checked in windows of upcoming values: a taken number far
-- ahead is skipped too when the sequence gets there, and a number that is
-- not exactly "AME-" and six digits does not block anything
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('W01', 'CORE', 'AME-002000'), ('W02', 'CORE', 'AME-0002001'),
       ('W03', 'CORE', 'AME-002002x'), ('W04', 'CORE', 'AME-2003');
SELECT setval('customer_sequence', 1998);
INSERT INTO ame_customers (company_name, service_tier)
SELECT 'W1' || i, 'CORE' FROM generate_series(1, 5) i
RETURNING company_name, customer_number;
-- an explicit number and generated ones in the same statement
SELECT setval('customer_sequence', 2099);
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('X1', 'CORE', NULL), ('X2', 'CORE', 'AME-002101'), ('X3', 'CORE', NULL),
       ('X4', 'CORE', ' AME-002103 '), ('X5', 'CORE', NULL)
RETURNING company_name, customer_number;
-- past 999999 the number grows a digit instead of wrapping
SELECT setval('customer_sequence', 999998);
INSERT INTO ame_customers (company_name, service_tier)
VALUES ('N06', 'CORE'), ('N07', 'CORE') RETURNING company_name, customer_number;
-- and a taken seven-digit number is skipped too
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('N08', 'CORE', 'AME-1000001');
INSERT INTO ame_customers (company_name, service_tier)
VALUES ('N09', 'CORE') RETURNING customer_number;
SELECT count(*) = count(DISTINCT customer_number) AS numbers_unique FROM ame_customers;

-- UPDATE: NULL or blank keeps the old number; a new one is trimmed
UPDATE ame_customers SET customer_number = NULL WHERE company_name = 'N05'
RETURNING customer_number;
UPDATE ame_customers SET customer_number = '  ' WHERE company_name = 'N05'
RETURNING customer_number;
UPDATE ame_customers SET customer_number = ' AME-777 ' WHERE company_name = 'N05'
RETURNING customer_number;

-- UPDATE normalizes what changed
UPDATE ame_customers SET phone = '(555) 987-6543 ext 21', email = ' New@Example.com',
       service_tier = 'assure'
WHERE company_name = 'P01'
RETURNING phone, phone_extension, email, service_tier;
-- an UPDATE that does not touch phone keeps phone_extension
UPDATE ame_customers SET site_name = 'North wing' WHERE company_name = 'P01'
RETURNING phone, phone_extension, site_name;
-- a new phone without extension keeps the extension column as it is
UPDATE ame_customers SET phone = '555 000 1111' WHERE company_name = 'P01'
RETURNING phone, phone_extension;

-- idempotent: re-normalizing every normalized row changes nothing
CREATE TEMP TABLE before AS SELECT * FROM ame_customers;
UPDATE ame_customers SET phone = phone || '', email = email || '',
       service_tier = service_tier || '', phone_extension = phone_extension || '',
       customer_number = customer_number || '';
SELECT count(*) AS rows_differing FROM (
  SELECT * FROM before EXCEPT SELECT * FROM ame_customers) d;
-- even when every normalized value is fed back in explicitly
UPDATE ame_customers c SET phone = b.phone, phone_extension = b.phone_extension,
       email = b.email, service_tier = b.service_tier, customer_number = b.customer_number
FROM before b WHERE b.id = c.id;
SELECT count(*) AS rows_differing FROM (
  SELECT * FROM before EXCEPT SELECT * FROM ame_customers) d;

--
-- bad input: a clear error with its SQLSTATE, and the table unchanged
--
CREATE TEMP TABLE reference AS SELECT * FROM ame_customers;
CREATE FUNCTION pg_temp.unchanged() RETURNS boolean LANGUAGE sql AS $$
  SELECT NOT EXISTS (SELECT * FROM reference EXCEPT SELECT * FROM public.ame_customers)
     AND NOT EXISTS (SELECT * FROM public.ame_customers EXCEPT SELECT * FROM reference)
$$;

INSERT INTO ame_customers (company_name, service_tier) VALUES ('Bad', 'platinum');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Bad', '');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Bad', 'CORE PLUS');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Bad', 'CORE', 'no-at-sign');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Bad', 'CORE', 'two@@example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Bad', 'CORE', '@example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Bad', 'CORE', 'john@');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Bad', 'CORE', 'john doe@example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Bad', 'CORE', 'john@example..com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Bad', 'CORE', 'john@.example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, phone) VALUES ('Bad', 'CORE', 'call the office');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, phone) VALUES ('Bad', 'CORE', 'x 42');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, phone) VALUES ('Bad', 'CORE', '555-1234 ext 12345678901');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, phone_extension) VALUES ('Bad', 'CORE', 'front desk');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier, phone_extension) VALUES ('Bad', 'CORE', '123456789012');
\echo :LAST_ERROR_SQLSTATE
-- (terse: the failing row's detail holds a random id)
\set VERBOSITY terse
INSERT INTO ame_customers (company_name, service_tier) VALUES (NULL, 'CORE');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ame_customers (company_name, service_tier) VALUES ('Bad', NULL);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- one bad row fails the whole statement
INSERT INTO ame_customers (company_name, service_tier)
VALUES ('Good', 'CORE'), ('Bad', 'GOLD');
\echo :LAST_ERROR_SQLSTATE
-- the same on UPDATE
UPDATE ame_customers SET service_tier = 'gold' WHERE company_name = 'T01';
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_customers SET email = 'nobody' WHERE company_name = 'M01';
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_customers SET phone = '---' WHERE company_name = 'P02';
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
UPDATE ame_customers SET company_name = NULL WHERE company_name = 'P02';
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT pg_temp.unchanged() AS table_unchanged;

-- a row stored before the rules (with the trigger bypassed) does not
-- block updates of other columns; touching the bad column is checked
ALTER TABLE ame_customers DISABLE TRIGGER ame_customers_normalize;
INSERT INTO ame_customers (company_name, service_tier, customer_number, email, phone)
VALUES ('Legacy', 'CORE', 'OLD-1', 'Legacy At Example', 'n/a');
ALTER TABLE ame_customers ENABLE TRIGGER ame_customers_normalize;
UPDATE ame_customers SET site_name = 'Depot' WHERE company_name = 'Legacy'
RETURNING email, phone, site_name;
UPDATE ame_customers SET email = email || ' ' WHERE company_name = 'Legacy';
\echo :LAST_ERROR_SQLSTATE
SELECT email, phone, site_name FROM ame_customers WHERE company_name = 'Legacy';

-- a restore loads what was dumped: values stored while the trigger was
-- bypassed are kept instead of failing the load (pg_restore sets
-- application_name, a plain dump script sets row_security off)
SET application_name = 'pg_restore';
INSERT INTO ame_customers (company_name, service_tier, customer_number, email, phone, phone_extension)
VALUES ('Restored legacy', 'CORE', 'OLD-2', 'Legacy At Example', 'n/a', 'front desk'),
       ('Restored clean', 'core', 'OLD-3', ' Ops@Example.COM ', '555-1234 x5', NULL)
RETURNING customer_number, email, phone, phone_extension, service_tier;
RESET application_name;
SET row_security = off;
INSERT INTO ame_customers (company_name, service_tier, customer_number, email)
VALUES ('Restored plain', 'CORE', 'OLD-4', 'still not an email')
RETURNING customer_number, email;
-- the CHECK constraints still hold during a restore
\set VERBOSITY terse
INSERT INTO ame_customers (company_name, service_tier, customer_number)
VALUES ('Restored bad tier', 'gold', 'OLD-5');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET row_security;
-- and outside a restore the rules apply again
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('After', 'CORE', 'still not an email');
\echo :LAST_ERROR_SQLSTATE

-- the leniency is the owner's (who could bypass the trigger anyway): an
-- ordinary role that sets the same signals still gets the errors
CREATE ROLE ame_clerk;
GRANT INSERT, SELECT ON ame_customers TO ame_clerk;
SET ROLE ame_clerk;
SET application_name = 'pg_restore';
INSERT INTO ame_customers (company_name, service_tier, email) VALUES ('Sneaky', 'CORE', 'not an email');
\echo :LAST_ERROR_SQLSTATE
RESET application_name;
SET row_security = off;
INSERT INTO ame_customers (company_name, service_tier, phone) VALUES ('Sneaky', 'CORE', 'call me');
\echo :LAST_ERROR_SQLSTATE
RESET row_security;
RESET ROLE;
-- nor through a SECURITY DEFINER function of the owner: it runs as the
-- owner, but the clerk gave the signal
CREATE FUNCTION add_customer_as_owner(em text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$ INSERT INTO public.ame_customers (company_name, service_tier, email)
		VALUES ('Sneaky', 'CORE', em) $fn$;
GRANT EXECUTE ON FUNCTION add_customer_as_owner(text) TO ame_clerk;
SET ROLE ame_clerk;
SET application_name = 'pg_restore';
SELECT add_customer_as_owner('not an email');
\echo :LAST_ERROR_SQLSTATE
RESET application_name;
RESET ROLE;
DROP FUNCTION add_customer_as_owner(text);
SELECT count(*) AS sneaky_rows FROM ame_customers WHERE company_name = 'Sneaky';
REVOKE ALL ON ame_customers FROM ame_clerk;
DROP ROLE ame_clerk;

-- only the owner may attach the trigger to a table (it draws numbers)
SELECT has_function_privilege('public', 'normalize_customer_data()', 'EXECUTE') AS public_may_attach;

DELETE FROM ame_customers;
SELECT setval('customer_sequence', 1, false);
