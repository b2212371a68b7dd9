"""The built-in workloads, kept under their old import path: they live in
tricolor.lab.workloads now (each is ``fn(heap, params)``; see that module)."""
from .lab.workloads import WORKLOADS, Workload, describe, resolve

__all__ = ["WORKLOADS", "Workload", "describe", "resolve"]
