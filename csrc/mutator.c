/*
 * mutator.c — thread registration and the stop-the-world handshake.
 *
 * A mutator is one thread's state in one heap: its allocation cache, its
 * local roots, its counters, and `active`, which is 1 exactly while the
 * thread is inside a heap call. A host thread running host code holds only
 * roots (handle-table slots), never raw object pointers, so it never needs
 * to be stopped: a pause waits only for active mutators.
 *
 * The handshake is Dekker's, made asymmetric (the mutator side is the hot
 * one):
 *     mutator enter:  active = 1;  light fence;  if (stw) back off and wait
 *     world stop:     stw = 1;     heavy fence;  wait while any active == 1
 * The light fence is a compiler barrier when membarrier(2) is available (the
 * heavy fence then forces a full barrier on every running thread of the
 * process), a seq_cst fence otherwise. Either way, if the stopper sees
 * active == 0 the mutator will see stw == 1 and back off.
 *
 * The heavy fence is needed only for a mutator the stopper finds inactive
 * without knowing that it saw the request: a mutator that goes inactive
 * and then sees stw == 1 (set_inactive's slow half, mutator_wake_stopper)
 * says so by storing the pause's number, stw_seq, in `stw_ack` (release).
 * It read stw_seq (acquire) before that stw: the stopper wrote stw_seq
 * before setting stw, after the last pause's stw = 0, so the 1 it saw is
 * this pause's, and every later read of stw by that thread returns 1 until
 * the pause ends (coherence): it re-enters only to back off again. So a
 * mutator whose stw_ack is this pause's number is stopped, fence or not;
 * world_stop fences (membarrier: an inter-processor interrupt to every CPU
 * running a thread of the process, 5-35 us on this VM, inside every pause)
 * only when some other mutator is out without an acknowledgement (idle
 * between heap calls), and then reads their `active` words again after
 * it. A mutator stopped at a safepoint (the pause workload's usual case)
 * costs no fence.
 *
 * A mutator parks (active = 0) before it blocks on anything another thread
 * may hold during a pause (gc_lock, the world), so no pause ever waits for a
 * thread that waits for it. The pause cost is bounded by the longest single
 * heap call, not by heap size, handle count or thread count.
 *
 * Idle threads cost a pause nothing: the stopper reads the `active` words
 * of the listed mutators only (heap->enterq), not of every registered one.
 * A mutator lists itself (mutator_list: `listed` = 1, then a lock-free
 * push) before it sets active = 1, whenever it finds itself unlisted; the
 * inline entry backs out to do so (mutator.h). world_stop takes the whole
 * list, waits for each, and drops those that are inactive and hold no
 * locals (listed = 0, after its read of enter_next), world stopped; the
 * rest it pushes back. Only one stopper runs at a time (gc_lock).
 *
 * Invariant L: a mutator with active = 1 that went past its entry check
 * (below) is on enterq, or in the hands of the stopper that took the list
 * and reads its `active` word. Proof, for a mutator m and any stopper S:
 *  1. m's store listed = 1 precedes its push (the CAS releases it), and S
 *     takes m only through its exchange of enterq (acquire, reading the
 *     push or an RMW after it), so S's drop (listed = 0) is later in
 *     `listed`'s order than m's set: a drop is never undone by the owner
 *     finishing a listing S already read past. (The first version set
 *     `listed` after the push: S could take m, read it inactive, clear
 *     `listed`, and m then set it, on no list for good.)
 *  2. The entry check (unpark, mutator_try_enter): active = 1; light
 *     fence; read stw (acquire), then `listed`; go on only with stw == 0
 *     and listed == 1. If S dropped m, S read m's active == 0 after its
 *     stw = 1 and heavy fence, so by Dekker m's read of stw comes after
 *     that store, or m acknowledged this pause (stw_ack: m read that 1
 *     after going out, and coherence keeps later reads from going back):
 *     either way m's next read of stw reads 1 (m backs out) or the 0 of
 *     S's world_start,
 *     which S stored after its drop (release/acquire on stw), so m's read
 *     of `listed`, sequenced after, sees the drop and m backs out and
 *     lists itself again. A drop after m's store of active = 1 cannot
 *     happen: S reads 1 and waits. (The first version checked `listed`
 *     only before the push: a whole collection between m's push and its
 *     active = 1 dropped it, and m went on unlisted.)
 *  3. A stopper S2 whose exchange precedes m's push: m's CAS reads S2's
 *     exchange or an RMW after it (acquire), so S2's stw = 1 happens
 *     before m's read of stw, which sees 1, or S2's world_start.
 * Then no pause runs beside a running mutator, and every access of m's
 * cache, counters and locals by a stopper (flush_all, mark_push_locals)
 * has a happens-before edge to m's next access: the release of active =
 * 0 that S reads (m listed), or S's world_start that m's entry check
 * acquires (m dropped, 2 and 3). TSan sees both (it does not see the
 * fences, only these values). Only the owner sets `listed` (when it was
 * clear) and only a stopper clears it (one it took, world stopped), so a
 * mutator is on the list at most once. Locals are pushed only inside heap
 * calls, and a dropped mutator held none, so mark_push_locals walks the
 * same list. tests/c/test_pause.c forces the interleaving of step 2
 * (pause_sees_a_thread_dropped_while_it_listed_itself, debug_list_hold).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "heap.h"
#include "platform.h"

#define WORLD_SPINS 2000 /* stopper: busy-wait rounds (~10-50 us) before sleeping */
#define ACK_SPINS 256    /* stopper: rounds it waits for the word of a mutator it saw go out (~1-5 us) */
#define FAIR_YIELDS 1000 /* at most this many yields for released mutators before a new pause */
#if defined(__SANITIZE_THREAD__)
#define WAIT_SPINS 256   /* every atomic is slow under TSan: spinning only steals the CPU */
#else
#define WAIT_SPINS 8000  /* parked mutator: busy-wait rounds (~50-200 us) before sleeping */
#endif

