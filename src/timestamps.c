/*-------------------------------------------------------------------------
 *
 * timestamps.c
 *	  ame_set_updated_at(): BEFORE UPDATE row trigger that keeps a table's
 *	  "updated_at" column current.
 *
 * One function serves every table of the extension that has updated_at.
 * The column moves to now() only when some other column's value really
 * changed; an UPDATE that changes nothing keeps the old updated_at, so it
 * stays a no-op (and the audit trail records nothing for it).  The
 * trigger is named so that it fires after the other BEFORE triggers of
 * the extension (triggers fire in name order), so the comparison sees the
 * row as normalization left it.  A value the UPDATE gives for updated_at
 * itself is not honoured: the column is the trigger's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "ame.h"

#define FUNCNAME	"ame_set_updated_at"

/* per-statement state, kept in fn_extra */
typedef struct UpdatedAtState
{
	Oid			relid;
	AttrNumber	updated_at;
} UpdatedAtState;

PG_FUNCTION_INFO_V1(ame_set_updated_at);

/*
 * ame_set_updated_at() RETURNS trigger
 *		BEFORE UPDATE FOR EACH ROW.
 */
Datum
ame_set_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	tupdesc;
	UpdatedAtState *state;
	HeapTuple	oldtuple;
	HeapTuple	newtuple;
	Datum	   *oldvals;
	Datum	   *newvals;
	bool	   *oldnulls;
	bool	   *newnulls;
	bool		changed = false;
	int			col;
	int			attno;
	Datum		value;
	bool		isnull;

	ame_check_trigger(fcinfo, FUNCNAME, AME_TRIG_BEFORE, AME_TRIG_UPDATE);

	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	oldtuple = trigdata->tg_trigtuple;
	newtuple = trigdata->tg_newtuple;

	state = (UpdatedAtState *) fcinfo->flinfo->fn_extra;
	if (state == NULL || state->relid != RelationGetRelid(rel))
	{
		state = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
								   sizeof(UpdatedAtState));
		state->relid = RelationGetRelid(rel);
		state->updated_at = ame_required_column(tupdesc,
												RelationGetRelationName(rel),
												FUNCNAME, "updated_at",
												TIMESTAMPTZOID);
		fcinfo->flinfo->fn_extra = state;
	}

	oldvals = palloc(tupdesc->natts * sizeof(Datum));
	newvals = palloc(tupdesc->natts * sizeof(Datum));
	oldnulls = palloc(tupdesc->natts * sizeof(bool));
	newnulls = palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(oldtuple, tupdesc, oldvals, oldnulls);
	heap_deform_tuple(newtuple, tupdesc, newvals, newnulls);

	for (col = 0; col < tupdesc->natts && !changed; col++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, col);

		if (att->attisdropped || att->attnum == state->updated_at)
			continue;
		changed = ame_datum_changed(oldvals[col], oldnulls[col],
									newvals[col], newnulls[col], att);
	}

	/* the value updated_at must have: now() if changed, else the old one */
	attno = state->updated_at;
	if (changed)
	{
		value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		isnull = false;
	}
	else
	{
		value = oldvals[attno - 1];
		isnull = oldnulls[attno - 1];
	}

	if (!ame_datum_changed(newvals[attno - 1], newnulls[attno - 1],
						   value, isnull, TupleDescAttr(tupdesc, attno - 1)))
		return PointerGetDatum(newtuple);

	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, tupdesc,
													 1, &attno,
													 &value, &isnull));
}
