#!/bin/bash
# scripts/test.sh -- run every test of ame: pg_regress, isolation and pgTAP,
# each against a throwaway cluster made by pg_virtualenv.  Prints the
# failures' diffs and ends with the line "N passed, N failed"; exits
# non-zero when anything failed.
#
# Without PG_MAJOR it runs the whole suite on every supported major in
# turn: 15 on this machine, 17 (Debian trixie) and 18 (Debian sid) in
# cached Debian chroots (scripts/pg-chroot.sh), and ends with one line that
# counts them all.  PG_MAJOR=17 bash scripts/test.sh runs one major alone;
# AME_MAJORS="15 18" picks a subset.  In a chroot the fuzz test, which does
# not depend on the server, is left to the host's run, and so is
# test/report.t, which needs Chromium (report.html in a browser).
#
# After each major's suite, scripts/package-test.sh builds that major's
# Debian package (postgresql-NN-ame), installs it on a clean Debian of that
# major's suite, creates the extension and runs the package's autopkgtest;
# its checks count with the rest.  AME_PACKAGE=0 leaves it out.
set -uo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8

if [ -z "${PG_MAJOR:-}" ] && [ -z "${AME_CHROOT:-}" ]; then
	passed=0; failed=0; summary=""
	for major in ${AME_MAJORS:-15 17 18}; do
		start=$(date +%s)
		out=$(mktemp /tmp/ame-test-major.XXXXXX)
		echo "=== PostgreSQL $major"
		# each major's own closing line is renamed, so that only the
		# last line of this script reads "N passed, N failed"
		PG_MAJOR=$major bash "$0" 2>&1 | tee "$out" |
			sed -E "s/^([0-9]+ passed, [0-9]+ failed)$/== PostgreSQL $major alone: \1/"
		line=$(tail -1 "$out")
		rm -f "$out"
		if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
			p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}
		else
			p=0; f=1; line="no result (the run died)"
		fi
		passed=$((passed + p)); failed=$((failed + f))
		summary+="PostgreSQL $major: $line in $(( $(date +%s) - start )) s"$'\n'
	done
	echo "=== all majors"
	printf '%s' "$summary"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
fi
export PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config

# one major: its suite, then its package (on the host only: the package
# test makes chroots of its own)
if [ -z "${AME_CHROOT:-}" ] && [ "${AME_PACKAGE:-1}" = 1 ]; then
	result() {		# the counts of a "N passed, N failed" last line, or 0 1
		local line
		line=$(tail -1 "$1")
		if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
			echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
		else
			echo "0 1"
		fi
	}
	out=$(mktemp /tmp/ame-test-suite.XXXXXX)
	AME_PACKAGE=0 bash "$0" 2>&1 | tee "$out" |
		sed -E "s/^([0-9]+ passed, [0-9]+ failed)$/== the suite: \1/"
	read -r p1 f1 < <(result "$out")
	start=$(date +%s)
	echo "== the Debian package postgresql-$PG_MAJOR-ame (scripts/package-test.sh)"
	bash scripts/package-test.sh "$PG_MAJOR" 2>&1 | tee "$out" |
		sed -E "s/^([0-9]+ passed, [0-9]+ failed)$/== the package: \1/"
	read -r p2 f2 < <(result "$out")
	echo "== the package took $(( $(date +%s) - start )) s"
	rm -f "$out"
	echo "$((p1 + p2)) passed, $((f1 + f2)) failed"
	[ $((f1 + f2)) -eq 0 ]
	exit
fi

if [ "$PG_MAJOR" != 15 ] && [ -z "${AME_CHROOT:-}" ]; then
	out=$(mktemp /tmp/ame-test-pg"$PG_MAJOR".XXXXXX)
	# test/app.t's node-postgres, installed here (the chroot has no npm)
	AME_FUZZ=0 AME_REPORT=0 bash scripts/setup.sh --npm
	AME_FUZZ=0 bash scripts/pg-chroot.sh "$PG_MAJOR" bash scripts/test.sh 2>&1 | tee "$out"
	rc=$?
	# no summary line: the chroot could not be built or entered
	tail -1 "$out" | grep -qE '^[0-9]+ passed, [0-9]+ failed$' \
		|| { echo "0 passed, 1 failed"; rc=1; }
	rm -f "$out"
	exit $rc
fi
export AME_FUZZ=${AME_FUZZ:-1}

bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
echo "== $("$PG_CONFIG" --version)${AME_CHROOT:+, in a Debian chroot}"

# A throwaway cluster as the tests need it: pg_cron preloaded for the given
# database (it can be created only there), logical WAL so that CREATE
# PUBLICATION does not warn, and background workers for cron jobs.
cluster() {
	local crondb=$1; shift
	pg_virtualenv -t -v "$PG_MAJOR" \
		-o shared_preload_libraries=pg_cron \
		-o cron.database_name="$crondb" \
		-o cron.use_background_workers=on \
		-o max_worker_processes=32 \
		-o wal_level=logical \
		"$@"
}

