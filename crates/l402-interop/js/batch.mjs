// The peer protocol every script here speaks: {"cases": [...]} on stdin, {"results": [...]}
// on stdout, one result per case, in order. A case the peer refuses (it throws) becomes
// {"ok": false, "error": ...}; only a bug in the harness itself makes the script fail.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// The peers are installed by `cargo xtask interop` into $L402_INTEROP_DIR/node_modules.
export const peerRequire = createRequire(process.env.L402_INTEROP_DIR + '/');

export async function serveCases(run) {
  const input = JSON.parse(readFileSync(0, 'utf8'));
  const results = [];
  for (const c of input.cases) {
    try {
      results.push(await run(c));
    } catch (e) {
      results.push({ ok: false, error: String(e && e.message ? e.message : e) });
    }
  }
  process.stdout.write(JSON.stringify({ results }));
}
