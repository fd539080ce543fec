--
-- install: CREATE EXTENSION ame installs exactly its objects, in public
--
CREATE EXTENSION ame;

-- everything the extension owns, by kind (a relation's row type and an
-- array type come with their base object: PostgreSQL 17 lists them as
-- members too, 15 does not, so they are left out here)
SELECT pg_describe_object(classid, objid, 0) COLLATE "C" AS member
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ame')
  AND deptype = 'e'
  AND NOT (classid = 'pg_type'::regclass AND objid IN (
        SELECT typarray FROM pg_type WHERE typarray <> 0
        UNION ALL
        SELECT t.oid FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
        WHERE c.relkind <> 'c'))
ORDER BY 1;

-- it lives in public and cannot be moved
SELECT extnamespace::regnamespace, extrelocatable, extversion
FROM pg_extension WHERE extname = 'ame';

-- pg_dump keeps every user-data table and sequence
SELECT c.relname COLLATE "C" AS dumped, c.relkind
FROM pg_extension e, unnest(e.extconfig) AS cfg(oid)
JOIN pg_class c ON c.oid = cfg.oid
WHERE e.extname = 'ame'
ORDER BY 1;

-- every table, view, sequence and function has a comment
SELECT pg_describe_object(classid, objid, 0) AS uncommented
FROM pg_depend d
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ame')
  AND deptype = 'e'
  AND classid IN ('pg_class'::regclass, 'pg_proc'::regclass)
  AND obj_description(objid, classid::regclass::name) IS NULL
ORDER BY 1;

-- functions: language, volatility, who may run them
SELECT p.proname COLLATE "C" AS proname, l.lanname, p.provolatile,
       p.prosecdef, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'public'::regnamespace
ORDER BY 1;

-- PUBLIC has no right on the tables until the owner grants one
SELECT c.relname COLLATE "C" AS relname, c.relacl
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v', 'S')
  AND c.relacl IS NOT NULL
ORDER BY 1;
