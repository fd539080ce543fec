/*-------------------------------------------------------------------------
 *
 * audit_writer.c
 *	  The audit trail's writer: log rows into ame_audit_logs through the
 *	  executor's pieces (constraints, heap_multi_insert(), index
 *	  insertion) on a ResultRelInfo opened once per transaction, as the
 *	  extension's owner; the rows of a statement as one batch, inserted by
 *	  hooks before anything could look at the log.
 *
 * That fast path serves the log as the install script makes it.  A log
 * the owner has given more (a column with a default or generated, an
 * INSERT trigger or rule, forced row security) is written through a
 * prepared SPI INSERT instead, so that the executor honours all of it
 * (see log_is_plain).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "audit.h"

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
	Oid			leafrelid;		/* the partition written (or the log) */
	TimestampTz routed_at;		/* the performed_at it was chosen for */
	Oid			owner;
	bool		stale;
	EState	   *estate;
	ResultRelInfo *rri;			/* relation and index descs open only while
								 * a row is written */
	Oid		   *indexoids;
	bool		check_rows;		/* run ExecConstraints() on each row */
	bool		plain;			/* the fast path serves it (log_is_plain) */
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
 * a query ends (ExecutorFinish), around every utility command, before the
 * transaction commits, and when the batch is full.  Each row keeps the
 * command id of its trigger call, so it is visible to exactly the queries
 * that would have seen an immediate insert.
 *
 * All rows of a batch belong to one subtransaction, its owner: they go if
 * it aborts, and pass to its parent if it commits.  A subtransaction begun
 * while a batch waits (a PL/pgSQL exception block in another trigger of
 * the statement) inserts the batch at its first query like any other, so
 * that the query sees the rows; but rows inserted then carry that
 * subtransaction's xid and would vanish with it.  So the batch is kept,
 * held by that subtransaction: when it commits, the rows are the owner's
 * for good (the batch goes, or passes to the parent as its holder); when it
 * aborts, the batch waits again, for the owner's next query.  (Not at the
 * start of the subtransaction: an error raised there, as a refused row
 * would raise it, is not one its caller can handle.)
 */
#define AUDIT_BATCH_ROWS	1000
#define AUDIT_BATCH_BYTES	(8 * 1024 * 1024)

typedef struct AuditPending
{
	struct AuditPending *next;	/* in the list of waiting or held batches */
	MemoryContext cxt;			/* the formed rows; in TopTransactionContext */
	Oid			logrelid;
	Oid			seqid;
	TupleDesc	tupdesc;		/* the row type they were formed for */
	SubTransactionId subid;		/* whose rows these are */
	SubTransactionId holder;	/* held: inserted in this subtransaction */
	int			nrows;
	Size		bytes;
	HeapTuple	rows[AUDIT_BATCH_ROWS];
	CommandId	cids[AUDIT_BATCH_ROWS];
} AuditPending;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static AuditWriter *writer = NULL;
static AuditPending *pending = NULL;	/* the batch new rows join */
static AuditPending *waiting = NULL;	/* older batches, back from a holder */
static AuditPending *held = NULL;	/* batches inserted by a holder */

/* the slow path's INSERT, kept across transactions (see slow_plan_for) */
static SPIPlanPtr slow_plan = NULL;
static Oid	slow_plan_relid = InvalidOid;

/* whether the log's constraints need a check per row (see rows_need_checks) */
static Oid	checks_decided_for = InvalidOid;
static bool checks_needed = true;
static bool flushing = false;	/* in flush_pending() */
static bool inserting = false;	/* in insert_log_rows() */
static bool callbacks_registered = false;

