#!/usr/bin/env bash
# Node.js, and the npm packages of tests/node/ (@grpc/grpc-js, @grpc/proto-loader, protobufjs
# for the Node.js tests and examples; @bufbuild/buf for `make lint`), installed from its lock.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  bash "$root/scripts/apt-install.sh" nodejs npm
fi
folder="$root/tests/node"
stamp="$folder/node_modules/.package-lock.json"
# npm writes its own copy of the lock into node_modules; reinstall when the lock is newer.
if [ ! -f "$stamp" ] || [ "$folder/package-lock.json" -nt "$stamp" ]; then
  # One npm at a time in this folder (make test may run while make lint does).
  exec 9>"$folder/.npm-install.lock"
  flock 9
  # `npm install` from the lock rather than `npm ci`: the lock lists only the platform
  # packages of @bufbuild/buf the registry here serves, which `npm ci` would reject.
  npm install --prefix "$folder" --no-save --no-audit --no-fund --loglevel=error
fi
