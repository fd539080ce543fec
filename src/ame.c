/*-------------------------------------------------------------------------
 *
 * ame.c
 *	  Module entry point of the ame extension, the guard that every C
 *	  trigger of the extension runs before it acts, and the one test of the
 *	  restore signals that the triggers share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "ame.h"

PG_MODULE_MAGIC;

void		_PG_init(void);
static void check_trigger(FunctionCallInfo fcinfo, const char *funcname,
						  AmeTriggerTiming timing, int events, bool for_row);
static const char *event_name(TriggerEvent event);

/*
 * _PG_init
 *		Module load: define the extension's GUCs, install the executor and
 *		utility hooks that insert batched audit rows before anything could
 *		look for them (audit.c) and those that tell realtime where a
 *		statement ends (realtime.c).  No MarkGUCPrefixReserved
 *		("ame"): ame.audit_context is a plain placeholder a user may SET.
 */
void
_PG_init(void)
{
	ame_import_define_gucs();
	ame_audit_install_hooks();
	ame_realtime_install_hooks();
}

/*
 * ame_check_trigger
 *		Refuse to run a trigger function anywhere but where it was designed
 *		to fire: called by the trigger manager, with the given timing, FOR
 *		EACH ROW, and for one of the given events.  Misuse is a
 *		configuration error of the trigger, hence 39P01.
 */
void
ame_check_trigger(FunctionCallInfo fcinfo, const char *funcname,
				  AmeTriggerTiming timing, int events)
{
	check_trigger(fcinfo, funcname, timing, events, true);
}

/*
 * ame_check_statement_trigger
 *		The same for a trigger function made to fire FOR EACH STATEMENT.
 */
void
ame_check_statement_trigger(FunctionCallInfo fcinfo, const char *funcname,
							AmeTriggerTiming timing, int events)
{
	check_trigger(fcinfo, funcname, timing, events, false);
}

static void
check_trigger(FunctionCallInfo fcinfo, const char *funcname,
			  AmeTriggerTiming timing, int events, bool for_row)
{
	TriggerData *trigdata;
	TriggerEvent ev;
	int			this_event;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						funcname)));

	trigdata = (TriggerData *) fcinfo->context;
	ev = trigdata->tg_event;

	if (for_row && !TRIGGER_FIRED_FOR_ROW(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired FOR EACH ROW",
						funcname)));
	if (!for_row && !TRIGGER_FIRED_FOR_STATEMENT(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired FOR EACH STATEMENT",
						funcname)));

	if (timing == AME_TRIG_BEFORE && !TRIGGER_FIRED_BEFORE(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE", funcname)));
	if (timing == AME_TRIG_AFTER && !TRIGGER_FIRED_AFTER(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER", funcname)));

	if (TRIGGER_FIRED_BY_INSERT(ev))
		this_event = AME_TRIG_INSERT;
	else if (TRIGGER_FIRED_BY_UPDATE(ev))
		this_event = AME_TRIG_UPDATE;
	else if (TRIGGER_FIRED_BY_DELETE(ev))
		this_event = AME_TRIG_DELETE;
	else
		this_event = 0;			/* TRUNCATE is never a row event */

	if ((events & this_event) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" cannot be fired for %s",
						funcname, event_name(ev))));
}

/*
 * ame_required_column
 *		The attribute number of a column a trigger needs, checking that it
 *		exists (not dropped) and has the expected type.  A table that lacks
 *		it is a trigger attached to the wrong table: 39P01.
 */
AttrNumber
ame_required_column(TupleDesc tupdesc, const char *relname,
					const char *funcname, const char *colname, Oid typid)
{
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), colname) != 0)
			continue;
		if (typid != InvalidOid && att->atttypid != typid)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("column \"%s\" of relation \"%s\" must be of type %s for trigger function \"%s\"",
							colname, relname, format_type_be(typid), funcname)));
		return att->attnum;
	}

	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("relation \"%s\" has no column \"%s\" required by trigger function \"%s\"",
					relname, colname, funcname)));
	pg_unreachable();
}

/*
 * ame_restore_signalled
 *		True when the session signals a restore (pg_restore connects with
 *		application_name = 'pg_restore', a plain-format dump script sets
 *		row_security = off) and the current user may give that signal for
 *		rel: its owner (or a member of the owning role) or a superuser, who
 *		could bypass the triggers anyway.  Any role can set both settings,
 *		so for anyone else they mean nothing.
 */
bool
ame_restore_signalled(Relation rel)
{
	if (row_security &&
		(application_name == NULL || strcmp(application_name, "pg_restore") != 0))
		return false;
	return has_privs_of_role(GetUserId(), rel->rd_rel->relowner);
}

static const char *
event_name(TriggerEvent event)
{
	if (TRIGGER_FIRED_BY_INSERT(event))
		return "INSERT";
	if (TRIGGER_FIRED_BY_UPDATE(event))
		return "UPDATE";
	if (TRIGGER_FIRED_BY_DELETE(event))
		return "DELETE";
	return "TRUNCATE";
}
