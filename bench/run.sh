#!/bin/bash
# bench/run.sh [NAME...] -- run the benchmarks (default: all) in a throwaway
# cluster and print their ratios.  Not part of the test suite: timings
# belong here, never in a test.
set -euo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8
bash scripts/setup.sh
# one benchmark at a time on this machine, or the timings mean nothing
exec 9>/tmp/ame-bench.lock
flock 9
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(normalize audit sessions import audit_scale workflow)
for name in "${names[@]}"; do
	echo "== bench/$name"
	pg_virtualenv -t -o shared_buffers=1GB -o max_wal_size=8GB -o wal_level=logical \
		psql -X -q -v ON_ERROR_STOP=1 -f "bench/$name.sql"
done
