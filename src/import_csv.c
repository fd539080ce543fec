/*-------------------------------------------------------------------------
 *
 * import_csv.c
 *	  CSV import of customers, technicians and devices: every record is
 *	  either imported, through the table's triggers, constraints, indexes
 *	  and foreign keys as any INSERT, or recorded in import_errors with the
 *	  reason -- never both, never neither -- unless a BEFORE ROW trigger
 *	  suppresses it, which counts it as skipped.
 *
 *	  ame_import_csv(text, import_type, source_file)        data in a string
 *	  ame_import_csv_bytes(bytea, import_type, source_file) raw bytes
 *	  ame_import_csv_file(path, import_type)                a server file
 *
 * and, for ame_import_csv_file_chunked() (import_chunked.c), one chunk of
 * a server file: from a byte offset, at most so many records, the batch's
 * counts and resume point written in the same transaction.
 *
 * One parser (csv_parser.c) serves all of them.  A batch row in
 * import_batches is written first; a bad header fails the batch (the
 * function still returns normally, so the failed batch stays on record).
 * Each returns the batch's row as it stands at the end.
 *
 * Progress is reported as COPY FROM reports it (pg_stat_progress_copy),
 * plus, in parameter slots COPY does not use, a marker, the batch id and
 * the counts that COPY has no column for; ame_import_progress() reads
 * them back by batch id (see compat.h for the slots).
 *
 * Speed.  Rows are inserted the way COPY inserts them -- straight through
 * the executor: BEFORE ROW triggers, constraints, heap insert, index
 * entries, AFTER ROW triggers -- in chunks of up to a few thousand rows,
 * each chunk in one subtransaction.  What can be known to fail is caught
 * in C before the executor: broken CSV, invalid UTF-8, oversized fields
 * and unknown customer numbers are recorded directly; rows that look
 * wrong ("suspects": a bad service tier, a missing required value, a
 * malformed date, a customer number seen before in the file, ...) are
 * inserted alone in a nested subtransaction, so that their error, if any,
 * is the real one and costs only that row.  When a row of a chunk fails
 * anyway, the chunk is rolled back, the row is recorded, and the chunk's
 * good rows are inserted again from their raw bytes; the chunk size then
 * shrinks, and grows back while chunks succeed.
 *
 * Triggers, as COPY FROM fires them.  The import is one statement towards
 * the target: its BEFORE STATEMENT INSERT triggers fire once before the
 * first row, its AFTER STATEMENT ones once after the last, in an AFTER
 * trigger query level of the import's own that spans every chunk (so a
 * chunk's retry fires neither again).  ROW triggers fire with each row,
 * an AFTER ROW trigger at the end of its row so that its error belongs to
 * that row.  A statement trigger's transition table gets each row when
 * its chunk commits, never a row of a chunk that was rolled back.  A row
 * that a BEFORE ROW trigger suppresses is counted as skipped.
 *
 * Error rows are queued and written after their chunk has been committed
 * or rolled back, in the batch's own transaction, as the extension's
 * owner (the caller needs no right on the bookkeeping tables; the INSERT
 * into the target table runs as the caller and needs the caller's right).
 *
 * Only errors that depend on the row's data are recorded (classes 22, 23,
 * 54, 09, 27, 2F, 38 and P0: data exceptions, constraint violations,
 * trigger RAISEs ...).  Anything else -- query cancel, a deadlock, out of
 * memory, a missing privilege -- aborts the import as it would any
 * statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <sys/stat.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "rewrite/rewriteHandler.h"
#include "storage/fd.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "ame.h"
#include "csv_parser.h"
#include "import.h"

/* GUC ame.import_max_field_size: bytes per field (54000 beyond) */
int			ame_import_max_field_size = 1024 * 1024;

#define MAX_EXTRA_FIELDS	64		/* extra fields of a ragged record kept */
#define MIN_CHUNK			16
#define FIRST_CHUNK			256
#define MAX_CHUNK			8192
#define MAX_CHUNK_BYTES		(8 * 1024 * 1024)
#define PROGRESS_EVERY		1024

/* what a column of an import type holds */
typedef enum ColKind
{
	COL_PLAIN,					/* the value, through the type's input */
	COL_CUSTOMER				/* a customer number, looked up to its id */
} ColKind;

/* the checks that mark a row as a suspect */
typedef enum ColCheck
{
	CHK_NONE,
	CHK_REQUIRED_TEXT,			/* NOT NULL, not blank */
	CHK_TIER,
	CHK_EMAIL,
	CHK_PHONE,
	CHK_DATE,
	CHK_UNIQUE_TEXT,			/* unique: seen before in this file? */
	CHK_UUID_UNIQUE,
	CHK_BOOL_NOT_NULL,
	CHK_INET,
	CHK_TIMESTAMP
} ColCheck;

typedef struct ColumnSpec
{
	const char *name;			/* in the header */
	const char *attname;		/* in the table */
	bool		required;
	ColKind		kind;
	ColCheck	check;
} ColumnSpec;

struct ImportType
{
	const char *name;
	const char *relname;
	int			ncolumns;
	const ColumnSpec *columns;
};

static const ColumnSpec customer_columns[] = {
	{"company_name", "company_name", true, COL_PLAIN, CHK_REQUIRED_TEXT},
	{"service_tier", "service_tier", true, COL_PLAIN, CHK_TIER},
	{"customer_number", "customer_number", false, COL_PLAIN, CHK_UNIQUE_TEXT},
	{"site_name", "site_name", false, COL_PLAIN, CHK_NONE},
	{"site_address", "site_address", false, COL_PLAIN, CHK_NONE},
	{"primary_contact", "primary_contact", false, COL_PLAIN, CHK_NONE},
	{"phone", "phone", false, COL_PLAIN, CHK_PHONE},
	{"email", "email", false, COL_PLAIN, CHK_EMAIL},
	{"system_type", "system_type", false, COL_PLAIN, CHK_NONE},
	{"contract_start_date", "contract_start_date", false, COL_PLAIN, CHK_DATE},
	{"contract_end_date", "contract_end_date", false, COL_PLAIN, CHK_DATE},
};

static const ColumnSpec technician_columns[] = {
	{"name", "name", true, COL_PLAIN, CHK_REQUIRED_TEXT},
	{"email", "email", false, COL_PLAIN, CHK_NONE},
	{"phone", "phone", false, COL_PLAIN, CHK_NONE},
	{"user_id", "user_id", false, COL_PLAIN, CHK_UUID_UNIQUE},
	{"is_active", "is_active", false, COL_PLAIN, CHK_BOOL_NOT_NULL},
};

static const ColumnSpec device_columns[] = {
	{"customer_number", "customer_id", true, COL_CUSTOMER, CHK_NONE},
	{"device_name", "device_name", true, COL_PLAIN, CHK_REQUIRED_TEXT},
	{"device_type", "device_type", false, COL_PLAIN, CHK_NONE},
	{"vendor", "vendor", false, COL_PLAIN, CHK_NONE},
	{"model", "model", false, COL_PLAIN, CHK_NONE},
	{"firmware_version", "firmware_version", false, COL_PLAIN, CHK_NONE},
	{"ip_address", "ip_address", false, COL_PLAIN, CHK_INET},
	{"status", "status", false, COL_PLAIN, CHK_NONE},
	{"last_seen", "last_seen", false, COL_PLAIN, CHK_TIMESTAMP},
};

static const ImportType import_types[] = {
	{"customers", "ame_customers", lengthof(customer_columns), customer_columns},
	{"technicians", "ame_technicians", lengthof(technician_columns), technician_columns},
	{"devices", "device_inventory", lengthof(device_columns), device_columns},
};

/* a header column, mapped to the table */
typedef struct HeaderColumn
{
	char	   *name;			/* normalized header name */
	const ColumnSpec *spec;
	AttrNumber	attnum;
	Oid			typid;
	FmgrInfo	infunc;
	Oid			ioparam;
	int32		typmod;
} HeaderColumn;

typedef enum RowState
{
	ROW_PENDING,				/* to be inserted (again) */
	ROW_DONE,					/* inserted in the open chunk */
	ROW_SKIPPED,				/* suppressed by a BEFORE ROW trigger */
	ROW_FAILED					/* recorded in the error queue */
} RowState;

/* a data record of the current chunk */
typedef struct PendingRow
{
	int64		row_number;
	int64		line;
	const char *raw;
	size_t		raw_len;
	RowState	state;
	bool		suspect;
	bool		retried;
	bool		generated_number;	/* customers: no customer_number given */
	bool		has_customer;
	pg_uuid_t	customer_id;
	ItemPointerData tid;		/* where it was inserted (ROW_DONE) */
} PendingRow;

/* an error row waiting for its chunk to end */
typedef struct QueuedError
{
	int64		row_number;
	int64		line;
	char		sqlstate[6];
	char	   *message;
	char	   *raw_data;		/* JSON text */
	const char *raw;
	size_t		raw_len;
} QueuedError;

