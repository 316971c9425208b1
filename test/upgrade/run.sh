#!/usr/bin/env bash
# test/upgrade/run.sh DIR PORT: the update chain on a running cluster.  For every frozen
# release (sql/flov7--X.Y.Z.sql other than the current version's, built from the parts): install
# it, write data through its API (seed.sql), update to the current version, and check that the
# result is the same extension as a fresh install (catalog.sql, compared with diff) and that the
# old data still works (verify.sql).  The pgTAP suites also run on the install updated from the
# oldest release, with the authorizer's cross-transaction cache off.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
DIR=$1 PORT=$2
VERSION=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" flov7.control)
RELEASES=$(ls sql/flov7--*.sql | sed -n 's|^sql/flov7--\([0-9][0-9.]*[0-9]\)\.sql$|\1|p' | grep -vx "$VERSION" | sort -V)
OLDEST=$(head -1 <<<"$RELEASES")
FRESH=flov7_fresh
OUT=$DIR/upgrade
mkdir -p "$OUT"
rc=0

q() { pg_psql "$DIR" "$PORT" "$@"; }
q postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $FRESH" -c "CREATE DATABASE $FRESH" || exit 1
q $FRESH -c "SET client_min_messages = warning; CREATE EXTENSION flov7 CASCADE" || exit 1
q $FRESH -f test/upgrade/catalog.sql >"$OUT/fresh.catalog" || exit 1

for from in $RELEASES; do
	up=flov7_upgrade_${from//./_}
	q postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $up" -c "CREATE DATABASE $up" || exit 1
	q $up -c "SET client_min_messages = warning; CREATE EXTENSION flov7 VERSION '$from' CASCADE" || exit 1
	q $up -f test/upgrade/seed.sql >"$OUT/seed-$from.log" || { cat "$OUT/seed-$from.log" >&2; exit 1; }
	q $up -c "ALTER EXTENSION flov7 UPDATE" || { rc=1; continue; }
	echo "upgrade: $from -> $(q $up -Atc "SELECT extversion FROM pg_extension WHERE extname = 'flov7'") with data"
	q $up -f test/upgrade/catalog.sql >"$OUT/updated-$from.catalog" || exit 1
	if diff -u "$OUT/fresh.catalog" "$OUT/updated-$from.catalog" >"$OUT/catalog-$from.diff"; then
		echo "upgrade: catalog updated from $from = fresh install ($(wc -l <"$OUT/fresh.catalog") facts)"
	else
		echo "upgrade: the install updated from $from differs from a fresh $VERSION install (- fresh, + updated):" >&2
		head -60 "$OUT/catalog-$from.diff" >&2
		rc=1
	fi
	q $up -c "CREATE EXTENSION pgtap" || exit 1
	PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=$up PGOPTIONS="-c flov7_test.version=$VERSION" \
		pg_prove test/upgrade/verify.sql || rc=1
	if [[ $from == "$OLDEST" ]]; then
		# ... with the authorizer's cross-transaction cache off, as without shared_preload_libraries
		PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=$up PGOPTIONS="-c flov7.authz_cache_size=0" \
			pg_prove --ext .sql -r test/sql || rc=1
	fi
	q postgres -c "DROP DATABASE $up" >/dev/null || true
done
q postgres -c "DROP DATABASE $FRESH" >/dev/null || true
exit $rc
