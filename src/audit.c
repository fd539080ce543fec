/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit trail's trigger, audit_trigger_function().  What it knows of
 *	  a table is cached by audit_image.c, the images are written by
 *	  audit_jsonb.c, the log rows inserted by audit_writer.c; the log's
 *	  own guard and upkeep are in audit_log.c.
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

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"

#define FUNCNAME		AUDIT_FUNCNAME

/* per-statement state of the trigger, in fn_extra */
typedef struct AuditState
{
	Oid			nspid;			/* the extension's schema */
	Oid			logrelid;
	Oid			seqid;
	Oid			logowner;		/* the log's owner */
	Jsonb	   *context;		/* built once per statement */
	const char *context_bad_claim;	/* the bad claim it records, if any */
} AuditState;

static bool restore_noted = false;

/* last UUIDv7 handed out by this backend, to keep them increasing */
static uint64 uuid_last_ms = 0;
static uint32 uuid_counter = 0;

static void audit_row(FunctionCallInfo fcinfo, TriggerData *trigdata,
					  AuditState *state, AuditRelInfo *info);
static Jsonb *finish_object(JsonbParseState **state);
static AuditState *get_state(FunctionCallInfo fcinfo);
static void note_restore_session(void);
static void push_string_pair(JsonbParseState **state, const char *key,
							 const char *value);

PG_FUNCTION_INFO_V1(audit_trigger_function);

/*
 * audit_trigger_function() RETURNS trigger
 *		AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW: log the change.
 *
 * What the trigger knows of the table stays pinned for the call: building
 * the images runs user code (a cast to json, a type's output function)
 * that may change the table and audit a change of it, re-entering here.
 */
Datum
audit_trigger_function(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	AuditState *state;
	AuditRelInfo *info;
	int			pin;

	ame_check_trigger(fcinfo, FUNCNAME, AME_TRIG_AFTER,
					  AME_TRIG_INSERT | AME_TRIG_UPDATE | AME_TRIG_DELETE);

	trigdata = (TriggerData *) fcinfo->context;

	/*
	 * A restore loads rows whose history came with the dump (or was never
	 * written, for rows loaded with triggers off): it adds none.  Only a
	 * session with the log owner's privileges counts (see
	 * ame_restore_session()).
	 */
	state = get_state(fcinfo);
	if (ame_restore_session(state->logowner))
	{
		note_restore_session();
		return PointerGetDatum(NULL);
	}

	info = ame_audit_relinfo_pin(trigdata->tg_relation, trigdata->tg_trigger,
								 state->nspid, &pin);
	audit_row(fcinfo, trigdata, state, info);
	ame_audit_relinfo_unpin(pin);

	return PointerGetDatum(NULL);
}

