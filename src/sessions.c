/*-------------------------------------------------------------------------
 *
 * sessions.c
 *	  On-site sessions of a visit: start, touch (auto-save) and end them,
 *	  and cleanup_expired_sessions(), which moves expired sessions into the
 *	  archive in one atomic statement.
 *
 * The session functions run with the caller's rights, so row-level
 * security decides which visits and sessions the caller can use: a visit
 * or session the caller cannot see behaves exactly like one that does not
 * exist.  Tokens are 32 bytes from pg_strong_random(), hex encoded.
 *
 * cleanup_expired_sessions() runs as the extension's owner (it must see
 * every session), switching the user id around its own work only.  The
 * move is a single DELETE ... RETURNING feeding an INSERT, so a session is
 * either still live or archived, never both and never neither, whatever
 * runs concurrently: a concurrent touch or end either commits first (and
 * the DELETE's recheck skips the refreshed row) or waits for the cleanup
 * (and then finds no row).  Cleanups serialize on a transaction-level
 * advisory lock, so a second one waits and then moves only what is left.
 *
 * Every SQL text names the extension's own schema; plans are prepared
 * once per backend and kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "ame.h"

#define TOKEN_BYTES			32
#define GRACE_PERIOD_MS		(24 * 60 * 60 * 1000L)
#define CLEANUP_LOCK_KEY2	1
#define CLEANUP_JOB_NAME	"session-cleanup"
#define DEFAULT_SCHEDULE	"0 2 * * *"

/*
 * The rules a refusal names in its constraint field (PostgREST answers
 * 23514 with 400; node-postgres shows the name as error.constraint): a
 * session must be active to be touched or ended, and a session is started
 * only on an open visit, the visit workflow's rule.
 */
#define SESSION_RULE		"ame_session_active"
#define VISIT_RULE			"ame_visit_workflow"

/* archived-again ids listed in a cleanup's log row, at most */
#define AGAIN_IDS_LISTED	100

/*
 * The pg_cron job's SQL.  It finds the cleanup through the extension
 * (pg_extension.extnamespace), not through a schema name written into the
 * text, so ALTER SCHEMA ... RENAME does not break it, and the text is the
 * same for every install.  It is guarded: once ame is gone, the next run
 * removes the job instead of failing every night.  Every name and
 * operator is qualified: pg_cron runs it with the job owner's search_path.
 */
#define CLEANUP_COMMAND \
	"DO $ame$DECLARE s pg_catalog.name; BEGIN " \
	"SELECT n.nspname INTO s FROM pg_catalog.pg_extension e " \
	"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace " \
	"WHERE e.extname OPERATOR(pg_catalog.=) 'ame'::pg_catalog.name; " \
	"IF NOT FOUND THEN PERFORM cron.unschedule('" CLEANUP_JOB_NAME "'::pg_catalog.name); " \
	"ELSE EXECUTE pg_catalog.format('SELECT %I.cleanup_expired_sessions()', s); " \
	"END IF; END$ame$"

/* the audit log's nightly maintenance (audit_partition.c), the same way */
#define AUDIT_JOB_NAME		"audit-maintenance"
#define AUDIT_COMMAND \
	"DO $ame$DECLARE s pg_catalog.name; BEGIN " \
	"SELECT n.nspname INTO s FROM pg_catalog.pg_extension e " \
	"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace " \
	"WHERE e.extname OPERATOR(pg_catalog.=) 'ame'::pg_catalog.name; " \
	"IF NOT FOUND THEN PERFORM cron.unschedule('" AUDIT_JOB_NAME "'::pg_catalog.name); " \
	"ELSE EXECUTE pg_catalog.format('SELECT %I.ame_audit_maintenance()', s); " \
	"END IF; END$ame$"

/* a kept plan, valid for one schema of the extension */
typedef struct KeptPlan
{
	Oid			nsp;
	SPIPlanPtr	plan;
} KeptPlan;

static KeptPlan visit_plan;
static KeptPlan insert_plan;
static KeptPlan touch_plan;
static KeptPlan end_plan;
static KeptPlan lookup_plan;
static KeptPlan archived_plan;
static KeptPlan move_plan;
static KeptPlan log_plan;

/* true while cleanup_expired_sessions() moves rows: no per-row NOTIFY */
bool		ame_realtime_suppressed = false;

