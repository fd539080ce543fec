/*-------------------------------------------------------------------------
 *
 * csv_parser.c
 *	  Streaming CSV parser for ame's import, free of backend headers.
 *
 * The format is RFC 4180 read the way COPY ... (FORMAT csv) reads it:
 * fields separated by commas, records by LF or CRLF; a double quote
 * anywhere in a field starts a quoted section in which commas, line breaks
 * and doubled quotes ("") are data, and the next single quote ends it; an
 * empty unquoted field is NULL, "" is the empty string.  A lone CR is data,
 * except at the very end of the input, where it ends the last record.
 * Empty lines are skipped, and a UTF-8 byte order mark at the very start
 * is dropped.
 *
 * The input comes either from memory (parsed in place, nothing copied but
 * field values) or from a read callback, in windows of read_size bytes.
 * A record may span windows: its raw bytes are then collected in a buffer
 * of their own, up to max_record bytes; the rest is counted, not kept.
 * Field values are kept up to max_field bytes each.  So memory stays
 * bounded by read_size + 2 * max_record (plus max_fields field descriptors) however large the input or a
 * record in it is (an unterminated quote makes the rest of the input one
 * record).
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "csv_parser.h"

#define DEFAULT_READ_SIZE	65536

typedef enum ParseState
{
	S_UNQUOTED,					/* in the unquoted part of a field */
	S_QUOTED,					/* inside quotes */
	S_QUOTE,					/* saw a quote inside quotes: "" or the end */
	S_CR						/* saw a CR in the unquoted part */
} ParseState;

struct CsvParser
{
	CsvOptions	opt;

	/* the input window: win[pos .. win_len) is still to be read */
	const char *win;
	size_t		win_len;
	size_t		pos;
	uint64_t	win_base;		/* input offset of win[0] */
	char	   *inbuf;			/* the window's storage when reading */
	bool		eof;			/* nothing after the window */
	bool		started;		/* the BOM check is done */
	uint64_t	lines;			/* LF bytes consumed */

	/* the record being read */
	ParseState	state;
	uint64_t	rec_start;		/* input offset of its first byte */
	uint64_t	rec_line;
	size_t		raw_seg;		/* window offset of its part not yet saved */
	bool		raw_saved;		/* part of it is in rawbuf */
	char	   *rawbuf;
	size_t		rawbuf_len;
	size_t		rawbuf_cap;
	char	   *data;
	size_t		data_len;
	size_t		data_cap;
	size_t		data_kept;		/* value bytes in data, without the NULs */
	CsvField   *fields;
	int			fields_cap;
	int			nfields;		/* fields begun, including the current one */
	CsvField	cur;			/* the current field */
	CsvError	error;
	int			error_field;
	uint64_t	error_len;
};

static const unsigned char unquoted_special[256] = {
	['\n'] = 1, ['\r'] = 1, [','] = 1, ['"'] = 1
};

static void *grow(CsvParser *p, void *ptr, size_t *cap, size_t need,
				  size_t elem);
static bool refill(CsvParser *p);
static void save_raw(CsvParser *p, size_t end);
static void field_append(CsvParser *p, const char *s, size_t len);
static void field_end(CsvParser *p);
static void record_reset(CsvParser *p);
static void record_finish(CsvParser *p, CsvRecord *rec, uint64_t end_offset);

/*
 * csv_parser_create
 *		A parser over data/len (options->read == NULL) or over what
 *		options->read returns.
 */
CsvParser *
csv_parser_create(const CsvOptions *options, const char *data, size_t len)
{
	CsvParser  *p;

	p = options->realloc_fn(options->alloc_arg, NULL, sizeof(CsvParser));
	memset(p, 0, sizeof(CsvParser));
	p->opt = *options;
	if (p->opt.read_size == 0)
		p->opt.read_size = DEFAULT_READ_SIZE;
	if (p->opt.read_size < 4)
		p->opt.read_size = 4;	/* room for a whole BOM */
	if (p->opt.max_field == 0)
		p->opt.max_field = 1;
	if (p->opt.max_record < p->opt.max_field)
		p->opt.max_record = p->opt.max_field;
	if (p->opt.max_fields <= 0)
		p->opt.max_fields = 1;

	if (options->read == NULL)
	{
		p->win = data;
		p->win_len = len;
		p->eof = true;
	}
	else
	{
		p->inbuf = p->opt.realloc_fn(p->opt.alloc_arg, NULL, p->opt.read_size);
		p->win = p->inbuf;
	}
	return p;
}

