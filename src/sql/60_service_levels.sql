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
'BEFORE INSERT row trigger of ame_service_levels: in a restore session of the owner, a row for a tier that exists updates its targets instead of failing with 23505. Errors: 39P01 fired other than as a BEFORE INSERT row trigger of a table with those columns.';

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
