"""binding_ir.py — one operation of benchmarks/binding.py, N times, for an
instruction count under callgrind: counts repeat on a shared, noisy machine
where times do not. benchmarks/binding_ir_py.sh runs it with N and with 0 and
derives from (Ir(N) - Ir(0)) / N the instructions of one statement alone
(binding.py's <op>_net) and with one iteration of timeit's loop added
(binding.py's <op>, what `python -m timeit STMT` reports per loop). The loop
is timeit's own (itertools.repeat), op "loop" is it alone.

Usage: PYTHONPATH=bindings/python python3 benchmarks/binding_ir.py OP SYSTEM N
  OP: new, store, load, store_ref, load_ref, loop
  SYSTEM: tricolor or list
The heap is Heap(collector="stw", gogc=None) unless IR_COLLECTOR / IR_GOGC
say otherwise (IR_GOGC=100 for the default pacing): with collections on, a
count of new includes the collector's work, which is not the binding's cost;
and under valgrind a concurrent collector's spinning is serialised and varies.
"""

import itertools
import os
import sys

UNROLL = 10
# the statements of benchmarks/binding.py, names local to the timed function
OPS = {
    "new": ("heap.new(3)", "[None, None, None]"),
    "store": ("obj[0] = x", "lst[0] = x"),
    "load": ("x = obj[0]", "x = lst[0]"),
    "store_ref": ("obj[0] = r", "lst[0] = r"),
    "load_ref": ("r = obj[1]", "r = lst[1]"),
    "loop": ("pass", "pass"),  # the loop alone: pass compiles to nothing
}


def main():
    op, system, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stmt = OPS[op][0 if system == "tricolor" else 1]
    src = (
        "def run(n, heap, obj, lst, x, r):\n"
        f"    for _ in repeat(None, n):\n        {'; '.join([stmt] * UNROLL)}\n"
    )
    env = {"repeat": itertools.repeat}
    exec(compile(src, stmt, "exec"), env)
    if system == "list":
        lst, r = [None, None, None], [None, None, None]
        lst[0], lst[1] = 42, r
        env["run"](n, None, None, lst, 42, r)
        return
    import tricolor

    gogc = os.environ.get("IR_GOGC")
    heap = tricolor.Heap(collector=os.environ.get("IR_COLLECTOR", "stw"),
                         gogc=int(gogc) if gogc else None)
    obj, r = heap.new(3), heap.new(3)
    obj[0], obj[1] = 42, r
    env["run"](n, heap, obj, None, 42, r)
    del obj, r
    heap.close()


if __name__ == "__main__":
    main()
