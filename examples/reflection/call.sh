#!/usr/bin/env bash
# Calls smtp-connector with no .proto file at hand: `buf curl` (the Buf CLI, from the
# @bufbuild/buf npm package of this folder) reads the schema from the server's gRPC reflection.
#   npm install --prefix examples/reflection     # once: installs buf into ./node_modules
#   examples/reflection/call.sh [HOST:PORT] [RECIPIENT]
set -euo pipefail
target="${1:-127.0.0.1:50051}"
to="${2:-user@example.com}"
here="$(cd "$(dirname "$0")" && pwd)"

# buf: $BUF, else this folder's npm package, else the test suite's, else one on PATH.
find_buf() {
  local candidate
  for candidate in "${BUF:-}" "$here/node_modules/.bin/buf" \
    "$here/../../tests/node/node_modules/.bin/buf" "$(command -v buf || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      echo "$candidate"
      return
    fi
  done
  echo "call.sh needs the buf CLI: run \`npm install --prefix examples/reflection\` once" \
    "(from the checkout's root), or set BUF=/path/to/buf" >&2
  exit 2
}
buf="$(find_buf)"
service="smtp_connector.v1.SmtpConnectorService"
curl=("$buf" curl --protocol grpc --http2-prior-knowledge)

# What the server offers, as reflection describes it.
"${curl[@]}" --list-methods "http://$target"

# Requests are JSON (proto field names); the payload Struct is a plain JSON object.
"${curl[@]}" -d '{"config_json": "{\"host\": \"\"}"}' "http://$target/$service/ValidateConfig"
"${curl[@]}" -d "{\"to\": \"$to\", \"usage_type\": \"Register\",
  \"payload\": {\"code\": \"777777\", \"application\": {\"name\": \"Reflection\"}}}" \
  "http://$target/$service/SendMessage"
