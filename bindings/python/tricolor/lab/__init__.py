"""tricolor.lab — the canonical GC questions, one command each (docs/lab.md).

    python -m tricolor lab pauses --quick
    python -m tricolor lab gogc --plot gogc.png
    python -m tricolor lab barrier --repeat 10 --json barrier.json
    python -m tricolor lab limit --lang both

From Python::

    from tricolor import lab
    result = lab.run(lab.Options("barrier", quick=True))
    result.doc        # {"question", "config", "rows", "machine"}: the --json object

The package: ``questions`` (what each question runs and concludes),
``workloads`` (the built-in workloads and ``--workload`` resolution),
``runner`` (one measured run), ``metrics`` (the one switch on the latency
layer), ``stats`` (medians, bootstrap, MMU), ``session`` (a whole question,
Python and Lua), ``luarun`` (the Lua side), ``golang`` (Go's gcbench curve),
``output`` (tables, CSV, JSON, progress), ``plots`` (matplotlib figures),
``schema`` (the result's shape), ``cli`` (``python -m tricolor lab``).
"""
from .questions import QUESTIONS, Options
from .session import LabResult, LabRunError, run
from .workloads import WORKLOADS, LabInputError

__all__ = ["Options", "QUESTIONS", "WORKLOADS", "LabInputError", "LabResult", "LabRunError", "run"]