typedef struct thread_reg {
    struct thread_reg *next;
    tc_heap *heap;
    uint64_t uid;
    tc_mutator *m;
} thread_reg;

_Thread_local tls_entry tc_tls_cache[TLS_WAYS] TC_TLS_IE;
static _Thread_local unsigned tls_next TC_TLS_IE;
static _Thread_local thread_reg *tls_regs;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

void block_begin(tc_heap *h, void **tok)
{
    *tok = h->block_begin ? h->block_begin(h->block_ud) : NULL;
}

void block_end(tc_heap *h, void *tok)
{
    if (h->block_end)
        h->block_end(h->block_ud, tok);
}

/* mutator_wake_stopper — the slow half of set_inactive: a pause is being
 * requested; wake the stopper if it sleeps on our `active` word. */
void mutator_wake_stopper(tc_mutator *m)
{
    /* the acknowledgement (the top): the pause's number, then stw again */
    tc_heap *h = m->heap;
    uint64_t seq = atomic_load_explicit(&h->stw_seq, memory_order_acquire);
    if (atomic_load_explicit(&h->stw, memory_order_acquire))
        atomic_store_explicit(&m->stw_ack, seq, memory_order_release);
    /* Dekker with the stopper's (stopper_sleeping = 1; read active) */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&m->heap->stopper_sleeping))
        plat_wake(&m->active);
}

/* wait_world — block until no pause is requested (caller is parked).
 * Pauses are short, so it spins first: waking a sleeper costs a syscall and,
 * on a virtual machine, an inter-processor interrupt, which would double
 * the pause. Only then does it sleep (releasing the host's lock through the
 * block hooks); world_start wakes sleepers only if there are any. */
