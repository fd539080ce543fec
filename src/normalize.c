/*-------------------------------------------------------------------------
 *
 * normalize.c
 *	  normalize_customer_data(): BEFORE INSERT OR UPDATE row trigger on
 *	  ame_customers that brings phone, email, service tier and customer
 *	  number into canonical form, and rejects what cannot be.
 *
 *	  phone            digits only; a trailing extension ("x", "ext",
 *	                   "ext." or "#" followed by digits) moves to
 *	                   phone_extension; blank becomes NULL
 *	  phone_extension  digits only, at most 10; blank becomes NULL
 *	  email            trimmed and lower-cased; empty becomes NULL; must
 *	                   have the form local@domain
 *	  service_tier     trimmed and upper-cased; CORE, ASSURE or GUARDIAN
 *	  customer_number  when NULL or blank on INSERT: "AME-" and the next
 *	                   value of customer_sequence, zero-padded to six
 *	                   digits, skipping numbers already taken; on UPDATE a
 *	                   NULL or blank keeps the old number
 *
 * Normalization is idempotent, and on UPDATE only columns whose value
 * changed are looked at, so a row stored before a rule existed does not
 * block unrelated updates.  The trigger never modifies the trigger tuple
 * in place: it forms a new row from the deformed values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/acl.h"

#include "ame.h"

#define FUNCNAME			"normalize_customer_data"
#define SEQUENCE_NAME		"customer_sequence"
#define MAX_EXTENSION_DIGITS 10
#define INTERRUPT_STRIDE	0xFFFF	/* bytes between interrupt checks - 1 */

/* the columns the trigger writes, in the order of the state's attnums */
enum
{
	COL_PHONE,
	COL_EXTENSION,
	COL_EMAIL,
	COL_TIER,
	COL_NUMBER,
	NUM_COLS
};

static const char *const column_names[NUM_COLS] = {
	"phone", "phone_extension", "email", "service_tier", "customer_number"
};

/*
 * Generated numbers are checked against the numbers already taken in
 * windows of this many sequence values: one index range scan per window
 * instead of one probe per row.
 */
#define NUMBER_WINDOW		1024
#define WINDOW_LIFETIME_US	5000	/* 5 ms */

/* per-statement state, kept in fn_extra */
typedef struct NormalizeState
{
	Oid			relid;
	AttrNumber	attnum[NUM_COLS];
	Oid			seqid;			/* customer_sequence */
	Oid			number_index;	/* unique index on customer_number, or 0 */
	bool		lenient;		/* a restore: keep what cannot be normalized */
	/* numbers taken in [window_start, window_end], when window_end > 0 */
	int64		window_start;
	int64		window_end;
	TimestampTz window_read;	/* when; a window is trusted this long */
	uint8		taken[NUMBER_WINDOW / 8];
} NormalizeState;

/* the new values of the trigger's columns, before the tuple is rebuilt */
typedef struct NewValues
{
	int			n;
	int			cols[NUM_COLS];	/* COL_* */
	Datum		values[NUM_COLS];
	bool		nulls[NUM_COLS];
} NewValues;

static NormalizeState *get_state(FunctionCallInfo fcinfo, Relation rel);
static Oid	find_number_index(Relation rel, AttrNumber attnum);
static void set_column(NewValues *nv, int col, const char *value);
static bool is_space(char c);
static void trim(const char **s, int *len);
static int	keep_digits(const char *s, int len, char *out);
static const char *find_extension(const char *s, int len, int *number_len);
static void normalize_phone(const char *s, int len, bool lenient,
							char **phone, char **extension);
static char *normalize_extension(const char *s, int len, bool lenient);
static char *normalize_email(const char *s, int len, bool lenient);
static const char *normalize_tier(const char *s, int len, bool lenient);
static void note_taken_number(NormalizeState *state, const char *s, int len);
static char *format_customer_number(int64 value);
static char *next_customer_number(Relation rel, NormalizeState *state);
static void scan_number_window(Relation rel, NormalizeState *state,
							   int64 start);
static int	digits_of(int64 value);

