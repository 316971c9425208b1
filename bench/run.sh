#!/usr/bin/env bash
# `make bench`, in one run on one throwaway cluster, two tables to paste into bench/RESULTS.md:
#  1. frontd against pgbench on the same pipeline: authenticated GET /api/v1/auth/me and
#     GET /api/v1/users/profile through frontd (wrk, 64 connections) side by side with pgbench calling
#     the same SQL functions with the same claims in the same pipeline frontd sends (64 connections);
#  2. the authenticated path (issue 8): pgbench reading the user's row as a superuser (no RLS, no
#     authorizer), pgbench with frontd's settings and the same read under RLS (the policy calls the C
#     authorizer), pgbench running frontd's whole pipeline for /auth/me, all with BENCH_CLIENTS
#     clients, and frontd serving GET /api/v1/auth/me (wrk, 64 connections); ratios to the raw read.
#   BENCH_SECONDS (20), BENCH_CONNS (64), BENCH_POOL (frontd pool size, 8), BENCH_ROUNDS (2),
#   BENCH_CLIENTS (pgbench clients of table 2, 8), BENCH_TABLES ("pipeline authz": which tables),
#   BENCH_CONF (extra postgresql.conf lines, e.g. "flov7.authz_cache_size = 0")
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/lib.sh

SECS=${BENCH_SECONDS:-20}
CONNS=${BENCH_CONNS:-64}
POOL=${BENCH_POOL:-8}
ROUNDS=${BENCH_ROUNDS:-2}
CLIENTS=${BENCH_CLIENTS:-8}
TABLES=${BENCH_TABLES:-pipeline authz}
WORK=$(mktemp -d /tmp/flov7-bench.XXXXXX)
chmod 755 "$WORK"
PGDIR=$WORK/pg
PGPORT=$((20000 + RANDOM % 20000))
HTTPPORT=$((40000 + RANDOM % 20000))
DB=flov7_bench
AUTH_PW=$(random_token 16)
SECRET=$(random_token 32)
FRONTD_PID=

cleanup() {
	set +e # an exit status here must not end the cleanup before the cluster stops
	[[ -n "$FRONTD_PID" ]] && kill -TERM "$FRONTD_PID" 2>/dev/null && wait "$FRONTD_PID" 2>/dev/null
	pg_stop "$PGDIR"
	rm -rf "$WORK"
}
trap cleanup EXIT

pg_init "$PGDIR" "$PGPORT" "$DB"
[[ -z "${BENCH_CONF:-}" ]] || printf '%s\n' "$BENCH_CONF" | as_pg tee -a "$PGDIR/data/postgresql.conf" >/dev/null
pg_start "$PGDIR" "$PGPORT"
flov7_setup_db "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW" "$SECRET" >/dev/null

# A user, registered through the SQL API as the anonymous role, exactly as frontd would.
EMAIL=bench-$(random_token 4)@flov7.test
TOKEN=$(pg_psql "$PGDIR" "$PGPORT" "$DB" -At -c "SET ROLE flov7_anon" -c \
	"SELECT flov7_api.auth_register(jsonb_build_object('email','$EMAIL','password','bench-password-1','full_name','Bench'))->>'access_token'" | tail -1)
# The claims frontd would verify and pass on: the token's payload.
CLAIMS=$(/usr/bin/python3 -c 'import sys,base64;p=sys.argv[1].split(".")[1];print(base64.urlsafe_b64decode(p+"="*(-len(p)%4)).decode())' "$TOKEN")
USER_ID=$(/usr/bin/python3 -c 'import sys,json;print(json.loads(sys.argv[1])["sub"])' "$CLAIMS")

FLOV7_DB_URI=$(auth_uri "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW") \
	FLOV7_JWT_SECRET=$SECRET FLOV7_LISTEN=127.0.0.1:$HTTPPORT FLOV7_POOL_SIZE=$POOL \
	FLOV7_ACCESS_LOG=off frontd/frontd >"$WORK/frontd.log" 2>&1 &
