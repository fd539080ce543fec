--
-- audit_partitions: ame_audit_logs by month (UTC) with a default
-- partition, ame_audit_add_partitions(), append-only on every partition
-- (also addressed directly, also under replica role), the purge by whole
-- months, ame_audit_maintenance() and ame.audit_retention.  Dates are
-- relative to now(): the output holds no date.
--
\set VERBOSITY terse

CREATE FUNCTION pg_temp.month_name(t timestamptz) RETURNS text
LANGUAGE sql AS $$ SELECT 'ame_audit_logs_' || to_char(t AT TIME ZONE 'UTC', '"y"YYYY"m"MM') $$;

-- the log is partitioned by range of performed_at; the parent and the
-- default partition belong to the extension, the months do not
SELECT c.relkind, pg_get_partkeydef(c.oid) FROM pg_class c WHERE c.oid = 'ame_audit_logs'::regclass;
SELECT c.relname LIKE 'ame_audit_logs_y____m__' AS monthly,
       c.relname = 'ame_audit_logs_default' AS is_default,
       EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
               AND d.deptype = 'e') AS member,
       count(*)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'ame_audit_logs'::regclass
GROUP BY 1, 2, 3 ORDER BY 1, 2;
-- the install made this month's partition and three ahead
SELECT m AS months_ahead, to_regclass(pg_temp.month_name(now() + m * interval '1 month')) IS NOT NULL AS exists
FROM generate_series(0, 3) m;
-- each with its own primary key and indexes, and its guards enabled ALWAYS
SELECT indexrelid::regclass::text = pg_temp.month_name(now()) || '_pkey' AS pkey_named,
       pg_get_indexdef(indexrelid) LIKE '%(id)' AS on_id, indisprimary
FROM pg_index WHERE indrelid = pg_temp.month_name(now())::regclass AND indisprimary;
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = pg_temp.month_name(now())::regclass;
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = pg_temp.month_name(now())::regclass ORDER BY 1;
-- the parent has no index: ATTACH PARTITION would make them again at a restore
SELECT count(*) AS parent_indexes FROM pg_index WHERE indrelid = 'ame_audit_logs'::regclass;

-- an audited change goes into this month's partition
CREATE TABLE part_t (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), v int);
SELECT ame_enable_audit('part_t');
INSERT INTO part_t (v) SELECT g FROM generate_series(1, 5) g;
UPDATE part_t SET v = v + 1;
SELECT tableoid::regclass::text = pg_temp.month_name(now()) AS this_month, count(*)
FROM ame_audit_logs WHERE table_name = 'part_t' GROUP BY 1;

--
-- append-only on the parent and on every partition addressed directly,
-- also under session_replication_role = replica
--
SELECT pg_temp.month_name(now()) AS part \gset
-- a row in the default partition too (a month far ahead)
INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation, performed_at)
VALUES ('public', 'far_ahead', gen_random_uuid(), 'INSERT', '2200-01-01 00:00+00');
SELECT tableoid::regclass AS far_ahead_in FROM ame_audit_logs WHERE table_name = 'far_ahead';
SELECT count(*) AS log_rows, md5(string_agg(l::text, '|' ORDER BY seq)) AS log_md5
FROM ame_audit_logs l \gset
UPDATE :"part" SET operation = 'DELETE';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM :"part";
\echo :LAST_ERROR_SQLSTATE
TRUNCATE :"part";
\echo :LAST_ERROR_SQLSTATE
UPDATE ame_audit_logs_default SET operation = 'DELETE';
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ame_audit_logs_default;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
UPDATE :"part" SET operation = 'DELETE';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM :"part";
\echo :LAST_ERROR_SQLSTATE
TRUNCATE :"part";
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ame_audit_logs_default;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ame_audit_logs_default;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ame_audit_logs;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
SELECT count(*) = :log_rows AND md5(string_agg(l::text, '|' ORDER BY seq)) = :'log_md5' AS log_unchanged
FROM ame_audit_logs l;

-- a partition a user attaches is guarded: UPDATE and DELETE at once (the
-- row guard is cloned, enabled ALWAYS), TRUNCATE from the next
-- ame_audit_add_partitions() (or nightly maintenance) on
CREATE TABLE user_part (LIKE ame_audit_logs INCLUDING ALL);
ALTER TABLE ame_audit_logs ATTACH PARTITION user_part
  FOR VALUES FROM ('1990-01-01 00:00+00') TO ('1991-01-01 00:00+00');
INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation, performed_at)
VALUES ('public', 'user_part', gen_random_uuid(), 'INSERT', '1990-06-01 00:00+00');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'user_part'::regclass ORDER BY 1;
SET session_replication_role = replica;
DELETE FROM user_part;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
SELECT ame_audit_add_partitions(now()::date, now()::date) AS made_none;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'user_part'::regclass ORDER BY 1;
SET session_replication_role = replica;
TRUNCATE user_part;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
SELECT count(*) AS user_part_rows FROM user_part;

-- nobody but the owner may detach or drop a partition, nor make one
CREATE ROLE ame_part_user;
GRANT SELECT ON ame_audit_logs TO ame_part_user;
GRANT CREATE ON SCHEMA public TO ame_part_user;
SET ROLE ame_part_user;
ALTER TABLE ame_audit_logs DETACH PARTITION :"part";
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
DROP TABLE :"part";
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
SELECT ame_audit_add_partitions('2000-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_purge_audit_logs('1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_audit_maintenance();
\echo :LAST_ERROR_SQLSTATE
-- a user's setting cannot make the maintenance purge
SET ame.audit_retention = '1 day';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) = :log_rows + 1 AS log_unchanged FROM ame_audit_logs l;

