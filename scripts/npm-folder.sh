#!/usr/bin/env bash
# The npm packages of one folder, from its lock, with Node.js itself when the machine has none;
# installed only when the lock is newer than what node_modules holds.
# Usage: npm-folder.sh FOLDER install|ci
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
folder="$1"
how="$2"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  bash "$root/scripts/apt-install.sh" nodejs npm
fi
stamp="$folder/node_modules/.package-lock.json"
# npm writes its own copy of the lock into node_modules; reinstall when the lock is newer.
if [ ! -f "$stamp" ] || [ "$folder/package-lock.json" -nt "$stamp" ]; then
  # One npm at a time in this folder (make test may run while make lint does).
  exec 9>"$folder/.npm-install.lock"
  flock 9
  case "$how" in
    install) npm install --prefix "$folder" --no-save --no-audit --no-fund --loglevel=error ;;
    ci) npm ci --prefix "$folder" --no-audit --no-fund --loglevel=error ;;
    *) echo "npm-folder.sh: the second argument is install or ci, not '$how'" >&2; exit 2 ;;
  esac
fi
