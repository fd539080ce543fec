/*-------------------------------------------------------------------------
 *
 * workflow.c
 *	  The visit workflow, enforced for every client: two row triggers,
 *	  ame_visit_workflow() (BEFORE) on ame_visits and
 *	  ame_visit_task_workflow() (AFTER) on ame_visit_progress.
 *
 * Status:  scheduled -> in_progress -> completed, and scheduled |
 * in_progress -> cancelled; nothing leaves completed or cancelled, whose
 * workflow columns (status, current_phase, actual_start_time,
 * completed_at, duration_hours) are frozen.  Entering in_progress stamps
 * actual_start_time, entering completed stamps completed_at (each unless
 * the UPDATE gives one) and derives duration_hours from the two.
 *
 * Phase:  forward one step at a time, only while in_progress, only when
 * every task of the phase being left is completed; completing the visit
 * needs phase 4 with its tasks done.  A phase without tasks counts as done.
 *
 * INSERT may create a visit in any status whose columns agree with it
 * (historical data): see visit_inconsistency().  An UPDATE that touches no
 * workflow column is not checked at all, so that a row written before
 * these rules (an old completed visit without completed_at) can still
 * have its notes edited; such a row may be repaired by an UPDATE that
 * keeps its status and makes it consistent.
 *
 * Tasks:  a task can be added (or reopened, or moved) only in the current
 * or a later phase of a visit that is not closed; a task can be completed
 * only while its visit is in_progress, in its current phase or an earlier
 * one.  So a task added already completed goes to the current phase of a
 * visit in progress.  History from elsewhere is loaded as a restore is
 * (the owner, with row_security off: docs/workflow.md).
 *
 * Concurrency.  The task trigger (AFTER the task row is written) reads
 * the visit with FOR SHARE, the visit's UPDATE holds FOR NO KEY UPDATE:
 * whichever comes second waits for the first to end, then sees its
 * outcome (a task trigger re-reads the visit's newest version; the phase
 * check reads the tasks committed by then, after the visit row was
 * locked).  So a phase is never left with an open task that a concurrent
 * transaction added.
 *
 * Reads made for the checks bypass row-level security (the tasks by a
 * direct index scan, the visit as the extension's owner): a rule must not
 * depend on what the caller can see.  Only counts reach the caller.
 *
 * A session restoring a dump (ame_restore_signalled()) inserts rows as
 * they were: a database made before these rules may hold rows that break
 * them.  UPDATEs are always checked.
 *
 * A refused change raises 23514 (check_violation) with the constraint
 * name ame_visit_workflow or ame_visit_task_workflow: the message names
 * the current and the requested value, the hint lists what is allowed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "ame.h"

#define VISIT_FUNC		"ame_visit_workflow"
#define TASK_FUNC		"ame_visit_task_workflow"
#define VISIT_RULE		"ame_visit_workflow"
#define TASK_RULE		"ame_visit_task_workflow"
#define LAST_PHASE		4

typedef enum VisitStatus
{
	VS_SCHEDULED,
	VS_IN_PROGRESS,
	VS_COMPLETED,
	VS_CANCELLED,
	VS_UNKNOWN
} VisitStatus;

static const char *const status_names[] = {
	"scheduled", "in_progress", "completed", "cancelled"
};

/* the columns of a visit the rules read, as one row's values */
typedef struct VisitRow
{
	VisitStatus status;
	const char *status_text;	/* as given (for messages) */
	int32		phase;
	bool		start_null;
	TimestampTz start;
	bool		done_null;
	TimestampTz done;
	bool		duration_null;
	Datum		duration;
} VisitRow;

/* per-statement state of ame_visit_workflow(), kept in fn_extra */
typedef struct VisitState
{
	Oid			relid;
	AttrNumber	id;
	AttrNumber	status;
	AttrNumber	phase;
	AttrNumber	start;
	AttrNumber	done;
	AttrNumber	duration;
	AttrNumber	created;
	int32		duration_typmod;
	Oid			tasks_relid;	/* ame_visit_progress, found when needed */
	Oid			tasks_index;	/* its btree on (visit_id, phase, ...) */
	AttrNumber	task_visit;		/* visit_id in ame_visit_progress */
	AttrNumber	task_phase;		/* phase in ame_visit_progress */
	AttrNumber	task_completed; /* is_completed in ame_visit_progress */
	Oid			fn_oid;			/* the trigger function: its schema is ame's */
} VisitState;

/* per-statement state of ame_visit_task_workflow() */
typedef struct TaskState
{
	Oid			relid;
	AttrNumber	visit_id;
	AttrNumber	phase;
	AttrNumber	completed;
	Oid			visits_relid;	/* ame_visits in the extension's schema */
	Oid			owner;			/* the extension's owner, who reads it */
} TaskState;

