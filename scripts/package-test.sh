#!/bin/bash
# scripts/package-test.sh -- build the Debian package postgresql-NN-ame and
# install it on a clean system, as a user would.
#
#   bash scripts/package-test.sh [MAJOR...]     (default: 15; `make package-check`)
#
# For each MAJOR:
#  1. build the .deb with `dpkg-buildpackage -us -uc -b` from debian/, in a
#     copy of the tree (the tree itself stays clean), into a temporary
#     directory.  The machine's own major (15 on Debian 12) is built here;
#     17 and 18 inside scripts/pg-chroot.sh's chroot of that major (trixie,
#     sid).  The build dependencies (build-essential, debhelper, postgresql-all) are installed
#     with apt-get when missing -- scripts/setup.sh does not install them.
#  2. in a clean chroot of the same Debian suite (scripts/pg-chroot.sh with
#     AME_CHROOT_BASE=clean: minbase and postgresql-MAJOR, nothing else) run
#     `apt-get install ./postgresql-MAJOR-ame_*.deb`, start a throwaway
#     cluster (pg_virtualenv) and check that CREATE EXTENSION ame works, that
#     the C triggers run (a customer is numbered and normalized) and that
#     the package's files are where PostgreSQL looks for them.
#  3. in another such chroot, run the package's autopkgtest as autopkgtest
#     would (debian/tests/installcheck: the pg_regress and isolation suites
#     against the installed package, pg_cron preloaded).
# Prints one "ok"/"not ok" line per check and ends with "N passed, N failed";
# exits non-zero when anything failed.
#
# Needs root (chroot); a first run builds the chroot bases (a few minutes
# each, cached under /var/tmp/ame-chroot), later runs reuse them.
#
# Internal modes, run inside a chroot by the steps above:
#   --build-tar MAJOR        build, write a tar of the .debs to stdout
#   --install-check MAJOR    read that tar on stdin, install and check
#   --autopkgtest MAJOR      read that tar on stdin, run debian/tests/
set -euo pipefail

tree=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

die() {
	echo "package-test: $*" >&2
	exit 1
}
log() {
	echo "package-test: $*" >&2
}

# apt-get install the named packages unless all are installed already.
ensure_packages() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null 2>&1 \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null; } \
		|| die "cannot install ${missing[*]}"
}

# Build the packages of this system's PostgreSQL majors from a copy of the
# tree (sources only: no objects, results or git metadata) into $1.
build_debs() {
	local out=$1 work version
	ensure_packages build-essential debhelper postgresql-all
	work=$(mktemp -d)
	version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$tree/ame.control")
	mkdir "$work/ame-$version"
	tar -C "$tree" -c \
		--exclude=./.git --exclude=./results --exclude=./output_iso \
		--exclude=./log --exclude=./tmp_check --exclude=./.built-for \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./ame--"$version".sql --exclude=./regression.diffs \
		--exclude=./regression.out \
		--exclude=./report/node_modules --exclude=./test/app/node_modules \
		--exclude=./report.html . |
		tar -C "$work/ame-$version" -x
	# debian/control names the packages of the majors this system supports
	(cd "$work/ame-$version" && pg_buildext updatecontrol && dpkg-buildpackage -us -uc -b) \
		>"$work/build.log" 2>&1 \
		|| { tail -40 "$work/build.log" >&2; die "dpkg-buildpackage failed"; }
	find "$work" -maxdepth 1 -name 'postgresql-*-ame_*.deb' -exec cp -t "$out" {} +
	rm -rf "$work"
}

case ${1:-} in
--build-tar)
	out=$(mktemp -d)
	build_debs "$out"
	tar -C "$out" -c .
	rm -rf "$out"
	exit 0
	;;
--install-check)
	major=$2
	dir=$(mktemp -d)
	tar -C "$dir" -x
	cd "$dir"
	ls postgresql-"$major"-ame_*.deb >/dev/null || die "no postgresql-$major-ame package came in"
	# the base has postgresql-$major already: no download is needed, but
	# apt resolves the package's dependencies as it would anywhere
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./postgresql-"$major"-ame_*.deb >apt.log 2>&1 \
		|| { cat apt.log >&2; die "apt-get install of the package failed"; }
	dpkg-query -W -f '${Package} ${Version} ${Status}\n' "postgresql-$major-ame"
	dpkg -L "postgresql-$major-ame" | grep -E '/(ame\.so|ame\.control|ame--[0-9.]+\.sql)$'
	# a throwaway cluster; the extension needs no preloaded library
	pg_virtualenv -v "$major" psql -X -v ON_ERROR_STOP=1 -At <<-'EOF'
		CREATE EXTENSION ame;
		SELECT 'version ' || extversion FROM pg_catalog.pg_extension WHERE extname = 'ame';
		INSERT INTO ame_customers (company_name, service_tier, email)
		VALUES ('Acme Field Service', 'core', ' Ops@Example.COM ')
		RETURNING customer_number, service_tier, email;
	EOF
	exit 0
	;;
