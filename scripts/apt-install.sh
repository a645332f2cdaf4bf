#!/usr/bin/env bash
# apt-install.sh PACKAGE...: install Debian packages that are missing, without starting any
# daemon they ship (the tests start their own on loopback). Needs root, as CI has.
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
# policy-rc.d 101 keeps package scripts from starting daemons; restore whatever was there.
policy=/usr/sbin/policy-rc.d
saved=""
[ -e "$policy" ] && saved="$(mktemp)" && cp -p "$policy" "$saved"
printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
trap 'if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
# One apt at a time on this machine (parallel test runs may both want packages).
exec 9>/tmp/smtp-connector-apt.lock
flock 9
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/apt-install.log 2>&1; then
  apt-get update -q >/dev/null 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/apt-install.log 2>&1 \
    || { cat /tmp/apt-install.log >&2; exit 1; }
fi
