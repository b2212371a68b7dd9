/*
 * assist.c — mark assists and the pacing of a concurrent heap's mutators:
 * what an allocating mutator does in its slow path so that the heap does
 * not run past its goal while the collector thread marks and sweeps.
 *
 * Assists (Go's gcAssistAlloc). A mutator allocating during mark owes mark
 * work in proportion to what it allocated, from the mark's start (pacer.c:
 * bytes * work left / heap left to the goal), and pays it by marking with
 * its own marker (share.c says how markers share the mark bits), in slices
 * of ASSIST_SLICE candidates with a look for a pause between them. With no
 * work in sight it waits parked for
 * the background marker's progress. At most ASSIST_MAX_NS (50 us) per
 * outermost heap call (one host operation; a long raw section counts as one
 * call), so no single operation stalls long, except at 95% of a memory
 * limit or past a goal a memory limit set (0.9 x limit - overhead: a
 * raw section otherwise allocated black on from that goal to 95% of the
 * limit while the collector thread was descheduled), where it works or
 * waits until the mark ends (recorded as a limit wait, not an assist).
 * The cap is the worst operation's latency: at 500 us it was the pause
 * workload's slowest operation the OS did not preempt (520-550 us of CPU,
 * all of it in the assist), against 124 us for the same operation under
 * malloc (issue 16 asks <= 1.5x); Go assists in units of
 * 64 KiB of scan work, tens of us. The brake past the goal stays: every
 * heap call there assists up to the cap, so such a mutator still spends
 * most of its time marking (a 127-node operation allocates in ~5 us).
 *
 * Why from the mark's start (issue 16). With assists past the goal only,
 * the mutator allocated the whole runway from the trigger to the goal while
 * the marker was behind; that allocation is black and what it replaced was
 * kept by the deletion barrier, so it all floated into the next goal. On
 * the 1 GiB pause workload each cycle marked 1.43-1.49x live and set the
 * goal at 2.9-3.0x live (heap_sys 3.0x, peak RSS 3.1-3.2x). Paying from the
 * start ties the allocation during the mark to the mark's progress: the
 * same runs mark 1.03-1.06x live and hold heap_sys near 2.1x, for more GC
 * CPU (the assists mark, and wait for the marker, on the mutator's time:
 * pacer.c "Floating garbage" has the figures). The pacer learns
 * the smaller allocation per mark byte, so the trigger moves up to its 95%
 * cap (pacer.c), and the assists carry most of the mark.
 *
 * While an assist may hold grey work of its own it counts in
 * assists_holding, so the collector does not try to end the mark meanwhile.
 * (The incremental collector's slices are its assists too: cycle.c counts
 * them.)
 *
 * A mutator at the goal. Invariant: a mutator of a concurrent heap does not allocate past the goal
 * (which a memory limit lowers to 0.9 x limit - overhead: pacer.c) while no
 * mark runs. Assists hold allocation back only during MARK; in OFF (cycle
 * asked for, not started) and in SWEEP (the last cycle not ended, so no new
 * one can start) nothing did, and a collector thread the OS did not
 * schedule let a raw section allocate on without limit. So the slow path
 * (assist_pace), with the heap at its goal:
 *   SWEEP  sweeps what is left itself (as Go's gcStart does before a new
 *          cycle), then waits for the thread to end the cycle;
 *   OFF    past the trigger, asks for a cycle (as before), then waits until
 *          the thread has started it;
 *   MARK   assists (as before); past a goal a memory limit set, until
 *          the mark ends, so the limit's goal holds in every phase.
 * Before the goal it only asks: the thread has the runway to start marking.
 *
 * No deadlock. The waiter is parked (a pause goes on without it; its
 * barrier buffer is flushed), has released the host's lock (block hooks)
 * and holds no heap lock; starting and ending a cycle need nothing from it
 * (the thread marks and sweeps by itself; the assists-only test hook leaves
 * marking to assists only in MARK, when nobody waits here). Each wait ends
 * with a change that is broadcast on done_cond under ctl_lock: the cycle
 * started (cycle.c: start_pause), a cycle ended (cycles_done, cycle_end), the thread
 * went idle (cycle_running), the heap closes (close_begin: stopping) or the
 * thread exits. The predicate is read under ctl_lock, and each of these
 * writes its change before it takes ctl_lock to broadcast, so no wake-up is
 * lost. A collector_hold (an inspect, free, scavenge or verify session, a
 * fork) delays the start; its holder never allocates inside its session,
 * so it never waits for the waiter. A forked child with no collector
 * thread takes the other path (collector_maybe_trigger) and waits for
 * nothing. The CPU cap near a memory limit (no_start_before) holds a
 * start back only below the goal (collector_over_trigger), so a waiter at
 * the goal never waits for a start the cap delays.
 *
 * No livelock: each wait returns after one of those changes, and the
 * mutator then allocates at least until its next slow path.
 */
