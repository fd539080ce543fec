--
-- schema: the tables, sequence, columns, keys, named constraints, indexes,
-- triggers and functions of SPEC §1-§3, and that the named constraints and
-- foreign keys really bite (re-reading the data after every error)
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(279);

--
-- tables and the sequence
--
SELECT has_table('public', t, format('table %s exists', t))
FROM unnest(ARRAY['ame_customers', 'ame_technicians', 'ame_visits',
                  'ame_visit_progress', 'ame_visit_sessions',
                  'ame_visit_sessions_archive', 'device_inventory',
                  'system_maintenance_log', 'import_batches', 'import_errors',
                  'ame_audit_logs']::name[]) AS t;
SELECT has_sequence('public', 'customer_sequence', 'sequence customer_sequence exists');

-- every table has a uuid primary key id defaulting to gen_random_uuid()
-- (the archive keeps the id of the session it holds, the audit log may
-- use time-ordered uuids; the log is partitioned: each partition has the
-- primary key, see docs/audit.md)
SELECT col_is_pk('public', t, 'id', format('%s: id is the primary key', t))
FROM unnest(ARRAY['ame_customers', 'ame_technicians', 'ame_visits',
                  'ame_visit_progress', 'ame_visit_sessions',
                  'device_inventory',
                  'system_maintenance_log', 'import_batches', 'import_errors',
                  'ame_audit_logs_default']::name[]) AS t;
-- the archive may hold a session id twice (archived again after an
-- import or an old dump, SPEC §6): each copy has its own archived_at
SELECT col_is_pk('public', 'ame_visit_sessions_archive', ARRAY['id', 'archived_at']::name[],
                 'ame_visit_sessions_archive: (id, archived_at) is the primary key');
SELECT col_type_is('public', t, 'id', 'uuid', format('%s: id is uuid', t))
FROM unnest(ARRAY['ame_customers', 'ame_technicians', 'ame_visits',
                  'ame_visit_progress', 'ame_visit_sessions',
                  'ame_visit_sessions_archive', 'device_inventory',
                  'system_maintenance_log', 'import_batches', 'import_errors',
                  'ame_audit_logs']::name[]) AS t;
SELECT col_default_is('public', t, 'id', 'gen_random_uuid()'::text,
                      format('%s: id defaults to gen_random_uuid()', t))
FROM unnest(ARRAY['ame_customers', 'ame_technicians', 'ame_visits',
                  'ame_visit_progress', 'ame_visit_sessions',
                  'device_inventory', 'system_maintenance_log',
                  'import_batches', 'import_errors']::name[]) AS t;