static SPIPlanPtr get_plan(KeptPlan *kp, Oid nsp, const char *fmt,
						   const char *rel1, const char *rel2,
						   int nargs, Oid *argtypes);
static char *qualified(Oid nsp, const char *relname);
static char *new_token(void);
static Datum session_token_arg(FunctionCallInfo fcinfo);
static int	errrule(Oid nsp, const char *relname, const char *rule);
pg_noreturn static void report_unusable_session(Oid nsp, Datum token);
static Oid	require_pg_cron(void);
static int64 schedule_job(const char *funcname, FunctionCallInfo fcinfo,
						  const char *jobname, const char *command);
static bool unschedule_job(const char *funcname, const char *jobname);
static void validate_schedule(const char *schedule);
static int	cron_value(const char **pp, const char *end,
					   const char *const *names);
static const char *check_cron_field(const char *field, int len, int min,
									int max, const char *const *names);

PG_FUNCTION_INFO_V1(ame_start_session);
PG_FUNCTION_INFO_V1(ame_touch_session);
PG_FUNCTION_INFO_V1(ame_end_session);
PG_FUNCTION_INFO_V1(cleanup_expired_sessions);
PG_FUNCTION_INFO_V1(ame_schedule_cleanup);
PG_FUNCTION_INFO_V1(ame_unschedule_cleanup);
PG_FUNCTION_INFO_V1(ame_schedule_audit_maintenance);
PG_FUNCTION_INFO_V1(ame_unschedule_audit_maintenance);

/*
 * ame_start_session(visit_id uuid, ttl interval)
 *		RETURNS TABLE(session_id uuid, session_token text, expires_at timestamptz)
 *		Start a new session on a scheduled or in-progress visit that the
 *		caller can see; returns it, as one row.
 *
 * A set-returning function (so that PostgREST and SELECT * FROM see the
 * columns) that returns exactly one row: the first call does the work,
 * the second says it is done.
 */
Datum
ame_start_session(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	Oid			nsp;
	Datum		visit_id;
	Interval   *ttl;
	Interval	zero;
	SPIPlanPtr	plan;
	Oid			visit_types[1] = {UUIDOID};
	Oid			insert_types[4] = {UUIDOID, UUIDOID, TEXTOID, INTERVALOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	char	   *status;
	Datum		technician;
	bool		technician_null;
	char	   *token;
	int			rc;
	TupleDesc	tupdesc;
	pg_uuid_t  *session_id;
	TimestampTz expires;
	Datum		result[3];
	bool		result_nulls[3] = {false, false, false};
	bool		isnull;

	if (!SRF_IS_FIRSTCALL())
	{
		funcctx = SRF_PERCALL_SETUP();
		SRF_RETURN_DONE(funcctx);
	}
	funcctx = SRF_FIRSTCALL_INIT();

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("visit id must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session ttl must not be null")));
	nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	visit_id = PG_GETARG_DATUM(0);
	ttl = PG_GETARG_INTERVAL_P(1);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp,
										  IntervalPGetDatum(ttl),
										  IntervalPGetDatum(&zero))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session ttl must be positive"),
				 errdetail("The ttl given is %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(ttl))))));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ame_start_session must be declared to return a row type");

	/* made before SPI_connect, so that they outlive SPI_finish */
	token = new_token();
	session_id = palloc(sizeof(pg_uuid_t));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the visit, as the caller sees it under row-level security */
	plan = get_plan(&visit_plan, nsp,
					"SELECT v.status, v.technician_id FROM %s v"
					" WHERE v.id OPERATOR(pg_catalog.=) $1",
					"ame_visits", NULL,
					1, visit_types);
	rc = SPI_execute_plan(plan, &visit_id, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("visit \"%s\" not found",
						DatumGetCString(DirectFunctionCall1(uuid_out, visit_id))),
				 errdetail("No visit with this id is visible to the current user.")));

	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(status, "scheduled") != 0 && strcmp(status, "in_progress") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("visit \"%s\" is %s",
						DatumGetCString(DirectFunctionCall1(uuid_out, visit_id)),
						status),
				 errdetail("Sessions can be started only on scheduled or in-progress visits."),
				 errrule(nsp, "ame_visits", VISIT_RULE)));
	technician = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
							   &technician_null);
	if (!technician_null)
		technician = datumCopy(technician, false, UUID_LEN);

	plan = get_plan(&insert_plan, nsp,
					"INSERT INTO %s (visit_id, technician_id, session_token,"
					" expires_at, ttl)"
					" VALUES ($1, $2, $3, pg_catalog.now() OPERATOR(pg_catalog.+) $4, $4)"
					" RETURNING id, expires_at",
					"ame_visit_sessions", NULL,
					4, insert_types);
	values[0] = visit_id;
	values[1] = technician;
	nulls[1] = technician_null ? 'n' : ' ';
	values[2] = CStringGetTextDatum(token);
	values[3] = IntervalPGetDatum(ttl);
	rc = SPI_execute_plan(plan, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));

	/* id and expires_at are NOT NULL columns */
	memcpy(session_id,
		   DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	expires = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 2,
												&isnull));

	SPI_finish();

	result[0] = UUIDPGetDatum(session_id);
	result[1] = CStringGetTextDatum(token);
	result[2] = TimestampTzGetDatum(expires);
	SRF_RETURN_NEXT(funcctx,
					HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  result, result_nulls)));
}

