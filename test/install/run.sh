#!/usr/bin/env bash
# test/install/run.sh: README "Install into your own PostgreSQL", followed on a fresh cluster.
# Every shell block of README.md preceded by the line `<!-- install-test -->` runs, in order, in
# one bash (so AUTH_PW and JWT_SECRET carry from block to block), with this test's paths and
# ports in place of Debian's (sed below), and with `systemctl` and `runuser -u postgres` played by
# shell functions: a restart of PostgreSQL is pg_ctl restart, `enable --now flov7-frontd` starts
# the ExecStart of the unit the blocks installed, with its EnvironmentFile, as a user of its own
# (nobody, for DynamicUser; no new privileges, for NoNewPrivileges). Then frontd must answer /ready, log the administrator in and store
# an integration's credentials (sealed with the key file the blocks wrote). The unit is checked
# with systemd-analyze verify where systemd-analyze exists. Build and `make install` are the
# README's step 1, done by `make test` before it calls this.
# Needs root (the steps chown files to postgres, as on a server); skipped otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. test/lib.sh

if [[ $(id -u) -ne 0 ]]; then
	echo "install: skipped: the README's steps run as root (they chown files to postgres)"
	exit 0
fi

WORK=$(mktemp -d /tmp/flov7-install.XXXXXX)
chmod 755 "$WORK"
PGDIR=$WORK/pg
PGPORT=$((20000 + RANDOM % 20000))
HTTPPORT=$((40000 + RANDOM % 20000))
OK=0

cleanup() {
	if [[ -f $WORK/frontd.pid ]]; then
		kill -TERM "$(cat "$WORK/frontd.pid")" 2>/dev/null || true
	fi
	pg_stop "$PGDIR"
	if [[ $OK == 1 ]]; then rm -rf "$WORK"; else echo "install: logs kept in $WORK" >&2; fi
}
trap cleanup EXIT

# A fresh cluster, as a package makes one: nothing of flov7 in it. TCP on 127.0.0.1 is refused
# to everyone until the README's pg_hba.conf line lets frontd in.
pg_owned_dir "$PGDIR"
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth-local=trust --auth-host=reject \
	-E UTF8 --locale=C.UTF-8 --no-sync >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
as_pg tee -a "$PGDIR/data/postgresql.conf" >/dev/null <<CONF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGDIR'
fsync = off
CONF
pg_start "$PGDIR" "$PGPORT"
mkdir -p "$WORK/etc" "$WORK/systemd"

# The marked blocks, with this test's places.
awk '/^<!-- install-test -->$/ { want = 1; next }
	want && /^```sh$/ { inblock = 1; want = 0; n++; print "echo \"install: README block " n "\""; next }
	inblock && /^```$/ { inblock = 0; next }
	inblock { print }' README.md |
	sed -e "s|/etc/postgresql/15/main|$PGDIR/data|g" \
		-e "s|/etc/postgresql/flov7-credentials.key|$WORK/etc/flov7-credentials.key|g" \
		-e "s|/etc/flov7/|$WORK/etc/flov7/|g" -e "s|/etc/flov7\$|$WORK/etc/flov7|" \
		-e "s|/etc/systemd/system|$WORK/systemd|g" \
		-e "s|port=5432|port=$PGPORT|g" \
		-e "s|127.0.0.1:8000|127.0.0.1:$HTTPPORT|g" >"$WORK/blocks.sh"
blocks=$(grep -c '^echo "install: README block' "$WORK/blocks.sh" || true)
if [[ $blocks -lt 4 ]]; then
	echo "install: README.md has $blocks blocks marked <!-- install-test --> (expected the 4 or more of its install section)" >&2
	exit 1
fi

