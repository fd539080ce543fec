/*-------------------------------------------------------------------------
 *
 * audit_log.c
 *	  The audit log's append-only guard (the purge and the partitions'
 *	  upkeep are in audit_partition.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "replication/logicalworker.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "audit.h"

/*
 * ame_purge_audit_logs() is deleting, or ame_audit_add_partitions() moving
 * rows out of the default partition: the guard lets their DELETEs through
 * (a depth, as one may call the other)
 */
int			ame_audit_log_bypass = 0;

PG_FUNCTION_INFO_V1(ame_audit_log_guard);

/*
 * ame_audit_log_guard() RETURNS trigger
 *		BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) on
 *		ame_audit_logs and each of its partitions (the row trigger is
 *		cloned to them, the TRUNCATE trigger made on each), enabled ALWAYS:
 *		the log is append-only.  Only the DELETEs of ame_purge_audit_logs()
 *		and ame_audit_add_partitions() pass, the UPDATEs of
 *		ame_redact_audit(), and the row changes a logical-replication
 *		subscriber applies.
 */
Datum
ame_audit_log_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"ame_audit_log_guard")));
	trigdata = (TriggerData *) fcinfo->context;

	if (ame_audit_log_bypass > 0 && TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_trigtuple);

	/*
	 * ame_redact_audit() rewrites images of one record through its own
	 * UPDATE, with this flag set only around it (reset on error).
	 */
	if (ame_audit_redacting && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);

	/*
	 * A logical-replication subscriber of the log applies what its
	 * publisher did, whose own guard let only its purge through: refusing
	 * the replicated rows would stop the subscription for good (the apply
	 * worker would retry the same change forever).  Only a role with the
	 * log owner's privileges can make a subscription apply to the log.  A
	 * TRUNCATE is never the purge's, and stays refused.
	 */
	if (IsLogicalWorker() && TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
			return PointerGetDatum(trigdata->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
			return PointerGetDatum(trigdata->tg_newtuple);
	}

	/* a partition is named in the detail: the log is what the user knows */
	rel = trigdata->tg_relation;
	if (rel->rd_rel->relispartition)
	{
		List	   *ancestors = get_partition_ancestors(RelationGetRelid(rel));

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("audit log \"%s\" is append-only",
						get_rel_name(llast_oid(ancestors))),
				 errdetail("The change was to its partition \"%s\".",
						   RelationGetRelationName(rel)),
				 errhint("Old entries are removed with ame_purge_audit_logs().")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("audit log \"%s\" is append-only",
					RelationGetRelationName(rel)),
			 errhint("Old entries are removed with ame_purge_audit_logs().")));
	pg_unreachable();
}
