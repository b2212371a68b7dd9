/* test_stress.c — several mutator threads allocate, store, overwrite and
 * drop at random while cycles run back to back with checkmark on; at the
 * end every object a thread's model says is reachable must be there, with
 * its payload (its id) and its slots intact.
 *
 * Each thread keeps its own model: a table of its objects by id (payload =
 * id), each with NSLOTS slots holding nil, an int or another id of the same
 * thread; and NROOTS handles. Threads never share objects, but they share the
 * heap, its caches, the handle table and every collection. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "heap.h"
#include "tc_test.h"

#define NTHREADS 3
#define NROOTS 64
#define NSLOTS 4
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define OPS 12000 /* sanitizers make every operation ~20x slower */
#else
#define OPS 60000
#endif

typedef struct mslot {
    int kind;    /* 0 nil, 1 int, 2 ref */
    int64_t val; /* int value or object id */
} mslot;

typedef struct model {
    mslot (*slots)[NSLOTS]; /* by id */
    tc_root *root[NROOTS];
    int64_t root_id[NROOTS];
    int64_t nobj;
    uint64_t rng;
    int errors;
    tc_heap *h;
} model;

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static uint64_t rnd(model *m) { return xorshift(&m->rng); }

static void new_root(model *m, int r)
{
    int64_t id = m->nobj++;
    tc_root *x;
    if (tc_obj_new(m->h, NSLOTS, 8, &id, &x) != TC_OK) {
        m->errors++;
        return;
    }
    memset(m->slots[id], 0, sizeof m->slots[id]);
    if (m->root[r])
        tc_root_release(m->h, m->root[r]);
    m->root[r] = x;
    m->root_id[r] = id;
}

static void op(model *m)
{
    int r = (int)(rnd(m) % NROOTS), s = (int)(rnd(m) % NROOTS), i = (int)(rnd(m) % NSLOTS);
    switch (rnd(m) % 6) {
    case 0: /* allocate into a root */
        new_root(m, r);
        break;
    case 1: /* link: root r's object slot i = root s's object */
    case 2:
        if (tc_slot_set(m->h, m->root[r], i, tc_ref(tc_root_obj(m->root[s]))) != TC_OK)
            m->errors++;
        m->slots[m->root_id[r]][i] = (mslot){2, m->root_id[s]};
        break;
    case 3: /* overwrite with an int */
        if (tc_slot_set(m->h, m->root[r], i, tc_int((int64_t)i * 1000 + r)) != TC_OK)
            m->errors++;
        m->slots[m->root_id[r]][i] = (mslot){1, (int64_t)i * 1000 + r};
        break;
    case 4: { /* follow: root r = root r's slot i, if it is a reference */
        tc_value v;
        tc_root *nr = NULL;
        if (tc_slot_get(m->h, m->root[r], i, &v, &nr) != TC_OK) {
            m->errors++;
            break;
        }
        if (nr) {
            tc_root_release(m->h, m->root[r]);
            m->root[r] = nr;
            m->root_id[r] = m->slots[m->root_id[r]][i].val;
        }
        break;
    }
    case 5: /* a short chain of fresh objects under root r slot i */
        for (int k = 0; k < 3; k++) {
            int64_t id = m->nobj++;
            tc_root *x;
            if (tc_obj_new(m->h, NSLOTS, 8, &id, &x) != TC_OK) {
                m->errors++;
                break;
            }
            memset(m->slots[id], 0, sizeof m->slots[id]);
            tc_slot_set(m->h, x, 0, tc_ref(tc_root_obj(m->root[r])));
            m->slots[id][0] = (mslot){2, m->root_id[r]};
            tc_root_release(m->h, m->root[r]);
            m->root[r] = x;
            m->root_id[r] = id;
        }
        break;
    }
}

/* check_from — compare the heap graph under root r with the model. */
static int check_from(model *m, tc_root *root, int64_t id, unsigned char *seen)
{
    int64_t got = -1;
    if (tc_obj_data_get(m->h, root, &got, 8) != TC_OK || got != id)
        return 1;
    if (seen[id])
        return 0;
    seen[id] = 1;
    for (int i = 0; i < NSLOTS; i++) {
        tc_value v;
        tc_root *nr = NULL;
        mslot want = m->slots[id][i];
        if (tc_slot_get(m->h, root, i, &v, &nr) != TC_OK)
            return 1;
        int bad = 0;
        if (want.kind == 0)
            bad = v.kind != TC_NIL;
        else if (want.kind == 1)
            bad = v.kind != TC_INT || v.u.i != want.val;
        else
            bad = v.kind != TC_REF || !nr || check_from(m, nr, want.val, seen);
        if (nr)
            tc_root_release(m->h, nr);
        if (bad)
            return 1;
    }
    return 0;
}

