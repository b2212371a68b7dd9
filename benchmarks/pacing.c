/*
 * pacing.c — issue 4's benchmarks on tricolor that the shared programs do not
 * cover (gcbench_tricolor and mark_tricolor take neither gogc nor the number
 * of mark workers):
 *
 *     pacing gcbench gogc=N [collector=] [workers=]
 *         GCBench (stretch tree 18, long-lived tree 16 and an array of
 *         500,000 doubles, then trees of depth 4..16 top-down and bottom-up,
 *         as gcbench.c) in one raw section, on a heap with that gogc.
 *         RESULT gcbench-gogc tricolor-gogc<N>: time, gc_cpu, gc_cpu_s
 *         (its CPU seconds: marking, sweeping, pauses, assists),
 *         sweep_cpu_s (of which the sweep's), num_gc, peak_rss,
 *         heap_sys_max (the largest heap_sys seen).
 *
 *     pacing mark shape=list|tree|graph n=N workers=W reps=R
 *         one shape of n nodes (2 references, no payload: mark.c's), built
 *         with gogc off, one warm-up tc_heap_collect, then R timed ones on
 *         the concurrent collector with W mark workers. RESULT mark-<shape>-<n>
 *         tricolor-w<W>: full (wall ns/object of tc_heap_collect) and
 *         mark_phase (mark_ns from the stats, ns/object).
 */
#include "gclab.h"
#include <tricolor.h>

static tc_heap *g_heap;
static tc_mutator *g_mut;

static tc_heap *heap_new(int argc, char **argv, int64_t gogc)
{
    tc_config c;
    tc_config_init(&c);
    const char *s = opt_str(argc, argv, "collector", NULL);
    if (s && tc_collector_parse(s, &c.collector) != TC_OK)
        bench_die("collector", tc_errmsg());
    c.gogc = gogc;
    c.mark_workers = (int)opt_long(argc, argv, "workers", 1);
    c.checkmark = opt_long(argc, argv, "checkmark", 0) != 0; /* verify every cycle (slow: not for timing) */
    tc_heap *h;
    if (tc_heap_new(&c, &h) != TC_OK)
        bench_die("tc_heap_new", tc_errmsg());
    printf("INFO tricolor %s gogc=%lld workers=%d\n", tc_collector_name(c.collector), (long long)c.gogc,
           c.mark_workers);
    return h;
}

static tc_obj *node_new(size_t size)
{
    tc_obj *n = tc_alloc(g_mut, 2, size);
    if (!n)
        bench_die("tc_alloc failed", tc_errmsg());
    return n;
}

/* ---- GCBench ------------------------------------------------------------- */

enum { L_LONG, L_ARRAY, L_TEMP, L_FRAMES };
static tc_obj **g_loc;
static uint64_t g_sys_max;

static void sys_sample(void)
{
    static tc_stats st;
    if (tc_heap_stats(g_heap, &st) == TC_OK && st.heap_sys > g_sys_max)
        g_sys_max = st.heap_sys;
}

/* populate — top-down: each child is stored into its reachable parent
 * before the next allocation. */
static void populate(int depth, tc_obj *n)
{
    if (depth-- <= 0)
        return;
    tc_obj *l = node_new(8);
    tc_store(g_mut, n, 0, tc_ref(l));
    tc_obj *r = node_new(8);
    tc_store(g_mut, n, 1, tc_ref(r));
    populate(depth, l);
    populate(depth, r);
}

/* make_tree — bottom-up, the finished subtrees of each level waiting in two
 * local roots of that depth (a shadow stack pushed once). */
static tc_obj *make_tree(int depth)
{
    if (depth <= 0)
        return node_new(8);
    tc_obj **f = g_loc + L_FRAMES + 2 * depth;
    f[0] = make_tree(depth - 1);
    f[1] = make_tree(depth - 1);
    tc_obj *n = node_new(8);
    tc_store(g_mut, n, 0, tc_ref(f[0]));
    tc_store(g_mut, n, 1, tc_ref(f[1]));
    f[0] = f[1] = NULL;
    return n;
}

