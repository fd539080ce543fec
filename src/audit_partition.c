/*-------------------------------------------------------------------------
 *
 * audit_partition.c
 *	  The audit log's monthly partitions: which partition a time belongs
 *	  to (for the writer), ame_audit_add_partitions(), the retention
 *	  routine ame_purge_audit_logs() (whole months dropped, only the
 *	  boundary month deleted from), and ame_audit_maintenance(), which the
 *	  nightly pg_cron job runs.
 *
 * ame_audit_logs is partitioned by range of performed_at, one partition
 * per month in UTC, named ame_audit_logs_yYYYYmMM, with a default
 * partition (ame_audit_logs_default) for every other time.  The parent and
 * the default partition belong to the extension; the monthly partitions
 * do not (pg_dump writes them whole, with their rows: see docs/audit.md).
 * The parent has no index: every partition carries its own primary key
 * (id) and its indexes on record_id (hash) and seq (btree), made here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"

#define MONTHS_AHEAD		3
/* one call makes at most this many partitions (a hundred years) */
#define MAX_MONTHS			1200

/* a partition of the log, as its bound says */
typedef struct LogPartition
{
	Oid			relid;
	bool		is_default;
	bool		has_lower;		/* false: MINVALUE */
	bool		has_upper;		/* false: MAXVALUE */
	TimestampTz lower;
	TimestampTz upper;			/* exclusive */
} LogPartition;

static Oid	log_relid(Oid nspid);
static int	log_partitions(Relation parent, LogPartition **parts);
static Oid	log_partition_for(Relation parent, AttrNumber performed_attnum,
							  TimestampTz ts, bool *is_default, bool *is_leaf);
static TimestampTz month_start(int year, int month);
static void month_of_date(DateADT date, int *year, int *month);
static char *ts_literal(TimestampTz ts);
static void spi_exec(const char *sql, int expected);
static int64 spi_count(const char *sql);
static void add_one_partition(Oid nspid, Oid logrelid, Oid defaultid,
							  int year, int month);
static void guard_partitions(Oid nspid, Oid logrelid);
static int	add_partitions(Oid nspid, int y0, int m0, int y1, int m1);
static int64 purge(Oid nspid, Interval *older_than, TimestampTz cutoff);
static TimestampTz purge_cutoff(Interval *older_than);
static Interval *retention_setting(void);

PG_FUNCTION_INFO_V1(ame_audit_add_partitions);
PG_FUNCTION_INFO_V1(ame_purge_audit_logs);
PG_FUNCTION_INFO_V1(ame_audit_maintenance);

/*
 * ame_audit_log_leaf
 *		The partition of the (partitioned) log that a row performed at ts
 *		goes to, as the executor would route it: one binary search of the
 *		parent's partition bounds.  InvalidOid when the writer cannot
 *		insert there itself (the partitioning is not the install script's,
 *		the partition is partitioned again, or there is none): the caller
 *		then leaves the routing to the executor.
 */
Oid
ame_audit_log_leaf(Relation parent, AttrNumber performed_attnum,
				   TimestampTz ts)
{
	bool		is_default;
	bool		is_leaf;
	Oid			part = log_partition_for(parent, performed_attnum, ts,
										 &is_default, &is_leaf);

	return is_leaf ? part : InvalidOid;
}

/*
 * log_partition_for
 *		The partition (leaf or not) whose range holds ts, or the default
 *		partition, or InvalidOid (none, or not partitioned by range of
 *		performed_at alone).
 */
