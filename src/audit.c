/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit trail: audit_trigger_function(), the append-only guard of
 *	  ame_audit_logs and ame_purge_audit_logs().
 *
 * audit_trigger_function() is an AFTER INSERT OR UPDATE OR DELETE row
 * trigger.  For each changed row it writes one ame_audit_logs row with
 * both images of the row as jsonb, the changed columns, who (the JWT
 * identity) and where (transaction, application, roles, client address,
 * the JSON in GUC ame.audit_context).
 *
 * The write path is built to be lean, since it runs once per changed row:
 *
 *	- what a table needs (its columns, how each column becomes JSON, where
 *	  its uuid "id" is) is worked out once and cached per relation,
 *	  invalidated by relcache callbacks;
 *	- the jsonb images are built directly with per-column conversions,
 *	  and an UPDATE converts an unchanged column once for both images;
 *	  an unchanged TOASTed value is recognized by its toast pointer,
 *	  without a detoast, for changed_fields;
 *	- the log rows are inserted through the executor's pieces (heap
 *	  insert, constraints, index insertion) on a ResultRelInfo opened once
 *	  per transaction, not through SPI, whose per-call executor start-up
 *	  would cost more than everything else together;
 *	- the rows of one statement are inserted as a batch, with
 *	  heap_multi_insert(), before anything could look at the log (see
 *	  AuditPending);
 *	- log ids are time-ordered (UUID version 7), so that inserts go to the
 *	  right edge of the primary key instead of all over it;
 *	- the context object is built once per statement.
 *
 * The images and the context are built as the caller; only the insert
 * runs as the extension's owner (the owner of ame_audit_logs), so callers
 * need no right on the log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/jsonapi.h"
#include "common/pg_prng.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "pgtime.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "ame.h"

#define FUNCNAME		"audit_trigger_function"
#define LOG_NAME		"ame_audit_logs"
#define LOG_SEQ_NAME	"ame_audit_logs_seq_seq"
#define CONTEXT_GUC		"ame.audit_context"

/* how a column's value becomes a JSON value (as to_jsonb() would make it) */
typedef enum AuditKind
{
	AK_STRING,					/* text-like: the bytes are the string */
	AK_BOOL,
	AK_INT2,
	AK_INT4,
	AK_INT8,
	AK_NUMERIC,
	AK_FLOAT,					/* a number unless NaN or infinite */
	AK_UUID,
	AK_DATETIME,				/* ISO 8601, as to_jsonb() writes it */
	AK_JSONB,
	AK_JSON,
	AK_OUTPUT,					/* the type's output function, as a string */
	AK_TO_JSONB					/* anything else: to_jsonb() itself */
} AuditKind;

typedef struct AuditColumn
{
	AttrNumber	attnum;
	AuditKind	kind;
	Oid			typid;			/* base type (domains looked through) */
	char	   *name;
	int			namelen;
	Datum		name_text;		/* the name as text, for changed_fields */
	FmgrInfo	proc;			/* output function, or to_jsonb() */
	int			pair;			/* its place in a jsonb object's key order */
	/* AK_DATETIME: the last value converted, as bulk changes repeat them */
	bool		have_last;
	Datum		last_value;
	pg_tz	   *last_tz;		/* the TimeZone it was written in */
	char	   *last_string;
} AuditColumn;

/* what the trigger needs to know about an audited table */
typedef struct AuditRelInfo
{
	Oid			relid;			/* hash key */
	bool		valid;
	MemoryContext cxt;			/* holds everything below */
	AttrNumber	id_attnum;		/* 0: no usable uuid "id" column */
	const char *id_problem;		/* why there is none */
	int			ncols;
	AuditColumn *cols;
	MemoryContext last_cxt;		/* holds the AK_DATETIME last_string's */
	Datum		schema_text;
	Datum		table_text;
} AuditRelInfo;

/* the log's columns, by attnum of ame_audit_logs */
enum
{
	LOG_ID,
	LOG_SCHEMA,
	LOG_TABLE,
	LOG_RECORD,
	LOG_OPERATION,
	LOG_OLD,
	LOG_NEW,
	LOG_CHANGED,
	LOG_USER,
	LOG_PERFORMED,
	LOG_SEQ,
	LOG_CONTEXT,
	LOG_NCOLS
};

/* the log columns the trigger never leaves NULL */
static const bool log_never_null[LOG_NCOLS] = {
	true, true, true, true, true, false, false, true, false, true, true, true
};

static const char *const log_columns[LOG_NCOLS] = {
	"id", "table_schema", "table_name", "record_id", "operation",
	"old_values", "new_values", "changed_fields", "user_id",
	"performed_at", "seq", "context"
};

/* their types: the trigger forms datums of exactly these */
static const Oid log_types[LOG_NCOLS] = {
	UUIDOID, TEXTOID, TEXTOID, UUIDOID, TEXTOID,
	JSONBOID, JSONBOID, TEXTARRAYOID, UUIDOID,
	TIMESTAMPTZOID, INT8OID, JSONBOID
};

/*
 * The log, set up for inserts once per transaction: locked, its index
 * information built, a slot made.  Its resources belong to the top
 * transaction's resource owner and its memory to TopTransactionContext; it
 * is closed before commit and forgotten at abort (transaction callback),
 * and rebuilt when the log's relcache entry is invalidated (say, an index
 * was added).  The relation and its indexes are opened (without new
 * locks) only while a row is written, so that no relcache reference is
 * held between rows: TRUNCATE or ALTER of the log later in the same
 * transaction must not find it "in use".
 */
typedef struct AuditWriter
{
	Oid			logrelid;
	Oid			seqid;
	Oid			owner;
	bool		stale;
	bool		skip;			/* a restore is under way: write nothing */
	EState	   *estate;
	ResultRelInfo *rri;			/* relation and index descs open only while
								 * a row is written */
	Oid		   *indexoids;
	bool		check_rows;		/* run ExecConstraints() on each row */
	TupleDesc	tupdesc;		/* the log's row type */
	TupleTableSlot **slots;		/* for a batch; made as needed */
	int			nslots;
	AttrNumber	attnum[LOG_NCOLS];
} AuditWriter;

/*
 * Log rows formed but not yet inserted.  Inserting the rows of a statement
 * as a batch (heap_multi_insert(), one WAL record per page) costs much less
 * than one insert per row.  The rows wait only while nothing could look at
 * the log: they are inserted before any query starts (ExecutorStart), when
 * a query ends (ExecutorFinish), around every utility command, before a
 * subtransaction or the transaction commits, and when the batch is full.
 * Each row keeps the command id of its trigger call, so it is visible to
 * exactly the queries that would have seen an immediate insert.  All rows
 * of a batch belong to one subtransaction: a row audited in another one
 * (a subtransaction begun while the batch waits) is inserted at once, and
 * the batch is dropped if its subtransaction aborts.
 */
