// The retry policy from Node.js: against a server that answers UNAVAILABLE first,
// ValidateConfig is retried, SendMessage only on the client made with { retrySends: true }.
// Prints one JSON line per call; the Python test counts the attempts the server saw.
//   node retries.js HOST:PORT
'use strict';

const { connect, deadline } = require('../../examples/node/client');
const { errorDetails } = require('../../examples/node/rpc_status');

const [target] = process.argv.slice(2);
const retryPolicy = {
  maxAttempts: 3,
  initialBackoff: '0.01s',
  maxBackoff: '0.05s',
  backoffMultiplier: 2,
  retryableStatusCodes: ['UNAVAILABLE'],
};
const plain = connect(target, undefined, { retryPolicy });
const keyed = connect(target, undefined, { retrySends: true, retryPolicy });

function call(client, label, method, request) {
  return new Promise((resolve) => {
    client[method](request, { deadline: deadline(10) }, (err) => {
      resolve({ call: label, ok: !err, ...(err ? { reason: errorDetails(err).reason } : {}) });
    });
  });
}

async function main() {
  const send = { to: 'node@example.com', usage_type: 'SignIn' };
  const results = [
    await call(plain, 'validate', 'ValidateConfig', { config_json: '{}' }),
    await call(plain, 'send without key', 'SendMessage', send),
    await call(keyed, 'send with key', 'SendMessage', { ...send, idempotency_key: 'k-1' }),
  ];
  for (const result of results) console.log(JSON.stringify(result));
  plain.close();
  keyed.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