PG_FUNCTION_INFO_V1(normalize_customer_data);

/*
 * normalize_customer_data() RETURNS trigger
 *		BEFORE INSERT OR UPDATE FOR EACH ROW on ame_customers.
 */
Datum
normalize_customer_data(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	tupdesc;
	NormalizeState *state;
	HeapTuple	newtuple;
	HeapTuple	oldtuple = NULL;
	bool		is_update;
	Datum	   *rowvals;
	bool	   *rownulls;
	Datum		vals[NUM_COLS];
	bool		nulls[NUM_COLS];
	Datum		oldvals[NUM_COLS];
	bool		oldnulls[NUM_COLS];
	bool		look[NUM_COLS];
	NewValues	nv;
	int			col;

	ame_check_trigger(fcinfo, FUNCNAME, AME_TRIG_BEFORE,
					  AME_TRIG_INSERT | AME_TRIG_UPDATE);

	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	if (is_update)
	{
		oldtuple = trigdata->tg_trigtuple;
		newtuple = trigdata->tg_newtuple;
	}
	else
		newtuple = trigdata->tg_trigtuple;

	state = get_state(fcinfo, rel);

	/* the whole row once: the result is formed from these values */
	rowvals = palloc(tupdesc->natts * sizeof(Datum));
	rownulls = palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(newtuple, tupdesc, rowvals, rownulls);

	/* which columns to look at: all on INSERT, the changed ones on UPDATE */
	for (col = 0; col < NUM_COLS; col++)
	{
		AttrNumber	attnum = state->attnum[col];

		vals[col] = rowvals[attnum - 1];
		nulls[col] = rownulls[attnum - 1];
		look[col] = true;
		if (is_update)
		{
			oldvals[col] = heap_getattr(oldtuple, attnum, tupdesc,
										&oldnulls[col]);
			look[col] = ame_datum_changed(oldvals[col], oldnulls[col],
										  vals[col], nulls[col],
										  TupleDescAttr(tupdesc, attnum - 1));
		}
	}

	nv.n = 0;

	/* phone, and the extension it may carry */
	if (look[COL_PHONE] && !nulls[COL_PHONE])
	{
		text	   *t = DatumGetTextPP(vals[COL_PHONE]);
		char	   *phone;
		char	   *extension;

		normalize_phone(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), state->lenient,
						&phone, &extension);
		set_column(&nv, COL_PHONE, phone);
		if (extension != NULL)
		{
			set_column(&nv, COL_EXTENSION, extension);
			look[COL_EXTENSION] = false;
		}
	}

	if (look[COL_EXTENSION] && !nulls[COL_EXTENSION])
	{
		text	   *t = DatumGetTextPP(vals[COL_EXTENSION]);

		set_column(&nv, COL_EXTENSION,
				   normalize_extension(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
									   state->lenient));
	}

	if (look[COL_EMAIL] && !nulls[COL_EMAIL])
	{
		text	   *t = DatumGetTextPP(vals[COL_EMAIL]);

		set_column(&nv, COL_EMAIL,
				   normalize_email(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
								   state->lenient));
	}

	/* a NULL tier is left to the NOT NULL constraint */
	if (look[COL_TIER] && !nulls[COL_TIER])
	{
		text	   *t = DatumGetTextPP(vals[COL_TIER]);

		set_column(&nv, COL_TIER,
				   normalize_tier(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
								  state->lenient));
	}

	if (look[COL_NUMBER])
	{
		const char *s = NULL;
		int			len = 0;

		if (!nulls[COL_NUMBER])
		{
			text	   *t = DatumGetTextPP(vals[COL_NUMBER]);

			s = VARDATA_ANY(t);
			len = VARSIZE_ANY_EXHDR(t);
			trim(&s, &len);
		}

		if (len > 0)
		{
			/* a number given in this statement is taken for the generator */
			note_taken_number(state, s, len);
			set_column(&nv, COL_NUMBER, pnstrdup(s, len));
		}
		else if (is_update)
		{
			/* NULL or blank on UPDATE keeps the number the row had */
			int			n = nv.n++;

			nv.cols[n] = COL_NUMBER;
			nv.values[n] = oldvals[COL_NUMBER];
			nv.nulls[n] = oldnulls[COL_NUMBER];
		}
		else
			set_column(&nv, COL_NUMBER,
					   next_customer_number(rel, state));
	}

	/*
	 * Keep only the values that normalization really changed, and form a
	 * new row from the deformed one (never modifying the trigger tuple);
	 * like heap_modify_tuple(), keep the old tuple's identification.
	 */
	{
		HeapTuple	result;
		bool		changed = false;
		int			i;

		for (i = 0; i < nv.n; i++)
		{
			int			c = nv.cols[i];
			AttrNumber	attnum = state->attnum[c];

			if (!ame_datum_changed(vals[c], nulls[c],
								   nv.values[i], nv.nulls[i],
								   TupleDescAttr(tupdesc, attnum - 1)))
				continue;
			rowvals[attnum - 1] = nv.values[i];
			rownulls[attnum - 1] = nv.nulls[i];
			changed = true;
		}

		if (!changed)
			return PointerGetDatum(newtuple);

		result = heap_form_tuple(tupdesc, rowvals, rownulls);
		result->t_data->t_ctid = newtuple->t_data->t_ctid;
		result->t_self = newtuple->t_self;
		result->t_tableOid = newtuple->t_tableOid;
		return PointerGetDatum(result);
	}
}