static void register_callbacks(void);
static void relcache_callback(Datum arg, Oid relid);
static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);
static void open_writer(Oid logrelid, Oid seqid);
static void close_writer(void);
static void catch_up_sequence(AuditWriter *w, Relation rel);
static bool log_max_seq(AuditWriter *w, Relation rel, int64 *maxseq);
static void max_seq_of(Relation rel, int64 *maxseq, bool *found);
static Oid	seq_index_of(Relation rel, AttrNumber attnum);
static void probe_max_seq(Relation rel, int64 *maxseq, bool *found);
static bool rows_need_checks(AuditWriter *w, Relation rel);
static bool log_is_plain(AuditWriter *w, Relation rel);
static bool same_row_type(TupleDesc a, TupleDesc b);
static bool writes_directly(AuditWriter *w, Datum *values);
static AuditPending *new_batch(void);
static void free_batch(AuditPending *b);
static bool batch_takes(SubTransactionId subid, AuditWriter *w);
static void flush_pending(void);
static void flush_batch(AuditPending *b, SubTransactionId cur);
static void insert_log_rows(AuditWriter *w, HeapTuple *rows,
							CommandId *cids, int nrows, bool keep);
static void insert_rows_spi(AuditWriter *w, TupleDesc tupdesc,
							HeapTuple *rows, int nrows);
static void insert_row_spi(AuditWriter *w, Datum *values, bool *nulls);
static SPIPlanPtr slow_plan_for(AuditWriter *w);

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
	callbacks_registered = true;
}

/* the log changed: rebuild the writer, decide its checks again */
static void
relcache_callback(Datum arg, Oid relid)
{
	if (writer != NULL && (relid == InvalidOid || relid == writer->logrelid ||
						   relid == writer->leafrelid))
		writer->stale = true;
	if (relid == InvalidOid || relid == checks_decided_for)
		checks_decided_for = InvalidOid;
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
			waiting = NULL;
			held = NULL;
			flushing = false;
			inserting = false;
			break;
	}
}

/*
 * A subtransaction that commits hands its waiting rows to its parent, and
 * the batches it holds are its owner's for good.  One that aborts takes
 * its own rows with it (and those of its children: they ended before it),
 * and the batches it held wait again.
 */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	AuditPending **link;
	AuditPending *b;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		if (pending != NULL && pending->subid == mySubid)
			pending->subid = parentSubid;
		for (b = waiting; b != NULL; b = b->next)
			if (b->subid == mySubid)
				b->subid = parentSubid;
		for (link = &held; (b = *link) != NULL;)
		{
			if (b->holder == mySubid && b->subid == parentSubid)
			{
				*link = b->next;
				free_batch(b);
				continue;
			}
			if (b->holder == mySubid)
				b->holder = parentSubid;
			link = &b->next;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		if (pending != NULL && pending->subid >= mySubid)
		{
			pending->nrows = 0;
			pending->bytes = 0;
			MemoryContextReset(pending->cxt);
		}
		for (link = &waiting; (b = *link) != NULL;)
		{
			if (b->subid >= mySubid)
			{
				*link = b->next;
				free_batch(b);
				continue;
			}
			link = &b->next;
		}
		for (link = &held; (b = *link) != NULL;)
		{
			if (b->holder >= mySubid)
			{
				*link = b->next;
				if (b->subid >= mySubid)
					free_batch(b);
				else
				{
					b->holder = InvalidSubTransactionId;
					b->next = waiting;
					waiting = b;
				}
				continue;
			}
			link = &b->next;
		}
	}
}

/*
 * ame_audit_writer
 *		The writer for this log, rebuilt when the log's relcache entry was
 *		invalidated (an ANALYZE, an index added).  Its row type cannot have
 *		changed under our lock but by an ALTER of this transaction, before
 *		which the waiting rows were inserted (audit_ProcessUtility); only an
 *		ALTER in a subtransaction begun while rows wait could change it,
 *		and flush_pending() refuses to insert them then.
 */
