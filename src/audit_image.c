/*-------------------------------------------------------------------------
 *
 * audit_image.c
 *	  What the audit trigger knows of an audited table: its columns and
 *	  how each one becomes JSON, cached per relation, invalidated by a
 *	  relcache callback, and pinned by the calls that use it.  The images
 *	  themselves are written by audit_jsonb.c.
 *
 * The columns excluded from the audit are simply left out of the entry:
 * the trigger never looks at them, so an exclusion costs nothing per row,
 * and a table without exclusions pays nothing for the feature.  They are
 * read when the entry is built: the table's row (and, for a partition, its
 * ancestors' rows) in ame_audit_exclusions, which ame_enable_audit()
 * keeps and pg_dump dumps (the triggers of the extension's own tables are
 * not dumped, so their arguments would not survive a restore), plus the
 * trigger's own arguments (a trigger attached by hand).  ame_enable_audit()
 * makes the trigger again when the list changes, which invalidates the
 * table's relcache entry, and so this one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "audit.h"

#define EXCLUSIONS_NAME	"ame_audit_exclusions"

/* the cache: relid -> the current entry for that relation */
typedef struct AuditRelEntry
{
	Oid			relid;			/* hash key */
	AuditRelInfo *info;
} AuditRelEntry;

/*
 * The pins of the calls under way, innermost last.  A call's pin is taken
 * in the subtransaction then current; calls nest, so the subtransaction
 * ids grow towards the top.  An error that unwinds calls leaves their pins
 * here: the subtransaction (or transaction) it aborts releases them.
 */
typedef struct AuditPin
{
	AuditRelInfo *info;
	SubTransactionId subid;
} AuditPin;

static HTAB *relinfo_hash = NULL;
static MemoryContext audit_cache_cxt = NULL;
static AuditPin *pins = NULL;
static int	npins = 0;
static int	maxpins = 0;

/* the relation an entry is being built for, and whether it changed since */
static Oid	building_relid = InvalidOid;
static bool building_invalidated = false;

static void register_callbacks(void);
static void relcache_callback(Datum arg, Oid relid);
static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);
static void release_pins(int depth);
static AuditRelInfo *build_relinfo(Relation rel, Trigger *trigger, Oid nspid);
static bool *excluded_columns(Relation rel, Trigger *trigger, Oid nspid,
							  bool *id_excluded, const char **missing);
static void exclude_column(TupleDesc tupdesc, const char *name, bool *excluded,
						   bool *id_excluded, const char **missing);
static List *configured_exclusions(Relation rel, Oid nspid);

static void
register_callbacks(void)
{
	HASHCTL		ctl;

	if (relinfo_hash != NULL)
		return;

	audit_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
											"ame audit cache",
											ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(AuditRelEntry);
	ctl.hcxt = audit_cache_cxt;
	relinfo_hash = hash_create("ame audited relations", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	maxpins = 8;
	pins = MemoryContextAlloc(audit_cache_cxt, maxpins * sizeof(AuditPin));
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

/*
 * A relation changed: mark what we knew of it (InvalidOid: of all) for a
 * rebuild.  Only marked: a call may be using it.
 */
static void
relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	AuditRelEntry *entry;

	if (relid == InvalidOid || relid == building_relid)
		building_invalidated = true;
	if (relinfo_hash == NULL)
		return;
	if (relid != InvalidOid)
	{
		entry = hash_search(relinfo_hash, &relid, HASH_FIND, NULL);
		if (entry && entry->info)
			entry->info->valid = false;
		return;
	}
	hash_seq_init(&status, relinfo_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->info)
			entry->info->valid = false;
}

/* at the end of the transaction no call is under way: release every pin */
static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			release_pins(0);
			break;
		default:
			break;
	}
}

/*
 * A subtransaction that aborts has unwound every call that began in it or
 * in one of its children: their pins go.
 */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	int			depth = npins;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (depth > 0 && pins[depth - 1].subid >= mySubid)
		depth--;
	release_pins(depth);
}

/* release the pins above depth; free the replaced entries no call uses */
static void
release_pins(int depth)
{
	while (npins > depth)
	{
		AuditRelInfo *info = pins[--npins].info;

		if (--info->refcount == 0 && info->orphaned)
			MemoryContextDelete(info->cxt);
	}
}

/*
 * ame_audit_relinfo_pin
 *		What the trigger knows of this relation, (re)built if it changed,
 *		pinned until ame_audit_relinfo_unpin(*pin): it stays whole while
 *		the call uses it, whatever user code the call runs.  The entry
 *		applies the exclusions of one trigger (there is normally one audit
 *		trigger per table): another trigger's call rebuilds it.  nspid is
 *		the extension's schema.
 */