static Oid
log_partition_for(Relation parent, AttrNumber performed_attnum,
				  TimestampTz ts, bool *is_default, bool *is_leaf)
{
	PartitionKey key = RelationGetPartitionKey(parent);
	PartitionDesc pd = RelationGetPartitionDesc(parent, true);
	PartitionBoundInfo bi = pd->boundinfo;
	int			idx = -1;

	*is_default = false;
	*is_leaf = false;
	if (key == NULL || key->strategy != PARTITION_STRATEGY_RANGE ||
		key->partnatts != 1 || key->partattrs[0] != performed_attnum ||
		key->parttypid[0] != TIMESTAMPTZOID || bi == NULL)
		return InvalidOid;

	if (bi->ndatums > 0)
	{
		Datum		value = TimestampTzGetDatum(ts);
		bool		equal;
		int			offset;

		offset = partition_range_datum_bsearch(key->partsupfunc,
											   key->partcollation, bi, 1,
											   &value, &equal);
		idx = bi->indexes[offset + 1];
	}
	if (idx < 0)
	{
		idx = bi->default_index;
		*is_default = true;
	}
	if (idx < 0)
		return InvalidOid;
	*is_leaf = pd->is_leaf[idx];
	return pd->oids[idx];
}

/*
 * ame_audit_add_partitions(since date, until date DEFAULT NULL) RETURNS integer
 *		Make the missing monthly partitions of the log for the months from
 *		since's to until's (NULL: three months ahead of today, in UTC);
 *		return how many were made.  Rows of those months that wait in the
 *		default partition move into their new partition.  Every partition
 *		gets its guards (see guard_partitions).  Owner only.
 */
Datum
ame_audit_add_partitions(PG_FUNCTION_ARGS)
{
	Oid			nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
	int			y0,
				m0,
				y1,
				m1;

	ame_require_owner("ame_audit_add_partitions");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must not be NULL")));
	if (DATE_NOT_FINITE(PG_GETARG_DATEADT(0)) ||
		(!PG_ARGISNULL(1) && DATE_NOT_FINITE(PG_GETARG_DATEADT(1))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since and until must be finite dates")));
	month_of_date(PG_GETARG_DATEADT(0), &y0, &m0);
	if (PG_ARGISNULL(1))
	{
		/* today in UTC, three months on */
		TimestampTz now = GetCurrentTransactionStartTimestamp();
		DateADT		today = (DateADT) (now / USECS_PER_DAY -
									   (now < 0 && now % USECS_PER_DAY != 0));

		month_of_date(today, &y1, &m1);
		m1 += MONTHS_AHEAD;
		y1 += (m1 - 1) / 12;
		m1 = (m1 - 1) % 12 + 1;
	}
	else
		month_of_date(PG_GETARG_DATEADT(1), &y1, &m1);

	if (y1 * 12 + m1 < y0 * 12 + m0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must not be later than until"),
				 errdetail("since is in %04d-%02d, until in %04d-%02d.",
						   y0, m0, y1, m1)));
	if ((y1 * 12 + m1) - (y0 * 12 + m0) >= MAX_MONTHS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot make partitions for more than %d months in one call",
						MAX_MONTHS),
				 errdetail("since is in %04d-%02d, until in %04d-%02d.",
						   y0, m0, y1, m1)));
	if (y0 < 1900 || y1 > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions can be made for the years 1900 to 9999 only")));

	PG_RETURN_INT32(add_partitions(nspid, y0, m0, y1, m1));
}

/*
 * add_partitions
 *		The work of ame_audit_add_partitions(), as the extension's owner
 *		(the partitions are its own, whoever of its members asked).
 */
static int
add_partitions(Oid nspid, int y0, int m0, int y1, int m1)
{
	Oid			owner = ame_extension_owner();
	Oid			logrelid = log_relid(nspid);
	Oid			save_userid;
	int			save_sec;
	volatile int made = 0;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		int			y = y0;
		int			m = m0;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		while (y * 12 + m <= y1 * 12 + m1)
		{
			Relation	parent;
			Oid			part;
			bool		is_default;
			bool		is_leaf;

			CHECK_FOR_INTERRUPTS();
			/* the partition list changes with each one made */
			parent = table_open(logrelid, ShareUpdateExclusiveLock);
			part = log_partition_for(parent,
									 get_attnum(logrelid, "performed_at"),
									 month_start(y, m), &is_default, &is_leaf);
			table_close(parent, NoLock);
			if (!OidIsValid(part) || is_default)
			{
				add_one_partition(nspid, logrelid,
								  is_default ? part : InvalidOid, y, m);
				made++;
			}
			if (++m > 12)
			{
				m = 1;
				y++;
			}
		}
		guard_partitions(nspid, logrelid);
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return made;
}

