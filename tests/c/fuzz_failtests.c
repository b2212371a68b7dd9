/*
 * fuzz_failtests.c — regression tests for the out-of-memory paths (issue
 * 10, point 7), each driven by the failpoint (platform.c) in the
 * TC_FAILPOINTS + ASan build of build/failpoints. A hang is caught by the
 * caller's alarm; a use after free by ASan.
 *
 * Built a second time with PLANT_NO_BARRIER (build/failpoints-planted):
 * there the classic lost-object interleaving makes checkmark fail, and a
 * checkmark whose memory runs out must say so rather than pass.
 */
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "plant.h"
#include "tc_lost_object.h"
#include "tricolor.h"

#define CHAIN 2000 /* objects a test keeps alive through one root */
#define FAN 600    /* references a test moves during mark (more than a mutator's grey buffer) */
#define T_CHECK(cond, ...)                                                                                       \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __func__, __LINE__, #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fprintf(stderr, "\n");                                                                           \
            return 1;                                                                                        \
        }                                                                                                    \
    } while (0)

static tc_heap *heap(tc_collector c, bool checkmark)
{
    tc_config cfg;
    tc_config_init(&cfg);
    cfg.collector = c;
    cfg.checkmark = checkmark;
    cfg.gogc = -1; /* only the tests' collections */
    tc_heap *h = NULL;
    return tc_heap_new(&cfg, &h) == TC_OK ? h : NULL;
}

/* chain — CHAIN objects, object i holding i in its payload, reachable only
 * through the returned root. */
static tc_root *chain(tc_heap *h)
{
    tc_root *head = NULL, *r;
    for (int64_t i = 0; i < CHAIN; i++) {
        if (tc_obj_new(h, 1, 8, &i, &r) != TC_OK)
            return NULL;
        if (head) {
            tc_slot_set(h, r, 0, tc_ref(tc_root_obj(head)));
            tc_root_release(h, head);
        }
        head = r;
    }
    return head;
}

/* chain_intact — the chain still holds CHAIN objects, CHAIN-1 down to 0. */
static bool chain_intact(tc_heap *h, tc_root *head)
{
    tc_root *r = head, *next;
    for (int64_t i = CHAIN - 1; i >= 0; i--) {
        int64_t v = -1;
        tc_value s;
        if (tc_obj_data_get(h, r, &v, 8) != TC_OK || v != i)
            return false;
        if (tc_slot_get(h, r, 0, &s, &next) != TC_OK)
            return false;
        if (r != head)
            tc_root_release(h, r);
        if ((i == 0) != (s.kind == TC_NIL))
            return false;
        r = next;
    }
    return true;
}

/* A stop-the-world cycle whose marker cannot be allocated must not sweep
 * as if nothing were reachable: it keeps every object and says so. */
static int stw_mark_without_memory_keeps_every_object(void)
{
    for (int ck = 0; ck < 2; ck++) {
        tc_heap *h = heap(TC_COLLECTOR_STW, ck);
        tc_root *head = h ? chain(h) : NULL;
        T_CHECK(head, "setup");
        plat_failpoint_arm(1, true); /* from the next allocation on, all fail */
        tc_status st = tc_heap_collect(h);
        plat_failpoint_arm(0, false);
        T_CHECK(st == TC_ERR_NOMEM, "checkmark %d: collect returned %s (%s)", ck, tc_status_str(st), tc_errmsg());
        T_CHECK(tc_heap_verify(h) == TC_OK, "verify: %s", tc_errmsg());
        T_CHECK(chain_intact(h, head), "the chain lost objects");
        T_CHECK(tc_heap_collect(h) == TC_OK, "collect afterwards: %s", tc_errmsg());
        tc_root_release(h, head);
        tc_heap_destroy(h);
    }
    return 0;
}

/* The lost-object interleaving (tc_lost_object.h), then the end of the
 * cycle with the n-th allocation failing. Returns the status of
 * collector_debug_finish. */
