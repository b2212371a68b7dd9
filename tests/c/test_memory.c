/* test_memory.c — the soft memory limit and the scavenger, on real heaps. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "heap.h"
#include "platform.h"
#include "span.h"
#include "tc_test.h"

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* limit_run — a workload whose live data is 60% of a 64 MiB limit, with
 * gogc off: the limit alone paces it, and the heap's memory stays within
 * 10% of the limit. With `capped`, once the live set is built the 50% GC
 * CPU cap near the limit (cycle.c: no_start_before) holds every later
 * start back for an hour, as a cycle that took most of the CPU (TSan, a
 * loaded machine) does for a while. */
static void limit_run(int *failed_, bool capped)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.gogc = -1;
    c.memory_limit = 64 << 20;
    tc_heap *h;
    CHECK_OK(tc_heap_new(&c, &h));
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    /* live: a ring of 38 MiB of 1 KiB objects (60% of 64 MiB) */
    enum { LIVE = (38 << 20) / 1024 };
    tc_obj **loc = tc_locals(m, 2);
    loc[0] = tc_alloc(m, LIVE > 100000 ? 100000 : LIVE, 0);
    CHECK(loc[0]);
    for (int i = 0; i < LIVE; i++) {
        tc_obj *o = tc_alloc(m, 0, 1000);
        CHECK(o);
        tc_store(m, loc[0], (size_t)i % 100000, tc_ref(o)); /* overwrites make garbage too */
    }
    if (capped)
        atomic_store(&h->no_start_before, plat_now_ns() + 3600 * (uint64_t)1000000000);
    for (int round = 0; round < 20; round++) /* then churn: 20 x 16 MiB of garbage */
        for (int i = 0; i < 16 * 1024; i++)
            CHECK(tc_alloc(m, 0, 1000));
    tc_locals_pop(m, 2);
    tc_leave(m);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    fprintf(stderr, "  heap_sys %llu MiB, released %llu MiB, num_gc %llu\n", (unsigned long long)(s.heap_sys >> 20),
            (unsigned long long)(s.heap_released >> 20), (unsigned long long)s.num_gc);
    CHECK(s.num_gc > 0);
    CHECK(s.heap_sys <= (uint64_t)c.memory_limit / 10 * 11);
    tc_heap_destroy(h);
}

TEST(memory_limit_bounds_heap_sys) { limit_run(failed_, false); }

/* The CPU cap may put a cycle's start off from the trigger, not past the
 * goal: the memory limit still bounds the heap. (The flaky
 * memory_limit_bounds_heap_sys under TSan at load 10-14: 74 and 89 MiB
 * against the 70.4 MiB bound.) */
TEST(memory_limit_bounds_heap_sys_under_the_cpu_cap) { limit_run(failed_, true); }

/* ---- the page heap holds what is allocated, little more ----
 *
 * issue 16 asked where the pause workload's heap_sys goes. The answer
 * (docs/design.md, "Where the memory goes") is the goal: the heap grows to
 * about 2 x the marked bytes, and the pages hold exactly that: a mutator
 * that needs a span sweeps and reuses the garbage of its class before it
 * takes new pages, so heap_sys stays within a few percent of the largest
 * heap_alloc. This test holds that on the pause workload in small: random
 * subtrees replaced under a live set, ~16 times the live bytes allocated. */

/* subtree — a complete binary tree of `levels` levels of 2-slot nodes with
 * 8 payload bytes (40-byte objects, the pause workload's), stored into
 * slot `i` of `parent` (reachable) top-down, so it needs no local root. */
static void subtree(tc_mutator *m, tc_obj *parent, size_t i, int levels)
{
    if (levels <= 0)
        return;
    tc_obj *n = tc_alloc(m, 2, 8);
    if (!n)
        return;
    tc_store(m, parent, i, tc_ref(n));
    subtree(m, n, 0, levels - 1);
    subtree(m, n, 1, levels - 1);
}

