/*-------------------------------------------------------------------------
 *
 * json_check.c
 *	  Would jsonb accept this text?  Answered without raising an error and
 *	  without a subtransaction, for a value that must never make a user's
 *	  write fail: GUC ame.audit_context, which the audit trigger stores as
 *	  JSON when jsonb accepts it and as a JSON string otherwise.
 *
 * jsonb_in refuses more than JSON's grammar does, and says so by raising:
 * a \u0000 escape (text cannot hold it), an escape the database encoding
 * cannot hold, a lone or misordered surrogate, a number numeric cannot
 * hold (1e1000000, 1e-20000), nesting so deep that it exhausts the stack.
 * Each is checked here first, then the grammar by PostgreSQL's own JSON
 * parser (with escapes decoded, so it checks them as jsonb_in does), then
 * every number token against numeric's limits:
 *
 *	- a decimal exponent within +-AME_NUMERIC_MAX_EXPONENT (about INT_MAX / 2;
 *	  the exact bound differs between majors, see compat.h), as numeric_in
 *	  requires;
 *	- a display scale (digits after the point, less the exponent) of at
 *	  most NUMERIC_DSCALE_MAX (16383);
 *	- a weight of the first nonzero base-10000 digit within int16, so at
 *	  most 131071 decimal digits before the point.
 *
 * Nesting deeper than AME_JSON_MAX_DEPTH levels counts as refused: the
 * JSON parsers recurse, and a check that could exhaust the stack would
 * fail the write it protects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "ame.h"
#include "compat.h"

#define AME_JSON_MAX_DEPTH	100

/* numeric's limits (utils/numeric.h and numeric.c) */
#define NUMERIC_DSCALE_LIMIT	0x3FFF
#define NUMERIC_WEIGHT_LIMIT	PG_INT16_MAX
#define NBASE_DIGITS			4

static bool escapes_and_depth_ok(const char *str, size_t len);
static bool numbers_ok(char *str, size_t len);
static bool number_ok(const char *p, const char *end);

/*
 * ame_jsonb_accepts
 *		True when str (len bytes, in the database encoding) is text that
 *		jsonb_in accepts; never raises for any input.
 */
bool
ame_jsonb_accepts(const char *str, size_t len)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	char	   *copy;
	JsonLexContext *lex;
	bool		ok;

	/* jsonb cannot hold a value this large, even as one string */
	if (len >= JENTRY_OFFLENMASK)
		return false;
	if (!escapes_and_depth_ok(str, len))
		return false;

	/* the lexers and the strings they decode go when the check is done */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "ame json check",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	copy = pnstrdup(str, len);
	lex = ame_json_lexer(copy, len, true);
	ok = pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS &&
		numbers_ok(copy, len);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	return ok;
}

/*
 * escapes_and_depth_ok
 *		One pass over the text: nesting within AME_JSON_MAX_DEPTH, and no
 *		\u escape that jsonb refuses by raising (\u0000; above U+007F when
 *		the database encoding is not UTF-8, which may not hold it).  The
 *		grammar is the parser's business.
 */
static bool
escapes_and_depth_ok(const char *str, size_t len)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	bool		in_string = false;
	int			depth = 0;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		char		c = str[i];

		CHECK_FOR_INTERRUPTS();
		if (in_string)
		{
			if (c == '"')
				in_string = false;
			else if (c == '\\' && i + 1 < len)
			{
				i++;
				if (str[i] == 'u' && i + 4 < len)
				{
					unsigned int code = 0;
					int			k;

					for (k = 1; k <= 4; k++)
					{
						char		h = str[i + k];

						code <<= 4;
						if (h >= '0' && h <= '9')
							code |= h - '0';
						else if (h >= 'a' && h <= 'f')
							code |= h - 'a' + 10;
						else if (h >= 'A' && h <= 'F')
							code |= h - 'A' + 10;
						else
							return false;	/* bad escape: not JSON */
					}
					if (code == 0 || (!utf8 && code > 0x7F))
						return false;
					i += 4;
				}
			}
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > AME_JSON_MAX_DEPTH)
				return false;
		}
		else if (c == ']' || c == '}')
			depth--;
	}
	return true;
}

/* every number token of (grammatically valid) JSON fits numeric */
static bool
numbers_ok(char *str, size_t len)
{
	JsonLexContext *lex = ame_json_lexer(str, len, false);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (json_lex(lex) != JSON_SUCCESS)
			return false;
		if (lex->token_type == JSON_TOKEN_END)
			return true;
		if (lex->token_type == JSON_TOKEN_NUMBER &&
			!number_ok(lex->token_start, lex->token_terminator))
			return false;
	}
}

/*
 * number_ok
 *		Would numeric_in accept this JSON number (-?int(.frac)?(e[+-]?exp)?,
 *		the lexer has checked its form)?
 */
static bool
number_ok(const char *p, const char *end)
{
	int64		nint = 0;		/* digits before the point */
	int64		nfrac = 0;		/* digits after it */
	int64		first_nonzero = -1; /* index of the first nonzero digit */
	int64		exponent = 0;
	int64		dscale;

	if (p < end && *p == '-')
		p++;
	for (; p < end && *p >= '0' && *p <= '9'; p++, nint++)
		if (first_nonzero < 0 && *p != '0')
			first_nonzero = nint;
	if (p < end && *p == '.')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++, nfrac++)
			if (first_nonzero < 0 && *p != '0')
				first_nonzero = nint + nfrac;
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		bool		negative = false;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			negative = (*p++ == '-');
		for (; p < end && *p >= '0' && *p <= '9'; p++)
		{
			exponent = exponent * 10 + (*p - '0');
			if (exponent > AME_NUMERIC_MAX_EXPONENT)
				return false;
		}
		if (negative)
			exponent = -exponent;
	}

	dscale = Max(nfrac - exponent, 0);
	if (dscale > NUMERIC_DSCALE_LIMIT)
		return false;
	if (first_nonzero >= 0)
	{
		/* the decimal weight of the first nonzero digit, in base 10000 */
		int64		dweight = nint - 1 - first_nonzero + exponent;
		int64		weight = dweight >= 0 ? dweight / NBASE_DIGITS :
			-((-dweight - 1) / NBASE_DIGITS + 1);

		if (weight > NUMERIC_WEIGHT_LIMIT || weight < PG_INT16_MIN)
			return false;
	}
	return true;
}
