--
-- trigger_misuse: the C triggers refuse to run where they were not made
-- to fire (39P01), and write nothing
--
\set VERBOSITY terse

-- called directly
SELECT normalize_customer_data();
\echo :LAST_ERROR_SQLSTATE
SELECT ame_set_updated_at();
\echo :LAST_ERROR_SQLSTATE

CREATE TABLE misuse (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                     company_name text, service_tier text);

-- AFTER instead of BEFORE
CREATE TRIGGER t AFTER INSERT ON misuse
  FOR EACH ROW EXECUTE FUNCTION normalize_customer_data();
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;

-- FOR EACH STATEMENT
CREATE TRIGGER t BEFORE INSERT ON misuse
  FOR EACH STATEMENT EXECUTE FUNCTION normalize_customer_data();
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;

-- DELETE is not an event it handles
CREATE TRIGGER t BEFORE DELETE ON misuse
  FOR EACH ROW EXECUTE FUNCTION normalize_customer_data();
INSERT INTO misuse (company_name, service_tier) VALUES ('kept', 'core');
DELETE FROM misuse;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;

-- a table without the columns it normalizes
CREATE TRIGGER t BEFORE INSERT ON misuse
  FOR EACH ROW EXECUTE FUNCTION normalize_customer_data();
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;

-- ame_set_updated_at: only BEFORE UPDATE, and only with a timestamptz updated_at
CREATE TRIGGER t BEFORE INSERT ON misuse
  FOR EACH ROW EXECUTE FUNCTION ame_set_updated_at();
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE UPDATE ON misuse
  FOR EACH ROW EXECUTE FUNCTION ame_set_updated_at();
UPDATE misuse SET company_name = 'y';
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE misuse ADD COLUMN updated_at date;
UPDATE misuse SET company_name = 'y';
\echo :LAST_ERROR_SQLSTATE
-- with the right column type it serves any table
ALTER TABLE misuse DROP COLUMN updated_at;
ALTER TABLE misuse ADD COLUMN updated_at timestamptz DEFAULT '2020-01-01';
UPDATE misuse SET company_name = 'kept';
SELECT company_name, updated_at FROM misuse;
BEGIN;
UPDATE misuse SET company_name = 'changed';
SELECT company_name, updated_at = now() AS moved FROM misuse;
COMMIT;

-- ame_realtime_notify: only AFTER ... FOR EACH ROW, only with a uuid id
DROP TRIGGER t ON misuse;
SELECT ame_realtime_notify();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER t BEFORE INSERT ON misuse
  FOR EACH ROW EXECUTE FUNCTION ame_realtime_notify();
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t AFTER INSERT ON misuse
  FOR EACH STATEMENT EXECUTE FUNCTION ame_realtime_notify();
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TABLE misuse_text_id (id text);
CREATE TRIGGER t AFTER INSERT ON misuse_text_id
  FOR EACH ROW EXECUTE FUNCTION ame_realtime_notify();
INSERT INTO misuse_text_id VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows FROM misuse_text_id;
DROP TABLE misuse_text_id;
-- its arguments name routing keys: an unknown or repeated one, or one
-- whose column the table lacks (misuse has no visit_id), fails the
-- statement and writes nothing
CREATE TRIGGER t AFTER INSERT ON misuse
  FOR EACH ROW EXECUTE FUNCTION ame_realtime_notify('company_name');
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t AFTER INSERT ON misuse
  FOR EACH ROW EXECUTE FUNCTION ame_realtime_notify('visit_id', 'visit_id');
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t AFTER INSERT ON misuse
  FOR EACH ROW EXECUTE FUNCTION ame_realtime_notify('technician_id');
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
SELECT count(*) AS rows FROM misuse WHERE company_name = 'x';

-- ame_realtime_notify_statement: only AFTER ... FOR EACH STATEMENT, and
-- not for TRUNCATE
SELECT ame_realtime_notify_statement();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER t AFTER INSERT ON misuse
  FOR EACH ROW EXECUTE FUNCTION ame_realtime_notify_statement();
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE INSERT ON misuse
  FOR EACH STATEMENT EXECUTE FUNCTION ame_realtime_notify_statement();
INSERT INTO misuse (company_name, service_tier) VALUES ('x', 'core');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t AFTER TRUNCATE ON misuse
  FOR EACH STATEMENT EXECUTE FUNCTION ame_realtime_notify_statement();
TRUNCATE misuse;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
-- on a table without the row trigger it has nothing to send
CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON misuse
  FOR EACH STATEMENT EXECUTE FUNCTION ame_realtime_notify_statement();
LISTEN ame_realtime;
UPDATE misuse SET company_name = company_name;
UNLISTEN ame_realtime;
DROP TRIGGER t ON misuse;

-- nothing was written by the failed statements
SELECT count(*) AS rows FROM misuse;
DROP TABLE misuse;