FRONTD_PID=$!
wait_http "http://127.0.0.1:$HTTPPORT/ready" 30 # pool connected: no connect time in the first run

# pgbench_script FUNCTION: the two statements of CONTRACT.md in one pipeline, claims inlined.
pgbench_script() {
	local q=${CLAIMS//\'/\'\'}
	cat <<SQL
\\startpipeline
SELECT set_config('role', 'flov7_user', true), set_config('request.jwt.claims', '$q', true), set_config('request.headers', '{"user-agent":"pgbench"}', true), set_config('request.method', 'GET', true), set_config('request.path', '/api/v1/x', true), set_config('request.ip', '127.0.0.1', true), set_config('request.id', 'bench', true), set_config('request.api_key', '', true);
SELECT r::text, current_setting('response.status', true), current_setting('response.wait', true) FROM $1(flov7.args('{}'::jsonb, '{}'::jsonb, NULL::text)) r;
\\endpipeline
SQL
}

# rls_script: frontd's settings statement, then the user's row read under RLS (no API function).
rls_script() {
	local q=${CLAIMS//\'/\'\'}
	cat <<SQL
\\startpipeline
SELECT set_config('role', 'flov7_user', true), set_config('request.jwt.claims', '$q', true), set_config('request.headers', '{"user-agent":"pgbench"}', true), set_config('request.method', 'GET', true), set_config('request.path', '/api/v1/x', true), set_config('request.ip', '127.0.0.1', true), set_config('request.id', 'bench', true), set_config('request.api_key', '', true);
SELECT * FROM flov7.users WHERE id = '$USER_ID';
\\endpipeline
SQL
}

# run_pgbench FUNCTION → "tps p50_ms p99_ms": frontd's pipeline for FUNCTION, CONNS clients
run_pgbench() {
	pgbench_script "$1" >"$WORK/script.sql"
	pgbench_file script.sql flov7_authenticator "$CONNS"
}

# pgbench_file FILE USER CLIENTS → "tps p50_ms p99_ms" (FILE in $WORK; USER postgres needs no password)
pgbench_file() {
	rm -f "$WORK"/pgbench_log.*
	(cd "$WORK" && PGPASSWORD=$AUTH_PW "$PGBIN/pgbench" -n -M prepared -h "$PGDIR" -p "$PGPORT" \
		-U "$2" -c "$3" -j 2 -T "$SECS" -l --log-prefix=pgbench_log \
		-f "$1" "$DB" >"$WORK/pgbench.out" 2>&1) || { cat "$WORK/pgbench.out" >&2; exit 1; }
	local tps
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.out")
	cat "$WORK"/pgbench_log.* | awk '{print $3}' | sort -n | awk -v tps="$tps" '
		{ v[NR] = $1 } END { printf "%.0f %.2f %.2f\n", tps, v[int(NR*0.50)]/1000, v[int(NR*0.99)]/1000 }'
}

# to_ms "1.23ms" | "850.00us" | "1.02s" → milliseconds
to_ms() {
	awk -v s="$1" 'BEGIN { n = s + 0; if (s ~ /us$/) n /= 1000; else if (s ~ /ms$/) n += 0; else if (s ~ /s$/) n *= 1000; printf "%.2f", n }'
}

# run_wrk PATH → "rps p50_ms p99_ms"
run_wrk() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTPPORT$1")
	[[ "$code" == 200 ]] || { echo "bench: $1 answered $code" >&2; exit 1; }
	wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" \
		"http://127.0.0.1:$HTTPPORT$1" >"$WORK/wrk.out"
	local rps p50 p99
	rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/wrk.out")
	p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")")
	if grep -q 'Non-2xx' "$WORK/wrk.out"; then grep 'Non-2xx' "$WORK/wrk.out" >&2; exit 1; fi
	echo "$rps $p50 $p99"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); ${SECS}s per run, $CONNS connections, frontd pool $POOL, $ROUNDS rounds; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "postgres: $("$PGBIN/postgres" --version) from $PGBIN (flov7 as installed there)"