/*
 * ame_touch_session(token text, auto_save jsonb) RETURNS timestamptz
 *		Merge auto_save into the session's auto_save_data (top level, as
 *		jsonb ||), set last_activity = now() and expires_at = now() + ttl;
 *		returns the new expires_at.
 */
Datum
ame_touch_session(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Datum		token = session_token_arg(fcinfo);
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	SPIPlanPtr	plan;
	TimestampTz expires;
	bool		isnull;
	int			rc;

	if (!PG_ARGISNULL(1))
	{
		Jsonb	   *patch = PG_GETARG_JSONB_P(1);

		if (!JB_ROOT_IS_OBJECT(patch) || JB_ROOT_IS_SCALAR(patch))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("auto-save data must be a JSON object"),
					 errdetail("The value given is a JSON %s.",
							   JB_ROOT_IS_SCALAR(patch) ? "scalar" : "array")));
		values[1] = JsonbPGetDatum(patch);
	}
	else
	{
		values[1] = (Datum) 0;
		nulls[1] = 'n';
	}
	values[0] = token;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = get_plan(&touch_plan, nsp,
					"UPDATE %s s SET"
					" auto_save_data = s.auto_save_data OPERATOR(pg_catalog.||)"
					" COALESCE($2, '{}'::pg_catalog.jsonb),"
					" last_activity = pg_catalog.now(),"
					" expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) s.ttl"
					" WHERE s.session_token OPERATOR(pg_catalog.=) $1"
					" AND s.is_active"
					" AND s.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()"
					" RETURNING s.expires_at",
					"ame_visit_sessions", NULL,
					2, types);
	rc = SPI_execute_plan(plan, values, nulls, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		report_unusable_session(nsp, values[0]);

	expires = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1,
												&isnull));
	SPI_finish();

	PG_RETURN_TIMESTAMPTZ(expires);
}

/*
 * ame_end_session(token text) RETURNS timestamptz
 *		End an active session: is_active = false, expires_at = the end time
 *		(now(), but always later than created_at); returns the end time.
 */
Datum
ame_end_session(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Datum		value = session_token_arg(fcinfo);
	Oid			types[1] = {TEXTOID};
	SPIPlanPtr	plan;
	TimestampTz ended;
	bool		isnull;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = get_plan(&end_plan, nsp,
					"UPDATE %s s SET is_active = false,"
					" last_activity = pg_catalog.now(),"
					" expires_at = GREATEST(pg_catalog.now(),"
					" s.created_at OPERATOR(pg_catalog.+) '1 microsecond'::pg_catalog.interval)"
					" WHERE s.session_token OPERATOR(pg_catalog.=) $1"
					" AND s.is_active"
					" AND s.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()"
					" RETURNING s.expires_at",
					"ame_visit_sessions", NULL,
					1, types);
	rc = SPI_execute_plan(plan, &value, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		report_unusable_session(nsp, value);

	ended = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1,
											  &isnull));
	SPI_finish();

	PG_RETURN_TIMESTAMPTZ(ended);
}

/*
 * cleanup_expired_sessions() RETURNS bigint
 *		Move every session whose expires_at is more than 24 hours past into
 *		the archive, log the run in system_maintenance_log, send one
 *		summary NOTIFY; returns the number of sessions archived.
 */
