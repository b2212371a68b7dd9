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
 * speed of a tree, so markers write mark bits with a plain load and store
 * wherever nobody else can write the same word at the same time:
 *
 *   EXCL     a marker alone holds all the bits (h->mark_share is
 *            n << 1 | EXCL, n markers counted). It polls mark_share every
 *            POLL_EVERY candidates; when someone else is counted (waiting to
 *            mark) it clears EXCL and claims from then on. A newcomer starts
 *            marking only once EXCL is clear.
 *   CLAIMS   beside others, a marker owns regions of 2^TC_REGION_SHIFT
 *            bytes (each arena's owner table, one 32-bit entry per region).
 *            Each marker holds a *session* from mode_enter to mode_leave:
 *            a slot in h->sess and a tag (seq << 8 | slot << 1). An entry
 *            is a session's tag (owned), tag | OWN_REQ (owned, another
 *            marker asks for it), epoch << 8 | OWN_SHARED (shared during
 *            the mark of that epoch), or anything else: free (zero, the tag
 *            of a session that has ended, shared in an earlier mark).
 *            A marker writes plainly only in regions whose entry is its own
 *            tag; it claims a free region by CAS; in a shared one it uses
 *            fetch_or. In a region another live session owns it sets
 *            OWN_REQ, queues the entry on that session (sess_ask) and
 *            defers the candidate; the owner, between two candidates (poll,
 *            or when it next marks there), turns tag | OWN_REQ into shared
 *            with a release store, and from then on uses fetch_or there too.
 *            A marker left alone in CLAIMS takes EXCL back (by CAS on
 *            mark_share: nobody else is counted).
 *
 * Why no mark is lost: a plain store can only lose another writer's bit of
 * the same word if that writer writes between its load and its store. A
 * plain writer is either EXCL (no other marker is counted, and whoever was
 * marking before cleared EXCL or left with acq_rel RMWs on mark_share, so
 * its writes happen before) or the owner of the word's region; only the
 * owner ever turns its entry to shared (release, after its last plain store
 * there, which the fetch_or users' acquire load of the entry sees), and a
 * region is claimed again only once free: its session ended (the tag
 * cleared with release after the session's last store, read with acquire),
 * or it was shared in an earlier mark (marks are separated by a pause).
 * Tags reuse 24 bits: an old entry that happens to equal a live session's
 * tag is simply owned by that session, and everybody agrees on that.
 * Every marker enters at the start of mark_drain and leaves when it returns,
 * so EXCL is never held by a thread that waits for anything, and a
 * newcomer's wait is bounded by POLL_EVERY candidates of the holder's work
 * (unless the holder is descheduled: an assist then gives up after a while,
 * mark_drain_assist). Deferred candidates go back to the global queue when
 * their marker leaves. Mutators allocating black write the separate black
 * bits and never take part.
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
 *
 * Out of memory. When no work buffer can be allocated, grey_put drops the
 * candidates and sets h->grey_overflow (bdwgc's mark-stack overflow; a
 * marker whose stack cannot grow hands its candidate to grey_put). The
 * mark may then not end: every dropped candidate was a root, a child of a
 * marked or black object, or an object a barrier shaded, which is reachable
 * only through such an object, a root or not at all (the barrier's
 * argument, barrier.c). So mark termination (or mark_heap) re-pushes every
 * unmarked root and every unmarked child of every marked or black object
 * (mark_rescan) and marks on; whatever was dropped is reached again. Each
 * round marks at least one more object if any is reachable and unmarked
 * (only unmarked candidates are pushed, and a marker's first stack chunk
 * always exists), so the rounds end even if memory never comes back.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "plant.h"
#include "platform.h"

#define STACK_CHUNK (1u << 16) /* entries per mark-stack chunk */
#define PREFETCH_DEPTH 16      /* objects in flight (a power of two) */
#define PROGRESS_EVERY 256     /* objects between progress reports (a power of two) */
#define POLL_EVERY 64          /* candidates between looks at mark_share and mark_hungry (a power of two) */

/* owner-table entries (see the top) */
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
        b = plat_malloc(sizeof *b);
    if (b)
        b->n = 0;
    return b;
}

/* grey_put — append n candidates to the global queue; with no memory for
 * a buffer, drop them and set grey_overflow (see the top). */
void grey_put(tc_heap *h, const uintptr_t *e, size_t n)
{
    plat_lock(&h->grey_lock);
    while (n) {
        wbuf *b = h->grey;
        if (!b || b->n == WBUF_N) {
            b = wbuf_get(h);
            if (!b) {
                atomic_store(&h->grey_overflow, 1);
                break;
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
    else if (!(k = plat_malloc(sizeof *k)))
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

/* defer_flush — deferred candidates to the global queue. */
static void defer_flush(markctx *c)
{
    if (c->ndefer) {
        grey_put(c->h, c->defer, c->ndefer);
        c->ndefer = 0;
    }
}

/* mark_flush — give unfinished work back to the global queue and count
 * what c marked into h->marked_bytes; c stays usable (an assist's marker
 * between assists), with one stack chunk. */
void mark_flush(markctx *c)
{
    defer_flush(c);
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
    free(c->defer);
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
        if ((atomic_load_explicit(&t[i], memory_order_acquire) & TAG_KIND) != TC_REF)
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


/* ---- mark sessions and region ownership (see the top) ---- */

static void sess_lock(struct mark_sess *ss)
{
    int zero = 0;
    while (!atomic_compare_exchange_weak_explicit(&ss->lock, &zero, 1, memory_order_acquire, memory_order_relaxed)) {
        zero = 0;
        plat_cpu_relax();
    }
}

static void sess_unlock(struct mark_sess *ss) { atomic_store_explicit(&ss->lock, 0, memory_order_release); }

/* share_region — the owner turns its entry e to shared (release: after its
 * own plain stores in the region), and counts it. */
static void share_region(markctx *c, _Atomic uint32_t *e)
{
    atomic_store_explicit(e, c->shared, memory_order_release);
    atomic_fetch_add_explicit(&c->h->mark_regions_shared, 1, memory_order_relaxed);
}

/* sess_serve — share the regions other markers asked for (the owner, between
 * two candidates: none of its plain stores is under way). */
static void sess_serve(markctx *c)
{
    struct mark_sess *ss = &c->h->sess[c->sid];
    if (!atomic_load_explicit(&ss->nreq, memory_order_relaxed))
        return;
    sess_lock(ss);
    uint32_t n = atomic_load_explicit(&ss->nreq, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) /* only the owner changes tag|REQ: a plain store will do */
        if (atomic_load_explicit(ss->req[i], memory_order_relaxed) == (c->tag | OWN_REQ))
            share_region(c, ss->req[i]);
    atomic_store_explicit(&ss->nreq, 0, memory_order_relaxed);
    sess_unlock(ss);
}

/* sess_ask — ask session `sid`, which owns the region of entry e (*o, its
 * tag), to share it: set OWN_REQ and queue e. False if e changed (*o is
 * reloaded: look again); with the queue full nothing is asked yet (the
 * caller defers and asks again later). */
static bool sess_ask(tc_heap *h, unsigned sid, _Atomic uint32_t *e, uint32_t *o)
{
    struct mark_sess *ss = &h->sess[sid];
    bool same = true;
    sess_lock(ss);
    uint32_t n = atomic_load_explicit(&ss->nreq, memory_order_relaxed);
    if (n < TC_MARK_REQ) {
        same = atomic_compare_exchange_strong_explicit(e, o, *o | OWN_REQ, memory_order_acq_rel,
                                                       memory_order_acquire);
        if (same) {
            ss->req[n] = e;
            atomic_store_explicit(&ss->nreq, n + 1, memory_order_relaxed);
        }
    }
    sess_unlock(ss);
    return same;
}

/* defer — keep candidate p until its region's owner shares it. */
static void defer(markctx *c, uintptr_t p)
{
    if (c->ndefer == c->defer_cap) {
        size_t cap = c->defer_cap ? 2 * c->defer_cap : 256;
        uintptr_t *d = plat_realloc(c->defer, cap * sizeof *d);
        if (!d) { /* no memory: the global queue keeps it */
            grey_put(c->h, &p, 1);
            return;
        }
        c->defer = d;
        c->defer_cap = cap;
    }
    c->defer[c->ndefer++] = p;
}

/* owners_changed — has some region been shared or some session ended since
 * c last looked (then its deferred candidates may be markable now)? */
static bool owners_changed(markctx *c)
{
    uint64_t seen = atomic_load_explicit(&c->h->mark_regions_shared, memory_order_relaxed) +
                    atomic_load_explicit(&c->h->sess_closed, memory_order_relaxed);
    if (seen == c->owners_seen)
        return false;
    c->owners_seen = seen;
    return true;
}

/* redo_deferred — put the deferred candidates back on the stack, to be
 * looked at again. */
static void redo_deferred(markctx *c)
{
    size_t n = c->ndefer;
    c->ndefer = 0;
    for (size_t i = 0; i < n; i++)
        push(c, c->defer[i]);
}

/* mark_claim — try_mark for a candidate in a region this session does not
 * own (yet): claim the region if it is free, mark with fetch_or if it is
 * shared, ask its owner to share it and defer p if another session owns it. */
static __attribute__((noinline)) bool mark_claim(markctx *c, uintptr_t p, arena *a, _Atomic uint64_t *w,
                                                 uint64_t bit)
{
    _Atomic uint32_t *e = &a->owners[(p - a->base) >> TC_REGION_SHIFT];
    uint32_t o = atomic_load_explicit(e, memory_order_acquire);
    for (;;) {
        if (o == c->tag)
            break;
        if (o == c->shared)
            return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
        if (o == (c->tag | OWN_REQ)) { /* asked: share it now */
            share_region(c, e);
            return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
        }
        if (o && !(o & OWN_SHARED)) {
            unsigned sid = (unsigned)(o >> 1) & (TC_MARK_SESSIONS - 1);
            /* acquire: if the owner's session has ended, its plain stores are seen */
            if (atomic_load_explicit(&c->h->sess[sid].tag, memory_order_acquire) == (o & ~(uint32_t)OWN_REQ)) {
                if (!(o & OWN_REQ) && !sess_ask(c->h, sid, e, &o))
                    continue;
                defer(c, p);
                return false;
            }
        }
        /* free: never owned, owned by a session that has ended, or shared
         * in an earlier mark */
        if (atomic_compare_exchange_weak_explicit(e, &o, c->tag, memory_order_acq_rel, memory_order_acquire))
            break;
    }
    uint64_t old = atomic_load_explicit(w, memory_order_relaxed); /* again: the previous owner's stores are seen */
    if (old & bit)
        return false;
    atomic_store_explicit(w, old | bit, memory_order_relaxed);
    return true;
}

/* try_mark — set the mark bit of candidate p (its word w and bit already
 * computed); false if it was set, p is no object of this heap, or it was
 * deferred. Concurrently, a plain store only in a region this session owns. */
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

/* sess_open — take a session slot and a fresh tag; false if no slot is
 * free and c is an assist (others wait for one; assists may use only the
 * slots above the mark workers'). */
static bool sess_open(markctx *c, bool assist)
{
    tc_heap *h = c->h;
    uint64_t barred = assist ? ((uint64_t)1 << MAX_WORKERS) - 1 : 0;
    uint64_t used = atomic_load_explicit(&h->sess_used, memory_order_relaxed);
    for (;;) {
        uint64_t avail = ~used & ~barred;
        if (!avail) {
            if (assist)
                return false;
            sched_yield();
            used = atomic_load_explicit(&h->sess_used, memory_order_relaxed);
            continue;
        }
        int sid = __builtin_ctzll(avail);
        if (atomic_compare_exchange_weak_explicit(&h->sess_used, &used, used | (uint64_t)1 << sid,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            c->sid = sid;
            break;
        }
    }
    uint64_t seq = atomic_fetch_add_explicit(&h->sess_seq, 1, memory_order_relaxed) % 0xffffff + 1;
    c->tag = (uint32_t)(seq << 8 | (uint64_t)c->sid << 1);
    c->shared = (uint32_t)((atomic_load_explicit(&h->mark_epoch, memory_order_relaxed) & 0xffffff) << 8 | OWN_SHARED);
    struct mark_sess *ss = &h->sess[c->sid];
    sess_lock(ss);
    atomic_store_explicit(&ss->nreq, 0, memory_order_relaxed); /* asked of an earlier session */
    atomic_store_explicit(&ss->tag, c->tag, memory_order_release);
    sess_unlock(ss);
    return true;
}

/* sess_close — the regions the session owns are free from the moment its
 * tag is cleared (release: after its last plain store). */
static void sess_close(markctx *c)
{
    tc_heap *h = c->h;
    atomic_store_explicit(&h->sess[c->sid].tag, 0, memory_order_release);
    atomic_fetch_add_explicit(&h->sess_closed, 1, memory_order_relaxed);
    atomic_fetch_and_explicit(&h->sess_used, ~((uint64_t)1 << c->sid), memory_order_acq_rel);
}

/* mode_enter — open a session and get the right to mark: alone (EXCL) or
 * beside others (CLAIMS). With wait_ns > 0 (an assist), false if no
 * session slot is free or the holder of EXCL has not shared within wait_ns
 * (it may have been descheduled: the assist then does something else rather
 * than spin behind it). */
static bool mode_enter(markctx *c, uint64_t wait_ns)
{
    if (!sess_open(c, wait_ns > 0))
        return false;
    _Atomic uint64_t *s = &c->h->mark_share;
    uint64_t zero = 0;
    if (atomic_compare_exchange_strong_explicit(s, &zero, SHARE_ONE | SHARE_EXCL, memory_order_acq_rel,
                                                memory_order_relaxed)) {
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
                sess_close(c);
                return false;
            }
        }
        sched_yield(); /* the holder may be descheduled */
    }
    c->mode = MODE_CLAIMS;
    return true;
}

/* mode_leave — deferred work goes to the global queue, then the session
 * closes and the marker stops counting (mark_quiet). */
static void mode_leave(markctx *c)
{
    defer_flush(c);
    sess_close(c);
    atomic_fetch_sub_explicit(&c->h->mark_share, c->mode == MODE_EXCL ? SHARE_ONE | SHARE_EXCL : SHARE_ONE,
                              memory_order_acq_rel);
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
    if (c->mode == MODE_EXCL && s > (SHARE_ONE | SHARE_EXCL)) { /* someone waits: claim from now on */
        atomic_fetch_sub_explicit(&h->mark_share, SHARE_EXCL, memory_order_acq_rel);
        c->mode = MODE_CLAIMS;
    } else if (c->mode == MODE_CLAIMS) {
        sess_serve(c);
        if (s == SHARE_ONE && !c->ndefer && /* alone again: the bits are ours */
            atomic_compare_exchange_strong_explicit(&h->mark_share, &s, SHARE_ONE | SHARE_EXCL,
                                                    memory_order_acq_rel, memory_order_relaxed))
            c->mode = MODE_EXCL;
    }
    if (c->ndefer && owners_changed(c))
        redo_deferred(c);
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
        if (!c->count) {
            /* only work that waits for other sessions to share left: an
             * unbounded drain (a mark worker) serves its own askers and
             * waits a little, looking again whenever some region was
             * shared or some session ended; then (and in bounded drains:
             * assists, slices) mode_leave gives it to the global queue */
            if (concurrent && c->ndefer && budget < 0 && c->defer_spins < DEFER_SPINS) {
                c->defer_spins++;
                sess_serve(c);
                if (owners_changed(c))
                    redo_deferred(c);
                else
                    plat_cpu_relax();
                continue;
            }
            c->defer_spins = 0;
            return true;
        }
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
 * another marker held the bits for longer than wait_ns, or (wait_ns > 0)
 * every session slot open to assists is taken (wait_ns 0: neither). */
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
/* mark_count — objects this marker has marked since mark_flush last counted them. */
uint64_t mark_count(const markctx *c) { return c->marked_objects; }

/* marked — is p already marked in the bits c marks into? */
static bool marked(const markctx *c, uintptr_t p)
{
    arena *a = arena_of(p);
    return a && bit_test(c->check ? a->checkbits : a->markbits, a, p);
}

/* push_root — a root, unless mark_rescan runs and it is marked already. */
static inline void push_root(markctx *c, uintptr_t p)
{
    if (!c->rescan || !marked(c, p))
        push(c, p);
}

/* rescan_children — push p's referents that are not marked yet (scan
 * skips marked ones only for the real mark). */
static void rescan_children(markctx *c, uintptr_t p)
{
    const tc_obj *o = (const tc_obj *)p;
    for (uint32_t i = 0; i < obj_nslots(o); i++) {
        if ((atomic_load_explicit(&obj_tags(o)[i], memory_order_acquire) & TAG_KIND) != TC_REF)
            continue;
        uintptr_t q = atomic_load_explicit(&obj_words(o)[i], memory_order_relaxed);
        if (arena_of(q) && !marked(c, q))
            push(c, q);
    }
}

void mark_push_children(markctx *c, uintptr_t p)
{
    if (c->rescan)
        rescan_children(c, p);
    else
        scan(c, p);
}
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

/* mark_debug_pair — test hook: c's work marked by two markers that take
 * turns on this thread, `slice` objects at a time, both claiming regions as
 * two threads marking at once do (the first gives half its stack to the
 * second after each turn), so that asking, deferring and sharing happen in
 * an order a test can rely on. */
void mark_debug_pair(markctx *c, int64_t slice)
{
    tc_heap *h = c->h;
    markctx *m[2] = {mark_new(h, true, false), mark_new(h, true, false)};
    if (m[0] && m[1]) {
        mark_flush(c); /* its work to the global queue */
        for (int i = 0; i < 2; i++) {
            sess_open(m[i], false);
            atomic_fetch_add(&h->mark_share, SHARE_ONE);
            m[i]->mode = MODE_CLAIMS;
        }
        for (;;) {
            bool d0 = drain(m[0], slice, true);
            donate(m[0]);
            bool d1 = drain(m[1], slice, true);
            sess_serve(m[0]);
            sess_serve(m[1]);
            if (d0 && d1 && !m[0]->ndefer && !m[1]->ndefer && grey_empty(h))
                break;
            redo_deferred(m[0]);
            redo_deferred(m[1]);
        }
        mode_leave(m[0]);
        mode_leave(m[1]);
    }
    mark_free(m[0]);
    mark_free(m[1]);
}

/* mark_push_handles — every live handle; safe while mutators create and
 * release handles (barrier.c says why). A handle to an object freed with
 * tc_obj_free gets the freed bit here and marks nothing (special.c): only
 * while such objects wait, and then one header load per handle. */
void mark_push_handles(markctx *c)
{
    tc_heap *h = c->h;
    bool freed = atomic_load(&h->freed_pending) != 0;
    plat_lock(&h->roots_lock);
    root_chunk *first = h->root_chunks;
    pthread_mutex_unlock(&h->roots_lock);
    for (root_chunk *k = first; k; k = k->next, atomic_fetch_add_explicit(&h->roots_visited, ROOT_CHUNK,
                                                                        memory_order_relaxed))
        for (size_t i = 0; i < ROOT_CHUNK - (size_t)planted(PLANT_ROOTS_SKIP_LAST); i++) {
            uintptr_t v = atomic_load_explicit(&k->slot[i], memory_order_acquire);
            if (!v || (v & 3)) /* a free link (1), a freed object (2) */
                continue;
            if (freed && obj_freed((const tc_obj *)v)) /* a released slot keeps its new value */
                atomic_compare_exchange_strong(&k->slot[i], &v, v | 2);
            else
                push_root(c, v);
        }
}

/* mark_push_locals — every mutator's local roots (world stopped). */
void mark_push_locals(markctx *c)
{
    pthread_mutex_lock(&c->h->mut_lock);
    for (tc_mutator *m = c->h->mutators; m; m = m->next)
        for (size_t i = 0; i < m->nlocals; i++)
            if (m->locals[i])
                push_root(c, (uintptr_t)m->locals[i]);
    pthread_mutex_unlock(&c->h->mut_lock);
}

/* rescan_arena — the unmarked children of every marked (for the real
 * mark: or black) object of arena a. Only reads: safe beside mutators and
 * markers (an object's header is written before its alloc bit, released). */
static void rescan_arena(markctx *c, arena *a)
{
    _Atomic uint64_t *done = c->check ? a->checkbits : a->markbits;
    size_t words = (atomic_load_explicit(&a->frontier, memory_order_acquire) << TC_PAGE_SHIFT) >> 9;
    for (size_t w = 0; w < words; w++) {
        uint64_t live = atomic_load_explicit(&done[w], memory_order_relaxed);
        if (!c->check)
            live |= atomic_load_explicit(&a->blackbits[w], memory_order_relaxed);
        for (uint64_t bits = live & atomic_load_explicit(&a->allocbits[w], memory_order_acquire); bits;
             bits &= bits - 1)
            rescan_children(c, a->base + ((w * 64 + (size_t)__builtin_ctzll(bits)) << 3));
    }
}

/* mark_rescan_locals, mark_rescan — after candidates were dropped (see the
 * top): every unmarked local (world stopped), and every unmarked handle,
 * finalizer root and child of a marked or black object (safe beside
 * mutators: it only reads). */
void mark_rescan_locals(markctx *c)
{
    c->rescan = true;
    mark_push_locals(c);
    c->rescan = false;
}

void mark_rescan(markctx *c)
{
    tc_heap *h = c->h;
    arena *as[TC_MAX_ARENAS];
    c->rescan = true;
    mark_push_handles(c);
    special_push_finalizer_roots(c);
    plat_lock(&h->lock); /* arenas are added under it */
    int n = h->narenas;
    memcpy(as, h->arenas, (size_t)n * sizeof *as);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < n; i++)
        rescan_arena(c, as[i]);
    c->rescan = false;
}

static bool ensure_checkbits(tc_heap *h)
{
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        if (!a->checkbits && !(a->checkbits = plat_map_lazy(a->size / 64)))
            return false;
    }
    return true;
}

/* mark_heap — mark everything reachable from the roots, world stopped, into
 * the mark bits (or with `check` the checkmark bits). false if there was no
 * memory for the marker (or the check bitmap): then nothing was marked. */
bool mark_heap(tc_heap *h, bool check)
{
    if (check && !ensure_checkbits(h))
        return false;
    markctx *c = mark_new(h, false, check);
    if (!c)
        return false;
    mark_push_handles(c);
    mark_push_locals(c);
    special_push_finalizer_roots(c);
    mark_drain(c, -1);
    while (atomic_exchange(&h->grey_overflow, 0)) { /* candidates were dropped: see the top */
        mark_rescan_locals(c);
        mark_rescan(c);
        mark_drain(c, -1);
    }
    if (check)
        c->marked_objects = 0; /* the real count is the real mark's */
    mark_free(c);
    return true;
}

/* mark_keep_all — every allocated object counts as marked: a stop-the-world
 * cycle that could not mark sweeps nothing rather than everything. */
void mark_keep_all(tc_heap *h)
{
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        size_t words = (atomic_load(&a->frontier) << TC_PAGE_SHIFT) >> 9;
        for (size_t w = 0; w < words; w++)
            atomic_fetch_or_explicit(&a->markbits[w], atomic_load_explicit(&a->allocbits[w], memory_order_relaxed),
                                     memory_order_relaxed);
    }
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
    char name[28];
    snprintf(name, sizeof name, "mark worker %d", ws->idx);
    ev_name_thread(par->h, name);
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
            uint64_t t0 = plat_now_ns();
            worker_round(c);
            ev_record(par->h, EV_MARK, t0, plat_now_ns(), mark_bytes(c));
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
    mpar *par = plat_calloc(1, sizeof *par + (size_t)nw * sizeof(wstart));
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

/* mark_par_fork_lock, mark_par_fork_unlock — fork.c: the workers are idle
 * (no cycle runs); their lock is taken so none is half-way through it. */
void mark_par_fork_lock(mpar *par)
{
    if (par)
        pthread_mutex_lock(&par->lock);
}

void mark_par_fork_unlock(mpar *par)
{
    if (par)
        pthread_mutex_unlock(&par->lock);
}

/* mark_par_forget — in a fork's child, where the worker threads do not
 * exist: free the struct without joining them. */
void mark_par_forget(mpar *par)
{
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