[[ -z "${BENCH_CONF:-}" ]] || echo "postgresql.conf: $BENCH_CONF"

if [[ " $TABLES " == *" pipeline "* ]]; then
	echo
	echo "| endpoint | round | frontd req/s | p50 ms | p99 ms | pgbench tps | p50 ms | p99 ms | ratio |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for round in $(seq "$ROUNDS"); do
		for ep in "/api/v1/auth/me flov7_api.auth_me" "/api/v1/users/profile flov7_api.users_profile_get"; do
			set -- $ep
			read -r frps fp50 fp99 < <(run_wrk "$1")
			read -r ptps pp50 pp99 < <(run_pgbench "$2")
			ratio=$(awk -v a="$frps" -v b="$ptps" 'BEGIN { printf "%.2f", a / b }')
			echo "| GET $1 | $round | $frps | $fp50 | $fp99 | $ptps | $pp50 | $pp99 | $ratio |"
			echo "$1 $ratio" >>"$WORK/ratios"
		done
	done
	# The machine is shared: single pairs swing; the median of the paired ratios is the figure to quote.
	echo
	for ep in /api/v1/auth/me /api/v1/users/profile; do
		awk -v ep="$ep" '$1 == ep {print $2}' "$WORK/ratios" | sort -n |
			awk -v ep="$ep" '{v[NR] = $1} END {printf "median ratio GET %s: %.2f (min %.2f, max %.2f, %d pairs)\n", ep, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR], NR}'
	done
fi

# Table 2: the authenticated path, each figure against the raw read of the same round.
if [[ " $TABLES " == *" authz "* ]]; then
	echo "SELECT * FROM flov7.users WHERE id = '$USER_ID';" >"$WORK/raw.sql"
	rls_script >"$WORK/rls.sql"
	pgbench_script flov7_api.auth_me >"$WORK/pipe.sql"
	echo
	echo "| round | what | clients | tps or req/s | p50 ms | p99 ms | ratio to raw read |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	for round in $(seq "$ROUNDS"); do
		read -r raw rp50 rp99 < <(pgbench_file raw.sql postgres "$CLIENTS")
		echo "| $round | pgbench: user row read as superuser (raw) | $CLIENTS | $raw | $rp50 | $rp99 | 1.00 |"
		for w in "rls.sql settings + RLS read (authorizer)" "pipe.sql frontd's pipeline for /auth/me"; do
			set -- $w
			f=$1
			shift
			read -r tps p50 p99 < <(pgbench_file "$f" flov7_authenticator "$CLIENTS")
			r=$(awk -v a="$tps" -v b="$raw" 'BEGIN { printf "%.2f", a / b }')
			echo "| $round | pgbench: $* | $CLIENTS | $tps | $p50 | $p99 | $r |"
			echo "$f $r" >>"$WORK/authz_ratios"
		done
		read -r frps fp50 fp99 < <(run_wrk /api/v1/auth/me)
		r=$(awk -v a="$frps" -v b="$raw" 'BEGIN { printf "%.2f", a / b }')
		echo "| $round | frontd: GET /api/v1/auth/me (wrk) | $CONNS | $frps | $fp50 | $fp99 | **$r** |"
		echo "frontd $r" >>"$WORK/authz_ratios"
	done
	echo
	for w in "rls.sql settings + RLS read" "pipe.sql pgbench frontd pipeline" "frontd frontd GET /api/v1/auth/me"; do
		set -- $w
		f=$1
		shift
		awk -v f="$f" '$1 == f {print $2}' "$WORK/authz_ratios" | sort -n |
			awk -v w="$*" '{v[NR] = $1} END {printf "median ratio to the raw read, %s: %.2f (min %.2f, max %.2f, %d rounds)\n", w, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR], NR}'
	done
fi
