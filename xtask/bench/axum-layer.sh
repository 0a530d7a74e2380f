#!/usr/bin/env bash
# The "embedded in axum" row of `cargo xtask bench proxy`, in the layout of
# ../shared/bench/proxy-vs-nginx.sh: wrk (1 thread, 32 connections) on core 0, the app alone on
# core 1 with one tokio worker. One axum app serves the same handler at /plain (no layer) and
# at /paid (L402Layer, a valid credential on every request); the runs alternate ROUNDS times
# and the medians are compared.
#
# usage: axum-layer.sh BENCH_AXUM_BINARY [SECONDS_PER_RUN=6] [ROUNDS=3]
# Last line: "axum-layer: layer R1x of plain req/s; p99 layer/plain R2x".
set -euo pipefail
APP=$(realpath "$1"); SECS=${2:-6}; ROUNDS=${3:-3}
command -v wrk >/dev/null || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
W=$(mktemp -d); pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
mkdir "$W/data"
L402_BENCH_DIR=$W/data TOKIO_WORKER_THREADS=1 taskset -c 1 "$APP" >"$W/out" 2>"$W/err" &
pid=$!
for _ in $(seq 100); do grep -q '^listening: ' "$W/out" && break; sleep 0.1; done
grep -q '^listening: ' "$W/out" || { cat "$W/out" "$W/err"; exit 2; }
ADDR=$(sed -n 's/^listening: //p' "$W/out"); AUTH=$(sed -n 's/^authorization: //p' "$W/out")
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $AUTH" "http://$ADDR/paid") == 200 ]] || { echo "paid request not 200"; exit 2; }
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/paid") == 402 ]] || { echo "unpaid request not 402"; exit 2; }

run() { # name url [header]
  local out
  if [[ $# -eq 3 ]]; then out=$(taskset -c 0 wrk -t1 -c32 -d"${SECS}s" --latency -H "$3" "$2" 2>&1)
  else out=$(taskset -c 0 wrk -t1 -c32 -d"${SECS}s" --latency "$2" 2>&1); fi
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx answers" >&2; grep Non-2xx <<<"$out" >&2; exit 2; fi
  awk -v n="$1" '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{
    if (p ~ /us$/) {sub(/us$/,"",p); p=p/1000} else if (p ~ /ms$/) {sub(/ms$/,"",p)} else if (p ~ /s$/) {sub(/s$/,"",p); p=p*1000}
    printf "%s %s %s\n", n, r, p}' <<<"$out"
}
: >"$W/rows"
for _ in $(seq "$ROUNDS"); do
  run plain "http://$ADDR/plain" | tee -a "$W/rows"
  run layer "http://$ADDR/paid" "Authorization: $AUTH" | tee -a "$W/rows"
done
python3 - "$W/rows" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = lambda n, i: statistics.median(float(r[i]) for r in rows if r[0] == n)
plain, layer = med("plain", 1), med("layer", 1)
print(f"medians req/s: axum {plain:.0f}, axum + L402Layer {layer:.0f}")
print(f"axum-layer: layer {layer/plain:.2f}x of plain req/s; p99 layer/plain {med('layer', 2)/med('plain', 2):.2f}x")
PY
