/*-------------------------------------------------------------------------
 *
 * import_chunked.c
 *	  CALL ame_import_csv_file_chunked(path, import_type, chunk_rows,
 *	  batch_id): a server file imported in transactions of chunk_rows
 *	  records, resumable after an interruption.
 *
 * The batch row is committed first, with the file's size and modification
 * time.  Each chunk then runs in a transaction of its own: the import of
 * up to chunk_rows records (import_csv.c, from the resume point), and, in
 * the same transaction, the batch's counts and the new resume point (the
 * byte offset and line number of the next record).  So the committed rows,
 * error rows, counts and resume point always agree, whatever stops the
 * import.
 *
 * While it runs, the session holds a session-level advisory lock on the
 * batch (an advisory lock tag that SQL cannot take, see import.h).  An
 * error in a chunk (a cancel, statement_timeout, a failed trigger, ...)
 * rolls that chunk back and marks the batch interrupted, with the error's
 * message, before the error leaves.  A backend that is terminated or
 * crashes cannot write anything: its batch stays "processing", but its
 * lock is gone with it, which is how ame_import_progress() and the next
 * call know that it was interrupted.
 *
 * Called again with the batch id, it resumes after the last committed
 * record, if the batch is of the same file and import type, is neither
 * completed nor failed, is run by no other session, and the file's size
 * and modification time are unchanged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/fd.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "ame.h"
#include "import.h"

/* the resumable state of a chunked batch, as committed */
typedef struct ChunkedBatch
{
	MemoryContext cxt;			/* the procedure's: survives the commits */
	Oid			nspid;
	Oid			owner;			/* of the bookkeeping tables */
	char	   *table;			/* import_batches, qualified */
	Datum		id;
	int64		file_size;
	TimestampTz file_mtime;
	ImportChunk chunk;
} ChunkedBatch;

static void batch_exec(ChunkedBatch *b, const char *sql, int nargs,
					   Oid *types, Datum *values, const char *nulls,
					   int expect);
static void begin_batch(ChunkedBatch *b, const char *path,
						const ImportType *type, struct stat *sb);
static void resume_batch(ChunkedBatch *b, const char *path,
						 const ImportType *type, struct stat *sb);
static void lock_batch(ChunkedBatch *b, LOCKTAG *tag, bool new_batch);
static void check_file(ChunkedBatch *b, const char *path, struct stat *sb);
static void mark_interrupted(ChunkedBatch *b, const char *message);
static char *batch_name(ChunkedBatch *b);
static TimestampTz stat_mtime(const struct stat *sb);
static void fire_deferred_triggers(void);
static pg_noreturn void refuse(const char *message, const char *detail,
							   const char *hint);

PG_FUNCTION_INFO_V1(ame_import_csv_file_chunked);

/*
 * ame_import_csv_file_chunked(path text, import_type text,
 *		chunk_rows integer DEFAULT 100000, INOUT batch_id uuid DEFAULT NULL)
 *		A procedure: commits after the batch row and after every chunk.
 */
