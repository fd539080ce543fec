/*
 * fuzz/fuzz_csv.c -- libFuzzer harness for src/csv_parser.c
 *
 * The first input byte picks the read size and the limits; the rest is
 * CSV.  Each input is parsed twice, from memory and through a read
 * callback in small windows, and the harness checks what the import
 * relies on:
 *   - both ways give the same records (fields, raw bytes, lines, errors);
 *   - every field lies inside the data buffer and is NUL-terminated, and
 *     the limits hold (kept bytes, stored fields, raw bytes);
 *   - a record without a parse error, parsed again alone from its raw
 *     bytes, gives the same fields (the import re-parses raw records when
 *     it retries a chunk);
 *   - the parser's UTF-8 verdict (valid, or where the first bad sequence
 *     starts) is the one of an independent validator written here from
 *     RFC 3629; sanitized UTF-8 is valid by both; header names normalize
 *     safely.
 * Any violation aborts, which libFuzzer reports as a crash.
 *
 * Build: make -C fuzz   (clang -fsanitize=fuzzer,address,undefined)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/csv_parser.h"

#define CHECK(cond) \
	do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

typedef struct Reader
{
	const char *data;
	size_t		len;
	size_t		pos;
	size_t		step;
} Reader;

static void *
fz_realloc(void *arg, void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size);

	(void) arg;
	if (p == NULL)
		abort();
	return p;
}

static void
fz_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

static size_t
fz_read(void *arg, char *buf, size_t size)
{
	Reader	   *r = arg;
	size_t		n = r->len - r->pos;

	if (n > size)
		n = size;
	if (n > r->step)
		n = r->step;
	memcpy(buf, r->data + r->pos, n);
	r->pos += n;
	return n;
}

/* a record copied out of the parser, to compare two parses */
typedef struct Rec
{
	int			nfields;
	int			nstored;
	CsvError	error;
	int			error_field;
	unsigned long long line;
	unsigned long long raw_full_len;
	size_t		raw_len;
	char	   *raw;
	CsvField   *fields;
	char	   *data;
	size_t		data_len;
} Rec;

static void
check_record(const CsvRecord *rec, const CsvOptions *o)
{
	int			i;

	CHECK(rec->nstored <= rec->nfields);
	CHECK(rec->nstored <= o->max_fields);
	CHECK(rec->nstored == rec->nfields || rec->nstored == o->max_fields);
	CHECK(rec->raw_len <= rec->raw_full_len);
	CHECK(rec->raw_len <= o->max_record);
	CHECK(rec->raw_full_len > 0);
	for (i = 0; i < rec->nstored; i++)
	{
		const CsvField *f = &rec->fields[i];

		CHECK(f->len <= o->max_field);
		CHECK(f->len <= f->full_len);
		CHECK(rec->data[f->offset + f->len] == '\0');
		if (f->full_len <= o->max_field && rec->raw_full_len <= o->max_record)
			CHECK(f->len == f->full_len);
	}
	if (rec->error == CSV_FIELD_TOO_LONG)
	{
		CHECK(rec->error_field >= 0 && rec->error_field < rec->nfields);
		CHECK(rec->error_len > o->max_field);
		if (rec->error_field < rec->nstored)
			CHECK(rec->error_len == rec->fields[rec->error_field].full_len);
	}
}

static Rec *
parse_all(const char *data, size_t len, const CsvOptions *base, bool stream,
		  size_t step, int *count)
{
	CsvOptions	o = *base;
	Reader		r = {data, len, 0, step};
	CsvParser  *p;
	CsvRecord	rec;
	Rec		   *out = NULL;
	int			n = 0;

	if (stream)
	{
		o.read = fz_read;
		o.read_arg = &r;
	}
	p = csv_parser_create(&o, data, len);
	while (csv_parser_next(p, &rec))
	{
		Rec		   *c;
		size_t		dlen = 0;
		int			i;

		check_record(&rec, &o);
		out = fz_realloc(NULL, out, sizeof(Rec) * (n + 1));
		c = &out[n++];
		c->nfields = rec.nfields;
		c->nstored = rec.nstored;
		c->error = rec.error;
		c->error_field = rec.error_field;
		c->line = rec.line;
		c->raw_full_len = rec.raw_full_len;
		c->raw_len = rec.raw_len;
		c->raw = fz_realloc(NULL, NULL, rec.raw_len + 1);
		memcpy(c->raw, rec.raw, rec.raw_len);
		for (i = 0; i < rec.nstored; i++)
			dlen = rec.fields[i].offset + rec.fields[i].len + 1;
		c->data_len = dlen;
		c->data = fz_realloc(NULL, NULL, dlen + 1);
		memcpy(c->data, rec.data, dlen);
		c->fields = fz_realloc(NULL, NULL, sizeof(CsvField) * (rec.nstored + 1));
		memcpy(c->fields, rec.fields, sizeof(CsvField) * rec.nstored);
	}
	CHECK(csv_parser_offset(p) == len);
	csv_parser_destroy(p);
	*count = n;
	return out;
}

static void
free_recs(Rec *recs, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		free(recs[i].raw);
		free(recs[i].data);
		free(recs[i].fields);
	}
	free(recs);
}

