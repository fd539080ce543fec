--
-- identity: ame_current_user_id(), by Supabase's auth.uid() convention
-- (SPEC §3).  The claims are set with set_config(..., true), as PostgREST
-- does per request, so they end with the transaction.
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION ame;
SET LOCAL search_path = pg_catalog, public;

SELECT plan(32);

-- (a procedure, so that setting the claims prints nothing into the TAP stream)
CREATE PROCEDURE pg_temp.claims(sub text, claims text)
LANGUAGE sql AS $$
  SELECT pg_catalog.set_config('request.jwt.claim.sub', coalesce(sub, ''), true),
         pg_catalog.set_config('request.jwt.claims', coalesce(claims, ''), true)
$$;

-- nothing set at all: the GUCs do not even exist yet
SELECT is(current_setting('request.jwt.claims', true), NULL,
          'request.jwt.claims is not defined at the start');
SELECT is(public.ame_current_user_id(), NULL, 'no claim set: NULL');

--
-- request.jwt.claims
--
CALL pg_temp.claims(NULL, '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "role": "authenticated"}');
SELECT is(public.ame_current_user_id(), '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b'::uuid,
          'the sub of request.jwt.claims');
-- a new claim in the same session is seen (no stale cached identity)
CALL pg_temp.claims(NULL, '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5c"}');
SELECT is(public.ame_current_user_id(), '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5c'::uuid,
          'a changed request.jwt.claims is seen by the next statement');
CALL pg_temp.claims(NULL, '{"app": {"sub": "not-me"}, "sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5d"}');
SELECT is(public.ame_current_user_id(), '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5d'::uuid,
          'a nested "sub" is not the subject; the top-level one is');
CALL pg_temp.claims(NULL, '{"sub": "9F1C2E4A-5B6D-4E7F-8A9B-0C1D2E3F4A5E"}');
SELECT is(public.ame_current_user_id(), '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5e'::uuid,
          'an upper-case uuid is accepted');
CALL pg_temp.claims(NULL, '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5\u0066"}');
SELECT is(public.ame_current_user_id(), '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5f'::uuid,
          'JSON escapes in the sub are decoded');

-- missing, JSON-null or empty: NULL
CALL pg_temp.claims(NULL, '{"role": "anon"}');
SELECT is(public.ame_current_user_id(), NULL, 'claims without a "sub": NULL');
CALL pg_temp.claims(NULL, '{"sub": null, "role": "anon"}');
SELECT is(public.ame_current_user_id(), NULL, 'claims with "sub": null: NULL');
CALL pg_temp.claims(NULL, '{}');
SELECT is(public.ame_current_user_id(), NULL, 'empty claims object: NULL');
CALL pg_temp.claims(NULL, '');
SELECT is(public.ame_current_user_id(), NULL,
          'request.jwt.claims = '''' (a pooled connection after SET LOCAL) counts as unset');

--
-- request.jwt.claim.sub
--
CALL pg_temp.claims('11111111-2222-3333-4444-555555555555', NULL);
SELECT is(public.ame_current_user_id(), '11111111-2222-3333-4444-555555555555'::uuid,
          'request.jwt.claim.sub alone');
CALL pg_temp.claims('11111111-2222-3333-4444-555555555555',
                      '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}');
SELECT is(public.ame_current_user_id(), '11111111-2222-3333-4444-555555555555'::uuid,
          'a non-empty request.jwt.claim.sub wins over request.jwt.claims');
CALL pg_temp.claims('11111111-2222-3333-4444-555555555555', '{not json');
SELECT is(public.ame_current_user_id(), '11111111-2222-3333-4444-555555555555'::uuid,
          'with request.jwt.claim.sub set, the claims JSON is not consulted');
CALL pg_temp.claims('', '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}');
SELECT is(public.ame_current_user_id(), '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b'::uuid,
          'an empty request.jwt.claim.sub falls back to request.jwt.claims');
CALL pg_temp.claims('', '');
SELECT is(public.ame_current_user_id(), NULL, 'both empty: NULL');

--
-- bad claims: 22P02
--
CALL pg_temp.claims('not-a-uuid', NULL);
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claim.sub"',
                 'a request.jwt.claim.sub that is not a uuid is 22P02');
CALL pg_temp.claims('9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5', NULL);
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claim.sub"',
                 'a request.jwt.claim.sub one digit short is 22P02');
CALL pg_temp.claims('9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5bb', NULL);
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claim.sub"',
                 'a request.jwt.claim.sub one digit long is 22P02');
CALL pg_temp.claims(NULL, '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"');
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claims"',
                 'truncated claims JSON is 22P02');
CALL pg_temp.claims(NULL, '{bad}');
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claims"',
                 'malformed claims JSON is 22P02');
CALL pg_temp.claims(NULL, '{"sub": "nope"}');
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claims"',
                 'a claims sub that is not a uuid is 22P02');
CALL pg_temp.claims(NULL, '{"sub": 42}');
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claims"',
                 'a numeric claims sub is 22P02');
CALL pg_temp.claims(NULL, '{"sub": {"id": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}}');
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claims"',
                 'an object as claims sub is 22P02');
CALL pg_temp.claims(NULL, '["9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"]');
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claims"',
                 'claims that are a JSON array are 22P02');

-- after an error, a good claim works again (the cache is not poisoned)
CALL pg_temp.claims(NULL, '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}');
SELECT is(public.ame_current_user_id(), '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b'::uuid,
          'a good claim after a bad one is read');
-- and the same bad claim set again still fails (an error is not cached as NULL)
CALL pg_temp.claims(NULL, '{"sub": "nope"}');
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claims"',
                 'a bad claim set again is still 22P02');
SELECT throws_ok('SELECT public.ame_current_user_id()', '22P02',
                 'invalid JWT claim in "request.jwt.claims"',
                 'and again on the next call (the cached result of a bad claim is an error)');

--
-- plain SET, as a non-PostgREST client does; SET LOCAL ends with the transaction
--
SET LOCAL request.jwt.claims = '{"sub": "00000000-0000-0000-0000-0000000000aa"}';
SELECT is(public.ame_current_user_id(), '00000000-0000-0000-0000-0000000000aa'::uuid,
          'SET LOCAL request.jwt.claims works');

-- one value per statement, however many rows
SELECT is((SELECT count(DISTINCT public.ame_current_user_id())
           FROM generate_series(1, 1000)), 1::bigint,
          'many calls in one statement agree');

--
-- callable by anyone: a role with no privileges at all reads its identity
--
CREATE ROLE ame_tap_nobody NOLOGIN;
CALL pg_temp.claims(NULL, '{"sub": "00000000-0000-0000-0000-0000000000bb"}');
SET LOCAL ROLE ame_tap_nobody;
DO $$ BEGIN
  PERFORM pg_catalog.set_config('ame_tap.seen', public.ame_current_user_id()::text, true);
END $$;
RESET ROLE;
SELECT is(current_setting('ame_tap.seen'), '00000000-0000-0000-0000-0000000000bb',
          'a role without any privilege can call ame_current_user_id()');
SELECT ok(NOT has_table_privilege('ame_tap_nobody', 'public.ame_customers', 'SELECT'),
          '(that role has no privilege on the tables)');

SELECT * FROM finish();
ROLLBACK;
