/* ame--1.4.sql, assembled by the Makefile from the pieces in src/sql/ */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION ame" to load this file. \quit
/* src/sql/10_core.sql: identity, normalization, schema, updated_at, BI views */

--
-- Identity
--

CREATE FUNCTION @extschema@.ame_current_user_id()
RETURNS uuid
AS 'MODULE_PATHNAME', 'ame_current_user_id'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.ame_current_user_id() IS
'the acting user: GUC request.jwt.claim.sub, else "sub" of the JSON in request.jwt.claims; NULL when unset';

--
-- Trigger functions
--

CREATE FUNCTION @extschema@.normalize_customer_data()
RETURNS trigger
AS 'MODULE_PATHNAME', 'normalize_customer_data'
LANGUAGE C;

-- attaching it elsewhere would let anyone draw customer numbers
REVOKE EXECUTE ON FUNCTION @extschema@.normalize_customer_data() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.normalize_customer_data() IS
'BEFORE INSERT OR UPDATE row trigger of ame_customers: canonical phone, extension, email, service tier and customer number';

CREATE FUNCTION @extschema@.ame_set_updated_at()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_set_updated_at'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_set_updated_at() IS
'BEFORE UPDATE row trigger: sets updated_at to now() when another column really changed, else keeps it';

--
-- Customers
--

CREATE SEQUENCE @extschema@.customer_sequence AS bigint;

COMMENT ON SEQUENCE @extschema@.customer_sequence IS
'source of generated customer numbers (AME-000001, ...)';

CREATE TABLE @extschema@.ame_customers (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	customer_number text COLLATE "C" NOT NULL,
	company_name text NOT NULL,
	site_name text,
	site_address text,
	primary_contact text,
	phone text,
	phone_extension text,
	email text,
	service_tier text NOT NULL,
	system_type text,
	contract_start_date date,
	contract_end_date date,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT ame_customers_pkey PRIMARY KEY (id),
	CONSTRAINT ame_customers_customer_number_key UNIQUE (customer_number),
	CONSTRAINT valid_service_tier
		CHECK (service_tier IN ('CORE', 'ASSURE', 'GUARDIAN')),
	CONSTRAINT company_name_not_blank
		CHECK (pg_catalog.btrim(company_name) <> ''),
	CONSTRAINT valid_contract_period
		CHECK (contract_end_date >= contract_start_date)
);

COMMENT ON TABLE @extschema@.ame_customers IS
'customer sites on a service tier; normalized by normalize_customer_data()';

CREATE TRIGGER ame_customers_normalize
	BEFORE INSERT OR UPDATE ON @extschema@.ame_customers
	FOR EACH ROW EXECUTE FUNCTION @extschema@.normalize_customer_data();

--
-- Technicians
--

CREATE TABLE @extschema@.ame_technicians (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	user_id uuid,
	name text NOT NULL,
	email text,
	phone text,
	is_active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT ame_technicians_pkey PRIMARY KEY (id),
	CONSTRAINT ame_technicians_user_id_key UNIQUE (user_id)
);

COMMENT ON TABLE @extschema@.ame_technicians IS
'field technicians; user_id is the uuid of their login identity (ame_current_user_id())';

--
-- Visits
--

CREATE TABLE @extschema@.ame_visits (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	customer_id uuid NOT NULL,
	technician_id uuid,
	status text NOT NULL DEFAULT 'scheduled',
	current_phase integer NOT NULL DEFAULT 1,
	scheduled_date date,
	actual_start_time timestamptz,
	completed_at timestamptz,
	duration_hours numeric(7, 2),
	notes text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT ame_visits_pkey PRIMARY KEY (id),
	CONSTRAINT valid_visit_status
		CHECK (status IN ('scheduled', 'in_progress', 'completed', 'cancelled')),
	CONSTRAINT valid_phase_progression
		CHECK (current_phase BETWEEN 1 AND 4),
	CONSTRAINT valid_visit_times
		CHECK (completed_at >= actual_start_time),
	CONSTRAINT valid_duration
		CHECK (duration_hours >= 0::numeric),
	CONSTRAINT fk_visits_customer FOREIGN KEY (customer_id)
		REFERENCES @extschema@.ame_customers (id) ON DELETE RESTRICT,
	CONSTRAINT fk_visits_technician FOREIGN KEY (technician_id)
		REFERENCES @extschema@.ame_technicians (id) ON DELETE RESTRICT
);

CREATE INDEX ame_visits_technician_idx
	ON @extschema@.ame_visits (technician_id);
CREATE INDEX ame_visits_customer_idx
	ON @extschema@.ame_visits (customer_id);

COMMENT ON TABLE @extschema@.ame_visits IS
'four-phase site visits: scheduled, in_progress, completed or cancelled';

CREATE TABLE @extschema@.ame_visit_progress (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	visit_id uuid NOT NULL,
	phase integer NOT NULL,
	task_name text NOT NULL,
	is_completed boolean NOT NULL DEFAULT false,
	completed_at timestamptz,
	notes text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT ame_visit_progress_pkey PRIMARY KEY (id),
	CONSTRAINT ame_visit_progress_task_key UNIQUE (visit_id, phase, task_name),
	CONSTRAINT valid_progress_phase CHECK (phase BETWEEN 1 AND 4),
	CONSTRAINT completion_requires_time
		CHECK ((is_completed = false) OR
			   (is_completed = true AND completed_at IS NOT NULL)),
	CONSTRAINT fk_progress_visit FOREIGN KEY (visit_id)
		REFERENCES @extschema@.ame_visits (id) ON DELETE CASCADE
);

COMMENT ON TABLE @extschema@.ame_visit_progress IS
'the tasks of each phase of a visit and whether they are done';

--
-- On-site sessions
--

CREATE TABLE @extschema@.ame_visit_sessions (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	visit_id uuid NOT NULL,
	technician_id uuid,
	session_token text NOT NULL,
	auto_save_data jsonb NOT NULL DEFAULT '{}',
	is_active boolean NOT NULL DEFAULT true,
	last_activity timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at timestamptz NOT NULL,
	ttl interval NOT NULL DEFAULT '8 hours',
	CONSTRAINT ame_visit_sessions_pkey PRIMARY KEY (id),
	CONSTRAINT ame_visit_sessions_token_key UNIQUE (session_token),
	CONSTRAINT valid_session_duration CHECK (expires_at > created_at),
	CONSTRAINT valid_session_ttl CHECK (ttl > '0'::interval),
	CONSTRAINT fk_sessions_visit FOREIGN KEY (visit_id)
		REFERENCES @extschema@.ame_visits (id) ON DELETE CASCADE,
	CONSTRAINT fk_sessions_technician FOREIGN KEY (technician_id)
		REFERENCES @extschema@.ame_technicians (id) ON DELETE SET NULL
);

-- "active sessions of a technician": join on visit_id, filter on expiry
CREATE INDEX ame_visit_sessions_active_idx
	ON @extschema@.ame_visit_sessions (visit_id, expires_at)
	WHERE is_active;
CREATE INDEX ame_visit_sessions_visit_idx
	ON @extschema@.ame_visit_sessions (visit_id);
CREATE INDEX ame_visit_sessions_expires_idx
	ON @extschema@.ame_visit_sessions (expires_at);

COMMENT ON TABLE @extschema@.ame_visit_sessions IS
'on-site work sessions of a visit, with auto-saved form data';

CREATE TABLE @extschema@.ame_visit_sessions_archive (
	id uuid NOT NULL,
	visit_id uuid NOT NULL,
	technician_id uuid,
	session_token text NOT NULL,
	auto_save_data jsonb NOT NULL,
	is_active boolean NOT NULL,
	last_activity timestamptz NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	ttl interval NOT NULL,
	archived_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- a session id can be archived again (an import, an old dump): each
	-- copy has its own archived_at (cleanup_expired_sessions())
	CONSTRAINT ame_visit_sessions_archive_pkey PRIMARY KEY (id, archived_at)
);

CREATE INDEX ame_visit_sessions_archive_visit_idx
	ON @extschema@.ame_visit_sessions_archive (visit_id);

COMMENT ON TABLE @extschema@.ame_visit_sessions_archive IS
'expired sessions moved out of ame_visit_sessions by cleanup_expired_sessions()';

--
-- Devices
--

CREATE TABLE @extschema@.device_inventory (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	customer_id uuid NOT NULL,
	visit_id uuid,
	device_name text NOT NULL,
	device_type text,
	vendor text,
	model text,
	firmware_version text,
	ip_address inet,
	status text,
	last_seen timestamptz,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT device_inventory_pkey PRIMARY KEY (id),
	CONSTRAINT fk_devices_customer FOREIGN KEY (customer_id)
		REFERENCES @extschema@.ame_customers (id) ON DELETE RESTRICT,
	CONSTRAINT fk_devices_visit FOREIGN KEY (visit_id)
		REFERENCES @extschema@.ame_visits (id) ON DELETE SET NULL
);

CREATE INDEX device_inventory_customer_idx
	ON @extschema@.device_inventory (customer_id);
CREATE INDEX device_inventory_visit_idx
	ON @extschema@.device_inventory (visit_id);

COMMENT ON TABLE @extschema@.device_inventory IS
'building-automation devices found at customer sites';

--
-- Maintenance, import and audit bookkeeping
--

