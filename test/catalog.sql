--
-- catalog: what an application developer's tools read from the catalog
-- (SPEC §12).  PostgREST calls a function by its name and argument names,
-- so no two functions of the extension share a name; PostgREST's OpenAPI
-- and Supabase Studio show the COMMENT of every table, view, column and
-- function, so each has one, and a function's comment names its errors.
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(10);

CREATE TEMP VIEW ame_members AS
SELECT d.classid, d.objid
FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND e.extname = 'ame';

CREATE TEMP VIEW ame_functions AS
SELECT p.oid, p.proname::text COLLATE "default" AS proname,
       p.oid::regprocedure::text COLLATE "default" AS signature, p.prokind,
       p.prorettype = 'trigger'::regtype AS is_trigger,
       obj_description(p.oid, 'pg_proc') AS comment
FROM ame_members m JOIN pg_proc p ON p.oid = m.objid
WHERE m.classid = 'pg_proc'::regclass;

CREATE TEMP VIEW ame_relations AS
SELECT c.oid, c.relname::text COLLATE "default" AS relname, c.relkind,
       obj_description(c.oid, 'pg_class') AS comment
FROM ame_members m JOIN pg_class c ON c.oid = m.objid
WHERE m.classid = 'pg_class'::regclass;

--
-- one name, one function
--
SELECT cmp_ok((SELECT count(*) FROM ame_functions), '>=', 38::bigint,
              'the extension''s functions are found through pg_depend');
SELECT is_empty(
  $$SELECT proname || ': ' || string_agg(signature, ', ' ORDER BY signature)
    FROM ame_functions GROUP BY proname HAVING count(*) > 1$$,
  'no two functions or procedures of the extension share a name (PostgREST resolves an RPC by name)');

--
-- a comment on every table, view, sequence, column and function
--
SELECT cmp_ok((SELECT count(*) FROM ame_relations WHERE relkind IN ('r', 'p', 'v')), '>=', 19::bigint,
              'the extension''s tables and views are found through pg_depend');
SELECT is_empty(
  $$SELECT relname || ' (' || relkind::text || ')' FROM ame_relations
    WHERE relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND coalesce(btrim(comment), '') = ''
    ORDER BY 1$$,
  'every table, view and sequence of the extension has a comment');
SELECT is_empty(
  $$SELECT r.relname || '.' || a.attname FROM ame_relations r
    JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND coalesce(btrim(col_description(r.oid, a.attnum)), '') = ''
    ORDER BY 1$$,
  'every column of every table and view of the extension has a comment');
SELECT is_empty(
  $$SELECT signature FROM ame_functions
    WHERE coalesce(btrim(comment), '') = '' ORDER BY 1$$,
  'every function of the extension has a comment');
-- "Errors: 22023 ...; 42501 ..." (or "Errors: none."), at the end
SELECT is_empty(
  $$SELECT signature || ': ' || coalesce(comment, '-') FROM ame_functions
    WHERE comment !~ 'Errors: (none\.|([0-9A-Z]{5}|any)[^\n]*)$'
    ORDER BY 1$$,
  'every function''s comment ends with the errors it raises ("Errors: <SQLSTATE> <when>; ...")');

-- the monthly partitions of the log are not members of the extension:
-- they carry the log's column comments (made LIKE the log), and a comment
-- (those made at install, and one made later)
SELECT is(ame_audit_add_partitions('2031-01-01', '2031-01-01'), 1,
          'a month made after the install');
SELECT is_empty(
  $$SELECT i.inhrelid::regclass || '.' || a.attname
    FROM pg_inherits i
    JOIN pg_attribute a ON a.attrelid = i.inhrelid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE i.inhparent = 'public.ame_audit_logs'::regclass
      AND col_description(i.inhrelid, a.attnum) IS DISTINCT FROM
          col_description('public.ame_audit_logs'::regclass,
                          (SELECT p.attnum FROM pg_attribute p
                           WHERE p.attrelid = 'public.ame_audit_logs'::regclass
                             AND p.attname = a.attname))
    ORDER BY 1$$,
  'every partition of the log has the log''s column comments');
SELECT is_empty(
  $$SELECT i.inhrelid::regclass::text FROM pg_inherits i
    WHERE i.inhparent = 'public.ame_audit_logs'::regclass
      AND coalesce(obj_description(i.inhrelid, 'pg_class'), '') = ''$$,
  'every partition of the log has a comment');

SELECT * FROM finish();
ROLLBACK;
