/*
 * fork.c — what a heap does around fork(2) (pthread_atfork, registered by
 * heap.c for every live heap): the child gets every heap in a consistent
 * state and a working collector (issue 10, point 3: the child of a
 * concurrent heap had no collector thread, so collect() hung for ever and
 * allocation never started a cycle).
 *
 * Only the forking thread exists in the child. Whatever the other threads
 * were doing inside a heap at the instant of the fork would be frozen half
 * done, and every lock they held would stay held. So:
 *
 *   prepare  (parent, forking thread) for each heap: if this thread is
 *            inside a raw section of it, park (a fork is a safepoint);
 *            take mark_lock and gc_lock (a running cycle, a slice or a
 *            stop-the-world step finishes first), stop the world (no
 *            mutator is inside a heap call: none is half-way through a
 *            store or an allocation), then take every other lock of the
 *            heap, in the order of heap.h, and the mark workers' lock.
 *   parent   release all of it, restart the world, unpark.
 *   child    the forking thread owns every lock: release them and
 *            re-initialise the condition variables (their waiters were
 *            other threads); forget the other threads' mutators (they
 *            become spares: no locals, no depth, not active, not
 *            requesting a cycle, caches flushed) and their counts in the
 *            world handshake; then start a new collector thread and mark
 *            workers for a concurrent heap
 *            (the old ones do not exist here). If that fails (and in the
 *            TSan build, which cannot follow threads made after a
 *            multi-threaded fork), the heap has no collector thread and
 *            its cycles, forced or triggered, run on the thread that asks
 *            (collector.c), as the incremental collector's forced ones do.
 *            A heap that was being closed by another thread stays
 *            closed-to-be: its collector is not restarted, and close or
 *            destroy in the child finishes it. A running recording
 *            (record.c) stays the parent's: the child stops recording
 *            without writing a byte (rec_fork_child).
 *
 * Invariants: between prepare and parent/child, the forking thread holds
 * every heap's locks and every heap's world is stopped; no cycle runs (an
 * incremental cycle may be between two slices: its state is heap memory,
 * and the child's allocations go on with it). A process whose threads are
 * inside a raw section of one heap while calling into another can make
 * prepare wait for that section to end.
 *
 * The fork costs the parent what a cycle's end and a pause cost; it holds
 * the GIL (Python) meanwhile, which no heap operation needs.
 */
#include <string.h>

#include "heap.h"
#include "alloc.h"
#include "mark.h"
#include "platform.h"
#include "record.h"

/* fork_heap_prepare — prepare one heap (the registry lock is held). */
void fork_heap_prepare(tc_heap *h)
{
    tc_mutator *self = mutator_self(h);
    h->fork_self = self;
    h->fork_parked = self && atomic_load_explicit(&self->active, memory_order_relaxed);
    if (h->fork_parked)
        mutator_park(self);
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    world_stop(h, self);
    pthread_mutex_lock(&h->ctl_lock);
    pthread_mutex_lock(&h->mut_lock);
    pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&h->special_lock);
    pthread_mutex_lock(&h->roots_lock);
    pthread_mutex_lock(&h->grey_lock);
    pthread_mutex_lock(&h->stats_lock);
    pthread_mutex_lock(&h->out_lock);
    pthread_mutex_lock(&h->trace_lock);
    pthread_mutex_lock(&h->rec_lock);
    rec_hooks_lock(h);
    pthread_mutex_lock(&h->world_lock);
    pthread_mutex_lock(&h->ev.lock);
    mark_par_fork_lock(h->par);
}

/* unlock_all — release what prepare took, but mark_lock and gc_lock. */
static void unlock_all(tc_heap *h)
{
    mark_par_fork_unlock(h->par);
    pthread_mutex_unlock(&h->ev.lock);
    pthread_mutex_unlock(&h->world_lock);
    rec_hooks_unlock(h);
    pthread_mutex_unlock(&h->rec_lock);
    pthread_mutex_unlock(&h->trace_lock);
    pthread_mutex_unlock(&h->out_lock);
    pthread_mutex_unlock(&h->stats_lock);
    pthread_mutex_unlock(&h->grey_lock);
    pthread_mutex_unlock(&h->roots_lock);
    pthread_mutex_unlock(&h->special_lock);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&h->mut_lock);
    pthread_mutex_unlock(&h->ctl_lock);
}

