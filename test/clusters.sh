# test/clusters.sh -- sourced by the TAP scripts that need clusters of their
# own (test/plain/standby.t: a primary and a hot standby;
# test/plain/subscriber.t: a publisher and a logical subscriber).  Each
# cluster is made by the major's own initdb in one temporary directory,
# runs as the operating system user postgres (when we are root) on a free
# port with its socket in that directory, and is stopped and removed on
# every exit, failures and signals included.  No wait is unbounded: a poll
# gives up after a deadline, so a stuck replica fails the test instead of
# hanging it.

# our own clusters, not pg_virtualenv's: forget its connection settings
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGSYSCONFDIR
export LANG=C.UTF-8 LC_ALL=C.UTF-8

major=${PG_MAJOR:-$(pg_config --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')}
pgbin=/usr/lib/postgresql/$major/bin
[ -x "$pgbin/initdb" ] || { echo "Bail out! no initdb in $pgbin"; exit 1; }

clusters_tmp=$(mktemp -d /tmp/ame-clusters.XXXXXX)
chmod 755 "$clusters_tmp"
[ "$(id -u)" = 0 ] && chown postgres: "$clusters_tmp"
clusters_started=""

# run a server binary as postgres (initdb and postgres refuse root), from a
# directory that postgres may enter
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

clusters_cleanup() {
	local c
	for c in $clusters_started; do
		as_pg "$pgbin/pg_ctl" -D "$clusters_tmp/$c" -m immediate -w -t 20 stop >/dev/null 2>&1
	done
	rm -rf "$clusters_tmp"
}
trap clusters_cleanup EXIT
trap "exit 1" INT TERM HUP

# bail out, showing the tail of each cluster's server log
bail() {
	local c
	echo "Bail out! $*"
	for c in $clusters_started; do
		echo "# --- server log of $c"
		tail -20 "$clusters_tmp/$c.log" 2>/dev/null | sed 's/^/# /'
	done
	exit 1
}

# a free port: nothing listens on it, no socket file or cluster of ours
# claims it
free_port() {
	local port=$((5500 + $$ % 400))
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
		|| [ -e "/var/run/postgresql/.s.PGSQL.$port" ] \
		|| grep -qx "port = $port" "$clusters_tmp"/*/postgresql.conf 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

# port_of NAME: the port a cluster was made with
port_of() { sed -n 's/^port = //p' "$clusters_tmp/$1/postgresql.conf" | tail -1; }

# cluster_conf NAME SETTING...: append settings to its postgresql.conf
cluster_conf() {
	local c=$1; shift
	printf '%s\n' "$@" >>"$clusters_tmp/$c/postgresql.conf"
}

# cluster_init NAME SETTING...: initdb a new cluster on a free port (trust
# over the socket only; the settings go to its postgresql.conf)
cluster_init() {
	local c=$1; shift
	as_pg "$pgbin/initdb" -A trust -U postgres -E UTF8 --locale=C.UTF-8 -D "$clusters_tmp/$c" \
		>"$clusters_tmp/$c.initdb" 2>&1 || bail "initdb of $c failed: $(tail -3 "$clusters_tmp/$c.initdb")"
	cluster_conf "$c" "listen_addresses = ''" "unix_socket_directories = '$clusters_tmp'" \
		"log_line_prefix = '%m [%p] %e '" "port = $(free_port)" "$@"
}

# cluster_start NAME: start it and wait (at most 30 s) until it accepts
# connections
cluster_start() {
	as_pg "$pgbin/pg_ctl" -D "$clusters_tmp/$1" -l "$clusters_tmp/$1.log" -w -t 30 start >/dev/null \
		|| { clusters_started="$clusters_started $1"; bail "cluster $1 did not start"; }
	clusters_started="$clusters_started $1"
}

# pq NAME DB ARG...: psql on that cluster as postgres, unaligned, tuples only
pq() {
	local c=$1 db=$2; shift 2
	"$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$clusters_tmp" -p "$(port_of "$c")" -U postgres -d "$db" "$@"
}

# wait_until NAME DB SQL [SECONDS]: poll until SQL returns t (default
# deadline 30 s); returns non-zero when the deadline passed
wait_until() {
	local c=$1 db=$2 sql=$3 deadline=$(( $(date +%s) + ${4:-30} ))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		[ "$(pq "$c" "$db" -c "$sql" 2>/dev/null)" = t ] && return 0
		sleep 0.2
	done
	return 1
}

# errors_in_log NAME: the server log's ERROR, FATAL and PANIC lines and any
# crash report, each reduced to "SQLSTATE LEVEL:  message"
errors_in_log() {
	grep -E ' (ERROR|FATAL|PANIC): |terminated by signal|was terminated' "$clusters_tmp/$1.log" \
		| sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //'
}
