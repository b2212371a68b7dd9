/* test_hostile.c — hostile input and re-entrancy against the core (issue 10):
 * torn slot reads between threads, address-space caps, extreme tunables,
 * every call after close and after free, threads closing a heap while
 * others allocate, fork in each collector. Scenarios that may hang run in a
 * child process with a deadline, so a hang fails the test instead of
 * blocking the suite. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "heap.h"
#include "pacer.h"
#include "tc_test.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif
#if defined(__SANITIZE_THREAD__)
#define TSANITIZED 1
#else
#define TSANITIZED 0
#endif

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* child_spawn — run fn(arg) in a forked child, which exits with its result. */
static pid_t child_spawn(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

/* child_wait — the child's exit status (0..255), or -1 if it hung for
 * `secs` seconds (it is then killed) or died of a signal (both printed). */
static int child_wait(pid_t pid, unsigned secs)
{
    if (pid < 0)
        return -1;
    uint64_t deadline = now_ms() + (uint64_t)secs * 1000;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "  child %d hung for %u s: killed\n", (int)pid, secs);
            return -1;
        }
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "  child died of signal %d\n", WTERMSIG(status));
        return -1;
    }
    return WEXITSTATUS(status);
}

/* run_child — fn(arg) in a child, with a deadline (a hang fails, not blocks). */
static int run_child(int (*fn)(void *), void *arg, unsigned secs) { return child_wait(child_spawn(fn, arg), secs); }

/* vm_size — the process's address space in bytes (VmSize). */
static uint64_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb << 10;
}

/* ---- torn slot reads (issue 10, point 6) ---------------------------------- */

#define TORN_INT 16 /* an int that would be read as the address 0x10 */

typedef struct torn_ctx {
    tc_heap *h;
    tc_root *obj, *target;
    _Atomic int stop;
    _Atomic uint64_t writes, reads, refs, torn;
    uint64_t max_reads, max_ms;
} torn_ctx;

static void *torn_writer(void *arg)
{
    torn_ctx *t = arg;
    tc_value ref = tc_ref(tc_root_obj(t->target));
    for (uint64_t i = 0; !atomic_load_explicit(&t->stop, memory_order_relaxed); i++) {
        if (tc_slot_set(t->h, t->obj, 0, (i & 1) ? tc_int(TORN_INT) : ref) != TC_OK)
            break;
        atomic_fetch_add_explicit(&t->writes, 1, memory_order_relaxed);
    }
    return NULL;
}

/* torn_read_one — one tc_slot_get: false if it is neither value written. */
static bool torn_read_one(torn_ctx *t)
{
    tc_value v;
    tc_root *r = NULL;
    if (tc_slot_get(t->h, t->obj, 0, &v, &r) != TC_OK) {
        fprintf(stderr, "  tc_slot_get failed: %s\n", tc_errmsg());
        return false;
    }
    bool ok = v.kind == TC_REF ? v.u.ref == tc_root_obj(t->target) : v.kind == TC_INT && v.u.i == TORN_INT;
    if (v.kind == TC_REF) {
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
        tc_root_release(t->h, r);
    }
    if (!ok)
        fprintf(stderr, "  torn read after %lu reads: kind %d word %#lx\n",
                (unsigned long)atomic_load(&t->reads), (int)v.kind, (unsigned long)v.u.i);
    return ok;
}

/* torn_done — the readers have read enough (max_reads, or max_ms gone by)
 * and seen the race they exist for (a reference read, 1,000 stores made): a
 * loaded machine that runs the writers late stretches the test instead of
 * failing its progress check; TORN_HARD_MS bounds a writer that never runs. */
#define TORN_HARD_MS 120000u
static bool torn_done(torn_ctx *t, uint64_t t0)
{
    uint64_t ms = now_ms() - t0;
    if (atomic_load(&t->torn) || ms >= TORN_HARD_MS)
        return true;
    bool enough = atomic_load(&t->reads) >= t->max_reads || ms >= t->max_ms;
    return enough && atomic_load(&t->refs) > 0 && atomic_load(&t->writes) > 1000;
}

static void *torn_reader(void *arg)
{
    torn_ctx *t = arg;
    uint64_t t0 = now_ms();
    while (!torn_done(t, t0))
        for (int k = 0; k < 1000; k++) {
            atomic_fetch_add_explicit(&t->reads, 1, memory_order_relaxed);
            if (!torn_read_one(t)) {
                atomic_fetch_add(&t->torn, 1);
                break;
            }
        }
    return NULL;
}

/* slot_reads_are_never_torn — two threads alternate a reference and an int
 * in one slot, two others read it through tc_slot_get: every value read is
 * one of the two written, never one store's tag with another's word. Before
 * the fix an old REF tag with a new int word made a root for address 0x10
 * (0.6-2.2M reads); a lock-free tag-word-tag check still let an INT tag
 * with a REF word through when a reader was preempted between its two tag
 * loads while 16 stores went by (once in 5M reads on a loaded machine). */
TEST(hostile_slot_reads_are_never_torn)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* the race is the slot's, not a collector's: one round */
    torn_ctx t = {.h = new_heap_gogc(100), .max_reads = SANITIZED ? 400000 : 8000000,
                  .max_ms = SANITIZED ? 4000 : 8000};
    CHECK(t.h);
    CHECK_OK(tc_obj_new(t.h, 1, 0, NULL, &t.obj));
    CHECK_OK(tc_obj_new(t.h, 0, 8, NULL, &t.target));
    CHECK_OK(tc_slot_set(t.h, t.obj, 0, tc_int(TORN_INT)));
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&th[i], NULL, i < 2 ? torn_writer : torn_reader, &t) == 0);
    torn_reader(&t);
    pthread_join(th[2], NULL);
    atomic_store(&t.stop, 1);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    CHECK(atomic_load(&t.torn) == 0);
    CHECK(atomic_load(&t.refs) > 0 && atomic_load(&t.writes) > 1000);
    CHECK_OK(tc_heap_verify(t.h));
    tc_heap_destroy(t.h);
}

