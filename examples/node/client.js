// Loads protos/ with @grpc/proto-loader and opens a SmtpConnectorService client.
'use strict';

const path = require('path');

/** A package of package.json, or the one command that installs them all. */
function need(name) {
  try {
    return require(name);
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND' || !err.message.includes(name)) throw err;
    console.error(
      `${name} is not installed: run \`npm install --prefix examples/node\` once ` +
        "(from the checkout's root; it installs this folder's package.json)",
    );
    process.exit(2);
  }
}

const grpc = need('@grpc/grpc-js');
const protoLoader = need('@grpc/proto-loader');

const PROTOS = process.env.SMTP_CONNECTOR_PROTOS || path.join(__dirname, '..', '..', 'protos');

const definition = protoLoader.loadSync('smtp_connector/v1/smtp_connector.proto', {
  includeDirs: [PROTOS],
  // Fields keep their proto names (usage_type, idempotency_key). proto-loader's default,
  // keepCase: false, names them usageType, idempotencyKey, and silently drops a field
  // written as usage_type: the server then sees an empty usage type.
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
});
const { SmtpConnectorService } = grpc.loadPackageDefinition(definition).smtp_connector.v1;

/** A plain JSON object as a google.protobuf.Struct (the `payload` of SendMessage). */
function toStruct(object) {
  // protobufjs names the well-known types' fields in camelCase, whatever keepCase says.
  const value = (v) => {
    if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
    if (typeof v === 'number') return { numberValue: v };
    if (typeof v === 'string') return { stringValue: v };
    if (typeof v === 'boolean') return { boolValue: v };
    if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
    return { structValue: toStruct(v) };
  };
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, value(v)])) };
}

// The Python client's retry policy: UNAVAILABLE only, a few attempts with backoff, within the
// call's deadline. Service config chooses it per method, never per call: ValidateConfig,
// TestConnection and PreviewMessage are always safe to retry; SendMessage only when it has an
// idempotency_key.
const RETRY_POLICY = {
  maxAttempts: 4,
  initialBackoff: '0.2s',
  maxBackoff: '5s',
  backoffMultiplier: 2,
  retryableStatusCodes: ['UNAVAILABLE'],
};

const SERVICE = 'smtp_connector.v1.SmtpConnectorService';

function serviceConfig(retrySends, retryPolicy) {
  const safe = ['ValidateConfig', 'TestConnection', 'PreviewMessage'];
  const methods = [...safe, ...(retrySends ? ['SendMessage'] : [])];
  const name = methods.map((method) => ({ service: SERVICE, method }));
  return JSON.stringify({ methodConfig: [{ name, retryPolicy }] });
}

/**
 * A client of `target` (host:port), plaintext unless `credentials` say otherwise (e.g.
 * grpc.credentials.createSsl()). With `retrySends`, SendMessage is retried too: use such a
 * client only for sends that carry an idempotency_key. Both kinds share one connection.
 */
function connect(
  target,
  credentials = grpc.credentials.createInsecure(),
  { retrySends = false, retryPolicy = RETRY_POLICY } = {},
) {
  return new SmtpConnectorService(target, credentials, {
    'grpc.service_config': serviceConfig(retrySends, retryPolicy),
  });
}

/**
 * Credentials for TLS: `ca` (PEM Buffer; the system's roots when null), `cert` and `key` for
 * mutual TLS, and a bearer `token` sent as `authorization: Bearer <token>` on every call
 * (grpc-js sends call credentials only over TLS).
 */
function secureCredentials({ ca = null, cert = null, key = null, token = null } = {}) {
  const tls = grpc.credentials.createSsl(ca, key, cert);
  if (!token) return tls;
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  return grpc.credentials.combineChannelCredentials(tls, bearer);
}

/** A deadline `seconds` from now, for the `deadline` call option. */
function deadline(seconds) {
  return new Date(Date.now() + seconds * 1000);
}

module.exports = { connect, deadline, grpc, secureCredentials, toStruct };