/* an executor set-up for inserting into the target */
typedef struct Target
{
	MemoryContext cxt;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	BulkInsertState bistate;
	int			ndefaults;
	AttrNumber *default_attnums;
	ExprState **default_states;
} Target;

typedef struct ImportState
{
	const ImportType *type;
	Oid			nspid;
	Oid			relid;
	Relation	rel;
	Oid			owner;			/* owns the bookkeeping tables */
	Datum		batch_id;

	MemoryContext caller;		/* where the result goes */
	MemoryContext cxt;			/* lives for the call */
	MemoryContext chunkcxt;		/* reset when a chunk ends */
	MemoryContext rowcxt;		/* reset for every record */
	MemoryContext errcxt;		/* caught errors */
	ResourceOwner owner_at_start;

	/* header */
	int			ncols;
	HeaderColumn *cols;
	int			field_of[16];	/* ColumnSpec index -> header index, or -1 */
	List	   *default_exprs;	/* planned defaults of the other columns */
	List	   *default_attnums;

	/* SPI plans */
	SPIPlanPtr	error_plan;
	SPIPlanPtr	lookup_plan;

	/* duplicates within the file: a Bloom filter of unique keys */
	uint8	   *bloom;
	uint64		bloom_mask;

	/* the import as one INSERT statement, for the statement triggers */
	Target	   *stmt;
	TransitionCaptureState *capture;	/* transition tables, or NULL */
	ResultRelInfo *capture_rri;	/* the target without its triggers */

	/* the chunk */
	bool		chunk_open;
	Target	   *target;
	Target	   *solo;
	PendingRow *rows;
	int			nrows;
	int			rows_cap;
	int			next;			/* first row chunk_run has not done */
	QueuedError *errors;
	int			nerrors;
	int			errors_cap;
	Size		chunk_bytes;
	int			chunk_limit;
	bool		chunk_failed;

	/* the record being read, for the row just appended */
	CsvRecord  *cur_rec;
	int			cur_index;

	/* counts */
	int64		total;
	int64		success;
	int64		failed;
	int64		skipped;
	CsvParser  *parser;
	bool		stream;
	int			progress_type;
	uint64		total_bytes;

	/* one chunk of a chunked import, or NULL */
	ImportChunk *chunk;
	uint64		offset_base;	/* input offset where the parser began */
	int64		line_base;		/* lines before it */
	Datum		result;			/* the batch's row, at the end */
} ImportState;

static Datum run_import(Oid nspid, const ImportType *type,
						const char *source_file, ImportSource *src,
						ImportChunk *chunk);
static CsvParser *make_parser(ImportState *st, ImportSource *src,
							  bool skip_bom);
static void *csv_palloc(void *arg, void *ptr, size_t size);
static void csv_pfree(void *arg, void *ptr);
static size_t file_read(void *arg, char *buf, size_t size);
static void prepare_plans(ImportState *st);
static Datum insert_batch(ImportState *st, const char *source_file);
static void finish_batch(ImportState *st, const char *status,
						 const char *message);
static int64 rec_line(ImportState *st, CsvRecord *rec);
static uint64 input_offset(ImportState *st);
static void run_as_owner_spi(ImportState *st, SPIPlanPtr plan,
							 Datum *values, const char *nulls, int expect);
static char *read_header(ImportState *st);
static void plan_defaults(ImportState *st);
static void check_triggers(ImportState *st);
static bool trigger_fires(Trigger *trigger);
static void statement_begin(ImportState *st);
static void statement_end(ImportState *st);
static void capture_row(ImportState *st, PendingRow *row);
static void import_records(ImportState *st);
static void handle_record(ImportState *st, CsvRecord *rec);
static bool record_error(ImportState *st, CsvRecord *rec, char *sqlstate,
						 char **message);
static bool is_suspect(ImportState *st, CsvRecord *rec, PendingRow *row);
static bool lookup_customer(ImportState *st, const char *number, size_t len,
							pg_uuid_t *id);
static void chunk_run(ImportState *st);
static void process_row(ImportState *st, PendingRow *row);
static void insert_suspect(ImportState *st, PendingRow *row,
						   CsvRecord *rec);
static void chunk_begin(ImportState *st, MemoryContext back);
static void chunk_commit(ImportState *st, MemoryContext back);
static ErrorData *catch_row_error(ImportState *st, MemoryContext back);
static void chunk_finish(ImportState *st);
static Target *target_open(ImportState *st, bool rows);
static void target_close(Target *t);
static bool insert_row(ImportState *st, Target *t, PendingRow *row,
					   CsvRecord *rec);
static CsvRecord *parse_raw(ImportState *st, const char *raw, size_t len);
static void queue_error(ImportState *st, int64 row_number, int64 line,
						const char *sqlstate, const char *message,
						CsvRecord *rec, const char *raw, size_t raw_len);
static void queue_exec_error(ImportState *st, PendingRow *row,
							 ErrorData *edata);
static char *raw_data_json(ImportState *st, CsvRecord *rec);
static void flush_errors(ImportState *st);
static bool is_row_error(int sqlerrcode);
static void progress_start(ImportState *st);
static void progress_update(ImportState *st);
static bool bloom_seen(ImportState *st, const char *key, size_t len);
static void trim_span(const char **s, size_t *len);
static bool field_value(CsvRecord *rec, int field, const char **s,
						size_t *len);

PG_FUNCTION_INFO_V1(ame_import_csv_inline);
PG_FUNCTION_INFO_V1(ame_import_csv_file);

/*
 * ame_import_define_gucs
 *		Called from _PG_init.
 */
void
ame_import_define_gucs(void)
{
	DefineCustomIntVariable("ame.import_max_field_size",
							"Largest CSV field, in bytes, that ame's import accepts.",
							"A longer field makes its record an import error (54000).",
							&ame_import_max_field_size,
							1024 * 1024, 1024, 64 * 1024 * 1024,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}

/*
 * ame_import_csv(data text, import_type text, source_file text DEFAULT NULL)
 * ame_import_csv_bytes(data bytea, import_type text, source_file text DEFAULT NULL)
 *		RETURNS import_batches
 *		Both: text and bytea are the same varlena, and the parser checks
 *		the bytes as UTF-8 itself (bytea is the only client-side way to
 *		hand over invalid UTF-8 or NUL bytes).
 */
Datum
ame_import_csv_inline(PG_FUNCTION_ARGS)
{
	const ImportType *type;
	ImportSource src = {0};
	struct varlena *data;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"data\" must not be null")));
	type = ame_import_lookup_type(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	data = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	src.data = VARDATA_ANY(data);
	src.len = VARSIZE_ANY_EXHDR(data);
	src.total_bytes = src.len;
	return run_import(get_func_namespace(fcinfo->flinfo->fn_oid), type,
					  PG_ARGISNULL(2) ? "(inline)" : text_to_cstring(PG_GETARG_TEXT_PP(2)),
					  &src, NULL);
}

/*
 * ame_import_csv_file(path text, import_type text) RETURNS import_batches
 *		Reads a server file, as bytes, in windows of 64 kB.  Needs the
 *		privileges of pg_read_server_files.
 */
Datum
ame_import_csv_file(PG_FUNCTION_ARGS)
{
	const ImportType *type;
	ImportSource src = {0};
	char	   *path;
	struct stat st;
	Datum		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"path\" must not be null")));
	type = ame_import_lookup_type(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	ame_import_check_file_privilege();
	path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ame_import_open_file(path, &src, &st);
	result = run_import(get_func_namespace(fcinfo->flinfo->fn_oid), type,
						path, &src, NULL);
	FreeFile(src.file);
	return result;
}

/*
 * ame_import_check_file_privilege
 *		Reading server files takes the privileges of pg_read_server_files.
 */
void
ame_import_check_file_privilege(void)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to import from a server file"),
				 errdetail("Only roles with privileges of the \"%s\" role may read server files.",
						   "pg_read_server_files"),
				 errhint("Use ame_import_csv() or ame_import_csv_bytes() to pass the data from the client instead.")));
}

/*
 * ame_import_open_file
 *		Open a server file for reading (AllocateFile: closed at the end of
 *		the transaction if an error leaves it open), with its size.
 */
