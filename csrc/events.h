/*
 * events.h — GC events: every interval in which the GC takes a thread away
 * from the program (pause, assist, incremental slice, lazy sweep, limit
 * wait: the tc_gc_kind "delay" kinds) or runs beside it (background mark per
 * worker, background sweep, scavenging, finalizer and cleanup runs), with
 * its start and end (monotonic ns), thread, kind and cycle. events.c's
 * header states the buffer invariant and its proof.
 *
 * Nothing here runs on the allocation or store fast paths: events are
 * recorded from slow paths only (a refill that sweeps, an assist, a slice,
 * a pause), with no syscall (plat_now_ns reads the vDSO clock) and, for a
 * thread with a mutator, no lock but once every EV_LOCAL_N events.
 */
#ifndef TC_EVENTS_H
#define TC_EVENTS_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "tricolor.h"

#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* Event kinds: the first TC_GC_KIND_COUNT are tc_gc_kind (delay: they take
 * a program thread away and count in MMU); the rest run beside the program. */
typedef enum ev_kind {
    EV_PAUSE = TC_GC_PAUSE,
    EV_ASSIST = TC_GC_ASSIST,
    EV_SLICE = TC_GC_SLICE,
    EV_SWEEP = TC_GC_SWEEP,
    EV_LIMIT_WAIT = TC_GC_LIMIT_WAIT,
    EV_MARK = TC_GC_KIND_COUNT, /* background mark: the collector thread or one mark worker */
    EV_BG_SWEEP,                /* the collector's sweep */
    EV_SCAVENGE,                /* giving pages back to the OS after a cycle */
    EV_FINALIZER,               /* the host ran a finalizer */
    EV_CLEANUP,                 /* the host ran a cleanup */
    EV_KIND_COUNT
} ev_kind;

typedef struct ev {
    int64_t start, end; /* monotonic ns, start <= end */
    uint64_t cycle;     /* the cycle it belongs to (num_gc + 1 while one runs) */
    uint64_t bytes;     /* bytes marked / swept / scavenged, when known; else 0 */
    uint64_t objects;   /* objects marked / swept / finalized, when known; else 0 */
    uint32_t tid;       /* ev_tid() of the thread */
    uint32_t kind;      /* ev_kind */
} ev;

#define EV_LOCAL_N 64 /* events a mutator buffers before it takes the heap's ring lock */
#define EV_NAMES 64   /* named threads per heap (the collector, mark workers) */
#define EV_RING_DEFAULT 16384

/* A mutator's single-producer buffer (events.c: the invariant). */
typedef struct ev_local {
    _Atomic uint64_t head; /* events written: the owner stores (release) */
    _Atomic uint64_t tail; /* events taken: stored under the heap's ev lock (release) */
    ev e[EV_LOCAL_N];
} ev_local;

/* The heap's side: the ring, the totals, the histograms. */
typedef struct ev_heap {
    pthread_mutex_t lock;         /* the ring, the names, draining local buffers (innermost lock) */
    ev *ring;                     /* `alloc` events, grown by doubling up to cap (lock) */
    uint64_t alloc;               /* slots in ring; fixed once the ring wraps (lock) */
    uint64_t cap;                 /* fixed at creation: 0 = events off (lock-free reads) */
    uint64_t written;             /* events ever put in the ring (lock) */
    _Atomic uint64_t dropped;     /* events overwritten before anyone read them, or lost to no memory */
    _Atomic uint64_t delay_total; /* ns of delay-kind intervals (pauses under stats_lock, see events.c) */
    _Atomic uint64_t delay_max;
    _Atomic uint64_t counter_ns;  /* last time counters were sampled into the trace */
    _Atomic uint64_t cycle;       /* the cycle events belong to: set at each cycle start (gc_lock) */
    _Atomic int tracing;          /* a trace runs: events go to it too (set under trace_lock) */
    hist pause_hist;              /* stop-the-world pauses (the ones in pauses_ns) */
    hist delay_hist;              /* every delay-kind interval */
    struct { uint32_t tid; char name[28]; } names[EV_NAMES]; /* (lock) */
    int nnames;
} ev_heap;

struct tc_heap;
struct tc_mutator;

void ev_init(struct tc_heap *h);
void ev_free(struct tc_heap *h); /* at destroy: the ring and every mutator's buffer */
uint32_t ev_tid(void);           /* this thread's process-wide small id (1, 2, ...) */
void ev_name_thread(struct tc_heap *h, const char *name); /* name this thread's track in h */
/* ev_record — one interval of kind k by this thread (any thread, any lock
 * but ev lock held). Delay kinds go to the histogram and the totals too;
 * pauses come through ev_pause instead. */
void ev_record(struct tc_heap *h, ev_kind k, uint64_t start, uint64_t end, uint64_t bytes);
/* ev_record_objs — the same, with the objects the interval marked, swept or finalized. */
void ev_record_objs(struct tc_heap *h, ev_kind k, uint64_t start, uint64_t end, uint64_t bytes, uint64_t objects);
/* ev_record_net — as ev_record, but the interval counts `net` ns of mutator
 * delay (an interval with pauses inside, which are events of their own). */
void ev_record_net(struct tc_heap *h, ev_kind k, uint64_t start, uint64_t end, uint64_t net);
/* ev_pause — a stop-the-world pause (stats_lock held: delay_total moves with pause_total). */
void ev_pause(struct tc_heap *h, uint64_t start, uint64_t end);
/* ev_collect — copy the retained events (oldest first) into a malloc'd array;
 * NULL with *n = 0 when there are none or no memory. */
ev *ev_collect(struct tc_heap *h, size_t *n);
const char *ev_kind_name(ev_kind k);
bool ev_thread_name(struct tc_heap *h, uint32_t tid, char out[28]); /* lock taken */
/* trace.c: an event for the running trace (trace_lock taken) */
void trace_event_add(struct tc_heap *h, const ev *e);
/* trace.c: sample heap_alloc, heap_goal, heap_live, memory_limit into the
 * trace now (force) or if 10 ms passed since the last sample; no lock held */
void trace_counters(struct tc_heap *h, bool force);
#pragma GCC visibility pop

#endif
