// Real clients paying through our proxy, each paying the dev node through its pairing
// protocol (one JSON line over loopback TCP):
// - {"op": "lsat-js", "url", "pairing"}: lsat-js reads the 402's challenge, and its own token
//   is sent back twice; answers {"ok", "statuses", "token_scheme"};
// - {"op": "alby", "url", "pairing"}: @getalby/lightning-tools' fetchWithL402 pays, then is
//   called again with the credentials it returned; answers {"ok", "statuses", "paid"}.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { peerRequire as require, serveCases } from './batch.mjs';
const { Lsat } = require('lsat-js');
const { fetchWithL402 } = require('@getalby/lightning-tools/402/l402');

// Pays `bolt11` with the dev node described by the pairing file: {"op":"pay",...} -> preimage.
function pay(pairingFile, bolt11) {
  const p = JSON.parse(readFileSync(pairingFile, 'utf8'));
  const [host, port] = [p.addr.slice(0, p.addr.lastIndexOf(':')), Number(p.addr.slice(p.addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => {
      s.write(JSON.stringify({ op: 'pay', v: 1, secret: p.secret, bolt11 }) + '\n');
    });
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      s.end();
      const answer = JSON.parse(buf.slice(0, nl));
      if (answer.result === 'paid') resolve(answer.payment.preimage);
      else reject(new Error(`dev node: ${JSON.stringify(answer)}`));
    });
    s.on('error', reject);
  });
}

async function alby(c) {
  const paid = [];
  const wallet = {
    payInvoice: async ({ invoice }) => {
      paid.push(invoice);
      return { preimage: await pay(c.pairing, invoice) };
    },
  };
  const first = await fetchWithL402(c.url, {}, { wallet });
  const credentials = first.payment && first.payment.credentials;
  const again = await fetchWithL402(c.url, {}, { wallet, credentials });
  return { ok: true, statuses: [first.status, again.status], paid: paid.length };
}

async function run(c) {
  if (c.op === 'alby') return alby(c);
  if (c.op !== 'lsat-js') throw new Error(`unknown op ${c.op}`);
  const statuses = [];
  const first = await fetch(c.url);
  statuses.push(first.status);
  // lsat-js reads one challenge value; Aperture's style sends LSAT first.
  const header = first.headers.get('www-authenticate').split(/,\s*(?=L402 |LSAT )/)[0];
  const lsat = Lsat.fromHeader(header);
  lsat.setPreimage(await pay(c.pairing, lsat.invoice));
  const token = lsat.toToken();
  for (let i = 0; i < 2; i++) {
    const r = await fetch(c.url, { headers: { authorization: token } });
    statuses.push(r.status);
  }
  return { ok: true, statuses, token_scheme: token.split(' ')[0] };
}

await serveCases(run);
