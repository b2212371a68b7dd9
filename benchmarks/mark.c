/*
 * mark.c — the cost of one full collection of a heap in which everything is
 * live, per object, on three kinds of marker, from this one source:
 *
 *     -DBENCH_TRICOLOR   tc_heap_collect on a heap with gogc off
 *     -DBENCH_BDWGC      GC_gcollect (collection disabled while building)
 *     -DBENCH_IDEAL      two "ideal markers" over the same graph in one
 *                        malloc'd array of 16-byte nodes (two pointers):
 *                        "walk", a depth-first walk with an explicit stack
 *                        and a visited bitmap, and "walk-prefetch", the same
 *                        walk through a FIFO of PREFETCH_DEPTH grey nodes
 *                        prefetched before they are scanned.
 *
 * Shapes (n nodes of two references each; every node is reachable):
 *     list   node i -> node i+1 (slot 0)
 *     tree   a complete binary tree in heap order: node k -> 2k+1, 2k+2
 *     graph  slot 0 links the nodes in a random permutation order, slot 1
 *            points at a uniformly random node
 * Nodes are allocated one after another (so in address order on all three
 * systems: a fresh heap hands out addresses in increasing order), and only
 * then wired into the shape, so the random graph is random in memory too.
 * The PRNG is seeded identically on every system: the graphs are the same.
 *
 * Usage: mark_<system> list|tree|graph N REPS
 * One untimed warm-up collection (or walk), then REPS timed ones; prints one
 * RESULT line per timed repetition: wall-clock ns per live object.
 */
#include "bench.h"

#include <stdbool.h>
#include <sys/mman.h>
#include <sys/resource.h>

#if defined(BENCH_TRICOLOR) + defined(BENCH_BDWGC) + defined(BENCH_IDEAL) != 1
#error "define exactly one of BENCH_TRICOLOR, BENCH_BDWGC, BENCH_IDEAL"
#endif

#ifndef PREFETCH_DEPTH
#define PREFETCH_DEPTH 16 /* grey nodes in flight; a power of two */
#endif

#define SEED UINT64_C(0x9e3779b97f4a7c15)

enum shape { SHAPE_LIST, SHAPE_TREE, SHAPE_GRAPH };

/* ---- the node interface of each system ----------------------------------- */

#if defined(BENCH_TRICOLOR)
typedef tc_obj node;
static tc_heap *g_heap;
static tc_mutator *g_mut;

static inline node *node_new(void)
{
    node *n = tc_alloc(g_mut, 2, 0);
    if (!n)
        bench_die("tc_alloc failed", tc_errmsg());
    return n;
}
static inline void node_set(node *n, int i, node *c) { tc_store(g_mut, n, (size_t)i, tc_ref(c)); }

#elif defined(BENCH_BDWGC)
#define GC_THREADS /* only to declare GC_get_parallel; this program starts no thread */
#include <gc.h>
typedef struct node {
    struct node *s[2];
} node;
static node *volatile g_root; /* in the data segment: a bdwgc root */

static inline node *node_new(void)
{
    node *n = GC_MALLOC(sizeof(node));
    if (!n)
        bench_die("GC_MALLOC failed", NULL);
    return n;
}
static inline void node_set(node *n, int i, node *c) { n->s[i] = c; }

#else /* BENCH_IDEAL */
typedef struct node {
    struct node *s[2];
} node;
static node *g_base; /* the one malloc'd array of all nodes */
static size_t g_next;

static inline node *node_new(void) { return &g_base[g_next++]; }
static inline void node_set(node *n, int i, node *c) { n->s[i] = c; }
#endif

/* ---- clocks and huge pages ---------------------------------------------- */

/* cpu_now_ns — this process's CPU time, every thread (a concurrent
 * collector's marking runs on its own thread): load on the machine inflates
 * wall time by the time the marker waited for a CPU, CPU time much less. */
static uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* minor_faults — this process's minor page faults so far (a first touch of
 * a page during a timed collection would show here). */
static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* huge_pages — BENCH_HUGEPAGE=1 (an experiment, issue 16): back every
 * private writable mapping of 4 MiB or more (the heap's arenas and bitmaps,
 * bdwgc's heap, the ideal walks' array) with transparent huge pages, now
 * that the shape is built: MADV_HUGEPAGE, then MADV_COLLAPSE (Linux 6.1)
 * to collapse the pages already there. Prints the huge pages obtained. */
