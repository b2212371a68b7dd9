/*
 * gcbench.c — the classic GCBench (Boehm, after Ellis and Kovac) on three
 * memory managers, from this one source:
 *
 *     -DBENCH_TRICOLOR   tricolor's raw C API (tc_enter/tc_alloc/tc_store)
 *     -DBENCH_BDWGC      bdwgc: GC_MALLOC nodes, GC_MALLOC_ATOMIC array
 *     -DBENCH_MALLOC     malloc/free, each short-lived tree freed after use
 *
 * The workload, identical on all three:
 *   1. build and drop a "stretch" tree of depth 18 (bottom-up);
 *   2. build a long-lived tree of depth 16 (top-down) and an array of
 *      500,000 doubles, both kept until the end;
 *   3. for depth d = 4, 6, ..., 16: NumIters(d) = 2*TreeSize(18)/TreeSize(d)
 *      times build a tree of depth d top-down (Populate) and drop it, then
 *      the same number of trees bottom-up (MakeTree);
 *   4. check that the array and the long-lived tree survived.
 * A node is two references plus two 32-bit ints (i, j): on tricolor an
 * object with 2 slots and 8 payload bytes.
 *
 * Usage: gcbench_<system> [stretch longlived mindepth maxdepth arraysize]
 * Prints RESULT lines (see bench.h): seconds for steps 1-4 (heap creation
 * and teardown excluded), collections run, the peak resident set, minor page
 * faults, for tricolor and bdwgc the heap's size at the end (heap_sys: it
 * never shrinks, released pages included) and the collector's CPU seconds
 * (gc_cpu_s), for tricolor the bytes its scavenger returned to the OS, and
 * the main thread's own CPU seconds over steps 1-4 (main_cpu_s: tricolor's
 * mutator, which the collector thread's work is not in; bdwgc's main thread
 * also marks; on a loaded machine it moves far less than `time`, so an A/B
 * of two builds can read it where wall time is noise), and for tricolor the
 * main thread's waits for the collector (delay_s) and the mark phases' wall
 * time (mark_s: the write barrier is on).
 * bdwgc's space-time knob: BENCH_BDWGC_DIVISOR=N (GC_set_free_space_divisor).
 */
#include "bench.h"

#include <sys/resource.h>


#if defined(BENCH_TRICOLOR) + defined(BENCH_BDWGC) + defined(BENCH_MALLOC) != 1
#error "define exactly one of BENCH_TRICOLOR, BENCH_BDWGC, BENCH_MALLOC"
#endif

/* ---- the three memory managers behind one small node interface ---------- */

#if defined(BENCH_TRICOLOR)
#define SYSTEM bench_tc_system()
typedef tc_obj node;

/* Local roots, pushed once by main (tc_locals may move its stack when it
 * grows, so the benchmark never pushes again): */
enum { L_LONG, L_ARRAY, L_TEMP, L_FRAMES };
static tc_heap *g_heap;
static tc_mutator *g_mut;
static tc_obj **g_loc;
static uint64_t g_heap_made; /* when: gc_cpu_fraction runs from there */

/* node_new — a leaf: two nil slots, 8 zeroed payload bytes (i, j). */
static inline node *node_new(void)
{
    node *n = tc_alloc(g_mut, 2, 8);
    if (!n)
        bench_die("tc_alloc failed", tc_errmsg());
    return n;
}
static inline void node_set_left(node *n, node *c) { tc_store(g_mut, n, 0, tc_ref(c)); }
static inline void node_set_right(node *n, node *c) { tc_store(g_mut, n, 1, tc_ref(c)); }
static inline void tree_drop(node *n) { (void)n; }

static double *array_new(size_t n)
{
    g_loc[L_ARRAY] = tc_alloc(g_mut, 0, n * sizeof(double));
    if (!g_loc[L_ARRAY])
        bench_die("tc_alloc(array) failed", tc_errmsg());
    return tc_payload(g_loc[L_ARRAY]);
}

#elif defined(BENCH_BDWGC)
#include <gc.h>
#define SYSTEM "bdwgc"
typedef struct node {
    struct node *left, *right;
    int32_t i, j;
} node;

