--
-- audit_history_rls: ame_record_history() and ame_record_at() show a
-- record's history only to a caller who may SELECT its table and can see
-- its live row under row-level security; a deleted record's history only
-- to a caller who may read the log itself (SPEC §5a).  Two technicians,
-- an application role as Supabase's "authenticated", an auditor.
--
\set VERBOSITY terse

INSERT INTO ame_customers (id, company_name, service_tier)
VALUES ('c8000000-0000-0000-0000-000000000001', 'History Policy Co', 'ASSURE');
INSERT INTO ame_technicians (id, user_id, name) VALUES
  ('a8000000-0000-0000-0000-00000000000a', '08000000-0000-0000-0000-00000000000a', 'Tess'),
  ('a8000000-0000-0000-0000-00000000000b', '08000000-0000-0000-0000-00000000000b', 'Theo');
-- Tess: a1 (changed twice), a2 (deleted below); Theo: b1
INSERT INTO ame_visits (id, customer_id, technician_id, status) VALUES
  ('d8000000-0000-0000-0000-0000000000a1', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a', 'scheduled'),
  ('d8000000-0000-0000-0000-0000000000a2', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a', 'scheduled'),
  ('d8000000-0000-0000-0000-0000000000a3', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000a', 'scheduled'),
  ('d8000000-0000-0000-0000-0000000000b1', 'c8000000-0000-0000-0000-000000000001', 'a8000000-0000-0000-0000-00000000000b', 'scheduled');
UPDATE ame_visits SET status = 'in_progress', actual_start_time = now()
WHERE id = 'd8000000-0000-0000-0000-0000000000a1';
UPDATE ame_visits SET notes = 'gate code 1234' WHERE id = 'd8000000-0000-0000-0000-0000000000a1';
UPDATE ame_visits SET notes = 'Theo''s notes' WHERE id = 'd8000000-0000-0000-0000-0000000000b1';
SELECT now() AS t_before_delete \gset
DELETE FROM ame_visits WHERE id IN ('d8000000-0000-0000-0000-0000000000a2', 'd8000000-0000-0000-0000-0000000000a3');

-- the application role, with the table rights of rls.md; an auditor
-- (the recipe of security.md); a role that may not read visits at all
CREATE ROLE regress_hist_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ame_visits TO regress_hist_app;
GRANT SELECT ON ame_technicians, ame_customers TO regress_hist_app;
CREATE ROLE regress_hist_auditor;
GRANT SELECT ON ame_audit_logs TO regress_hist_auditor;
CREATE ROLE regress_hist_norights;
GRANT SELECT ON ame_technicians TO regress_hist_norights;

-- what a caller sees: each visit's history as operation(changed fields)
-- lists, and ame_record_at(now()) / before the deletion as status/the
-- technician's last letter (a: Tess, b: Theo)
CREATE FUNCTION pg_temp.seen(v text) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(operation || '(' || array_to_string(changed_fields, ',') || ')', ' ' ORDER BY seq), '-')
  FROM ame_record_history('ame_visits', ('d8000000-0000-0000-0000-0000000000' || v)::uuid)
$$;
CREATE FUNCTION pg_temp.at(v text, t timestamptz) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(r ->> 'status' || '/' || right(r ->> 'technician_id', 1), '-')
  FROM ame_record_at('ame_visits', ('d8000000-0000-0000-0000-0000000000' || v)::uuid, t) r
$$;
CREATE VIEW pg_temp.hist_seen AS
SELECT v AS visit, pg_temp.seen(v) AS history,
       pg_temp.at(v, now()) AS status_now,
       pg_temp.at(v, :'t_before_delete') AS status_before_delete
FROM unnest(ARRAY['a1', 'a2', 'b1']) v;
GRANT SELECT ON pg_temp.hist_seen TO PUBLIC;

-- the owner (here a superuser) sees both technicians' visits, and the
-- deleted one
SELECT * FROM pg_temp.hist_seen;

SET ROLE regress_hist_app;
-- Tess: her own visits only; her deleted visit is not hers to read any more
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT * FROM pg_temp.hist_seen;
-- Theo: his own only
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000b", "role": "authenticated"}';
SELECT * FROM pg_temp.hist_seen;
-- no identity: nothing
RESET request.jwt.claims;
SELECT * FROM pg_temp.hist_seen;
-- Theo cannot see Tess's visit, so its history is not his either: the
-- same empty answer as for a record that never existed
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000b"}';
SELECT count(*) AS rows FROM ame_record_history('ame_visits', gen_random_uuid());
RESET ROLE;

-- the auditor sees everything, whoever the identity, also without any
-- right on the table
SET ROLE regress_hist_auditor;
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000b"}';
SELECT * FROM pg_temp.hist_seen;
RESET ROLE;
-- ... and so does an application role that is granted the auditor role
GRANT regress_hist_auditor TO regress_hist_app;
SET ROLE regress_hist_app;
SELECT * FROM pg_temp.hist_seen;
RESET ROLE;
REVOKE regress_hist_auditor FROM regress_hist_app;

-- Tess's own change, read back in the same transaction: the audit row
-- written for her statement is there for the read made as the owner
SET ROLE regress_hist_app;
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000a"}';
BEGIN;
UPDATE ame_visits SET notes = 'in a transaction' WHERE id = 'd8000000-0000-0000-0000-0000000000a1';
SELECT operation, changed_fields, new_values ->> 'notes' AS notes,
       user_id = '08000000-0000-0000-0000-00000000000a' AS by_tess
FROM ame_record_history('ame_visits', 'd8000000-0000-0000-0000-0000000000a1')
ORDER BY seq DESC LIMIT 1;
ROLLBACK;
RESET ROLE;

-- errors, each leaving the log as it was
SELECT count(*) AS log_rows FROM ame_audit_logs \gset
SET ROLE regress_hist_norights;
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000a"}';
-- no SELECT on the table: 42501, whether the record exists or not
SELECT * FROM ame_record_history('ame_visits', 'd8000000-0000-0000-0000-0000000000a1');
SELECT ame_record_at('ame_visits', 'd8000000-0000-0000-0000-0000000000a1', now());
SELECT * FROM ame_record_history('ame_visits', gen_random_uuid());
RESET ROLE;
SET ROLE regress_hist_app;
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000a"}';
-- NULL arguments: 22023
SELECT * FROM ame_record_history(NULL, 'd8000000-0000-0000-0000-0000000000a1');
SELECT * FROM ame_record_history('ame_visits', NULL);
SELECT ame_record_at(NULL, 'd8000000-0000-0000-0000-0000000000a1', now());
SELECT ame_record_at('ame_visits', NULL, now());
SELECT ame_record_at('ame_visits', 'd8000000-0000-0000-0000-0000000000a1', NULL);
-- a relation that is gone, or is no table: 42P01, 22023
SELECT * FROM ame_record_history(4294967000::oid::regclass, 'd8000000-0000-0000-0000-0000000000a1');
SELECT * FROM ame_record_history('technician_performance', 'd8000000-0000-0000-0000-0000000000a1');
RESET ROLE;
-- a table without a uuid "id": 22023 (the live row cannot be looked up)
CREATE TABLE hist_noid (key uuid PRIMARY KEY);
CREATE TABLE hist_textid (id text PRIMARY KEY);
GRANT SELECT ON hist_noid, hist_textid TO regress_hist_app;
SET ROLE regress_hist_app;
SELECT * FROM ame_record_history('hist_noid', 'd8000000-0000-0000-0000-0000000000a1');
SELECT ame_record_at('hist_textid', 'd8000000-0000-0000-0000-0000000000a1', now());
RESET ROLE;
SELECT count(*) OPERATOR(pg_catalog.=) :log_rows AS log_unchanged FROM ame_audit_logs;
SELECT right(id::text, 2) AS visit, status, notes FROM ame_visits
WHERE customer_id = 'c8000000-0000-0000-0000-000000000001' ORDER BY id;

--
-- attempts to get around the check
--
SET ROLE regress_hist_app;
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000b"}';
-- the functions that read the log run with the caller's rights
SELECT count(*) FROM ame_audit_log_history('ame_visits', 'd8000000-0000-0000-0000-0000000000a1', 'infinity');
SELECT count(*) FROM ame_audit_log_lineage('ame_visits', 'd8000000-0000-0000-0000-0000000000a1', 'infinity');
-- Theo re-uses the id of Tess's deleted visit: he sees the history of his
-- row, not of hers
INSERT INTO ame_visits (id, customer_id, technician_id, status)
VALUES ('d8000000-0000-0000-0000-0000000000a2', 'c8000000-0000-0000-0000-000000000001',
        'a8000000-0000-0000-0000-00000000000b', 'cancelled');
SELECT * FROM pg_temp.hist_seen;
-- (the owner, and an auditor, see every row logged under that id)
RESET ROLE;
SELECT pg_temp.seen('a2') AS owner_sees_a2;
SET ROLE regress_hist_app;
-- ... nor by changing the id of his own visit into another deleted one's
UPDATE ame_visits SET id = 'd8000000-0000-0000-0000-0000000000a3'
WHERE id = 'd8000000-0000-0000-0000-0000000000b1';
SELECT pg_temp.seen('a3') AS history_a3, pg_temp.at('a3', :'t_before_delete') AS a3_before_delete;
UPDATE ame_visits SET id = 'd8000000-0000-0000-0000-0000000000b1'
WHERE id = 'd8000000-0000-0000-0000-0000000000a3';
-- ... nor through a view whose owner may read the log: a function in a
-- view runs as the one who queries it
RESET ROLE;
CREATE VIEW hist_of_a1 AS
  SELECT * FROM ame_record_history('ame_visits', 'd8000000-0000-0000-0000-0000000000a1');
GRANT SELECT ON hist_of_a1 TO regress_hist_app;
SET ROLE regress_hist_app;
SELECT count(*) AS via_view FROM hist_of_a1;
-- ... nor by asking for a view of his own over the table
CREATE VIEW pg_temp.all_visits AS SELECT * FROM ame_visits;
SELECT count(*) FROM ame_record_history('pg_temp.all_visits', 'd8000000-0000-0000-0000-0000000000a1');
-- ... nor with row_security off: an error, not a look past the policy
SET row_security = off;
SELECT count(*) FROM ame_record_history('ame_visits', 'd8000000-0000-0000-0000-0000000000a1');
RESET row_security;
DROP VIEW pg_temp.all_visits;
RESET ROLE;
-- ... nor by operators and functions planted on his search_path: none runs
CREATE SCHEMA hist_plant AUTHORIZATION regress_hist_app;
SET ROLE regress_hist_app;
CREATE FUNCTION hist_plant.uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN RAISE NOTICE 'planted = ran'; RETURN true; END$$;
CREATE OPERATOR hist_plant.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = hist_plant.uuid_eq);
CREATE FUNCTION hist_plant.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN RAISE NOTICE 'planted text = ran'; RETURN true; END$$;
CREATE OPERATOR hist_plant.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hist_plant.text_eq);
CREATE FUNCTION hist_plant.ame_audit_log_lineage(tbl regclass, record uuid, upto timestamptz)
RETURNS SETOF ame_audit_logs LANGUAGE plpgsql AS
  $$BEGIN RAISE NOTICE 'planted lineage ran'; END$$;