Datum
ame_import_csv_file_chunked(PG_FUNCTION_ARGS)
{
	CallContext *call = (CallContext *) fcinfo->context;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext chunkcxt;
	ResourceOwner resowner;
	const ImportType *type;
	ChunkedBatch b;
	char	   *path;
	int32		chunk_rows;
	struct stat sb;
	LOCKTAG		tag;
	TupleDesc	tupdesc;
	Datum		result;
	bool		isnull = false;
	bool		resuming = !PG_ARGISNULL(3);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"path\" must not be null")));
	type = ame_import_lookup_type(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	chunk_rows = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	if (chunk_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"chunk_rows\" must be at least 1")));
	ame_import_check_file_privilege();
	/* the arguments are checked first: their errors do not depend on where */
	if (call == NULL || !IsA(call, CallContext) || call->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("ame_import_csv_file_chunked() cannot run inside a transaction block"),
				 errdetail("It commits after every chunk."),
				 errhint("CALL it on its own, not inside BEGIN ... COMMIT or from a function.")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	memset(&b, 0, sizeof(b));
	b.cxt = cxt;
	b.nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
	b.owner = ame_extension_owner();
	b.table = quote_qualified_identifier(get_namespace_name(b.nspid),
										 "import_batches");
	b.chunk.max_rows = chunk_rows;
	if (resuming)
	{
		pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

		memcpy(id, PG_GETARG_UUID_P(3), sizeof(pg_uuid_t));
		b.id = UUIDPGetDatum(id);
	}

	/* the file must be there before anything is written */
	{
		ImportSource src = {0};

		ame_import_open_file(path, &src, &sb);
		FreeFile(src.file);
	}

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (!resuming)
		begin_batch(&b, path, type, &sb);
	lock_batch(&b, &tag, !resuming);

	PG_TRY();
	{
		if (resuming)
			resume_batch(&b, path, type, &sb);
		/* the batch row, processing, is visible from here on */
		SPI_commit();
		MemoryContextSwitchTo(cxt);

		/* what a chunk allocates is freed after it: memory per chunk */
		chunkcxt = AllocSetContextCreate(cxt, "ame import chunked",
										 ALLOCSET_DEFAULT_SIZES);

		while (!b.chunk.done)
		{
			ImportSource src = {0};
			ErrorData  *volatile edata = NULL;

			MemoryContextReset(chunkcxt);
			resowner = CurrentResourceOwner;
			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(chunkcxt);
			PushActiveSnapshot(GetTransactionSnapshot());
			PG_TRY();
			{
				/* a cancel between chunks marks the batch as one inside */
				CHECK_FOR_INTERRUPTS();
				ame_import_open_file(path, &src, &sb);
				check_file(&b, path, &sb);
				(void) ame_import_chunk(b.nspid, type, path, &src, &b.chunk);
				FreeFile(src.file);
				fire_deferred_triggers();
				PopActiveSnapshot();
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(chunkcxt);
				CurrentResourceOwner = resowner;
			}
			PG_CATCH();
			{
				MemoryContextSwitchTo(cxt);
				edata = CopyErrorData();
				FlushErrorState();
				RollbackAndReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = resowner;
			}
			PG_END_TRY();

			if (edata != NULL)
			{
				/* the chunk is undone: the batch stays as last committed */
				mark_interrupted(&b, edata->message);
				SPI_commit();
				MemoryContextSwitchTo(cxt);
				ReThrowError(edata);
			}
			SPI_commit();
			MemoryContextSwitchTo(cxt);
		}
		MemoryContextDelete(chunkcxt);
	}
	PG_CATCH();
	{
		LockRelease(&tag, ExclusiveLock, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	LockRelease(&tag, ExclusiveLock, true);

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	MemoryContextSwitchTo(cxt);
	tupdesc = BlessTupleDesc(tupdesc);
	result = HeapTupleGetDatum(heap_form_tuple(tupdesc, &b.id, &isnull));
	PG_RETURN_DATUM(result);
}

/*
 * batch_exec
 *		A bookkeeping statement, as the owner of the bookkeeping tables,
 *		under a snapshot of its own (none survives a commit).
 */
static void
batch_exec(ChunkedBatch *b, const char *sql, int nargs, Oid *types,
		   Datum *values, const char *nulls, int expect)
{
	SPIPlanPtr	plan;

	PushActiveSnapshot(GetTransactionSnapshot());
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	ame_import_execute_as(b->owner, plan, values, nulls, expect);
	SPI_freeplan(plan);
	PopActiveSnapshot();
}

/* A new batch: its row, processing, resumable from the header. */
static void
begin_batch(ChunkedBatch *b, const char *path, const ImportType *type,
			struct stat *sb)
{
	Oid			types[4] = {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID};
	Datum		values[4];
	bool		isnull;
	Datum		id;
	MemoryContext old;

	b->file_size = (int64) sb->st_size;
	b->file_mtime = stat_mtime(sb);
	values[0] = CStringGetTextDatum(path);
	values[1] = CStringGetTextDatum(ame_import_type_name(type));
	values[2] = Int64GetDatum(b->file_size);
	values[3] = TimestampTzGetDatum(b->file_mtime);
	batch_exec(b,
			   psprintf("INSERT INTO %s (source_file, import_type, total_records, "
						"resume_offset, resume_line, file_size, file_mtime) "
						"VALUES ($1, $2, 0, 0, 1, $3, $4) RETURNING id", b->table),
			   4, types, values, NULL, SPI_OK_INSERT_RETURNING);
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(b->cxt);
	b->id = datumCopy(id, false, sizeof(pg_uuid_t));
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	b->chunk.batch_id = b->id;
	b->chunk.offset = 0;
	b->chunk.line = 1;
}

/*
 * lock_batch
 *		Take the batch's advisory lock, at session level: it says that
 *		this session runs the batch, until the call ends or the backend
 *		does.
 */
static void
lock_batch(ChunkedBatch *b, LOCKTAG *tag, bool new_batch)
{
	int32		key = DatumGetInt32(DirectFunctionCall1(uuid_hash, b->id));

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) AME_IMPORT_LOCK_KEY,
						 (uint32) key, AME_IMPORT_LOCK_SUBID);
	if (LockAcquire(tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		refuse(new_batch ?
			   "the new import batch cannot take its advisory lock" :
			   "import batch is being run by another session",
			   psprintf("Batch %s is locked by another session.", batch_name(b)),
			   new_batch ? "Another batch's lock has the same key; call again." :
			   "Wait for that session to end it, or cancel it (ame_import_progress() shows its pid).");
}

/*
 * resume_batch
 *		An existing batch: refuse one that cannot be resumed safely, else
 *		load its resume point and counts and mark it processing.
 */
static void
resume_batch(ChunkedBatch *b, const char *path, const ImportType *type,
			 struct stat *sb)
{
	Oid			types[1] = {UUIDOID};
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *status;
	char	   *import_type;
	char	   *source_file;
	bool		isnull;
	int			i;
	Datum		d[7];
	bool		nulls[7];

	values[0] = b->id;
	batch_exec(b,
			   psprintf("SELECT status, import_type, source_file, resume_offset, resume_line, "
						"file_size, file_mtime, total_records, success_count, error_count, "
						"skipped_count FROM %s WHERE id OPERATOR(pg_catalog.=) $1",
						b->table),
			   1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("import batch \"%s\" does not exist",
						batch_name(b))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(tup, desc, 1);
	import_type = SPI_getvalue(tup, desc, 2);
	source_file = SPI_getvalue(tup, desc, 3);
	for (i = 0; i < 7; i++)
		d[i] = SPI_getbinval(tup, desc, i + 4, &nulls[i]);
	if (nulls[0] || nulls[1] || nulls[2] || nulls[3])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("import batch \"%s\" was not made by ame_import_csv_file_chunked()",
						batch_name(b)),
				 errdetail("Only a chunked import can be resumed; the other imports run in one transaction.")));
	if (strcmp(import_type, ame_import_type_name(type)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("import batch \"%s\" imports %s, not %s",
						batch_name(b),
						import_type, ame_import_type_name(type))));
	if (strcmp(source_file, path) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("import batch \"%s\" reads file \"%s\", not \"%s\"",
						batch_name(b),
						source_file, path)));
	if (strcmp(status, "processing") != 0 && strcmp(status, "interrupted") != 0)
		refuse(psprintf("import batch \"%s\" is already %s", batch_name(b), status),
			   NULL, "Only an interrupted batch can be resumed.");

	b->chunk.batch_id = b->id;
	b->chunk.offset = (uint64) DatumGetInt64(d[0]);
	b->chunk.line = DatumGetInt64(d[1]);
	b->file_size = DatumGetInt64(d[2]);
	b->file_mtime = DatumGetTimestampTz(d[3]);
	b->chunk.total = nulls[4] ? 0 : DatumGetInt32(d[4]);
	b->chunk.success = DatumGetInt32(d[5]);
	b->chunk.failed = DatumGetInt32(d[6]);
	b->chunk.skipped = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
	SPI_freetuptable(SPI_tuptable);
	check_file(b, path, sb);

	batch_exec(b,
			   psprintf("UPDATE %s SET status = 'processing', error_message = NULL "
						"WHERE id OPERATOR(pg_catalog.=) $1", b->table),
			   1, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * check_file
 *		Resuming reads the file from a byte offset: refuse a file whose
 *		size or modification time (now, as fstat of the open file gave
 *		them) is not what the batch began with.
 */
static void
check_file(ChunkedBatch *b, const char *path, struct stat *now)
{
	if ((int64) now->st_size != b->file_size ||
		stat_mtime(now) != b->file_mtime)
		refuse(psprintf("file \"%s\" changed since import batch \"%s\" began",
						path, batch_name(b)),
			   psprintf("It had %lld bytes, modified at %s; it has %lld bytes, modified at %s.",
						(long long) b->file_size, pstrdup(timestamptz_to_str(b->file_mtime)),
						(long long) now->st_size,
						timestamptz_to_str(stat_mtime(now))),
			   "Import the file as a new batch (without batch_id); resuming could skip or repeat records.");
}

/*
 * stat_mtime
 *		A file's modification time to the microsecond: a file rewritten
 *		with the same size within the same second is another file.
 */
static TimestampTz
stat_mtime(const struct stat *sb)
{
	return time_t_to_timestamptz(sb->st_mtime) +
		(TimestampTz) (sb->st_mtim.tv_nsec / 1000);
}

/*
 * fire_deferred_triggers
 *		Fire the chunk's deferred triggers now, as SET CONSTRAINTS ALL
 *		IMMEDIATE does, inside the chunk's subtransaction: one that fails
 *		then interrupts the batch like any error of the chunk, instead of
 *		failing the commit, which cannot mark the batch.
 */
static void
fire_deferred_triggers(void)
{
	ConstraintsSetStmt *stmt = makeNode(ConstraintsSetStmt);

	stmt->constraints = NIL;
	stmt->deferred = false;
	AfterTriggerSetState(stmt);
}

/* Mark the batch interrupted, with the error that stopped it. */
static void
mark_interrupted(ChunkedBatch *b, const char *message)
{
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		values[2];

	values[0] = b->id;
	values[1] = CStringGetTextDatum(message ? message : "interrupted");
	batch_exec(b,
			   psprintf("UPDATE %s SET status = 'interrupted', error_message = $2 "
						"WHERE id OPERATOR(pg_catalog.=) $1", b->table),
			   2, types, values, NULL, SPI_OK_UPDATE);
}

/* The batch id as text, for messages. */
static char *
batch_name(ChunkedBatch *b)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, b->id));
}

/*
 * refuse
 *		A batch that cannot be run now: 23514, as a CHECK would refuse it,
 *		with the constraint name ame_import_resume.
 */
static void
refuse(const char *message, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("%s", hint),
			 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "ame_import_resume")));
	pg_unreachable();
}