/* ---- address-space caps (issue 10, point 5) -------------------------------- */

/* as_alloc_child — under RLIMIT_AS = VmSize + *headroom bytes: a heap and a
 * small allocation must work (exit 0), or the core must say NOMEM (exit 3),
 * never crash. Exit 1: an unexpected failure. */
static int as_alloc_child(void *arg)
{
    uint64_t headroom = *(uint64_t *)arg;
    uint64_t cap = vm_size() + headroom;
    struct rlimit rl = {cap, cap};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 1;
    tc_heap *h = NULL;
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    tc_status st = tc_heap_new(&c, &h);
    if (st == TC_ERR_NOMEM)
        return 3;
    if (st != TC_OK)
        return 1;
    tc_root *r;
    st = tc_obj_new(h, 2, 1, NULL, &r);
    if (st == TC_ERR_NOMEM) {
        tc_heap_destroy(h);
        return 3;
    }
    if (st != TC_OK)
        return 1;
    /* and some more, so that the heap grows past its first commit step */
    for (int i = 0; i < 20000 && st == TC_OK; i++) {
        tc_root *x;
        if ((st = tc_obj_new(h, 2, 100, NULL, &x)) == TC_OK)
            tc_root_release(h, x);
    }
    if (st != TC_OK || tc_heap_collect(h) != TC_OK || tc_heap_verify(h) != TC_OK)
        return st == TC_ERR_NOMEM ? 3 : 1;
    tc_heap_destroy(h);
    return 0;
}

/* first_allocation_under_an_address_space_cap — `ulimit -v 8G` (and 1 GiB)
 * left no room for the first arena (it mapped 8 GiB to trim 4 GiB): the
 * first 17-byte allocation failed. The cap is set as headroom above what the
 * process already maps (the sanitizers reserve terabytes of shadow up
 * front, so an absolute cap would leave them nothing). */
TEST(hostile_first_allocation_under_an_address_space_cap)
{
    static const uint64_t caps[] = {(uint64_t)8 << 30, (uint64_t)1 << 30, (uint64_t)256 << 20};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        uint64_t headroom = caps[i];
        int rc = run_child(as_alloc_child, &headroom, 60);
        if (rc != 0)
            fprintf(stderr, "  cap VmSize + %lu MiB: child exit %d\n", (unsigned long)(headroom >> 20), rc);
        CHECK(rc == 0);
    }
    /* a cap that leaves almost nothing: NOMEM, not a crash (TSan's own
     * allocator needs a few MiB of the headroom to run at all) */
    uint64_t tiny = TSANITIZED ? (uint64_t)24 << 20 : (uint64_t)1 << 20;
    int rc = run_child(as_alloc_child, &tiny, 60);
    CHECK(rc == 3 || rc == 0);
}

/* marking_follows_references_across_arenas — a heap in two arenas: one
 * object takes all but ~48 MiB of the first (a 4 GiB reservation; its
 * pages are never touched), so the 1 KiB objects made next fill the rest
 * and go on in a second arena. A random graph of them (slot 0 chains them
 * all, slot 1 points at a random one) keeps referring from one arena into
 * the other, and the marker's arena lookup must follow every reference
 * (drain.c caches the last arena it saw). Collected with checkmark on,
 * nothing may be lost. */
TEST(hostile_marking_follows_references_across_arenas)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.gogc = -1; /* only the collections below */
    c.checkmark = true;
    tc_heap *h = NULL;
    CHECK_OK(tc_heap_new(&c, &h));
    enum { N = 128 * 1024 };
    tc_obj **v = malloc(N * sizeof *v);
    tc_mutator *m = tc_enter(h);
    tc_obj **loc = m ? tc_locals(m, 1) : NULL;
    CHECK(v && loc);
    tc_obj *big = tc_alloc(m, 0, (uint32_t)(((uint64_t)4 << 30) - ((uint64_t)48 << 20)));
    size_t n = 0, beyond = 0;
    for (; big && n < N && beyond < 4096; n++) { /* chained through slot 0 as they are made: all stay reachable */
        if (!(v[n] = tc_alloc(m, 2, 1000)))
            break;
        if (n)
            tc_store(m, v[n - 1], 0, tc_ref(v[n]));
        else
            loc[0] = v[0];
        beyond += h->narenas > 1; /* this thread is the only one that adds arenas here */
    }
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        tc_store(m, v[i], 1, tc_ref(v[x % n]));
    }
    tc_root *root = NULL;
    bool made = n > 0 && tc_root_new(h, loc[0], &root) == TC_OK;
    tc_locals_pop(m, 1);
    tc_leave(m);
    free(v);
    int arenas = h->narenas;
    if (!big || arenas < 2)
        fprintf(stderr, "  big object %s, %zu objects in %d arena(s)\n", big ? "made" : "refused", n, arenas);
    CHECK(made && arenas >= 2);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    tc_stats st;
    CHECK_OK(tc_heap_stats(h, &st));
    CHECK(st.heap_objects >= n);
    tc_root_release(h, root);
    tc_heap_destroy(h);
}

