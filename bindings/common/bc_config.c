/*
 * bc_config.c — the shared option tables and check messages (bc_config.h).
 */
#include <stdio.h>
#include <string.h>

#include "bc_config.h"

const bc_tunable bc_tunable_gogc = {"gogc", "heap.gogc", 0, TC_GOGC_MAX, tc_heap_gogc, tc_heap_set_gogc};
const bc_tunable bc_tunable_memory_limit = {"memory_limit", "heap.memory_limit", 1, INT64_MAX,
                                            tc_heap_memory_limit, tc_heap_set_memory_limit};

const bc_tunable *bc_tunable_find(const char *name)
{
    static const bc_tunable *const all[] = {&bc_tunable_gogc, &bc_tunable_memory_limit};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, all[i]->name) == 0)
            return all[i];
    return NULL;
}

const bc_range bc_range_mark_workers = {"mark_workers", 1, TC_MARK_WORKERS_MAX, ""};
const bc_range bc_range_events_ring = {"events_ring", 0, TC_EVENTS_RING_MAX, " events"};

/* bc_range_check — the message is the one csrc/heap.c gives for the same
 * value, so a binding that checks first says what the core would. */
bool bc_range_check(const bc_range *r, int64_t v, char *msg, size_t size)
{
    if (v >= r->min && v <= r->max)
        return true;
    snprintf(msg, size, "%s must be between %lld and %lld%s, not %lld", r->name, (long long)r->min,
             (long long)r->max, r->unit, (long long)v);
    return false;
}

const char *bc_use_msg(bc_use u)
{
    switch (u) {
    case BC_USABLE: break;
    case BC_HEAP_CLOSED: return "the heap is closed";
    case BC_HANDLE_CLOSED: return "the handle was closed";
    case BC_OBJ_FREED: return "the object was freed with tricolor.unsafe.free";
    }
    return NULL;
}
