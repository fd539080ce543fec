--
-- other_schema: CREATE EXTENSION ame SCHEMA fsm works, with nothing in
-- public and no need for fsm on the search_path
--
\set VERBOSITY terse

DROP EXTENSION ame;
CREATE SCHEMA fsm;
CREATE EXTENSION ame SCHEMA fsm;

SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'ame';
SELECT count(*) AS in_public FROM pg_class WHERE relnamespace = 'public'::regnamespace;
SELECT count(*) AS functions_in_public FROM pg_proc WHERE pronamespace = 'public'::regnamespace;
-- the publication left by the earlier DROP EXTENSION now holds fsm's tables
SELECT schemaname, tablename COLLATE "C" AS tablename FROM pg_publication_tables
WHERE pubname = 'ame_realtime' ORDER BY 2;

-- a caller without fsm on its path
SET search_path = pg_catalog;
INSERT INTO fsm.ame_customers (company_name, service_tier, phone, email)
VALUES ('Schema Co', 'assure', '(555) 444-1212 #3', ' Ops@Schema.Example ')
RETURNING customer_number, phone, phone_extension, email, service_tier;
INSERT INTO fsm.ame_technicians (name) VALUES ('Fay');
-- a completed visit is at phase 4 with both times; the workflow trigger
-- derives its duration
INSERT INTO fsm.ame_visits (customer_id, technician_id, status, current_phase,
                            actual_start_time, completed_at)
SELECT c.id, t.id, 'completed', 4, '2026-03-02 08:00+00', '2026-03-02 11:30+00'
FROM fsm.ame_customers c, fsm.ame_technicians t
RETURNING duration_hours;
SELECT name, total_visits, completed_visits FROM fsm.technician_performance;
SELECT service_tier, customer_count, total_visits FROM fsm.service_tier_metrics ORDER BY 1;
-- (its workflow columns are frozen now: notes still change)
UPDATE fsm.ame_visits SET notes = 'Filters replaced' RETURNING updated_at = now() AS stamped;
SET request.jwt.claims = '{"sub": "00000000-0000-0000-0000-0000000000f5"}';
SELECT fsm.ame_current_user_id();
RESET request.jwt.claims;
SELECT last_value FROM fsm.customer_sequence;
-- the sequence of the extension's own schema is used even when another
-- customer_sequence is first on the path
CREATE SEQUENCE public.customer_sequence START 900;
SET search_path = public, fsm;
INSERT INTO fsm.ame_customers (company_name, service_tier) VALUES ('Second', 'CORE')
RETURNING customer_number;
DROP SEQUENCE public.customer_sequence;
RESET search_path;

-- dropping it empties fsm again
DROP EXTENSION ame;
SELECT count(*) AS left_in_fsm FROM pg_class WHERE relnamespace = 'fsm'::regnamespace;
SELECT count(*) AS functions_left FROM pg_proc WHERE pronamespace = 'fsm'::regnamespace;
-- but the publication (not an extension member) stays, emptied
SELECT count(*) AS publication_tables FROM pg_publication_tables WHERE pubname = 'ame_realtime';
DROP PUBLICATION ame_realtime;
DROP SCHEMA fsm;

CREATE EXTENSION ame;
