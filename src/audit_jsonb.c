/*-------------------------------------------------------------------------
 *
 * audit_jsonb.c
 *	  The jsonb image of a row, written straight in jsonb's binary layout:
 *	  each column converted as to_jsonb() would convert it, the object laid
 *	  out as JsonbValueToJsonb() would lay it out.  An image is byte for
 *	  byte what to_jsonb(row) gives; test/audit_shapes.sql checks it for
 *	  every kind of column.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "audit.h"

static void column_to_jsonb(AuditRelInfo *info, AuditColumn *col,
							Datum value, bool isnull, JsonbValue *out);

/* the conversion to_jsonb() would use for this (base) type */
AuditKind
ame_audit_kind_of_type(Oid typid)
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
int
ame_audit_key_order(const void *a, const void *b)
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