/* marking_drops_candidates_in_another_heaps_arena — a concurrent marker
 * may read a torn slot (a stale REF tag with a fresh word: obj.h) whose
 * word is the address of another heap's object, allocated there. It must
 * be dropped, not marked in the other heap's bitmap: drain.c's ring_put
 * checks a candidate's heap when its arena changes and never keeps another
 * heap's arena as its last one, so a second such candidate right after the
 * first is dropped too. Heap a (manual) gets the addresses of two of heap
 * b's objects as grey work mid-mark; after a's mark, b's objects carry no
 * mark bit (b's verify fails on a mark bit left on a swept span) and a
 * still marks what it should. */
TEST(hostile_marking_drops_candidates_in_another_heaps_arena)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = TC_COLLECTOR_MANUAL;
    tc_heap *a = NULL, *b = new_heap_gogc(-1);
    CHECK_OK(tc_heap_new(&c, &a));
    tc_root *ra, *r1, *r2;
    CHECK_OK(tc_obj_new(a, 1, 0, NULL, &ra));
    CHECK_OK(tc_obj_new(b, 0, 8, NULL, &r1));
    CHECK_OK(tc_obj_new(b, 0, 8, NULL, &r2));
    uintptr_t y[2] = {(uintptr_t)tc_root_obj(r1), (uintptr_t)tc_root_obj(r2)};
    CHECK(arena_of(y[0])->heap == b && arena_of(y[1])->heap == b);
    CHECK_OK(tc_heap_gc_start(a));
    grey_put(a, y, 2); /* two candidates of b's in a row, as torn reads could give */
    uint64_t marked = 1, total = 0;
    for (int i = 0; i < 1000 && marked; i++) {
        CHECK_OK(tc_heap_gc_step(a, 1000, &marked));
        total += marked;
    }
    CHECK(total == 1); /* ra only */
    CHECK(!mark_test(arena_of(y[0]), y[0]) && !mark_test(arena_of(y[1]), y[1]));
    uint64_t freed = 1;
    CHECK_OK(tc_heap_gc_finish(a, &freed));
    CHECK(freed == 0); /* ra survived */
    CHECK_OK(tc_heap_verify(b));
    CHECK_OK(tc_heap_verify(a));
    tc_root_release(a, ra);
    tc_root_release(b, r1);
    tc_root_release(b, r2);
    tc_heap_destroy(a);
    tc_heap_destroy(b);
}

/* ---- tunable extremes (issue 10, point 4) ---------------------------------- */

/* churn — allocate n small objects, keeping every 16th; true if all worked. */
static int churn(tc_heap *h, int n)
{
    tc_root *keep = NULL;
    if (tc_obj_new(h, 1, 0, NULL, &keep) != TC_OK)
        return 0;
    for (int i = 0; i < n; i++) {
        tc_root *r;
        if (tc_obj_new(h, 1, 16, NULL, &r) != TC_OK)
            return 0;
        if (i % 16 == 0 && tc_slot_set(h, r, 0, tc_ref(tc_root_obj(keep))) == TC_OK)
            tc_slot_set(h, keep, 0, tc_ref(tc_root_obj(r)));
        tc_root_release(h, r);
    }
    tc_root_release(h, keep);
    return 1;
}

/* gogc_extremes_are_refused_or_sane — gogc above the cap is refused (at
 * creation and at run time) with the heap still usable; every accepted
 * value gives a goal in range: 4e14 gave a goal of 1.7e19 and 5e14 gave 0
 * (a collection on every allocation) before the cap. */
TEST(hostile_gogc_extremes_are_refused_or_sane)
{
    static const int64_t bad[] = {TC_GOGC_MAX + 1, INT64_C(400000000000000), INT64_C(500000000000000),
                                  INT64_MAX, -2, INT64_MIN};
    static const int64_t good[] = {0, 1, 100, TC_GOGC_MAX - 1, TC_GOGC_MAX, -1};
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    tc_heap *h = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.gogc = bad[i];
        CHECK(tc_heap_new(&c, &h) == TC_ERR_VALUE);
        CHECK(strstr(tc_errmsg(), "gogc") != NULL);
    }
    c.gogc = 100;
    CHECK_OK(tc_heap_new(&c, &h));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(tc_heap_set_gogc(h, bad[i]) == TC_ERR_VALUE);
        CHECK(tc_heap_gogc(h) == 100);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK_OK(tc_heap_set_gogc(h, good[i]));
        tc_stats s;
        CHECK_OK(tc_heap_stats(h, &s));
        /* goal: none (gogc off: stats say 0), or at least the live heap and
         * far from wrapping */
        CHECK(good[i] < 0 ? s.heap_goal == 0 : (s.heap_goal >= s.heap_live && s.heap_goal < (UINT64_C(1) << 62)));
        uint64_t gcs = s.num_gc;
        CHECK(churn(h, good[i] == 0 ? 3000 : 20000));
        CHECK_OK(tc_heap_collect(h));
        CHECK_OK(tc_heap_stats(h, &s));
        CHECK(s.num_gc > gcs);
        CHECK_OK(tc_heap_verify(h));
    }
    tc_heap_destroy(h);
}

/* memory_limit_extremes — every positive limit up to 2^63-1 is taken and
 * gives a sane goal; 0 and negatives other than -1 are refused. */
