/*-------------------------------------------------------------------------
 *
 * audit_history.c
 *	  A record's history and time travel, ame_record_history() and
 *	  ame_record_at(), for the callers who may see the record.
 *
 * The log holds every column of every row, also what row-level security
 * hides on the live tables, so reading it is the owner's to grant.  These
 * two functions let a caller without that grant read the history of a
 * record they can see today:
 *
 *	1. As the caller: may it read the log itself (SELECT on
 *	   ame_audit_logs)?  Then it reads the log with its own rights, the
 *	   history of any record, deleted ones included.
 *	2. Otherwise, as the caller: it needs SELECT on the table (else 42501),
 *	   the table must be audited now (the log keys history by the table's
 *	   name, which another table may have taken since), and the live row
 *	   with that id must be visible to it: one
 *	   "SELECT 1 FROM tbl WHERE id = $1", so that the table's policies
 *	   apply to the caller as to any query of theirs.  Not visible (another
 *	   technician's, deleted, never there): no rows, as for an unknown id.
 *	3. Visible: the log is read as the extension's owner, switching user
 *	   around that read only (SetUserIdAndSecContext, a restricted
 *	   operation), and only the live row's own past: an id reused after a
 *	   DELETE shows nothing of the row that had it before.
 *
 * The check and the switch happen in one C function that is not SECURITY
 * DEFINER, so the caller is whoever current_user is at the call (SET ROLE,
 * a SECURITY DEFINER function's owner, the querying role of a view); the
 * two SQL functions that read the log (ame_audit_log_history and
 * ame_audit_log_lineage) run with the rights of whoever calls them, so
 * calling them directly is no way around the check.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "audit.h"

PG_FUNCTION_INFO_V1(ame_record_history);
PG_FUNCTION_INFO_V1(ame_record_at);

/* what the check allows a caller to read */
typedef enum HistoryAccess
{
	HISTORY_NONE,				/* nothing: the live row is not visible */
	HISTORY_LIVE_ROW,			/* the live row's past, read as the owner */
	HISTORY_WHOLE_LOG			/* everything, read with the caller's rights */
} HistoryAccess;

/* rows fetched from the log per round trip: bounds the SPI memory */
#define HISTORY_FETCH	256

/* what becomes of each batch of log rows read */
typedef void (*HistoryConsumer) (SPITupleTable *batch, uint64 n, void *arg);

static void check_args(FunctionCallInfo fcinfo, int nargs, const char *funcname);
static bool audited_now(Oid relid, Oid nsp);
static HistoryAccess history_access(Oid relid, Datum record, Oid nsp,
									Datum *live);
static bool live_row_is_logged(Oid nsp, Datum relid, Datum record,
							   Datum live);
static Portal open_history(HistoryAccess access, Oid nsp, Datum relid,
						   Datum record, Datum upto, const char *suffix);
static void read_history(FunctionCallInfo fcinfo, Datum upto,
						 const char *suffix, HistoryConsumer consume,
						 void *arg);
static void store_rows(SPITupleTable *batch, uint64 n, void *arg);
static void keep_image(SPITupleTable *batch, uint64 n, void *arg);

/*
 * check_args
 *		Every argument is required: a NULL is 22023, naming it.
 */
static void
check_args(FunctionCallInfo fcinfo, int nargs, const char *funcname)
{
	static const char *const names[] = {"tbl", "record", "at"};

	for (int i = 0; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" of %s() must not be NULL",
							names[i], funcname)));
}

/*
 * audited_now
 *		Does the table carry ame's audit trigger (its own, or for a
 *		partition the one cloned from its parent)?  The log keeps history by
 *		schema and table name, so a table that took the name of a dropped or
 *		renamed audited table would otherwise be matched to that table's
 *		history.  Only the owner can attach the trigger.
 */
static bool
audited_now(Oid relid, Oid nsp)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TriggerDesc *trigdesc = rel->trigdesc;
	bool		found = false;

	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers && !found; i++)
	{
		Oid			fn = trigdesc->triggers[i].tgfoid;
		char	   *name = get_func_name(fn);

		/* and fire in an ordinary session: not disabled, not REPLICA only */
		found = name != NULL && strcmp(name, AUDIT_FUNCNAME) == 0 &&
			get_func_namespace(fn) == nsp &&
			(trigdesc->triggers[i].tgenabled == TRIGGER_FIRES_ON_ORIGIN ||
			 trigdesc->triggers[i].tgenabled == TRIGGER_FIRES_ALWAYS);
		if (name != NULL)
			pfree(name);
	}
	relation_close(rel, AccessShareLock);
	return found;
}