cat >"$WORK/steps.sh" <<PRE
set -euo pipefail
cd "$ROOT"
PGBIN='$PGBIN' PGDIR='$PGDIR' PGPORT='$PGPORT' WORK='$WORK' ROOT='$ROOT' HTTPPORT='$HTTPPORT'
. test/lib.sh
PRE
cat >>"$WORK/steps.sh" <<'PRE'
# psql as the cluster's superuser on its socket (Debian's peer authentication, played by trust)
psql() { command runuser -u postgres -- "$PGBIN/psql" -h "$PGDIR" -p "$PGPORT" "$@"; }
# `runuser -u postgres -- CMD`: CMD here is psql, which the function above runs as postgres
runuser() {
	if [[ ${1:-} == -u && ${3:-} == -- ]]; then shift 3; fi
	"$@"
}
# systemctl, for the units the README names
systemctl() {
	case "$*" in
	"restart postgresql@15-main")
		command runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -w -t 60 restart >/dev/null ;;
	"daemon-reload") ;;
	"enable --now flov7-frontd") start_unit "$WORK/systemd/flov7-frontd.service" ;;
	*) echo "install: the test does not play: systemctl $*" >&2; return 1 ;;
	esac
}
# start_unit UNIT: its ExecStart (frontd as built here) with its EnvironmentFile, as nobody; wait for /ready
start_unit() {
	local unit=$1 envfile exec
	envfile=$(sed -n 's/^EnvironmentFile=//p' "$unit")
	exec=$(sed -n 's/^ExecStart=//p' "$unit")
	[[ $exec == /usr/local/bin/flov7-frontd ]] || { echo "install: unexpected ExecStart $exec" >&2; return 1; }
	envfile=${envfile//\/etc\/flov7/$WORK/etc/flov7}
	[[ $(stat -c '%U %a' "$envfile") == "root 600" ]] ||
		{ echo "install: $envfile is $(stat -c '%U %a' "$envfile"), not root's with mode 0600" >&2; return 1; }
	(set -a && . "$envfile" && set +a && exec setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- "$ROOT/frontd/frontd") \
		>"$WORK/frontd.log" 2>&1 &
	echo $! >"$WORK/frontd.pid"
	wait_http "http://127.0.0.1:$HTTPPORT/ready" 30 ||
		{ echo "install: frontd did not become ready" >&2; tail -20 "$WORK/frontd.log" >&2; return 1; }
}
PRE
cat "$WORK/blocks.sh" >>"$WORK/steps.sh"

echo "install: running $blocks blocks of README.md \"Install into your own PostgreSQL\""
if ! bash "$WORK/steps.sh" >"$WORK/steps.log" 2>&1; then
	echo "install: the README's steps failed:" >&2
	tail -30 "$WORK/steps.log" >&2
	exit 1
fi
grep '^install: README block' "$WORK/steps.log"

# What the steps must have made.
fail() { echo "install: FAILED: $*" >&2; exit 1; }
[[ $(stat -c '%U %a' "$WORK/etc/flov7-credentials.key") == "postgres 600" ]] || fail "the key file is not postgres's with mode 0600"
grep -q '"access_token"' "$WORK/steps.log" || fail "the README's login did not answer a token"
URL=http://127.0.0.1:$HTTPPORT/api/v1
token=$(curl -fsS "$URL/auth/login" -d '{"email":"admin@example.com","password":"a long secret"}' |
	/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') || fail "login"
status=$(curl -s -o "$WORK/integration.json" -w '%{http_code}' "$URL/users/integrations" -H "Authorization: Bearer $token" \
	-d '{"service_name":"github","service_type":"api_key","credentials":{"token":"ghp_install"}}')
[[ $status == 201 ]] || fail "storing an integration's credentials: $status $(cat "$WORK/integration.json")"
sealed=$(as_pg "$PGBIN/psql" -X -Atq -h "$PGDIR" -p "$PGPORT" -d mydb -c \
	"SELECT flov7.credentials_key_id(credentials_encrypted) = flov7.credentials_current_key_id()
	   AND flov7.credentials_decrypt(credentials_encrypted) ->> 'token' = 'ghp_install' FROM flov7.user_integrations")
[[ $sealed == t ]] || fail "the credentials are not sealed with the key file's key"
# the workers started before `mydb` existed retry every 10 s (README "Run workflows")
for _ in $(seq 300); do
	workers=$(as_pg "$PGBIN/psql" -X -Atq -h "$PGDIR" -p "$PGPORT" -d mydb -c \
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'flov7%' AND datname = 'mydb'")
	[[ $workers -ge 2 ]] && break
	sleep 0.1
done
[[ $workers -ge 2 ]] || fail "expected the 2 background workers of flov7.worker_count in mydb, found $workers"
echo "install: frontd (as nobody, from the unit) ready; login, credentials sealed with the key file, $workers workers"

if command -v systemd-analyze >/dev/null 2>&1; then
	sed -e "s|^ExecStart=.*|ExecStart=$ROOT/frontd/frontd|" \
		-e "s|^EnvironmentFile=.*|EnvironmentFile=$WORK/etc/flov7/frontd.env|" \
		deploy/flov7-frontd.service >"$WORK/flov7-frontd.service"
	if ! systemd-analyze verify "$WORK/flov7-frontd.service" >"$WORK/verify.log" 2>&1 || [[ -s $WORK/verify.log ]]; then
		cat "$WORK/verify.log" >&2
		fail "systemd-analyze verify deploy/flov7-frontd.service"
	fi
	echo "install: systemd-analyze verify deploy/flov7-frontd.service: clean"
else
	echo "install: systemd-analyze is not installed here: the unit file was not verified"
fi
OK=1
