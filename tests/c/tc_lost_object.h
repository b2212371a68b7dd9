/*
 * tc_lost_object.h — the classic lost-object interleaving, driven step by
 * step on an incremental heap with checkmark on (test_barrier.c explains
 * it; fuzz_failtests.c ends the same cycle with its memory running out):
 *   before mark:  handles a -> A, n -> N; A[0] = B (B has no handle)
 *   mark starts:  the handles are grey; N alone is made black
 *   mutator:      b = A[0] (a new handle); A[0] = nil; N[0] = b; drop b
 * and marking drained, so that collector_debug_finish ends the cycle.
 */
#ifndef TC_LOST_OBJECT_H
#define TC_LOST_OBJECT_H
#include "check.h"
#include "tricolor.h"

#define LOST_PAYLOAD 0x5eed /* B's payload */

/* lost_object_heap — a fresh heap with the interleaving done up to the end
 * of the cycle; *n is N's handle. NULL if the heap or the cycle could not
 * be made. */
static inline tc_heap *lost_object_heap(tc_barrier barrier, tc_root **n)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = TC_COLLECTOR_INCREMENTAL;
    c.barrier = barrier;
    c.gogc = -1;
    c.checkmark = true;
    tc_heap *h;
    if (tc_heap_new(&c, &h) != TC_OK)
        return NULL;
    tc_root *a, *b;
    int64_t payload = LOST_PAYLOAD;
    tc_value v;
    tc_obj_new(h, 1, 0, NULL, &a);
    tc_obj_new(h, 1, 0, NULL, n);
    tc_obj_new(h, 0, 8, &payload, &b);
    tc_slot_set(h, a, 0, tc_ref(tc_root_obj(b)));
    tc_root_release(h, b);
    if (collector_debug_start(h) != TC_OK) {
        tc_heap_destroy(h);
        return NULL;
    }
    collector_debug_blacken(h, tc_root_obj(*n));
    tc_slot_get(h, a, 0, &v, &b);
    tc_slot_set(h, a, 0, tc_nil());
    tc_slot_set(h, *n, 0, tc_ref(tc_root_obj(b)));
    tc_root_release(h, b);
    while (!collector_debug_mark(h, 1000)) {
    }
    return h;
}
#endif
