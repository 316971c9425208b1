#!/usr/bin/env bash
# Installs the Debian packages flov7 needs to build, run, test and benchmark, when any is missing.
# Only missing packages are installed, so a second run costs one dpkg query.
set -euo pipefail

PKGS=(
	postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
	libevent-dev libjson-c-dev libjwt-dev libhttp-parser-dev libssl-dev libwslay-dev
	gcc make pkg-config valgrind clang-format
	clang libclang-rt-14-dev  # -fsanitize=fuzzer: the libFuzzer runtime of Debian 12's clang 14
	python3 python3-pytest python3-requests python3-psycopg2 python3-websockets
	wrk procps curl
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$st" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "deps: missing packages and not root: run 'make deps' as root" >&2; exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
