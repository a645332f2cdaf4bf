// The oracle of the conformance suite: Logto's published SMTP connector, loaded as Logto core
// loads it (the package's default export is a createConnector that takes getConfig and
// getI18nEmailTemplate), driven over stdin/stdout.
//
// Protocol: one JSON line in, one JSON line out, per batch. A batch is {"items": [...]}, each
// item one of
//   {"op": "verdict", "config": {...}}
//       -> {"accepted": bool, "issues": ["templates: ...", ...]}
//   {"op": "send", "config": {...}, "data": {"to", "type", "payload"}, "i18nTemplate": {...}?}
//       -> {"sent": true, "response": "250 ..."} or {"sent": false, "code": "...", "error": "..."}
// and the answer is {"results": [...]} in the same order.
//
// As in Logto core (packages/core/src/routes/connector/index.ts), the config is checked with the
// connector's configGuard as the console sends it, then stored through clean-deep, and
// sendMessage reads the stored config through getConfig.
import cleanDeep from 'clean-deep';
import createConnector from '@logto/connector-smtp';
import readline from 'node:readline';

// nodemailer's `logger: true` writes through console; the protocol owns stdout.
for (const level of ['log', 'info', 'debug', 'warn', 'error', 'trace']) {
  console[level] = (...args) => process.stderr.write(`${args.join(' ')}\n`);
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
// nodemailer keys that would send elsewhere than host:port (a well-known service, a proxy, a
// URL, straight to the recipient's MX) or through another transport.
const ELSEWHERE = ['service', 'proxy', 'url', 'direct', 'sendmail', 'streamTransport', 'jsonTransport', 'SES', 'transport'];

function issuesOf(error) {
  return error.issues.map((issue) => `${issue.path.join('.') || '(config)'}: ${issue.message}`);
}

async function verdict(config) {
  const connector = await createConnector({ getConfig: async () => config });
  const result = connector.configGuard.safeParse(config);
  return result.success ? { accepted: true, issues: [] } : { accepted: false, issues: issuesOf(result.error) };
}

// A send may only reach the capture sink on loopback, and never a token endpoint: an OAuth2
// config that would fetch a token (no accessToken) is refused here, before nodemailer sees it.
function refuseUnsafe(config) {
  // An empty host is what clean-deep drops: validation then fails before any connection.
  if (!LOOPBACK.has(config?.host) && config?.host !== '') {
    return `refusing to send to ${JSON.stringify(config?.host)}: the harness sends to loopback only`;
  }
  const elsewhere = ELSEWHERE.filter((key) => key in config);
  if (elsewhere.length > 0) {
    return `refusing a config with ${elsewhere.join(', ')}: it would not send to the sink`;
  }
  const auth = config.auth ?? {};
  const fetchesToken = Boolean(auth.refreshToken || auth.serviceClient || auth.privateKey);
  const loopbackUrl = /^http:\/\/127\.0\.0\.1:\d+\//.test(String(auth.accessUrl ?? ''));
  if (fetchesToken && !loopbackUrl) {
    return 'refusing an OAuth2 config that would fetch a token from outside loopback';
  }
  return undefined;
}

async function send({ config, data, i18nTemplate }) {
  const unsafe = refuseUnsafe(config);
  if (unsafe) {
    return { sent: false, code: 'harness_refused', error: unsafe };
  }
  const stored = cleanDeep(config);
  const connector = await createConnector({
    getConfig: async () => stored,
    getI18nEmailTemplate: async () => i18nTemplate ?? undefined,
  });
  try {
    const info = await connector.sendMessage(data);
    return { sent: true, response: String(info?.response ?? '') };
  } catch (error) {
    return { sent: false, code: String(error?.code ?? 'error'), error: String(error?.message ?? error) };
  }
}

async function run(item) {
  try {
    if (item.op === 'verdict') {
      return await verdict(item.config);
    }
    if (item.op === 'send') {
      return await send(item);
    }
    return { error: `unknown op ${item.op}` };
  } catch (error) {
    return { error: `harness: ${error?.stack ?? error}` };
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) {
    continue;
  }
  const { items } = JSON.parse(line);
  const results = [];
  // One at a time: each send opens its own connection, as Logto's connector does.
  for (const item of items) {
    results.push(await run(item));
  }
  process.stdout.write(`${JSON.stringify({ results })}\n`);
}
// Pooled transports (a config's `pool: true`) keep sockets open; the batches are done.
process.exit(0);
