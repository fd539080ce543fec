/*-------------------------------------------------------------------------
 *
 * ame.h
 *	  Private declarations shared by the C sources of the ame extension.
 *
 * Each capability lives in its own file (identity.c, normalize.c, ...);
 * this header holds only what more than one of them needs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AME_H
#define AME_H

#include "fmgr.h"
#include "access/attnum.h"
#include "access/tupdesc.h"
#include "utils/relcache.h"
#include "utils/uuid.h"

#include "compat.h"				/* the differences between majors */

/* ame.c: settings, the trigger guard, the owner check */

extern char *ame_audit_context;		/* GUC ame.audit_context */
extern char *ame_audit_retention;	/* GUC ame.audit_retention */

extern Oid	ame_extension_owner(void);
extern void ame_require_owner(const char *funcname);

/* json_check.c: would jsonb_in accept this text?  Never raises. */

extern bool ame_jsonb_accepts(const char *str, size_t len);

/* trigger guard shared by every C trigger of the extension */

/* which trigger timings and events a trigger function accepts */
#define AME_TRIG_INSERT		0x01
#define AME_TRIG_UPDATE		0x02
#define AME_TRIG_DELETE		0x04

typedef enum AmeTriggerTiming
{
	AME_TRIG_BEFORE,
	AME_TRIG_AFTER
} AmeTriggerTiming;

extern void ame_check_trigger(FunctionCallInfo fcinfo, const char *funcname,
							  AmeTriggerTiming timing, int events);
extern void ame_check_statement_trigger(FunctionCallInfo fcinfo,
										const char *funcname,
										AmeTriggerTiming timing, int events);
extern AttrNumber ame_required_column(TupleDesc tupdesc, const char *relname,
									  const char *funcname, const char *colname,
									  Oid typid);
extern bool ame_restore_signalled(Relation rel);
extern bool ame_restore_session(Oid owner);

/* identity.c: who is acting, by the JWT claim GUCs */

typedef enum AmeIdentityStatus
{
	AME_IDENTITY_NONE,			/* no claim set, or "sub" missing or null */
	AME_IDENTITY_OK,			/* a valid uuid */
	AME_IDENTITY_INVALID		/* a claim is set but unusable */
} AmeIdentityStatus;

typedef struct AmeIdentity
{
	AmeIdentityStatus status;
	pg_uuid_t	uuid;			/* valid when status == AME_IDENTITY_OK */
	const char *guc;			/* INVALID: the GUC holding the bad claim */
	const char *raw;			/* INVALID: the offending text */
	const char *detail;			/* INVALID: why it is unusable */
} AmeIdentity;

/*
 * Look up the acting identity without raising an error.  The returned
 * struct points into a backend-lifetime cache: copy what must outlive the
 * next call.
 */
extern const AmeIdentity *ame_identity_lookup(void);
extern bool ame_parse_uuid(const char *str, pg_uuid_t *out);

/* rowcompare.c: "did this column's value really change?" */

extern bool ame_datum_changed(Datum oldval, bool oldnull,
							  Datum newval, bool newnull,
							  Form_pg_attribute att);

/* audit_writer.c: the hooks that insert batched audit rows in time */

extern void ame_audit_install_hooks(void);

/*
 * realtime.c: NOTIFY per changed row, or one summary per statement above
 * AME_REALTIME_MAX_ROWS rows; suppressed while a cleanup moves rows
 */

#define AME_REALTIME_CHANNEL	"ame_realtime"
#define AME_REALTIME_MAX_ROWS	100
extern bool ame_realtime_suppressed;
extern void ame_realtime_install_hooks(void);

/*
 * cleanup_expired_sessions()'s summary: the visits it passes, at most
 * AME_REALTIME_CLEANUP_VISITS (more than a payload can hold), as many as
 * fit are listed
 */
#define AME_REALTIME_CLEANUP_VISITS	100
extern void ame_realtime_notify_cleanup(Oid nsp, int64 rows, int64 nvisits,
										Datum visit_ids, Datum counts,
										bool isnull);

/* import_csv.c: CSV import; its GUC is defined by _PG_init */

extern int	ame_import_max_field_size;
extern void ame_import_define_gucs(void);

#endif							/* AME_H */
