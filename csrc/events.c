/*
 * events.c — recording GC events (events.h has the kinds and the record).
 *
 * Where an event goes:
 *  - a thread with a mutator of the heap (found in its TLS cache, no lock)
 *    writes into that mutator's ev_local buffer; when the buffer is full it
 *    takes ev.lock once and moves the whole buffer into the heap's ring;
 *  - any other thread (the collector, a mark worker, a thread that is not a
 *    mutator) writes into the ring under ev.lock (these are cycle-grained
 *    events, a few per cycle);
 *  - the histograms and delay totals are counted at record time with
 *    relaxed atomics, so a full ring (or no memory for it) never loses them.
 *
 * The ring keeps the newest `cap` events: it starts at 256 slots and doubles
 * until it holds `cap` (or realloc fails: it stays at its size), then a new
 * event overwrites the oldest, and `dropped` counts every overwritten (or,
 * without memory, lost) event.
 * With cap = 0 (events_ring=0) nothing is buffered: only histograms/totals.
 *
 * Invariant of an ev_local (single producer, consumers serialised):
 *  - only the mutator's owner writes e[] and head; it writes e[head % N]
 *    first and then stores head + 1 with release order, and it writes a
 *    slot only while head - tail < N (tail read with acquire);
 *  - tail is stored only under ev.lock (by a reader draining all buffers,
 *    or by the owner draining its own full buffer), with release order,
 *    after the slots [tail, new tail) were copied.
 * So a drainer that reads head (acquire) sees the slots below it complete,
 * and the owner never overwrites a slot a drainer may still be copying: it
 * reuses slot i only after loading a tail > i (acquire) that the drainer
 * stored after its copy. Mutator ownership moves only under mut_lock, which
 * orders the old owner's plain accesses before the new owner's.
 *
 * Lock order: ev.lock is innermost; ev_record is never called with it held.
 * ev_collect takes mut_lock (the list of mutators) and then ev.lock.
 *
 * Pauses: ev_pause runs under stats_lock, where pause_total_ns grows too, and
 * tc_heap_stats reads delay_total under stats_lock: every pause is in
 * delay_total whenever it is in pause_total, and other kinds only add, so a
 * snapshot always has delay_total_ns >= pause_total_ns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "heap.h"
#include "platform.h"

static const char *const names[EV_KIND_COUNT] = {"pause", "assist", "slice", "sweep", "limit_wait",
                                                 "mark", "background sweep", "scavenge", "finalizer",
                                                 "cleanup"};

const char *ev_kind_name(ev_kind k) { return (unsigned)k < EV_KIND_COUNT ? names[k] : "?"; }

static _Atomic uint32_t next_tid = 1;
static _Thread_local uint32_t my_tid;

uint32_t ev_tid(void)
{
    if (!my_tid)
        my_tid = atomic_fetch_add_explicit(&next_tid, 1, memory_order_relaxed);
    return my_tid;
}

void ev_init(tc_heap *h)
{
    pthread_mutex_init(&h->ev.lock, NULL);
    h->ev.cap = h->cfg.events_ring > 0 ? (uint64_t)h->cfg.events_ring : 0;
}

void ev_free(tc_heap *h)
{
    for (tc_mutator *m = h->mutators; m; m = m->next)
        free(atomic_load_explicit(&m->evl, memory_order_relaxed));
    free(h->ev.ring);
    h->ev.ring = NULL;
    pthread_mutex_destroy(&h->ev.lock);
}

void ev_name_thread(tc_heap *h, const char *name)
{
    uint32_t tid = ev_tid();
    pthread_mutex_lock(&h->ev.lock);
    int i = 0;
    while (i < h->ev.nnames && h->ev.names[i].tid != tid)
        i++;
    if (i < EV_NAMES) {
        h->ev.names[i].tid = tid;
        snprintf(h->ev.names[i].name, sizeof h->ev.names[i].name, "%s", name);
        if (i == h->ev.nnames)
            h->ev.nnames++;
    }
    pthread_mutex_unlock(&h->ev.lock);
}

bool ev_thread_name(tc_heap *h, uint32_t tid, char out[28])
{
    bool found = false;
    pthread_mutex_lock(&h->ev.lock);
    for (int i = 0; i < h->ev.nnames && !found; i++)
        if (h->ev.names[i].tid == tid) {
            memcpy(out, h->ev.names[i].name, 28);
            found = true;
        }
    pthread_mutex_unlock(&h->ev.lock);
    return found;
}

/* ring_grow — double the ring (up to cap) while it has not wrapped yet, so
 * a heap with few events holds little memory (ev.lock held). A failed
 * realloc keeps the ring as it is: from then on it wraps at that size. */