/*
 * history_access
 *		What the current user may read of the history of that record of
 *		that table (see the header comment).  Runs as the caller, inside an
 *		SPI connection.
 */
static HistoryAccess
history_access(Oid relid, Datum record, Oid nsp, Datum *live)
{
	Oid			userid = GetUserId();
	Oid			logrelid;
	char		relkind;
	char	   *relname;
	AclResult	aclresult;
	AttrNumber	idnum;
	Oid			idtype;
	StringInfoData sql;
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int			rc;

	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	relname = get_rel_name(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a table", relname),
				 errhint("History is kept for tables only.")));

	/* a reader of the log reads it all */
	logrelid = get_relname_relid(LOG_NAME, nsp);
	if (!OidIsValid(logrelid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" does not exist", LOG_NAME)));
	if (pg_class_aclcheck(logrelid, userid, ACL_SELECT) == ACLCHECK_OK)
		return HISTORY_WHOLE_LOG;

	/* anyone else must be allowed to read the table ... */
	aclresult = pg_class_aclcheck(relid, userid, ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(relkind), relname);

	/* ... and see the live row in it */
	idnum = get_attnum(relid, "id");
	if (idnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" has no column \"id\"", relname),
				 errhint("Only tables with a uuid column \"id\" have a history.")));
	idtype = get_atttype(relid, idnum);
	if (getBaseType(idtype) != UUIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"id\" of table \"%s\" is of type %s, not uuid",
						relname, format_type_be(idtype)),
				 errhint("Only tables with a uuid column \"id\" have a history.")));

	/* a table that is not audited now has no history of its own rows */
	if (!audited_now(relid, nsp))
		return HISTORY_NONE;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT pg_catalog.to_jsonb(t) FROM %s t"
					 " WHERE t.id OPERATOR(pg_catalog.=) $1",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												relname));
	values[0] = record;
	rc = SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	pfree(sql.data);
	if (SPI_processed == 0)
		return HISTORY_NONE;
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull);

		if (isnull)
			return HISTORY_NONE;
		/* kept until SPI_finish(), which is after its last use */
		*live = datumCopy(value, false, -1);
	}
	return HISTORY_LIVE_ROW;
}

/*
 * open_history
 *		A cursor over the record's log rows up to "upto" (in seq order, or
 *		as "suffix" orders them), read by ame_audit_log_history() with the
 *		current user's rights or by ame_audit_log_lineage() as the owner.
 *		The caller switches user; nothing here depends on the search_path.
 */
static Portal
open_history(HistoryAccess access, Oid nsp, Datum relid, Datum record,
			 Datum upto, const char *suffix)
{
	StringInfoData sql;
	Oid			argtypes[3] = {REGCLASSOID, UUIDOID, TIMESTAMPTZOID};
	Datum		values[3];
	Portal		portal;

	values[0] = relid;
	values[1] = record;
	values[2] = upto;
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT h.seq, h.operation, h.changed_fields, h.old_values, "
					 "h.new_values, h.user_id, h.performed_at, h.context "
					 "FROM %s.%s($1, $2, $3) h%s",
					 quote_identifier(get_namespace_name(nsp)),
					 access == HISTORY_WHOLE_LOG ? "ame_audit_log_history" :
					 "ame_audit_log_lineage",
					 suffix);
	portal = SPI_cursor_open_with_args(NULL, sql.data, 3, argtypes, values,
									   NULL, true, 0);
	pfree(sql.data);
	return portal;
}

/*
 * live_row_is_logged
 *		Whether the record's last logged image (read as the owner) is
 *		contained in the live row the caller sees, as jsonb.
 */
static bool
live_row_is_logged(Oid nsp, Datum relid, Datum record, Datum live)
{
	StringInfoData sql;
	Oid			argtypes[3] = {REGCLASSOID, UUIDOID, TIMESTAMPTZOID};
	Datum		values[3];
	bool		isnull;
	Datum		image;
	int			rc;

	values[0] = relid;
	values[1] = record;
	values[2] = TimestampTzGetDatum(DT_NOEND);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT h.new_values FROM %s.ame_audit_log_lineage($1, $2, $3) h"
					 " WHERE h.operation OPERATOR(pg_catalog.=) ANY "
					 "('{INSERT,UPDATE,DELETE}'::pg_catalog.text[])"
					 " ORDER BY h.seq DESC LIMIT 1",
					 quote_identifier(get_namespace_name(nsp)));
	rc = SPI_execute_with_args(sql.data, 3, argtypes, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	pfree(sql.data);
	if (SPI_processed == 0)
		return false;
	image = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	return DatumGetBool(DirectFunctionCall2(jsonb_contains, live, image));
}