--
-- columns SPEC §2 names: type and NULL-ness; defaults where it names them
--
CREATE TEMP TABLE spec_columns (tbl name, col name, typ text, req boolean);
INSERT INTO spec_columns VALUES
  ('ame_customers', 'customer_number', 'text', true),
  ('ame_customers', 'company_name', 'text', true),
  ('ame_customers', 'site_name', 'text', false),
  ('ame_customers', 'site_address', 'text', false),
  ('ame_customers', 'primary_contact', 'text', false),
  ('ame_customers', 'phone', 'text', false),
  ('ame_customers', 'phone_extension', 'text', false),
  ('ame_customers', 'email', 'text', false),
  ('ame_customers', 'service_tier', 'text', true),
  ('ame_customers', 'system_type', 'text', false),
  ('ame_customers', 'contract_start_date', 'date', false),
  ('ame_customers', 'contract_end_date', 'date', false),
  ('ame_customers', 'created_at', 'timestamp with time zone', true),
  ('ame_customers', 'updated_at', 'timestamp with time zone', true),
  ('ame_technicians', 'user_id', 'uuid', false),
  ('ame_technicians', 'name', 'text', true),
  ('ame_technicians', 'email', 'text', false),
  ('ame_technicians', 'phone', 'text', false),
  ('ame_technicians', 'is_active', 'boolean', true),
  ('ame_visits', 'customer_id', 'uuid', true),
  ('ame_visits', 'technician_id', 'uuid', false),
  ('ame_visits', 'status', 'text', true),
  ('ame_visits', 'current_phase', 'integer', true),
  ('ame_visits', 'scheduled_date', 'date', false),
  ('ame_visits', 'actual_start_time', 'timestamp with time zone', false),
  ('ame_visits', 'completed_at', 'timestamp with time zone', false),
  ('ame_visit_progress', 'visit_id', 'uuid', true),
  ('ame_visit_progress', 'phase', 'integer', true),
  ('ame_visit_progress', 'task_name', 'text', true),
  ('ame_visit_progress', 'is_completed', 'boolean', true),
  ('ame_visit_progress', 'completed_at', 'timestamp with time zone', false),
  ('ame_visit_progress', 'notes', 'text', false),
  ('ame_visit_sessions', 'visit_id', 'uuid', true),
  ('ame_visit_sessions', 'technician_id', 'uuid', false),
  ('ame_visit_sessions', 'session_token', 'text', true),
  ('ame_visit_sessions', 'auto_save_data', 'jsonb', true),
  ('ame_visit_sessions', 'is_active', 'boolean', true),
  ('ame_visit_sessions', 'last_activity', 'timestamp with time zone', true),
  ('ame_visit_sessions', 'created_at', 'timestamp with time zone', true),
  ('ame_visit_sessions', 'expires_at', 'timestamp with time zone', true),
  ('ame_visit_sessions', 'ttl', 'interval', true),
  ('ame_visit_sessions_archive', 'archived_at', 'timestamp with time zone', true),
  ('device_inventory', 'customer_id', 'uuid', true),
  ('device_inventory', 'visit_id', 'uuid', false),
  ('device_inventory', 'device_name', 'text', true),
  ('device_inventory', 'device_type', 'text', false),
  ('device_inventory', 'vendor', 'text', false),
  ('device_inventory', 'model', 'text', false),
  ('device_inventory', 'firmware_version', 'text', false),
  ('device_inventory', 'ip_address', 'inet', false),
  ('device_inventory', 'status', 'text', false),
  ('device_inventory', 'last_seen', 'timestamp with time zone', false),
  ('system_maintenance_log', 'operation', 'text', true),
  ('system_maintenance_log', 'performed_at', 'timestamp with time zone', true),
  ('system_maintenance_log', 'details', 'jsonb', false),
  ('import_batches', 'error_message', 'text', false),
  ('import_batches', 'skipped_count', 'integer', true),
  ('import_errors', 'sqlstate', 'text', false),
  ('import_errors', 'raw_record', 'bytea', false),
  ('ame_audit_logs', 'table_schema', 'text', true),
  ('ame_audit_logs', 'seq', 'bigint', true),
  ('ame_audit_logs', 'user_id', 'uuid', false);

SELECT col_type_is('public', tbl, col, typ, format('%s.%s is %s', tbl, col, typ))
FROM spec_columns ORDER BY tbl, col;
SELECT CASE WHEN req
            THEN col_not_null('public', tbl, col, format('%s.%s is NOT NULL', tbl, col))
            ELSE col_is_null('public', tbl, col, format('%s.%s is nullable', tbl, col))
       END
FROM spec_columns ORDER BY tbl, col;

-- columns whose type SPEC leaves open: they exist
SELECT has_column('public', tbl, col, format('%s.%s exists', tbl, col))
FROM (VALUES ('ame_visits'::name, 'duration_hours'::name),
             ('system_maintenance_log', 'affected_rows'),
             ('system_maintenance_log', 'duration_ms'),
             ('import_errors', 'line_number')) AS c (tbl, col);
SELECT is((SELECT format_type(atttypid, NULL) FROM pg_attribute
           WHERE attrelid = 'public.ame_visits'::regclass AND attname = 'duration_hours'),
          'numeric', 'ame_visits.duration_hours is a numeric');

