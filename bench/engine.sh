#!/usr/bin/env bash
# `make bench-engine`: the workflow engine side by side with graphile-worker, in one run on one
# throwaway cluster (test/lib.sh). Prints Markdown tables to paste into bench/RESULTS.md.
#  (a) flov7: N executions of a 3-node workflow (manual trigger -> transform -> if_else) queued
#      by flov7.execute as the owner in one transaction, drained by flov7.worker_count = 1, 2, 4
#      background workers (ALTER SYSTEM + restart between); timed from the first step's start to
#      the last execution's completed_at (the tables' clock_timestamp()s); plus the workers' CPU
#      while draining and over 5 s idle afterwards (/proc/PID/stat utime+stime);
#  (b) graphile-worker (npm, installed into the work dir) in its own database on the same cluster:
#      BENCH_JOBS trivial jobs queued by graphile_worker.add_job, drained by a no-op task, as
#      shipped (library defaults) and batched (its performance page's settings);
#  (c) execute -> completed latency from a committing client on the idle cluster
#      (bench/engine_latency.py: polls the execution row every BENCH_POLL_US).
#   BENCH_EXECUTIONS (10000), BENCH_JOBS (20000), BENCH_WORKERS ("1 2 4"), BENCH_ROUNDS (2),
#   BENCH_SAMPLES (300), BENCH_POLL_US (200), BENCH_LATENCY_WORKERS (2),
#   BENCH_PROFILE (1: a last, unmeasured 1-worker drain with track_functions = 'all'),
#   BENCH_GW_PACKAGE (graphile-worker: an npm spec), BENCH_GW (1; 0 skips part b)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/lib.sh

N=${BENCH_EXECUTIONS:-10000}
JOBS=${BENCH_JOBS:-20000}
WORKERS=${BENCH_WORKERS:-1 2 4}
ROUNDS=${BENCH_ROUNDS:-2}
SAMPLES=${BENCH_SAMPLES:-300}
POLL_US=${BENCH_POLL_US:-200}
LAT_WORKERS=${BENCH_LATENCY_WORKERS:-2}
GW_PACKAGE=${BENCH_GW_PACKAGE:-graphile-worker}
GW=${BENCH_GW:-1}
WORK=$(mktemp -d /tmp/flov7-bench-engine.XXXXXX)
chmod 755 "$WORK"
PGDIR=$WORK/pg
PGPORT=$((20000 + RANDOM % 20000))
DB=flov7_bench
GWDB=gw_bench
TCK=$(getconf CLK_TCK)

cleanup() {
	pg_stop "$PGDIR"
	rm -rf "$WORK"
}
trap cleanup EXIT

psql_db() { pg_psql "$PGDIR" "$PGPORT" "$DB" -At "$@"; }

pg_init "$PGDIR" "$PGPORT" "$DB"
pg_start "$PGDIR" "$PGPORT"
flov7_setup_db "$PGDIR" "$PGPORT" "$DB" "$(random_token 16)" "$(random_token 32)" >/dev/null

