/*
 * bc_config.h — the heap options and checks both bindings share (plain C:
 * no Python.h, no lua.h): the tunables table, the integer options' bounds
 * with their one error message, and the closed / freed checks with their
 * one wording. The bindings convert host values and raise; the numbers and
 * the words are here, so Python and Lua cannot drift apart.
 *
 * Invariants:
 *   - Every bound is the core's (tricolor.h: TC_GOGC_MAX,
 *     TC_MARK_WORKERS_MAX, TC_EVENTS_RING_MAX): a value the bindings accept
 *     is one tc_heap_new accepts, and the bindings' message for a value out
 *     of range is the core's message for it.
 *   - A handle is usable iff its heap is open, it holds a root and that root
 *     is not of a freed object; bc_obj_use checks in that order (a handle
 *     of a closed heap must not read its root: the table is gone).
 */
#ifndef BC_CONFIG_H
#define BC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* bc_tunable — a heap setting readable and assignable while the heap runs
 * (Python properties, Lua fields) and given at construction: off (-1; None
 * in Python, false in Lua) or an integer in [min, max]. */
typedef struct bc_tunable {
    const char *name;   /* "gogc" */
    const char *field;  /* "heap.gogc": how Lua's messages name the field */
    int64_t min, max;
    int64_t (*get)(const tc_heap *h);
    tc_status (*set)(tc_heap *h, int64_t value);
} bc_tunable;

extern const bc_tunable bc_tunable_gogc, bc_tunable_memory_limit;

/* bc_tunable_find — the tunable called `name`, or NULL. */
const bc_tunable *bc_tunable_find(const char *name);

/* bc_range — an integer constructor option with the core's bounds. */
typedef struct bc_range {
    const char *name; /* "mark_workers" */
    int64_t min, max;
    const char *unit; /* " events", or "" */
} bc_range;

extern const bc_range bc_range_mark_workers, bc_range_events_ring;

/* bc_range_check — true if v is in [r->min, r->max]; else false, with the
 * core's message ("mark_workers must be between 1 and 256, not 0") in msg. */
bool bc_range_check(const bc_range *r, int64_t v, char *msg, size_t size);

/* bc_use — why a handle cannot be used (BC_USABLE: it can). */
typedef enum bc_use { BC_USABLE = 0, BC_HEAP_CLOSED, BC_HANDLE_CLOSED, BC_OBJ_FREED } bc_use;

/* bc_obj_use — can a handle with `root` (NULL: closed, Lua's <close>) of a
 * heap that is open or not be used? See the invariants for the order. */
static inline bc_use bc_obj_use(bool heap_open, const tc_root *root)
{
    if (!heap_open)
        return BC_HEAP_CLOSED;
    if (root == NULL)
        return BC_HANDLE_CLOSED;
    return tc_root_freed(root) ? BC_OBJ_FREED : BC_USABLE;
}

/* bc_use_msg — the words for it, the same in both bindings ("the heap is
 * closed", the core's own for TC_ERR_CLOSED); NULL for BC_USABLE. */
const char *bc_use_msg(bc_use u);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif
#endif /* BC_CONFIG_H */
