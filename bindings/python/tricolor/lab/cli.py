"""``python -m tricolor lab QUESTION``: the command line of the lab.

Exit status: 0 answered; 1 a workload raised (its traceback and the
configuration it failed in are printed); 2 bad input (one line naming the
valid choices, before anything runs); 130 interrupted by Ctrl-C (the table
of what finished is printed and every output file is complete).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from . import plots, questions
from .output import emit, progress_for, report, to_csv, to_json
from .questions import Options
from .session import LANGS, LabRunError, run
from .workloads import LabInputError

USAGE_QUESTIONS = ", ".join(questions.QUESTIONS)


def parse_value(text: str) -> Any:
    """A --param value: an int, else a float, else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_params(items: List[str]) -> Dict[str, Any]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise LabInputError(f"--param wants NAME=VALUE, not {item!r}")
        out[name.strip()] = parse_value(value.strip())
    return out


def parse_sizes(text: Optional[str]) -> Optional[List[float]]:
    """--sizes 16,64,1GiB: live sizes in MiB (a unit may be given)."""
    if text is None:
        return None
    from ..__main__ import parse_size
    sizes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            sizes.append(float(part))
        except ValueError:
            try:
                size = parse_size(part)
            except argparse.ArgumentTypeError:
                size = None
            if not size:
                raise LabInputError(f"--sizes wants MiB numbers or sizes like 64M, 1GiB, not {part!r}") from None
            sizes.append(size / 2**20)
    if not sizes or min(sizes) <= 0:
        raise LabInputError(f"--sizes wants positive sizes, not {text!r}")
    return sorted(sizes)


def check_plot(path: Optional[str]) -> None:
    """Refuse a plot file that cannot be written, before anything runs."""
    if path is None:
        return
    if not path.lower().endswith(plots.EXTENSIONS):
        raise LabInputError(f"--plot {path}: the extension must be one of {', '.join(plots.EXTENSIONS)}")
    missing = plots.matplotlib_missing()
    if missing:
        raise LabInputError(missing)
    check_writable(path, "--plot")


def check_writable(path: str, option: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK) or (
            os.path.exists(path) and (os.path.isdir(path) or not os.access(path, os.W_OK))):
        raise LabInputError(f"{option} {path}: cannot write there")


def options(args: argparse.Namespace) -> Tuple[Options, str]:
    """The Options and language of the command line; LabInputError if bad."""
    questions.get(args.question)
    lang = args.lang or ("lua" if (args.workload or "").endswith(".lua") else "python")
    if lang not in LANGS:
        raise LabInputError(f"unknown --lang {lang!r}: choose one of {', '.join(LANGS)}")
    if args.repeat is not None and args.repeat < 1:
        raise LabInputError(f"--repeat wants a positive count, not {args.repeat}")
    if args.barriers not in ("hybrid", "all"):
        raise LabInputError(f"unknown --barriers {args.barriers!r}: choose hybrid or all")
    if args.collector not in ("concurrent", "incremental", "stw"):
        raise LabInputError(f"unknown --collector {args.collector!r}: choose concurrent, incremental or stw")
    opts = Options(args.question, args.quick, args.repeat, args.workload, parse_params(args.param),
                   parse_sizes(args.sizes), args.barriers, args.collector)
    if args.workload and args.workload.endswith(".lua"):
        if lang != "lua":
            raise LabInputError(f"workload {args.workload} is a Lua script: it runs with --lang lua only")
        if not os.path.isfile(args.workload):
            raise LabInputError(f"workload {args.workload}: no such file")
    if lang in ("python", "both"):
        questions.prepare(opts)
    if lang in ("lua", "both") and ":" in (args.workload or ""):
        raise LabInputError(f"workload {args.workload} is a Python function: it runs with --lang python only")
    if args.question == "why" and args.plot:
        raise LabInputError("lab why draws no plot: its rows are a worked example, not measurements")
    check_plot(args.plot)
    for option, dest in (("--json", args.json), ("--csv", args.csv)):
        if dest not in (None, "-"):
            check_writable(dest, option)
    return opts, lang