/* the plan that reads and share-locks a visit; kept for the backend */
static SPIPlanPtr visit_lock_plan = NULL;
static Oid	visit_lock_relid = InvalidOid;

PG_FUNCTION_INFO_V1(ame_visit_workflow);
PG_FUNCTION_INFO_V1(ame_visit_task_workflow);

static VisitStatus
parse_status(Datum value, bool isnull, const char **text_out)
{
	text	   *t;
	int			len;
	size_t		i;

	if (isnull)
	{
		*text_out = "NULL";
		return VS_UNKNOWN;
	}
	/* compared in place: no copy for the statuses the rules know */
	t = DatumGetTextPP(value);
	len = VARSIZE_ANY_EXHDR(t);
	for (i = 0; i < lengthof(status_names); i++)
		if (strlen(status_names[i]) == (size_t) len &&
			memcmp(VARDATA_ANY(t), status_names[i], len) == 0)
		{
			*text_out = status_names[i];
			return (VisitStatus) i;
		}
	*text_out = text_to_cstring(t);
	return VS_UNKNOWN;
}

static const char *
allowed_next(VisitStatus s)
{
	switch (s)
	{
		case VS_SCHEDULED:
			return "From \"scheduled\" a visit can go to \"in_progress\" or \"cancelled\".";
		case VS_IN_PROGRESS:
			return "From \"in_progress\" a visit can go to \"completed\" (at phase 4, its tasks done) or \"cancelled\".";
		default:
			return "A completed or cancelled visit is closed: its status, phase, times and duration no longer change; its other columns (notes, say) still can.";
	}
}

static void
read_visit(TupleTableSlot *slot, const VisitState *st, VisitRow *row)
{
	bool		isnull;
	Datum		d;

	d = slot_getattr(slot, st->status, &isnull);
	row->status = parse_status(d, isnull, &row->status_text);
	d = slot_getattr(slot, st->phase, &isnull);
	row->phase = isnull ? 0 : DatumGetInt32(d);
	d = slot_getattr(slot, st->start, &row->start_null);
	row->start = row->start_null ? 0 : DatumGetTimestampTz(d);
	d = slot_getattr(slot, st->done, &row->done_null);
	row->done = row->done_null ? 0 : DatumGetTimestampTz(d);
	row->duration = slot_getattr(slot, st->duration, &row->duration_null);
}

/*
 * derived_duration
 *		round((completed_at - actual_start_time) in hours, 2), coerced to
 *		the column's typmod (numeric(7,2): an overflow is 22003).
 */
static Datum
derived_duration(const VisitRow *row, int32 typmod)
{
	int64		diff;
	Datum		micros;
	Datum		hours;

	/* finite times can still be 9.4e18 us apart, past int64 */
	if (pg_sub_s64_overflow(row->done, row->start, &diff))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("the time between actual_start_time and completed_at is out of range")));
	micros = NumericGetDatum(int64_to_numeric(diff));

	hours = DirectFunctionCall2(numeric_div, micros,
								NumericGetDatum(int64_to_numeric(USECS_PER_HOUR)));
	hours = DirectFunctionCall2(numeric_round, hours, Int32GetDatum(2));
	if (typmod >= 0)
		hours = DirectFunctionCall2(numeric, hours, Int32GetDatum(typmod));
	return hours;
}

/*
 * visit_inconsistency
 *		NULL when the row's columns agree with its status, else what is
 *		wrong (for errdetail).  duration_hours of a completed visit is
 *		checked by the caller, which derives it.
 */
static const char *
visit_inconsistency(const VisitRow *row)
{
	/* 'infinity' is a timestamp, but no time a visit started or ended */
	if ((!row->start_null && TIMESTAMP_NOT_FINITE(row->start)) ||
		(!row->done_null && TIMESTAMP_NOT_FINITE(row->done)))
		return "A visit's actual_start_time and completed_at are finite times.";
	switch (row->status)
	{
		case VS_SCHEDULED:
			if (row->phase != 1)
				return "A scheduled visit is at phase 1.";
			if (!row->start_null || !row->done_null)
				return "A scheduled visit has neither actual_start_time nor completed_at.";
			if (!row->duration_null)
				return "Only a completed visit has duration_hours.";
			return NULL;
		case VS_IN_PROGRESS:
			if (row->start_null)
				return "A visit in progress has an actual_start_time.";
			if (!row->done_null)
				return "A visit in progress has no completed_at.";
			if (!row->duration_null)
				return "Only a completed visit has duration_hours.";
			return NULL;
		case VS_COMPLETED:
			if (row->phase != LAST_PHASE)
				return "A completed visit is at phase 4.";
			if (row->start_null || row->done_null)
				return "A completed visit has both actual_start_time and completed_at.";
			return NULL;
		case VS_CANCELLED:
			if (!row->done_null)
				return "A cancelled visit has no completed_at.";
			if (!row->duration_null)
				return "Only a completed visit has duration_hours.";
			return NULL;
		default:
			return "The status is one of \"scheduled\", \"in_progress\", \"completed\" and \"cancelled\".";
	}
}

