/*
 * trace.h — Chrome trace-event files (trace.c): the heap's GC events
 * recorded while a trace runs, written whole at tc_trace_stop or close.
 *
 * Invariants: h->trace_* are read and written under trace_lock only
 * (nothing is taken while holding it: heap.h's table); a running trace's
 * array only grows until it is written; a fork's child never writes its
 * parent's trace (trace_pid).
 */
#ifndef TC_TRACE_H
#define TC_TRACE_H
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

typedef struct trace_event {
    const char *name;   /* static string */
    char ph;            /* 'X' complete, 'C' counter, 'i' instant */
    uint64_t ts_ns, dur_ns;
    uint64_t value;     /* counter value / cycle number */
    uint64_t bytes;     /* 'X': bytes marked/swept/scavenged (0: unknown) */
    uint64_t objects;   /* 'X': objects marked/swept/finalized (0: unknown) */
    uint64_t tid;       /* ev_tid(); 0: the heap's GC track (pauses, cycles, phases) */
} trace_event;

/* trace.c */
void trace_emit(tc_heap *h, const char *name, char ph, uint64_t ts, uint64_t dur, uint64_t value);
void trace_thread(tc_heap *h, uint32_t tid); /* a track for this mutator thread, events or not */
void trace_free(tc_heap *h);          /* at close: a running trace is written, then dropped */
#pragma GCC visibility pop
#endif