void
ame_import_open_file(const char *path, ImportSource *src, struct stat *st)
{
	src->file = AllocateFile(path, PG_BINARY_R);
	if (src->file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	if (fstat(fileno(src->file), st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (S_ISDIR(st->st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a directory", path)));
	src->path = path;
	src->total_bytes = (uint64) st->st_size;
}

/*
 * ame_import_chunk
 *		One chunk of a chunked import of a server file, in the current
 *		transaction; returns the batch's row.
 */
Datum
ame_import_chunk(Oid nspid, const ImportType *type, const char *path,
				 ImportSource *src, ImportChunk *chunk)
{
	return run_import(nspid, type, path, src, chunk);
}

/* The import type named, or error 22023. */
const ImportType *
ame_import_lookup_type(text *type)
{
	char	   *name;
	size_t		i;

	if (type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"import_type\" must not be null"),
				 errhint("Valid import types are customers, technicians and devices.")));
	name = text_to_cstring(type);
	for (i = 0; i < lengthof(import_types); i++)
		if (strcmp(name, import_types[i].name) == 0)
			return &import_types[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid import type \"%s\"", name),
			 errhint("Valid import types are customers, technicians and devices.")));
	pg_unreachable();
}

const char *
ame_import_type_name(const ImportType *type)
{
	return type->name;
}

/*
 * run_import
 *		The import proper, common to the entry points; with chunk, one
 *		chunk of a chunked import.  Returns the batch's row.
 */
static Datum
run_import(Oid nspid, const ImportType *type, const char *source_file,
		   ImportSource *src, ImportChunk *chunk)
{
	ImportState *st;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt;
	Oid			batches;
	HeapTuple	tup;
	char	   *header_error;
	Datum		result;

	cxt = AllocSetContextCreate(caller, "ame import", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	st = palloc0(sizeof(ImportState));
	st->type = type;
	st->caller = caller;
	st->cxt = cxt;
	st->chunkcxt = AllocSetContextCreate(cxt, "ame import chunk",
										 ALLOCSET_DEFAULT_SIZES);
	st->rowcxt = AllocSetContextCreate(cxt, "ame import row",
									   ALLOCSET_DEFAULT_SIZES);
	st->errcxt = AllocSetContextCreate(cxt, "ame import error",
									   ALLOCSET_DEFAULT_SIZES);
	st->owner_at_start = CurrentResourceOwner;
	st->chunk_limit = FIRST_CHUNK;
	st->total_bytes = src->total_bytes;
	st->stream = (src->file != NULL);
	st->progress_type = st->stream ? PROGRESS_COPY_TYPE_FILE : PROGRESS_COPY_TYPE_CALLBACK;
	st->chunk = chunk;

	/* everything lives in the extension's schema, whatever the search_path */
	st->nspid = nspid;
	st->relid = get_relname_relid(type->relname, st->nspid);
	batches = get_relname_relid("import_batches", st->nspid);
	if (!OidIsValid(st->relid) || !OidIsValid(batches))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s.%s\" does not exist",
						get_namespace_name(st->nspid),
						!OidIsValid(st->relid) ? type->relname : "import_batches"),
				 errhint("Reinstall the extension with DROP EXTENSION ame and CREATE EXTENSION ame.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(batches));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", batches);
	st->owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	/* the target stays locked until the end of the transaction */
	st->rel = table_open(st->relid, RowExclusiveLock);
	if (check_enable_rls(st->relid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot import into table \"%s\" with row-level security enabled",
						RelationGetRelationName(st->rel))));
	check_triggers(st);
	{
		List	   *indexes = RelationGetIndexList(st->rel);
		ListCell   *lc;

		/* so that every chunk's ExecOpenIndices finds the locks held */
		foreach(lc, indexes)
			LockRelationOid(lfirst_oid(lc), RowExclusiveLock);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
	prepare_plans(st);

	if (chunk != NULL)
	{
		/* the batch row exists; its counts go on from where they were */
		st->batch_id = chunk->batch_id;
		st->total = chunk->total;
		st->success = chunk->success;
		st->failed = chunk->failed;
		st->skipped = chunk->skipped;
	}
	else
		st->batch_id = insert_batch(st, source_file);

	st->parser = make_parser(st, src, true);
	progress_start(st);

	header_error = read_header(st);
	if (header_error != NULL)
	{
		finish_batch(st, "failed", header_error);
		if (chunk != NULL)
			chunk->done = true;
	}
	else
	{
		AclResult	aclresult;
		int			i;

		/* the caller inserts into the target with their own rights */
		if (pg_class_aclcheck(st->relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		{
			for (i = 0; i < st->ncols; i++)
			{
				aclresult = pg_attribute_aclcheck(st->relid, st->cols[i].attnum,
												  GetUserId(), ACL_INSERT);
				if (aclresult != ACLCHECK_OK)
					aclcheck_error(aclresult, OBJECT_TABLE,
								   RelationGetRelationName(st->rel));
			}
		}

		/* a chunk after the first: its records begin at the resume point */
		if (chunk != NULL && chunk->offset > 0)
		{
			if (chunk->offset > src->total_bytes ||
				fseeko(src->file, (off_t) chunk->offset, SEEK_SET) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not seek to offset %llu in file \"%s\": %m",
								(unsigned long long) chunk->offset, src->path)));
			csv_parser_destroy(st->parser);
			st->offset_base = chunk->offset;
			st->line_base = chunk->line - 1;
			st->parser = make_parser(st, src, false);
		}

		plan_defaults(st);
		statement_begin(st);
		import_records(st);
		statement_end(st);
		if (chunk != NULL && !chunk->done)
			finish_batch(st, "processing", NULL);
		else
			finish_batch(st, st->failed == 0 ? "completed" : "completed_with_errors",
						 NULL);
	}

	pgstat_progress_end_command();
	csv_parser_destroy(st->parser);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	table_close(st->rel, NoLock);

	MemoryContextSwitchTo(caller);
	result = st->result;
	MemoryContextDelete(cxt);
	return result;
}

/*
 * make_parser
 *		A parser over the source, from where its file stands (a chunk
 *		after the first begins after a BOM, so skips none).
 */
static CsvParser *
make_parser(ImportState *st, ImportSource *src, bool skip_bom)
{
	CsvOptions	opt;

	memset(&opt, 0, sizeof(opt));
	opt.realloc_fn = csv_palloc;
	opt.free_fn = csv_pfree;
	opt.alloc_arg = st->cxt;
	opt.max_field = (size_t) ame_import_max_field_size;
	opt.max_record = Min((size_t) ame_import_max_field_size * 16,
						 MaxAllocSize / 2);
	opt.max_fields = st->type->ncolumns + MAX_EXTRA_FIELDS;
	opt.skip_bom = skip_bom;
	if (src->file != NULL)
	{
		opt.read = file_read;
		opt.read_arg = src;
	}
	return csv_parser_create(&opt, src->data, src->len);
}

/* The input offset the parser has reached (after the record it returned). */
static uint64
input_offset(ImportState *st)
{
	return st->offset_base + (uint64) csv_parser_offset(st->parser);
}

/* The line where a record begins, counted from the start of the input. */
static int64
rec_line(ImportState *st, CsvRecord *rec)
{
	return st->line_base + (int64) rec->line;
}

/* allocation callbacks of the parser: palloc in the given context */
static void *
csv_palloc(void *arg, void *ptr, size_t size)
{
	if (ptr == NULL)
		return MemoryContextAlloc((MemoryContext) arg, size);
	return repalloc(ptr, size);
}

static void
csv_pfree(void *arg, void *ptr)
{
	pfree(ptr);
}

/* read callback of the parser for a server file */
static size_t
file_read(void *arg, char *buf, size_t size)
{
	ImportSource *src = (ImportSource *) arg;
	size_t		n;

	CHECK_FOR_INTERRUPTS();
	n = fread(buf, 1, size, src->file);
	if (n == 0 && ferror(src->file))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read from file \"%s\": %m", src->path)));
	return n;
}

/*
 * prepare_plans
 *		The SPI statements of the import, every name qualified with the
 *		extension's schema.
 */