static inline node *node_new(void)
{
    node *n = GC_MALLOC(sizeof(node)); /* zeroed */
    if (!n)
        bench_die("GC_MALLOC failed", NULL);
    return n;
}
static inline void node_set_left(node *n, node *c) { n->left = c; }
static inline void node_set_right(node *n, node *c) { n->right = c; }
static inline void tree_drop(node *n) { (void)n; }

/* on_event — the process CPU time of whole collections (START..END): the
 * world is stopped, so all of it is the collector's, parallel markers too. */
static uint64_t g_coll_start, g_gc_cpu_ns;
static uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static void on_event(GC_EventType e)
{
    if (e == GC_EVENT_START)
        g_coll_start = cpu_now_ns();
    else if (e == GC_EVENT_END && g_coll_start)
        g_gc_cpu_ns += cpu_now_ns() - g_coll_start;
}

static double *array_new(size_t n)
{
    double *a = GC_MALLOC_ATOMIC(n * sizeof(double));
    if (!a)
        bench_die("GC_MALLOC_ATOMIC failed", NULL);
    return a;
}

#else /* BENCH_MALLOC */
#define SYSTEM "malloc"
typedef struct node {
    struct node *left, *right;
    int32_t i, j;
} node;

static inline node *node_new(void)
{
    node *n = malloc(sizeof(node));
    if (!n)
        bench_die("malloc failed", NULL);
    n->left = n->right = NULL;
    n->i = n->j = 0;
    return n;
}
static inline void node_set_left(node *n, node *c) { n->left = c; }
static inline void node_set_right(node *n, node *c) { n->right = c; }

/* tree_drop — free a whole tree (the malloc version's "collection"). */
static void tree_drop(node *n)
{
    if (!n)
        return;
    tree_drop(n->left);
    tree_drop(n->right);
    free(n);
}

static double *array_new(size_t n)
{
    double *a = malloc(n * sizeof(double));
    if (!a)
        bench_die("malloc failed", NULL);
    return a;
}
#endif

/* ---- the workload --------------------------------------------------------- */

static long tree_size(int depth) { return (1L << (depth + 1)) - 1; }

/* populate — build the children of `n` top-down, `depth` levels deep.
 * On tricolor `n` is reachable from a local root, and each new child is
 * stored into its parent before the next allocation, so no raw pointer
 * here is ever unreachable across a tc_alloc. */
static void populate(int depth, node *n)
{
    if (depth <= 0)
        return;
    depth--;
    node *l = node_new();
    node_set_left(n, l);
    node *r = node_new();
    node_set_right(n, r);
    populate(depth, l);
    populate(depth, r);
}

/* make_tree — build a tree bottom-up and return its root. The two subtrees
 * wait in a "frame" while their parent is allocated: plain C locals for the
 * conservative and manual managers; for tricolor two precise local roots per
 * depth, pushed once up front (a shadow stack), cleared after use so no
 * dropped tree stays reachable from them. */
static node *make_tree(int depth)
{
    if (depth <= 0)
        return node_new();
#if defined(BENCH_TRICOLOR)
    tc_obj **f = g_loc + L_FRAMES + 2 * depth;
#else
    node *f[2];
#endif
    f[0] = make_tree(depth - 1);
    f[1] = make_tree(depth - 1);
    node *n = node_new();
    node_set_left(n, f[0]);
    node_set_right(n, f[1]);
#if defined(BENCH_TRICOLOR)
    f[0] = f[1] = NULL;
#endif
    return n;
}

/* temp_tree — the slot holding the current short-lived tree (a local root on
 * tricolor, so the collector may not reclaim it while it is built). */
#if defined(BENCH_TRICOLOR)
#define TEMP (g_loc[L_TEMP])
#else
static node *g_temp;
#define TEMP g_temp
#endif

/* phase_note — with BENCH_PHASES=1, one INFO line at the end of a step:
 * the heap's size and the collections so far (where the peak heap is set,
 * issue 16's space-time row); off, one load of a flag. */
