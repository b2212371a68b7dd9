/*
 * mark.c — tri-color marking with explicit grey work, never recursion.
 *
 * Colours: an object is black once its mark bit is set and it was scanned
 * (or was allocated black during mark: its slots are all nil), grey while it
 * waits for that as a *candidate* address on a mark stack, in the prefetch
 * ring or in the global grey queue, white otherwise. A candidate is
 * tested-and-marked when it leaves the ring, and dropped if it was already
 * marked; scanning only filters out references whose mark bit is already
 * set, it never marks.
 *
 * Marking is memory-latency bound, so the drain loop keeps PREFETCH_DEPTH
 * objects in flight: an address popped from the stack is prefetched (the
 * object and its mark-bit word) and only tested and scanned PREFETCH_DEPTH
 * pops later, when its cache lines have arrived. Scanning skips references
 * whose mark bit is already set (a plain read, often cached: neighbours
 * share bitmap words), so prefetch slots go to objects that need them.
 *
 * Concurrent marking (the concurrent and incremental collectors) differs in
 * one way: every candidate is validated as an
 * allocated object start of this heap before it is marked — a slot read
 * while a mutator overwrites it can pair a stale REF tag with a fresh
 * non-reference word (obj.h), and such a word must not be followed.
 *
 * Who writes mark bits. Several markers may run at once during a concurrent
 * mark: the collector thread, its mark workers, and mutators paying mark
 * assists. A locked read-modify-write per object costs ~45% of the marking
 * speed of a tree, though, so a marker that is alone marks with a plain load
 * and store. h->mark_share arbitrates (joiners << 1 | EXCL):
 *
 *   EXCL     one marker holds the bits alone and marks with plain stores;
 *            it polls mark_share every POLL_EVERY candidates, and when
 *            someone waits to join it turns itself into a joiner
 *            (fetch_add 1: the bit clears, the count grows by one).
 *   joined   a marker counted in joiners marks with fetch_or; it starts
 *            marking only once EXCL is clear. A joiner left alone (the
 *            state is exactly one joiner) takes EXCL back by CAS.
 *
 * Every marker enters at the start of mark_drain and leaves when it returns,
 * so EXCL is never held by a thread that waits for anything, and a joiner's
 * wait is bounded by POLL_EVERY candidates of the holder's work (unless the
 * holder is descheduled: an assist then gives up after a while and leaves
 * the count, mark_drain_assist). The RMWs on
 * mark_share are acq_rel: the holder's plain stores happen before a
 * joiner's first fetch_or and a joiner's last fetch_or before the next
 * holder's first load, so no mark is lost. Mutators allocating black write
 * the separate black bits and never take part.
 *
 * Grey work moves between threads in buffers of WBUF_N addresses: mutators
 * shading through the write barrier fill a small private buffer and flush it
 * to the global queue (grey_lock) when it fills, when they leave a heap call
 * and when they park; markers take buffers from the global queue when their
 * own stack runs dry. A marker that sees another one hungry (mark_hungry:
 * an idle mark worker or an assist without work) while the global queue is
 * empty gives it half its stack (donate). With the world stopped every
 * mutator buffer and every assist's stack is empty, so "global queue empty
 * and the marker's stack empty" means marking is done.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "platform.h"

#define STACK_CHUNK (1u << 16) /* entries per mark-stack chunk */
#define PREFETCH_DEPTH 16      /* objects in flight (a power of two) */
#define PROGRESS_EVERY 256     /* objects between progress reports (a power of two) */
#define POLL_EVERY 64          /* candidates between looks at mark_share and mark_hungry (a power of two) */

enum { MODE_OFF, MODE_EXCL, MODE_JOINED }; /* a marker's right to the mark bits */
#define SHARE_EXCL 1u
#define SHARE_ONE 2u

typedef struct stack_chunk {
    struct stack_chunk *prev;
    uintptr_t e[STACK_CHUNK];
} stack_chunk;

typedef struct mpar mpar;

