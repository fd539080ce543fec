#!/bin/bash
# test/session_error_fields.t -- what a client library sees of the session
# functions' refusals (SPEC §12, docs/errors.md): the SQLSTATE and the
# constraint field (libpq's PG_DIAG_CONSTRAINT_NAME, which psql prints as
# "CONSTRAINT NAME" at VERBOSITY verbose and node-postgres shows as
# error.constraint), read here from psql at VERBOSITY verbose; and
# that each refusal changed nothing.  Leaves ame_tap empty again.  TAP
# output, run by prove.
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ame_tap -c "$1"; }
fresh() { dropdb --force ame_tap && createdb ame_tap; }
# the fields of the error a statement raises, as psql prints them verbose
fields() {
	printf '\\set VERBOSITY verbose\n%s\n' "$1" |
		psql -X -q -At -d ame_tap 2>&1 |
		sed -n -e 's/^ERROR:  \([0-9A-Z]\{5\}\): .*/state=\1/p' \
			-e 's/^SCHEMA NAME:  /schema=/p' -e 's/^TABLE NAME:  /table=/p' \
			-e 's/^CONSTRAINT NAME:  /constraint=/p' | sort -u | paste -sd ' '
}

echo "1..8"
fresh || { echo "Bail out! could not recreate ame_tap"; exit 1; }
q "CREATE EXTENSION ame" >/dev/null 2>&1
q "INSERT INTO ame_customers (id, company_name, service_tier)
   VALUES ('c8000000-0000-0000-0000-000000000001', 'Field Co', 'CORE');
   INSERT INTO ame_visits (id, customer_id, status, current_phase, actual_start_time, completed_at) VALUES
   ('d8000000-0000-0000-0000-000000000001', 'c8000000-0000-0000-0000-000000000001', 'scheduled', 1, NULL, NULL),
   ('d8000000-0000-0000-0000-000000000002', 'c8000000-0000-0000-0000-000000000001', 'completed', 4,
    '2026-01-02 08:00+00', '2026-01-02 12:00+00');
   INSERT INTO ame_visit_sessions (visit_id, session_token, created_at, expires_at, is_active) VALUES
   ('d8000000-0000-0000-0000-000000000001', 'ended', now() - interval '1 hour', now() - interval '1 minute', false),
   ('d8000000-0000-0000-0000-000000000001', 'expired', now() - interval '2 hours', now() - interval '1 hour', true);
   INSERT INTO ame_visit_sessions_archive (id, visit_id, session_token, auto_save_data, is_active,
     last_activity, created_at, expires_at, ttl)
   VALUES (gen_random_uuid(), 'd8000000-0000-0000-0000-000000000001', 'archived', '{}', true,
     now() - interval '3 days', now() - interval '3 days', now() - interval '2 days', '1 day')" >/dev/null
state="SELECT string_agg(session_token || ':' || is_active || ':' || expires_at || ':' || last_activity || ':' || auto_save_data, ',' ORDER BY session_token) FROM ame_visit_sessions"
before=$(q "$state")
archive="SELECT string_agg(session_token || ':' || archived_at, ',') FROM ame_visit_sessions_archive"
archive_before=$(q "$archive")
visits="SELECT string_agg(id || ':' || status || ':' || updated_at, ',' ORDER BY id) FROM ame_visits"
visits_before=$(q "$visits")

ok "$(fields "SELECT ame_touch_session('ended', '{\"a\": 1}')")" \
   "constraint=ame_session_active schema=public state=23514 table=ame_visit_sessions" \
   "touching an ended session: 23514, constraint ame_session_active on public.ame_visit_sessions"
ok "$(fields "SELECT ame_end_session('expired')")" \
   "constraint=ame_session_active schema=public state=23514 table=ame_visit_sessions" \
   "ending an expired session: the same"
ok "$(fields "SELECT ame_touch_session('archived')")" \
   "constraint=ame_session_active schema=public state=23514 table=ame_visit_sessions" \
   "touching an archived session: the same"
ok "$(fields "SELECT ame_end_session('no such token')")" "state=22023" \
   "an unknown token: 22023, no constraint"
ok "$(fields "SELECT * FROM ame_start_session('d8000000-0000-0000-0000-000000000002')")" \
   "constraint=ame_visit_workflow schema=public state=23514 table=ame_visits" \
   "starting on a completed visit: 23514, constraint ame_visit_workflow on public.ame_visits"
ok "$(q "$state")" "$before" "the refused touches and ends changed no session"
ok "$(q "$archive")" "$archive_before" "nor the archive"
ok "$(q "$visits")" "$visits_before" "the refused start changed no visit"
fresh >/dev/null 2>&1
[ $failed -eq 0 ]
