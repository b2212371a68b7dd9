/*
 * pause.c — issue 3's `pause` workload: a live heap of binary trees, and a
 * mutator that replaces random 127-node subtrees, timing each replacement and
 * collecting every stop-the-world pause. Built twice from this source:
 *
 *     -DPAUSE_TRICOLOR   tricolor's raw C API, one heap call per operation
 *     -DPAUSE_BDWGC      bdwgc (GC_MALLOC), stop-the-world or incremental
 *     -DPAUSE_MALLOC     malloc/free, the replaced subtree freed at once: no
 *                        collector at all, the control row that shows what
 *                        the machine alone does to the operation latency
 *
 * The heap: K complete binary trees of 14 levels (16,383 nodes each), hung
 * from one array object; a node has two references and 8 payload bytes (on
 * tricolor a 2-slot object with an 8-byte payload, 40 bytes with its header
 * and tags, which sets K = size / (40 B * 16,383)). One operation: walk from
 * a random tree's root 6 random steps down to a node of level 6, build a new
 * 7-level subtree (127 nodes) top-down, store it into one of that node's two
 * slots. Nodes of levels 0-6 are never replaced, so the walk's raw pointers
 * stay reachable.
 *
 * Usage: pause_<sys> [key=value ...]
 *     size=MiB (64)  seconds=S (10)  ops=N (0: run for `seconds`; else stop
 *     after N operations and report the total time)  seed=N
 *     min_pauses=N (0: with `seconds`, go on past it until N pauses were
 *               seen, for a p99 over enough pauses; at most max_seconds= (300))
 *     preempt=1 (also report op_max_unpreempted, ops_preempted: see below)
 *     tricolor: collector= barrier= gogc= (100; -1 off) workers= (1) checkmark= (0)
 *               handles=N (0: live tc_roots to random stable nodes, held all run)
 *               footprint=1 footprint_ms=N (250): where heap_sys and RSS are at
 *               the largest heap_sys (benchmarks/footprint.h; not a timing run)
 *     bdwgc:    incremental=1 divisor=N (GC_set_free_space_divisor; bdwgc's 3 if absent)
 *     workload= system= (the RESULT line's names)
 *
 * Prints RESULT lines (bench.h): pause_max, pause_p99, pauses, op_p50,
 * op_p99, op_p999, op_max, ops, gc_cpu, gc_cpu_s, num_gc, assist, live,
 * peak_rss, heap_sys_max, build, time; tricolor also pause_max_run (the
 * heap's own pause_max_ns at the end: every pause since the heap was made,
 * building and the forced collection included), pause_max_build (the same
 * before the forced collection) and roots (live handles). Pauses are every
 * stop-the-world pause of the timed run (the ring of 256 is read every 5 ms
 * and the new entries are found by their sum; `ring_overflow` says if any
 * were missed); `PAUSES us...` lists them all, so that a driver can pool
 * the pauses of several runs for one percentile.
 */
#include <sys/resource.h>

#include "gclab.h"

#if defined(PAUSE_TRICOLOR) + defined(PAUSE_BDWGC) + defined(PAUSE_MALLOC) != 1
#error "define exactly one of PAUSE_TRICOLOR, PAUSE_BDWGC, PAUSE_MALLOC"
#endif

enum { LEVELS = 14, SUB_LEVELS = 7, WALK = LEVELS - SUB_LEVELS - 1, TREE_NODES = (1 << LEVELS) - 1 };
#define NODE_BYTES 40.0

static bench_rng g_rng = {0x9E3779B97F4A7C15u};
static uint64_t *g_pauses;
static size_t g_npauses, g_cap_pauses;

static __attribute__((unused)) void pause_push(uint64_t ns)
{
    if (g_npauses == g_cap_pauses) {
        g_cap_pauses = g_cap_pauses ? 2 * g_cap_pauses : 1024;
        g_pauses = realloc(g_pauses, g_cap_pauses * sizeof *g_pauses);
        if (!g_pauses)
            bench_die("out of memory", NULL);
    }
    g_pauses[g_npauses++] = ns;
}