/*
 * add_one_partition
 *		Make ame_audit_logs_yYYYYmMM for one month: a table like the log,
 *		the rows of its month moved into it from the default partition (if
 *		any wait there), its indexes, then attached.  ATTACH PARTITION
 *		takes only a SHARE UPDATE EXCLUSIVE lock on the log, so audited
 *		writes go on meanwhile (CREATE TABLE ... PARTITION OF would block
 *		them); it scans the default partition to prove that no row of the
 *		month is left there.  Made in an extension script (CREATE or ALTER
 *		EXTENSION), the table would belong to the extension: it does not
 *		(see the file header).
 */
static void
add_one_partition(Oid nspid, Oid logrelid, Oid defaultid, int year, int month)
{
	char	   *nspname = get_namespace_name(nspid);
	char		name[NAMEDATALEN];
	char	   *qname;
	char	   *qparent = quote_qualified_identifier(nspname, LOG_NAME);
	char	   *qdefault = NULL;
	char	   *lo = ts_literal(month_start(year, month));
	char	   *hi = ts_literal(month == 12 ? month_start(year + 1, 1) :
								month_start(year, month + 1));
	bool		move = false;
	Oid			relid;

	snprintf(name, sizeof(name), "%s_y%04dm%02d", LOG_NAME, year, month);
	qname = quote_qualified_identifier(nspname, name);

	spi_exec(psprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING INDEXES)", qname, qparent),
			 SPI_OK_UTILITY);
	/* LIKE copied the log's column comments; the table gets its own */
	spi_exec(psprintf("COMMENT ON TABLE %s IS %s", qname,
					  quote_literal_cstr(psprintf("the audit rows of %04d-%02d (UTC), a partition of %s; read them through %s",
												  year, month, LOG_NAME, LOG_NAME))),
			 SPI_OK_UTILITY);

	/* the default partition's rows of this month */
	if (OidIsValid(defaultid))
	{
		qdefault = quote_qualified_identifier(get_namespace_name(get_rel_namespace(defaultid)),
											  get_rel_name(defaultid));
		spi_exec(psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qdefault),
				 SPI_OK_UTILITY);
		move = spi_count(psprintf("SELECT pg_catalog.count(*) FROM (SELECT FROM ONLY %s"
								  " WHERE performed_at OPERATOR(pg_catalog.>=) %s::pg_catalog.timestamptz"
								  " AND performed_at OPERATOR(pg_catalog.<) %s::pg_catalog.timestamptz"
								  " LIMIT 1) x", qdefault, lo, hi)) > 0;
	}
	if (move)
	{
		ame_audit_log_bypass++;
		PG_TRY();
		{
			spi_exec(psprintf("WITH moved AS (DELETE FROM ONLY %s"
							  " WHERE performed_at OPERATOR(pg_catalog.>=) %s::pg_catalog.timestamptz"
							  " AND performed_at OPERATOR(pg_catalog.<) %s::pg_catalog.timestamptz"
							  " RETURNING *) INSERT INTO %s SELECT * FROM moved ORDER BY seq",
							  qdefault, lo, hi, qname),
					 SPI_OK_INSERT);
		}
		PG_FINALLY();
		{
			ame_audit_log_bypass--;
		}
		PG_END_TRY();
	}

	spi_exec(psprintf("ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (id)",
					  qname, quote_identifier(psprintf("%s_pkey", name))),
			 SPI_OK_UTILITY);
	spi_exec(psprintf("CREATE INDEX %s ON %s USING hash (record_id)",
					  quote_identifier(psprintf("%s_record_idx", name)), qname),
			 SPI_OK_UTILITY);
	spi_exec(psprintf("CREATE INDEX %s ON %s (seq)",
					  quote_identifier(psprintf("%s_seq_idx", name)), qname),
			 SPI_OK_UTILITY);
	spi_exec(psprintf("ALTER TABLE %s ATTACH PARTITION %s"
					  " FOR VALUES FROM (%s) TO (%s)", qparent, qname, lo, hi),
			 SPI_OK_UTILITY);

	/* not a member of the extension, even when made by its script */
	relid = get_relname_relid(name, nspid);
	if (creating_extension && OidIsValid(relid))
	{
		Oid			typid = get_rel_type_id(relid);

		deleteDependencyRecordsForClass(RelationRelationId, relid,
										ExtensionRelationId,
										DEPENDENCY_EXTENSION);
		if (OidIsValid(typid))
		{
			/* PG 17 on records the row type's array type as a member too */
			Oid			arraytypid = get_array_type(typid);

			deleteDependencyRecordsForClass(TypeRelationId, typid,
											ExtensionRelationId,
											DEPENDENCY_EXTENSION);
			if (OidIsValid(arraytypid))
				deleteDependencyRecordsForClass(TypeRelationId, arraytypid,
												ExtensionRelationId,
												DEPENDENCY_EXTENSION);
		}
		CommandCounterIncrement();
	}
}

