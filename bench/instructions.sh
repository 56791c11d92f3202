#!/usr/bin/env bash
# Instructions per request of benchmark server kinds, counted by valgrind's callgrind: a figure
# that does not move with the machine's load, for A/B checks of the hit path that wrk's noise
# (±5-35 % per round here) cannot resolve. Not a speed: kernel time (writev, epoll) is not
# counted, and an instruction of hashing costs more than one of copying.
#
# Each server is warmed up (WARM requests, so the JIT has settled), then counted over N requests.
# "mutator" is the main thread minus garbage collection and compilation, which land in the
# window by chance; it repeats within about ±0.5 % for the proxy and Koa, ±1 % for Express.
#
# With several kinds, the first is compared with each of the others: "speed" is the other's
# mutator instructions over the first's, the ratio a req/s figure would have if instructions
# were all a request cost (the benchmark's targets are req/s ratios; see BENCHMARKS.md).
#
# Usage: [WARM=15000] [N=5000] [RAW_PATH=/k/0] bash bench/instructions.sh KIND [KIND...]
#        (about 2 minutes a kind; the old form `KIND WARM N` still works)
#   e.g. npm run bench:instructions -- express-hit express-floor express-apicache
# Needs valgrind (callgrind_control, callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
warm=${WARM:-15000}; n=${N:-5000}
kinds=(); numbers=()
for arg in "$@"; do
  if [[ $arg =~ ^[0-9]+$ ]]; then numbers+=("$arg"); else kinds+=("$arg"); fi
done
[ ${#kinds[@]} -ge 1 ] || { echo "usage: bash bench/instructions.sh KIND [KIND...] (KIND: a server kind of bench/kinds.ts, e.g. proxy-hit)"; exit 2; }
# The old positional form: KIND WARM N.
[ ${#numbers[@]} -ge 1 ] && warm=${numbers[0]}
[ ${#numbers[@]} -ge 2 ] && n=${numbers[1]}
for tool in valgrind callgrind_control callgrind_annotate; do
  command -v "$tool" > /dev/null || { echo "bench/instructions.sh needs $tool (Debian package valgrind)"; exit 1; }
done
# The servers run as the package ships: compiled by tsc (bench/tsconfig.json), not through tsx.
npx tsc -p bench/tsconfig.json

out=$(mktemp -d)
vg=
trap '[ -n "$vg" ] && kill $vg 2>/dev/null; rm -rf "$out"' EXIT

# Counts one kind: prints its report line and leaves its mutator instructions per request in
# $out/$2/mutator (a directory per position: a kind may be given twice, to see the spread).
count () {
  local kind=$1 port=$((20000 + RANDOM % 20000)) dir="$out/$2" pid
  mkdir -p "$dir"
  valgrind --tool=callgrind --separate-threads=yes --smc-check=all-non-file --dump-instr=no \
    --callgrind-out-file="$dir/cg.%p" node --expose-gc .bench-build/bench/server.js "$kind" "$port" 1024 1 > "$dir/server.log" 2>&1 &
  vg=$!
  pid=$vg
  for _ in $(seq 1 600); do grep -q ready "$dir/server.log" && break; sleep 0.5; done
  grep -q ready "$dir/server.log" || { echo "server $kind did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
  node bench/raw-client.cjs "$port" "$warm" 10 > /dev/null
  callgrind_control -z $vg > /dev/null 2>&1
  node bench/raw-client.cjs "$port" "$n" 10 > /dev/null
  callgrind_control -d $vg > /dev/null 2>&1
  sleep 2
  kill $vg 2>/dev/null || true
  wait $vg 2>/dev/null || true
  vg=
  local main="$dir/cg.$pid.1-01" total gc compile mutator
  total=$(grep -a '^summary:\|^totals:' "$main" | head -1 | awk '{print $2}')
  read -r gc compile <<< "$(callgrind_annotate --threshold=100 --inclusive=yes "$main" 2>/dev/null | awk '
    /Heap::CollectGarbage\(/ { gsub(",", "", $1); g += $1 }
    /Runtime_CompileOptimized|Runtime_CompileLazy|Runtime_InstallBaselineCode|Runtime_NotifyDeoptimized/ { gsub(",", "", $1); c += $1 }
    END { print g + 0, c + 0 }')"
  mutator=$(((total - gc - compile) / n))
  echo "$kind: mutator $mutator instructions/request (main thread $((total / n)), of which gc $((gc / n)), compilation $((compile / n)))"
  echo "$mutator" > "$dir/mutator"
}

for i in "${!kinds[@]}"; do count "${kinds[$i]}" "$i"; done
for ((i = 1; i < ${#kinds[@]}; i++)); do
  awk -v a="$(cat "$out/0/mutator")" -v b="$(cat "$out/$i/mutator")" -v f="${kinds[0]}" -v k="${kinds[$i]}" \
    'BEGIN { printf "%s / %s: speed %.3f (%.1fk instructions a request against %.1fk)\n", f, k, b / a, a / 1000, b / 1000 }'
done