TEST(pages_are_reused_before_new_ones)
{
    tc_heap *h = new_heap_gogc(100);
    CHECK(h);
    enum { SLOTS = 8192, LEVELS = 5, ROUNDS = 16 * SLOTS }; /* live: 8192 x 31 x 40 B = 10 MiB */
    tc_root *holder;
    CHECK_OK(tc_obj_new(h, SLOTS, 0, NULL, &holder));
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    tc_obj *top = tc_root_obj(holder);
    for (size_t i = 0; i < SLOTS; i++)
        subtree(m, top, i, LEVELS);
    uint64_t rng = 0x9E3779B97F4A7C15u, alloc_max = 0;
    tc_stats s;
    for (int r = 0; r < ROUNDS; r++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        subtree(m, top, (size_t)(rng % SLOTS), LEVELS); /* the old subtree is garbage */
        if (r % 256 == 0) {
            tc_leave(m);
            CHECK_OK(tc_heap_stats(h, &s));
            if (s.heap_alloc > alloc_max)
                alloc_max = s.heap_alloc;
            m = tc_enter(h);
            CHECK(m);
        }
    }
    tc_leave(m);
    CHECK_OK(tc_heap_stats(h, &s));
    if (s.heap_alloc > alloc_max)
        alloc_max = s.heap_alloc;
    fprintf(stderr, "  heap_sys %.1f MiB, largest heap_alloc %.1f MiB, heap_live %.1f MiB, num_gc %llu\n",
            (double)s.heap_sys / 1048576, (double)alloc_max / 1048576, (double)s.heap_live / 1048576,
            (unsigned long long)s.num_gc);
    CHECK(s.num_gc >= 4);
    /* slack: one span per class in the cache, 1 MiB commit steps, and the
     * allocation between two samples (256 subtrees, 0.3 MiB) */
    CHECK(s.heap_sys <= alloc_max + alloc_max / 16 + (4u << 20));
    tc_root_release(h, holder);
    tc_heap_destroy(h);
}

/* ---- a mutator that outruns the collector thread ----
 *
 * Under load the concurrent collector's thread may not run for a while:
 * asked for a cycle at the trigger, it does not start it; or, the mark
 * done, it does not sweep and end the cycle (no new one can start before).
 * A mutator allocating in a raw section used to go on allocating far past
 * the goal and the memory limit meanwhile, since assists only run during
 * mark. Three test hooks stand in for the OS not scheduling the thread; in
 * each case the mutator must stop at the goal and wait, parked with the
 * host's lock released (the block hooks, which the test watches). */

typedef struct {
    tc_heap *h;
    _Atomic int in_block; /* the mutator is between the block hooks now: 1 + the phase they began in */
    _Atomic int done;
} outrun;

static void *outrun_block_begin(void *ud)
{
    outrun *o = ud;
    atomic_store(&o->in_block, 1 + atomic_load(&o->h->phase));
    return NULL;
}

static void outrun_block_end(void *ud, void *tok) { atomic_store(&((outrun *)ud)->in_block, 0); }

/* outrun_mutator — one raw section of 128 MiB of garbage (twice the limit). */
static void *outrun_mutator(void *arg)
{
    outrun *o = arg;
    tc_mutator *m = tc_enter(o->h);
    for (int i = 0; m && i < 128 * 1024 && tc_alloc(m, 0, 1000); i++) {
    }
    if (m)
        tc_leave(m);
    atomic_store(&o->done, 1);
    return NULL;
}

/* outrun_live — 16 MiB of 1 KiB objects, kept by the root *out; then one
 * cycle, so that the markers' live estimate knows the object size (before
 * the first sweep counts, it assumes 48-byte objects). */
static tc_status outrun_live(tc_heap *h, tc_root **out)
{
    tc_status st = tc_obj_new(h, 16 * 1024, 0, NULL, out);
    tc_mutator *m = st == TC_OK ? tc_enter(h) : NULL;
    if (!m)
        return st == TC_OK ? TC_ERR_CLOSED : st;
    for (int i = 0; i < 16 * 1024; i++) {
        tc_obj *x = tc_alloc(m, 0, 1000);
        if (!x)
            break;
        tc_store(m, tc_root_obj(*out), (size_t)i, tc_ref(x));
    }
    tc_leave(m);
    return tc_heap_collect(h);
}

