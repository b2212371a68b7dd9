"""python -m tricolor why — a worked example of "why is this object alive?".

A small program keeps a document in a cache and a session, and a listener
that was registered for it captures it too. The program "closes" the
document (drops it from the cache and the session), collects, and finds it
still there. The example then asks the heap:

  heap.roots()        what the collector starts from, with each root's kind
  heap.path_to(obj)   the shortest chain of references from a root to obj
  heap.referrers(obj) who holds obj
  heap.retained(obj)  what would be freed with obj (its dominator subtree)

and fixes the leak. run(args) returns the findings as JSON-able rows (the
lab's `why` question uses it); cli(args) prints them as a story.

Everything here is ordinary code on the public API, so it doubles as an
example: note how every Python handle is a root too, which is why the
example drops the handles it does not need before it asks.
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

import tricolor

# The objects of the example: name -> (slots, payload bytes, what it stands for).
SHAPES = {
    "app": (3, 0, "the program's one global: cache, listeners, session"),
    "cache": (4, 0, "a cache of recently used documents"),
    "listeners": (2, 0, "the list of registered callbacks"),
    "session": (2, 64, "the user's session: the open document"),
    "doc": (2, 4096, "a document: 4 KiB of text"),
    "thumb": (0, 16384, "the document's thumbnail: 16 KiB of pixels"),
    "listener": (1, 32, "a callback that captured the document"),
    "log": (1, 256, "an audit record, waiting for its finalizer"),
    "entry": (0, 128, "what the audit record refers to"),
}

# The references of the example: (holder, slot, target).
EDGES = [
    ("app", 0, "cache"), ("app", 1, "listeners"), ("app", 2, "session"),
    ("cache", 0, "doc"), ("session", 0, "doc"), ("doc", 0, "thumb"),
    ("listeners", 0, "listener"), ("listener", 0, "doc"), ("log", 0, "entry"),
]


class Example:
    """The example's heap, the program's one handle (app) and the names of
    the objects (by id)."""

    def __init__(self, collector: str) -> None:
        self.heap = tricolor.Heap(collector=collector, gogc=None)  # cycles only when asked
        objs = {name: self.heap.new(nslots, data=size or None) for name, (nslots, size, _) in SHAPES.items()}
        for holder, slot, target in EDGES:
            objs[holder][slot] = objs[target]
        self.names = {o.id: name for name, o in objs.items()}
        self.heap.set_finalizer(objs["log"], lambda obj: None)
        self.app = objs["app"]
        # every Python handle is a root: keep only app's (and, for a while, log's)
        self.log: Optional[tricolor.Obj] = objs["log"]
        del objs

    def name(self, obj: tricolor.Obj) -> str:
        return self.names.get(obj.id, f"object {obj.id}")

    def get(self, name: str) -> tricolor.Obj:
        """A new handle to a named object, found by following references
        (heap.referents) from app and from the finalizer roots. The handles
        met on the way are dropped on return: left alive, they would be roots."""
        want = next(i for i, n in self.names.items() if n == name)
        queue = [self.app] + [o for kind, o in self.heap.roots() if kind == "finalizer"]
        seen = set()
        while queue:
            obj = queue.pop(0)
            if obj.id == want:
                return obj
            if obj.id not in seen:
                seen.add(obj.id)
                queue.extend(self.heap.referents(obj))
        raise LookupError(f"{name} is not reachable")

    def path(self, name: str) -> Optional[List[Dict[str, Any]]]:
        """path_to as rows: the first step names its root kind, the others the slot."""
        steps = self.heap.path_to(self.get(name))
        if steps is None:
            return None
        return [{"via": via if isinstance(via, str) else f"slot {via}", "object": self.name(o)} for via, o in steps]


def show_path(steps: Optional[List[Dict[str, Any]]]) -> str:
    if steps is None:
        return "None (nothing but the handle passed in keeps it)"
    text = f"[{steps[0]['via']}] {steps[0]['object']}"
    for step in steps[1:]:
        text += f" --{step['via']}--> {step['object']}"
    return text


def run(args: Optional[argparse.Namespace] = None) -> Dict[str, Any]:
    """The worked example; returns {"question", "config", "rows", "summary"}.
    rows: one dict per finding, with "section" = roots | path | referrers |
    retained | fix. `args` may carry `collector` (default "concurrent")."""
    collector = getattr(args, "collector", None) or "concurrent"
    ex = Example(collector)
    h = ex.heap
    rows: List[Dict[str, Any]] = []
    summary: Dict[str, Any] = {}
    with h:
        # (a comprehension: a loop variable would keep the last handle alive)
        rows.extend({"section": "roots", "kind": kind, "object": ex.name(obj)} for kind, obj in h.roots())
        # the program "closes" the document: out of the cache and the session
        ex.app[0][0] = None
        ex.app[2][0] = None
        h.collect()
        summary["objects_after_close"] = h.stats().heap_objects
        ex.log = None  # and drops the audit record; no cycle ran since, so its finalizer is still set
        for name in ("doc", "thumb", "entry"):
            rows.append({"section": "path", "object": name, "steps": ex.path(name)})
        rows.extend({"section": "referrers", "object": "doc", "referrer": ex.name(o)}
                    for o in h.referrers(ex.get("doc")))
        for name in ("app", "listeners", "listener", "doc", "thumb"):
            nbytes, nobjects = h.retained(ex.get(name))
            rows.append({"section": "retained", "object": name, "bytes": nbytes, "objects": nobjects})
        # the fix: unregister the listener
        before = h.stats().heap_objects
        ex.app[1][0] = None
        h.collect()
        after = h.stats().heap_objects
        rows.append({"section": "fix", "object": "listener", "action": "listeners[0] = None; collect()",
                     "objects_before": before, "objects_after": after, "freed": before - after})
    return {"question": "why", "config": {"collector": collector}, "rows": rows, "summary": summary}


def report(result: Dict[str, Any]) -> str:
    """The result of run() as a story for a terminal."""
    rows = result["rows"]
    by = lambda section: [r for r in rows if r["section"] == section]  # noqa: E731
    out = [f"Why is it alive? A worked example (collector={result['config']['collector']}).", ""]
    out.append("The program builds this heap and keeps one handle, `app`:")
    for name, (nslots, size, what) in SHAPES.items():
        refs = ", ".join(f"[{slot}] -> {t}" for h, slot, t in EDGES if h == name)
        out.append(f"  {name:<10} {what}" + (f"  ({refs})" if refs else ""))
    out += ["", "1. heap.roots() — what the collector marks from, and why each is a root:"]
    for r in by("roots"):
        out.append(f"  {r['kind']:<16} {r['object']}")
    out.append("  (`handle`: a live handle such as a Python Obj; `finalizer`: an object with a finalizer,")
    out.append("   which keeps what it refers to alive for the finalizer to see — but not itself)")
    out += ["", "2. The program closes the document: cache[0] = None, session[0] = None; after",
            f"   collect(), all {result['summary']['objects_after_close']} objects are still allocated. "
            "It then drops the audit record.", "   heap.path_to(obj):"]
    for r in by("path"):
        out.append(f"  {r['object']:<6} {show_path(r['steps'])}")
    out.append("  The document is still reachable: the listener captured it. The audit record's")
    out.append("  finalizer keeps `entry` for it to see; the record itself is unreachable (its finalizer")
    out.append("  runs at the next cycle, and a cycle after that frees it).")
    out += ["", "   heap.referrers(doc): " + ", ".join(r["referrer"] for r in by("referrers"))]
    out += ["", "3. heap.retained(obj) — what would be freed if obj died (its dominator subtree):"]
    out.append(f"  {'object':<10} {'bytes':>8} {'objects':>8}")
    for r in by("retained"):
        out.append(f"  {r['object']:<10} {r['bytes']:>8} {r['objects']:>8}")
    out.append("  The listener retains the document and its thumbnail: dropping it frees them.")
    fix = by("fix")[0]
    out += ["", f"4. The fix: {fix['action']} — {fix['objects_before']} objects before, "
            f"{fix['objects_after']} after: {fix['freed']} freed."]
    return "\n".join(out)


def cli(args: argparse.Namespace) -> int:
    """`python -m tricolor why [--collector C] [--json]`."""
    result = run(args)
    print(json.dumps(result, indent=1) if getattr(args, "json", False) else report(result))
    return 0
