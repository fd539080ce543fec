/*-------------------------------------------------------------------------
 *
 * service_levels.c
 *	  ame_service_levels_restore(): BEFORE INSERT row trigger on
 *	  ame_service_levels that lets a restore bring back the targets the
 *	  owner set.
 *
 * CREATE EXTENSION inserts the default targets of the three tiers, and the
 * table is dumped (pg_extension_config_dump), so a dump holds the targets
 * as the owner left them.  Restored, the dump's COPY would collide with the
 * defaults CREATE EXTENSION has just made (23505).  So, only in a restore
 * session of the owner (ame_restore_signalled(): pg_restore, or a plain
 * dump's row_security = off, given by a role with the owner's privileges),
 * a row whose tier is already there updates that row's targets and is not
 * inserted.  Everyone else, and a restore of a tier that is not there,
 * inserts as usual: a duplicate is the ordinary 23505.
 *
 * The update goes through SPI on the trigger's own table, as the caller
 * (who has the owner's privileges), so that its constraints and any other
 * trigger (an audit trigger, say) apply.  It runs at most once per tier per
 * restore, so its plan is not kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "ame.h"

#define FUNCNAME	"ame_service_levels_restore"

PG_FUNCTION_INFO_V1(ame_service_levels_restore);

/*
 * ame_service_levels_restore() RETURNS trigger
 *		BEFORE INSERT FOR EACH ROW on ame_service_levels.
 */
Datum
ame_service_levels_restore(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	newtuple;
	const char *relname;
	AttrNumber	tier_att;
	AttrNumber	response_att;
	AttrNumber	resolution_att;
	Datum		values[3];
	char		nulls[3];
	Oid			argtypes[3] = {TEXTOID, INTERVALOID, INTERVALOID};
	bool		isnull;
	char	   *sql;
	int			ret;
	uint64		updated;

	ame_check_trigger(fcinfo, FUNCNAME, AME_TRIG_BEFORE, AME_TRIG_INSERT);

	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	newtuple = trigdata->tg_trigtuple;

	/* attached to a table without the three columns: misuse, 39P01 */
	tupdesc = RelationGetDescr(rel);
	relname = RelationGetRelationName(rel);
	tier_att = ame_required_column(tupdesc, relname, FUNCNAME,
								   "service_tier", TEXTOID);
	response_att = ame_required_column(tupdesc, relname, FUNCNAME,
									   "response_target", INTERVALOID);
	resolution_att = ame_required_column(tupdesc, relname, FUNCNAME,
										 "resolution_target", INTERVALOID);

	/* everyone but a restore session of the owner: an ordinary insert */
	if (!ame_restore_signalled(rel))
		return PointerGetDatum(newtuple);

	/* no tier: let the insert fail on NOT NULL as it would anyway */
	values[0] = heap_getattr(newtuple, tier_att, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(newtuple);
	nulls[0] = ' ';
	values[1] = heap_getattr(newtuple, response_att, tupdesc, &isnull);
	nulls[1] = isnull ? 'n' : ' ';
	values[2] = heap_getattr(newtuple, resolution_att, tupdesc, &isnull);
	nulls[2] = isnull ? 'n' : ' ';

	sql = psprintf("UPDATE %s SET response_target = $2, resolution_target = $3"
				   " WHERE service_tier OPERATOR(pg_catalog.=) $1",
				   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											  relname));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(sql, 3, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s",
			 SPI_result_code_string(ret));
	updated = SPI_processed;
	SPI_finish();
	pfree(sql);

	/* the tier was there and now has the dump's targets: skip the insert */
	if (updated > 0)
		return PointerGetDatum(NULL);
	return PointerGetDatum(newtuple);
}
