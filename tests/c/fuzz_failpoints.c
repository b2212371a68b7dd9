/*
 * fuzz_failpoints.c — build/failpoints: allocation-failure injection, in
 * the style of Lua's ltests. The core is built with -DTC_FAILPOINTS (every
 * internal malloc, mapping and commit asks platform.c's failpoint first)
 * and with ASan + LSan + UBSan.
 *
 * The sweep runs one scenario that reaches every allocating path of the
 * core (heap creation, every size class and large objects, two handle-
 * table chunks, finalizers, cleanups, weak references, pins, a raw
 * section, introspection (roots, referents, referrers, path, retained
 * size), MMU, collections with checkmark, a trace, gctrace lines, stats,
 * verify, unsafe free, scavenge), once with no failure to count its N
 * allocations, then for n = 1..N with the n-th allocation failing (mode
 * one: only that one; mode sticky: that one and all later ones). After
 * each run:
 *   - every call returned success or a typed error it may return;
 *   - with the failpoint off again, the heap verifies, collects (checkmark
 *     on) without error, and comes back to 0 objects, 0 roots and 0 weak
 *     references once everything is released;
 *   - LeakSanitizer finds no leak (checked after each run, so a leak names
 *     its n); a hang (30 s) is reported with its n and mode.
 * The stw and incremental collectors allocate in the same order every run;
 * the concurrent collector's threads do not (its n are a sample).
 *
 * Regression tests for the out-of-memory paths (issue 10, point 7) run
 * first: `build/failpoints tests`.
 *
 *   build/failpoints [tests[=NAME]] [sweep] [collector=C] [mode=one|sticky] [every=K] [n=N]
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "check.h"
#include "sizeclass.h"
#include "tricolor.h"

#define NR 96            /* roots the scenario keeps */
#define EXTRA_ROOTS 4300 /* more than a handle-table chunk holds */
#define HANG_SECONDS 30
#define OKS (1u << TC_OK)
#define NOMEM (1u << TC_ERR_NOMEM)

/* ---- one run ---- */

typedef struct ctx {
    const char *where; /* "n=12 mode=one collector=stw", for messages */
    int failures;
    tc_heap *h;
    tc_root *r[NR];
    tc_root **extra;
    tc_weak *w[4];
} ctx;

static void fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL [%s] ", c->where);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    c->failures++;
}

/* step — a call's status must be one of `allowed` (a mask of tc_status). */
static bool step(ctx *c, tc_status st, unsigned allowed, const char *what)
{
    if (!((1u << st) & allowed))
        fail(c, "%s returned %s (%s)", what, tc_status_str(st), tc_errmsg());
    return st == TC_OK;
}

static void sink(void *ud, const char *line)
{
    (void)line;
    (*(int *)ud)++;
}

/* objects: every size class exactly, a few slot counts, large objects. */
static void make_objects(ctx *c)
{
    int k = 0;
    for (int cl = 1; cl < sc_count && k < NR - 4; cl++, k++) {
        size_t ns = (size_t)(cl % 4), bytes = sc_size[cl];
        size_t sz = bytes > 8 + ns * 9 ? bytes - 8 - ns * 9 : 0;
        step(c, tc_obj_new(c->h, ns, sz, NULL, &c->r[k]), OKS | NOMEM, "obj_new (size class)");
    }
    step(c, tc_obj_new(c->h, 2, 40000, NULL, &c->r[k++]), OKS | NOMEM, "obj_new (large)");
    step(c, tc_obj_new(c->h, 3000, 300000, NULL, &c->r[k++]), OKS | NOMEM, "obj_new (large, slots)");
    for (int i = 0; i + 1 < k; i++) /* a chain through the objects with slots (the class's index % 4) */
        if (c->r[i] && c->r[i + 1] && (i + 1) % 4)
            step(c, tc_slot_set(c->h, c->r[i], 0, tc_ref(tc_root_obj(c->r[i + 1]))), OKS, "slot_set");
    step(c, tc_obj_new(c->h, 1, 16, NULL, &c->r[NR - 1]), OKS | NOMEM, "obj_new (to free)");
}

