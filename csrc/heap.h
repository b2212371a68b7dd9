/*
 * heap.h — struct tc_heap, the heap's global state, and what is truly
 * heap-wide (errors, the registry of live heaps, fork). Each concept has
 * its own internal header, opening with its invariants: alloc.h, mark.h
 * (and markctx.h, private to the marking files), sweep.h, roots.h,
 * special.h, trace.h, mutator.h, span.h, obj.h, barrier.h, events.h,
 * pacer.h. heap.h includes them all (the types of struct tc_heap's fields
 * come from them, and alloc.h and mutator.h's inline paths read the
 * struct), so a file that includes heap.h alone still builds; new code
 * includes the header of each concept it uses.
 *
 * struct tc_heap is grouped by the lock that guards each field, one
 * anonymous sub-struct per lock (C11: every h->field expression is the
 * same as before). Each field says who writes it and under which lock or
 * atomic, as Go's mgcpacer.go does; "atomic" fields are read without a
 * lock, and their writers are still named.
 *
 * Locks: every mutex of csrc, in the only order in which a thread may hold
 * several of them. A thread that holds a lock may take only locks below it
 * (a debug build traps on any other: debug.h, check.c):
 *    0 heap_registry_lock  heap.c: the process's list of live heaps; before
 *                          every heap's locks (fork, thread exit, adoption)
 *    1 mark_lock     one incremental mark slice (or quiesce) at a time
 *    2 gc_lock       one collection at a time; held for a whole cycle
 *    3 ctl_lock      collector requests and cycle counts (done_cond, ctl_cond)
 *    4 mut_lock      the mutator list (registration, adoption, stats reads)
 *    5 lock          page heap, arenas, span lists, sweep/flush counters
 *    6 special_lock  specials, weak refs, the due-callback queue
 *    7 roots_lock    the handle table's global free list and chunk list
 *    8 grey_lock     the global grey queue and its spare buffers
 *    9 stats_lock    the pacer and the collector's statistics
 *   10 out_lock      the gctrace line queue
 *   11 trace_lock    the trace event buffer
 *   12 rec_lock      record.c: the running replay log
 *   13 world_lock    parked mutators' sleep on world_cond (a pause's end)
 *   14 ev.lock       events.c: the event ring and thread names (innermost
 *                    of a heap's own locks; ev_record never runs under it)
 *   15 par->lock     workers.c: the mark workers' rounds (struct mpar)
 * Leaves outside the table (spin locks, never held while taking anything):
 * the mark sessions' `lock` (struct mark_sess, share.c) and a slot's
 * store lock (obj.h). idmap.c has no lock (its owner's: rec_lock).
 * The pairs the code nests (all seen in a run of the debug build's C
 * suite): mark_lock -> gc_lock (incremental slices, quiesce, the debug
 * hooks); mark_lock and gc_lock -> each lock below them (a cycle's steps);
 * mut_lock -> lock (flush_all, close); mut_lock -> ev.lock (ev_collect);
 * special_lock -> roots_lock (a due finalizer's root); stats_lock ->
 * ev.lock (a pause recorded with pause_total); registry -> each heap lock
 * (fork, adoption). Nothing else nests; the rest of the order is fork.c's
 * prepare, which takes all of them in this order. Ranks compare within one
 * heap; the registry lock ranks before every lock of every heap.
 * A thread never blocks on gc_lock or for a pause while counted as active
 * (mutator.c), so a collection never waits for a thread that waits for it.
 *
 * Invariants:
 *  - while `stw` is set and the stopping thread holds gc_lock, no other
 *    mutator is active: nothing else reads or writes heap memory;
 *  - roots = sum over mutators of (roots_new - roots_del) + roots_global
 *    = live handles;
 *  - heap_objects = mallocs - frees; heap_alloc = total_alloc - freed_bytes.
 */
#ifndef TC_HEAP_H
#define TC_HEAP_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "debug.h"
#include "events.h"
#include "mark.h"
#include "obj.h"
#include "pacer.h"
#include "roots.h"
#include "sizeclass.h"
#include "span.h"
#include "special.h"
#include "sweep.h"
#include "trace.h"
#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core (Lua's LUAI_FUNC): no .so exports it */

