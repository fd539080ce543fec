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
 *	  {"schema":"public","table":"ame_visit_sessions","operation":"UPDATE",
 *	   "id":"<uuid>","visit_id":"<uuid>"|null,"technician_id":"<uuid>"|null}
 *
 * The keys after "id" are the routing keys named by the row trigger's
 * arguments, in their order (a trigger without arguments gives visit_id
 * when the table has it, as 1.x did):
 *
 *	  visit_id       the row's visit_id column
 *	  customer_id    the row's customer_id column
 *	  technician_id  the technician of the row's VISIT (not of any column of
 *	                 the row), read by a probe of ame_visits' primary key
 *	                 as the statement leaves it: no SQL, no permission
 *	                 check, no row-level security, nothing found through
 *	                 the search_path; null when the row has no visit, the
 *	                 visit has no technician, or the visit is gone (deleted
 *	                 in this transaction: its sessions and tasks go with it)
 *
 * A listed key is always there, null when there is no such id.
 *
 * Above AME_REALTIME_MAX_ROWS, one summary for the statement:
 *
 *	  {"schema":"public","table":"device_inventory","operation":"INSERT",
 *	   "rows":150,"bulk":true}
 *
 * cleanup_expired_sessions() (sessions.c) sends its own bounded summary,
 * built here by ame_realtime_notify_cleanup(): how many sessions of which
 * visits it archived, each visit with its technician.
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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "ame.h"
#include "compat.h"

#define FUNCNAME		"ame_realtime_notify"
#define STMT_FUNCNAME	"ame_realtime_notify_statement"

/*
 * PostgreSQL refuses a NOTIFY payload of this many bytes or more
 * (NOTIFY_PAYLOAD_MAX_LENGTH of async.c, not exported): 8000 by default.
 */
#define AME_NOTIFY_PAYLOAD_MAX	(BLCKSZ - NAMEDATALEN - 128)

/* the longest ending of a cleanup summary: "]", left-out count, "}" */
#define CLEANUP_TAIL_MAX \
	(sizeof("],\"truncated\":true,\"visits_left_out\":}") + MAXINT8LEN)

typedef enum RealtimeOp
{
	RT_INSERT,
	RT_UPDATE,
	RT_DELETE
} RealtimeOp;

static const char *const op_names[] = {"INSERT", "UPDATE", "DELETE"};

/* the routing keys a payload can carry after "id" */
typedef enum RouteKey
{
	KEY_VISIT_ID,
	KEY_CUSTOMER_ID,
	KEY_TECHNICIAN_ID
} RouteKey;

static const char *const key_names[] = {"visit_id", "customer_id",
"technician_id"};

#define NUM_KEYS	3

/*
 * How to find a visit's technician: ame_visits of the extension's schema,
 * its primary key index on id, the technician_id column.
 */
typedef struct VisitLookup
{
	Oid			visits;			/* InvalidOid: cannot look up (null) */
	Oid			pkey;
	AttrNumber	id;
	AttrNumber	technician_id;
} VisitLookup;

/* per-statement state of the row trigger, kept in fn_extra */
typedef struct RealtimeState
{
	Oid			relid;
	AttrNumber	id;
	int			nkeys;
	RouteKey	keys[NUM_KEYS];
	AttrNumber	visit_id;		/* InvalidAttrNumber when no key needs it */
	AttrNumber	customer_id;	/* likewise */
	VisitLookup lookup;			/* for technician_id */
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
	char	   *nspname;
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
static void init_state(RealtimeState *state, Relation rel, Trigger *trigger);
static void init_visit_lookup(VisitLookup *lookup, Oid nsp);
static void append_visit_technician(StringInfo buf,
									const VisitLookup *lookup,
									Datum visit_id, bool isnull);
static void append_header(StringInfo buf, const char *nspname,
						  const char *relname, const char *operation);
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
		RealtimeState *fresh;

		fresh = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
									   sizeof(RealtimeState));
		init_state(fresh, rel, trigdata->tg_trigger);
		if (state != NULL)
			pfree(state);
		state = fresh;
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