static void
prepare_plans(ImportState *st)
{
	char	   *nsp = get_namespace_name(st->nspid);
	char	   *sql;
	Oid			error_types[7] = {UUIDOID, INT4OID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, BYTEAOID};
	Oid			lookup_types[1] = {TEXTOID};

	sql = psprintf("INSERT INTO %s (batch_id, row_number, line_number, sqlstate, error_message, raw_data, raw_record) "
				   "VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.jsonb, $7)",
				   quote_qualified_identifier(nsp, "import_errors"));
	st->error_plan = SPI_prepare(sql, 7, error_types);
	if (st->error_plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	if (st->type->columns[0].kind == COL_CUSTOMER)
	{
		sql = psprintf("SELECT id FROM %s WHERE customer_number OPERATOR(pg_catalog.=) $1",
					   quote_qualified_identifier(nsp, "ame_customers"));
		st->lookup_plan = SPI_prepare(sql, 1, lookup_types);
		if (st->lookup_plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
}

/*
 * run_as_owner_spi
 *		Execute a bookkeeping statement as the owner of the bookkeeping
 *		tables, whatever rights the caller has on them.
 */
static void
run_as_owner_spi(ImportState *st, SPIPlanPtr plan, Datum *values,
				 const char *nulls, int expect)
{
	ame_import_execute_as(st->owner, plan, values, nulls, expect);
}

/*
 * ame_import_execute_as
 *		Execute a prepared statement as the given role (the owner of the
 *		bookkeeping tables), back to the caller's identity whatever happens.
 */
void
ame_import_execute_as(Oid owner, SPIPlanPtr plan, Datum *values,
					  const char *nulls, int expect)
{
	Oid			save_userid;
	int			save_sec;
	volatile int rc = 0;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	if (rc != expect)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/* The batch row, status processing; returns its id. */
static Datum
insert_batch(ImportState *st, const char *source_file)
{
	char	   *sql;
	SPIPlanPtr	plan;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	Datum		id;
	MemoryContext old;

	sql = psprintf("INSERT INTO %s (source_file, import_type) VALUES ($1, $2) RETURNING id",
				   quote_qualified_identifier(get_namespace_name(st->nspid),
											  "import_batches"));
	plan = SPI_prepare(sql, 2, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	values[0] = CStringGetTextDatum(source_file);
	values[1] = CStringGetTextDatum(st->type->name);
	run_as_owner_spi(st, plan, values, NULL, SPI_OK_INSERT_RETURNING);
	if (SPI_processed != 1)
		elog(ERROR, "inserting the import batch returned %llu rows",
			 (unsigned long long) SPI_processed);
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(st->cxt);
	id = datumCopy(id, false, sizeof(pg_uuid_t));
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	SPI_freeplan(plan);
	return id;
}

/*
 * finish_batch
 *		Record the outcome (or, for a chunk, the counts and the resume
 *		point) in the batch row, and keep the row as the result.
 */
static void
finish_batch(ImportState *st, const char *status, const char *message)
{
	char	   *sql;
	SPIPlanPtr	plan;
	Oid			types[9] = {UUIDOID, TEXTOID, INT4OID, INT4OID, INT4OID, TEXTOID,
	INT4OID, INT8OID, INT8OID};
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', 'n', 'n'};
	bool		isnull;
	Datum		row;
	MemoryContext old;

	sql = psprintf("UPDATE %s AS b SET status = $2, total_records = $3, success_count = $4, "
				   "error_count = $5, error_message = $6, skipped_count = $7, "
				   "resume_offset = $8, resume_line = $9 "
				   "WHERE b.id OPERATOR(pg_catalog.=) $1 RETURNING b",
				   quote_qualified_identifier(get_namespace_name(st->nspid),
											  "import_batches"));
	plan = SPI_prepare(sql, 9, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	values[0] = st->batch_id;
	values[1] = CStringGetTextDatum(status);
	values[2] = Int32GetDatum((int32) Min(st->total, PG_INT32_MAX));
	values[3] = Int32GetDatum((int32) Min(st->success, PG_INT32_MAX));
	values[4] = Int32GetDatum((int32) Min(st->failed, PG_INT32_MAX));
	if (message != NULL)
		values[5] = CStringGetTextDatum(message);
	else
		nulls[5] = 'n';
	values[6] = Int32GetDatum((int32) Min(st->skipped, PG_INT32_MAX));
	if (st->chunk != NULL)
	{
		ImportChunk *c = st->chunk;

		/* where the chunk stopped: the next one begins there */
		c->total = st->total;
		c->success = st->success;
		c->failed = st->failed;
		c->skipped = st->skipped;
		values[7] = Int64GetDatum((int64) c->offset);
		values[8] = Int64GetDatum(c->line);
		nulls[7] = nulls[8] = ' ';
	}
	run_as_owner_spi(st, plan, values, nulls, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed != 1)
		elog(ERROR, "updating the import batch returned %llu rows",
			 (unsigned long long) SPI_processed);
	row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "updating the import batch returned no row");
	old = MemoryContextSwitchTo(st->caller);
	st->result = datumCopy(row, false, -1);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	SPI_freeplan(plan);
}

/*
 * read_header
 *		Map the header's columns; NULL when it is usable, else why not.
 */
static char *
read_header(ImportState *st)
{
	const ImportType *type = st->type;
	CsvRecord	rec;
	int			i;
	int			j;
	StringInfoData valid;

	initStringInfo(&valid);
	for (j = 0; j < type->ncolumns; j++)
		appendStringInfo(&valid, "%s%s", j > 0 ? ", " : "", type->columns[j].name);

	if (!csv_parser_next(st->parser, &rec))
		return pstrdup("the input is empty: a header line is required");
	if (rec.error == CSV_UNTERMINATED_QUOTE)
		return pstrdup("the header line has an unterminated quoted field");
	if (rec.error != CSV_OK || rec.nfields > type->ncolumns + MAX_EXTRA_FIELDS)
		return pstrdup("the header line is too long");

	for (j = 0; j < (int) lengthof(st->field_of); j++)
		st->field_of[j] = -1;
	st->ncols = rec.nfields;
	st->cols = palloc0(sizeof(HeaderColumn) * rec.nfields);
	for (i = 0; i < rec.nfields; i++)
	{
		const CsvField *f = &rec.fields[i];
		const char *raw = rec.data + f->offset;
		size_t		off;
		size_t		blen;
		char	   *name;
		int			spec = -1;

		if (!csv_utf8_check(raw, f->len, &off, &blen))
			return psprintf("the header line is not valid UTF-8 (column %d)", i + 1);
		name = palloc(f->len + 1);
		csv_normalize_name(raw, f->len, name);
		for (j = 0; j < type->ncolumns; j++)
			if (strcmp(name, type->columns[j].name) == 0)
				spec = j;
		if (spec < 0)
			return psprintf("unknown column \"%s\" in the header; the columns of import type \"%s\" are %s",
							name, type->name, valid.data);
		if (st->field_of[spec] >= 0)
			return psprintf("column \"%s\" appears more than once in the header", name);
		st->field_of[spec] = i;
		st->cols[i].name = name;
		st->cols[i].spec = &type->columns[spec];
	}
	for (j = 0; j < type->ncolumns; j++)
		if (type->columns[j].required && st->field_of[j] < 0)
			return psprintf("required column \"%s\" is missing from the header",
							type->columns[j].name);

	/* the table's side of each column */
	for (i = 0; i < st->ncols; i++)
	{
		HeaderColumn *col = &st->cols[i];
		Oid			infunc;

		col->attnum = get_attnum(st->relid, col->spec->attname);
		if (col->attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							col->spec->attname, RelationGetRelationName(st->rel)),
					 errhint("Reinstall the extension with DROP EXTENSION ame and CREATE EXTENSION ame.")));
		col->typid = TupleDescAttr(RelationGetDescr(st->rel), col->attnum - 1)->atttypid;
		col->typmod = TupleDescAttr(RelationGetDescr(st->rel), col->attnum - 1)->atttypmod;
		getTypeInputInfo(col->typid, &infunc, &col->ioparam);
		fmgr_info_cxt(infunc, &col->infunc, st->cxt);
	}

	/* a Bloom filter for unique keys given in the file */
	for (i = 0; i < st->ncols; i++)
		if (st->cols[i].spec->check == CHK_UNIQUE_TEXT ||
			st->cols[i].spec->check == CHK_UUID_UNIQUE)
		{
			uint64		bits = 1 << 16;

			while (bits < st->total_bytes * 2 && bits < (UINT64CONST(1) << 27))
				bits <<= 1;
			st->bloom = palloc0(bits / 8);
			st->bloom_mask = bits - 1;
		}
	return NULL;
}

/*
 * plan_defaults
 *		The default expressions of the columns the header does not give,
 *		planned once; each target instantiates them.
 */
static void
plan_defaults(ImportState *st)
{
	TupleDesc	desc = RelationGetDescr(st->rel);
	int			a;

	for (a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		Node	   *def;
		int			i;
		bool		given = false;

		if (att->attisdropped || att->attgenerated)
			continue;
		for (i = 0; i < st->ncols; i++)
			if (st->cols[i].attnum == att->attnum)
				given = true;
		if (given)
			continue;
		def = build_column_default(st->rel, att->attnum);
		if (def == NULL)
			continue;
		st->default_exprs = lappend(st->default_exprs,
									expression_planner((Expr *) def));
		st->default_attnums = lappend_int(st->default_attnums, att->attnum);
	}
}

/*
 * check_triggers
 *		Refuse a target whose triggers the import cannot fire as an INSERT
 *		would: a ROW trigger with a transition table sees the whole
 *		statement's rows from every row's AFTER event, which would mean
 *		holding every row's AFTER triggers to the end of the import, where
 *		their errors no longer belong to a row.
 */
static void
check_triggers(ImportState *st)
{
	TriggerDesc *trigdesc = st->rel->trigdesc;
	int			i;

	if (trigdesc == NULL)
		return;
	for (i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &trigdesc->triggers[i];

		if (TRIGGER_FOR_ROW(trigger->tgtype) &&
			TRIGGER_FOR_INSERT(trigger->tgtype) &&
			trigger->tgnewtable != NULL && trigger_fires(trigger))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot import into table \"%s\" with row-level transition-table trigger \"%s\"",
							RelationGetRelationName(st->rel), trigger->tgname),
					 errdetail("The import fires each row's AFTER ROW triggers at the end of that row, so that their errors belong to it."),
					 errhint("Make it a FOR EACH STATEMENT trigger, or disable it during the import.")));
	}
}

/* Whether a trigger fires in this session (its ENABLE mode and the role). */
static bool
trigger_fires(Trigger *trigger)
{
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return trigger->tgenabled == TRIGGER_FIRES_ON_REPLICA ||
			trigger->tgenabled == TRIGGER_FIRES_ALWAYS;
	return trigger->tgenabled == TRIGGER_FIRES_ON_ORIGIN ||
		trigger->tgenabled == TRIGGER_FIRES_ALWAYS;
}

