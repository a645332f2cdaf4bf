#!/usr/bin/env bash
# Postfix: the second, independent SMTP server the tests deliver to (tests/support/postfix.py
# runs it in a private config and queue folder on a loopback port; no system daemon is used).
set -euo pipefail
command -v postconf >/dev/null 2>&1 && [ -x /usr/lib/postfix/sbin/master ] && exit 0
# Debian asks how Postfix should be set up: "No configuration" leaves /etc/postfix alone.
if [ "$(id -u)" -eq 0 ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
exec bash "$(dirname "$0")/../apt-install.sh" postfix