/*
 * ref_utf8_first_bad
 *		An independent UTF-8 validator, written from RFC 3629 section 3 and
 *		not from the parser's byte ranges: decode each sequence to its code
 *		point, then refuse what the RFC forbids -- a byte that cannot start
 *		a sequence (a continuation byte, F8..FF), a sequence cut short, an
 *		overlong form (a code point that fits in fewer bytes), a surrogate
 *		U+D800..U+DFFF, a code point above U+10FFFF -- and NUL, which
 *		PostgreSQL text cannot hold.  Returns the offset of the first bad
 *		sequence, or len when everything is valid.
 */
static size_t
ref_utf8_first_bad(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		unsigned long cp;
		unsigned long min;
		size_t		n;
		size_t		k;

		if (c == 0x00)
			return i;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
		{
			n = 2;
			cp = c & 0x1F;
			min = 0x80;
		}
		else if ((c & 0xF0) == 0xE0)
		{
			n = 3;
			cp = c & 0x0F;
			min = 0x800;
		}
		else if ((c & 0xF8) == 0xF0)
		{
			n = 4;
			cp = c & 0x07;
			min = 0x10000;
		}
		else
			return i;
		if (len - i < n)
			return i;
		for (k = 1; k < n; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return i;
		i += n;
	}
	return len;
}

static bool
same_fields(const Rec *a, const Rec *b)
{
	int			i;

	if (a->nfields != b->nfields || a->nstored != b->nstored)
		return false;
	for (i = 0; i < a->nstored; i++)
	{
		const CsvField *x = &a->fields[i];
		const CsvField *y = &b->fields[i];

		if (x->len != y->len || x->full_len != y->full_len ||
			x->quoted != y->quoted ||
			memcmp(a->data + x->offset, b->data + y->offset, x->len) != 0)
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const unsigned char *buf, size_t size)
{
	CsvOptions	o;
	const char *data;
	size_t		len;
	Rec		   *mem;
	Rec		   *str;
	int			nmem;
	int			nstr;
	int			i;
	unsigned char knob;

	if (size < 1)
		return 0;
	knob = buf[0];
	data = (const char *) buf + 1;
	len = size - 1;

	memset(&o, 0, sizeof(o));
	o.realloc_fn = fz_realloc;
	o.free_fn = fz_free;
	o.read_size = 1 + (knob & 0x0F) * 3;
	o.max_field = 4 + ((knob >> 4) & 0x03) * 8;
	o.max_record = o.max_field * (1 + ((knob >> 6) & 0x01) * 3);
	o.max_fields = 2 + ((knob >> 7) & 0x01) * 6;
	o.skip_bom = true;

	mem = parse_all(data, len, &o, false, 0, &nmem);
	str = parse_all(data, len, &o, true, 1 + (knob % 7), &nstr);

	/* memory and streaming agree */
	CHECK(nmem == nstr);
	for (i = 0; i < nmem; i++)
	{
		CHECK(mem[i].error == str[i].error);
		CHECK(mem[i].error_field == str[i].error_field);
		CHECK(mem[i].line == str[i].line);
		CHECK(mem[i].raw_full_len == str[i].raw_full_len);
		CHECK(mem[i].raw_len == str[i].raw_len);
		CHECK(memcmp(mem[i].raw, str[i].raw, mem[i].raw_len) == 0);
		CHECK(same_fields(&mem[i], &str[i]));
	}

	/* a clean record parses the same from its raw bytes alone */
	for (i = 0; i < nmem; i++)
	{
		CsvOptions	again = o;
		Rec		   *one;
		int			n1;

		if (mem[i].error != CSV_OK)
			continue;
		again.skip_bom = false;
		again.final_cr_is_data = true;
		one = parse_all(mem[i].raw, mem[i].raw_len, &again, false, 0, &n1);
		CHECK(n1 == 1);
		CHECK(one[0].error == CSV_OK);
		CHECK(same_fields(&mem[i], &one[0]));
		free_recs(one, n1);
	}

	/* UTF-8 helpers */
	{
		char	   *out = fz_realloc(NULL, NULL, 3 * len + 1);
		size_t		olen = csv_utf8_sanitize(data, len, out);
		size_t		off;
		size_t		blen;
		bool		ok = csv_utf8_check(data, len, &off, &blen);
		size_t		ref = ref_utf8_first_bad((const unsigned char *) data, len);

		/* the parser and the independent validator agree, to the byte */
		CHECK(ok == (ref == len));
		if (ok)
			CHECK(olen == len && memcmp(out, data, len) == 0);
		else
			CHECK(off == ref && blen >= 1 && off + blen <= len);
		/* and so does every field the import checks, alone */
		for (i = 0; i < nmem; i++)
		{
			int			f;

			for (f = 0; f < mem[i].nstored; f++)
			{
				const char *fs = mem[i].data + mem[i].fields[f].offset;
				size_t		flen = mem[i].fields[f].len;

				CHECK(csv_utf8_check(fs, flen, &off, &blen) ==
					  (ref_utf8_first_bad((const unsigned char *) fs, flen) == flen));
			}
		}
		CHECK(csv_utf8_check(out, olen, &off, &blen));
		CHECK(ref_utf8_first_bad((const unsigned char *) out, olen) == olen);
		olen = csv_normalize_name(data, len, out);
		CHECK(olen <= len);
		free(out);
	}

	free_recs(mem, nmem);
	free_recs(str, nstr);
	return 0;
}