struct markctx {
    tc_heap *h;
    bool concurrent, check;
    mpar *par;          /* parallel marking: the workers (NULL: alone) */
    int mode;           /* MODE_*: how this marker may write mark bits now */
    unsigned tick;      /* candidates taken, for polling */
    stack_chunk *top;   /* current chunk */
    size_t n;           /* entries used in top */
    stack_chunk *spare; /* one free chunk kept to avoid thrashing at a boundary */
    uintptr_t ring[PREFETCH_DEPTH];           /* candidates in flight */
    _Atomic uint64_t *ring_w[PREFETCH_DEPTH]; /* their mark words (NULL: not in this heap) */
    arena *ring_a[PREFETCH_DEPTH];            /* their arenas */
    uint64_t ring_bit[PREFETCH_DEPTH];
    unsigned head, count;
    uint64_t marked_objects, marked_bytes;
    uint64_t published;  /* marked_bytes already added to h->mark_progress */
    uint64_t avg_bytes;  /* bytes per object, from the last sweep: marked_bytes is an estimate */
};

/* ---- the global grey queue ---- */

static wbuf *wbuf_get(tc_heap *h)
{
    wbuf *b = h->grey_spare;
    if (b)
        h->grey_spare = b->next;
    else
        b = malloc(sizeof *b);
    if (b)
        b->n = 0;
    return b;
}

/* grey_put — append n candidates to the global queue. */
void grey_put(tc_heap *h, const uintptr_t *e, size_t n)
{
    plat_lock(&h->grey_lock);
    while (n) {
        wbuf *b = h->grey;
        if (!b || b->n == WBUF_N) {
            b = wbuf_get(h);
            if (!b) { /* keep the work: it must not be lost; grow the current one's list by spinning */
                pthread_mutex_unlock(&h->grey_lock);
                plat_heavy_fence();
                plat_lock(&h->grey_lock);
                continue;
            }
            b->next = h->grey;
            h->grey = b;
            atomic_fetch_add(&h->grey_bufs, 1);
        }
        size_t k = WBUF_N - b->n < n ? WBUF_N - b->n : n;
        memcpy(b->e + b->n, e, k * sizeof *e);
        b->n += k;
        e += k;
        n -= k;
    }
    pthread_mutex_unlock(&h->grey_lock);
}

/* grey_take — one buffer of candidates copied into out (at most WBUF_N);
 * returns how many. */
static size_t grey_take(tc_heap *h, uintptr_t *out)
{
    if (!atomic_load_explicit(&h->grey_bufs, memory_order_acquire))
        return 0;
    plat_lock(&h->grey_lock);
    wbuf *b = h->grey;
    size_t n = 0;
    if (b) {
        h->grey = b->next;
        atomic_fetch_sub(&h->grey_bufs, 1);
        n = b->n;
        memcpy(out, b->e, n * sizeof *out);
        b->next = h->grey_spare;
        h->grey_spare = b;
    }
    pthread_mutex_unlock(&h->grey_lock);
    return n;
}

bool grey_empty(tc_heap *h) { return atomic_load_explicit(&h->grey_bufs, memory_order_acquire) == 0; }

void grey_flush_mutator(tc_mutator *m)
{
    if (m->gbuf_n) {
        grey_put(m->heap, m->gbuf, m->gbuf_n);
        m->gbuf_n = 0;
    }
}

void grey_free_all(tc_heap *h)
{
    plat_lock(&h->grey_lock);
    for (int pass = 0; pass < 2; pass++) {
        wbuf *b = pass ? h->grey_spare : h->grey;
        while (b) {
            wbuf *next = b->next;
            free(b);
            b = next;
        }
    }
    h->grey = h->grey_spare = NULL;
    atomic_store(&h->grey_bufs, 0);
    pthread_mutex_unlock(&h->grey_lock);
}

/* ---- the marker's own stack ---- */

static bool stack_grow(markctx *c)
{
    stack_chunk *k = c->spare;
    if (k)
        c->spare = NULL;
    else if (!(k = malloc(sizeof *k)))
        return false;
    k->prev = c->top;
    c->top = k;
    c->n = 0;
    return true;
}

