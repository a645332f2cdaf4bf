// ValidateConfig from Node.js over mutual TLS with a bearer token; prints the response.
//   node secure_call.js HOST:PORT CA.pem CERT.pem KEY.pem TOKEN_FILE
'use strict';

const fs = require('fs');
const { connect, deadline, secureCredentials } = require('../../examples/node/client');
const { errorDetails } = require('../../examples/node/rpc_status');

const [target, ca, cert, key, tokenFile] = process.argv.slice(2);
const credentials = secureCredentials({
  ca: fs.readFileSync(ca),
  cert: fs.readFileSync(cert),
  key: fs.readFileSync(key),
  token: fs.readFileSync(tokenFile, 'utf8').trim(),
});
const client = connect(target, credentials);
client.ValidateConfig({ config_json: '{}' }, { deadline: deadline(10) }, (err, response) => {
  console.log(JSON.stringify(err ? { error: errorDetails(err) } : { valid: response.valid }));
  client.close();
});
