--
-- uninstall: DROP EXTENSION ame leaves nothing behind
--
SELECT count(*) > 0 AS has_members FROM pg_depend
WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ame')
  AND deptype = 'e';

DROP EXTENSION ame;

SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'ame';

-- no relation, function, type or trigger of ours survives
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace;
SELECT p.proname FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace;
SELECT t.typname FROM pg_type t
WHERE t.typnamespace = 'public'::regnamespace;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname LIKE 'ame%';

-- what it does leave: publication ame_realtime (PostgreSQL 15 cannot make
-- a publication an extension member), now without tables; the owner
-- drops it
SELECT p.pubname, count(r.prrelid) AS tables
FROM pg_publication p LEFT JOIN pg_publication_rel r ON r.prpubid = p.oid
GROUP BY 1 ORDER BY 1;
DROP PUBLICATION ame_realtime;

-- and it installs again cleanly, then drops again
CREATE EXTENSION ame;
SELECT count(*) AS tables FROM pg_tables WHERE schemaname = 'public';
DROP EXTENSION ame;
SELECT count(*) AS tables FROM pg_tables WHERE schemaname = 'public';
DROP PUBLICATION ame_realtime;
SELECT count(*) AS publications FROM pg_publication;