/*
 * guard_partitions
 *		Every partition of the log is append-only, also one a user
 *		attached: the row guard (cloned from the log's) enabled ALWAYS, and
 *		a TRUNCATE guard of its own (statement triggers are not cloned).
 */
static void
guard_partitions(Oid nspid, Oid logrelid)
{
	char	   *nspname = get_namespace_name(nspid);
	char	   *guard = quote_qualified_identifier(nspname, "ame_audit_log_guard");
	uint64		i;
	int			rc;
	SPITupleTable *tuptable;
	uint64		n;
	Datum		arg = ObjectIdGetDatum(logrelid);
	Oid			argtype = OIDOID;

	/* the partitions missing a guard, or with one not enabled ALWAYS */
	rc = SPI_execute_with_args(
							   "SELECT p.relid::pg_catalog.regclass::pg_catalog.text,"
							   " NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t"
							   "  WHERE t.tgrelid OPERATOR(pg_catalog.=) p.relid"
							   "  AND t.tgname OPERATOR(pg_catalog.=) 'ame_audit_logs_no_truncate'),"
							   " EXISTS (SELECT FROM pg_catalog.pg_trigger t"
							   "  WHERE t.tgrelid OPERATOR(pg_catalog.=) p.relid"
							   "  AND t.tgname OPERATOR(pg_catalog.=) 'ame_audit_logs_no_truncate'"
							   "  AND t.tgenabled OPERATOR(pg_catalog.<>) 'A'),"
							   " EXISTS (SELECT FROM pg_catalog.pg_trigger t"
							   "  WHERE t.tgrelid OPERATOR(pg_catalog.=) p.relid"
							   "  AND t.tgname OPERATOR(pg_catalog.=) 'ame_audit_logs_append_only'"
							   "  AND t.tgenabled OPERATOR(pg_catalog.<>) 'A')"
							   " FROM pg_catalog.pg_partition_tree($1::pg_catalog.regclass) p"
							   " WHERE p.level OPERATOR(pg_catalog.>) 0",
							   1, &argtype, &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s",
			 SPI_result_code_string(rc));
	tuptable = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		TupleDesc	td = tuptable->tupdesc;
		char	   *part = SPI_getvalue(tup, td, 1);
		bool		isnull;
		bool		no_truncate_guard = DatumGetBool(SPI_getbinval(tup, td, 2, &isnull));
		bool		truncate_not_always = DatumGetBool(SPI_getbinval(tup, td, 3, &isnull));
		bool		row_not_always = DatumGetBool(SPI_getbinval(tup, td, 4, &isnull));

		CHECK_FOR_INTERRUPTS();
		if (no_truncate_guard)
			spi_exec(psprintf("CREATE TRIGGER ame_audit_logs_no_truncate"
							  " BEFORE TRUNCATE ON %s FOR EACH STATEMENT"
							  " EXECUTE FUNCTION %s()", part, guard),
					 SPI_OK_UTILITY);
		if (no_truncate_guard || truncate_not_always)
			spi_exec(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER ame_audit_logs_no_truncate",
							  part),
					 SPI_OK_UTILITY);
		if (row_not_always)
			spi_exec(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER ame_audit_logs_append_only",
							  part),
					 SPI_OK_UTILITY);
	}
}