CREATE TABLE @extschema@.system_maintenance_log (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	operation text NOT NULL,
	affected_rows bigint,
	performed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	duration_ms double precision,
	details jsonb,
	CONSTRAINT system_maintenance_log_pkey PRIMARY KEY (id)
);

CREATE INDEX system_maintenance_log_performed_idx
	ON @extschema@.system_maintenance_log (performed_at);

COMMENT ON TABLE @extschema@.system_maintenance_log IS
'one row per maintenance run (session cleanup, audit purge, ...)';

CREATE TABLE @extschema@.import_batches (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	source_file text NOT NULL,
	import_type text NOT NULL,
	status text NOT NULL DEFAULT 'processing',
	total_records integer,
	success_count integer NOT NULL DEFAULT 0,
	error_count integer NOT NULL DEFAULT 0,
	error_message text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	skipped_count integer NOT NULL DEFAULT 0,
	CONSTRAINT import_batches_pkey PRIMARY KEY (id),
	CONSTRAINT valid_import_status
		CHECK (status IN ('processing', 'completed', 'completed_with_errors',
						  'failed')),
	CONSTRAINT valid_import_type
		CHECK (import_type IN ('customers', 'technicians', 'devices'))
);

COMMENT ON TABLE @extschema@.import_batches IS
'one row per CSV import: its file, type, status and counts';
COMMENT ON COLUMN @extschema@.import_batches.skipped_count IS
'records a BEFORE ROW trigger of the target suppressed (neither imported nor errors); success_count + error_count + skipped_count = total_records';

CREATE TABLE @extschema@.import_errors (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	batch_id uuid NOT NULL,
	row_number integer,
	line_number bigint,
	sqlstate text,
	error_message text,
	raw_data jsonb,
	raw_record bytea,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT import_errors_pkey PRIMARY KEY (id),
	CONSTRAINT import_errors_batch_id_fkey FOREIGN KEY (batch_id)
		REFERENCES @extschema@.import_batches (id) ON DELETE CASCADE
);

CREATE INDEX import_errors_batch_idx
	ON @extschema@.import_errors (batch_id, row_number);

COMMENT ON TABLE @extschema@.import_errors IS
'the records of an import that could not be imported, with the reason';

CREATE SEQUENCE @extschema@.ame_audit_logs_seq_seq AS bigint;

-- Partitioned by month of performed_at (UTC months, named
-- ame_audit_logs_yYYYYmMM, made by ame_audit_add_partitions() in
-- 20_audit.sql), with a default partition so that no row is ever refused.
-- The parent has no index of its own: each partition carries its own
-- primary key (id) and indexes, made with it.  Indexes on the parent would
-- be made again by ATTACH PARTITION when a dump is restored, beside the
-- ones pg_dump writes for each partition, and the restore would fail (the
-- parent belongs to the extension, the monthly partitions do not: see
-- docs/audit.md, "Partitions").
CREATE TABLE @extschema@.ame_audit_logs (
	-- the audit trigger writes time-ordered (version 7) uuids
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	table_schema text COLLATE "C" NOT NULL,
	table_name text COLLATE "C" NOT NULL,
	record_id uuid NOT NULL,
	operation text COLLATE "C" NOT NULL,
	old_values jsonb,
	new_values jsonb,
	changed_fields text[] NOT NULL DEFAULT '{}',
	user_id uuid,
	performed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	seq bigint NOT NULL
		DEFAULT pg_catalog.nextval('@extschema@.ame_audit_logs_seq_seq'::pg_catalog.regclass),
	context jsonb,
	CONSTRAINT valid_audit_operation
		CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'REDACT'))
) PARTITION BY RANGE (performed_at);

ALTER SEQUENCE @extschema@.ame_audit_logs_seq_seq
	OWNED BY @extschema@.ame_audit_logs.seq;

-- the rows of no monthly partition
CREATE TABLE @extschema@.ame_audit_logs_default
	PARTITION OF @extschema@.ame_audit_logs DEFAULT;

-- Every partition's indexes (ame_audit_add_partitions() makes the same,
-- named after the partition):
-- the primary key: ids are unique within a partition (see docs/audit.md);
ALTER TABLE @extschema@.ame_audit_logs_default
	ADD CONSTRAINT ame_audit_logs_default_pkey PRIMARY KEY (id);
-- a record's history (record ids are uuids: the table's name is checked on
-- the few rows found, and they are sorted by seq).  A hash index: one
-- bucket page per insert where a btree descends its levels, which makes
-- it the cheaper of the two on every audited change.
CREATE INDEX ame_audit_logs_default_record_idx
	ON @extschema@.ame_audit_logs_default USING hash (record_id);
-- the highest seq in one probe: the audit trigger makes sure, once per
-- transaction, that the sequence is past it (a restore or a subscriber
-- can leave it behind).  Not UNIQUE: a restore must never fail on it.
CREATE INDEX ame_audit_logs_default_seq_idx
	ON @extschema@.ame_audit_logs_default (seq);

COMMENT ON TABLE @extschema@.ame_audit_logs IS
'append-only trail of every change to audited tables, partitioned by month (UTC) of performed_at';
COMMENT ON TABLE @extschema@.ame_audit_logs_default IS
'the audit rows of months that have no partition of their own (ame_audit_add_partitions() moves them into one)';
COMMENT ON SEQUENCE @extschema@.ame_audit_logs_seq_seq IS
'orders audit rows, also within one transaction';

--
-- updated_at, on every table that has it; named to fire after the other
-- BEFORE triggers (triggers fire in name order)
--

CREATE TRIGGER ame_customers_updated_at
	BEFORE UPDATE ON @extschema@.ame_customers
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_set_updated_at();
CREATE TRIGGER ame_technicians_updated_at
	BEFORE UPDATE ON @extschema@.ame_technicians
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_set_updated_at();
CREATE TRIGGER ame_visits_updated_at
	BEFORE UPDATE ON @extschema@.ame_visits
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_set_updated_at();
CREATE TRIGGER ame_visit_progress_updated_at
	BEFORE UPDATE ON @extschema@.ame_visit_progress
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_set_updated_at();
CREATE TRIGGER device_inventory_updated_at
	BEFORE UPDATE ON @extschema@.device_inventory
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_set_updated_at();

--
-- BI views.  security_invoker: row-level security applies to the reader.
-- A view is bound at install time, under the installer's search_path: an
-- operator on two types without an exact pg_catalog match is written
-- OPERATOR(pg_catalog.…), and NULLIF, which cannot be, compares values of
-- one type.
--

CREATE VIEW @extschema@.technician_performance
WITH (security_invoker = true) AS
SELECT t.id AS technician_id,
	   t.name,
	   t.is_active,
	   pg_catalog.count(v.id) AS total_visits,
	   pg_catalog.round(pg_catalog.avg(EXTRACT(EPOCH FROM v.completed_at - v.actual_start_time)
									   OPERATOR(pg_catalog./) 3600)
					   FILTER (WHERE v.status = 'completed'), 2)
		   AS avg_hours_per_visit,
	   pg_catalog.count(*) FILTER (WHERE v.status = 'completed')
		   AS completed_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE v.status = 'completed')
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(v.id), 0::bigint), 2)
		   AS completion_rate
FROM @extschema@.ame_technicians t
	 LEFT JOIN @extschema@.ame_visits v ON v.technician_id = t.id
GROUP BY t.id, t.name, t.is_active;

COMMENT ON VIEW @extschema@.technician_performance IS
'per technician: visits, completed visits, completion rate in percent (NULL with no visits), average hours of a completed visit';

CREATE VIEW @extschema@.service_tier_metrics
WITH (security_invoker = true) AS
SELECT tier.service_tier,
	   pg_catalog.count(c.id) AS customer_count,
	   COALESCE(pg_catalog.sum(c.total_visits), 0)::bigint AS total_visits,
	   pg_catalog.round(pg_catalog.sum(c.sum_duration)
					   OPERATOR(pg_catalog./)
					   NULLIF(pg_catalog.sum(c.timed_visits), 0::numeric), 2)
		   AS avg_visit_duration,
	   COALESCE(pg_catalog.sum(c.completed_visits), 0)::bigint
		   AS successful_visits
FROM (VALUES ('CORE'), ('ASSURE'), ('GUARDIAN')) AS tier (service_tier)
	 LEFT JOIN (SELECT cu.id,
					   cu.service_tier,
					   pg_catalog.count(v.id) AS total_visits,
					   pg_catalog.sum(v.duration_hours) AS sum_duration,
					   pg_catalog.count(v.duration_hours) AS timed_visits,
					   pg_catalog.count(*) FILTER (WHERE v.status = 'completed')
						   AS completed_visits
				FROM @extschema@.ame_customers cu
					 LEFT JOIN @extschema@.ame_visits v ON v.customer_id = cu.id
				GROUP BY cu.id, cu.service_tier) c
		 ON c.service_tier = tier.service_tier
GROUP BY tier.service_tier;

COMMENT ON VIEW @extschema@.service_tier_metrics IS
'per service tier (all three, also without customers): customers, visits, average visit duration in hours, completed visits';

--
-- pg_dump: every table that holds user data, and its sequences
-- (later pieces register their own)
--

SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_sequence', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_audit_logs_seq_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_customers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_technicians', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_visits', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_visit_progress', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_visit_sessions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_visit_sessions_archive', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.device_inventory', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.system_maintenance_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.import_batches', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.import_errors', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_audit_logs', '');
-- the monthly partitions are not members: pg_dump writes them whole
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_audit_logs_default', '');
/* src/sql/20_audit.sql: the audit trail */

--
-- The trigger, and the log's append-only guard
--

CREATE FUNCTION @extschema@.audit_trigger_function()
RETURNS trigger
AS 'MODULE_PATHNAME', 'audit_trigger_function'
LANGUAGE C;

-- attaching it to a table writes to the log as the owner: owner only
REVOKE EXECUTE ON FUNCTION @extschema@.audit_trigger_function() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.audit_trigger_function() IS
'AFTER INSERT OR UPDATE OR DELETE row trigger: one ame_audit_logs row per changed row; its arguments name the columns left out of the images';

CREATE FUNCTION @extschema@.ame_audit_log_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_audit_log_guard'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_log_guard() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_log_guard() IS
'keeps ame_audit_logs and every partition of it append-only: UPDATE, DELETE and TRUNCATE fail with 42501 (ame_purge_audit_logs() and ame_audit_add_partitions() excepted)';

-- the row trigger is cloned to every partition, now and later, enabled
-- ALWAYS as here; a statement trigger is not: every partition gets its own
-- TRUNCATE guard (ame_audit_add_partitions() makes and repairs them)
CREATE TRIGGER ame_audit_logs_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.ame_audit_logs
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
CREATE TRIGGER ame_audit_logs_no_truncate
	BEFORE TRUNCATE ON @extschema@.ame_audit_logs
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
CREATE TRIGGER ame_audit_logs_no_truncate
	BEFORE TRUNCATE ON @extschema@.ame_audit_logs_default
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_audit_log_guard();
-- also under session_replication_role = replica
ALTER TABLE @extschema@.ame_audit_logs
	ENABLE ALWAYS TRIGGER ame_audit_logs_append_only;
ALTER TABLE @extschema@.ame_audit_logs
	ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate;
ALTER TABLE @extschema@.ame_audit_logs_default
	ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate;

--
-- Audited by default
--

CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_customers
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();
CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_technicians
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();
CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visits
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();
CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_progress
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();
CREATE TRIGGER ame_audit
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_inventory
	FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_trigger_function();

--
-- The owner check of every owner-only function (C: ame_require_owner()):
-- EXECUTE alone is not enough, so a grant hands out nothing
--

CREATE FUNCTION @extschema@.ame_require_owner(function_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'ame_require_owner_fn'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_require_owner(text) IS
'raise 42501 "permission denied for function" unless the caller has the privileges of the extension''s owner; the first step of every owner-only function';

--
-- Which columns each audited table leaves out of the log
--

-- kept here, not only in the trigger: pg_dump dumps this table, but not the
-- triggers of the extension's own tables (the install script makes them)
CREATE TABLE @extschema@.ame_audit_exclusions (
	relid regclass NOT NULL,
	excluded_columns text[] NOT NULL,
	CONSTRAINT ame_audit_exclusions_pkey PRIMARY KEY (relid)
);

COMMENT ON TABLE @extschema@.ame_audit_exclusions IS
'the columns the audit trigger leaves out of each table''s images (a partitioned table''s list holds for its partitions); kept by ame_enable_audit(), read by the trigger';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_audit_exclusions', '');

-- one row per trigger running audit_trigger_function(): the table's list
-- (and its ancestors', for a partition), the names the trigger's own
-- arguments give (a trigger attached by hand), and, on the extension's own
-- ame_visit_sessions and its archive, session_token, which the trigger
-- always leaves out there
CREATE VIEW @extschema@.ame_audited_tables WITH (security_invoker = true) AS
SELECT c.oid::pg_catalog.regclass AS relid,
	   n.nspname AS table_schema,
	   c.relname AS table_name,
	   l.cols OPERATOR(pg_catalog.||)
		   CASE WHEN c.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
						 '@extschema@.ame_visit_sessions'::pg_catalog.regclass::pg_catalog.oid,
						 '@extschema@.ame_visit_sessions_archive'::pg_catalog.regclass::pg_catalog.oid])
					 AND NOT 'session_token'::pg_catalog.text OPERATOR(pg_catalog.=) ANY (l.cols)
				THEN '{session_token}'::pg_catalog.text[]
				ELSE '{}'::pg_catalog.text[] END AS excluded_columns,
	   t.tgname AS trigger_name,
	   CASE WHEN t.tgenabled OPERATOR(pg_catalog.=) 'O'::pg_catalog."char" THEN 'enabled'
			WHEN t.tgenabled OPERATOR(pg_catalog.=) 'D'::pg_catalog."char" THEN 'disabled'
			WHEN t.tgenabled OPERATOR(pg_catalog.=) 'R'::pg_catalog."char" THEN 'replica'
			WHEN t.tgenabled OPERATOR(pg_catalog.=) 'A'::pg_catalog."char" THEN 'always'
	   END AS trigger_state,
	   (SELECT pt.tgrelid::pg_catalog.regclass FROM pg_catalog.pg_trigger pt
		WHERE pt.oid OPERATOR(pg_catalog.=) t.tgparentid) AS partition_of
FROM pg_catalog.pg_trigger t
	 JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
	 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	 CROSS JOIN LATERAL (
		 SELECT COALESCE(pg_catalog.array_agg(x.col ORDER BY x.src, x.pos), '{}'::pg_catalog.text[]) AS cols
		 FROM (SELECT DISTINCT ON (u.col) u.col, u.src, u.pos
			   FROM (SELECT e.col, 1 AS src, a.level OPERATOR(pg_catalog.*) 10000 OPERATOR(pg_catalog.+) e.pos AS pos
					 FROM (SELECT c.oid AS relid, 0 AS level
						   UNION ALL
						   SELECT p.relid::pg_catalog.oid, p.ord::pg_catalog.int4
						   FROM pg_catalog.pg_partition_ancestors(c.oid)
								WITH ORDINALITY p(relid, ord)
						   WHERE p.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) c.oid) a
						  JOIN @extschema@.ame_audit_exclusions ex
							ON ex.relid::pg_catalog.oid OPERATOR(pg_catalog.=) a.relid
						  CROSS JOIN LATERAL pg_catalog.unnest(ex.excluded_columns)
							  WITH ORDINALITY e(col, pos)
					 UNION ALL
					 SELECT pg_catalog.convert_from(
								pg_catalog.substring(t.tgargs, z.prev OPERATOR(pg_catalog.+) 2,
													 z.i OPERATOR(pg_catalog.-) z.prev OPERATOR(pg_catalog.-) 1),
								pg_catalog.getdatabaseencoding()),
							2, z.i
					 FROM (SELECT g.i, pg_catalog.lag(g.i, 1, -1) OVER (ORDER BY g.i) AS prev
						   FROM pg_catalog.generate_series(0, pg_catalog.octet_length(t.tgargs)
															 OPERATOR(pg_catalog.-) 1) g(i)
						   WHERE pg_catalog.get_byte(t.tgargs, g.i) OPERATOR(pg_catalog.=) 0) z) u
			   ORDER BY u.col, u.src, u.pos) x) l
WHERE t.tgfoid OPERATOR(pg_catalog.=)
	  '@extschema@.audit_trigger_function()'::pg_catalog.regprocedure::pg_catalog.oid;

COMMENT ON VIEW @extschema@.ame_audited_tables IS
'the tables audit_trigger_function() audits (partitions of an audited table included), with the columns left out of their images and the trigger''s state';

--
-- Turning auditing on and off (owner only)
--

