// js-macaroon (npm `macaroon`) as an independent peer. Reads {"cases": [...]} on stdin and
// writes {"results": [...]} on stdout, one result per case, in order.
import { peerRequire as require, serveCases } from './batch.mjs';
const M = require('macaroon');

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));

function run(c) {
  switch (c.op) {
    case 'verify': {
      const m = M.importMacaroon(c.token);
      // L402 first-party caveats are judged by the L402 layer, not by the macaroon library.
      m.verify(unhex(c.root_key), () => null, []);
      return { ok: true };
    }
    case 'mint': {
      const m = M.newMacaroon({
        rootKey: unhex(c.root_key),
        identifier: unhex(c.identifier),
        location: c.location ?? '',
        version: 2,
      });
      for (const cav of c.caveats) m.addFirstPartyCaveat(cav);
      return { ok: true, binary: hex(m.exportBinary()) };
    }
    case 'decode': {
      const m = M.importMacaroon(c.token);
      return {
        ok: true,
        identifier: hex(m.identifier),
        location: m.location || null,
        caveats: m.caveats.map((cv) => hex(cv.identifier)),
        signature: hex(m.signature),
      };
    }
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

await serveCases(run);
