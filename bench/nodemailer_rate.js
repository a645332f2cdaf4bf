#!/usr/bin/env node
// The nodemailer baseline: send COUNT messages rendered from the benchmark's template, as
// Logto's connector does (placeholders replaced, then nodemailer's sendMail), and print the rate.
// Adapted from ../shared/bench/nodemailer_rate.js.
//
// usage: node nodemailer_rate.js (--count N | --duration S) --port P --template FILE [--pool]
//                                [--nodelay] [--max-connections 5]
//                                [--max-messages 100] [--concurrency C] [--host 127.0.0.1]
//   --duration         stop starting messages after S seconds (instead of a count)
//   --pool             pooled SMTP transport (connections kept open and reused)
//   --max-connections  pool size (nodemailer's default 5)
//   --max-messages     messages per pooled connection before it is recycled (default 100; 0 = Infinity)
//   --concurrency      sendMail calls kept in flight (default: 1 unpooled, 4 x max-connections pooled)
//   --template         JSON {subject, content, contentType, payload} (written by bench.py)
//   --nodelay          set TCP_NODELAY on nodemailer's sockets: without it, on some kernels a
//                      message written in several pieces waits for a delayed ACK (~40 ms)
// Last line: 'msgs=N secs=S rate=R'.
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');

const args = { count: 0, pool: false, nodelay: false, 'max-connections': 5, 'max-messages': 100,
  concurrency: 0, duration: 0, host: '127.0.0.1', port: 0, template: '' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, '');
  if (!(k in args)) { console.error(`unknown option ${argv[i]}`); process.exit(2); }
  if (k === 'pool' || k === 'nodelay') args[k] = true;
  else if (k === 'host' || k === 'template') args[k] = argv[++i];
  else args[k] = Number(argv[++i]);
}
if (!(args.count || args.duration) || !args.port || !args.template) {
  console.error('--count or --duration, --port and --template are required'); process.exit(2);
}
if (args.nodelay) {  // before nodemailer opens any socket
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...rest) { this.setNoDelay(true); return connect.apply(this, rest); };
}
const nodemailer = require(path.join(__dirname, 'node_modules', 'nodemailer'));
const concurrency = args.concurrency || (args.pool ? 4 * args['max-connections'] : 1);
const template = JSON.parse(fs.readFileSync(args.template, 'utf8'));

const transport = nodemailer.createTransport({
  host: args.host, port: args.port, secure: false, ignoreTLS: true,
  pool: args.pool, maxConnections: args['max-connections'],
  maxMessages: args['max-messages'] || Infinity,
});

// Logto's connector: replace {{key}} / {{ key }} / {{a.b}} with the payload's values.
function render(text, payload) {
  return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, key) =>
    String(key.split('.').reduce((value, part) => (value == null ? value : value[part]), payload)));
}

async function main() {
  let next = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  const until = args.duration ? t0 + BigInt(Math.round(args.duration * 1e9)) : 0n;
  const worker = async () => {
    while ((!args.count || next < args.count) && (!until || process.hrtime.bigint() < until)) {
      const i = next++;
      const payload = { ...template.payload, code: String(100000 + (i % 900000)) };
      const body = render(template.content, payload);
      await transport.sendMail({
        from: 'Logto <noreply@example.com>', to: `user${i}@example.org`,
        subject: render(template.subject, payload),
        ...(template.contentType === 'text/html' ? { html: body } : { text: body }),
      });
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  transport.close();
  console.log(`msgs=${done} secs=${secs.toFixed(3)} rate=${(done / secs).toFixed(0)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
