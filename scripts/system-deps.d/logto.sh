#!/usr/bin/env bash
# Logto's published SMTP connector, the oracle of tests/conformance/: @logto/connector-smtp
# pinned exactly, with the nodemailer and connector-kit it brings, and clean-deep (what Logto
# core stores a connector config through), installed from tests/conformance/node/'s lock.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# `npm ci` installs exactly the lock. The connector declares node ^22 in "engines"; npm only
# warns about that, and the suite runs it on the Node.js the machine has (18 or later).
bash "$root/scripts/npm-folder.sh" "$root/tests/conformance/node" ci
