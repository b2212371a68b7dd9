/*
 * heap.c — heap lifecycle, configuration and tunables.
 *
 * Owns the process's registry of live heaps (so a thread that exits can
 * tell whether a heap it used still exists) and the order of teardown:
 * close makes every later call fail with TC_ERR_CLOSED, waits for the calls
 * already inside the heap on other threads to leave (they see the heap
 * closed wherever they resume), then frees every object and page, but keeps
 * the tc_heap shell (and its mutator structs) so that late calls fail with
 * TC_ERR_CLOSED; destroy frees the shell.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "platform.h"
#include "record.h"

pthread_mutex_t heap_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static tc_heap *live_heaps;
static uint64_t next_uid = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* The fork handlers (fork.c does each heap): the registry lock is held from
 * prepare to parent/child, so the set of heaps cannot change meanwhile. */
static void heaps_fork_prepare(void)
{
    pthread_mutex_lock(&heap_registry_lock);
    for (tc_heap *h = live_heaps; h; h = h->next_live)
        fork_heap_prepare(h);
}

/* the heaps in the reverse order of prepare's, so that every thread takes
 * two heaps' locks in one order (the registry's) */
static void fork_reverse(tc_heap *h, void (*fn)(tc_heap *))
{
    if (h) {
        fork_reverse(h->next_live, fn);
        fn(h);
    }
}

static void heaps_fork_parent(void)
{
    fork_reverse(live_heaps, fork_heap_parent);
    pthread_mutex_unlock(&heap_registry_lock);
}

static void heaps_fork_child(void)
{
    plat_fork_child();
    fork_reverse(live_heaps, fork_heap_child);
    pthread_mutex_unlock(&heap_registry_lock);
}

static void atfork_register(void) { pthread_atfork(heaps_fork_prepare, heaps_fork_parent, heaps_fork_child); }

bool heap_alive(uint64_t uid, tc_heap *h)
{
    for (tc_heap *it = live_heaps; it; it = it->next_live)
        if (it == h && it->uid == uid)
            return true;
    return false;
}

/* heap_each_live — fn on every live heap, registry lock held (trace.c's
 * process-exit hook writes running traces). */
void heap_each_live(void (*fn)(tc_heap *h))
{
    pthread_mutex_lock(&heap_registry_lock);
    for (tc_heap *it = live_heaps; it; it = it->next_live)
        fn(it);
    pthread_mutex_unlock(&heap_registry_lock);
}

static tc_status gogc_error(int64_t gogc)
{
    return tc_fail(TC_ERR_VALUE, "gogc must be between 0 and %lld (or off), not %lld", (long long)TC_GOGC_MAX,
                   (long long)gogc);
}

static tc_status check_config(const tc_config *c)
{
    if ((unsigned)c->collector > TC_COLLECTOR_MANUAL)
        return tc_fail(TC_ERR_VALUE, "collector: unknown collector %d", (int)c->collector);
    if ((unsigned)c->barrier > TC_BARRIER_NONE)
        return tc_fail(TC_ERR_VALUE, "barrier: unknown barrier %d", (int)c->barrier);
    if (c->barrier == TC_BARRIER_NONE && c->collector != TC_COLLECTOR_MANUAL) /* it loses objects: teaching only */
        return tc_fail(TC_ERR_VALUE, "barrier=\"none\" needs collector=\"manual\", not collector=\"%s\"",
                       tc_collector_name(c->collector));
    if (c->gogc < -1 || c->gogc > TC_GOGC_MAX)
        return gogc_error(c->gogc);
    if (c->memory_limit == 0 || c->memory_limit < -1)
        return tc_fail(TC_ERR_VALUE, "memory_limit must be a positive number of bytes (or off), not %lld",
                       (long long)c->memory_limit);
    if (c->mark_workers < 1 || c->mark_workers > TC_MARK_WORKERS_MAX)
        return tc_fail(TC_ERR_VALUE, "mark_workers must be between 1 and %d, not %d", TC_MARK_WORKERS_MAX,
                       c->mark_workers);
    if (c->events_ring < 0 || c->events_ring > TC_EVENTS_RING_MAX)
        return tc_fail(TC_ERR_VALUE, "events_ring must be between 0 and %lld events, not %lld",
                       (long long)TC_EVENTS_RING_MAX, (long long)c->events_ring);
    return TC_OK;
}

