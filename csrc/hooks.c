/*
 * hooks.c — the collector's hooks for the core's own tests (tests/c only,
 * declared in check.h): step an incremental heap's cycle by hand through
 * cycle_step (start, mark slices, finish) so a test can interleave
 * mutations with marking exactly; hold the collector thread back or let
 * assists do all the marking; read the phase, an object's colour and the
 * checkmark counts.
 *
 * Invariants: the stepping hooks run with no mutator inside a heap call on
 * their heap and take the locks a driver takes (mark_lock, then gc_lock for
 * the steps that stop the world), so they never overlap a real driver's
 * step; the reading hooks take no heap lock (relaxed loads: a test aims
 * with them, they prove nothing) except last_error (ctl_lock).
 */
#include <stdio.h>

#include "check.h"
#include "heap.h"

tc_status collector_debug_start(tc_heap *h)
{
    if (h->cfg.collector != TC_COLLECTOR_INCREMENTAL)
        return tc_fail(TC_ERR_STATE, "debug stepping needs the incremental collector");
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    cycle_finish(h);
    cycle_drive d = {.forced = true, .locks = CYCLE_LOCKS_BOTH, .pause = true};
    tc_status st = cycle_step(h, &d) ? TC_OK : d.status;
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    return st;
}

void collector_debug_assists_only(tc_heap *h, bool on) { atomic_store(&h->debug_assists_only, on); }

void collector_debug_hold(tc_heap *h, bool on)
{
    if (on)
        collector_hold(h);
    else
        collector_release(h);
}

void collector_debug_stall_mark(tc_heap *h, bool on) { atomic_store(&h->debug_stall_mark, on); }

void collector_debug_stall_sweep(tc_heap *h, bool on) { atomic_store(&h->debug_stall_sweep, on); }

void collector_debug_checkmarks(tc_heap *h, uint64_t out[3])
{
    for (int i = 0; i < 3; i++)
        out[i] = atomic_load(&h->checkmarks[i]);
}

int collector_debug_phase(tc_heap *h) { return atomic_load_explicit(&h->phase, memory_order_relaxed); }

int collector_debug_color(tc_obj *o)
{
    arena *a = arena_of((uintptr_t)o);
    if (!a)
        return -1;
    return mark_test(a, (uintptr_t)o) ? 1 : bit_test(a->blackbits, a, (uintptr_t)o) ? 2 : 0;
}

void collector_debug_last_error(tc_heap *h, char *buf, size_t cap)
{
    pthread_mutex_lock(&h->ctl_lock);
    snprintf(buf, cap, "%s", h->last_errmsg);
    pthread_mutex_unlock(&h->ctl_lock);
}

bool collector_debug_mark(tc_heap *h, int64_t budget)
{
    pthread_mutex_lock(&h->mark_lock);
    cycle_drive d = {.locks = CYCLE_LOCKS_MARK, .mark = budget};
    bool done = !h->incr_ctx || cycle_step(h, &d); /* phase MARK: a mark step, no termination */
    pthread_mutex_unlock(&h->mark_lock);
    return done;
}

void collector_debug_mark_pair(tc_heap *h, int64_t slice)
{
    pthread_mutex_lock(&h->mark_lock);
    if (h->incr_ctx)
        mark_debug_pair(h->incr_ctx, slice);
    pthread_mutex_unlock(&h->mark_lock);
}

void collector_debug_blacken(tc_heap *h, tc_obj *o)
{
    pthread_mutex_lock(&h->mark_lock);
    if (h->incr_ctx)
        mark_blacken(h->incr_ctx, (uintptr_t)o);
    pthread_mutex_unlock(&h->mark_lock);
}

tc_status collector_debug_finish(tc_heap *h)
{
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    cycle_finish(h);
    tc_status st = h->cyc_status;
    if (st != TC_OK)
        tc_fail(st, "%s", h->cyc_errmsg);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    return st;
}