CREATE FUNCTION @extschema@.ame_enable_audit(tbl regclass, exclude text[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	idtype oid;
	kind "char";
	name text;
	col text;
	cols text[];
	old_cols text[];
	found_trigger boolean := false;
	old_state text;
	parent regclass;
BEGIN
	PERFORM @extschema@.ame_require_owner('ame_enable_audit'::pg_catalog.text);
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = '22023';
	END IF;
	SELECT c.relkind, c.relname INTO kind, name
	FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', name USING ERRCODE = '22023';
	END IF;
	SELECT a.atttypid INTO idtype
	FROM pg_attribute a
	WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname = 'id' AND NOT a.attisdropped;
	IF idtype IS NULL THEN
		RAISE EXCEPTION 'table "%" has no column "id"', name
			USING ERRCODE = '22023',
				  HINT = 'Only tables with a uuid column "id" can be audited.';
	END IF;
	IF idtype OPERATOR(pg_catalog.<>) 'pg_catalog.uuid'::pg_catalog.regtype AND
	   (SELECT t.typbasetype FROM pg_type t WHERE t.oid = idtype)
		   OPERATOR(pg_catalog.<>) 'pg_catalog.uuid'::pg_catalog.regtype THEN
		RAISE EXCEPTION 'column "id" of table "%" is of type %, not uuid', name, idtype::regtype
			USING ERRCODE = '22023',
				  HINT = 'Only tables with a uuid column "id" can be audited.';
	END IF;

	-- the columns to leave out: each a column of the table as it is now
	IF exclude IS NULL THEN
		RAISE EXCEPTION 'exclude must not be NULL' USING ERRCODE = '22023',
			HINT = 'Pass ''{}'' to exclude no column.';
	END IF;
	IF pg_catalog.array_ndims(exclude) OPERATOR(pg_catalog.>) 1 THEN
		RAISE EXCEPTION 'exclude must be a one-dimensional array' USING ERRCODE = '22023';
	END IF;
	FOREACH col IN ARRAY exclude LOOP
		IF col IS NULL THEN
			RAISE EXCEPTION 'exclude must not contain NULL' USING ERRCODE = '22004';
		END IF;
		IF NOT EXISTS (SELECT FROM pg_attribute a
					   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
						 AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) col
						 AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2
						 AND NOT a.attisdropped) THEN
			RAISE EXCEPTION 'column "%" of table "%" does not exist', col, name
				USING ERRCODE = '42703';
		END IF;
		IF col OPERATOR(pg_catalog.=) 'id'::pg_catalog.text THEN
			RAISE EXCEPTION 'column "id" cannot be excluded from the audit'
				USING ERRCODE = '22023',
					  DETAIL = 'A record''s history is kept by its "id".';
		END IF;
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.unnest(exclude) x
			WHERE x OPERATOR(pg_catalog.=) col) OPERATOR(pg_catalog.>) 1::pg_catalog.int8 THEN
			RAISE EXCEPTION 'column "%" is listed twice in exclude', col USING ERRCODE = '22023';
		END IF;
	END LOOP;
	-- kept in column order; a session token never reaches the log
	SELECT COALESCE(pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attnum),
					'{}'::pg_catalog.text[])
	INTO cols
	FROM pg_attribute a
	WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
	  AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped
	  AND (a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (exclude)
		   OR (a.attname::pg_catalog.text OPERATOR(pg_catalog.=) 'session_token'::pg_catalog.text
			   AND tbl::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
				   '@extschema@.ame_visit_sessions'::pg_catalog.regclass::pg_catalog.oid,
				   '@extschema@.ame_visit_sessions_archive'::pg_catalog.regclass::pg_catalog.oid])));

	SELECT true, v.trigger_state, v.partition_of
	INTO found_trigger, old_state, parent
	FROM @extschema@.ame_audited_tables v
	WHERE v.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid
	  AND v.trigger_name OPERATOR(pg_catalog.=) 'ame_audit'::pg_catalog.name;
	SELECT COALESCE((SELECT x.excluded_columns FROM @extschema@.ame_audit_exclusions x
					 WHERE x.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid),
					'{}'::pg_catalog.text[])
	INTO old_cols;
	IF found_trigger THEN
		IF parent IS NOT NULL THEN
			IF cols OPERATOR(pg_catalog.=) '{}'::pg_catalog.text[] THEN
				RAISE NOTICE 'table "%" is already audited', name;
				RETURN;
			END IF;
			RAISE EXCEPTION 'table "%" is audited as a partition of "%"', name, parent
				USING ERRCODE = '55000',
					  HINT = 'Set the excluded columns on the partitioned table.';
		END IF;
		IF old_cols OPERATOR(pg_catalog.=) cols THEN
			RAISE NOTICE 'table "%" is already audited', name;
			RETURN;
		END IF;
		-- another list: the trigger is made again (so that every session
		-- reads the new list), in the state it was in
		EXECUTE format('DROP TRIGGER ame_audit ON %s', tbl);
		RAISE NOTICE 'columns excluded from the audit of table "%": % (were: %)',
			name, cols, old_cols;
	ELSIF EXISTS (SELECT 1 FROM pg_trigger t
				  WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl AND t.tgname = 'ame_audit') THEN
		RAISE EXCEPTION 'table "%" already has a trigger "ame_audit" that is not ame''s', name
			USING ERRCODE = '42710';
	END IF;

	-- the list, by the table (rows of tables dropped since go)
	DELETE FROM @extschema@.ame_audit_exclusions x
	WHERE x.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid
	   OR NOT EXISTS (SELECT FROM pg_class c
					  WHERE c.oid OPERATOR(pg_catalog.=) x.relid::pg_catalog.oid);
	IF cols OPERATOR(pg_catalog.<>) '{}'::pg_catalog.text[] THEN
		INSERT INTO @extschema@.ame_audit_exclusions (relid, excluded_columns) VALUES (tbl, cols);
	END IF;

	EXECUTE format('CREATE TRIGGER ame_audit AFTER INSERT OR UPDATE OR DELETE ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION %I.audit_trigger_function()',
				   tbl,
				   (SELECT n.nspname FROM pg_extension e
					JOIN pg_namespace n ON n.oid = e.extnamespace
					WHERE e.extname = 'ame'));
	IF old_state OPERATOR(pg_catalog.=) 'disabled'::pg_catalog.text THEN
		EXECUTE format('ALTER TABLE %s DISABLE TRIGGER ame_audit', tbl);
	ELSIF old_state OPERATOR(pg_catalog.=) 'replica'::pg_catalog.text THEN
		EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ame_audit', tbl);
	ELSIF old_state OPERATOR(pg_catalog.=) 'always'::pg_catalog.text THEN
		EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER ame_audit', tbl);
	END IF;
