/*
 * hist.c — reading latency histograms (hist.h has the layout and the O(1)
 * recording path) and the public table of bucket bounds.
 */
#include "hist.h"

void hist_read(const hist *h, uint64_t out[HIST_BUCKETS])
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        out[i] = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
}

void tc_hist_bounds(uint64_t out[TC_HIST_BUCKETS + 1])
{
    for (unsigned i = 0; i <= HIST_BUCKETS; i++)
        out[i] = hist_bound(i);
}