#if defined(PAUSE_TRICOLOR)
/* ---- tricolor ------------------------------------------------------------ */
#include <tricolor.h>
/* csrc/check.h's hook (the static library links it): the longest wait for
 * the mutators to stop and the longest stretch with the world stopped,
 * over the run's pauses, building included: which side a long pause was on */
void cycle_debug_pause_split(tc_heap *h, uint64_t *wait_max_ns, uint64_t *inside_max_ns);
/* ...and the longest pause's anatomy: kind (1 start, 2 termination, 3
 * stw), length, wait, stopped stretch, the stopper's CPU time and its
 * involuntary and voluntary switches over it, the longest wait for one
 * mutator (if >= 20 us) and that mutator's CPU time over it; and the
 * pauses whose stopper the OS switched out */
void cycle_debug_pause_longest(tc_heap *h, uint64_t out[9], uint64_t *stopper_preempted);
#include "footprint.h" /* footprint=1: where heap_sys and RSS are at the largest heap_sys */
static fp_state g_fp;
static tc_heap *g_heap;
static tc_root *g_top;
static tc_mutator *g_mut;

static tc_obj *node_new(uint32_t i)
{
    tc_obj *n = tc_alloc(g_mut, 2, 8);
    if (!n)
        bench_die("tc_alloc failed", tc_errmsg());
    memcpy(tc_payload(n), &i, sizeof i);
    return n;
}

/* populate — give `n` (reachable) `levels` more levels, top-down; each child
 * is stored into its parent before the next allocation. */
static void populate(tc_obj *n, int levels)
{
    if (levels <= 0)
        return;
    tc_obj *l = node_new((uint32_t)levels);
    tc_store(g_mut, n, 0, tc_ref(l));
    tc_obj *r = node_new((uint32_t)levels);
    tc_store(g_mut, n, 1, tc_ref(r));
    populate(l, levels - 1);
    populate(r, levels - 1);
}

static void heap_build(int argc, char **argv, long k)
{
    tc_config c;
    tc_config_init(&c);
    const char *s;
    if ((s = opt_str(argc, argv, "collector", NULL)) && tc_collector_parse(s, &c.collector) != TC_OK)
        bench_die("collector", tc_errmsg());
    if ((s = opt_str(argc, argv, "barrier", NULL)) && tc_barrier_parse(s, &c.barrier) != TC_OK)
        bench_die("barrier", tc_errmsg());
    c.gogc = opt_long(argc, argv, "gogc", 100);
    c.mark_workers = (int)opt_long(argc, argv, "workers", 1);
    c.checkmark = opt_long(argc, argv, "checkmark", 0) != 0; /* verify every cycle (slow: not for timing) */
    if (tc_heap_new(&c, &g_heap) != TC_OK)
        bench_die("tc_heap_new", tc_errmsg());
    printf("INFO tricolor %s barrier=%s gogc=%lld workers=%d\n", tc_collector_name(c.collector),
           tc_barrier_name(c.barrier), (long long)c.gogc, c.mark_workers);
    if (tc_obj_new(g_heap, (size_t)k, 0, NULL, &g_top) != TC_OK)
        bench_die("tc_obj_new", tc_errmsg());
    for (long t = 0; t < k; t++) { /* one heap call per tree */
        g_mut = tc_enter(g_heap);
        tc_obj *root = node_new(0);
        tc_store(g_mut, tc_root_obj(g_top), (size_t)t, tc_ref(root));
        populate(root, LEVELS - 1);
        tc_leave(g_mut);
    }
}

