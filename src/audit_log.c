/*-------------------------------------------------------------------------
 *
 * audit_log.c
 *	  The audit log's own upkeep: its append-only guard and
 *	  ame_purge_audit_logs().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "replication/logicalworker.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "audit.h"

/* ame_purge_audit_logs() is deleting: the guard lets its DELETEs through */
static bool purge_in_progress = false;

PG_FUNCTION_INFO_V1(ame_audit_log_guard);
PG_FUNCTION_INFO_V1(ame_purge_audit_logs);

/*
 * ame_audit_log_guard() RETURNS trigger
 *		BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) on
 *		ame_audit_logs, enabled ALWAYS: the log is append-only.  Only the
 *		DELETEs of ame_purge_audit_logs() pass, the UPDATEs of
 *		ame_redact_audit(), and the row changes a logical-replication
 *		subscriber applies.
 */
Datum
ame_audit_log_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"ame_audit_log_guard")));
	trigdata = (TriggerData *) fcinfo->context;

	if (purge_in_progress && TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_trigtuple);

	/*
	 * ame_redact_audit() rewrites images of one record through its own
	 * UPDATE, with this flag set only around it (reset on error).
	 */
	if (ame_audit_redacting && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);

	/*
	 * A logical-replication subscriber of the log applies what its
	 * publisher did, whose own guard let only its purge through: refusing
	 * the replicated rows would stop the subscription for good (the apply
	 * worker would retry the same change forever).  Only a role with the
	 * log owner's privileges can make a subscription apply to the log.  A
	 * TRUNCATE is never the purge's, and stays refused.
	 */
	if (IsLogicalWorker() && TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
			return PointerGetDatum(trigdata->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
			return PointerGetDatum(trigdata->tg_newtuple);
	}

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("audit log \"%s\" is append-only",
					RelationGetRelationName(trigdata->tg_relation)),
			 errhint("Old entries are removed with ame_purge_audit_logs().")));
	pg_unreachable();
}

/*
 * ame_purge_audit_logs(older_than interval) RETURNS bigint
 *		Delete the log rows performed more than older_than ago; log the run
 *		to system_maintenance_log; return how many rows went.  Not
 *		executable by PUBLIC.
 */
Datum
ame_purge_audit_logs(PG_FUNCTION_ARGS)
{
	Interval   *older_than;
	Interval	zero;
	Oid			nspid;
	char	   *nspname;
	StringInfoData sql;
	Datum		args[1];
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz cutoff;
	uint64		removed = 0;
	int			rc;

	ame_require_owner("ame_purge_audit_logs");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be NULL")));
	older_than = PG_GETARG_INTERVAL_P(0);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetBool(DirectFunctionCall2(interval_lt,
										 IntervalPGetDatum(older_than),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errhint("Pass how old an entry must be to go, for example '1 year'.")));

	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													 IntervalPGetDatum(older_than)));

	/*
	 * interval_lt counts a month as 30 days, so '-1 year +360 days' passes
	 * it while reaching days past now: the cutoff itself must not be.
	 */
	if (cutoff > GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errdetail("Interval \"%s\" reaches past the current time, to %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(older_than))),
						   timestamptz_to_str(cutoff)),
				 errhint("Pass how old an entry must be to go, for example '1 year'.")));

	nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
	nspname = get_namespace_name(nspid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "DELETE FROM %s WHERE performed_at OPERATOR(pg_catalog.<) $1",
					 quote_qualified_identifier(nspname, LOG_NAME));
	args[0] = TimestampTzGetDatum(cutoff);

	purge_in_progress = true;
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql.data, 1, argtypes, args, NULL,
								   false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args returned %s",
				 SPI_result_code_string(rc));
		removed = SPI_processed;
	}
	PG_FINALLY();
	{
		purge_in_progress = false;
	}
	PG_END_TRY();

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s (operation, affected_rows, duration_ms, details) "
					 "VALUES ('audit_purge', $1, $2, "
					 "pg_catalog.jsonb_build_object('older_than', $3::pg_catalog.text, 'cutoff', $4))",
					 quote_qualified_identifier(nspname, "system_maintenance_log"));
	{
		Oid			types[4] = {INT8OID, FLOAT8OID, INTERVALOID, TIMESTAMPTZOID};
		Datum		vals[4];

		vals[0] = Int64GetDatum((int64) removed);
		vals[1] = Float8GetDatum((double) (GetCurrentTimestamp() - start) / 1000.0);
		vals[2] = IntervalPGetDatum(older_than);
		vals[3] = TimestampTzGetDatum(cutoff);
		rc = SPI_execute_with_args(sql.data, 4, types, vals, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_with_args returned %s",
				 SPI_result_code_string(rc));
	}

	SPI_finish();
	PG_RETURN_INT64((int64) removed);
}
