#!/bin/bash
# scripts/pg-chroot.sh -- run a command against another PostgreSQL major, in
# a Debian chroot that has Debian's own packages of that major.
#
#   bash scripts/pg-chroot.sh MAJOR CMD [ARG...]   run CMD in the chroot
#   bash scripts/pg-chroot.sh MAJOR --build        only build (or check) the base
#
# e.g. `bash scripts/pg-chroot.sh 17 bash scripts/test.sh`.
#
# MAJOR picks the Debian suite that ships it: 15 bookworm, 17 trixie (Debian
# 13), 18 sid.  The chroot's base (debootstrap + the packages the project
# needs, as listed by `scripts/setup.sh --packages`) is built once and cached
# under $AME_CHROOT_CACHE (default /var/tmp/ame-chroot), one directory per
# suite and major; a later run reuses it and takes seconds.
#
# Every run works on a throwaway overlay of the cached base, so a run never
# changes the base (`make install` inside lands in the overlay) and two runs
# never see each other's files.  The project tree (the directory above this
# script) is bind-mounted at the same path, read-write, and CMD starts in the
# caller's directory if that lies inside the tree, else in the tree's root.
# AME_CHROOT_BASE=clean picks another cached base, $suite-pg$major-clean,
# with nothing but minbase and postgresql-MAJOR: a system as a user has it
# before installing ame (scripts/package-test.sh installs the .deb there).
#
# CMD runs as root with a clean environment (HOME, PATH, LANG=C.UTF-8, TERM,
# PG_MAJOR=MAJOR, AME_CHROOT=MAJOR, AME_FUZZ=0, AME_REPORT=0 and any other AME_* variable
# of the caller).
#
# All mounts are made in a private mount namespace (unshare -m), so none can
# leak into the host even if this script is killed; a trap unmounts them and
# removes the overlay on every exit as well.
#
# Needs root, util-linux (unshare), overlayfs and network access to the
# mirror, which is taken from the machine's own apt sources (override with
# AME_CHROOT_MIRROR).  debootstrap is installed with apt-get when missing.
set -euo pipefail

usage() {
	echo "usage: $0 MAJOR CMD [ARG...] | $0 MAJOR --build" >&2
	exit 2
}
die() {
	echo "pg-chroot: $*" >&2
	exit 1
}
log() {
	echo "pg-chroot: $*" >&2
}

[ $# -ge 2 ] || usage
major=$1
shift
case $major in
	15) suite=bookworm ;;
	17) suite=trixie ;;
	18) suite=sid ;;
	*) die "no Debian suite known for PostgreSQL $major (known: 15, 17, 18)" ;;
esac
suite=${AME_CHROOT_SUITE:-$suite}
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot and mount need it)"

tree=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
self=$tree/scripts/pg-chroot.sh
cache=${AME_CHROOT_CACHE:-/var/tmp/ame-chroot}
name=$suite-pg$major
base_kind=${AME_CHROOT_BASE:-}
case $base_kind in
	'') ;;
	clean) name=$name-clean ;;
	*) die "AME_CHROOT_BASE=$base_kind: only 'clean' is known" ;;
esac
base=$cache/$name

# Re-run this script in a private mount namespace: the mounts made below then
# vanish with the process, whatever way it ends.
if [ "${AME_CHROOT_NS:-}" != "$$" ]; then
	command -v unshare >/dev/null || die "unshare (util-linux) is missing"
	export AME_CHROOT_NS=$$		# exec keeps the pid, so the check above holds
	# Private propagation needs "/" to be a mount point; inside a chroot
	# (a fresh-machine test runs this very script in one) it is not, and
	# the mounts below are then made with propagation unchanged: the trap
	# still removes every one of them.
	propagation=private
	unshare --mount --propagation private true 2>/dev/null || propagation=unchanged
	exec unshare --mount --propagation "$propagation" bash "$self" "$major" "$@"
fi

# The machine's own Debian mirror: the first URI of a non-security "deb"
# source, from deb822 files (sources.list.d/*.sources) or one-line
# sources.list files.
host_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
			{
				types = ""; uris = ""; suites = ""
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^Types:/) types = $i
					else if ($i ~ /^URIs:/) uris = $i
					else if ($i ~ /^Suites:/) suites = $i
				}
				if (types ~ /[ \t]deb([ \t]|$)/ && suites !~ /-security/ &&
					uris !~ /security/ && split(uris, u, /[ \t]+/) >= 2) {
					print u[2]; exit
				}
			}' "$f")
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk '$1 == "deb" && $0 !~ /security/ {
				for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit }
			}' "$f")
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	return 1
}