/* walk — a random node of level `depth` (<= WALK: never replaced). */
static tc_obj *walk(int depth)
{
    tc_obj *top = tc_root_obj(g_top);
    tc_obj *n = tc_load(top, bench_rng_below(&g_rng, tc_obj_nslots_raw(top))).u.ref;
    for (int d = 0; d < depth; d++)
        n = tc_load(n, bench_rng_next(&g_rng) >> 63).u.ref;
    return n;
}

/* handles_take — n live roots to random stable nodes, held all run. */
static tc_root **handles_take(long n)
{
    tc_root **r = malloc((size_t)(n ? n : 1) * sizeof *r);
    if (!r)
        bench_die("out of memory", NULL);
    for (long i = 0; i < n; i += 4096) {
        g_mut = tc_enter(g_heap);
        for (long j = i; j < n && j < i + 4096; j++)
            if (tc_root_new(g_heap, walk((int)bench_rng_below(&g_rng, WALK + 1)), &r[j]) != TC_OK)
                bench_die("tc_root_new", tc_errmsg());
        tc_leave(g_mut);
    }
    return r;
}

/* op — one operation, one heap call: build a 127-node subtree in a local
 * root and store it below a random level-6 node. */
static void op(void)
{
    g_mut = tc_enter(g_heap);
    tc_obj **loc = tc_locals(g_mut, 1);
    tc_obj *parent = walk(WALK);
    loc[0] = node_new(SUB_LEVELS);
    populate(loc[0], SUB_LEVELS - 1);
    tc_store(g_mut, parent, bench_rng_next(&g_rng) >> 63, tc_ref(loc[0]));
    tc_locals_pop(g_mut, 1);
    tc_leave(g_mut);
}

typedef struct gcsnap {
    uint64_t at, pause_total, num_gc, assist;
    double gc_cpu; /* ns of GC CPU since the heap was made */
} gcsnap;
static uint64_t g_sys_max; /* the largest heap_sys seen */
static uint64_t g_heap_start;
static tc_stats g_st; /* 2 KiB of pauses: not on the stack in the loop */

/* print_line — TRICOLOR_DEBUG=gctrace=1: the heap queues its lines for the
 * host to print (tc_heap_drain_output); sample() prints them to stderr. */
static void print_line(void *ud, const char *line)
{
    fprintf(ud, "%s\n", line);
}

/* sample — read the stats; append the pauses since `prev` (the newest ring
 * entries whose sum is the growth of pause_total_ns). Returns 1 if the ring
 * had been overrun. */
static int sample(gcsnap *prev, gcsnap *out)
{
    if (tc_heap_stats(g_heap, &g_st) != TC_OK)
        bench_die("tc_heap_stats", tc_errmsg());
    out->at = bench_now_ns();
    out->pause_total = g_st.pause_total_ns;
    out->num_gc = g_st.num_gc;
    out->assist = g_st.assist_ns;
    out->gc_cpu = g_st.gc_cpu_fraction * (double)(out->at - g_heap_start);
    if (out->gc_cpu < (double)(g_st.mark_cpu_ns + g_st.sweep_cpu_ns)) /* the fraction is capped at 1 */
        out->gc_cpu = (double)(g_st.mark_cpu_ns + g_st.sweep_cpu_ns);
    fp_sample(&g_fp, g_heap, &g_st, out->at);
    tc_heap_drain_output(g_heap, print_line, stderr);
    if (g_st.heap_sys > g_sys_max)
        g_sys_max = g_st.heap_sys;
    if (!prev)
        return 0;
    uint64_t want = out->pause_total - prev->pause_total, sum = 0;
    uint32_t i = g_st.npauses;
    while (sum < want && i > 0)
        sum += g_st.pauses_ns[--i];
    for (uint32_t j = i; j < g_st.npauses; j++)
        pause_push(g_st.pauses_ns[j]);
    return sum != want;
}

/* build_pauses — which pause of the building was the long one: every
 * pause the ring still holds (the newest TC_PAUSE_RING), as the ms since
 * the heap was made at which it ended and its length, and the cycles so
 * far (the building's cycles each pause once to start and once or more to
 * end; a gctrace=1 run says more of each). */