static long tree_size(int d) { return (1L << (d + 1)) - 1; }

static void gcbench(int argc, char **argv)
{
    int64_t gogc = opt_long(argc, argv, "gogc", 100);
    enum { STRETCH = 18, LONG_LIVED = 16, MIN_D = 4, MAX_D = 16, ARRAY = 500000 };
    uint64_t made = bench_now_ns(); /* gc_cpu_fraction runs from here */
    g_heap = heap_new(argc, argv, gogc);
    tc_stats st;
    uint64_t t0 = bench_now_ns();
    g_mut = tc_enter(g_heap);
    g_loc = tc_locals(g_mut, L_FRAMES + 2 * (STRETCH + 1));
    g_loc[L_TEMP] = make_tree(STRETCH);
    g_loc[L_TEMP] = NULL;
    g_loc[L_LONG] = node_new(8);
    populate(LONG_LIVED, g_loc[L_LONG]);
    g_loc[L_ARRAY] = tc_alloc(g_mut, 0, ARRAY * sizeof(double));
    double *a = tc_payload(g_loc[L_ARRAY]);
    for (int i = 0; i < ARRAY / 2; i++)
        a[i] = 1.0 / i;
    for (int d = MIN_D; d <= MAX_D; d += 2) {
        long iters = 2 * tree_size(STRETCH) / tree_size(d);
        for (long i = 0; i < iters; i++) {
            g_loc[L_TEMP] = node_new(8);
            populate(d, g_loc[L_TEMP]);
            g_loc[L_TEMP] = NULL;
        }
        sys_sample();
        for (long i = 0; i < iters; i++) {
            g_loc[L_TEMP] = make_tree(d);
            g_loc[L_TEMP] = NULL;
        }
        sys_sample();
    }
    a = tc_payload(g_loc[L_ARRAY]);
    if (a[1000] != 1.0 / 1000 || !tc_load(g_loc[L_LONG], 0).u.ref)
        bench_die("gcbench", "the long-lived data did not survive");
    tc_locals_pop(g_mut, L_FRAMES + 2 * (STRETCH + 1));
    tc_leave(g_mut);
    uint64_t t1 = bench_now_ns();
    if (tc_heap_stats(g_heap, &st) != TC_OK)
        bench_die("tc_heap_stats", tc_errmsg());
    char sys[64];
    snprintf(sys, sizeof sys, "tricolor-gogc%lld", (long long)gogc);
    double wall = (double)(t1 - t0);
    bench_result("gcbench-gogc", sys, "time", wall / 1e9, "s");
    /* gc_cpu_fraction runs from heap creation: the run is nearly all of it */
    bench_result("gcbench-gogc", sys, "gc_cpu", st.gc_cpu_fraction, "fraction");
    /* the fraction is capped at 1 (the stats' contract): past that, marking
     * and sweeping alone (uncapped; only the pauses' CPU is left out) */
    double gc_cpu_s = st.gc_cpu_fraction * (double)(t1 - made) / 1e9,
           parts = (double)(st.mark_cpu_ns + st.sweep_cpu_ns) / 1e9;
    bench_result("gcbench-gogc", sys, "gc_cpu_s", gc_cpu_s > parts ? gc_cpu_s : parts, "s");
    bench_result("gcbench-gogc", sys, "sweep_cpu_s", (double)st.sweep_cpu_ns / 1e9, "s");
    bench_result("gcbench-gogc", sys, "num_gc", (double)st.num_gc, "count");
    bench_result("gcbench-gogc", sys, "assist", (double)st.assist_ns / 1e6, "ms");
    bench_result("gcbench-gogc", sys, "heap_sys_max", (double)g_sys_max / 1048576.0, "MiB");
    bench_result("gcbench-gogc", sys, "peak_rss", peak_rss_mib(), "MiB");
    tc_heap_destroy(g_heap);
}