TEST(hostile_memory_limit_extremes)
{
    static const int64_t good[] = {1, 4096, INT64_C(1) << 40, INT64_MAX - 1, INT64_MAX, -1};
    static const int64_t bad[] = {0, -2, INT64_MIN};
    tc_heap *h = new_heap_gogc(100);
    CHECK(h);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(tc_heap_set_memory_limit(h, bad[i]) == TC_ERR_VALUE);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK_OK(tc_heap_set_memory_limit(h, good[i]));
        CHECK(churn(h, good[i] == 1 ? 2000 : 10000));
        tc_stats s;
        CHECK_OK(tc_heap_stats(h, &s));
        CHECK(s.heap_goal >= s.heap_live && s.heap_goal < (UINT64_C(1) << 63));
        CHECK_OK(tc_heap_verify(h));
    }
    tc_heap_destroy(h);
}

/* ---- unsafe free (issue 10, point 8) ---------------------------------------- */

/* free_pause_walks_no_handles — tc_obj_free stops the world; its pause must
 * not grow with the handle table. Asserted by structure, not by time: the
 * handle-table walk counter does not move across a free, with 200k handles,
 * while a collection (which does walk the table) moves it by at least that. */
TEST(hostile_free_pause_walks_no_handles)
{
    enum { NHANDLES = 200000 };
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_root **rs = calloc(NHANDLES, sizeof *rs);
    CHECK(rs);
    tc_root *victim;
    CHECK_OK(tc_obj_new(h, 1, 8, NULL, &victim));
    for (int i = 0; i < NHANDLES; i++)
        CHECK_OK(tc_root_new(h, tc_root_obj(victim), &rs[i]));
    uint64_t before = roots_debug_visited(h);
    CHECK_OK(tc_heap_collect(h));
    uint64_t after_collect = roots_debug_visited(h);
    CHECK(after_collect - before >= NHANDLES);
    CHECK_OK(tc_obj_free(h, victim));
    uint64_t walked = roots_debug_visited(h) - after_collect;
    if (walked)
        fprintf(stderr, "  tc_obj_free walked %lu handle slots\n", (unsigned long)walked);
    CHECK(walked == 0);
    /* every one of the 200k handles reports the object freed at once */
    for (int i = 0; i < NHANDLES; i += 997)
        CHECK(tc_root_freed(rs[i]));
    size_t n;
    CHECK(tc_obj_nslots(h, rs[NHANDLES - 1], &n) == TC_ERR_FREED);
    CHECK_OK(tc_heap_verify(h));
    for (int i = 0; i < NHANDLES; i++)
        tc_root_release(h, rs[i]);
    tc_root_release(h, victim);
    free(rs);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* pacer_goal_saturates — the pacer's own math (below the API's cap):
 * goal and trigger saturate at PACER_GOAL_MAX instead of wrapping; a goal
 * of 0 collected on every allocation (gogc = 5e14 before the fix). */
TEST(hostile_pacer_goal_saturates)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* pure arithmetic: one round */
    static const int64_t gogcs[] = {TC_GOGC_MAX, INT64_C(400000000000000), INT64_C(500000000000000), INT64_MAX};
    static const uint64_t lives[] = {0, (uint64_t)1 << 20, (uint64_t)1 << 38, (uint64_t)1 << 62};
    for (size_t g = 0; g < sizeof gogcs / sizeof gogcs[0]; g++)
        for (size_t l = 0; l < sizeof lives / sizeof lives[0]; l++) {
            pacer p;
            pacer_init(&p, gogcs[g], -1);
            pacer_cycle_done(&p, lives[l], lives[l] / 4, lives[l] / 2 + 1, 0);
            if (!(p.goal >= lives[l] && p.goal <= PACER_GOAL_MAX && p.trigger <= p.goal && p.goal >= PACER_HEAP_MIN))
                fprintf(stderr, "  gogc %lld live %llu: goal %llu trigger %llu\n", (long long)gogcs[g],
                        (unsigned long long)lives[l], (unsigned long long)p.goal, (unsigned long long)p.trigger);
            CHECK(p.goal >= lives[l] && p.goal <= PACER_GOAL_MAX && p.trigger <= p.goal);
            CHECK(p.goal >= PACER_HEAP_MIN);
            pacer_tune(&p, gogcs[g], INT64_MAX); /* the largest limit */
            CHECK(p.goal <= PACER_GOAL_MAX && p.trigger <= p.goal);
        }
}

/* ---- close while others are inside (issue 10, point 2) ----------------------- */

typedef struct closer_ctx {
    tc_heap *h;
    _Atomic int started, bad;
    int raw; /* this worker allocates in a raw section (tc_alloc, safepoints) */
} closer_ctx;

static void *close_worker(void *arg)
{
    closer_ctx *c = arg;
    atomic_fetch_add(&c->started, 1);
    for (;;) {
        tc_root *r;
        tc_status st = tc_obj_new(c->h, 4, 4096, NULL, &r);
        if (st == TC_ERR_CLOSED)
            return NULL;
        if (st != TC_OK) {
            atomic_fetch_add(&c->bad, 1);
            return NULL;
        }
        tc_root_release(c->h, r);
    }
}

static void *close_raw_worker(void *arg)
{
    closer_ctx *c = arg;
    atomic_fetch_add(&c->started, 1);
    for (;;) {
        tc_mutator *m = tc_enter(c->h);
        if (!m)
            return NULL; /* closed */
        for (int i = 0; i < 200; i++)
            if (!tc_alloc(m, 2, 512))
                break; /* the heap was closed meanwhile: allocation fails, the section ends */
        tc_leave(m);
    }
}