static void wait_world(tc_heap *h, bool hooks)
{
    /* spin only while there is a spare CPU for it: spinning waiters would
     * otherwise take the CPU from the thread that runs the pause */
    int waiters = atomic_fetch_add(&h->world_waiters, 1) + 1;
    unsigned spins = waiters < plat_ncpu() ? WAIT_SPINS : 0;
    for (unsigned i = 0; i < spins; i++) {
        if (!atomic_load_explicit(&h->stw, memory_order_acquire)) {
            atomic_fetch_sub(&h->world_waiters, 1);
            return;
        }
        if ((i & 63) == 63)
            sched_yield();
        else
            plat_cpu_relax();
    }
    void *tok = NULL;
    if (hooks)
        block_begin(h, &tok);
    pthread_mutex_lock(&h->world_lock);
    atomic_fetch_add(&h->world_sleepers, 1);
    while (atomic_load(&h->stw))
        pthread_cond_wait(&h->world_cond, &h->world_lock);
    atomic_fetch_sub(&h->world_sleepers, 1);
    pthread_mutex_unlock(&h->world_lock);
    atomic_fetch_sub(&h->world_waiters, 1);
    if (hooks)
        block_end(h, tok);
}

/* mutator_list — put m on heap->enterq if a stopper dropped it (the
 * top); the owner, before it sets active = 1. `listed` is set before the
 * push (the CAS releases it), so a stopper that takes m off the list reads
 * it set, and its drop comes after it (step 1 at the top). */
static void mutator_list(tc_mutator *m)
{
    if (atomic_load_explicit(&m->listed, memory_order_acquire)) /* a stopper's drop: its reads came first */
        return;
    tc_heap *h = m->heap;
    atomic_store_explicit(&m->listed, true, memory_order_relaxed);
    tc_mutator *head = atomic_load_explicit(&h->enterq, memory_order_relaxed);
    do
        m->enter_next = head;
    while (!atomic_compare_exchange_weak_explicit(&h->enterq, &head, m, memory_order_seq_cst,
                                                  memory_order_relaxed));
    uintptr_t hold = (uintptr_t)m; /* test hook: a stop may take m now, before it is active (a load
                                    * first: no locked write to the heap's line on every listing) */
    if (atomic_load_explicit(&h->debug_list_hold, memory_order_relaxed) == hold &&
        atomic_compare_exchange_strong(&h->debug_list_hold, &hold, hold | 1))
        while (atomic_load(&h->debug_list_hold) == (hold | 1))
            plat_cpu_relax();
}

/* unpark — become active again (m parked or outside its heap call): list
 * m, set active = 1, and go on only if no pause is requested and m is
 * still listed (read after stw: step 2 at the top); else park, wait out
 * the pause if there is one, and try again. */
static void unpark(tc_mutator *m, bool hooks)
{
    tc_heap *h = m->heap;
    for (;;) {
        mutator_list(m);
        atomic_store_explicit(&m->active, 1, memory_order_relaxed);
        light_fence();
        bool stop = atomic_load_explicit(&h->stw, memory_order_acquire);
        bool listed = atomic_load_explicit(&m->listed, memory_order_relaxed) || planted(PLANT_ENTRY_SKIPS_LISTED);
        if (!stop && listed)
            return;
        set_inactive(m);
        if (stop)
            wait_world(h, hooks);
    }
}

void mutator_park(tc_mutator *m)
{
    grey_flush_mutator(m);
    set_inactive(m);
}
void mutator_unpark(tc_mutator *m) { unpark(m, true); }

/* on_thread_exit — a thread that used heaps is ending: hand its mutators
 * back (cache flushed, locals dropped) so another thread can adopt them. */
static void on_thread_exit(void *arg)
{
    (void)arg;
    extern pthread_mutex_t heap_registry_lock;
    while (tls_regs) {
        thread_reg *r = tls_regs;
        tls_regs = r->next;
        pthread_mutex_lock(&heap_registry_lock);
        if (heap_alive(r->uid, r->heap) && !atomic_load(&r->heap->closed)) {
            tc_mutator *m = r->m;
            atomic_store(&m->depth, 1); /* inside, for a closer (mutators_drain) */
            unpark(m, false);
            if (!atomic_load(&r->heap->closed)) { /* Dekker with the closer, as on entry */
                pthread_mutex_lock(&r->heap->lock);
                alloc_flush_cache(m);
                pthread_mutex_unlock(&r->heap->lock);
            }
            m->nlocals = 0;
            mutator_park(m);
            atomic_store_explicit(&m->depth, 0, memory_order_release);
            pthread_mutex_lock(&r->heap->mut_lock);
            m->owned = false;
            pthread_mutex_unlock(&r->heap->mut_lock);
        }
        pthread_mutex_unlock(&heap_registry_lock);
        free(r);
    }
    memset(tc_tls_cache, 0, sizeof tc_tls_cache);
}