#define AUDIT_BATCH_ROWS	1000
#define AUDIT_BATCH_BYTES	(8 * 1024 * 1024)

typedef struct AuditPending
{
	MemoryContext cxt;			/* the formed rows; in TopTransactionContext */
	Oid			logrelid;
	Oid			seqid;
	TupleDesc	tupdesc;		/* the row type they were formed for */
	SubTransactionId subid;		/* whose rows these are */
	int			nrows;
	Size		bytes;
	HeapTuple	rows[AUDIT_BATCH_ROWS];
	CommandId	cids[AUDIT_BATCH_ROWS];
} AuditPending;

/* per-statement state of the trigger, in fn_extra */
typedef struct AuditState
{
	Oid			nspid;			/* the extension's schema */
	Oid			logrelid;
	Oid			seqid;
	Jsonb	   *context;		/* built once per statement */
	const char *context_bad_claim;	/* the bad claim it records, if any */
} AuditState;

static HTAB *relinfo_hash = NULL;
static MemoryContext audit_cache_cxt = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static AuditWriter *writer = NULL;
static AuditPending *pending = NULL;

/* whether the log's constraints need a check per row (see rows_need_checks) */
static Oid	checks_decided_for = InvalidOid;
static bool checks_needed = true;
static bool flushing = false;	/* in flush_pending() */
static bool inserting = false;	/* in insert_log_rows() */
static bool callbacks_registered = false;
static bool purge_in_progress = false;

/* last UUIDv7 handed out by this backend, to keep them increasing */
static uint64 uuid_last_ms = 0;
static uint32 uuid_counter = 0;

static void register_callbacks(void);
static void relcache_callback(Datum arg, Oid relid);
static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);
static AuditRelInfo *get_relinfo(Relation rel);
static void build_relinfo(AuditRelInfo *info, Relation rel);
static AuditKind kind_of_type(Oid typid);
static int	key_order(const void *a, const void *b);
static void column_to_jsonb(AuditRelInfo *info, AuditColumn *col,
							Datum value, bool isnull, JsonbValue *out);
static void set_pair(JsonbPair *pair, AuditRelInfo *info, AuditColumn *col,
					 Datum value, bool isnull);
static Jsonb *pairs_to_jsonb(JsonbPair *pairs, int npairs);
static Jsonb *finish_object(JsonbParseState **state);
static AuditState *get_state(FunctionCallInfo fcinfo);
static Jsonb *build_context(const AmeIdentity *id);
static void push_string_pair(JsonbParseState **state, const char *key,
							 const char *value);
static AuditWriter *get_writer(Oid logrelid, Oid seqid);
static void open_writer(Oid logrelid, Oid seqid);
static void close_writer(void);
static bool log_is_behind(AuditWriter *w, Relation rel);
static bool rows_need_checks(AuditWriter *w, Relation rel);
static void write_log_row(AuditWriter *w, Datum *values, bool *nulls);
static bool same_row_type(TupleDesc a, TupleDesc b);
static bool batch_takes(SubTransactionId subid, AuditWriter *w);
static void flush_pending(void);
static void insert_log_rows(AuditWriter *w, HeapTuple *rows,
							CommandId *cids, int nrows);
static void make_uuid_v7(pg_uuid_t *uuid);

PG_FUNCTION_INFO_V1(audit_trigger_function);
PG_FUNCTION_INFO_V1(ame_audit_log_guard);
PG_FUNCTION_INFO_V1(ame_purge_audit_logs);

/*
 * audit_trigger_function() RETURNS trigger
 *		AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW: log the change.
 */
Datum
audit_trigger_function(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	tupdesc;
	AuditRelInfo *info;
	AuditState *state;
	AuditWriter *w;
	HeapTuple	oldtuple = NULL;
	HeapTuple	newtuple = NULL;
	Datum	   *oldvals = NULL;
	bool	   *oldnulls = NULL;
	Datum	   *newvals = NULL;
	bool	   *newnulls = NULL;
	JsonbPair  *oldpairs = NULL;
	JsonbPair  *newpairs = NULL;
	Datum	   *changed;
	bool	   *colchanged = NULL;
	int			nchanged = 0;
	const char *operation;
	const AmeIdentity *identity;
	Datum		values[LOG_NCOLS];
	bool		nulls[LOG_NCOLS];
	pg_uuid_t  *logid;
	pg_uuid_t  *userid;
	AttrNumber	idcol;
	bool		isnull;
	int			i;

	ame_check_trigger(fcinfo, FUNCNAME, AME_TRIG_AFTER,
					  AME_TRIG_INSERT | AME_TRIG_UPDATE | AME_TRIG_DELETE);

	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);

	info = get_relinfo(rel);
	if (info->id_attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("relation \"%s\" cannot be audited",
						RelationGetRelationName(rel)),
				 errdetail("%s", info->id_problem)));

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		operation = "INSERT";
		newtuple = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		operation = "UPDATE";
		oldtuple = trigdata->tg_trigtuple;
		newtuple = trigdata->tg_newtuple;
	}
	else
	{
		operation = "DELETE";
		oldtuple = trigdata->tg_trigtuple;
	}

	if (oldtuple)
	{
		oldvals = palloc(tupdesc->natts * sizeof(Datum));
		oldnulls = palloc(tupdesc->natts * sizeof(bool));
		heap_deform_tuple(oldtuple, tupdesc, oldvals, oldnulls);
	}
	if (newtuple)
	{
		newvals = palloc(tupdesc->natts * sizeof(Datum));
		newnulls = palloc(tupdesc->natts * sizeof(bool));
		heap_deform_tuple(newtuple, tupdesc, newvals, newnulls);
	}

	/* an UPDATE: which columns' values differ; none, and it is no change */
	changed = palloc(info->ncols * sizeof(Datum));
	if (oldtuple && newtuple)
	{
		colchanged = palloc(info->ncols * sizeof(bool));
		for (i = 0; i < info->ncols; i++)
		{
			int			a = info->cols[i].attnum - 1;

			colchanged[i] = ame_datum_changed(oldvals[a], oldnulls[a],
											  newvals[a], newnulls[a],
											  TupleDescAttr(tupdesc, a));
			if (colchanged[i])
				changed[nchanged++] = info->cols[i].name_text;
		}
		if (nchanged == 0)
			return PointerGetDatum(NULL);
	}

	/* the images; an unchanged column is converted once for both */
	if (oldtuple)
		oldpairs = palloc(info->ncols * sizeof(JsonbPair));
	if (newtuple)
		newpairs = palloc(info->ncols * sizeof(JsonbPair));
	for (i = 0; i < info->ncols; i++)
	{
		AuditColumn *col = &info->cols[i];
		int			a = col->attnum - 1;

		if (newtuple)
			set_pair(&newpairs[col->pair], info, col, newvals[a], newnulls[a]);
		if (oldtuple && newtuple && !colchanged[i])
			oldpairs[col->pair] = newpairs[col->pair];
		else if (oldtuple)
			set_pair(&oldpairs[col->pair], info, col, oldvals[a], oldnulls[a]);
	}

	state = get_state(fcinfo);
	w = get_writer(state->logrelid, state->seqid);
	if (w->skip)
		return PointerGetDatum(NULL);

	/* the row's id: the new one, or the old one of a deleted row */
	idcol = info->id_attnum;
	if (newtuple)
	{
		values[LOG_RECORD] = newvals[idcol - 1];
		isnull = newnulls[idcol - 1];
	}
	else
	{
		values[LOG_RECORD] = oldvals[idcol - 1];
		isnull = oldnulls[idcol - 1];
	}
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("relation \"%s\" cannot be audited",
						RelationGetRelationName(rel)),
				 errdetail("A row has a NULL \"id\".")));

	/* who: a bad claim never breaks the write, it is recorded instead */
	identity = ame_identity_lookup();
	userid = NULL;
	if (identity->status == AME_IDENTITY_OK)
	{
		userid = palloc(sizeof(pg_uuid_t));
		memcpy(userid, &identity->uuid, sizeof(pg_uuid_t));
	}
	if (state->context == NULL ||
		(identity->status == AME_IDENTITY_INVALID) !=
		(state->context_bad_claim != NULL) ||
		(state->context_bad_claim != NULL &&
		 strcmp(state->context_bad_claim, identity->raw) != 0))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		state->context = build_context(identity);
		state->context_bad_claim =
			identity->status == AME_IDENTITY_INVALID ?
			pstrdup(identity->raw) : NULL;
		MemoryContextSwitchTo(oldcxt);
	}

	memset(nulls, false, sizeof(nulls));
	logid = palloc(sizeof(pg_uuid_t));
	make_uuid_v7(logid);
	values[LOG_ID] = UUIDPGetDatum(logid);
	values[LOG_SCHEMA] = info->schema_text;
	values[LOG_TABLE] = info->table_text;
	values[LOG_OPERATION] = CStringGetTextDatum(operation);
	if (oldtuple)
		values[LOG_OLD] = JsonbPGetDatum(pairs_to_jsonb(oldpairs, info->ncols));
	else
		nulls[LOG_OLD] = true;
	if (newtuple)
		values[LOG_NEW] = JsonbPGetDatum(pairs_to_jsonb(newpairs, info->ncols));
	else
		nulls[LOG_NEW] = true;
	values[LOG_CHANGED] = PointerGetDatum(construct_array(changed, nchanged,
														  TEXTOID, -1, false,
														  TYPALIGN_INT));
	if (userid)
		values[LOG_USER] = UUIDPGetDatum(userid);
	else
		nulls[LOG_USER] = true;
	values[LOG_PERFORMED] =
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[LOG_SEQ] = Int64GetDatum(nextval_internal(w->seqid, false));
	values[LOG_CONTEXT] = JsonbPGetDatum(state->context);

	write_log_row(w, values, nulls);

	return PointerGetDatum(NULL);
}

