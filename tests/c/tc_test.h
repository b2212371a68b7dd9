/*
 * tc_test.h — a very small test runner for the C core. Each test file
 * defines tests with TEST(name) { ... }; CHECK(cond) records a failure and
 * returns from the test. main() in runner.c runs every registered test and
 * ends with the line "N passed, N failed".
 */
#ifndef TC_TEST_H
#define TC_TEST_H
#include <stdio.h>

#include "tricolor.h"

typedef void (*tc_test_fn)(int *failed);
void tc_test_register(const char *name, tc_test_fn fn);

#define TEST(name)                                                                 \
    static void test_##name(int *failed_);                                         \
    __attribute__((constructor)) static void register_##name(void)                 \
    {                                                                              \
        tc_test_register(#name, test_##name);                                      \
    }                                                                              \
    static void test_##name(int *failed_)

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            *failed_ = 1;                                                          \
            return;                                                                \
        }                                                                          \
    } while (0)

#define CHECK_OK(expr)                                                             \
    do {                                                                           \
        tc_status st_ = (expr);                                                    \
        if (st_ != TC_OK) {                                                        \
            fprintf(stderr, "  %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,   \
                    tc_status_str(st_), tc_errmsg());                              \
            *failed_ = 1;                                                          \
            return;                                                                \
        }                                                                          \
    } while (0)

/* The runner runs every test once per collector; tests make heaps with
 * new_heap_gogc, which uses the collector of the current round. */
extern tc_collector tc_test_collector;

static inline tc_heap *new_heap_gogc(int64_t gogc)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.gogc = gogc;
    tc_heap *h = NULL;
    return tc_heap_new(&c, &h) == TC_OK ? h : NULL;
}

/* manual_heap — a heap of the manual collector (the test drives every
 * cycle step) with barrier b; NULL if it cannot be made. */
static inline tc_heap *manual_heap(tc_barrier b)
{
    tc_config cfg;
    tc_config_init(&cfg);
    cfg.collector = TC_COLLECTOR_MANUAL;
    cfg.barrier = b;
    tc_heap *h = NULL;
    return tc_heap_new(&cfg, &h) == TC_OK ? h : NULL;
}

/* roots_count — the heap's live roots (stats.roots), UINT64_MAX when the
 * stats call fails, so a check on it fails too. */
static inline uint64_t roots_count(tc_heap *h)
{
    tc_stats s;
    return tc_heap_stats(h, &s) == TC_OK ? s.roots : UINT64_MAX;
}
#endif