static void exit_key_init(void) { pthread_key_create(&exit_key, on_thread_exit); }

/* mutator_get_slow — find or make this thread's mutator for h. */
static tc_mutator *mutator_get_slow(tc_heap *h)
{
    pthread_once(&exit_once, exit_key_init);
    pthread_t self = pthread_self();
    tc_mutator *m = NULL, *spare = NULL;
    thread_reg *reg = plat_malloc(sizeof *reg);
    if (!reg)
        return NULL;
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *it = h->mutators; it; it = it->next) {
        if (it->owned && pthread_equal(it->owner, self)) {
            m = it;
            break;
        }
        if (!it->owned && !spare)
            spare = it;
    }
    bool fresh = !m;
    if (!m) {
        m = spare;
        if (!m) {
            m = plat_calloc_lines(sizeof *m);
            if (m) {
                m->heap = h;
                m->next = h->mutators;
                h->mutators = m;
            }
        }
        if (m) {
            m->owner = self;
            m->owned = true;
            m->tid = ev_tid();
        }
    }
    pthread_mutex_unlock(&h->mut_lock);
    if (!m) {
        free(reg);
        return NULL;
    }
    if (fresh)
        trace_thread(h, m->tid);
    if (fresh) {
        /* forget registrations of heaps destroyed since (a long-lived thread
         * that makes and drops many heaps must not leak a record per heap) */
        extern pthread_mutex_t heap_registry_lock;
        pthread_mutex_lock(&heap_registry_lock);
        for (thread_reg **pp = &tls_regs; *pp;) {
            thread_reg *r = *pp;
            if (!heap_alive(r->uid, r->heap)) {
                *pp = r->next;
                free(r);
            } else {
                pp = &r->next;
            }
        }
        pthread_mutex_unlock(&heap_registry_lock);
        reg->heap = h;
        reg->uid = h->uid;
        reg->m = m;
        reg->next = tls_regs;
        tls_regs = reg;
        pthread_setspecific(exit_key, (void *)1);
    } else {
        free(reg);
    }
    tls_entry *e = &tc_tls_cache[tls_next++ % TLS_WAYS];
    e->heap = h;
    e->uid = h->uid;
    e->m = m;
    return m;
}

/* mutator_get — this thread's mutator for h; the entry found moves to the
 * front of the cache, where mutator_enter's inline fast path looks. */
tc_mutator *mutator_get(tc_heap *h)
{
    for (int i = 0; i < TLS_WAYS; i++)
        if (tc_tls_cache[i].heap == h && tc_tls_cache[i].uid == h->uid) {
            tls_entry e = tc_tls_cache[i];
            tc_tls_cache[i] = tc_tls_cache[0];
            tc_tls_cache[0] = e;
            return e.m;
        }
    tc_mutator *m = mutator_get_slow(h);
    if (m) {
        for (int i = 0; i < TLS_WAYS; i++)
            if (tc_tls_cache[i].m == m && tc_tls_cache[i].heap == h) {
                tls_entry e = tc_tls_cache[i];
                tc_tls_cache[i] = tc_tls_cache[0];
                tc_tls_cache[0] = e;
            }
    }
    return m;
}

/* mutator_enter_slow — start a heap call: every case but the common one
 * (the heap in front of this thread's cache, no pause, not closed). */
