/*
 * mmu.h — minimum mutator utilization (MMU) and its bounded form (BMU) over
 * a set of GC intervals: pure functions, no threads, no tc_heap, so tests can
 * check them exhaustively against brute force. The definitions, the overlap
 * rule and the proofs of where the minima lie are at the top of mmu.c.
 *
 * A run is prepared once (mmu_run_init: sort, union, attribution) and then
 * answers any number of window lengths (mmu_run_window), one at a time.
 *
 * Invariants of a prepared mmu_run:
 *  - seg[0..n) are non-empty, sorted and disjoint, lie inside [start, end],
 *    and their union is the union of the input intervals clipped to the run;
 *    each carries the first kind (in tc_gc_kind order) among the intervals
 *    that cover it; two touching neighbours never share a kind.
 *  - seg[i].before = the total length of seg[0..i); total = that of all.
 */
#ifndef TC_MMU_H
#define TC_MMU_H
#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

typedef struct mmu_seg {
    int64_t start, end; /* [start, end), ns */
    uint64_t before;    /* GC ns in [run start, start) */
    tc_gc_kind kind;
} mmu_seg;

typedef struct mmu_pt {
    int64_t x; /* a time (ns) */
    uint64_t g; /* GC ns in [run start, x) */
} mmu_pt;

typedef struct mmu_run {
    int64_t start, end; /* the run */
    size_t n;           /* segments */
    mmu_seg *seg;
    uint64_t total;     /* GC ns in the run */
    mmu_pt *hull;       /* scratch for mmu_run_window: n + 1 points */
} mmu_run;

/* mmu_run_init — prepare `r` from n intervals (validated: TC_ERR_VALUE names
 * the bad one's 0-based index) over [*start, *end] (NULL: as tc_mmu).
 * TC_ERR_NOMEM leaves nothing allocated. */
tc_status mmu_run_init(mmu_run *r, const tc_interval *iv, size_t n, const int64_t *start, const int64_t *end);
void mmu_run_free(mmu_run *r);

/* mmu_run_gc — GC ns in [a, b), for run start <= a <= b <= run end. O(log n). */
uint64_t mmu_run_gc(const mmu_run *r, int64_t a, int64_t b);

/* mmu_run_window — the tc_mmu_point of window length w >= 1 ns. O(n log n);
 * uses r->hull, so one window at a time per run. */
void mmu_run_window(mmu_run *r, int64_t w, tc_mmu_point *out);
#pragma GCC visibility pop
#endif