static tc_status interleaving_then_fail(uint64_t n, char *msg, size_t cap)
{
    tc_root *keep;
    tc_heap *h = lost_object_heap(TC_BARRIER_HYBRID, &keep);
    if (!h)
        return snprintf(msg, cap, "no heap"), TC_ERR_NOMEM;
    plat_failpoint_arm(n, false);
    tc_status st = collector_debug_finish(h);
    plat_failpoint_arm(0, false);
    snprintf(msg, cap, "%s", tc_errmsg());
    tc_heap_destroy(h);
    return st;
}

/* Checkmark must never pass without checking: whichever of its
 * allocations fails, it reports TC_ERR_NOMEM (or, in the planted build,
 * the lost object it did find), never TC_OK. */
static int checkmark_never_passes_unchecked(void)
{
    for (uint64_t n = 1; n <= 8; n++) {
        char msg[256];
        tc_status st = interleaving_then_fail(n, msg, sizeof msg);
        if (planted(PLANT_NO_BARRIER))
            T_CHECK(st == TC_ERR_CORRUPT || st == TC_ERR_NOMEM, "n=%llu: finish returned %s (%s)",
                    (unsigned long long)n, tc_status_str(st), msg);
        else
            T_CHECK(st == TC_OK || st == TC_ERR_NOMEM, "n=%llu: %s (%s)", (unsigned long long)n, tc_status_str(st),
                    msg);
        T_CHECK(st != TC_ERR_NOMEM || strstr(msg, "checkmark"), "n=%llu: the message does not say checkmark: %s",
                (unsigned long long)n, msg);
        T_CHECK(st != TC_ERR_CORRUPT || strstr(msg, "is reachable but was left white"),
                "n=%llu: checkmark's message lost its detail: %s", (unsigned long long)n, msg);
    }
    return 0;
}

/* A refused allocation on an incremental heap (no collector thread) runs
 * the whole cycle on the allocating thread before it tries again: beyond
 * the cycle's own pauses, that time is mutator delay (issue 13), as the
 * same wait is with the collector thread (a limit wait). */
static int refused_allocation_cycle_is_mutator_delay(void)
{
    tc_heap *h = heap(TC_COLLECTOR_INCREMENTAL, false);
    T_CHECK(h, "no heap");
    tc_root *keep = chain(h), *big = NULL;
    T_CHECK(keep, "setup");
    tc_stats s0, s1;
    tc_heap_stats(h, &s0);
    plat_failpoint_arm(1, false); /* the large object's pages are refused once */
    tc_status st = tc_obj_new(h, 0, 8u << 20, NULL, &big);
    plat_failpoint_arm(0, false);
    tc_heap_stats(h, &s1);
    T_CHECK(st == TC_OK, "the retry after the cycle failed: %s", tc_errmsg());
    T_CHECK(s1.num_gc == s0.num_gc + 1, "the refusal ran %llu cycles", (unsigned long long)(s1.num_gc - s0.num_gc));
    uint64_t delay = s1.delay_total_ns - s0.delay_total_ns, paused = s1.pause_total_ns - s0.pause_total_ns;
    T_CHECK(delay > paused, "delay %llu ns, of which pauses %llu ns: the cycle's mark and sweep on this thread "
            "are not counted", (unsigned long long)delay, (unsigned long long)paused);
    tc_root_release(h, big);
    tc_root_release(h, keep);
    tc_heap_destroy(h);
    return 0;
}

/* A mutator whose grey buffer cannot be flushed (no memory for a work
 * buffer) must not spin for ever, and the mark must stay correct: FAN
 * objects moved behind a black object during mark are kept. */
