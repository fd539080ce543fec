#!/bin/bash
# scripts/setup.sh -- install what ame needs on Debian (as root), then build
# and install the extension for PostgreSQL $PG_MAJOR (default 15, Debian 12's
# own).  Safe to run again: packages already present are not fetched a
# second time.
#
#   bash scripts/setup.sh              install the packages, build, install
#   bash scripts/setup.sh --packages   only list the packages, one a line
#                                      (scripts/pg-chroot.sh builds its
#                                      chroots from this list)
#   bash scripts/setup.sh --npm        only the packages, then npm ci
#                                      (test/app/, report/); no build
#
# AME_FUZZ=0 leaves out clang and libFuzzer, which only the fuzz test needs
# (it runs once, on the host, not once per major).  AME_REPORT=0 leaves out
# what report.html needs: node and npm, for the charting library that
# `npm ci` installs in report/node_modules (report/package-lock.json), and
# chromium, in which test/report.t opens the page (on the host only).  A
# node from elsewhere that has npm (NodeSource's nodejs) is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PACKAGES=(
	"postgresql-$PG_MAJOR"                 # server, and pg_virtualenv
	"postgresql-server-dev-$PG_MAJOR"      # PGXS and the server headers
	"postgresql-$PG_MAJOR-cron"            # nightly session cleanup
	"postgresql-$PG_MAJOR-pgtap"           # pgTAP, for the tests
	libtap-parser-sourcehandler-pgtap-perl # pg_prove
	make gcc libc6-dev
)
if [ "${AME_FUZZ:-1}" != 0 ]; then
	PACKAGES+=(clang libclang-rt-14-dev)   # libFuzzer, for the parser's fuzz test
fi

# node, for test/app.t (node-postgres) on every major: in the chroots of
# scripts/pg-chroot.sh too (--packages lists it even when this machine's
# node comes from elsewhere), where it uses the pure-JavaScript
# test/app/node_modules that npm installed on the host
if [ "${1:-}" = --packages ] || ! command -v node >/dev/null 2>&1; then
	PACKAGES+=(nodejs)
fi
# npm, on this machine only (not in the chroots' list): npm ci of
# test/app/ (and report/)
if [ "${1:-}" != --packages ] && ! command -v npm >/dev/null 2>&1; then
	PACKAGES+=(npm)
fi
if [ "${AME_REPORT:-1}" != 0 ]; then
	PACKAGES+=(chromium)                   # headless, for test/report.t
fi

if [ "${1:-}" = --npm ]; then		# node and npm only
	PACKAGES=()
	command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
	command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
fi

if [ "${1:-}" = --packages ]; then
	printf '%s\n' "${PACKAGES[@]}"
	exit 0
fi

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

# npm ci, as DIR/package-lock.json pins it, again only when the lock file
# changed since the last install: report.html's charting library
# (report/) and node-postgres for test/app.t (test/app/).  npm trusts the
# certificates the system trusts (Debian's ca-certificates, and any CA the
# machine's administrator added with update-ca-certificates, as a
# TLS-inspecting proxy needs), not only the list built into node.
npm_ci() {
	local dir=$1 cafile=()
	cmp -s "$dir/package-lock.json" "$dir/node_modules/.ame-installed-lock.json" && return
	echo "setup: installing $dir/'s npm packages (npm ci)"
	[ -s /etc/ssl/certs/ca-certificates.crt ] && cafile=(--cafile /etc/ssl/certs/ca-certificates.crt)
	(cd "$dir" && npm ci "${cafile[@]}" --no-audit --no-fund --loglevel=error >/dev/null)
	cp "$dir/package-lock.json" "$dir/node_modules/.ame-installed-lock.json"
}
# in a chroot of scripts/pg-chroot.sh there is no npm: the host installed
# them into the shared tree (scripts/test.sh runs setup.sh --npm on the
# host before it enters a chroot)
if command -v npm >/dev/null 2>&1; then
	if [ "${AME_REPORT:-1}" != 0 ]; then
		npm_ci report
	fi
	npm_ci test/app
fi
[ "${1:-}" = --npm ] && exit 0

echo "setup: building and installing ame for PostgreSQL $PG_MAJOR"
make -s PG_CONFIG="$PG_CONFIG"
make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