def why_report(doc: Dict[str, Any]) -> None:
    """lab why as text: tricolor.why's story, once per language."""
    from .. import why
    for lang in dict.fromkeys(r["lang"] for r in doc["rows"]):
        rows = [r for r in doc["rows"] if r["lang"] == lang]
        close = next(r for r in rows if r["section"] == "close")
        res = {"config": {"collector": doc["config"].get("collector", "concurrent")},
               "summary": {"objects_after_close": close["objects_after"]}, "rows": rows}
        print(f"[{lang}] " + why.report(res))


def cmd_lab(args: argparse.Namespace) -> int:
    try:
        opts, lang = options(args)
    except LabInputError as e:
        print(f"tricolor lab: {e}", file=sys.stderr)
        return 2
    try:
        result = run(opts, lang, progress_for(sys.stderr))
    except LabInputError as e:
        print(f"tricolor lab: {e}", file=sys.stderr)
        return 2
    except LabRunError as e:
        print(f"tricolor lab: the workload raised an exception:\n{e}", file=sys.stderr)
        return 1
    q = questions.get(opts.question)
    if args.plot:
        plots.save(plots.lab_figure(q.name, result.doc, result.runs), args.plot)
    if args.json:
        emit(to_json(result.doc), args.json)
    if args.csv:
        emit(to_csv(result.doc), args.csv)
    if "-" not in (args.json, args.csv) and q.name == "why":
        why_report(result.doc)
    elif "-" not in (args.json, args.csv):
        report(result.doc, q.columns, result.notes, sys.stdout)
        if args.plot:
            print(f"plot written to {args.plot}")
    return 130 if result.interrupted else 0


EPILOG = """questions:
  pauses   pause and mutator-delay distribution against live heap size, per collector
  gogc     GOGC 25..800 and off: GC CPU, peak heap, peak RSS, wall time (Go's curve too, with go on PATH)
  barrier  the three write barriers, interleaved runs, paired ratio with a 95% bootstrap interval
  limit    memory limits from 2x to 0.9x the live set, gogc off and on: peak memory, GC CPU, the guard
  why      why an object is alive: roots, path_to, referrers, retained on a worked example

--quick runs in seconds (the tests use it); the default run takes a minute or two.
A workload is a built-in name, package.module:function (called as fn(heap, params);
a generator yields once when its set-up is done) or a Lua script returning
run(heap, params) (--lang lua). See docs/lab.md."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("lab", help="answer one of the canonical GC questions: " + USAGE_QUESTIONS,
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("question", metavar="QUESTION", help=USAGE_QUESTIONS)
    p.add_argument("--quick", action="store_true", help="small sizes, one run each: seconds, not minutes")
    p.add_argument("--repeat", type=int, metavar="N", help="runs per configuration (default 3; --quick: 1)")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE", help="the result as JSON (stdout, or FILE)")
    p.add_argument("--csv", nargs="?", const="-", metavar="FILE", help="the rows as CSV (stdout, or FILE)")
    p.add_argument("--plot", metavar="FILE", help="the question's figure, .png or .svg")
    p.add_argument("--workload", metavar="NAME|module:function|file.lua", help="what the heap runs")
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                   help="a workload parameter (repeat the option for more)")
    p.add_argument("--lang", metavar="python|lua|both", help="which binding runs it (default python)")
    p.add_argument("--sizes", metavar="MiB,...", help="pauses: live sizes (default 16,64,256,1024)")
    p.add_argument("--barriers", default="hybrid", metavar="hybrid|all", help="pauses: every barrier with all")
    p.add_argument("--collector", default="concurrent", help="gogc, barrier, limit: the collector")
    p.set_defaults(func=cmd_lab)
