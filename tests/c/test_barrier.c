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
