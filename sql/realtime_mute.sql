--
-- realtime_mute: the restore signals (application_name = 'pg_restore',
-- row_security = off) mute realtime only for the table's owner (or a
-- member of the owning role) and superusers (SPEC §6).  Any other role
-- that sets them is heard as usual.
--
\set VERBOSITY terse

INSERT INTO ame_customers (id, company_name, service_tier, customer_number)
VALUES ('c8300000-0000-0000-0000-000000000001', 'Mute Co', 'CORE', 'RT-MUTE');
SELECT pg_get_userbyid(c.relowner) = current_user AS i_own_it, r.rolsuper
FROM pg_class c, pg_roles r WHERE c.oid = 'device_inventory'::regclass AND r.rolname = current_user;

CREATE ROLE regress_rt_writer;
CREATE ROLE regress_rt_member;
GRANT SELECT, INSERT, UPDATE, DELETE ON device_inventory TO regress_rt_writer, regress_rt_member;
-- a member of the owning role counts as the owner, as for ALTER TABLE
-- (granted in a DO block: the owner's name, which depends on who runs the
-- suite, stays out of the output)
DO $$
BEGIN
  EXECUTE format('GRANT %I TO regress_rt_member',
                 (SELECT pg_get_userbyid(relowner) FROM pg_class
                  WHERE oid = 'device_inventory'::regclass));
END $$;

LISTEN ame_realtime;
\o | sed -E 's/PID [0-9]+/PID <pid>/'
-- a role that is neither owner nor superuser: heard under both signals
SET ROLE regress_rt_writer;
SET application_name = 'pg_restore';
INSERT INTO device_inventory (id, customer_id, device_name)
VALUES ('b8300000-0000-0000-0000-000000000001', 'c8300000-0000-0000-0000-000000000001', 'writer, pg_restore');
RESET application_name;
SET row_security = off;
UPDATE device_inventory SET vendor = 'row_security off'
WHERE id = 'b8300000-0000-0000-0000-000000000001';
RESET row_security;
RESET ROLE;
-- the owner (here a superuser): muted by either signal
SET application_name = 'pg_restore';
INSERT INTO device_inventory (id, customer_id, device_name)
VALUES ('b8300000-0000-0000-0000-000000000002', 'c8300000-0000-0000-0000-000000000001', 'owner, pg_restore');
RESET application_name;
SET row_security = off;
UPDATE device_inventory SET vendor = 'owner, row_security off'
WHERE id = 'b8300000-0000-0000-0000-000000000002';
RESET row_security;
-- a member of the owning role: muted
SET ROLE regress_rt_member;
SET application_name = 'pg_restore';
UPDATE device_inventory SET vendor = 'member, pg_restore'
WHERE id = 'b8300000-0000-0000-0000-000000000002';
RESET application_name;
-- and heard without a signal
UPDATE device_inventory SET vendor = 'member, heard'
WHERE id = 'b8300000-0000-0000-0000-000000000002';
RESET ROLE;
-- the non-owner's bulk statement is heard too, as a summary
SET ROLE regress_rt_writer;
SET application_name = 'pg_restore';
INSERT INTO device_inventory (customer_id, device_name)
SELECT 'c8300000-0000-0000-0000-000000000001', 'writer-' || g FROM generate_series(1, 101) g;
RESET application_name;
RESET ROLE;
-- a SECURITY DEFINER function of the owner runs as the owner, but the role
-- that calls it gives no restore signal: heard
CREATE FUNCTION regress_rt_definer_update(v text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$ UPDATE public.device_inventory SET vendor = v
		WHERE id = 'b8300000-0000-0000-0000-000000000001' $fn$;
GRANT EXECUTE ON FUNCTION regress_rt_definer_update(text) TO regress_rt_writer;
SET ROLE regress_rt_writer;
SET application_name = 'pg_restore';
SELECT regress_rt_definer_update('writer via definer, pg_restore');
RESET application_name;
RESET ROLE;
\o
UNLISTEN ame_realtime;
-- every change was made
SELECT device_name, vendor FROM device_inventory
WHERE customer_id = 'c8300000-0000-0000-0000-000000000001' AND device_name NOT LIKE 'writer-%'
ORDER BY id;
SELECT count(*) AS writer_rows FROM device_inventory WHERE device_name LIKE 'writer-%';

DELETE FROM device_inventory WHERE customer_id = 'c8300000-0000-0000-0000-000000000001';
DELETE FROM ame_customers WHERE id = 'c8300000-0000-0000-0000-000000000001';
DROP FUNCTION regress_rt_definer_update(text);
REVOKE ALL ON device_inventory FROM regress_rt_writer, regress_rt_member;
DROP ROLE regress_rt_writer;
DROP ROLE regress_rt_member;