#define OUT_MAX_LINES 1024  /* queued gctrace lines kept */
/* a cycle pause's anatomy (cycle.c: pause_end; check.h's hook hands it out in this order): its
 * kind (PAUSE_KIND_*), length, wait for the mutators to stop, stretch with the world stopped, over
 * the pause the stopper's CPU time and its involuntary and voluntary context switches, and the
 * longest probed wait for one mutator (>= 20 us, else 0) with that mutator's CPU time over it */
enum { PA_KIND, PA_TOTAL, PA_WAIT, PA_STOPPED, PA_CPU, PA_PREEMPTED, PA_SLEPT, PA_MUT_WAIT, PA_MUT_CPU,
       PAUSE_ANATOMY };
enum { PAUSE_KIND_START = 1, PAUSE_KIND_TERM = 2, PAUSE_KIND_STW = 3 };

struct tc_heap {
    /* identity and configuration: written by tc_heap_new before the heap is
     * published, then read-only (but the atomics, written by their setters) */
    struct {
        uint64_t uid;             /* unique per heap in the process */
        tc_config cfg;            /* fixed at creation, but gogc/memory_limit below */
        _Atomic int64_t gogc, memory_limit; /* tc_heap_set_*: atomic stores */
        uint64_t start_ns;
        tc_block_begin block_begin; /* tc_heap_set_block_hooks: plain stores, set before the threads that block */
        tc_block_end block_end;
        void *block_ud;
    };

    /* life: closing and teardown (atomics; tc_heap_close writes them) */
    struct {
        _Atomic bool closed;
        _Atomic bool closing;      /* tc_heap_close has begun: `closed` is set, the collector told to stop */
        _Atomic bool torn_down;    /* a tc_heap_close (not from inside a call) claimed the teardown */
    };

    /* the registry and fork (heap_registry_lock, rank 0) */
    struct {
        struct tc_heap *next_live; /* the process's list of live heaps (registry lock) */
        tc_mutator *fork_self;     /* fork.c: the forking thread's mutator (registry lock held) */
        bool fork_parked;          /* fork.c: it was inside a raw section and parked for the fork */
    };

    /* the world: stopping and starting it (world_lock, rank 13, for the sleep) */
    struct {
        pthread_mutex_t world_lock;
        pthread_cond_t world_cond;
        _Atomic int stw;              /* a pause is requested or running: the stopper (gc_lock held) */
        _Atomic int world_sleepers;   /* parked mutators asleep on world_cond (they, under world_lock) */
        _Atomic int world_waiters;    /* mutators inside wait_world, spinning or asleep (they, atomic) */
        _Atomic int stopper_sleeping; /* the stopper sleeps on some mutator's `active` word (the stopper) */
        _Atomic uint64_t stw_seq;     /* the number of the latest pause requested: the stopper (gc_lock
                                       * held) writes it with release order before it sets `stw` */
        _Atomic uint64_t debug_heavy_fences; /* world stops that needed plat_heavy_fence (test hook) */
    };

    /* the mutators (mut_lock, rank 4) */
    struct {
        pthread_mutex_t mut_lock;
        tc_mutator *mutators;         /* registration, adoption, release: under mut_lock */
        _Atomic(tc_mutator *) enterq; /* the listed mutators (mutator.c: every one that may be inside a
                                       * heap call or hold locals): pushed by their owners, lock-free;
                                       * filtered by a stopper, world stopped */
        _Atomic uint64_t stop_visited; /* mutator records read by world_stop and mark_push_locals (test hook) */
    };