/* log one changed row, if it changed */
static void
audit_row(FunctionCallInfo fcinfo, TriggerData *trigdata, AuditState *state,
		  AuditRelInfo *info)
{
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
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

	if (info->id_attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("relation \"%s\" cannot be audited",
						RelationGetRelationName(rel)),
				 errdetail("%s", info->id_problem)));

	/*
	 * Exclusions are kept by name: a renamed excluded column would be
	 * logged under its new name.  Refuse the change instead, until the
	 * owner names the exclusions again.
	 */
	if (info->missing_excluded != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audited table \"%s\" has no column \"%s\" to exclude",
						RelationGetRelationName(rel), info->missing_excluded),
				 errdetail("The column was renamed or dropped after its audit excluded it; no change is logged, nor made, until the exclusions are set again."),
				 errhint("Call ame_enable_audit() with the excluded columns' current names.")));

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
			return;
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
			ame_audit_set_pair(&newpairs[col->pair], info, col, newvals[a], newnulls[a]);
		if (oldtuple && newtuple && !colchanged[i])
			oldpairs[col->pair] = newpairs[col->pair];
		else if (oldtuple)
			ame_audit_set_pair(&oldpairs[col->pair], info, col, oldvals[a], oldnulls[a]);
	}

	w = ame_audit_writer(state->logrelid, state->seqid);

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

		state->context = ame_audit_build_context(identity);
		state->context_bad_claim =
			identity->status == AME_IDENTITY_INVALID ?
			pstrdup(identity->raw) : NULL;
		MemoryContextSwitchTo(oldcxt);
	}

	memset(nulls, false, sizeof(nulls));
	logid = palloc(sizeof(pg_uuid_t));
	ame_audit_uuid_v7(logid);
	values[LOG_ID] = UUIDPGetDatum(logid);
	values[LOG_SCHEMA] = info->schema_text;
	values[LOG_TABLE] = info->table_text;
	values[LOG_OPERATION] = CStringGetTextDatum(operation);
	if (oldtuple)
		values[LOG_OLD] = JsonbPGetDatum(ame_audit_pairs_to_jsonb(oldpairs, info->ncols));
	else
		nulls[LOG_OLD] = true;
	if (newtuple)
		values[LOG_NEW] = JsonbPGetDatum(ame_audit_pairs_to_jsonb(newpairs, info->ncols));
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
	values[LOG_SEQ] = Int64GetDatum(nextval_internal(state->seqid, false));
	values[LOG_CONTEXT] = JsonbPGetDatum(state->context);

	ame_audit_write_row(w, values, nulls);
}

static Jsonb *
finish_object(JsonbParseState **state)
{
	return JsonbValueToJsonb(pushJsonbValue(state, WJB_END_OBJECT, NULL));
}

/*
 * get_state
 *		Per-statement state: where the extension's log and sequence are,
 *		and who owns the log.  The function's own schema is the
 *		extension's.
 */
static AuditState *
get_state(FunctionCallInfo fcinfo)
{
	AuditState *state = (AuditState *) fcinfo->flinfo->fn_extra;
	HeapTuple	tuple;

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
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(state->logrelid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", state->logrelid);
	state->logowner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	fcinfo->flinfo->fn_extra = state;
	return state;
}

/*
 * note_restore_session
 *		Say once per session, in the server log, that a restore is not
 *		audited.
 */
static void
note_restore_session(void)
{
	if (restore_noted)
		return;
	restore_noted = true;
	ereport(LOG,
			(errmsg("ame: this session restores a dump: the rows it loads are not audited"),
			 errdetail("row_security is off or application_name is \"pg_restore\", and role \"%s\" has the privileges of the audit log's owner.",
					   GetUserNameFromId(GetOuterUserId(), false))));
}

/*
 * ame_audit_build_context
 *		Where the change came from: the top-level transaction id, the
 *		application, the roles, the client address, the JSON of GUC
 *		ame.audit_context (a string when it is not valid JSON), and the
 *		raw claim when the JWT claim was not usable.
 */
Jsonb *
ame_audit_build_context(const AmeIdentity *id)
{
	JsonbParseState *ps = NULL;
	JsonbValue	key;
	JsonbValue	val;
	const char *appname = GetConfigOption("application_name", true, false);
	const char *usercontext = ame_audit_context;

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
		size_t		len = strlen(usercontext);

		key.val.string.val = "audit_context";
		key.val.string.len = strlen("audit_context");
		pushJsonbValue(&ps, WJB_KEY, &key);

		/*
		 * What jsonb accepts is kept as JSON, anything else as a string:
		 * asked first, so that jsonb_in never raises here and no value can
		 * fail the user's write.
		 */
		if (ame_jsonb_accepts(usercontext, len))
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
			val.val.string.len = len;
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
 * ame_audit_uuid_v7
 *		A time-ordered uuid (RFC 9562 version 7): 48 bits of Unix time in
 *		milliseconds, then a 12-bit counter that keeps ids of the same
 *		millisecond increasing within this backend, then 62 random bits.
 */
void
ame_audit_uuid_v7(pg_uuid_t *uuid)
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