static void *mutator_main(void *arg)
{
    model *m = arg;
    for (int r = 0; r < NROOTS; r++)
        new_root(m, r);
    for (int k = 0; k < OPS; k++)
        op(m);
    return NULL;
}

static _Atomic int stop_collecting;
static void *collector_loop(void *arg)
{
    tc_heap *h = arg;
    intptr_t bad = 0;
    /* at least three forced cycles, however fast the mutators finish */
    for (int n = 0; !stop_collecting || n < 3; n++) {
        if (tc_heap_collect(h) != TC_OK) {
            bad++;
            fprintf(stderr, "  collect: %s\n", tc_errmsg());
        }
        /* let the mutators run between forced cycles: with the stw
         * collector, back-to-back cycles would leave them almost no time */
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    return (void *)bad;
}

static void stress(tc_barrier barrier, int *failed_)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.barrier = barrier;
    c.gogc = 20; /* frequent automatic cycles too */
    c.checkmark = true;
    c.mark_workers = barrier == TC_BARRIER_YUASA ? 1 : 2; /* parallel marking (concurrent collector) too */
    tc_heap *h;
    CHECK_OK(tc_heap_new(&c, &h));
    model ms[NTHREADS];
    pthread_t th[NTHREADS], col;
    stop_collecting = 0;
    pthread_create(&col, NULL, collector_loop, h);
    for (int t = 0; t < NTHREADS; t++) {
        memset(&ms[t], 0, sizeof ms[t]);
        ms[t].h = h;
        ms[t].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1) + (uint64_t)barrier;
        ms[t].slots = calloc(OPS * 3 + NROOTS + 8, sizeof *ms[t].slots);
        pthread_create(&th[t], NULL, mutator_main, &ms[t]);
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    stop_collecting = 1;
    void *bad;
    pthread_join(col, &bad);
    CHECK(bad == NULL);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    for (int t = 0; t < NTHREADS; t++) {
        model *m = &ms[t];
        if (m->errors)
            fprintf(stderr, "  thread %d: %d failed calls, last: %s\n", t, m->errors, tc_errmsg());
        CHECK(m->errors == 0);
        unsigned char *seen = calloc((size_t)m->nobj + 1, 1);
        for (int r = 0; r < NROOTS; r++)
            CHECK(check_from(m, m->root[r], m->root_id[r], seen) == 0);
        free(seen);
    }
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.num_gc > 2);
    CHECK(s.frees > 0);
    CHECK(s.roots == NTHREADS * NROOTS);
    for (int t = 0; t < NTHREADS; t++)
        free(ms[t].slots);
    tc_heap_destroy(h);
}

TEST(stress_hybrid) { stress(TC_BARRIER_HYBRID, failed_); }
TEST(stress_dijkstra) { stress(TC_BARRIER_DIJKSTRA, failed_); }
TEST(stress_yuasa) { stress(TC_BARRIER_YUASA, failed_); }

/* ---- assists mark beside the collector ----------------------------------
 *
 * A mutator that allocates fast while a tree is marked runs past the goal,
 * and (concurrent collector) pays its assists by marking, sharing the mark
 * bits with the collector thread and its workers (share.c). It swaps
 * subtrees as it goes, so the barrier is busy. First the collector thread
 * leaves all marking to the assists (a test hook: otherwise whether an
 * assist finds work is a matter of timing), then both mark side by side.
 * Checkmark re-marks every cycle with the world stopped; afterwards the
 * tree still has every node and payload. */

enum { A_DEPTH = 13, A_SWAP_DEPTH = 6 };

static tc_obj *anode(tc_mutator *m, int64_t id)
{
    tc_obj *n = tc_alloc(m, 2, sizeof id);
    if (n)
        memcpy(tc_payload(n), &id, sizeof id);
    return n;
}

