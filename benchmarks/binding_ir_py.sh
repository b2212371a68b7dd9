#!/bin/sh
# binding_ir_py.sh — instructions per operation of tricolor's Python binding
# and of a Python list, counted by callgrind (benchmarks/binding_ir.py); the
# Python side of benchmarks/binding_ir.sh. Counts are all threads' together.
#
#   benchmarks/binding_ir_py.sh [N] [OPS...]    N loop iterations (x10 statements), default 20000
#
# For each op: "net", the statement alone ((Ir(N) - Ir(0)) / N less one
# iteration of the empty loop, over 10 statements), and "op", net plus one
# loop iteration: binding.py's <op>_net and <op>, the latter what
# `python -m timeit STMT` reports per loop and what issue 16's goals compare.
# Needs valgrind and the extension built in place (make py-build). Runs the
# interpreter itself, not a pyenv shim (a shell script valgrind would trace).
# Prints only; changes nothing else.
set -eu
cd "$(dirname "$0")/.."
N=${1:-20000}
[ $# -gt 0 ] && shift
OPS=${*:-new store load store_ref load_ref}
command -v valgrind >/dev/null 2>&1 || { echo "binding_ir_py: valgrind is not installed"; exit 1; }
PY=$(${PYTHON:-python3} -c 'import sys; print(sys.executable)')
# a fixed hash seed: with a random one, start-up differs run to run by ~10^5
# instructions, which N=20000 iterations would not hide
export PYTHONPATH=bindings/python PYTHONHASHSEED=0
"$PY" -c 'import tricolor._tricolor' 2>/dev/null ||
    { echo "binding_ir_py: the extension is not built (make py-build)"; exit 1; }

# ir OP SYSTEM N — instructions of one run
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PY" benchmarks/binding_ir.py "$1" "$2" "$3" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
# iter OP SYSTEM — instructions of one loop iteration (10 statements)
iter() { a=$(ir "$1" "$2" 0); b=$(ir "$1" "$2" "$N"); awk "BEGIN{printf \"%.1f\", ($b - $a) / $N}"; }

loop=$(iter loop list)
printf 'one iteration of the empty loop: %s instructions\n' "$loop"
printf '%-10s %9s %9s %9s %9s %9s %9s\n' op tc_net list_net net_x tc list ratio
for op in $OPS; do
    t=$(iter "$op" tricolor)
    l=$(iter "$op" list)
    awk -v t="$t" -v l="$l" -v L="$loop" -v op="$op" 'BEGIN{
        tn = (t - L) / 10; ln = (l - L) / 10
        printf "%-10s %9.1f %9.1f %9.2f %9.1f %9.1f %9.2f\n", op, tn, ln, tn / ln, tn + L, ln + L, (tn + L) / (ln + L) }'
done
