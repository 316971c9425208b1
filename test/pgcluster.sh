#!/usr/bin/env bash
# `make run` / `make stop`: the private development stack under .run/ — a PostgreSQL 15 cluster on
# its own port and socket, the database `flov7` with the extension, and frontd on 127.0.0.1:8000.
# Running it again reuses the cluster, its secrets and its data.  The credentials key is the file
# credentials.key next to the cluster's data directory (mode 0600, named by flov7.credentials_key_file).
#   FLOV7_PG_PORT (54329), FLOV7_LISTEN (127.0.0.1:8000), FLOV7_ADMIN_EMAIL / FLOV7_ADMIN_PASSWORD
#   (creates or promotes that admin), FLOV7_CORS_ORIGINS, FLOV7_POOL_SIZE: passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/lib.sh

RUN=$ROOT/.run
PGPORT=${FLOV7_PG_PORT:-54329}
LISTEN=${FLOV7_LISTEN:-127.0.0.1:8000}
DB=flov7
ENVFILE=$RUN/frontd.env

mkdir -p "$RUN"
chmod 755 "$RUN"
# The cluster lives in .run/pg unless its owner cannot reach the checkout (e.g. under /root);
# then in /var/tmp, linked from .run/pg.
pgdir() {
	if [[ -L "$RUN/pg" || -d "$RUN/pg" ]]; then readlink -f "$RUN/pg"; return; fi
	if pg_reachable "$RUN"; then echo "$RUN/pg"; return; fi
	local alt
	alt=/var/tmp/flov7-$(echo "$ROOT" | md5sum | cut -c1-12)
	ln -sfn "$alt" "$RUN/pg"
	echo "$alt"
}

stop() {
	if [[ -f "$RUN/frontd.pid" ]]; then
		kill -TERM "$(cat "$RUN/frontd.pid")" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$(cat "$RUN/frontd.pid")" 2>/dev/null || break; sleep 0.1; done
		rm -f "$RUN/frontd.pid"
	fi
	[[ -e "$RUN/pg" ]] && pg_stop "$(pgdir)"
	echo "flov7: stopped"
}

run() {
	local dir fresh=0
	dir=$(pgdir)
	if [[ ! -d "$dir/data" ]]; then
		pg_init "$dir" "$PGPORT" "$DB"
		fresh=1
	fi
	# the credentials key file (DIR/credentials.key, mode 0600), also for clusters made before it
	pg_credentials_key "$dir"
	pg_start "$dir" "$PGPORT"
	pg_psql "$dir" "$PGPORT" postgres -c "SELECT pg_reload_conf()" >/dev/null
	if [[ ! -f "$ENVFILE" ]]; then
		umask 077
		cat >"$ENVFILE" <<ENV
FLOV7_AUTH_PASSWORD=$(random_token 16)
FLOV7_JWT_SECRET=$(random_token 32)
ENV
		umask 022
	fi
	# shellcheck disable=SC1090
	. "$ENVFILE"
	flov7_setup_db "$dir" "$PGPORT" "$DB" "$FLOV7_AUTH_PASSWORD" "$FLOV7_JWT_SECRET" >/dev/null
	pg_psql "$dir" "$PGPORT" "$DB" -c "ALTER EXTENSION flov7 UPDATE" >/dev/null 2>&1 || true
	# credentials sealed before 0.1.3 with the key of flov7.settings move to the key file (a
	# database still on an earlier build of 0.1.3 has no rotation: it keeps its key until recreated)
	pg_psql "$dir" "$PGPORT" "$DB" >/dev/null <<'SQL'
DO $$
BEGIN
	IF to_regprocedure('flov7.rotate_credentials_key(integer)') IS NOT NULL THEN
		WHILE flov7.rotate_credentials_key(1000) > 0 LOOP
		END LOOP;
		PERFORM flov7.drop_legacy_credentials_key();
	END IF;
END
$$;
SQL
	if [[ -n "${FLOV7_ADMIN_EMAIL:-}" && -n "${FLOV7_ADMIN_PASSWORD:-}" ]]; then
		# psql interpolates :'var' only in its input, not in -c
		pg_psql "$dir" "$PGPORT" "$DB" -v email="$FLOV7_ADMIN_EMAIL" -v pw="$FLOV7_ADMIN_PASSWORD" \
			>/dev/null <<'SQL'
SELECT flov7.create_admin(:'email', :'pw', 'Administrator');
SQL
		echo "flov7: admin $FLOV7_ADMIN_EMAIL ready"
	fi

	if [[ -f "$RUN/frontd.pid" ]] && kill -0 "$(cat "$RUN/frontd.pid")" 2>/dev/null; then
		kill -TERM "$(cat "$RUN/frontd.pid")"
		sleep 0.5
	fi
	FLOV7_DB_URI=$(auth_uri "$dir" "$PGPORT" "$DB" "$FLOV7_AUTH_PASSWORD") \
		FLOV7_JWT_SECRET=$FLOV7_JWT_SECRET FLOV7_LISTEN=$LISTEN \
		nohup "$ROOT/frontd/frontd" >>"$RUN/frontd.log" 2>&1 &
	echo $! >"$RUN/frontd.pid"
	if ! wait_http "http://$LISTEN/ready" 30; then
		echo "flov7: frontd did not start; see $RUN/frontd.log" >&2
		tail -20 "$RUN/frontd.log" >&2
		exit 1
	fi
	cat <<MSG
flov7 is running$([[ $fresh == 1 ]] && echo " (new cluster)").
  HTTP API   http://$LISTEN/api/v1      (try: curl http://$LISTEN/health)
  OpenAPI    http://$LISTEN/openapi.json
  psql       psql -h $dir -p $PGPORT -U postgres $DB
  logs       $RUN/frontd.log, $dir/postgres.log
  stop       make stop
MSG
}

case "${1:-run}" in
run) run ;;
stop) stop ;;
*) echo "usage: $0 run|stop" >&2; exit 2 ;;
esac