/*
 * ame_audit_log_guard() RETURNS trigger
 *		BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) on
 *		ame_audit_logs, enabled ALWAYS: the log is append-only.  Only the
 *		DELETEs of ame_purge_audit_logs() pass.
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

/*
 * Caches
 */

static void
register_callbacks(void)
{
	HASHCTL		ctl;

	if (callbacks_registered)
		return;

	audit_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
											"ame audit cache",
											ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(AuditRelInfo);
	ctl.hcxt = audit_cache_cxt;
	relinfo_hash = hash_create("ame audited relations", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
	callbacks_registered = true;
}

/* a relation changed: forget what we knew of it (InvalidOid: of all) */
static void
relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	AuditRelInfo *info;

	if (writer != NULL && (relid == InvalidOid || relid == writer->logrelid))
		writer->stale = true;
	if (relid == InvalidOid || relid == checks_decided_for)
		checks_decided_for = InvalidOid;

	if (relinfo_hash == NULL)
		return;
	if (relid != InvalidOid)
	{
		info = hash_search(relinfo_hash, &relid, HASH_FIND, NULL);
		if (info)
			info->valid = false;
		return;
	}
	hash_seq_init(&status, relinfo_hash);
	while ((info = hash_seq_search(&status)) != NULL)
		info->valid = false;
}

/*
 * Before commit: insert the waiting rows, close the log.  After commit or
 * abort, what was left (in transaction memory, with the transaction's
 * resource owner) is gone.
 */
static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			flush_pending();
			close_writer();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			writer = NULL;
			pending = NULL;
			flushing = false;
			inserting = false;
			break;
	}
}

/*
 * A subtransaction that commits inserts its waiting rows first; one that
 * aborts takes them with it.
 */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	if (pending == NULL || pending->nrows == 0 || pending->subid != mySubid)
		return;
	switch (event)
	{
		case SUBXACT_EVENT_PRE_COMMIT_SUB:
			flush_pending();
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			pending->nrows = 0;
			pending->bytes = 0;
			MemoryContextReset(pending->cxt);
			break;
		default:
			break;
	}
}

static AuditRelInfo *
get_relinfo(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	AuditRelInfo *info;
	bool		found;

	register_callbacks();
	info = hash_search(relinfo_hash, &relid, HASH_ENTER, &found);
	if (!found)
	{
		info->valid = false;
		info->cxt = NULL;
	}
	if (!info->valid)
		build_relinfo(info, rel);
	return info;
}

/*
 * build_relinfo
 *		Work out the columns of an audited table and how each one becomes
 *		JSON.  Built in a fresh context, so that an error leaves the old
 *		entry (marked invalid) and no half-built one.
 */