static int g_phases = -1;
static void phase_note(const char *step);

/* time_construction — NumIters(depth) top-down trees, then as many bottom-up. */
static void time_construction(int depth, int stretch)
{
    long iters = 2 * tree_size(stretch) / tree_size(depth);
    for (long i = 0; i < iters; i++) {
        TEMP = node_new();
        populate(depth, TEMP);
        tree_drop(TEMP);
        TEMP = NULL;
    }
    for (long i = 0; i < iters; i++) {
        TEMP = make_tree(depth);
        tree_drop(TEMP);
        TEMP = NULL;
    }
}

/* gcbench — steps 1-4 of the header; returns the long-lived tree's root. */
static node *gcbench(int stretch, int long_lived, int min_depth, int max_depth, size_t array_size)
{
    TEMP = make_tree(stretch);
    tree_drop(TEMP);
    TEMP = NULL;

#if defined(BENCH_TRICOLOR)
    node *ll = g_loc[L_LONG] = node_new();
#else
    node *ll = node_new();
#endif
    populate(long_lived, ll);

    double *array = array_new(array_size);
    for (size_t i = 0; i < array_size / 2; i++)
        array[i] = 1.0 / (double)i;

    phase_note("stretch+long_lived");
    for (int d = min_depth; d <= max_depth; d += 2) {
        time_construction(d, stretch);
        phase_note("depth");
    }

#if defined(BENCH_TRICOLOR)
    array = tc_payload(g_loc[L_ARRAY]);
#endif
    if (!ll || array[1000] != 1.0 / 1000.0)
        bench_die("the long-lived data did not survive", NULL);
#if defined(BENCH_MALLOC)
    free(array);
#endif
    return ll;
}

/* ---- setup, timing, report ------------------------------------------------ */

#if defined(BENCH_TRICOLOR)
/* tc_setup — a heap with the default configuration (see bench_tc_heap);
 * opens the raw section and pushes every local root. */
static void tc_setup(int max_frames)
{
    tc_config c;
    tc_config_init(&c);
    g_heap_made = bench_now_ns();
    g_heap = bench_tc_heap(&c);
    g_mut = tc_enter(g_heap);
    if (!g_mut)
        bench_die("tc_enter failed", tc_errmsg());
    g_loc = tc_locals(g_mut, L_FRAMES + 2 * ((size_t)max_frames + 1));
    if (!g_loc)
        bench_die("tc_locals failed", tc_errmsg());
}

static uint64_t collections(void)
{
    tc_stats st;
    if (tc_heap_stats(g_heap, &st) != TC_OK)
        bench_die("tc_heap_stats failed", tc_errmsg());
    return st.num_gc;
}
#elif defined(BENCH_BDWGC)
static uint64_t collections(void) { return GC_get_gc_no(); }
#else
static uint64_t collections(void) { return 0; }
#endif

#if defined(BENCH_TRICOLOR)
static void trace_line(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}
#endif
static void phase_note(const char *step)
{
    if (g_phases < 0)
        g_phases = getenv("BENCH_PHASES") && atoi(getenv("BENCH_PHASES")) > 0;
    if (!g_phases)
        return;
    double sys_mib = 0;
#if defined(BENCH_TRICOLOR)
    tc_stats st;
    if (tc_heap_stats(g_heap, &st) == TC_OK)
        sys_mib = (double)st.heap_sys / 1048576.0;
    tc_heap_drain_output(g_heap, trace_line, NULL); /* with TRICOLOR_DEBUG=gctrace=1 */
#elif defined(BENCH_BDWGC)
    sys_mib = (double)(GC_get_heap_size() + GC_get_unmapped_bytes()) / 1048576.0;
#endif
    printf("INFO phase %s heap_sys_mib %.1f collections %llu\n", step, sys_mib, (unsigned long long)collections());
}

