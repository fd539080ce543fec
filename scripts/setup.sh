#!/bin/bash
# scripts/setup.sh -- install what ame needs on Debian 12 (as root), then
# build and install the extension.  Safe to run again: packages already
# present are not fetched a second time.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PACKAGES=(
	postgresql-15                          # server, and pg_virtualenv
	postgresql-server-dev-15               # PGXS and the server headers
	postgresql-15-cron                     # nightly session cleanup
	postgresql-15-pgtap                    # pgTAP, for the tests
	libtap-parser-sourcehandler-pgtap-perl # pg_prove
	clang libclang-rt-14-dev               # libFuzzer, for the parser's fuzz test
	make gcc libc6-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
		|| missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing Debian packages: ${missing[*]}" >&2
		echo "setup: run as root, or install them with apt-get first" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "setup: building and installing ame"
make -s PG_CONFIG="$PG_CONFIG"
make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