/*
 * statement_begin
 *		Begin the import as one INSERT statement, as COPY FROM does: an
 *		AFTER trigger query level that spans every chunk, the transition
 *		tables if a statement trigger has one, and the BEFORE STATEMENT
 *		triggers, fired here once.  The executor set-up lives in the
 *		batch's transaction, outside the chunks.
 */
static void
statement_begin(ImportState *st)
{
	Target	   *t;

	st->stmt = t = target_open(st, false);
	AfterTriggerBeginQuery();
	if (t->rri->ri_TrigDesc != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);

		st->capture = MakeTransitionCaptureState(t->rri->ri_TrigDesc,
												 st->relid, CMD_INSERT);
		if (st->capture != NULL)
		{
			/*
			 * The rows reach the transition tables through a copy of the
			 * result relation without triggers: adding a row must not
			 * queue its AFTER ROW events a second time.
			 */
			st->capture_rri = makeNode(ResultRelInfo);
			memcpy(st->capture_rri, t->rri, sizeof(ResultRelInfo));
			st->capture_rri->ri_TrigDesc = NULL;
		}
		MemoryContextSwitchTo(old);
	}
	ExecBSInsertTriggers(t->estate, t->rri);
}

/*
 * statement_end
 *		Queue the AFTER STATEMENT triggers, with the transition tables, and
 *		fire them: once, after every row of every chunk.
 */
static void
statement_end(ImportState *st)
{
	Target	   *t = st->stmt;

	ExecASInsertTriggers(t->estate, t->rri, st->capture);
	AfterTriggerEndQuery(t->estate);
	st->capture = NULL;
	st->capture_rri = NULL;
	st->stmt = NULL;
	target_close(t);
}

/*
 * capture_row
 *		Add a row of a committed chunk to the transition tables: read back
 *		the version it was inserted as (whatever later rows' triggers did
 *		to it since).
 */
static void
capture_row(ImportState *st, PendingRow *row)
{
	Target	   *t = st->stmt;
	MemoryContext old;

	CHECK_FOR_INTERRUPTS();
	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(t->estate));
	if (!table_tuple_fetch_row_version(st->rel, &row->tid, SnapshotAny,
									   t->slot))
		elog(ERROR, "could not read back imported row (%u,%u) of relation \"%s\"",
			 ItemPointerGetBlockNumber(&row->tid),
			 ItemPointerGetOffsetNumber(&row->tid),
			 RelationGetRelationName(st->rel));
	ExecARInsertTriggers(t->estate, st->capture_rri, t->slot, NIL, st->capture);
	ExecClearTuple(t->slot);
	MemoryContextSwitchTo(old);
	ResetPerTupleExprContext(t->estate);
}

/*
 * import_records
 *		Read every data record and import it or record why not; for a
 *		chunk, up to its number of records, and note where it stopped.
 */
static void
import_records(ImportState *st)
{
	CsvRecord	rec;
	int64		first = st->total;

	st->rows_cap = 64;
	st->rows = MemoryContextAlloc(st->cxt, sizeof(PendingRow) * st->rows_cap);
	st->errors_cap = 64;
	st->errors = MemoryContextAlloc(st->cxt, sizeof(QueuedError) * st->errors_cap);

	PG_TRY();
	{
		for (;;)
		{
			MemoryContext old;

			if (st->chunk != NULL)
			{
				/* the next record begins here */
				st->chunk->offset = input_offset(st);
				st->chunk->line = st->line_base +
					(int64) csv_parser_lines(st->parser) + 1;
				if (st->total - first >= st->chunk->max_rows)
				{
					/* full: is there another record, for the next chunk? */
					if (!csv_parser_next(st->parser, &rec))
					{
						st->chunk->offset = input_offset(st);
						st->chunk->line = st->line_base +
							(int64) csv_parser_lines(st->parser) + 1;
						st->chunk->done = true;
					}
					break;
				}
			}
			if (!csv_parser_next(st->parser, &rec))
			{
				if (st->chunk != NULL)
				{
					/* the end: past any empty lines after the last record */
					st->chunk->offset = input_offset(st);
					st->chunk->line = st->line_base +
						(int64) csv_parser_lines(st->parser) + 1;
					st->chunk->done = true;
				}
				break;
			}
			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(st->rowcxt);
			handle_record(st, &rec);
			MemoryContextSwitchTo(old);
			MemoryContextReset(st->rowcxt);

			if (st->nrows + st->nerrors >= st->chunk_limit ||
				st->chunk_bytes >= MAX_CHUNK_BYTES)
				chunk_finish(st);
			else if ((st->total % PROGRESS_EVERY) == 0)
				progress_update(st);
		}
		chunk_finish(st);
	}
	PG_CATCH();
	{
		/*
		 * An error outside any row (query cancel between rows, a failed
		 * read, a customer lookup): roll back the open chunk before the
		 * error leaves, as PL/pgSQL does with its subtransactions.
		 */
		if (st->chunk_open)
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(st->errcxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			CurrentResourceOwner = st->owner_at_start;
			st->chunk_open = false;
			ReThrowError(edata);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * handle_record
 *		One data record: an error recorded directly, or a row of the chunk,
 *		inserted at once.
 */
static void
handle_record(ImportState *st, CsvRecord *rec)
{
	char		sqlstate[6];
	char	   *message;
	PendingRow *row;
	const char *raw = rec->raw;

	st->total++;
	{
		/* the record is read: another session sees it at once */
		const int	index[] = {PROGRESS_COPY_BYTES_PROCESSED, AME_PROGRESS_RECORDS_READ};
		int64		val[2];

		val[0] = (int64) input_offset(st);
		val[1] = st->total;
		pgstat_progress_update_multi_param(2, index, val);
	}
	if (record_error(st, rec, sqlstate, &message))
	{
		queue_error(st, st->total, rec_line(st, rec), sqlstate, message, rec,
					rec->raw, rec->raw_len);
		return;
	}

	/* the raw bytes outlive the parser's buffer until the chunk ends */
	if (st->stream)
	{
		char	   *copy = MemoryContextAlloc(st->chunkcxt, rec->raw_len + 1);

		memcpy(copy, rec->raw, rec->raw_len);
		raw = copy;
	}
	st->chunk_bytes += rec->raw_len + sizeof(PendingRow);

	if (st->nrows == st->rows_cap)
	{
		st->rows_cap *= 2;
		st->rows = repalloc(st->rows, sizeof(PendingRow) * st->rows_cap);
	}
	row = &st->rows[st->nrows];
	memset(row, 0, sizeof(PendingRow));
	row->row_number = st->total;
	row->line = rec_line(st, rec);
	row->raw = raw;
	row->raw_len = rec->raw_len;
	row->state = ROW_PENDING;

	/* a devices row names its customer by number */
	if (st->type->columns[0].kind == COL_CUSTOMER)
	{
		const char *s;
		size_t		len;

		if (field_value(rec, st->field_of[0], &s, &len))
		{
			trim_span(&s, &len);
			if (!lookup_customer(st, s, len, &row->customer_id))
			{
				queue_error(st, st->total, rec_line(st, rec), "23503",
							psprintf("customer number \"%s\" is not present in table \"ame_customers\"",
									 pnstrdup(s, len)),
							rec, rec->raw, rec->raw_len);
				return;
			}
			row->has_customer = true;
		}
	}

	row->suspect = is_suspect(st, rec, row);
	st->cur_rec = rec;
	st->cur_index = st->nrows;
	st->nrows++;
	chunk_run(st);
	st->cur_rec = NULL;
}

/*
 * record_error
 *		The errors found without the executor: broken CSV, a ragged record,
 *		a field too long, invalid UTF-8.  True, with the SQLSTATE and
 *		message, when the record has one.
 */
static bool
record_error(ImportState *st, CsvRecord *rec, char *sqlstate, char **message)
{
	int			i;

	switch (rec->error)
	{
		case CSV_OK:
			break;
		case CSV_UNTERMINATED_QUOTE:
			strcpy(sqlstate, "22P04");
			*message = pstrdup("unterminated CSV quoted field");
			return true;
		case CSV_RECORD_TOO_LONG:
			strcpy(sqlstate, "54000");
			*message = psprintf("record of %llu bytes is larger than %zu bytes (16 times \"ame.import_max_field_size\")",
								(unsigned long long) rec->raw_full_len,
								(size_t) ame_import_max_field_size * 16);
			return true;
		case CSV_FIELD_TOO_LONG:
			strcpy(sqlstate, "54000");
			*message = psprintf("field %d%s%s%s is %llu bytes, more than \"ame.import_max_field_size\" (%d bytes)",
								rec->error_field + 1,
								rec->error_field < st->ncols ? " (\"" : "",
								rec->error_field < st->ncols ? st->cols[rec->error_field].name : "",
								rec->error_field < st->ncols ? "\")" : "",
								(unsigned long long) rec->error_len,
								ame_import_max_field_size);
			return true;
	}

	for (i = 0; i < rec->nstored; i++)
	{
		const CsvField *f = &rec->fields[i];
		size_t		off;
		size_t		blen;

		if (!csv_utf8_check(rec->data + f->offset, f->len, &off, &blen))
		{
			StringInfoData buf;
			size_t		k;

			initStringInfo(&buf);
			for (k = 0; k < blen; k++)
				appendStringInfo(&buf, "%s0x%02x", k > 0 ? " " : "",
								 (unsigned char) rec->data[f->offset + off + k]);
			strcpy(sqlstate, "22021");
			*message = psprintf("invalid byte sequence for encoding \"UTF8\": %s (field %d%s%s%s)",
								buf.data, i + 1,
								i < st->ncols ? ", \"" : "",
								i < st->ncols ? st->cols[i].name : "",
								i < st->ncols ? "\"" : "");
			return true;
		}
	}

	if (rec->nfields != st->ncols)
	{
		strcpy(sqlstate, "22P04");
		*message = psprintf("record has %d field%s, the header has %d",
							rec->nfields, rec->nfields == 1 ? "" : "s",
							st->ncols);
		return true;
	}
	return false;
}

/* The field's bytes; false when the column is absent or the field NULL. */
static bool
field_value(CsvRecord *rec, int field, const char **s, size_t *len)
{
	const CsvField *f;

	if (field < 0 || field >= rec->nstored)
		return false;
	f = &rec->fields[field];
	if (CSV_FIELD_IS_NULL(f))
		return false;
	*s = rec->data + f->offset;
	*len = f->len;
	return true;
}

static void
trim_span(const char **s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char) **s))
	{
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char) (*s)[*len - 1]))
		(*len)--;
}

