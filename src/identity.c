/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  ame_current_user_id(): the acting user, by Supabase's auth.uid()
 *	  convention.
 *
 * The identity comes from GUC "request.jwt.claim.sub" when it is set and
 * not empty, else from the "sub" key of the JSON object in GUC
 * "request.jwt.claims".  PostgREST and Supabase set these per request;
 * a plain client can SET them itself.  An empty string counts as unset,
 * because a pooled connection reads '' after a SET LOCAL has ended.
 *
 * Row-level security policies call this once per statement and the audit
 * trigger once per row, so the result is cached per backend and the
 * claims JSON is parsed again only when one of the two GUC strings
 * changed.  The lookup itself never raises an error for bad claims; it
 * reports them, so that the audit trail can record a bad claim instead of
 * failing the user's write.  ame_current_user_id() turns a bad claim into
 * an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "ame.h"

#define SUB_GUC		"request.jwt.claim.sub"
#define CLAIMS_GUC	"request.jwt.claims"

/* what the JSON walk found at the top level of the claims object */
typedef struct ClaimsParseState
{
	int			depth;			/* nesting level; the claims object is 1 */
	bool		top_object;		/* the top-level value is an object */
	bool		at_sub;			/* the next value is that of top-level "sub" */
	bool		found;			/* a top-level "sub" was seen */
	bool		is_string;		/* ... and its value is a string */
	bool		is_null;		/* ... and its value is JSON null */
	char	   *value;			/* the string, or the scalar token */
} ClaimsParseState;

/* backend-lifetime cache of the last lookup, keyed by both GUC strings */
typedef struct IdentityCache
{
	bool		valid;
	char	   *sub_guc;		/* NULL when unset or empty */
	char	   *claims_guc;		/* NULL when unset or empty */
	AmeIdentity result;
} IdentityCache;

static IdentityCache cache;

static const char *read_claim_guc(const char *name);
static bool same_string(const char *a, const char *b);
static void resolve_identity(const char *sub, const char *claims,
							 AmeIdentity *result);
static JsonActionResult claims_object_start(void *state);
static JsonActionResult claims_object_end(void *state);
static JsonActionResult claims_array_start(void *state);
static JsonActionResult claims_array_end(void *state);
static JsonActionResult claims_field_start(void *state, char *fname, bool isnull);
static JsonActionResult claims_scalar(void *state, char *token, JsonTokenType tokentype);
static char *cache_strdup(const char *s);
static int	hex_value(char c);

PG_FUNCTION_INFO_V1(ame_current_user_id);

/*
 * ame_current_user_id() RETURNS uuid
 *		The acting user's uuid, NULL when no identity is set; error 22P02
 *		when a claim is set but is not a uuid or the claims are not JSON.
 */
Datum
ame_current_user_id(PG_FUNCTION_ARGS)
{
	const AmeIdentity *id = ame_identity_lookup();
	pg_uuid_t  *result;

	switch (id->status)
	{
		case AME_IDENTITY_NONE:
			PG_RETURN_NULL();
		case AME_IDENTITY_OK:
			result = palloc(sizeof(pg_uuid_t));
			memcpy(result, &id->uuid, sizeof(pg_uuid_t));
			PG_RETURN_UUID_P(result);
		case AME_IDENTITY_INVALID:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid JWT claim in \"%s\"", id->guc),
					 errdetail("%s", id->detail)));
	}
	pg_unreachable();
}

/*
 * ame_identity_lookup
 *		The acting identity, from the cache when neither GUC string changed.
 */
const AmeIdentity *
ame_identity_lookup(void)
{
	const char *sub = read_claim_guc(SUB_GUC);
	const char *claims = NULL;
	AmeIdentity fresh;
	MemoryContext oldcxt;

	/* a non-empty claim.sub wins; the claims JSON is then irrelevant */
	if (sub == NULL)
		claims = read_claim_guc(CLAIMS_GUC);

	if (cache.valid &&
		same_string(cache.sub_guc, sub) &&
		same_string(cache.claims_guc, claims))
		return &cache.result;

	/*
	 * Resolve into scratch memory first, so that an error (out of memory)
	 * leaves the old cache entry intact, then move it into the cache.
	 */
	resolve_identity(sub, claims, &fresh);

	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	cache.valid = false;
	if (cache.sub_guc)
		pfree(cache.sub_guc);
	if (cache.claims_guc)
		pfree(cache.claims_guc);
	if (cache.result.raw)
		pfree((char *) cache.result.raw);
	if (cache.result.detail)
		pfree((char *) cache.result.detail);
	memset(&cache, 0, sizeof(cache));

	cache.sub_guc = cache_strdup(sub);
	cache.claims_guc = cache_strdup(claims);
	cache.result = fresh;
	cache.result.raw = cache_strdup(fresh.raw);
	cache.result.detail = cache_strdup(fresh.detail);
	cache.valid = true;
	MemoryContextSwitchTo(oldcxt);

	return &cache.result;
}

/*
 * ame_parse_uuid
 *		Parse a uuid the way uuid_in accepts it (32 hex digits, optionally
 *		in braces, a hyphen allowed after any group of four digits), but
 *		report failure instead of raising an error.
 */