Datum
cleanup_expired_sessions(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			owner = ame_extension_owner();
	Oid			save_userid;
	int			save_sec;
	volatile int64 moved = 0;
	TimestampTz started = GetCurrentTimestamp();

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		Oid			sessions_relid;
		LOCKTAG		tag;
		TimestampTz locked;
		TimestampTz finished;
		TimestampTz cutoff;
		Oid			move_types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
		Datum		move_values[2];
		Oid			log_types[7] = {INT8OID, FLOAT8OID, TIMESTAMPTZOID,
		FLOAT8OID, INT8OID, UUIDARRAYOID, TEXTOID};
		Datum		log_values[7];
		char		log_nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
		int64		again;
		Datum		again_ids;
		bool		again_ids_null;
		char	   *note = NULL;
		bool		isnull;
		SPIPlanPtr	plan;
		int			rc;
		int64		visits;
		Datum		visit_ids;
		bool		visit_ids_null;
		Datum		visit_counts;

		sessions_relid = get_relname_relid("ame_visit_sessions", nsp);
		if (!OidIsValid(sessions_relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("relation \"%s.ame_visit_sessions\" does not exist",
							get_namespace_name(nsp))));

		/* one cleanup at a time: a second one waits, then finds the rest */
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) sessions_relid,
							 CLEANUP_LOCK_KEY2, 2);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);

		locked = GetCurrentTimestamp();
		cutoff = locked - GRACE_PERIOD_MS * INT64CONST(1000);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");

		/*
		 * The move, in one statement.  An id the archive already holds (a
		 * migration, an import, an old dump) is archived again next to its
		 * earlier copies (the archive's key is (id, archived_at)), so the
		 * run never fails on it and nothing is lost.  Such a copy gets an
		 * archived_at one microsecond past both the run's time and its
		 * latest earlier copy; every other session gets the run's time.
		 * So "archived_at <> $2" is exactly "was archived before", found
		 * with one index probe per row.  The first ids of those are listed
		 * for the log (a top-N sort: bounded memory).
		 */
		plan = get_plan(&move_plan, nsp,
						"WITH moved AS ("
						"DELETE FROM %1$s s"
						" WHERE s.expires_at OPERATOR(pg_catalog.<) $1"
						" RETURNING s.id, s.visit_id, s.technician_id,"
						" s.session_token, s.auto_save_data, s.is_active,"
						" s.last_activity, s.created_at, s.expires_at, s.ttl),"
						" archived AS ("
						"INSERT INTO %2$s (id, visit_id, technician_id,"
						" session_token, auto_save_data, is_active,"
						" last_activity, created_at, expires_at, ttl, archived_at)"
						" SELECT m.id, m.visit_id, m.technician_id,"
						" m.session_token, m.auto_save_data, m.is_active,"
						" m.last_activity, m.created_at, m.expires_at, m.ttl,"
						" CASE WHEN p.last IS NULL THEN $2"
						" ELSE GREATEST($2, p.last)"
						" OPERATOR(pg_catalog.+) '1 microsecond'::pg_catalog.interval END"
						" FROM moved m LEFT JOIN LATERAL ("
						"SELECT pg_catalog.max(a.archived_at) AS last FROM %2$s a"
						" WHERE a.id OPERATOR(pg_catalog.=) m.id) p ON true"
						" RETURNING id, visit_id, archived_at),"
						" per_visit AS (SELECT x.visit_id, pg_catalog.count(*) AS n"
						" FROM archived x GROUP BY x.visit_id),"
						" listed AS (SELECT v.visit_id, v.n FROM per_visit v"
						" ORDER BY v.visit_id"
						" LIMIT " CppAsString2(AME_REALTIME_CLEANUP_VISITS) ")"
						" SELECT (SELECT pg_catalog.count(*) FROM archived),"
						" (SELECT pg_catalog.count(*) FROM archived x"
						" WHERE x.archived_at OPERATOR(pg_catalog.<>) $2),"
						" (SELECT pg_catalog.array_agg(l.id ORDER BY l.id) FROM"
						" (SELECT x.id FROM archived x"
						" WHERE x.archived_at OPERATOR(pg_catalog.<>) $2"
						" ORDER BY x.id LIMIT " CppAsString2(AGAIN_IDS_LISTED) ") l),"
						" (SELECT pg_catalog.count(*) FROM per_visit),"
						" (SELECT pg_catalog.array_agg(l.visit_id ORDER BY l.visit_id)"
						" FROM listed l),"
						" (SELECT pg_catalog.array_agg(l.n ORDER BY l.visit_id)"
						" FROM listed l)",
						"ame_visit_sessions", "ame_visit_sessions_archive",
						2, move_types);
		move_values[0] = TimestampTzGetDatum(cutoff);
		move_values[1] = TimestampTzGetDatum(locked);

		ame_realtime_suppressed = true;
		rc = SPI_execute_plan(plan, move_values, NULL, false, 0);
		ame_realtime_suppressed = false;
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute_plan failed: %s",
				 SPI_result_code_string(rc));
		moved = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1,
											&isnull));
		again = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 2,
											&isnull));
		again_ids = SPI_getbinval(SPI_tuptable->vals[0],
								  SPI_tuptable->tupdesc, 3, &again_ids_null);
		visits = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 4,
											 &isnull));
		visit_ids = SPI_getbinval(SPI_tuptable->vals[0],
								  SPI_tuptable->tupdesc, 5, &visit_ids_null);
		visit_counts = SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 6, &isnull);
		finished = GetCurrentTimestamp();

		plan = get_plan(&log_plan, nsp,
						"INSERT INTO %s (operation, affected_rows, duration_ms,"
						" details) VALUES ('session_cleanup', $1, $2,"
						" pg_catalog.jsonb_build_object("
						"'cutoff', $3, 'grace_period_hours', 24,"
						" 'lock_wait_ms', $4, 'archived_again', $5)"
						" OPERATOR(pg_catalog.||) CASE WHEN $6 IS NULL"
						" THEN '{}'::pg_catalog.jsonb"
						" ELSE pg_catalog.jsonb_build_object("
						"'archived_again_ids', pg_catalog.to_jsonb($6), 'note', $7) END)",
						"system_maintenance_log", NULL,
						7, log_types);
		log_values[0] = Int64GetDatum(moved);
		log_values[1] = Float8GetDatum((double) (finished - started) / 1000.0);
		log_values[2] = TimestampTzGetDatum(cutoff);
		log_values[3] = Float8GetDatum((double) (locked - started) / 1000.0);
		log_values[4] = Int64GetDatum(again);
		log_values[5] = again_ids;
		log_nulls[5] = again_ids_null ? 'n' : ' ';
		if (again > 0)
			note = psprintf(INT64_FORMAT " session id(s) were already in"
							" ame_visit_sessions_archive; each was archived"
							" again next to its earlier copies (told apart by"
							" archived_at)%s",
							again,
							again > AGAIN_IDS_LISTED ?
							"; the first " CppAsString2(AGAIN_IDS_LISTED)
							" ids are listed" : "");
		log_values[6] = note ? CStringGetTextDatum(note) : (Datum) 0;
		log_nulls[6] = note ? ' ' : 'n';
		rc = SPI_execute_plan(plan, log_values, log_nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s",
				 SPI_result_code_string(rc));

		/* one summary NOTIFY: how many sessions of which visits */
		ame_realtime_notify_cleanup(nsp, moved, visits, visit_ids,
									visit_counts, visit_ids_null || isnull);
		SPI_finish();

		if (again > 0)
			ereport(NOTICE,
					(errmsg("archived " INT64_FORMAT " session(s) whose id was already in the archive",
							again),
					 errdetail("The earlier copies are kept; the new ones have a later archived_at."),
					 errhint("The run's row in system_maintenance_log lists the ids.")));
	}
	PG_FINALLY();
	{
		ame_realtime_suppressed = false;
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	PG_RETURN_INT64(moved);
}