tc_status mutator_enter_slow(tc_heap *h, tc_mutator **out)
{
    if (__builtin_expect(atomic_load_explicit(&h->closed, memory_order_acquire), 0))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    tc_mutator *m = mutator_get(h);
    if (!m)
        return tc_fail(TC_ERR_NOMEM, "cannot register this thread with the heap");
    if (depth_add(m, 1) == 0) {
        m->call_assist_ns = 0;
        unpark(m, true); /* lists m, waits out a pause */
        if (__builtin_expect(atomic_load_explicit(&h->closed, memory_order_acquire), 0)) {
            mutator_park(m);
            atomic_store_explicit(&m->depth, 0, memory_order_release);
            return tc_fail(TC_ERR_CLOSED, "the heap is closed");
        }
    }
    *out = m;
    return TC_OK;
}

/* stopped_by_ack — m saw pause `seq` requested after it went inactive
 * (the top): it is stopped with no fence. */
static bool stopped_by_ack(const tc_mutator *m, uint64_t seq)
{
    return !planted(PLANT_STW_STALE_ACK) ? atomic_load_explicit(&m->stw_ack, memory_order_acquire) == seq
                                         : atomic_load_explicit(&m->stw_ack, memory_order_acquire) != 0;
}

/* ack_wait_patiently — test hook (debug_ack_patient): a mutator the
 * stopper reads between its `active` = 0 and its word (first look, or
 * preempted longer than ACK_SPINS) costs a fence; a test that counts
 * fences waits for the word instead, so that its count does not depend on
 * the scheduler (1 s, then the fence: an idle mutator has no word). */
static void ack_wait_patiently(const tc_mutator *m, uint64_t seq)
{
    uint64_t until = plat_now_ns() + 1000000000ull;
    while (!stopped_by_ack(m, seq) && plat_now_ns() < until)
        sched_yield();
}

/* wait_out — the stopper waits until m is inactive or has acknowledged
 * pause `seq`; true if it acknowledged. An active mutator is inside one
 * short heap call: spin briefly (it may be finishing on the other core),
 * then sleep on its `active` word; it wakes us when it leaves
 * (mutator_leave). Spinning longer would steal the CPU from a preempted
 * mutator. The spin yields every 64 rounds: when the scheduler has put
 * this thread on the mutator's CPU (the other cores busy), a plain spin
 * only keeps the mutator from reaching its safepoint (the pause
 * workload's pauses took 70-107 us that way, 15-30 us with the yield). */
static bool wait_out(tc_heap *h, tc_mutator *m, uint64_t seq)
{
    unsigned spins = 0;
    for (; !stopped_by_ack(m, seq) && atomic_load_explicit(&m->active, memory_order_acquire); spins++) {
        if (spins < WORLD_SPINS) {
            if ((spins & 63) == 63)
                sched_yield();
            else
                plat_cpu_relax();
        } else {
            atomic_store(&h->stopper_sleeping, 1);
            if (atomic_load(&m->active))
                plat_wait_while(&m->active, 1, 1000000);
            atomic_store(&h->stopper_sleeping, 0);
        }
    }
    /* seen inside its call, it went out during this stop: its word follows
     * its `active` = 0 by a few instructions (set_inactive), so wait for it
     * a little rather than fence (an idle mutator is never waited for) */
    for (unsigned k = 0; spins && k < ACK_SPINS && !stopped_by_ack(m, seq); k++)
        plat_cpu_relax();
    if (__builtin_expect(atomic_load_explicit(&h->debug_ack_patient, memory_order_relaxed), 0))
        ack_wait_patiently(m, seq);
    return stopped_by_ack(m, seq);
}

/* world_stop — request a pause and wait until every other mutator is out of
 * its heap call. The caller holds gc_lock. Returns the time the pause was
 * requested, its start: the fairness wait before it runs with the world
 * running (nobody is stopped), so it is no part of the pause. The heavy
 * fence only if a mutator is out without acknowledging (the top). */