/* populate — give reachable node n `levels` more levels; ids heap-numbered */
static int populate(tc_mutator *m, tc_obj *n, int64_t id, int levels)
{
    if (!levels)
        return 0;
    for (int k = 0; k < 2; k++) {
        tc_obj *c = anode(m, 2 * id + 1 + k);
        if (!c)
            return -1;
        tc_store(m, n, (size_t)k, tc_ref(c));
        if (populate(m, c, 2 * id + 1 + k, levels - 1))
            return -1;
    }
    return 0;
}

static void tree_sum(tc_obj *n, int64_t *count, int64_t *sum)
{
    if (!n)
        return;
    int64_t id;
    memcpy(&id, tc_payload(n), sizeof id);
    (*count)++;
    *sum += id;
    tree_sum(tc_load(n, 0).u.ref, count, sum);
    tree_sum(tc_load(n, 1).u.ref, count, sum);
}

static tc_obj *descend(tc_obj *n, uint64_t *rng, int depth)
{
    for (int d = 0; d < depth; d++)
        n = tc_load(n, xorshift(rng) & 1).u.ref;
    return n;
}

/* tree_heap — a heap of config c holding a complete tree of A_DEPTH levels
 * in the local it returns (NULL if anything failed); *mp is left entered. */
static tc_obj **tree_heap(const tc_config *c, tc_heap **hp, tc_mutator **mp)
{
    if (tc_heap_new(c, hp) != TC_OK)
        return NULL;
    *mp = tc_enter(*hp);
    tc_obj **loc = tc_locals(*mp, 1);
    if (!loc || !(loc[0] = anode(*mp, 0)) || populate(*mp, loc[0], 0, A_DEPTH))
        return NULL;
    return loc;
}

static void assists_mark(int workers, int *failed_)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.gogc = 1; /* the goal just above the live heap: every cycle needs assists */
    c.checkmark = true;
    c.mark_workers = workers;
    tc_heap *h;
    tc_mutator *m;
    tc_obj **loc = tree_heap(&c, &h, &m);
    CHECK(loc);
    int64_t count0 = 0, sum0 = 0;
    tree_sum(loc[0], &count0, &sum0);
    CHECK(count0 == (1 << (A_DEPTH + 1)) - 1);
    uint64_t rng = 0x2545F4914F6CDD1Dull + (uint64_t)workers;
    tc_stats s;
    bool inside = true, assists_only = tc_test_collector == TC_COLLECTOR_CONCURRENT;
    collector_debug_assists_only(h, assists_only);
    CHECK_OK(tc_heap_stats(h, &s));
    uint64_t gc0 = s.num_gc; /* a cycle running now may finish without assists */
    long beside = 0; /* allocations since the assists-only phase ended */
    for (long i = 1; i <= 4096L * 1000; i++) {
        CHECK(anode(m, -1) != NULL); /* garbage */
        if (!(i & 63)) { /* swap two subtrees of the same depth */
            tc_obj *p = descend(loc[0], &rng, A_SWAP_DEPTH), *q = descend(loc[0], &rng, A_SWAP_DEPTH);
            size_t ip = xorshift(&rng) & 1, iq = xorshift(&rng) & 1;
            tc_value a = tc_load(p, ip), b = tc_load(q, iq);
            tc_store(m, p, ip, b);
            tc_store(m, q, iq, a);
        }
        if (!(i & 4095)) { /* a new heap call: the assist cap is per call */
            tc_leave(m);
            inside = false;
            CHECK_OK(tc_heap_stats(h, &s));
            if (assists_only && s.num_gc >= gc0 + 3) { /* cycles completed with assists alone */
                CHECK(s.assist_marked > 0);
                collector_debug_assists_only(h, assists_only = false);
            }
            if (!assists_only && (beside += 4096) >= 100000)
                break;
            m = tc_enter(h);
            inside = true;
        }
    }
    CHECK(!inside);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.num_gc >= 2);
    if (tc_test_collector == TC_COLLECTOR_STW) { /* the allocating thread collects: no assists */
        CHECK(s.assist_ns == 0);
        CHECK(s.assist_marked == 0);
    } else { /* concurrent: assists; incremental: the mutators' mark slices */
        CHECK(s.assist_ns > 0);
        CHECK(s.assist_marked > 0);
    }
    m = tc_enter(h);
    int64_t count = 0, sum = 0;
    tree_sum(loc[0], &count, &sum);
    tc_locals_pop(m, 1);
    tc_leave(m);
    CHECK(count == count0);
    CHECK(sum == sum0);
    tc_heap_destroy(h);
}

