/*
 * gclab.h — what pause.c and pacing.c share beyond bench.h: a latency
 * histogram that keeps no samples, key=value options, the peak resident set.
 *
 * The histogram is log-linear (HDR-style): exact below 64 ns, then 32
 * sub-buckets per power of two, so a reported percentile is the upper edge of
 * its bucket and overstates the true value by at most 1/32 (3%). The maximum
 * is kept exactly beside it.
 */
#ifndef GCLAB_H
#define GCLAB_H

#include "bench.h"

#define HIST_SUB 32
#define HIST_BUCKETS (64 + 58 * HIST_SUB)

typedef struct hist {
    uint64_t count, max, sum;
    uint64_t b[HIST_BUCKETS];
} hist;

/* hist_index — the bucket of `v` ns (see the header comment). */
static inline int hist_index(uint64_t v)
{
    if (v < 64)
        return (int)v;
    int e = 63 - __builtin_clzll(v); /* 6 .. 63 */
    int sub = (int)((v >> (e - 5)) & (HIST_SUB - 1));
    return 64 + (e - 6) * HIST_SUB + sub;
}

/* hist_upper — the largest value that falls into bucket `i`. */
static inline uint64_t hist_upper(int i)
{
    if (i < 64)
        return (uint64_t)i;
    int e = (i - 64) / HIST_SUB + 6, sub = (i - 64) % HIST_SUB;
    uint64_t lo = ((uint64_t)(HIST_SUB + sub)) << (e - 5);
    return lo + (UINT64_C(1) << (e - 5)) - 1;
}

static inline void hist_add(hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

/* hist_quantile — the value at quantile q (0..1), capped by the exact max. */
static inline uint64_t hist_quantile(const hist *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;
    if (rank < 1)
        rank = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t u = hist_upper(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

/* opt_str, opt_long — `key=value` arguments (argv[1..]); `dflt` if absent. */
static inline const char *opt_str(int argc, char **argv, const char *key, const char *dflt)
{
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, n) && argv[i][n] == '=')
            return argv[i] + n + 1;
    return dflt;
}

static inline long opt_long(int argc, char **argv, const char *key, long dflt)
{
    const char *s = opt_str(argc, argv, key, NULL);
    if (!s)
        return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end)
        bench_die("bad numeric option", key);
    return v;
}

/* cmp_u64 — qsort order for pause samples. */
static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* quantile_sorted — the nearest-rank quantile of n sorted samples. */
static inline uint64_t quantile_sorted(const uint64_t *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

#endif /* GCLAB_H */