/*
 * ame_purge_audit_logs(older_than interval) RETURNS bigint
 *		Remove the log rows performed more than older_than ago: the monthly
 *		partitions that lie wholly before the cutoff are detached and
 *		dropped, the boundary month and the default partition lose their
 *		older rows by DELETE.  Logs the run to system_maintenance_log;
 *		returns how many rows went.  Owner only.
 */
Datum
ame_purge_audit_logs(PG_FUNCTION_ARGS)
{
	Interval   *older_than;

	ame_require_owner("ame_purge_audit_logs");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be NULL")));
	older_than = PG_GETARG_INTERVAL_P(0);
	PG_RETURN_INT64(purge(get_func_namespace(fcinfo->flinfo->fn_oid),
						  older_than, purge_cutoff(older_than)));
}

/* now() - older_than, refused when older_than is negative */
static TimestampTz
purge_cutoff(Interval *older_than)
{
	Interval	zero;
	TimestampTz cutoff;

	memset(&zero, 0, sizeof(zero));
	if (DatumGetBool(DirectFunctionCall2(interval_lt,
										 IntervalPGetDatum(older_than),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errhint("Pass how old an entry must be to go, for example '1 year'.")));

	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													 IntervalPGetDatum(older_than)));

	/*
	 * interval_lt counts a month as 30 days, so '-1 year +360 days' passes
	 * it while reaching days past now: the cutoff itself must not be.
	 */
	if (cutoff > GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errdetail("Interval \"%s\" reaches past the current time, to %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(older_than))),
						   timestamptz_to_str(cutoff)),
				 errhint("Pass how old an entry must be to go, for example '1 year'.")));
	return cutoff;
}

/*
 * purge
 *		The work of ame_purge_audit_logs(), as the extension's owner.  The
 *		DELETEs come first, under the lock an ordinary DELETE takes; the
 *		log is locked ACCESS EXCLUSIVE (as DETACH PARTITION must) only for
 *		counting and dropping the whole months, so audited writes wait for
 *		that part alone.  A dropped month's rows are counted before it goes
 *		(count(*) of that partition: its size, not the log's, sets the cost).
 */