AuditWriter *
ame_audit_writer(Oid logrelid, Oid seqid)
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
	Relation volatile leaf = NULL;
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
		if (rel->rd_rel->relkind != RELKIND_RELATION &&
			rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("audit log \"%s\" is not a table",
							RelationGetRelationName(rel)),
					 errdetail("The audit trigger writes only to a table.")));
		for (i = 0; i < LOG_NCOLS; i++)
			w->attnum[i] = ame_required_column(tupdesc,
											   RelationGetRelationName(rel),
											   AUDIT_FUNCNAME, log_columns[i],
											   log_types[i]);

		/*
		 * Every row of a transaction is performed at its start: the
		 * partition it goes to is found once, here.  Where the writer
		 * cannot write it itself (no such partition, one partitioned
		 * again, or of another row type), the rows take the slow path,
		 * through the executor's routing.
		 */
		w->routed_at = GetCurrentTransactionStartTimestamp();
		w->leafrelid = logrelid;
		if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		{
			w->leafrelid = ame_audit_log_leaf(rel, w->attnum[LOG_PERFORMED],
											  w->routed_at);
			if (OidIsValid(w->leafrelid))
			{
				leaf = table_open(w->leafrelid, RowExclusiveLock);
				if (leaf->rd_rel->relkind != RELKIND_RELATION ||
					!same_row_type(tupdesc, RelationGetDescr(leaf)))
				{
					table_close(leaf, NoLock);
					leaf = NULL;
					w->leafrelid = InvalidOid;
				}
			}
		}
		else
			leaf = rel;

		w->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(w->rri, leaf != NULL ? leaf : rel, 0, NULL, 0);
		ExecOpenIndices(w->rri, false);
		rri = w->rri;
		w->tupdesc = CreateTupleDescCopy(tupdesc);
		if (leaf != NULL && checks_decided_for != w->leafrelid)
		{
			checks_needed = rows_need_checks(w, leaf);
			checks_decided_for = w->leafrelid;
		}
		w->check_rows = checks_needed;
		w->plain = leaf != NULL && log_is_plain(w, rel) &&
			(leaf == rel || log_is_plain(w, leaf));
		w->slots = palloc0(AUDIT_BATCH_ROWS * sizeof(TupleTableSlot *));
		catch_up_sequence(w, rel);

		/* keep the locks and the index information, not the references */
		w->indexoids = palloc(Max(w->rri->ri_NumIndices, 1) * sizeof(Oid));
		for (i = 0; i < w->rri->ri_NumIndices; i++)
		{
			w->indexoids[i] = RelationGetRelid(w->rri->ri_IndexRelationDescs[i]);
			index_close(w->rri->ri_IndexRelationDescs[i], NoLock);
			w->rri->ri_IndexRelationDescs[i] = NULL;
		}
		if (leaf != NULL && leaf != rel)
			table_close(leaf, NoLock);
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
		if (leaf != NULL && leaf != rel &&
			(rri == NULL || rri->ri_RelationDesc != NULL))
			table_close(leaf, NoLock);
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
 * catch_up_sequence
 *		Make sure that the log's sequence is past the highest seq in the
 *		log, so that no seq repeats.  Ordinarily it is, every row having
 *		taken its seq from it; but a restore sets the sequence to the value
 *		dumped, which is behind the restored rows when the source's was
 *		(a subscriber's, say), and a logical-replication subscriber receives
 *		the log's rows but not its sequence.  Run once per transaction,
 *		before its first log row, as the log's owner: the highest seq is one
 *		probe of the btree on seq (see log_max_seq), the sequence one read.
 *		Only when the sequence is behind is it moved, never backwards,
 *		under a lock that lets one session at a time move it.
 *
 *		The check is made afresh in every transaction, not remembered from
 *		an earlier one.  Relcache invalidations and an ALWAYS trigger on the
 *		partitions do not cover all the ways the log can get ahead of its
 *		sequence: setval() (a data-only restore sends SEQUENCE SET after the
 *		table data) invalidates nothing, so a session that checked between
 *		the load and the setval would go on using seq values the log already
 *		holds; and a logical-replication apply worker fires no statement
 *		trigger.  test/audit_seq_live.t shows both with a remembered check.
 */
static void
catch_up_sequence(AuditWriter *w, Relation rel)
{
	Oid			save_userid;
	int			save_sec_context;
	int64		highest;
	volatile int64 maxseq;

	if (!log_max_seq(w, rel, &highest))
		return;
	maxseq = highest;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(w->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		LOCAL_FCINFO(fc, 1);
		Datum		last;

		InitFunctionCallInfoData(*fc, NULL, 1, InvalidOid, NULL, NULL);
		fc->args[0].value = ObjectIdGetDatum(w->seqid);
		fc->args[0].isnull = false;
		last = pg_sequence_last_value(fc);

		/* NULL: never used since it was set; its next value is unknown here */
		if (fc->isnull || DatumGetInt64(last) < maxseq)
		{
			int64		next;

			/* what the next row would get (a value skipped, harmlessly) */
			LockRelationOid(w->seqid, ShareUpdateExclusiveLock);
			next = nextval_internal(w->seqid, false);
			if (next <= maxseq)
			{
				DirectFunctionCall2(setval_oid,
									ObjectIdGetDatum(w->seqid),
									Int64GetDatum(maxseq));
				ereport(LOG,
						(errmsg("ame: sequence \"%s\" moved from %lld to %lld, past the highest seq in audit log \"%s\"",
								get_rel_name(w->seqid), (long long) next,
								(long long) maxseq, RelationGetRelationName(rel)),
						 errdetail("The log holds rows that did not take their seq from this sequence (a restore or logical replication).")));
			}
			UnlockRelationOid(w->seqid, ShareUpdateExclusiveLock);
		}
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}

/*
 * log_max_seq
 *		The highest seq in the log, counting the rows of transactions still
 *		in progress (a dirty snapshot); false when the log is empty.  One
 *		probe of the btree index on seq of each partition, its last entry
 *		(each partition has one: see ame_audit_add_partitions); a partition
 *		without one is scanned.  The cost is per transaction and per
 *		partition, never per row.
 */
static bool
log_max_seq(AuditWriter *w, Relation rel, int64 *maxseq)
{
	bool		found = false;

	*maxseq = 0;
	max_seq_of(rel, maxseq, &found);
	return found;
}

/*
 * max_seq_of
 *		Raise *maxseq to the highest seq of one table of the log, or of
 *		each partition under it.  The partitions come from the relcache's
 *		partition descriptor (detached-pending ones included: their rows
 *		are still there), not from a scan of pg_inherits.
 */
static void
max_seq_of(Relation rel, int64 *maxseq, bool *found)
{
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		PartitionDesc desc = RelationGetPartitionDesc(rel, false);

		for (int i = 0; i < desc->nparts; i++)
		{
			Relation	part;

			CHECK_FOR_INTERRUPTS();
			part = table_open(desc->oids[i], AccessShareLock);
			max_seq_of(part, maxseq, found);
			table_close(part, NoLock);	/* kept to the end, as any read's */
		}
	}
	else
		probe_max_seq(rel, maxseq, found);
}

/*
 * seq_index_of
 *		The valid, unconditional btree index whose first column is seq, or
 *		InvalidOid.  Chosen from the catalog caches, so that only that one
 *		index is opened and locked, not every index of the partition.
 */
static Oid
seq_index_of(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			result = InvalidOid;

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	indtup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		HeapTuple	reltup;
		bool		usable;

		if (!HeapTupleIsValid(indtup))
			continue;
		usable = ((Form_pg_index) GETSTRUCT(indtup))->indisvalid &&
			((Form_pg_index) GETSTRUCT(indtup))->indkey.values[0] == attnum &&
			heap_attisnull(indtup, Anum_pg_index_indpred, NULL);
		ReleaseSysCache(indtup);
		if (!usable)
			continue;
		reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));
		if (!HeapTupleIsValid(reltup))
			continue;
		usable = ((Form_pg_class) GETSTRUCT(reltup))->relam == BTREE_AM_OID;
		ReleaseSysCache(reltup);
		if (usable)
		{
			result = indexoid;
			break;
		}
	}
	list_free(indexes);
	return result;
}