/*
 * get_state
 *		Look up, once per statement, the columns, the sequence and the
 *		index the trigger needs.
 */
static NormalizeState *
get_state(FunctionCallInfo fcinfo, Relation rel)
{
	NormalizeState *state = (NormalizeState *) fcinfo->flinfo->fn_extra;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *relname = RelationGetRelationName(rel);
	Oid			nspid;
	int			col;

	if (state != NULL && state->relid == RelationGetRelid(rel))
		return state;

	state = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
								   sizeof(NormalizeState));
	state->relid = RelationGetRelid(rel);
	for (col = 0; col < NUM_COLS; col++)
		state->attnum[col] = ame_required_column(tupdesc, relname, FUNCNAME,
												 column_names[col], TEXTOID);

	/* the sequence lives in the extension's schema, as this function does */
	nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
	state->seqid = get_relname_relid(SEQUENCE_NAME, nspid);
	if (!OidIsValid(state->seqid) || get_rel_relkind(state->seqid) != RELKIND_SEQUENCE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s.%s\" does not exist",
						get_namespace_name(nspid), SEQUENCE_NAME),
				 errhint("Reinstall the extension with DROP EXTENSION ame and CREATE EXTENSION ame.")));

	state->number_index = find_number_index(rel,
											state->attnum[COL_NUMBER]);
	state->lenient = ame_restore_signalled(rel);
	fcinfo->flinfo->fn_extra = state;
	return state;
}

/*
 * find_number_index
 *		A valid unique btree index whose only key is customer_number, if the
 *		table has one; generated numbers are probed against it.
 */
static Oid
find_number_index(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			result = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = idx->rd_index;

		if (form->indisunique && form->indisvalid && form->indimmediate &&
			form->indnkeyatts == 1 && form->indkey.values[0] == attnum &&
			idx->rd_rel->relam == BTREE_AM_OID &&
			RelationGetIndexPredicate(idx) == NIL)
			result = RelationGetRelid(idx);
		index_close(idx, AccessShareLock);
		if (OidIsValid(result))
			break;
	}
	list_free(indexes);
	return result;
}

