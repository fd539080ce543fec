/*-------------------------------------------------------------------------
 *
 * realtime.c
 *	  The NOTIFY on channel "ame_realtime" that tells listeners about the
 *	  changes of the realtime tables (sessions, visit progress, device
 *	  inventory), bounded per statement:
 *
 *	  ame_realtime_notify()            AFTER INSERT OR UPDATE OR DELETE
 *	                                   FOR EACH ROW: notes the change
 *	  ame_realtime_notify_statement()  AFTER INSERT OR UPDATE OR DELETE
 *	                                   FOR EACH STATEMENT: sends it
 *
 * A statement that changes at most AME_REALTIME_MAX_ROWS rows of a table
 * (for one operation) sends one notification per row, ids only, never
 * data, because a NOTIFY reaches every listener of the channel regardless
 * of row-level security:
 *
 *	  {"table":"ame_visit_sessions","operation":"UPDATE",
 *	   "id":"<uuid>","visit_id":"<uuid>"|null}
 *
 * Above that, one summary for the statement:
 *
 *	  {"table":"device_inventory","operation":"INSERT","rows":150,"bulk":true}
 *
 * so that a bulk load holds at most AME_REALTIME_MAX_ROWS payloads per
 * table and operation, however many rows it changes.  The row's new image
 * is used for INSERT and UPDATE, the old one for DELETE; an UPDATE that
 * changes no value is not a change.  Nothing is noted while
 * cleanup_expired_sessions() moves sessions (it sends one summary of its
 * own), nor during a restore (row_security = off, as pg_dump scripts set
 * it, or application_name = 'pg_restore') when the current user may make
 * that call: the table's owner (or a member of the owning role) or a
 * superuser.  Any other role that sets those signals is heard as usual.
 *
 * Which rows make a statement.  The row trigger keeps its payloads (the
 * first AME_REALTIME_MAX_ROWS; past that only a count) per table,
 * operation, executor nesting level and subtransaction, in transaction
 * memory.  The nesting level is counted by hooks around ExecutorRun,
 * ExecutorFinish and ProcessUtility: a statement's row triggers and its
 * statement trigger fire at the same level, and a statement that a
 * trigger or a function runs is one level deeper, so an inner statement
 * never mixes with the outer one (its rows are announced when it ends,
 * before those of the outer statement).  What a statement noted is sent
 *
 *	- by the statement trigger of its table and operation at its level
 *	  (the usual way, once all its row triggers have fired);
 *	- when the executor or utility call of its level returns (a path that
 *	  fires row triggers but no statement trigger: ame_import_csv(), a
 *	  disabled statement trigger);
 *	- before commit, whatever is still waiting.
 *
 * A subtransaction that commits hands what it noted to its parent (the
 * counts add up); one that aborts discards it, and PostgreSQL discards the
 * notifications it had already sent: rolled-back rows are never
 * announced.  Notifications are transactional: listeners get them at
 * commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "ame.h"
#include "compat.h"

#define FUNCNAME		"ame_realtime_notify"
#define STMT_FUNCNAME	"ame_realtime_notify_statement"

typedef enum RealtimeOp
{
	RT_INSERT,
	RT_UPDATE,
	RT_DELETE
} RealtimeOp;

static const char *const op_names[] = {"INSERT", "UPDATE", "DELETE"};

/* per-statement state of the row trigger, kept in fn_extra */
typedef struct RealtimeState
{
	Oid			relid;
	AttrNumber	id;
	AttrNumber	visit_id;		/* InvalidAttrNumber when the table has none */
} RealtimeState;

/*
 * What one statement changed in one table for one operation, not yet
 * sent.  While rows <= AME_REALTIME_MAX_ROWS, payloads holds one payload
 * per row, each ending in a NUL byte; past that, payloads.data is NULL and
 * only rows counts.
 */
typedef struct PendingChanges
{
	struct PendingChanges *next;
	Oid			relid;
	RealtimeOp	op;
	int			level;			/* exec_level where the row triggers fired */
	SubTransactionId subid;		/* subtransaction the rows belong to */
	int64		rows;
	char	   *relname;
	StringInfoData payloads;
} PendingChanges;

/* the pending changes, oldest first, in pending_cxt (TopTransactionContext) */
static PendingChanges *pending = NULL;
static MemoryContext pending_cxt = NULL;

/* executor and utility calls under way in this backend, outermost = 1 */
static int	exec_level = 0;

static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static RealtimeOp event_op(TriggerEvent event);
static PendingChanges *pending_for(Relation rel, RealtimeOp op);
static void add_row_payload(PendingChanges *p, RealtimeState *state,
							HeapTuple tuple, TupleDesc tupdesc);
static void send_pending(Oid relid, int op, int min_level, int max_level,
						 bool this_subxact);
static void send_one(PendingChanges *p);
static void unlink_pending(PendingChanges *p);
static void free_pending(PendingChanges *p);
static void level_done(void);
static bool row_changed(TupleDesc tupdesc, HeapTuple oldtuple,
						HeapTuple newtuple);
