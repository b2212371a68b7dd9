/*
 * drain.c — the marking loop: tri-color marking with explicit grey work,
 * never recursion, and the marker's life (mark_new, mark_flush, mark_free).
 *
 * Colours: an object is black once its mark bit is set and it was scanned
 * (or was allocated black during mark: its slots are all nil), grey while it
 * waits for that as a *candidate* address on a mark stack, in the prefetch
 * ring or in the global grey queue, or as a marked object in its marker's
 * grey ring, white otherwise. A candidate is tested-and-marked when it
 * leaves the prefetch ring, and dropped if it was already marked; scanning
 * never marks and pushes every reference it finds.
 *
 * Marking is memory-latency bound, so the loop keeps two kinds of miss in
 * flight (issue 16). An address popped from the stack enters the prefetch
 * ring (PREFETCH_DEPTH candidates), its mark word prefetched — the line that
 * also holds its alloc word (span.h), which validates it; when it leaves,
 * it is tested and marked, and if this marker marked it, it enters the grey
 * ring (GREY_DEPTH objects), its object prefetched, and is scanned when it
 * leaves that. So neither the bitmap line nor the object is a demand miss
 * on the common path. Scanning used to skip referents already marked; in a
 * random graph that test was itself a miss per reference, so now they take
 * a prefetch-ring slot and are dropped when they leave it. The grey ring
 * holds marked objects, which no candidate queue can take back (a marker
 * taking one would find its bit set and drop it): drain empties it before
 * it returns (a budget counts objects as they are marked, so the scans
 * after it ran out are of objects it counted).
 *
 * A list is one dependency chain that no prefetch can run ahead of: when a
 * marked object is the only work in flight or waiting, chain scans it at
 * once and, while each scan leaves exactly one candidate, tests, marks and
 * scans that one too, without passing it through the rings.
 *
 * A tree laid out in the order a depth-first walk visits it is the other
 * way round: the rings' 32 walks side by side read it as 32 interleaved
 * streams, where one depth-first walk reads a few sequential ones that the
 * hardware prefetches. So an unbounded drain times a short trial of the
 * other way now and then, and walks depth-first (no rings: pop, test and
 * mark, scan) while that is faster (adapt_step, dfs_walk).
 *
 * Concurrent marking (the concurrent and incremental collectors) differs in
 * one way: every candidate is validated as an
 * allocated object start of this heap before it is marked — a slot read
 * while a mutator overwrites it can pair a stale REF tag with a fresh
 * non-reference word (obj.h), and such a word must not be followed.
 *
 * The other marking files: greyq.c (the global grey queue and the mark
 * stacks), share.c (who may write which mark bits: sessions and regions,
 * with the argument that no mark is lost), markroots.c (roots, and the
 * rescan after an overflow), checkmark.c (the stop-the-world mark, and the
 * checkmark's), workers.c (parallel mark workers). markctx.h holds the
 * marker's state and the inline fast paths.
 *
 * Invariants:
 *  - an object is marked once: try_mark tests and sets its bit, and only
 *    the marker that set it scans it (from its grey ring, or in chain);
 *  - the grey ring is empty whenever drain returns (markctx.h);
 *  - a concurrent marker drains only between mode_enter and mode_leave (a
 *    session is open the whole time: share.c);
 *  - the bytes a marker counts reach h->marked_bytes exactly once, in
 *    mark_flush; mark_progress gets them as they are marked (publish).
 */
#include <stdlib.h>
#include <string.h>

#include "markctx.h"
#include "plant.h"
#include "platform.h"