-- the archive has every column of the live sessions, same type, plus archived_at
SELECT set_eq(
  $$SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = 'public.ame_visit_sessions_archive'::regclass
      AND attnum > 0 AND NOT attisdropped$$,
  $$SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = 'public.ame_visit_sessions'::regclass
      AND attnum > 0 AND NOT attisdropped
    UNION ALL SELECT 'archived_at', 'timestamp with time zone'$$,
  'ame_visit_sessions_archive has the columns of ame_visit_sessions plus archived_at');

-- defaults SPEC names
SELECT col_default_is('public', 'ame_visit_sessions', 'auto_save_data', '{}'::jsonb,
                      'sessions: auto_save_data defaults to {}');
SELECT col_default_is('public', 'ame_visit_sessions', 'is_active', true,
                      'sessions: is_active defaults to true');
SELECT col_default_is('public', 'ame_visit_sessions', 'created_at', 'now()'::text,
                      'sessions: created_at defaults to now()');
SELECT col_default_is('public', 'ame_visit_sessions', 'last_activity', 'now()'::text,
                      'sessions: last_activity defaults to now()');
SELECT col_default_is('public', 'ame_visit_sessions', 'ttl', '8 hours'::interval,
                      'sessions: ttl defaults to 8 hours');
SELECT col_hasnt_default('public', 'ame_visit_sessions', 'expires_at',
                         'sessions: expires_at has no default');
SELECT col_default_is('public', 'ame_visit_sessions_archive', 'archived_at', 'now()'::text,
                      'archive: archived_at defaults to now()');
SELECT col_default_is('public', 'ame_visits', 'status', 'scheduled'::text,
                      'visits: status defaults to scheduled');
SELECT col_default_is('public', 'ame_visits', 'current_phase', 1,
                      'visits: current_phase defaults to 1');
SELECT col_default_is('public', 'ame_visit_progress', 'is_completed', false,
                      'progress: is_completed defaults to false');
SELECT col_hasnt_default('public', 'ame_visit_progress', 'completed_at',
                         'progress: completed_at is not stamped by a default');
SELECT col_default_is('public', 'ame_technicians', 'is_active', true,
                      'technicians: is_active defaults to true');
SELECT col_default_is('public', t, c, 'now()'::text, format('%s.%s defaults to now()', t, c))
FROM (VALUES ('ame_customers'::name, 'created_at'::name), ('ame_customers', 'updated_at'),
             ('ame_technicians', 'created_at'), ('ame_technicians', 'updated_at'),
             ('ame_visits', 'created_at'), ('ame_visits', 'updated_at'),
             ('ame_visit_progress', 'created_at'), ('ame_visit_progress', 'updated_at'),
             ('device_inventory', 'created_at'), ('device_inventory', 'updated_at'),
             ('system_maintenance_log', 'performed_at')) AS d (t, c);
SELECT col_hasnt_default('public', 'ame_customers', 'customer_number',
                         'customers: customer_number comes from the trigger, not a default');

--
-- keys
--
SELECT col_is_unique('public', 'ame_customers', 'customer_number',
                     'customer_number is unique');
SELECT col_is_unique('public', 'ame_visit_sessions', 'session_token',
                     'session_token is unique');
SELECT col_is_unique('public', 'ame_technicians', 'user_id',
                     'technicians.user_id is unique');

SELECT fk_ok('public', 'ame_visits', 'customer_id', 'public', 'ame_customers', 'id',
             'ame_visits.customer_id references ame_customers.id');
SELECT fk_ok('public', 'ame_visit_progress', 'visit_id', 'public', 'ame_visits', 'id',
             'ame_visit_progress.visit_id references ame_visits.id');
SELECT fk_ok('public', 'ame_visit_sessions', 'visit_id', 'public', 'ame_visits', 'id',
             'ame_visit_sessions.visit_id references ame_visits.id');