# The owner (enterprise: no daily quota) and the workflow, created through the API as the owner.
UID_=$(psql_db -c "INSERT INTO flov7.users (email, role, subscription_plan)
	VALUES ('bench@flov7.test', 'user', 'enterprise') RETURNING id" | head -1)
# as_owner: SQL run in the owner's identity (role and JWT claims local to the transaction)
as_owner() {
	psql_db <<SQL
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('sub', '$UID_', 'role', 'flov7_user', 'jti', gen_random_uuid(),
	'iat', extract(epoch FROM now())::bigint, 'exp', extract(epoch FROM now() + interval '1 hour')::bigint)::text, true) \\g /dev/null
SET LOCAL ROLE flov7_user;
$1;
COMMIT;
SQL
}
WF=$(as_owner "SELECT flov7_api.workflow_create(\$j\${\"name\": \"bench 3 nodes\", \"workflow_json\": {\"nodes\": [
	{\"id\": \"t\", \"type\": \"trigger\", \"data\": {\"config\": {\"trigger_type\": \"manual\"}}},
	{\"id\": \"x\", \"type\": \"action\", \"data\": {\"config\": {\"action_type\": \"transform\", \"fields\": [\"amount\", \"n\"]}}},
	{\"id\": \"c\", \"type\": \"condition\", \"data\": {\"config\": {\"condition_type\": \"if_else\", \"condition\": \"data.amount > 100\"}}}],
	\"edges\": [{\"id\": \"e1\", \"source\": \"t\", \"target\": \"x\"}, {\"id\": \"e2\", \"source\": \"x\", \"target\": \"c\"}]}}\$j\$::jsonb) ->> 'id'" | grep -E '^[0-9a-f-]{36}$')

# set_workers W: flov7.worker_count = W, restart, and poll until the W workers are connected.
set_workers() {
	local w=$1 i
	psql_db -c "ALTER SYSTEM SET flov7.worker_count = $w" >/dev/null
	as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -m fast -w -t 60 restart >/dev/null
	for ((i = 0; i < 600; i++)); do
		[[ $(psql_db -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'flov7 worker'" 2>/dev/null) == "$w" ]] && return 0
		sleep 0.05
	done
	echo "bench: $w workers did not come up" >&2
	exit 1
}
worker_pids() { psql_db -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'flov7 worker'"; }
# cpu_ticks PID...: utime + stime of the processes, in clock ticks
cpu_ticks() {
	local p t=0
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$t"
}
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# flov7_drain W ROUND: queue N executions, let the W workers drain them; one table row.
flov7_drain() {
	local w=$1 round=$2 pids c0 c1 i0 i1 res execs ok steps secs
	psql_db -c "DELETE FROM flov7.workflow_executions" -c "VACUUM ANALYZE flov7.workflow_executions, flov7.execution_steps, flov7.execution_step_data" >/dev/null
	pids=$(worker_pids)
	c0=$(cpu_ticks $pids)
	as_owner "SELECT count(flov7.execute('$WF', jsonb_build_object('amount', g % 200, 'n', g), 'r$round-w$w-' || g)) FROM generate_series(1, $N) g" >/dev/null
	# poll the count (0.2 s apart); the figures come from the rows' timestamps
	local left waits
	: >"$WORK/waits"
	# each poll also samples what the workers are doing (pg_stat_activity: running, or a wait event)
	while read -r left waits < <(psql_db -F' ' -c "SELECT (SELECT count(*) FROM flov7.workflow_executions WHERE completed_at IS NULL),
			(SELECT string_agg(CASE WHEN state = 'idle' THEN 'idle' WHEN wait_event IS NULL THEN 'running'
								   ELSE wait_event_type || ':' || wait_event || coalesce('(row of ' || (SELECT string_agg(DISTINCT
										l.relation::regclass::text, '+') FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'tuple') || ')', '') END, ' ')
			   FROM pg_stat_activity a WHERE backend_type = 'flov7 worker')") && [[ $left != 0 ]]; do
		tr ' ' '\n' <<<"$waits" >>"$WORK/waits"
		# once, half-way through the first drain: the claim query's plan
		if [[ $round == 1 && $w == "${WORKERS%% *}" && ! -s "$WORK/claim_plan" && $left -le $((N / 2)) ]]; then
			claim_plan >"$WORK/claim_plan"
		fi
		sleep 0.2
	done
	c1=$(cpu_ticks $pids)
	res=$(psql_db -F' ' -c "SELECT count(*), count(*) FILTER (WHERE status = 'completed'),
		(SELECT count(*) FROM flov7.execution_step_data),
		extract(epoch FROM max(completed_at) - (SELECT min(started_at) FROM flov7.execution_step_data))
		FROM flov7.workflow_executions")
	read -r execs ok steps secs <<<"$res"
	[[ $ok == "$N" ]] || { echo "bench: only $ok of $N executions completed" >&2; exit 1; }
	local la; la=$(loadavg)
	[[ $round == profile ]] && { echo "$steps $secs"; return 0; }
	sleep 1 # let the last batch's wake-ups settle, then 5 s idle
	i0=$(cpu_ticks $pids); sleep 5; i1=$(cpu_ticks $pids)
	[[ $round == profile ]] && return 0
	awk -v r="$round" -v w="$w" -v e="$execs" -v s="$steps" -v t="$secs" -v c=$((c1 - c0)) -v i=$((i1 - i0)) \
		-v tck="$TCK" -v la="$la" -v waits="$(sort "$WORK/waits" | uniq -c | sort -rn | awk -v n="$(wc -l <"$WORK/waits")" \
			'NR <= 3 {printf "%s%s %.0f%%", (NR > 1 ? ", " : ""), $2, 100 * $1 / n}')" 'BEGIN {
		printf "| %s | flov7 | %d worker%s | %d executions, %d steps | %.2f | %.0f | **%.0f** | %.0f%% | %.0f µs | %s | %d ms | %s |\n",
			r, w, (w > 1 ? "s" : ""), e, s, t, e / t, s / t, 100 * c / tck / t, 1e6 * c / tck / s, waits, 1000 * i / tck, la }'
	echo "flov7 $w $round $(awk -v s="$steps" -v t="$secs" 'BEGIN {printf "%.0f", s / t}')" >>"$WORK/figures"
}

# profile: one more 1-worker drain, outside the measured rounds, with track_functions = 'all':
# where the time goes, by function (self time: the function's own statements, callees excluded).
profile() {
	local res steps secs N=$((N / 2)) # half as many executions (dynamic scope: flov7_drain sees it)
	psql_db -c "ALTER SYSTEM SET track_functions = 'all'" >/dev/null
	set_workers 1
	psql_db -c "SELECT pg_stat_reset()" >/dev/null
	res=$(flov7_drain 1 profile)
	read -r steps secs <<<"$res"
	# a worker flushes its statistics after a batch at most once a second: one more tiny batch
	sleep 1.2
	as_owner "SELECT flov7.execute('$WF', '{\"amount\": 1}')" >/dev/null
	while [[ $(psql_db -c "SELECT count(*) FROM flov7.workflow_executions WHERE completed_at IS NULL") != 0 ]]; do sleep 0.05; done
	sleep 0.5
	echo "Profile (1 worker, $steps steps in ${secs}s, track_functions = 'all', not a measured round): functions by self time"
	echo
	echo "| function | calls | calls per step | total ms | self ms | self µs per step | share of self time |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	psql_db -F' ' -c "SELECT schemaname || '.' || funcname, calls, round(calls::numeric / $steps, 2), round(total_time::numeric),
			round(self_time::numeric), round((1000 * self_time / $steps)::numeric, 1),
			round((100 * self_time / sum(self_time) OVER ())::numeric, 1)
		  FROM pg_stat_user_functions WHERE funcname <> 'execute' ORDER BY self_time DESC LIMIT 15" |
		awk '{printf "| `%s` | %s | %s | %s | %s | %s | %s%% |\n", $1, $2, $3, $4, $5, $6, $7}'
	psql_db -F' ' -c "SELECT 'queue side: flov7.execute ' || calls || ' calls, ' || round(total_time::numeric) || ' ms total (with its callees, also counted above)'
		  FROM pg_stat_user_functions WHERE schemaname = 'flov7' AND funcname = 'execute'"
	psql_db -c "ALTER SYSTEM RESET track_functions" >/dev/null
	statements
	plan_cache
	lock_waits
}

# lock_waits: one more 2-worker drain (not measured) logging every lock wait over 10 ms with
# what was being waited for (log_lock_waits; the server names the tuple and the table).
lock_waits() {
	local N=$((N / 2))
	psql_db -c "ALTER SYSTEM SET log_lock_waits = on" -c "ALTER SYSTEM SET deadlock_timeout = '10ms'" \
		-c "ALTER SYSTEM SET log_min_messages = 'log'" >/dev/null
	set_workers 2
	local from; from=$(wc -l <"$PGDIR/postgres.log")
	flov7_drain 2 profile >/dev/null
	echo
	echo "Lock waits over 10 ms in a 2-worker drain of $N executions (log_lock_waits, deadlock_timeout 10ms; not a measured round):"
	echo
	tail -n +"$((from + 1))" "$PGDIR/postgres.log" | grep -o 'CONTEXT:  while [a-z ]* tuple ([0-9,]*) in relation "[a-z_]*"' |
		sed 's/tuple ([0-9,]*)/tuple/' | sort | uniq -c | sort -rn | awk '{c = $1; $1 = ""; printf "- %d x%s\n", c, $0}'
	tail -n +"$((from + 1))" "$PGDIR/postgres.log" | grep -c 'still waiting for' | awk '{print "- " $1 " waits logged in all"}'
	psql_db -c "ALTER SYSTEM RESET log_lock_waits" -c "ALTER SYSTEM RESET deadlock_timeout" -c "ALTER SYSTEM RESET log_min_messages" >/dev/null
}

# plan_cache: run_ready(60) for 20 executions queued in the same (rolled back) transaction, in one
# warm session, with plan_cache_mode auto (the default), force_generic_plan and force_custom_plan:
# how much of a step is planning. Best of 3 each.
plan_cache() {
	local block mode i
	block() {
		cat <<SQL
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('sub', '$UID_', 'role', 'flov7_user', 'jti', gen_random_uuid(),
	'iat', extract(epoch FROM now())::bigint, 'exp', extract(epoch FROM now() + interval '1 hour')::bigint)::text, true) \\g /dev/null
SET LOCAL ROLE flov7_user;
SELECT count(flov7.execute('$WF', jsonb_build_object('amount', g % 200, 'n', g))) FROM generate_series(1, 20) g \\g /dev/null
RESET ROLE;
SET LOCAL plan_cache_mode = $1;
SELECT clock_timestamp() AS t0 \\gset
SELECT '$1', flov7.run_ready(60), round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 2);
ROLLBACK;
SQL
	}
	{
		block auto
		for i in 1 2 3; do for mode in auto force_generic_plan force_custom_plan; do block "$mode"; done; done
	} | psql_db -F' ' | tail -n +2 | awk '
		{ if (!($1 in best) || $3 < best[$1]) best[$1] = $3; n[$1] = $2 }
		END { printf "\nrun_ready(60) in a warm session, best of 3: "
			  for (m in best) printf "%s %.1f ms (%.0f µs per step); ", m, best[m], 1000 * best[m] / n[m]; print "" }'
}

# statements: the SQL statements run for 60 steps (20 executions queued and run in one transaction
# the workers cannot see, rolled back), timed by auto_explain (inclusive of nested statements).
statements() {
	echo
	echo "Statements run for 60 steps (auto_explain, one backend, inclusive times: a statement calling a function includes it)"
	echo
	echo "| statement | runs | total ms | µs per run |"
	echo "| --- | --- | --- | --- |"
	psql_db 2>&1 >/dev/null <<SQL | /usr/bin/python3 -c '
import re, sys, collections
tot, cnt = collections.Counter(), collections.Counter()
dur, want = None, False
for line in sys.stdin:
    m = re.search(r"duration: ([0-9.]+) ms", line)
    if m:
        dur = float(m.group(1)); continue
    m = re.match(r"\s*Query Text: (.*)", line)
    text = m.group(1).strip() if m else (line.strip() if want else "")
    want = bool(m) and not text
    if text and dur is not None:
        q = " ".join(text.split())[:110].replace("|", "\\|")
        tot[q] += dur; cnt[q] += 1; dur = None
for q, t in tot.most_common(24):
    print(f"| `{q}` | {cnt[q]} | {t:.1f} | {1000 * t / cnt[q]:.0f} |")
'
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('sub', '$UID_', 'role', 'flov7_user', 'jti', gen_random_uuid(),
	'iat', extract(epoch FROM now())::bigint, 'exp', extract(epoch FROM now() + interval '1 hour')::bigint)::text, true) \g /dev/null
SET LOCAL ROLE flov7_user;
SELECT count(flov7.execute('$WF', jsonb_build_object('amount', g % 200, 'n', g))) FROM generate_series(1, 20) g;
RESET ROLE;
LOAD 'auto_explain';
SET LOCAL auto_explain.log_min_duration = 0;
SET LOCAL auto_explain.log_nested_statements = on;
SET LOCAL auto_explain.log_analyze = on;
SET LOCAL auto_explain.log_timing = off;
SET LOCAL auto_explain.log_level = notice;
SET LOCAL client_min_messages = notice;
SELECT flov7.run_ready(60);
ROLLBACK;
SQL
}

# claim_plan: the runner's claim query (extension/runner.c), mid-drain, with its buffers (in a transaction rolled back)
claim_plan() {
	psql_db <<'SQL' 2>&1 | sed -n '/Limit/,/Execution Time/p'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT e.id
  FROM (SELECT c.user_id, c.execution_id, min(c.ready_at) AS due
		  FROM (SELECT s.user_id, s.execution_id, s.ready_at FROM flov7.execution_steps s
				 WHERE s.state IN ('ready', 'waiting') AND s.ready_at IS NOT NULL AND s.ready_at <= clock_timestamp()
				 ORDER BY s.user_id, s.ready_at LIMIT 16) c
		 GROUP BY c.user_id, c.execution_id ORDER BY c.user_id, due) c
 CROSS JOIN LATERAL (SELECT x.* FROM flov7.workflow_executions x WHERE x.user_id = c.user_id AND x.id = c.execution_id
					   FOR NO KEY UPDATE SKIP LOCKED) e
 LIMIT 1;
ROLLBACK;
SQL
}

gw_setup() {
	mkdir -p "$WORK/gw"
	(cd "$WORK/gw" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "$GW_PACKAGE" >/dev/null)
	cp bench/gw_bench.js "$WORK/gw/"
	GW_VERSION=$(cd "$WORK/gw" && node -p 'require("graphile-worker/package.json").version')
	pg_psql "$PGDIR" "$PGPORT" postgres -c "CREATE DATABASE $GWDB"
	(cd "$WORK/gw" && node gw_bench.js migrate "$PGDIR" "$PGPORT" "$GWDB" 0)
}

# gw_drain MODE ROUND: queue JOBS jobs, drain them; one table row.
gw_drain() {
	local mode=$1 round=$2 out jobs secs rate la
	pg_psql "$PGDIR" "$PGPORT" "$GWDB" -At -c "SELECT count(graphile_worker.add_job('noop')) FROM generate_series(1, $JOBS)" \
		-c "VACUUM ANALYZE graphile_worker._private_jobs" >/dev/null
	out=$(cd "$WORK/gw" && node gw_bench.js "$mode" "$PGDIR" "$PGPORT" "$GWDB" "$JOBS")
	read -r jobs secs rate <<<"$out"
	la=$(loadavg)
	local label="as shipped (concurrentJobs 1)"
	[[ $mode == batched ]] && label="batched (24 jobs, localQueue 500, completeJobBatchDelay 0)"
	printf '| %s | graphile-worker %s | %s | %d jobs | %.2f | | **%d** | | | | | %s |\n' "$round" "$GW_VERSION" "$label" "$jobs" "$secs" "$rate" "$la"
	echo "gw-$mode 0 $round $rate" >>"$WORK/figures"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $($PGBIN/postgres --version)"
echo "flov7: $N executions per run; graphile-worker: $JOBS jobs per run; $ROUNDS rounds; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $GW == 1 ]]; then
	gw_setup >/dev/null 2>"$WORK/gw_setup.err" || { cat "$WORK/gw_setup.err" >&2; exit 1; }
fi
echo
echo "| round | system | workers | queued | seconds | executions/s | transitions/s (steps or jobs) | workers' CPU while draining (100% = one core) | workers' CPU per step | workers sampled (pg_stat_activity, every 0.2 s; a row lock wait names the table) | idle workers' CPU over 5 s | load |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for round in $(seq "$ROUNDS"); do
	for w in $WORKERS; do
		set_workers "$w"
		flov7_drain "$w" "$round"
	done
	if [[ $GW == 1 ]]; then
		gw_drain shipped "$round"
		gw_drain batched "$round"
	fi
done

echo
echo "| round | workers | samples | p50 ms | p90 ms | p99 ms | max ms | server p50 ms | server p99 ms | poll every | poll round trip ms | load |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
set_workers "$LAT_WORKERS"
for round in $(seq "$ROUNDS"); do
	psql_db -c "DELETE FROM flov7.workflow_executions" -c "VACUUM ANALYZE flov7.workflow_executions, flov7.execution_steps, flov7.execution_step_data" >/dev/null
	read -r p50 p90 p99 pmax s50 s99 rtt n < <(/usr/bin/python3 bench/engine_latency.py "$PGDIR" "$PGPORT" "$DB" "$WF" "$UID_" "$SAMPLES" "$POLL_US")
	echo "| $round | $LAT_WORKERS | $n | **$p50** | $p90 | $p99 | $pmax | $s50 | $s99 | ${POLL_US} µs | $rtt | $(loadavg) |"
done

# Ratios of flov7 step transitions/s to graphile-worker jobs/s, paired within each round.
if [[ $GW == 1 ]]; then
	echo
	awk '
		$1 == "flov7" { f[$3, $2] = $4; ws[$2] = 1; rs[$3] = 1 }
		$1 == "gw-shipped" { s[$3] = $4 } $1 == "gw-batched" { b[$3] = $4 }
		END { for (r in rs) for (w in ws) printf "round %s, %s worker(s): flov7 %d steps/s = %.2f x graphile-worker as shipped (%d), %.2f x batched (%d)\n", r, w, f[r, w], f[r, w] / s[r], s[r], f[r, w] / b[r], b[r] }' \
		"$WORK/figures" | sort
fi
if [[ ${BENCH_PROFILE:-1} == 1 ]]; then
	echo
	profile
fi
if [[ -s "$WORK/claim_plan" ]]; then
	echo
	echo "The claim query mid-drain (round 1, ${WORKERS%% *} worker(s)):"
	echo '```'
	cat "$WORK/claim_plan"
	echo '```'
fi