/* Queue a new text value for one of the trigger's columns (NULL: SQL NULL). */
static void
set_column(NewValues *nv, int col, const char *value)
{
	int			n = nv->n++;

	nv->cols[n] = col;
	nv->nulls[n] = (value == NULL);
	nv->values[n] = value ? CStringGetTextDatum(value) : (Datum) 0;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/* Narrow s/len to the text without leading and trailing white space. */
static void
trim(const char **s, int *len)
{
	while (*len > 0 && is_space(**s))
	{
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_space((*s)[*len - 1]))
		(*len)--;
}

/* Copy the ASCII digits of s into out; returns how many there were. */
static int
keep_digits(const char *s, int len, char *out)
{
	int			n = 0;
	int			i;

	for (i = 0; i < len; i++)
	{
		/* a value can be up to 1 GB: stay cancellable */
		if ((i & INTERRUPT_STRIDE) == INTERRUPT_STRIDE)
			CHECK_FOR_INTERRUPTS();
		if (s[i] >= '0' && s[i] <= '9')
			out[n++] = s[i];
	}
	out[n] = '\0';
	return n;
}

/*
 * find_extension
 *		If s ends in an extension -- a marker "x", "ext", "ext." or "#" (any
 *		case, optional spaces around it) followed by digits -- return where
 *		its digits start and set *number_len to the length of what comes
 *		before the marker.  Otherwise return NULL.  A letter marker must not
 *		be glued to a preceding letter ("box 5" has no extension).
 */
static const char *
find_extension(const char *s, int len, int *number_len)
{
	int			digits = len;
	int			end;
	int			start;

	while (digits > 0 && s[digits - 1] >= '0' && s[digits - 1] <= '9')
		digits--;
	if (digits == len)
		return NULL;			/* no trailing digits */

	end = digits;
	while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;

	if (end >= 1 && s[end - 1] == '#')
		start = end - 1;
	else if (end >= 4 && pg_strncasecmp(s + end - 4, "ext.", 4) == 0)
		start = end - 4;
	else if (end >= 3 && pg_strncasecmp(s + end - 3, "ext", 3) == 0)
		start = end - 3;
	else if (end >= 1 && (s[end - 1] == 'x' || s[end - 1] == 'X'))
		start = end - 1;
	else
		return NULL;

	if (s[start] != '#' && start > 0 &&
		((s[start - 1] >= 'a' && s[start - 1] <= 'z') ||
		 (s[start - 1] >= 'A' && s[start - 1] <= 'Z')))
		return NULL;

	*number_len = start;
	return s + digits;
}

/*
 * normalize_phone
 *		Split a phone into its digits and, if it carries one, an extension.
 *		*phone is NULL for a blank value; *extension is NULL when the value
 *		has no extension.
 */
static void
normalize_phone(const char *s, int len, bool lenient, char **phone,
				char **extension)
{
	const char *orig = s;
	int			origlen = len;
	const char *ext;
	int			number_len;
	char	   *digits;

	*phone = NULL;
	*extension = NULL;

	trim(&s, &len);
	if (len == 0)
		return;

	ext = find_extension(s, len, &number_len);
	if (ext != NULL)
	{
		*extension = normalize_extension(ext, len - (int) (ext - s), lenient);
		len = number_len;
	}

	digits = palloc(len + 1);
	if (keep_digits(s, len, digits) == 0)
	{
		if (lenient)
		{
			*phone = pnstrdup(orig, origlen);
			*extension = NULL;
			return;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid phone number \"%s\"",
						pnstrdup(orig, origlen)),
				 errdetail("A phone number must contain at least one digit before any extension.")));
	}
	*phone = digits;
}

/* Digits of an extension; NULL when blank. */
static char *
normalize_extension(const char *s, int len, bool lenient)
{
	const char *orig = s;
	int			origlen = len;
	char	   *digits;
	int			n;

	trim(&s, &len);
	if (len == 0)
		return NULL;

	digits = palloc(len + 1);
	n = keep_digits(s, len, digits);
	if (lenient && (n == 0 || n > MAX_EXTENSION_DIGITS))
		return pnstrdup(orig, origlen);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid phone extension \"%s\"",
						pnstrdup(orig, origlen)),
				 errdetail("A phone extension must contain at least one digit.")));
	if (n > MAX_EXTENSION_DIGITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("phone extension \"%s\" is too long", digits),
				 errdetail("A phone extension has at most %d digits.",
						   MAX_EXTENSION_DIGITS)));
	return digits;
}