/*
 * Which columns the row trigger reads on rel: id, and those of the routing
 * keys its arguments name (no argument: visit_id when the table has one,
 * as in 1.x).  A bad argument is a misconfigured trigger: 39P01.
 */
static void
init_state(RealtimeState *state, Relation rel, Trigger *trigger)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *relname = RelationGetRelationName(rel);
	int			i;

	state->relid = RelationGetRelid(rel);
	state->id = ame_required_column(tupdesc, relname, FUNCNAME, "id", UUIDOID);
	state->nkeys = 0;
	state->visit_id = InvalidAttrNumber;
	state->customer_id = InvalidAttrNumber;
	state->lookup.visits = InvalidOid;

	if (trigger->tgnargs == 0)
	{
		int			attnum = SPI_fnumber(tupdesc, "visit_id");

		if (attnum > 0 &&
			TupleDescAttr(tupdesc, attnum - 1)->atttypid == UUIDOID)
		{
			state->visit_id = attnum;
			state->keys[state->nkeys++] = KEY_VISIT_ID;
		}
		return;
	}

	for (i = 0; i < trigger->tgnargs; i++)
	{
		const char *arg = trigger->tgargs[i];
		int			k;
		int			j;

		for (k = 0; k < NUM_KEYS; k++)
			if (strcmp(arg, key_names[k]) == 0)
				break;
		for (j = 0; k < NUM_KEYS && j < state->nkeys; j++)
			if (state->keys[j] == (RouteKey) k)
				break;
		if (k == NUM_KEYS || j < state->nkeys)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("invalid routing key \"%s\" for trigger function \"%s\"",
							arg, FUNCNAME),
					 errdetail("Trigger \"%s\" on relation \"%s\" names it%s.",
							   trigger->tgname, relname,
							   k == NUM_KEYS ? "" : " twice"),
					 errhint("The routing keys are visit_id, customer_id and technician_id, each at most once.")));
		state->keys[state->nkeys++] = (RouteKey) k;
	}

	for (i = 0; i < state->nkeys; i++)
	{
		switch (state->keys[i])
		{
			case KEY_VISIT_ID:
			case KEY_TECHNICIAN_ID:
				state->visit_id = ame_required_column(tupdesc, relname,
													  FUNCNAME, "visit_id",
													  UUIDOID);
				if (state->keys[i] == KEY_TECHNICIAN_ID)
					init_visit_lookup(&state->lookup,
									  RelationGetNamespace(rel));
				break;
			case KEY_CUSTOMER_ID:
				state->customer_id = ame_required_column(tupdesc, relname,
														 FUNCNAME,
														 "customer_id",
														 UUIDOID);
				break;
		}
	}
}

/*
 * Find ame_visits of schema nsp, its primary key on id (a btree on that
 * one column) and its technician_id column.  Anything missing leaves
 * lookup->visits invalid: technician_id is then null, never an error that
 * would fail the change being announced.  The lock taken here is kept to
 * the end of the transaction, so the table stays what was checked.
 */