void
csv_parser_destroy(CsvParser *p)
{
	csv_free_fn f = p->opt.free_fn;
	void	   *arg = p->opt.alloc_arg;

	if (p->inbuf)
		f(arg, p->inbuf);
	if (p->rawbuf)
		f(arg, p->rawbuf);
	if (p->data)
		f(arg, p->data);
	if (p->fields)
		f(arg, p->fields);
	f(arg, p);
}

/* bytes of input consumed so far */
uint64_t
csv_parser_offset(const CsvParser *p)
{
	return p->win_base + p->pos;
}

/* line breaks (LF bytes) consumed so far */
uint64_t
csv_parser_lines(const CsvParser *p)
{
	return p->lines;
}

/* Make room for need elements of size elem in *ptr. */
static void *
grow(CsvParser *p, void *ptr, size_t *cap, size_t need, size_t elem)
{
	size_t		newcap;

	if (need <= *cap)
		return ptr;
	newcap = *cap ? *cap : 256;
	while (newcap < need)
		newcap *= 2;
	ptr = p->opt.realloc_fn(p->opt.alloc_arg, ptr, newcap * elem);
	*cap = newcap;
	return ptr;
}

/*
 * refill
 *		Read the next window; false at the end of the input.  The part of
 *		the current record still in the old window is saved first.
 */
static bool
refill(CsvParser *p)
{
	size_t		n;

	if (p->eof)
		return false;
	save_raw(p, p->win_len);
	p->win_base += p->win_len;
	p->win_len = 0;
	p->pos = 0;
	p->raw_seg = 0;
	n = p->opt.read(p->opt.read_arg, p->inbuf, p->opt.read_size);
	if (n == 0)
	{
		p->eof = true;
		return false;
	}
	p->win_len = n;
	return true;
}

/* Keep win[raw_seg .. end) of the current record in rawbuf, up to the cap. */
static void
save_raw(CsvParser *p, size_t end)
{
	size_t		len = end - p->raw_seg;
	size_t		room = p->opt.max_record - p->rawbuf_len;

	p->raw_saved = true;
	if (len > room)
		len = room;
	if (len > 0)
	{
		p->rawbuf = grow(p, p->rawbuf, &p->rawbuf_cap, p->rawbuf_len + len, 1);
		memcpy(p->rawbuf + p->rawbuf_len, p->win + p->raw_seg, len);
		p->rawbuf_len += len;
	}
	p->raw_seg = end;
}

/* Add bytes to the current field, keeping at most max_field of them. */
static void
field_append(CsvParser *p, const char *s, size_t len)
{
	size_t		keep = len;

	p->cur.full_len += len;
	if (p->nfields > p->opt.max_fields)
		return;
	if (p->cur.len + keep > p->opt.max_field)
		keep = p->opt.max_field - p->cur.len;
	if (p->data_kept + keep > p->opt.max_record)
		keep = p->opt.max_record - p->data_kept;	/* the record is too long */
	if (keep == 0)
		return;
	p->data = grow(p, p->data, &p->data_cap, p->data_len + keep + 1, 1);
	memcpy(p->data + p->data_len, s, keep);
	p->data_len += keep;
	p->data_kept += keep;
	p->cur.len += keep;
}

/* End the current field and begin the next one. */
static void
field_end(CsvParser *p)
{
	if (p->cur.full_len > p->opt.max_field && p->error == CSV_OK)
	{
		p->error = CSV_FIELD_TOO_LONG;
		p->error_field = p->nfields - 1;
		p->error_len = p->cur.full_len;
	}
	if (p->nfields <= p->opt.max_fields)
	{
		size_t		cap = (size_t) p->fields_cap;

		p->data = grow(p, p->data, &p->data_cap, p->data_len + 1, 1);
		p->data[p->data_len++] = '\0';
		p->fields = grow(p, p->fields, &cap, (size_t) p->nfields,
						 sizeof(CsvField));
		p->fields_cap = (int) cap;
		p->fields[p->nfields - 1] = p->cur;
	}
	p->nfields++;
	memset(&p->cur, 0, sizeof(CsvField));
	p->cur.offset = p->data_len;
}

