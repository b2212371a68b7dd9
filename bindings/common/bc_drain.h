/*
 * bc_drain.h — what both bindings do with one heap's due callbacks and
 * gctrace lines, written once (plain C: no Python.h, no lua.h).
 *
 * The core never calls the host: it keeps a token per finalizer or cleanup
 * and hands it back when the callback is due (tc_take_ready). Each binding
 * keeps its callbacks (Python objects, Lua values) in a table keyed by token;
 * this file hands out the tokens, owns the re-entrancy flag and runs the
 * drain loop, calling back into the binding through bc_drain_ops for the
 * host-specific steps (making a handle, calling the function).
 *
 * Safe points. Every heap call that may run or finish a collection, or that
 * reports on one, ends with the same two steps, in both bindings:
 *   1. bc_trace_flush: print the gctrace lines the call queued. The calls:
 *      new, collect, stats, verify, scavenge (Python), the gogc and
 *      memory_limit setters, close, roots, referents, referrers, path_to,
 *      retained, gc_start, gc_step, gc_finish, color and snapshot.
 *   2. run the due finalizers and cleanups (bc_due is the cheap test; the
 *      binding's safe point then calls bc_drain_enter / bc_drain_loop /
 *      bc_drain_leave), after the above and after set_finalizer,
 *      add_cleanup, weakref, a weak reference's get and unsafe.free.
 *
 * Invariants:
 *   - Tokens are never 0 (0 means "none" to the core) and never reused for
 *     a heap: bc_token_next counts up from 1.
 *   - At most one drain of a heap runs at a time (bc_host.draining): a safe
 *     point reached from inside a callback (heap.collect() in a finalizer)
 *     does not drain again; the outer loop picks up what it made due.
 *   - A finalizer whose object was freed (tricolor.unsafe.free) while the
 *     finalizer was queued never runs: the loop gives its root back and
 *     tells the binding to forget the token (tc_obj_free: "its finalizer
 *     never runs"), so both bindings agree.
 *   - The loop stops as soon as the heap is closed (ops->heap answers NULL):
 *     a callback may close it.
 * Threads: a bc_host is only touched by the thread that holds the host's
 * interpreter (the GIL, or the heap's Lua state).
 */
#ifndef BC_DRAIN_H
#define BC_DRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "tricolor.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* bc_host — the binding's bookkeeping for one heap's callbacks and output.
 * Written by the host thread only (see Threads above). */
typedef struct bc_host {
    tc_token last_token; /* the last token handed out; 0 before the first */
    bool draining;       /* a drain of this heap is running (bc_drain_enter) */
    tc_line_sink sink;   /* where gctrace lines go (the host's stderr) */
} bc_host;

/* bc_host_init — a host with no token handed out, not draining, printing
 * gctrace lines through `sink`. */
void bc_host_init(bc_host *b, tc_line_sink sink);

/* bc_token_next — a fresh token for a callback about to be registered. */
static inline tc_token bc_token_next(bc_host *b) { return ++b->last_token; }

/* bc_trace_flush — print the gctrace lines queued so far (step 1 above);
 * nothing for a closed heap (h NULL). */
void bc_trace_flush(const bc_host *b, tc_heap *h);

/* bc_due — should a safe point drain now? The heap is open (h not NULL),
 * no drain of it runs, and a callback is due: one atomic load when none is. */
static inline bool bc_due(const bc_host *b, const tc_heap *h)
{
    return h != NULL && !b->draining && tc_has_ready(h);
}

/* bc_drain_enter, bc_drain_leave — bracket one drain: enter answers false
 * (and changes nothing) when a drain already runs. Separate from the loop
 * because Lua runs the loop in a protected call: an error that escapes it
 * (a memory error of the binding) must still be followed by leave. */
bool bc_drain_enter(bc_host *b);
void bc_drain_leave(bc_host *b);

/* bc_drain_ops — the host's part of the loop; `ud` is the binding's. */
typedef struct bc_drain_ops {
    /* heap — the heap now, or NULL once closed (asked before every step). */
    tc_heap *(*heap)(void *ud);
    /* prepare — optional: make ready what must exist before the core hands
     * out a root (Lua: a closed handle and room in the handle registry).
     * May run host code; the loop asks `heap` again after it. */
    void (*prepare)(void *ud);
    /* run — run the callback of `token` (a finalizer gets its object's
     * root, which run then owns; a cleanup gets NULL) and forget the token. */
    void (*run)(void *ud, tc_ready_kind kind, tc_token token, tc_root *root);
    /* forget — drop the token of a callback that will not run. */
    void (*forget)(void *ud, tc_token token);
} bc_drain_ops;

/* bc_drain_loop — take and run each due callback until none is due or the
 * heap was closed; how many ran. Call it between enter and leave. Each run
 * is a trace event (tc_heap_note_callback) unless the callback closed the
 * heap. */
size_t bc_drain_loop(const bc_drain_ops *ops, void *ud);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif
#endif /* BC_DRAIN_H */
