/*
 * inspect.c — the cost of "why alive" (csrc/inspect.c) on a large heap:
 * issue 15's rows, path_to <= 1 s and retained <= 5 s on 1M objects.
 *
 * The heap holds n nodes of two references each, all reachable from one
 * handle, in the shapes of mark.c:
 *     list   node i -> node i+1 (a path_to the last node is n steps long)
 *     tree   a complete binary tree in heap order
 *     graph  slot 0 links the nodes in a random permutation order, slot 1
 *            points at a uniformly random node
 * path_to and referrers are asked about the node allocated last (the list's
 * tail, the tree's last leaf, a random node of the graph), retained about
 * the root (whose handle it does not count: all n objects are its retained
 * set; the cost is the same for any object, the dominator tree is always
 * the whole graph's); roots is timed too. Each call is timed REPS times
 * (wall clock, seconds).
 *
 * The pause: how long each call kept the world stopped, as the core
 * measured it (inspect_last_pause_ns, an internal hook: this program is
 * built with -Icsrc); <call>_pause, seconds.
 *
 * Usage: inspect_tricolor list|tree|graph N REPS
 */
#include "bench.h"

#include <stdbool.h>

#include "inspect.h" /* inspect_last_pause_ns */

#ifndef BENCH_TRICOLOR
#error "inspect.c measures tricolor only: build with -DBENCH_TRICOLOR"
#endif

#define SEED UINT64_C(0x9e3779b97f4a7c15)

static tc_heap *g_heap;

/* ---- building ---- */

/* build — n nodes in `shape`; returns handles to the root and to the node
 * allocated last. gogc is off, so raw pointers stay valid while building. */
static void build(const char *shape, size_t n, tc_root **root, tc_root **last)
{
    tc_obj **v = malloc(n * sizeof *v);
    if (!v)
        bench_die("out of memory", "node array");
    tc_mutator *m = tc_enter(g_heap);
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = tc_alloc(m, 2, 0)))
            bench_die("tc_alloc failed", tc_errmsg());
    bench_rng rng = {SEED};
    tc_obj *top = v[0];
    if (!strcmp(shape, "list")) {
        for (size_t i = 0; i + 1 < n; i++)
            tc_store(m, v[i], 0, tc_ref(v[i + 1]));
    } else if (!strcmp(shape, "tree")) {
        for (size_t k = 0; k < n; k++) {
            tc_store(m, v[k], 0, tc_ref(2 * k + 1 < n ? v[2 * k + 1] : NULL));
            tc_store(m, v[k], 1, tc_ref(2 * k + 2 < n ? v[2 * k + 2] : NULL));
        }
    } else {
        uint32_t *perm = bench_permutation(&rng, n);
        for (size_t i = 0; i + 1 < n; i++)
            tc_store(m, v[perm[i]], 0, tc_ref(v[perm[i + 1]]));
        for (size_t i = 0; i < n; i++)
            tc_store(m, v[i], 1, tc_ref(v[bench_rng_below(&rng, n)]));
        top = v[perm[0]];
        free(perm);
    }
    if (tc_root_new(g_heap, top, root) != TC_OK || tc_root_new(g_heap, v[n - 1], last) != TC_OK)
        bench_die("tc_root_new failed", tc_errmsg());
    tc_leave(m);
    free(v);
}

/* ---- the calls ---- */

enum { CALL_PATH, CALL_RETAINED, CALL_REFERRERS, CALL_ROOTS, NCALLS };
static const char *const call_name[NCALLS] = {"path_to", "retained", "referrers", "roots"};

/* run_call — one call on `obj`, its results released; the path length,
 * retained objects or list length, for an INFO line. */
static uint64_t run_call(int call, tc_root *obj)
{
    tc_link *links = NULL;
    size_t n = 0;
    uint64_t bytes = 0, objs = 0;
    tc_status st = call == CALL_PATH        ? tc_obj_path_to(g_heap, obj, &links, &n)
                   : call == CALL_RETAINED  ? tc_obj_retained(g_heap, obj, &bytes, &objs)
                   : call == CALL_REFERRERS ? tc_obj_referrers(g_heap, obj, &links, &n)
                                            : tc_heap_roots(g_heap, &links, &n);
    if (st != TC_OK)
        bench_die(call_name[call], tc_errmsg());
    for (size_t i = 0; i < n; i++)
        tc_root_release(g_heap, links[i].obj);
    tc_inspect_free(links);
    return call == CALL_RETAINED ? objs : n;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        bench_die("usage", "inspect_tricolor list|tree|graph N [REPS]");
    const char *shape = argv[1];
    if (strcmp(shape, "list") && strcmp(shape, "tree") && strcmp(shape, "graph"))
        bench_die("unknown shape", shape);
    size_t n = (size_t)bench_arg_long(argc, argv, 2, 1 << 20);
    long reps = bench_arg_long(argc, argv, 3, 3);
    tc_config c;
    tc_config_init(&c);
    c.gogc = -1; /* nothing is garbage; no cycle while building */
    g_heap = bench_tc_heap(&c);
    tc_root *root, *last;
    build(shape, n, &root, &last);
    char workload[64];
    snprintf(workload, sizeof workload, "inspect:%s:%zu%s", shape, n >= (1u << 20) ? n >> 20 : n >> 10,
             n >= (1u << 20) ? "M" : "K");
    for (int call = 0; call < NCALLS; call++) {
        uint64_t result = 0;
        for (long r = 0; r < reps; r++) {
            uint64_t t0 = bench_now_ns();
            result = run_call(call, call == CALL_RETAINED ? root : last);
            uint64_t dt = bench_now_ns() - t0;
            char metric[32];
            bench_result(workload, bench_tc_system(), call_name[call], (double)dt / 1e9, "s");
            snprintf(metric, sizeof metric, "%s_pause", call_name[call]);
            bench_result(workload, bench_tc_system(), metric, (double)inspect_last_pause_ns() / 1e9, "s");
        }
        printf("INFO %s_%s_result %llu\n", shape, call_name[call], (unsigned long long)result);
    }
    printf("INFO %s_peak_rss_mib %.0f\n", shape, peak_rss_mib());
    tc_root_release(g_heap, root);
    tc_root_release(g_heap, last);
    tc_heap_destroy(g_heap);
    return 0;
}