--
-- ame_audit_add_partitions: bad arguments change nothing
--
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass \gset
SELECT ame_audit_add_partitions(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ame_audit_add_partitions('2020-05-01', '2020-04-30');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_audit_add_partitions('infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_audit_add_partitions('1000-01-01', '3000-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :partitions AS partitions_unchanged FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass;

-- rows of a month without a partition wait in the default partition; the
-- month's partition, once made, holds them (ids, seq and images unchanged)
INSERT INTO ame_audit_logs (table_schema, table_name, record_id, operation, performed_at)
SELECT 'public', 'old_rows', gen_random_uuid(), 'INSERT',
       now() - interval '20 months' + g * interval '1 hour'
FROM generate_series(0, 200 * 24) g;
SELECT tableoid::regclass AS old_rows_in, count(*) FROM ame_audit_logs
WHERE table_name = 'old_rows' GROUP BY 1;
SELECT count(*) AS old_count, md5(string_agg(l::text, '|' ORDER BY seq)) AS old_md5
FROM ame_audit_logs l WHERE table_name = 'old_rows' \gset
SELECT ame_audit_add_partitions((now() - interval '20 months')::date,
                                (now() - interval '14 months')::date) AS made;
-- seven months made, each with the rows of its month; none left behind
SELECT count(DISTINCT tableoid) AS partitions_holding,
       bool_and(tableoid::regclass::text = pg_temp.month_name(performed_at)) AS each_in_its_month
FROM ame_audit_logs WHERE table_name = 'old_rows'
  AND performed_at < date_trunc('month', now() - interval '13 months', 'UTC');
SELECT count(*) = :old_count AND md5(string_agg(l::text, '|' ORDER BY seq)) = :'old_md5' AS rows_unchanged
FROM ame_audit_logs l WHERE table_name = 'old_rows';
-- again: nothing to make
SELECT ame_audit_add_partitions((now() - interval '20 months')::date,
                                (now() - interval '14 months')::date) AS made_again;
-- the new partitions are guarded too
SELECT bool_and(t.tgenabled = 'A') AS guarded, count(*) AS guards
FROM pg_trigger t WHERE t.tgrelid = pg_temp.month_name(now() - interval '20 months')::regclass;

--
-- the purge: whole months detached and dropped, the boundary month and
-- the default partition deleted from
--
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass \gset
SELECT count(*) FILTER (WHERE performed_at < now() - interval '15 months') AS expect_gone,
       count(*) AS all_rows
FROM ame_audit_logs \gset
SELECT ame_purge_audit_logs('-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT ame_purge_audit_logs('15 months') = :expect_gone AS returns_rows_removed;
SELECT count(*) = :all_rows - :expect_gone AS rest_kept,
       count(*) FILTER (WHERE performed_at < now() - interval '15 months') AS older_left
FROM ame_audit_logs;
-- the months wholly older are gone, the boundary month stays; 1990 too
SELECT :partitions - count(*) AS partitions_dropped
FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass;
SELECT to_regclass('user_part') IS NULL AS user_part_dropped,
       to_regclass(pg_temp.month_name(now() - interval '15 months')) IS NOT NULL AS boundary_kept;
SELECT operation, affected_rows = :expect_gone AS counted,
       jsonb_array_length(details -> 'dropped_partitions') AS dropped_partitions,
       (details ->> 'dropped_rows')::bigint + (details ->> 'deleted_rows')::bigint = :expect_gone AS sums,
       details -> 'trimmed_partitions' ? pg_temp.month_name(now() - interval '15 months') AS boundary_trimmed
FROM system_maintenance_log WHERE operation = 'audit_purge'
ORDER BY performed_at DESC LIMIT 1;

--
-- ame.audit_retention and ame_audit_maintenance()
--
SET ame.audit_retention = 'a while';
\echo :LAST_ERROR_SQLSTATE
SET ame.audit_retention = '-1 day';
\echo :LAST_ERROR_SQLSTATE
SELECT ame_audit_maintenance();
SET ame.audit_retention = '14 months';
SELECT count(*) FILTER (WHERE performed_at < now() - interval '14 months') AS expect_gone
FROM ame_audit_logs \gset
SELECT ame_audit_maintenance() ->> 'purged_rows' = :'expect_gone' AS purged_by_retention;
SELECT count(*) AS older_left FROM ame_audit_logs WHERE performed_at < now() - interval '14 months';
RESET ame.audit_retention;

-- the writer keeps seq above every row when a month is added meanwhile
BEGIN;
UPDATE part_t SET v = v + 1;
SELECT ame_audit_add_partitions((now() + interval '4 months')::date, (now() + interval '4 months')::date) AS made;
UPDATE part_t SET v = v + 1;
COMMIT;
SELECT count(*) AS rows, count(DISTINCT seq) AS distinct_seq,
       bool_and(tableoid::regclass::text = pg_temp.month_name(now())) AS this_month
FROM ame_audit_logs WHERE table_name = 'part_t';

SELECT ame_disable_audit('part_t');
DROP TABLE part_t;
REVOKE CREATE ON SCHEMA public FROM ame_part_user;
REVOKE SELECT ON ame_audit_logs FROM ame_part_user;
DROP ROLE ame_part_user;
