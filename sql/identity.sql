--
-- identity: ame_current_user_id() by Supabase's auth.uid() convention
--
\set VERBOSITY default

-- nothing set: NULL
SELECT ame_current_user_id() IS NULL AS no_identity;

-- the claims JSON
SET request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "role": "authenticated"}';
SELECT ame_current_user_id();
-- nested "sub" keys are not the subject; the top-level one is
SET request.jwt.claims = '{"app": {"sub": "not-me"}, "sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5c"}';
SELECT ame_current_user_id();
-- escapes are decoded
SET request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5\u0064"}';
SELECT ame_current_user_id();
-- the other uuid spellings uuid_in accepts
SET request.jwt.claims = '{"sub": "{9F1C2E4A5B6D4E7F8A9B0C1D2E3F4A5B}"}';
SELECT ame_current_user_id();
-- a repeated key: the last one wins, as in jsonb
SET request.jwt.claims = '{"sub": "nope", "sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5e"}';
SELECT ame_current_user_id();

-- missing or JSON-null "sub": NULL
SET request.jwt.claims = '{"role": "anon"}';
SELECT ame_current_user_id() IS NULL AS no_identity;
SET request.jwt.claims = '{"sub": null}';
SELECT ame_current_user_id() IS NULL AS no_identity;
-- an empty string counts as unset (a pooled connection after SET LOCAL)
SET request.jwt.claims = '';
SELECT ame_current_user_id() IS NULL AS no_identity;

-- a non-empty claim.sub wins over the claims JSON
SET request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}';
SET request.jwt.claim.sub = '11111111-2222-3333-4444-555555555555';
SELECT ame_current_user_id();
-- even when the claims JSON is broken
SET request.jwt.claims = '{broken';
SELECT ame_current_user_id();
-- an empty claim.sub falls back to the claims JSON
SET request.jwt.claim.sub = '';
SET request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}';
SELECT ame_current_user_id();

-- SET LOCAL ends with its transaction, and the cache follows
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "00000000-0000-0000-0000-0000000000aa"}';
SELECT ame_current_user_id();
COMMIT;
SELECT ame_current_user_id();
RESET request.jwt.claims;
SELECT ame_current_user_id() IS NULL AS no_identity;

-- bad claims are error 22P02, with the reason
SET request.jwt.claim.sub = 'not-a-uuid';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claim.sub = '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claim.sub = '9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5bb';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE
RESET request.jwt.claim.sub;
SET request.jwt.claims = '{"sub": "nope"}';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claims = '{"sub": 42}';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claims = '{"sub": {"id": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}}';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claims = '["9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"]';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claims = '"9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"';
SELECT ame_current_user_id();
\echo :LAST_ERROR_SQLSTATE

-- after an error the next good claim works (the cache is not poisoned)
SET request.jwt.claims = '{"sub": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}';
SELECT ame_current_user_id();

-- it is STABLE and callable by anyone
SELECT provolatile, proparallel, has_function_privilege('public', oid, 'EXECUTE') AS public_exec
FROM pg_proc WHERE proname = 'ame_current_user_id';
CREATE ROLE ame_identity_reader;
SET ROLE ame_identity_reader;
SELECT public.ame_current_user_id();
RESET ROLE;
DROP ROLE ame_identity_reader;

-- many calls in one statement agree (the cached identity is stable)
SELECT count(DISTINCT public.ame_current_user_id()) FROM generate_series(1, 1000);
RESET request.jwt.claims;
