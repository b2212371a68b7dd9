/*
 * gctrace.h — what a finished cycle tells the user (gctrace.c): the
 * gctrace line (TRICOLOR_DEBUG=gctrace=1, Go's format) queued for the host
 * to print, and the cycle's spans in a running Chrome trace (trace.c).
 *
 * Invariants:
 *  - the collector thread never prints and never calls into a host: it
 *    only queues lines (out_lock); the host drains them on its own thread
 *    (tc_heap_drain_output) after heap calls;
 *  - the queue keeps the newest OUT_MAX_LINES lines, dropping the oldest;
 *    out_pending equals out_count after every change (release order), so
 *    tc_heap_has_output may read it without the lock.
 */
#ifndef TC_GCTRACE_H
#define TC_GCTRACE_H
#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* gctrace_cycle — after a cycle ended (gc_lock held, its figures final):
 * queue its gctrace line if asked, emit its spans into a running trace. */
void gctrace_cycle(struct tc_heap *h);
#pragma GCC visibility pop
#endif