/* outrun_begin — a heap with 16 MiB live under a 64 MiB limit (gogc off),
 * the collector thread stalled by `stall`, and outrun_mutator started on
 * *th. */
static tc_status outrun_begin(outrun *o, void (*stall)(tc_heap *, bool), pthread_t *th)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.gogc = -1;
    c.memory_limit = 64 << 20;
    tc_root *live;
    tc_status st = tc_heap_new(&c, &o->h);
    if (st != TC_OK || (st = outrun_live(o->h, &live)) != TC_OK)
        return st;
    tc_heap_set_block_hooks(o->h, outrun_block_begin, outrun_block_end, o);
    stall(o->h, true);
    return pthread_create(th, NULL, outrun_mutator, o) == 0 ? TC_OK : TC_ERR_NOMEM;
}

/* outrun_waits — poll until the mutator waits in the heap (between the
 * block hooks it entered with the heap in `phase`, and still in it:
 * nothing else waits there while the thread stalls) or ends (the bug);
 * true if it waits. *s: the stats. A wait that began in an earlier phase
 * does not count: the mutator may not have left it yet as the phase
 * changed (a wait in mark, seen as the sweep's). */
static bool outrun_waits(outrun *o, const char *phase, tc_stats *s, tc_status *st)
{
    int want = 1 + (!strcmp(phase, "mark") ? PHASE_MARK : !strcmp(phase, "sweep") ? PHASE_SWEEP : PHASE_OFF);
    while ((*st = tc_heap_stats(o->h, s)) == TC_OK && !atomic_load(&o->done)) {
        if (atomic_load(&o->in_block) == want && !strcmp(s->phase, phase))
            return true;
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    return false;
}

/* outrun_check — with the collector thread stalled by `stall`, the mutator
 * must end up waiting, with the heap in `phase` and at its goal, not past
 * it; released, the collector runs and the heap stays near its limit. */
static void outrun_check(void (*stall)(tc_heap *, bool), const char *phase, int *failed_)
{
    outrun o = {0};
    pthread_t th;
    CHECK_OK(outrun_begin(&o, stall, &th));
    tc_stats s;
    tc_status st;
    bool waited = outrun_waits(&o, phase, &s, &st);
    stall(o.h, false);
    pthread_join(th, NULL);
    CHECK_OK(st);
    fprintf(stderr, "  waited %d (phase %s), heap_alloc %llu KiB, goal %llu KiB\n", waited, s.phase,
            (unsigned long long)(s.heap_alloc >> 10), (unsigned long long)(s.heap_goal >> 10));
    CHECK(waited);
    CHECK(s.heap_goal > 0);
    CHECK(s.heap_alloc <= s.heap_goal + (1 << 20)); /* past the goal by at most a span or so */
    CHECK_OK(tc_heap_stats(o.h, &s));
    CHECK(s.num_gc > 0); /* once released, the collector ran */
    CHECK(s.heap_sys <= (uint64_t)(64 << 20) / 10 * 11);
    tc_heap_destroy(o.h);
}

/* outrun_close — while the mutator waits at the goal, another thread
 * closes the heap: the wait ends (the mutator's tc_alloc fails and it
 * leaves), and the close, which waits for it to leave, returns. */
static void outrun_close(void (*stall)(tc_heap *, bool), const char *phase, int *failed_)
{
    outrun o = {0};
    pthread_t th;
    CHECK_OK(outrun_begin(&o, stall, &th));
    tc_stats s;
    tc_status st;
    CHECK(outrun_waits(&o, phase, &s, &st));
    tc_heap_close(o.h);
    pthread_join(th, NULL);
    CHECK(atomic_load(&o.done));
    CHECK(tc_heap_closed(o.h));
    stall(o.h, false); /* the hold is a count: give it back (a no-op on a closed heap otherwise) */
    tc_heap_destroy(o.h);
}

TEST(mutator_past_the_goal_waits_for_the_cycle_to_start)
{
    if (tc_test_collector == TC_COLLECTOR_CONCURRENT) /* stw, incremental: the allocating thread runs the cycle */
        outrun_check(collector_debug_hold, "off", failed_);
}

TEST(mutator_past_the_goal_waits_for_the_sweep_to_end)
{
    if (tc_test_collector == TC_COLLECTOR_CONCURRENT)
        outrun_check(collector_debug_stall_sweep, "sweep", failed_);
}

/* During mark, assists hold the mutator back, but only for ASSIST_MAX_NS
 * per heap call (a raw section is one call) until 95% of the limit. With
 * the collector thread descheduled in mark (TSan at load 10), a raw section
 * allocated black from the goal (57.7 MiB) to 60 MiB, then waited for the
 * mark to end; the sweep-end test's poll saw it still between the block
 * hooks as the phase turned to sweep: "heap_alloc 61404 KiB, goal 57716
 * KiB". Under a memory limit the goal is the limit's (0.9 x limit -
 * overhead): the mutator must stop there in mark too. */
TEST(mutator_past_the_goal_waits_for_the_mark_to_end)
{
    if (tc_test_collector == TC_COLLECTOR_CONCURRENT)
        outrun_check(collector_debug_stall_mark, "mark", failed_);
}

TEST(mutator_waiting_at_the_goal_wakes_when_the_heap_closes)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return;
    outrun_close(collector_debug_hold, "off", failed_);
    outrun_close(collector_debug_stall_sweep, "sweep", failed_);
    outrun_close(collector_debug_stall_mark, "mark", failed_);
}