/*
 * probe_max_seq
 *		Raise *maxseq to the highest seq of one table of the log.
 */
static void
probe_max_seq(Relation rel, int64 *maxseq, bool *found)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), "seq");
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Relation	index = NULL;
	Oid			indexoid;
	SnapshotData dirty;
	bool		isnull;
	Datum		value;

	if (attnum == InvalidAttrNumber)
		return;
	InitDirtySnapshot(dirty);

	indexoid = seq_index_of(rel, attnum);
	if (OidIsValid(indexoid))
	{
		index = index_open(indexoid, AccessShareLock);
		/* what the cache said may have changed before the lock was had */
		if (!index->rd_index->indisvalid)
		{
			index_close(index, AccessShareLock);
			index = NULL;
		}
	}

	if (index != NULL)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;
		ScanDirection dir = (index->rd_indoption[0] & INDOPTION_DESC) ?
			ForwardScanDirection : BackwardScanDirection;

		ScanKeyEntryInitialize(&key, SK_ISNULL | SK_SEARCHNOTNULL, attnum,
							   InvalidStrategy, InvalidOid, InvalidOid,
							   InvalidOid, (Datum) 0);
		scan = systable_beginscan_ordered(rel, index, &dirty, 1, &key);
		tuple = systable_getnext_ordered(scan, dir);
		if (HeapTupleIsValid(tuple))
		{
			value = heap_getattr(tuple, attnum, tupdesc, &isnull);
			if (!isnull && (!*found || DatumGetInt64(value) > *maxseq))
			{
				*maxseq = DatumGetInt64(value);
				*found = true;
			}
		}
		systable_endscan_ordered(scan);
		index_close(index, AccessShareLock);
	}
	else
	{
		TableScanDesc scan = table_beginscan(rel, &dirty, 0, NULL);
		TupleTableSlot *slot = table_slot_create(rel, NULL);

		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			CHECK_FOR_INTERRUPTS();
			value = slot_getattr(slot, attnum, &isnull);
			if (!isnull && (!*found || DatumGetInt64(value) > *maxseq))
			{
				*maxseq = DatumGetInt64(value);
				*found = true;
			}
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
	}
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
 * log_is_plain
 *		Whether the fast path writes the log exactly as an INSERT of the
 *		trigger's columns would: no other column with a default, identity
 *		or generated value (a column without one is NULL either way), none
 *		of ours generated, no INSERT trigger (foreign keys and deferrable
 *		unique constraints are triggers too), no INSERT rule, no row
 *		security that binds the owner.  Constraints and indexes the fast
 *		path checks itself.  Decided whenever the writer is opened: once
 *		per transaction, again after the log's relcache entry changes.
 */
