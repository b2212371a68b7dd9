/* test_hist.c — the latency histogram's bucket arithmetic, checked at every
 * bucket boundary and its neighbours, and its lock-free recording from
 * several threads at once (TSan runs this too). */
#include <pthread.h>

#include "hist.h"
#include "tc_test.h"

/* in_bucket — v lies in [bound(i), bound(i+1)). */
static int in_bucket(uint64_t v, unsigned i) { return hist_bound(i) <= v && v < hist_bound(i + 1); }

TEST(hist_bounds_increase_from_zero_to_infinity)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* pure arithmetic: once is enough */
    CHECK(HIST_BUCKETS == 281);
    CHECK(hist_bound(0) == 0);
    CHECK(hist_bound(HIST_BUCKETS) == UINT64_MAX);
    CHECK(hist_bound(HIST_BUCKETS - 1) == (uint64_t)1 << HIST_MAX_BITS);
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        CHECK(hist_bound(i) < hist_bound(i + 1));
    uint64_t pub[TC_HIST_BUCKETS + 1];
    tc_hist_bounds(pub);
    for (unsigned i = 0; i <= HIST_BUCKETS; i++)
        CHECK(pub[i] == hist_bound(i));
}

TEST(hist_bounds_are_exact_then_eight_per_power_of_two)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    for (unsigned i = 0; i <= 16; i++)
        CHECK(hist_bound(i) == i); /* 1 ns wide up to 16 */
    static const uint64_t next[] = {16, 18, 20, 22, 24, 26, 28, 30, 32, 36, 40};
    for (unsigned k = 0; k < sizeof next / sizeof next[0]; k++)
        CHECK(hist_bound(16 + k) == next[k]);
    for (unsigned p = 3; p < HIST_MAX_BITS; p++) { /* each power of two starts a super-bucket */
        unsigned i = hist_index((uint64_t)1 << p);
        CHECK(i % HIST_SUBS == 0);
        CHECK(hist_bound(i) == (uint64_t)1 << p);
        CHECK(hist_bound(i + HIST_SUBS) == (uint64_t)2 << p);
    }
    for (unsigned i = HIST_SUBS; i < HIST_BUCKETS - 1; i++) /* width <= 1/8 of the lower bound */
        CHECK((hist_bound(i + 1) - hist_bound(i)) * HIST_SUBS <= hist_bound(i));
}

TEST(hist_index_at_every_boundary_and_its_neighbours)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        uint64_t b = hist_bound(i);
        CHECK(hist_index(b) == i);
        if (b > 0) {
            CHECK(hist_index(b - 1) == i - 1);
            CHECK(in_bucket(b - 1, i - 1));
        }
        CHECK(in_bucket(b + 1, hist_index(b + 1)));
        CHECK(hist_index(b + 1) == (b + 1 == hist_bound(i + 1) ? i + 1 : i));
    }
    for (uint64_t v = 0; v <= (1u << 16); v++)
        CHECK(in_bucket(v, hist_index(v)));
    CHECK(hist_index(((uint64_t)1 << HIST_MAX_BITS) - 1) == HIST_BUCKETS - 2);
    CHECK(hist_index((uint64_t)1 << HIST_MAX_BITS) == HIST_BUCKETS - 1);
    CHECK(hist_index((uint64_t)1 << 63) == HIST_BUCKETS - 1);
    CHECK(hist_index(UINT64_MAX) == HIST_BUCKETS - 1);
    CHECK(hist_index(UINT64_MAX - 1) == HIST_BUCKETS - 1);
}

#define HIST_THREADS 4
#define HIST_PER_THREAD 50000

/* record_values — thread t records HIST_PER_THREAD values v = i * 7919 + t. */
static void *record_values(void *arg)
{
    hist *h = ((void **)arg)[0];
    uint64_t t = (uint64_t)(uintptr_t)((void **)arg)[1];
    for (uint64_t i = 0; i < HIST_PER_THREAD; i++)
        hist_record(h, i * 7919 + t);
    return NULL;
}

TEST(hist_record_from_several_threads_loses_nothing)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    static hist h; /* zeroed: every count 0 */
    pthread_t th[HIST_THREADS];
    void *args[HIST_THREADS][2];
    for (uintptr_t t = 0; t < HIST_THREADS; t++) {
        args[t][0] = &h;
        args[t][1] = (void *)t;
        CHECK(pthread_create(&th[t], NULL, record_values, args[t]) == 0);
    }
    for (int t = 0; t < HIST_THREADS; t++)
        pthread_join(th[t], NULL);
    static uint64_t want[HIST_BUCKETS], got[HIST_BUCKETS];
    for (uint64_t t = 0; t < HIST_THREADS; t++)
        for (uint64_t i = 0; i < HIST_PER_THREAD; i++)
            want[hist_index(i * 7919 + t)]++;
    hist_read(&h, got);
    uint64_t sum = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        CHECK(got[i] == want[i]);
        sum += got[i];
    }
    CHECK(sum == (uint64_t)HIST_THREADS * HIST_PER_THREAD);
}