    /* the page heap and the sweep (lock, rank 5) */
    struct {
        pthread_mutex_t lock;
        arena *arenas[TC_MAX_ARENAS]; /* added under lock (span.c); never removed until close */
        tc_mutator *flushq;           /* the mutators that allocated since the last flush (cycle.c), under lock */
        uint64_t alloc_flushed;       /* sum of the mutators' flushed_alloc (cycle.c: flush_all), under lock */
        _Atomic uint64_t flush_visited; /* mutator records read inside pauses (test hook: flush_all, stats.c's
                                         * sums): the stopper, atomic */
        int narenas;
        span *freelist[TC_FREE_BUCKETS]; /* free spans by size: span.c, under lock */
        span *freetail[TC_FREE_BUCKETS]; /* each free list's last span (released runs go there): span.c, lock */
        uint64_t freemask[TC_FREE_BUCKETS / 64]; /* bit b: freelist[b] is not empty (span.c, lock) */
        span *partial[SC_MAX_CLASSES]; /* in use, with free slots, swept: sweep and refill, under lock */
        span *full[SC_MAX_CLASSES];    /* in use, no free slot (or in a cache): under lock */
        span *large;                   /* in-use large-object spans: under lock */
        uint64_t spans_inuse;          /* span.c, under lock */
        span *span_pool;               /* unused span structs: span.c, under lock */
        void *span_slabs;              /* every slab of span structs, freed at close (lock) */
        uint64_t sys_bytes;            /* committed arena bytes, Go's HeapSys: span.c, under lock */
        uint64_t gc_sys_bytes;         /* collector metadata (bitmaps, span structs): span.c, under lock */
        uint64_t released_bytes;       /* given back to the OS and not reused: the scavenger and span.c, under lock */
        /* the sweep (sweep.c): the unswept lists and counts, under lock */
        span *unswept_p[SC_MAX_CLASSES], *unswept_f[SC_MAX_CLASSES], *unswept_large;
        int sweepers;                  /* spans being swept outside the lock right now */
        uint64_t sweep_live_bytes;     /* live bytes found by this cycle's sweep */
        uint64_t sweep_live_objects;
        uint64_t sweep_freed_objects;  /* objects this cycle's sweep freed; tc_heap_collect_n reports it */
        uint64_t freed_bytes, frees;   /* the sweep and tc_obj_free, under lock (not stats_lock) */
        _Atomic uint64_t flushed_bytes;/* allocation mutators reported since the last cycle: they add
                                        * (atomic); the cycle zeroes it at its start pause */
    };

    /* the handle table (roots_lock, rank 7) */
    struct {
        pthread_mutex_t roots_lock;
        root_chunk *root_chunks;       /* roots.c, under roots_lock: grows at its head only */
        uintptr_t root_free;           /* the global free list (roots.h's encoding), under roots_lock */
        _Atomic int64_t roots_global;  /* roots made outside a mutator (queued finalizers): roots.c, atomic */
        _Atomic uint64_t roots_visited;/* slots walked so far (test hook: free's pause walks none): markers, atomic */
    };

    /* the global grey queue (grey_lock, rank 8) */
    struct {
        pthread_mutex_t grey_lock;
        wbuf *grey;                    /* full buffers: greyq.c, under grey_lock */
        wbuf *grey_spare;              /* empty buffers kept for reuse: under grey_lock */
        _Atomic size_t grey_bufs;      /* buffers on `grey`: written under grey_lock, read as a hint */
        _Atomic int grey_overflow;     /* candidates were dropped for want of a buffer (grey_put sets, a
                                        * mark's end clears): re-scan before the mark ends (markroots.c) */
    };