static int64
purge(Oid nspid, Interval *older_than, TimestampTz cutoff)
{
	Oid			owner = ame_extension_owner();
	Oid			logrelid = log_relid(nspid);
	char	   *nspname = get_namespace_name(nspid);
	char	   *qparent = quote_qualified_identifier(nspname, LOG_NAME);
	char	   *cut = ts_literal(cutoff);
	TimestampTz start = GetCurrentTimestamp();
	Oid			save_userid;
	int			save_sec;
	volatile int64 deleted = 0;
	volatile int64 dropped = 0;
	StringInfoData dropped_names;
	StringInfoData trimmed_names;

	initStringInfo(&dropped_names);
	initStringInfo(&trimmed_names);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	ame_audit_log_bypass++;
	PG_TRY();
	{
		Relation	parent;
		LogPartition *parts;
		int			nparts;
		List	   *drop = NIL;
		ListCell   *lc;
		int			i;
		int			rc;
		Oid			types[4] = {INT8OID, FLOAT8OID, INTERVALOID, TIMESTAMPTZOID};
		Datum		vals[4];
		char	   *details;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");

		parent = table_open(logrelid, RowExclusiveLock);
		nparts = log_partitions(parent, &parts);
		table_close(parent, NoLock);

		for (i = 0; i < nparts; i++)
		{
			LogPartition *p = &parts[i];
			char	   *qpart;

			CHECK_FOR_INTERRUPTS();
			qpart = quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->relid)),
											   get_rel_name(p->relid));
			if (!p->is_default && p->has_upper && p->upper <= cutoff)
				drop = lappend_oid(drop, p->relid);
			else if (p->is_default || !p->has_lower || p->lower < cutoff)
			{
				int64		n;

				spi_exec(psprintf("DELETE FROM ONLY %s"
								  " WHERE performed_at OPERATOR(pg_catalog.<) %s::pg_catalog.timestamptz",
								  qpart, cut),
						 SPI_OK_DELETE);
				n = (int64) SPI_processed;
				deleted += n;
				if (n > 0)
					appendStringInfo(&trimmed_names, "%s%s",
									 trimmed_names.len > 0 ? "," : "",
									 quote_literal_cstr(get_rel_name(p->relid)));
			}
		}

		if (drop != NIL)
			spi_exec(psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qparent),
					 SPI_OK_UTILITY);
		foreach(lc, drop)
		{
			Oid			relid = lfirst_oid(lc);
			char	   *relname = get_rel_name(relid);
			char	   *qpart;

			CHECK_FOR_INTERRUPTS();
			qpart = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											   relname);
			dropped += spi_count(psprintf("SELECT pg_catalog.count(*) FROM %s", qpart));
			spi_exec(psprintf("ALTER TABLE %s DETACH PARTITION %s", qparent, qpart),
					 SPI_OK_UTILITY);
			spi_exec(psprintf("DROP TABLE %s", qpart), SPI_OK_UTILITY);
			appendStringInfo(&dropped_names, "%s%s",
							 dropped_names.len > 0 ? "," : "",
							 quote_literal_cstr(relname));
		}

		details = psprintf("pg_catalog.jsonb_build_object('older_than', $3::pg_catalog.text,"
						   " 'cutoff', $4,"
						   " 'dropped_partitions', pg_catalog.jsonb_build_array(%s),"
						   " 'dropped_rows', %lld,"
						   " 'trimmed_partitions', pg_catalog.jsonb_build_array(%s),"
						   " 'deleted_rows', %lld)",
						   dropped_names.data, (long long) dropped,
						   trimmed_names.data, (long long) deleted);
		vals[0] = Int64GetDatum(deleted + dropped);
		vals[1] = Float8GetDatum((double) (GetCurrentTimestamp() - start) / 1000.0);
		vals[2] = IntervalPGetDatum(older_than);
		vals[3] = TimestampTzGetDatum(cutoff);
		rc = SPI_execute_with_args(psprintf("INSERT INTO %s (operation, affected_rows, duration_ms, details)"
											" VALUES ('audit_purge', $1, $2, %s)",
											quote_qualified_identifier(nspname, "system_maintenance_log"),
											details),
								   4, types, vals, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_with_args returned %s",
				 SPI_result_code_string(rc));
		SPI_finish();
	}
	PG_FINALLY();
	{
		ame_audit_log_bypass--;
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	return deleted + dropped;
}

/*
 * ame_audit_maintenance() RETURNS jsonb
 *		What the nightly pg_cron job "audit-maintenance" runs: the monthly
 *		partitions up to three months ahead, and, when the setting
 *		ame.audit_retention holds an interval, the purge of what is older.
 *		Returns what it did.  Owner only.
 */
Datum
ame_audit_maintenance(PG_FUNCTION_ARGS)
{
	Oid			nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	DateADT		today = (DateADT) (now / USECS_PER_DAY -
								   (now < 0 && now % USECS_PER_DAY != 0));
	int			y0,
				m0,
				y1,
				m1;
	int			made;
	Interval   *retention;
	int64		purged = -1;
	char	   *json;

	ame_require_owner("ame_audit_maintenance");

	month_of_date(today, &y0, &m0);
	m1 = m0 + MONTHS_AHEAD;
	y1 = y0 + (m1 - 1) / 12;
	m1 = (m1 - 1) % 12 + 1;
	made = add_partitions(nspid, y0, m0, y1, m1);

	retention = retention_setting();
	if (retention != NULL)
		purged = purge(nspid, retention, purge_cutoff(retention));

	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfo(&buf, "{\"partitions_added\": %d, \"retention\": ", made);
		if (retention != NULL)
			escape_json(&buf, DatumGetCString(DirectFunctionCall1(interval_out,
																  IntervalPGetDatum(retention))));
		else
			appendStringInfoString(&buf, "null");
		if (purged >= 0)
			appendStringInfo(&buf, ", \"purged_rows\": %lld}", (long long) purged);
		else
			appendStringInfoString(&buf, ", \"purged_rows\": null}");
		json = buf.data;
	}
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/*
 * retention_setting
 *		ame.audit_retention as an interval, or NULL when it is not set.
 *		A superuser-only setting (see ame.c): only what a superuser put in
 *		the configuration, or a role it granted SET on it, reaches here.
 */
