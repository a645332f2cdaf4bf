// Shows the message a SignIn send would deliver, without sending it (PreviewMessage).
//   node preview.js 127.0.0.1:50051 user@example.com 123456
'use strict';

const { connect, deadline, toStruct } = require('./client');
const { errorDetails } = require('./rpc_status');

const [target = '127.0.0.1:50051', to = 'user@example.com', code = '123456'] =
  process.argv.slice(2);
const client = connect(target);

// The same fields as SendMessage; include_raw_message asks for the RFC 5322 bytes as well.
const request = {
  to,
  usage_type: 'SignIn',
  payload: toStruct({ code, application: { name: 'Acme' } }),
  include_raw_message: true,
};

client.PreviewMessage(request, { deadline: deadline(30) }, (err, preview) => {
  client.close();
  if (err) {
    const error = errorDetails(err);
    console.log(`would not send: ${error.reason || error.code}: ${error.message}`);
    process.exitCode = 1;
    return;
  }
  console.log(`template ${preview.template.template_path} (${preview.usage_type})`);
  for (const header of preview.headers) console.log(`${header.name}: ${header.value}`);
  console.log(preview.text_body || preview.html_body);
  for (const warning of preview.warnings) console.log(`! ${warning.code}: ${warning.message}`);
  console.log(`${preview.size_bytes} bytes (raw: ${preview.raw_message.length})`);
});
