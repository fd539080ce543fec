/*-------------------------------------------------------------------------
 *
 * ame.c
 *	  Module entry point of the ame extension: its settings, the guard that
 *	  every C trigger of the extension runs before it acts, the one test of
 *	  the restore signals that the triggers share, the one check that every
 *	  owner-only function makes, and the install script's NOTICEs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

#include "ame.h"

PG_MODULE_MAGIC;

/* ame.audit_context: the JSON (or text) each audit row's context carries */
char	   *ame_audit_context = NULL;

/*
 * ame.audit_retention: how long the nightly maintenance keeps audit rows
 * (an interval; empty: for ever).  Superuser-only (PGC_SUSET): a user who
 * could set it in the maintenance job's session could purge the log.  A
 * superuser sets it (postgresql.conf, ALTER DATABASE or ALTER ROLE ... SET)
 * or lets the extension's owner do so: GRANT SET ON PARAMETER.
 */
char	   *ame_audit_retention = NULL;

static bool check_audit_retention(char **newval, void **extra, GucSource source);

/* a NOTICE of the install script, sent when its transaction commits */
typedef struct InstallNotice
{
	SubTransactionId subid;		/* the subtransaction that asked for it */
	char	   *message;
	char	   *hint;			/* or NULL */
} InstallNotice;

/* waiting NOTICEs, in TopTransactionContext */
static List *install_notices = NIL;

void		_PG_init(void);
static void check_trigger(FunctionCallInfo fcinfo, const char *funcname,
						  AmeTriggerTiming timing, int events, bool for_row);
static const char *event_name(TriggerEvent event);
static void install_notice_xact(XactEvent event, void *arg);
static void install_notice_subxact(SubXactEvent event,
								   SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);

PG_FUNCTION_INFO_V1(ame_require_owner_fn);
PG_FUNCTION_INFO_V1(ame_install_notice);

/*
 * _PG_init
 *		Module load: define the extension's settings and reserve the "ame."
 *		prefix, so that a misspelled setting (SET ame.audit_contxt = ...)
 *		is an error rather than a silent placeholder; a placeholder set
 *		before the load is dropped with a WARNING, one of ours keeps its
 *		value.  Then install the executor and utility hooks that insert
 *		batched audit rows before anything could look for them
 *		(audit_writer.c) and those that tell realtime where a statement
 *		ends (realtime.c).
 */
void
_PG_init(void)
{
	DefineCustomStringVariable("ame.audit_context",
							   "JSON describing the current change, stored in the context of each audit row.",
							   "A value that is not valid JSON is stored as a JSON string.",
							   &ame_audit_context,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("ame.audit_retention",
							   "How long the nightly audit maintenance keeps audit rows (an interval; empty: for ever).",
							   "ame_audit_maintenance() purges rows older than this with ame_purge_audit_logs().",
							   &ame_audit_retention,
							   "",
							   PGC_SUSET,
							   0,
							   check_audit_retention, NULL, NULL);
	ame_import_define_gucs();
	MarkGUCPrefixReserved("ame");

	ame_audit_install_hooks();
	ame_realtime_install_hooks();
}

/*
 * check_audit_retention
 *		ame.audit_retention is empty or a positive interval.
 */
static bool
check_audit_retention(char **newval, void **extra, GucSource source)
{
	Datum		value;
	Interval	zero;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!ame_input_safe(interval_in, *newval, InvalidOid, -1, &value))
	{
		GUC_check_errdetail("\"%s\" is not an interval.", *newval);
		GUC_check_errhint("Set an interval such as '2 years', or '' to keep audit rows for ever.");
		return false;
	}
	memset(&zero, 0, sizeof(zero));
	if (!DatumGetBool(DirectFunctionCall2(interval_gt, value,
										  IntervalPGetDatum(&zero))))
	{
		GUC_check_errdetail("The retention must be longer than zero.");
		GUC_check_errhint("Set an interval such as '2 years', or '' to keep audit rows for ever.");
		return false;
	}
	return true;
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
 *		row_security = off) and may give that signal for rel: see
 *		ame_restore_session(), with rel's owner.
 */
