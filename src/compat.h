/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Differences between the PostgreSQL major versions ame supports (15,
 *	  17, 18), as small wrappers named after what they do, so that the
 *	  capability files need no #if of their own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AME_COMPAT_H
#define AME_COMPAT_H

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

/*
 * ExecutorRun_hook: PostgreSQL 18 dropped the execute_once argument.  A
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
 * A JSON lexer over len bytes of json in the database encoding.  PG 17
 * added a first argument (a context to fill in, or NULL for a new one).
 */
#if PG_VERSION_NUM >= 170000
#define ame_json_lexer(json, len, need_escapes) \
	makeJsonLexContextCstringLen(NULL, (json), (len), GetDatabaseEncoding(), \
								 (need_escapes))
#else
#define ame_json_lexer(json, len, need_escapes) \
	makeJsonLexContextCstringLen((json), (len), GetDatabaseEncoding(), \
								 (need_escapes))
#endif

#endif							/* AME_COMPAT_H */