SELECT fk_ok('public', 'device_inventory', 'customer_id', 'public', 'ame_customers', 'id',
             'device_inventory.customer_id references ame_customers.id');

-- the seed's foreign keys, by name, with their ON DELETE action
SELECT results_eq(
  $$SELECT conname::text COLLATE "default", conrelid::regclass::text, confrelid::regclass::text,
           confdeltype::text
    FROM pg_constraint
    WHERE contype = 'f' AND connamespace = 'public'::regnamespace
      AND conname IN ('fk_visits_customer', 'fk_progress_visit', 'fk_sessions_visit')
    ORDER BY conname$$,
  $$VALUES ('fk_progress_visit', 'ame_visit_progress', 'ame_visits', 'c'),
           ('fk_sessions_visit', 'ame_visit_sessions', 'ame_visits', 'c'),
           ('fk_visits_customer', 'ame_visits', 'ame_customers', 'r')$$,
  'fk_visits_customer is ON DELETE RESTRICT, fk_progress_visit and fk_sessions_visit ON DELETE CASCADE');

SELECT col_isnt_fk('public', 'ame_audit_logs', 'user_id',
                   'ame_audit_logs.user_id carries no foreign key');

-- the seed's CHECK constraints, by name, on their tables
SELECT bag_has(
  $$SELECT conname::text COLLATE "default", conrelid::regclass::text FROM pg_constraint
    WHERE contype = 'c' AND connamespace = 'public'::regnamespace$$,
  $$VALUES ('valid_service_tier', 'ame_customers'),
           ('valid_phase_progression', 'ame_visits'),
           ('valid_session_duration', 'ame_visit_sessions'),
           ('completion_requires_time', 'ame_visit_progress')$$,
  'the seed''s named CHECK constraints exist on their tables');
SELECT has_check('public', t, format('%s has a CHECK constraint', t))
FROM unnest(ARRAY['ame_customers', 'ame_visits', 'ame_visit_progress',
                  'ame_visit_sessions']::name[]) AS t;

--
-- indexes of the install script
--
SELECT has_index('public', tbl, idx, cols, format('index %s on %s (%s)', idx, tbl, array_to_string(cols, ', ')))
FROM (VALUES
  ('ame_visits'::name, 'ame_visits_technician_idx'::name, ARRAY['technician_id', 'id']::name[]),
  ('ame_visits', 'ame_visits_customer_idx', ARRAY['customer_id']),
  ('ame_visit_sessions', 'ame_visit_sessions_active_idx', ARRAY['visit_id', 'expires_at']),
  ('ame_visit_sessions', 'ame_visit_sessions_visit_idx', ARRAY['visit_id']),
  ('ame_visit_sessions', 'ame_visit_sessions_expires_idx', ARRAY['expires_at']),
  ('ame_visit_sessions_archive', 'ame_visit_sessions_archive_visit_idx', ARRAY['visit_id']),
  ('device_inventory', 'device_inventory_customer_idx', ARRAY['customer_id']),
  ('device_inventory', 'device_inventory_visit_idx', ARRAY['visit_id']),
  ('system_maintenance_log', 'system_maintenance_log_performed_idx', ARRAY['performed_at']),
  ('import_errors', 'import_errors_batch_idx', ARRAY['batch_id', 'row_number']),
  ('ame_audit_logs_default', 'ame_audit_logs_default_record_idx', ARRAY['record_id']),
  ('ame_audit_logs_default', 'ame_audit_logs_default_seq_idx', ARRAY['seq'])) AS i (tbl, idx, cols);
SELECT index_is_type('public', 'ame_audit_logs_default', 'ame_audit_logs_default_record_idx', 'hash',
                     'ame_audit_logs_default_record_idx is a hash index');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
           WHERE indexrelid = 'public.ame_visit_sessions_active_idx'::regclass),
          'is_active', 'ame_visit_sessions_active_idx covers active sessions only');

