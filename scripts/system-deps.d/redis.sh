#!/usr/bin/env bash
# Redis: the shared store of idempotency keys is tested against a real redis-server, which the
# test fixture starts on a free loopback port (no persistence) and stops.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
here="$(cd "$(dirname "$0")/.." && pwd)"
bash "$here/apt-install.sh" redis-server