pg_noreturn static void refuse(Relation rel, const char *rule, const char *detail,
							 const char *hint, const char *fmt,...) pg_attribute_printf(5, 6);

static void
refuse(Relation rel, const char *rule, const char *detail, const char *hint,
	   const char *fmt,...)
{
	StringInfoData buf;

	/* the whole message, however long (a status text can be any length) */
	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}

	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg_internal("%s", buf.data),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 errtableconstraint(rel, rule)));
	pg_unreachable();
}

/*
 * find_tasks
 *		ame_visit_progress of the extension's schema, its btree whose first
 *		two columns are (visit_id, phase), and its is_completed column.
 */
static void
find_tasks(VisitState *st)
{
	Oid			nsp = get_func_namespace(st->fn_oid);
	Relation	tasks;
	List	   *indexes;
	ListCell   *lc;
	TupleDesc	desc;
	AttrNumber	visit_col;
	AttrNumber	phase_col;

	st->tasks_relid = get_relname_relid("ame_visit_progress", nsp);
	if (!OidIsValid(st->tasks_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s.ame_visit_progress\" does not exist",
						get_namespace_name(nsp)),
				 errhint("Reinstall the extension with DROP EXTENSION ame and CREATE EXTENSION ame.")));

	tasks = table_open(st->tasks_relid, AccessShareLock);
	desc = RelationGetDescr(tasks);
	visit_col = ame_required_column(desc, "ame_visit_progress", VISIT_FUNC,
									"visit_id", UUIDOID);
	phase_col = ame_required_column(desc, "ame_visit_progress", VISIT_FUNC,
									"phase", INT4OID);
	st->task_visit = visit_col;
	st->task_phase = phase_col;
	st->task_completed = ame_required_column(desc, "ame_visit_progress",
											 VISIT_FUNC, "is_completed",
											 BOOLOID);
	/*
	 * A btree whose first columns are (visit_id, phase): best the partial
	 * one on the open tasks only (WHERE NOT is_completed), which holds no
	 * entry for a phase whose tasks are done; else one on all tasks.  Any
	 * other predicate could hide an open task: such an index is not used.
	 * Each row found is still checked for is_completed.
	 */
	st->tasks_index = InvalidOid;
	indexes = RelationGetIndexList(tasks);
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		Relation	index = index_open(indexoid, AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool		partial = false;
		bool		fits;

		fits = index->rd_rel->relam == BTREE_AM_OID &&
			form->indisvalid &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, NULL) &&
			form->indnkeyatts >= 2 &&
			form->indkey.values[0] == visit_col &&
			form->indkey.values[1] == phase_col;
		if (fits &&
			!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		{
			List	   *pred = RelationGetIndexPredicate(index);
			Node	   *clause = list_length(pred) == 1 ? linitial(pred) : NULL;
			Node	   *arg = clause != NULL && is_notclause(clause) ?
				(Node *) get_notclausearg((Expr *) clause) : NULL;

			partial = arg != NULL && IsA(arg, Var) &&
				((Var *) arg)->varattno == st->task_completed;
			fits = partial;
		}
		index_close(index, AccessShareLock);
		if (fits && (partial || !OidIsValid(st->tasks_index)))
			st->tasks_index = indexoid;
		if (partial)
			break;
	}
	list_free(indexes);
	table_close(tasks, AccessShareLock);

	if (!OidIsValid(st->tasks_index))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"ame_visit_progress\" has no btree index on (visit_id, phase)"),
				 errhint("Reinstall the extension with DROP EXTENSION ame and CREATE EXTENSION ame.")));
}

/*
 * open_tasks
 *		How many tasks of the visit's phase are not completed.  Read with
 *		SnapshotSelf (every committed row version, and this transaction's
 *		own, also those committed after a REPEATABLE READ snapshot), after
 *		the visit's row was locked by the UPDATE that fires this trigger:
 *		a concurrent transaction that added or reopened a task did so
 *		holding a share lock on the visit, so it has committed (or rolled
 *		back) by now.  A task deleted by a transaction still in progress
 *		is still counted: the check errs on the side of refusing.  No
 *		snapshot is taken per row.  Bypasses row-level security.
 */