static void *close_collector(void *arg)
{
    closer_ctx *c = arg;
    atomic_fetch_add(&c->started, 1);
    for (;;) {
        tc_status st = tc_heap_collect(c->h);
        if (st == TC_ERR_CLOSED)
            return NULL;
        if (st != TC_OK) {
            atomic_fetch_add(&c->bad, 1);
            return NULL;
        }
    }
}

/* close_race_child — threads allocate (checked and raw) and collect while
 * the main thread closes: every thread ends with TC_ERR_CLOSED, and the
 * address space after destroy is what it was before the heap (a parked
 * allocation used to resume after close and map a fresh 4 GiB arena). */
static int close_race_child(void *arg)
{
    int trials = *(int *)arg, leaks = 0;
    uint64_t base = 0;
    for (int t = 0; t < trials; t++) {
        if (t == 1) /* after one trial: thread stacks and malloc arenas stay cached */
            base = vm_size();
        tc_config cfg;
        tc_config_init(&cfg);
        cfg.collector = tc_test_collector;
        cfg.gogc = 10;
        closer_ctx c = {0};
        if (tc_heap_new(&cfg, &c.h) != TC_OK)
            return 1;
        pthread_t th[4];
        void *(*fn[4])(void *) = {close_worker, close_worker, close_raw_worker, close_collector};
        for (int i = 0; i < 4; i++)
            pthread_create(&th[i], NULL, fn[i], &c);
        while (atomic_load(&c.started) < 4)
            sched_yield();
        nanosleep(&(struct timespec){0, 1000000L * (t % 4)}, NULL);
        tc_heap_close(c.h);
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        tc_root *r;
        if (atomic_load(&c.bad) || tc_obj_new(c.h, 1, 0, NULL, &r) != TC_ERR_CLOSED)
            return 2;
        tc_heap_destroy(c.h);
        if (t >= 1 && vm_size() > base + ((uint64_t)512 << 20)) {
            fprintf(stderr, "  trial %d: VmSize +%lu MiB after close\n", t, (unsigned long)((vm_size() - base) >> 20));
            leaks++;
        }
    }
    return leaks ? 3 : 0;
}

TEST(hostile_close_while_other_threads_allocate_and_collect)
{
    int trials = SANITIZED ? 4 : 12;
    CHECK(run_child(close_race_child, &trials, 120) == 0);
}

/* ---- fork (issue 10, point 3) ------------------------------------------------- */

#define FORK_HEAPS 3
#define FORK_ALLOCS 200000

typedef struct fork_ctx {
    tc_heap *h[FORK_HEAPS];
    tc_root *keep[FORK_HEAPS];
    _Atomic int stop, started;
} fork_ctx;

/* fork_busy — keeps a heap busy in the parent (allocating, so cycles run)
 * while the main thread forks. */
static void *fork_busy(void *arg)
{
    fork_ctx *c = arg;
    int k = atomic_fetch_add(&c->started, 1) % FORK_HEAPS;
    while (!atomic_load(&c->stop)) {
        tc_root *r;
        if (tc_obj_new(c->h[k], 2, 64, NULL, &r) != TC_OK)
            break;
        tc_slot_set(c->h[k], c->keep[k], 0, tc_ref(tc_root_obj(r)));
        tc_root_release(c->h[k], r);
    }
    return NULL;
}

/* fork_child_work — in the child: every heap collects, allocates 200k
 * objects and so starts cycles of its own, and verifies. */
static int fork_child_work(void *arg)
{
    fork_ctx *c = arg;
    for (int k = 0; k < FORK_HEAPS; k++) {
        tc_stats s0, s1;
        if (tc_heap_stats(c->h[k], &s0) != TC_OK || tc_heap_collect(c->h[k]) != TC_OK)
            return 10 + k;
        /* 200k allocations, then (a concurrent cycle they started may still
         * run) on, 2M at most, until a cycle nobody forced has ended */
        int n = 0;
        do {
            for (int i = 0; i < FORK_ALLOCS / 20; i++, n++) {
                tc_root *r;
                if (tc_obj_new(c->h[k], 2, 32, NULL, &r) != TC_OK)
                    return 20 + k;
                tc_root_release(c->h[k], r);
            }
            if (tc_heap_stats(c->h[k], &s1) != TC_OK)
                return 30 + k;
        } while (n < FORK_ALLOCS ||
                 (s1.num_gc - s1.num_forced_gc <= s0.num_gc - s0.num_forced_gc && n < 11 * FORK_ALLOCS));
        if (tc_heap_verify(c->h[k]) != TC_OK)
            return 30 + k;
        if (s1.num_gc < s0.num_gc + 2 || s1.num_gc - s1.num_forced_gc <= s0.num_gc - s0.num_forced_gc) {
            fprintf(stderr, "  child heap %d: %lu cycles before, %lu after (%lu forced)\n", k,
                    (unsigned long)s0.num_gc, (unsigned long)s1.num_gc, (unsigned long)s1.num_forced_gc);
            return 40 + k;
        }
    }
    for (int k = 0; k < FORK_HEAPS; k++)
        tc_heap_destroy(c->h[k]); /* the child can close what it inherited */
    return 0;
}

/* fork_keeps_a_working_collector — the child of a fork, taken while threads
 * allocate into three heaps (this round's collector, and concurrent with
 * two mark workers), has a working collector in every heap: collect()
 * returns, allocation starts cycles, verify passes, close works. Before
 * the fix the child of a concurrent heap had no collector thread: collect
 * hung for ever and 200k allocations started no cycle. */