static inline void push(markctx *c, uintptr_t p)
{
    if (__builtin_expect(c->n == STACK_CHUNK, 0) && !stack_grow(c)) {
        grey_put(c->h, &p, 1); /* no memory for a chunk: hand it to the global queue */
        return;
    }
    c->top->e[c->n++] = p;
}

static inline bool pop(markctx *c, uintptr_t *p)
{
    if (__builtin_expect(c->n == 0, 0)) {
        stack_chunk *k = c->top;
        if (!k->prev) {
            /* refill from the global queue — but only once the objects in
             * flight are done too: a list would otherwise ask the shared
             * queue once per node */
            if (c->count)
                return false;
            size_t n = grey_take(c->h, k->e);
            if (!n)
                return false;
            c->n = n;
        } else {
            c->top = k->prev;
            c->n = STACK_CHUNK;
            free(c->spare);
            c->spare = k;
        }
    }
    *p = c->top->e[--c->n];
    return true;
}

markctx *mark_new(tc_heap *h, bool concurrent, bool check)
{
    markctx *c = plat_calloc_lines(sizeof *c);
    if (!c)
        return NULL;
    c->h = h;
    c->concurrent = concurrent;
    c->check = check;
    c->avg_bytes = atomic_load_explicit(&h->avg_obj_bytes, memory_order_relaxed);
    if (!stack_grow(c)) {
        free(c);
        return NULL;
    }
    return c;
}

/* publish — add the bytes marked since the last report to mark_progress. */
static void publish(markctx *c)
{
    c->marked_bytes = c->marked_objects * c->avg_bytes;
    atomic_fetch_add_explicit(&c->h->mark_progress, c->marked_bytes - c->published, memory_order_relaxed);
    c->published = c->marked_bytes;
}

/* mark_flush — give unfinished work back to the global queue and count
 * what c marked into h->marked_bytes; c stays usable (an assist's marker
 * between assists), with one stack chunk. */
void mark_flush(markctx *c)
{
    if (c->count) {
        uintptr_t tmp[PREFETCH_DEPTH];
        for (unsigned i = 0; i < c->count; i++)
            tmp[i] = c->ring[(c->head + i) % PREFETCH_DEPTH];
        grey_put(c->h, tmp, c->count);
        c->count = 0;
    }
    for (;;) {
        stack_chunk *k = c->top;
        if (c->n)
            grey_put(c->h, k->e, c->n);
        if (!k->prev)
            break;
        c->top = k->prev;
        c->n = STACK_CHUNK;
        free(k);
    }
    c->n = 0;
    if (c->concurrent)
        publish(c);
    atomic_fetch_add(&c->h->marked_bytes, c->marked_objects * c->avg_bytes);
    c->marked_objects = c->marked_bytes = c->published = 0;
    c->avg_bytes = atomic_load_explicit(&c->h->avg_obj_bytes, memory_order_relaxed);
}

/* mark_free — give unfinished work back to the global queue, free c. */
void mark_free(markctx *c)
{
    if (!c)
        return;
    mark_flush(c);
    free(c->top);
    free(c->spare);
    free(c);
}

/* scan — push every reference held by object p. */
static inline void scan(markctx *c, uintptr_t p)
{
    const tc_obj *o = (const tc_obj *)p;
    uint32_t n = obj_nslots(o);
    _Atomic uint64_t *w = obj_words(o);
    _Atomic uint8_t *t = obj_tags(o);
    for (uint32_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&t[i], memory_order_acquire) != TC_REF)
            continue;
        uintptr_t q = atomic_load_explicit(&w[i], memory_order_relaxed);
        /* skip what is already marked: in a graph about half the references
         * lead to marked objects, and each would take a prefetch slot (a
         * stale read only means one useless push; the owner tests again) */
        arena *a = arena_of(q);
        if (a && !c->check && bit_test(a->markbits, a, q))
            continue;
        push(c, q);
    }
}


/* try_mark — set the mark bit of candidate p (its word w and bit already
 * computed); false if it was set, or p is no object of this heap. */
