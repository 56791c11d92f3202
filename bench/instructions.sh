#!/usr/bin/env bash
# Instructions per request of one benchmark server kind, counted by valgrind's callgrind: a
# figure that does not move with the machine's load, for A/B checks of the hit path that wrk's
# noise (±5-35 % per round here) cannot resolve. Not a speed: kernel time (writev, epoll) is not
# counted, and an instruction of hashing costs more than one of copying.
#
# The server is warmed up (WARM requests, so the JIT has settled), then counted over N requests.
# "mutator" is the main thread minus garbage collection and compilation, which land in the
# window by chance; it repeats within about ±0.5 %.
#
# Usage: [RAW_PATH=/k/0] bash bench/instructions.sh KIND [WARM=15000] [N=5000]    (about 2 minutes)
# Needs valgrind (callgrind_control, callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: bash bench/instructions.sh KIND [WARM] [N] (KIND: a server kind of bench/kinds.ts, e.g. proxy-hit)}
warm=${2:-15000}; n=${3:-5000}
for tool in valgrind callgrind_control callgrind_annotate; do
  command -v "$tool" > /dev/null || { echo "bench/instructions.sh needs $tool (Debian package valgrind)"; exit 1; }
done
# The servers run as the package ships: compiled by tsc (bench/tsconfig.json), not through tsx.
npx tsc -p bench/tsconfig.json
port=$((20000 + RANDOM % 20000))
out=$(mktemp -d)
valgrind --tool=callgrind --separate-threads=yes --smc-check=all-non-file --dump-instr=no \
  --callgrind-out-file="$out/cg.%p" node --expose-gc .bench-build/bench/server.js "$kind" "$port" 1024 1 > "$out/server.log" 2>&1 &
vg=$!
trap 'kill $vg 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 1 600); do grep -q ready "$out/server.log" && break; sleep 0.5; done
grep -q ready "$out/server.log" || { echo "server $kind did not start:"; cat "$out/server.log"; exit 1; }
node bench/raw-client.cjs "$port" "$warm" 10
callgrind_control -z $vg > /dev/null 2>&1
node bench/raw-client.cjs "$port" "$n" 10
callgrind_control -d $vg > /dev/null 2>&1
sleep 2
main=$(ls "$out"/cg.$vg.1-01)
total=$(grep -a '^summary:\|^totals:' "$main" | head -1 | awk '{print $2}')
read -r gc compile <<< "$(callgrind_annotate --threshold=100 --inclusive=yes "$main" 2>/dev/null | awk '
  /Heap::CollectGarbage\(/ { gsub(",", "", $1); g += $1 }
  /Runtime_CompileOptimized|Runtime_CompileLazy|Runtime_InstallBaselineCode|Runtime_NotifyDeoptimized/ { gsub(",", "", $1); c += $1 }
  END { print g + 0, c + 0 }')"
echo "$kind: mutator $(((total - gc - compile) / n)) instructions/request (main thread $((total / n)), of which gc $((gc / n)), compilation $((compile / n)))"
