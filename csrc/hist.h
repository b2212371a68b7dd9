/*
 * hist.h — log-bucketed latency histograms (in the shape of Go's
 * runtime/metrics /gc/pauses:seconds): record a duration in O(1) with one
 * relaxed atomic increment, from any thread, with no lock.
 *
 * Layout (HIST_SUB_BITS = 3, so 8 sub-buckets per power of two; bounds in ns):
 *
 *   bucket i           range                         width
 *   0 .. 7             [i, i+1)                      1 ns (exact)
 *   8 .. 279           p = i/8 + 2, s = i%8:         2^(p-3)
 *                      [2^p + s*2^(p-3), next)
 *   280                [2^37, +inf)                  overflow (2^37 ns = 137.4 s)
 *
 * So bounds = 0, 1, ..., 8, 9, ..., 15, 16, 18, 20, ..., 30, 32, 36, ...: a
 * value v >= 8 with top bit p lands in super-bucket p-2 and sub-bucket given
 * by the 3 bits below the top bit; the relative width of a bucket is at most
 * 1/8 of its lower bound (12.5%). HIST_BUCKETS = 281 buckets, 282 bounds;
 * the last bound is UINT64_MAX, which stands for +infinity (a value of
 * UINT64_MAX itself is counted in the last bucket).
 *
 * Invariants:
 *  - hist_bound(0) = 0 < hist_bound(1) < ... < hist_bound(HIST_BUCKETS) =
 *    UINT64_MAX, and hist_bound(hist_index(v)) <= v < hist_bound(hist_index(v)+1)
 *    for every v < UINT64_MAX (checked for every boundary and its
 *    neighbours by tests/c/test_hist.c).
 *  - counts[i] only grows (atomic, relaxed). A reader (hist_read) sees each
 *    count at some moment during the read, not all of them at one moment:
 *    a value recorded during the read may or may not be in it.
 */
#ifndef TC_HIST_H
#define TC_HIST_H
#include <stdatomic.h>
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define HIST_SUB_BITS 3
#define HIST_SUBS (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS 37 /* values >= 2^37 ns (137 s) share the overflow bucket */
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUBS + 1)
_Static_assert(HIST_BUCKETS == TC_HIST_BUCKETS, "tricolor.h's TC_HIST_BUCKETS follows hist.h's layout");

typedef struct hist {
    _Atomic uint64_t counts[HIST_BUCKETS]; /* any thread adds (relaxed); see the invariants */
} hist;

/* hist_index — the bucket of a duration of `ns` nanoseconds. */
static inline unsigned hist_index(uint64_t ns)
{
    if (ns < HIST_SUBS)
        return (unsigned)ns;
    unsigned p = 63u - (unsigned)__builtin_clzll(ns); /* top bit, >= HIST_SUB_BITS */
    if (p >= HIST_MAX_BITS)
        return HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(ns >> (p - HIST_SUB_BITS)) & (HIST_SUBS - 1);
    return (p - HIST_SUB_BITS + 1) * HIST_SUBS + sub;
}

/* hist_bound — the lower bound (ns) of bucket i, for i in [0, HIST_BUCKETS];
 * hist_bound(HIST_BUCKETS) is UINT64_MAX (+infinity). */
static inline uint64_t hist_bound(unsigned i)
{
    if (i >= HIST_BUCKETS)
        return UINT64_MAX;
    if (i < HIST_SUBS)
        return i;
    unsigned p = i / HIST_SUBS + HIST_SUB_BITS - 1, sub = i % HIST_SUBS;
    return ((uint64_t)1 << p) + ((uint64_t)sub << (p - HIST_SUB_BITS));
}

/* hist_record — count one duration. Any thread, lock-free, O(1). */
static inline void hist_record(hist *h, uint64_t ns)
{
    atomic_fetch_add_explicit(&h->counts[hist_index(ns)], 1, memory_order_relaxed);
}

/* hist_read — copy the counts into out[HIST_BUCKETS] (see the invariants for
 * what a read racing with hist_record sees). */
void hist_read(const hist *h, uint64_t out[HIST_BUCKETS]);
#pragma GCC visibility pop
#endif
