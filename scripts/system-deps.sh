#!/usr/bin/env bash
# Installs the system packages the tests need (Postfix, Redis, Node.js packages, ...): each
# script in system-deps.d/ checks for its own tool and installs it only when it is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shopt -s nullglob
for script in "$here"/system-deps.d/*.sh; do
  bash "$script"
done