static void huge_pages(void)
{
    const char *want = getenv("BENCH_HUGEPAGE");
    if (!want || strcmp(want, "1"))
        return;
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int failed = 0;
    while (f && fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3 || strncmp(perm, "rw-p", 4) || hi - lo < (4u << 20))
            continue;
        uintptr_t a = (lo + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1), b = hi & ~(uintptr_t)((2u << 20) - 1);
        if (b <= a)
            continue;
        if (madvise((void *)a, b - a, MADV_HUGEPAGE) || madvise((void *)a, b - a, MADV_COLLAPSE))
            failed++;
    }
    if (f)
        fclose(f);
    long kib = -1;
    f = fopen("/proc/self/smaps_rollup", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    printf("INFO hugepage_mib %ld\nINFO hugepage_failures %d\n", kib / 1024, failed);
}

/* ---- building the shapes ------------------------------------------------- */

/* alloc_chain — allocate n nodes in order into v[], each linked from the one
 * before through slot 0 so that all stay reachable from v[0] while more are
 * allocated (`keep` is called with v[0] right after it exists). */
static void alloc_chain(node **v, size_t n, void (*keep)(node *))
{
    v[0] = node_new();
    keep(v[0]);
    for (size_t i = 1; i < n; i++) {
        v[i] = node_new();
        node_set(v[i - 1], 0, v[i]);
    }
}

/* wire — give the allocated nodes their final shape (no allocation happens
 * here, so raw pointers stay valid); returns the root. */
