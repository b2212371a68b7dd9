/* test_events.c — GC events (events.c): under each collector, the kinds the
 * collector produces are recorded; every delay interval is in the delay
 * histogram and totals, every pause in the pause histogram; delay_total >=
 * pause_total; the ring keeps at most events_ring events and counts the
 * rest; events_ring = 0 keeps none but still counts; several threads
 * recording at once (TSan: tests/c under -fsanitize=thread) lose nothing. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tc_test.h"

#define LIVE 2048

static tc_heap *events_heap(int64_t ring, int64_t gogc)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.gogc = gogc;
    c.events_ring = ring;
    tc_heap *h = NULL;
    return tc_heap_new(&c, &h) == TC_OK ? h : NULL;
}

/* churn — n allocations, a live set of LIVE objects (the slots of one
 * array object) replaced at random, a new heap call every 4096 allocations
 * (the assist cap is per call). 0 on success. */
static int churn(tc_heap *h, long n, uint64_t seed)
{
    tc_root *arr = NULL;
    tc_mutator *m = tc_enter(h);
    tc_obj **loc = m ? tc_locals(m, 1) : NULL;
    if (!loc || !(loc[0] = tc_alloc(m, LIVE, 0)) || tc_root_new(h, loc[0], &arr) != TC_OK)
        return -1;
    for (long i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        tc_obj *o = tc_alloc(m, 2, 32);
        if (!o)
            return -1;
        tc_store(m, loc[0], seed % LIVE, tc_ref(o));
        if (!(i & 4095)) {
            tc_locals_pop(m, 1);
            tc_leave(m);
            m = tc_enter(h);
            loc = tc_locals(m, 1);
            loc[0] = tc_root_obj(arr);
        }
    }
    tc_locals_pop(m, 1);
    tc_leave(m);
    tc_root_release(h, arr);
    return 0;
}

static uint64_t hist_sum(const uint64_t *c)
{
    uint64_t s = 0;
    for (int i = 0; i < TC_HIST_BUCKETS; i++)
        s += c[i];
    return s;
}

/* kinds — how many intervals of each kind, and their total length. */
static void kinds(const tc_interval *iv, size_t n, size_t count[TC_GC_KIND_COUNT], uint64_t *total)
{
    memset(count, 0, TC_GC_KIND_COUNT * sizeof *count);
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        count[iv[i].kind]++;
        *total += (uint64_t)(iv[i].end_ns - iv[i].start_ns);
    }
}

TEST(events_histograms_and_totals_account_for_every_interval)
{
    tc_heap *h = events_heap(1 << 20, 50);
    CHECK(h);
    CHECK(churn(h, 600000, 7) == 0);
    CHECK_OK(tc_heap_collect(h));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    tc_interval *iv;
    size_t n, count[TC_GC_KIND_COUNT];
    uint64_t total;
    CHECK_OK(tc_heap_intervals(h, &iv, &n));
    kinds(iv, n, count, &total);
    free(iv);
    CHECK(s.events_dropped == 0);
    CHECK(s.num_gc >= 2 && count[TC_GC_PAUSE] >= s.num_gc);
    CHECK(s.delay_total_ns >= s.pause_total_ns);
    CHECK(hist_sum(s.mutator_delay_hist) == n); /* one count per recorded delay interval */
    CHECK(s.delay_total_ns == total);           /* and the totals add their lengths */
    CHECK(hist_sum(s.pause_hist) == s.npauses); /* fewer than 256 pauses: the ring holds them all */
    uint64_t pmax = 0;
    for (uint32_t i = 0; i < s.npauses; i++) {
        CHECK(s.pause_end_ns[i] >= s.pauses_ns[i]);
        if (i) /* pauses do not overlap: each ends after the last one ended */
            CHECK(s.pause_end_ns[i] - s.pauses_ns[i] >= s.pause_end_ns[i - 1]);
        pmax = s.pauses_ns[i] > pmax ? s.pauses_ns[i] : pmax;
    }
    CHECK(s.delay_max_ns >= pmax);
    if (tc_test_collector == TC_COLLECTOR_STW) { /* the whole cycle is the pause: nothing else */
        CHECK(count[TC_GC_PAUSE] == n);
    } else if (tc_test_collector == TC_COLLECTOR_INCREMENTAL) { /* allocations mark and sweep in slices */
        CHECK(count[TC_GC_SLICE] > 0);
        CHECK(count[TC_GC_SWEEP] > 0);
        CHECK(s.delay_total_ns > s.pause_total_ns);
    }
    tc_heap_destroy(h);
}

/* Under the concurrent collector with the test hook that leaves marking to
 * allocating threads, the assists show up as "assist" intervals. */
TEST(events_assists_are_recorded)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return;
    tc_heap *h = events_heap(1 << 20, 1);
    CHECK(h);
    collector_debug_assists_only(h, true);
    tc_stats s;
    for (int round = 0; round < 200; round++) {
        CHECK(churn(h, 20000, (uint64_t)round + 1) == 0);
        CHECK_OK(tc_heap_stats(h, &s));
        if (s.num_gc >= 3)
            break;
    }
    collector_debug_assists_only(h, false);
    tc_interval *iv;
    size_t n, count[TC_GC_KIND_COUNT];
    uint64_t total;
    CHECK_OK(tc_heap_intervals(h, &iv, &n));
    kinds(iv, n, count, &total);
    free(iv);
    CHECK(s.num_gc >= 3);
    CHECK(count[TC_GC_ASSIST] + count[TC_GC_LIMIT_WAIT] > 0);
    CHECK(s.delay_total_ns > s.pause_total_ns);
    tc_heap_destroy(h);
}

