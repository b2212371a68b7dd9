/*
 * markctx.h — the marker's private state, shared by the marking files only
 * (drain.c, greyq.c, share.c, markroots.c, checkmark.c, workers.c); the
 * rest of the core sees markctx as opaque through mark.h.
 *
 * A marker is a markctx: its mark stack (chunks of STACK_CHUNK candidate
 * addresses, never recursion), its two prefetch rings (drain.c: PREFETCH_DEPTH
 * candidates whose mark words are in flight, and GREY_DEPTH objects marked
 * and waiting for their own lines before they are scanned), its mark
 * session (share.c) and its counts. The
 * inline fast paths the drain loop is built from live here so that every
 * file that marks compiles them into its own loop: push and pop_refill
 * (the stack; drain pops from its locals), try_mark (the mark bit,
 * share.c's plain-store rule) and scan.
 *
 * Invariants:
 *  - a markctx is used by one thread at a time (its owner: the collector
 *    thread, a mark worker, or a mutator paying an assist);
 *  - a candidate is on exactly one of: c's stack, c's ring, c's deferred
 *    list, the global grey queue (greyq.c) — or it was tested-and-marked;
 *    nothing else drops it (no memory: grey_put sets grey_overflow, and
 *    markroots.c's rescan finds it again);
 *  - an object c marked is in c's grey ring until c scans it, and the grey
 *    ring is empty whenever drain returns (it holds marked objects, which a
 *    candidate queue could not take back: their mark bits are set), so
 *    mark_flush and other markers never see it;
 *  - c's first stack chunk always exists (mark_new fails without it), so a
 *    push that cannot grow the stack still has somewhere to go: grey_put;
 *  - c writes mark bits with a plain store only when c->mode is MODE_EXCL,
 *    or the region's owner-table entry is c->tag (share.c says why);
 *  - a concurrent marker marks mark bits, never check bits (a checkmark
 *    stops the world), so the word beside its mark word is the alloc word
 *    that validates the candidate (try_mark).
 */
#ifndef TC_MARKCTX_H
#define TC_MARKCTX_H
#include "heap.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define STACK_CHUNK (1u << 16) /* entries per mark-stack chunk */
#ifndef PREFETCH_DEPTH
#define PREFETCH_DEPTH 16      /* candidates whose mark words are in flight (a power of two) */
#endif
#ifndef GREY_DEPTH
#define GREY_DEPTH 16          /* marked objects whose lines are in flight (a power of two) */
#endif
#define PROGRESS_EVERY 256     /* objects between progress reports (a power of two) */
#define POLL_EVERY 64          /* candidates between looks at mark_share and mark_hungry (a power of two) */

/* owner-table entries (share.c) */
#define OWN_REQ 1u          /* owned: another marker asks the owner to share the region */
#define OWN_SHARED 0x80u    /* shared: epoch << 8 | OWN_SHARED */
enum { MODE_OFF, MODE_EXCL, MODE_CLAIMS }; /* a marker's right to the mark bits */
#define SHARE_EXCL 1u
#define SHARE_ONE 2u
#define DEFER_SPINS 4096    /* pause rounds a marker with only deferred work waits for owners */
#define MAX_WORKERS 16      /* mark worker threads at most (session slots kept for them) */

typedef struct stack_chunk {
    struct stack_chunk *prev;
    uintptr_t e[STACK_CHUNK];
} stack_chunk;

typedef struct mpar mpar;

struct markctx {
    tc_heap *h;
    bool concurrent, check;
    bool rescan;        /* mark_rescan: push only roots and children not marked yet */
    mpar *par;          /* parallel marking: the workers (NULL: alone) */
    int mode;           /* MODE_*: how this marker may write mark bits now */
    int sid;            /* session slot */
    uint32_t tag;       /* this session's tag: seq << 8 | sid << 1 (seq: 24 bits, never 0) */
    uint32_t shared;    /* this cycle's shared entry: epoch << 8 | OWN_SHARED (epoch: 24 bits) */
    uintptr_t *defer;   /* candidates in regions another session owns, waiting for it to share */
    size_t ndefer, defer_cap;
    unsigned defer_spins; /* rounds waited with nothing but deferred work */
    uint64_t owners_seen; /* regions shared + sessions ended, when the deferred work was last looked at */
    unsigned tick;      /* candidates taken, for polling */
    stack_chunk *top;   /* current chunk */
    size_t n;           /* entries used in top */
    stack_chunk *spare; /* one free chunk kept to avoid thrashing at a boundary */
    uintptr_t ring[PREFETCH_DEPTH];           /* candidates in flight */
    _Atomic uint64_t *ring_w[PREFETCH_DEPTH]; /* their mark words (drain.c's no_pair: not in this heap) */
    arena *ring_a[PREFETCH_DEPTH];            /* their arenas (unset for no_pair) */
    uint64_t ring_bit[PREFETCH_DEPTH];
    unsigned head, count;
    uintptr_t grey[GREY_DEPTH];               /* marked, prefetched, to be scanned */
    unsigned ghead, gcount;
    uint64_t marked_objects, marked_bytes;
    uint64_t published;  /* marked_bytes already added to h->mark_progress */
    uint64_t avg_bytes;  /* bytes per object, from the last sweep: marked_bytes is an estimate */
};

bool stack_grow(markctx *c);                      /* greyq.c: a new top chunk; false: no memory */
size_t grey_take(tc_heap *h, uintptr_t *out);     /* greyq.c: one buffer of candidates, 0 if none */
bool mark_claim(markctx *c, uintptr_t p, arena *a, _Atomic uint64_t *w, uint64_t bit); /* share.c: try_mark's slow path */

