#!/usr/bin/env bash
# test/upgrade/run.sh DIR PORT: the update chain on a running cluster.  Installs the oldest
# release, writes data through its API (seed.sql), updates to the current version, and checks
# that the result is the same extension as a fresh install (catalog.sql, compared with diff),
# that the old data still works (verify.sql) and that the pgTAP suites pass on it.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
DIR=$1 PORT=$2
OLDEST=0.1.0
VERSION=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" flov7.control)
UP=flov7_upgrade FRESH=flov7_fresh
OUT=$DIR/upgrade
mkdir -p "$OUT"
rc=0

q() { pg_psql "$DIR" "$PORT" "$@"; }
q postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $UP" -c "DROP DATABASE IF EXISTS $FRESH" \
	-c "CREATE DATABASE $UP" -c "CREATE DATABASE $FRESH" || exit 1
q $FRESH -c "SET client_min_messages = warning; CREATE EXTENSION flov7 CASCADE" || exit 1
q $UP -c "SET client_min_messages = warning; CREATE EXTENSION flov7 VERSION '$OLDEST' CASCADE" || exit 1
q $UP -f test/upgrade/seed.sql >"$OUT/seed.log" || { cat "$OUT/seed.log" >&2; exit 1; }
q $UP -c "ALTER EXTENSION flov7 UPDATE" || exit 1
echo "upgrade: $OLDEST -> $(q $UP -Atc "SELECT extversion FROM pg_extension WHERE extname = 'flov7'") with data"

q $UP -f test/upgrade/catalog.sql >"$OUT/updated.catalog" &&
	q $FRESH -f test/upgrade/catalog.sql >"$OUT/fresh.catalog" || exit 1
if diff -u "$OUT/fresh.catalog" "$OUT/updated.catalog" >"$OUT/catalog.diff"; then
	echo "upgrade: catalog of the updated install = fresh install ($(wc -l <"$OUT/fresh.catalog") facts)"
else
	echo "upgrade: the updated install differs from a fresh $VERSION install (- fresh, + updated):" >&2
	head -60 "$OUT/catalog.diff" >&2
	rc=1
fi

q $UP -c "CREATE EXTENSION pgtap" || exit 1
PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=$UP PGOPTIONS="-c flov7_test.version=$VERSION" \
	pg_prove test/upgrade/verify.sql || rc=1
PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=$UP pg_prove --ext .sql -r test/sql || rc=1
q postgres -c "DROP DATABASE $UP" -c "DROP DATABASE $FRESH" >/dev/null || true
exit $rc