TEST(hostile_fork_keeps_a_working_collector)
{
    fork_ctx c = {0};
    for (int k = 0; k < FORK_HEAPS; k++) {
        tc_config cfg;
        tc_config_init(&cfg);
        cfg.collector = k == 2 ? TC_COLLECTOR_CONCURRENT : tc_test_collector;
        cfg.mark_workers = k == 2 ? 2 : 1;
        cfg.checkmark = k == 1;
        CHECK_OK(tc_heap_new(&cfg, &c.h[k]));
        CHECK_OK(tc_obj_new(c.h[k], 1, 0, NULL, &c.keep[k]));
    }
    pthread_t th[FORK_HEAPS];
    for (int k = 0; k < FORK_HEAPS; k++)
        CHECK(pthread_create(&th[k], NULL, fork_busy, &c) == 0);
    while (atomic_load(&c.started) < FORK_HEAPS)
        sched_yield();
    pid_t pid[3];
    int rc[3];
    for (int i = 0; i < 3; i++) { /* three forks, each in the middle of the parent's allocations */
        nanosleep(&(struct timespec){0, 3000000}, NULL);
        pid[i] = child_spawn(fork_child_work, &c);
    }
    atomic_store(&c.stop, 1); /* the parent idles while its children run */
    for (int k = 0; k < FORK_HEAPS; k++)
        pthread_join(th[k], NULL);
    for (int i = 0; i < 3; i++)
        rc[i] = child_wait(pid[i], SANITIZED ? 120 : 60);
    for (int i = 0; i < 3; i++) {
        if (rc[i] != 0)
            fprintf(stderr, "  fork %d: child exit %d\n", i, rc[i]);
        CHECK(rc[i] == 0);
    }
    for (int k = 0; k < FORK_HEAPS; k++) {
        CHECK_OK(tc_heap_collect(c.h[k]));
        CHECK_OK(tc_heap_verify(c.h[k]));
        tc_heap_destroy(c.h[k]);
    }
}

/* ---- fork while another thread clears a large object -------------------- */

#define LARGE_FORK_BYTES ((size_t)8 << 20) /* 32 of alloc_large's clear chunks */

typedef struct large_fork {
    tc_heap *h;
    atomic_bool returned;
    uint64_t spans_before, sys_before; /* no object live, the pages free */
} large_fork;

/* spans_in_use — the heap's count of spans in use, read under its lock. */
static uint64_t spans_in_use(tc_heap *h)
{
    pthread_mutex_lock(&h->lock);
    uint64_t n = h->spans_inuse;
    pthread_mutex_unlock(&h->lock);
    return n;
}

static void *large_fork_alloc(void *arg)
{
    large_fork *lf = arg;
    tc_root *r;
    if (tc_obj_new(lf->h, 0, LARGE_FORK_BYTES, NULL, &r) == TC_OK)
        tc_root_release(lf->h, r);
    atomic_store(&lf->returned, true);
    return NULL;
}

/* large_fork_child — the thread that cleared is gone: its span must be the
 * heap's again (no span in use beyond those before it), and the same
 * allocation reuses its pages instead of mapping more. */
static int large_fork_child(void *arg)
{
    large_fork *lf = arg;
    tc_heap *h = lf->h;
    if (tc_heap_collect(h) != TC_OK || tc_heap_collect(h) != TC_OK)
        return 2;
    uint64_t spans = spans_in_use(h);
    tc_root *r;
    tc_stats s;
    if (tc_obj_new(h, 0, LARGE_FORK_BYTES, NULL, &r) != TC_OK || tc_heap_stats(h, &s) != TC_OK)
        return 3;
    tc_root_release(h, r);
    if (spans != lf->spans_before || s.heap_sys != lf->sys_before) {
        fprintf(stderr, "  child: %llu spans in use (%llu before), heap_sys %llu (%llu before)\n",
                (unsigned long long)spans, (unsigned long long)lf->spans_before,
                (unsigned long long)s.heap_sys, (unsigned long long)lf->sys_before);
        return 4;
    }
    if (tc_heap_verify(h) != TC_OK)
        return 5;
    tc_heap_destroy(h);
    return 0;
}

/* fork_during_a_large_clear_keeps_its_pages — a large object on reused
 * pages is cleared in chunks with a look for a pause after each
 * (alloc_large), its span in no list meanwhile. A fork stops the world, so
 * a thread clearing parks in the middle of it, and that thread does not
 * exist in the child: before the fix its span stayed in use there for ever
 * (8 MiB of pages lost, and the next such allocation mapped 8 MiB more). */
TEST(hostile_fork_during_a_large_clear_keeps_its_pages)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_root *r;
    CHECK_OK(tc_obj_new(h, 0, LARGE_FORK_BYTES, NULL, &r)); /* its pages, freed, need clearing when reused */
    tc_root_release(h, r);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
    large_fork lf = {.h = h};
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    lf.sys_before = s.heap_sys;
    lf.spans_before = spans_in_use(h);
    atomic_store(&h->debug_clear_hold, 1); /* the clear waits for the fork's world stop */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, large_fork_alloc, &lf) == 0);
    while (atomic_load(&h->debug_clear_hold) != 2 && !atomic_load(&lf.returned))
        sched_yield();
    bool clearing = atomic_load(&h->debug_clear_hold) == 2;
    int rc = child_wait(child_spawn(large_fork_child, &lf), SANITIZED ? 120 : 60);
    pthread_join(t, NULL);
    CHECK(clearing);
    if (rc != 0)
        fprintf(stderr, "  child exit %d\n", rc);
    CHECK(rc == 0);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* fork_during_a_refills_prefault_keeps_its_span — a refill that takes
 * fresh pages faults them in parked (alloc.c, prefault_parked), its span in
 * no list meanwhile, as a large object's clear: a fork then, and the child
 * has a span in use that no thread of its own will ever list or free. */