#include <sched.h>

#include "assist.h"
#include "heap.h"
#include "platform.h"

#define ASSIST_MAX_NS 50000  /* the most one heap call (a host operation) spends in assists */
#define ASSIST_SLICE 128     /* candidates an assist marks between looks at the clock and for a pause */
#define ASSIST_JOIN_NS 20000 /* the longest an assist spins for the mark bits (share.c) before waiting parked */

/* assist_release — an assist gives back the grey work it holds (c may be
 * NULL) and stops counting in assists_holding; returns the objects c
 * marked since the last release (its event's count). */
static uint64_t assist_release(tc_heap *h, markctx *c)
{
    uint64_t marked = 0;
    if (c) {
        marked = mark_count(c);
        atomic_fetch_add(&h->assist_marked, mark_bytes(c));
        mark_flush(c);
    }
    atomic_fetch_sub(&h->assists_holding, 1);
    return marked;
}

/* near_limit — at 95% of a memory limit (the heap's estimate, or what it
 * holds, free pages too), the heap must not run away while the marker is
 * starved of CPU: an assist works until the cycle finishes, however long.
 * (assist: so does one past a goal the limit set, 0.9 x limit - overhead.) */
static bool near_limit(tc_heap *h, uint64_t heap_now)
{
    int64_t limit = atomic_load(&h->memory_limit);
    if (limit <= 0)
        return false;
    pthread_mutex_lock(&h->lock);
    uint64_t in_use = h->sys_bytes - h->released_bytes; /* what the heap holds, free pages too */
    pthread_mutex_unlock(&h->lock);
    return heap_now >= (uint64_t)limit / 20 * 19 || in_use >= (uint64_t)limit / 20 * 19;
}

/* wait_hungry — an assist with no work in sight says it is hungry (a busy
 * marker donates) and, parked, waits for the background marker's progress,
 * the end of the mark, or the clock reaching `until`. */
static void wait_hungry(tc_mutator *m, uint64_t until)
{
    tc_heap *h = m->heap;
    uint64_t before = atomic_load(&h->mark_progress);
    mutator_park(m);
    void *tok;
    block_begin(h, &tok);
    atomic_fetch_add(&h->mark_hungry, 1);
    for (unsigned i = 0; atomic_load(&h->phase) == PHASE_MARK && !atomic_load(&h->closed) && grey_empty(h) &&
                         atomic_load(&h->mark_progress) == before && (until == UINT64_MAX || plat_now_ns() < until);
         i++)
        if ((i & 63) == 63)
            sched_yield();
        else
            plat_cpu_relax();
    atomic_fetch_sub(&h->mark_hungry, 1);
    block_end(h, tok);
    mutator_unpark(m);
}

/* assist — pay the mark debt of `bytes` allocated during mark (the essay
 * at the top): mark, or wait for the marker, within the budget. */