/* an ISO date YYYY-MM-DD that exists */
static bool
valid_iso_date(const char *s, size_t len)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y;
	int			m;
	int			d;
	size_t		i;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char) s[i]))
			return false;
	y = atoi(s);
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

/* the canonical 36-character form, in any case */
static bool
valid_uuid_text(const char *s, size_t len)
{
	size_t		i;

	if (len != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

/*
 * is_suspect
 *		Whether the row looks as if its insert would fail.  A suspect is
 *		inserted alone, in a subtransaction of its own; the checks only
 *		decide the way in, never the outcome, so they may err on both
 *		sides.
 */
static bool
is_suspect(ImportState *st, CsvRecord *rec, PendingRow *row)
{
	const ImportType *type = st->type;
	bool		suspect = false;
	int			j;

	if (type->columns[0].kind == COL_CUSTOMER && !row->has_customer)
		suspect = true;			/* NOT NULL customer_id */

	for (j = 0; j < type->ncolumns; j++)
	{
		const ColumnSpec *spec = &type->columns[j];
		const char *s = NULL;
		size_t		len = 0;
		bool		present = field_value(rec, st->field_of[j], &s, &len);

		if (present)
			trim_span(&s, &len);

		switch (spec->check)
		{
			case CHK_NONE:
				break;
			case CHK_REQUIRED_TEXT:
				if (!present || len == 0)
					suspect = true;
				break;
			case CHK_TIER:
				if (!present ||
					!((len == 4 && pg_strncasecmp(s, "CORE", 4) == 0) ||
					  (len == 6 && pg_strncasecmp(s, "ASSURE", 6) == 0) ||
					  (len == 8 && pg_strncasecmp(s, "GUARDIAN", 8) == 0)))
					suspect = true;
				break;
			case CHK_EMAIL:
				if (present && len > 0)
				{
					const char *at = memchr(s, '@', len);
					size_t		i;

					if (at == NULL || at == s || at == s + len - 1 ||
						memchr(at + 1, '@', len - (at + 1 - s)) != NULL)
						suspect = true;
					for (i = 0; i < len; i++)
						if ((unsigned char) s[i] <= ' ')
							suspect = true;
				}
				break;
			case CHK_PHONE:
				if (present && len > 0)
				{
					size_t		i;
					bool		digit = false;

					for (i = 0; i < len && !digit; i++)
						digit = isdigit((unsigned char) s[i]);
					if (!digit)
						suspect = true;
				}
				break;
			case CHK_DATE:
				if (present && !valid_iso_date(s, len))
					suspect = true;
				break;
			case CHK_UNIQUE_TEXT:
				if (present && len > 0)
				{
					if (bloom_seen(st, s, len))
						suspect = true;
				}
				else if (type->columns[0].kind == COL_PLAIN)
					row->generated_number = true;
				break;
			case CHK_UUID_UNIQUE:
				if (present)
				{
					char		key[36];
					size_t		i;

					if (!valid_uuid_text(s, len))
					{
						suspect = true;
						break;
					}
					for (i = 0; i < 36; i++)
						key[i] = pg_ascii_tolower(s[i]);
					if (bloom_seen(st, key, 36))
						suspect = true;
				}
				break;
			case CHK_BOOL_NOT_NULL:
				if (st->field_of[j] >= 0)
				{
					bool		b;

					if (!present || !parse_bool_with_len(s, len, &b))
						suspect = true;
				}
				break;
			case CHK_INET:
				if (present)
				{
					size_t		i;

					for (i = 0; i < len; i++)
						if (!isxdigit((unsigned char) s[i]) && s[i] != '.' &&
							s[i] != ':' && s[i] != '/')
							suspect = true;
				}
				break;
			case CHK_TIMESTAMP:
				if (present)
				{
					size_t		i;
					bool		digit = false;

					for (i = 0; i < len && !digit; i++)
						digit = isdigit((unsigned char) s[i]);
					if (!digit)
						suspect = true;
				}
				break;
		}
	}

	/* CHECK valid_contract_period, when both dates are plain ISO dates */
	if (type->columns == customer_columns)
	{
		const char *a;
		const char *b;
		size_t		alen;
		size_t		blen;

		if (field_value(rec, st->field_of[9], &a, &alen) &&
			field_value(rec, st->field_of[10], &b, &blen))
		{
			trim_span(&a, &alen);
			trim_span(&b, &blen);
			if (alen == 10 && blen == 10 && memcmp(b, a, 10) < 0)
				suspect = true;
		}
	}
	return suspect;
}

/* Test-and-set of a key in the Bloom filter: true if maybe seen before. */
static bool
bloom_seen(ImportState *st, const char *key, size_t len)
{
	uint64		h = hash_bytes_extended((const unsigned char *) key, (int) len, 0);
	uint64		h1 = h & 0xFFFFFFFF;
	uint64		h2 = (h >> 32) | 1;
	bool		seen = true;
	int			k;

	if (st->bloom == NULL)
		return false;
	for (k = 0; k < 4; k++)
	{
		uint64		bit = (h1 + k * h2) & st->bloom_mask;

		if ((st->bloom[bit >> 3] & (1 << (bit & 7))) == 0)
		{
			seen = false;
			st->bloom[bit >> 3] |= (1 << (bit & 7));
		}
	}
	return seen;
}

/*
 * lookup_customer
 *		The id of the customer with this number, as the caller sees it.
 */
static bool
lookup_customer(ImportState *st, const char *number, size_t len,
				pg_uuid_t *id)
{
	Datum		value = PointerGetDatum(cstring_to_text_with_len(number, len));
	bool		found = false;
	int			rc;

	rc = SPI_execute_plan(st->lookup_plan, &value, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			memcpy(id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
			found = true;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * chunk_run
 *		Insert the chunk's pending rows.  When one fails, the chunk is
 *		rolled back, the row recorded, and the rows done before it are
 *		inserted again in a new subtransaction.
 */
static void
chunk_run(ImportState *st)
{
	MemoryContext back = CurrentMemoryContext;

	for (;;)
	{
		volatile int i = st->next;
		ErrorData  *volatile edata = NULL;
		PendingRow *row;
		int			j;

		if (i >= st->nrows)
			return;
		if (!st->chunk_open)
			chunk_begin(st, back);

		PG_TRY();
		{
			for (; i < st->nrows; i++)
			{
				if (st->rows[i].state != ROW_PENDING)
					continue;
				process_row(st, &st->rows[i]);
			}
		}
		PG_CATCH();
		{
			edata = catch_row_error(st, back);
		}
		PG_END_TRY();

		if (edata == NULL)
		{
			st->next = i;
			return;
		}

		/* the chunk was rolled back: row i failed, the done rows are undone */
		st->chunk_failed = true;
		row = &st->rows[i];
		if (row->generated_number && !row->retried &&
			edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION)
		{
			/*
			 * A generated customer number met a number given earlier in
			 * the chunk, after the trigger had read which numbers are
			 * taken; the new subtransaction's trigger reads them afresh.
			 */
			row->retried = true;
		}
		else
		{
			row->state = ROW_FAILED;
			queue_exec_error(st, row, edata);
		}
		for (j = 0; j < st->nrows; j++)
			if (st->rows[j].state == ROW_DONE ||
				st->rows[j].state == ROW_SKIPPED)
				st->rows[j].state = ROW_PENDING;
		st->next = 0;
		FreeErrorData(edata);
		MemoryContextReset(st->errcxt);
	}
}

/* Insert one row: through the chunk's target, or alone if a suspect. */
static void
process_row(ImportState *st, PendingRow *row)
{
	CsvRecord  *rec;
	int			index = (int) (row - st->rows);

	CHECK_FOR_INTERRUPTS();
	if (st->cur_rec != NULL && index == st->cur_index)
		rec = st->cur_rec;
	else
		rec = parse_raw(st, row->raw, row->raw_len);

	if (row->suspect)
		insert_suspect(st, row, rec);
	else
		row->state = insert_row(st, st->target, row, rec) ? ROW_DONE : ROW_SKIPPED;
}

/*
 * insert_suspect
 *		Insert a row alone, in a subtransaction nested in the chunk's, with
 *		an executor set-up of its own: its failure costs only this row.
 */
static void
insert_suspect(ImportState *st, PendingRow *row, CsvRecord *rec)
{
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);
	st->solo = NULL;
	PG_TRY();
	{
		bool		inserted;

		st->solo = target_open(st, true);
		inserted = insert_row(st, st->solo, row, rec);
		target_close(st->solo);
		st->solo = NULL;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		row->state = inserted ? ROW_DONE : ROW_SKIPPED;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(st->errcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		if (st->solo != NULL)
			MemoryContextDelete(st->solo->cxt);
		st->solo = NULL;
		progress_start(st);
		if (!is_row_error(edata->sqlerrcode))
			ReThrowError(edata);	/* the chunk's handler rolls it back */
		row->state = ROW_FAILED;
		queue_exec_error(st, row, edata);
		MemoryContextReset(st->errcxt);
	}
	PG_END_TRY();
}

/* Open the chunk's subtransaction and its executor set-up. */
static void
chunk_begin(ImportState *st, MemoryContext back)
{
	BeginInternalSubTransaction(NULL);
	st->chunk_open = true;
	MemoryContextSwitchTo(back);
	st->target = target_open(st, true);
}

/* Commit the chunk's subtransaction. */
static void
chunk_commit(ImportState *st, MemoryContext back)
{
	target_close(st->target);
	st->target = NULL;
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(back);
	CurrentResourceOwner = st->owner_at_start;
	st->chunk_open = false;
}

/*
 * catch_row_error
 *		In PG_CATCH of a chunk: roll the chunk back, and return the error if
 *		it is the row's fault; re-throw anything else, as PL/pgSQL does when
 *		no handler matches (an internal subtransaction left open would
 *		leave the session in an aborted transaction block).
 */
static ErrorData *
catch_row_error(ImportState *st, MemoryContext back)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(st->errcxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(back);
	CurrentResourceOwner = st->owner_at_start;
	/* the executor state went with the subtransaction's resources */
	if (st->target != NULL)
		MemoryContextDelete(st->target->cxt);
	st->target = NULL;
	st->chunk_open = false;
	progress_start(st);
	/* not the row's fault: out, with the subtransaction gone */
	if (!is_row_error(edata->sqlerrcode))
		ReThrowError(edata);
	return edata;
}

/*
 * chunk_finish
 *		Commit the chunk, hand its rows to the transition tables, write its
 *		error rows, count, and choose the size of the next chunk.
 */
static void
chunk_finish(ImportState *st)
{
	int			i;

	if (st->chunk_open)
		chunk_commit(st, CurrentMemoryContext);
	for (i = 0; i < st->nrows; i++)
	{
		if (st->rows[i].state == ROW_DONE)
		{
			st->success++;
			if (st->capture != NULL)
				capture_row(st, &st->rows[i]);
		}
		else if (st->rows[i].state == ROW_SKIPPED)
			st->skipped++;
	}
	flush_errors(st);

	if (st->chunk_failed)
		st->chunk_limit = Max(MIN_CHUNK, st->chunk_limit / 2);
	else if (st->nrows > 0)
		st->chunk_limit = Min(MAX_CHUNK, st->chunk_limit * 2);
	st->chunk_failed = false;
	st->nrows = 0;
	st->next = 0;
	st->chunk_bytes = 0;
	MemoryContextReset(st->chunkcxt);
	progress_update(st);
}

/*
 * target_open
 *		An executor set-up for inserting into the target, as COPY FROM
 *		makes one, in the current (sub)transaction; without rows, only what
 *		the statement triggers need (and a slot to read rows back).
 */
static Target *
target_open(ImportState *st, bool rows)
{
	MemoryContext cxt;
	MemoryContext old;
	Target	   *t;
	RangeTblEntry *rte;
	RTEPermissionInfo *perminfo;
	List	   *perminfos = NIL;
	ListCell   *lc;
	ListCell   *lc2;
	int			n;

	cxt = AllocSetContextCreate(st->cxt, "ame import target",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	t = palloc0(sizeof(Target));
	t->cxt = cxt;

	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = st->relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	perminfo = addRTEPermissionInfo(&perminfos, rte);
	perminfo->requiredPerms = ACL_INSERT;

	t->estate = CreateExecutorState();
	t->estate->es_output_cid = GetCurrentCommandId(true);
	ExecInitRangeTable(t->estate, list_make1(rte), perminfos,
					   bms_make_singleton(1));
	t->rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(t->estate, t->rri, 1);
	CheckValidResultRel(t->rri, CMD_INSERT, ONCONFLICT_NONE, NIL);
	t->slot = table_slot_create(t->rri->ri_RelationDesc,
								&t->estate->es_tupleTable);
	if (!rows)
	{
		MemoryContextSwitchTo(old);
		return t;
	}
	ExecOpenIndices(t->rri, false);
	t->bistate = GetBulkInsertState();

	MemoryContextSwitchTo(t->estate->es_query_cxt);
	n = list_length(st->default_exprs);
	t->ndefaults = n;
	t->default_attnums = palloc(sizeof(AttrNumber) * Max(n, 1));
	t->default_states = palloc(sizeof(ExprState *) * Max(n, 1));
	n = 0;
	forboth(lc, st->default_exprs, lc2, st->default_attnums)
	{
		t->default_attnums[n] = (AttrNumber) lfirst_int(lc2);
		t->default_states[n] = ExecInitExpr((Expr *) lfirst(lc), NULL);
		n++;
	}
	MemoryContextSwitchTo(old);
	return t;
}

/* Close a target whose subtransaction is about to commit. */
static void
target_close(Target *t)
{
	if (t->bistate != NULL)
		FreeBulkInsertState(t->bistate);
	ExecResetTupleTable(t->estate->es_tupleTable, false);
	ExecCloseResultRelations(t->estate);
	ExecCloseRangeTableRelations(t->estate);
	FreeExecutorState(t->estate);
	MemoryContextDelete(t->cxt);
}

/*
 * insert_row
 *		Convert the record's fields and insert the row as COPY FROM does:
 *		BEFORE ROW triggers, constraints, heap, indexes, AFTER ROW
 *		triggers -- the latter fired at the end of the row, so that their
 *		errors belong to it.  False when a BEFORE ROW trigger suppressed
 *		the row.
 */
static bool
insert_row(ImportState *st, Target *t, PendingRow *row, CsvRecord *rec)
{
	EState	   *estate = t->estate;
	ResultRelInfo *rri = t->rri;
	Relation	rel = rri->ri_RelationDesc;
	TupleTableSlot *slot = t->slot;
	ExprContext *econtext = GetPerTupleExprContext(estate);
	MemoryContext old;
	int			natts = RelationGetDescr(rel)->natts;
	int			i;
	bool		inserted = false;
	bool		server_utf8 = (GetDatabaseEncoding() == PG_UTF8 ||
							   GetDatabaseEncoding() == PG_SQL_ASCII);

	ExecClearTuple(slot);
	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	for (i = 0; i < natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	for (i = 0; i < t->ndefaults; i++)
	{
		AttrNumber	a = t->default_attnums[i] - 1;

		slot->tts_values[a] = ExecEvalExpr(t->default_states[i], econtext,
										   &slot->tts_isnull[a]);
	}
	for (i = 0; i < st->ncols; i++)
	{
		HeaderColumn *col = &st->cols[i];
		const CsvField *f = &rec->fields[i];
		AttrNumber	a = col->attnum - 1;
		char	   *str;

		if (col->spec->kind == COL_CUSTOMER)
		{
			if (row->has_customer)
			{
				pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

				memcpy(id, &row->customer_id, sizeof(pg_uuid_t));
				slot->tts_values[a] = UUIDPGetDatum(id);
				slot->tts_isnull[a] = false;
			}
			continue;
		}
		if (CSV_FIELD_IS_NULL(f))
			continue;
		str = (char *) rec->data + f->offset;
		if (!server_utf8)
			str = pg_any_to_server(str, (int) f->len, PG_UTF8);
		if (col->typid == TEXTOID && server_utf8)
			slot->tts_values[a] = PointerGetDatum(cstring_to_text_with_len(str, (int) f->len));
		else
			slot->tts_values[a] = InputFunctionCall(&col->infunc, str,
													col->ioparam, col->typmod);
		slot->tts_isnull[a] = false;
	}
	ExecStoreVirtualTuple(slot);

	/* the executor proper runs in the per-query context, as ExecInsert */
	MemoryContextSwitchTo(estate->es_query_cxt);
	AfterTriggerBeginQuery();
	if (rri->ri_TrigDesc == NULL || !rri->ri_TrigDesc->trig_insert_before_row ||
		ExecBRInsertTriggers(estate, rri, slot))
	{
		List	   *recheck = NIL;

		if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
			ExecComputeStoredGenerated(rri, estate, slot, CMD_INSERT);
		if (rel->rd_att->constr)
			ExecConstraints(rri, slot, estate);
		table_tuple_insert(rel, slot, estate->es_output_cid, 0, t->bistate);
		row->tid = slot->tts_tid;
		if (rri->ri_NumIndices > 0)
			recheck = ExecInsertIndexTuples(rri, slot, estate, false, false,
											NULL, NIL, false);
		/* transition tables get the row when its chunk commits */
		ExecARInsertTriggers(estate, rri, slot, recheck, NULL);
		list_free(recheck);
		inserted = true;
	}
	AfterTriggerEndQuery(estate);
	MemoryContextSwitchTo(old);
	ResetPerTupleExprContext(estate);
	return inserted;
}

/* Parse a record again from its raw bytes (a chunk is being redone). */
static CsvRecord *
parse_raw(ImportState *st, const char *raw, size_t len)
{
	CsvOptions	opt;
	CsvParser  *p;
	CsvRecord  *rec = palloc(sizeof(CsvRecord));

	memset(&opt, 0, sizeof(opt));
	opt.realloc_fn = csv_palloc;
	opt.free_fn = csv_pfree;
	opt.alloc_arg = CurrentMemoryContext;
	opt.max_field = (size_t) ame_import_max_field_size;
	opt.max_record = Min((size_t) ame_import_max_field_size * 16,
						 MaxAllocSize / 2);
	opt.max_fields = st->type->ncolumns + MAX_EXTRA_FIELDS;
	opt.skip_bom = false;
	opt.final_cr_is_data = true;
	p = csv_parser_create(&opt, raw, len);
	if (!csv_parser_next(p, rec) || rec->error != CSV_OK ||
		rec->nfields != st->ncols)
		elog(ERROR, "could not parse a record again from its raw bytes");
	/* the parser's buffers stay, in the current context, with rec */
	return rec;
}

/* Queue the executor's error for a row. */
static void
queue_exec_error(ImportState *st, PendingRow *row, ErrorData *edata)
{
	StringInfoData msg;
	CsvRecord  *rec;
	MemoryContext old = MemoryContextSwitchTo(st->rowcxt);

	initStringInfo(&msg);
	appendStringInfoString(&msg, edata->message ? edata->message : "unknown error");
	if (edata->detail)
		appendStringInfo(&msg, "\nDETAIL:  %s", edata->detail);
	if (edata->hint)
		appendStringInfo(&msg, "\nHINT:  %s", edata->hint);
	rec = parse_raw(st, row->raw, row->raw_len);
	queue_error(st, row->row_number, row->line,
				unpack_sql_state(edata->sqlerrcode), msg.data, rec,
				row->raw, row->raw_len);
	MemoryContextSwitchTo(old);
}

/* Queue an error row, copying what it needs into the chunk's memory. */
static void
queue_error(ImportState *st, int64 row_number, int64 line,
			const char *sqlstate, const char *message, CsvRecord *rec,
			const char *raw, size_t raw_len)
{
	QueuedError *e;
	char	   *raw_copy;
	char	   *json = raw_data_json(st, rec);

	if (st->nerrors == st->errors_cap)
	{
		st->errors_cap *= 2;
		st->errors = repalloc(st->errors, sizeof(QueuedError) * st->errors_cap);
	}
	e = &st->errors[st->nerrors++];
	e->row_number = row_number;
	e->line = line;
	strlcpy(e->sqlstate, sqlstate, sizeof(e->sqlstate));
	e->message = MemoryContextStrdup(st->chunkcxt, message);
	e->raw_data = MemoryContextStrdup(st->chunkcxt, json);
	raw_copy = MemoryContextAlloc(st->chunkcxt, raw_len + 1);
	memcpy(raw_copy, raw, raw_len);
	e->raw = raw_copy;
	e->raw_len = raw_len;
	st->chunk_bytes += raw_len + strlen(json) + strlen(message);
}

/*
 * raw_data_json
 *		The record's fields as a JSON object keyed by the header, extra
 *		fields as _extra_1, _extra_2, ...; NUL and invalid bytes become
 *		U+FFFD.
 */
static char *
raw_data_json(ImportState *st, CsvRecord *rec)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < rec->nstored; i++)
	{
		const CsvField *f = &rec->fields[i];
		char	   *key;

		if (i < st->ncols)
			key = st->cols[i].name;
		else
			key = psprintf("_extra_%d", i - st->ncols + 1);
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, key);
		appendStringInfoString(&buf, ": ");
		if (CSV_FIELD_IS_NULL(f))
			appendStringInfoString(&buf, "null");
		else
		{
			char	   *clean = palloc(f->len * 3 + 1);
			size_t		n = csv_utf8_sanitize(rec->data + f->offset, f->len, clean);

			clean[n] = '\0';
			escape_json(&buf, clean);
			pfree(clean);
		}
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* Write the queued error rows, in the batch's transaction. */
static void
flush_errors(ImportState *st)
{
	MemoryContext old = MemoryContextSwitchTo(st->chunkcxt);
	int			i;

	for (i = 0; i < st->nerrors; i++)
	{
		QueuedError *e = &st->errors[i];
		Datum		values[7];
		bytea	   *raw = palloc(VARHDRSZ + e->raw_len);

		CHECK_FOR_INTERRUPTS();
		SET_VARSIZE(raw, VARHDRSZ + e->raw_len);
		memcpy(VARDATA(raw), e->raw, e->raw_len);
		values[0] = st->batch_id;
		values[1] = Int32GetDatum((int32) Min(e->row_number, PG_INT32_MAX));
		values[2] = Int64GetDatum(e->line);
		values[3] = CStringGetTextDatum(e->sqlstate);
		values[4] = CStringGetTextDatum(e->message);
		values[5] = CStringGetTextDatum(e->raw_data);
		values[6] = PointerGetDatum(raw);
		run_as_owner_spi(st, st->error_plan, values, NULL, SPI_OK_INSERT);
		st->failed++;
		pfree(raw);
	}
	st->nerrors = 0;
	MemoryContextSwitchTo(old);
}

/*
 * is_row_error
 *		Errors that belong to the row's data, recorded as import errors.
 */
static bool
is_row_error(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		category == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		category == ERRCODE_TRIGGERED_ACTION_EXCEPTION ||
		category == ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION ||
		category == ERRCODE_SQL_ROUTINE_EXCEPTION ||
		category == ERRCODE_EXTERNAL_ROUTINE_EXCEPTION ||
		category == ERRCODE_PLPGSQL_ERROR;
}

/*
 * progress_start
 *		Report as COPY FROM does in pg_stat_progress_copy, and, in slots
 *		COPY leaves unused, what ame_import_progress() reads: a marker, the
 *		batch id (two halves) and the counts COPY has no column for.
 *		Called again after a subtransaction's abort, which ends the report.
 */
static void
progress_start(ImportState *st)
{
	const int	index[] = {PROGRESS_COPY_COMMAND, PROGRESS_COPY_TYPE,
		PROGRESS_COPY_BYTES_TOTAL, AME_PROGRESS_MARKER,
	AME_PROGRESS_BATCH_HIGH, AME_PROGRESS_BATCH_LOW};
	int64		val[6];
	const uint8 *id = DatumGetUUIDP(st->batch_id)->data;
	uint64		high = 0;
	uint64		low = 0;
	int			i;

	for (i = 0; i < 8; i++)
	{
		high = (high << 8) | id[i];
		low = (low << 8) | id[i + 8];
	}
	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, st->relid);
	val[0] = PROGRESS_COPY_COMMAND_FROM;
	val[1] = st->progress_type;
	val[2] = (int64) st->total_bytes;
	val[3] = AME_PROGRESS_MARKER_VALUE;
	val[4] = (int64) high;
	val[5] = (int64) low;
	pgstat_progress_update_multi_param(6, index, val);
	progress_update(st);
}

static void
progress_update(ImportState *st)
{
	const int	index[] = {PROGRESS_COPY_BYTES_PROCESSED,
		PROGRESS_COPY_TUPLES_PROCESSED,
		PROGRESS_COPY_TUPLES_EXCLUDED, AME_PROGRESS_RECORDS_READ,
	AME_PROGRESS_FAILED, AME_PROGRESS_SKIPPED};
	int64		val[6];

	val[0] = st->parser ? (int64) input_offset(st) : (int64) st->offset_base;
	val[1] = st->success;
	val[2] = st->failed;
	val[3] = st->total;
	val[4] = st->failed;
	val[5] = st->skipped;
	pgstat_progress_update_multi_param(6, index, val);
}