static inline __attribute__((always_inline)) bool try_mark(markctx *c, uintptr_t p, arena *a, _Atomic uint64_t *w,
                                                           uint64_t bit, bool concurrent)
{
    if (!w)
        return false;
    if (concurrent && (a->heap != c->h || !is_object(a, p)))
        return false;
    uint64_t old = atomic_load_explicit(w, memory_order_relaxed);
    if (old & bit)
        return false;
    if (concurrent && c->mode != MODE_EXCL) /* other markers run: see the top of the file */
        return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
    atomic_store_explicit(w, old | bit, memory_order_relaxed);
    return true;
}

/* ---- the right to the mark bits (mark_share, see the top) ---- */

/* mode_enter — the right to mark; with wait_ns > 0, false if the holder
 * of EXCL has not shared within wait_ns (it may have been descheduled: an
 * assist then does something else rather than spin behind it). */
static bool mode_enter(markctx *c, uint64_t wait_ns)
{
    _Atomic uint64_t *s = &c->h->mark_share;
    uint64_t zero = 0;
    if (atomic_compare_exchange_strong_explicit(s, &zero, SHARE_EXCL, memory_order_acq_rel, memory_order_relaxed)) {
        c->mode = MODE_EXCL;
        return true;
    }
    atomic_fetch_add_explicit(s, SHARE_ONE, memory_order_acq_rel);
    uint64_t t0 = 0;
    for (unsigned i = 0; atomic_load_explicit(s, memory_order_acquire) & SHARE_EXCL; i++) {
        if ((i & 255) != 255) {
            plat_cpu_relax();
            continue;
        }
        if (wait_ns) {
            uint64_t now = plat_now_ns();
            if (!t0)
                t0 = now;
            else if (now - t0 >= wait_ns) {
                atomic_fetch_sub_explicit(s, SHARE_ONE, memory_order_acq_rel);
                return false;
            }
        }
        sched_yield(); /* the holder may be descheduled */
    }
    c->mode = MODE_JOINED;
    return true;
}

static void mode_leave(markctx *c)
{
    atomic_fetch_sub_explicit(&c->h->mark_share, c->mode == MODE_EXCL ? SHARE_EXCL : SHARE_ONE, memory_order_acq_rel);
    c->mode = MODE_OFF;
}

/* donate — half of this marker's stack to the global queue, for a hungry
 * marker: the oldest entries when the stack is short (a tree's big subtrees
 * near its root), else one buffer from the top. */
static void donate(markctx *c)
{
    stack_chunk *k = c->top;
    size_t n = c->n;
    if (n >= 2 * WBUF_N) {
        grey_put(c->h, k->e + n - WBUF_N, WBUF_N);
        c->n = n - WBUF_N;
    } else if (n >= 2) {
        size_t give = n / 2;
        grey_put(c->h, k->e, give);
        memmove(k->e, k->e + give, (n - give) * sizeof *k->e);
        c->n = n - give;
    }
}

/* poll — every POLL_EVERY candidates of a concurrent marker. */
static __attribute__((noinline)) void poll(markctx *c)
{
    tc_heap *h = c->h;
    uint64_t s = atomic_load_explicit(&h->mark_share, memory_order_relaxed);
    if (c->mode == MODE_EXCL && s >= SHARE_ONE) { /* someone waits: share */
        atomic_fetch_add_explicit(&h->mark_share, SHARE_EXCL, memory_order_acq_rel);
        c->mode = MODE_JOINED;
    } else if (c->mode == MODE_JOINED && s == SHARE_ONE) { /* alone again: take the bits */
        if (atomic_compare_exchange_strong_explicit(&h->mark_share, &s, SHARE_EXCL, memory_order_acq_rel,
                                                    memory_order_relaxed))
            c->mode = MODE_EXCL;
    }
    if (atomic_load_explicit(&h->mark_hungry, memory_order_relaxed) && grey_empty(h))
        donate(c);
}