TEST(assists_mark_beside_one_marker) { assists_mark(1, failed_); }
TEST(assists_mark_beside_two_workers) { assists_mark(2, failed_); }

/* assist_below_goal — one allocation (phase MARK before and after, the same
 * goal): 1 if an assist marked during it while the heap stayed below the
 * goal, -1 if it failed. The estimate only grows within a mark, so its
 * value after the call bounds what the assist saw. */
static int assist_below_goal(tc_heap *h, tc_mutator *m)
{
    uint64_t goal = atomic_load(&h->goal), marked = atomic_load(&h->assist_marked);
    bool mark = atomic_load(&h->phase) == PHASE_MARK;
    if (!anode(m, -1))
        return -1;
    return mark && atomic_load(&h->phase) == PHASE_MARK && atomic_load(&h->goal) == goal &&
           atomic_load(&h->assist_marked) > marked && collector_alloc_estimate(h) < goal;
}

/* await_start — past the trigger with no mark yet: wait outside a heap call
 * (at most ~1 s, once per goal) for the collector thread to start the
 * cycle, so that a thread the OS runs late does not start every mark past
 * the goal. */
static tc_mutator *await_start(tc_heap *h, tc_mutator *m, uint64_t *waited_goal)
{
    uint64_t goal = atomic_load(&h->goal);
    if (goal == *waited_goal || atomic_load(&h->phase) != PHASE_OFF ||
        collector_alloc_estimate(h) < atomic_load(&h->trigger))
        return m;
    *waited_goal = goal;
    tc_leave(m);
    struct timespec ts = {0, 10000};
    for (int i = 0; i < 100000 && atomic_load(&h->phase) == PHASE_OFF; i++)
        nanosleep(&ts, NULL);
    return tc_enter(h);
}

/* Issue 16: a mutator pays for what it allocates during the mark from the
 * mark's start, as Go's do (gcAssistAlloc), not only once the heap passed
 * its goal: with the marking left to assists (the test hook), assists mark
 * while the heap is still below the goal. (Assists past the goal only let
 * the pause workload allocate the whole runway while the marker was
 * behind: 1.43-1.49x live marked, heap_sys 3.0x live at 1 GiB.) */
TEST(assists_start_with_the_mark)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return;
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    tc_heap *h;
    tc_mutator *m;
    CHECK(tree_heap(&c, &h, &m));
    tc_leave(m);
    CHECK_OK(tc_heap_collect(h)); /* the pacer knows the mark work to expect (after no cycle, nothing) */
    m = tc_enter(h);
    collector_debug_assists_only(h, true);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    uint64_t gc0 = s.num_gc;
    int below = 0;
    uint64_t waited_goal = 0;
    for (long i = 1; !below && s.num_gc < gc0 + 3; i++) {
        m = await_start(h, m, &waited_goal);
        below = assist_below_goal(h, m);
        if (!(i & 4095)) { /* a new heap call: the assist cap is per call */
            tc_leave(m);
            CHECK_OK(tc_heap_stats(h, &s));
            m = tc_enter(h);
        }
    }
    CHECK(below == 1);
    collector_debug_assists_only(h, false);
    tc_locals_pop(m, 1);
    tc_leave(m);
    tc_heap_destroy(h);
}

/* ---- two markers share the mark bits by regions -------------------------
 *
 * A tree in heap order (node k -> 2k+1, 2k+2, allocated in index order, so
 * parents, siblings and cousins share 4 KiB mark-bit regions) is marked by
 * two markers taking turns on this thread (a test hook), as two mark
 * workers do at once: the second gets its work from the first's stack, in
 * regions the first owns, so it must ask for them and defer; the first
 * shares them. Whatever the slice, checkmark finds nothing white, the
 * shared regions are counted, and every node survives with its id. */

/* pair_nodes — a heap for the two-marker tests (incremental, driven by the
 * test hooks; gogc off, so no collection runs before the roots are made;
 * checkmark on) and n unlinked nodes with ids 0..n-1, allocated in index
 * order by *mp, which is left entered. */
static tc_obj **pair_nodes(int64_t n, tc_heap **hp, tc_mutator **mp)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = TC_COLLECTOR_INCREMENTAL; /* the hooks step its cycle */
    c.gogc = -1;
    c.checkmark = true;
    if (tc_heap_new(&c, hp) != TC_OK)
        return NULL;
    *mp = tc_enter(*hp);
    tc_obj **v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; v && i < n; i++)
        if (!(v[i] = anode(*mp, i))) {
            free(v);
            return NULL;
        }
    return v;
}