--
-- triggers
--
SELECT has_trigger('public', 'ame_customers', 'ame_customers_normalize',
                   'ame_customers has trigger ame_customers_normalize');
SELECT trigger_is('public', 'ame_customers', 'ame_customers_normalize',
                  'public', 'normalize_customer_data',
                  'ame_customers_normalize calls normalize_customer_data()');
SELECT has_trigger('public', t, t || '_updated_at', format('%s has trigger %s_updated_at', t, t))
FROM unnest(ARRAY['ame_customers', 'ame_technicians', 'ame_visits',
                  'ame_visit_progress', 'device_inventory']::name[]) AS t;
SELECT trigger_is('public', t, t || '_updated_at', 'public', 'ame_set_updated_at',
                  format('%s_updated_at calls ame_set_updated_at()', t))
FROM unnest(ARRAY['ame_customers', 'ame_technicians', 'ame_visits',
                  'ame_visit_progress', 'device_inventory']::name[]) AS t;
-- timing and events: normalize is BEFORE INSERT OR UPDATE FOR EACH ROW,
-- updated_at BEFORE UPDATE FOR EACH ROW, and fires after normalize (name order)
SELECT results_eq(
  $$SELECT tgname::text COLLATE "default",
           (tgtype & 1) <> 0 AS for_each_row, (tgtype & 2) <> 0 AS before,
           (tgtype & 4) <> 0 AS on_insert, (tgtype & 16) <> 0 AS on_update,
           (tgtype & 8) <> 0 AS on_delete
    FROM pg_trigger
    WHERE tgrelid = 'public.ame_customers'::regclass
      AND tgname IN ('ame_customers_normalize', 'ame_customers_updated_at')
    ORDER BY tgname$$,
  $$VALUES ('ame_customers_normalize', true, true, true, true, false),
           ('ame_customers_updated_at', true, true, false, true, false)$$,
  'the customers triggers fire BEFORE, FOR EACH ROW, on the right events, normalize first');

--
-- functions
--
SELECT has_function('public', 'ame_current_user_id', ARRAY[]::name[],
                    'ame_current_user_id() exists');
SELECT function_returns('public', 'ame_current_user_id', ARRAY[]::name[], 'uuid',
                        'ame_current_user_id() returns uuid');
SELECT function_lang_is('public', 'ame_current_user_id', ARRAY[]::name[], 'c',
                        'ame_current_user_id() is written in C');
SELECT volatility_is('public', 'ame_current_user_id', ARRAY[]::name[], 'stable',
                     'ame_current_user_id() is STABLE');
SELECT isnt_definer('public', 'ame_current_user_id', ARRAY[]::name[],
                    'ame_current_user_id() is not SECURITY DEFINER');
SELECT ok(has_function_privilege('public', 'public.ame_current_user_id()', 'EXECUTE'),
          'ame_current_user_id() is executable by PUBLIC');
SELECT has_function('public', f, ARRAY[]::name[], format('%s() exists', f))
FROM unnest(ARRAY['normalize_customer_data', 'ame_set_updated_at']::name[]) AS f;
SELECT function_returns('public', f, ARRAY[]::name[], 'trigger', format('%s() returns trigger', f))
FROM unnest(ARRAY['normalize_customer_data', 'ame_set_updated_at']::name[]) AS f;
SELECT function_lang_is('public', f, ARRAY[]::name[], 'c', format('%s() is written in C', f))
FROM unnest(ARRAY['normalize_customer_data', 'ame_set_updated_at']::name[]) AS f;

--
-- the extension: no other extension required, every user-data table and
-- its sequences registered for pg_dump
--
SELECT has_extension('public', 'ame', 'extension ame is installed in public');
SELECT is((SELECT requires FROM pg_available_extension_versions
           WHERE name = 'ame' AND version = '2.0'),
          NULL, 'ame requires no other extension');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'ame'), '2.0',
          'CREATE EXTENSION ame installs version 2.0');
