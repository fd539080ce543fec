/*-------------------------------------------------------------------------
 *
 * audit_redact.c
 *	  ame_redact_audit(): the GDPR erasure path of the audit log.  Every
 *	  image of one record gets the JSON string "[redacted]" for the
 *	  columns named, and the redaction itself is logged as a REDACT row.
 *	  Besides the purge, the only way to alter the log: the append-only
 *	  guard (audit_log.c) lets the UPDATEs through only while
 *	  ame_audit_redacting is set, around this function's own statements.
 *
 * The UPDATEs go through SPI on the log as a whole (a plain or a
 * partitioned table alike), every name qualified, every operator
 * OPERATOR(pg_catalog.x).  A record is found as its history is: by its id
 * and the table's schema and name (and those of its partitions, under
 * which a partitioned table's rows are logged), so a record of another
 * table with the same id is never touched.
 *
 * The REDACT row: operation 'REDACT'; changed_fields the redacted
 * columns (in column order); old_values NULL; new_values the record's
 * latest image, as redacted (NULL once it was deleted), so that
 * ame_record_at() still rebuilds the record after the redaction; user_id
 * and context as for any change, the context with a "redaction" object
 * {"reason": ..., "images": n}.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"

#define REDACTED	"\"[redacted]\""

/* the guard lets UPDATEs through while this is set (see audit_log.c) */
bool		ame_audit_redacting = false;

typedef struct RedactColumn
{
	char	   *name;
	AttrNumber	attnum;
} RedactColumn;

static RedactColumn *redact_columns(Oid relid, ArrayType *arr, int *ncols);
static int	column_order(const void *a, const void *b);
static uint64 redact_record(const char *log, Datum *args, Oid *argtypes);
static uint64 redact_images(const char *log, const char *image, Datum *args,
							Oid *argtypes);
static Jsonb *redact_context(const AmeIdentity *id, const char *reason,
							 uint64 images);

PG_FUNCTION_INFO_V1(ame_redact_audit);

/*
 * ame_redact_audit(tbl regclass, record_id uuid, columns text[],
 *					reason text) RETURNS bigint
 *		Redact those columns in every image of the record; log a REDACT
 *		row; return how many images (old_values and new_values counted
 *		apart) changed.  Owner only.
 */
