--
-- audit_partition_collation: the ddl_command_end event trigger that gives
-- a restored month of ame_audit_logs (COLLATE "C" columns, from before
-- 2.0) the log's default collation.  It fires on every CREATE TABLE of the
-- database, so it must never fail one: not after the extension's schema
-- is renamed either.  It touches only a table of a month's name in the
-- extension's schema, not one elsewhere.
--
\set VERBOSITY terse
CREATE SCHEMA elsewhere;
CREATE FUNCTION pg_temp.collations(rel regclass) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(a.attname || ' ' || coalesce(c.collname, '-'), ', ' ORDER BY a.attnum)
  FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
  WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped $$;

-- a month's table in the extension's schema gets the default collation
CREATE TABLE public.ame_audit_logs_y2099m01 (table_schema text COLLATE "C",
  table_name text COLLATE "C", operation text COLLATE "C", note text COLLATE "C");
SELECT pg_temp.collations('public.ame_audit_logs_y2099m01');
-- the same name in another schema is left alone
CREATE TABLE elsewhere.ame_audit_logs_y2099m01 (table_schema text COLLATE "C");
SELECT pg_temp.collations('elsewhere.ame_audit_logs_y2099m01');
-- a role that is not the extension's owner creates tables as before,
-- one of a month's name in its own schema too (left alone)
CREATE ROLE ame_table_maker;
GRANT CREATE, USAGE ON SCHEMA elsewhere TO ame_table_maker;
SET ROLE ame_table_maker;
CREATE TABLE elsewhere.mine (x int);
CREATE TABLE elsewhere.ame_audit_logs_y2099m04 (operation text COLLATE "C");
RESET ROLE;
SELECT pg_temp.collations('elsewhere.ame_audit_logs_y2099m04');

-- the extension's schema renamed: CREATE TABLE anywhere still works, and
-- the trigger still finds the extension's schema by its oid
ALTER SCHEMA public RENAME TO public_renamed;
CREATE TABLE elsewhere.plain (x int);
SELECT count(*) AS created FROM pg_class WHERE oid = 'elsewhere.plain'::regclass;
CREATE TABLE public_renamed.ame_audit_logs_y2099m02 (table_schema text COLLATE "C");
SELECT pg_temp.collations('public_renamed.ame_audit_logs_y2099m02');
ALTER SCHEMA public_renamed RENAME TO public;

DROP TABLE public.ame_audit_logs_y2099m01, public.ame_audit_logs_y2099m02;
DROP SCHEMA elsewhere CASCADE;
DROP ROLE ame_table_maker;