SELECT is((SELECT string_agg(target, ', ' ORDER BY target) FROM pg_extension_update_paths('ame')
           WHERE source = '1.0' AND path IS NOT NULL),
          '1.1, 1.2, 1.3, 1.4, 2.0', 'a 1.0 install can be updated to 1.1, 1.2, 1.3, 1.4 and 2.0');
SELECT set_has(
  $$SELECT c.relname::text COLLATE "default" FROM pg_extension e, unnest(e.extconfig) AS x (oid)
    JOIN pg_class c ON c.oid = x.oid WHERE e.extname = 'ame'$$,
  $$VALUES ('ame_customers'), ('ame_technicians'), ('ame_visits'),
           ('ame_visit_progress'), ('ame_visit_sessions'),
           ('ame_visit_sessions_archive'), ('device_inventory'),
           ('system_maintenance_log'), ('import_batches'), ('import_errors'),
           ('ame_audit_logs'), ('ame_audit_logs_default'), ('customer_sequence'),
           ('ame_audit_logs_seq_seq')$$,
  'every user-data table and its sequences are registered with pg_extension_config_dump');

--
-- the constraints bite; the data is re-read afterwards
--
INSERT INTO public.ame_customers (id, company_name, service_tier)
VALUES ('c0000000-0000-0000-0000-000000000001', 'Northwind Plant', 'CORE');
INSERT INTO public.ame_technicians (id, name, user_id)
VALUES ('a0000000-0000-0000-0000-000000000001', 'Tess Tech',
        'b0000000-0000-0000-0000-000000000001');
INSERT INTO public.ame_visits (id, customer_id, technician_id)
VALUES ('d0000000-0000-0000-0000-000000000001',
        'c0000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001');
INSERT INTO public.ame_visit_progress (visit_id, phase, task_name)
VALUES ('d0000000-0000-0000-0000-000000000001', 1, 'Inspect controllers');
INSERT INTO public.ame_visit_sessions (visit_id, session_token, expires_at)
VALUES ('d0000000-0000-0000-0000-000000000001', 'tok-1', now() + interval '1 hour');
INSERT INTO public.device_inventory (customer_id, device_name, ip_address)
VALUES ('c0000000-0000-0000-0000-000000000001', 'AHU-1 controller', '10.1.2.3');

-- defaults as stored
SELECT results_eq(
  $$SELECT auto_save_data, is_active, ttl, created_at = now(), last_activity = now()
    FROM public.ame_visit_sessions$$,
  $$VALUES ('{}'::jsonb, true, interval '8 hours', true, true)$$,
  'a new session gets {} / active / 8 hours / created and active now');
SELECT results_eq(
  $$SELECT v.status, v.current_phase, p.is_completed, p.completed_at
    FROM public.ame_visits v, public.ame_visit_progress p$$,
  $$VALUES ('scheduled'::text, 1, false, NULL::timestamptz)$$,
  'a new visit is scheduled in phase 1; a new task is not completed and not stamped');

CREATE TEMP VIEW snapshot AS
SELECT (SELECT string_agg(customer_number || '/' || company_name || '/' || service_tier, ',')
        FROM public.ame_customers) AS customers,
       (SELECT string_agg(name, ',') FROM public.ame_technicians) AS technicians,
       (SELECT string_agg(status || '/' || current_phase || '/' || coalesce(completed_at::text, '-'), ',')
        FROM public.ame_visits) AS visits,
       (SELECT string_agg(phase || ':' || task_name || ':' || is_completed, ',')
        FROM public.ame_visit_progress) AS progress,
       (SELECT string_agg(session_token || ':' || (expires_at > created_at), ',')
        FROM public.ame_visit_sessions) AS sessions,
       (SELECT string_agg(device_name, ',') FROM public.device_inventory) AS devices;
CREATE TEMP TABLE before AS SELECT * FROM snapshot;