static void
build_relinfo(AuditRelInfo *info, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	MemoryContext cxt;
	MemoryContext oldcxt;
	AuditColumn *cols;
	int			ncols = 0;
	AttrNumber	id_attnum = 0;
	const char *id_problem = "It has no column \"id\" of type uuid.";
	int			i;

	cxt = AllocSetContextCreate(audit_cache_cxt, "ame audited relation",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);

	cols = palloc0(tupdesc->natts * sizeof(AuditColumn));
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		AuditColumn *col;
		Oid			outfunc;
		bool		varlena;

		if (att->attisdropped)
			continue;

		if (strcmp(NameStr(att->attname), "id") == 0)
		{
			if (getBaseType(att->atttypid) == UUIDOID)
				id_attnum = att->attnum;
			else
				id_problem = "Its column \"id\" is not of type uuid.";
		}

		col = &cols[ncols++];
		col->attnum = att->attnum;
		col->typid = getBaseType(att->atttypid);
		col->kind = kind_of_type(col->typid);
		col->name = pstrdup(NameStr(att->attname));
		col->namelen = strlen(col->name);
		col->name_text = CStringGetTextDatum(col->name);

		if (col->kind == AK_TO_JSONB)
		{
			/* to_jsonb(anyelement) learns the type from its call expression */
			Node	   *arg = (Node *) makeNullConst(att->atttypid, -1,
													 att->attcollation);
			FuncExpr   *expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
											list_make1(arg), InvalidOid,
											InvalidOid, COERCE_EXPLICIT_CALL);

			fmgr_info_cxt(F_TO_JSONB, &col->proc, cxt);
			fmgr_info_set_expr((Node *) expr, &col->proc);
		}
		else if (col->kind == AK_OUTPUT || col->kind == AK_FLOAT)
		{
			getTypeOutputInfo(col->typid, &outfunc, &varlena);
			fmgr_info_cxt(outfunc, &col->proc, cxt);
		}
	}

	/* jsonb keeps an object's keys sorted: shorter first, then bytewise */
	{
		AuditColumn **sorted = palloc(ncols * sizeof(AuditColumn *));

		for (i = 0; i < ncols; i++)
			sorted[i] = &cols[i];
		qsort(sorted, ncols, sizeof(AuditColumn *), key_order);
		for (i = 0; i < ncols; i++)
			sorted[i]->pair = i;
		pfree(sorted);
	}

	MemoryContextSwitchTo(oldcxt);

	if (info->cxt)
		MemoryContextDelete(info->cxt);
	info->cxt = cxt;
	info->last_cxt = AllocSetContextCreate(cxt, "ame audit last values",
										   ALLOCSET_SMALL_SIZES);
	info->cols = cols;
	info->ncols = ncols;
	info->id_attnum = id_attnum;
	info->id_problem = id_problem;
	oldcxt = MemoryContextSwitchTo(cxt);
	info->schema_text =
		CStringGetTextDatum(get_namespace_name(RelationGetNamespace(rel)));
	info->table_text = CStringGetTextDatum(RelationGetRelationName(rel));
	MemoryContextSwitchTo(oldcxt);
	info->valid = true;
}

/* the conversion to_jsonb() would use for this (base) type */
static AuditKind
kind_of_type(Oid typid)
{
	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return AK_STRING;
		case BOOLOID:
			return AK_BOOL;
		case INT2OID:
			return AK_INT2;
		case INT4OID:
			return AK_INT4;
		case INT8OID:
			return AK_INT8;
		case NUMERICOID:
			return AK_NUMERIC;
		case FLOAT4OID:
		case FLOAT8OID:
			return AK_FLOAT;
		case UUIDOID:
			return AK_UUID;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case TIMEOID:
		case TIMETZOID:
			return AK_DATETIME;
		case JSONBOID:
			return AK_JSONB;
		case JSONOID:
			return AK_JSON;
	}

	/*
	 * Built-in scalar types that to_jsonb() writes through their output
	 * function.  Arrays, composites and user-defined types (which may have
	 * a cast to json) go through to_jsonb() itself.
	 */
	if (typid < FirstNormalObjectId &&
		!OidIsValid(get_element_type(typid)) &&
		get_typtype(typid) != TYPTYPE_COMPOSITE &&
		typid != RECORDOID)
		return AK_OUTPUT;
	if (get_typtype(typid) == TYPTYPE_ENUM)
		return AK_OUTPUT;
	return AK_TO_JSONB;
}

/* Convert one column value into a JsonbValue, as to_jsonb() would. */
static void
column_to_jsonb(AuditRelInfo *info, AuditColumn *col, Datum value,
				bool isnull, JsonbValue *out)
{
	if (isnull)
	{
		out->type = jbvNull;
		return;
	}

	switch (col->kind)
	{
		case AK_STRING:
			{
				text	   *t = DatumGetTextPP(value);

				out->type = jbvString;
				out->val.string.val = VARDATA_ANY(t);
				out->val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case AK_BOOL:
			out->type = jbvBool;
			out->val.boolean = DatumGetBool(value);
			break;
		case AK_INT2:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt16(value));
			break;
		case AK_INT4:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt32(value));
			break;
		case AK_INT8:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt64(value));
			break;
		case AK_NUMERIC:
			{
				Numeric		n = DatumGetNumeric(value);

				if (numeric_is_nan(n) || numeric_is_inf(n))
				{
					char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
																		NumericGetDatum(n)));

					out->type = jbvString;
					out->val.string.val = s;
					out->val.string.len = strlen(s);
				}
				else
				{
					out->type = jbvNumeric;
					out->val.numeric = n;
				}
				break;
			}
		case AK_FLOAT:
			{
				char	   *s = OutputFunctionCall(&col->proc, value);

				if (strpbrk(s, "Nn") != NULL)	/* NaN, Infinity */
				{
					out->type = jbvString;
					out->val.string.val = s;
					out->val.string.len = strlen(s);
				}
				else
				{
					out->type = jbvNumeric;
					out->val.numeric =
						DatumGetNumeric(DirectFunctionCall3(numeric_in,
															CStringGetDatum(s),
															ObjectIdGetDatum(InvalidOid),
															Int32GetDatum(-1)));
				}
				break;
			}
		case AK_UUID:
			{
				static const char hex[] = "0123456789abcdef";
				pg_uuid_t  *u = DatumGetUUIDP(value);
				char	   *s = palloc(37);
				int			i;
				int			p = 0;

				for (i = 0; i < UUID_LEN; i++)
				{
					if (i == 4 || i == 6 || i == 8 || i == 10)
						s[p++] = '-';
					s[p++] = hex[u->data[i] >> 4];
					s[p++] = hex[u->data[i] & 0x0F];
				}
				s[p] = '\0';
				out->type = jbvString;
				out->val.string.val = s;
				out->val.string.len = p;
				break;
			}
		case AK_DATETIME:
			{
				char	   *s;

				/*
				 * Bulk changes repeat timestamps (created_at of rows loaded
				 * together, now() of one statement): remember the last one.
				 * All these types are by value except timetz.
				 */
				if (col->have_last && col->typid != TIMETZOID &&
					col->last_value == value &&
					col->last_tz == session_timezone)
					s = pstrdup(col->last_string);
				else
				{
					s = JsonEncodeDateTime(NULL, value, col->typid, NULL);
					if (col->typid != TIMETZOID)
					{
						if (col->have_last)
							pfree(col->last_string);
						col->last_string = MemoryContextStrdup(info->last_cxt, s);
						col->last_value = value;
						col->last_tz = session_timezone;
						col->have_last = true;
					}
				}
				out->type = jbvString;
				out->val.string.val = s;
				out->val.string.len = strlen(s);
				break;
			}
		case AK_JSONB:
			{
				Jsonb	   *j = DatumGetJsonbP(value);

				out->type = jbvBinary;
				out->val.binary.data = &j->root;
				out->val.binary.len = VARSIZE(j) - VARHDRSZ;
				break;
			}
		case AK_JSON:
			{
				Jsonb	   *j;

				j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													   CStringGetDatum(TextDatumGetCString(value))));
				out->type = jbvBinary;
				out->val.binary.data = &j->root;
				out->val.binary.len = VARSIZE(j) - VARHDRSZ;
				break;
			}
		case AK_OUTPUT:
			{
				char	   *s = OutputFunctionCall(&col->proc, value);

				out->type = jbvString;
				out->val.string.val = s;
				out->val.string.len = strlen(s);
				break;
			}
		case AK_TO_JSONB:
			{
				Jsonb	   *j = DatumGetJsonbP(FunctionCall1(&col->proc, value));

				out->type = jbvBinary;
				out->val.binary.data = &j->root;
				out->val.binary.len = VARSIZE(j) - VARHDRSZ;
				break;
			}
	}
}