/* fork_heap_parent — the parent after the fork: as before it. */
void fork_heap_parent(tc_heap *h)
{
    unlock_all(h);
    world_start(h);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    if (h->fork_parked)
        mutator_unpark(h->fork_self);
}

/* reset_conds — the condition variables may list waiters that were other
 * threads; in the child nobody waits on them. */
static void reset_conds(tc_heap *h)
{
    pthread_cond_t *conds[] = {&h->world_cond, &h->ctl_cond, &h->done_cond};
    for (size_t i = 0; i < sizeof conds / sizeof conds[0]; i++) {
        memset(conds[i], 0, sizeof *conds[i]);
        pthread_cond_init(conds[i], NULL);
    }
}

/* forget_threads — the other threads' mutators become spares (heap->lock
 * and mut_lock held): whatever they held in the heap is dropped (a span
 * one held unpublished and in no list goes back to the free pages: a large
 * object's clear and a refill's prefault stop for pauses, and so for a
 * fork), but their
 * free root slots and counters stay with the mutator (a new thread adopts
 * it). Their hosts' handles stay roots: the child may still use them. */
static void forget_threads(tc_heap *h)
{
    for (tc_mutator *m = h->mutators; m; m = m->next) {
        if (m == h->fork_self)
            continue;
        alloc_flush_cache(m);
        if (m->clearing) { /* a span it held in no list at a safepoint (a clear, a prefault): nobody returns it */
            pages_free(h, m->clearing);
            m->clearing = NULL;
        }
        m->owned = false;
        m->nlocals = 0;
        m->gbuf_n = 0; /* parked and stopped mutators flushed theirs: empty */
        atomic_store_explicit(&m->depth, 0, memory_order_relaxed);
        atomic_store_explicit(&m->active, 0, memory_order_relaxed);
        atomic_store_explicit(&m->requesting, 0, memory_order_relaxed); /* a request the fork stopped */
    }
    /* the listed mutators: this thread's only (a thread that was listing
     * itself as the parent forked may have left `listed` behind the list) */
    for (tc_mutator *m = h->mutators; m; m = m->next)
        atomic_store_explicit(&m->listed, m == h->fork_self, memory_order_relaxed);
    if (h->fork_self)
        h->fork_self->enter_next = NULL;
    atomic_store(&h->enterq, h->fork_self);
    atomic_store(&h->world_sleepers, 0);
    atomic_store(&h->world_waiters, 0);
    atomic_store(&h->stopper_sleeping, 0);
    atomic_store(&h->mark_hungry, 0);
    atomic_store(&h->assists_holding, 0);
}

/* fork_heap_child — the child: one thread, every lock ours (above). */
void fork_heap_child(tc_heap *h)
{
    forget_threads(h);
    reset_conds(h);
    h->holds = 0;           /* holders were other threads (verify, scavenge) */
    if (h->thread_started)  /* a cycle the old thread counted as started but never ran (it waited for */
        h->cycles_started = h->cycles_done; /* gc_lock, which prepare took): callers wait for done >= started */
    h->cycle_running = false;
    mark_par_forget(h->par); /* its threads are gone: no join */
    h->par = NULL;
    bool restart = h->thread_started && !atomic_load(&h->closing);
#if defined(__SANITIZE_THREAD__)
    restart = false; /* TSan cannot follow threads made after a multi-threaded fork: the fallback below */
#endif
    h->thread_started = false;
    rec_fork_child(h); /* the log stays the parent's */
    unlock_all(h);
    atomic_store(&h->stw, 0);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    if (restart && collector_start_thread(h) != TC_OK)
        h->thread_started = false; /* no thread: collections run on the calling thread (collector.c) */
    if (h->fork_parked)
        mutator_unpark(h->fork_self);
}