/*
 * ame_schedule_cleanup(schedule text) RETURNS bigint
 *		Create or change the pg_cron job "session-cleanup", owned by the
 *		extension's owner and run in this database (a job restored from a
 *		database of another name is repaired); returns its job id.
 */
Datum
ame_schedule_cleanup(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(schedule_job("ame_schedule_cleanup", fcinfo,
								 CLEANUP_JOB_NAME, CLEANUP_COMMAND));
}

/*
 * ame_unschedule_cleanup() RETURNS boolean
 *		Remove the extension owner's pg_cron job "session-cleanup"; false
 *		when there was none.
 */
Datum
ame_unschedule_cleanup(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(unschedule_job("ame_unschedule_cleanup", CLEANUP_JOB_NAME));
}

/*
 * ame_schedule_audit_maintenance(schedule text) RETURNS bigint
 *		The same for the job "audit-maintenance", which runs
 *		ame_audit_maintenance(): the audit log's partitions three months
 *		ahead, and its retention.
 */
Datum
ame_schedule_audit_maintenance(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(schedule_job("ame_schedule_audit_maintenance", fcinfo,
								 AUDIT_JOB_NAME, AUDIT_COMMAND));
}

/*
 * ame_unschedule_audit_maintenance() RETURNS boolean
 *		Remove the job "audit-maintenance"; false when there was none.
 */