static Interval *
retention_setting(void)
{
	if (ame_audit_retention == NULL || ame_audit_retention[0] == '\0')
		return NULL;
	return DatumGetIntervalP(DirectFunctionCall3(interval_in,
												 CStringGetDatum(ame_audit_retention),
												 ObjectIdGetDatum(InvalidOid),
												 Int32GetDatum(-1)));
}

/* the log in the extension's schema */
static Oid
log_relid(Oid nspid)
{
	Oid			relid = get_relname_relid(LOG_NAME, nspid);

	if (!OidIsValid(relid) || get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("audit log \"%s.%s\" is not a partitioned table",
						get_namespace_name(nspid), LOG_NAME)));
	return relid;
}

/*
 * log_partitions
 *		The log's partitions with their bounds, read from pg_class.
 */
static int
log_partitions(Relation parent, LogPartition **parts)
{
	PartitionDesc pd = RelationGetPartitionDesc(parent, true);
	LogPartition *result = palloc0(Max(pd->nparts, 1) * sizeof(LogPartition));
	int			i;

	for (i = 0; i < pd->nparts; i++)
	{
		LogPartition *p = &result[i];
		HeapTuple	tuple;
		Datum		datum;
		bool		isnull;
		PartitionBoundSpec *spec;

		p->relid = pd->oids[i];
		tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(p->relid));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for relation %u", p->relid);
		datum = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_relpartbound,
								&isnull);
		if (isnull)
			elog(ERROR, "partition %u has no bound", p->relid);
		spec = castNode(PartitionBoundSpec,
						stringToNode(TextDatumGetCString(datum)));
		ReleaseSysCache(tuple);

		p->is_default = spec->is_default;
		if (!spec->is_default && spec->strategy == PARTITION_STRATEGY_RANGE &&
			list_length(spec->lowerdatums) == 1 &&
			list_length(spec->upperdatums) == 1)
		{
			PartitionRangeDatum *lo = linitial_node(PartitionRangeDatum, spec->lowerdatums);
			PartitionRangeDatum *hi = linitial_node(PartitionRangeDatum, spec->upperdatums);

			if (lo->kind == PARTITION_RANGE_DATUM_VALUE)
			{
				p->has_lower = true;
				p->lower = DatumGetTimestampTz(castNode(Const, lo->value)->constvalue);
			}
			if (hi->kind == PARTITION_RANGE_DATUM_VALUE)
			{
				p->has_upper = true;
				p->upper = DatumGetTimestampTz(castNode(Const, hi->value)->constvalue);
			}
		}
	}
	*parts = result;
	return pd->nparts;
}

/* midnight UTC of the first of that month */
static TimestampTz
month_start(int year, int month)
{
	return (TimestampTz) (date2j(year, month, 1) - POSTGRES_EPOCH_JDATE) *
		USECS_PER_DAY;
}

static void
month_of_date(DateADT date, int *year, int *month)
{
	int			day;

	j2date(date + POSTGRES_EPOCH_JDATE, year, month, &day);
}

/* a timestamptz as a quoted literal, always in UTC */
static char *
ts_literal(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	/* the cutoff and the month bounds are finite and in range */
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	return psprintf("'%04d-%02d-%02d %02d:%02d:%02d.%06d+00'",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

static void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute returned %s for \"%s\"",
			 SPI_result_code_string(rc), sql);
}

static int64
spi_count(const char *sql)
{
	bool		isnull;
	int			rc = SPI_execute(sql, false, 1);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute returned %s for \"%s\"",
			 SPI_result_code_string(rc), sql);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}
