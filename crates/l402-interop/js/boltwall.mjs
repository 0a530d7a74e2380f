// boltwall (npm), a real LSAT server, selling one route through the l402 dev node.
//
// Usage: node js/boltwall.mjs <pairing dir> <price in sat>. Reads the dev node's pairing file
// (dev-node.json) and hands its address and secret to boltwall as LND_SOCKET and
// LND_MACAROON, which the ln-service stand-in (stubs/ln-service) uses to ask the node for
// invoices and their status. Serves on 127.0.0.1 at an ephemeral port:
// - GET /protected: behind boltwall, answers the text in PROTECTED;
// - every request is recorded as it arrives: method, path and the Authorization scheme.
// Writes {"url": <protected URL>, "body": <what it answers>} as one line on stdout once
// listening. When stdin closes it writes {"requests": [...], "invoices": [<payment hashes
// boltwall had invoiced>]} and exits.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { peerRequire as require } from './batch.mjs';

const [dir, price] = process.argv.slice(2);
if (!dir || !price) throw new Error('usage: boltwall.mjs <pairing dir> <price in sat>');
const pairing = JSON.parse(readFileSync(join(dir, 'dev-node.json'), 'utf8'));
process.env.LND_SOCKET = pairing.addr;
process.env.LND_MACAROON = pairing.secret;
// Otherwise boltwall makes one and says so on stdout, which carries our answers.
process.env.SESSION_SECRET = randomBytes(32).toString('hex');

const express = require('express');
const { boltwall } = require('boltwall');
const lnService = require('ln-service');

const PROTECTED = 'boltwall protected content';

// boltwall's default logger writes to stdout; ours keeps stdout for answers.
const log = (level) => (...args) => process.stderr.write(`boltwall ${level}: ${args.join(' ')}\n`);
const logger = { info: log('info'), error: log('error'), warning: log('warning'), debug: () => {}, spam: () => {} };

const requests = [];
const app = express();
app.use((req, _res, next) => {
  const auth = req.headers.authorization;
  requests.push({ method: req.method, path: req.path, scheme: auth ? auth.split(' ')[0] : null });
  next();
});
// boltwall reads req.body even on a GET.
app.use(express.json());
app.use(boltwall({ minAmount: Number(price) }, logger));
app.get('/protected', (_req, res) => res.type('text/plain').send(PROTECTED));

const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}/protected`, body: PROTECTED }) + '\n');
});

process.stdin.resume();
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify({ requests, invoices: lnService.invoices() }) + '\n', () => process.exit(0));
});