bool
ame_parse_uuid(const char *str, pg_uuid_t *out)
{
	const char *p = str;
	bool		braces = false;
	int			i;

	if (*p == '{')
	{
		braces = true;
		p++;
	}

	for (i = 0; i < UUID_LEN; i++)
	{
		int			hi = hex_value(p[0]);
		int			lo;

		if (hi < 0)
			return false;
		lo = hex_value(p[1]);
		if (lo < 0)
			return false;
		out->data[i] = (unsigned char) (hi << 4 | lo);
		p += 2;
		if (*p == '-' && i % 2 == 1 && i < UUID_LEN - 1)
			p++;
	}

	if (braces)
	{
		if (*p != '}')
			return false;
		p++;
	}
	return *p == '\0';
}

/* The GUC's value, or NULL when it is not defined or empty. */
static const char *
read_claim_guc(const char *name)
{
	const char *value = GetConfigOption(name, true, false);

	if (value == NULL || value[0] == '\0')
		return NULL;
	return value;
}

static bool
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * resolve_identity
 *		Work out the identity from the two (already non-empty or NULL) GUC
 *		strings.  Strings in the result are palloc'd in the current context.
 */
static void
resolve_identity(const char *sub, const char *claims, AmeIdentity *result)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	ClaimsParseState state;
	JsonParseErrorType rc;

	memset(result, 0, sizeof(AmeIdentity));
	result->status = AME_IDENTITY_NONE;

	if (sub != NULL)
	{
		if (ame_parse_uuid(sub, &result->uuid))
			result->status = AME_IDENTITY_OK;
		else
		{
			result->status = AME_IDENTITY_INVALID;
			result->guc = SUB_GUC;
			result->raw = pstrdup(sub);
			result->detail = psprintf("The subject \"%s\" is not a valid uuid.",
									  sub);
		}
		return;
	}

	if (claims == NULL)
		return;

	memset(&state, 0, sizeof(state));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = claims_object_start;
	sem.object_end = claims_object_end;
	sem.array_start = claims_array_start;
	sem.array_end = claims_array_end;
	sem.object_field_start = claims_field_start;
	sem.scalar = claims_scalar;

	lex = makeJsonLexContextCstringLen(NULL, pstrdup(claims), strlen(claims),
									   GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &sem);

	result->guc = CLAIMS_GUC;
	if (rc != JSON_SUCCESS)
	{
		result->status = AME_IDENTITY_INVALID;
		result->raw = pstrdup(claims);
		result->detail = psprintf("The claims are not valid JSON: %s",
								  json_errdetail(rc, lex));
		return;
	}

	/* the top level must be an object; a scalar or array carries no "sub" */
	if (!state.top_object)
	{
		result->status = AME_IDENTITY_INVALID;
		result->raw = pstrdup(claims);
		result->detail = pstrdup("The claims must be a JSON object.");
		return;
	}

	if (!state.found)
		return;					/* no "sub": no identity */

	if (state.is_null)
		return;					/* "sub": null counts as no identity */

	if (state.is_string && ame_parse_uuid(state.value, &result->uuid))
	{
		result->status = AME_IDENTITY_OK;
		return;
	}

	result->status = AME_IDENTITY_INVALID;
	result->raw = state.value ? pstrdup(state.value) : pstrdup("(object or array)");
	result->detail = state.value ?
		psprintf("The \"sub\" claim \"%s\" is not a valid uuid.", state.value) :
		pstrdup("The \"sub\" claim is not a valid uuid.");
}

static JsonActionResult
claims_object_start(void *state)
{
	ClaimsParseState *s = (ClaimsParseState *) state;

	if (s->at_sub)
	{
		/* "sub" holds an object: found, but not a string */
		s->at_sub = false;
		s->value = NULL;
	}
	if (s->depth == 0)
		s->top_object = true;
	s->depth++;
	return JSON_ACTION_OK;
}

static JsonActionResult
claims_object_end(void *state)
{
	((ClaimsParseState *) state)->depth--;
	return JSON_ACTION_OK;
}

static JsonActionResult
claims_array_start(void *state)
{
	ClaimsParseState *s = (ClaimsParseState *) state;

	if (s->at_sub)
	{
		s->at_sub = false;
		s->value = NULL;
	}
	s->depth++;
	return JSON_ACTION_OK;
}

static JsonActionResult
claims_array_end(void *state)
{
	((ClaimsParseState *) state)->depth--;
	return JSON_ACTION_OK;
}

static JsonActionResult
claims_field_start(void *state, char *fname, bool isnull)
{
	ClaimsParseState *s = (ClaimsParseState *) state;

	if (s->depth != 1 || strcmp(fname, "sub") != 0)
		return JSON_ACTION_OK;

	/* a repeated key: the last one wins, as in jsonb */
	s->found = true;
	s->at_sub = true;
	s->is_null = isnull;
	s->is_string = false;
	s->value = NULL;
	return JSON_ACTION_OK;
}

static JsonActionResult
claims_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ClaimsParseState *s = (ClaimsParseState *) state;

	if (!s->at_sub)
		return JSON_ACTION_OK;
	s->at_sub = false;
	s->is_string = (tokentype == JSON_TOKEN_STRING);
	s->value = token;
	return JSON_ACTION_OK;
}

static char *
cache_strdup(const char *s)
{
	return s ? MemoryContextStrdup(TopMemoryContext, s) : NULL;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
