/*-------------------------------------------------------------------------
 *
 * rowcompare.c
 *	  Decide whether a column's value really changed between two versions
 *	  of a row.
 *
 * "Changed" means the stored value differs, NULL-aware.  Identical bytes
 * are the fast path: an unchanged TOASTed value keeps its toast pointer,
 * so comparing the pointers costs no detoast.  Only when the bytes differ
 * but could still encode the same value (short vs. long varlena header,
 * compressed vs. plain, two toast pointers) are the raw sizes compared
 * and, if they agree, the values detoasted and compared.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/tupdesc.h"
#include "utils/datum.h"

#include "ame.h"

/*
 * ame_datum_changed
 *		True when the two values of column "att" differ.
 */
bool
ame_datum_changed(Datum oldval, bool oldnull, Datum newval, bool newnull,
				  Form_pg_attribute att)
{
	struct varlena *o;
	struct varlena *n;
	Size		osize;
	Size		nsize;
	bool		changed;

	if (oldnull || newnull)
		return oldnull != newnull;

	if (att->attlen != -1)
		return !datumIsEqual(oldval, newval, att->attbyval, att->attlen);

	o = (struct varlena *) DatumGetPointer(oldval);
	n = (struct varlena *) DatumGetPointer(newval);
	if (o == n)
		return false;

	/* same bytes, including the same toast pointer: unchanged */
	osize = VARSIZE_ANY(o);
	nsize = VARSIZE_ANY(n);
	if (osize == nsize && memcmp(o, n, osize) == 0)
		return false;

	/* plain in-line values: only the header format may differ */
	if (!VARATT_IS_EXTERNAL(o) && !VARATT_IS_COMPRESSED(o) &&
		!VARATT_IS_EXTERNAL(n) && !VARATT_IS_COMPRESSED(n))
		return VARSIZE_ANY_EXHDR(o) != VARSIZE_ANY_EXHDR(n) ||
			memcmp(VARDATA_ANY(o), VARDATA_ANY(n), VARSIZE_ANY_EXHDR(o)) != 0;

	/* different raw lengths differ without reading the values */
	if (toast_raw_datum_size(oldval) != toast_raw_datum_size(newval))
		return true;

	o = pg_detoast_datum_packed(o);
	n = pg_detoast_datum_packed(n);
	changed = VARSIZE_ANY_EXHDR(o) != VARSIZE_ANY_EXHDR(n) ||
		memcmp(VARDATA_ANY(o), VARDATA_ANY(n), VARSIZE_ANY_EXHDR(o)) != 0;
	if ((Pointer) o != DatumGetPointer(oldval))
		pfree(o);
	if ((Pointer) n != DatumGetPointer(newval))
		pfree(n);
	return changed;
}
