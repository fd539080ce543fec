--
-- http_errors: every error a client can cause carries a SQLSTATE that
-- PostgREST answers with a 4xx status (SPEC §12, docs/errors.md "HTTP
-- status").  Each case is run as PostgREST runs a request (a role, JWT
-- claims set for the transaction), its SQLSTATE caught, and mapped the way
-- PostgREST maps it.  The data is re-read at the end: nothing changed.
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(38);

-- PostgREST's mapping (docs/errors.md, "HTTP status"), for a request that
-- carries a JWT (42501 is 401 without one)
CREATE FUNCTION pg_temp.postgrest_status(code text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
  WHEN code IN ('23503', '23505') THEN 409
  WHEN code = '42501' THEN 403
  WHEN code IN ('42883', '42P01') THEN 404
  WHEN code = '25006' THEN 405
  WHEN code = 'P0001' THEN 400
  WHEN code = '53400' THEN 500
  WHEN left(code, 2) IN ('08', '53') THEN 503
  WHEN left(code, 2) = '54' THEN 413
  WHEN left(code, 2) IN ('0L', '0P', '28') THEN 403
  WHEN left(code, 2) IN ('09', '25', '2D', '38', '39', '3B', '40', '55', '57', '58',
                         'F0', 'HV', 'XX', 'P0') THEN 500
  ELSE 400 END
$$;

-- run one request: as a role (NULL: as the owner), with the JWT claims of
-- a user (NULL: none); returns "<SQLSTATE> -> <HTTP status>", or "no error"
CREATE FUNCTION pg_temp.request(q text, as_role text DEFAULT NULL, sub text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF sub IS NOT NULL THEN
    PERFORM set_config('request.jwt.claims', json_build_object('sub', sub, 'role', as_role)::text, true);
  END IF;
  IF as_role IS NOT NULL THEN
    PERFORM set_config('role', as_role, true);
  END IF;
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' -> ' || pg_temp.postgrest_status(SQLSTATE);
END
$$;

-- the app's role, as Supabase's "authenticated": table rights, row-level
-- security decides which visits
CREATE ROLE ame_http_app NOLOGIN;
GRANT USAGE ON SCHEMA public TO ame_http_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ame_http_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ame_http_app;
-- an owner-only function granted by mistake: the grant hands out nothing
GRANT EXECUTE ON FUNCTION public.ame_purge_audit_logs(interval) TO ame_http_app;
GRANT EXECUTE ON FUNCTION public.ame_import_csv_file(text, text) TO ame_http_app;

INSERT INTO public.ame_customers (id, company_name, service_tier, customer_number)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Northwind Plant', 'CORE', 'AME-000100');
INSERT INTO public.ame_technicians (id, name, user_id) VALUES
  ('a0000000-0000-0000-0000-000000000001', 'Tess', 'b0000000-0000-0000-0000-000000000001'),
  ('a0000000-0000-0000-0000-000000000002', 'Theo', 'b0000000-0000-0000-0000-000000000002');
INSERT INTO public.ame_visits (id, customer_id, technician_id) VALUES
  ('d0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000001'),
  ('d0000000-0000-0000-0000-000000000002', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000002');
INSERT INTO public.ame_visit_progress (id, visit_id, phase, task_name) VALUES
  ('e0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 1, 'Inspect');
-- Tess's cancelled visit, her ended session and her live one; Theo's live one
INSERT INTO public.ame_visits (id, customer_id, technician_id, status) VALUES
  ('d0000000-0000-0000-0000-000000000003', 'c0000000-0000-0000-0000-000000000001',
   'a0000000-0000-0000-0000-000000000001', 'cancelled');
INSERT INTO public.ame_visit_sessions (visit_id, session_token, is_active, created_at, expires_at) VALUES
  ('d0000000-0000-0000-0000-000000000001', 'tess-ended', false, now() - interval '2 hours', now() - interval '1 hour'),
  ('d0000000-0000-0000-0000-000000000001', 'tess-live', true, now(), now() + interval '1 hour'),
  ('d0000000-0000-0000-0000-000000000002', 'theo-live', true, now(), now() + interval '1 hour');

CREATE TEMP TABLE before AS
SELECT (SELECT string_agg(c::text, ',' ORDER BY id) FROM public.ame_customers c) AS customers,
       (SELECT string_agg(t::text, ',' ORDER BY id) FROM public.ame_technicians t) AS technicians,
       (SELECT string_agg(v::text, ',' ORDER BY id) FROM public.ame_visits v) AS visits,
       (SELECT string_agg(p::text, ',' ORDER BY id) FROM public.ame_visit_progress p) AS progress,
       (SELECT string_agg(s::text, ',' ORDER BY id) FROM public.ame_visit_sessions s) AS sessions,
       (SELECT count(*) FROM public.import_batches) AS batches,
       (SELECT count(*) FROM public.ame_audit_logs) AS audit_rows;

-- the library is loaded (its settings are defined) before the setting cases
SELECT ame_current_user_id();

--
-- identity: an unusable JWT claim (22P02)
--
SELECT is(pg_temp.request($$SELECT set_config('request.jwt.claim.sub', 'not-a-uuid', true),
                                   public.ame_current_user_id()$$),
          '22P02 -> 400', 'a subject that is not a uuid: 22P02, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_current_user_id()$$, 'ame_http_app', 'nope'),
          '22P02 -> 400', 'a "sub" claim that is not a uuid: 22P02, HTTP 400');
SELECT is(pg_temp.request($$SELECT * FROM public.ame_visits$$, 'ame_http_app', '42'),
          '22P02 -> 400', 'any query under row-level security with such a claim: 22P02, HTTP 400');

--
-- normalization of customers (22023, 22P02)
--
SELECT is(pg_temp.request($$INSERT INTO public.ame_customers (company_name, service_tier, email)
                           VALUES ('X', 'CORE', 'not an email')$$),
          '22023 -> 400', 'an invalid email: 22023, HTTP 400');
SELECT is(pg_temp.request($$INSERT INTO public.ame_customers (company_name, service_tier)
                           VALUES ('X', 'PLATINUM')$$),
          '22023 -> 400', 'an invalid service tier: 22023, HTTP 400');
SELECT is(pg_temp.request($$UPDATE public.ame_customers SET phone = 'call the office'$$),
          '22P02 -> 400', 'a phone number without digits: 22P02, HTTP 400');
SELECT is(pg_temp.request($$UPDATE public.ame_customers SET phone_extension = 'front desk'$$),
          '22P02 -> 400', 'a phone extension without digits: 22P02, HTTP 400');
SELECT is(pg_temp.request($$UPDATE public.ame_customers SET phone_extension = '12345678901'$$),
          '22023 -> 400', 'a phone extension of 11 digits: 22023, HTTP 400');

--
-- constraints (23502, 23503, 23505, 23514, 22P02)
--
SELECT is(pg_temp.request($$INSERT INTO public.ame_visits (customer_id)
                           VALUES ('c0000000-0000-0000-0000-0000000000ff')$$),
          '23503 -> 409', 'a visit of a customer that does not exist: 23503, HTTP 409');
SELECT is(pg_temp.request($$INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
                           VALUES ('Copy', 'CORE', 'AME-000100')$$),
          '23505 -> 409', 'a customer number taken: 23505, HTTP 409');
SELECT is(pg_temp.request($$INSERT INTO public.ame_technicians (name) VALUES (NULL)$$),
          '23502 -> 400', 'a technician without a name: 23502, HTTP 400');
SELECT is(pg_temp.request($$UPDATE public.ame_customers
                           SET contract_start_date = '2026-02-01', contract_end_date = '2026-01-01'$$),
          '23514 -> 400', 'a contract that ends before it starts: 23514, HTTP 400');
SELECT is(pg_temp.request($$INSERT INTO public.device_inventory (customer_id, device_name, ip_address)
                           VALUES ('c0000000-0000-0000-0000-000000000001', 'AHU', '300.1.1.1')$$),
          '22P02 -> 400', 'an invalid IP address: 22P02, HTTP 400');

--
-- the visit workflow (23514) and its functions (22023), as the technician
--
SELECT is(pg_temp.request($$UPDATE public.ame_visits SET status = 'completed'
                           WHERE id = 'd0000000-0000-0000-0000-000000000001'$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '23514 -> 400', 'a status change the workflow refuses: 23514, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_advance_phase('d0000000-0000-0000-0000-000000000001')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '23514 -> 400', 'ame_advance_phase() on a visit not in progress: 23514, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_complete_task('e0000000-0000-0000-0000-000000000001')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '23514 -> 400', 'ame_complete_task() on a visit not in progress: 23514, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_advance_phase('d0000000-0000-0000-0000-000000000002')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '22023 -> 400', 'ame_advance_phase() on another technician''s visit: 22023, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_complete_task('e0000000-0000-0000-0000-0000000000ff')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '22023 -> 400', 'ame_complete_task() of an unknown task: 22023, HTTP 400');

--
-- row-level security and privileges (42501)
--
SELECT is(pg_temp.request($$INSERT INTO public.ame_visit_progress (visit_id, phase, task_name)
                           VALUES ('d0000000-0000-0000-0000-000000000002', 1, 'Sneak in')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '42501 -> 403', 'a task written into another technician''s visit: 42501, HTTP 403');
SELECT is(pg_temp.request($$UPDATE public.ame_visits SET technician_id = 'a0000000-0000-0000-0000-000000000002'
                           WHERE id = 'd0000000-0000-0000-0000-000000000001'$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '42501 -> 403', 'handing one''s visit to another technician: 42501, HTTP 403');
SELECT is(pg_temp.request($$SELECT public.ame_purge_audit_logs('1 year')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '42501 -> 403', 'an owner-only function granted to the app: 42501, HTTP 403');
SELECT is(pg_temp.request($$SELECT public.ame_enable_audit('public.ame_customers')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '42501 -> 403', 'an owner-only function without a grant: 42501, HTTP 403');
SELECT is(pg_temp.request($$SELECT public.ame_import_csv_file('/etc/hostname', 'customers')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '42501 -> 403', 'a server-file import without pg_read_server_files: 42501, HTTP 403');
SELECT is(pg_temp.request($$DELETE FROM public.ame_audit_logs$$),
          '42501 -> 403', 'a change to the append-only audit log: 42501, HTTP 403');

--
-- settings (42602, 22023)
--
SELECT is(pg_temp.request($$SELECT set_config('ame.audit_contxt', 'x', true)$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '42602 -> 400', 'a misspelled ame. setting: 42602, HTTP 400');
SELECT is(pg_temp.request($$SELECT set_config('ame.audit_retention', 'forever', true)$$),
          '22023 -> 400', 'an ame.audit_retention that is not an interval: 22023, HTTP 400');

--
-- the import (22023) and the history functions (22023)
--
SELECT is(pg_temp.request($$SELECT public.ame_import_csv('company_name'::text, 'vendors'::text)$$),
          '22023 -> 400', 'an unknown import_type: 22023, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_import_csv(NULL::text, 'customers'::text)$$),
          '22023 -> 400', 'a NULL import: 22023, HTTP 400');
SELECT is(pg_temp.request($$SELECT * FROM public.ame_record_history('public.ame_customers', NULL)$$),
          '22023 -> 400', 'a NULL record id to the history: 22023, HTTP 400');

--
-- sessions: an unknown or invisible visit or token (22023), a closed visit
-- or an ended session (23514); 1.x gave P0002 and 55000, both HTTP 500
--
SELECT is(pg_temp.request($$SELECT public.ame_start_session('d0000000-0000-0000-0000-0000000000ff')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '22023 -> 400', 'ame_start_session() on an unknown visit: 22023, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_start_session('d0000000-0000-0000-0000-000000000002')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '22023 -> 400', 'ame_start_session() on another technician''s visit: 22023, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_start_session('d0000000-0000-0000-0000-000000000001', '-1 hour')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '22023 -> 400', 'ame_start_session() with a negative ttl: 22023, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_start_session('d0000000-0000-0000-0000-000000000003')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '23514 -> 400', 'ame_start_session() on a cancelled visit: 23514, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_touch_session('no-such-token')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '22023 -> 400', 'ame_touch_session() with an unknown token: 22023, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_end_session('theo-live')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '22023 -> 400', 'ame_end_session() with another technician''s token: 22023, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_touch_session('tess-ended')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '23514 -> 400', 'ame_touch_session() of an ended session: 23514, HTTP 400');
SELECT is(pg_temp.request($$SELECT public.ame_touch_session('tess-live', '[1]')$$,
                          'ame_http_app', 'b0000000-0000-0000-0000-000000000001'),
          '22023 -> 400', 'ame_touch_session() with auto-save data that is not an object: 22023, HTTP 400');

-- nothing any of them tried was kept
SELECT results_eq(
  $$SELECT (SELECT string_agg(c::text, ',' ORDER BY id) FROM public.ame_customers c),
           (SELECT string_agg(t::text, ',' ORDER BY id) FROM public.ame_technicians t),
           (SELECT string_agg(v::text, ',' ORDER BY id) FROM public.ame_visits v),
           (SELECT string_agg(p::text, ',' ORDER BY id) FROM public.ame_visit_progress p),
           (SELECT string_agg(s::text, ',' ORDER BY id) FROM public.ame_visit_sessions s),
           (SELECT count(*) FROM public.import_batches),
           (SELECT count(*) FROM public.ame_audit_logs)$$,
  $$SELECT * FROM before$$,
  'none of the refused requests changed anything');

SELECT * FROM finish();
ROLLBACK;
