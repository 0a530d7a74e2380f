// lsat-js as an independent peer for caveat parsing and satisfiers. Reads {"cases": [...]}
// on stdin and writes {"results": [...]} on stdout, one result per case, in order.
import { peerRequire as require, serveCases } from './batch.mjs';
const {
  Caveat,
  verifyCaveats,
  decodeServicesCaveat,
  createServicesSatisfier,
  createCapabilitiesSatisfier,
} = require('lsat-js');

function run(c) {
  switch (c.op) {
    case 'decode-services': {
      const services = decodeServicesCaveat(c.value);
      return { ok: true, services: services.map((s) => ({ name: s.name, tier: s.tier })) };
    }
    // What a boltwall-style server does: decode every caveat (a caveat lsat-js cannot decode
    // throws), then run the satisfiers for what the request names.
    case 'evaluate': {
      const caveats = c.caveats.map((s) => Caveat.decode(s));
      const satisfiers = [];
      if (typeof c.service === 'string') {
        satisfiers.push(createServicesSatisfier(c.service));
        if (typeof c.capability === 'string') {
          satisfiers.push(createCapabilitiesSatisfier(c.service, c.capability));
        }
      }
      return { ok: true, valid: verifyCaveats(caveats, satisfiers) };
    }
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

await serveCases(run);
