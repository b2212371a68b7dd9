/* test_memory.c — the soft memory limit and the scavenger, on real heaps. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tc_test.h"

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A workload whose live data is 60% of the limit, with gogc off: the limit
 * alone paces it, and the heap's memory stays within 10% of the limit. */
TEST(memory_limit_bounds_heap_sys)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.gogc = -1;
    c.memory_limit = 64 << 20;
    tc_heap *h;
    CHECK_OK(tc_heap_new(&c, &h));
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    /* live: a ring of 38 MiB of 1 KiB objects (60% of 64 MiB) */
    enum { LIVE = (38 << 20) / 1024 };
    tc_obj **loc = tc_locals(m, 2);
    loc[0] = tc_alloc(m, LIVE > 100000 ? 100000 : LIVE, 0);
    CHECK(loc[0]);
    for (int i = 0; i < LIVE; i++) {
        tc_obj *o = tc_alloc(m, 0, 1000);
        CHECK(o);
        tc_store(m, loc[0], (size_t)i % 100000, tc_ref(o)); /* overwrites make garbage too */
    }
    for (int round = 0; round < 20; round++) /* then churn: 20 x 16 MiB of garbage */
        for (int i = 0; i < 16 * 1024; i++)
            CHECK(tc_alloc(m, 0, 1000));
    tc_locals_pop(m, 2);
    tc_leave(m);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    fprintf(stderr, "  heap_sys %llu MiB, released %llu MiB, num_gc %llu\n", (unsigned long long)(s.heap_sys >> 20),
            (unsigned long long)(s.heap_released >> 20), (unsigned long long)s.num_gc);
    CHECK(s.num_gc > 0);
    CHECK(s.heap_sys <= (uint64_t)c.memory_limit / 10 * 11);
    tc_heap_destroy(h);
}

/* After a 1 GiB structure dies, two collections and a forced scavenge give
 * at least 80% of it back to the OS. */
TEST(scavenger_returns_a_dead_gigabyte)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* 1 GiB once is enough; the scavenger is the same for all */
    tc_heap *h = new_heap_gogc(-1);
    tc_root *holder;
    enum { N = 4096, SIZE = 256 << 10 };
    CHECK_OK(tc_obj_new(h, N, 0, NULL, &holder));
    uint64_t before = rss_bytes();
    for (int i = 0; i < N; i++) {
        tc_root *r;
        CHECK_OK(tc_obj_new(h, 0, SIZE, NULL, &r));
        void *p;
        size_t n;
        CHECK_OK(tc_obj_payload(h, r, &p, &n));
        for (size_t k = 0; k < n; k += 4096) /* touch it: resident */
            ((char *)p)[k] = 1;
        CHECK_OK(tc_slot_set(h, holder, i, tc_ref(tc_root_obj(r))));
        tc_root_release(h, r);
    }
    uint64_t full = rss_bytes();
    CHECK(full - before >= (uint64_t)N * SIZE / 10 * 9);
    tc_root_release(h, holder);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
    uint64_t released = 0;
    CHECK_OK(tc_heap_scavenge(h, &released));
    uint64_t after = rss_bytes();
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    fprintf(stderr, "  rss %llu -> %llu -> %llu MiB, heap_released %llu MiB\n", (unsigned long long)(before >> 20),
            (unsigned long long)(full >> 20), (unsigned long long)(after >> 20),
            (unsigned long long)(s.heap_released >> 20));
    CHECK(full - after >= (uint64_t)N * SIZE / 10 * 8);
    CHECK(s.heap_released >= (uint64_t)N * SIZE / 10 * 8);
    /* the memory is reusable: allocate it again */
    CHECK_OK(tc_obj_new(h, 0, SIZE, NULL, &holder));
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}