static int64
open_tasks(VisitState *st, Datum visit_id, int32 phase)
{
	Relation	tasks;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	int64		n = 0;

	if (!OidIsValid(st->tasks_relid))
		find_tasks(st);

	tasks = table_open(st->tasks_relid, AccessShareLock);
	/* systable_beginscan takes the table's column numbers */
	ScanKeyInit(&keys[0], st->task_visit, BTEqualStrategyNumber, F_UUID_EQ,
				visit_id);
	ScanKeyInit(&keys[1], st->task_phase, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(phase));
	scan = systable_beginscan(tasks, st->tasks_index, true, SnapshotSelf, 2, keys);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		done = heap_getattr(tuple, st->task_completed,
										RelationGetDescr(tasks), &isnull);

		CHECK_FOR_INTERRUPTS();
		if (isnull || !DatumGetBool(done))
			n++;
	}
	systable_endscan(scan);
	table_close(tasks, AccessShareLock);
	return n;
}

/*
 * require_tasks_done
 *		Refuse to leave the phase (to to_phase; 0: to complete the visit)
 *		while it has open tasks.
 */
static void
require_tasks_done(Relation rel, VisitState *st, Datum visit_id,
				   const char *idtext, int32 phase, int32 to_phase)
{
	int64		n = open_tasks(st, visit_id, phase);
	char		what[64];

	if (n == 0)
		return;
	if (to_phase > 0)
		snprintf(what, sizeof(what), " from phase %d to phase %d", phase, to_phase);
	else
		what[0] = '\0';
	refuse(rel, VISIT_RULE, NULL,
		   "Complete the tasks of the phase first (ame_complete_task), or remove the ones that are not needed.",
		   "cannot %s visit %s%s: " INT64_FORMAT " task%s of phase %d %s not completed",
		   to_phase > 0 ? "move" : "complete", idtext, what,
		   n, n == 1 ? "" : "s", phase, n == 1 ? "is" : "are");
}

static const char *
id_text(Datum id, bool isnull)
{
	return isnull ? "(no id)" : DatumGetCString(DirectFunctionCall1(uuid_out, id));
}

/* the visit's id as text, formatted only for a message */
#define IDTEXT	(idtext ? idtext : (idtext = id_text(id, isnull)))

/*
 * ame_visit_workflow() RETURNS trigger
 *		BEFORE INSERT OR UPDATE FOR EACH ROW on ame_visits.
 */