markctx *mark_new(tc_heap *h, bool concurrent, bool check)
{
    TC_ASSERT(!(concurrent && check)); /* a checkmark stops the world; try_mark's pair_alloc needs mark words */
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
    TC_ASSERT(c->gcount == 0); /* drain empties the grey ring before it returns */
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

/* poll — every POLL_EVERY candidates of a concurrent marker (c's marked
 * count up to date). It publishes the progress once PROGRESS_EVERY objects
 * were marked since the last report, so that assists see the work done
 * (take used to test the count for that on every object it marked). */
static __attribute__((noinline)) void poll(markctx *c)
{
    tc_heap *h = c->h;
    if (c->marked_objects * c->avg_bytes - c->published >= PROGRESS_EVERY * c->avg_bytes)
        publish(c);
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

/* no_arena — what drain's last arena is before it has seen one: no
 * address is inside it. */
static arena no_arena;

/* no_pair — the alloc and mark words ring_put gives a candidate that is in
 * no arena, or (concurrently) in another heap's: no alloc bit, every mark
 * bit set, so that take drops it (obj_start fails, or mark_valid finds it
 * marked) with no test of its own. Never written: mark_valid stores only
 * to a word whose bit was clear. */
static bmpair no_pair = {.alloc = 0, .mark = UINT64_MAX};

/* ring_put — candidate p into slot `slot` of the prefetch ring: its mark
 * word (and, in the same line, its alloc word: span.h) is computed and
 * prefetched now and tested PREFETCH_DEPTH candidates later. *last is the
 * arena of the last candidate that had one: almost every candidate is in
 * it (a heap of up to 4 GiB is one arena), and then one range check finds
 * it, where arena_of's table lookup needed a dependent load and two tests.
 * A concurrent marker's *last is always this heap's (checked when it
 * changes, not per candidate); a candidate in no arena, or in another
 * heap's, gets no_pair. */
static inline __attribute__((always_inline)) void ring_put(markctx *c, uintptr_t p, unsigned slot, arena **last,
                                                           bool concurrent)
{
    arena *a = *last;
    if (__builtin_expect(p - a->base >= a->size, 0)) {
        a = arena_of(p);
        if (!a || (concurrent && a->heap != c->h)) {
            c->ring[slot] = p;
            c->ring_w[slot] = &no_pair.mark;
            c->ring_bit[slot] = 1;
            return;
        }
        *last = a;
    }
    c->ring[slot] = p;
    c->ring_a[slot] = a;
    _Atomic uint64_t *w = !concurrent && c->check ? bit_word(a->checkbits, a, p, &c->ring_bit[slot])
                                                  : mark_word(a, p, &c->ring_bit[slot]);
    c->ring_w[slot] = w;
    __builtin_prefetch((const void *)w, 1);
}

/* take — test-and-mark candidate p (its arena, mark word and bit known)
 * and count it in *marked (c->marked_objects, or drain's copy in a local:
 * after every tag's acquire load the compiler would reload c's); true if
 * this marker marked it (it must now be scanned). The caller polls every
 * POLL_EVERY candidates (with c's stack and count up to date: poll may
 * move work on and off the stack) and keeps the budget: drain stops at a
 * marked count, chain_take counts it down. */
static inline __attribute__((always_inline)) bool take(markctx *c, uintptr_t p, arena *a, _Atomic uint64_t *w,
                                                       uint64_t bit, uint64_t *marked, bool concurrent)
{
    if ((concurrent && !obj_start(p, w, bit)) || !mark_valid(c, p, a, w, bit, concurrent))
        return false; /* marked, deferred, or no object of this heap (no_pair: ring_put) */
    ++*marked;
    return true;
}

/* chain_sync — add the `done` objects chain marked on its fast path to
 * c's counts (candidates taken, objects marked, budget) and publish the
 * progress when it crossed a PROGRESS_EVERY boundary, as take would have. */
static void chain_sync(markctx *c, uint64_t done, int64_t *budget, bool concurrent)
{
    uint64_t before = c->marked_objects;
    c->tick += (unsigned)done;
    c->marked_objects = before + done;
    if (*budget > 0)
        *budget -= (int64_t)done;
    if (concurrent && (before ^ c->marked_objects) >= PROGRESS_EVERY)
        publish(c);
}

/* chain_room — how many candidates chain may take on its fast path before
 * it must do take's bookkeeping (the next poll, or the budget's end). */
static inline unsigned chain_room(const markctx *c, int64_t budget, bool concurrent)
{
    unsigned room = concurrent ? POLL_EVERY - 1 - (c->tick & (POLL_EVERY - 1)) : 1u << 30;
    return budget >= 0 && (uint64_t)budget < room ? (unsigned)budget : room;
}

/* chain_refs — the references object o holds, written to e (the empty chunk
 * on top of the stack), and how many; SIZE_MAX, with nothing written, for
 * an object whose references could fill the chunk (scan's slow path). */
static inline __attribute__((always_inline)) size_t chain_refs(const tc_obj *o, uintptr_t *e)
{
    uint32_t ns = obj_nslots(o);
    if (ns == 2) /* a list's or a tree's node: no loop */
        return scan_two(o, e, 0);
    if (__builtin_expect(ns >= STACK_CHUNK, 0))
        return SIZE_MAX;
    _Atomic uint64_t *sw = obj_words(o);
    _Atomic uint8_t *st = obj_tags(o);
    size_t sn = 0;
    for (uint32_t i = 0; i < ns; i++)
        if ((atomic_load_explicit(&st[i], memory_order_acquire) & TAG_KIND) == TC_REF)
            e[sn++] = atomic_load_explicit(&sw[i], memory_order_relaxed);
    return sn;
}

/* chain_take — chain's step when take's bookkeeping is due: the `done`
 * objects marked so far counted (chain_sync), then p (its mark word w, bit)
 * through take itself. True if chain goes on from p's one candidate, which
 * is on the empty chunk on top; false when it left: the budget ran out
 * before p (p stays on the stack), take refused p, or the poll brought work
 * back (p scanned onto the stack). */
static bool chain_take(markctx *c, uintptr_t p, arena *a, _Atomic uint64_t *w, uint64_t bit, unsigned done,
                       int64_t *budget, bool concurrent)
{
    chain_sync(c, done, budget, concurrent);
    if (*budget == 0) {
        c->n = 1; /* p stays on the stack */
        return false;
    }
    if (concurrent && !(++c->tick & (POLL_EVERY - 1)))
        poll(c);
    if (!take(c, p, a, w, bit, &c->marked_objects, concurrent))
        return false;
    if (*budget > 0)
        (*budget)--;
    if (c->n || c->top->prev || *budget == 0) { /* poll brought work back, or the budget ran out */
        scan(c, p);
        return false;
    }
    return true;
}

/* chain — scan p, marked by c while nothing else was in flight or waiting;
 * while each scan leaves exactly one candidate and nothing else (a list:
 * one dependency chain, which no prefetch can run ahead of), test, mark
 * and scan that candidate at once instead of passing it through both rings
 * (its mark word is near the last one's: lists are mostly allocated in
 * order). The fast path keeps everything in registers: the stack chunk
 * (empty on entry, and again after each step), the arena's bounds, and a
 * count of the objects marked, added to c's counts (chain_sync) when chain
 * leaves or take's bookkeeping is due (chain_room: a poll of a concurrent
 * marker, or the budget's end), where the step goes through take itself.
 * A list node costs about 40 instructions this way (issue 16: 92 through
 * scan and take). */
static inline __attribute__((always_inline)) void chain(markctx *c, uintptr_t p, arena *a, int64_t *budget,
                                                        bool concurrent)
{
    if (c->top->prev) { /* the empty chunk on top is not the only one: no chain */
        scan(c, p);
        return;
    }
    uintptr_t *e = c->top->e; /* c->n is 0 (drain's condition), and stays 0 while chain holds the one candidate */
    tc_heap *h = c->h;
    unsigned room0 = chain_room(c, *budget, concurrent), room = room0;
    for (;;) {
        size_t sn = chain_refs((const tc_obj *)p, e);
        if (__builtin_expect(sn == SIZE_MAX, 0)) { /* could fill the chunk: scan's slow path */
            scan(c, p);
            break;
        }
        p = e[0];
        if (sn != 1) {
            c->n = sn;
            break;
        }
        if (p - a->base >= a->size) { /* not in the last one's arena (a is this heap's: it held a marked object) */
            a = arena_of(p);
            if (!a || (concurrent && a->heap != h))
                break; /* not this heap's: dropped, as try_mark would (c->n is 0) */
        }
        uint64_t bit;
        _Atomic uint64_t *w = !concurrent && c->check ? bit_word(a->checkbits, a, p, &bit) : mark_word(a, p, &bit);
        if (__builtin_expect(room == 0, 0)) { /* take's bookkeeping is due: through take itself */
            if (!chain_take(c, p, a, w, bit, room0, budget, concurrent))
                return;
            e = c->top->e;
            room0 = room = chain_room(c, *budget, concurrent);
            continue;
        }
        if ((concurrent && !obj_start(p, w, bit)) || !mark_valid(c, p, a, w, bit, concurrent))
            break; /* marked already, or no object: dropped (c->n is 0) */
        room--;
    }
    chain_sync(c, room0 - room, budget, concurrent);
}

/* wait_deferred — nothing in flight or on the stack: true to look again.
 * Only work that waits for other sessions to share may be left: an
 * unbounded drain (a mark worker) serves its own askers and waits a little,
 * looking again whenever some region was shared or some session ended;
 * then (and in bounded drains: assists, slices) mode_leave gives it to the
 * global queue. */
static bool wait_deferred(markctx *c, int64_t budget)
{
    if (c->ndefer && budget < 0 && c->defer_spins < DEFER_SPINS) {
        c->defer_spins++;
        sess_serve(c);
        if (owners_changed(c))
            redo_deferred(c);
        else
            plat_cpu_relax();
        return true;
    }
    c->defer_spins = 0;
    return false;
}

/* scan_into — scan for drain, whose stack top (*se: c->top->e) and fill
 * (*sn) are in locals: a two-slot node without the slot loop, anything
 * else through scan with c's copies synced around it. */
static inline __attribute__((always_inline)) void scan_into(markctx *c, uintptr_t p, uintptr_t **se, size_t *sn)
{
    if (obj_nslots((const tc_obj *)p) == 2 && *sn <= STACK_CHUNK - 2) {
        *sn = scan_two((const tc_obj *)p, *se, *sn);
        return;
    }
    c->n = *sn;
    scan(c, p);
    *se = c->top->e;
    *sn = c->n;
}

/* poll_from, chain_from, wait_from — poll, chain and wait_deferred for
 * drain, whose stack (*se: c->top->e, *sn: c->n) and counts are in locals:
 * c's copies synced around the call (chain gets the budget left, as
 * stop - marked, and keeps that difference). */
static inline __attribute__((always_inline)) void poll_from(markctx *c, uint64_t marked, uintptr_t **se,
                                                            size_t *sn)
{
    c->n = *sn;
    c->marked_objects = marked;
    poll(c);
    *se = c->top->e;
    *sn = c->n;
}

static inline __attribute__((always_inline)) void chain_from(markctx *c, uintptr_t p, arena *a, int64_t left,
                                                             unsigned *tick, uint64_t *marked, uintptr_t **se,
                                                             size_t *sn, bool concurrent)
{
    c->n = 0;
    c->tick = *tick;
    c->marked_objects = *marked;
    chain(c, p, a, &left, concurrent);
    *tick = c->tick;
    *marked = c->marked_objects;
    *se = c->top->e;
    *sn = c->n;
}

static inline __attribute__((always_inline)) bool wait_from(markctx *c, int64_t budget, uintptr_t **se, size_t *sn)
{
    c->n = *sn;
    bool again = wait_deferred(c, budget);
    *se = c->top->e;
    *sn = c->n;
    return again;
}

/* Depth-first or wide, chosen by measuring (issue 16). With both rings
 * full, about PREFETCH_DEPTH + GREY_DEPTH walks of the graph advance side
 * by side, so a heap whose objects lie in the order a depth-first walk
 * visits them (a tree allocated top-down or in heap order, as GCBench's and
 * mark.c's) is read as 32 interleaved streams that the hardware prefetcher
 * cannot follow; a plain depth-first walk (pop, test-and-mark, scan) reads
 * it as a few sequential streams: mark_tricolor tree at 16M, mark_cpu
 * 14.0 -> 5.8-7.2 ns per object with both rings one slot deep (load 14-17).
 * A random graph needs the rings (its misses are independent: a depth-first
 * walk waits for each, 3-4x slower). So an unbounded drain tries the other
 * way now and then: it times the last ADAPT_TRIAL polls of a stretch, runs
 * ADAPT_TRIAL polls the other way untimed (a change costs: the stack holds
 * the old order's work), times ADAPT_TRIAL more, and keeps the other way
 * only if that was faster by an eighth. Thread CPU time, not the clock: a
 * window in which the thread was preempted would lose. Only the speed
 * depends on the choice: both ways mark the same objects, and rings_flush
 * empties the rings before a depth-first stretch (the walk does not use
 * them). */
#define ADAPT_TRIAL 16    /* polls (of POLL_EVERY candidates) per trial window */
#ifndef ADAPT_FIRST
#define ADAPT_FIRST 256   /* polls before the first trial: 16K candidates */
#endif
#define ADAPT_STRETCH 8192 /* polls from one trial to the next: 512K candidates (a losing trial costs ~1/256) */

enum { ADAPT_RUN, ADAPT_BASE, ADAPT_WARM, ADAPT_TRY };
typedef struct adapt {
    unsigned left;     /* polls until adapt_step */
    unsigned phase;    /* ADAPT_*: running; timing the way it has; the other, untimed, then timed */
    uint64_t t0, base; /* when the timed window began; the first window's ns */
} adapt;

/* adapt_step — whether drain walks depth-first from now on (dfs: whether it
 * does now), at the end of a phase of ad's schedule. */
static __attribute__((noinline)) bool adapt_step(adapt *ad, bool dfs)
{
    uint64_t now = plat_thread_cpu_ns();
    ad->left = ADAPT_TRIAL;
    switch (ad->phase) {
    case ADAPT_RUN:
        ad->phase = ADAPT_BASE;
        ad->t0 = now;
        return dfs;
    case ADAPT_BASE:
        ad->phase = ADAPT_WARM;
        ad->base = now - ad->t0;
        return !dfs;
    case ADAPT_WARM:
        ad->phase = ADAPT_TRY;
        ad->t0 = now;
        return dfs;
    default: /* ADAPT_TRY: dfs is the trial's way */
        ad->phase = ADAPT_RUN;
        ad->left = ADAPT_STRETCH - 3 * ADAPT_TRIAL;
        return (now - ad->t0) * 8 < ad->base * 7 ? dfs : !dfs;
    }
}

/* rings_flush — before a depth-first stretch: scan every object in c's
 * grey ring (marked by c: only c may scan it) and put its prefetch ring's
 * candidates back on the stack (still candidates, so still grey there).
 * drain syncs its copies of the rings' positions and the stack's fill into
 * c around it (go_dfs_from). */
static __attribute__((noinline)) void rings_flush(markctx *c)
{
    for (; c->gcount; c->gcount--) {
        scan(c, c->grey[c->ghead]);
        c->ghead = (c->ghead + 1) % GREY_DEPTH;
    }
    for (; c->count; c->count--)
        if (!planted(PLANT_RING_FLUSH_DROPS)) /* planted: the candidates in flight are lost */
            push(c, c->ring[(c->head + c->count - 1) % PREFETCH_DEPTH]);
}

/* dfs_take — depth-first: candidate p (popped) tested and marked at once,
 * its mark word not prefetched; if this marker marked it, scanned now (by
 * chain when nothing else waits: a list). *last as ring_put's. */
static inline __attribute__((always_inline)) void dfs_take(markctx *c, uintptr_t p, arena **last, int64_t budget,
                                                           uint64_t stop, unsigned *tick, uint64_t *marked,
                                                           uintptr_t **se, size_t *sn, bool concurrent)
{
    arena *a = *last;
    if (__builtin_expect(p - a->base >= a->size, 0)) {
        a = arena_of(p);
        if (!a || (concurrent && a->heap != c->h))
            return; /* no object of this heap: dropped, as take drops no_pair */
        *last = a;
    }
    uint64_t bit;
    _Atomic uint64_t *w = !concurrent && c->check ? bit_word(a->checkbits, a, p, &bit) : mark_word(a, p, &bit);
    if (!take(c, p, a, w, bit, marked, concurrent))
        return;
    if (!*sn)
        chain_from(c, p, a, budget < 0 ? -1 : (int64_t)(stop - *marked), tick, marked, se, sn, concurrent);
    else
        scan_into(c, p, se, sn);
}

enum { DFS_WIDE, DFS_DONE, DFS_BUDGET, DFS_STAY };

/* dfs_walk — drain's depth-first stretch, its rings empty, with c's stack,
 * tick and marked count synced: until adapt_step turns it wide (DFS_WIDE),
 * no work is left (DFS_DONE) or the budget (as drain's stop) ran out
 * (DFS_BUDGET). Out of drain's loop so that its locals do not crowd the
 * wide loop's registers (inline there, the wide loop took 5 instructions
 * more per tree node: callgrind). */
static inline __attribute__((always_inline)) int dfs_walk(markctx *c, adapt *ad, int64_t budget, uint64_t stop,
                                                          bool concurrent)
{
    arena *last = &no_arena;
    unsigned tick = c->tick;
    uint64_t marked = c->marked_objects;
    uintptr_t *se = c->top->e;
    size_t sn = c->n;
    int r;
    for (;;) {
        if (__builtin_expect(sn == 0, 0)) {
            c->n = 0;
            if (!pop_refill(c, false)) {
                if (concurrent && wait_from(c, budget, &se, &sn))
                    continue;
                r = DFS_DONE;
                break;
            }
            se = c->top->e;
            sn = c->n;
        }
        if (marked == stop) {
            r = DFS_BUDGET;
            break;
        }
        uintptr_t p = se[--sn];
        if (!(++tick & (POLL_EVERY - 1))) {
            if (concurrent)
                poll_from(c, marked, &se, &sn);
            if (!--ad->left && !adapt_step(ad, true)) {
                c->n = sn;
                push(c, p); /* back on the stack: the wide loop takes it */
                se = c->top->e;
                sn = c->n;
                r = DFS_WIDE;
                break;
            }
        }
        dfs_take(c, p, &last, budget, stop, &tick, &marked, &se, &sn, concurrent);
    }
    c->n = sn;
    c->tick = tick;
    c->marked_objects = marked;
    return r;
}

static __attribute__((noinline)) int dfs_walk_stw(markctx *c, adapt *ad, int64_t budget, uint64_t stop)
{
    return dfs_walk(c, ad, budget, stop, false);
}

static __attribute__((noinline)) int dfs_walk_conc(markctx *c, adapt *ad, int64_t budget, uint64_t stop)
{
    return dfs_walk(c, ad, budget, stop, true);
}

/* go_dfs — adapt_step for drain's wide loop, at candidate p (taken off
 * the ring, not yet tested), with drain's rings' positions, stack, tick
 * and marked count synced into c: DFS_STAY if it stays wide (p still to
 * be taken); else the rings are emptied (rings_flush), p goes back on the
 * stack, a depth-first stretch runs (dfs_walk) and its result comes back.
 * Out of line, and its state through c: only a call is in drain's loop
 * (drain's locals passed by address cost 12 instructions per tree node). */
static __attribute__((noinline)) int go_dfs(markctx *c, adapt *ad, uintptr_t p, int64_t budget, uint64_t stop,
                                            bool concurrent)
{
    if (!adapt_step(ad, false))
        return DFS_STAY;
    rings_flush(c);
    c->head = 0;
    push(c, p);
    return concurrent ? dfs_walk_conc(c, ad, budget, stop) : dfs_walk_stw(c, ad, budget, stop);
}

/* go_dfs_from — go_dfs with drain's copies synced into c and back. */
static inline __attribute__((always_inline)) int go_dfs_from(markctx *c, adapt *ad, uintptr_t p, int64_t budget,
                                                             uint64_t stop, unsigned *head, unsigned *count,
                                                             unsigned *ghead, unsigned *gcount, unsigned *tick,
                                                             uint64_t *marked, uintptr_t **se, size_t *sn,
                                                             bool concurrent)
{
    c->n = *sn;
    c->head = *head;
    c->count = *count;
    c->ghead = *ghead;
    c->gcount = *gcount;
    c->tick = *tick;
    c->marked_objects = *marked;
    int r = go_dfs(c, ad, p, budget, stop, concurrent);
    *head = c->head;
    *count = c->count;
    *ghead = c->ghead;
    *gcount = c->gcount;
    *tick = c->tick;
    *marked = c->marked_objects;
    *se = c->top->e;
    *sn = c->n;
    return r;
}

/* drain — the marking loop, specialised for stop-the-world (no validation,
 * no byte count: the sweep counts) and concurrent marking. It walks wide or
 * depth-first (adapt_step; bounded drains only wide). Wide, a candidate
 * passes two rings: in the first its mark word is in flight, and when it
 * leaves it is tested and marked; a candidate it marks enters the second,
 * where its object's lines are in flight, and is scanned when it leaves.
 * The second ring is filled first and emptied before drain returns; both
 * are empty while it walks depth-first (dfs_take). The rings' positions,
 * the tick, the marked count and the stack's top chunk and fill (se, sn)
 * live in locals while the loop runs (the acquire loads of tags and alloc
 * words would make the compiler reload c's copies: a struct of them
 * measured 8 instructions more per tree node than plain locals) and in c
 * between drains and around whatever else reads them: chain, poll,
 * wait_deferred, a chunk change (pop_refill, scan's slow path), publish
 * (which gets the count) and rings_flush. */
static inline __attribute__((always_inline)) bool drain(markctx *c, int64_t budget, bool concurrent)
{
    unsigned head = c->head, count = c->count, ghead = c->ghead, gcount = c->gcount;
    arena *last = &no_arena;
    unsigned tick = c->tick;
    uint64_t marked = c->marked_objects;
    uint64_t stop = budget < 0 ? UINT64_MAX : marked + (uint64_t)budget; /* the budget, as a marked count */
    uintptr_t *se = c->top->e;
    size_t sn = c->n;
    adapt ad = {.left = budget < 0 ? ADAPT_FIRST : UINT32_MAX, .phase = ADAPT_RUN}; /* bounded: no trial */
    bool done;
    for (;;) {
        uintptr_t p;
        while (count < PREFETCH_DEPTH) {
            if (__builtin_expect(sn == 0, 0)) {
                c->n = 0;
                if (!pop_refill(c, count || gcount))
                    break;
                se = c->top->e;
                sn = c->n;
            }
            p = se[--sn];
            ring_put(c, p, (head + count++) % PREFETCH_DEPTH, &last, concurrent);
        }
        if (count && marked != stop) { /* here the grey ring always has room */
            unsigned slot = head;
            head = (head + 1) % PREFETCH_DEPTH;
            count--;
            p = c->ring[slot];
            if (!(++tick & (POLL_EVERY - 1))) {
                if (concurrent)
                    poll_from(c, marked, &se, &sn);
                if (!--ad.left) {
                    int r = go_dfs_from(c, &ad, p, budget, stop, &head, &count, &ghead, &gcount, &tick, &marked,
                                        &se, &sn, concurrent);
                    if (r == DFS_WIDE) /* p went on the stack (go_dfs): the stretch took it */
                        continue;
                    if (r != DFS_STAY) {
                        done = r == DFS_DONE;
                        break;
                    }
                }
            }
            if (take(c, p, c->ring_a[slot], c->ring_w[slot], c->ring_bit[slot], &marked, concurrent)) {
                if (!count && !gcount && !sn) { /* nothing else in flight or waiting */
                    chain_from(c, p, c->ring_a[slot], budget < 0 ? -1 : (int64_t)(stop - marked), &tick, &marked,
                               &se, &sn, concurrent);
                    continue;
                }
                __builtin_prefetch((const void *)p);
                c->grey[(ghead + gcount++) % GREY_DEPTH] = p;
            }
            if (gcount < GREY_DEPTH)
                continue;
            /* full: scan its oldest, in the same round */
        } else if (!gcount) {
            if (!count && concurrent && wait_from(c, budget, &se, &sn))
                continue;
            done = !count; /* else the budget ran out: candidates left in the ring and on the stack */
            break;
        }
        p = c->grey[ghead];
        ghead = (ghead + 1) % GREY_DEPTH;
        gcount--;
        scan_into(c, p, &se, &sn);
    }
    c->n = sn;
    c->tick = tick;
    c->marked_objects = marked;
    c->head = head;
    c->count = count;
    c->ghead = ghead;
    c->gcount = gcount;
    return done;
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
tc_heap *mark_owner(const markctx *c) { return c->h; }

/* mark_blacken — mark and scan p now (test hook: make one object black). */
void mark_blacken(markctx *c, uintptr_t p)
{
    arena *a = arena_of(p);
    uint64_t bit = 0;
    _Atomic uint64_t *w = a ? mark_word(a, p, &bit) : NULL;
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