    /* marking: markers' shared state (atomics; share.c's protocol) and the
     * incremental marker (mark_lock, rank 1) */
    struct {
        pthread_mutex_t mark_lock;     /* one incremental mark slice (or quiesce) at a time */
        struct markctx *incr_ctx;      /* the running cycle's marker (cycle.h), under mark_lock */
        struct mpar *par;              /* mark worker threads (mark_workers > 1): made with the collector
                                        * thread (collector_start_thread), freed when it stops or, in a
                                        * fork's child, forgotten (fork.c); read by the collector thread */
        _Atomic uint64_t marked_bytes; /* bytes marked this cycle: each marker adds when it finishes */
        _Atomic uint64_t mark_progress;/* bytes marked this cycle, published as marking goes (assists wait on it) */
        _Atomic uint64_t mark_share;   /* markers marking now (n << 1 | EXCL): share.c */
        _Atomic uint64_t sess_used;    /* mark session slots in use, one bit each: share.c */
        _Atomic uint64_t sess_seq;     /* sessions opened so far: a session's tag is unique */
        _Atomic uint64_t sess_closed;  /* sessions ended so far (deferred work is looked at again) */
        _Atomic uint64_t mark_epoch;   /* concurrent marks started (the cycle, at its start pause):
                                        * regions shared in an earlier one are free */
        struct mark_sess sess[TC_MARK_SESSIONS]; /* one per open session: its owner, and askers under its spin lock */
        _Atomic int mark_hungry;       /* markers waiting for work: busy ones donate (workers.c, assists) */
        _Atomic int assists_holding;   /* assists that may hold grey work of their own (assist.c) */
        _Atomic uint64_t assist_marked;/* bytes marked by assists, all cycles: assists, atomic */
        _Atomic uint64_t mark_regions_shared; /* regions an owner shared on request, all cycles (share.c) */
        _Atomic uint64_t avg_obj_bytes;/* live bytes / live objects at the last sweep (the cycle's end):
                                        * markers count objects */
        _Atomic bool debug_assists_only;/* test hook: the collector thread leaves marking to assists */
        _Atomic bool debug_stall_sweep;/* test hook: the collector thread does not sweep (cycle.c) */
        _Atomic bool debug_stall_mark; /* test hook: the collector thread does not mark (cycle.c) */
        _Atomic int debug_clear_hold;  /* test hook: 1 = a large clear says 2, then waits for a pause (alloc.c) */
        _Atomic int debug_prefault_hold; /* test hook: 1 = a refill's prefault says 2, parked, and waits while it stays 2 */
        _Atomic int debug_request_hold; /* test hook: 1 = a mutator asking for a cycle says 2, parked, then waits
                                         * for a pause while it stays 2; 5 = back from its request (parked,
                                         * `requesting`) it says 6 and waits while it stays 6 (assist.c) */
        _Atomic uintptr_t debug_list_hold; /* test hook: a mutator's address = it says address|1 once it has
                                            * pushed itself on enterq, and waits while it stays so (mutator.c) */
        _Atomic bool debug_ack_patient; /* test hook: world_stop waits up to 1 s (not ACK_SPINS) for the word
                                         * of a mutator it saw go out (mutator.c, wait_out) */
    };

    /* cycle control: requests to the collector thread (ctl_lock, rank 3) */
    struct {
        pthread_mutex_t ctl_lock;
        pthread_cond_t ctl_cond;       /* the collector thread waits here for requests */
        pthread_cond_t done_cond;      /* callers wait here for cycles to finish (or start: assist.c) */
        pthread_t thread;              /* the collector thread: collector_start_thread (tc_heap_new, a fork's child) */
        bool thread_started;           /* collector_start/stop_thread and fork.c's child, no other thread running */
        bool requested, forced_requested, stopping, cycle_running; /* under ctl_lock */
        int holds;                     /* callers keeping new cycles from starting (verify); under ctl_lock */
        uint64_t cycles_done;          /* cycles finished, sweep included; under ctl_lock */
        uint64_t cycles_started;       /* cycles the collector thread began; under ctl_lock */
        tc_status last_status;         /* checkmark result of the last cycle; under ctl_lock */
        char last_errmsg[200];         /* the last failed cycle's message (request re-raises it); under ctl_lock */
        uint64_t last_freed;           /* objects the last finished cycle freed; under ctl_lock */
        _Atomic uint64_t checkmarks[3];/* checkmarks passed, found a white object, could not run (atomic) */
    };