TEST(two_markers_share_regions_and_lose_nothing)
{
    enum { N = 1 << 15 };
    if (tc_test_collector != TC_COLLECTOR_INCREMENTAL)
        return; /* it drives its own incremental heap: run it once */
    tc_heap *h;
    tc_mutator *m;
    tc_obj **v = pair_nodes(N, &h, &m);
    CHECK(v != NULL);
    for (size_t k = 0; k < N; k++)
        for (size_t j = 0; j < 2; j++)
            tc_store(m, v[k], j, 2 * k + 1 + j < N ? tc_ref(v[2 * k + 1 + j]) : tc_nil());
    tc_root *root;
    CHECK_OK(tc_root_new(h, v[0], &root));
    tc_leave(m);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    uint64_t shared0 = s.mark_regions_shared;
    const int64_t slices[] = {1, 5, 64, 1000};
    for (size_t i = 0; i < sizeof slices / sizeof slices[0]; i++) {
        CHECK_OK(collector_debug_start(h));
        collector_debug_mark_pair(h, slices[i]);
        CHECK_OK(collector_debug_finish(h)); /* checkmark: nothing reachable left white */
        CHECK_OK(tc_heap_stats(h, &s));
        CHECK(s.mark_regions_shared > shared0);
        shared0 = s.mark_regions_shared;
        CHECK(s.heap_objects == N);
    }
    int64_t count = 0, sum = 0;
    tree_sum(tc_root_obj(root), &count, &sum);
    CHECK(count == N);
    CHECK(sum == (int64_t)N * (N - 1) / 2);
    CHECK_OK(tc_heap_verify(h));
    tc_root_release(h, root);
    free(v);
    tc_heap_destroy(h);
}

/* A list (each scan leaves one candidate: drain.c's chain path) and a
 * random graph (most references lead to objects already marked or already
 * waiting: the prefetch ring drops them), marked by two markers taking
 * turns in slices as small as one object: every budget ends with marked
 * objects still waiting to be scanned, which the marker must scan before it
 * returns (its grey ring is not flushed to the queue); the checkmark at the
 * end says nothing reachable stayed white. */
TEST(two_markers_mark_a_list_and_a_graph_in_slices)
{
    enum { N = 1 << 14 };
    if (tc_test_collector != TC_COLLECTOR_INCREMENTAL)
        return; /* it drives its own incremental heap: run it once */
    for (int shape = 0; shape < 2; shape++) {
        tc_heap *h;
        tc_mutator *m;
        tc_obj **v = pair_nodes(N, &h, &m);
        CHECK(v != NULL);
        uint64_t rng = 12345;
        for (size_t k = 0; k < N; k++) {
            tc_store(m, v[k], 0, k + 1 < N ? tc_ref(v[k + 1]) : tc_nil());
            rng = rng * 6364136223846793005u + 1442695040888963407u;
            tc_store(m, v[k], 1, shape ? tc_ref(v[(rng >> 33) % N]) : tc_nil());
        }
        tc_root *root;
        CHECK_OK(tc_root_new(h, v[0], &root));
        tc_leave(m);
        const int64_t slices[] = {1, 2, 17, 1000};
        for (size_t i = 0; i < sizeof slices / sizeof slices[0]; i++) {
            CHECK_OK(collector_debug_start(h));
            collector_debug_mark_pair(h, slices[i]);
            CHECK_OK(collector_debug_finish(h)); /* checkmark: nothing reachable left white */
            tc_stats s;
            CHECK_OK(tc_heap_stats(h, &s));
            CHECK(s.heap_objects == N);
        }
        int64_t count = 0, sum = 0;
        for (tc_obj *n = tc_root_obj(root); n; n = tc_load(n, 0).u.ref) {
            int64_t id;
            memcpy(&id, tc_payload(n), sizeof id);
            CHECK(id == count);
            count++;
            sum += id;
        }
        CHECK(count == N);
        CHECK(sum == (int64_t)N * (N - 1) / 2);
        CHECK_OK(tc_heap_verify(h));
        tc_root_release(h, root);
        free(v);
        tc_heap_destroy(h);
    }
}
