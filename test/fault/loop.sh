#!/usr/bin/env bash
# test/fault/loop.sh [N] [BIN...]: the fault suite N times (default 20) in a row against each frontd
# binary (default frontd/frontd and frontd/frontd-asan), on one fresh cluster per binary.  A run
# fails on a test failure or a sanitizer report.  Exits non-zero if any run failed.
# `make fault-loop` builds both binaries and runs this; a timing-sensitive change is looped
# before it lands (a test that fails once in twenty runs is a failing test).
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
N=${1:-20}
shift || true
BINS=("$@")
[[ ${#BINS[@]} -gt 0 ]] || BINS=(frontd/frontd frontd/frontd-asan)
WORK=$(mktemp -d /tmp/flov7-loop.XXXXXX)
chmod 755 "$WORK"
PGDIR=
cleanup() { [[ -n "$PGDIR" ]] && pg_stop "$PGDIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
failed=0

for bin in "${BINS[@]}"; do
	tag=$(basename "$bin")
	PGDIR=$WORK/$tag/pg
	PGPORT=$((20000 + RANDOM % 20000))
	DB=flov7_test
	AUTH_PW=$(random_token 16)
	SECRET=$(random_token 32)
	pg_init "$PGDIR" "$PGPORT" "$DB" && pg_start "$PGDIR" "$PGPORT" &&
		flov7_setup_db "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW" "$SECRET" >/dev/null ||
		{ echo "loop: cluster for $tag failed" >&2; exit 1; }
	pass=0
	for ((i = 1; i <= N; i++)); do
		bt=$WORK/$tag/run-$i
		start=$SECONDS
		if FLOV7_PGURI="host=$PGDIR port=$PGPORT dbname=$DB user=postgres" FLOV7_JWT_SECRET=$SECRET \
			ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			fault_tests "$PGDIR" "$(auth_uri "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW")" "$bin" "$bt" >"$bt.log" 2>&1 &&
			! grep -rqE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$bt"; then
			pass=$((pass + 1))
			echo "loop: $tag run $i ok ($((SECONDS - start)) s): $(tail -n 1 "$bt.log")"
		else
			failed=1
			echo "loop: $tag run $i FAILED ($((SECONDS - start)) s), log $bt.log:" >&2
			grep -E '^(FAILED|ERROR)|Error|runtime error' "$bt.log" "$bt" -r | head -20 >&2
		fi
	done
	echo "loop: $tag passed $pass of $N runs in a row on a fresh cluster"
	pg_stop "$PGDIR"
	PGDIR=
done
[[ $failed -eq 0 ]] && rm -rf "$WORK"
exit $failed