Datum
ame_redact_audit(PG_FUNCTION_ARGS)
{
	Oid			relid;
	pg_uuid_t  *record;
	char	   *reason;
	const char *p;
	char		relkind;
	char	   *relname;
	RedactColumn *cols;
	int			ncols;
	Oid			nspid;
	char	   *nspname;
	Oid			logrelid;
	Oid			seqid;
	Oid			auditfn;
	char	   *log;
	Datum	   *names;
	Datum		args[4];
	Oid			argtypes[4] = {UUIDOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	bool		audited;
	bool		isnull;
	uint64		images = 0;
	Jsonb	   *latest = NULL;
	StringInfoData sql;
	int			rc;
	int			i;

	ame_require_owner("ame_redact_audit");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record_id must not be NULL")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns must not be NULL")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason must not be NULL"),
				 errhint("Say why the values are erased, for example the request's reference.")));
	relid = PG_GETARG_OID(0);
	record = PG_GETARG_UUID_P(1);
	reason = text_to_cstring(PG_GETARG_TEXT_PP(3));
	for (p = reason; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason must not be empty"),
				 errhint("Say why the values are erased, for example the request's reference.")));

	/* the table, kept from being dropped or altered meanwhile */
	LockRelationOid(relid, AccessShareLock);
	relkind = get_rel_relkind(relid);
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a table", relname)));

	cols = redact_columns(relid, PG_GETARG_ARRAYTYPE_P(2), &ncols);

	nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
	nspname = get_namespace_name(nspid);
	logrelid = get_relname_relid(LOG_NAME, nspid);
	seqid = get_relname_relid(LOG_SEQ_NAME, nspid);
	if (!OidIsValid(logrelid) || !OidIsValid(seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit log \"%s.%s\" or its sequence does not exist",
						nspname, LOG_NAME)));
	auditfn = LookupFuncName(list_make2(makeString(nspname),
										makeString(AUDIT_FUNCNAME)),
							 0, NULL, false);
	log = quote_qualified_identifier(nspname, LOG_NAME);

	names = palloc(ncols * sizeof(Datum));
	for (i = 0; i < ncols; i++)
		names[i] = CStringGetTextDatum(cols[i].name);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * The names the record's rows are logged under: the table's, and its
	 * partitions' (a partitioned table's rows are logged by partition);
	 * and whether any of them is audited now.
	 */
	args[0] = ObjectIdGetDatum(relid);
	args[1] = ObjectIdGetDatum(auditfn);
	rc = SPI_execute_with_args("SELECT pg_catalog.array_agg(n.nspname::pg_catalog.text),"
							   " pg_catalog.array_agg(c.relname::pg_catalog.text),"
							   " pg_catalog.bool_or(EXISTS (SELECT FROM pg_catalog.pg_trigger t"
							   "   WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid"
							   "     AND t.tgfoid OPERATOR(pg_catalog.=) $2))"
							   " FROM (SELECT $1 AS relid UNION"
							   "       SELECT p.relid FROM pg_catalog.pg_partition_tree($1) p) r"
							   " JOIN pg_catalog.pg_class c"
							   "   ON c.oid OPERATOR(pg_catalog.=) r.relid::pg_catalog.oid"
							   " JOIN pg_catalog.pg_namespace n"
							   "   ON n.oid OPERATOR(pg_catalog.=) c.relnamespace",
							   2, (Oid[]) {REGCLASSOID, OIDOID}, args, NULL,
							   true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_with_args returned %s",
			 SPI_result_code_string(rc));
	args[0] = UUIDPGetDatum(record);
	args[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	args[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	audited = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 3, &isnull));
	if (isnull)
		elog(ERROR, "table %u has no name", relid);
	args[3] = PointerGetDatum(construct_array(names, ncols, TEXTOID, -1,
											  false, TYPALIGN_INT));

	/* a table never audited (nor this record logged under it) */
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT FROM %s l"
					 " WHERE l.record_id OPERATOR(pg_catalog.=) $1"
					 "   AND EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) t(s, n)"
					 "     WHERE l.table_schema OPERATOR(pg_catalog.=) t.s"
					 "       AND l.table_name OPERATOR(pg_catalog.=) t.n)"
					 " LIMIT 1", log);
	if (!audited)
	{
		rc = SPI_execute_with_args(sql.data, 3, argtypes, args, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args returned %s",
				 SPI_result_code_string(rc));
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is not audited", relname),
					 errdetail("It has no audit trigger, and the audit log holds nothing of record %s under its name.",
							   DatumGetCString(DirectFunctionCall1(uuid_out,
																   UUIDPGetDatum(record)))),
					 errhint("ame_audited_tables lists the audited tables.")));
	}

	images = redact_record(log, args, argtypes);

	/* the record's latest image, as it is now, for the REDACT row */
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT CASE WHEN l.operation OPERATOR(pg_catalog.=) 'DELETE'"
					 "  THEN NULL ELSE l.new_values END"
					 " FROM %s l"
					 " WHERE l.record_id OPERATOR(pg_catalog.=) $1"
					 "   AND EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) t(s, n)"
					 "     WHERE l.table_schema OPERATOR(pg_catalog.=) t.s"
					 "       AND l.table_name OPERATOR(pg_catalog.=) t.n)"
					 " ORDER BY l.seq DESC LIMIT 1", log);
	rc = SPI_execute_with_args(sql.data, 3, argtypes, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			latest = DatumGetJsonbP(SPI_datumTransfer(d, false, -1));
	}
	SPI_finish();

	/* the REDACT row, written as the trigger writes its rows */
	{
		AuditWriter *w = ame_audit_writer(logrelid, seqid);
		const AmeIdentity *identity = ame_identity_lookup();
		Datum		values[LOG_NCOLS];
		bool		nulls[LOG_NCOLS];
		pg_uuid_t  *logid = palloc(sizeof(pg_uuid_t));

		memset(nulls, false, sizeof(nulls));
		ame_audit_uuid_v7(logid);
		values[LOG_ID] = UUIDPGetDatum(logid);
		values[LOG_SCHEMA] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(relid)));
		values[LOG_TABLE] = CStringGetTextDatum(relname);
		values[LOG_RECORD] = UUIDPGetDatum(record);
		values[LOG_OPERATION] = CStringGetTextDatum("REDACT");
		nulls[LOG_OLD] = true;
		if (latest)
			values[LOG_NEW] = JsonbPGetDatum(latest);
		else
			nulls[LOG_NEW] = true;
		values[LOG_CHANGED] = PointerGetDatum(construct_array(names, ncols,
															  TEXTOID, -1, false,
															  TYPALIGN_INT));
		if (identity->status == AME_IDENTITY_OK)
		{
			pg_uuid_t  *userid = palloc(sizeof(pg_uuid_t));

			memcpy(userid, &identity->uuid, sizeof(pg_uuid_t));
			values[LOG_USER] = UUIDPGetDatum(userid);
		}
		else
			nulls[LOG_USER] = true;
		values[LOG_PERFORMED] =
			TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		values[LOG_SEQ] = Int64GetDatum(nextval_internal(seqid, false));
		values[LOG_CONTEXT] = JsonbPGetDatum(redact_context(identity, reason,
															images));
		ame_audit_write_row(w, values, nulls);
	}

	PG_RETURN_INT64((int64) images);
}

