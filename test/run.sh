#!/usr/bin/env bash
# `make test`: every suite against a throwaway cluster and frontd; exits non-zero on any failure.
#   1. META.json against flov7.control; frontd's formatting; C unit tests of frontd's pure logic;
#      every fuzz target (test/fuzz) for FLOV7_FUZZ_SECONDS (10) each
#   2. pgTAP suites (pg_prove) against the extension; the update chain from the oldest release;
#      the README's install steps on a fresh cluster (test/install), make run as a user with sudo
#   3. black-box HTTP tests against frontd, three times: plain, under ASan+UBSan, under valgrind
#   4. fault tests (test/fault: refusals, PostgreSQL restarts and outages, killed backends, signals,
#      limits), plain and ASan+UBSan
# Everything it starts is stopped on exit, also on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/lib.sh

PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/flov7-test.XXXXXX)
chmod 755 "$WORK"
PGDIR=$WORK/pg
PGPORT=${FLOV7_TEST_PGPORT:-$((20000 + RANDOM % 20000))}
HTTPPORT=${FLOV7_TEST_HTTPPORT:-$((40000 + RANDOM % 20000))}
DB=flov7_test
AUTH_PW=$(random_token 16)
SECRET=$(random_token 32)
AUTH_URI=$(auth_uri "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW")
FRONTD_PID=
FAILED=()