static node *wire(enum shape sh, node **v, size_t n)
{
    if (sh == SHAPE_LIST)
        return v[0]; /* the allocation chain is the list */
    if (sh == SHAPE_TREE) {
        for (size_t k = 0; k < n; k++) {
            node_set(v[k], 0, 2 * k + 1 < n ? v[2 * k + 1] : NULL);
            node_set(v[k], 1, 2 * k + 2 < n ? v[2 * k + 2] : NULL);
        }
        return v[0];
    }
    bench_rng rng = {SEED};
    uint32_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        bench_die("out of memory", "permutation");
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = bench_rng_below(&rng, i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        node_set(v[perm[i]], 0, i + 1 < n ? v[perm[i + 1]] : NULL);
    for (size_t i = 0; i < n; i++)
        node_set(v[i], 1, v[bench_rng_below(&rng, n)]);
    node *root = v[perm[0]];
    free(perm);
    return root;
}

/* ---- the ideal markers --------------------------------------------------- */

#if defined(BENCH_IDEAL)
static uint64_t *g_bits;  /* visited bitmap, one bit per node of g_base */
static node **g_stack;    /* explicit mark stack; every node is pushed at most once */

/* try_mark — set c's visited bit; true if it was clear (c turned grey). */
static inline bool try_mark(const node *c)
{
    size_t i = (size_t)(c - g_base);
    uint64_t bit = UINT64_C(1) << (i & 63);
    if (g_bits[i >> 6] & bit)
        return false;
    g_bits[i >> 6] |= bit;
    return true;
}

/* walk_begin — clear the bitmap, grey the root; returns the stack depth. */
static size_t walk_begin(node *root, size_t n)
{
    memset(g_bits, 0, ((n + 63) / 64) * sizeof(uint64_t));
    try_mark(root);
    g_stack[0] = root;
    return 1;
}

/* scan — scan grey node p: push its second child if it turns grey, return
 * the first if it does (NULL if not): the caller decides where it goes. */
static inline node *scan(const node *p, size_t *sp)
{
    node *a = p->s[0], *b = p->s[1];
    if (b && try_mark(b))
        g_stack[(*sp)++] = b;
    return a && try_mark(a) ? a : NULL;
}

/* walk_plain — depth-first: pop a grey node, scan its two slots, push the
 * new grey children; the first child is scanned next without a round trip
 * through the stack (so a list costs one dependent load per node). Returns
 * the number of nodes scanned. */
static size_t walk_plain(node *root, size_t n)
{
    size_t sp = walk_begin(root, n), scanned = 0;
    while (sp)
        for (node *p = g_stack[--sp]; p; p = scan(p, &sp))
            scanned++;
    return scanned;
}

/* walk_prefetch — the same walk, but a popped node first waits in a FIFO of
 * PREFETCH_DEPTH entries: it is prefetched on entry and scanned when it
 * leaves, so up to PREFETCH_DEPTH cache misses are in flight at once
 * (Cher, Hosking and Vijaykumar's "prefetch on grey" buffer). When nothing
 * else is grey (a list), the one new child is scanned at once, as above. */
static size_t walk_prefetch(node *root, size_t n)
{
    node *fifo[PREFETCH_DEPTH];
    size_t head = 0, tail = 0, sp = walk_begin(root, n), scanned = 0;
    for (;;) {
        while (tail - head < PREFETCH_DEPTH && sp) {
            node *q = g_stack[--sp];
            __builtin_prefetch(q);
            fifo[tail++ & (PREFETCH_DEPTH - 1)] = q;
        }
        if (tail == head)
            break;
        node *p = fifo[head++ & (PREFETCH_DEPTH - 1)];
        for (;;) {
            scanned++;
            node *a = scan(p, &sp);
            if (!a)
                break;
            if (sp || tail != head) {
                g_stack[sp++] = a;
                break;
            }
            p = a;
        }
    }
    return scanned;
}

typedef size_t (*walk_fn)(node *, size_t);

/* time_walk — one untimed warm-up walk, then reps timed ones. */
static void time_walk(const char *workload, const char *system, walk_fn walk, node *root,
                      size_t n, long reps)
{
    if (walk(root, n) != n)
        bench_die(system, "did not visit every node");
    for (long r = 0; r < reps; r++) {
        uint64_t c0 = cpu_now_ns(), t0 = bench_now_ns();
        size_t seen = walk(root, n);
        uint64_t t1 = bench_now_ns(), c1 = cpu_now_ns();
        if (seen != n)
            bench_die(system, "did not visit every node");
        bench_result(workload, system, "full_mark", (double)(t1 - t0) / (double)n, "ns/object");
        bench_result(workload, system, "full_mark_cpu", (double)(c1 - c0) / (double)n, "ns/object");
    }
}
#endif

/* ---- per-system driver --------------------------------------------------- */

#if defined(BENCH_TRICOLOR)
static tc_obj **g_loc;
static void keep_root(node *n) { g_loc[0] = n; }

static void collect_stats(tc_stats *st)
{
    if (tc_heap_stats(g_heap, st) != TC_OK)
        bench_die("tc_heap_stats failed", tc_errmsg());
}

/* run — build the shape in a raw section, hold its root in a tc_root, leave
 * the section, then time tc_heap_collect (wall clock) and, from the stats,
 * the mark phase alone. */
static void run(const char *workload, enum shape sh, node **v, size_t n, long reps)
{
    tc_config c;
    tc_config_init(&c);
    c.gogc = -1; /* no collection while building */
    g_heap = bench_tc_heap(&c);

    g_mut = tc_enter(g_heap);
    if (!g_mut || !(g_loc = tc_locals(g_mut, 1)))
        bench_die("tc_enter/tc_locals failed", tc_errmsg());
    alloc_chain(v, n, keep_root);
    node *root_obj = wire(sh, v, n);
    tc_root *root;
    if (tc_root_new(g_heap, root_obj, &root) != TC_OK)
        bench_die("tc_root_new failed", tc_errmsg());
    tc_locals_pop(g_mut, 1);
    tc_leave(g_mut);
    huge_pages();

    if (tc_heap_collect(g_heap) != TC_OK) /* warm-up */
        bench_die("tc_heap_collect failed", tc_errmsg());
    long faults = minor_faults();
    for (long r = 0; r < reps; r++) {
        tc_stats a, b;
        collect_stats(&a);
        uint64_t c0 = cpu_now_ns(), t0 = bench_now_ns();
        if (tc_heap_collect(g_heap) != TC_OK)
            bench_die("tc_heap_collect failed", tc_errmsg());
        uint64_t t1 = bench_now_ns(), c1 = cpu_now_ns();
        collect_stats(&b);
        if (b.heap_objects < n)
            bench_die("tricolor", "the collection freed live objects");
        bench_result(workload, bench_tc_system(), "full_mark", (double)(t1 - t0) / (double)n, "ns/object");
        bench_result(workload, bench_tc_system(), "full_mark_cpu", (double)(c1 - c0) / (double)n, "ns/object");
        if (b.mark_cpu_ns > a.mark_cpu_ns)
            bench_result(workload, bench_tc_system(), "mark_cpu", (double)(b.mark_cpu_ns - a.mark_cpu_ns) / (double)n,
                         "ns/object");
        if (b.mark_ns > a.mark_ns)
            bench_result(workload, bench_tc_system(), "mark_phase", (double)(b.mark_ns - a.mark_ns) / (double)n,
                         "ns/object");
    }
    printf("INFO timed_minor_faults %ld\n", minor_faults() - faults);
    tc_root_release(g_heap, root);
    tc_heap_destroy(g_heap);
}

#elif defined(BENCH_BDWGC)
static void keep_root(node *n) { g_root = n; }

/* run — build with collection disabled, then time GC_gcollect. */
static void run(const char *workload, enum shape sh, node **v, size_t n, long reps)
{
    GC_INIT();
    printf("INFO bdwgc_version %u.%u.%u\n", GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO);
    printf("INFO bdwgc_parallel %d\n", GC_get_parallel());
    GC_disable();
    alloc_chain(v, n, keep_root);
    g_root = wire(sh, v, n);
    memset(v, 0, n * sizeof *v); /* v is malloc'd, so not a root anyway */
    GC_enable();
    huge_pages();
    GC_gcollect(); /* warm-up */
    for (long r = 0; r < reps; r++) {
        uint64_t c0 = cpu_now_ns(), t0 = bench_now_ns();
        GC_gcollect();
        uint64_t t1 = bench_now_ns(), c1 = cpu_now_ns();
        bench_result(workload, "bdwgc", "full_mark", (double)(t1 - t0) / (double)n, "ns/object");
        bench_result(workload, "bdwgc", "full_mark_cpu", (double)(c1 - c0) / (double)n, "ns/object");
    }
    if (GC_get_heap_size() - GC_get_free_bytes() < n * sizeof(node))
        bench_die("bdwgc", "the collection freed live objects");
}

#else
static void keep_root(node *n) { (void)n; }

/* run — build the shape in one array, then time both walks over it. */
static void run(const char *workload, enum shape sh, node **v, size_t n, long reps)
{
    g_base = calloc(n, sizeof(node));
    g_bits = malloc(((n + 63) / 64) * sizeof(uint64_t));
    g_stack = malloc(n * sizeof(node *));
    if (!g_base || !g_bits || !g_stack)
        bench_die("out of memory", "ideal walk");
    alloc_chain(v, n, keep_root);
    node *root = wire(sh, v, n);
    huge_pages();
    printf("INFO prefetch_depth %d\n", PREFETCH_DEPTH);
    time_walk(workload, "walk", walk_plain, root, n, reps);
    time_walk(workload, "walk-prefetch", walk_prefetch, root, n, reps);
}
#endif

/* size_label — "4M" for 4*2^20, "256K" for 256*2^10, else the number. */
static void size_label(size_t n, char *buf, size_t cap)
{
    if (n % (1u << 20) == 0)
        snprintf(buf, cap, "%zuM", n >> 20);
    else if (n % (1u << 10) == 0)
        snprintf(buf, cap, "%zuK", n >> 10);
    else
        snprintf(buf, cap, "%zu", n);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        bench_die("usage", "mark_<system> list|tree|graph N [REPS]");
    enum shape sh;
    if (!strcmp(argv[1], "list"))
        sh = SHAPE_LIST;
    else if (!strcmp(argv[1], "tree"))
        sh = SHAPE_TREE;
    else if (!strcmp(argv[1], "graph"))
        sh = SHAPE_GRAPH;
    else
        bench_die("unknown shape", argv[1]);
    size_t n = (size_t)bench_arg_long(argc, argv, 2, 0);
    long reps = bench_arg_long(argc, argv, 3, 5);
    if (n < 2 || n > UINT32_MAX)
        bench_die("N out of range", argv[2]);

    char label[32], workload[64];
    size_label(n, label, sizeof label);
    snprintf(workload, sizeof workload, "mark:%s:%s", argv[1], label);

    node **v = malloc(n * sizeof *v);
    if (!v)
        bench_die("out of memory", "node index");
    uint64_t t0 = bench_now_ns();
    run(workload, sh, v, n, reps);
    printf("INFO seconds_total %.2f\n", (double)(bench_now_ns() - t0) / 1e9);
    free(v);
    return 0;
}