/* ---- mark workers -------------------------------------------------------- */

static void mark(int argc, char **argv)
{
    const char *shape = opt_str(argc, argv, "shape", "tree");
    size_t n = (size_t)opt_long(argc, argv, "n", 1L << 24);
    long reps = opt_long(argc, argv, "reps", 5);
    tc_config c;
    g_heap = heap_new(argc, argv, -1);
    tc_heap_config(g_heap, &c);
    tc_obj **v = malloc(n * sizeof *v);
    if (!v)
        bench_die("out of memory", NULL);
    g_mut = tc_enter(g_heap);
    tc_obj **loc = tc_locals(g_mut, 1);
    loc[0] = v[0] = node_new(0);
    for (size_t i = 1; i < n; i++) { /* allocation order = address order */
        v[i] = node_new(0);
        tc_store(g_mut, v[i - 1], 0, tc_ref(v[i]));
    }
    tc_obj *root = v[0];
    if (!strcmp(shape, "tree")) {
        for (size_t k = 0; k < n; k++) {
            tc_store(g_mut, v[k], 0, 2 * k + 1 < n ? tc_ref(v[2 * k + 1]) : tc_nil());
            tc_store(g_mut, v[k], 1, 2 * k + 2 < n ? tc_ref(v[2 * k + 2]) : tc_nil());
        }
    } else if (!strcmp(shape, "graph")) { /* mark.c's graph, the same seed and order: the same graph */
        bench_rng rng = {UINT64_C(0x9e3779b97f4a7c15)};
        uint32_t *perm = bench_permutation(&rng, n);
        for (size_t i = 0; i < n; i++)
            tc_store(g_mut, v[perm[i]], 0, i + 1 < n ? tc_ref(v[perm[i + 1]]) : tc_nil());
        for (size_t i = 0; i < n; i++)
            tc_store(g_mut, v[i], 1, tc_ref(v[bench_rng_below(&rng, n)]));
        root = v[perm[0]];
        free(perm);
    } else if (strcmp(shape, "list"))
        bench_die("unknown shape", shape);
    tc_root *r;
    if (tc_root_new(g_heap, root, &r) != TC_OK)
        bench_die("tc_root_new", tc_errmsg());
    tc_locals_pop(g_mut, 1);
    tc_leave(g_mut);
    free(v);
    char wl[64], sys[64];
    snprintf(wl, sizeof wl, "mark-%s-%zuM", shape, n >> 20);
    snprintf(sys, sizeof sys, "tricolor-w%d", c.mark_workers);
    if (tc_heap_collect(g_heap) != TC_OK) /* warm-up */
        bench_die("tc_heap_collect", tc_errmsg());
    for (long i = 0; i < reps; i++) {
        tc_stats a, b;
        tc_heap_stats(g_heap, &a);
        uint64_t t0 = bench_now_ns();
        if (tc_heap_collect(g_heap) != TC_OK)
            bench_die("tc_heap_collect", tc_errmsg());
        uint64_t t1 = bench_now_ns();
        tc_heap_stats(g_heap, &b);
        if (b.heap_objects < n)
            bench_die("mark", "the collection freed live objects");
        bench_result(wl, sys, "full", (double)(t1 - t0) / (double)n, "ns/object");
        bench_result(wl, sys, "mark_phase", (double)(b.mark_ns - a.mark_ns) / (double)n, "ns/object");
    }
    tc_root_release(g_heap, r);
    tc_heap_destroy(g_heap);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "gcbench"))
        gcbench(argc, argv);
    else if (!strcmp(mode, "mark"))
        mark(argc, argv);
    else
        bench_die("usage", "pacing gcbench gogc=N | pacing mark shape=S n=N workers=W reps=R");
    return 0;
}
