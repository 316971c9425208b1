#!/usr/bin/env bash
# `make bench-realtime`: frontd's WebSocket fan-out side by side with the common Node stack
# (npm `pg` LISTEN -> npm `ws` broadcast, one process: bench/ws_peer.js) on one throwaway cluster,
# with one client harness for both (bench/wsbench.c: libevent, every connection in one loop),
# and a raw libpq LISTEN client as the floor.  Prints Markdown tables for bench/RESULTS.md.
#
# Events are committed by bench/rt_produce.py with t0 (wall clock, µs) in the message; a
# delivery's latency is its arrival minus t0 (commit -> client).  For flov7 an event is a system
# announcement in the event log: committed, published by the background workers, read by
# frontd's feed, sent to every notifications socket.  For the peer it is pg_notify('bench').
#   scenarios (each for frontd, then the peer, in one run):
#     latency-100   100 clients, BENCH_EVENTS (200) events at 50/s
#     latency-1000  1000 clients, BENCH_EVENTS events at 20/s
#     fanout-1000   1000 clients, BENCH_BURST (500) events as fast as one connection commits
#     rate-100      100 clients, BENCH_RATE_EVENTS (5000) events at 1000/s
#     idle-10000    BENCH_IDLE (10000) idle connections: the server's RSS
#   BENCH_ROUNDS (1), BENCH_NODE_PACKAGES ("pg ws")
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/lib.sh

EVENTS=${BENCH_EVENTS:-200}
BURST=${BENCH_BURST:-500}
RATE_EVENTS=${BENCH_RATE_EVENTS:-5000}
IDLE=${BENCH_IDLE:-10000}
ROUNDS=${BENCH_ROUNDS:-1}
WORK=$(mktemp -d /tmp/flov7-bench-rt.XXXXXX)
chmod 755 "$WORK"
PGDIR=$WORK/pg
PGPORT=$((20000 + RANDOM % 10000))
HTTPPORT=$((30000 + RANDOM % 10000))
PEERPORT=$((40000 + RANDOM % 10000))
DB=flov7_bench
FRONTD_PID= PEER_PID=

cleanup() {
	set +e # a killed peer's exit status must not end the cleanup before the cluster stops
	[[ -n "$FRONTD_PID" ]] && kill -TERM "$FRONTD_PID" 2>/dev/null && wait "$FRONTD_PID" 2>/dev/null
	[[ -n "$PEER_PID" ]] && kill "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null
	pg_stop "$PGDIR"
	rm -rf "$WORK"
}
trap cleanup EXIT