static void assist(tc_mutator *m, uint64_t bytes)
{
    tc_heap *h = m->heap;
    uint64_t heap_now = collector_alloc_estimate(h);
    pthread_mutex_lock(&h->stats_lock);
    uint64_t expected = h->pacer.live, done0 = atomic_load(&h->mark_progress);
    uint64_t debt = pacer_assist_debt(&h->pacer, bytes, heap_now, expected > done0 ? expected - done0 : 1);
    bool limit_goal = h->pacer.limit_bound;
    pthread_mutex_unlock(&h->stats_lock);
    bool at_limit = limit_goal || near_limit(h, heap_now); /* past a goal the limit set: the limit's wait */
    if (!at_limit && (!debt || atomic_load(&h->no_start_before)))
        return; /* nothing owed, or the CPU cap near the memory limit (below 95% of it, a gogc goal) */
    if (!at_limit && m->call_assist_ns >= ASSIST_MAX_NS)
        return; /* this heap call (one host operation) has paid its share */
    uint64_t budget = ASSIST_MAX_NS - (m->call_assist_ns < ASSIST_MAX_NS ? m->call_assist_ns : ASSIST_MAX_NS);
    if (!m->assist_ctx)
        m->assist_ctx = mark_new(h, true, false); /* NULL: no memory, only wait */
    markctx *c = m->assist_ctx;
    uint64_t t0 = plat_now_ns(), now = t0, marked = 0, cpu0 = plat_thread_cpu_ns();
    /* while this assist may hold grey work in c, it counts in assists_holding:
     * the mark is not quiet meanwhile (mark_quiet, workers.c) */
    atomic_fetch_add(&h->assists_holding, 1);
    while (atomic_load(&h->phase) == PHASE_MARK && !atomic_load(&h->closed) &&
           (at_limit || (atomic_load(&h->mark_progress) < done0 + debt && now - t0 < budget))) {
        if (atomic_load_explicit(&h->stw, memory_order_relaxed)) { /* a pause wants this thread */
            marked += assist_release(h, c);
            tc_safepoint(m);
            atomic_fetch_add(&h->assists_holding, 1);
        } else if (!c || mark_drain_assist(c, ASSIST_SLICE, ASSIST_JOIN_NS) != MARK_MORE) { /* no work to do now */
            marked += assist_release(h, c);
            wait_hungry(m, at_limit ? UINT64_MAX : t0 + budget);
            atomic_fetch_add(&h->assists_holding, 1);
        }
        now = plat_now_ns();
    }
    marked += assist_release(h, c);
    uint64_t t1 = plat_now_ns(), spent = t1 - t0;
    m->call_assist_ns += spent;
    atomic_fetch_add(&h->assist_ns, spent);
    atomic_fetch_add(&h->assist_cpu_ns, plat_thread_cpu_ns() - cpu0); /* GC CPU: stats.c */
    ev_record_objs(h, at_limit ? EV_LIMIT_WAIT : EV_ASSIST, t0, t1, atomic_load(&h->mark_progress) - done0, marked);
}

/* wait_phase — wait, parked and with the host's lock released, while the
 * phase is still `from`, no cycle ended since `seen` (cycles_done), a cycle
 * is asked for or running, and the heap is open. Returns the phase now. */
static int wait_phase(tc_mutator *m, int from, uint64_t seen)
{
    tc_heap *h = m->heap;
    void *tok;
    mutator_park(m);
    block_begin(h, &tok);
    pthread_mutex_lock(&h->ctl_lock);
    while (atomic_load(&h->phase) == from && h->cycles_done == seen && !h->stopping &&
           (h->requested || h->cycle_running))
        pthread_cond_wait(&h->done_cond, &h->ctl_lock);
    pthread_mutex_unlock(&h->ctl_lock);
    block_end(h, tok);
    mutator_unpark(m);
    return atomic_load(&h->phase);
}