static void append_uuid(StringInfo buf, HeapTuple tuple, TupleDesc tupdesc,
						AttrNumber attnum);
static void realtime_xact_callback(XactEvent event, void *arg);
static void realtime_subxact_callback(SubXactEvent event,
									  SubTransactionId mySubid,
									  SubTransactionId parentSubid, void *arg);
static void realtime_ExecutorRun(AME_EXECUTOR_RUN_PARAMS);
static void realtime_ExecutorFinish(QueryDesc *queryDesc);
static void realtime_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
									bool readOnlyTree,
									ProcessUtilityContext context,
									ParamListInfo params,
									QueryEnvironment *queryEnv,
									DestReceiver *dest, QueryCompletion *qc);

PG_FUNCTION_INFO_V1(ame_realtime_notify);
PG_FUNCTION_INFO_V1(ame_realtime_notify_statement);

/*
 * ame_realtime_notify() RETURNS trigger
 *		AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW: note the change for
 *		the statement trigger to send.
 */
Datum
ame_realtime_notify(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	tupdesc;
	RealtimeState *state;
	RealtimeOp	op;
	HeapTuple	tuple;
	PendingChanges *p;

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

	if (ame_realtime_suppressed || ame_restore_signalled(rel))
		return PointerGetDatum(NULL);

	op = event_op(trigdata->tg_event);
	if (op == RT_UPDATE)
	{
		tuple = trigdata->tg_newtuple;
		if (!row_changed(tupdesc, trigdata->tg_trigtuple, tuple))
			return PointerGetDatum(NULL);
	}
	else
		tuple = trigdata->tg_trigtuple;

	p = pending_for(rel, op);
	p->rows++;
	if (p->rows <= AME_REALTIME_MAX_ROWS)
		add_row_payload(p, state, tuple, tupdesc);
	else if (p->payloads.data != NULL)
	{
		/* a bulk statement: from here on, only the count */
		pfree(p->payloads.data);
		p->payloads.data = NULL;
	}

	return PointerGetDatum(NULL);
}

/*
 * ame_realtime_notify_statement() RETURNS trigger
 *		AFTER INSERT OR UPDATE OR DELETE FOR EACH STATEMENT: send what the
 *		statement's row triggers noted for this table and operation, one
 *		notification per row or one summary.
 */
Datum
ame_realtime_notify_statement(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;

	ame_check_statement_trigger(fcinfo, STMT_FUNCNAME, AME_TRIG_AFTER,
								AME_TRIG_INSERT | AME_TRIG_UPDATE |
								AME_TRIG_DELETE);

	trigdata = (TriggerData *) fcinfo->context;
	if (pending != NULL)
		send_pending(RelationGetRelid(trigdata->tg_relation),
					 (int) event_op(trigdata->tg_event),
					 exec_level, exec_level, true);

	return PointerGetDatum(NULL);
}

/* called by _PG_init */
void
ame_realtime_install_hooks(void)
{
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = realtime_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = realtime_ExecutorFinish;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = realtime_ProcessUtility;
	RegisterXactCallback(realtime_xact_callback, NULL);
	RegisterSubXactCallback(realtime_subxact_callback, NULL);
}

static RealtimeOp
event_op(TriggerEvent event)
{
	if (TRIGGER_FIRED_BY_INSERT(event))
		return RT_INSERT;
	if (TRIGGER_FIRED_BY_UPDATE(event))
		return RT_UPDATE;
	return RT_DELETE;			/* the guard let nothing else through */
}

/* The entry of this statement (level, subtransaction) for rel and op. */
static PendingChanges *
pending_for(Relation rel, RealtimeOp op)
{
	Oid			relid = RelationGetRelid(rel);
	SubTransactionId subid = GetCurrentSubTransactionId();
	PendingChanges *p;
	PendingChanges **tail = &pending;
	MemoryContext old;

	for (p = pending; p != NULL; p = p->next)
	{
		if (p->relid == relid && p->op == op && p->level == exec_level &&
			p->subid == subid)
			return p;
		tail = &p->next;
	}

	if (pending_cxt == NULL)
		pending_cxt = AllocSetContextCreate(TopTransactionContext,
											"ame realtime",
											ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(pending_cxt);
	p = palloc0(sizeof(PendingChanges));
	p->relid = relid;
	p->op = op;
	p->level = exec_level;
	p->subid = subid;
	p->rows = 0;
	p->relname = pstrdup(RelationGetRelationName(rel));
	initStringInfo(&p->payloads);
	MemoryContextSwitchTo(old);
	*tail = p;
	return p;
}

/* Append the row's payload, NUL-terminated, to the entry's payloads. */
static void
add_row_payload(PendingChanges *p, RealtimeState *state, HeapTuple tuple,
				TupleDesc tupdesc)
{
	StringInfo	buf = &p->payloads;

	/* the buffer grows in its own context, pending_cxt (repalloc) */
	appendStringInfoString(buf, "{\"table\":");
	escape_json(buf, p->relname);
	appendStringInfo(buf, ",\"operation\":\"%s\",\"id\":", op_names[p->op]);
	append_uuid(buf, tuple, tupdesc, state->id);
	appendStringInfoString(buf, ",\"visit_id\":");
	append_uuid(buf, tuple, tupdesc, state->visit_id);
	appendStringInfoChar(buf, '}');
	appendStringInfoChar(buf, '\0');
}

/*
 * Send and forget the pending entries of relid (InvalidOid: any) and op
 * (-1: any) noted at a level in [min_level, max_level]; only those of the
 * current subtransaction when this_subxact (an ancestor's rows are sent
 * where they cannot be rolled back without them).
 */
static void
send_pending(Oid relid, int op, int min_level, int max_level,
			 bool this_subxact)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	PendingChanges *p = pending;

	while (p != NULL)
	{
		PendingChanges *next = p->next;

		if ((relid == InvalidOid || p->relid == relid) &&
			(op < 0 || (int) p->op == op) &&
			p->level >= min_level && p->level <= max_level &&
			(!this_subxact || p->subid == subid))
		{
			unlink_pending(p);
			send_one(p);
			free_pending(p);
		}
		p = next;
	}
}

