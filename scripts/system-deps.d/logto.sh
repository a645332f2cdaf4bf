#!/usr/bin/env bash
# Logto's published SMTP connector, the oracle of tests/conformance/: @logto/connector-smtp
# pinned exactly, with the nodemailer and connector-kit it brings, and clean-deep (what Logto
# core stores a connector config through), installed from tests/conformance/node/'s lock.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  bash "$root/scripts/apt-install.sh" nodejs npm
fi
folder="$root/tests/conformance/node"
stamp="$folder/node_modules/.package-lock.json"
# npm writes its own copy of the lock into node_modules; reinstall when the lock is newer.
if [ ! -f "$stamp" ] || [ "$folder/package-lock.json" -nt "$stamp" ]; then
  exec 9>"$folder/.npm-install.lock"
  flock 9
  # `npm ci` installs exactly the lock. The connector declares node ^22 in "engines"; npm only
  # warns about that, and the suite runs it on the Node.js the machine has (18 or later).
  npm ci --prefix "$folder" --no-audit --no-fund --loglevel=error
fi
