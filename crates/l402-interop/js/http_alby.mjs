// @getalby/lightning-tools as an independent peer for L402 headers. Reads {"cases": [...]} on
// stdin and writes {"results": [...]} on stdout, one result per case, in order.
//
// `fetch` runs Alby's real client (fetchWithL402) against a one-shot server on 127.0.0.1 that
// answers the first request with 402 and the given WWW-Authenticate lines, and records the
// Authorization header of the paid retry.
import { createServer } from 'node:http';
import { peerRequire as require, serveCases } from './batch.mjs';
const { parseL402, parseL402Authorization, makeL402AuthenticateHeader, fetchWithL402 } =
  require('@getalby/lightning-tools/402/l402');

async function fetchFlow(c) {
  let authorization = null;
  const server = createServer((req, res) => {
    if (req.headers.authorization) {
      authorization = req.headers.authorization;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('paid');
    } else {
      res.writeHead(402, { 'www-authenticate': c.lines, 'content-type': 'text/plain' });
      res.end('payment required');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const paid = [];
  const wallet = {
    payInvoice: async ({ invoice }) => {
      paid.push(invoice);
      return { preimage: c.preimage };
    },
  };
  try {
    const url = `http://127.0.0.1:${server.address().port}/`;
    const resp = await fetchWithL402(url, {}, { wallet });
    return { ok: resp.status === 200, status: resp.status, authorization, paid };
  } finally {
    server.close();
  }
}

async function run(c) {
  switch (c.op) {
    case 'parse-challenge': {
      const d = parseL402(c.header);
      return { ok: true, macaroon: d.token, invoice: d.invoice };
    }
    case 'make-challenge':
      return { ok: true, header: makeL402AuthenticateHeader({ token: c.macaroon, invoice: c.invoice }) };
    case 'parse-authorization': {
      const d = parseL402Authorization(c.value);
      if (d === null) return { ok: false, error: 'not an L402 authorization' };
      return { ok: true, macaroon: d.token, preimage: d.preimage };
    }
    case 'fetch':
      return fetchFlow(c);
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

await serveCases(run);