/* NOTIFY one entry: its per-row payloads, or the summary. */
static void
send_one(PendingChanges *p)
{
	if (p->rows > AME_REALTIME_MAX_ROWS)
	{
		StringInfoData summary;

		initStringInfo(&summary);
		appendStringInfoString(&summary, "{\"table\":");
		escape_json(&summary, p->relname);
		appendStringInfo(&summary,
						 ",\"operation\":\"%s\",\"rows\":" INT64_FORMAT
						 ",\"bulk\":true}",
						 op_names[p->op], p->rows);
		Async_Notify(AME_REALTIME_CHANNEL, summary.data);
		pfree(summary.data);
	}
	else if (p->payloads.data != NULL)
	{
		const char *payload = p->payloads.data;
		const char *end = p->payloads.data + p->payloads.len;

		while (payload < end)
		{
			Async_Notify(AME_REALTIME_CHANNEL, payload);
			payload += strlen(payload) + 1;
		}
	}
}

static void
unlink_pending(PendingChanges *p)
{
	PendingChanges **link = &pending;

	while (*link != NULL && *link != p)
		link = &(*link)->next;
	if (*link == p)
		*link = p->next;
	p->next = NULL;
}

static void
free_pending(PendingChanges *p)
{
	if (p->payloads.data != NULL)
		pfree(p->payloads.data);
	pfree(p->relname);
	pfree(p);
}

/*
 * An executor or utility call returns: whatever was noted at its level or
 * deeper, in this subtransaction, belongs to statements that are over.
 */
static void
level_done(void)
{
	if (pending != NULL)
		send_pending(InvalidOid, -1, exec_level, INT_MAX, true);
}

/*
 * Before commit: send whatever is still waiting.  After the end of the
 * transaction the entries are gone with TopTransactionContext.
 */
static void
realtime_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (pending != NULL)
				send_pending(InvalidOid, -1, INT_MIN, INT_MAX, false);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending = NULL;
			pending_cxt = NULL;
			break;
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			break;
	}
}

/*
 * A subtransaction that commits hands its entries to its parent, adding
 * them up with the parent's entry of the same statement; one that aborts
 * takes them with it.
 */
static void
realtime_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	PendingChanges *p;

	if (pending == NULL ||
		(event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;

	p = pending;
	while (p != NULL)
	{
		PendingChanges *next = p->next;
		PendingChanges *into;

		if (p->subid != mySubid)
		{
			p = next;
			continue;
		}
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			unlink_pending(p);
			free_pending(p);
			p = next;
			continue;
		}

		for (into = pending; into != NULL; into = into->next)
			if (into->subid == parentSubid && into->relid == p->relid &&
				into->op == p->op && into->level == p->level)
				break;
		if (into == NULL)
			p->subid = parentSubid;
		else
		{
			into->rows += p->rows;
			if (into->rows > AME_REALTIME_MAX_ROWS)
			{
				if (into->payloads.data != NULL)
					pfree(into->payloads.data);
				into->payloads.data = NULL;
			}
			else
				appendBinaryStringInfo(&into->payloads, p->payloads.data,
									   p->payloads.len);
			unlink_pending(p);
			free_pending(p);
		}
		p = next;
	}
}

/*
 * Hooks: count the nesting of executor and utility calls, and send what
 * a call's statements left when it returns.
 */

static void
realtime_ExecutorRun(AME_EXECUTOR_RUN_PARAMS)
{
	exec_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(AME_EXECUTOR_RUN_ARGS);
		else
			standard_ExecutorRun(AME_EXECUTOR_RUN_ARGS);
		level_done();
	}
	PG_FINALLY();
	{
		exec_level--;
	}
	PG_END_TRY();
}

static void
realtime_ExecutorFinish(QueryDesc *queryDesc)
{
	exec_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
		level_done();
	}
	PG_FINALLY();
	{
		exec_level--;
	}
	PG_END_TRY();
}

static void
realtime_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	exec_level++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		level_done();
	}
	PG_FINALLY();
	{
		exec_level--;
	}
	PG_END_TRY();
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