    /* the cycle being run: its owner writes, under gc_lock (rank 2) */
    struct {
        pthread_mutex_t gc_lock;       /* one collection at a time; held for a whole cycle */
        _Atomic int phase;             /* PHASE_*: the cycle, under gc_lock, with the world stopped */
        _Atomic int barrier_on;        /* the write barrier is on: set and cleared with the world stopped.
                                        * Beside `phase`, not with the markers' counters: every slot store
                                        * and allocation reads these two, and a line the markers write as
                                        * they go would be fetched from their core on each store */
        uint64_t cyc_t0, cyc_t1, cyc_t2, cyc_t3, cyc_t4, cyc_t5; /* start req/stopped/started, term req/stopped, end */
        uint64_t cyc_heap0, cyc_heap1, cyc_cpu_mark, cyc_cpu_sweep;
        uint64_t cyc_cpu_stw_start, cyc_cpu_stw_end; /* thread CPU ns of the start pause and of the termination pause(s) */
        uint64_t cyc_term_ns, cyc_mark_end; /* wall ns spent in termination pauses; when the last one ended */
        bool cyc_forced;
        tc_status cyc_status;          /* checkmark result (or no memory to mark) */
        char cyc_errmsg[200];          /* its message: tc_errmsg is per thread, and the cycle may run on another */
        uint64_t cyc_assist0, cyc_assist; /* assist_ns when the cycle started; the cycle's assist time */
        uint64_t last_cycle_end;       /* ns */
        uint64_t goal_history[8];      /* the scavenger's memory of recent goals */
    };

    /* collector statistics and the pacer (stats_lock, rank 9): the cycle
     * writes them under gc_lock and stats_lock; readers take stats_lock */
    struct {
        pthread_mutex_t stats_lock;
        pacer pacer;                   /* goal and trigger math */
        _Atomic uint64_t trigger;      /* start a cycle when heap_alloc reaches this (atomic: mutators read) */
        _Atomic uint64_t goal;
        _Atomic uint64_t no_start_before; /* CPU cap near the memory limit: no cycle before this time (ns) */
        _Atomic uint64_t assist_ns;    /* mutator time spent in assists: assists add (atomic) */
        _Atomic uint64_t assist_cpu_ns; /* their thread CPU (concurrent assists: assist.c adds; stats.c counts it as GC CPU) */
        _Atomic uint64_t heap_live;    /* bytes live after the last cycle (estimate from termination to sweep
                                        * end). Written under gc_lock by two writers: the cycle (with
                                        * stats_lock) and tc_obj_free (quiesced, with `lock`); atomic, so
                                        * readers under stats_lock alone see one value or the other */
        uint64_t heap_marked;
        uint64_t num_gc, num_forced_gc;
        uint64_t pause_total_ns, pause_max_ns; /* stats_record_pause, under stats_lock */
        /* the longest wait for mutators to stop, and the longest stretch with the world stopped, over
         * the cycle's pauses (cycle.c pause_end, under stats_lock; check.h's hook): which side a long
         * pause was on. world_stopped_at: when world_stop saw every mutator out (the stopper, gc_lock) */
        uint64_t pause_wait_max_ns, pause_inside_max_ns, world_stopped_at;
        /* the stopper's CPU time and context switches (plat_thread_sched) just before its request, and
         * the longest cycle pause's anatomy (check.h: cycle_debug_pause_longest, its order), and the
         * cycle pauses whose stopper the OS switched out involuntarily (pause_end, under stats_lock) */
        uint64_t stop_sched0[3], pause_longest[PAUSE_ANATOMY], pauses_stopper_preempted;
        uint64_t stop_mut_wait[2]; /* this stop's longest probed wait for one mutator, and that mutator's
                                    * CPU time over it (mutator.c: probe_end; the stopper, gc_lock) */
        uint64_t pauses[TC_PAUSE_RING];
        uint64_t pause_ends[TC_PAUSE_RING]; /* monotonic end of each pause in `pauses` */
        uint64_t npauses_total;
        uint64_t gc_cpu_ns, mark_ns, sweep_ns, mark_cpu_ns, sweep_cpu_ns;
    };

    /* specials: finalizers, cleanups, weak references, pins (special_lock, rank 6) */
    struct {
        pthread_mutex_t special_lock;
        special *specials;             /* every special of the heap: under special_lock */
        uint64_t nfinalizers;          /* finalizer specials set: under special_lock */
        ready *ready_head, *ready_tail;/* due callbacks, oldest first: under special_lock */
        _Atomic uint64_t nready;       /* changed under special_lock, read without it */
        _Atomic uint64_t nweak;        /* live tc_weak (host references): atomic */
        _Atomic uint64_t sweepgen;     /* +1 at each sweep_begin (world stopped); spans copy it when swept */
        _Atomic uint64_t freed_pending;/* objects freed with tc_obj_free whose memory no sweep took back yet:
                                        * tc_obj_free adds, special_sweep subtracts (atomic) */
    };

