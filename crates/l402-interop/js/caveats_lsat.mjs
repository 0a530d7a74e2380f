// lsat-js as an independent peer for caveat parsing and satisfiers. Reads {"cases": [...]}
// on stdin and writes {"results": [...]} on stdout, one result per case, in order.
import { createRequire } from 'node:module';
const require = createRequire(process.env.L402_INTEROP_DIR + '/');
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

const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const results = input.cases.map((c) => {
  try {
    return run(c);
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify({ results }));