tc_status tc_heap_new(const tc_config *c, tc_heap **out)
{
    tc_config def;
    if (!c) {
        tc_config_init(&def);
        c = &def;
    }
    tc_status st = check_config(c);
    if (st != TC_OK)
        return st;
    plat_init();
    sizeclass_init();
    pthread_once(&atfork_once, atfork_register);
    tc_heap *h = plat_calloc_lines(sizeof *h);
    if (!h)
        return tc_fail(TC_ERR_NOMEM, "cannot allocate a heap");
    h->cfg = *c;
    atomic_init(&h->gogc, c->gogc);
    atomic_init(&h->memory_limit, c->memory_limit);
    h->start_ns = plat_now_ns();
    pthread_mutex_init(&h->gc_lock, NULL);
    pthread_mutex_init(&h->mut_lock, NULL);
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->roots_lock, NULL);
    pthread_mutex_init(&h->world_lock, NULL);
    pthread_cond_init(&h->world_cond, NULL);
    pthread_mutex_init(&h->out_lock, NULL);
    pthread_mutex_init(&h->trace_lock, NULL);
    pthread_mutex_init(&h->rec_lock, NULL);
    ev_init(h);
    pacer_init(&h->pacer, c->gogc, c->memory_limit);
    atomic_init(&h->avg_obj_bytes, 48); /* until the first sweep counts */
    pthread_mutex_init(&h->grey_lock, NULL);
    pthread_mutex_init(&h->mark_lock, NULL);
    pthread_mutex_init(&h->stats_lock, NULL);
    pthread_mutex_init(&h->special_lock, NULL);
    pthread_mutex_init(&h->ctl_lock, NULL);
    pthread_cond_init(&h->ctl_cond, NULL);
    pthread_cond_init(&h->done_cond, NULL);
    check_locks_register(h);
    collector_update_trigger(h);
    if ((st = collector_start_thread(h)) != TC_OK) {
        check_locks_forget(h);
        free(h);
        return st;
    }
    pthread_mutex_lock(&heap_registry_lock);
    h->uid = next_uid++;
    h->next_live = live_heaps;
    live_heaps = h;
    pthread_mutex_unlock(&heap_registry_lock);
    *out = h;
    return TC_OK;
}

bool tc_heap_closed(const tc_heap *h) { return atomic_load(&((tc_heap *)h)->closed); }

/* close_begin — the first half of a close, once: every call from now on
 * fails with TC_ERR_CLOSED (mutator_enter reads `closed`), and whatever
 * waits inside the heap for a cycle or the collector wakes up to see it. */
static void close_begin(tc_heap *h)
{
    atomic_store(&h->closed, true);
    pthread_mutex_lock(&h->ctl_lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->ctl_cond);
    pthread_cond_broadcast(&h->done_cond);
    pthread_mutex_unlock(&h->ctl_lock);
}

/* close_teardown — free every object and page; no thread is inside a heap
 * call any more (mutators_drain), and none can enter. */
static void close_teardown(tc_heap *h)
{
    collector_stop_thread(h);
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    if (h->incr_ctx) {
        mark_free(h->incr_ctx);
        h->incr_ctx = NULL;
    }
    world_stop(h, NULL); /* nobody is inside: only for the memory order */
    pthread_mutex_lock(&h->mut_lock);
    pthread_mutex_lock(&h->lock);
    for (tc_mutator *m = h->mutators; m; m = m->next) {
        alloc_flush_cache(m);
        m->rfree = 0;
        m->nrfree = 0;
        m->nlocals = 0;
    }
    special_free_all(h);
    pages_release_all(h);
    memset(h->freelist, 0, sizeof h->freelist);
    memset(h->freetail, 0, sizeof h->freetail);
    memset(h->partial, 0, sizeof h->partial);
    memset(h->full, 0, sizeof h->full);
    h->large = NULL;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&h->mut_lock);
    roots_free_all(h);
    grey_free_all(h);
    trace_free(h);
    atomic_store(&h->barrier_on, 0);
    atomic_store(&h->phase, PHASE_OFF);
    world_start(h);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    rec_close(h); /* finish a running recording: no hook can run any more */
    pthread_mutex_lock(&h->ctl_lock);
    pthread_cond_broadcast(&h->done_cond);
    pthread_mutex_unlock(&h->ctl_lock);
}