static bool
log_is_plain(AuditWriter *w, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	TriggerDesc *trig = rel->trigdesc;
	int			i;
	int			j;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		bool		ours = false;

		if (att->attisdropped)
			continue;
		for (j = 0; j < LOG_NCOLS; j++)
			if (w->attnum[j] == att->attnum)
				ours = true;
		if (att->attgenerated != '\0' ||
			(!ours && (att->atthasdef || att->attidentity != '\0')))
			return false;
	}

	if (trig != NULL &&
		(trig->trig_insert_before_row || trig->trig_insert_after_row ||
		 trig->trig_insert_instead_row ||
		 trig->trig_insert_before_statement ||
		 trig->trig_insert_after_statement ||
		 trig->trig_insert_new_table))
		return false;

	if (rel->rd_rules != NULL)
	{
		for (i = 0; i < rel->rd_rules->numLocks; i++)
			if (rel->rd_rules->rules[i]->event == CMD_INSERT)
				return false;
	}

	if (rel->rd_rel->relrowsecurity && rel->rd_rel->relforcerowsecurity)
		return false;

	return true;
}

/*
 * ame_audit_write_row
 *		Add one log row to the batch (see AuditPending); or insert it now
 *		when no batch can take it; or, for a log the fast path does not
 *		serve, through SPI.
 */