Datum
ame_visit_workflow(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	desc;
	VisitState *st;
	HeapTuple	newtuple;
	TupleTableSlot *newslot;
	VisitRow	nw;
	VisitRow	old;
	Datum		id;
	bool		isnull;
	const char *idtext;
	const char *wrong;
	int			ncols = 0;
	int			cols[3];
	Datum		vals[3];
	bool		nulls[3] = {false, false, false};
	bool		derive = false;

	ame_check_trigger(fcinfo, VISIT_FUNC, AME_TRIG_BEFORE,
					  AME_TRIG_INSERT | AME_TRIG_UPDATE);
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);

	st = (VisitState *) fcinfo->flinfo->fn_extra;
	if (st == NULL || st->relid != RelationGetRelid(rel))
	{
		const char *relname = RelationGetRelationName(rel);

		st = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(VisitState));
		st->relid = RelationGetRelid(rel);
		st->id = ame_required_column(desc, relname, VISIT_FUNC, "id", UUIDOID);
		st->status = ame_required_column(desc, relname, VISIT_FUNC, "status", TEXTOID);
		st->phase = ame_required_column(desc, relname, VISIT_FUNC, "current_phase", INT4OID);
		st->start = ame_required_column(desc, relname, VISIT_FUNC, "actual_start_time", TIMESTAMPTZOID);
		st->done = ame_required_column(desc, relname, VISIT_FUNC, "completed_at", TIMESTAMPTZOID);
		st->duration = ame_required_column(desc, relname, VISIT_FUNC, "duration_hours", NUMERICOID);
		st->created = ame_required_column(desc, relname, VISIT_FUNC, "created_at", TIMESTAMPTZOID);
		st->duration_typmod = TupleDescAttr(desc, st->duration - 1)->atttypmod;
		st->fn_oid = fcinfo->flinfo->fn_oid;
		fcinfo->flinfo->fn_extra = st;
	}

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		newtuple = trigdata->tg_newtuple;
	else
		newtuple = trigdata->tg_trigtuple;
	/* read through the slots: deformed once, as far as needed */
	newslot = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newslot : trigdata->tg_trigslot;
	read_visit(newslot, st, &nw);

	/*
	 * created_at is when the visit was requested: the service levels
	 * measure from it.  It is a finite time, and an UPDATE does not move it
	 * (nor any time the service levels read: see below), unless it was not
	 * finite (a row from before 1.4).  A restore writes rows as they were.
	 */
	{
		bool		cnull;
		Datum		created = slot_getattr(newslot, st->created, &cnull);
		bool		infinite = !cnull && TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(created));
		bool		wrong_created = false;

		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		{
			bool		onull;
			Datum		old_created = slot_getattr(trigdata->tg_trigslot,
												   st->created, &onull);

			if (ame_datum_changed(old_created, onull, created, cnull,
								  TupleDescAttr(desc, st->created - 1)))
			{
				/* moved, or made infinite; a repair of an infinite one is not */
				wrong_created = infinite || (!onull &&
											 !TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(old_created)));
			}
		}
		else if (infinite && !ame_restore_signalled(rel))
			wrong_created = true;
		if (wrong_created)
		{
			id = slot_getattr(newslot, st->id, &isnull);
			idtext = NULL;
			if (infinite)
				refuse(rel, VISIT_RULE,
					   "The service levels measure a visit's response and resolution from its created_at, the time the request came in.",
					   "Give created_at a finite time, or leave it to its default (now()).",
					   "visit %s cannot have created_at %s", IDTEXT,
					   DatumGetCString(DirectFunctionCall1(timestamptz_out, created)));
			refuse(rel, VISIT_RULE,
				   "The service levels measure a visit's response and resolution from its created_at, the time the request came in.",
				   "The owner corrects a wrong time with the visit trigger off (docs/workflow.md).",
				   "cannot change created_at of visit %s", IDTEXT);
		}
	}

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		bool		changed = false;
		AttrNumber	watched[5];
		int			i;

		/* an UPDATE that leaves every workflow column as it was passes */
		watched[0] = st->status;
		watched[1] = st->phase;
		watched[2] = st->start;
		watched[3] = st->done;
		watched[4] = st->duration;
		for (i = 0; i < 5 && !changed; i++)
		{
			bool		on;
			bool		nn;
			Datum		ov = slot_getattr(trigdata->tg_trigslot, watched[i], &on);
			Datum		nv = slot_getattr(newslot, watched[i], &nn);

			changed = ame_datum_changed(ov, on, nv, nn,
										TupleDescAttr(desc, watched[i] - 1));
		}
		if (!changed)
			return PointerGetDatum(newtuple);
		read_visit(trigdata->tg_trigslot, st, &old);
	}
	else if (ame_restore_signalled(rel))
		return PointerGetDatum(newtuple);	/* a restore: rows as they were */

	id = slot_getattr(newslot, st->id, &isnull);
	idtext = NULL;				/* IDTEXT: made when a message needs it */

	if (nw.status == VS_UNKNOWN)
		refuse(rel, VISIT_RULE, NULL,
			   "A visit's status is \"scheduled\", \"in_progress\", \"completed\" or \"cancelled\".",
			   "visit %s cannot have status \"%s\"", IDTEXT, nw.status_text);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		derive = nw.status == VS_COMPLETED;
		wrong = visit_inconsistency(&nw);
		if (wrong != NULL)
			refuse(rel, VISIT_RULE, wrong,
				   "Create the visit as \"scheduled\" and move it through the workflow, or give every column its status needs.",
				   "visit %s cannot be created as \"%s\" with these columns",
				   IDTEXT, nw.status_text);
	}
	else if (nw.status == old.status && visit_inconsistency(&old) != NULL)
	{
		/*
		 * A row that broke the rules before they existed (or was restored
		 * as it was): it may be made consistent in place, keeping its
		 * status.  Its phase moves only to the one its status demands.
		 */
		if (nw.phase != old.phase &&
			!(nw.status == VS_SCHEDULED && nw.phase == 1) &&
			!(nw.status == VS_COMPLETED && nw.phase == LAST_PHASE))
			refuse(rel, VISIT_RULE, visit_inconsistency(&old),
				   "A visit that breaks the workflow's rules is repaired keeping its status and phase; only a scheduled visit goes to phase 1 and a completed one to phase 4.",
				   "cannot change current_phase of visit %s from %d to %d while repairing it",
				   IDTEXT, old.phase, nw.phase);
		derive = nw.status == VS_COMPLETED;
		wrong = visit_inconsistency(&nw);
		if (wrong != NULL)
			refuse(rel, VISIT_RULE, wrong,
				   "A visit that breaks the workflow's rules can only be made to agree with its status, which it keeps.",
				   "visit %s stays \"%s\" but its columns do not agree with it",
				   IDTEXT, old.status_text);
	}
	else if (old.status == VS_COMPLETED || old.status == VS_CANCELLED ||
			 old.status == VS_UNKNOWN)
	{
		/* closed: nothing of the workflow changes */
		if (nw.status != old.status)
			refuse(rel, VISIT_RULE, NULL, allowed_next(old.status),
				   "cannot change the status of visit %s from \"%s\" to \"%s\"",
				   IDTEXT, old.status_text, nw.status_text);
		if (nw.phase != old.phase)
			refuse(rel, VISIT_RULE, NULL, allowed_next(old.status),
				   "cannot change current_phase of visit %s from %d to %d: the visit is \"%s\"",
				   IDTEXT, old.phase, nw.phase, old.status_text);
		refuse(rel, VISIT_RULE, NULL, allowed_next(old.status),
			   "cannot change the times or duration of visit %s: the visit is \"%s\"",
			   IDTEXT, old.status_text);
	}
	else
	{
		/* open: scheduled or in_progress */
		if (nw.status != old.status)
		{
			bool		allowed =
				(old.status == VS_SCHEDULED &&
				 (nw.status == VS_IN_PROGRESS || nw.status == VS_CANCELLED)) ||
				(old.status == VS_IN_PROGRESS &&
				 (nw.status == VS_COMPLETED || nw.status == VS_CANCELLED));

			if (!allowed)
				refuse(rel, VISIT_RULE, NULL, allowed_next(old.status),
					   "cannot change the status of visit %s from \"%s\" to \"%s\"",
					   IDTEXT, old.status_text, nw.status_text);
		}

		/*
		 * actual_start_time is written when the visit starts (stamped, or
		 * given with the UPDATE that starts it), and then kept: the
		 * service levels measure the response by it
		 */
		if (nw.start_null != old.start_null ||
			(!nw.start_null && nw.start != old.start))
		{
			if (!(old.status == VS_SCHEDULED && nw.status == VS_IN_PROGRESS))
				refuse(rel, VISIT_RULE, NULL,
					   "actual_start_time is given or stamped when the visit starts, and then kept; the owner corrects a wrong time with the visit trigger off (docs/workflow.md).",
					   "cannot change actual_start_time of visit %s while it is \"%s\"%s",
					   IDTEXT, old.status_text,
					   nw.status != old.status ? " and becomes another status" : "");
		}

		if (nw.phase != old.phase)
		{
			if (old.status != VS_IN_PROGRESS)
				refuse(rel, VISIT_RULE, NULL,
					   "The phase moves only while the visit is \"in_progress\": start the visit first.",
					   "cannot change current_phase of visit %s from %d to %d while it is \"%s\"",
					   IDTEXT, old.phase, nw.phase, old.status_text);
			if (nw.status != VS_IN_PROGRESS)
				refuse(rel, VISIT_RULE, NULL,
					   "Change the phase and the status in separate steps.",
					   "cannot change current_phase of visit %s from %d to %d and its status from \"%s\" to \"%s\" at once",
					   IDTEXT, old.phase, nw.phase, old.status_text, nw.status_text);
			if (old.phase >= LAST_PHASE && nw.phase > old.phase)
				refuse(rel, VISIT_RULE, NULL,
					   "Phase 4 is the last: complete the visit (status \"completed\") instead.",
					   "cannot move visit %s from phase %d to phase %d",
					   IDTEXT, old.phase, nw.phase);
			if (nw.phase != old.phase + 1)
			{
				char		hint[128];

				snprintf(hint, sizeof(hint),
						 "A visit moves forward one phase at a time: from phase %d only to phase %d.",
						 old.phase, old.phase + 1);
				refuse(rel, VISIT_RULE, NULL, hint,
					   "cannot move visit %s from phase %d to phase %d",
					   IDTEXT, old.phase, nw.phase);
			}
			require_tasks_done(rel, st, id, IDTEXT, old.phase, nw.phase);
		}

		if (nw.status == VS_IN_PROGRESS && old.status == VS_SCHEDULED &&
			nw.start_null)
		{
			nw.start = GetCurrentTransactionStartTimestamp();
			nw.start_null = false;
			cols[ncols] = st->start;
			vals[ncols++] = TimestampTzGetDatum(nw.start);
		}

		if (nw.status == VS_COMPLETED)
		{
			if (nw.phase != LAST_PHASE)
				refuse(rel, VISIT_RULE, NULL,
					   "A visit is completed from phase 4 with its tasks done: advance it first (ame_advance_phase).",
					   "cannot change the status of visit %s from \"%s\" to \"completed\" at phase %d",
					   IDTEXT, old.status_text, nw.phase);
			require_tasks_done(rel, st, id, IDTEXT, LAST_PHASE, 0);
			if (nw.done_null)
			{
				nw.done = GetCurrentTransactionStartTimestamp();
				nw.done_null = false;
				cols[ncols] = st->done;
				vals[ncols++] = TimestampTzGetDatum(nw.done);
			}
			derive = true;
		}

		wrong = visit_inconsistency(&nw);
		if (wrong != NULL && nw.status == old.status)
			refuse(rel, VISIT_RULE, wrong,
				   "Change the columns together with the status they belong to.",
				   "visit %s stays \"%s\" but its columns would not agree with it",
				   IDTEXT, nw.status_text);
		if (wrong != NULL)
			refuse(rel, VISIT_RULE, wrong, allowed_next(old.status),
				   "visit %s cannot become \"%s\" with these columns",
				   IDTEXT, nw.status_text);
	}

	/*
	 * A visit being completed, created completed, or repaired as completed
	 * (its times are both there: checked above) gets the derived duration;
	 * a duration given with it must be that one.
	 */
	if (derive)
	{
		Datum		derived = derived_duration(&nw, st->duration_typmod);

		if (!nw.duration_null &&
			!DatumGetBool(DirectFunctionCall2(numeric_eq, nw.duration, derived)))
			refuse(rel, VISIT_RULE,
				   "duration_hours is derived from actual_start_time and completed_at.",
				   "Leave duration_hours out, or give the times it follows from.",
				   "visit %s cannot be completed with duration_hours %s: its times give %s",
				   IDTEXT,
				   DatumGetCString(DirectFunctionCall1(numeric_out, nw.duration)),
				   DatumGetCString(DirectFunctionCall1(numeric_out, derived)));
		if (nw.duration_null)
		{
			cols[ncols] = st->duration;
			vals[ncols++] = derived;
		}
	}

	if (ncols == 0)
		return PointerGetDatum(newtuple);
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, desc, ncols,
													 cols, vals, nulls));
}