Datum
ame_unschedule_audit_maintenance(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(unschedule_job("ame_unschedule_audit_maintenance",
								  AUDIT_JOB_NAME));
}

/*
 * schedule_job
 *		Create or change a pg_cron job of the extension's owner, run in
 *		this database, on the schedule in the first argument; returns its
 *		job id.  Owner only.
 */
static int64
schedule_job(const char *funcname, FunctionCallInfo fcinfo,
			 const char *jobname, const char *command)
{
	char	   *schedule;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	volatile int64 jobid = 0;

	ame_require_owner(funcname);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cron schedule must not be null")));
	schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	validate_schedule(schedule);
	(void) require_pg_cron();

	owner = ame_extension_owner();
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
		Datum		values[3];
		bool		isnull;
		int			rc;
		Oid			jobid_type[1] = {INT8OID};
		Datum		jobid_value[1];

		values[0] = CStringGetTextDatum(jobname);
		values[1] = CStringGetTextDatum(schedule);
		values[2] = CStringGetTextDatum(command);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute_with_args("SELECT cron.schedule($1, $2, $3)",
								   3, types, values, NULL, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute_with_args failed: %s",
				 SPI_result_code_string(rc));
		jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1,
											&isnull));

		/*
		 * cron.schedule() keeps an existing job's database.  A job restored
		 * from a database of another name still names that one, and pg_cron
		 * would run it there (or nowhere): point it at this database.
		 */
		jobid_value[0] = Int64GetDatum(jobid);
		rc = SPI_execute_with_args("SELECT cron.alter_job(j.jobid,"
								   " database => pg_catalog.current_database()::pg_catalog.text)"
								   " FROM cron.job j"
								   " WHERE j.jobid OPERATOR(pg_catalog.=) $1"
								   " AND j.database OPERATOR(pg_catalog.<>)"
								   " pg_catalog.current_database()::pg_catalog.text",
								   1, jobid_type, jobid_value, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed: %s",
				 SPI_result_code_string(rc));
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	return jobid;
}

/*
 * unschedule_job
 *		Remove the extension owner's pg_cron job of that name; false when
 *		there was none.  Owner only.
 */
static bool
unschedule_job(const char *funcname, const char *jobname)
{
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	volatile bool removed = false;

	ame_require_owner(funcname);
	(void) require_pg_cron();

	owner = ame_extension_owner();
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		Oid			types[1] = {TEXTOID};
		Datum		value = CStringGetTextDatum(jobname);
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute_with_args("SELECT cron.unschedule(j.jobid) FROM cron.job j"
								   " WHERE j.jobname OPERATOR(pg_catalog.=) $1"
								   " AND j.username OPERATOR(pg_catalog.=) CURRENT_USER",
								   1, types, &value, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed: %s",
				 SPI_result_code_string(rc));
		removed = SPI_processed > 0;
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	return removed;
}

/*
 * get_plan
 *		The kept plan for a statement on the extension's tables in schema
 *		nsp.  fmt holds a %s for rel1 and, when rel2 is given, one for
 *		rel2; both are schema-qualified and quoted here.
 */
static SPIPlanPtr
get_plan(KeptPlan *kp, Oid nsp, const char *fmt, const char *rel1,
		 const char *rel2, int nargs, Oid *argtypes)
{
	char	   *sql;
	SPIPlanPtr	plan;

	if (kp->plan != NULL && kp->nsp == nsp && SPI_plan_is_valid(kp->plan))
		return kp->plan;
	if (kp->plan != NULL)
	{
		SPI_freeplan(kp->plan);
		kp->plan = NULL;
	}

	if (rel2 != NULL)
		sql = psprintf(fmt, qualified(nsp, rel1), qualified(nsp, rel2));
	else
		sql = psprintf(fmt, qualified(nsp, rel1));

	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	kp->plan = plan;
	kp->nsp = nsp;
	return plan;
}