static void *prefault_fork_alloc(void *arg)
{
    large_fork *lf = arg;
    tc_root *r;
    if (tc_obj_new(lf->h, 2, 8, NULL, &r) == TC_OK)
        tc_root_release(lf->h, r);
    atomic_store(&lf->returned, true);
    return NULL;
}

static int prefault_fork_child(void *arg)
{
    large_fork *lf = arg;
    tc_heap *h = lf->h;
    if (tc_heap_collect(h) != TC_OK || tc_heap_collect(h) != TC_OK)
        return 2;
    uint64_t spans = spans_in_use(h);
    if (spans != lf->spans_before) {
        fprintf(stderr, "  child: %llu spans in use (%llu before)\n", (unsigned long long)spans,
                (unsigned long long)lf->spans_before);
        return 4;
    }
    if (tc_heap_verify(h) != TC_OK)
        return 5;
    tc_heap_destroy(h);
    return 0;
}

TEST(hostile_fork_during_a_refills_prefault_keeps_its_span)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    large_fork lf = {.h = h};
    lf.spans_before = spans_in_use(h);
    atomic_store(&h->debug_prefault_hold, 1); /* the first refill's prefault waits, parked */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, prefault_fork_alloc, &lf) == 0);
    while (atomic_load(&h->debug_prefault_hold) != 2 && !atomic_load(&lf.returned))
        sched_yield();
    bool held = atomic_load(&h->debug_prefault_hold) == 2;
    int rc = child_wait(child_spawn(prefault_fork_child, &lf), SANITIZED ? 120 : 60);
    atomic_store(&h->debug_prefault_hold, 0);
    pthread_join(t, NULL);
    CHECK(held);
    if (rc != 0)
        fprintf(stderr, "  child exit %d\n", rc);
    CHECK(rc == 0);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* ---- every call after close, after free, from a sink that closes ------------ */

static int sink_lines;
static void closing_sink(void *ud, const char *line)
{
    (void)line;
    sink_lines++;
    tc_heap_close((tc_heap *)ud); /* a gctrace sink that closes the heap it drains */
}

/* every_call_after_close — handles, weak references and a raw-section
 * mutator made before close: every call fails with TC_ERR_CLOSED or does
 * nothing, and reads no freed memory (the ASan run checks that). */
TEST(hostile_every_call_after_close)
{
    tc_config cfg;
    tc_config_init(&cfg);
    cfg.collector = tc_test_collector;
    cfg.gctrace = true;
    tc_heap *h;
    CHECK_OK(tc_heap_new(&cfg, &h));
    tc_root *a, *b, *fr, *ref = NULL;
    tc_weak *w;
    CHECK_OK(tc_obj_new(h, 2, 8, "12345678", &a));
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &b));
    CHECK_OK(tc_obj_new(h, 0, 0, NULL, &fr));
    CHECK_OK(tc_slot_set(h, a, 0, tc_ref(tc_root_obj(b))));
    CHECK_OK(tc_set_finalizer(h, b, 7, NULL));
    CHECK_OK(tc_add_cleanup(h, a, 8));
    CHECK_OK(tc_weak_new(h, b, &w));
    CHECK_OK(tc_obj_free(h, fr));
    CHECK_OK(tc_heap_collect(h)); /* a gctrace line is queued */
    tc_obj *raw_a = tc_root_obj(a);
    CHECK(tc_heap_has_output(h));
    sink_lines = 0;
    tc_heap_drain_output(h, closing_sink, h); /* the sink closes the heap */
    CHECK(sink_lines >= 1 && tc_heap_closed(h));
    /* everything after close */
    tc_value v;
    size_t n;
    char buf[8];
    void *p;
    uint64_t rel;
    tc_stats s;
    tc_token tok;
    tc_root *out = NULL;
    CHECK(tc_obj_new(h, 1, 0, NULL, &out) == TC_ERR_CLOSED && out == NULL);
    CHECK(tc_slot_get(h, a, 0, &v, &ref) == TC_ERR_CLOSED && ref == NULL);
    CHECK(tc_slot_set(h, a, 0, tc_int(1)) == TC_ERR_CLOSED);
    CHECK(tc_slot_set(h, a, 0, tc_ref(raw_a)) != TC_OK);
    CHECK(tc_obj_nslots(h, a, &n) == TC_ERR_CLOSED);
    CHECK(tc_obj_size(h, a, &n) == TC_ERR_CLOSED);
    CHECK(tc_obj_data_get(h, a, buf, sizeof buf) == TC_ERR_CLOSED);
    CHECK(tc_obj_data_set(h, a, buf, sizeof buf) == TC_ERR_CLOSED);
    CHECK(tc_root_new(h, raw_a, &out) == TC_ERR_CLOSED);
    CHECK(tc_set_finalizer(h, a, 9, NULL) == TC_ERR_CLOSED);
    CHECK(tc_add_cleanup(h, a, 9) == TC_ERR_CLOSED);
    CHECK(tc_take_ready(h, &tok, &out) == TC_READY_NONE);
    CHECK(!tc_has_ready(h));
    CHECK(tc_weak_new(h, a, &w) == TC_ERR_CLOSED);
    CHECK(tc_weak_get(h, w, &out) == TC_ERR_CLOSED);
    CHECK(tc_obj_free(h, a) == TC_ERR_CLOSED);
    CHECK(tc_obj_free(h, fr) == TC_ERR_CLOSED);
    CHECK(tc_obj_payload(h, a, &p, &n) == TC_ERR_CLOSED);
    CHECK(tc_obj_pin(h, a) == TC_ERR_CLOSED);
    tc_obj_unpin(h, a);
    CHECK(tc_heap_collect(h) == TC_ERR_CLOSED);
    CHECK(tc_heap_scavenge(h, &rel) == TC_ERR_CLOSED);
    CHECK(tc_heap_verify(h) == TC_ERR_CLOSED);
    CHECK(tc_heap_stats(h, &s) == TC_ERR_CLOSED);
    CHECK(tc_heap_set_gogc(h, 50) == TC_ERR_CLOSED);
    CHECK(tc_heap_set_memory_limit(h, 1 << 30) == TC_ERR_CLOSED);
    CHECK(tc_trace_start(h, "/dev/null") == TC_ERR_CLOSED);
    CHECK(tc_trace_stop(h) == TC_ERR_CLOSED);
    CHECK(tc_enter(h) == NULL);
    tc_heap_drain_output(h, closing_sink, h);
    tc_root_release(h, a);
    tc_root_release(h, b);
    tc_weak_release(h, w);
    tc_heap_close(h); /* again: nothing */
    tc_heap_destroy(h);
}