/* jsonb's order of object keys: by length, then bytewise */
static int
key_order(const void *a, const void *b)
{
	const AuditColumn *ca = *(AuditColumn *const *) a;
	const AuditColumn *cb = *(AuditColumn *const *) b;

	if (ca->namelen != cb->namelen)
		return ca->namelen < cb->namelen ? -1 : 1;
	return memcmp(ca->name, cb->name, ca->namelen);
}

/*
 * set_pair
 *		One key/value pair of an image.  A nested jsonb value is expanded
 *		into a tree, since the image is assembled from JsonbValues.
 */
static void
set_pair(JsonbPair *pair, AuditRelInfo *info, AuditColumn *col, Datum value,
		 bool isnull)
{
	pair->key.type = jbvString;
	pair->key.val.string.val = col->name;
	pair->key.val.string.len = col->namelen;
	pair->order = col->pair;
	column_to_jsonb(info, col, value, isnull, &pair->value);

	/* a jsonb scalar is a value of its own, not a container */
	if (pair->value.type == jbvBinary &&
		JsonContainerIsScalar(pair->value.val.binary.data))
	{
		JsonbValue	scalar;

		if (!JsonbExtractScalar(pair->value.val.binary.data, &scalar))
			elog(ERROR, "jsonb scalar container expected");
		pair->value = scalar;
	}
}

/*
 * pairs_to_jsonb
 *		The jsonb object of these pairs (unique, in jsonb key order; values
 *		scalars or containers), written straight in jsonb's binary format,
 *		as JsonbValueToJsonb() would lay it out: the object's header, the
 *		keys' JEntries then the values', the keys' bytes then the values'.
 *		Each JB_OFFSET_STRIDE'th JEntry holds the end offset of its data
 *		instead of its length; numbers and containers start 4-byte aligned
 *		(from the start of the datum), their padding counting as theirs.
 *		A container value (a jsonb or json column, to_jsonb() of another
 *		type) is copied as it is: jsonb's layout is canonical, and its
 *		alignment is kept by starting it aligned.
 */
static Jsonb *
pairs_to_jsonb(JsonbPair *pairs, int npairs)
{
	Size		size;
	char	   *buf;
	uint32		header;
	uint32		totallen = 0;
	int			jpos;
	int			pos;
	int			i;

	/* enough for everything, with up to 3 bytes of padding per value */
	size = VARHDRSZ + sizeof(uint32) + (Size) 2 * npairs * sizeof(JEntry);
	for (i = 0; i < npairs; i++)
	{
		JsonbValue *v = &pairs[i].value;

		size += pairs[i].key.val.string.len + 3;
		if (v->type == jbvString)
			size += v->val.string.len;
		else if (v->type == jbvNumeric)
			size += VARSIZE_ANY(v->val.numeric);
		else if (v->type == jbvBinary)
			size += v->val.binary.len;
		else if (v->type != jbvNull && v->type != jbvBool)
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	if (size > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb object elements exceeds the maximum of %u bytes",
						JENTRY_OFFLENMASK)));

	buf = palloc(size);
	header = (uint32) npairs | JB_FOBJECT;
	memcpy(buf + VARHDRSZ, &header, sizeof(uint32));
	jpos = VARHDRSZ + sizeof(uint32);
	pos = jpos + 2 * npairs * sizeof(JEntry);

	for (i = 0; i < 2 * npairs; i++)
	{
		JsonbValue *v = i < npairs ? &pairs[i].key : &pairs[i - npairs].value;
		uint32		type;
		uint32		len = 0;
		int			pad;
		JEntry		meta;

		switch (v->type)
		{
			case jbvString:
				type = JENTRY_ISSTRING;
				len = v->val.string.len;
				memcpy(buf + pos, v->val.string.val, len);
				break;
			case jbvNumeric:
			case jbvBinary:
				pad = INTALIGN(pos) - pos;
				memset(buf + pos, 0, pad);
				if (v->type == jbvNumeric)
				{
					type = JENTRY_ISNUMERIC;
					len = VARSIZE_ANY(v->val.numeric);
					memcpy(buf + pos + pad, v->val.numeric, len);
				}
				else
				{
					type = JENTRY_ISCONTAINER;
					len = v->val.binary.len;
					memcpy(buf + pos + pad, v->val.binary.data, len);
				}
				len += pad;
				break;
			case jbvBool:
				type = v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
				break;
			default:
				type = JENTRY_ISNULL;
				break;
		}
		pos += len;
		totallen += len;
		if ((i % JB_OFFSET_STRIDE) == 0)
			meta = type | totallen | JENTRY_HAS_OFF;
		else
			meta = type | len;
		memcpy(buf + jpos, &meta, sizeof(JEntry));
		jpos += sizeof(JEntry);
	}

	SET_VARSIZE(buf, pos);
	return (Jsonb *) buf;
}

static Jsonb *
finish_object(JsonbParseState **state)
{
	return JsonbValueToJsonb(pushJsonbValue(state, WJB_END_OBJECT, NULL));
}

/*
 * get_state
 *		Per-statement state: where the extension's log and sequence are.
 *		The function's own schema is the extension's.
 */
static AuditState *
get_state(FunctionCallInfo fcinfo)
{
	AuditState *state = (AuditState *) fcinfo->flinfo->fn_extra;

	if (state != NULL)
		return state;

	state = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
								   sizeof(AuditState));
	state->nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
	state->logrelid = get_relname_relid(LOG_NAME, state->nspid);
	state->seqid = get_relname_relid(LOG_SEQ_NAME, state->nspid);
	if (!OidIsValid(state->logrelid) || !OidIsValid(state->seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit log \"%s.%s\" or its sequence does not exist",
						get_namespace_name(state->nspid), LOG_NAME)));
	fcinfo->flinfo->fn_extra = state;
	return state;
}

/*
 * build_context
 *		Where the change came from: the top-level transaction id, the
 *		application, the roles, the client address, the JSON of GUC
 *		ame.audit_context (a string when it is not valid JSON), and the
 *		raw claim when the JWT claim was not usable.
 */
