"""python -m tricolor — experiments with the tricolor garbage collector.

    python -m tricolor                       # same as `demo`
    python -m tricolor demo                  # GCBench-style trees, gctrace, a summary
    python -m tricolor bench churn --gogc 50 --plot churn.png
    python -m tricolor compare linkedlist --config gogc=50 --config gogc=400
    python -m tricolor lab pauses --quick    # the lab: see docs/lab.md
    python -m tricolor why                   # why is an object alive: roots, path_to, retained
    python -m tricolor teach --barrier none  # the tri-colour mark step by step, as HTML/SVG/PNG frames
    python -m tricolor replay prog.tclog --config collector=stw --config gogc=50   # heap.record_start's log

Everything here is ordinary code on top of the public API (tricolor.Heap and
the workloads in tricolor.lab.workloads), so it doubles as an example.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import tricolor
from tricolor.lab import cli as lab_cli
from tricolor.lab import plots, workloads
from tricolor.lab import replay as lab_replay
from tricolor.lab.runner import Run, WorkloadFailed, run_once
from tricolor.lab.workloads import LabInputError

# ---- option parsing --------------------------------------------------------------

_SIZE_UNITS = {"": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10, "m": 1 << 20, "mb": 1000**2,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1000**3, "gib": 1 << 30}
_OFF = ("off", "none")


def parse_gogc(text: str) -> Optional[int]:
    """--gogc: an int >= 0, or "off"."""
    if text.lower() in _OFF:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"gogc must be an int or 'off', not {text!r}") from None


def parse_size(text: str) -> Optional[int]:
    """--memory-limit: bytes with an optional unit (64M, 1GiB, 500kb), or "off"."""
    if text.lower() in _OFF:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError(f"memory limit must look like 64M, 1GiB or 'off', not {text!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_param(text: str) -> Tuple[str, Any]:
    """--param NAME=VALUE: a workload parameter (an int, a float or text)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--param wants NAME=VALUE, not {text!r}")
    return name.strip(), lab_cli.parse_value(value.strip())


def parse_config(text: str) -> Dict[str, Any]:
    """--config for compare: comma-separated key=value pairs, keys as Heap's
    keyword arguments (collector, gogc, memory_limit, barrier, mark_workers)."""
    config: Dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise argparse.ArgumentTypeError(f"config item {item!r} is not key=value")
        if key == "gogc":
            config[key] = parse_gogc(value)
        elif key == "memory_limit":
            config[key] = parse_size(value)
        elif key == "mark_workers":
            config[key] = int(value)
        elif key in ("collector", "barrier"):
            config[key] = value.strip()
        else:
            raise argparse.ArgumentTypeError(f"unknown config key {key!r}")
    return config


def config_label(config: Dict[str, Any]) -> str:
    """A short readable name for a heap configuration."""
    def show(key: str, value: Any) -> str:
        if value is None:
            return f"{key}=off"
        if key == "memory_limit":
            return f"{key}={human_bytes(value)}"
        return f"{key}={value}"
    return ",".join(show(k, v) for k, v in config.items()) or "defaults"


# ---- formatting ---------------------------------------------------------------------


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def ms(ns: float) -> str:
    return f"{ns / 1e6:.3f} ms"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table, numbers right-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


# ---- running a workload ------------------------------------------------------------


def workload_of(name: str) -> workloads.Workload:
    """A built-in workload, or package.module:function (the replay one)."""
    return workloads.WORKLOADS.get(name) or workloads.resolve(name)


def refuse_manual(config: Dict[str, Any]) -> None:
    """ValueError for collector="manual": it runs a cycle only when the
    program calls gc_start, which no workload does, so the run would
    measure a heap that never collects."""
    if config.get("collector") == "manual":
        raise ValueError('collector "manual" runs a cycle only when the program calls gc_start, which the '
                         'workloads never do: use "concurrent", "incremental" or "stw"')