static char *
qualified(Oid nsp, const char *relname)
{
	return quote_qualified_identifier(get_namespace_name(nsp), relname);
}

/* 32 bytes from the strong random source, as 64 hex digits */
static char *
new_token(void)
{
	uint8		bytes[TOKEN_BYTES];
	char	   *token = palloc(TOKEN_BYTES * 2 + 1);
	int			i;

	if (!pg_strong_random(bytes, TOKEN_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random session token")));
	for (i = 0; i < TOKEN_BYTES; i++)
		snprintf(token + 2 * i, 3, "%02x", bytes[i]);
	return token;
}

static Datum
session_token_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session token must not be null")));
	return PG_GETARG_DATUM(0);
}

/*
 * errrule
 *		In an ereport: name the rule a refusal breaks in the error's
 *		constraint field, with the table it guards (schema and table
 *		fields), as errtableconstraint() does for a real constraint; no
 *		Relation is needed.  Returns 0, as the other err* functions.
 */
static int
errrule(Oid nsp, const char *relname, const char *rule)
{
	char	   *nspname = get_namespace_name(nsp);

	if (nspname != NULL)
		err_generic_string(PG_DIAG_SCHEMA_NAME, nspname);
	err_generic_string(PG_DIAG_TABLE_NAME, relname);
	err_generic_string(PG_DIAG_CONSTRAINT_NAME, rule);
	return 0;
}

/*
 * report_unusable_session
 *		The touch or end matched no row: say why.  An unknown token, or one
 *		the caller cannot see, is a bad argument (22023); a session that is
 *		no longer active (ended, expired, archived) is refused by the rule
 *		ame_session_active (23514).  The token is a secret and never appears
 *		in a message.
 */
static void
report_unusable_session(Oid nsp, Datum token)
{
	Oid			types[1] = {TEXTOID};
	SPIPlanPtr	plan;
	int			rc;
	Oid			archive;

	plan = get_plan(&lookup_plan, nsp,
					"SELECT s.is_active FROM %s s"
					" WHERE s.session_token OPERATOR(pg_catalog.=) $1",
					"ame_visit_sessions", NULL,
					1, types);
	rc = SPI_execute_plan(plan, &token, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		bool		isnull;
		bool		active = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc,
														1, &isnull));

		if (!active)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("session has ended"),
					 errdetail("An ended session cannot be touched or ended again."),
					 errhint("Start a new session with ame_start_session()."),
					 errrule(nsp, "ame_visit_sessions", SESSION_RULE)));
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("session has expired"),
				 errdetail("An expired session cannot be touched or ended."),
				 errhint("Start a new session with ame_start_session()."),
				 errrule(nsp, "ame_visit_sessions", SESSION_RULE)));
	}

	/* archived?  Only asked when the caller may read the archive. */
	archive = get_relname_relid("ame_visit_sessions_archive", nsp);
	if (OidIsValid(archive) &&
		pg_class_aclcheck(archive, GetUserId(), ACL_SELECT) == ACLCHECK_OK)
	{
		plan = get_plan(&archived_plan, nsp,
						"SELECT 1 FROM %s a"
						" WHERE a.session_token OPERATOR(pg_catalog.=) $1",
						"ame_visit_sessions_archive", NULL,
						1, types);
		rc = SPI_execute_plan(plan, &token, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s",
				 SPI_result_code_string(rc));
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("session has expired and was archived"),
					 errdetail("cleanup_expired_sessions() moved it to ame_visit_sessions_archive."),
					 errhint("Start a new session with ame_start_session()."),
					 errrule(nsp, "ame_visit_sessions", SESSION_RULE)));
	}

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("session not found"),
			 errdetail("No session with this token is visible to the current user.")));
	pg_unreachable();
}

static Oid
require_pg_cron(void)
{
	Oid			ext = get_extension_oid("pg_cron", true);

	if (!OidIsValid(ext))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_cron\" is not installed in this database"),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.")));
	return ext;
}

/*
 * validate_schedule
 *		Accept what pg_cron 1.4 accepts: five fields (minute, hour, day of
 *		month, month, day of week), each a comma list of "*", a number, a
 *		name (months, weekdays) or a range, a "*" or range optionally with
 *		"/step"; or one of @yearly, @annually, @monthly, @weekly, @daily,
 *		@midnight, @hourly.
 */