/* request_parked — ask the collector thread for a cycle, parked. The
 * request wakes the thread (the signal, and the unlock of ctl_lock, which
 * the woken thread waits for: one or two system calls that can lose the
 * caller its CPU), and the thread's first act is the start pause, which
 * waited for the caller to come back (77-730 us of the 1 GiB building's
 * start pauses, under load). Parked, it is no part of any pause's wait;
 * and marked `requesting`, it acknowledges a pause requested meanwhile as
 * soon as it is back, which the stopper waits for a while (mutator.c:
 * wait_out) rather than fence: parked alone, most start pauses fenced
 * (11 of 17 pauses against 5-6 of 16). The acknowledgement is the one of
 * mutator.c's top: it went inactive (parked), then read stw == 1. */
static void request_parked(tc_mutator *m)
{
    tc_heap *h = m->heap;
    bool park = !planted(PLANT_REQUEST_ACTIVE);
    if (park) {
        mutator_park(m);
        atomic_store_explicit(&m->requesting, 1, memory_order_relaxed);
    }
    int one = 1;
    if (atomic_compare_exchange_strong(&h->debug_request_hold, &one, 2)) /* test hook */
        while (atomic_load(&h->debug_request_hold) == 2 && !atomic_load(&h->stw))
            plat_cpu_relax();
    collector_request(h, false, false);
    int five = 5; /* test hook: back from its request, still parked and `requesting` */
    if (atomic_compare_exchange_strong(&h->debug_request_hold, &five, 6))
        while (atomic_load(&h->debug_request_hold) == 6)
            plat_cpu_relax();
    if (park) {
        if (atomic_load_explicit(&h->stw, memory_order_acquire))
            mutator_wake_stopper(m); /* the acknowledgement */
        atomic_store_explicit(&m->requesting, 0, memory_order_relaxed);
        mutator_unpark(m);
    }
}

/* start_cycle — phase OFF, past the trigger: ask the thread for a cycle
 * unless one is asked for or about to start, and at the goal wait until it
 * started (or a whole one ended). A thread that ended its cycle but has not
 * yet cleared cycle_running (cycles_started == cycles_done) is asked again:
 * it would otherwise go idle and the wait would end with no cycle coming. */
static int start_cycle(tc_mutator *m)
{
    tc_heap *h = m->heap;
    bool at_goal = collector_alloc_estimate(h) >= atomic_load(&h->goal);
    pthread_mutex_lock(&h->ctl_lock);
    uint64_t seen = h->cycles_done;
    bool ask = !h->requested && (!h->cycle_running || h->cycles_started == h->cycles_done);
    pthread_mutex_unlock(&h->ctl_lock);
    if (ask)
        request_parked(m);
    return at_goal ? wait_phase(m, PHASE_OFF, seen) : atomic_load(&h->phase);
}

/* finish_cycle — phase SWEEP, at the goal: sweep the rest (looking for a
 * pause between spans: the sweep is proportional to the heap, a pause must
 * not wait for it), then wait for the thread to end the cycle. Returns the
 * phase now (OFF: the caller tests the trigger against the new goal). */
static int finish_cycle(tc_mutator *m)
{
    tc_heap *h = m->heap;
    while (!atomic_load(&h->closed) && sweep_step(h))
        tc_safepoint(m);
    pthread_mutex_lock(&h->ctl_lock);
    uint64_t seen = h->cycles_done;
    pthread_mutex_unlock(&h->ctl_lock);
    return wait_phase(m, PHASE_SWEEP, seen);
}

/* assist_pace — the slow path's pacing on a concurrent heap with its
 * collector thread (the essay at the top). */
void assist_pace(tc_mutator *m, uint64_t bytes)
{
    tc_heap *h = m->heap;
    int phase = atomic_load_explicit(&h->phase, memory_order_relaxed);
    if (phase == PHASE_SWEEP && collector_alloc_estimate(h) >= atomic_load(&h->goal))
        phase = finish_cycle(m);
    /* twice: a wait may end because the cycle that was ending when it
     * began has ended, with no new one asked for yet */
    for (int i = 0; i < 2 && phase == PHASE_OFF && collector_over_trigger(h); i++)
        phase = start_cycle(m);
    if (phase == PHASE_MARK)
        assist(m, bytes);
}