-- valid_service_tier holds even with the normalizing trigger out of the way
ALTER TABLE public.ame_customers DISABLE TRIGGER ame_customers_normalize;
SELECT throws_ok(
  $$INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
    VALUES ('X', 'core', 'N-1')$$,
  '23514', 'new row for relation "ame_customers" violates check constraint "valid_service_tier"',
  'valid_service_tier rejects a tier outside CORE/ASSURE/GUARDIAN');
ALTER TABLE public.ame_customers ENABLE TRIGGER ame_customers_normalize;

-- the workflow trigger (BEFORE) refuses these rows first (its own 23514,
-- constraint ame_visit_workflow); the CHECK constraints must hold on their
-- own, so that trigger is out of the way while they are proven
ALTER TABLE public.ame_visits DISABLE TRIGGER ame_visits_check_workflow;
SELECT throws_ok(
  $$UPDATE public.ame_visits SET current_phase = 5$$,
  '23514', 'new row for relation "ame_visits" violates check constraint "valid_phase_progression"',
  'valid_phase_progression rejects phase 5');
SELECT throws_ok(
  $$UPDATE public.ame_visits SET current_phase = 0$$,
  '23514', 'new row for relation "ame_visits" violates check constraint "valid_phase_progression"',
  'valid_phase_progression rejects phase 0');
ALTER TABLE public.ame_visits ENABLE TRIGGER ame_visits_check_workflow;
-- (the task workflow's trigger fires AFTER the row is written: the CHECK
-- refuses this row first)
SELECT throws_ok(
  $$UPDATE public.ame_visit_progress SET is_completed = true$$,
  '23514', 'new row for relation "ame_visit_progress" violates check constraint "completion_requires_time"',
  'completion_requires_time: a completed task needs completed_at');
SELECT throws_ok(
  $$INSERT INTO public.ame_visit_sessions (visit_id, session_token, created_at, expires_at)
    VALUES ('d0000000-0000-0000-0000-000000000001', 'tok-2', now(), now())$$,
  '23514', 'new row for relation "ame_visit_sessions" violates check constraint "valid_session_duration"',
  'valid_session_duration: a session must expire after it is created');
SELECT throws_ok(
  $$UPDATE public.ame_visit_sessions SET expires_at = created_at - interval '1 second'$$,
  '23514', 'new row for relation "ame_visit_sessions" violates check constraint "valid_session_duration"',
  'valid_session_duration holds on UPDATE too');
SELECT throws_like(
  $$INSERT INTO public.ame_visit_sessions (visit_id, session_token, expires_at, ttl)
    VALUES ('d0000000-0000-0000-0000-000000000001', 'tok-3', now() + interval '1 hour', '0')$$,
  'new row for relation "ame_visit_sessions" violates check constraint %',
  'a session ttl must be positive');
SELECT throws_ok(
  $$INSERT INTO public.ame_visits (customer_id)
    VALUES ('c0000000-0000-0000-0000-0000000000ff')$$,
  '23503', 'insert or update on table "ame_visits" violates foreign key constraint "fk_visits_customer"',
  'fk_visits_customer: a visit needs an existing customer');
SELECT throws_ok(
  $$INSERT INTO public.ame_visit_progress (visit_id, phase, task_name)
    VALUES ('d0000000-0000-0000-0000-0000000000ff', 1, 'Orphan')$$,
  '23503', 'insert or update on table "ame_visit_progress" violates foreign key constraint "fk_progress_visit"',
  'fk_progress_visit: a task needs an existing visit');
SELECT throws_ok(
  $$INSERT INTO public.ame_visit_sessions (visit_id, session_token, expires_at)
    VALUES ('d0000000-0000-0000-0000-0000000000ff', 'tok-4', now() + interval '1 hour')$$,
  '23503', 'insert or update on table "ame_visit_sessions" violates foreign key constraint "fk_sessions_visit"',
  'fk_sessions_visit: a session needs an existing visit');
SELECT throws_like(
  $$INSERT INTO public.ame_customers (company_name, service_tier, customer_number)
    SELECT 'Copy', 'CORE', customer_number FROM public.ame_customers$$,
  'duplicate key value violates unique constraint %',
  'a customer_number cannot be used twice');