logs=$(mktemp -d /tmp/ame-test.XXXXXX)
# what a TAP script keeps for a person to look at goes here too
# (test/report.t: report.html, its rendered DOM and a screenshot)
export AME_TEST_LOGS=$logs
status=0

echo "== pg_regress"
cluster contrib_regression make -s installcheck ISOLATION= PG_CONFIG="$PG_CONFIG" \
	>"$logs/regress.log" 2>&1 || status=1
cat "$logs/regress.log"
[ -f regression.diffs ] && { cat regression.diffs; cp regression.diffs "$logs/"; }

echo "== isolation"
cluster contrib_regression make -s installcheck REGRESS= PG_CONFIG="$PG_CONFIG" \
	>"$logs/isolation.log" 2>&1 || status=1
cat "$logs/isolation.log"
[ -f output_iso/regression.diffs ] && cat output_iso/regression.diffs

echo "== pgTAP (test/*.sql by pg_prove) and TAP scripts (test/*.t by prove)"
cluster ame_tap sh -c 'createdb ame_tap || exit 1
	rc=0
	pg_prove --verbose -d ame_tap test/*.sql || rc=1
	prove --verbose test/*.t || rc=1
	exit $rc' >"$logs/pgtap.log" 2>&1
tap_rc=$?
cat "$logs/pgtap.log"

echo "== TAP scripts on a plain server (test/plain/*.t: no pg_cron, default wal_level)"
pg_virtualenv -t -v "$PG_MAJOR" prove --verbose test/plain/*.t >"$logs/plain.log" 2>&1
plain_rc=$?
cat "$logs/plain.log"

echo "== fuzz (the CSV parser under libFuzzer, 30 s; fuzz/)"
if [ "$AME_FUZZ" = 0 ]; then
	fuzz_rc=-1
	echo "fuzz ... skipped (AME_FUZZ=0)"
elif make -s -C fuzz run FUZZ_SECONDS=30 FUZZ_WORK="$logs/fuzz" >"$logs/fuzz.log" 2>&1; then
	fuzz_rc=0
	echo "fuzz ... ok"
else
	fuzz_rc=1
	tail -40 "$logs/fuzz.log"
	echo "fuzz ... FAILED (see $logs/fuzz.log)"
fi

# count: one per pg_regress or isolation test, one per TAP assertion
# (pg_regress prints "test x ... ok" up to PG 15, TAP lines "ok 1 - x" from 16)
passed=$(cat "$logs/regress.log" "$logs/isolation.log" | grep -cE '\.\.\. ok|^ok [0-9]+ ')
failed=$(cat "$logs/regress.log" "$logs/isolation.log" | grep -cE '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ ')
tap_ok=$(cat "$logs/pgtap.log" "$logs/plain.log" | grep -cE '^ok [0-9]+')
tap_notok=$(cat "$logs/pgtap.log" "$logs/plain.log" | grep -cE '^not ok [0-9]+')
if [ $fuzz_rc -ge 0 ]; then			# -1: skipped
	passed=$((passed + 1 - fuzz_rc))
	failed=$((failed + fuzz_rc))
fi
passed=$((passed + tap_ok))
failed=$((failed + tap_notok))
# a TAP script or pgTAP file that died partway: every planned test it did
# not run is a failure ("You planned 29 tests but ran 12."), one that ran
# more than it planned or printed no plan is one failure
short() {
	cat "$@" | sed -nE 's/.*You planned ([0-9]+) tests? but ran ([0-9]+)\..*/\1 \2/p' |
		awk '{ d = $1 - $2; s += (d > 0 ? d : 1) } END { print s + 0 }'
}
noplan() { cat "$@" | grep -c 'No plan found in TAP output'; }
tap_short=$(( $(short "$logs/pgtap.log") + $(noplan "$logs/pgtap.log") ))
plain_short=$(( $(short "$logs/plain.log") + $(noplan "$logs/plain.log") ))
failed=$((failed + tap_short + plain_short))
if [ $plain_rc -ne 0 ] && ! grep -qE '^not ok [0-9]+' "$logs/plain.log" && [ "$plain_short" -eq 0 ]; then
	failed=$((failed + 1))		# a plain-server TAP script failed otherwise
fi
if [ $tap_rc -ne 0 ] && [ "$tap_notok" -eq 0 ] && [ "$tap_short" -eq 0 ]; then
	failed=$((failed + 1))		# a pgTAP file or TAP script failed otherwise
fi
if [ $status -ne 0 ] && [ "$failed" -eq 0 ]; then
	failed=$((failed + 1))		# a suite failed before its tests ran
fi

echo "logs: $logs${AME_CHROOT:+ (in the chroot: gone with it)}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
