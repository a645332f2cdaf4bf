// Calls all three RPCs of a running smtp-connector from Node.js (@grpc/grpc-js with protos/
// loaded by @grpc/proto-loader) and prints one JSON line per call for the Python test.
//   node all_rpcs.js HOST:PORT RECIPIENT
'use strict';

const { connect, deadline, toStruct } = require('../../examples/node/client');
const { errorDetails } = require('../../examples/node/rpc_status');

const [target, recipient] = process.argv.slice(2);
const client = connect(target);

function call(method, request) {
  return new Promise((resolve) => {
    client[method](request, { deadline: deadline(20) }, (err, response) => {
      resolve(err ? { rpc: method, error: errorDetails(err) } : { rpc: method, response });
    });
  });
}

async function main() {
  const results = [
    await call('ValidateConfig', { config_json: '{"host": "", "templates": []}' }),
    await call('TestConnection', {}),
    await call('SendMessage', {
      to: recipient,
      usage_type: 'Register',
      payload: toStruct({ code: '424242', application: { name: 'Node' } }),
    }),
    // No `code` in the payload: the template needs it, so this fails with a reason.
    await call('SendMessage', { to: recipient, usage_type: 'Register', payload: toStruct({}) }),
  ];
  for (const result of results) console.log(JSON.stringify(result));
  client.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