void
ame_audit_write_row(AuditWriter *w, Datum *values, bool *nulls)
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
				 errdetail("A constraint, index expression, trigger or rule of the audit log changed an audited table.")));

	/*
	 * A full batch (or one formed for another log or writer, or of another
	 * subtransaction), and any batch back from a holder, goes now; all of
	 * them before a row that does not wait.  The writer may be rebuilt
	 * meanwhile (same row type: see ame_audit_writer).
	 */
	if ((pending != NULL && pending->nrows > 0 &&
		 (!writes_directly(w, values) || !batch_takes(subid, w))) ||
		waiting != NULL)
	{
		Oid			logrelid = w->logrelid;
		Oid			seqid = w->seqid;

		flush_pending();
		w = ame_audit_writer(logrelid, seqid);
	}

	if (!writes_directly(w, values))
	{
		insert_row_spi(w, values, nulls);
		return;
	}

	if (pending == NULL)
		pending = new_batch();
	if (!batch_takes(subid, w))
	{
		/* only while the batch is being inserted */
		row = heap_form_tuple(tupdesc, rowvals, rownulls);
		insert_log_rows(w, &row, &cid, 1, false);
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
 * writes_directly
 *		Whether the fast path takes this row: the log is plain, and the row
 *		belongs to the partition found for the transaction (every row the
 *		trigger makes does: it is performed at the transaction's start).
 */
static bool
writes_directly(AuditWriter *w, Datum *values)
{
	return w->plain &&
		DatumGetTimestampTz(values[LOG_PERFORMED]) == w->routed_at;
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

/* an empty batch, in transaction memory */
static AuditPending *
new_batch(void)
{
	AuditPending *b;

	b = MemoryContextAllocZero(TopTransactionContext, sizeof(AuditPending));
	b->cxt = AllocSetContextCreate(TopTransactionContext, "ame audit batch",
								   ALLOCSET_DEFAULT_SIZES);
	return b;
}

static void
free_batch(AuditPending *b)
{
	MemoryContextDelete(b->cxt);
	pfree(b);
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
 *		Insert the waiting rows: the batches back from a holder that
 *		aborted, then the current one.  Each belongs to the current
 *		subtransaction or to one that encloses it; the latter are kept,
 *		held by the current one (see AuditPending).
 */
static void
flush_pending(void)
{
	SubTransactionId cur;
	bool		pushed = false;

	if ((pending == NULL || pending->nrows == 0) && waiting == NULL)
		return;
	if (flushing || IsInParallelMode())
		return;

	cur = GetCurrentSubTransactionId();
	flushing = true;
	PG_TRY();
	{
		if (!ActiveSnapshotSet())
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			pushed = true;
		}
		while (waiting != NULL)
		{
			AuditPending *b = waiting;

			flush_batch(b, cur);
			waiting = b->next;
			if (b->subid == cur)
				free_batch(b);
			else
			{
				b->holder = cur;
				b->next = held;
				held = b;
			}
		}
		if (pending != NULL && pending->nrows > 0)
		{
			flush_batch(pending, cur);
			if (pending->subid == cur)
			{
				pending->nrows = 0;
				pending->bytes = 0;
				MemoryContextReset(pending->cxt);
			}
			else
			{
				pending->holder = cur;
				pending->next = held;
				held = pending;
				pending = NULL;
			}
		}
		if (pushed)
			PopActiveSnapshot();
	}
	PG_FINALLY();
	{
		/*
		 * After an error the batches stay as they are: those of the
		 * current subtransaction go when it aborts, the others wait for
		 * their owner.
		 */
		flushing = false;
	}
	PG_END_TRY();
}

/*
 * flush_batch
 *		Insert one batch's rows.  A batch of the current subtransaction is
 *		done with (its rows are freed); one of an enclosing subtransaction
 *		keeps its rows, to be held.
 */
static void
flush_batch(AuditPending *b, SubTransactionId cur)
{
	AuditWriter *w = ame_audit_writer(b->logrelid, b->seqid);

	if (!same_row_type(b->tupdesc, w->tupdesc))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit log \"%s\" was altered while audit rows were waiting to be written",
						get_rel_name(b->logrelid)),
				 errdetail("A subtransaction changed the columns of the log.")));
	if (w->plain)
		insert_log_rows(w, b->rows, b->cids, b->nrows, b->subid != cur);
	else
		insert_rows_spi(w, b->tupdesc, b->rows, b->nrows);
}

/*
 * insert_log_rows
 *		Insert log rows as the extension's owner: constraints, heap
 *		(heap_multi_insert() per run of rows of the same command), indexes,
 *		as the executor would.  The rows are freed, unless kept.
 */