static void
init_visit_lookup(VisitLookup *lookup, Oid nsp)
{
	Oid			relid = get_relname_relid("ame_visits", nsp);
	Relation	rel;
	TupleDesc	desc;
	Oid			pkey;
	int			id;
	int			technician_id;

	lookup->visits = InvalidOid;
	if (!OidIsValid(relid))
		return;
	rel = try_table_open(relid, AccessShareLock);
	if (rel == NULL)
		return;
	if (rel->rd_rel->relkind != RELKIND_RELATION)
	{
		table_close(rel, NoLock);
		return;
	}
	desc = RelationGetDescr(rel);
	id = SPI_fnumber(desc, "id");
	technician_id = SPI_fnumber(desc, "technician_id");
	list_free(RelationGetIndexList(rel));	/* sets rd_pkindex */
	pkey = rel->rd_pkindex;

	if (id > 0 && TupleDescAttr(desc, id - 1)->atttypid == UUIDOID &&
		technician_id > 0 &&
		TupleDescAttr(desc, technician_id - 1)->atttypid == UUIDOID &&
		OidIsValid(pkey))
	{
		Relation	index = index_open(pkey, AccessShareLock);

		if (index->rd_rel->relam == BTREE_AM_OID &&
			index->rd_index->indnkeyatts == 1 &&
			index->rd_index->indkey.values[0] == id)
		{
			lookup->visits = relid;
			lookup->pkey = pkey;
			lookup->id = id;
			lookup->technician_id = technician_id;
		}
		index_close(index, NoLock);
	}
	table_close(rel, NoLock);
}

/*
 * Append the technician of visit visit_id as a JSON string, or null: one
 * probe of the primary key, with SnapshotSelf, i.e. the visit as it is
 * now, including what this transaction and its current statement did (a
 * visit reassigned by the same statement gives the new technician; one
 * deleted by this transaction is not found).  No SQL, no permission check
 * and no row-level security: the caller need not be able to read the
 * visit, and only its technician's id is used.
 */
static void
append_visit_technician(StringInfo buf, const VisitLookup *lookup,
						Datum visit_id, bool isnull)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	pg_uuid_t	technician;
	bool		found = false;

	if (isnull || !OidIsValid(lookup->visits))
	{
		appendStringInfoString(buf, "null");
		return;
	}

	rel = table_open(lookup->visits, AccessShareLock);
	ScanKeyInit(&key, lookup->id, BTEqualStrategyNumber, F_UUID_EQ, visit_id);
	scan = systable_beginscan(rel, lookup->pkey, true, SnapshotSelf, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		technician_null;
		Datum		value = heap_getattr(tuple, lookup->technician_id,
										 RelationGetDescr(rel),
										 &technician_null);

		if (!technician_null)
		{
			memcpy(&technician, DatumGetUUIDP(value), sizeof(pg_uuid_t));
			found = true;
		}
	}
	systable_endscan(scan);
	table_close(rel, NoLock);

	if (!found)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfoChar(buf, '"');
	appendStringInfoString(buf,
						   DatumGetCString(DirectFunctionCall1(uuid_out,
															   UUIDPGetDatum(&technician))));
	appendStringInfoChar(buf, '"');
}

/* {"schema":...,"table":...,"operation":"..." (the object left open) */
static void
append_header(StringInfo buf, const char *nspname, const char *relname,
			  const char *operation)
{
	appendStringInfoString(buf, "{\"schema\":");
	escape_json(buf, nspname);
	appendStringInfoString(buf, ",\"table\":");
	escape_json(buf, relname);
	appendStringInfo(buf, ",\"operation\":\"%s\"", operation);
}

/*
 * ame_realtime_notify_cleanup
 *		Send cleanup_expired_sessions()'s one summary: rows sessions of
 *		nvisits visits archived.  visit_ids (uuid[]) and counts (bigint[])
 *		list the first visits in visit_id order with their number of
 *		archived sessions (at most AME_REALTIME_CLEANUP_VISITS; isnull when
 *		none).  As many as fit the NOTIFY payload limit are listed, each
 *		with its technician; the others are counted in "visits_left_out".
 *
 *	  {"schema":"public","table":"ame_visit_sessions","operation":"CLEANUP",
 *	   "rows":5,"visits":[{"visit_id":"<uuid>","technician_id":"<uuid>"|null,
 *	   "sessions":3},...],"truncated":true,"visits_left_out":210}
 *
 *	(the last two keys only when a visit is left out).
 */
