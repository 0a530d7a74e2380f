// lsat-js as an independent peer for L402 headers. Reads {"cases": [...]} on stdin and writes
// {"results": [...]} on stdout, one result per case, in order.
import { peerRequire as require, serveCases } from './batch.mjs';
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

await serveCases(run);
