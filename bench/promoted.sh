#!/usr/bin/env bash
# Bytes promoted to V8's old generation per request, and the time spent in GC pauses, for one
# benchmark server kind: what a request leaves alive past two minor collections. A path that
# keeps nothing after its response promotes almost nothing (bare node:http, a proxy hit: 1-2
# bytes per request); one that does fills the old generation, which costs full collections whose
# price grows with everything the cache holds.
#
# Usage: bash bench/promoted.sh KIND [N=30000]    (about 30 seconds; KIND: a kind of bench/kinds.ts)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: bash bench/promoted.sh KIND [N] (KIND: a server kind of bench/kinds.ts, e.g. proxy-miss)}
n=${2:-30000}
# The servers run as the package ships: compiled by tsc (bench/tsconfig.json), not through tsx.
npx tsc -p bench/tsconfig.json
port=$((20000 + RANDOM % 20000))
log=$(mktemp)
node --trace-gc-nvp .bench-build/bench/server.js "$kind" "$port" 1024 1 > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 120); do grep -aq ready "$log" && break; sleep 0.5; done
grep -aq ready "$log" || { echo "server $kind did not start:"; cat "$log"; exit 1; }
node bench/raw-client.cjs "$port" 10000 10   # warm-up, not counted
: > "$log"
node bench/raw-client.cjs "$port" "$n" 10
kill $pid; wait $pid 2>/dev/null || true
awk -v kind="$kind" -v n="$n" '
  / gc=s /  { s++ }
  / gc=mc / { mc++ }
  { if (match($0, /promoted=[0-9]+/)) p += substr($0, RSTART + 9, RLENGTH - 9)
    if (match($0, / pause=[0-9.]+/)) ms += substr($0, RSTART + 7, RLENGTH - 7) }
  END { printf "%s: %d bytes promoted per request; %d minor and %d full collections, %.1f ms of pauses over %d requests\n", kind, p / n, s, mc, ms, n }' "$log"