/*
 * read_history
 *		What both functions do: check the caller, and if it may see the
 *		record, read its log rows up to "upto" (the query's tail "suffix"
 *		appended), HISTORY_FETCH at a time, handing each batch to "consume"
 *		while still connected to SPI.  Only the log read runs as the owner.
 */
static void
read_history(FunctionCallInfo fcinfo, Datum upto, const char *suffix,
			 HistoryConsumer consume, void *arg)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	HistoryAccess access;
	Datum		live = (Datum) 0;
	Oid			save_userid;
	int			save_sec;
	bool		switched = false;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	access = history_access(PG_GETARG_OID(0), PG_GETARG_DATUM(1), nsp, &live);
	if (access == HISTORY_NONE)
	{
		SPI_finish();
		return;
	}

	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (access == HISTORY_LIVE_ROW)
	{
		SetUserIdAndSecContext(ame_extension_owner(),
							   save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		switched = true;
	}
	PG_TRY();
	{
		Portal		portal;

		/*
		 * History is kept by table name: the past under this name must be
		 * this row's.  Its last image must hold what the live row holds
		 * (excluded columns are not in the images, so containment); else a
		 * table renamed into an audited table's old name, holding a row
		 * with one of its ids, would show that row's history.
		 */
		if (access == HISTORY_LIVE_ROW &&
			!live_row_is_logged(nsp, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), live))
			goto done;

		portal = open_history(access, nsp, PG_GETARG_DATUM(0),
							  PG_GETARG_DATUM(1), upto, suffix);
		for (;;)
		{
			CHECK_FOR_INTERRUPTS();
			SPI_cursor_fetch(portal, true, HISTORY_FETCH);
			if (SPI_processed == 0)
				break;
			consume(SPI_tuptable, SPI_processed, arg);
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
done:
		;
	}
	PG_FINALLY();
	{
		if (switched)
			SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	SPI_finish();
}

/* ame_record_history: every row into the result */
static void
store_rows(SPITupleTable *batch, uint64 n, void *arg)
{
	Tuplestorestate *store = (Tuplestorestate *) arg;

	for (uint64 i = 0; i < n; i++)
		tuplestore_puttuple(store, batch->vals[i]);
}

/* ame_record_at: the image of the one row fetched, unless it is a DELETE */
typedef struct RecordImage
{
	Datum		value;
	bool		isnull;
} RecordImage;

static void
keep_image(SPITupleTable *batch, uint64 n, void *arg)
{
	RecordImage *image = (RecordImage *) arg;
	char	   *operation;
	Datum		value;
	bool		isnull;

	if (n == 0)
		return;
	operation = SPI_getvalue(batch->vals[0], batch->tupdesc, 2);
	if (operation == NULL || strcmp(operation, "DELETE") == 0)
		return;
	value = SPI_getbinval(batch->vals[0], batch->tupdesc, 5, &isnull);
	if (isnull)
		return;
	/* into the function's own memory, which outlives SPI_finish() */
	image->value = SPI_datumTransfer(value, false, -1);
	image->isnull = false;
}

/*
 * ame_record_history(tbl regclass, record uuid) RETURNS TABLE (seq bigint,
 *		operation text, changed_fields text[], old_values jsonb,
 *		new_values jsonb, user_id uuid, performed_at timestamptz,
 *		context jsonb)
 *		The log rows of one record, in order, for a caller who may see it.
 */
Datum
ame_record_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	check_args(fcinfo, 2, "ame_record_history");
	InitMaterializedSRF(fcinfo, 0);
	read_history(fcinfo, TimestampTzGetDatum(DT_NOEND), "",
				 store_rows, rsinfo->setResult);
	return (Datum) 0;
}

/*
 * ame_record_at(tbl regclass, record uuid, at timestamptz) RETURNS jsonb
 *		The record as it was at that time (the new_values of its last change
 *		up to then; NULL before it existed and after it was deleted), for a
 *		caller who may see it.
 */
Datum
ame_record_at(PG_FUNCTION_ARGS)
{
	RecordImage image = {(Datum) 0, true};

	check_args(fcinfo, 3, "ame_record_at");
	/* the last change up to "at" that made an image (not a redaction) */
	read_history(fcinfo, PG_GETARG_DATUM(2),
				 " WHERE h.operation OPERATOR(pg_catalog.=) ANY "
				 "('{INSERT,UPDATE,DELETE}'::pg_catalog.text[]) "
				 "ORDER BY h.seq DESC LIMIT 1",
				 keep_image, &image);
	if (image.isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(image.value);
}
