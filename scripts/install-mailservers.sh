#!/usr/bin/env bash
# Installs the real mail servers of the integration tier (Debian packages):
# Dovecot (IMAP, LMTP) and Postfix. Idempotent; does not start them — the
# tests start their own instances on loopback ports (internal/mailstack).
set -euo pipefail
need=()
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd dovecot-lmtpd)
[ -f /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
[ -f /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
[ -x /usr/sbin/postfix ] || need+=(postfix)
if [ ${#need[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
id vmail >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin vmail
# A package install may have started system instances; the tests use their own.
pkill -x master 2>/dev/null || true
echo "mail servers: $(dovecot --version | cut -d' ' -f1) / postfix $(postconf -h mail_version)"