static void make_roots_and_specials(ctx *c)
{
    c->extra = calloc(EXTRA_ROOTS, sizeof *c->extra);
    for (int i = 0; i < EXTRA_ROOTS && c->r[1]; i++)
        if (!step(c, tc_root_new(c->h, tc_root_obj(c->r[1]), &c->extra[i]), OKS | NOMEM, "root_new"))
            break;
    tc_token old;
    for (int i = 0; i < 8; i++) {
        if (c->r[i] && i % 2)
            step(c, tc_set_finalizer(c->h, c->r[i], 100 + (tc_token)i, &old), OKS | NOMEM, "set_finalizer");
        if (c->r[i])
            step(c, tc_add_cleanup(c->h, c->r[i], 200 + (tc_token)i), OKS | NOMEM, "add_cleanup");
    }
    for (int i = 0; i < 4; i++)
        if (c->r[10 + i])
            step(c, tc_weak_new(c->h, c->r[10 + i], &c->w[i]), OKS | NOMEM, "weak_new");
    if (c->r[20] && step(c, tc_obj_pin(c->h, c->r[20]), OKS | NOMEM, "pin"))
        tc_obj_unpin(c->h, c->r[20]);
}

static void raw_section(ctx *c)
{
    tc_mutator *m = tc_enter(c->h);
    if (!m)
        return (void)step(c, TC_ERR_NOMEM, OKS | NOMEM, "tc_enter");
    tc_obj **l = tc_locals(m, 3);
    if (l) {
        for (int i = 0; i < 40; i++) {
            tc_obj *o = tc_alloc(m, 2, (size_t)i * 24);
            if (!o)
                step(c, TC_ERR_NOMEM, OKS | NOMEM, "tc_alloc");
            else if (l[0])
                tc_store(m, o, 0, tc_ref(l[0]));
            l[i % 2] = o ? o : l[i % 2];
        }
        tc_root *r;
        if (l[0] && step(c, tc_root_new(c->h, l[0], &r), OKS | NOMEM, "root_new (raw)"))
            tc_root_release(c->h, r);
        tc_locals_pop(m, 3);
    } else {
        step(c, TC_ERR_NOMEM, OKS | NOMEM, "tc_locals");
    }
    tc_leave(m);
}

/* links — check an introspection call's status, then release its
 * answer's roots and free its array. */
static void links(ctx *c, tc_status st, tc_link **l, size_t *n, const char *what)
{
    if (step(c, st, OKS | NOMEM, what)) {
        for (size_t i = 0; i < *n; i++)
            tc_root_release(c->h, (*l)[i].obj);
        tc_inspect_free(*l);
    }
    *l = NULL;
    *n = 0;
}

/* inspect — why-alive introspection (inspect.c, dom.c) and MMU (mmu.c). */
static void inspect(ctx *c, tc_root *obj)
{
    tc_link *l = NULL;
    size_t n = 0;
    uint64_t bytes, objects;
    links(c, tc_heap_roots(c->h, &l, &n), &l, &n, "heap_roots");
    if (obj) {
        links(c, tc_obj_referents(c->h, obj, &l, &n), &l, &n, "referents");
        links(c, tc_obj_referrers(c->h, obj, &l, &n), &l, &n, "referrers");
        links(c, tc_obj_path_to(c->h, obj, &l, &n), &l, &n, "path_to");
        step(c, tc_obj_retained(c->h, obj, &bytes, &objects), OKS | NOMEM, "retained");
    }
    tc_interval iv[3] = {{0, 10, TC_GC_PAUSE}, {5, 40, TC_GC_ASSIST}, {60, 70, TC_GC_SLICE}};
    int64_t windows[2] = {10, 1000};
    tc_mmu_point pts[2];
    step(c, tc_mmu(iv, 3, NULL, NULL, windows, 2, pts), OKS | NOMEM, "mmu");
}

/* drain_ready — take every due callback, releasing finalizers' roots. */
static void drain_ready(ctx *c)
{
    tc_token tk;
    tc_root *r;
    while (tc_take_ready(c->h, &tk, &r) != TC_READY_NONE)
        if (r)
            tc_root_release(c->h, r);
}

