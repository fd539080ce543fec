/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between the PostgreSQL majors ame supports (15, 17
 *	  and 18), in one place.
 *
 * The capability files are written against the newest API.  Where an
 * older major lacks it, this header supplies it: a macro or a small inline
 * function under the newest name, mapped onto the older call.  Where no
 * newest name can stand in (a hook's parameter list), a macro named after
 * what it does (AME_...) has one definition per major.  A macro that
 * reuses a core function's name calls the real function as "(name)(...)",
 * which the preprocessor does not expand again.  Arguments that only the
 * newer majors know (an instrumentation struct, an "only summarizing
 * indexes" flag, ...) must be given their neutral value (NULL, false, NIL)
 * by our callers; nothing here can honour anything else on an older major.
 *
 * This header includes the core headers that declare the functions it
 * renames, so that those declarations are always read before the macros
 * exist; it is included through ame.h, after a file's own core headers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AME_COMPAT_H
#define AME_COMPAT_H

#include "access/genam.h"
#include "catalog/pg_class.h"
#include "common/jsonapi.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#endif
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/backend_progress.h"
#include "utils/guc_tables.h"

#if PG_VERSION_NUM < 150000
#error "ame requires PostgreSQL 15 or later"
#endif

/*
 * PG 16 moved VARSIZE_ANY, VARDATA_ANY and the other varlena macros out of
 * postgres.h into varatt.h.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * PG 18: pg_noreturn, a specifier written before the declaration, replaces
 * the pg_attribute_noreturn() attribute written after it.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * PG 16: object_ownercheck(classid, objectid, roleid) replaces the
 * per-catalog pg_*_ownercheck functions.  Only relations are needed here.
 */
#if PG_VERSION_NUM < 160000
static inline bool
object_ownercheck(Oid classid, Oid objectid, Oid roleid)
{
	if (classid != RelationRelationId)
		elog(ERROR, "object_ownercheck: class %u is not supported before PostgreSQL 16",
			 classid);
	return pg_class_ownercheck(objectid, roleid);
}
#endif

/*
 * PG 16: JSON semantic actions return a JsonParseErrorType (JSON_SUCCESS to
 * go on); before, they returned nothing.  Declare an action as returning
 * JsonActionResult and leave it with "return JSON_ACTION_OK;".
 */
#if PG_VERSION_NUM >= 160000
typedef JsonParseErrorType JsonActionResult;
#define JSON_ACTION_OK JSON_SUCCESS
#else
typedef void JsonActionResult;
#define JSON_ACTION_OK
#endif

/*
 * PG 17: makeJsonLexContextCstringLen takes a JsonLexContext to fill as its
 * first argument (NULL: allocate one, the only behaviour before).  Before
 * 17 the text is "char *"; the lexer never writes to it.
 */
#if PG_VERSION_NUM < 170000
#define makeJsonLexContextCstringLen(lex, json, len, encoding, need_escapes) \
	(AssertMacro((lex) == NULL), \
	 (makeJsonLexContextCstringLen)((char *) (json), (len), (encoding), (need_escapes)))
#endif

/* A JSON lexer over len bytes of json in the database encoding. */
#define ame_json_lexer(json, len, need_escapes) \
	makeJsonLexContextCstringLen(NULL, (json), (len), GetDatabaseEncoding(), \
								 (need_escapes))

/*
 * PG 18: ExecutorRun (and its hook) dropped the execute_once argument.  A
 * hook is declared with AME_EXECUTOR_RUN_PARAMS and passes
 * AME_EXECUTOR_RUN_ARGS on to the next hook or standard_ExecutorRun.
 */
#if PG_VERSION_NUM >= 180000
#define AME_EXECUTOR_RUN_PARAMS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define AME_EXECUTOR_RUN_ARGS	queryDesc, direction, count
#else
#define AME_EXECUTOR_RUN_PARAMS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count, \
	bool execute_once
#define AME_EXECUTOR_RUN_ARGS	queryDesc, direction, count, execute_once
#endif

/*
 * The largest decimal exponent numeric_in accepts (either sign): PG 16's
 * rewritten parser takes INT_MAX / 2 itself, PG 15 stops one below.
 */
#if PG_VERSION_NUM >= 160000
#define AME_NUMERIC_MAX_EXPONENT	(PG_INT32_MAX / 2)
#else
#define AME_NUMERIC_MAX_EXPONENT	(PG_INT32_MAX / 2 - 1)
#endif

/*
 * PG 16: get_guc_variables() returns the array's length through its
 * argument; before, GetNumConfigOptions() gave it.
 */
#if PG_VERSION_NUM < 160000
#define get_guc_variables(num_vars) \
	(*(num_vars) = GetNumConfigOptions(), (get_guc_variables)())
#endif

/*
 * PG 18: index_beginscan takes an IndexScanInstrumentation (NULL: none)
 * after the snapshot.
 */
#if PG_VERSION_NUM < 180000
#define index_beginscan(heap, index, snapshot, instrument, nkeys, norderbys) \
	(AssertMacro((instrument) == NULL), \
	 (index_beginscan)((heap), (index), (snapshot), (nkeys), (norderbys)))
#endif

/*
 * PG 16: ExecInsertIndexTuples takes "onlySummarizing" last (false: every
 * index, the only behaviour before).
 */
#if PG_VERSION_NUM < 160000
#define ExecInsertIndexTuples(rri, slot, estate, update, noDupErr, \
							  specConflict, arbiterIndexes, onlySummarizing) \
	(AssertMacro(!(onlySummarizing)), \
	 (ExecInsertIndexTuples)((rri), (slot), (estate), (update), (noDupErr), \
							 (specConflict), (arbiterIndexes)))
#endif

/*
 * PG 16 moved a relation's permission details (requiredPerms, checkAsUser,
 * selectedCols, insertedCols, ...) from its RangeTblEntry into an
 * RTEPermissionInfo, kept in a list beside the range table and passed to
 * ExecInitRangeTable; addRTEPermissionInfo makes one for an RTE.  Before 16
 * the fields, under the same names, are the RTE's own: the RTE serves as
 * its own permission info and the list is not used.
 *
 * PG 18: ExecInitRangeTable also takes the set of range-table indexes that
 * initial partition pruning kept (every relation, without pruning).
 */
#if PG_VERSION_NUM < 160000
typedef RangeTblEntry RTEPermissionInfo;

static inline RTEPermissionInfo *
addRTEPermissionInfo(List **rteperminfos, RangeTblEntry *rte)
{
	*rteperminfos = lappend(*rteperminfos, rte);
	return rte;
}

#define ExecInitRangeTable(estate, rangeTable, permInfos, unpruned_relids) \
	(ExecInitRangeTable)((estate), (rangeTable))
#elif PG_VERSION_NUM < 180000
#define ExecInitRangeTable(estate, rangeTable, permInfos, unpruned_relids) \
	(ExecInitRangeTable)((estate), (rangeTable), (permInfos))
#endif

/*
 * CheckValidResultRel: PG 17 added the MERGE actions (NIL: not a MERGE),
 * PG 18 the ON CONFLICT action (ONCONFLICT_NONE) before them.
 */
#if PG_VERSION_NUM < 170000
#define CheckValidResultRel(rri, operation, onConflictAction, mergeActions) \
	(CheckValidResultRel)((rri), (operation))
#elif PG_VERSION_NUM < 180000
#define CheckValidResultRel(rri, operation, onConflictAction, mergeActions) \
	(CheckValidResultRel)((rri), (operation), (mergeActions))
#endif

/*
 * PG 18: RelationGetPrimaryKeyIndex() takes whether a deferrable primary
 * key will do; ame's callers want only an immediate one, as before.
 */
#if PG_VERSION_NUM >= 180000
#define RelationGetPrimaryKeyIndex(rel) (RelationGetPrimaryKeyIndex)((rel), false)
#endif

/*
 * Progress slots.  COPY reports in parameter slots 0..5 of
 * pg_stat_progress_copy up to PG 16 and 0..6 from PG 17 (tuples_skipped);
 * PGSTAT_NUM_PROGRESS_PARAM is 20 in every supported major.  ame's import
 * reports what COPY has no column for in slots 13..18, clear of both
 * (param14..param19 of pg_stat_get_progress_info('COPY'), as
 * ame_import_progress() reads them).
 */
#if PGSTAT_NUM_PROGRESS_PARAM < 19
#error "ame's import progress needs 19 progress parameter slots"
#endif
#define AME_PROGRESS_MARKER			13	/* AME_PROGRESS_MARKER_VALUE */
#define AME_PROGRESS_BATCH_HIGH		14	/* the batch id's first 8 bytes */
#define AME_PROGRESS_BATCH_LOW		15	/* and its last 8 */
#define AME_PROGRESS_RECORDS_READ	16
#define AME_PROGRESS_FAILED			17
#define AME_PROGRESS_SKIPPED		18
#define AME_PROGRESS_MARKER_VALUE	INT64CONST(0x616D65)	/* "ame" */

/*
 * ame_input_safe
 *		Run a type's input function on str; false, with no error raised,
 *		when the input is bad.  PG 16 reports bad input softly into an
 *		ErrorSaveContext.  Before, the error is caught and dropped: safe
 *		only for input functions that take no resources (interval_in, which
 *		is all ame uses it for).
 */
static inline bool
ame_input_safe(PGFunction func, char *str, Oid typioparam, int32 typmod,
			   Datum *result)
{
#if PG_VERSION_NUM >= 160000
	ErrorSaveContext escontext;

	memset(&escontext, 0, sizeof(escontext));
	escontext.type = T_ErrorSaveContext;
	return DirectInputFunctionCallSafe(func, str, typioparam, typmod,
									   (Node *) &escontext, result);
#else
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		*result = DirectFunctionCall3(func, CStringGetDatum(str),
									  ObjectIdGetDatum(typioparam),
									  Int32GetDatum(typmod));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	return ok;
#endif
}

#endif							/* AME_COMPAT_H */
