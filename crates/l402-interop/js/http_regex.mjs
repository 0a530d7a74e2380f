// The challenge regexes of clients we cannot run here (Go): Aperture's client interceptor
// (`(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"`, first matching value) and lnget
// (`(?i)(LSAT|L402)\s+macaroon="([^"]+)",\s*invoice="([^"]+)"`, first value only). The patterns
// use no feature where RE2 and JavaScript differ. Reads {"cases": [{"client", "lines"}]} on stdin.
import { readFileSync } from 'node:fs';

const APERTURE = /(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"/;
const LNGET = /(LSAT|L402)\s+macaroon="([^"]+)",\s*invoice="([^"]+)"/i;

function run(c) {
  const candidates = c.client === 'lnget' ? c.lines.slice(0, 1) : c.lines;
  const re = c.client === 'lnget' ? LNGET : APERTURE;
  for (const line of candidates) {
    const m = re.exec(line);
    if (m) return { ok: true, scheme: m[1], macaroon: m[2], invoice: m[3] };
  }
  return { ok: false, error: 'no value matches' };
}

const input = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify({ results: input.cases.map(run) }));
