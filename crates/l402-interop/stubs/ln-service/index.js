// A stand-in for ln-service, which boltwall 6.0.3 requires through a Git URL that cannot be
// fetched here (npm `overrides` in ../../package.json point it at this directory). It answers
// the calls a plain boltwall paywall makes (not hodl, not oauth), in ln-service's shapes, from
// the l402 dev node's pairing endpoint: one JSON line per loopback TCP connection (decision
// 0201). NOT FOR REAL MONEY.
//
// - authenticatedLndGrpc({socket, macaroon}) -> {lnd}: `socket` is the endpoint's address and
//   `macaroon` the pairing secret. boltwall reads both from LND_SOCKET and LND_MACAROON, and
//   passes a hex macaroon through unchanged, so the secret needs no file.
// - createInvoice({lnd, tokens | mtokens, description, expires_at}) -> the node's invoice.
// - getInvoice({lnd, id}) -> is_confirmed and secret from the node's `lookup`; the request,
//   amount and description from this process's memory, since the node's lookup does not
//   return them (a real LND would).
//
// Everything else boltwall can call (createHodlInvoice and settleHodlInvoice for hodl paywalls,
// getWalletInfo for GET /node, signMessage and parsePaymentRequest for its oauth mode) throws,
// so a test that reaches one fails with the name of what is missing.
'use strict';

const net = require('node:net');

// LND's default invoice expiry, used when boltwall passes no `expires_at`.
const DEFAULT_EXPIRY_SECS = 3600;

// Invoices this process created, by payment hash: what `getInvoice` must return besides the
// node's settlement status. Also what a test reads to count invoices (`invoices()`).
const created = new Map();

// ln-service reports failures as [http status, code, details]; boltwall reads e[0], e[1] and
// e[2].err.details.
function lnError(status, code, details) {
  return [status, code, { err: { details } }];
}

function call(lnd, request) {
  const at = lnd.socket.lastIndexOf(':');
  const [host, port] = [lnd.socket.slice(0, at), Number(lnd.socket.slice(at + 1))];
  const line = JSON.stringify({ v: 1, secret: lnd.secret, ...request }) + '\n';
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => s.write(line));
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d) => {
      buf += d;
    });
    s.on('end', () => {
      const nl = buf.indexOf('\n');
      if (nl < 0) return reject(lnError(503, 'DevNodeClosedConnection', buf));
      const answer = JSON.parse(buf.slice(0, nl));
      if (answer.result === 'error') {
        return reject(lnError(503, 'DevNodeError', `${answer.code}: ${answer.message}`));
      }
      resolve(answer);
    });
    s.on('error', (e) => reject(lnError(503, 'DevNodeUnreachable', e.message)));
  });
}

function authenticatedLndGrpc({ socket, macaroon }) {
  if (!socket || !macaroon) {
    throw new Error('ln-service stub: needs LND_SOCKET (the dev node address) and LND_MACAROON (its pairing secret)');
  }
  return { lnd: { socket, secret: macaroon } };
}

async function createInvoice({ lnd, tokens, mtokens, description, expires_at }) {
  const amountMsat = mtokens !== undefined ? Number(mtokens) : Number(tokens || 0) * 1000;
  const expirySecs = expires_at
    ? Math.max(1, Math.ceil((Date.parse(expires_at) - Date.now()) / 1000))
    : DEFAULT_EXPIRY_SECS;
  const answer = await call(lnd, {
    op: 'invoice',
    amount_msat: amountMsat,
    memo: description || '',
    expiry_secs: expirySecs,
  });
  if (answer.result !== 'invoice') throw lnError(503, 'DevNodeAnsweredOutOfTurn', answer);
  const invoice = {
    id: answer.payment_hash,
    request: answer.bolt11,
    tokens: Math.floor(amountMsat / 1000),
    mtokens: String(amountMsat),
    description: description || '',
    created_at: new Date().toISOString(),
    expires_at: new Date(answer.expires_at * 1000).toISOString(),
  };
  created.set(invoice.id, invoice);
  return invoice;
}

async function getInvoice({ lnd, id }) {
  const invoice = created.get(id);
  // What ln-service answers when LND does not know the hash; boltwall turns it into a 404.
  if (!invoice) throw lnError(503, 'UnexpectedLookupInvoiceErr', 'unable to locate invoice');
  const answer = await call(lnd, { op: 'lookup', payment_hash: id });
  if (answer.result !== 'status') throw lnError(503, 'DevNodeAnsweredOutOfTurn', answer);
  const paid = answer.payment;
  return {
    ...invoice,
    is_confirmed: paid !== null,
    is_held: false,
    is_canceled: false,
    confirmed_at: paid ? new Date().toISOString() : undefined,
    received: paid ? Math.floor(paid.amount_msat / 1000) : 0,
    received_mtokens: paid ? String(paid.amount_msat) : '0',
    secret: paid ? paid.preimage : undefined,
  };
}

function missing(name) {
  return () => {
    throw new Error(`ln-service stub: ${name} is not implemented (the l402 dev node has no equivalent)`);
  };
}

module.exports = {
  authenticatedLndGrpc,
  createInvoice,
  getInvoice,
  // Not ln-service's: the payment hashes this process invoiced, for tests to count.
  invoices: () => [...created.keys()],
  createHodlInvoice: missing('createHodlInvoice'),
  settleHodlInvoice: missing('settleHodlInvoice'),
  getWalletInfo: missing('getWalletInfo'),
  signMessage: missing('signMessage'),
  parsePaymentRequest: missing('parsePaymentRequest'),
};
