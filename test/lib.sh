# Shell helpers shared by `make run` (test/pgcluster.sh), `make test` (test/run.sh) and `make bench`:
# a private PostgreSQL 15 cluster owned by the postgres OS user (initdb refuses root), reached only
# through a Unix socket in its own directory, never Debian's `main` cluster.

PGBIN=${PGBIN:-$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}

# as_pg runs a command as the cluster's owner: postgres when we are root, ourselves otherwise.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_owned_dir makes DIR (created if needed) owned by the cluster's owner.
pg_owned_dir() {
	mkdir -p "$1"
	if [[ $(id -u) -eq 0 ]]; then chown postgres: "$1"; fi
	chmod 700 "$1"
}

# pg_reachable tells whether the cluster owner can reach into DIR (a clone under /root cannot).
pg_reachable() {
	as_pg test -x "$1" 2>/dev/null
}

# pg_credentials_key DIR: a credentials key in DIR/credentials.key (mode 0600, the cluster owner's)
# and flov7.credentials_key_file naming it in DIR/data/postgresql.conf, unless it is there already.
pg_credentials_key() {
	local dir=$1
	if ! as_pg test -s "$dir/credentials.key"; then
		(umask 077 && random_token 32 | as_pg tee "$dir/credentials.key" >/dev/null)
	fi
	if ! as_pg grep -q '^flov7.credentials_key_file' "$dir/data/postgresql.conf"; then
		echo "flov7.credentials_key_file = '$dir/credentials.key'" | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
	fi
}

# pg_init DIR PORT [DB]: a new cluster in DIR/data with its socket in DIR, superuser `postgres` by
# trust on the socket only, every other role by SCRAM password; flov7 preloaded for its background
# workers, which run the executions of database DB (flov7.database_name; default postgres); the
# credentials key in DIR/credentials.key.
pg_init() {
	local dir=$1 port=$2 db=${3:-postgres}
	pg_owned_dir "$dir"
	as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=reject \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; return 1; }
	as_pg tee "$dir/data/pg_hba.conf" >/dev/null <<HBA
# flov7 private cluster: the socket directory is mode 0700; only the superuser gets trust.
local all postgres trust
local all all scram-sha-256
HBA
	as_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
# flov7 private cluster
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
shared_preload_libraries = 'flov7'
flov7.database_name = '$db'
flov7.worker_count = 2
log_min_messages = warning
log_min_error_statement = panic
CONF
	pg_credentials_key "$dir"
}

# pg_start DIR PORT: start the cluster in DIR and wait until it accepts connections.
pg_start() {
	local dir=$1 port=$2
	if as_pg "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then return 0; fi
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
		{ tail -20 "$dir/postgres.log" >&2; return 1; }
}

# pg_stop DIR: fast shutdown, quiet when not running.
pg_stop() {
	local dir=$1
	[[ -d "$dir/data" ]] || return 0
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# pg_psql DIR PORT DB [psql args...]: psql as superuser, stop at the first error.
pg_psql() {
	local dir=$1 port=$2 db=$3
	shift 3
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$db" "$@"
}

# flov7_setup_db DIR PORT DB AUTH_PASSWORD JWT_SECRET: create DB with the extension, let the
# authenticator log in with AUTH_PASSWORD, and share the JWT secret with the extension.
flov7_setup_db() {
	local dir=$1 port=$2 db=$3 pw=$4 secret=$5
	pg_psql "$dir" "$port" postgres -c "CREATE DATABASE $db" 2>/dev/null || true
	pg_psql "$dir" "$port" "$db" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS flov7 CASCADE;
ALTER ROLE flov7_authenticator LOGIN PASSWORD '$pw';
SELECT flov7.set_jwt_secret('$secret');
SQL
}

# fault_tests DIR AUTH_URI BIN BASETEMP: the fault suite (test/fault) against the frontd binary BIN on
# the cluster in DIR, which its tests restart, stop and start through pg_ctl as the cluster's owner.
fault_tests() {
	local ctl=
	if [[ $(id -u) -eq 0 ]]; then ctl="runuser -u postgres -- "; fi
	ctl+="$PGBIN/pg_ctl -D $1/data -l $1/postgres.log -w -t 60"
	FLOV7_AUTH_URI=$2 FLOV7_FRONTD_BIN=$3 FLOV7_PG_RESTART="$ctl -m fast restart" \
		FLOV7_PG_STOP="$ctl -m fast stop" FLOV7_PG_START="$ctl start" \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider --basetemp="$4" test/fault
}

# auth_uri DIR PORT DB PASSWORD: the conninfo frontd uses, as flov7_authenticator on the socket.
auth_uri() {
	echo "host=$1 port=$2 dbname=$3 user=flov7_authenticator password=$4"
}

# random_token N: N random bytes as hex.
random_token() {
	od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# wait_http URL [SECONDS]: wait until URL answers 200.
wait_http() {
	local url=$1 t=${2:-30} i
	for ((i = 0; i < t * 10; i++)); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}
