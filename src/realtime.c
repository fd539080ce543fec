/*-------------------------------------------------------------------------
 *
 * realtime.c
 *	  ame_realtime_notify(): AFTER INSERT OR UPDATE OR DELETE row trigger
 *	  that sends a NOTIFY on channel "ame_realtime" for each change of a
 *	  realtime table (sessions, visit progress, device inventory).
 *
 * The payload carries ids only, never data, because a NOTIFY reaches
 * every listener of the channel regardless of row-level security:
 *
 *	  {"table":"ame_visit_sessions","operation":"UPDATE",
 *	   "id":"<uuid>","visit_id":"<uuid>"|null}
 *
 * The row's new image is used for INSERT and UPDATE, the old one for
 * DELETE.  An UPDATE that changes no value sends nothing.  Nothing is
 * sent while cleanup_expired_sessions() moves sessions (it sends one
 * summary instead), nor during a restore (row_security = off, as pg_dump
 * scripts set it, or application_name = 'pg_restore').  Notifications
 * are transactional: listeners get them at commit, none on rollback.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "ame.h"

#define FUNCNAME	"ame_realtime_notify"

/* per-statement state, kept in fn_extra */
typedef struct RealtimeState
{
	Oid			relid;
	AttrNumber	id;
	AttrNumber	visit_id;		/* InvalidAttrNumber when the table has none */
} RealtimeState;

static bool row_changed(TupleDesc tupdesc, HeapTuple oldtuple,
						HeapTuple newtuple);
static void append_uuid(StringInfo buf, HeapTuple tuple, TupleDesc tupdesc,
						AttrNumber attnum);

PG_FUNCTION_INFO_V1(ame_realtime_notify);

/*
 * ame_realtime_notify() RETURNS trigger
 *		AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW.
 */
Datum
ame_realtime_notify(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	tupdesc;
	RealtimeState *state;
	HeapTuple	tuple;
	const char *operation;
	StringInfoData payload;

	ame_check_trigger(fcinfo, FUNCNAME, AME_TRIG_AFTER,
					  AME_TRIG_INSERT | AME_TRIG_UPDATE | AME_TRIG_DELETE);

	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);

	state = (RealtimeState *) fcinfo->flinfo->fn_extra;
	if (state == NULL || state->relid != RelationGetRelid(rel))
	{
		int			attnum;

		state = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
								   sizeof(RealtimeState));
		state->relid = RelationGetRelid(rel);
		state->id = ame_required_column(tupdesc, RelationGetRelationName(rel),
										FUNCNAME, "id", UUIDOID);
		attnum = SPI_fnumber(tupdesc, "visit_id");
		state->visit_id = (attnum > 0 &&
						   TupleDescAttr(tupdesc, attnum - 1)->atttypid == UUIDOID)
			? attnum : InvalidAttrNumber;
		fcinfo->flinfo->fn_extra = state;
	}

	if (ame_realtime_suppressed || !row_security ||
		(application_name != NULL && strcmp(application_name, "pg_restore") == 0))
		return PointerGetDatum(NULL);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		operation = "INSERT";
		tuple = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		operation = "UPDATE";
		tuple = trigdata->tg_newtuple;
		if (!row_changed(tupdesc, trigdata->tg_trigtuple, tuple))
			return PointerGetDatum(NULL);
	}
	else
	{
		operation = "DELETE";
		tuple = trigdata->tg_trigtuple;
	}

	initStringInfo(&payload);
	appendStringInfoString(&payload, "{\"table\":");
	escape_json(&payload, RelationGetRelationName(rel));
	appendStringInfo(&payload, ",\"operation\":\"%s\",\"id\":", operation);
	append_uuid(&payload, tuple, tupdesc, state->id);
	appendStringInfoString(&payload, ",\"visit_id\":");
	append_uuid(&payload, tuple, tupdesc, state->visit_id);
	appendStringInfoChar(&payload, '}');

	Async_Notify(AME_REALTIME_CHANNEL, payload.data);
	pfree(payload.data);

	return PointerGetDatum(NULL);
}

static bool
row_changed(TupleDesc tupdesc, HeapTuple oldtuple, HeapTuple newtuple)
{
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		Datum		oldval;
		Datum		newval;
		bool		oldnull;
		bool		newnull;

		if (att->attisdropped)
			continue;
		oldval = heap_getattr(oldtuple, att->attnum, tupdesc, &oldnull);
		newval = heap_getattr(newtuple, att->attnum, tupdesc, &newnull);
		if (ame_datum_changed(oldval, oldnull, newval, newnull, att))
			return true;
	}
	return false;
}

/* the uuid column as a JSON string, or null */
static void
append_uuid(StringInfo buf, HeapTuple tuple, TupleDesc tupdesc,
			AttrNumber attnum)
{
	Datum		value;
	bool		isnull = true;

	if (attnum != InvalidAttrNumber)
		value = heap_getattr(tuple, attnum, tupdesc, &isnull);
	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfoChar(buf, '"');
	appendStringInfoString(buf,
						   DatumGetCString(DirectFunctionCall1(uuid_out, value)));
	appendStringInfoChar(buf, '"');
}