/*
 * lock_visit
 *		The newest version of the visit, share-locked until the end of the
 *		transaction, read as the extension's owner (no row-level security):
 *		false when there is none (the foreign key then refuses the row).
 */
static bool
lock_visit(TaskState *st, Datum visit_id, VisitStatus *status,
		   const char **status_text, int32 *phase)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1];
	int			rc;
	bool		found = false;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (visit_lock_plan == NULL || visit_lock_relid != st->visits_relid ||
		!SPI_plan_is_valid(visit_lock_plan))
	{
		char	   *sql;
		SPIPlanPtr	plan;

		if (visit_lock_plan != NULL)
		{
			SPI_freeplan(visit_lock_plan);
			visit_lock_plan = NULL;
		}
		sql = psprintf("SELECT v.status, v.current_phase FROM ONLY %s v"
					   " WHERE v.id OPERATOR(pg_catalog.=) $1 FOR SHARE OF v",
					   quote_qualified_identifier(get_namespace_name(get_rel_namespace(st->visits_relid)),
												  get_rel_name(st->visits_relid)));
		plan = SPI_prepare(sql, 1, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		visit_lock_plan = plan;
		visit_lock_relid = st->visits_relid;
	}

	args[0] = visit_id;
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(st->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_NOFORCE_RLS);
	/* an error restores the user with the (sub)transaction's abort */
	rc = SPI_execute_plan(visit_lock_plan, args, NULL, false, 1);
	SetUserIdAndSecContext(save_userid, save_sec);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));

	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d;
		MemoryContext oldcxt;
		const char *txt;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		/* the caller's context: the trigger's, reset for every row */
		oldcxt = MemoryContextSwitchTo(callercxt);
		*status = parse_status(d, isnull, &txt);
		*status_text = pstrdup(txt);
		MemoryContextSwitchTo(oldcxt);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		*phase = isnull ? 0 : DatumGetInt32(d);
		found = true;
	}
	SPI_finish();
	return found;
}