END
$$;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_enable_audit(regclass, text[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_enable_audit(regclass, text[]) IS
'audit a table (it needs a uuid column "id"), leaving out the columns in exclude: adds trigger ame_audit, or replaces its list of excluded columns (kept in ame_audit_exclusions); owner only';

CREATE FUNCTION @extschema@.ame_disable_audit(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.ame_require_owner('ame_disable_audit'::pg_catalog.text);
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = '22023';
	END IF;
	-- its excluded columns go with it
	DELETE FROM @extschema@.ame_audit_exclusions x
	WHERE x.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger t
				   WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl AND t.tgname = 'ame_audit'
					 AND t.tgfoid OPERATOR(pg_catalog.=)
						 '@extschema@.audit_trigger_function()'::pg_catalog.regprocedure) THEN
		RAISE NOTICE 'table "%" is not audited',
			(SELECT c.relname FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl);
		RETURN;
	END IF;
	EXECUTE format('DROP TRIGGER ame_audit ON %s', tbl);
END
$$;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_disable_audit(regclass) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_disable_audit(regclass) IS
'stop auditing a table (drops trigger ame_audit and its list of excluded columns; its history stays); owner only';

--
-- Partitions and retention (owner only)
--

CREATE FUNCTION @extschema@.ame_audit_add_partitions(since date, until date DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'ame_audit_add_partitions'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_add_partitions(date, date) IS
'make the missing monthly (UTC) partitions of ame_audit_logs from since''s month to until''s (NULL: three months ahead), moving their rows out of the default partition; returns how many were made; owner only';

CREATE FUNCTION @extschema@.ame_purge_audit_logs(older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_purge_audit_logs'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_purge_audit_logs(interval) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_purge_audit_logs(interval) IS
'remove audit rows performed more than older_than ago: whole months are detached and dropped, the boundary month deleted from; logs to system_maintenance_log; returns the count; owner only';

CREATE FUNCTION @extschema@.ame_audit_maintenance()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ame_audit_maintenance'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_audit_maintenance() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_audit_maintenance() IS
'the nightly audit maintenance (pg_cron job audit-maintenance): partitions three months ahead, and the purge of rows older than ame.audit_retention when it is set; owner only';

-- This month's partition and three ahead, unless this is a restore (see
-- 30_sessions.sql): the dump brings the partitions it had, and ones made
-- here would collide with them.  The rows of months without a partition
-- wait in the default one until the next ame_audit_add_partitions().
DO $partitions$
BEGIN
	IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.<>) 'off'
	   AND pg_catalog.current_setting('application_name') OPERATOR(pg_catalog.<>) 'pg_restore' THEN
		PERFORM @extschema@.ame_audit_add_partitions(
			(pg_catalog.now() AT TIME ZONE 'UTC')::pg_catalog.date);
	END IF;
END
$partitions$;

--
-- Redaction, the erasure path (owner only)
--

CREATE FUNCTION @extschema@.ame_redact_audit(tbl regclass, record_id uuid,
											 columns text[], reason text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_redact_audit'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_redact_audit(regclass, uuid, text[], text) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_redact_audit(regclass, uuid, text[], text) IS
'replace those columns'' values with "[redacted]" in every image of the record in ame_audit_logs, log a REDACT row with the reason; returns the images changed; owner only';

--
-- History and time travel, for callers who may see the record
--

-- Reading the log: two PL/pgSQL functions (their plans are kept for the
-- session) with the caller's rights (a caller needs SELECT on the log).  ame_record_history() and ame_record_at() call
-- them, after their own check, as the caller or as the owner.

CREATE FUNCTION @extschema@.ame_audit_log_history(tbl regclass, record uuid, upto timestamptz)
RETURNS TABLE (seq bigint, operation text, changed_fields text[],
			   old_values jsonb, new_values jsonb, user_id uuid,
			   performed_at timestamptz, context jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	-- every row logged under the record's id, following it back through
	-- every UPDATE that changed an id into one of the chain's; a
	-- partitioned table's rows are logged under their partitions' names
	WITH RECURSIVE t AS (
		SELECT n.nspname AS sch, c.relname AS tab
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = ANY (ARRAY(SELECT tbl::oid
								 UNION SELECT p.relid::oid FROM pg_catalog.pg_partition_tree(tbl) p))
	), chain (rid, before_seq) AS (
		SELECT record, NULL::bigint
		UNION ALL
		SELECT (l.old_values OPERATOR(pg_catalog.->>) 'id')::uuid, l.seq
		FROM chain ch, t, @extschema@.ame_audit_logs l
		WHERE l.record_id = ch.rid
		  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
		  AND l.table_name OPERATOR(pg_catalog.=) t.tab
		  AND l.operation = 'UPDATE'
		  AND (ch.before_seq IS NULL OR l.seq < ch.before_seq)
		  AND (l.old_values OPERATOR(pg_catalog.->>) 'id') IS DISTINCT FROM l.record_id::text
	)
	-- an id that changes and changes back is twice in the chain: each row once
	SELECT DISTINCT ON (l.seq, l.id)
		   l.seq, l.operation, l.changed_fields, l.old_values, l.new_values,
		   l.user_id, l.performed_at, l.context
	FROM chain ch, t, @extschema@.ame_audit_logs l
	WHERE l.record_id = ch.rid
	  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
	  AND l.table_name OPERATOR(pg_catalog.=) t.tab
	  AND (ch.before_seq IS NULL OR l.seq < ch.before_seq)
	  AND l.performed_at <= upto
	ORDER BY l.seq, l.id;
END
$$;

COMMENT ON FUNCTION @extschema@.ame_audit_log_history(regclass, uuid, timestamptz) IS
'every log row of one record id up to a time (also from before its id changed), in order; caller''s rights: needs SELECT on ame_audit_logs';

CREATE FUNCTION @extschema@.ame_audit_log_lineage(tbl regclass, record uuid, upto timestamptz)
RETURNS TABLE (seq bigint, operation text, changed_fields text[],
			   old_values jsonb, new_values jsonb, user_id uuid,
			   performed_at timestamptz, context jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	-- the live row's own past only: under each id, the rows since its last
	-- birth (an INSERT, or an UPDATE that changed another id into it; that
	-- one continues under the other id) or since its last DELETE.  What an
	-- id logged before (an earlier row that was deleted, truncated or moved
	-- away) belongs to another row.
	WITH RECURSIVE t AS (
		SELECT n.nspname AS sch, c.relname AS tab
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = ANY (ARRAY(SELECT tbl::oid
								 UNION SELECT p.relid::oid FROM pg_catalog.pg_partition_tree(tbl) p))
	), life (rid, hi, lo, lo_op, from_id) AS (
		SELECT record, NULL::bigint, b.seq, b.operation, b.from_id
		FROM (SELECT) one
			 LEFT JOIN LATERAL (
				SELECT l.seq, l.operation,
					   CASE WHEN l.operation = 'UPDATE'
							THEN (l.old_values OPERATOR(pg_catalog.->>) 'id')::uuid END AS from_id
				FROM t, @extschema@.ame_audit_logs l
				WHERE l.record_id = record
				  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
				  AND l.table_name OPERATOR(pg_catalog.=) t.tab
				  AND (l.operation IN ('INSERT', 'DELETE')
					   OR (l.operation = 'UPDATE'
						   AND (l.old_values OPERATOR(pg_catalog.->>) 'id')
							   IS DISTINCT FROM l.record_id::text))
				ORDER BY l.seq DESC LIMIT 1) b ON true
		UNION ALL
		SELECT ch.from_id, ch.lo, b.seq, b.operation, b.from_id
		FROM life ch
			 LEFT JOIN LATERAL (
				SELECT l.seq, l.operation,
					   CASE WHEN l.operation = 'UPDATE'
							THEN (l.old_values OPERATOR(pg_catalog.->>) 'id')::uuid END AS from_id
				FROM t, @extschema@.ame_audit_logs l
				WHERE l.record_id = ch.from_id
				  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
				  AND l.table_name OPERATOR(pg_catalog.=) t.tab
				  AND l.seq < ch.lo
				  AND (l.operation IN ('INSERT', 'DELETE')
					   OR (l.operation = 'UPDATE'
						   AND (l.old_values OPERATOR(pg_catalog.->>) 'id')
							   IS DISTINCT FROM l.record_id::text))
				ORDER BY l.seq DESC LIMIT 1) b ON true
		WHERE ch.lo_op = 'UPDATE'
	)
	SELECT l.seq, l.operation, l.changed_fields, l.old_values, l.new_values,
		   l.user_id, l.performed_at, l.context
	FROM life ch, t, @extschema@.ame_audit_logs l
	WHERE l.record_id = ch.rid
	  AND l.table_schema OPERATOR(pg_catalog.=) t.sch
	  AND l.table_name OPERATOR(pg_catalog.=) t.tab
	  AND (ch.hi IS NULL OR l.seq < ch.hi)
	  AND (ch.lo IS NULL OR l.seq > ch.lo OR (l.seq = ch.lo AND ch.lo_op <> 'DELETE'))
	  AND l.performed_at <= upto
	ORDER BY l.seq;
END
$$;

COMMENT ON FUNCTION @extschema@.ame_audit_log_lineage(regclass, uuid, timestamptz) IS
'the log rows of the row that now has this id, up to a time: since its last INSERT, back through the id changes that made it; caller''s rights: needs SELECT on ame_audit_logs';

-- The public functions check the caller (C: audit_history.c).  The caller
-- needs SELECT on the table and must see the live row under its policies;
-- then they read the log as the owner.  A caller who may read the log
-- itself reads every record's history, deleted ones too.

CREATE FUNCTION @extschema@.ame_record_history(tbl regclass, record uuid)
RETURNS TABLE (seq bigint, operation text, changed_fields text[],
			   old_values jsonb, new_values jsonb, user_id uuid,
			   performed_at timestamptz, context jsonb)
AS 'MODULE_PATHNAME', 'ame_record_history'
LANGUAGE C STABLE;

COMMENT ON FUNCTION @extschema@.ame_record_history(regclass, uuid) IS
'the audit rows of one record, in order (also those from before its id changed); only for a caller who may SELECT the table and sees the live row, or may read the log';

CREATE FUNCTION @extschema@.ame_record_at(tbl regclass, record uuid, at timestamptz)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ame_record_at'
LANGUAGE C STABLE;

COMMENT ON FUNCTION @extschema@.ame_record_at(regclass, uuid, timestamptz) IS
'the record as it was at that time, as jsonb (NULL before it existed and after it was deleted); only for a caller who may SELECT the table and sees the live row, or may read the log';
/* src/sql/30_sessions.sql: sessions, cleanup, pg_cron, realtime, row-level security */

--
-- Session API (C, caller's rights: row-level security decides)
--

CREATE FUNCTION @extschema@.ame_start_session(visit_id uuid,
											  ttl interval DEFAULT '8 hours')
RETURNS text
AS 'MODULE_PATHNAME', 'ame_start_session'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_start_session(uuid, interval) IS
'start a new session on a scheduled or in-progress visit the caller can see; returns its unguessable token';

CREATE FUNCTION @extschema@.ame_touch_session(token text,
											  auto_save jsonb DEFAULT NULL)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'ame_touch_session'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_touch_session(text, jsonb) IS
'merge a JSON object into the session''s auto_save_data and extend it by its ttl; returns the new expires_at';

CREATE FUNCTION @extschema@.ame_end_session(token text)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'ame_end_session'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_end_session(text) IS
'end an active session (is_active = false, expires_at = the end time); returns the end time';

-- touching an archived session says so: look tokens up in the archive too
CREATE INDEX ame_visit_sessions_archive_token_idx
	ON @extschema@.ame_visit_sessions_archive (session_token);

--
-- Cleanup and its pg_cron job (owner only)
--

CREATE FUNCTION @extschema@.cleanup_expired_sessions()
RETURNS bigint
AS 'MODULE_PATHNAME', 'cleanup_expired_sessions'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.cleanup_expired_sessions() IS
'atomically move sessions expired more than 24 hours ago into ame_visit_sessions_archive (an id already there is archived again, next to its earlier copy); logs to system_maintenance_log; returns the number moved';

CREATE FUNCTION @extschema@.ame_schedule_cleanup(schedule text DEFAULT '0 2 * * *')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_schedule_cleanup'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_schedule_cleanup(text) IS
'create or change the pg_cron job session-cleanup (times in GMT), owned by the extension''s owner and run in this database (a restored job is repaired); returns the job id';

CREATE FUNCTION @extschema@.ame_unschedule_cleanup()
RETURNS boolean
AS 'MODULE_PATHNAME', 'ame_unschedule_cleanup'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_unschedule_cleanup() IS
'remove the pg_cron job session-cleanup; false when there was none';

-- beside it, the audit log's nightly maintenance (20_audit.sql)
CREATE FUNCTION @extschema@.ame_schedule_audit_maintenance(schedule text DEFAULT '30 2 * * *')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ame_schedule_audit_maintenance'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_schedule_audit_maintenance(text) IS
'create or change the pg_cron job audit-maintenance (times in GMT), which runs ame_audit_maintenance(), owned by the extension''s owner and run in this database; returns the job id';

CREATE FUNCTION @extschema@.ame_unschedule_audit_maintenance()
RETURNS boolean
AS 'MODULE_PATHNAME', 'ame_unschedule_audit_maintenance'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_unschedule_audit_maintenance() IS
'remove the pg_cron job audit-maintenance; false when there was none';

REVOKE ALL ON FUNCTION @extschema@.cleanup_expired_sessions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_schedule_cleanup(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_unschedule_cleanup() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_schedule_audit_maintenance(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_unschedule_audit_maintenance() FROM PUBLIC;

--
-- Realtime: a NOTIFY per change (one summary per statement above 100 rows),
-- and publication ame_realtime
--

CREATE FUNCTION @extschema@.ame_realtime_notify()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_realtime_notify'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_realtime_notify() IS
'AFTER row trigger: notes each change for ame_realtime_notify_statement() (ids only; past 100 rows of a statement, only a count)';

CREATE FUNCTION @extschema@.ame_realtime_notify_statement()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_realtime_notify_statement'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_realtime_notify_statement() IS
'AFTER statement trigger: NOTIFY ame_realtime with {"table", "operation", "id", "visit_id"} per changed row, or {"table", "operation", "rows", "bulk": true} above 100 rows';

CREATE TRIGGER ame_visit_sessions_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_sessions
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify();
CREATE TRIGGER ame_visit_progress_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_progress
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify();
CREATE TRIGGER device_inventory_realtime
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_inventory
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_realtime_notify();
CREATE TRIGGER ame_visit_sessions_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_sessions
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();
CREATE TRIGGER ame_visit_progress_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.ame_visit_progress
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();
CREATE TRIGGER device_inventory_realtime_statement
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_inventory
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ame_realtime_notify_statement();

CREATE FUNCTION @extschema@.ame_setup_realtime()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	rels oid[] := ARRAY['@extschema@.ame_visit_sessions'::regclass,
						'@extschema@.ame_visit_progress'::regclass,
						'@extschema@.device_inventory'::regclass];
	list text;
	pub record;
	rel record;
BEGIN
	SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', '
					  ORDER BY c.relname)
	INTO list
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = ANY (rels);

	SELECT p.puballtables INTO pub
	FROM pg_publication p WHERE p.pubname = 'ame_realtime';
	IF NOT FOUND THEN
		EXECUTE format('CREATE PUBLICATION ame_realtime FOR TABLE %s', list);
	ELSIF pub.puballtables THEN
		RAISE NOTICE 'publication "ame_realtime" publishes all tables and is left as it is';
	ELSE
		EXECUTE format('ALTER PUBLICATION ame_realtime SET TABLE %s', list);
		ALTER PUBLICATION ame_realtime
			SET (publish = 'insert, update, delete, truncate');
	END IF;

	-- Supabase's own publication, when there is one we may alter
	SELECT p.oid, p.puballtables, p.pubowner INTO pub
	FROM pg_publication p WHERE p.pubname = 'supabase_realtime';
	IF FOUND AND NOT pub.puballtables THEN
		IF NOT pg_has_role(current_user, pub.pubowner, 'USAGE') THEN
			RAISE NOTICE 'publication "supabase_realtime" is not altered: it belongs to role "%"',
				pg_get_userbyid(pub.pubowner);
		ELSE
			FOR rel IN
				SELECT format('%I.%I', n.nspname, c.relname) AS name
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE c.oid = ANY (rels)
				  AND NOT EXISTS (SELECT FROM pg_publication_rel pr
								  WHERE pr.prpubid = pub.oid AND pr.prrelid = c.oid)
				ORDER BY c.relname
			LOOP
				EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE %s',
							   rel.name);
			END LOOP;
		END IF;
	END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@.ame_setup_realtime() IS
'create or repair publication ame_realtime on sessions, progress and devices; add them to supabase_realtime when it exists and may be altered';

REVOKE ALL ON FUNCTION @extschema@.ame_setup_realtime() FROM PUBLIC;

--
-- Row-level security: a technician sees and changes only the rows of
-- their own visits.  The helpers run as the owner, so a role needs no
-- right on ame_technicians for the policies to work; each policy calls
-- its helper in a scalar subquery, evaluated once per statement.  The
-- helpers' bodies are bound when they are created (BEGIN ATOMIC): an
-- overload planted later in a writable schema cannot make the call by
-- name ambiguous and fail every technician's query.
--

CREATE FUNCTION @extschema@.ame_current_technician_id()
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT t.id FROM @extschema@.ame_technicians t
	WHERE t.user_id OPERATOR(pg_catalog.=) @extschema@.ame_current_user_id();
END;

COMMENT ON FUNCTION @extschema@.ame_current_technician_id() IS
'the technician whose user_id is ame_current_user_id(), or NULL; used by the row-level security policies';

CREATE FUNCTION @extschema@.ame_current_visit_ids()
RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT COALESCE(pg_catalog.array_agg(v.id), '{}')
	FROM @extschema@.ame_visits v
	WHERE v.technician_id OPERATOR(pg_catalog.=)
		  @extschema@.ame_current_technician_id();
END;

COMMENT ON FUNCTION @extschema@.ame_current_visit_ids() IS
'the ids of the visits of the current technician (empty without one); used by the row-level security policies';

ALTER TABLE @extschema@.ame_visits ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.ame_visit_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.ame_visit_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.ame_visit_sessions_archive ENABLE ROW LEVEL SECURITY;

CREATE POLICY ame_visits_technician ON @extschema@.ame_visits
	FOR ALL TO PUBLIC
	USING (technician_id OPERATOR(pg_catalog.=)
		   (SELECT @extschema@.ame_current_technician_id()))
	WITH CHECK (technician_id OPERATOR(pg_catalog.=)
				(SELECT @extschema@.ame_current_technician_id()));

CREATE POLICY ame_visit_progress_technician ON @extschema@.ame_visit_progress
	FOR ALL TO PUBLIC
	USING (visit_id OPERATOR(pg_catalog.=) ANY
		   ((SELECT @extschema@.ame_current_visit_ids())::uuid[]))
	WITH CHECK (visit_id OPERATOR(pg_catalog.=) ANY
				((SELECT @extschema@.ame_current_visit_ids())::uuid[]));

CREATE POLICY ame_visit_sessions_technician ON @extschema@.ame_visit_sessions
	FOR ALL TO PUBLIC
	USING (visit_id OPERATOR(pg_catalog.=) ANY
		   ((SELECT @extschema@.ame_current_visit_ids())::uuid[]))
	WITH CHECK (visit_id OPERATOR(pg_catalog.=) ANY
				((SELECT @extschema@.ame_current_visit_ids())::uuid[]));

CREATE POLICY ame_visit_sessions_archive_technician
	ON @extschema@.ame_visit_sessions_archive
	FOR ALL TO PUBLIC
	USING (visit_id OPERATOR(pg_catalog.=) ANY
		   ((SELECT @extschema@.ame_current_visit_ids())::uuid[]))
	WITH CHECK (visit_id OPERATOR(pg_catalog.=) ANY
				((SELECT @extschema@.ame_current_visit_ids())::uuid[]));

--
-- At install: schedule the cleanup and set up the publication, unless
-- this is a restore (a pg_dump script sets row_security = off, pg_restore
-- connects as application_name pg_restore): the restored cron.job rows
-- and the dumped publication must not collide with new ones.  Nothing
-- here can make the install fail.
--

CREATE FUNCTION @extschema@.ame_install_notice(message text, hint text)
RETURNS void
AS 'MODULE_PATHNAME', 'ame_install_notice'
LANGUAGE C;

DO $install$
BEGIN
	IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off'
	   OR pg_catalog.current_setting('application_name') OPERATOR(pg_catalog.=) 'pg_restore' THEN
		PERFORM @extschema@.ame_install_notice(
			'restore detected: the session cleanup is not scheduled and publication "ame_realtime" is not set up',
			'The restored cron.job rows keep their schedule. After the restore, run SELECT @extschema@.ame_setup_realtime();');
		RETURN;
	END IF;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension
				   WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
		PERFORM @extschema@.ame_install_notice(
			'pg_cron is not installed: expired sessions are not cleaned up automatically',
			'Install pg_cron in this database, then run SELECT @extschema@.ame_schedule_cleanup();');
	ELSE
		BEGIN
			PERFORM @extschema@.ame_schedule_cleanup();
		EXCEPTION WHEN OTHERS THEN
			PERFORM @extschema@.ame_install_notice(
				pg_catalog.format('the session cleanup could not be scheduled: %s', SQLERRM),
				'Fix the cause, then run SELECT @extschema@.ame_schedule_cleanup();');
		END;
		BEGIN
			PERFORM @extschema@.ame_schedule_audit_maintenance();
		EXCEPTION WHEN OTHERS THEN
			PERFORM @extschema@.ame_install_notice(
				pg_catalog.format('the audit maintenance could not be scheduled: %s', SQLERRM),
				'Fix the cause, then run SELECT @extschema@.ame_schedule_audit_maintenance();');
		END;
	END IF;

	BEGIN
		PERFORM @extschema@.ame_setup_realtime();
	EXCEPTION WHEN OTHERS THEN
		PERFORM @extschema@.ame_install_notice(
			pg_catalog.format('publication "ame_realtime" could not be set up: %s', SQLERRM),
			'Fix the cause, then run SELECT @extschema@.ame_setup_realtime();');
	END;
END
$install$;

DROP FUNCTION @extschema@.ame_install_notice(text, text);
/* src/sql/40_import.sql: CSV import of customers, technicians and devices */

CREATE FUNCTION @extschema@.ame_import_csv(data text, import_type text,
										   source_file text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'ame_import_csv_inline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv(text, text, text) IS
'imports CSV text (customers, technicians or devices); every record is imported, recorded in import_errors, or counted in skipped_count when a BEFORE ROW trigger suppresses it; returns the import_batches id';

CREATE FUNCTION @extschema@.ame_import_csv(data bytea, import_type text,
										   source_file text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'ame_import_csv_inline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv(bytea, text, text) IS
'imports CSV bytes (may hold invalid UTF-8 or NUL, recorded as row errors); returns the import_batches id';

CREATE FUNCTION @extschema@.ame_import_csv_file(path text, import_type text)
RETURNS uuid
AS 'MODULE_PATHNAME', 'ame_import_csv_file'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.ame_import_csv_file(text, text) IS
'imports a CSV file of the server, streamed with bounded memory (needs pg_read_server_files); returns the import_batches id';

-- imports write many rows: the owner grants them as needed
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv(bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ame_import_csv_file(text, text) FROM PUBLIC;

--
-- Visit workflow (src/workflow.c; docs/workflow.md): the status and phase
-- rules of ame_visits and the task rules of ame_visit_progress, enforced
-- by two row triggers for every client: BEFORE on ame_visits (it stamps;
-- its name sorts before ame_visits_updated_at, so updated_at sees the row
-- with the stamps made here), AFTER on ame_visit_progress (it checks the
-- row as written, once row-level security has let it through).
--

CREATE FUNCTION @extschema@.ame_visit_workflow()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_visit_workflow'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_visit_workflow() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_visit_workflow() IS
'BEFORE INSERT OR UPDATE row trigger of ame_visits: allowed status changes only, phases forward one at a time with their tasks done, stamps actual_start_time and completed_at, derives duration_hours; a refusal is 23514 (constraint ame_visit_workflow)';

CREATE TRIGGER ame_visits_check_workflow
	BEFORE INSERT OR UPDATE ON @extschema@.ame_visits
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_visit_workflow();

CREATE FUNCTION @extschema@.ame_visit_task_workflow()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_visit_task_workflow'
LANGUAGE C;

REVOKE EXECUTE ON FUNCTION @extschema@.ame_visit_task_workflow() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_visit_task_workflow() IS
'AFTER INSERT OR UPDATE row trigger of ame_visit_progress: open tasks only in the current or a later phase of an open visit, tasks completed only while the visit is in progress; a refusal is 23514 (constraint ame_visit_task_workflow)';

CREATE TRIGGER ame_visit_progress_check_workflow
	AFTER INSERT OR UPDATE ON @extschema@.ame_visit_progress
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_visit_task_workflow();

-- the open tasks of a visit's phase: what a phase change or a completion
-- checks (a phase whose tasks are done has no entry), and what an app
-- lists as "left to do"
CREATE INDEX ame_visit_progress_open_idx
	ON @extschema@.ame_visit_progress (visit_id, phase)
	WHERE NOT is_completed;

--
-- The calls an app makes.  They run as the caller: row-level security
-- decides which visits and tasks they reach, the triggers decide what may
-- change.
--

CREATE FUNCTION @extschema@.ame_advance_phase(visit_id uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	from_phase integer;
	to_phase integer;
BEGIN
	SELECT v.current_phase INTO from_phase
	FROM @extschema@.ame_visits v
	WHERE v.id OPERATOR(pg_catalog.=) ame_advance_phase.visit_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'visit % does not exist or is not visible to you', visit_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- from the phase read above only: a second caller that waited for a
	-- first one to move the visit gets a refusal, not a second step
	UPDATE @extschema@.ame_visits v
	SET current_phase = from_phase OPERATOR(pg_catalog.+) 1
	WHERE v.id OPERATOR(pg_catalog.=) ame_advance_phase.visit_id
	  AND v.current_phase OPERATOR(pg_catalog.=) from_phase
	RETURNING v.current_phase INTO to_phase;
	IF NOT FOUND THEN
		SELECT v.current_phase INTO to_phase
		FROM @extschema@.ame_visits v
		WHERE v.id OPERATOR(pg_catalog.=) ame_advance_phase.visit_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'visit % does not exist or is not visible to you', visit_id
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RAISE EXCEPTION 'cannot move visit % from phase % to phase %: it is at phase % now',
			visit_id, from_phase, from_phase OPERATOR(pg_catalog.+) 1, to_phase
			USING ERRCODE = 'check_violation',
				  CONSTRAINT = 'ame_visit_workflow',
				  HINT = 'Another change moved the visit first: read it again before advancing.';
	END IF;
	RETURN to_phase;
END
$fn$;

COMMENT ON FUNCTION @extschema@.ame_advance_phase(uuid) IS
'moves a visit in progress to its next phase and returns it; the tasks of the phase left must be done; errors: 22023 (no such visit visible to you), 23514 (refused by the workflow, or another change moved the visit first)';

CREATE FUNCTION @extschema@.ame_complete_task(progress_id uuid, notes text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	UPDATE @extschema@.ame_visit_progress p
	SET is_completed = true,
		completed_at = CASE WHEN p.is_completed THEN p.completed_at
							ELSE pg_catalog.now() END,
		notes = COALESCE(ame_complete_task.notes, p.notes)
	WHERE p.id OPERATOR(pg_catalog.=) ame_complete_task.progress_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'task % does not exist or is not visible to you', progress_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@.ame_complete_task(uuid, text) IS
'marks a task done (completed_at now; a task already done keeps its time) and sets its notes when given; errors: 22023 (no such task visible to you), 23514 (the visit is not in progress, or the task is of a later phase)';

CREATE FUNCTION @extschema@.ame_visit_next_steps(visit_id uuid)
RETURNS TABLE (action text, task_id uuid, allowed boolean, reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH v AS (
		SELECT v.id, v.status, v.current_phase
		FROM @extschema@.ame_visits v
		WHERE v.id OPERATOR(pg_catalog.=) ame_visit_next_steps.visit_id
	), o AS (
		SELECT pg_catalog.count(p.id) AS open_tasks
		FROM v LEFT JOIN @extschema@.ame_visit_progress p
			 ON p.visit_id OPERATOR(pg_catalog.=) v.id
			AND p.phase OPERATOR(pg_catalog.=) v.current_phase
			AND NOT p.is_completed
	), steps AS (
		SELECT 1 AS ord, 'start'::text AS action, NULL::uuid AS task_id,
			   v.status OPERATOR(pg_catalog.=) 'scheduled'::text AS allowed,
			   CASE WHEN v.status OPERATOR(pg_catalog.=) 'scheduled'::text THEN NULL::text
					ELSE 'the visit is ' OPERATOR(pg_catalog.||) v.status END AS reason,
			   NULL::integer AS phase, NULL::text AS task_name
		FROM v
		UNION ALL
		SELECT 2, 'advance_phase', NULL,
			   v.status OPERATOR(pg_catalog.=) 'in_progress'::text
			   AND v.current_phase OPERATOR(pg_catalog.<) 4
			   AND o.open_tasks OPERATOR(pg_catalog.=) 0::bigint,
			   CASE WHEN v.status OPERATOR(pg_catalog.<>) 'in_progress'::text
						THEN 'the visit is ' OPERATOR(pg_catalog.||) v.status
					WHEN v.current_phase OPERATOR(pg_catalog.>=) 4
						THEN 'phase 4 is the last'
					WHEN o.open_tasks OPERATOR(pg_catalog.>) 0::bigint
						THEN o.open_tasks::text OPERATOR(pg_catalog.||) ' open task(s) in phase '
							 OPERATOR(pg_catalog.||) v.current_phase::text
			   END,
			   NULL, NULL
		FROM v, o
		UNION ALL
		SELECT 3, 'complete', NULL,
			   v.status OPERATOR(pg_catalog.=) 'in_progress'::text
			   AND v.current_phase OPERATOR(pg_catalog.=) 4
			   AND o.open_tasks OPERATOR(pg_catalog.=) 0::bigint,
			   CASE WHEN v.status OPERATOR(pg_catalog.<>) 'in_progress'::text
						THEN 'the visit is ' OPERATOR(pg_catalog.||) v.status
					WHEN v.current_phase OPERATOR(pg_catalog.<>) 4
						THEN 'the visit is at phase ' OPERATOR(pg_catalog.||) v.current_phase::text
							 OPERATOR(pg_catalog.||) ', not 4'
					WHEN o.open_tasks OPERATOR(pg_catalog.>) 0::bigint
						THEN o.open_tasks::text OPERATOR(pg_catalog.||) ' open task(s) in phase 4'
			   END,
			   NULL, NULL
		FROM v, o
		UNION ALL
		SELECT 4, 'cancel', NULL,
			   v.status OPERATOR(pg_catalog.=) ANY (ARRAY['scheduled', 'in_progress']::text[]),
			   CASE WHEN v.status OPERATOR(pg_catalog.=) ANY (ARRAY['scheduled', 'in_progress']::text[])
						THEN NULL::text
					ELSE 'the visit is ' OPERATOR(pg_catalog.||) v.status END,
			   NULL, NULL
		FROM v
		UNION ALL
		SELECT 5, 'complete_task', p.id,
			   v.status OPERATOR(pg_catalog.=) 'in_progress'::text
			   AND p.phase OPERATOR(pg_catalog.<=) v.current_phase,
			   CASE WHEN v.status OPERATOR(pg_catalog.<>) 'in_progress'::text
						THEN 'the visit is ' OPERATOR(pg_catalog.||) v.status
					WHEN p.phase OPERATOR(pg_catalog.>) v.current_phase
						THEN 'the task is of phase ' OPERATOR(pg_catalog.||) p.phase::text
							 OPERATOR(pg_catalog.||) ', the visit at phase '
							 OPERATOR(pg_catalog.||) v.current_phase::text
			   END,
			   p.phase, p.task_name
		FROM v JOIN @extschema@.ame_visit_progress p
			 ON p.visit_id OPERATOR(pg_catalog.=) v.id AND NOT p.is_completed
	)
	SELECT s.action, s.task_id, s.allowed, s.reason
	FROM steps s
	ORDER BY s.ord, s.phase, s.task_name, s.task_id;
END;

COMMENT ON FUNCTION @extschema@.ame_visit_next_steps(uuid) IS
'what can be done next with a visit, as the caller sees it: start, advance_phase, complete, cancel and complete_task (one row per open task), each with allowed and, when not, the reason; no rows for a visit the caller cannot see';
/* src/sql/60_service_levels.sql: service-level targets per tier and the SLA views */

--
-- The targets.  One row per service tier, made here with the defaults;
-- the owner edits them with UPDATE.  The table is dumped; the rows of a
-- dump are restored over the defaults that CREATE EXTENSION made by the
-- trigger below (a restore's COPY would otherwise collide with them).
--

CREATE FUNCTION @extschema@.ame_service_levels_restore()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_service_levels_restore'
LANGUAGE C;

-- attached only to ame_service_levels
REVOKE EXECUTE ON FUNCTION @extschema@.ame_service_levels_restore() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.ame_service_levels_restore() IS
'BEFORE INSERT row trigger of ame_service_levels: in a restore session of the owner, a row for a tier that exists updates its targets instead of failing with 23505';

CREATE TABLE @extschema@.ame_service_levels (
	service_tier text NOT NULL,
	response_target interval NOT NULL,
	resolution_target interval NOT NULL,
	CONSTRAINT ame_service_levels_pkey PRIMARY KEY (service_tier),
	CONSTRAINT valid_service_level_tier
		CHECK (service_tier OPERATOR(pg_catalog.=) ANY (ARRAY['CORE', 'ASSURE', 'GUARDIAN']::text[])),
	CONSTRAINT valid_response_target
		CHECK (response_target OPERATOR(pg_catalog.>) '0'::interval),
	CONSTRAINT valid_resolution_target
		CHECK (resolution_target OPERATOR(pg_catalog.>) '0'::interval)
);

COMMENT ON TABLE @extschema@.ame_service_levels IS
'the response and resolution targets of each service tier (defaults GUARDIAN 4 h / 24 h, ASSURE 24 h / 72 h, CORE 72 h / 168 h); the owner edits them';
COMMENT ON COLUMN @extschema@.ame_service_levels.response_target IS
'longest time from a visit''s created_at to its actual_start_time that meets the target';
COMMENT ON COLUMN @extschema@.ame_service_levels.resolution_target IS
'longest time from a visit''s created_at to its completed_at that meets the target';

CREATE TRIGGER ame_service_levels_restore
	BEFORE INSERT ON @extschema@.ame_service_levels
	FOR EACH ROW EXECUTE FUNCTION @extschema@.ame_service_levels_restore();
-- ALWAYS: a restore run with session_replication_role = replica (the way
-- docs/audit.md restores without new audit rows) needs it most
ALTER TABLE @extschema@.ame_service_levels
	ENABLE ALWAYS TRIGGER ame_service_levels_restore;

INSERT INTO @extschema@.ame_service_levels
	(service_tier, response_target, resolution_target) VALUES
	('GUARDIAN', '4 hours', '24 hours'),
	('ASSURE', '24 hours', '72 hours'),
	('CORE', '72 hours', '168 hours');

SELECT pg_catalog.pg_extension_config_dump('@extschema@.ame_service_levels', '');

--
-- The SLA views.  security_invoker: row-level security on ame_visits
-- applies to the reader.  Bound at install time, so every operator is
-- OPERATOR(pg_catalog.…).  Independent of the session's TimeZone: months
-- are UTC months, and "30 days" is 720 hours.
--

CREATE VIEW @extschema@.service_level_visits
WITH (security_invoker = true) AS
SELECT v.id AS visit_id,
	   v.customer_id,
	   v.technician_id,
	   c.service_tier,
	   pg_catalog.date_trunc('month', pg_catalog.timezone('UTC', v.created_at))::date
		   AS month,
	   v.status,
	   t.response_time,
	   t.resolution_time,
	   t.response_time OPERATOR(pg_catalog.<=) sl.response_target AS response_met,
	   t.resolution_time OPERATOR(pg_catalog.<=) sl.resolution_target AS resolution_met,
	   CASE WHEN v.status OPERATOR(pg_catalog.=) 'completed'
				 AND v.completed_at IS NOT NULL
			THEN NOT EXISTS (
				SELECT FROM @extschema@.ame_visits o
				WHERE o.customer_id OPERATOR(pg_catalog.=) v.customer_id
				  AND o.id OPERATOR(pg_catalog.<>) v.id
				  AND o.created_at OPERATOR(pg_catalog.>=) v.completed_at
				  AND o.created_at OPERATOR(pg_catalog.<=)
					  (v.completed_at OPERATOR(pg_catalog.+) '720 hours'::interval)) END
		   AS first_time_fix
FROM @extschema@.ame_visits v
	 -- an infinite time (a row from before 1.4) gives no figure, not an
	 -- error: "cannot subtract infinite timestamps" would fail the view
	 CROSS JOIN LATERAL (
		SELECT CASE WHEN pg_catalog.isfinite(v.created_at)
						 AND pg_catalog.isfinite(v.actual_start_time)
					THEN v.actual_start_time OPERATOR(pg_catalog.-) v.created_at END
				   AS response_time,
			   CASE WHEN v.status OPERATOR(pg_catalog.=) 'completed'
						 AND pg_catalog.isfinite(v.created_at)
						 AND pg_catalog.isfinite(v.completed_at)
					THEN v.completed_at OPERATOR(pg_catalog.-) v.created_at END
				   AS resolution_time) t
	 JOIN @extschema@.ame_customers c ON c.id OPERATOR(pg_catalog.=) v.customer_id
	 LEFT JOIN @extschema@.ame_service_levels sl
		 ON sl.service_tier OPERATOR(pg_catalog.=) c.service_tier;

COMMENT ON VIEW @extschema@.service_level_visits IS
'per visit: its tier, UTC month of created_at, response and resolution time, whether each met its target, whether it was a first-time fix (NULL where not applicable)';

CREATE VIEW @extschema@.service_level_metrics
WITH (security_invoker = true) AS
SELECT tier.service_tier,
	   pg_catalog.count(s.visit_id) AS visits,
	   pg_catalog.count(s.response_time) AS started_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.response_met)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.response_met), 0::bigint), 2)
		   AS response_met_pct,
	   pg_catalog.percentile_cont(0.5::double precision)
		   WITHIN GROUP (ORDER BY s.response_time) AS median_response,
	   pg_catalog.percentile_cont(0.9::double precision)
		   WITHIN GROUP (ORDER BY s.response_time) AS p90_response,
	   pg_catalog.count(*) FILTER (WHERE s.status OPERATOR(pg_catalog.=) 'completed')
		   AS completed_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.resolution_met)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.resolution_met), 0::bigint), 2)
		   AS resolution_met_pct,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.first_time_fix)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.first_time_fix), 0::bigint), 2)
		   AS first_time_fix_pct
FROM (VALUES ('CORE'), ('ASSURE'), ('GUARDIAN')) AS tier (service_tier)
	 LEFT JOIN @extschema@.service_level_visits s
		 ON s.service_tier OPERATOR(pg_catalog.=) tier.service_tier
GROUP BY tier.service_tier;

COMMENT ON VIEW @extschema@.service_level_metrics IS
'per service tier (all three, also without visits): visits, started and completed visits, percent meeting the response and resolution targets, median and 90th percentile response time, first-time fix percent';

CREATE VIEW @extschema@.service_level_metrics_monthly
WITH (security_invoker = true) AS
SELECT s.service_tier,
	   s.month,
	   pg_catalog.count(s.visit_id) AS visits,
	   pg_catalog.count(s.response_time) AS started_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.response_met)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.response_met), 0::bigint), 2)
		   AS response_met_pct,
	   pg_catalog.percentile_cont(0.5::double precision)
		   WITHIN GROUP (ORDER BY s.response_time) AS median_response,
	   pg_catalog.percentile_cont(0.9::double precision)
		   WITHIN GROUP (ORDER BY s.response_time) AS p90_response,
	   pg_catalog.count(*) FILTER (WHERE s.status OPERATOR(pg_catalog.=) 'completed')
		   AS completed_visits,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.resolution_met)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.resolution_met), 0::bigint), 2)
		   AS resolution_met_pct,
	   pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					   pg_catalog.count(*) FILTER (WHERE s.first_time_fix)
					   OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(s.first_time_fix), 0::bigint), 2)
		   AS first_time_fix_pct
FROM @extschema@.service_level_visits s
GROUP BY s.service_tier, s.month;

COMMENT ON VIEW @extschema@.service_level_metrics_monthly IS
'service_level_metrics per tier and month (UTC month of created_at, as a date): one row per tier and month that has visits';