static int grey_buffer_without_memory_does_not_hang(void)
{
    tc_heap *h = heap(TC_COLLECTOR_INCREMENTAL, true);
    tc_root *a, *b, *kid;
    T_CHECK(h && tc_obj_new(h, FAN, 0, NULL, &a) == TC_OK && tc_obj_new(h, FAN, 0, NULL, &b) == TC_OK, "setup");
    for (int64_t i = 0; i < FAN; i++) {
        T_CHECK(tc_obj_new(h, 0, 8, &i, &kid) == TC_OK, "setup");
        tc_slot_set(h, a, i, tc_ref(tc_root_obj(kid)));
        tc_root_release(h, kid);
    }
    T_CHECK(collector_debug_start(h) == TC_OK, "start: %s", tc_errmsg());
    collector_debug_blacken(h, tc_root_obj(b)); /* scanned while empty */
    plat_failpoint_arm(1, true);
    tc_mutator *m = tc_enter(h);
    tc_obj *pa = tc_root_obj(a), *pb = tc_root_obj(b);
    for (size_t i = 0; i < FAN; i++) { /* every shade goes to the grey buffer, which must flush */
        tc_store(m, pb, i, tc_load(pa, i));
        tc_store(m, pa, i, tc_nil());
    }
    tc_leave(m);
    plat_failpoint_arm(0, false);
    while (!collector_debug_mark(h, 1000)) {
    }
    tc_status st = collector_debug_finish(h);
    T_CHECK(st == TC_OK, "finish: %s (%s)", tc_status_str(st), tc_errmsg());
    T_CHECK(tc_heap_verify(h) == TC_OK, "verify: %s", tc_errmsg());
    for (int64_t i = 0; i < FAN; i++) {
        tc_value v;
        int64_t got = -1;
        T_CHECK(tc_slot_get(h, b, i, &v, &kid) == TC_OK && kid, "b[%lld] is gone", (long long)i);
        T_CHECK(tc_obj_data_get(h, kid, &got, 8) == TC_OK && got == i, "b[%lld] holds %lld", (long long)i,
                (long long)got);
        tc_root_release(h, kid);
    }
    tc_root_release(h, a);
    tc_root_release(h, b);
    tc_heap_destroy(h);
    return 0;
}

typedef struct release_arg {
    tc_heap *h;
    tc_weak *w;
} release_arg;

static void *release_on_new_thread(void *p)
{
    release_arg *ra = p;
    plat_failpoint_arm(1, false); /* the thread's registration with the heap fails */
    tc_weak_release(ra->h, ra->w);
    plat_failpoint_arm(0, false);
    return NULL;
}

/* tc_weak_release on a thread that cannot register with the heap must
 * still take the weak reference off its target (ASan: a use after free
 * when the target dies otherwise). */
static int weak_release_when_the_thread_cannot_register(void)
{
    tc_heap *h = heap(TC_COLLECTOR_STW, true);
    tc_root *x;
    release_arg ra = {h, NULL};
    T_CHECK(h && tc_obj_new(h, 0, 8, NULL, &x) == TC_OK && tc_weak_new(h, x, &ra.w) == TC_OK, "setup");
    pthread_t t;
    pthread_create(&t, NULL, release_on_new_thread, &ra);
    pthread_join(t, NULL);
    tc_root_release(h, x);
    T_CHECK(tc_heap_collect(h) == TC_OK, "collect: %s", tc_errmsg());
    tc_stats st;
    T_CHECK(tc_heap_stats(h, &st) == TC_OK && st.weak_refs == 0 && st.heap_objects == 0,
            "%llu weak refs, %llu objects left", (unsigned long long)st.weak_refs,
            (unsigned long long)st.heap_objects);
    tc_heap_destroy(h);
    return 0;
}

/* A cycle that fails on the collector thread (checkmark out of memory,
 * say) must give its own message to the thread that asked, not leave
 * that thread's previous message in place. */
static int collector_thread_failure_message_reaches_the_caller(void)
{
    int failures_seen = 0;
    for (uint64_t n = 1; n <= 12; n++) {
        tc_heap *h = heap(TC_COLLECTOR_CONCURRENT, true);
        tc_root *head = h ? chain(h) : NULL;
        T_CHECK(head, "setup");
        tc_heap_set_gogc(h, -7); /* a stale message on this thread */
        plat_failpoint_arm(n, false);
        tc_status st = tc_heap_collect(h);
        plat_failpoint_arm(0, false);
        const char *msg = tc_errmsg();
        if (st != TC_OK) {
            failures_seen++;
            T_CHECK(!strstr(msg, "gogc") && strstr(msg, "memory"), "n=%llu: %s with the message \"%s\"",
                    (unsigned long long)n, tc_status_str(st), msg);
        }
        T_CHECK(tc_heap_verify(h) == TC_OK && chain_intact(h, head), "n=%llu: heap not intact", (unsigned long long)n);
        tc_root_release(h, head);
        tc_heap_destroy(h);
    }
    T_CHECK(failures_seen > 0, "no allocation of the collector thread failed: the test tests nothing");
    return 0;
}