static void build_pauses(uint64_t t0)
{
    printf("INFO build_pauses gcs %llu (end ms: us)", (unsigned long long)g_st.num_gc);
    for (uint32_t i = 0; i < g_st.npauses; i++)
        printf(" %.1f:%.1f", (double)(g_st.pause_end_ns[i] - t0) / 1e6, (double)g_st.pauses_ns[i] / 1e3);
    printf("\n");
}

#else
/* ---- bdwgc and malloc ------------------------------------------------------ */
typedef struct node {
    struct node *left, *right;
    uint32_t i, pad;
} node;
static node **g_top;
static long g_k;

#if defined(PAUSE_BDWGC)
#include <gc.h>
#define NODE_ALLOC(n) GC_MALLOC(n) /* zeroed */
#define NODE_FREE(n) ((void)(n))
static uint64_t g_coll_start, g_stw_start, g_gc_ns, g_nstw;

/* cpu_now_ns — this process's CPU time, every thread's (bdwgc's parallel
 * markers too; the world is stopped while it collects, so all of it is the
 * collector's). */
static uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* bdwgc_heap_sys — the heap's size with the pages bdwgc unmapped (returned to
 * the OS), as Go's HeapSys and tricolor's heap_sys count released pages. */
static uint64_t bdwgc_heap_sys(void) { return GC_get_heap_size() + GC_get_unmapped_bytes(); }

/* on_event — bdwgc's collection events. A pause is a PRE_STOP_WORLD ..
 * POST_START_WORLD span (the library stops the world also with one thread);
 * GC CPU is the process CPU time of whole collections' START..END spans in
 * stop-the-world mode.
 * In incremental mode the marking steps run inside allocations outside any
 * event span, so their cost is only visible in the operation latency. */
static void on_event(GC_EventType e)
{
    uint64_t t = bench_now_ns();
    if (e == GC_EVENT_START)
        g_coll_start = cpu_now_ns();
    else if (e == GC_EVENT_END && g_coll_start) {
        g_gc_ns += cpu_now_ns() - g_coll_start;
        g_coll_start = 0;
    } else if (e == GC_EVENT_PRE_STOP_WORLD)
        g_stw_start = t;
    else if (e == GC_EVENT_POST_START_WORLD && g_stw_start) {
        pause_push(t - g_stw_start);
        g_nstw++;
        g_stw_start = 0;
    }
}

#else
#define NODE_ALLOC(n) calloc(1, n)
#define NODE_FREE(n) tree_free(n)
/* tree_free — free a replaced subtree (the malloc control's "collection"). */
static void tree_free(struct node *n)
{
    if (!n)
        return;
    tree_free(n->left);
    tree_free(n->right);
    free(n);
}
#endif

static node *node_new(uint32_t i)
{
    node *n = NODE_ALLOC(sizeof(node));
    if (!n)
        bench_die("allocation failed", NULL);
    n->i = i;
    return n;
}

static void populate(node *n, int levels)
{
    if (levels <= 0)
        return;
    n->left = node_new((uint32_t)levels);
    n->right = node_new((uint32_t)levels);
    populate(n->left, levels - 1);
    populate(n->right, levels - 1);
}

static void heap_build(int argc, char **argv, long k)
{
#if defined(PAUSE_BDWGC)
    GC_INIT();
    if (opt_long(argc, argv, "incremental", 0))
        GC_enable_incremental();
    long divisor = opt_long(argc, argv, "divisor", 0); /* the space-time knob of the gogc sweep */
    if (divisor > 0)
        GC_set_free_space_divisor((GC_word)divisor);
    printf("INFO bdwgc incremental=%d divisor=%lu version=%d.%d\n", GC_is_incremental_mode(),
           (unsigned long)GC_get_free_space_divisor(), GC_VERSION_MAJOR, GC_VERSION_MINOR);
#else
    (void)argc, (void)argv;
#endif
    g_k = k;
    g_top = NODE_ALLOC((size_t)k * sizeof(node *));
    for (long t = 0; t < k; t++) {
        g_top[t] = node_new(0);
        populate(g_top[t], LEVELS - 1);
    }
}

