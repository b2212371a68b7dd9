/*
 * bench.h — what the C benchmarks share: a clock, a seeded PRNG, argument
 * parsing and the one output format the driver (benchmarks/run.py) reads.
 *
 * Output protocol (stdout, one record a line, everything else is ignored):
 *
 *     RESULT <workload> <system> <metric> <value> <unit>
 *     INFO   <key> <value...>
 *
 * A benchmark that measures several repetitions in one process prints one
 * RESULT line per repetition; the driver takes the median of all samples of a
 * (workload, system, metric) key. Errors go to stderr with a non-zero exit.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* bench_now_ns — CLOCK_MONOTONIC in nanoseconds (wall time, not CPU time:
 * a concurrent collector's background threads must count). */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* bench_rng — xorshift64*: fast, seedable, identical on every system, so
 * the tricolor, bdwgc and ideal-walk graphs are the very same graph. */
typedef struct bench_rng {
    uint64_t s;
} bench_rng;

static inline uint64_t bench_rng_next(bench_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * UINT64_C(2685821657736338717);
}

/* bench_rng_below — a uniform-enough integer in [0, n) (multiply-shift;
 * the bias is below 2^-32 for the sizes used here). */
static inline uint64_t bench_rng_below(bench_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

/* bench_die — report a fatal benchmark error and exit. */
static inline void bench_die(const char *what, const char *detail);

/* bench_permutation — 0..n-1 shuffled (Fisher-Yates), malloc'd. */
static inline uint32_t *bench_permutation(bench_rng *r, size_t n)
{
    uint32_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        bench_die("out of memory", "permutation");
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0 && n; i--) {
        size_t j = bench_rng_below(r, i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return perm;
}

/* bench_die — report a fatal benchmark error and exit. */
static inline void bench_die(const char *what, const char *detail)
{
    fprintf(stderr, "bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* bench_arg_long — argv[i] as a positive integer, or `dflt` if absent. */
static inline long bench_arg_long(int argc, char **argv, int i, long dflt)
{
    if (i >= argc)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end || v <= 0)
        bench_die("bad numeric argument", argv[i]);
    return v;
}

/* bench_result — print one RESULT record. */
static inline void bench_result(const char *workload, const char *system, const char *metric,
                                double value, const char *unit)
{
    printf("RESULT %s %s %s %.6g %s\n", workload, system, metric, value, unit);
    fflush(stdout);
}

#ifdef BENCH_TRICOLOR
#include <tricolor.h>

/* bench_tc_system — the system name of tricolor's RESULT lines: "tricolor",
 * or BENCH_TC_LABEL (the driver's "tricolor-stw" run, say). */
static inline const char *bench_tc_system(void)
{
    const char *label = getenv("BENCH_TC_LABEL");
    return label && *label ? label : "tricolor";
}

/* bench_tc_heap — a heap with the default configuration except what the
 * caller set in `c` (start from tc_config_init); BENCH_TC_COLLECTOR names
 * another collector. While the default collector is not built yet
 * (TC_ERR_UNSUPPORTED) it falls back to "stw", and says which one it got. */
static inline tc_heap *bench_tc_heap(tc_config *c)
{
    const char *want = getenv("BENCH_TC_COLLECTOR");
    if (want && *want && tc_collector_parse(want, &c->collector) != TC_OK)
        bench_die("BENCH_TC_COLLECTOR", tc_errmsg());
    const char *ring = getenv("BENCH_TC_EVENTS_RING"); /* 0: GC events off (issue 13's recording cost row) */
    if (ring && *ring)
        c->events_ring = strtoll(ring, NULL, 10);
    tc_heap *h;
    tc_status s = tc_heap_new(c, &h);
    if (s == TC_ERR_UNSUPPORTED && !(want && *want)) {
        c->collector = TC_COLLECTOR_STW;
        s = tc_heap_new(c, &h);
    }
    if (s != TC_OK)
        bench_die("tc_heap_new failed", tc_errmsg());
    printf("INFO tricolor_collector %s\n", tc_collector_name(c->collector));
    printf("INFO tricolor_gogc %lld\n", (long long)c->gogc);
    printf("INFO tricolor_mark_workers %d\n", c->mark_workers);
    printf("INFO tricolor_events_ring %lld\n", (long long)c->events_ring);
    return h;
}
#endif

/* peak_rss_mib — VmHWM from /proc/self/status: this process's own peak
 * (getrusage's ru_maxrss would inherit the parent's peak across exec). */
static inline double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return (double)kib / 1024.0;
}

#endif /* BENCH_H */