# The machine's Debian security mirror (the first "deb" URI naming
# security), for a clean base of a stable suite; nothing when there is none.
host_security_mirror() {
	awk 'BEGIN { RS = ""; FS = "\n" }
		FILENAME ~ /\.sources$/ {
			for (i = 1; i <= NF; i++)
				if ($i ~ /^URIs:/ && $i ~ /security/) { split($i, u, /[ \t]+/); print u[2]; exit }
			next
		}
		{
			n = split($0, l, "\n")
			for (j = 1; j <= n; j++) {
				split(l[j], f, /[ \t]+/)
				if (f[1] == "deb" && l[j] ~ /security/)
					for (i = 2; i in f; i++) if (f[i] ~ /^[a-z+]+:\/\//) { print f[i]; exit }
			}
		}' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
}

# The packages the project needs on this major (without the fuzz test's
# clang and report.html's chromium and npm: the fuzz test and test/report.t
# run once, on the host).
packages() {
	if [ "$base_kind" = clean ]; then
		echo "postgresql-$major"
		return
	fi
	PG_MAJOR=$major AME_FUZZ=0 AME_REPORT=0 bash "$tree/scripts/setup.sh" --packages
}

# Mount what package scripts and PostgreSQL need inside a chroot at $1.
mount_system() {
	local root=$1
	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	mount --rbind /dev "$root/dev"
	mounted+=("$root/dev" "$root/sys" "$root/proc")
}

# Unmount everything this script mounted (most recent first) and remove its
# scratch directories; installed as the EXIT trap.
mounted=()
scratch=()
unmount_all() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -R "${mounted[i]}" 2>/dev/null || umount -lR "${mounted[i]}" 2>/dev/null || true
	done
	mounted=()
}
cleanup() {
	local i
	unmount_all
	for i in "${scratch[@]}"; do
		# never delete through a mount that is still there (the project
		# tree's bind mount is on the same file system, which
		# --one-file-system alone would not notice)
		if awk -v d="$i" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' \
			/proc/self/mountinfo; then
			log "not removing $i: something is still mounted under it"
			continue
		fi
		rm -rf --one-file-system "$i"
	done
	scratch=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Run a command in the chroot at $1 with a clean environment.
in_chroot() {
	local root=$1
	shift
	chroot "$root" /usr/bin/env -i \
		HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# Build the base into a scratch directory next to it and rename it into
# place only when complete, so an interrupted build leaves no half-finished
# base behind (the next run removes the scratch and starts over).  A stamp
# records the suite, mirror and package list; if any changes, the base is
# rebuilt.
build_base() {
	local mirror stamp tmp start security apt_opts=()
	local -a pkgs
	mirror=${AME_CHROOT_MIRROR:-$(host_mirror)} || die "no Debian mirror found in /etc/apt/sources*"
	mapfile -t pkgs < <(packages)
	[ ${#pkgs[@]} -gt 0 ] || die "scripts/setup.sh --packages listed nothing"
	stamp="suite=$suite mirror=$mirror packages=${pkgs[*]}"
	[ "$base_kind" = clean ] && stamp="$stamp updates+security"

	mkdir -p "$cache"
	exec 9>"$cache/.$name.lock"
	flock 9				# one builder per base; others wait, then reuse it
	if [ -f "$base/.ame-base" ] && [ "$(cat "$base/.ame-base")" = "$stamp" ]; then
		return
	fi

	if ! command -v debootstrap >/dev/null; then
		log "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
			|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } \
			|| die "cannot install debootstrap"
	fi
	[ -e "/usr/share/debootstrap/scripts/$suite" ] \
		|| die "this debootstrap does not know the suite $suite"

	start=$SECONDS
	rm -rf --one-file-system "$cache/.$name.build"
	tmp=$cache/.$name.build
	scratch+=("$tmp")
	log "building $name from $mirror (once; cached in $base)"
	# minbase: apt and dpkg only; the packages come with apt below, which
	# resolves dependencies properly.  debootstrap verifies the Release
	# file's signature but not its Valid-Until, so sid's stale Release needs
	# no workaround here (only apt, below, checks it).
	debootstrap --variant=minbase --components=main "$suite" "$tmp" "$mirror" \
		>"$cache/.$name.debootstrap.log" 2>&1 \
		|| { tail -30 "$cache/.$name.debootstrap.log" >&2; die "debootstrap of $suite failed (log: $cache/.$name.debootstrap.log)"; }
	log "debootstrap done in $((SECONDS - start)) s"

	# apt inside: our mirror, no recommends, no translations.  sid's Release
	# file on this kind of mirror is past its Valid-Until (sid is not
	# re-signed as often as the mirror is snapshotted); only there is that
	# check switched off -- the signature is still verified.
	echo "deb $mirror $suite main" >"$tmp/etc/apt/sources.list"
	# a clean base is a user's system: a stable suite gets its updates and
	# security fixes, as an installed Debian has them (a package built
	# against the security release's server needs that server)
	if [ "$base_kind" = clean ] && [ "$suite" != sid ]; then
		echo "deb $mirror $suite-updates main" >>"$tmp/etc/apt/sources.list"
		security=$(host_security_mirror)
		[ -n "$security" ] && echo "deb $security $suite-security main" >>"$tmp/etc/apt/sources.list"
	fi
	{
		echo 'APT::Install-Recommends "false";'
		echo 'Acquire::Languages "none";'
	} >"$tmp/etc/apt/apt.conf.d/90ame"
	if [ "$suite" = sid ]; then
		echo 'Acquire::Check-Valid-Until "false";' >>"$tmp/etc/apt/apt.conf.d/90ame"
		apt_opts=(-o Acquire::Check-Valid-Until=false)
	fi
	# no service may start inside the chroot while packages configure
	printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
	chmod 755 "$tmp/usr/sbin/policy-rc.d"
	cp /etc/resolv.conf "$tmp/etc/resolv.conf"

	# postgresql-common's scripts need /proc and /dev: mount them first
	mount_system "$tmp"
	in_chroot "$tmp" apt-get "${apt_opts[@]}" update -qq \
		|| die "apt-get update failed in $name"
	# postgresql-common first, told not to create a "main" cluster (the tests
	# make their own with pg_virtualenv)
	in_chroot "$tmp" apt-get "${apt_opts[@]}" install -y -qq postgresql-common >/dev/null \
		|| die "installing postgresql-common failed in $name"
	sed -i 's/^#\?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
		"$tmp/etc/postgresql-common/createcluster.conf"
	in_chroot "$tmp" apt-get "${apt_opts[@]}" install -y -qq "${pkgs[@]}" >/dev/null \
		|| die "installing ${pkgs[*]} failed in $name"
	in_chroot "$tmp" apt-get clean
	unmount_all			# before the rename
	scratch=()

	echo "$stamp" >"$tmp/.ame-base"
	rm -rf --one-file-system "$base.old"
	[ -d "$base" ] && mv "$base" "$base.old"
	mv "$tmp" "$base"
	rm -rf --one-file-system "$base.old"
	log "built $name in $((SECONDS - start)) s"
}

build_base
[ "$1" = --build ] && exit 0
flock -s 9			# keep the base from being rebuilt while it is in use

# A throwaway overlay of the base, the system mounts, and the project tree.
# Overlays left by a run that was killed (its pid is gone) are removed first.
for d in "$cache"/.run-"$name".*; do
	[ -d "$d" ] || continue
	kill -0 "${d##*.}" 2>/dev/null || rm -rf --one-file-system "$d"
done
run=$cache/.run-$name.$$
scratch+=("$run")
mkdir -p "$run/upper" "$run/work" "$run/root"
mount -t overlay overlay \
	-o "lowerdir=$base,upperdir=$run/upper,workdir=$run/work" "$run/root"
mounted+=("$run/root")
root=$run/root
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount_system "$root"		# /dev recursively, so /dev/pts and /dev/shm too
mkdir -p "$root$tree"
mount --bind "$tree" "$root$tree"
mounted+=("$root$tree")

cwd=$(pwd -P)
case $cwd/ in
	"$tree"/*) ;;
	*) cwd=$tree ;;
esac
# AME_FUZZ=0, AME_REPORT=0: the base has no libFuzzer, chromium or npm
# (scripts/setup.sh leaves them out)
env_pass=(PG_MAJOR="$major" AME_CHROOT="$major" AME_FUZZ=0 AME_REPORT=0)
[ -n "${TERM:-}" ] && env_pass+=(TERM="$TERM")
for k in $(compgen -e); do
	case $k in
		AME_CHROOT* | AME_FUZZ | AME_REPORT) ;;	# this script's own settings
		AME_*) env_pass+=("$k=${!k}") ;;
	esac
done

# Not exec: the trap must unmount and remove the overlay afterwards.
rc=0
in_chroot "$root" "${env_pass[@]}" sh -c 'cd "$0" && exec "$@"' "$cwd" "$@" 9>&- || rc=$?
exit $rc
