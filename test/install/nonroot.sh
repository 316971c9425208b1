#!/usr/bin/env bash
# test/install/nonroot.sh: `make run` as a developer runs it, a user other than root with sudo:
# the install step goes through sudo, the cluster and frontd are that user's.
# It makes a throwaway user (useradd, a home with a copy of this checkout) and a sudoers drop-in
# for it, and removes both at the end whatever happens: so it runs only as root, and only where
# changing users is expected (CI=true, or FLOV7_TEST_SUDO_USER=1); it skips with a message
# otherwise, since a developer's `make test` must not add users to their machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. test/lib.sh

if [[ $(id -u) -ne 0 || ( ${CI:-} != true && ${FLOV7_TEST_SUDO_USER:-} != 1 ) ]]; then
	echo "nonroot: skipped: it adds and removes a user and a sudoers drop-in; runs as root with CI=true or FLOV7_TEST_SUDO_USER=1"
	exit 0
fi
if ! command -v sudo >/dev/null 2>&1 || ! command -v useradd >/dev/null 2>&1; then
	echo "nonroot: skipped: sudo or useradd is not installed"
	exit 0
fi

DEV=flov7dev$((RANDOM % 100000))
HOMEDIR=/home/$DEV
SRC=$HOMEDIR/flov7
DROPIN=/etc/sudoers.d/flov7-test-$DEV
PGPORT=$((20000 + RANDOM % 20000))
HTTPPORT=$((40000 + RANDOM % 20000))
as_dev() { runuser -u "$DEV" -- env HOME="$HOMEDIR" PATH="$PATH" PG_CONFIG="${PG_CONFIG:-}" "$@"; }

cleanup() {
	if [[ -d $SRC ]]; then as_dev make -s -C "$SRC" stop >/dev/null 2>&1 || true; fi
	rm -f "$DROPIN"
	if id "$DEV" >/dev/null 2>&1; then userdel -r "$DEV" 2>/dev/null || true; fi
	if id "$DEV" >/dev/null 2>&1 || [[ -e $DROPIN ]]; then
		echo "nonroot: could not remove user $DEV or $DROPIN" >&2
	fi
}
trap cleanup EXIT

useradd --create-home --home-dir "$HOMEDIR" --shell /bin/bash "$DEV"
echo "$DEV ALL=(root) NOPASSWD: ALL" >"$DROPIN"
chmod 0440 "$DROPIN"
visudo -cqf "$DROPIN"
as_dev mkdir "$SRC"
tar -C "$ROOT" --exclude=./.run --exclude=./.git -cf - . | as_dev tar -C "$SRC" -xf -

echo "nonroot: make run as $DEV (uid $(id -u "$DEV")), sudo for the install step"
if ! as_dev env FLOV7_PG_PORT="$PGPORT" FLOV7_LISTEN="127.0.0.1:$HTTPPORT" make -C "$SRC" run >"$HOMEDIR/run.log" 2>&1; then
	tail -30 "$HOMEDIR/run.log" >&2
	echo "nonroot: FAILED: make run as a user with sudo" >&2
	exit 1
fi
curl -fsS -o /dev/null "http://127.0.0.1:$HTTPPORT/ready" || { echo "nonroot: FAILED: frontd not ready" >&2; exit 1; }
frontd_user=$(ps -o user= -p "$(cat "$SRC/.run/frontd.pid")")
pg_user=$(ps -o user= -p "$(head -1 "$(readlink -f "$SRC/.run/pg")/data/postmaster.pid")")
if [[ $frontd_user != "$DEV" || $pg_user != "$DEV" ]]; then
	echo "nonroot: FAILED: frontd runs as $frontd_user, PostgreSQL as $pg_user, not $DEV" >&2
	exit 1
fi
as_dev make -s -C "$SRC" stop >/dev/null
echo "nonroot: make run as $DEV: installed through sudo; PostgreSQL and frontd ran as $DEV; stopped"