static void
validate_schedule(const char *schedule)
{
	static const char *const months[] = {"", "jan", "feb", "mar", "apr",
		"may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL};
	static const char *const days[] = {"sun", "mon", "tue", "wed", "thu",
	"fri", "sat", NULL};
	static const char *const field_names[5] = {"minute", "hour",
	"day of month", "month", "day of week"};
	static const int mins[5] = {0, 0, 1, 1, 0};
	static const int maxs[5] = {59, 23, 31, 12, 7};
	const char *p = schedule;
	const char *problem = NULL;
	int			nfields = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '@')
	{
		static const char *const macros[] = {"@yearly", "@annually",
			"@monthly", "@weekly", "@daily", "@midnight", "@hourly", NULL};
		int			i;
		int			len = strcspn(p, " \t");
		const char *rest = p + len;

		while (*rest == ' ' || *rest == '\t')
			rest++;
		for (i = 0; macros[i] != NULL; i++)
			if ((int) strlen(macros[i]) == len &&
				pg_strncasecmp(p, macros[i], len) == 0 && *rest == '\0')
				return;
		problem = "Unknown schedule shortcut.";
	}
	else
	{
		while (*p != '\0' && problem == NULL)
		{
			int			len = strcspn(p, " \t");

			CHECK_FOR_INTERRUPTS();
			if (nfields == 5)
			{
				problem = "A schedule has exactly five fields.";
				break;
			}
			problem = check_cron_field(p, len, mins[nfields], maxs[nfields],
									   nfields == 3 ? months :
									   nfields == 4 ? days : NULL);
			if (problem != NULL)
				problem = psprintf("The %s field \"%.*s\" is invalid: %s",
								   field_names[nfields], len, p, problem);
			nfields++;
			p += len;
			while (*p == ' ' || *p == '\t')
				p++;
		}
		if (problem == NULL && nfields != 5)
			problem = "A schedule has exactly five fields.";
	}

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron schedule \"%s\"", schedule),
				 errdetail("%s", problem),
				 errhint("Use five fields, minute hour day-of-month month day-of-week, for example \"0 2 * * *\" for 02:00 every day (pg_cron 1.4 uses GMT).")));
}

/* one element value: a number or a name; returns the number or -1 */
static int
cron_value(const char **pp, const char *end, const char *const *names)
{
	const char *p = *pp;
	int			value = 0;

	if (p < end && isdigit((unsigned char) *p))
	{
		while (p < end && isdigit((unsigned char) *p) && value < 1000)
			value = value * 10 + (*p++ - '0');
		*pp = p;
		return value;
	}
	if (names != NULL && end - p >= 3)
	{
		int			i;

		for (i = 0; names[i] != NULL; i++)
			if (names[i][0] != '\0' && pg_strncasecmp(p, names[i], 3) == 0)
			{
				*pp = p + 3;
				return i;
			}
	}
	return -1;
}

/* NULL when the field is valid, else why not */
static const char *
check_cron_field(const char *field, int len, int min, int max,
				 const char *const *names)
{
	const char *p = field;
	const char *end = field + len;

	for (;;)
	{
		bool		ranged = false;

		CHECK_FOR_INTERRUPTS();
		if (p < end && *p == '*')
		{
			p++;
			ranged = true;
		}
		else
		{
			int			low = cron_value(&p, end, names);

			if (low < 0)
				return "expected a number, a name or \"*\".";
			if (low < min || low > max)
				return psprintf("%d is out of range %d-%d.", low, min, max);
			if (p < end && *p == '-')
			{
				int			high;

				p++;
				high = cron_value(&p, end, names);
				if (high < 0)
					return "a range needs an upper bound.";
				if (high < min || high > max)
					return psprintf("%d is out of range %d-%d.", high, min, max);
				if (high < low)
					return "a range must not run backwards.";
				ranged = true;
			}
		}
		if (p < end && *p == '/')
		{
			int			step;

			if (!ranged)
				return "a step follows only \"*\" or a range.";
			p++;
			step = cron_value(&p, end, NULL);
			if (step < 1)
				return "a step must be a positive number.";
		}
		if (p == end)
			return NULL;
		if (*p != ',')
			return psprintf("unexpected character \"%c\".", *p);
		p++;
	}
}
