/*-------------------------------------------------------------------------
 *
 * audit_image.c
 *	  The audit trail's images: what the trigger knows of an audited table
 *	  (its columns and how each one becomes JSON, cached per relation and
 *	  invalidated by a relcache callback) and the jsonb object of a row,
 *	  written straight in jsonb's binary layout.
 *
 * Each column is converted as to_jsonb() would convert it; an image is
 * byte for byte what to_jsonb(row) gives (test/audit_shapes.sql).
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


#include "audit.h"

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
static AuditRelInfo *build_relinfo(Relation rel);
static AuditKind kind_of_type(Oid typid);
static int	key_order(const void *a, const void *b);
static void column_to_jsonb(AuditRelInfo *info, AuditColumn *col,
							Datum value, bool isnull, JsonbValue *out);

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
 *		the call uses it, whatever user code the call runs.
 */
AuditRelInfo *
ame_audit_relinfo_pin(Relation rel, int *pin)
{
	Oid			relid = RelationGetRelid(rel);
	AuditRelEntry *entry;
	AuditRelInfo *info;
	bool		found;

	register_callbacks();
	entry = hash_search(relinfo_hash, &relid, HASH_ENTER, &found);
	if (!found)
		entry->info = NULL;
	if (entry->info == NULL || !entry->info->valid)
	{
		AuditRelInfo *old = entry->info;

		/*
		 * Build first: an error leaves the old entry as it was.  A change
		 * of the relation seen while building (the catalog lookups take in
		 * invalidations) leaves the new entry marked for a rebuild.
		 */
		building_relid = relid;
		building_invalidated = false;
		info = build_relinfo(rel);
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
 *		Work out the columns of an audited table and how each one becomes
 *		JSON.  Built in a context of the call's memory and handed over to
 *		the cache only when complete, so that an error leaves nothing
 *		behind.
 */
static AuditRelInfo *
build_relinfo(Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	MemoryContext cxt;
	MemoryContext oldcxt;
	AuditRelInfo *info;
	AuditColumn *cols;
	int			ncols = 0;
	AttrNumber	id_attnum = 0;
	const char *id_problem = "It has no column \"id\" of type uuid.";
	int			i;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ame audited relation",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);

	info = palloc0(sizeof(AuditRelInfo));
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

	info->relid = RelationGetRelid(rel);
	info->cxt = cxt;
	info->last_cxt = AllocSetContextCreate(cxt, "ame audit last values",
										   ALLOCSET_SMALL_SIZES);
	info->cols = cols;
	info->ncols = ncols;
	info->id_attnum = id_attnum;
	info->id_problem = id_problem;
	info->schema_text =
		CStringGetTextDatum(get_namespace_name(RelationGetNamespace(rel)));
	info->table_text = CStringGetTextDatum(RelationGetRelationName(rel));
	MemoryContextSwitchTo(oldcxt);

	MemoryContextSetParent(cxt, audit_cache_cxt);
	info->valid = true;
	return info;
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
			return AK_DATETIME;	/* time and timetz: their output functions */
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
				 * All these types are passed by value.
				 */
				if (col->have_last &&
					col->last_value == value &&
					col->last_tz == session_timezone)
					s = pstrdup(col->last_string);
				else
				{
					s = JsonEncodeDateTime(NULL, value, col->typid, NULL);
					if (col->have_last)
						pfree(col->last_string);
					col->last_string = MemoryContextStrdup(info->last_cxt, s);
					col->last_value = value;
					col->last_tz = session_timezone;
					col->have_last = true;
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
 * ame_audit_set_pair
 *		One key/value pair of an image.  A nested jsonb value is expanded
 *		into a tree, since the image is assembled from JsonbValues.
 */
void
ame_audit_set_pair(JsonbPair *pair, AuditRelInfo *info, AuditColumn *col, Datum value,
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
 * ame_audit_pairs_to_jsonb
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
Jsonb *
ame_audit_pairs_to_jsonb(JsonbPair *pairs, int npairs)
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
