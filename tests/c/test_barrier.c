/* test_barrier.c — each barrier keeps an object alive through the classic
 * lost-object interleaving; with the planted bug (TC_PLANT=PLANT_NO_BARRIER, a
 * separate build) checkmark must catch the loss.
 *
 * The interleaving (tc_lost_object.h), driven step by step on an
 * incremental heap:
 *   before mark:  handles a -> A, c -> C; A[0] = B (B has no handle)
 *   mark starts:  the handles are grey; C alone is made black
 *   mutator:      b = A[0] (a new handle); A[0] = nil; C[0] = b; drop b
 *   mark ends (Dijkstra re-scans the handles: a and c, both black).
 * B is now reachable only through C, which is black and scanned. The
 * deletion shade (hybrid, yuasa) or the insertion shade (hybrid, dijkstra)
 * makes B grey; without a barrier B stays white, checkmark sees it. */
#include <string.h>

#include "check.h"
#include "plant.h"
#include "tc_lost_object.h"
#include "tc_test.h"

static int run_scenario(tc_barrier barrier, int *failed_)
{
    tc_root *n;
    tc_heap *h = lost_object_heap(barrier, &n);
    if (!h)
        return -1;
    tc_status st = collector_debug_finish(h);
    int rc = st == TC_ERR_CORRUPT ? 1 : st == TC_OK ? 0 : -1;
    /* on the correct build, B is alive and intact through N */
    if (rc == 0) {
        tc_value got;
        tc_root *br = NULL;
        tc_slot_get(h, n, 0, &got, &br);
        int64_t p2 = 0;
        if (br)
            tc_obj_data_get(h, br, &p2, 8);
        if (!br || p2 != LOST_PAYLOAD || tc_heap_verify(h) != TC_OK)
            rc = -1;
    }
    tc_heap_destroy(h);
    return rc;
}

TEST(barrier_keeps_moved_object_alive)
{
    if (tc_test_collector != TC_COLLECTOR_INCREMENTAL)
        return; /* the scenario drives its own incremental heap: run it once */
    static const tc_barrier all[] = {TC_BARRIER_HYBRID, TC_BARRIER_DIJKSTRA, TC_BARRIER_YUASA};
    for (int i = 0; i < 3; i++) {
        int rc = run_scenario(all[i], failed_);
#if TC_PLANT == PLANT_NO_BARRIER
        fprintf(stderr, "  planted bug, barrier %s: checkmark %s\n", tc_barrier_name(all[i]),
                rc == 1 ? "caught the lost object" : "MISSED it");
        CHECK(rc == 1);
#else
        CHECK(rc == 0);
#endif
    }
}

/* The Dijkstra termination re-scans every root with the world stopped; the
 * drain of what that finds is bounded (cycle.c), or it would grow with the
 * heap. Here a handle made during mark is the only way to a 100,000-node
 * list that marking never saw (Dijkstra shades neither the new handle nor
 * the deleted slot): the first termination cannot mark it all inside its
 * pause, so it fails, the list is marked with the world running, and a
 * second termination ends the cycle. The list survives intact. */
TEST(dijkstra_termination_drain_is_bounded)
{
    if (tc_test_collector != TC_COLLECTOR_INCREMENTAL)
        return; /* the scenario drives its own incremental heap: run it once */
    enum { N = 100000 };
    tc_config c;
    tc_config_init(&c);
    c.collector = TC_COLLECTOR_INCREMENTAL;
    c.barrier = TC_BARRIER_DIJKSTRA;
    c.gogc = -1;
    c.checkmark = true;
    tc_heap *h;
    CHECK_OK(tc_heap_new(&c, &h));
    tc_root *a, *l = NULL;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &a));
    tc_mutator *m = tc_enter(h); /* gogc off: no cycle runs while raw pointers are held */
    tc_obj *head = NULL;
    for (int i = 0; i < N; i++) {
        tc_obj *n = tc_alloc(m, 1, 0);
        tc_store(m, n, 0, head ? tc_ref(head) : tc_nil());
        head = n;
    }
    tc_store(m, tc_root_obj(a), 0, tc_ref(head));
    tc_leave(m);
    CHECK_OK(collector_debug_start(h));
    tc_value v;
    CHECK_OK(tc_slot_get(h, a, 0, &v, &l));
    CHECK_OK(tc_slot_set(h, a, 0, tc_nil()));
    while (!collector_debug_mark(h, 1000)) {
    }
    tc_stats st;
    CHECK_OK(tc_heap_stats(h, &st));
    uint32_t before = st.npauses;
    CHECK_OK(collector_debug_finish(h)); /* checkmark: nothing reachable is lost */
    CHECK_OK(tc_heap_stats(h, &st));
    CHECK(st.npauses - before >= 2); /* a failed termination, then the one that ended the mark */
    m = tc_enter(h);
    int len = 0;
    for (tc_obj *n = tc_root_obj(l); n; n = tc_load(n, 0).u.ref)
        len++;
    tc_leave(m);
    CHECK(len == N);
    CHECK(tc_heap_verify(h) == TC_OK);
    tc_root_release(h, l);
    tc_root_release(h, a);
    tc_heap_destroy(h);
}