def run(name: str, config: Dict[str, Any], params: Dict[str, Any], *, trace: Optional[str] = None,
        log: Any = None) -> Tuple[Dict[str, Any], Run]:
    """Run workload `name` on a new heap made with `config`; return the
    measurements as a dict (the --json output of bench) and the lab's Run
    (for the plots). A bad parameter is a LabInputError."""
    refuse_manual(config)
    wl = workload_of(name)
    full = wl.with_defaults(params)
    if log is not None:
        full["log"] = log
    r = run_once(wl, full, config, trace=trace)
    s = r.final
    return {
        "workload": name, "config": config, "label": config_label(config), "seconds": r.values["wall_s"],
        "collector": s["collector"], "barrier": s["barrier"],
        "objects": s["mallocs"], "bytes_allocated": s["total_alloc"], "cycles": s["num_gc"],
        "pause_total_ns": s["pause_total_ns"], "pause_max_ns": s["pause_max_ns"],
        "heap_peak": int(r.values["peak_alloc_mib"] * 2**20), "heap_sys": s["heap_sys"], "heap_live": s["heap_live"],
        "gc_cpu_fraction": s["gc_cpu_fraction"],
        "result": {k: v for k, v in r.values.items() if k in ("objects", "long_lived_nodes", "sum", "hit_rate",
                                                              "finalized", "live_objects",
                                                              "records", "mismatches", "replay_s")},
        "pauses_ns": s["pauses_ns"], "samples": [list(x) for x in r.samples],
        # latency over the measured window (issue 13): every GC-caused wait, not pauses only
        "pause_p50_ns": _ns(r.values.get("pause_p50_ms")), "pause_p99_ns": _ns(r.values.get("pause_p99_ms")),
        "pause_max_window_ns": _ns(r.values.get("pause_max_ms")),
        "delay_max_ns": _ns(r.values.get("delay_max_ms")), "delay_total_ns": _ns(r.values.get("delay_ms")),
        "mmu": {f"{w}ms": r.values.get(f"mmu_{w}ms") for w in (1, 10, 100)},
    }, r


def window_pause_max(r: Dict[str, Any]) -> int:
    """The longest pause of the measured window (the whole run's when the
    window measured none: a workload without one)."""
    w = r.get("pause_max_window_ns")
    return r["pause_max_ns"] if w is None else w


def _ns(ms_value: Optional[float]) -> Optional[int]:
    return None if ms_value is None else int(round(ms_value * 1e6))