gcc -O2 -Wall -Wextra -Werror -o "$WORK/wsbench" bench/wsbench.c -levent
pg_init "$PGDIR" "$PGPORT" "$DB"
pg_start "$PGDIR" "$PGPORT"
AUTH_PW=$(random_token 16)
SECRET=$(random_token 32)
flov7_setup_db "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW" "$SECRET" >/dev/null
DSN="host=$PGDIR port=$PGPORT dbname=$DB user=postgres"
# the workers publish the events: measure once they are connected (they start with the server
# and retry until the database and their role exist)
for _ in $(seq 200); do
	[[ $(pg_psql "$PGDIR" "$PGPORT" "$DB" -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'flov7 worker'") -ge 1 ]] && break
	sleep 0.1
done

# a user whose notifications sockets the clients open (announcements reach every one)
REG=$(pg_psql "$PGDIR" "$PGPORT" "$DB" -At -c "SET ROLE flov7_anon" -c \
	"SELECT flov7_api.auth_register(jsonb_build_object('email','rt-$(random_token 4)@flov7.test','password','bench-password-1'))::text" | tail -1)
TOKEN=$(/usr/bin/python3 -c 'import json,sys;print(json.loads(sys.argv[1])["access_token"])' "$REG")
USER_ID=$(/usr/bin/python3 -c 'import json,sys;print(json.loads(sys.argv[1])["user"]["id"])' "$REG")
FPATH="/api/v1/realtime/ws/notifications/$USER_ID?token=$TOKEN"

FLOV7_DB_URI=$(auth_uri "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW") FLOV7_JWT_SECRET=$SECRET \
	FLOV7_LISTEN=127.0.0.1:$HTTPPORT FLOV7_ACCESS_LOG=off FLOV7_MAX_CONNECTIONS=30000 \
	FLOV7_MAX_CONNECTIONS_PER_IP=0 FLOV7_WS_MAX_PER_USER=30000 FLOV7_WS_MAX_CONNECTIONS=30000 \
	frontd/frontd >"$WORK/frontd.log" 2>&1 &
FRONTD_PID=$!
wait_http "http://127.0.0.1:$HTTPPORT/ready" 30

(cd "$WORK" && npm install --silent --no-audit --no-fund ${BENCH_NODE_PACKAGES:-pg ws} >/dev/null 2>&1) ||
	{ echo "bench: npm install pg ws failed" >&2; exit 1; }
PEER_VERSIONS=$(cd "$WORK" && node -e 'console.log("pg " + require("pg/package.json").version + ", ws " + require("ws/package.json").version)')
(cd "$WORK" && NODE_PATH=$WORK/node_modules exec node "$ROOT/bench/ws_peer.js" "$PEERPORT" "$PGDIR" "$PGPORT" "$DB") \
	>"$WORK/peer.log" 2>&1 &
PEER_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/peer.log" 2>/dev/null && break; sleep 0.1; done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# run_case SYSTEM CLIENTS EVENTS RATE: wsbench + producer; prints wsbench's JSON line
run_case() {
	local system=$1 clients=$2 events=$3 rate=$4 port path mode out
	if [[ $system == frontd ]]; then port=$HTTPPORT path=$FPATH mode=flov7; else port=$PEERPORT path=/ mode=peer; fi
	out=$WORK/case.out
	"$WORK/wsbench" 127.0.0.1 "$port" "$path" "$clients" "$events" 120 >"$out" 2>"$WORK/case.err" &
	local wpid=$!
	for _ in $(seq 600); do grep -q ready "$out" 2>/dev/null && break; sleep 0.05; done
	grep -q ready "$out" || { echo "bench: $system: clients did not connect" >&2; cat "$WORK/case.err" >&2; exit 1; }
	/usr/bin/python3 bench/rt_produce.py "$DSN" "$mode" "$events" "$rate"
	wait "$wpid" || true
	tail -1 "$out"
}

# idle_case SYSTEM PID: hold IDLE connections, report the server's RSS growth
idle_case() {
	local system=$1 pid=$2 port path before after fifo
	if [[ $system == frontd ]]; then port=$HTTPPORT path=$FPATH; else port=$PEERPORT path=/; fi
	before=$(rss_kb "$pid")
	fifo=$WORK/hold
	rm -f "$fifo"
	mkfifo "$fifo"
	"$WORK/wsbench" 127.0.0.1 "$port" "$path" "$IDLE" 0 600 <"$fifo" >"$WORK/idle.out" 2>"$WORK/idle.err" &
	local wpid=$!
	exec 9>"$fifo"
	for _ in $(seq 1200); do grep -q ready "$WORK/idle.out" 2>/dev/null && break; sleep 0.05; done
	grep -q ready "$WORK/idle.out" || { echo "bench: $system: $IDLE idle clients did not connect" >&2; cat "$WORK/idle.err" >&2; exit 1; }
	sleep 1
	after=$(rss_kb "$pid")
	exec 9>&-
	wait "$wpid" || true
	echo "$before $after"
}

field() { /usr/bin/python3 -c 'import json,sys;print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD); $(pg_psql "$PGDIR" "$PGPORT" postgres -Atc 'SHOW server_version'); node $(node --version), $PEER_VERSIONS"
echo
echo "| round | scenario | system | clients | events | deliveries | lost | p50 ms | p90 ms | p99 ms | max ms | deliveries/s | load |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
declare -A RES
for ((r = 1; r <= ROUNDS; r++)); do
	for sc in "latency-100 100 $EVENTS 50" "latency-1000 1000 $EVENTS 20" "fanout-1000 1000 $BURST 0" \
		"rate-100 100 $RATE_EVENTS 1000"; do
		read -r name clients events rate <<<"$sc"
		for system in frontd peer; do
			j=$(run_case "$system" "$clients" "$events" "$rate")
			RES[$r,$name,$system]=$j
			echo "| $r | $name | $system | $clients | $events | $(field "$j" received) | $(field "$j" lost) | $(field "$j" p50_ms) | $(field "$j" p90_ms) | $(field "$j" p99_ms) | $(field "$j" max_ms) | **$(field "$j" deliveries_per_s)** | $(loadavg) |"
		done
	done
done
echo
FLOOR=$(/usr/bin/python3 bench/rt_floor.py "$DSN" 500)
echo "floor (raw libpq LISTEN, psycopg2, one client): p50 $(field "$FLOOR" p50_ms) ms, p99 $(field "$FLOOR" p99_ms) ms"
echo
echo "| system | idle WebSocket connections | RSS before (MB) | RSS with them (MB) |"
echo "| --- | --- | --- | --- |"
read -r b a < <(idle_case frontd "$FRONTD_PID")
echo "| frontd | $IDLE | $((b / 1024)) | **$((a / 1024))** |"
read -r b a < <(idle_case peer "$PEER_PID")
echo "| node peer | $IDLE | $((b / 1024)) | **$((a / 1024))** |"
echo
for ((r = 1; r <= ROUNDS; r++)); do
	/usr/bin/python3 - "$r" "${RES[$r,latency-1000,frontd]}" "${RES[$r,latency-1000,peer]}" \
		"${RES[$r,fanout-1000,frontd]}" "${RES[$r,fanout-1000,peer]}" \
		"${RES[$r,rate-100,frontd]}" "${RES[$r,rate-100,peer]}" <<'PY'
import json, sys
r = sys.argv[1]
lf, lp, ff, fp, rf, rp = (json.loads(a) for a in sys.argv[2:])
print("round %s: p99 at 1000 subscribers frontd %.2f ms = %.2f x the peer's %.2f ms (target <= 0.5)" % (
    r, lf["p99_ms"], lf["p99_ms"] / lp["p99_ms"] if lp["p99_ms"] else 0, lp["p99_ms"]))
print("round %s: fan-out one event to 1000 clients frontd %d deliveries/s = %.2f x the peer's %d (target >= 2)" % (
    r, ff["deliveries_per_s"], ff["deliveries_per_s"] / fp["deliveries_per_s"] if fp["deliveries_per_s"] else 0, fp["deliveries_per_s"]))
print("round %s: 1000 events/s to 100 clients frontd %d deliveries/s = %.2f x the peer's %d" % (
    r, rf["deliveries_per_s"], rf["deliveries_per_s"] / rp["deliveries_per_s"] if rp["deliveries_per_s"] else 0, rp["deliveries_per_s"]))
print("round %s: events lost: frontd %d, peer %d" % (r, lf["lost"] + ff["lost"] + rf["lost"], lp["lost"] + fp["lost"] + rp["lost"]))
PY
done
