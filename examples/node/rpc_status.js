// Reads the google.rpc.Status that smtp-connector attaches to every failed call (AIP-193):
// the ErrorInfo `reason` to branch on, its metadata (smtp_code, stage, delivery), the
// RetryInfo hint and the BadRequest field violations. Match on `reason`, never on text.
'use strict';

const protobuf = require('protobufjs');

const field = (type, id, extra = {}) => ({ type, id, ...extra });
const root = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: { fields: { type_url: field('string', 1), value: field('bytes', 2) } },
            Duration: { fields: { seconds: field('int64', 1), nanos: field('int32', 2) } },
          },
        },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: field('int32', 1),
                message: field('string', 2),
                details: field('google.protobuf.Any', 3, { rule: 'repeated' }),
              },
            },
            ErrorInfo: {
              fields: {
                reason: field('string', 1),
                domain: field('string', 2),
                metadata: field('string', 3, { keyType: 'string' }),
              },
            },
            RetryInfo: { fields: { retry_delay: field('google.protobuf.Duration', 1) } },
            BadRequest: {
              fields: { field_violations: field('FieldViolation', 1, { rule: 'repeated' }) },
              nested: {
                FieldViolation: {
                  fields: { field: field('string', 1), description: field('string', 2) },
                },
              },
            },
          },
        },
      },
    },
  },
});
const Status = root.lookupType('google.rpc.Status');
const DETAILS = {
  'type.googleapis.com/google.rpc.ErrorInfo': root.lookupType('google.rpc.ErrorInfo'),
  'type.googleapis.com/google.rpc.RetryInfo': root.lookupType('google.rpc.RetryInfo'),
  'type.googleapis.com/google.rpc.BadRequest': root.lookupType('google.rpc.BadRequest'),
};

/**
 * The structured error of a failed call: { code, message, reason, metadata,
 * retryDelaySeconds, fieldViolations }. `reason` is '' when gRPC itself failed the call
 * (for example UNAVAILABLE when the service cannot be reached).
 */
function errorDetails(err) {
  const result = {
    code: err.code,
    message: err.details,
    reason: '',
    metadata: {},
    retryDelaySeconds: null,
    fieldViolations: [],
  };
  const [encoded] = err.metadata ? err.metadata.get('grpc-status-details-bin') : [];
  if (!encoded) return result;
  for (const any of Status.decode(encoded).details) {
    const type = DETAILS[any.type_url];
    if (!type) continue;
    const detail = type.toObject(type.decode(any.value), { longs: Number });
    if (detail.reason !== undefined) {
      result.reason = detail.reason;
      result.metadata = detail.metadata || {};
    } else if (detail.retry_delay !== undefined) {
      const { seconds = 0, nanos = 0 } = detail.retry_delay;
      result.retryDelaySeconds = seconds + nanos / 1e9;
    } else if (detail.field_violations !== undefined) {
      result.fieldViolations = detail.field_violations;
    }
  }
  return result;
}

module.exports = { errorDetails };