/* drain — the marking loop, specialised for stop-the-world (no validation,
 * no byte count: the sweep counts) and concurrent marking. A candidate's
 * mark word is computed once, when it is prefetched. */
static inline __attribute__((always_inline)) bool drain(markctx *c, int64_t budget, bool concurrent)
{
    for (;;) {
        uintptr_t p;
        while (c->count < PREFETCH_DEPTH && pop(c, &p)) {
            arena *a = arena_of(p);
            unsigned slot = (c->head + c->count++) % PREFETCH_DEPTH;
            c->ring[slot] = p;
            c->ring_a[slot] = a;
            if (__builtin_expect(a != NULL, 1)) {
                __builtin_prefetch((const void *)p);
                c->ring_w[slot] = bit_word(c->check ? a->checkbits : a->markbits, a, p, &c->ring_bit[slot]);
                __builtin_prefetch((const void *)c->ring_w[slot]);
            } else {
                c->ring_w[slot] = NULL;
            }
        }
        if (!c->count)
            return true;
        if (budget == 0)
            return false;
        unsigned slot = c->head;
        p = c->ring[slot];
        c->head = (c->head + 1) % PREFETCH_DEPTH;
        c->count--;
        if (concurrent && !(++c->tick & (POLL_EVERY - 1)))
            poll(c);
        if (!try_mark(c, p, c->ring_a[slot], c->ring_w[slot], c->ring_bit[slot], concurrent))
            continue;
        c->marked_objects++;
        if (concurrent && !(c->marked_objects & (PROGRESS_EVERY - 1))) /* let assists see the work done */
            publish(c);
        scan(c, p);
        if (budget > 0)
            budget--;
    }
}

/* mark_drain — test-and-mark-and-scan candidates until no work is left
 * (true) or `budget` objects were scanned (false; budget < 0: no limit). */
bool mark_drain(markctx *c, int64_t budget)
{
    if (!c->concurrent)
        return drain(c, budget, false);
    return mark_drain_assist(c, budget, 0) == MARK_EMPTY; /* wait_ns 0: never MARK_BUSY */
}

/* mark_drain_assist — mark_drain for a mutator's assist: MARK_BUSY if
 * another marker held the bits for longer than wait_ns (0: no limit). */
mark_result mark_drain_assist(markctx *c, int64_t budget, uint64_t wait_ns)
{
    if (!mode_enter(c, wait_ns))
        return MARK_BUSY;
    bool done = drain(c, budget, true);
    mode_leave(c);
    publish(c);
    return done ? MARK_EMPTY : MARK_MORE;
}

/* mark_bytes — bytes this marker has marked so far (not yet added to
 * h->marked_bytes, which mark_free does). */
uint64_t mark_bytes(const markctx *c) { return c->marked_objects * c->avg_bytes; }

void mark_push_children(markctx *c, uintptr_t p) { scan(c, p); }
tc_heap *mark_owner(const markctx *c) { return c->h; }

/* mark_blacken — mark and scan p now (test hook: make one object black). */
void mark_blacken(markctx *c, uintptr_t p)
{
    arena *a = arena_of(p);
    uint64_t bit = 0;
    _Atomic uint64_t *w = a ? bit_word(a->markbits, a, p, &bit) : NULL;
    mode_enter(c, 0);
    if (try_mark(c, p, a, w, bit, true))
        scan(c, p);
    mode_leave(c);
}

/* mark_push_handles — every live handle; safe while mutators create and
 * release handles (barrier.c says why). */
void mark_push_handles(markctx *c)
{
    tc_heap *h = c->h;
    plat_lock(&h->roots_lock);
    root_chunk *first = h->root_chunks;
    pthread_mutex_unlock(&h->roots_lock);
    for (root_chunk *k = first; k; k = k->next)
        for (size_t i = 0; i < ROOT_CHUNK; i++) {
            uintptr_t v = atomic_load_explicit(&k->slot[i], memory_order_acquire);
            if (v && !(v & 3)) /* not a free link (1), not a freed object (2) */
                push(c, v);
        }
}