/*
 * normalize_email
 *		Trimmed and lower-cased; NULL when empty.  Must be local@domain:
 *		one "@", both parts non-empty, no white space or control
 *		characters, and a domain of non-empty dot-separated labels.
 */
static char *
normalize_email(const char *s, int len, bool lenient)
{
	const char *orig = s;
	int			origlen = len;
	char	   *email;
	char	   *at = NULL;
	bool		ascii = true;
	bool		valid = true;
	int			i;

	trim(&s, &len);
	if (len == 0)
		return NULL;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if ((i & INTERRUPT_STRIDE) == INTERRUPT_STRIDE)
			CHECK_FOR_INTERRUPTS();
		if (c & 0x80)
			ascii = false;
		else if (c <= ' ' || c == 0x7f)
			valid = false;
	}

	if (ascii)
	{
		email = palloc(len + 1);
		for (i = 0; i < len; i++)
		{
			if ((i & INTERRUPT_STRIDE) == INTERRUPT_STRIDE)
				CHECK_FOR_INTERRUPTS();
			email[i] = pg_ascii_tolower(s[i]);
		}
		email[len] = '\0';
	}
	else
		email = str_tolower(s, len, DEFAULT_COLLATION_OID);

	if (valid)
	{
		at = strchr(email, '@');
		valid = at != NULL && at != email && at[1] != '\0' &&
			strchr(at + 1, '@') == NULL &&
			at[1] != '.' && email[strlen(email) - 1] != '.' &&
			strstr(at + 1, "..") == NULL;
	}

	if (!valid)
	{
		if (lenient)
			return pnstrdup(orig, origlen);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid email address \"%s\"", pnstrdup(orig, origlen)),
				 errdetail("An email address must have the form local@domain, without spaces.")));
	}
	return email;
}

/* The canonical tier name; error 22023 when it is not one. */
static const char *
normalize_tier(const char *s, int len, bool lenient)
{
	static const char *const tiers[] = {"CORE", "ASSURE", "GUARDIAN"};
	const char *orig = s;
	int			origlen = len;
	size_t		i;

	trim(&s, &len);
	for (i = 0; i < lengthof(tiers); i++)
		if (len == (int) strlen(tiers[i]) &&
			pg_strncasecmp(s, tiers[i], len) == 0)
			return tiers[i];

	/* the CHECK constraint still has the last word */
	if (lenient)
		return pnstrdup(orig, origlen);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid service tier \"%s\"", pnstrdup(orig, origlen)),
			 errhint("Valid service tiers are CORE, ASSURE and GUARDIAN.")));
	pg_unreachable();
}

/*
 * note_taken_number
 *		An explicit customer number given in this statement: if it falls in
 *		the current window of upcoming values, mark it taken, so that a
 *		later row of the same statement does not generate it.
 */
static void
note_taken_number(NormalizeState *state, const char *s, int len)
{
	int64		value = 0;
	int			i;

	if (state->window_end == 0 || len < 4 + 6 || memcmp(s, "AME-", 4) != 0)
		return;
	for (i = 4; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9' || value > (PG_INT64_MAX - 9) / 10)
			return;
		value = value * 10 + (s[i] - '0');
	}
	/* only the canonical spelling equals a generated number */
	if (len - 4 != digits_of(value))
		return;
	if (value >= state->window_start && value <= state->window_end)
		state->taken[(value - state->window_start) / 8] |=
			1 << ((value - state->window_start) % 8);
}

/* "AME-" and the value, zero-padded to at least six digits */
static char *
format_customer_number(int64 value)
{
	char		digits[MAXINT8LEN + 1];
	int			len = pg_lltoa(value, digits);
	int			pad = len < 6 ? 6 - len : 0;
	char	   *result = palloc(4 + pad + len + 1);

	memcpy(result, "AME-", 4);
	memset(result + 4, '0', pad);
	memcpy(result + 4 + pad, digits, len + 1);
	return result;
}

/* number of decimal digits the formatted value has (at least six) */
static int
digits_of(int64 value)
{
	int			n = 1;

	while (value >= 10)
	{
		value /= 10;
		n++;
	}
	return Max(n, 6);
}