bool
ame_restore_signalled(Relation rel)
{
	return ame_restore_session(rel->rd_rel->relowner);
}

/*
 * ame_restore_session
 *		True when the session signals a restore and both the current user
 *		and the role the session runs as (the role SET ROLE chose, else the
 *		session's: the login role, or the one a superuser's SET SESSION
 *		AUTHORIZATION chose, as pg_restore --use-set-session-authorization
 *		does) have the privileges of owner: the owner, a member of the
 *		owning role, or a superuser, who could bypass the triggers anyway.
 *		Any role can set both settings, so for anyone else they mean
 *		nothing; requiring the session's role too means that a SECURITY
 *		DEFINER function of the owner, called by someone else who set a
 *		signal, is not taken for a restore.  Cheap when no signal is set.
 */
bool
ame_restore_session(Oid owner)
{
	if (row_security &&
		(application_name == NULL || strcmp(application_name, "pg_restore") != 0))
		return false;
	return has_privs_of_role(GetUserId(), owner) &&
		has_privs_of_role(GetOuterUserId(), owner);
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

/*
 * ame_extension_owner
 *		The role that owns extension ame.
 */
Oid
ame_extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("ame"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"ame\" does not exist")));
	owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * ame_require_owner
 *		The check every owner-only function makes first: the calling role
 *		must have the privileges of the extension's owner (be it, a member
 *		of it, or a superuser).  EXECUTE alone is not enough, so an owner
 *		who grants EXECUTE on such a function hands out nothing.
 */
void
ame_require_owner(const char *funcname)
{
	Oid			owner = ame_extension_owner();

	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function \"%s\"", funcname),
				 errdetail("Only the owner of extension \"ame\" (role \"%s\") and its members can run %s().",
						   GetUserNameFromId(owner, false), funcname)));
}

/*
 * ame_require_owner(function_name text) RETURNS void
 *		ame_require_owner() for the owner-only functions written in SQL or
 *		PL/pgSQL; function_name is the name the error shows.
 */
Datum
ame_require_owner_fn(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("function name must not be null")));
	ame_require_owner(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * ame_install_notice(message text, hint text) RETURNS void
 *		A NOTICE from the install script that the user actually sees.
 *		CREATE EXTENSION raises client_min_messages to WARNING while its
 *		script runs, and the level the user had is not public, so the
 *		NOTICE is kept and sent when the transaction commits (right after
 *		the statement, in autocommit), under the user's own setting.  A
 *		rolled-back install sends nothing.  The install script creates
 *		this function, uses it and drops it again.
 */
Datum
ame_install_notice(PG_FUNCTION_ARGS)
{
	static bool registered = false;
	MemoryContext oldcxt;
	InstallNotice *notice;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	if (!registered)
	{
		RegisterXactCallback(install_notice_xact, NULL);
		RegisterSubXactCallback(install_notice_subxact, NULL);
		registered = true;
	}

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	notice = palloc(sizeof(InstallNotice));
	notice->subid = GetCurrentSubTransactionId();
	notice->message = text_to_cstring(PG_GETARG_TEXT_PP(0));
	notice->hint = PG_ARGISNULL(1) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(1));
	install_notices = lappend(install_notices, notice);
	MemoryContextSwitchTo(oldcxt);

	PG_RETURN_VOID();
}

/* at commit, send the waiting NOTICEs; at any other end, drop them */
static void
install_notice_xact(XactEvent event, void *arg)
{
	List	   *notices = install_notices;
	ListCell   *lc;

	if (notices == NIL)
		return;
	install_notices = NIL;
	if (event != XACT_EVENT_PRE_COMMIT)
		return;

	foreach(lc, notices)
	{
		InstallNotice *notice = (InstallNotice *) lfirst(lc);

		ereport(NOTICE,
				(errmsg("%s", notice->message),
				 notice->hint ? errhint("%s", notice->hint) : 0));
	}
}

/* a subtransaction that aborts takes its NOTICEs with it */
static void
install_notice_subxact(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	foreach(lc, install_notices)
	{
		InstallNotice *notice = (InstallNotice *) lfirst(lc);

		if (notice->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			notice->subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			install_notices = foreach_delete_current(install_notices, lc);
	}
}