static node *walk(int depth)
{
    node *n = g_top[bench_rng_below(&g_rng, (uint64_t)g_k)];
    for (int d = 0; d < depth; d++)
        n = (bench_rng_next(&g_rng) >> 63) ? n->right : n->left;
    return n;
}

static void op(void)
{
    node *parent = walk(WALK);
    node *sub = node_new(SUB_LEVELS);
    populate(sub, SUB_LEVELS - 1);
    node **slot = (bench_rng_next(&g_rng) >> 63) ? &parent->right : &parent->left;
    NODE_FREE(*slot);
    *slot = sub;
}
#endif

/* ---- the run ------------------------------------------------------------- */

static void result(const char *wl, const char *sys, const char *metric, double v, const char *unit)
{
    bench_result(wl, sys, metric, v, unit);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    long size_mib = opt_long(argc, argv, "size", 64);
    const char *sec_env = getenv("PAUSE_SECONDS");
    double seconds = atof(opt_str(argc, argv, "seconds", sec_env && *sec_env ? sec_env : "10"));
    long nops = opt_long(argc, argv, "ops", 0);
    size_t min_pauses = (size_t)opt_long(argc, argv, "min_pauses", 0);
    double max_seconds = atof(opt_str(argc, argv, "max_seconds", "300"));
    g_rng.s ^= (uint64_t)opt_long(argc, argv, "seed", 1) * 0x2545F4914F6CDD1Du;
    long k = (long)((double)size_mib * 1048576.0 / (NODE_BYTES * TREE_NODES) + 0.5);
    if (k < 1)
        k = 1;
    char wl_default[64];
    snprintf(wl_default, sizeof wl_default, "pause-%ldM", size_mib);
    const char *wl = opt_str(argc, argv, "workload", wl_default);
#if defined(PAUSE_TRICOLOR)
    const char *sys = opt_str(argc, argv, "system", "tricolor");
#elif defined(PAUSE_BDWGC)
    const char *sys = opt_str(argc, argv, "system", "bdwgc");
#else
    const char *sys = opt_str(argc, argv, "system", "malloc");
#endif
    printf("INFO pause trees=%ld nodes=%ld seconds=%g ops=%ld\n", k, k * (long)TREE_NODES, seconds, nops);

    uint64_t t0 = bench_now_ns();
#if defined(PAUSE_TRICOLOR)
    g_heap_start = t0;
    g_fp.on = opt_long(argc, argv, "footprint", 0) != 0;
    g_fp.every_ns = (uint64_t)opt_long(argc, argv, "footprint_ms", 250) * 1000000;
    heap_build(argc, argv, k);
    long nhandles = opt_long(argc, argv, "handles", 0);
    tc_root **handles = handles_take(nhandles);
    if (tc_heap_stats(g_heap, &g_st) != TC_OK)
        bench_die("tc_heap_stats", tc_errmsg());
    double pause_max_build = (double)g_st.pause_max_ns;
    build_pauses(t0);
    if (tc_heap_collect(g_heap) != TC_OK)
        bench_die("tc_heap_collect", tc_errmsg());
    gcsnap first, prev, cur;
    sample(NULL, &first);
    double live = (double)g_st.heap_live;
    uint64_t sweep0 = g_st.sweep_cpu_ns;
    prev = first;
    int overflow = 0;
#elif defined(PAUSE_BDWGC)
    GC_set_on_collection_event(on_event);
    heap_build(argc, argv, k);
    GC_gcollect();
    double live = (double)(GC_get_heap_size() - GC_get_free_bytes());
    GC_start_performance_measurement();
    g_npauses = 0;
    g_gc_ns = 0;
    GC_word gc0 = GC_get_gc_no();
    uint64_t sys_max = bdwgc_heap_sys(), next_sample = 0;
#else
    heap_build(argc, argv, k);
    double live = (double)k * TREE_NODES * sizeof(node);
#endif
    uint64_t start = bench_now_ns();
    result(wl, sys, "build", (double)(start - t0) / 1e9, "s");
    result(wl, sys, "live", live / 1048576.0, "MiB");

    static hist lat;
    /* preempt=1: read the thread's involuntary context switches around every
     * operation (two getrusage calls, so not for the reported latencies) and
     * report the worst operation the kernel did not preempt: on a small
     * machine whose cores are all busy (the mutator and a collector thread),
     * kernel threads take a core for milliseconds, and such an operation
     * measures the machine, not the collector. */
    int preempt = (int)opt_long(argc, argv, "preempt", 0);
    uint64_t max_unpreempted = 0, npreempted = 0;
    struct rusage ru0, ru1;
#if defined(PAUSE_TRICOLOR)
    /* diag=1: read the stats around every operation and explain each one
     * slower than diag_us= (1000) microseconds: assist time, pause time,
     * cycles inside it, the GC delay (every GC interval it had: assists,
     * pauses, lazy sweeping, waits), the objects swept free and the heap's
     * growth meanwhile, and the thread's own CPU time and context switches
     * over it (CPU time well below the wall time with an involuntary switch:
     * the OS ran something else, the machine's stall, not the heap's); slows
     * every operation by a stats call, so not for the reported numbers. */
    int diag = (int)opt_long(argc, argv, "diag", 0);
    uint64_t diag_ns = (uint64_t)opt_long(argc, argv, "diag_us", 1000) * 1000;
    static tc_stats d0, d1;
    struct timespec cpu0 = {0}, cpu1 = {0};
    struct rusage dr0, dr1;
#endif
    uint64_t deadline = start + (uint64_t)(seconds * 1e9), now = start;
    uint64_t hard_deadline = start + (uint64_t)(max_seconds * 1e9);
#if defined(PAUSE_TRICOLOR)
    uint64_t next_sample = start + 5000000;
#endif
    for (long i = 0; nops ? i < nops : now < deadline || (g_npauses < min_pauses && now < hard_deadline); i++) {
#if defined(PAUSE_TRICOLOR)
        if (diag) {
            tc_heap_stats(g_heap, &d0);
            getrusage(RUSAGE_THREAD, &dr0);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
        }
#endif
        if (preempt)
            getrusage(RUSAGE_THREAD, &ru0);
        uint64_t a = bench_now_ns();
        op();
        now = bench_now_ns();
        hist_add(&lat, now - a);
        if (preempt) {
            getrusage(RUSAGE_THREAD, &ru1);
            if (ru1.ru_nivcsw != ru0.ru_nivcsw)
                npreempted++;
            else if (now - a > max_unpreempted)
                max_unpreempted = now - a;
        }
#if defined(PAUSE_TRICOLOR)
        if (diag && now - a > diag_ns) {
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
            getrusage(RUSAGE_THREAD, &dr1);
            tc_heap_stats(g_heap, &d1);
            double cpu = (double)(cpu1.tv_sec - cpu0.tv_sec) * 1e6 + (double)(cpu1.tv_nsec - cpu0.tv_nsec) / 1e3;
            /* user vs system time and page faults: a spin (user) or the
             * kernel's work for the thread (faults on reused or fresh pages) */
            double usr = (double)(dr1.ru_utime.tv_sec - dr0.ru_utime.tv_sec) * 1e6 + (double)(dr1.ru_utime.tv_usec - dr0.ru_utime.tv_usec);
            double sys_us = (double)(dr1.ru_stime.tv_sec - dr0.ru_stime.tv_sec) * 1e6 + (double)(dr1.ru_stime.tv_usec - dr0.ru_stime.tv_usec);
            printf("INFO slow_op_kernel user %.0f us, system %.0f us, minor faults %ld, from %.6f to %.6f s "
                   "(CLOCK_MONOTONIC: perf record -k CLOCK_MONOTONIC)\n", usr, sys_us, dr1.ru_minflt - dr0.ru_minflt,
                   (double)a / 1e9, (double)now / 1e9);
            printf("INFO slow_op %.0f us: cpu %.0f us, switches %ld involuntary %ld voluntary, assist %.0f us, "
                   "pauses %.0f us, gc delay %.0f us, frees %llu, heap_sys +%.0f KiB, gcs %llu, phase %s->%s\n",
                   (double)(now - a) / 1e3, cpu, dr1.ru_nivcsw - dr0.ru_nivcsw, dr1.ru_nvcsw - dr0.ru_nvcsw,
                   (double)(d1.assist_ns - d0.assist_ns) / 1e3, (double)(d1.pause_total_ns - d0.pause_total_ns) / 1e3,
                   (double)(d1.delay_total_ns - d0.delay_total_ns) / 1e3, (unsigned long long)(d1.frees - d0.frees),
                   ((double)d1.heap_sys - (double)d0.heap_sys) / 1024.0, (unsigned long long)(d1.num_gc - d0.num_gc),
                   d0.phase, d1.phase);
        }
#endif
#if defined(PAUSE_TRICOLOR)
        if (now >= next_sample) {
            overflow |= sample(&prev, &cur);
            prev = cur;
            next_sample = bench_now_ns() + 5000000;
            now = bench_now_ns();
        }
#elif defined(PAUSE_BDWGC)
        if (now >= next_sample) { /* the heap's largest size, as tricolor's heap_sys_max */
            if (bdwgc_heap_sys() > sys_max)
                sys_max = bdwgc_heap_sys();
            next_sample = now + 5000000;
        }
#endif
    }
    uint64_t end = bench_now_ns();
    double wall = (double)(end - start);
#if defined(PAUSE_TRICOLOR)
    overflow |= sample(&prev, &cur);
    double gc_cpu = (cur.gc_cpu - first.gc_cpu) / wall; /* rounding may make it -0.000 */
    if (gc_cpu < 0)
        gc_cpu = 0;
    result(wl, sys, "heap_sys_max", (double)g_sys_max / 1048576.0, "MiB");
    double num_gc = (double)(cur.num_gc - first.num_gc);
    double assist = (double)(cur.assist - first.assist);
    result(wl, sys, "ring_overflow", overflow, "bool");
    result(wl, sys, "pause_max_build", pause_max_build / 1e3, "us");
    result(wl, sys, "pause_max_run", (double)g_st.pause_max_ns / 1e3, "us");
    result(wl, sys, "roots", (double)g_st.roots, "count");
    double gc_cpu_s = gc_cpu > 0 ? (cur.gc_cpu - first.gc_cpu) / 1e9 : 0;
    result(wl, sys, "sweep_cpu_s", (double)(g_st.sweep_cpu_ns - sweep0) / 1e9, "s");
    printf("INFO pause_max_ns_stats %llu assist_marked_mib %.1f mark_regions_shared %llu\n",
           (unsigned long long)g_st.pause_max_ns, (double)g_st.assist_marked / 1048576.0,
           (unsigned long long)g_st.mark_regions_shared);
    uint64_t split_wait, split_inside;
    cycle_debug_pause_split(g_heap, &split_wait, &split_inside);
    printf("INFO pause_split wait_for_mutators_max %.1f us world_stopped_max %.1f us\n", (double)split_wait / 1e3,
           (double)split_inside / 1e3);
    uint64_t pa[9], preempted;
    cycle_debug_pause_longest(g_heap, pa, &preempted);
    static const char *const kinds[] = {"?", "start", "termination", "stw"};
    printf("INFO pause_longest %s %.1f us: wait %.1f us, stopped %.1f us; its stopper ran %.1f us of CPU, "
           "switched out %llu involuntarily, slept %llu; the mutator it waited %.1f us for ran %.1f us of it; "
           "pauses with a preempted stopper %llu\n",
           kinds[pa[0] < 4 ? pa[0] : 0], (double)pa[1] / 1e3, (double)pa[2] / 1e3, (double)pa[3] / 1e3,
           (double)pa[4] / 1e3, (unsigned long long)pa[5], (unsigned long long)pa[6], (double)pa[7] / 1e3,
           (double)pa[8] / 1e3, (unsigned long long)preempted);
    fp_report(&g_fp, live);
#elif defined(PAUSE_BDWGC)
    double gc_cpu = GC_is_incremental_mode() ? -1 : (double)g_gc_ns / wall; /* -1: not observable */
    double gc_cpu_s = (double)g_gc_ns / 1e9;
    if (bdwgc_heap_sys() > sys_max)
        sys_max = bdwgc_heap_sys();
    result(wl, sys, "heap_sys_max", (double)sys_max / 1048576.0, "MiB");
    double num_gc = (double)(GC_get_gc_no() - gc0);
    double assist = 0;
    printf("INFO bdwgc_full_gc_ms %lu stw_spans %llu\n", GC_get_full_gc_total_time(),
           (unsigned long long)g_nstw);
#else
    double gc_cpu = 0, gc_cpu_s = 0, num_gc = 0, assist = 0;
#endif
#if !defined(PAUSE_MALLOC)
    qsort(g_pauses, g_npauses, sizeof *g_pauses, cmp_u64);
    result(wl, sys, "pauses", (double)g_npauses, "count");
    result(wl, sys, "pause_max", g_npauses ? (double)g_pauses[g_npauses - 1] / 1e3 : 0, "us");
    result(wl, sys, "pause_p99", (double)quantile_sorted(g_pauses, g_npauses, 0.99) / 1e3, "us");
    printf("PAUSES");
    for (size_t i = 0; i < g_npauses; i++)
        printf(" %.3f", (double)g_pauses[i] / 1e3);
    printf("\n");
#endif
    result(wl, sys, "ops", (double)lat.count, "count");
    result(wl, sys, "time", wall / 1e9, "s");
    result(wl, sys, "op_mean", (double)lat.sum / (double)(lat.count ? lat.count : 1) / 1e3, "us");
    result(wl, sys, "op_p50", (double)hist_quantile(&lat, 0.50) / 1e3, "us");
    result(wl, sys, "op_p99", (double)hist_quantile(&lat, 0.99) / 1e3, "us");
    result(wl, sys, "op_p999", (double)hist_quantile(&lat, 0.999) / 1e3, "us");
    result(wl, sys, "op_max", (double)lat.max / 1e3, "us");
    if (preempt) {
        result(wl, sys, "op_max_unpreempted", (double)max_unpreempted / 1e3, "us");
        result(wl, sys, "ops_preempted", (double)npreempted, "count");
    }
#if !defined(PAUSE_MALLOC)
    if (gc_cpu >= 0) {
        result(wl, sys, "gc_cpu", gc_cpu, "fraction");
        result(wl, sys, "gc_cpu_s", gc_cpu_s, "s");
    }
    result(wl, sys, "num_gc", num_gc, "count");
    result(wl, sys, "assist", assist / 1e6, "ms");
#else
    (void)gc_cpu, (void)gc_cpu_s, (void)num_gc, (void)assist;
#endif
    result(wl, sys, "peak_rss", peak_rss_mib(), "MiB");
#if defined(PAUSE_TRICOLOR)
    for (long i = 0; i < nhandles; i++)
        tc_root_release(g_heap, handles[i]);
    free(handles);
    tc_heap_destroy(g_heap);
#endif
    free(g_pauses);
    return 0;
}