static void
insert_log_rows(AuditWriter *w, HeapTuple *rows, CommandId *cids, int nrows,
				bool keep)
{
	ResultRelInfo *rri = w->rri;
	EState	   *estate = w->estate;
	TupleTableSlot **slots = w->slots;
	Oid			save_userid;
	int			save_sec_context;
	int			i;
	int			start;

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
		/*
		 * The slots free the rows (or copies of kept ones); cleared below
		 * whatever happens.  Rows that are not kept belong to the current
		 * subtransaction: after an error they go with it.
		 */
		for (i = 0; i < nrows; i++)
			ExecStoreHeapTuple(rows[i], slots[i], !keep);

		/* the locks are held since open_writer */
		rri->ri_RelationDesc = relation_open(w->leafrelid, NoLock);
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
									  NULL, NIL, false);
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
 * insert_rows_spi
 *		Formed rows (waiting when the log's shape changed) through the
 *		slow path, one by one.
 */
static void
insert_rows_spi(AuditWriter *w, TupleDesc tupdesc, HeapTuple *rows,
				int nrows)
{
	Datum	   *rowvals = palloc(tupdesc->natts * sizeof(Datum));
	bool	   *rownulls = palloc(tupdesc->natts * sizeof(bool));
	Datum		values[LOG_NCOLS];
	bool		nulls[LOG_NCOLS];
	int			i;
	int			j;

	for (i = 0; i < nrows; i++)
	{
		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(rows[i], tupdesc, rowvals, rownulls);
		for (j = 0; j < LOG_NCOLS; j++)
		{
			values[j] = rowvals[w->attnum[j] - 1];
			nulls[j] = rownulls[w->attnum[j] - 1];
		}
		insert_row_spi(w, values, nulls);
	}
	pfree(rowvals);
	pfree(rownulls);
}

/*
 * insert_row_spi
 *		One log row through the slow path: the prepared INSERT, run as the
 *		extension's owner (the log's triggers and rules with it) in a
 *		security-restricted operation with search_path = pg_catalog,
 *		pg_temp, as PostgreSQL runs an owner's index expressions for
 *		another role: the caller's settings steer none of the owner's code.
 */
static void
insert_row_spi(AuditWriter *w, Datum *values, bool *nulls)
{
	char		nullchars[LOG_NCOLS];
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	int			rc;
	int			i;

	for (i = 0; i < LOG_NCOLS; i++)
		nullchars[i] = nulls[i] ? 'n' : ' ';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(w->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	inserting = true;
	PG_TRY();
	{
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		rc = SPI_execute_plan(slow_plan_for(w), values, nullchars, false, 0);
		if (rc < 0)
			elog(ERROR, "SPI_execute_plan returned %s",
				 SPI_result_code_string(rc));
		AtEOXact_GUC(false, save_nestlevel);
	}
	PG_FINALLY();
	{
		inserting = false;
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();

	SPI_finish();
}

/*
 * slow_plan_for
 *		The prepared INSERT of the trigger's columns (but generated ones)
 *		into the log, kept across transactions; prepared again when the
 *		plan cache found it invalid (the log changed, or its schema was
 *		renamed), since its text names the log.
 */
static SPIPlanPtr
slow_plan_for(AuditWriter *w)
{
	StringInfoData sql;
	StringInfoData vals;
	SPIPlanPtr	plan;
	Oid			argtypes[LOG_NCOLS];
	bool		first = true;
	int			i;

	if (slow_plan != NULL &&
		slow_plan_relid == w->logrelid && SPI_plan_is_valid(slow_plan))
		return slow_plan;

	if (slow_plan != NULL)
	{
		SPI_freeplan(slow_plan);
		slow_plan = NULL;
	}

	initStringInfo(&sql);
	initStringInfo(&vals);
	appendStringInfo(&sql, "INSERT INTO %s (",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(w->logrelid)),
												get_rel_name(w->logrelid)));
	for (i = 0; i < LOG_NCOLS; i++)
	{
		argtypes[i] = log_types[i];
		if (TupleDescAttr(w->tupdesc, w->attnum[i] - 1)->attgenerated != '\0')
			continue;
		appendStringInfo(&sql, "%s%s", first ? "" : ", ",
						 quote_identifier(log_columns[i]));
		appendStringInfo(&vals, "%s$%d", first ? "" : ", ", i + 1);
		first = false;
	}
	appendStringInfo(&sql, ") VALUES (%s)", vals.data);

	plan = SPI_prepare(sql.data, LOG_NCOLS, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	slow_plan = plan;
	slow_plan_relid = w->logrelid;
	return plan;
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
