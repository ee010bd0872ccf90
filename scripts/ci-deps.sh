#!/bin/sh
# Installs what the tests need beyond Go: PostgreSQL (the store/postgres tests
# start a private server from its binaries). Idempotent: installs only what
# is missing. Run as root (CI) or with sudo.
set -eu

need=""
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && ! command -v postgres >/dev/null 2>&1; then
	need="$need postgresql"
fi

if [ -n "$need" ]; then
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y --no-install-recommends $need
	# Debian starts a cluster on install; the tests start their own.
	if command -v pg_lsclusters >/dev/null 2>&1; then
		$SUDO pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
			$SUDO pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
		done
	fi
fi

echo "ci-deps: PostgreSQL binaries in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n1)"

# Chromium for the examples/helpdesk browser test (chromedp drives it
# headless). Idempotent: installed only when /usr/bin/chromium is missing.
if [ ! -x /usr/bin/chromium ]; then
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y --no-install-recommends chromium
fi
echo "ci-deps: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium missing')"