/* mark_push_locals — every mutator's local roots (world stopped). */
void mark_push_locals(markctx *c)
{
    pthread_mutex_lock(&c->h->mut_lock);
    for (tc_mutator *m = c->h->mutators; m; m = m->next)
        for (size_t i = 0; i < m->nlocals; i++)
            if (m->locals[i])
                push(c, (uintptr_t)m->locals[i]);
    pthread_mutex_unlock(&c->h->mut_lock);
}

static bool ensure_checkbits(tc_heap *h)
{
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        if (!a->checkbits && !(a->checkbits = plat_map_lazy(TC_ARENA_SIZE / 64)))
            return false;
    }
    return true;
}

/* mark_heap — mark everything reachable from the roots, world stopped, into
 * the mark bits (or with `check` the checkmark bits). Returns objects marked. */
uint64_t mark_heap(tc_heap *h, bool check)
{
    if (check && !ensure_checkbits(h))
        return 0;
    markctx *c = mark_new(h, false, check);
    if (!c)
        return 0;
    mark_push_handles(c);
    mark_push_locals(c);
    special_push_finalizer_roots(c);
    mark_drain(c, -1);
    uint64_t n = c->marked_objects;
    if (check)
        c->marked_objects = 0; /* the real count is the real mark's */
    mark_free(c);
    return n;
}

/* ---- parallel marking ------------------------------------------------------
 *
 * With mark_workers = W > 1 the concurrent marker is W threads (the collector
 * thread is worker 0) sharing grey work through the global queue: a worker
 * whose stack runs dry takes a buffer from it, and while one is idle the
 * busy ones donate half their stacks (poll, donate). Mark bits are shared
 * as the top of the file says: a worker alone marks with plain stores.
 *
 * A round ends when every worker is idle, the global queue is empty and no
 * assist is marking; mutators may still flush grey work after that, which
 * mark termination finds (the world stopped) and sends back to marking. An
 * idle worker spins briefly, then naps: donations do not signal.
 */

#define MAX_WORKERS 16
#define IDLE_SPINS 2000           /* pause rounds (~20-50 us) before napping */
#define IDLE_NAP_NS 20000

struct mpar {
    tc_heap *h;
    int nw;
    pthread_mutex_t lock;          /* rounds */
    pthread_cond_t cond;
    uint64_t round;
    int finished;
    bool stop;
    _Atomic int idle;              /* workers without work this round */
    _Atomic bool done;             /* this round is over */
    pthread_t threads[MAX_WORKERS];
};

/* mark_quiet — nobody else marks or holds grey work, and the global queue is
 * empty: the sharers and the assists (one holds work between its slices)
 * are read before the queue, since an assist counts itself before it takes
 * work and flushes its work to the queue before it stops counting. */
bool mark_quiet(tc_heap *h)
{
    return atomic_load(&h->mark_share) == 0 && atomic_load(&h->assists_holding) == 0 && grey_empty(h);
}

/* idle_wait — a marker without work (counted in idle, if any, and in
 * mark_hungry) waits until work appears (true) or, once `all` markers are
 * idle and nobody else marks, the round is over (false). */
static bool idle_wait(tc_heap *h, _Atomic int *idle, int all, _Atomic bool *done)
{
    for (unsigned i = 0;; i++) {
        if (done && atomic_load_explicit(done, memory_order_acquire))
            return false;
        if (!grey_empty(h))
            return true;
        /* grey first, then the idle count, then mark_quiet: a worker leaves
         * idle before it takes work */
        if ((!idle || atomic_load(idle) == all) && mark_quiet(h)) {
            if (done)
                atomic_store_explicit(done, true, memory_order_release);
            return false;
        }
        if (i < IDLE_SPINS)
            plat_cpu_relax();
        else
            nanosleep(&(struct timespec){0, IDLE_NAP_NS}, NULL);
    }
}