void
ame_realtime_notify_cleanup(Oid nsp, int64 rows, int64 nvisits,
							Datum visit_ids, Datum counts, bool isnull)
{
	StringInfoData buf;
	char	   *nspname = get_namespace_name(nsp);
	int64		listed = 0;

	if (nspname == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", nsp);

	initStringInfo(&buf);
	append_header(&buf, nspname, "ame_visit_sessions", "CLEANUP");
	appendStringInfo(&buf, ",\"rows\":" INT64_FORMAT ",\"visits\":[", rows);

	if (!isnull)
	{
		Datum	   *ids;
		bool	   *ids_nulls;
		int			nids;
		Datum	   *ns;
		bool	   *ns_nulls;
		int			nns;
		VisitLookup lookup;
		StringInfoData entry;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(visit_ids), UUIDOID,
						  UUID_LEN, false, TYPALIGN_CHAR,
						  &ids, &ids_nulls, &nids);
		deconstruct_array(DatumGetArrayTypeP(counts), INT8OID,
						  sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &ns, &ns_nulls, &nns);
		init_visit_lookup(&lookup, nsp);
		initStringInfo(&entry);

		for (i = 0; i < nids && i < nns; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (ids_nulls[i] || ns_nulls[i])
				continue;		/* cannot happen: visit_id is NOT NULL */

			resetStringInfo(&entry);
			appendStringInfoString(&entry, "{\"visit_id\":\"");
			appendStringInfoString(&entry,
								   DatumGetCString(DirectFunctionCall1(uuid_out,
																	   ids[i])));
			appendStringInfoString(&entry, "\",\"technician_id\":");
			append_visit_technician(&entry, &lookup, ids[i], false);
			appendStringInfo(&entry, ",\"sessions\":" INT64_FORMAT "}",
							 DatumGetInt64(ns[i]));

			/* room for this entry, its comma and the longest ending */
			if (buf.len + 1 + entry.len + CLEANUP_TAIL_MAX >=
				AME_NOTIFY_PAYLOAD_MAX)
				break;
			if (listed > 0)
				appendStringInfoChar(&buf, ',');
			appendBinaryStringInfo(&buf, entry.data, entry.len);
			listed++;
		}
		pfree(entry.data);
	}

	appendStringInfoChar(&buf, ']');
	if (listed < nvisits)
		appendStringInfo(&buf, ",\"truncated\":true,\"visits_left_out\":"
						 INT64_FORMAT, nvisits - listed);
	appendStringInfoChar(&buf, '}');

	Async_Notify(AME_REALTIME_CHANNEL, buf.data);
	pfree(buf.data);
	pfree(nspname);
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
	p->nspname = get_namespace_name(RelationGetNamespace(rel));
	if (p->nspname == NULL)
		elog(ERROR, "cache lookup failed for namespace %u",
			 RelationGetNamespace(rel));
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
	int			i;

	/* the buffer grows in its own context, pending_cxt (repalloc) */
	append_header(buf, p->nspname, p->relname, op_names[p->op]);
	appendStringInfoString(buf, ",\"id\":");
	append_uuid(buf, tuple, tupdesc, state->id);
	for (i = 0; i < state->nkeys; i++)
	{
		appendStringInfo(buf, ",\"%s\":", key_names[state->keys[i]]);
		switch (state->keys[i])
		{
			case KEY_VISIT_ID:
				append_uuid(buf, tuple, tupdesc, state->visit_id);
				break;
			case KEY_CUSTOMER_ID:
				append_uuid(buf, tuple, tupdesc, state->customer_id);
				break;
			case KEY_TECHNICIAN_ID:
				{
					Datum		visit_id;
					bool		isnull;

					visit_id = heap_getattr(tuple, state->visit_id, tupdesc,
											&isnull);
					append_visit_technician(buf, &state->lookup, visit_id,
											isnull);
					break;
				}
		}
	}
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
		append_header(&summary, p->nspname, p->relname, op_names[p->op]);
		appendStringInfo(&summary, ",\"rows\":" INT64_FORMAT ",\"bulk\":true}",
						 p->rows);
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
	pfree(p->nspname);
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