/* every_call_after_free — each call that takes a handle, given a handle to
 * a freed object (and one made before the free, not yet seen by a cycle):
 * TC_ERR_FREED, and the heap stays usable and verifies. */
TEST(hostile_every_call_after_free)
{
    tc_heap *h = new_heap_gogc(100);
    CHECK(h);
    tc_root *a, *a2, *holder, *out = NULL;
    CHECK_OK(tc_obj_new(h, 2, 8, NULL, &a));
    CHECK_OK(tc_root_new(h, tc_root_obj(a), &a2));
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &holder));
    CHECK_OK(tc_obj_free(h, a));
    for (int round = 0; round < 2; round++) { /* before and after a cycle marked the handles freed */
        tc_root *handles[2] = {a, a2};
        for (int k = 0; k < 2; k++) {
            tc_root *r = handles[k];
            tc_value v;
            size_t n;
            char buf[8];
            void *p;
            tc_weak *w = NULL;
            CHECK(tc_root_freed(r));
            CHECK(tc_slot_get(h, r, 0, &v, &out) == TC_ERR_FREED);
            CHECK(tc_slot_set(h, r, 0, tc_int(1)) == TC_ERR_FREED);
            CHECK(tc_slot_set(h, holder, 0, tc_ref(tc_root_obj(r))) == TC_ERR_FREED);
            CHECK(tc_root_new(h, tc_root_obj(r), &out) == TC_ERR_FREED);
            CHECK(tc_obj_nslots(h, r, &n) == TC_ERR_FREED);
            CHECK(tc_obj_size(h, r, &n) == TC_ERR_FREED);
            CHECK(tc_obj_data_get(h, r, buf, sizeof buf) == TC_ERR_FREED);
            CHECK(tc_obj_data_set(h, r, buf, sizeof buf) == TC_ERR_FREED);
            CHECK(tc_set_finalizer(h, r, 3, NULL) == TC_ERR_FREED);
            CHECK(tc_add_cleanup(h, r, 3) == TC_ERR_FREED);
            CHECK(tc_weak_new(h, r, &w) == TC_ERR_FREED && w == NULL);
            CHECK(tc_obj_free(h, r) == TC_ERR_FREED);
            CHECK(tc_obj_payload(h, r, &p, &n) == TC_ERR_FREED);
            CHECK(tc_obj_pin(h, r) == TC_ERR_FREED);
            tc_obj_unpin(h, r);
        }
        CHECK_OK(tc_heap_verify(h));
        CHECK_OK(tc_heap_collect(h));
    }
    CHECK(((uintptr_t)tc_root_obj(a) & 2) && ((uintptr_t)tc_root_obj(a2) & 2)); /* the cycle marked them */
    tc_root_release(h, a);
    tc_root_release(h, a2);
    for (int i = 0; i < 1000; i++) { /* the freed memory is reused */
        CHECK_OK(tc_obj_new(h, 2, 8, NULL, &out));
        tc_root_release(h, out);
    }
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_objects == 1 && s.roots == 1);
    tc_root_release(h, holder);
    tc_heap_destroy(h);
}

/* hostile_close_from_inside_a_raw_section — closing a heap from inside a
 * heap call on the same thread (here a raw section) cannot wait for that
 * call: the heap is closed for every later call at once, the raw pointers
 * of the section stay readable until it ends, and the teardown happens at
 * the next close or destroy from outside. */
TEST(hostile_close_from_inside_a_raw_section)
{
    tc_heap *h = new_heap_gogc(100);
    CHECK(h);
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    tc_obj **loc = tc_locals(m, 1);
    CHECK(loc && (loc[0] = tc_alloc(m, 1, 8)) != NULL);
    tc_heap_close(h); /* from inside: only closes */
    CHECK(tc_heap_closed(h));
    tc_root *r;
    CHECK(tc_obj_new(h, 1, 0, NULL, &r) == TC_ERR_CLOSED);
    CHECK(tc_obj_nslots_raw(loc[0]) == 1); /* the section's memory is still there */
    tc_locals_pop(m, 1);
    tc_leave(m);
    CHECK(tc_enter(h) == NULL);
    tc_heap_close(h); /* from outside: the teardown */
    tc_heap_destroy(h);
}
