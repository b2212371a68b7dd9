#!/bin/sh
# binding_ir.sh — instructions per operation of tricolor's Lua binding, of a
# Lua table and of the floor (a userdata with do-nothing C metamethods,
# benchmarks/lua_floor.c), counted by callgrind (benchmarks/binding_ir.lua).
# Counts are the main thread's and the collector thread's together.
#
#   benchmarks/binding_ir.sh [N] [OPS...]     N loop iterations (x10 statements), default 20000
#
# Needs valgrind and build/lua/tricolor.so (make lua-build); builds the
# floor module into build/bench/. Prints only; changes nothing else.
set -eu
cd "$(dirname "$0")/.."
N=${1:-20000}
[ $# -gt 0 ] && shift
OPS=${*:-load store load_ref store_ref len new}
command -v valgrind >/dev/null 2>&1 || { echo "binding_ir: valgrind is not installed"; exit 1; }
[ -f build/lua/tricolor.so ] || { echo "binding_ir: build/lua/tricolor.so not built (make lua-build)"; exit 1; }
mkdir -p build/bench
${CC:-cc} -O2 -shared -fPIC $(pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4) \
    -o build/bench/lua_floor.so benchmarks/lua_floor.c
export LUA_CPATH='build/lua/?.so;build/bench/?.so;;'

# ir OP SYSTEM N — instructions of one run
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null lua5.4 benchmarks/binding_ir.lua "$1" "$2" "$3" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-10s %10s %10s %10s %14s %14s\n' op tricolor table floor tricolor/table floor/table
for op in $OPS; do
    for sys in tricolor table floor; do
        a=$(ir "$op" "$sys" 0)
        b=$(ir "$op" "$sys" "$N")
        eval "v_$sys=$(( (b - a) / (N * 10) ))"
    done
    printf '%-10s %10d %10d %10d %14s %14s\n' "$op" "$v_tricolor" "$v_table" "$v_floor" \
        "$(awk "BEGIN{printf \"%.1f\", $v_tricolor/$v_table}")" "$(awk "BEGIN{printf \"%.1f\", $v_floor/$v_table}")"
done