AuditRelInfo *
ame_audit_relinfo_pin(Relation rel, Trigger *trigger, Oid nspid, int *pin)
{
	Oid			relid = RelationGetRelid(rel);
	AuditRelEntry *entry;
	AuditRelInfo *info;
	bool		found;

	register_callbacks();
	entry = hash_search(relinfo_hash, &relid, HASH_ENTER, &found);
	if (!found)
		entry->info = NULL;
	if (entry->info == NULL || !entry->info->valid ||
		entry->info->tgoid != trigger->tgoid)
	{
		AuditRelInfo *old = entry->info;

		/*
		 * Build first: an error leaves the old entry as it was.  A change
		 * of the relation seen while building (the catalog lookups take in
		 * invalidations) leaves the new entry marked for a rebuild.
		 */
		building_relid = relid;
		building_invalidated = false;
		info = build_relinfo(rel, trigger, nspid);
		building_relid = InvalidOid;
		if (building_invalidated)
			info->valid = false;
		entry = hash_search(relinfo_hash, &relid, HASH_FIND, NULL);
		Assert(entry != NULL);
		entry->info = info;
		if (old != NULL)
		{
			if (old->refcount > 0)
				old->orphaned = true;
			else
				MemoryContextDelete(old->cxt);
		}
	}
	info = entry->info;

	if (npins == maxpins)
	{
		pins = repalloc(pins, 2 * maxpins * sizeof(AuditPin));
		maxpins *= 2;
	}
	pins[npins].info = info;
	pins[npins].subid = GetCurrentSubTransactionId();
	*pin = npins++;
	info->refcount++;
	return info;
}

/*
 * ame_audit_relinfo_unpin
 *		The call is done with its entry.  Pins above its own can only be
 *		left by calls an error unwound: they go too.
 */
void
ame_audit_relinfo_unpin(int pin)
{
	Assert(pin >= 0 && pin < npins);
	release_pins(pin);
}

/*
 * build_relinfo
 *		Work out the columns of an audited table that the trigger logs
 *		(all but the excluded ones) and how each one becomes JSON.  Built in a context of the call's memory and handed over to
 *		the cache only when complete, so that an error leaves nothing
 *		behind.
 */
static AuditRelInfo *
build_relinfo(Relation rel, Trigger *trigger, Oid nspid)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	MemoryContext cxt;
	MemoryContext oldcxt;
	AuditRelInfo *info;
	AuditColumn *cols;
	int			ncols = 0;
	AttrNumber	id_attnum = 0;
	const char *id_problem = "It has no column \"id\" of type uuid.";
	bool	   *excluded;
	bool		id_excluded;
	const char *missing;
	int			i;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ame audited relation",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);

	info = palloc0(sizeof(AuditRelInfo));
	cols = palloc0(tupdesc->natts * sizeof(AuditColumn));
	excluded = excluded_columns(rel, trigger, nspid, &id_excluded, &missing);
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
		if (excluded[i])
			continue;

		col = &cols[ncols++];
		col->attnum = att->attnum;
		col->typid = getBaseType(att->atttypid);
		col->kind = ame_audit_kind_of_type(col->typid);
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
		qsort(sorted, ncols, sizeof(AuditColumn *), ame_audit_key_order);
		for (i = 0; i < ncols; i++)
			sorted[i]->pair = i;
		pfree(sorted);
	}

	info->relid = RelationGetRelid(rel);
	info->cxt = cxt;
	info->last_cxt = AllocSetContextCreate(cxt, "ame audit last values",
										   ALLOCSET_SMALL_SIZES);
	info->cols = cols;
	info->ncols = ncols;
	info->id_attnum = id_attnum;
	info->id_problem = id_problem;
	if (id_excluded)
	{
		/* history is kept by "id": it cannot be left out */
		info->id_attnum = 0;
		info->id_problem = "Its audit trigger excludes column \"id\", by which history is kept.";
	}
	info->tgoid = trigger->tgoid;
	info->missing_excluded = missing;
	pfree(excluded);
	info->schema_text =
		CStringGetTextDatum(get_namespace_name(RelationGetNamespace(rel)));
	info->table_text = CStringGetTextDatum(RelationGetRelationName(rel));
	MemoryContextSwitchTo(oldcxt);

	MemoryContextSetParent(cxt, audit_cache_cxt);
	info->valid = true;
	return info;
}

