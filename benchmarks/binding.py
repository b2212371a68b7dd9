"""binding.py — the cost of tricolor's Python binding per operation, against
the plain Python list a user would pick instead.

    heap.new(3)      vs  [None, None, None]
    obj[0] = x       vs  lst[0] = x
    x = obj[0]       vs  x = lst[0]

Each is timed twice: with x an int (42; "store", "load") and with x a
reference (another tricolor object / another list; "store_ref", "load_ref":
loading a reference makes a new handle). The heap is tricolor.Heap() with
every default (collector, gogc), so collections run as in real use.

Method, identical for both systems: timeit with the statement unrolled
UNROLL times, all names local to the timed function; the cost of an empty
timeit loop ("pass", per iteration) is measured the same way. Two metrics
per operation come out of one measurement:

    <op>_net   the operation alone: (loop time - empty loop) / operations
    <op>       <op>_net plus one empty-loop iteration: what
               `python -m timeit STMT` reports per loop, the way the
               reference numbers in the issue's targets were taken

Prints RESULT lines (benchmarks/bench.h), one per repetition; the driver
reports medians.

Usage: PYTHONPATH=bindings/python python3 benchmarks/binding.py [REPS] [NUMBER]
"""

import sys
import timeit

UNROLL = 10
WORKLOAD = "binding:python"

# (metric, tricolor statement, list statement); setup makes obj/lst, x local.
OPS = [
    ("new", "heap.new(3)", "[None, None, None]"),
    ("store", "obj[0] = x", "lst[0] = x"),
    ("load", "x = obj[0]", "x = lst[0]"),
    ("store_ref", "obj[0] = r", "lst[0] = r"),
    ("load_ref", "r = obj[1]", "r = lst[1]"),
]

SETUP = {
    "tricolor": "heap = _heap; obj = _heap.new(3); r = _heap.new(3); x = 42; obj[0] = x; obj[1] = r",
    "list": "lst = [None, None, None]; r = [None, None, None]; x = 42; lst[0] = x; lst[1] = r",
}


def timed(stmt, setup, env, number):
    """Seconds for `number` iterations of `stmt` repeated UNROLL times."""
    return timeit.Timer("; ".join([stmt] * UNROLL), setup, globals=env).timeit(number)


def emit(system, metric, ns):
    print(f"RESULT {WORKLOAD} {system} {metric} {ns:.3f} ns/op", flush=True)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    number = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    systems = {"list": {}}
    try:
        import tricolor

        heap = tricolor.Heap()
        systems["tricolor"] = {"_heap": heap}
        st = heap.stats()
        print(f"INFO python_tricolor_collector {st.collector}")
        print(f"INFO python_tricolor_gogc {heap.gogc}")
    except Exception as e:  # the binding is not built (yet): peers only
        print(f"SKIP {WORKLOAD} tricolor {type(e).__name__}: {e}", flush=True)
        heap = None
    print(f"INFO python_version {sys.version.split()[0]}")

    ops = number * UNROLL
    for _ in range(reps):
        loop = timeit.Timer("pass").timeit(number) / number  # s per iteration
        print(f"INFO python_empty_loop_ns {loop * 1e9:.3f}")
        for metric, tc_stmt, list_stmt in OPS:
            for system, stmt in (("tricolor", tc_stmt), ("list", list_stmt)):
                if system not in systems:
                    continue
                t = timed(stmt, SETUP[system], systems[system], number)
                net = t / ops - loop / UNROLL
                emit(system, metric, (net + loop) * 1e9)
                emit(system, metric + "_net", net * 1e9)
    if heap is not None:
        st = heap.stats()
        print(f"INFO python_tricolor_num_gc {st.num_gc}")
        heap.close()


if __name__ == "__main__":
    main()