/*
 * redact_columns
 *		The columns to redact, checked against the table as it is now
 *		(none unknown, no "id", no NULL, none twice), in column order.
 */
static RedactColumn *
redact_columns(Oid relid, ArrayType *arr, int *ncols)
{
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	RedactColumn *cols;
	int			i;
	int			j;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elemnulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns must not be empty"),
				 errhint("Name the columns whose values are to be erased.")));

	cols = palloc(n * sizeof(RedactColumn));
	for (i = 0; i < n; i++)
	{
		char	   *name;
		AttrNumber	attnum = InvalidAttrNumber;

		CHECK_FOR_INTERRUPTS();
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("columns must not contain NULL")));
		name = TextDatumGetCString(elems[i]);
		if (strlen(name) < NAMEDATALEN)
			attnum = get_attnum(relid, name);
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" does not exist",
							name, get_rel_name(relid))));
		if (strcmp(name, "id") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"id\" cannot be redacted"),
					 errdetail("A record's history is kept by its \"id\".")));
		for (j = 0; j < i; j++)
			if (cols[j].attnum == attnum)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is listed twice", name)));
		cols[i].name = name;
		cols[i].attnum = attnum;
	}
	qsort(cols, n, sizeof(RedactColumn), column_order);
	*ncols = n;
	return cols;
}

static int
column_order(const void *a, const void *b)
{
	AttrNumber	x = ((const RedactColumn *) a)->attnum;
	AttrNumber	y = ((const RedactColumn *) b)->attnum;

	return (x > y) - (x < y);
}

/*
 * redact_record
 *		Redact both images of the record's rows, with the guard's exception
 *		on only meanwhile: an error resets it.
 */
static uint64
redact_record(const char *log, Datum *args, Oid *argtypes)
{
	volatile uint64 images = 0;

	ame_audit_redacting = true;
	PG_TRY();
	{
		images = redact_images(log, "old_values", args, argtypes);
		images += redact_images(log, "new_values", args, argtypes);
	}
	PG_FINALLY();
	{
		ame_audit_redacting = false;
	}
	PG_END_TRY();
	return images;
}

/*
 * redact_images
 *		Redact one image column (old_values or new_values) of the record's
 *		rows; return how many changed.  An image changes when it has one of
 *		the columns with a value not yet "[redacted]"; every listed column
 *		it has is then redacted.  args: $1 the record, $2/$3 the schema and
 *		table names it is logged under, $4 the columns.
 */
static uint64
redact_images(const char *log, const char *image, Datum *args, Oid *argtypes)
{
	StringInfoData sql;
	int			rc;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "UPDATE %s l SET %s = l.%s OPERATOR(pg_catalog.||)"
					 " (SELECT pg_catalog.jsonb_object_agg(k.k, '" REDACTED "'::pg_catalog.jsonb)"
					 "  FROM pg_catalog.unnest($4) k(k)"
					 "  WHERE l.%s OPERATOR(pg_catalog.?) k.k)"
					 " WHERE l.record_id OPERATOR(pg_catalog.=) $1"
					 "   AND EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) t(s, n)"
					 "     WHERE l.table_schema OPERATOR(pg_catalog.=) t.s"
					 "       AND l.table_name OPERATOR(pg_catalog.=) t.n)"
					 "   AND EXISTS (SELECT FROM pg_catalog.unnest($4) k(k)"
					 "     WHERE (l.%s OPERATOR(pg_catalog.->) k.k)"
					 "       OPERATOR(pg_catalog.<>) '" REDACTED "'::pg_catalog.jsonb)",
					 log, image, image, image, image);
	rc = SPI_execute_with_args(sql.data, 4, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args returned %s",
			 SPI_result_code_string(rc));
	pfree(sql.data);
	return SPI_processed;
}

/*
 * redact_context
 *		The context of any log row, with a "redaction" object: the reason
 *		and how many images changed.
 */
static Jsonb *
redact_context(const AmeIdentity *id, const char *reason, uint64 images)
{
	Jsonb	   *context = ame_audit_build_context(id);
	JsonbParseState *ps = NULL;
	JsonbValue	v;
	Jsonb	   *extra;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	v.type = jbvString;
	v.val.string.val = "redaction";
	v.val.string.len = strlen("redaction");
	pushJsonbValue(&ps, WJB_KEY, &v);
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	v.val.string.val = "images";
	v.val.string.len = strlen("images");
	pushJsonbValue(&ps, WJB_KEY, &v);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric((int64) images);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	v.type = jbvString;
	v.val.string.val = "reason";
	v.val.string.len = strlen("reason");
	pushJsonbValue(&ps, WJB_KEY, &v);
	v.val.string.val = (char *) reason;
	v.val.string.len = strlen(reason);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	extra = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));

	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(context),
											  JsonbPGetDatum(extra)));
}
