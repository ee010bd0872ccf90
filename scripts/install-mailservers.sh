#!/usr/bin/env bash
# Installs the real mail servers of the integration tier (Debian packages):
# Dovecot (IMAP, POP3, LMTP) and Postfix, and the `vmail` system user that owns
# the test mail. Idempotent: installs only what is missing. It starts
# nothing and configures nothing: the tests start their own instances from
# their own temp directories on loopback ports (internal/mailstack), and
# need no entry in /etc/postfix or /etc/dovecot.
#
# Every step fails loudly: a non-zero exit and the reason on stderr.
set -euo pipefail

die() { echo "install-mailservers: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo installed)"
	SUDO="sudo"
fi

need=()
[ -x /usr/sbin/dovecot ] || need+=(dovecot-core)
[ -f /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
[ -f /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
[ -f /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
[ -x /usr/sbin/postfix ] || need+=(postfix)

if [ ${#need[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	# "No configuration": the package writes no /etc/postfix/main.cf and
	# starts no system instance. The tests do not need one (as root,
	# `postfix -c DIR` runs from any directory).
	echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections ||
		die "debconf-set-selections failed"
	# Instances a package install may start are noted here, so that only
	# those (by their pid files) are stopped below, never anything else.
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	$SUDO apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; die "apt-get update failed"; }
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >"$log" 2>&1 ||
		{ cat "$log" >&2; die "apt-get install ${need[*]} failed"; }
	echo "install-mailservers: installed ${need[*]}"
	# Stop a system instance only if this install started it: it is found
	# by the pid file of the default configuration, which did not exist
	# before this script installed the package.
	for p in "${need[@]}"; do
		case "$p" in
		postfix)
			if [ -f /etc/postfix/main.cf ] && $SUDO postfix status >/dev/null 2>&1; then
				$SUDO postfix stop || die "could not stop the Postfix instance the install started"
			fi
			;;
		dovecot-core)
			if [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
				$SUDO doveadm stop || die "could not stop the Dovecot instance the install started"
			fi
			;;
		esac
	done
fi

for b in /usr/sbin/dovecot /usr/lib/dovecot/imap /usr/lib/dovecot/pop3 /usr/lib/dovecot/lmtp /usr/sbin/postfix /etc/postfix/master.cf; do
	[ -e "$b" ] || die "$b missing after install"
done

if ! id vmail >/dev/null 2>&1; then
	$SUDO useradd --system --no-create-home --shell /usr/sbin/nologin vmail || die "useradd vmail failed"
fi

dv=$(/usr/sbin/dovecot --version 2>&1) || die "dovecot --version failed: $dv"
# -d: the built-in default, readable without any main.cf.
pv=$(/usr/sbin/postconf -d -h mail_version 2>&1) || die "postconf -d mail_version failed: $pv"
[ -n "$pv" ] || die "postconf printed no Postfix version"
echo "mail servers: dovecot ${dv%% *} / postfix $pv"
