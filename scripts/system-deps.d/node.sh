#!/usr/bin/env bash
# Node.js, and the npm packages of tests/node/ (@grpc/grpc-js, @grpc/proto-loader, protobufjs
# for the Node.js tests and examples; @bufbuild/buf for `make lint`), installed from its lock.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# `npm install` from the lock rather than `npm ci`: the lock lists only the platform packages
# of @bufbuild/buf the registry here serves, which `npm ci` would reject.
bash "$root/scripts/npm-folder.sh" "$root/tests/node" install