/*
 * ame_visit_task_workflow() RETURNS trigger
 *		AFTER INSERT OR UPDATE FOR EACH ROW on ame_visit_progress.
 *
 * AFTER, not BEFORE: it runs once the row has passed row-level security
 * (so its refusals, which name the visit's status and phase, only reach
 * a caller allowed to write that visit's tasks) and sees the row as the
 * table's other triggers left it.  The visit is share-locked only then;
 * a concurrent phase change that did not see this (uncommitted) task is
 * committed first, and this check then sees its new phase.
 */
Datum
ame_visit_task_workflow(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	desc;
	TaskState  *st;
	HeapTuple	newtuple;
	Datum		visit_id;
	bool		visit_null;
	int32		phase;
	bool		completed;
	bool		isnull;
	bool		was_completed = false;
	bool		moved = true;
	VisitStatus vstatus;
	const char *vstatus_text;
	int32		vphase;
	char	   *vid;

	ame_check_trigger(fcinfo, TASK_FUNC, AME_TRIG_AFTER,
					  AME_TRIG_INSERT | AME_TRIG_UPDATE);
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);

	st = (TaskState *) fcinfo->flinfo->fn_extra;
	if (st == NULL || st->relid != RelationGetRelid(rel))
	{
		const char *relname = RelationGetRelationName(rel);
		Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);

		st = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TaskState));
		st->relid = RelationGetRelid(rel);
		st->visit_id = ame_required_column(desc, relname, TASK_FUNC, "visit_id", UUIDOID);
		st->phase = ame_required_column(desc, relname, TASK_FUNC, "phase", INT4OID);
		st->completed = ame_required_column(desc, relname, TASK_FUNC, "is_completed", BOOLOID);
		st->owner = ame_extension_owner();
		st->visits_relid = get_relname_relid("ame_visits", nsp);
		if (!OidIsValid(st->visits_relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("relation \"%s.ame_visits\" does not exist",
							get_namespace_name(nsp)),
					 errhint("Reinstall the extension with DROP EXTENSION ame and CREATE EXTENSION ame.")));
		fcinfo->flinfo->fn_extra = st;
	}

	newtuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	visit_id = heap_getattr(newtuple, st->visit_id, desc, &visit_null);
	phase = DatumGetInt32(heap_getattr(newtuple, st->phase, desc, &isnull));
	if (isnull)
		phase = 0;
	completed = DatumGetBool(heap_getattr(newtuple, st->completed, desc, &isnull));
	if (isnull)
		completed = false;
	if (visit_null)
		return PointerGetDatum(NULL);	/* NOT NULL refuses it */

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		HeapTuple	oldtuple = trigdata->tg_trigtuple;
		bool		on;
		Datum		ov;

		ov = heap_getattr(oldtuple, st->completed, desc, &on);
		was_completed = !on && DatumGetBool(ov);
		moved = false;
		ov = heap_getattr(oldtuple, st->visit_id, desc, &on);
		if (on || ame_datum_changed(ov, on, visit_id, false,
									TupleDescAttr(desc, st->visit_id - 1)))
			moved = true;
		ov = heap_getattr(oldtuple, st->phase, desc, &on);
		if (on || DatumGetInt32(ov) != phase)
			moved = true;
		/* notes, completed_at of a done task, ...: not the workflow's */
		if (!moved && was_completed == completed)
			return PointerGetDatum(NULL);
	}
	else if (ame_restore_signalled(rel))
		return PointerGetDatum(NULL);

	if (!lock_visit(st, visit_id, &vstatus, &vstatus_text, &vphase))
		return PointerGetDatum(NULL);	/* the foreign key refuses it */
	vid = DatumGetCString(DirectFunctionCall1(uuid_out, visit_id));

	if (!completed)
	{
		/* an open task: added, moved or reopened */
		const char *doing = moved ? "add an open task to" : "reopen a task of";

		if (vstatus != VS_SCHEDULED && vstatus != VS_IN_PROGRESS)
			refuse(rel, TASK_RULE, NULL,
				   "Tasks are added or reopened only on a visit that is \"scheduled\" or \"in_progress\".",
				   "cannot %s phase %d of visit %s: the visit is \"%s\"",
				   doing, phase, vid, vstatus_text);
		if (phase < vphase)
		{
			char		hint[160];

			snprintf(hint, sizeof(hint),
					 "Tasks are added or reopened only in the visit's current phase (%d) or a later one.",
					 vphase);
			refuse(rel, TASK_RULE, NULL, hint,
				   "cannot %s phase %d of visit %s: the visit is at phase %d",
				   doing, phase, vid, vphase);
		}
	}
	else if (!was_completed && !moved)
	{
		/* completing a task */
		if (vstatus != VS_IN_PROGRESS)
			refuse(rel, TASK_RULE, NULL,
				   "A task is completed while its visit is \"in_progress\".",
				   "cannot complete a task of phase %d of visit %s: the visit is \"%s\"",
				   phase, vid, vstatus_text);
		if (phase > vphase)
		{
			char		hint[160];

			snprintf(hint, sizeof(hint),
					 "Complete the tasks of the current phase (%d) and advance the visit first.",
					 vphase);
			refuse(rel, TASK_RULE, NULL, hint,
				   "cannot complete a task of phase %d of visit %s: the visit is at phase %d",
				   phase, vid, vphase);
		}
	}
	else
	{
		/*
		 * A task added (or moved to another visit or phase) already done:
		 * added, so only to the current phase or a later one of an open
		 * visit; done, so only while the visit is in progress and not ahead
		 * of it.  That leaves the current phase of a visit in progress.
		 */
		if (vstatus != VS_IN_PROGRESS)
			refuse(rel, TASK_RULE, NULL,
				   "A task is completed while its visit is \"in_progress\", and a closed visit takes no new task.",
				   "cannot add a completed task to phase %d of visit %s: the visit is \"%s\"",
				   phase, vid, vstatus_text);
		if (phase != vphase)
		{
			char		hint[160];

			snprintf(hint, sizeof(hint),
					 "A task added already completed belongs to the visit's current phase (%d).",
					 vphase);
			refuse(rel, TASK_RULE, NULL, hint,
				   "cannot add a completed task to phase %d of visit %s: the visit is at phase %d",
				   phase, vid, vphase);
		}
	}

	return PointerGetDatum(NULL);
}