SET search_path = hist_plant, public, pg_catalog;
SELECT count(*) AS tess_visit FROM ame_record_history('ame_visits', 'd8000000-0000-0000-0000-0000000000a1');
SELECT count(*) AS own_visit FROM ame_record_history('ame_visits', 'd8000000-0000-0000-0000-0000000000b1');
SELECT ame_record_at('ame_visits', 'd8000000-0000-0000-0000-0000000000b1', now()) ->> 'notes' AS own_notes;
RESET search_path;
RESET ROLE;
DROP SCHEMA hist_plant CASCADE;
-- a caller is who current_user is, not the session user: a superuser's
-- session after SET ROLE sees what that role sees
SET ROLE regress_hist_app;
SET request.jwt.claims = '{"sub": "08000000-0000-0000-0000-00000000000a"}';
SELECT current_user, count(*) AS b1_rows
FROM ame_record_history('ame_visits', 'd8000000-0000-0000-0000-0000000000b1');
-- ... also inside a SECURITY DEFINER function: its owner is the caller
RESET ROLE;
CREATE FUNCTION hist_as_app(v uuid) RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, public AS $$ SELECT count(*) FROM ame_record_history('ame_visits', v) $$;
ALTER FUNCTION hist_as_app(uuid) OWNER TO regress_hist_app;
SELECT hist_as_app('d8000000-0000-0000-0000-0000000000b1') AS b1_as_tess,
       hist_as_app('d8000000-0000-0000-0000-0000000000a1') AS a1_as_tess;
