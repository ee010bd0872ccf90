#!/usr/bin/env bash
# Installs what the tests need beyond Go and the mail servers
# (install-mailservers.sh): a C compiler for `go test -race` (the race
# detector needs cgo), PostgreSQL's binaries (the store/postgres tests start
# a private server from them) and Chromium (the examples/helpdesk browser
# test). Idempotent: installs only what is missing. Run as root (CI) or with
# sudo. Every step fails loudly: a non-zero exit and the reason on stderr.
set -euo pipefail

die() { echo "ci-deps: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo installed)"
	SUDO="sudo"
fi

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -f /usr/include/stdlib.h ] || need+=(libc6-dev)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
# Debian's minimal images lack these; go needs git for nothing here, but the
# module proxy needs CA certificates.
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)

if [ ${#need[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	had_cluster=""
	command -v pg_lsclusters >/dev/null 2>&1 && had_cluster=$($SUDO pg_lsclusters -h 2>/dev/null || true)
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	$SUDO apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; die "apt-get update failed"; }
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >"$log" 2>&1 ||
		{ cat "$log" >&2; die "apt-get install ${need[*]} failed"; }
	echo "ci-deps: installed ${need[*]}"
	# Debian creates and may start a cluster when it installs PostgreSQL;
	# the tests start their own. Stop only a cluster this install created.
	if [ -z "$had_cluster" ] && command -v pg_lsclusters >/dev/null 2>&1; then
		$SUDO pg_lsclusters -h 2>/dev/null | while read -r ver name _ status _; do
			if [ "$status" = "online" ]; then
				$SUDO pg_ctlcluster "$ver" "$name" stop || die "could not stop cluster $ver/$name the install started"
			fi
		done
	fi
fi

command -v gcc >/dev/null 2>&1 || die "gcc missing after install"
pg=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n1)
[ -x "$pg/postgres" ] || die "PostgreSQL binaries missing after install"
chromium_version=$(/usr/bin/chromium --version 2>&1) || die "chromium --version failed: $chromium_version"
echo "ci-deps: $(gcc --version | head -n1); PostgreSQL binaries in $pg; $chromium_version"