    /* gctrace output queue (out_lock, rank 10) */
    struct {
        pthread_mutex_t out_lock;
        char *out_lines[OUT_MAX_LINES]; /* under out_lock */
        int out_head, out_count;        /* under out_lock */
        _Atomic int out_pending;        /* lines waiting: changed under out_lock, read without it */
    };

    /* GC events and latency histograms (ev.lock, rank 14: events.c) */
    ev_heap ev;

    /* the Chrome trace (trace_lock, rank 11: trace.h) */
    struct {
        pthread_mutex_t trace_lock;
        char *trace_path;
        int trace_pid;                 /* getpid() when the trace began: a fork's child never writes it */
        trace_event *trace_ev;
        size_t trace_n, trace_cap;
    };

    /* recording (rec_lock, rank 12: record.c): the running replay log,
     * NULL when none (set and cleared under rec_lock; hooks read it relaxed
     * to skip, record.h) */
    struct {
        pthread_mutex_t rec_lock;
        _Atomic unsigned rec_spin;     /* the hooks' lock (record.h): a leaf, after rec_lock */
        _Atomic(struct rec_log *) rec;
        _Atomic(tc_mutator *) rec_owner; /* the mutator whose hooks skip rec_spin, or NULL (record.c):
                                          * set by start under rec_spin, cleared by a revoke under it */
    };
};

/* errors.c */
tc_status tc_fail(tc_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* heap.c */
bool heap_alive(uint64_t uid, tc_heap *h); /* under heap registry lock: is h live? */
extern pthread_mutex_t heap_registry_lock; /* the process's list of live heaps (rank 0: before every heap lock) */
void heap_each_live(void (*fn)(tc_heap *h)); /* fn(h) for each live heap, registry lock held */

enum { PHASE_OFF = 0, PHASE_MARK = 1, PHASE_SWEEP = 2 };

/* stats.c */
void stats_record_pause(tc_heap *h, uint64_t start, uint64_t end); /* stats_lock held */
void stats_totals(tc_heap *h, uint64_t *mallocs, uint64_t *alloc_bytes, int64_t *roots);
uint64_t stats_heap_alloc(tc_heap *h); /* total_alloc - freed_bytes, clamped at 0 */
uint64_t stats_pause_total(tc_heap *h); /* pause_total_ns (takes stats_lock) */
typedef struct pause_mark { uint64_t count, total, last_start, last_end; } pause_mark;
pause_mark stats_pause_mark(tc_heap *h); /* takes stats_lock */
void stats_record_around_pauses(tc_heap *h, int k, uint64_t t0, uint64_t t1, pause_mark since);

/* fork.c (heap.c calls these for every live heap, registry lock held) */
void fork_heap_prepare(tc_heap *h);
void fork_heap_parent(tc_heap *h);
void fork_heap_child(tc_heap *h);

/* check.c: the checkers (debug builds run them at every pause: debug.h) */
tc_status check_heap(tc_heap *h);               /* world stopped */
tc_status check_marks(tc_heap *h);              /* world stopped, after mark */
tc_status check_each_span(tc_heap *h, tc_status (*fn)(void *ud, span *s, int c), void *ud); /* in-use spans */
tc_status check_pause_start(tc_heap *h);        /* world stopped, all swept: lists, caches, zero mark bits */
tc_status check_pause_term(tc_heap *h);         /* world stopped, mark drained: no grey, no black->white */
tc_status check_alloc_flushed(tc_heap *h);      /* after flush_all: its total is every mutator's alloc_bytes_total */
tc_status check_mid_mark(tc_heap *h);           /* world stopped mid-mark, markers flushed: black->white only to grey */
#pragma GCC visibility pop
#include "collector.h"
#include "mutator.h"
#include "alloc.h"
#endif