uint64_t world_stop(tc_heap *h, tc_mutator *self)
{
    /* fairness: mutators released by the last pause get to leave their wait
     * before the next one (back-to-back forced cycles starved them); a
     * sleeping waiter takes a wake-up (tens of us on a virtual machine), and
     * a Dijkstra termination that failed retries at once */
    for (unsigned i = 0; i < FAIR_YIELDS && atomic_load(&h->world_waiters) > 0; i++)
        sched_yield();
    uint64_t since = plat_now_ns();
    uint64_t seq = atomic_load_explicit(&h->stw_seq, memory_order_relaxed) + 1; /* gc_lock: ours alone */
    atomic_store_explicit(&h->stw_seq, seq, memory_order_release);
    atomic_store_explicit(&h->stw, 1, memory_order_seq_cst);
    /* the listed mutators (the top); one that lists itself after this
     * exchange sees stw and parks (invariant L, 3). No lock: a thread that
     * waits for one inside a heap call would deadlock with this wait. */
    tc_mutator *list = atomic_exchange(&h->enterq, NULL);
    bool unacked = false;
    for (tc_mutator *m = list; m; m = m->enter_next) {
        atomic_fetch_add_explicit(&h->stop_visited, 1, memory_order_relaxed);
        if (m != self && !wait_out(h, m, seq))
            unacked = true;
    }
    if (unacked) { /* out without a word: fenced, they are out only if `active` still says so */
        plat_heavy_fence();
        atomic_fetch_add_explicit(&h->debug_heavy_fences, 1, memory_order_relaxed);
        for (tc_mutator *m = list; m; m = m->enter_next)
            if (m != self)
                wait_out(h, m, seq);
    }
    /* every other one is stopped: acknowledged, or read inactive after the
     * fence (invariant L, 2); keep or drop each */
    tc_mutator *kept = NULL, *kept_last = NULL;
    for (tc_mutator *m = list, *next; m; m = next) {
        next = m->enter_next;
        if (m == self || (m->nlocals && !planted(PLANT_STOP_DROPS_LOCALS))) { /* self is inside its call;
                                                                               * locals are roots */
            m->enter_next = kept;
            kept = m;
            kept_last = kept_last ? kept_last : m;
        } else {
            atomic_store_explicit(&m->listed, false, memory_order_release); /* after the read of enter_next */
        }
    }
    if (kept) { /* back on the list, before whatever was pushed meanwhile */
        tc_mutator *head = atomic_load_explicit(&h->enterq, memory_order_relaxed);
        do
            kept_last->enter_next = head;
        while (!atomic_compare_exchange_weak_explicit(&h->enterq, &head, kept, memory_order_release,
                                                      memory_order_relaxed));
    }
    atomic_thread_fence(memory_order_acquire);
    h->world_stopped_at = plat_now_ns(); /* the wait ends here, the stopped stretch begins (cycle.c) */
    return since;
}

/* mutator_debug_stop_visited — the test hook of check.h. */
uint64_t mutator_debug_stop_visited(tc_heap *h) { return atomic_load(&h->stop_visited); }

/* mutator_debug_on_list — the test hook of check.h: a walk of enterq,
 * with no stopper taking it meanwhile (the caller's word). */
bool mutator_debug_on_list(tc_heap *h, tc_mutator *m)
{
    for (tc_mutator *it = atomic_load(&h->enterq); it; it = it->enter_next)
        if (it == m)
            return true;
    return false;
}

void world_start(tc_heap *h)
{
    atomic_store(&h->stw, 0);
    if (atomic_load(&h->world_sleepers)) {
        pthread_mutex_lock(&h->world_lock);
        pthread_cond_broadcast(&h->world_cond);
        pthread_mutex_unlock(&h->world_lock);
    }
}

/* mutator_self — this thread's mutator for h if it has one (never
 * registers): the thread's cache, else the heap's list. */
tc_mutator *mutator_self(tc_heap *h)
{
    for (int i = 0; i < TLS_WAYS; i++)
        if (tc_tls_cache[i].heap == h && tc_tls_cache[i].uid == h->uid)
            return tc_tls_cache[i].m;
    tc_mutator *found = NULL;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *it = h->mutators; it && !found; it = it->next)
        if (it->owned && pthread_equal(it->owner, self))
            found = it;
    pthread_mutex_unlock(&h->mut_lock);
    return found;
}

