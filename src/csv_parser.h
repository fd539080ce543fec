/*-------------------------------------------------------------------------
 *
 * csv_parser.h
 *	  A streaming RFC 4180 CSV parser with COPY's meaning of empty fields,
 *	  and the UTF-8 helpers the import needs.  Free of backend headers, so
 *	  that it can be tested and fuzzed outside the server (fuzz/).
 *
 * The parser hands out one record at a time.  A record's fields are
 * unescaped and NUL-terminated in a buffer the parser owns; its raw bytes
 * (the record exactly as it stands in the input, without the line
 * terminator) are kept up to max_record bytes.  Both stay valid until the
 * next call.  Memory use is bounded by the read size and max_record,
 * whatever the size of the input.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CSV_PARSER_H
#define CSV_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* fill buf with up to size bytes; 0 at end of input */
typedef size_t (*csv_read_fn) (void *arg, char *buf, size_t size);

/* must not return NULL: it either succeeds or does not return at all */
typedef void *(*csv_realloc_fn) (void *arg, void *ptr, size_t size);
typedef void (*csv_free_fn) (void *arg, void *ptr);

typedef enum CsvError
{
	CSV_OK = 0,
	CSV_UNTERMINATED_QUOTE,		/* input ended inside a quoted field */
	CSV_RECORD_TOO_LONG,		/* the record is over max_record bytes */
	CSV_FIELD_TOO_LONG			/* a field is over max_field bytes */
} CsvError;

typedef struct CsvField
{
	size_t		offset;			/* of the unescaped value in CsvRecord.data */
	size_t		len;			/* bytes kept (at most max_field) */
	uint64_t	full_len;		/* unescaped length in the input */
	bool		quoted;			/* had a quote: never NULL */
} CsvField;

/* an empty unquoted field is NULL, as in COPY's CSV format */
#define CSV_FIELD_IS_NULL(f) (!(f)->quoted && (f)->full_len == 0)

typedef struct CsvRecord
{
	int			nfields;		/* fields in the record */
	int			nstored;		/* of which the first nstored are in fields */
	const CsvField *fields;
	const char *data;			/* unescaped values, each NUL-terminated */
	const char *raw;			/* the record's bytes, without terminator */
	size_t		raw_len;		/* bytes kept in raw */
	uint64_t	raw_full_len;	/* the record's length in the input */
	uint64_t	line;			/* physical line where the record starts */
	CsvError	error;
	int			error_field;	/* CSV_FIELD_TOO_LONG: which field (0-based) */
	uint64_t	error_len;		/* CSV_FIELD_TOO_LONG: its length in the input
								 * (it may be past the stored fields) */
} CsvRecord;

typedef struct CsvOptions
{
	csv_read_fn read;			/* NULL: parse the memory given to create */
	void	   *read_arg;
	csv_realloc_fn realloc_fn;
	csv_free_fn free_fn;
	void	   *alloc_arg;
	size_t		read_size;		/* bytes per read call (default 64 kB) */
	size_t		max_field;		/* bytes kept per field */
	size_t		max_record;		/* bytes kept per record */
	int			max_fields;		/* fields described per record */
	bool		skip_bom;		/* drop a UTF-8 BOM at the very start */
	bool		final_cr_is_data;	/* parsing one record's raw bytes again:
									 * a CR at the end is data, not the end */
} CsvOptions;

typedef struct CsvParser CsvParser;

extern CsvParser *csv_parser_create(const CsvOptions *options,
									const char *data, size_t len);
extern bool csv_parser_next(CsvParser *parser, CsvRecord *record);
extern uint64_t csv_parser_offset(const CsvParser *parser);
extern uint64_t csv_parser_lines(const CsvParser *parser);
extern void csv_parser_destroy(CsvParser *parser);

/*
 * UTF-8: csv_utf8_check() is true when s is valid UTF-8 without NUL bytes;
 * otherwise it sets the offset and length of the first bad sequence.
 * csv_utf8_sanitize() writes s with every NUL byte and invalid sequence
 * replaced by U+FFFD into out, which must hold 3 * len bytes, and returns
 * the length written.
 */
extern bool csv_utf8_check(const char *s, size_t len,
						   size_t *bad_offset, size_t *bad_len);
extern size_t csv_utf8_sanitize(const char *s, size_t len, char *out);

/*
 * Header names: trimmed, ASCII lower-cased, inner runs of spaces and tabs
 * made one "_".  out must hold len + 1 bytes; returns the length.
 */
extern size_t csv_normalize_name(const char *s, size_t len, char *out);

#endif							/* CSV_PARSER_H */