def frac(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"


def heap_config(args: argparse.Namespace) -> Dict[str, Any]:
    """The Heap keyword arguments given on the command line (others: defaults)."""
    config: Dict[str, Any] = {}
    for key in ("collector", "gogc", "memory_limit", "barrier", "mark_workers"):
        if hasattr(args, key):
            config[key] = getattr(args, key)
    if getattr(args, "gctrace", False):
        config["gctrace"] = True
    return config


def summary(r: Dict[str, Any]) -> str:
    """The human-readable summary of one run."""
    return "\n".join([
        f"  objects allocated  {r['objects']:>14,}   ({human_bytes(r['bytes_allocated'])} in all)",
        f"  GC cycles          {r['cycles']:>14}   (one gctrace line each)",
        f"  pause total        {ms(r['pause_total_ns']):>14}   (time the program stood still for the GC)",
        f"  pause max          {ms(r['pause_max_ns']):>14}   (the longest single stop of the whole run, "
        "building the heap included)",
        f"  pause p50/p99/max  {ms(r['pause_p50_ns'] or 0):>14} / {ms(r['pause_p99_ns'] or 0)} / "
        f"{ms(window_pause_max(r))}   (in the measured window)",
        f"  mutator delay max  {ms(r['delay_max_ns'] or 0):>14}   (longest GC-caused wait: pause, assist, "
        "incremental slice, lazy sweep, limit wait)",
        f"  mutator delay      {ms(r['delay_total_ns'] or 0):>14}   (all of them, in the measured window)",
        f"  MMU 1/10/100 ms    {frac(r['mmu']['1ms']):>14} / {frac(r['mmu']['10ms'])} / {frac(r['mmu']['100ms'])}"
        "   (least share of any window left to the program)",
        f"  heap peak          {human_bytes(r['heap_peak']):>14}   (largest heap_alloc sampled; "
        f"{human_bytes(r['heap_sys'])} mapped from the OS)",
        f"  live at the end    {human_bytes(r['heap_live']):>14}   (marked by the last cycle)",
        f"  GC CPU fraction    {r['gc_cpu_fraction']:>14.1%}",
        f"  wall time          {r['seconds']:>12.2f} s",
    ])


# ---- commands ------------------------------------------------------------------------

GCTRACE_HELP = """\
How to read a gctrace line (the shape of Go's GODEBUG=gctrace=1):
  gc 7 @2.104s 3%: 0.021+4.2+0.018 ms clock, 0.021+1.1/3.9/0+0.018 ms cpu, 48->52->20 MB, 50 MB goal, 1 P
  gc 7           the 7th collection of this heap
  @2.104s        seconds since the heap was created
  3%             share of the time spent in the GC so far
  a+b+c ms clock stop-the-world start + mark + stop-the-world end, wall time
  ... ms cpu     the same in CPU time (the mark split into assist/background/idle)
  48->52->20 MB  heap at the start of the cycle -> at the end of mark -> live (marked)
  50 MB goal     heap size at which the next cycle starts (live * (1 + gogc/100))
  1 P            mark workers
  (forced)       the cycle was asked for by heap.collect() (as runtime.GC() in Go)"""

DEMO_NEXT = """Under the concurrent collector only the two short stop-the-world parts (a and c)
stop the program; the mark (b) runs beside it. To compare:
  python -m tricolor demo --collector stw      # the whole cycle is one pause
  python -m tricolor compare                   # collectors, barriers and gogc side by side
  python -m tricolor bench churn --plot churn.svg"""


def describe_heap(config: Dict[str, Any]) -> str:
    """The effective settings of a heap made with `config` (defaults filled in)."""
    with tricolor.Heap(**config) as heap:
        gogc = "off" if heap.gogc is None else heap.gogc
        limit = "off" if heap.memory_limit is None else human_bytes(heap.memory_limit)
        return f"collector={heap.collector}, barrier={heap.barrier}, gogc={gogc}, memory_limit={limit}"


def cmd_demo(args: argparse.Namespace) -> int:
    config = heap_config(args)
    config["gctrace"] = True
    try:
        refuse_manual(config)
        settings = describe_heap(config)
    except (ValueError, TypeError) as e:
        print(f"tricolor demo: {e}", file=sys.stderr)
        return 2
    print(f"tricolor demo: GCBench-style binary trees on one heap ({settings}).")
    print("A long-lived tree of depth 14 and an array of doubles stay reachable while short-lived")
    print("trees of depth 4..14 are built top-down and bottom-up and dropped. Each 'gc N ...' line")
    print("(on stderr) is one collection; a summary follows.\n", flush=True)
    r, _ = run("gcbench", config, {}, log=lambda msg: print("  " + msg, flush=True))
    sys.stderr.flush()
    print("\nSummary")
    print(summary(r))
    print()
    print(GCTRACE_HELP)
    print()
    print(DEMO_NEXT)
    return 0


def check_plot(command: str, path: Optional[str], trace: Optional[str] = None) -> bool:
    """Refuse an unwritable --plot path or extension, or an unwritable
    --trace path, before running: one line on stderr (the caller exits 2)."""
    try:
        lab_cli.check_plot(path)
        if trace is not None:
            lab_cli.check_writable(trace, "--trace")
    except LabInputError as e:
        print(f"tricolor {command}: {e}", file=sys.stderr)
        return False
    return True


def cmd_bench(args: argparse.Namespace) -> int:
    config = heap_config(args)
    if not check_plot("bench", args.plot, args.trace):
        return 2
    try:
        r, lab_run = run(args.workload, config, dict(args.param), trace=args.trace)
    except (ValueError, TypeError, OSError) as e:  # LabInputError is a ValueError; OSError: the trace file
        print(f"tricolor bench: {e}", file=sys.stderr)
        return 2
    except WorkloadFailed as e:
        print(f"tricolor bench: the workload raised an exception:\n{e.tb}", file=sys.stderr)
        return 1
    if args.plot:
        title = f"{args.workload}: collector={r['collector']}, barrier={r['barrier']}, {r['label']}"
        try:
            plots.save(plots.bench_figure(title, lab_run), args.plot)
        except OSError as e:  # the check passed, the write did not (a full disk, say)
            print(f"tricolor bench: --plot {args.plot}: {e.strerror or e}", file=sys.stderr)
            return 2
    if args.json:
        json.dump(r, sys.stdout, indent=2)
        print()
        return 0
    print(f"{args.workload}: {workloads.describe(args.workload)}")
    print(f"heap: {r['label']}\n")
    print(summary(r))
    for label, path in (("trace", args.trace), ("plot", args.plot)):
        if path:
            print(f"\n{label} written to {path}")
    return 0


DEFAULT_CONFIGS = [
    "collector=stw", "collector=incremental", "collector=concurrent",
    "collector=concurrent,barrier=dijkstra", "collector=concurrent,barrier=yuasa",
    "collector=concurrent,gogc=50", "collector=concurrent,gogc=200",
    "collector=concurrent,gogc=off,memory_limit=32M",
]


def cmd_compare(args: argparse.Namespace) -> int:
    configs = args.config or [parse_config(c) for c in DEFAULT_CONFIGS]
    if not check_plot("compare", args.plot):
        return 2
    if args.replay:  # the same recorded operations under every configuration
        args.workload = lab_replay.SPEC
        args.param.append(("log", args.replay))
    try:
        workload_of(args.workload).with_defaults(dict(args.param))
    except LabInputError as e:
        print(f"tricolor compare: {e}", file=sys.stderr)
        return 2
    rows, results, runs = [], [], []
    for config in configs:
        try:
            r, lab_run = run(args.workload, config, dict(args.param))
        except WorkloadFailed as e:
            print(f"tricolor compare: the workload raised an exception:\n{e.tb}"
                  f"in configuration: {config_label(config)}", file=sys.stderr)
            return 1
        except ValueError as e:
            rows.append([config_label(config)] + ["-"] * 10 + [f"unavailable: {e}"])
            continue
        results.append(r)
        runs.append((r["label"], lab_run))
        rows.append([r["label"], f"{r['seconds']:.2f}", str(r["cycles"]), ms(r["pause_p50_ns"] or 0),
                     ms(r["pause_p99_ns"] or 0), ms(window_pause_max(r)), ms(r["delay_max_ns"] or 0),
                     f"{r['gc_cpu_fraction']:.1%}", frac(r["mmu"]["1ms"]), frac(r["mmu"]["10ms"]),
                     frac(r["mmu"]["100ms"]), human_bytes(r["heap_peak"])])
    if args.plot and runs:
        try:
            plots.save(plots.compare_figure(runs), args.plot)
        except OSError as e:  # the check passed, the write did not (a full disk, say)
            print(f"tricolor compare: --plot {args.plot}: {e.strerror or e}", file=sys.stderr)
            return 2
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return 0
    what = f"replay of {args.replay}" if args.replay else f"{args.workload}: {workloads.describe(args.workload)}"
    print(f"{what}\n")
    print(table(["config", "time s", "cycles", "p50 pause", "p99 pause", "max pause", "max delay", "GC CPU",
                 "MMU 1ms", "MMU 10ms", "MMU 100ms", "heap peak"], rows))
    print("\nPauses, delay and MMU are those of the measured window (not building the heap), so a pause is\n"
          "never longer than the max delay. max delay: the longest GC-caused wait of a program thread (pause,\n"
          "mark assist, incremental slice, lazy sweep, limit wait); MMU w: the least share of any w-long\n"
          "window the program kept.")
    bad = [r["label"] for r in results if r["result"].get("mismatches")]
    if bad:
        print(f"\nreplay NOT exact under: {', '.join(bad)} (heap_objects or graph hash differed at a collect)")
    if args.plot:
        print(f"\nplot written to {args.plot}")
    return 0


REPLAY_COLUMNS = ("config", "replay s", "cycles", "max pause", "p99 pause", "total pause", "MMU 10ms",
                  "heap peak", "GC CPU", "records", "exact")


def cmd_replay(args: argparse.Namespace) -> int:
    """python -m tricolor replay LOG: the lab's measurements of the recorded
    operations under each --config (the same operations each time)."""
    results, rows = [], []
    for config in args.config or [{}]:
        try:
            r, lab_run = run(lab_replay.SPEC, config, {"log": args.log})
        except WorkloadFailed as e:
            last = e.tb.strip().splitlines()[-1] if e.tb.strip() else "the replay failed"
            print(f"tricolor replay: {last}", file=sys.stderr)
            return 2 if ("ValueError" in last or "OSError" in last) else 1
        except ValueError as e:
            print(f"tricolor replay: {config_label(config)}: {e}", file=sys.stderr)
            return 2
        v = lab_run.values
        r["metrics"] = {k: x for k, x in v.items() if isinstance(x, (int, float, type(None)))}
        results.append(r)
        res = r["result"]
        rows.append([r["label"], f"{res.get('replay_s', 0):.3f}", str(r["cycles"]), ms(r["pause_max_ns"]),
                     f"{v.get('pause_p99_ms') or 0:.2f}ms", ms(r["pause_total_ns"]),
                     f"{v.get('mmu_10ms') if v.get('mmu_10ms') is not None else float('nan'):.3f}",
                     human_bytes(r["heap_peak"]), f"{r['gc_cpu_fraction']:.1%}", str(res.get("records")),
                     "yes" if not res.get("mismatches") else f"NO ({res['mismatches']} collects differ)"])
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    else:
        print(f"replay of {args.log}\n")
        print(table(REPLAY_COLUMNS, rows))
    return 1 if any(r["result"].get("mismatches") for r in results) else 0


# ---- the parser ------------------------------------------------------------------------


def add_heap_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collector", default=argparse.SUPPRESS,
                   help='"concurrent" (default), "incremental" or "stw"')
    p.add_argument("--gogc", type=parse_gogc, default=argparse.SUPPRESS, help="GC target percent, or 'off' (default 100)")
    p.add_argument("--memory-limit", dest="memory_limit", type=parse_size, default=argparse.SUPPRESS,
                   help="soft limit in bytes: 64M, 1GiB, ... or 'off' (default off)")
    p.add_argument("--barrier", default=argparse.SUPPRESS, help='"hybrid" (default), "dijkstra" or "yuasa"')
    p.add_argument("--mark-workers", dest="mark_workers", type=int, default=argparse.SUPPRESS, help="marker threads")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tricolor",
        description="Experiments with the tricolor garbage collector. Without a command: demo.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads:\n" + "\n".join(f"  {n:<13} {workloads.describe(n)}" for n in workloads.WORKLOADS))
    parser.add_argument("--version", action="version", version=f"tricolor {tricolor.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="the default experiment: GCBench trees with gctrace and a summary")
    add_heap_options(demo)
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="run one built-in workload and report its GC behaviour")
    bench.add_argument("workload", choices=sorted(workloads.WORKLOADS), help="the workload to run")
    add_heap_options(bench)
    bench.add_argument("--gctrace", action="store_true", help="print one gctrace line per cycle on stderr")
    bench.add_argument("--json", action="store_true", help="print the measurements as JSON")
    bench.add_argument("--trace", metavar="FILE", help="write Chrome/Perfetto trace events to FILE")
    bench.add_argument("--plot", metavar="FILE", help="write heap over time, pauses and MMU to FILE (.png or .svg)")
    bench.add_argument("--param", "-p", type=parse_param, action="append", default=[],
                       metavar="NAME=VALUE", help="a workload parameter (e.g. length=1000 for linkedlist)")
    bench.set_defaults(func=cmd_bench)

    compare = sub.add_parser("compare", help="one workload under several heap configurations, one table")
    compare.add_argument("workload", nargs="?", default="gcbench", choices=sorted(workloads.WORKLOADS))
    compare.add_argument("--config", type=parse_config, action="append", metavar="K=V[,K=V...]",
                         help=f"a configuration (repeat); default: {' '.join(DEFAULT_CONFIGS)}")
    compare.add_argument("--json", action="store_true", help="print the measurements as JSON")
    compare.add_argument("--param", "-p", type=parse_param, action="append", default=[], metavar="NAME=VALUE",
                         help="a workload parameter")
    compare.add_argument("--plot", metavar="FILE", help="heap over time, pauses and MMU of every configuration (.png or .svg)")
    compare.add_argument("--replay", metavar="LOG", help="run a recorded program (heap.record_start) instead of a workload")
    compare.set_defaults(func=cmd_compare)

    rp = sub.add_parser("replay", help="replay a heap.record_start log in C under one or more configurations")
    rp.add_argument("log", metavar="LOG", help="the log written by heap.record_start / record_stop")
    rp.add_argument("--config", type=parse_config, action="append", metavar="K=V[,K=V...]",
                    help="a configuration (repeat for a paired comparison); default: the default heap")
    rp.add_argument("--json", action="store_true", help="print the measurements as JSON")
    rp.set_defaults(func=cmd_replay)

    lab_cli.add_parser(sub)

    why = sub.add_parser("why", help="a worked example: why an object is still alive (roots, path_to, retained)")
    why.add_argument("--collector", default="concurrent", help='"concurrent" (default), "incremental" or "stw"')
    why.add_argument("--json", action="store_true", help="print the findings as JSON")
    why.set_defaults(func=lambda a: __import__("tricolor.why", fromlist=["cli"]).cli(a))

    from tricolor import teach

    teach.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    command: Callable[[argparse.Namespace], int] = args.func
    return command(args)


if __name__ == "__main__":
    sys.exit(main())
