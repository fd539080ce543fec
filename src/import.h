/*-------------------------------------------------------------------------
 *
 * import.h
 *	  What the CSV import (import_csv.c) shares with the chunked server-file
 *	  import (import_chunked.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AME_IMPORT_H
#define AME_IMPORT_H

#include <stdio.h>
#include <sys/stat.h>

#include "executor/spi.h"
#include "fmgr.h"

/* an import type: its name, table and columns (import_csv.c) */
typedef struct ImportType ImportType;

/* where the input comes from */
typedef struct ImportSource
{
	const char *data;			/* memory input, or NULL */
	size_t		len;
	FILE	   *file;			/* file input */
	const char *path;
	uint64		total_bytes;
} ImportSource;

/*
 * One chunk of a chunked import: where it begins, the batch's counts so
 * far, how many records it may take.  ame_import_chunk() moves the resume
 * point and the counts on to where the chunk ended, and writes them into
 * the batch row in the current transaction.
 */
typedef struct ImportChunk
{
	Datum		batch_id;
	uint64		offset;			/* of the next record; 0: the header's */
	int64		line;			/* the line number at offset */
	int64		total;
	int64		success;
	int64		failed;
	int64		skipped;
	int64		max_rows;		/* records in this chunk, at most */
	bool		done;			/* set: the end of the input was reached
								 * (or the header failed the batch) */
} ImportChunk;

/*
 * The batch's advisory lock, held (at session level) by the session that
 * runs a chunked import: key AME_IMPORT_LOCK_KEY, uuid_hash(batch_id), as
 * pg_locks shows it to ame_import_progress() (classid, objid, objsubid).
 * Its objsubid is 3: pg_advisory_lock() makes only 1 (a bigint key) and 2
 * (two integer keys), so no role can take it from SQL, to make a batch
 * look run by a session or to block its resume.
 */
#define AME_IMPORT_LOCK_KEY		0x616D6549	/* "ameI" */
#define AME_IMPORT_LOCK_SUBID	3

extern const ImportType *ame_import_lookup_type(text *type);
extern const char *ame_import_type_name(const ImportType *type);
extern void ame_import_check_file_privilege(void);
extern void ame_import_open_file(const char *path, ImportSource *src,
								 struct stat *st);
extern void ame_import_execute_as(Oid owner, SPIPlanPtr plan, Datum *values,
								  const char *nulls, int expect);
extern Datum ame_import_chunk(Oid nspid, const ImportType *type,
							  const char *path, ImportSource *src,
							  ImportChunk *chunk);

#endif							/* AME_IMPORT_H */