/* body — the scenario, with the failpoint armed. */
static void body(ctx *c, const char *trace_path)
{
    int lines = 0;
    tc_stats st;
    tc_root *g = NULL;
    bool tracing = step(c, tc_trace_start(c->h, trace_path), OKS | NOMEM, "trace_start");
    make_objects(c);
    make_roots_and_specials(c);
    raw_section(c);
    inspect(c, c->r[2]);
    step(c, tc_heap_collect(c->h), OKS | NOMEM, "collect");
    for (int i = 0; i < 4; i++)
        if (c->w[i] && step(c, tc_weak_get(c->h, c->w[i], &g), OKS | NOMEM, "weak_get") && g)
            tc_root_release(c->h, g);
    for (int i = 0; i < 8; i++) /* the finalizable and cleanable objects become garbage */
        if (c->r[i]) {
            tc_root_release(c->h, c->r[i]);
            c->r[i] = NULL;
        }
    step(c, tc_heap_collect(c->h), OKS | NOMEM, "collect");
    drain_ready(c);
    step(c, tc_heap_set_gogc(c->h, 5), OKS, "set_gogc");
    if (c->r[NR - 1] && step(c, tc_obj_free(c->h, c->r[NR - 1]), OKS | NOMEM, "obj_free")) {
        tc_root_release(c->h, c->r[NR - 1]);
        c->r[NR - 1] = NULL;
    }
    step(c, tc_heap_scavenge(c->h, NULL), OKS, "scavenge");
    step(c, tc_heap_stats(c->h, &st), OKS, "stats");
    step(c, tc_heap_verify(c->h), OKS, "verify");
    tc_heap_drain_output(c->h, sink, &lines);
    if (tracing)
        step(c, tc_trace_stop(c->h), OKS | NOMEM, "trace_stop");
}

/* release_all — every root and weak reference of the scenario. */
static void release_all(ctx *c)
{
    for (int i = 0; i < NR; i++)
        if (c->r[i])
            tc_root_release(c->h, c->r[i]);
    for (int i = 0; c->extra && i < EXTRA_ROOTS; i++)
        if (c->extra[i])
            tc_root_release(c->h, c->extra[i]);
    for (int i = 0; i < 4; i++)
        tc_weak_release(c->h, c->w[i]);
    free(c->extra);
    memset(c->r, 0, sizeof c->r);
    memset(c->w, 0, sizeof c->w);
    c->extra = NULL;
}

/* after — the failpoint is off: the heap must be whole and empty out. */
static void after(ctx *c)
{
    int lines = 0;
    tc_stats st;
    step(c, tc_heap_verify(c->h), OKS, "verify (after)");
    step(c, tc_heap_collect(c->h), OKS, "collect (after)");
    release_all(c);
    for (int k = 0; k < 4; k++) {
        drain_ready(c);
        step(c, tc_heap_collect(c->h), OKS, "collect (after)");
    }
    drain_ready(c);
    if (step(c, tc_heap_stats(c->h, &st), OKS, "stats (after)") && (st.heap_objects || st.roots || st.weak_refs))
        fail(c, "after release: %llu objects, %llu roots, %llu weak refs", (unsigned long long)st.heap_objects,
             (unsigned long long)st.roots, (unsigned long long)st.weak_refs);
    step(c, tc_heap_verify(c->h), OKS, "verify (after)");
    tc_heap_drain_output(c->h, sink, &lines);
}

const char *fp_where = ""; /* what runs now, for the hang message (fuzz_failtests.c sets it too) */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL hang: no progress for 30 s at ";
    write(2, msg, sizeof msg - 1);
    write(2, fp_where, strlen(fp_where));
    write(2, "\n", 1);
    _exit(3);
}

static bool leak_check(ctx *c)
{
#if defined(__SANITIZE_ADDRESS__)
    if (__lsan_do_recoverable_leak_check()) {
        fail(c, "LeakSanitizer found a leak (see above)");
        return false;
    }
#endif
    (void)c;
    return true;
}

/* run — the scenario once; n = 0: no failure. Returns the allocations
 * the armed part made (to size the sweep), or -1 on a failure. */