static void ring_grow(tc_heap *h)
{
    uint64_t want = h->ev.alloc ? h->ev.alloc * 2 : 256;
    if (want > h->ev.cap)
        want = h->ev.cap;
    ev *r = plat_realloc(h->ev.ring, want * sizeof *r);
    if (r) {
        h->ev.ring = r;
        h->ev.alloc = want;
    }
}

/* ring_put — one event into the ring (ev.lock held): slots fill in order
 * until the ring is as large as it gets; then the newest overwrites the
 * oldest, counted in `dropped`. */
static void ring_put(tc_heap *h, const ev *e)
{
    if (h->ev.written == h->ev.alloc && h->ev.alloc < h->ev.cap)
        ring_grow(h);
    if (!h->ev.alloc) { /* no memory for any ring */
        atomic_fetch_add_explicit(&h->ev.dropped, 1, memory_order_relaxed);
        return;
    }
    if (h->ev.written >= h->ev.alloc)
        atomic_fetch_add_explicit(&h->ev.dropped, 1, memory_order_relaxed);
    h->ev.ring[h->ev.written++ % h->ev.alloc] = *e;
}

/* local_drain — move l's pending events into the ring (ev.lock held). */
static void local_drain(tc_heap *h, ev_local *l)
{
    uint64_t t = atomic_load_explicit(&l->tail, memory_order_relaxed);
    uint64_t hd = atomic_load_explicit(&l->head, memory_order_acquire);
    for (; t < hd; t++)
        ring_put(h, &l->e[t % EV_LOCAL_N]);
    atomic_store_explicit(&l->tail, t, memory_order_release);
}

/* own_buffer — this thread's mutator's buffer, made on first use; NULL if
 * this thread has no mutator in its TLS cache (then it writes the ring). */
static ev_local *own_buffer(tc_heap *h)
{
    tc_mutator *m = NULL;
    for (int i = 0; i < TLS_WAYS && !m; i++)
        if (tc_tls_cache[i].heap == h && tc_tls_cache[i].uid == h->uid)
            m = tc_tls_cache[i].m;
    if (!m)
        return NULL;
    ev_local *l = atomic_load_explicit(&m->evl, memory_order_relaxed);
    if (!l && (l = plat_calloc(1, sizeof *l)) != NULL)
        atomic_store_explicit(&m->evl, l, memory_order_release);
    return l;
}

static void store(tc_heap *h, const ev *e)
{
    ev_local *l = own_buffer(h);
    if (!l) {
        pthread_mutex_lock(&h->ev.lock);
        ring_put(h, e);
        pthread_mutex_unlock(&h->ev.lock);
        return;
    }
    uint64_t hd = atomic_load_explicit(&l->head, memory_order_relaxed);
    if (hd - atomic_load_explicit(&l->tail, memory_order_acquire) == EV_LOCAL_N) {
        pthread_mutex_lock(&h->ev.lock);
        local_drain(h, l);
        pthread_mutex_unlock(&h->ev.lock);
    }
    l->e[hd % EV_LOCAL_N] = *e;
    atomic_store_explicit(&l->head, hd + 1, memory_order_release);
}