/* Begin a record at the current position. */
static void
record_reset(CsvParser *p)
{
	p->state = S_UNQUOTED;
	p->rec_start = p->win_base + p->pos;
	p->rec_line = p->lines + 1;
	p->raw_seg = p->pos;
	p->raw_saved = false;
	p->rawbuf_len = 0;
	p->data_len = 0;
	p->data_kept = 0;
	p->nfields = 1;
	memset(&p->cur, 0, sizeof(CsvField));
	p->error = CSV_OK;
	p->error_field = -1;
}

/*
 * record_finish
 *		Fill in rec for the record that ends (before its terminator) at
 *		input offset end_offset.
 */
static void
record_finish(CsvParser *p, CsvRecord *rec, uint64_t end_offset)
{
	uint64_t	full = end_offset - p->rec_start;

	field_end(p);
	rec->nfields = p->nfields - 1;
	rec->nstored = rec->nfields < p->opt.max_fields ? rec->nfields : p->opt.max_fields;
	rec->fields = p->fields;
	rec->data = p->data;
	rec->raw_full_len = full;
	rec->line = p->rec_line;
	if (p->raw_saved)
	{
		rec->raw = p->rawbuf;
		rec->raw_len = p->rawbuf_len;
	}
	else
	{
		rec->raw = p->win + p->raw_seg;
		rec->raw_len = (size_t) (full < p->opt.max_record ? full : p->opt.max_record);
	}
	if (rec->raw_len > full)
		rec->raw_len = (size_t) full;	/* drop a saved CR of a CRLF */
	if (full > p->opt.max_record && p->error != CSV_UNTERMINATED_QUOTE)
	{
		p->error = CSV_RECORD_TOO_LONG;
		p->error_field = -1;
	}
	rec->error = p->error;
	rec->error_field = p->error_field;
	rec->error_len = p->error == CSV_FIELD_TOO_LONG ? p->error_len : 0;
}

/*
 * csv_parser_next
 *		Read the next record into rec; false at the end of the input.
 */
bool
csv_parser_next(CsvParser *p, CsvRecord *rec)
{
	if (!p->started)
	{
		p->started = true;
		if (p->opt.read != NULL)
		{
			/* make sure a BOM is not split over two reads */
			p->win_len = 0;
			while (p->win_len < 3 && !p->eof)
			{
				size_t		n = p->opt.read(p->opt.read_arg,
											p->inbuf + p->win_len,
											p->opt.read_size - p->win_len);

				if (n == 0)
					p->eof = true;
				p->win_len += n;
			}
		}
		if (p->opt.skip_bom && p->win_len >= 3 &&
			memcmp(p->win, "\xEF\xBB\xBF", 3) == 0)
			p->pos = 3;
	}

	record_reset(p);
	for (;;)
	{
		const char *w;
		size_t		i;
		size_t		end;

		if (p->pos >= p->win_len)
		{
			if (!refill(p))
			{
				/* end of input */
				uint64_t	at = p->win_base + p->win_len;

				if (p->state == S_QUOTED)
				{
					p->error = CSV_UNTERMINATED_QUOTE;
					p->error_field = -1;
				}
				else if (p->state == S_CR && p->opt.final_cr_is_data)
					field_append(p, "\r", 1);
				else if (p->state == S_CR)
				{
					/* a CR at the very end ends the record, as CRLF would */
					at--;
					if (at == p->rec_start)
						return false;
				}
				else if (at == p->rec_start)
					return false;
				record_finish(p, rec, at);
				p->state = S_UNQUOTED;
				return true;
			}
			continue;
		}

		w = p->win;
		i = p->pos;
		end = p->win_len;

		switch (p->state)
		{
			case S_UNQUOTED:
				{
					size_t		s = i;
					unsigned char c;

					while (i < end && !unquoted_special[(unsigned char) w[i]])
						i++;
					if (i > s)
						field_append(p, w + s, i - s);
					p->pos = i;
					if (i == end)
						break;
					c = (unsigned char) w[i];
					p->pos = i + 1;
					if (c == ',')
						field_end(p);
					else if (c == '"')
					{
						p->cur.quoted = true;
						p->state = S_QUOTED;
					}
					else if (c == '\r')
						p->state = S_CR;
					else
					{
						/* LF: end of record, or an empty line */
						uint64_t	at = p->win_base + i;

						p->lines++;
						if (at == p->rec_start)
						{
							record_reset(p);
							break;
						}
						if (p->raw_saved)
							save_raw(p, i);
						record_finish(p, rec, at);
						return true;
					}
					break;
				}
			case S_CR:
				if (w[i] == '\n')
				{
					/* CRLF: the record ended at the CR */
					uint64_t	at = p->win_base + i - 1;

					p->pos = i + 1;
					p->lines++;
					if (at == p->rec_start)
					{
						record_reset(p);
						break;
					}
					if (p->raw_saved)
						save_raw(p, i);
					record_finish(p, rec, at);
					return true;
				}
				/* a lone CR is data; look at this byte again unquoted */
				field_append(p, "\r", 1);
				p->state = S_UNQUOTED;
				break;
			case S_QUOTED:
				{
					size_t		s = i;

					while (i < end && w[i] != '"')
					{
						if (w[i] == '\n')
							p->lines++;
						i++;
					}
					if (i > s)
						field_append(p, w + s, i - s);
					if (i < end)
					{
						p->state = S_QUOTE;
						i++;
					}
					p->pos = i;
					break;
				}
			case S_QUOTE:
				if (w[i] == '"')
				{
					/* a doubled quote is a quote */
					field_append(p, "\"", 1);
					p->pos = i + 1;
					p->state = S_QUOTED;
				}
				else
					p->state = S_UNQUOTED;	/* the quote ended the section */
				break;
		}
	}
}

