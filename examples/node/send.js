// Sends one verification code through smtp-connector and handles errors by their reason.
//   node send.js 127.0.0.1:50051 user@example.com 123456
'use strict';

const { connect, deadline, toStruct } = require('./client');
const { errorDetails } = require('./rpc_status');

const [target = '127.0.0.1:50051', to = 'user@example.com', code = '123456'] =
  process.argv.slice(2);
// Every send here carries an idempotency key, so this client may retry SendMessage.
const client = connect(target, undefined, { retrySends: true });

const request = {
  to,
  usage_type: 'SignIn',
  payload: toStruct({ code, application: { name: 'Acme' } }),
  // With a key, a retried call sends at most once; without one, never retry a send blindly.
  idempotency_key: `sign-in-${to}-${code}`,
};

client.SendMessage(request, { deadline: deadline(30) }, (err, response) => {
  client.close();
  if (!err) {
    console.log(`sent ${response.message_id}: ${response.smtp_code} ${response.smtp_reply}`);
    return;
  }
  const error = errorDetails(err);
  switch (error.reason) {
    case 'SMTP_RECIPIENT_REFUSED':
    case 'INVALID_RECIPIENT':
      console.log(`bad address (${error.metadata.smtp_code || 'no SMTP code'}): ${error.message}`);
      break;
    case 'SMTP_TEMPORARY_FAILURE':
    case 'SMTP_CONNECT_FAILED':
      console.log(`not sent, try again in ${error.retryDelaySeconds ?? 60} s: ${error.message}`);
      break;
    case 'DELIVERY_STATE_UNKNOWN':
      console.log(`may have been sent; do not resend blindly: ${error.message}`);
      break;
    default:
      console.log(`failed: ${error.reason || error.code}: ${error.message}`);
  }
  process.exitCode = 1;
});