static void delay_count(tc_heap *h, uint64_t ns)
{
    hist_record(&h->ev.delay_hist, ns);
    atomic_fetch_add_explicit(&h->ev.delay_total, ns, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&h->ev.delay_max, memory_order_relaxed);
    while (ns > max &&
           !atomic_compare_exchange_weak_explicit(&h->ev.delay_max, &max, ns, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static void record(tc_heap *h, ev_kind k, uint64_t start, uint64_t end, uint64_t bytes, uint64_t objects)
{
    if (end < start)
        end = start;
    ev e = {(int64_t)start, (int64_t)end, atomic_load_explicit(&h->ev.cycle, memory_order_relaxed), bytes,
            objects, ev_tid(), (uint32_t)k};
    if (h->ev.cap)
        store(h, &e);
    if (atomic_load_explicit(&h->ev.tracing, memory_order_relaxed))
        trace_event_add(h, &e);
}

void ev_record_net(tc_heap *h, ev_kind k, uint64_t start, uint64_t end, uint64_t net)
{
    if ((unsigned)k < TC_GC_KIND_COUNT)
        delay_count(h, net);
    record(h, k, start, end, 0, 0);
}

void ev_record_objs(tc_heap *h, ev_kind k, uint64_t start, uint64_t end, uint64_t bytes, uint64_t objects)
{
    if ((unsigned)k < TC_GC_KIND_COUNT)
        delay_count(h, end > start ? end - start : 0);
    record(h, k, start, end, bytes, objects);
}

void ev_record(tc_heap *h, ev_kind k, uint64_t start, uint64_t end, uint64_t bytes)
{
    ev_record_objs(h, k, start, end, bytes, 0);
}

void ev_pause(tc_heap *h, uint64_t start, uint64_t end)
{
    uint64_t ns = end > start ? end - start : 0;
    hist_record(&h->ev.pause_hist, ns);
    delay_count(h, ns);
    record(h, EV_PAUSE, start, end, 0, 0);
}

ev *ev_collect(tc_heap *h, size_t *n)
{
    *n = 0;
    if (!h->ev.cap)
        return NULL;
    pthread_mutex_lock(&h->mut_lock);
    pthread_mutex_lock(&h->ev.lock);
    for (tc_mutator *m = h->mutators; m; m = m->next) {
        ev_local *l = atomic_load_explicit(&m->evl, memory_order_acquire);
        if (l)
            local_drain(h, l);
    }
    pthread_mutex_unlock(&h->mut_lock);
    uint64_t w = h->ev.written, keep = w < h->ev.alloc ? w : h->ev.alloc;
    ev *out = keep ? plat_malloc(keep * sizeof *out) : NULL;
    if (out) {
        for (uint64_t i = 0; i < keep; i++)
            out[i] = h->ev.ring[(w - keep + i) % h->ev.alloc];
        *n = keep;
    }
    pthread_mutex_unlock(&h->ev.lock);
    return out;
}

/* ---- public: the heap's intervals, its MMU, host callbacks ---- */

int64_t tc_now_ns(void) { return (int64_t)plat_now_ns(); }

void tc_heap_note_callback(tc_heap *h, tc_ready_kind kind, int64_t start_ns, int64_t end_ns)
{
    if (!h || atomic_load(&h->closed) || start_ns < 0 || end_ns < start_ns)
        return;
    ev_record_objs(h, kind == TC_READY_CLEANUP ? EV_CLEANUP : EV_FINALIZER, (uint64_t)start_ns, (uint64_t)end_ns, 0, 1);
}

/* delay_intervals — the delay-kind events among e[0..n) as tc_intervals. */
static tc_interval *delay_intervals(const ev *e, size_t n, size_t *out_n)
{
    tc_interval *iv = plat_malloc((n ? n : 1) * sizeof *iv);
    size_t k = 0;
    for (size_t i = 0; iv && i < n; i++)
        if (e[i].kind < TC_GC_KIND_COUNT)
            iv[k++] = (tc_interval){e[i].start, e[i].end, (tc_gc_kind)e[i].kind};
    *out_n = k;
    return iv;
}

tc_status tc_heap_intervals(tc_heap *h, tc_interval **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    size_t ne;
    ev *e = ev_collect(h, &ne);
    tc_interval *iv = delay_intervals(e, ne, n);
    free(e);
    if (!iv)
        return tc_fail(TC_ERR_NOMEM, "out of memory");
    *out = iv;
    return TC_OK;
}

tc_status tc_heap_mmu(tc_heap *h, const int64_t *windows_ns, size_t nw, tc_mmu_point *out, uint64_t *dropped)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    tc_interval *iv;
    size_t n;
    tc_status st = tc_heap_intervals(h, &iv, &n);
    if (st != TC_OK)
        return st;
    int64_t start = (int64_t)h->start_ns, end = (int64_t)plat_now_ns();
    for (size_t i = 0; i < n; i++) /* an event still being closed may end a moment after `end` */
        if (iv[i].end_ns > end)
            end = iv[i].end_ns;
    st = tc_mmu(iv, n, &start, &end, windows_ns, nw, out);
    free(iv);
    *dropped = atomic_load_explicit(&h->ev.dropped, memory_order_relaxed);
    return st;
}
