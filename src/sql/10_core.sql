/* src/sql/10_core.sql: identity, normalization, schema, updated_at, BI views */

--
-- Identity
--

CREATE FUNCTION @extschema@.ame_current_user_id()
RETURNS uuid
AS 'MODULE_PATHNAME', 'ame_current_user_id'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.ame_current_user_id() IS
'the acting user: GUC request.jwt.claim.sub, else "sub" of the JSON in request.jwt.claims; NULL when unset. Errors: 22P02 a claim that is set but is not a uuid, not JSON, or not a JSON object.';

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
'BEFORE INSERT OR UPDATE row trigger of ame_customers: canonical phone, extension, email, service tier and customer number. Errors: 22P02 a phone or extension without digits; 22023 an invalid email or service tier, an extension of more than 10 digits; 55000 customer_sequence missing; 39P01 fired other than as a BEFORE INSERT OR UPDATE row trigger of a table with those columns.';

CREATE FUNCTION @extschema@.ame_set_updated_at()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ame_set_updated_at'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.ame_set_updated_at() IS
'BEFORE UPDATE row trigger: sets updated_at to now() when another column really changed, else keeps it. Errors: 39P01 fired other than as a BEFORE UPDATE row trigger of a table with a timestamptz updated_at.';

--
-- Customers
--

CREATE SEQUENCE @extschema@.customer_sequence AS bigint;

COMMENT ON SEQUENCE @extschema@.customer_sequence IS
'source of generated customer numbers (AME-000001, ...)';

CREATE TABLE @extschema@.ame_customers (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	customer_number text NOT NULL,
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

-- a technician's visits, read index-only (with id) by the row-level
-- security helper ame_current_visit_ids() (30_sessions.sql)
CREATE INDEX ame_visits_technician_idx
	ON @extschema@.ame_visits (technician_id, id);

COMMENT ON INDEX @extschema@.ame_visits_technician_idx IS
'a technician''s visits: the row-level security helper ame_current_visit_ids() reads their ids from it index-only, and the seed''s "active sessions of a technician" starts from it';
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
	resume_offset bigint,
	resume_line bigint,
	file_size bigint,
	file_mtime timestamptz,
	CONSTRAINT import_batches_pkey PRIMARY KEY (id),
	CONSTRAINT valid_import_status
		CHECK (status IN ('processing', 'completed', 'completed_with_errors',
						  'failed', 'interrupted')),
	CONSTRAINT valid_import_type
		CHECK (import_type IN ('customers', 'technicians', 'devices'))
);

COMMENT ON TABLE @extschema@.import_batches IS
'one row per CSV import: its file, type, status and counts';
COMMENT ON COLUMN @extschema@.import_batches.skipped_count IS
'records a BEFORE ROW trigger of the target suppressed (neither imported nor errors); success_count + error_count + skipped_count = total_records';
COMMENT ON COLUMN @extschema@.import_batches.resume_offset IS
'ame_import_csv_file_chunked: byte offset in the file of the first record not yet committed (the end of the file once completed); NULL for the one-transaction imports';
COMMENT ON COLUMN @extschema@.import_batches.resume_line IS
'ame_import_csv_file_chunked: the line number at resume_offset; NULL for the one-transaction imports';
COMMENT ON COLUMN @extschema@.import_batches.file_size IS
'ame_import_csv_file_chunked: the file''s size in bytes when the batch began (a resume refuses a changed file)';
COMMENT ON COLUMN @extschema@.import_batches.file_mtime IS
'ame_import_csv_file_chunked: the file''s modification time when the batch began (a resume refuses a changed file)';

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
	table_schema text NOT NULL,
	table_name text NOT NULL,
	record_id uuid NOT NULL,
	operation text NOT NULL,
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