/* mutator_inside — is the calling thread inside a heap call of h (a raw
 * section, or a host callback run from inside one)? */
bool mutator_inside(tc_heap *h)
{
    tc_mutator *m = mutator_self(h);
    return m && atomic_load_explicit(&m->depth, memory_order_relaxed) > 0;
}

/* others_inside — is a thread other than the caller inside a heap call of
 * h? (`closed` is set and fenced: a thread that enters from now on sees it
 * and leaves at once; one already inside is seen here — Dekker, as in
 * world_stop.) */
static bool others_inside(tc_heap *h, tc_mutator *self)
{
    bool busy = false;
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *m = h->mutators; m && !busy; m = m->next)
        busy = m != self && (atomic_load_explicit(&m->depth, memory_order_acquire) > 0 ||
                             atomic_load_explicit(&m->active, memory_order_acquire));
    pthread_mutex_unlock(&h->mut_lock);
    return busy;
}

/* mutators_drain — wait until no other thread is inside a heap call of h
 * (tc_heap_close, after it set `closed`): calls that wait inside the heap
 * (for a pause, for a cycle) wake, see the heap closed and leave. While it
 * waits, the host's lock is released (block hooks): a Python thread parked
 * in heap.new() needs the GIL back to leave. */
void mutators_drain(tc_heap *h)
{
    plat_heavy_fence(); /* the mutators' half of the handshake is a compiler barrier */
    tc_mutator *self = mutator_self(h);
    if (!others_inside(h, self))
        return;
    void *tok;
    block_begin(h, &tok);
    for (unsigned i = 0; others_inside(h, self); i++) {
        if (i < 100)
            sched_yield();
        else
            nanosleep(&(struct timespec){0, 50000}, NULL);
    }
    block_end(h, tok);
}

void mutators_free(tc_heap *h)
{
    h->flushq = NULL; /* they list some of them */
    atomic_store(&h->enterq, NULL);
    while (h->mutators) {
        tc_mutator *m = h->mutators;
        h->mutators = m->next;
        plat_unmap(m->locals, MUT_MAX_LOCALS * sizeof *m->locals);
        mark_free(m->assist_ctx);
        free(m);
    }
}

/* ---- raw sections (public) ---- */

tc_mutator *tc_enter(tc_heap *h)
{
    tc_mutator *m;
    return mutator_enter(h, &m) == TC_OK ? m : NULL;
}

void tc_leave(tc_mutator *m) { mutator_leave(m); }

void tc_safepoint(tc_mutator *m)
{
    if (atomic_load_explicit(&m->heap->stw, memory_order_relaxed)) {
        mutator_park(m);
        unpark(m, true);
    }
}

/* tc_locals — the local root stack is one lazily-committed mapping that
 * never moves, so pointers returned earlier stay valid as it grows. */
tc_obj **tc_locals(tc_mutator *m, size_t n)
{
    if (!m->locals) {
        m->locals = plat_map_lazy(MUT_MAX_LOCALS * sizeof *m->locals);
        if (!m->locals) {
            tc_fail(TC_ERR_NOMEM, "cannot map the local root stack");
            return NULL;
        }
        m->cap_locals = MUT_MAX_LOCALS;
    }
    if (n > m->cap_locals - m->nlocals) {
        tc_fail(TC_ERR_NOMEM, "local root stack overflow (%zu locals at most)", m->cap_locals);
        return NULL;
    }
    tc_obj **l = m->locals + m->nlocals;
    memset(l, 0, n * sizeof *l);
    m->nlocals += n;
    return l;
}

void tc_locals_pop(tc_mutator *m, size_t n) { m->nlocals = n > m->nlocals ? 0 : m->nlocals - n; }

/* mutator_leave_flush — mutator_leave with shaded addresses to flush: the
 * flush, then the end of the outermost call (out of line: mutator.h). */
void mutator_leave_flush(tc_mutator *m)
{
    grey_flush_mutator(m);
    atomic_store_explicit(&m->depth, 0, memory_order_release); /* a closer may tear down from here */
    set_inactive(m);
}