cleanup() {
	stop_frontd
	pg_stop "$PGDIR"
	if [[ ${#FAILED[@]} -eq 0 ]]; then rm -rf "$WORK"; else echo "test: logs kept in $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n=== %s\n' "$*"; }
fail() { FAILED+=("$1"); echo "FAILED: $1" >&2; }

export FLOV7_URL=http://127.0.0.1:$HTTPPORT FLOV7_HOST=127.0.0.1 FLOV7_PORT=$HTTPPORT
export FLOV7_PGURI="host=$PGDIR port=$PGPORT dbname=$DB user=postgres"
export FLOV7_JWT_SECRET=$SECRET
# for the HTTP tests that start a frontd of their own (test_rate_limit.py): how to reach the
# database as the authenticator; http_suite sets FLOV7_FRONTD_CMD (the binary and its wrapper)
export FLOV7_AUTH_URI=$AUTH_URI
export FLOV7_ADMIN_EMAIL=admin@flov7.test FLOV7_ADMIN_PASSWORD=$(random_token 12)
export FLOV7_MAX_HEADER_BYTES=8192 FLOV7_MAX_BODY_BYTES=1048576 FLOV7_HEADER_TIMEOUT=2

# start_frontd LABEL CMD...: run frontd (wrapped by CMD, e.g. valgrind) on HTTPPORT and wait for
# /ready (200 once a database connection is up; /health answers before that).
start_frontd() {
	local label=$1
	shift
	FLOV7_DB_URI=$AUTH_URI \
		FLOV7_LISTEN=127.0.0.1:$HTTPPORT FLOV7_CORS_ORIGINS=http://allowed.example \
		FLOV7_POOL_SIZE=4 \
		"$@" >"$WORK/frontd-$label.log" 2>&1 &
	FRONTD_PID=$!
	if ! wait_http "$FLOV7_URL/ready" 120; then
		echo "frontd ($label) did not start:" >&2
		tail -30 "$WORK/frontd-$label.log" >&2
		return 1
	fi
}

# stop_frontd: SIGTERM (graceful drain) and wait; returns frontd's exit status.
stop_frontd() {
	local rc=0
	if [[ -n "$FRONTD_PID" ]]; then
		kill -TERM "$FRONTD_PID" 2>/dev/null
		wait "$FRONTD_PID" || rc=$?
		FRONTD_PID=
	fi
	return $rc
}

# http_suite LABEL CMD...: the black-box suite against frontd started under CMD.
http_suite() {
	local label=$1
	shift
	step "HTTP suite ($label)"
	if ! start_frontd "$label" "$@"; then fail "frontd start ($label)"; return; fi
	FLOV7_FRONTD_CMD="$*" "$PY" -m pytest -q -p no:cacheprovider --basetemp="$WORK/http-$label" \
		test/http || fail "http ($label)"
	stop_frontd || fail "frontd exit status ($label)"
}

step "metadata"
# META.json must be valid JSON, follow PGXN's required keys, and carry flov7.control's version.
"$PY" - <<'PY' || fail metadata
import json, re, sys
meta = json.load(open("META.json"))
control = re.search(r"^default_version\s*=\s*'([^']+)'", open("flov7.control").read(), re.M).group(1)
missing = [k for k in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec") if k not in meta]
assert not missing, "META.json lacks %s" % missing
assert meta["version"] == control == meta["provides"]["flov7"]["version"], (meta["version"], control)
print("metadata: flov7 %s, META.json matches flov7.control" % control)
PY

step "frontd formatting (clang-format)"
make -s -C frontd format-check && echo "format: frontd is clang-format clean" || fail format

step "C unit tests"
make -s -C frontd unit || fail unit

step "fuzz targets (${FLOV7_FUZZ_SECONDS:-10} s each; make fuzz runs them longer)"
make -s -C test/fuzz run FUZZ_SECONDS="${FLOV7_FUZZ_SECONDS:-10}" || fail fuzz

step "cluster"
pg_init "$PGDIR" "$PGPORT" "$DB" && pg_start "$PGDIR" "$PGPORT" &&
	pg_psql "$PGDIR" "$PGPORT" postgres -c "CREATE DATABASE $DB" &&
	pg_psql "$PGDIR" "$PGPORT" "$DB" -c "CREATE EXTENSION pgtap; CREATE EXTENSION flov7 CASCADE;" ||
	{ fail cluster; exit 1; }

step "pgTAP"
PGHOST=$PGDIR PGPORT=$PGPORT PGUSER=postgres PGDATABASE=$DB \
	pg_prove --ext .sql -r test/sql || fail pgtap

step "upgrade chain (oldest release with data -> current, compared with a fresh install)"
bash test/upgrade/run.sh "$PGDIR" "$PGPORT" || fail upgrade

step "install: README \"Install into your own PostgreSQL\" on a fresh cluster; make run as a user with sudo"
bash test/install/run.sh || fail install
bash test/install/nonroot.sh || fail "make run as a user with sudo"

step "frontd database setup"
flov7_setup_db "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW" "$SECRET" >/dev/null &&
	pg_psql "$PGDIR" "$PGPORT" "$DB" -c \
		"SELECT flov7.create_admin('$FLOV7_ADMIN_EMAIL', '$FLOV7_ADMIN_PASSWORD', 'Test Admin')" >/dev/null ||
	{ fail "db setup"; exit 1; }

http_suite plain frontd/frontd

# fault_suite BIN: frontd's lifecycle (refusals, PostgreSQL restarts and outages, killed backends,
# signals, limits), own processes.  The tests stop and start the cluster themselves.
fault_suite() {
	step "fault suite ($1)"
	fault_tests "$PGDIR" "$AUTH_URI" "$1" "$WORK/fault-$(basename "$1")" || fail "fault ($1)"
}
fault_suite frontd/frontd

step "build frontd with AddressSanitizer + UBSan"
if make -s -C frontd asan; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		http_suite asan frontd/frontd-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		fault_suite frontd/frontd-asan
	if grep -rqE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$WORK/frontd-asan.log" "$WORK/fault-frontd-asan" "$WORK/http-asan"; then
		grep -rE -A20 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$WORK/frontd-asan.log" "$WORK/fault-frontd-asan" "$WORK/http-asan" | head -60 >&2
		fail "sanitizer report"
	fi
else
	fail "asan build"
fi

if [[ "${FLOV7_SKIP_VALGRIND:-}" != 1 ]]; then
	http_suite valgrind valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=33 frontd/frontd
fi

echo
if [[ ${#FAILED[@]} -gt 0 ]]; then
	echo "test: FAILED: ${FAILED[*]}"
	exit 1
fi
echo "test: all suites passed"
