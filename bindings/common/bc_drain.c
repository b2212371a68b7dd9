/*
 * bc_drain.c — tokens, the re-entrancy flag and the drain loop both
 * bindings run at their safe points (bc_drain.h has the contract and the
 * list of calls that are safe points).
 */
#include "bc_drain.h"

void bc_host_init(bc_host *b, tc_line_sink sink)
{
    b->last_token = 0;
    b->draining = false;
    b->sink = sink;
}

void bc_trace_flush(const bc_host *b, tc_heap *h)
{
    if (h != NULL)
        tc_heap_drain_output(h, b->sink, NULL);
}

bool bc_drain_enter(bc_host *b)
{
    if (b->draining)
        return false;
    b->draining = true;
    return true;
}

void bc_drain_leave(bc_host *b) { b->draining = false; }

/* bc_drain_loop — see bc_drain.h. A finalizer whose object was freed while
 * it waited in the ready queue (its special was already unlinked, so
 * tc_obj_free could not drop it) is not run: its root goes back and its
 * token is forgotten, as for a finalizer tc_obj_free dropped. */
size_t bc_drain_loop(const bc_drain_ops *ops, void *ud)
{
    size_t n = 0;
    tc_heap *h;
    while ((h = ops->heap(ud)) != NULL) {
        if (ops->prepare != NULL) {
            ops->prepare(ud); /* host code: it may have closed the heap */
            if ((h = ops->heap(ud)) == NULL)
                break;
        }
        tc_token token = 0;
        tc_root *root = NULL;
        tc_ready_kind kind = tc_take_ready(h, &token, &root);
        if (kind == TC_READY_NONE)
            break;
        if (kind == TC_READY_FINALIZER && root != NULL && tc_root_freed(root)) {
            tc_root_release(h, root);
            ops->forget(ud, token);
            continue;
        }
        int64_t t0 = tc_now_ns();
        ops->run(ud, kind, token, root);
        if ((h = ops->heap(ud)) != NULL) /* the callback may have closed it */
            tc_heap_note_callback(h, kind, t0, tc_now_ns()); /* a trace event */
        n++;
    }
    return n;
}