/*
 * next_customer_number
 *		The next sequence value, formatted, skipping any number a row
 *		already has (given explicitly, for example by an import).
 *
 * Probing the unique index for every generated number would cost a btree
 * descent per row.  Instead the numbers already taken are read for a
 * whole window of NUMBER_WINDOW upcoming values with one range scan, and
 * the values the sequence hands out inside the window are checked
 * against that bitmap.  Normally the window is empty, since it lies
 * beyond every number generated so far.
 */
static char *
next_customer_number(Relation rel, NormalizeState *state)
{
	for (;;)
	{
		int64		value;
		int64		bit;

		CHECK_FOR_INTERRUPTS();

		/* the INSERT right on the table is the gate, not the sequence's */
		value = nextval_internal(state->seqid, false);

		if (!OidIsValid(state->number_index))
			return format_customer_number(value);

		/*
		 * A window is read again after a few milliseconds, so that a number
		 * another session takes meanwhile is seen soon, as a per-row probe
		 * would see it.
		 */
		if (state->window_end == 0 ||
			value < state->window_start || value > state->window_end ||
			GetCurrentTimestamp() - state->window_read > WINDOW_LIFETIME_US)
			scan_number_window(rel, state, value);

		bit = value - state->window_start;
		if ((state->taken[bit / 8] & (1 << (bit % 8))) == 0)
			return format_customer_number(value);
	}
}

/*
 * scan_number_window
 *		Read which numbers in [start, start + NUMBER_WINDOW) -- cut at the
 *		next change of digit count, where the text order breaks -- are
 *		taken.  The scan uses a dirty snapshot, so that a number inserted
 *		by a transaction still in progress counts as taken too (a plain
 *		MVCC scan would miss it, and our insert would then wait for that
 *		transaction and fail if it commits).
 */
static void
scan_number_window(Relation rel, NormalizeState *state, int64 start)
{
	int			width = digits_of(start);
	int64		end;
	int64		limit = 1;
	Relation	idx;
	SnapshotData dirty;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			i;

	/* the last value of the window, without overflowing near INT64_MAX */
	end = (start > PG_INT64_MAX - (NUMBER_WINDOW - 1)) ?
		PG_INT64_MAX : start + NUMBER_WINDOW - 1;
	if (width < 19)
	{
		for (i = 0; i < width; i++)
			limit *= 10;
		if (end > limit - 1)
			end = limit - 1;
	}

	memset(state->taken, 0, sizeof(state->taken));
	state->window_start = start;
	state->window_end = end;
	state->window_read = GetCurrentTimestamp();

	/* the executor already holds RowExclusiveLock on the table's indexes */
	idx = index_open(state->number_index, RowExclusiveLock);
	InitDirtySnapshot(dirty);
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTGreaterEqualStrategyNumber,
						   InvalidOid, idx->rd_indcollation[0], F_TEXT_GE,
						   CStringGetTextDatum(format_customer_number(start)));
	ScanKeyEntryInitialize(&keys[1], 0, 1, BTLessEqualStrategyNumber,
						   InvalidOid, idx->rd_indcollation[0], F_TEXT_LE,
						   CStringGetTextDatum(format_customer_number(end)));

	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, &dirty, NULL, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, state->attnum[COL_NUMBER], &isnull);
		text	   *t;
		const char *p;
		int			len;
		int64		value = 0;

		CHECK_FOR_INTERRUPTS();
		if (isnull)
			continue;
		t = DatumGetTextPP(d);
		p = VARDATA_ANY(t);
		len = VARSIZE_ANY_EXHDR(t);

		/* only "AME-" and exactly width digits can equal a number we make */
		if (len != 4 + width || memcmp(p, "AME-", 4) != 0)
			continue;
		for (i = 4; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			value = value * 10 + (p[i] - '0');
		if (i == len && value >= start && value <= end)
			state->taken[(value - start) / 8] |= 1 << ((value - start) % 8);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, RowExclusiveLock);
}