static Jsonb *
build_context(const AmeIdentity *id)
{
	JsonbParseState *ps = NULL;
	JsonbValue	key;
	JsonbValue	val;
	const char *appname = GetConfigOption("application_name", true, false);
	const char *usercontext = GetConfigOption(CONTEXT_GUC, true, false);

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);

	key.type = jbvString;
	key.val.string.val = "txid";
	key.val.string.len = 4;
	pushJsonbValue(&ps, WJB_KEY, &key);
	val.type = jbvNumeric;
	val.val.numeric =
		int64_to_numeric((int64) U64FromFullTransactionId(GetTopFullTransactionId()));
	pushJsonbValue(&ps, WJB_VALUE, &val);

	push_string_pair(&ps, "application_name", appname ? appname : "");
	push_string_pair(&ps, "current_user",
					 GetUserNameFromId(GetUserId(), false));
	push_string_pair(&ps, "session_user",
					 GetUserNameFromId(GetSessionUserId(), false));

	/* the client's address, as inet_client_addr() reports it */
	{
		LOCAL_FCINFO(fc, 0);
		Datum		addr;

		InitFunctionCallInfoData(*fc, NULL, 0, InvalidOid, NULL, NULL);
		addr = inet_client_addr(fc);
		key.val.string.val = "client_addr";
		key.val.string.len = strlen("client_addr");
		pushJsonbValue(&ps, WJB_KEY, &key);
		if (fc->isnull)
			val.type = jbvNull;
		else
		{
			char	   *host = DatumGetCString(DirectFunctionCall1(inet_out, addr));

			val.type = jbvString;
			val.val.string.val = host;
			val.val.string.len = strlen(host);
		}
		pushJsonbValue(&ps, WJB_VALUE, &val);
	}

	if (usercontext != NULL && usercontext[0] != '\0')
	{
		JsonLexContext *lex;

		key.val.string.val = "audit_context";
		key.val.string.len = strlen("audit_context");
		pushJsonbValue(&ps, WJB_KEY, &key);

		/* valid JSON is kept as JSON, anything else as a string */
		lex = makeJsonLexContextCstringLen(pstrdup(usercontext),
										   strlen(usercontext),
										   GetDatabaseEncoding(), false);
		if (pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS)
		{
			Jsonb	   *j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															   CStringGetDatum(usercontext)));

			val.type = jbvBinary;
			val.val.binary.data = &j->root;
			val.val.binary.len = VARSIZE(j) - VARHDRSZ;
		}
		else
		{
			val.type = jbvString;
			val.val.string.val = pstrdup(usercontext);
			val.val.string.len = strlen(usercontext);
		}
		pushJsonbValue(&ps, WJB_VALUE, &val);
	}

	if (id->status == AME_IDENTITY_INVALID)
	{
		push_string_pair(&ps, "invalid_claim", id->raw);
		push_string_pair(&ps, "invalid_claim_guc", id->guc);
	}

	return finish_object(&ps);
}

static void
push_string_pair(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	pushJsonbValue(state, WJB_KEY, &k);
	pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * The log writer
 */

/*
 * get_writer
 *		The writer for this log, rebuilt when the log's relcache entry was
 *		invalidated (an ANALYZE, an index added).  Its row type cannot have
 *		changed under our lock but by an ALTER of this transaction, before
 *		which the waiting rows were inserted (audit_ProcessUtility); only an
 *		ALTER in a subtransaction begun while rows wait could change it,
 *		and flush_pending() refuses to insert them then.
 */
static AuditWriter *
get_writer(Oid logrelid, Oid seqid)
{
	if (writer != NULL && (writer->stale || writer->logrelid != logrelid))
		close_writer();
	if (writer == NULL)
		open_writer(logrelid, seqid);
	return writer;
}

/*
 * open_writer
 *		Open ame_audit_logs and its indexes for inserts, for the rest of
 *		the transaction.
 */
static void
open_writer(Oid logrelid, Oid seqid)
{
	ResourceOwner oldowner = CurrentResourceOwner;
	MemoryContext oldcxt;
	AuditWriter *w;
	Relation volatile rel = NULL;
	ResultRelInfo *volatile rri = NULL;
	TupleDesc	tupdesc;
	int			i;

	register_callbacks();

	/* resources of the top transaction, released at its end */
	CurrentResourceOwner = TopTransactionResourceOwner;
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	PG_TRY();
	{
		w = palloc0(sizeof(AuditWriter));
		w->logrelid = logrelid;
		w->seqid = seqid;
		w->estate = CreateExecutorState();

		rel = table_open(logrelid, RowExclusiveLock);
		tupdesc = RelationGetDescr(rel);
		w->owner = rel->rd_rel->relowner;

		/* rows are formed and inserted directly: the log must be as made */
		if (rel->rd_rel->relkind != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("audit log \"%s\" is not a table",
							RelationGetRelationName(rel)),
					 errdetail("The audit trigger writes only to a plain table.")));
		for (i = 0; i < LOG_NCOLS; i++)
			w->attnum[i] = ame_required_column(tupdesc,
											   RelationGetRelationName(rel),
											   FUNCNAME, log_columns[i],
											   log_types[i]);

		w->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(w->rri, rel, 0, NULL, 0);
		ExecOpenIndices(w->rri, false);
		rri = w->rri;
		w->tupdesc = CreateTupleDescCopy(tupdesc);
		if (checks_decided_for != logrelid)
		{
			checks_needed = rows_need_checks(w, rel);
			checks_decided_for = logrelid;
		}
		w->check_rows = checks_needed;
		w->slots = palloc0(AUDIT_BATCH_ROWS * sizeof(TupleTableSlot *));
		w->skip = log_is_behind(w, rel);

		/* keep the locks and the index information, not the references */
		w->indexoids = palloc(Max(w->rri->ri_NumIndices, 1) * sizeof(Oid));
		for (i = 0; i < w->rri->ri_NumIndices; i++)
		{
			w->indexoids[i] = RelationGetRelid(w->rri->ri_IndexRelationDescs[i]);
			index_close(w->rri->ri_IndexRelationDescs[i], NoLock);
			w->rri->ri_IndexRelationDescs[i] = NULL;
		}
		table_close(rel, NoLock);
		w->rri->ri_RelationDesc = NULL;
	}
	PG_CATCH();
	{
		/* the references were taken under the top owner: give them back */
		if (rri != NULL)
		{
			for (i = 0; i < rri->ri_NumIndices; i++)
				if (rri->ri_IndexRelationDescs[i] != NULL)
					index_close(rri->ri_IndexRelationDescs[i], NoLock);
		}
		if (rel != NULL && (rri == NULL || rri->ri_RelationDesc != NULL))
			table_close(rel, NoLock);
		CurrentResourceOwner = oldowner;
		MemoryContextSwitchTo(oldcxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	CurrentResourceOwner = oldowner;
	MemoryContextSwitchTo(oldcxt);

	writer = w;
}

static void
close_writer(void)
{
	ResourceOwner oldowner = CurrentResourceOwner;
	AuditWriter *w = writer;
	int			i;

	if (w == NULL)
		return;
	writer = NULL;

	CurrentResourceOwner = TopTransactionResourceOwner;
	for (i = 0; i < w->nslots; i++)
		ExecDropSingleTupleTableSlot(w->slots[i]);
	FreeExecutorState(w->estate);
	CurrentResourceOwner = oldowner;

	/*
	 * A writer may be rebuilt many times in a long transaction (each
	 * ANALYZE of the log invalidates it).  The row descriptor stays: rows
	 * formed for it may still wait (see batch_takes()).
	 */
	pfree(w->slots);
	pfree(w->indexoids);
	pfree(w);
}

/*
 * log_is_behind
 *		pg_dump loads the log before the audited tables and sets sequences
 *		only after all data, so during a restore the log already holds rows
 *		while its sequence has never been called.  Audit rows written then
 *		(for the rows being restored) would reuse seq values; write none.
 *		Only a restore leaves this state: only the owner can move the
 *		sequence.
 */
static bool
log_is_behind(AuditWriter *w, Relation rel)
{
	Oid			save_userid;
	int			save_sec_context;
	volatile bool called = false;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		nonempty;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(w->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		LOCAL_FCINFO(fc, 1);

		InitFunctionCallInfoData(*fc, NULL, 1, InvalidOid, NULL, NULL);
		fc->args[0].value = ObjectIdGetDatum(w->seqid);
		fc->args[0].isnull = false;
		(void) pg_sequence_last_value(fc);
		called = !fc->isnull;
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();

	if (called)
		return false;

	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	nonempty = table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);

	if (nonempty)
		ereport(LOG,
				(errmsg("ame: not auditing in this transaction: \"%s\" holds rows but its sequence was never used (a restore in progress)",
						RelationGetRelationName(rel))));
	return nonempty;
}

/*
 * rows_need_checks
 *		Whether the log's constraints must be checked on every row.  Not
 *		when each NOT NULL column is one the trigger always fills and each
 *		CHECK is an immutable test of operation alone (as the install
 *		script's valid_audit_operation) that passes for each operation the
 *		trigger writes: then the outcome is known without looking at a row.
 *		A constraint an owner added on anything else is checked per row,
 *		as the executor would.  Decided once per backend, again after the
 *		log's relcache entry is invalidated.
 */
static bool
rows_need_checks(AuditWriter *w, Relation rel)
{
	static const char *const operations[] = {"INSERT", "UPDATE", "DELETE"};
	TupleDesc	tupdesc = RelationGetDescr(rel);
	TupleConstr *constr = tupdesc->constr;
	AttrNumber	opattnum = w->attnum[LOG_OPERATION];
	List	   *checks = NIL;
	EState	   *estate;
	ExprState  *state;
	TupleTableSlot *slot;
	bool		need = false;
	int			i;
	int			j;

	if (constr == NULL)
		return false;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		bool		filled = false;

		if (!att->attnotnull || att->attisdropped)
			continue;
		for (j = 0; j < LOG_NCOLS; j++)
			if (w->attnum[j] == att->attnum && log_never_null[j])
				filled = true;
		if (!filled)
			return true;
	}

	for (i = 0; i < constr->num_check; i++)
	{
		Expr	   *expr = stringToNode(constr->check[i].ccbin);
		Bitmapset  *attnos = NULL;

		pull_varattnos((Node *) expr, 1, &attnos);
		if (bms_membership(attnos) != BMS_SINGLETON ||
			!bms_is_member(opattnum - FirstLowInvalidHeapAttributeNumber, attnos) ||
			contain_mutable_functions((Node *) expr))
			return true;
		checks = lappend(checks, expr);
	}
	if (checks == NIL)
		return false;

	/* the checks, on a row that has only an operation */
	estate = CreateExecutorState();
	state = ExecPrepareCheck(checks, estate);
	slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsVirtual);
	GetPerTupleExprContext(estate)->ecxt_scantuple = slot;
	for (i = 0; i < (int) lengthof(operations) && !need; i++)
	{
		ExecClearTuple(slot);
		for (j = 0; j < tupdesc->natts; j++)
			slot->tts_isnull[j] = true;
		slot->tts_values[opattnum - 1] = CStringGetTextDatum(operations[i]);
		slot->tts_isnull[opattnum - 1] = false;
		ExecStoreVirtualTuple(slot);
		need = !ExecCheck(state, GetPerTupleExprContext(estate));
		ResetPerTupleExprContext(estate);
	}
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	return need;
}

