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
 * Mark bits have one writer, the marker (the collector thread, or the one
 * incremental slice holding mark_lock): mutators allocating black write the
 * separate black bits. So a mark is a plain load and store, not a locked
 * read-modify-write, which would stall the prefetches in flight.
 *
 * Grey work moves between threads in buffers of WBUF_N addresses: mutators
 * shading through the write barrier fill a small private buffer and flush it
 * to the global queue (grey_lock) when it fills, when they leave a heap call
 * and when they park; markers take buffers from the global queue when their
 * own stack runs dry. With the world stopped every mutator buffer is empty,
 * so "global queue empty and the marker's stack empty" means marking is done.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "platform.h"

#define STACK_CHUNK (1u << 16) /* entries per mark-stack chunk */
#define PREFETCH_DEPTH 16      /* objects in flight (a power of two) */
#define PROGRESS_EVERY 256     /* objects between progress reports (a power of two) */

typedef struct stack_chunk {
    struct stack_chunk *prev;
    uintptr_t e[STACK_CHUNK];
} stack_chunk;

typedef struct mpar mpar;

struct markctx {
    tc_heap *h;
    bool concurrent, check;
    mpar *par;          /* parallel marking: the workers (NULL: alone) */
    int me;             /* this marker's worker index */
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
    pthread_mutex_lock(&h->grey_lock);
    while (n) {
        wbuf *b = h->grey;
        if (!b || b->n == WBUF_N) {
            b = wbuf_get(h);
            if (!b) { /* keep the work: it must not be lost; grow the current one's list by spinning */
                pthread_mutex_unlock(&h->grey_lock);
                plat_heavy_fence();
                pthread_mutex_lock(&h->grey_lock);
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
    pthread_mutex_lock(&h->grey_lock);
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
    pthread_mutex_lock(&h->grey_lock);
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

static size_t inbox_take(markctx *c, uintptr_t *out);
static void route(markctx *c, uintptr_t p);
static inline bool foreign(const markctx *c, uintptr_t p);

static inline bool pop(markctx *c, uintptr_t *p)
{
    if (__builtin_expect(c->n == 0, 0)) {
        stack_chunk *k = c->top;
        if (!k->prev) {
            /* refill from this worker's inbox, then the global queue — but
             * only once the objects in flight are done too: a list would
             * otherwise ask the shared queue once per node */
            if (c->count)
                return false;
            size_t n = c->par ? inbox_take(c, k->e) : 0;
            if (!n)
                n = grey_take(c->h, k->e);
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
    markctx *c = calloc(1, sizeof *c);
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

/* mark_free — give unfinished work back to the global queue, free c. */
void mark_free(markctx *c)
{
    if (!c)
        return;
    if (c->count) {
        uintptr_t tmp[PREFETCH_DEPTH];
        for (unsigned i = 0; i < c->count; i++)
            tmp[i] = c->ring[(c->head + i) % PREFETCH_DEPTH];
        grey_put(c->h, tmp, c->count);
    }
    while (c->top) {
        stack_chunk *k = c->top;
        if (c->n)
            grey_put(c->h, k->e, c->n);
        c->top = k->prev;
        c->n = c->top ? STACK_CHUNK : 0;
        free(k);
    }
    free(c->spare);
    atomic_fetch_add(&c->h->marked_bytes, c->marked_objects * c->avg_bytes);
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
    /* one marker writes this word (mutators write black bits) */
    atomic_store_explicit(w, old | bit, memory_order_relaxed);
    return true;
}

/* drain — the marking loop, specialised for stop-the-world (no validation,
 * no byte count: the sweep counts) and concurrent marking. A candidate's
 * mark word is computed once, when it is prefetched. */
static inline __attribute__((always_inline)) bool drain(markctx *c, int64_t budget, bool concurrent)
{
    for (;;) {
        uintptr_t p;
        while (c->count < PREFETCH_DEPTH && pop(c, &p)) {
            if (concurrent && c->par && foreign(c, p)) { /* another worker owns its mark bit */
                route(c, p);
                continue;
            }
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
        if (!try_mark(c, p, c->ring_a[slot], c->ring_w[slot], c->ring_bit[slot], concurrent))
            continue;
        c->marked_objects++;
        if (concurrent && !(c->marked_objects & (PROGRESS_EVERY - 1))) { /* let assists see the work done */
            c->marked_bytes = c->marked_objects * c->avg_bytes;
            atomic_fetch_add_explicit(&c->h->mark_progress, c->marked_bytes - c->published, memory_order_relaxed);
            c->published = c->marked_bytes;
        }
        scan(c, p);
        if (budget > 0)
            budget--;
    }
}

/* mark_drain — test-and-mark-and-scan candidates until no work is left
 * (true) or `budget` objects were scanned (false; budget < 0: no limit). */
bool mark_drain(markctx *c, int64_t budget)
{
    return c->concurrent ? drain(c, budget, true) : drain(c, budget, false);
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
    if (try_mark(c, p, a, w, bit, true))
        scan(c, p);
}

/* mark_push_handles — every live handle; safe while mutators create and
 * release handles (barrier.c says why). */
void mark_push_handles(markctx *c)
{
    tc_heap *h = c->h;
    pthread_mutex_lock(&h->roots_lock);
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
 * thread is worker 0). Mark bits keep a single writer: the heap's address
 * space is dealt out in 4 MiB stripes, stripe k to worker k % W, and only a
 * stripe's owner tests and sets its mark bits. A worker that pops a
 * candidate it does not own routes it to the owner's outbox (OUTBOX_N
 * entries, then a buffer into the owner's inbox). So marking stays a plain
 * load and store, and the workers share work the way the graph spreads over
 * the address space.
 *
 * A round ends when every worker is idle with its inbox empty and the global
 * queue empty; mutators may still flush grey work after that, which mark
 * termination finds (the world stopped) and sends back to marking.
 */

#define PAR_SHIFT 22   /* stripe size: 4 MiB (a multiple of a bitmap word's 512 bytes) */
#define OUTBOX_N 256
#define MAX_WORKERS 16

typedef struct mworker {
    pthread_mutex_t lock;          /* inbox */
    wbuf *inbox;
    _Atomic size_t inbox_n;
    uintptr_t out[MAX_WORKERS][OUTBOX_N];
    uint32_t nout[MAX_WORKERS];
} mworker;

struct mpar {
    tc_heap *h;
    int nw;
    mworker *w;                    /* nw workers */
    pthread_mutex_t lock;          /* rounds and idleness */
    pthread_cond_t cond;
    uint64_t round;
    int idle, finished;
    bool done, stop;
    pthread_t threads[MAX_WORKERS];
};

static inline int owner_of(const mpar *par, uintptr_t p) { return (int)((p >> PAR_SHIFT) % (unsigned)par->nw); }
static inline bool foreign(const markctx *c, uintptr_t p) { return owner_of(c->par, p) != c->me; }

static void deliver(markctx *c, int to)
{
    mpar *par = c->par;
    mworker *me = &par->w[c->me], *dst = &par->w[to];
    uint32_t n = me->nout[to];
    if (!n)
        return;
    wbuf *b = malloc(sizeof *b);
    if (!b) { /* no memory: hand them to the global queue, any worker takes them */
        grey_put(c->h, me->out[to], n);
    } else {
        b->n = n;
        memcpy(b->e, me->out[to], n * sizeof *b->e);
        pthread_mutex_lock(&dst->lock);
        b->next = dst->inbox;
        dst->inbox = b;
        atomic_fetch_add(&dst->inbox_n, 1);
        pthread_mutex_unlock(&dst->lock);
    }
    me->nout[to] = 0;
    pthread_mutex_lock(&par->lock);
    pthread_cond_broadcast(&par->cond);
    pthread_mutex_unlock(&par->lock);
}

static void route(markctx *c, uintptr_t p)
{
    int to = owner_of(c->par, p);
    mworker *me = &c->par->w[c->me];
    me->out[to][me->nout[to]++] = p;
    if (me->nout[to] == OUTBOX_N)
        deliver(c, to);
}

static size_t inbox_take(markctx *c, uintptr_t *out)
{
    mworker *me = &c->par->w[c->me];
    if (!atomic_load_explicit(&me->inbox_n, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&me->lock);
    wbuf *b = me->inbox;
    size_t n = 0;
    if (b) {
        me->inbox = b->next;
        atomic_fetch_sub(&me->inbox_n, 1);
        n = b->n;
        memcpy(out, b->e, n * sizeof *out);
    }
    pthread_mutex_unlock(&me->lock);
    free(b);
    return n;
}

static bool inboxes_empty(mpar *par)
{
    for (int i = 0; i < par->nw; i++)
        if (atomic_load(&par->w[i].inbox_n))
            return false;
    return true;
}

/* worker_round — drain until the whole round is done. */
static void worker_round(markctx *c)
{
    mpar *par = c->par;
    mworker *me = &par->w[c->me];
    for (;;) {
        mark_drain(c, -1);
        for (int to = 0; to < par->nw; to++)
            deliver(c, to);
        pthread_mutex_lock(&par->lock);
        par->idle++;
        for (;;) {
            if (par->done)
                break;
            if (atomic_load(&me->inbox_n) || !grey_empty(c->h))
                break;
            if (par->idle == par->nw && inboxes_empty(par)) {
                par->done = true;
                pthread_cond_broadcast(&par->cond);
                break;
            }
            pthread_cond_wait(&par->cond, &par->lock);
        }
        bool done = par->done;
        if (!done)
            par->idle--;
        pthread_mutex_unlock(&par->lock);
        if (done)
            return;
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
            c->me = ws->idx;
            worker_round(c);
            mark_free(c);
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
    if (!par || !(par->w = calloc((size_t)nw, sizeof *par->w))) {
        free(par);
        return NULL;
    }
    wstart *ws = (wstart *)(par + 1);
    par->h = h;
    par->nw = nw;
    pthread_mutex_init(&par->lock, NULL);
    pthread_cond_init(&par->cond, NULL);
    for (int i = 0; i < nw; i++)
        pthread_mutex_init(&par->w[i].lock, NULL);
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
    for (int i = 0; i < par->nw; i++) {
        while (par->w[i].inbox) {
            wbuf *b = par->w[i].inbox;
            par->w[i].inbox = b->next;
            free(b);
        }
        pthread_mutex_destroy(&par->w[i].lock);
    }
    pthread_mutex_destroy(&par->lock);
    pthread_cond_destroy(&par->cond);
    free(par->w);
    free(par);
}

/* mark_drain_parallel — one round: every worker drains until all the work
 * that is there is done (c is worker 0, the caller's thread). */
void mark_drain_parallel(mpar *par, markctx *c)
{
    if (!par) {
        mark_drain(c, -1);
        return;
    }
    pthread_mutex_lock(&par->lock);
    par->round++;
    par->done = false;
    par->idle = par->finished = 0;
    pthread_cond_broadcast(&par->cond);
    pthread_mutex_unlock(&par->lock);
    c->par = par;
    c->me = 0;
    worker_round(c);
    c->par = NULL;
    pthread_mutex_lock(&par->lock);
    while (par->finished < par->nw - 1)
        pthread_cond_wait(&par->cond, &par->lock);
    pthread_mutex_unlock(&par->lock);
}