/*
 * excluded_columns
 *		Which columns (by attnum - 1) the trigger leaves out: those listed
 *		for the table (or an ancestor of it) in ame_audit_exclusions, those
 *		the trigger's arguments name, and, on the extension's own
 *		ame_visit_sessions and ame_visit_sessions_archive, always
 *		session_token (a bearer credential must never reach the log,
 *		however the trigger was attached).  *id_excluded: "id" is listed.
 *		*missing: the first listed name that no column has (renamed or
 *		dropped since), or NULL.  Allocated in the current memory context.
 */
static bool *
excluded_columns(Relation rel, Trigger *trigger, Oid nspid,
				 bool *id_excluded, const char **missing)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	bool	   *excluded = palloc0(Max(tupdesc->natts, 1) * sizeof(bool));
	const char *relname = RelationGetRelationName(rel);
	ListCell   *lc;
	int			i;

	*id_excluded = false;
	*missing = NULL;
	foreach(lc, configured_exclusions(rel, nspid))
		exclude_column(tupdesc, (const char *) lfirst(lc), excluded,
					   id_excluded, missing);
	for (i = 0; i < trigger->tgnargs; i++)
		exclude_column(tupdesc, trigger->tgargs[i], excluded,
					   id_excluded, missing);

	if (RelationGetNamespace(rel) == nspid &&
		(strcmp(relname, "ame_visit_sessions") == 0 ||
		 strcmp(relname, "ame_visit_sessions_archive") == 0))
	{
		int			attnum = SPI_fnumber(tupdesc, "session_token");

		if (attnum > 0)
			excluded[attnum - 1] = true;
	}
	return excluded;
}

/* mark one listed column excluded; note "id" and names no column has */
static void
exclude_column(TupleDesc tupdesc, const char *name, bool *excluded,
			   bool *id_excluded, const char **missing)
{
	/* SPI_fnumber: negative for a system column or no such column */
	int			attnum = SPI_fnumber(tupdesc, name);

	if (attnum <= 0)
	{
		if (*missing == NULL)
			*missing = pstrdup(name);
	}
	else if (strcmp(name, "id") == 0)
		*id_excluded = true;
	else
		excluded[attnum - 1] = true;
}

/*
 * configured_exclusions
 *		The column names listed in ame_audit_exclusions for this relation
 *		and, for a partition, for its ancestors (a partitioned table's list
 *		holds for its partitions).  Read directly, by the table's primary
 *		key, as the catalogs are read: the caller needs no right on it.
 */
static List *
configured_exclusions(Relation rel, Oid nspid)
{
	Oid			cfgid = get_relname_relid(EXCLUSIONS_NAME, nspid);
	List	   *relids;
	List	   *names = NIL;
	Relation	cfg;
	TupleDesc	cfgdesc;
	Oid			pkey;
	AttrNumber	tblcol;
	AttrNumber	listcol;
	Snapshot	snapshot;
	ListCell   *lc;

	if (!OidIsValid(cfgid))
		return NIL;
	relids = list_make1_oid(RelationGetRelid(rel));
	if (rel->rd_rel->relispartition)
		relids = list_concat(relids,
							 get_partition_ancestors(RelationGetRelid(rel)));

	cfg = table_open(cfgid, AccessShareLock);
	cfgdesc = RelationGetDescr(cfg);
	tblcol = SPI_fnumber(cfgdesc, "relid");
	listcol = SPI_fnumber(cfgdesc, "excluded_columns");
	if (tblcol <= 0 || listcol <= 0 ||
		TupleDescAttr(cfgdesc, tblcol - 1)->atttypid != REGCLASSOID ||
		TupleDescAttr(cfgdesc, listcol - 1)->atttypid != TEXTARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" does not have the columns the audit trigger reads",
						EXCLUSIONS_NAME),
				 errhint("Reinstall the extension with DROP EXTENSION ame and CREATE EXTENSION ame.")));
	pkey = RelationGetPrimaryKeyIndex(cfg);
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	foreach(lc, relids)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;

		ScanKeyInit(&key, tblcol, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(lfirst_oid(lc)));
		scan = systable_beginscan(cfg, pkey, OidIsValid(pkey), snapshot,
								  1, &key);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		list = heap_getattr(tuple, listcol, cfgdesc, &isnull);
			Datum	   *elems;
			bool	   *elemnulls;
			int			n;
			int			i;

			CHECK_FOR_INTERRUPTS();
			if (isnull)
				continue;
			deconstruct_array(DatumGetArrayTypeP(list), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &elemnulls, &n);
			for (i = 0; i < n; i++)
				if (!elemnulls[i])
					names = lappend(names, TextDatumGetCString(elems[i]));
		}
		systable_endscan(scan);
	}

	UnregisterSnapshot(snapshot);
	table_close(cfg, AccessShareLock);
	return names;
}