/* tc_heap_close — close for every later call at once, then wait until no
 * other thread is inside a heap call (a call parked in a pause or waiting
 * for a cycle resumes, sees the heap closed and fails; issue 10, point 2:
 * one used to map a fresh 4 GiB arena for a heap already torn down), then
 * free everything. From inside a heap call on this thread (a raw section)
 * the teardown cannot wait for that call: it is left to the next close or
 * destroy made outside any call. */
void tc_heap_close(tc_heap *h)
{
    if (!h)
        return;
    if (!atomic_exchange(&h->closing, true))
        close_begin(h);
    if (mutator_inside(h) || atomic_exchange(&h->torn_down, true))
        return; /* deferred (see above), or another thread tears down */
    mutators_drain(h);
    close_teardown(h);
}

void tc_heap_destroy(tc_heap *h)
{
    if (!h)
        return;
    tc_heap_close(h);
    if (mutator_inside(h))
        return; /* from inside a heap call: only closed (tricolor.h); the shell stays */
    pthread_mutex_lock(&heap_registry_lock);
    for (tc_heap **p = &live_heaps; *p; p = &(*p)->next_live)
        if (*p == h) {
            *p = h->next_live;
            break;
        }
    pthread_mutex_unlock(&heap_registry_lock);
    tc_heap_drain_output(h, NULL, NULL);
    ev_free(h);
    mutators_free(h);
    check_locks_forget(h);
    pthread_mutex_destroy(&h->gc_lock);
    pthread_mutex_destroy(&h->mut_lock);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->roots_lock);
    pthread_mutex_destroy(&h->world_lock);
    pthread_cond_destroy(&h->world_cond);
    pthread_mutex_destroy(&h->out_lock);
    pthread_mutex_destroy(&h->trace_lock);
    pthread_mutex_destroy(&h->rec_lock);
    pthread_mutex_destroy(&h->grey_lock);
    pthread_mutex_destroy(&h->mark_lock);
    pthread_mutex_destroy(&h->stats_lock);
    pthread_mutex_destroy(&h->special_lock);
    pthread_mutex_destroy(&h->ctl_lock);
    pthread_cond_destroy(&h->ctl_cond);
    pthread_cond_destroy(&h->done_cond);
    free(h);
}

tc_status tc_heap_collect(tc_heap *h) { return tc_heap_collect_n(h, NULL); }

/* tc_heap_collect_n — the cycle's freed-object count is read under ctl_lock
 * after the cycle, as the waiter of a concurrent cycle reads last_status. */
tc_status tc_heap_collect_n(tc_heap *h, uint64_t *freed)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    /* not a mutator call: the caller holds no raw pointers. A thread inside
     * a raw section must leave it first (it would be waited for). */
    tc_status st = collector_cycle(h, NULL, true);
    if (st == TC_OK && rec_on(h))
        rec_collect(h);
    if (st == TC_OK && freed) {
        pthread_mutex_lock(&h->ctl_lock);
        *freed = h->last_freed;
        pthread_mutex_unlock(&h->ctl_lock);
    }
    return st;
}

tc_status tc_heap_set_gogc(tc_heap *h, int64_t gogc)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    if (gogc < -1 || gogc > TC_GOGC_MAX)
        return gogc_error(gogc);
    atomic_store(&h->gogc, gogc);
    pthread_mutex_lock(&h->stats_lock);
    collector_update_trigger(h);
    pthread_mutex_unlock(&h->stats_lock);
    return TC_OK;
}

int64_t tc_heap_gogc(const tc_heap *h) { return atomic_load(&((tc_heap *)h)->gogc); }

tc_status tc_heap_set_memory_limit(tc_heap *h, int64_t limit)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    if (limit == 0 || limit < -1)
        return tc_fail(TC_ERR_VALUE, "memory_limit must be a positive number of bytes (or off), not %lld",
                       (long long)limit);
    atomic_store(&h->memory_limit, limit);
    pthread_mutex_lock(&h->stats_lock);
    collector_update_trigger(h);
    pthread_mutex_unlock(&h->stats_lock);
    return TC_OK;
}

int64_t tc_heap_memory_limit(const tc_heap *h) { return atomic_load(&((tc_heap *)h)->memory_limit); }

void tc_heap_config(const tc_heap *h, tc_config *out)
{
    *out = h->cfg;
    out->gogc = tc_heap_gogc(h);
    out->memory_limit = tc_heap_memory_limit(h);
}

void tc_heap_set_block_hooks(tc_heap *h, tc_block_begin begin, tc_block_end end, void *ud)
{
    h->block_begin = begin;
    h->block_end = end;
    h->block_ud = ud;
}
