#!/bin/bash
# scripts/valgrind.sh -- the C-heavy regression tests against a server run
# under valgrind's memcheck (make valgrind-check).  Fails when valgrind
# reports an error whose stack passes through ame.so.  The regression tests
# run in their usual order; a test whose output differs only because
# everything runs 20-50 times slower (a statement timeout reported as a
# cancel, say) is listed, not counted: read regression.diffs.
# Debian's server is not built with USE_VALGRIND, so palloc'd chunks are
# not tracked one by one: this finds reads of uninitialised memory, invalid
# reads and writes outside malloc'd blocks and stack misuse in our code,
# not every use of a pfree'd chunk (the cache pin tests guard that).
# Not part of the default test command: it takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8
PGBIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PGBIN/pg_config
# VALGRIND_TESTS="install audit uninstall" runs only those; default: all
REGRESS_ARG=()
[ -n "${VALGRIND_TESTS:-}" ] && REGRESS_ARG=(REGRESS="$VALGRIND_TESTS")

bash scripts/setup.sh
command -v valgrind >/dev/null || {
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq valgrind >/dev/null
}

work=$(mktemp -d /tmp/ame-valgrind.XXXXXX)
chown postgres: "$work"
port=$((20000 + RANDOM % 10000))
as_pg() { runuser -u postgres -- "$@"; }
as_pg $PGBIN/initdb -D "$work/data" -A trust -U postgres >/dev/null
cleanup() {
	as_pg $PGBIN/pg_ctl -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# every backend runs under memcheck; errors go to one file per process.
# Tests connect over TCP, as pg_cron fills cron.job.nodeport from the
# connection.
cat >"$work/postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --trace-children=yes --track-origins=yes \\
	--read-var-info=no --num-callers=40 --suppressions=$PWD/scripts/valgrind.supp \\
	--log-file=$work/vg.%p.log $PGBIN/postgres "\$@"
WRAP
chmod 755 "$work/postgres"
as_pg $PGBIN/pg_ctl -D "$work/data" -w -t 600 -l "$work/server.log" -p "$work/postgres" \
	-o "-p $port -k $work -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_cron \
		-c cron.database_name=contrib_regression -c cron.use_background_workers=on \
		-c max_worker_processes=32 -c wal_level=logical -c max_wal_senders=4" start

set +e
PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres make -s installcheck ISOLATION= \
	"${REGRESS_ARG[@]}" PG_CONFIG=$PG_CONFIG
tests_rc=$?
set -e
cleanup

ours=0
for f in "$work"/vg.*.log; do
	[ -s "$f" ] || continue
	if grep -q 'ame\.so' "$f"; then
		ours=1
		echo "== valgrind errors through ame.so in $f"
		cat "$f"
	fi
done
other=$(cat "$work"/vg.*.log 2>/dev/null | grep -c '^==[0-9]*== [A-Z].*\(Invalid\|uninitialised\|Mismatched\)' || true)
[ $tests_rc -eq 0 ] || echo "valgrind-check: tests whose output differed under valgrind: $(grep -E 'FAILED|failed' regression.out 2>/dev/null | awk '{print $2}' | tr '\n' ' ')(see regression.diffs)"
echo "valgrind-check: errors through ame.so: $ours; other reports: $other (valgrind logs in $work)"
[ $ours -eq 0 ]