--autopkgtest)
	# as autopkgtest runs debian/tests/installcheck: the package and the
	# test's Depends (debian/tests/control) installed, in a copy of the
	# source tree (the test writes its results there)
	major=$2
	dir=$(mktemp -d)
	tar -C "$dir" -x
	mkdir "$dir/src"
	tar -C "$tree" -c --exclude=./.git --exclude=./results --exclude=./output_iso \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./report/node_modules --exclude=./report.html --warning=no-file-changed . |
		tar -C "$dir/src" -x
	cd "$dir/src"
	deps=$(sed -n "s/^Depends: *//p" debian/tests/control.in | sed "s/PGVERSION/$major/g; s/@, *//")
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$dir"/postgresql-"$major"-ame_*.deb \
		>"$dir/apt.log" 2>&1 \
		&& DEBIAN_FRONTEND=noninteractive apt-get satisfy -y -qq "$deps" >>"$dir/apt.log" 2>&1 \
		|| { cat "$dir/apt.log" >&2; die "installing the package and $deps failed"; }
	exec sh debian/tests/installcheck
	;;
--*)
	die "unknown option $1"
	;;
esac

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and uses chroots)"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(15)
host_majors=" $(pg_buildext supported-versions 2>/dev/null | tr '\n' ' ') "

passed=0
failed=0
ok() {				# ok DESCRIPTION CMD...
	local desc=$1
	shift
	if "$@"; then
		echo "ok - $desc"
		passed=$((passed + 1))
	else
		echo "not ok - $desc"
		failed=$((failed + 1))
		return 1
	fi
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# step 1: build (on this machine, or in the chroot of that major)
build() {
	local major=$1 start=$SECONDS
	mkdir -p "$out/$major"
	case $host_majors in
	*" $major "*) build_debs "$out/$major" ;;
	*) bash "$tree/scripts/pg-chroot.sh" "$major" bash "$tree/scripts/package-test.sh" --build-tar \
		| tar -C "$out/$major" -x ;;
	esac
	[ -f "$(echo "$out/$major"/postgresql-"$major"-ame_*.deb)" ] || return 1
	log "built $(cd "$out/$major" && echo *.deb) in $((SECONDS - start)) s"
}

# step 2: install on a clean system of that major's suite and use it
install_check() {
	local major=$1 start=$SECONDS log=$out/$major.install.log
	tar -C "$out/$major" -c . |
		AME_CHROOT_BASE=clean bash "$tree/scripts/pg-chroot.sh" "$major" \
			bash "$tree/scripts/package-test.sh" --install-check "$major" >"$log" 2>&1 \
		|| { cat "$log" >&2; return 1; }
	log "installed and checked in $((SECONDS - start)) s"
	sed 's/^/# /' "$log"
	grep -q "^postgresql-$major-ame .* install ok installed\$" "$log" \
		&& grep -q "^/usr/lib/postgresql/$major/lib/ame.so\$" "$log" \
		&& grep -q "^/usr/share/postgresql/$major/extension/ame.control\$" "$log" \
		&& grep -qx "version $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$tree/ame.control")" "$log" \
		&& grep -q '^AME-000001|CORE|ops@example.com$' "$log"
}

# step 3: the package's autopkgtest (the pg_regress suite against the
# installed package), in another clean chroot
autopkgtest() {
	local major=$1 start=$SECONDS log=$out/$major.autopkgtest.log
	tar -C "$out/$major" -c . |
		AME_CHROOT_BASE=clean bash "$tree/scripts/pg-chroot.sh" "$major" \
			bash "$tree/scripts/package-test.sh" --autopkgtest "$major" >"$log" 2>&1 \
		|| { cat "$log" >&2; return 1; }
	log "autopkgtest in $((SECONDS - start)) s: $(grep -E 'tests passed|failed' "$log" | tr -s ' \n' ' ')"
	# both the regression and the isolation suite ran and passed (pg_regress
	# prints "All N tests passed" up to 15, TAP "1..N" from 16 on)
	! grep -qE '^not ok |tests? failed' "$log" &&
		[ "$(grep -cE '^ *All [0-9]+ tests passed|^1\.\.[0-9]+$' "$log")" -eq 2 ]
}

for major in "${majors[@]}"; do
	if ok "postgresql-$major-ame builds with dpkg-buildpackage -us -uc -b" build "$major"; then
		ok "postgresql-$major-ame installs on a clean system and CREATE EXTENSION ame works" \
			install_check "$major" || true
		ok "postgresql-$major-ame passes its autopkgtest (debian/tests/installcheck)" \
			autopkgtest "$major" || true
	else
		echo "not ok - postgresql-$major-ame installs and passes its autopkgtest # skipped: no package"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
