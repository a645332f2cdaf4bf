#!/usr/bin/env bash
# Calls smtp-connector with no .proto file at hand: `buf curl` (from the @bufbuild/buf npm
# package, also used by `make lint`) reads the schema from the server's gRPC reflection.
#   examples/reflection/call.sh [HOST:PORT] [RECIPIENT]
set -euo pipefail
target="${1:-127.0.0.1:50051}"
to="${2:-user@example.com}"
buf="${BUF:-$(dirname "$0")/../../tests/node/node_modules/.bin/buf}"
service="smtp_connector.v1.SmtpConnectorService"
curl=("$buf" curl --protocol grpc --http2-prior-knowledge)

# What the server offers, as reflection describes it.
"${curl[@]}" --list-methods "http://$target"

# Requests are JSON (proto field names); the payload Struct is a plain JSON object.
"${curl[@]}" -d '{"config_json": "{\"host\": \"\"}"}' "http://$target/$service/ValidateConfig"
"${curl[@]}" -d "{\"to\": \"$to\", \"usage_type\": \"Register\",
  \"payload\": {\"code\": \"777777\", \"application\": {\"name\": \"Reflection\"}}}" \
  "http://$target/$service/SendMessage"
