// lsat-js as an independent peer for L402 headers. Reads {"cases": [...]} on stdin and writes
// {"results": [...]} on stdout, one result per case, in order.
import { createRequire } from 'node:module';
const require = createRequire(process.env.L402_INTEROP_DIR + '/');
const { Lsat } = require('lsat-js');

function run(c) {
  switch (c.op) {
    // A client reads one WWW-Authenticate value; lsat-js strips the 4-character scheme.
    case 'parse-challenge': {
      const l = Lsat.fromHeader(c.header);
      return { ok: true, macaroon: l.baseMacaroon, invoice: l.invoice };
    }
    case 'make-challenge': {
      const l = Lsat.fromMacaroon(c.macaroon, c.invoice);
      return { ok: true, header: l.toChallenge() };
    }
    case 'make-authorization': {
      const l = Lsat.fromMacaroon(c.macaroon);
      l.setPreimage(c.preimage);
      return { ok: true, value: l.toToken() };
    }
    case 'parse-authorization': {
      const l = Lsat.fromToken(c.value);
      return { ok: true, macaroon: l.baseMacaroon, preimage: l.paymentPreimage };
    }
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const results = input.cases.map((c) => {
  try {
    return run(c);
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify({ results }));
