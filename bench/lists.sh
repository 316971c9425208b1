#!/usr/bin/env bash
# `make bench-lists`: lists that cost by the page (issue 8 point 12, issue 6), measured through
# frontd on a throwaway cluster holding 1 000 000 notifications of one user, 100 000 users and
# one workflow with 1 000 000 executions: first pages, a cursor page after 900 000 rows, the
# OFFSET page at 900 000 for comparison, exact counts (Prefer: count=exact) for comparison, and
# the admin search.  One request at a time on a kept-alive connection (bench/lists_latency.py);
# prints a Markdown table for bench/RESULTS.md.  BENCH_REPS (21) requests per row.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

REPS=${BENCH_REPS:-21}
WORK=$(mktemp -d /tmp/flov7-bench-lists.XXXXXX)
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
pg_start "$PGDIR" "$PGPORT"
flov7_setup_db "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW" "$SECRET" >/dev/null
psql_db() { pg_psql "$PGDIR" "$PGPORT" "$DB" "$@"; }

# The user and the admin, through the SQL API as frontd would call it.
EMAIL=bench-$(random_token 4)@flov7.test
ADMIN=admin-$(random_token 4)@flov7.test
TOKEN=$(psql_db -At -c "SET ROLE flov7_anon" -c \
	"SELECT flov7_api.auth_register(jsonb_build_object('email','$EMAIL','password','bench-password-1','full_name','Bench'))->>'access_token'" | tail -1)
psql_db -c "SELECT flov7.create_admin('$ADMIN', 'bench-password-2', 'Bench Admin')" >/dev/null
ATOKEN=$(psql_db -At -c "SET ROLE flov7_anon" -c \
	"SELECT flov7_api.auth_login(jsonb_build_object('email','$ADMIN','password','bench-password-2'))->>'access_token'" | tail -1)
UID_=$(psql_db -At -c "SELECT id FROM flov7.users WHERE email = '$EMAIL'")
WF=00000000-0000-4000-8000-00000000b001

# Rows by INSERT ... SELECT generate_series, triggers off (no audit rows, events or quota checks
# for generated data), then VACUUM ANALYZE as autovacuum would leave the tables.
echo "bench-lists: generating 100 000 users, 1 000 000 notifications, 1 000 000 executions ..." >&2
t0=$(date +%s)
psql_db <<SQL
SET session_replication_role = replica;
INSERT INTO flov7.users (email, full_name, created_at)
SELECT 'user' || g || '@example.com', 'User Number ' || g, now() - g * interval '1 minute'
  FROM generate_series(1, 99998) g;
INSERT INTO flov7.notifications (user_id, type, title, message, is_read, read_at, created_at)
SELECT '$UID_', CASE WHEN g % 10 = 0 THEN 'alert' ELSE 'info' END, 'Notification ' || g, 'Message ' || g,
	   g % 3 = 0, CASE WHEN g % 3 = 0 THEN now() END, now() - g * interval '1 second'
  FROM generate_series(1, 1000000) g;
INSERT INTO flov7.workflows (id, user_id, name) VALUES ('$WF', '$UID_', 'a million runs');
INSERT INTO flov7.workflow_executions (user_id, workflow_id, status, workflow_version, created_at, started_at, completed_at,
									   execution_time_seconds)
SELECT '$UID_', '$WF', CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'completed' END, 1,
	   now() - g * interval '1 second', now() - g * interval '1 second', now() - g * interval '1 second' + interval '20 ms', 0.02
  FROM generate_series(1, 1000000) g;
RESET session_replication_role;
VACUUM ANALYZE;
SQL
echo "bench-lists: data in $(($(date +%s) - t0)) s: $(psql_db -At -c "SELECT format('%s users, %s notifications, %s executions',
	(SELECT count(*) FROM flov7.users), (SELECT count(*) FROM flov7.notifications), (SELECT count(*) FROM flov7.workflow_executions))")" >&2

FLOV7_DB_URI=$(auth_uri "$PGDIR" "$PGPORT" "$DB" "$AUTH_PW") \
	FLOV7_JWT_SECRET=$SECRET FLOV7_LISTEN=127.0.0.1:$HTTPPORT FLOV7_POOL_SIZE=2 \
	FLOV7_ACCESS_LOG=off frontd/frontd >"$WORK/frontd.log" 2>&1 &