/* After a 1 GiB structure dies, two collections and a forced scavenge give
 * at least 80% of it back to the OS. */
TEST(scavenger_returns_a_dead_gigabyte)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* 1 GiB once is enough; the scavenger is the same for all */
    tc_heap *h = new_heap_gogc(-1);
    tc_root *holder;
    enum { N = 4096, SIZE = 256 << 10 };
    CHECK_OK(tc_obj_new(h, N, 0, NULL, &holder));
    uint64_t before = rss_bytes();
    for (int i = 0; i < N; i++) {
        tc_root *r;
        CHECK_OK(tc_obj_new(h, 0, SIZE, NULL, &r));
        void *p;
        size_t n;
        CHECK_OK(tc_obj_payload(h, r, &p, &n));
        for (size_t k = 0; k < n; k += 4096) /* touch it: resident */
            ((char *)p)[k] = 1;
        CHECK_OK(tc_slot_set(h, holder, i, tc_ref(tc_root_obj(r))));
        tc_root_release(h, r);
    }
    uint64_t full = rss_bytes();
    CHECK(full - before >= (uint64_t)N * SIZE / 10 * 9);
    tc_root_release(h, holder);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
    uint64_t released = 0;
    CHECK_OK(tc_heap_scavenge(h, &released));
    uint64_t after = rss_bytes();
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    fprintf(stderr, "  rss %llu -> %llu -> %llu MiB, heap_released %llu MiB\n", (unsigned long long)(before >> 20),
            (unsigned long long)(full >> 20), (unsigned long long)(after >> 20),
            (unsigned long long)(s.heap_released >> 20));
    CHECK(full - after >= (uint64_t)N * SIZE / 10 * 8);
    CHECK(s.heap_released >= (uint64_t)N * SIZE / 10 * 8);
    /* the memory is reusable: allocate it again */
    CHECK_OK(tc_obj_new(h, 0, SIZE, NULL, &holder));
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* plat_reserve_at is a probe: at any address it returns that address or
 * NULL, and never crashes the process. Under ThreadSanitizer an address in
 * its shadow or in a gap between its application ranges made the runtime
 * map at 0 instead and die ("mmap at bad address"): arena placement probes
 * 4 GiB slots below the kernel's choice, and with enough live heaps it
 * reached the gap below TSan's high application range. */
TEST(reserve_at_any_address_returns_it_or_null)
{
    static const uintptr_t addrs[] = {
        (uintptr_t)0x7e7f00000000ull, /* TSan: the gap below its high application range */
        (uintptr_t)0x200000000000ull, /* TSan: between its shadow and its meta shadow */
        (uintptr_t)0x050000000000ull, /* TSan: its shadow */
        (uintptr_t)0x560000000000ull, /* TSan: its middle application range */
    };
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        void *p = plat_reserve_at(addrs[i], TC_ARENA_SIZE);
        CHECK(p == NULL || (uintptr_t)p == addrs[i]);
        if (p)
            plat_unreserve(p, TC_ARENA_SIZE);
    }
}

