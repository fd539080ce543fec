/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  Declarations shared by the files of the audit trail: audit.c (the
 *	  trigger), audit_image.c (what the trigger knows of a table),
 *	  audit_jsonb.c (a row as a jsonb image), audit_writer.c (the batched
 *	  insert into ame_audit_logs), audit_log.c (the log's guard),
 *	  audit_partition.c (its partitions and retention), audit_history.c
 *	  (reading a record's history back) and audit_redact.c
 *	  (ame_redact_audit()).  Nothing outside them needs these.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AME_AUDIT_H
#define AME_AUDIT_H

#include "commands/trigger.h"
#include "pgtime.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

#include "ame.h"

#define AUDIT_FUNCNAME	"audit_trigger_function"
#define LOG_NAME		"ame_audit_logs"
#define LOG_SEQ_NAME	"ame_audit_logs_seq_seq"

/* how a column's value becomes a JSON value (as to_jsonb() would make it) */
typedef enum AuditKind
{
	AK_STRING,					/* text-like: the bytes are the string */
	AK_BOOL,
	AK_INT2,
	AK_INT4,
	AK_INT8,
	AK_NUMERIC,
	AK_FLOAT,					/* a number unless NaN or infinite */
	AK_UUID,
	AK_DATETIME,				/* ISO 8601, as to_jsonb() writes it */
	AK_JSONB,
	AK_JSON,
	AK_OUTPUT,					/* the type's output function, as a string */
	AK_TO_JSONB					/* anything else: to_jsonb() itself */
} AuditKind;

typedef struct AuditColumn
{
	AttrNumber	attnum;
	AuditKind	kind;
	Oid			typid;			/* base type (domains looked through) */
	char	   *name;
	int			namelen;
	Datum		name_text;		/* the name as text, for changed_fields */
	FmgrInfo	proc;			/* output function, or to_jsonb() */
	int			pair;			/* its place in a jsonb object's key order */
	/* AK_DATETIME: the last value converted, as bulk changes repeat them */
	bool		have_last;
	Datum		last_value;
	pg_tz	   *last_tz;		/* the TimeZone it was written in */
	char	   *last_string;
} AuditColumn;

/*
 * What the trigger knows about an audited table.  A call pins the entry it
 * uses (ame_audit_relinfo_pin), since user code the call runs (a cast to
 * json, say) can change the table and re-enter the trigger: a rebuild then
 * makes a new entry, and the pinned one is freed once no call uses it.
 */
typedef struct AuditRelInfo
{
	Oid			relid;
	bool		valid;			/* false: rebuild before the next call */
	int			refcount;		/* calls using it */
	bool		orphaned;		/* replaced: free when refcount drops to 0 */
	MemoryContext cxt;			/* holds this and everything below */
	AttrNumber	id_attnum;		/* 0: no usable uuid "id" column */
	const char *id_problem;		/* why there is none */
	Oid			tgoid;			/* the trigger whose exclusions it applies */
	const char *missing_excluded;	/* an excluded name no column has */
	int			ncols;
	AuditColumn *cols;			/* the columns logged: all but excluded */
	MemoryContext last_cxt;		/* holds the AK_DATETIME last_string's */
	Datum		schema_text;
	Datum		table_text;
} AuditRelInfo;

/* the log's columns, by attnum of ame_audit_logs */
enum
{
	LOG_ID,
	LOG_SCHEMA,
	LOG_TABLE,
	LOG_RECORD,
	LOG_OPERATION,
	LOG_OLD,
	LOG_NEW,
	LOG_CHANGED,
	LOG_USER,
	LOG_PERFORMED,
	LOG_SEQ,
	LOG_CONTEXT,
	LOG_NCOLS
};

/* audit_image.c: what the trigger knows of a table */

extern AuditRelInfo *ame_audit_relinfo_pin(Relation rel, Trigger *trigger,
											Oid nspid, int *pin);
extern void ame_audit_relinfo_unpin(int pin);

/* audit.c: pieces of a log row the redaction's REDACT row shares */

extern Jsonb *ame_audit_build_context(const AmeIdentity *id);
extern void ame_audit_uuid_v7(pg_uuid_t *uuid);

/* audit_redact.c: ame_redact_audit() is rewriting images (see the guard) */

extern bool ame_audit_redacting;

/* audit_jsonb.c: a row's columns as a jsonb image */

extern AuditKind ame_audit_kind_of_type(Oid typid);
extern int	ame_audit_key_order(const void *a, const void *b);
extern void ame_audit_set_pair(JsonbPair *pair, AuditRelInfo *info,
							   AuditColumn *col, Datum value, bool isnull);
extern Jsonb *ame_audit_pairs_to_jsonb(JsonbPair *pairs, int npairs);

/* audit_log.c: the guard; > 0 while the purge or a partition's move deletes */

extern int	ame_audit_log_bypass;

/* audit_partition.c: the monthly partitions */

extern Oid	ame_audit_log_leaf(Relation parent, AttrNumber performed_attnum,
							   TimestampTz ts);

/* audit_writer.c: the log rows' way into ame_audit_logs */

typedef struct AuditWriter AuditWriter;

extern AuditWriter *ame_audit_writer(Oid logrelid, Oid seqid);
extern void ame_audit_write_row(AuditWriter *w, Datum *values, bool *nulls);

#endif							/* AME_AUDIT_H */