/* A replay whose forced collection runs out of memory stops with that
 * error and leaves nothing rooted: a plain log replays with locals for
 * handles (replay.c drive_raw), and they must be popped on every way out,
 * or the heap keeps the replayed objects forever. Whichever allocation
 * fails, a failed replay leaves a heap that collects to 0 objects. */
static int failed_replay_leaves_nothing_rooted(void)
{
    char path[] = "/tmp/tc_failtest_replay_XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0, "mkstemp");
    close(fd);
    tc_heap *h = heap(TC_COLLECTOR_STW, false);
    tc_root *a, *b;
    T_CHECK(h && tc_record_start(h, path) == TC_OK, "record_start: %s", tc_errmsg());
    T_CHECK(tc_obj_new(h, 1, 0, NULL, &a) == TC_OK && tc_obj_new(h, 1, 0, NULL, &b) == TC_OK, "new");
    T_CHECK(tc_slot_set(h, a, 0, tc_ref(tc_root_obj(b))) == TC_OK, "set");
    tc_root_release(h, b);
    T_CHECK(tc_heap_collect(h) == TC_OK, "collect");
    T_CHECK(tc_record_stop(h) == TC_OK, "record_stop: %s", tc_errmsg());
    tc_root_release(h, a);
    tc_heap_destroy(h);
    int in_collect = 0;
    for (uint64_t n = 1; n <= 40; n++) {
        h = heap(TC_COLLECTOR_STW, false);
        T_CHECK(h, "heap");
        tc_replay_report rep;
        plat_failpoint_arm(n, false);
        tc_status st = tc_replay(h, path, &rep);
        plat_failpoint_arm(0, false);
        in_collect += st != TC_OK && strstr(tc_errmsg(), "replay stopped") != NULL;
        tc_stats s;
        T_CHECK(tc_heap_collect(h) == TC_OK && tc_heap_stats(h, &s) == TC_OK, "collect: %s", tc_errmsg());
        T_CHECK(s.heap_objects == 0, "n=%llu: replay returned %s and left %llu objects rooted",
                (unsigned long long)n, tc_status_str(st), (unsigned long long)s.heap_objects);
        tc_heap_destroy(h);
    }
    unlink(path);
    T_CHECK(in_collect > 0, "no allocation failed inside the replay's drive: the test tests nothing");
    return 0;
}

int fail_tests(const char *only);
int fail_tests(const char *only)
{
    struct {
        const char *name;
        int (*fn)(void);
        bool planted_too;
    } tests[] = {
        {"checkmark_never_passes_unchecked", checkmark_never_passes_unchecked, true},
        {"stw_mark_without_memory_keeps_every_object", stw_mark_without_memory_keeps_every_object, false},
        {"grey_buffer_without_memory_does_not_hang", grey_buffer_without_memory_does_not_hang, false},
        {"refused_allocation_cycle_is_mutator_delay", refused_allocation_cycle_is_mutator_delay, false},
        {"weak_release_when_the_thread_cannot_register", weak_release_when_the_thread_cannot_register, false},
        {"collector_thread_failure_message_reaches_the_caller", collector_thread_failure_message_reaches_the_caller,
         false},
        {"failed_replay_leaves_nothing_rooted", failed_replay_leaves_nothing_rooted, false},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        if ((planted(PLANT_NO_BARRIER) && !tests[i].planted_too) || (only && !strstr(tests[i].name, only)))
            continue;
        extern const char *fp_where;
        fp_where = tests[i].name;
        alarm(60);
        int f = tests[i].fn();
        alarm(0);
        printf("%s %s\n", f ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        failed += f;
    }
    return failed;
}