FRONTD_PID=$!
wait_http "http://127.0.0.1:$HTTPPORT/ready" 30
URL=http://127.0.0.1:$HTTPPORT

# next_cursor of the page at OFFSET 899 990 (one slow request, not measured): the cursor page
# after 900 000 rows.
cursor_at() {
	curl -fsS -H "Authorization: Bearer $2" "$URL/api/v1$1&offset=899990&limit=10" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])'
}
NCUR=$(cursor_at "/users/notifications?x=1" "$TOKEN")
ECUR=$(cursor_at "/workflows/$WF/executions?x=1" "$TOKEN")

cat >"$WORK/cases.json" <<JSON
[
 {"name": "notifications, first page (limit 10)", "path": "/api/v1/users/notifications?limit=10", "token": "$TOKEN", "target_ms": 5},
 {"name": "notifications, cursor page after 900 000 rows", "path": "/api/v1/users/notifications?limit=10&cursor=$NCUR", "token": "$TOKEN", "target_ms": 5},
 {"name": "notifications, unread only, first page", "path": "/api/v1/users/notifications?limit=10&is_read=false", "token": "$TOKEN", "target_ms": 5},
 {"name": "notifications, type=alert, first page", "path": "/api/v1/users/notifications?limit=10&type=alert", "token": "$TOKEN", "target_ms": 5},
 {"name": "notifications, OFFSET 900 000 (for comparison)", "path": "/api/v1/users/notifications?limit=10&offset=900000", "token": "$TOKEN", "reps": 5},
 {"name": "notifications, first page, Prefer: count=exact (for comparison)", "path": "/api/v1/users/notifications?limit=10", "token": "$TOKEN", "headers": {"Prefer": "count=exact"}, "reps": 5},
 {"name": "executions of one workflow, first page (limit 20)", "path": "/api/v1/workflows/$WF/executions", "token": "$TOKEN", "target_ms": 5},
 {"name": "executions, cursor page after 900 000 rows", "path": "/api/v1/workflows/$WF/executions?limit=10&cursor=$ECUR", "token": "$TOKEN", "target_ms": 5},
 {"name": "executions, status=failed, first page", "path": "/api/v1/workflows/$WF/executions?status=failed", "token": "$TOKEN", "target_ms": 5},
 {"name": "executions, OFFSET 900 000 (for comparison)", "path": "/api/v1/workflows/$WF/executions?limit=10&offset=900000", "token": "$TOKEN", "reps": 5},
 {"name": "admin users, first page", "path": "/api/v1/users/admin/users", "token": "$ATOKEN", "target_ms": 10},
 {"name": "admin search 'user4242' (11 matches)", "path": "/api/v1/users/admin/users?search=user4242", "token": "$ATOKEN", "target_ms": 10},
 {"name": "admin search 'Number 777' (111 matches)", "path": "/api/v1/users/admin/users?search=Number%20777", "token": "$ATOKEN", "target_ms": 10},
 {"name": "admin search 'number 7' (11 111 matches)", "path": "/api/v1/users/admin/users?search=number%207", "token": "$ATOKEN", "target_ms": 10},
 {"name": "admin search 'example.com' (every user)", "path": "/api/v1/users/admin/users?search=example.com", "token": "$ATOKEN", "target_ms": 10},
 {"name": "admin search 'nobody-here' (no match)", "path": "/api/v1/users/admin/users?search=nobody-here", "token": "$ATOKEN", "target_ms": 10},
 {"name": "admin search 'example.com', Prefer: count=exact (for comparison)", "path": "/api/v1/users/admin/users?search=example.com", "token": "$ATOKEN", "headers": {"Prefer": "count=exact"}, "reps": 5}
]
JSON
sed -i "s/\"target_ms\"/\"reps\": $REPS, \"target_ms\"/" "$WORK/cases.json"
echo "bench-lists: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run" >&2
/usr/bin/python3 bench/lists_latency.py "$URL" "$WORK/cases.json"
echo "bench-lists: load average $(cut -d' ' -f1-3 /proc/loadavg) after the run" >&2