SELECT throws_like(
  $$INSERT INTO public.ame_visit_sessions (visit_id, session_token, expires_at)
    VALUES ('d0000000-0000-0000-0000-000000000001', 'tok-1', now() + interval '1 hour')$$,
  'duplicate key value violates unique constraint %',
  'a session_token cannot be used twice');
SELECT throws_like(
  $$INSERT INTO public.ame_technicians (name, user_id)
    VALUES ('Twin', 'b0000000-0000-0000-0000-000000000001')$$,
  'duplicate key value violates unique constraint %',
  'a login identity belongs to one technician');
SELECT throws_ok(
  $$INSERT INTO public.ame_technicians (name) VALUES (NULL)$$,
  '23502', 'null value in column "name" of relation "ame_technicians" violates not-null constraint',
  'a technician needs a name');
SELECT throws_ok(
  $$INSERT INTO public.ame_visit_sessions (visit_id, session_token) VALUES
    ('d0000000-0000-0000-0000-000000000001', 'tok-5')$$,
  '23502', 'null value in column "expires_at" of relation "ame_visit_sessions" violates not-null constraint',
  'a session needs expires_at');
SELECT throws_ok(
  $$INSERT INTO public.device_inventory (customer_id, device_name, ip_address)
    VALUES ('c0000000-0000-0000-0000-000000000001', 'Bad IP', '300.1.1.1')$$,
  '22P02', 'invalid input syntax for type inet: "300.1.1.1"',
  'device_inventory.ip_address only takes addresses');

-- ON DELETE RESTRICT: a customer with a visit stays (PostgreSQL 18 reports
-- a RESTRICT violation as 23001 restrict_violation, earlier majors as 23503)
SELECT throws_ok(
  $$DELETE FROM public.ame_customers WHERE id = 'c0000000-0000-0000-0000-000000000001'$$,
  CASE WHEN current_setting('server_version_num')::int >= 180000 THEN '23001' ELSE '23503' END,
  CASE WHEN current_setting('server_version_num')::int >= 180000
    THEN 'update or delete on table "ame_customers" violates RESTRICT setting of foreign key constraint "fk_visits_customer" on table "ame_visits"'
    ELSE 'update or delete on table "ame_customers" violates foreign key constraint "fk_visits_customer" on table "ame_visits"' END,
  'fk_visits_customer: a customer with visits cannot be deleted');

SELECT results_eq('SELECT * FROM snapshot', 'SELECT * FROM before',
                  'none of the failed statements changed anything');
SELECT isnt((SELECT customers FROM before), NULL, 'the snapshot holds the fixture');

-- ON DELETE CASCADE: progress and sessions go with their visit, the rest stays
DELETE FROM public.ame_visits WHERE id = 'd0000000-0000-0000-0000-000000000001';
SELECT results_eq(
  $$SELECT (SELECT count(*) FROM public.ame_visits),
           (SELECT count(*) FROM public.ame_visit_progress),
           (SELECT count(*) FROM public.ame_visit_sessions),
           (SELECT count(*) FROM public.ame_customers),
           (SELECT count(*) FROM public.ame_technicians),
           (SELECT count(*) FROM public.device_inventory)$$,
  $$VALUES (0::bigint, 0::bigint, 0::bigint, 1::bigint, 1::bigint, 1::bigint)$$,
  'deleting a visit cascades to its progress and sessions only');
-- and with no visit left the customer can go
SELECT lives_ok(
  $$DELETE FROM public.device_inventory;
    DELETE FROM public.ame_customers WHERE id = 'c0000000-0000-0000-0000-000000000001'$$,
  'a customer without visits or devices can be deleted');
SELECT is((SELECT count(*) FROM public.ame_customers), 0::bigint, 'the customer is gone');

SELECT * FROM finish();
ROLLBACK;