/*
 * Length of the valid UTF-8 sequence at s (at most len bytes), or 0 when
 * the bytes there are not one.  NUL counts as invalid.
 */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t		n;
	size_t		i;
	unsigned char lo = 0x80;
	unsigned char hi = 0xBF;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;			/* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F;			/* no surrogates */
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;			/* nothing above U+10FFFF */
	}
	else
		return 0;

	if (len < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/*
 * Length of the maximal prefix of a bad sequence at s: the lead byte and
 * the continuation bytes that could still have belonged to it.
 */
static size_t
utf8_bad_len(const unsigned char *s, size_t len)
{
	size_t		want;
	size_t		i;

	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		want = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		want = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		want = 4;
	else
		return 1;
	for (i = 1; i < want && i < len && (s[i] & 0xC0) == 0x80; i++)
		;
	return i;
}

bool
csv_utf8_check(const char *str, size_t len, size_t *bad_offset,
			   size_t *bad_len)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t		i = 0;

	while (i < len)
	{
		size_t		n;

		/* ASCII fast path */
		if (s[i] != 0 && s[i] < 0x80)
		{
			i++;
			continue;
		}
		n = utf8_seq_len(s + i, len - i);
		if (n == 0)
		{
			*bad_offset = i;
			*bad_len = utf8_bad_len(s + i, len - i);
			return false;
		}
		i += n;
	}
	return true;
}

size_t
csv_utf8_sanitize(const char *str, size_t len, char *out)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t		i = 0;
	size_t		o = 0;

	while (i < len)
	{
		size_t		n = utf8_seq_len(s + i, len - i);

		if (n == 0)
		{
			out[o++] = (char) 0xEF;
			out[o++] = (char) 0xBF;
			out[o++] = (char) 0xBD;
			i += utf8_bad_len(s + i, len - i);
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	return o;
}

size_t
csv_normalize_name(const char *s, size_t len, char *out)
{
	size_t		start = 0;
	size_t		end = len;
	size_t		o = 0;
	size_t		i;
	bool		in_space = false;

	while (start < end && (s[start] == ' ' || s[start] == '\t'))
		start++;
	while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;
	for (i = start; i < end; i++)
	{
		char		c = s[i];

		if (c == ' ' || c == '\t')
		{
			if (!in_space)
				out[o++] = '_';
			in_space = true;
			continue;
		}
		in_space = false;
		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		out[o++] = c;
	}
	out[o] = '\0';
	return o;
}