DROP FUNCTION hist_as_app(uuid);
RESET request.jwt.claims;

-- ... nor by taking the name of an audited table that was dropped: the
-- log keeps history by schema and table name, so only a table that is
-- audited now shows history to a caller who cannot read the log
CREATE SCHEMA hist_sq;
GRANT USAGE, CREATE ON SCHEMA hist_sq TO regress_hist_app;
CREATE TABLE hist_sq.orders (id uuid PRIMARY KEY, secret text);
SELECT ame_enable_audit('hist_sq.orders');
INSERT INTO hist_sq.orders VALUES ('e8000000-0000-0000-0000-000000000001', 'old secret');
UPDATE hist_sq.orders SET secret = 'older secret';
GRANT SELECT ON hist_sq.orders TO regress_hist_app;
SET ROLE regress_hist_app;
SELECT count(*) AS while_audited FROM ame_record_history('hist_sq.orders', 'e8000000-0000-0000-0000-000000000001');
RESET ROLE;
DROP TABLE hist_sq.orders;
SET ROLE regress_hist_app;
CREATE TABLE hist_sq.orders (id uuid PRIMARY KEY, secret text);
INSERT INTO hist_sq.orders VALUES ('e8000000-0000-0000-0000-000000000001', 'mine');
SELECT count(*) AS squatter_sees FROM ame_record_history('hist_sq.orders', 'e8000000-0000-0000-0000-000000000001');
SELECT ame_record_at('hist_sq.orders', 'e8000000-0000-0000-0000-000000000001', now()) AS squatter_at;
RESET ROLE;
-- the owner still reads the dropped table's history under its name
SELECT operation, new_values ->> 'secret' AS secret
FROM ame_record_history('hist_sq.orders', 'e8000000-0000-0000-0000-000000000001');
DROP SCHEMA hist_sq CASCADE;

