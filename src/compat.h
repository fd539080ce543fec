/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The differences between the PostgreSQL versions ame builds against
 *	  (15, 17, 18), in one place, named after the newest API.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AME_COMPAT_H
#define AME_COMPAT_H

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

#endif							/* AME_COMPAT_H */