/*
 * write_log_row
 *		Add one log row to the batch (see AuditPending), or insert it now
 *		when the batch belongs to an enclosing subtransaction.
 */
static void
write_log_row(AuditWriter *w, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc = w->tupdesc;
	Datum	   *rowvals;
	bool	   *rownulls;
	SubTransactionId subid = GetCurrentSubTransactionId();
	CommandId	cid = GetCurrentCommandId(true);
	MemoryContext oldcxt;
	HeapTuple	row;
	int			i;

	rowvals = palloc(tupdesc->natts * sizeof(Datum));
	rownulls = palloc(tupdesc->natts * sizeof(bool));
	for (i = 0; i < tupdesc->natts; i++)
	{
		rowvals[i] = (Datum) 0;
		rownulls[i] = true;
	}
	for (i = 0; i < LOG_NCOLS; i++)
	{
		rowvals[w->attnum[i] - 1] = values[i];
		rownulls[w->attnum[i] - 1] = nulls[i];
	}

	if (inserting)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("cannot audit a change made while a row is written to the audit log"),
				 errdetail("A constraint or index expression of the audit log changed an audited table.")));

	if (pending == NULL)
	{
		pending = MemoryContextAllocZero(TopTransactionContext,
										 sizeof(AuditPending));
		pending->cxt = AllocSetContextCreate(TopTransactionContext,
											 "ame audit batch",
											 ALLOCSET_DEFAULT_SIZES);
	}

	/*
	 * A full batch (or one formed for another log or writer) goes now; one
	 * of an enclosing subtransaction waits for it, and this row is inserted
	 * alone.
	 */
	if (!batch_takes(subid, w))
	{
		Oid			logrelid = w->logrelid;
		Oid			seqid = w->seqid;

		/* the writer may have been rebuilt (same row type: see get_writer) */
		flush_pending();
		w = get_writer(logrelid, seqid);
	}
	if (!batch_takes(subid, w))
	{
		row = heap_form_tuple(tupdesc, rowvals, rownulls);
		insert_log_rows(w, &row, &cid, 1);
		return;
	}

	oldcxt = MemoryContextSwitchTo(pending->cxt);
	row = heap_form_tuple(tupdesc, rowvals, rownulls);
	MemoryContextSwitchTo(oldcxt);

	pending->logrelid = w->logrelid;
	pending->seqid = w->seqid;
	pending->tupdesc = w->tupdesc;
	pending->subid = subid;
	pending->rows[pending->nrows] = row;
	pending->cids[pending->nrows] = cid;
	pending->nrows++;
	pending->bytes += row->t_len;
}