-- an audited table of one's own, moved and renamed into the name of a
-- renamed audited table, holding a row with one of its ids: neither with
-- its trigger disabled nor with the row logged under the old name does it
-- show the other table's history (the last image must be the live row)
CREATE SCHEMA hist_mv;
GRANT USAGE, CREATE ON SCHEMA hist_mv TO regress_hist_app;
CREATE TABLE hist_mv.v (id uuid PRIMARY KEY, secret text);
SELECT ame_enable_audit('hist_mv.v');
INSERT INTO hist_mv.v VALUES ('e9000000-0000-0000-0000-000000000001', 'TOP SECRET');
UPDATE hist_mv.v SET secret = 'TOP SECRET 2';
ALTER TABLE hist_mv.v RENAME TO v_old;
CREATE SCHEMA hist_att AUTHORIZATION regress_hist_app;
CREATE TABLE hist_att.x (id uuid PRIMARY KEY, secret text);
ALTER TABLE hist_att.x OWNER TO regress_hist_app;
SELECT ame_enable_audit('hist_att.x');
CREATE TABLE hist_att.y (id uuid PRIMARY KEY, secret text);
ALTER TABLE hist_att.y OWNER TO regress_hist_app;
SELECT ame_enable_audit('hist_att.y');
SET ROLE regress_hist_app;
ALTER TABLE hist_att.x DISABLE TRIGGER ame_audit;
ALTER TABLE hist_att.x SET SCHEMA hist_mv;
ALTER TABLE hist_mv.x RENAME TO v;
INSERT INTO hist_mv.v VALUES ('e9000000-0000-0000-0000-000000000001', 'mine');
SELECT count(*) AS disabled_trigger_sees FROM ame_record_history('hist_mv.v', 'e9000000-0000-0000-0000-000000000001');
SELECT ame_record_at('hist_mv.v', 'e9000000-0000-0000-0000-000000000001', now()) AS disabled_trigger_at;
DROP TABLE hist_mv.v;
-- the row logged first under its own name, then the table renamed
INSERT INTO hist_att.y VALUES ('e9000000-0000-0000-0000-000000000001', 'mine');
ALTER TABLE hist_att.y SET SCHEMA hist_mv;
ALTER TABLE hist_mv.y RENAME TO v;
SELECT count(*) AS renamed_table_sees FROM ame_record_history('hist_mv.v', 'e9000000-0000-0000-0000-000000000001');
SELECT ame_record_at('hist_mv.v', 'e9000000-0000-0000-0000-000000000001', now()) AS renamed_table_at;
RESET ROLE;
DROP SCHEMA hist_mv, hist_att CASCADE;

-- clean up
DROP VIEW hist_of_a1;
DROP TABLE hist_noid, hist_textid;
DELETE FROM ame_visits WHERE customer_id = 'c8000000-0000-0000-0000-000000000001';
DELETE FROM ame_technicians WHERE id::text LIKE 'a8000000-%';
DELETE FROM ame_customers WHERE id = 'c8000000-0000-0000-0000-000000000001';
REVOKE ALL ON ame_visits, ame_technicians, ame_customers FROM regress_hist_app;
REVOKE ALL ON ame_technicians FROM regress_hist_norights;
REVOKE ALL ON ame_audit_logs FROM regress_hist_auditor;
DROP ROLE regress_hist_app, regress_hist_auditor, regress_hist_norights;
