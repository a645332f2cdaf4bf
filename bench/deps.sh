#!/usr/bin/env bash
# What `make bench` needs besides the project's virtual environment: Postfix's smtp-sink and
# smtp-source (Debian's postfix package, installed without starting its daemon), Node.js and
# nodemailer (bench/package.json), iproute2 for the delay line, py-spy for --profile. Each is installed only when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
if [ ! -x /usr/sbin/smtp-sink ] || [ ! -x /usr/sbin/smtp-source ]; then
  # "No configuration": the package only brings the binaries; we never run its daemon.
  if [ "$(id -u)" -eq 0 ] && command -v debconf-set-selections >/dev/null; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  fi
  bash "$root/scripts/apt-install.sh" postfix
fi
command -v node >/dev/null && command -v npm >/dev/null || bash "$root/scripts/apt-install.sh" nodejs npm
# The delay line (bench/delayline.py) builds its namespaces and TUN devices with iproute2's ip.
command -v ip >/dev/null || bash "$root/scripts/apt-install.sh" iproute2
if [ ! -d "$here/node_modules/nodemailer" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --silent)
fi
"$root/.venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
# The package's scripts must not have left Postfix's master running (policy-rc.d keeps it down).
if pgrep -x master >/dev/null; then
  echo "warning: a Postfix master daemon is running; the benchmark does not need it" >&2
fi