/* thread_cpu_ns — the calling thread's CPU time. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int stretch = (int)bench_arg_long(argc, argv, 1, 18);
    int long_lived = (int)bench_arg_long(argc, argv, 2, 16);
    int min_depth = (int)bench_arg_long(argc, argv, 3, 4);
    int max_depth = (int)bench_arg_long(argc, argv, 4, 16);
    size_t array_size = (size_t)bench_arg_long(argc, argv, 5, 500000);
    if (array_size <= 2000 || stretch > 30 || max_depth > stretch)
        bench_die("arguments out of range", NULL);

#if defined(BENCH_TRICOLOR)
    tc_setup(stretch > max_depth ? stretch : max_depth);
#elif defined(BENCH_BDWGC)
    GC_INIT();
    const char *div = getenv("BENCH_BDWGC_DIVISOR");
    if (div && atol(div) > 0)
        GC_set_free_space_divisor((GC_word)atol(div));
    GC_set_on_collection_event(on_event);
    printf("INFO bdwgc_version %u.%u.%u\n", GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO);
    printf("INFO bdwgc_divisor %lu\n", (unsigned long)GC_get_free_space_divisor());
#endif
    uint64_t gc0 = collections();
    uint64_t c0 = thread_cpu_ns(), t0 = bench_now_ns();
    node *ll = gcbench(stretch, long_lived, min_depth, max_depth, array_size);
    uint64_t t1 = bench_now_ns(), c1 = thread_cpu_ns();
    uint64_t ngc = collections() - gc0;

    bench_result("gcbench", SYSTEM, "time", (double)(t1 - t0) / 1e9, "s");
    bench_result("gcbench", SYSTEM, "collections", (double)ngc, "count");
    bench_result("gcbench", SYSTEM, "peak_rss", peak_rss_mib(), "MiB");
    struct rusage ru; /* minor faults: pages touched for the first time, or again after release */
    getrusage(RUSAGE_SELF, &ru);
    bench_result("gcbench", SYSTEM, "page_faults", (double)ru.ru_minflt, "faults");
    bench_result("gcbench", SYSTEM, "main_cpu_s", (double)(c1 - c0) / 1e9, "s");
#if defined(BENCH_TRICOLOR)
    tc_stats st;
    if (tc_heap_stats(g_heap, &st) == TC_OK) {
        bench_result("gcbench", SYSTEM, "heap_released", (double)st.heap_released / 1048576.0, "MiB");
        bench_result("gcbench", SYSTEM, "heap_sys", (double)st.heap_sys / 1048576.0, "MiB");
        bench_result("gcbench", SYSTEM, "gc_cpu_s", st.gc_cpu_fraction * (double)(t1 - g_heap_made) / 1e9, "s");
        bench_result("gcbench", SYSTEM, "alloc_mib", (double)st.total_alloc / 1048576.0, "MiB");
        /* where the wall time that main_cpu_s lacks went: the main thread's waits for the collector
         * (pauses, assists, the goal), and the wall time of the mark phases (the barrier on) */
        bench_result("gcbench", SYSTEM, "delay_s", (double)st.delay_total_ns / 1e9, "s");
        bench_result("gcbench", SYSTEM, "mark_s", (double)st.mark_ns / 1e9, "s");
    }
#elif defined(BENCH_BDWGC)
    /* with the unmapped pages, as Go's HeapSys and tricolor's heap_sys count released ones */
    bench_result("gcbench", SYSTEM, "heap_sys", (double)(GC_get_heap_size() + GC_get_unmapped_bytes()) / 1048576.0,
                 "MiB");
    bench_result("gcbench", SYSTEM, "gc_cpu_s", (double)g_gc_cpu_ns / 1e9, "s");
    bench_result("gcbench", SYSTEM, "alloc_mib", (double)GC_get_total_bytes() / 1048576.0, "MiB");
#endif

#if defined(BENCH_TRICOLOR)
    tc_locals_pop(g_mut, L_FRAMES + 2 * ((size_t)(stretch > max_depth ? stretch : max_depth) + 1));
    tc_leave(g_mut);
    tc_heap_destroy(g_heap);
    (void)ll;
#elif defined(BENCH_MALLOC)
    tree_drop(ll);
#else
    (void)ll;
#endif
    return 0;
}