TEST(events_ring_overflow_is_counted_and_histograms_keep_counting)
{
    tc_heap *h = events_heap(4, 50);
    CHECK(h);
    for (int i = 0; i < 6; i++)
        CHECK_OK(tc_heap_collect(h));
    CHECK(churn(h, 100000, 3) == 0);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    tc_interval *iv;
    size_t n;
    CHECK_OK(tc_heap_intervals(h, &iv, &n));
    free(iv);
    CHECK(n <= 4);
    CHECK(s.events_dropped > 0);
    CHECK(hist_sum(s.pause_hist) >= 6);
    CHECK(hist_sum(s.mutator_delay_hist) >= hist_sum(s.pause_hist));
    int64_t w = 1000000;
    tc_mmu_point p;
    uint64_t dropped = 0;
    CHECK_OK(tc_heap_mmu(h, &w, 1, &p, &dropped));
    CHECK(dropped == s.events_dropped || dropped > s.events_dropped);
    tc_heap_destroy(h);
}

TEST(events_ring_zero_keeps_none_but_counts)
{
    tc_heap *h = events_heap(0, 100);
    CHECK(h);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    tc_interval *iv;
    size_t n;
    CHECK_OK(tc_heap_intervals(h, &iv, &n));
    free(iv);
    CHECK(n == 0 && s.events_dropped == 0);
    CHECK(hist_sum(s.pause_hist) == s.npauses && s.npauses >= 2);
    CHECK(s.delay_total_ns >= s.pause_total_ns && s.pause_total_ns > 0);
    tc_heap_destroy(h);
}

TEST(events_ring_size_is_checked)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    tc_heap *h = NULL;
    c.events_ring = -1;
    CHECK(tc_heap_new(&c, &h) == TC_ERR_VALUE && h == NULL);
    c.events_ring = ((int64_t)1 << 24) + 1;
    CHECK(tc_heap_new(&c, &h) == TC_ERR_VALUE && h == NULL);
}

/* A forced cycle's pause is in the heap's MMU: with a window as long as the
 * longest pause, the worst window holds nothing but GC. */
TEST(events_heap_mmu_sees_the_pauses)
{
    tc_heap *h = events_heap(16384, 100);
    CHECK(h);
    CHECK(churn(h, 50000, 5) == 0);
    CHECK_OK(tc_heap_collect(h));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.pause_max_ns > 0);
    int64_t w[3] = {(int64_t)s.pause_max_ns, 1000000, 100000000};
    tc_mmu_point p[3];
    uint64_t dropped;
    CHECK_OK(tc_heap_mmu(h, w, 3, p, &dropped));
    CHECK(dropped == 0);
    uint64_t in_worst = 0; /* the worst window of the pause's length is all GC (a pause, or a longer slice) */
    for (int k = 0; k < TC_GC_KIND_COUNT; k++)
        in_worst += p[0].by_kind_ns[k];
    CHECK(p[0].mmu == 0.0 && in_worst == s.pause_max_ns);
    for (int i = 0; i < 3; i++)
        CHECK(0.0 <= p[i].bmu && p[i].bmu <= p[i].mmu && p[i].mmu <= 1.0);
    tc_heap_close(h);
    CHECK(tc_heap_mmu(h, w, 1, p, &dropped) == TC_ERR_CLOSED);
    tc_interval *iv;
    size_t n;
    CHECK(tc_heap_intervals(h, &iv, &n) == TC_ERR_CLOSED);
    tc_heap_destroy(h);
}

/* Several threads churn at once, each recording into its own buffer, while
 * another reads the events: no interval is lost (ring large enough). */
static void *churn_thread(void *arg)
{
    return (void *)(intptr_t)churn((tc_heap *)arg, 120000, (uint64_t)(uintptr_t)&arg);
}

TEST(events_from_threads_at_once)
{
    tc_heap *h = events_heap(1 << 20, 50);
    CHECK(h);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&th[i], NULL, churn_thread, h) == 0);
    for (int i = 0; i < 20; i++) { /* read while they record */
        tc_interval *iv;
        size_t n;
        CHECK_OK(tc_heap_intervals(h, &iv, &n));
        free(iv);
    }
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        bad |= rc != NULL;
    }
    CHECK(!bad);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    tc_interval *iv;
    size_t n, count[TC_GC_KIND_COUNT];
    uint64_t total;
    CHECK_OK(tc_heap_intervals(h, &iv, &n));
    kinds(iv, n, count, &total);
    free(iv);
    CHECK(s.events_dropped == 0);
    CHECK(hist_sum(s.mutator_delay_hist) == n);
    CHECK(s.delay_total_ns == total);
    tc_heap_destroy(h);
}

/* A trace runs while threads record: the file is written whole (TSan checks
 * the trace buffer and the counters' sampling are shared safely). */
TEST(events_trace_while_threads_record)
{
    char path[] = "/tmp/tc_events_trace_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    tc_heap *h = events_heap(16384, 50);
    CHECK(h);
    CHECK_OK(tc_trace_start(h, path));
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, churn_thread, h) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_trace_stop(h));
    tc_heap_destroy(h);
    FILE *f = fopen(path, "r");
    CHECK(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    remove(path);
    buf[n] = 0;
    CHECK(n > 0 && strstr(buf, "\"traceEvents\"") && strstr(buf, "\"process_name\""));
    CHECK(strstr(buf, "\"heap_alloc\"") && strstr(buf, "\"pause\""));
}