/*
 * same_row_type
 *		Whether rows formed for one descriptor of the log fit another: the
 *		same physical attributes (names, defaults and constraints may
 *		differ).
 */
static bool
same_row_type(TupleDesc a, TupleDesc b)
{
	int			i;

	if (a == b)
		return true;
	if (a->natts != b->natts)
		return false;
	for (i = 0; i < a->natts; i++)
	{
		Form_pg_attribute x = TupleDescAttr(a, i);
		Form_pg_attribute y = TupleDescAttr(b, i);

		if (x->atttypid != y->atttypid || x->attlen != y->attlen ||
			x->attbyval != y->attbyval || x->attalign != y->attalign ||
			x->attisdropped != y->attisdropped)
			return false;
	}
	return true;
}

/*
 * whether a row of this subtransaction, formed for this writer, can join
 * the batch
 */
static bool
batch_takes(SubTransactionId subid, AuditWriter *w)
{
	return pending->nrows == 0 ||
		(pending->subid == subid && pending->logrelid == w->logrelid &&
		 pending->tupdesc == w->tupdesc &&
		 pending->nrows < AUDIT_BATCH_ROWS &&
		 pending->bytes < AUDIT_BATCH_BYTES);
}

/*
 * flush_pending
 *		Insert the waiting rows, if they belong to the current
 *		subtransaction (else they wait for it to come back).
 */
static void
flush_pending(void)
{
	if (pending == NULL || pending->nrows == 0 || flushing ||
		pending->subid != GetCurrentSubTransactionId() ||
		IsInParallelMode())
		return;

	flushing = true;
	PG_TRY();
	{
		AuditWriter *w;
		bool		pushed = false;

		if (!ActiveSnapshotSet())
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			pushed = true;
		}
		w = get_writer(pending->logrelid, pending->seqid);
		if (!same_row_type(pending->tupdesc, w->tupdesc))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("audit log \"%s\" was altered while audit rows were waiting to be written",
							get_rel_name(pending->logrelid)),
					 errdetail("A subtransaction changed the columns of the log.")));
		insert_log_rows(w, pending->rows, pending->cids, pending->nrows);
		if (pushed)
			PopActiveSnapshot();
	}
	PG_FINALLY();
	{
		flushing = false;
		pending->nrows = 0;
		pending->bytes = 0;
		MemoryContextReset(pending->cxt);
	}
	PG_END_TRY();
}

/*
 * insert_log_rows
 *		Insert log rows as the extension's owner: constraints, heap
 *		(heap_multi_insert() per run of rows of the same command), indexes,
 *		as the executor would.  The rows are freed.
 */
static void
insert_log_rows(AuditWriter *w, HeapTuple *rows, CommandId *cids, int nrows)
{
	ResultRelInfo *rri = w->rri;
	EState	   *estate = w->estate;
	TupleTableSlot **slots = w->slots;
	Oid			save_userid;
	int			save_sec_context;
	int			i;
	int			start;

	if (w->skip)
		return;

	for (i = w->nslots; i < nrows; i++)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		slots[i] = MakeSingleTupleTableSlot(w->tupdesc, &TTSOpsHeapTuple);
		w->nslots = i + 1;
		MemoryContextSwitchTo(oldcxt);
	}

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(w->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	inserting = true;
	PG_TRY();
	{
		/* the slots free the rows; cleared below whatever happens */
		for (i = 0; i < nrows; i++)
			ExecStoreHeapTuple(rows[i], slots[i], true);

		/* the locks are held since open_writer */
		rri->ri_RelationDesc = relation_open(w->logrelid, NoLock);
		for (i = 0; i < rri->ri_NumIndices; i++)
			rri->ri_IndexRelationDescs[i] = index_open(w->indexoids[i], NoLock);

		if (w->check_rows)
		{
			for (i = 0; i < nrows; i++)
			{
				ExecConstraints(rri, slots[i], estate);
				ResetPerTupleExprContext(estate);
			}
		}
		for (start = 0; start < nrows; start = i)
		{
			for (i = start + 1; i < nrows && cids[i] == cids[start]; i++)
				;
			table_multi_insert(rri->ri_RelationDesc, &slots[start],
							   i - start, cids[start], 0, NULL);
		}
		if (rri->ri_NumIndices > 0)
		{
			for (i = 0; i < nrows; i++)
			{
				estate->es_output_cid = cids[i];
				ExecInsertIndexTuples(rri, slots[i], estate, false, false,
									  NULL, NIL);
				ResetPerTupleExprContext(estate);
			}
		}
	}
	PG_FINALLY();
	{
		inserting = false;
		SetUserIdAndSecContext(save_userid, save_sec_context);
		ResetPerTupleExprContext(estate);
		for (i = 0; i < nrows; i++)
			ExecClearTuple(slots[i]);
	}
	PG_END_TRY();

	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		index_close(rri->ri_IndexRelationDescs[i], NoLock);
		rri->ri_IndexRelationDescs[i] = NULL;
	}
	relation_close(rri->ri_RelationDesc, NoLock);
	rri->ri_RelationDesc = NULL;
}

/*
 * Hooks: the points where waiting rows must be in the log.  Nothing is
 * done unless this backend has audited rows waiting.
 */

static void
audit_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	flush_pending();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
audit_ExecutorFinish(QueryDesc *queryDesc)
{
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	flush_pending();
}

static void
audit_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	flush_pending();
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	flush_pending();
}

/* called by _PG_init */
void
ame_audit_install_hooks(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = audit_ExecutorStart;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = audit_ExecutorFinish;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = audit_ProcessUtility;
}

/*
 * make_uuid_v7
 *		A time-ordered uuid (RFC 9562 version 7): 48 bits of Unix time in
 *		milliseconds, then a 12-bit counter that keeps ids of the same
 *		millisecond increasing within this backend, then 62 random bits.
 */
static void
make_uuid_v7(pg_uuid_t *uuid)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		ms = (uint64) (now / 1000) +
		(uint64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
	uint64		rnd = pg_prng_uint64(&pg_global_prng_state);
	int			i;

	if (ms <= uuid_last_ms)
	{
		/* same (or an earlier) millisecond: count on from the last id */
		if (++uuid_counter > 0x0FFF)
		{
			uuid_last_ms++;
			uuid_counter = 0;
		}
		ms = uuid_last_ms;
	}
	else
	{
		uuid_last_ms = ms;
		uuid_counter = 0;
	}

	for (i = 0; i < 6; i++)
		uuid->data[i] = (unsigned char) (ms >> (40 - 8 * i));
	uuid->data[6] = (unsigned char) (0x70 | (uuid_counter >> 8));
	uuid->data[7] = (unsigned char) (uuid_counter & 0xFF);
	uuid->data[8] = (unsigned char) (0x80 | (rnd & 0x3F));
	rnd >>= 8;
	for (i = 9; i < UUID_LEN; i++)
	{
		uuid->data[i] = (unsigned char) rnd;
		rnd >>= 8;
	}
}
