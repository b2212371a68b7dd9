#!/bin/sh
# profile.sh — where tricolor's time goes in the C benchmarks: `perf record`
# on GCBench and on one full collection of each shape, then the top symbols
# and, for the hottest core function, the hottest instructions.
#
#   make bench-profile                          (builds first)
#   benchmarks/profile.sh [N] [COLLECTOR]       N nodes for mark (default 4194304)
#
# Needs perf (Debian: linux-perf) and permission to use it; writes its data
# under build/bench/perf/. Prints only; changes nothing.
set -eu
cd "$(dirname "$0")/.."
N=${1:-4194304}
COLL=${2:-}
OUT=build/bench/perf
BIN=build/bench
mkdir -p "$OUT"
command -v perf >/dev/null 2>&1 || { echo "profile: perf is not installed (apt-get install linux-perf)"; exit 1; }
[ -x "$BIN/mark_tricolor" ] || { echo "profile: $BIN/mark_tricolor not built (make bench-build)"; exit 1; }

# top — the 12 hottest symbols of one recording, then the 8 hottest
# instructions of its hottest symbol from the core (not libc or the kernel).
top() {
    perf report -i "$1" --no-children --stdio --sort sym 2>/dev/null | grep -E '^ +[0-9]' | head -12
    hot=$(perf report -i "$1" --no-children --stdio --sort dso,sym 2>/dev/null |
        awk '/^ +[0-9]/ && $2 ~ /_tricolor$/ { print $NF; exit }')
    if [ -n "$hot" ]; then
        echo "  hottest instructions of $hot:"
        perf annotate -i "$1" --stdio -s "$hot" 2>/dev/null | grep -E '^ +[0-9]+\.[0-9]+ :' |
            sort -rn | head -8 | sed 's/^/   /'
    fi
}

export BENCH_TC_COLLECTOR="$COLL"
echo "== gcbench (collector: ${COLL:-default})"
perf record -q -o "$OUT/gcbench.data" "$BIN/gcbench_tricolor" | grep -E 'time|collections'
top "$OUT/gcbench.data"
for shape in list tree graph; do
    echo "== mark $shape $N (collector: ${COLL:-default})"
    perf record -q -o "$OUT/mark-$shape.data" "$BIN/mark_tricolor" "$shape" "$N" 3 | grep full_mark | tail -1
    top "$OUT/mark-$shape.data"
done