/* worker_round — drain until the whole round is done. */
static void worker_round(markctx *c)
{
    mpar *par = c->par;
    tc_heap *h = c->h;
    for (;;) {
        mark_drain(c, -1);
        atomic_fetch_add(&par->idle, 1);
        atomic_fetch_add(&h->mark_hungry, 1);
        bool more = idle_wait(h, &par->idle, par->nw, &par->done);
        atomic_fetch_sub(&h->mark_hungry, 1);
        if (!more)
            return;
        atomic_fetch_sub(&par->idle, 1);
    }
}

typedef struct wstart {
    mpar *par;
    int idx;
} wstart;

static void *worker_main(void *arg)
{
    wstart *ws = arg;
    mpar *par = ws->par;
    uint64_t seen = 0;
    pthread_mutex_lock(&par->lock);
    for (;;) {
        while (!par->stop && par->round == seen)
            pthread_cond_wait(&par->cond, &par->lock);
        if (par->stop)
            break;
        seen = par->round;
        pthread_mutex_unlock(&par->lock);
        markctx *c = mark_new(par->h, true, false);
        if (c) {
            c->par = par;
            worker_round(c);
            mark_free(c);
        } else { /* no memory for a stack: sit this round out */
            atomic_fetch_add(&par->idle, 1);
        }
        pthread_mutex_lock(&par->lock);
        par->finished++;
        pthread_cond_broadcast(&par->cond);
    }
    pthread_mutex_unlock(&par->lock);
    return NULL;
}

/* mark_par_new — W-1 helper threads for the collector thread (worker 0);
 * NULL if W < 2 or they cannot be made (marking then stays single). */
mpar *mark_par_new(tc_heap *h, int nw)
{
    if (nw < 2)
        return NULL;
    if (nw > MAX_WORKERS)
        nw = MAX_WORKERS;
    mpar *par = calloc(1, sizeof *par + (size_t)nw * sizeof(wstart));
    if (!par)
        return NULL;
    wstart *ws = (wstart *)(par + 1);
    par->h = h;
    pthread_mutex_init(&par->lock, NULL);
    pthread_cond_init(&par->cond, NULL);
    int started = 1;
    for (int i = 1; i < nw; i++) {
        ws[i].par = par;
        ws[i].idx = i;
        if (pthread_create(&par->threads[i], NULL, worker_main, &ws[i]) != 0)
            break;
        started++;
    }
    par->nw = started; /* fewer workers if threads ran out */
    if (started < 2) {
        mark_par_free(par);
        return NULL;
    }
    return par;
}

void mark_par_free(mpar *par)
{
    if (!par)
        return;
    pthread_mutex_lock(&par->lock);
    par->stop = true;
    pthread_cond_broadcast(&par->cond);
    pthread_mutex_unlock(&par->lock);
    for (int i = 1; i < par->nw; i++)
        pthread_join(par->threads[i], NULL);
    pthread_mutex_destroy(&par->lock);
    pthread_cond_destroy(&par->cond);
    free(par);
}

/* mark_drain_parallel — one round: every worker drains until all the work
 * that is there is done (c is worker 0, the caller's thread). Alone (par
 * NULL), the caller still waits while assists mark: they donate what they
 * find when it is hungry, and give the rest back when they stop. */
void mark_drain_parallel(mpar *par, markctx *c)
{
    tc_heap *h = c->h;
    if (!par) {
        for (;;) {
            mark_drain(c, -1);
            atomic_fetch_add(&h->mark_hungry, 1);
            bool more = idle_wait(h, NULL, 0, NULL);
            atomic_fetch_sub(&h->mark_hungry, 1);
            if (!more)
                return;
        }
    }
    pthread_mutex_lock(&par->lock);
    par->round++;
    atomic_store(&par->done, false);
    atomic_store(&par->idle, 0);
    par->finished = 0;
    pthread_cond_broadcast(&par->cond);
    pthread_mutex_unlock(&par->lock);
    c->par = par;
    worker_round(c);
    c->par = NULL;
    pthread_mutex_lock(&par->lock);
    while (par->finished < par->nw - 1)
        pthread_cond_wait(&par->cond, &par->lock);
    pthread_mutex_unlock(&par->lock);
}