/* Many live heaps at once: each reserves an arena of its own, and arena
 * placement must find free 4 GiB slots however many heaps hold the ones
 * near where the kernel maps (it used to give up after 32 heaps: "the OS
 * refused memory" with gigabytes free). */
TEST(many_live_heaps_each_get_an_arena)
{
    enum { N = 48 };
    tc_heap *hs[N] = {0};
    int made = 0;
    bool ok = true;
    for (; made < N && ok; made++) {
        tc_config c;
        tc_config_init(&c);
        c.collector = TC_COLLECTOR_STW; /* no collector thread per heap */
        if (tc_heap_new(&c, &hs[made]) != TC_OK)
            break;
        tc_mutator *m = tc_enter(hs[made]);
        ok = m && tc_alloc(m, 2, 64) != NULL;
        if (m)
            tc_leave(m);
    }
    for (int i = 0; i < made; i++)
        tc_heap_destroy(hs[i]);
    CHECK(ok);
    CHECK(made == N);
}

/* chain — n new 2-slot objects, each in slot 0 of the one before, hung in
 * slot `slot` of `top`; every handle but top's is released. */
static void chain(tc_heap *h, tc_root *top, size_t slot, int n, int *failed_)
{
    tc_root *prev = NULL;
    for (int i = 0; i < n; i++) {
        tc_root *o;
        CHECK_OK(tc_obj_new(h, 2, 0, NULL, &o));
        CHECK_OK(tc_slot_set(h, prev ? prev : top, prev ? 0 : slot, tc_ref(tc_root_obj(o))));
        if (prev)
            tc_root_release(h, prev);
        prev = o;
    }
    if (prev)
        tc_root_release(h, prev);
}

/* Between mark termination and the end of the sweep, heap_live is the
 * termination's estimate: bytes the markers marked plus bytes allocated
 * (black) during the mark. A marker that reaches a black object through an
 * unscanned one marks and counts it again (try_mark tests the mark bit, not
 * the black one), so the plain sum counted such objects twice: here a chain
 * allocated during the mark and hung below the unscanned root was counted
 * twice, heap_live 1.5x what the sweep then found. The estimate must stay
 * within a few percent of the sweep's exact count (heap_marked) once the
 * heap has seen such a cycle. */
TEST(live_estimate_at_termination_counts_each_object_once)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heap: once */
    tc_config c;
    tc_config_init(&c);
    c.collector = TC_COLLECTOR_MANUAL;
    tc_heap *h;
    CHECK_OK(tc_heap_new(&c, &h));
    tc_root *top;
    CHECK_OK(tc_obj_new(h, 2, 0, NULL, &top));
    chain(h, top, 0, 4000, failed_);
    uint64_t freed;
    CHECK_OK(tc_heap_gc_start(h)); /* a quiet cycle first: the marker's bytes per object */
    CHECK_OK(tc_heap_gc_finish(h, &freed));
    tc_stats s;
    for (int round = 0; round < 3; round++) {
        CHECK_OK(tc_heap_gc_start(h)); /* top is grey, unscanned */
        chain(h, top, 1, 4000, failed_); /* black, replacing the last round's chain */
        uint64_t marked;
        do
            CHECK_OK(tc_heap_gc_step(h, 1 << 20, &marked));
        while (marked);
        CHECK_OK(tc_heap_stats(h, &s));
        CHECK(strcmp(s.phase, "sweep") == 0);
        uint64_t estimate = s.heap_live;
        CHECK_OK(tc_heap_gc_finish(h, &freed));
        CHECK_OK(tc_heap_stats(h, &s));
        fprintf(stderr, "  round %d: heap_live at termination %llu, the sweep's count %llu\n", round,
                (unsigned long long)estimate, (unsigned long long)s.heap_marked);
        if (round > 0)
            CHECK(estimate <= s.heap_marked + s.heap_marked / 50 && estimate + s.heap_marked / 50 >= s.heap_marked);
    }
    tc_root_release(h, top);
    tc_heap_destroy(h);
}