static long run(tc_collector coll, uint64_t n, bool sticky, const char *trace_path)
{
    char where[128];
    snprintf(where, sizeof where, "collector=%s mode=%s n=%llu", tc_collector_name(coll), sticky ? "sticky" : "one",
             (unsigned long long)n);
    ctx c = {.where = where};
    fp_where = where;
    alarm(HANG_SECONDS);
    tc_config cfg;
    tc_config_init(&cfg);
    cfg.collector = coll;
    cfg.checkmark = true;
    cfg.gctrace = true;
    cfg.gogc = 50;
    cfg.mark_workers = coll == TC_COLLECTOR_CONCURRENT ? 2 : 1;
    plat_failpoint_arm(n, sticky);
    tc_status st = tc_heap_new(&cfg, &c.h);
    step(&c, st, OKS | NOMEM, "heap_new");
    if (st == TC_OK)
        body(&c, trace_path);
    long seen = (long)plat_failpoint_seen();
    plat_failpoint_arm(0, false);
    if (st == TC_OK) {
        after(&c);
        tc_heap_destroy(c.h);
    }
    alarm(0);
    leak_check(&c);
    return c.failures ? -1 : seen;
}

/* ---- the sweep ---- */

static int sweep(tc_collector coll, int modes, uint64_t every, uint64_t only, const char *trace_path)
{
    long total = run(coll, 0, false, trace_path);
    if (total < 0)
        return 1;
    int failed = 0;
    uint64_t runs = 0;
    for (int sticky = 0; sticky < 2; sticky++) {
        if (!(modes >> sticky & 1))
            continue;
        for (uint64_t n = only ? only : 1; n <= (only ? only : (uint64_t)total + 4); n += every) {
            failed += run(coll, n, sticky, trace_path) < 0;
            runs++;
        }
    }
    printf("failpoints %s: %ld allocations in the scenario, %llu runs (every %llu-th n, modes %s): %s\n",
           tc_collector_name(coll), total, (unsigned long long)runs, (unsigned long long)every,
           modes == 3 ? "one, sticky" : modes == 1 ? "one" : "sticky", failed ? "FAIL" : "PASS");
    fflush(stdout);
    return failed != 0;
}

int fail_tests(const char *only); /* fuzz_failtests.c: the tests whose name contains `only` (NULL: all) */

int main(int argc, char **argv)
{
    signal(SIGALRM, on_alarm);
    bool do_tests = false, do_sweep = false;
    unsigned cmask = 7;
    int modes = 3;
    uint64_t every = 1, nth = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        tc_collector cc;
        if (strncmp(argv[i], "tests", 5) == 0 && (!argv[i][5] || argv[i][5] == '='))
            do_tests = true, only = argv[i][5] ? argv[i] + 6 : NULL;
        else if (strcmp(argv[i], "sweep") == 0)
            do_sweep = true;
        else if (strncmp(argv[i], "collector=", 10) == 0 && tc_collector_parse(argv[i] + 10, &cc) == TC_OK)
            cmask = 1u << cc;
        else if (strncmp(argv[i], "mode=", 5) == 0)
            modes = strcmp(argv[i] + 5, "one") == 0 ? 1 : strcmp(argv[i] + 5, "sticky") == 0 ? 2 : 3;
        else if (strncmp(argv[i], "every=", 6) == 0 && atoi(argv[i] + 6) > 0)
            every = (uint64_t)atoi(argv[i] + 6);
        else if (strncmp(argv[i], "n=", 2) == 0)
            nth = strtoull(argv[i] + 2, NULL, 0);
        else {
            fprintf(stderr, "failpoints: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!do_tests && !do_sweep)
        do_tests = do_sweep = true;
    char trace_path[64];
    snprintf(trace_path, sizeof trace_path, "/tmp/tricolor-failpoints-%d.json", (int)getpid());
    int failed = do_tests ? fail_tests(only) : 0;
    for (int c = 0; c < 3 && do_sweep; c++)
        if (cmask >> c & 1)
            failed += sweep((tc_collector)c, modes, every, nth, trace_path);
    unlink(trace_path);
    return failed ? 1 : 0;
}
