/*
 * inspect.h — why an object is alive (inspect.c): the internal half, for
 * tests/c. The public calls (tc_heap_roots, tc_obj_path_to, ...) are in
 * tricolor.h; the design (what a root is, how the walk is made safe, what
 * is inside the pause) is at the top of inspect.c.
 *
 * Invariants: every side table of a call is allocated and freed within the
 * call; none is heap memory.
 */
#ifndef TC_INSPECT_H
#define TC_INSPECT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"

/* inspect_alloc — n zeroed items of `size` bytes (at least one) from
 * malloc, or NULL; inspect_grow — make room for `need` items in the array
 * at *(T **)p of *cap items (doubling), false if it cannot. Every side table
 * of inspect.c and dom.c comes from these two, so the test hook below
 * reaches them all. inspect_nomem — TC_ERR_NOMEM with the walk's message. */
void *inspect_alloc(size_t n, size_t size);
bool inspect_grow(void *p, size_t *cap, size_t need, size_t size);
tc_status inspect_nomem(void);
/* inspect_obj_arg — root r's object (*p), checked: of heap h (else
 * TC_ERR_CROSS_HEAP) and not freed with tc_obj_free (TC_ERR_FREED). */
tc_status inspect_obj_arg(tc_heap *h, tc_root *r, uintptr_t *p);

/* inspect_last_pause_ns — how long the calling thread's last whole-graph
 * call kept the world stopped (for benchmarks/inspect.c; 0 before any). */
uint64_t inspect_last_pause_ns(void);

/* inspect_debug_fail_alloc — test hook: the n-th side-table allocation of
 * inspect.c from now on fails (0: the next one); -1 turns it off. */
void inspect_debug_fail_alloc(long n);
#endif
