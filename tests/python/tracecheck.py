"""tracecheck — validate a Chrome trace file as tricolor writes it (issue 13,
point 4): valid JSON; every event has its required fields; a process_name per
pid; a thread_name for every track that holds an event; per track (pid, tid)
timestamps never decrease and no two complete ("X") events overlap partially
(each either nests inside an open one or follows it). Returns the events.

Used by every test that writes a trace file (test_events.py, test_gctrace.py,
test_cli.py), so each trace the suites write is checked the same way.
"""
import json
from collections import defaultdict

EPS = 0.0015  # µs: the file rounds times to ns (3 decimals); ends may differ by that rounding


def check_trace(path, *, counters=True):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    assert isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list), "not a trace-event document"
    events = doc["traceEvents"]
    procs, threads = set(), set()
    tracks = defaultdict(list)
    for e in events:
        assert isinstance(e.get("name"), str) and isinstance(e.get("ph"), str), e
        assert isinstance(e.get("pid"), int), e
        if e["ph"] == "M":
            if e["name"] == "process_name":
                procs.add(e["pid"])
            elif e["name"] == "thread_name":
                threads.add((e["pid"], e["tid"]))
            assert isinstance(e["args"]["name" if "name" in e["name"] else "sort_index"], (str, int)), e
            continue
        assert isinstance(e.get("ts"), (int, float)) and e["ts"] >= 0, e
        assert isinstance(e.get("tid"), int), e
        if e["ph"] == "X":
            assert isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0, e
            assert isinstance(e["args"]["cycle"], int) and isinstance(e["args"]["bytes"], int), e
        elif e["ph"] == "C":
            assert all(isinstance(v, (int, float)) for v in e["args"].values()), e
        tracks[(e["pid"], e["tid"])].append(e)
    pids = {e["pid"] for e in events}
    assert pids <= procs, f"pids without process_name: {pids - procs}"
    for key, evs in tracks.items():
        if any(e["ph"] == "X" for e in evs):
            assert key in threads, f"track {key} has no thread_name"
        last = -1.0
        for e in evs:
            assert e["ts"] >= last, f"track {key}: time goes back at {e}"
            last = e["ts"]
        open_ends = []
        for e in (x for x in evs if x["ph"] == "X"):
            start, end = e["ts"], e["ts"] + e["dur"]
            while open_ends and open_ends[-1] <= start + EPS:
                open_ends.pop()
            assert not open_ends or end <= open_ends[-1] + EPS, \
                f"track {key}: {e} overlaps an enclosing event partially (it ends at {open_ends[-1]})"
            open_ends.append(end)
    if counters:
        names = {e["name"] for e in events if e["ph"] == "C"}
        assert {"heap_alloc", "heap_goal", "heap_live"} <= names, f"counters missing: {names}"
    return events