static inline void push(markctx *c, uintptr_t p)
{
    if (__builtin_expect(c->n == STACK_CHUNK, 0) && !stack_grow(c)) {
        grey_put(c->h, &p, 1); /* no memory for a chunk: hand it to the global queue */
        return;
    }
    c->top->e[c->n++] = p;
}

/* pop_refill — with c's stack empty (c->n 0), the chunk below the top,
 * or one buffer from the global queue, but that only when nothing is in
 * flight (!inflight: both of drain's rings are empty: a list would
 * otherwise ask the shared queue once per node); false if neither. */
static inline bool pop_refill(markctx *c, bool inflight)
{
    stack_chunk *k = c->top;
    if (!k->prev) {
        if (inflight)
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
    return true;
}

/* mark_valid — set the mark bit of candidate p, known to be an allocated
 * object start of this heap (or marked stop-the-world); false if it was set
 * or it was deferred. Concurrently, a plain store only in a region this
 * session owns (share.c). */
static inline __attribute__((always_inline)) bool mark_valid(markctx *c, uintptr_t p, arena *a, _Atomic uint64_t *w,
                                                             uint64_t bit, bool concurrent)
{
    uint64_t old = atomic_load_explicit(w, memory_order_relaxed);
    if (old & bit)
        return false;
    if (concurrent && c->mode != MODE_EXCL) {
        /* acquire: a region shared by its owner is seen after its plain stores */
        uint32_t o = atomic_load_explicit(&a->owners[(p - a->base) >> TC_REGION_SHIFT], memory_order_acquire);
        if (o == c->shared)
            return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
        if (o != c->tag)
            return mark_claim(c, p, a, w, bit);
    }
    atomic_store_explicit(w, old | bit, memory_order_relaxed);
    return true;
}

/* obj_start — concurrently, is p (in arena a, of this heap) an allocated
 * object start? Its alloc bit is in the word beside its mark word w, in the
 * same cache line (span.h): an 8-aligned address whose alloc bit is set is
 * an object start, and the acquire load sees its header (written before the
 * bit, released: alloc.h). */
static inline bool obj_start(uintptr_t p, _Atomic uint64_t *w, uint64_t bit)
{
    return !(p & 7) && (atomic_load_explicit(pair_alloc(w), memory_order_acquire) & bit);
}

/* try_mark — set the mark bit of candidate p (its word w and bit already
 * computed); false if it was set, p is no object of this heap, or it was
 * deferred. A concurrent candidate is validated first (obj_start). */
static inline __attribute__((always_inline)) bool try_mark(markctx *c, uintptr_t p, arena *a, _Atomic uint64_t *w,
                                                           uint64_t bit, bool concurrent)
{
    if (!w)
        return false;
    if (concurrent && (a->heap != c->h || !obj_start(p, w, bit)))
        return false;
    return mark_valid(c, p, a, w, bit, concurrent);
}

/* scan — push every reference held by object p. Nothing is filtered here:
 * whether a referent is marked already is decided when it leaves the
 * prefetch ring, whose mark word was prefetched (testing it here was a
 * cache miss per reference in a random graph, issue 16). The stack's top
 * and fill are kept in locals across the slot loop: each tag is an acquire
 * load (obj.h: the tag before the word), after which the compiler would
 * otherwise reload every field of c. */
/* scan_two — the references held by two-slot object o (a list's or a
 * tree's node: the common shape) into e[sn], e[sn + 1]; the new fill. */
static inline __attribute__((always_inline)) size_t scan_two(const tc_obj *o, uintptr_t *e, size_t sn)
{
    _Atomic uint64_t *w = obj_words(o);
    _Atomic uint8_t *t = obj_tags(o);
    uint8_t t0 = atomic_load_explicit(&t[0], memory_order_acquire);
    uint8_t t1 = atomic_load_explicit(&t[1], memory_order_acquire);
    if ((t0 & TAG_KIND) == TC_REF)
        e[sn++] = atomic_load_explicit(&w[0], memory_order_relaxed);
    if ((t1 & TAG_KIND) == TC_REF)
        e[sn++] = atomic_load_explicit(&w[1], memory_order_relaxed);
    return sn;
}

static inline __attribute__((always_inline)) void scan(markctx *c, uintptr_t p)
{
    const tc_obj *o = (const tc_obj *)p;
    uint32_t n = obj_nslots(o);
    uintptr_t *e = c->top->e;
    size_t sn = c->n;
    if (n == 2 && sn <= STACK_CHUNK - 2) { /* no slot loop */
        c->n = scan_two(o, e, sn);
        return;
    }
    _Atomic uint64_t *w = obj_words(o);
    _Atomic uint8_t *t = obj_tags(o);
    for (uint32_t i = 0; i < n; i++) {
        if ((atomic_load_explicit(&t[i], memory_order_acquire) & TAG_KIND) != TC_REF)
            continue;
        uintptr_t q = atomic_load_explicit(&w[i], memory_order_relaxed);
        if (__builtin_expect(sn == STACK_CHUNK, 0)) {
            c->n = sn;
            push(c, q);
            e = c->top->e;
            sn = c->n;
            continue;
        }
        e[sn++] = q;
    }
    c->n = sn;
}

/* share.c: mark sessions and region ownership */
bool sess_open(markctx *c, bool assist);          /* a session slot and a fresh tag */
void sess_serve(markctx *c);                      /* share the regions others asked for (owner) */
bool mode_enter(markctx *c, uint64_t wait_ns);    /* open a session and get the right to mark */
void mode_leave(markctx *c);                      /* deferred work back, session closed */
void defer_flush(markctx *c);                     /* deferred candidates to the global queue */
bool owners_changed(markctx *c);                  /* may deferred candidates be markable now? */
void redo_deferred(markctx *c);                   /* deferred candidates back on the stack */

#pragma GCC visibility pop
#endif
