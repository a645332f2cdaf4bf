// What the README's keepCase note says, shown: the proto loaded with @grpc/proto-loader's
// default (keepCase: false) and with keepCase: true, the same request written with the
// proto's field names sent through each; one JSON line per call for the Python test.
//   node keep_case.js HOST:PORT RECIPIENT
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { errorDetails } = require('../../examples/node/rpc_status');

const [target, to] = process.argv.slice(2);
const PROTOS = path.join(__dirname, '..', '..', 'protos');

function service(keepCase) {
  const definition = protoLoader.loadSync('smtp_connector/v1/smtp_connector.proto', {
    includeDirs: [PROTOS],
    keepCase,
  });
  const { SmtpConnectorService } = grpc.loadPackageDefinition(definition).smtp_connector.v1;
  return new SmtpConnectorService(target, grpc.credentials.createInsecure());
}

function send(keepCase) {
  const client = service(keepCase);
  // The proto's names, as in the README and the proto file itself.
  const application = { structValue: { fields: { name: { stringValue: 'Node' } } } };
  const payload = { fields: { code: { stringValue: '1' }, application } };
  const request = { to, usage_type: 'Register', payload };
  return new Promise((resolve) => {
    client.SendMessage(request, { deadline: Date.now() + 20000 }, (err) => {
      client.close();
      const line = { keepCase, ok: !err };
      if (err) {
        const { reason, fieldViolations } = errorDetails(err);
        Object.assign(line, { reason, violations: fieldViolations });
      }
      resolve(line);
    });
  });
}

(async () => {
  for (const keepCase of [false, true]) console.log(JSON.stringify(await send(keepCase)));
})();
