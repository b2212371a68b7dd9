/*
 * heap.h — the heap's global state and the per-thread mutator, shared by
 * every subsystem of the core.
 *
 * Locks: the twelve mutexes of struct tc_heap, in the only order in which
 * a thread may hold several of them (a debug build traps on any other:
 * debug.h, check.c). A thread that holds a lock may take only locks below
 * it in this table:
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
 *   12 world_lock    parked mutators' sleep on world_cond (a pause's end)
 * The pairs the code nests (all seen in a run of the debug build's C
 * suite): mark_lock -> gc_lock (incremental slices, quiesce, the debug
 * hooks); mark_lock and gc_lock -> each lock below them (a cycle's steps);
 * mut_lock -> lock (flush_all, close); special_lock -> roots_lock (a due
 * finalizer's root). Nothing else nests; the rest of the order is
 * fork.c's prepare, which takes all twelve in this order. Outside the
 * table: heap.c's registry lock comes before every heap lock (fork,
 * adoption), mark.c's worker lock (struct mpar) after every one (fork), and
 * the mark sessions' spin locks (struct mark_sess) are leaves.
 * A thread never blocks on gc_lock or for a pause while counted as active
 * (mutator.c), so a collection never waits for a thread that waits for it.
 *
 * Invariants:
 *  - while `stw` is set and the stopping thread holds gc_lock, no other
 *    mutator is active: nothing else reads or writes heap memory;
 *  - roots = sum over mutators of (roots_new - roots_del) = live handles;
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
#include "obj.h"
#include "pacer.h"
#include "sizeclass.h"
#include "span.h"
#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core (Lua's LUAI_FUNC): no .so exports it */

#define ROOT_CHUNK 4096     /* root slots per handle-table chunk */
#define ROOT_BATCH 64       /* root slots a mutator takes from the table at once */
#define MUT_FLUSH_BYTES (64u << 10) /* allocation a mutator reports at once */
#define OUT_MAX_LINES 1024  /* queued gctrace lines kept */
#define MUT_MAX_LOCALS ((size_t)1 << 20) /* local roots per mutator (8 MiB, mapped lazily) */

typedef struct root_chunk {
    struct root_chunk *next;
    _Atomic uintptr_t slot[ROOT_CHUNK]; /* object address, or (next free | 1), or 0 */
} root_chunk;

#define MUT_GBUF 256          /* grey entries a mutator buffers before flushing */
#define WBUF_N 1022           /* entries per grey work buffer (8 KiB) */

typedef struct wbuf {
    struct wbuf *next;
    size_t n;
    uintptr_t e[WBUF_N];
} wbuf;

struct tc_mutator {
    struct tc_heap *heap;
    _Atomic int active;          /* 1 while inside a heap call; written by the owner */
    _Atomic int depth;           /* nesting of heap calls: written by the owner (plain loads and
                                  * stores, no read-modify-write), read by a closing thread */
    pthread_t owner;             /* the thread using it, valid if `owned` */
    uint32_t tid;                /* the owner's ev_tid(): its track in traces (set with owner) */
    bool owned;                  /* protected by heap->mut_lock */
    span *cache[SC_MAX_CLASSES]; /* current span per size class (owner; the world-stopper flushes) */
    tc_obj **locals;             /* the local root stack (tc_locals) */
    size_t nlocals, cap_locals;
    uintptr_t rfree;             /* local free list of root slots */
    uint32_t nrfree;
    uint64_t reported;           /* alloc_bytes already reported to the heap (owner, or the stopper) */
    uint64_t call_assist_ns;     /* assist time in the current outermost heap call (owner) */
    _Atomic(struct ev_local *) evl; /* GC events of this thread, made by the owner (events.c) */
    struct markctx *assist_ctx;  /* this mutator's marker for assists, made on first use (owner) */
    uint32_t ncached;            /* spans in `cache` (owner, or the stopper) */
    uint32_t gbuf_n;             /* shaded addresses in gbuf (owner); flushed on leave/park */
    uintptr_t gbuf[MUT_GBUF];
    /* counters: written by the owner (or the stopper), read relaxed by stats */
    _Atomic uint64_t mallocs, alloc_bytes, roots_new, roots_del;
    _Atomic uint64_t barrier_slow;   /* slot stores that took the barrier's slow path (barrier.c) */
    _Atomic uint64_t barrier_shaded; /* objects the barrier greyed (shade: barrier.h) */
    struct tc_mutator *next;     /* heap->mutators list, under mut_lock */
};

enum special_kind { SP_FINALIZER = 1, SP_CLEANUP, SP_WEAK, SP_PIN, SP_FREED };

/* A special record attached to one object (Go's "specials"): kept on its
 * span's list (so a sweep sees the ones of the span it sweeps) and on the
 * heap's list of all specials. Protected by heap->special_lock. */
typedef struct special {
    struct special *next;          /* the span's list */
    struct special *all_next, *all_prev; /* the heap's list */
    uintptr_t obj;
    uint8_t kind;
    uint8_t dead;                  /* scratch for the sweep */
    uint32_t pins;                 /* SP_PIN: count */
    tc_token token;                /* SP_FINALIZER, SP_CLEANUP */
    struct ready *rd;              /* SP_FINALIZER, SP_CLEANUP: its queue record, made with it (a sweep needs no memory) */
    struct tc_weak *weak;          /* SP_WEAK */
} special;

struct tc_weak {
    _Atomic uintptr_t obj;         /* the target, 0 once cleared (special_lock) */
    special *sp;                   /* its special, NULL once cleared */
};

/* A due finalizer or cleanup, waiting for the host. */
typedef struct ready {
    struct ready *next;
    tc_ready_kind kind;
    tc_token token;
    tc_root *root;                 /* finalizer: keeps the object alive until taken */
} ready;

typedef struct trace_event {
    const char *name;   /* static string */
    char ph;            /* 'X' complete, 'C' counter, 'i' instant */
    uint64_t ts_ns, dur_ns;
    uint64_t value;     /* counter value / cycle number */
    uint64_t bytes;     /* 'X': bytes marked/swept/scavenged (0: unknown) */
    uint64_t objects;   /* 'X': objects marked/swept/finalized (0: unknown) */
    uint64_t tid;       /* ev_tid(); 0: the heap's GC track (pauses, cycles, phases) */
} trace_event;

/* A mark session: one marker's right to mark, from mode_enter to mode_leave
 * (mark.c). Mark-bit regions it owns carry its tag; other markers ask it to
 * share one through `req`. */
#define TC_MARK_SESSIONS 64
#define TC_MARK_REQ 60
struct mark_sess {
    _Alignas(64) _Atomic uint32_t tag; /* the open session's tag, 0 when closed */
    _Atomic int lock;                  /* guards req and nreq (a spin lock: held for a few stores) */
    _Atomic uint32_t nreq;
    _Atomic uint32_t *req[TC_MARK_REQ]; /* owner-table entries others want shared */
};

struct tc_heap {
    uint64_t uid;                 /* unique per heap in the process */
    tc_config cfg;                /* fixed at creation, but gogc/memory_limit below */
    _Atomic int64_t gogc, memory_limit;
    _Atomic bool closed;
    _Atomic bool closing;          /* tc_heap_close has begun: `closed` is set, the collector told to stop */
    _Atomic bool torn_down;        /* a tc_heap_close (not from inside a call) claimed the teardown */
    uint64_t start_ns;

    pthread_mutex_t gc_lock;
    pthread_mutex_t mut_lock;
    pthread_mutex_t lock;
    pthread_mutex_t roots_lock;

    /* the world */
    _Atomic int stw;              /* a pause is requested or running */
    _Atomic int world_sleepers;   /* parked mutators asleep on world_cond (under world_lock) */
    _Atomic int world_waiters;    /* mutators inside wait_world (spinning or asleep) */
    _Atomic int stopper_sleeping; /* the stopper sleeps on some mutator's `active` word */
    pthread_mutex_t world_lock;
    pthread_cond_t world_cond;
    tc_mutator *mutators;
    tc_block_begin block_begin;
    tc_block_end block_end;
    void *block_ud;

    /* memory, under `lock` */
    arena *arenas[TC_MAX_ARENAS];
    int narenas;
    span *freelist[TC_FREE_BUCKETS];
    span *partial[SC_MAX_CLASSES]; /* in use, with free slots, swept */
    span *full[SC_MAX_CLASSES];    /* in use, no free slot (or in a cache) */
    span *large;                   /* in-use large-object spans */
    uint64_t spans_inuse;
    span *span_pool;               /* unused span structs */
    void *span_slabs;              /* every slab of span structs, freed at close */
    uint64_t sys_bytes;            /* committed arena bytes: heap_sys (Go's HeapSys) */
    uint64_t gc_sys_bytes;         /* collector metadata: bitmaps for the committed range, span structs */
    _Atomic uint64_t flushed_bytes;/* allocation reported by mutators since the last cycle */

    /* roots */
    root_chunk *root_chunks;
    uintptr_t root_free;           /* global free list (under roots_lock) */

    /* marking: the global grey queue (candidates to test-and-mark) */
    pthread_mutex_t grey_lock;
    wbuf *grey;                    /* full buffers, under grey_lock */
    _Atomic size_t grey_bufs;      /* buffers on `grey` */
    _Atomic int grey_overflow;     /* candidates were dropped for want of a buffer: re-scan before the mark ends (mark.c) */
    wbuf *grey_spare;              /* empty buffers kept for reuse, under grey_lock */
    _Atomic int barrier_on;        /* the write barrier is on (set and cleared with the world stopped) */
    _Atomic uint64_t marked_bytes; /* bytes marked this cycle by markers (added when a marker finishes) */
    _Atomic uint64_t mark_progress;/* bytes marked this cycle, published as marking goes (assists wait on it) */
    _Atomic uint64_t mark_share;   /* markers marking now: each holds a mark session (mark.c) */
    _Atomic uint64_t sess_used;    /* mark session slots in use, one bit each */
    _Atomic uint64_t sess_seq;     /* mark sessions opened so far: a session's tag is unique */
    _Atomic uint64_t sess_closed;  /* mark sessions ended so far (deferred work is looked at again) */
    _Atomic uint64_t mark_epoch;   /* concurrent marks started: regions shared in an earlier one are free */
    struct mark_sess sess[TC_MARK_SESSIONS];
    _Atomic int mark_hungry;       /* markers waiting for work: busy ones donate (mark.c) */
    _Atomic int assists_holding;   /* assists that may hold grey work of their own (assist.c) */
    _Atomic uint64_t assist_marked;/* bytes marked by assists, all cycles */
    _Atomic uint64_t mark_regions_shared; /* regions an owner shared on request, all cycles (mark.c) */
    _Atomic bool debug_assists_only;/* test hook: the collector thread leaves marking to assists */
    _Atomic bool debug_stall_sweep;/* test hook: the collector thread does not sweep (cycle.c) */
    _Atomic uint64_t avg_obj_bytes;/* live bytes / live objects at the last sweep: markers count objects */
    struct markctx *incr_ctx;      /* the running cycle's marker (cycle.h), under mark_lock */
    struct mpar *par;              /* mark worker threads (concurrent, mark_workers > 1) */
    pthread_mutex_t mark_lock;     /* one incremental mark slice at a time */

    /* sweeping, under `lock` */
    span *unswept_p[SC_MAX_CLASSES], *unswept_f[SC_MAX_CLASSES], *unswept_large;
    int sweepers;                  /* spans being swept outside the lock right now */
    uint64_t sweep_live_bytes;     /* live bytes found by this cycle's sweep */
    uint64_t sweep_live_objects;
    uint64_t sweep_freed_objects;  /* objects this cycle's sweep freed (lock); tc_heap_collect_n reports it */

    /* the collector thread (concurrent collector) */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t ctl_lock;
    pthread_cond_t ctl_cond;       /* the collector thread waits here for requests */
    pthread_cond_t done_cond;      /* callers wait here for cycles to finish (or start: assist.c) */
    bool requested, forced_requested, stopping, cycle_running;
    int holds;                     /* callers keeping new cycles from starting (verify) */
    uint64_t cycles_done;          /* cycles finished, sweep included; under ctl_lock */
    uint64_t cycles_started;       /* cycles the collector thread began; under ctl_lock */
    tc_status last_status;         /* checkmark result of the last cycle; under ctl_lock */
    _Atomic uint64_t checkmarks[3];/* checkmarks that passed, found a white object, could not run (all cycles) */
    char last_errmsg[200];         /* the message of the last cycle that failed (request re-raises it with last_status); under ctl_lock */
    uint64_t last_freed;           /* objects the last finished cycle freed; under ctl_lock */

    /* the cycle being run (its owner writes, under gc_lock at the STW steps) */
    uint64_t cyc_t0, cyc_t1, cyc_t2, cyc_t3, cyc_t4, cyc_t5; /* start req/stopped/started, term req/stopped, end */
    uint64_t cyc_heap0, cyc_heap1, cyc_cpu_mark, cyc_cpu_sweep;
    uint64_t cyc_cpu_stw_start, cyc_cpu_stw_end; /* thread CPU ns of the start pause and of the termination pause(s) */
    uint64_t cyc_term_ns, cyc_mark_end; /* wall ns spent in termination pauses; when the last one ended */
    bool cyc_forced;
    tc_status cyc_status;          /* checkmark result (or no memory to mark) */
    char cyc_errmsg[200];          /* its message: tc_errmsg is per thread, and the cycle may run on another */

    /* collector state and statistics, written under gc_lock (cycle) and stats_lock */
    pthread_mutex_t stats_lock;
    pacer pacer;                   /* goal and trigger math (stats_lock) */
    _Atomic uint64_t no_start_before; /* CPU cap near the memory limit: no cycle before this time (ns) */
    uint64_t last_cycle_end;       /* ns; gc_lock */
    uint64_t goal_history[8];      /* the scavenger's memory of recent goals; gc_lock */
    _Atomic uint64_t assist_ns;    /* mutator time spent in assists */
    uint64_t cyc_assist0, cyc_assist; /* assist_ns when the cycle started; the cycle's assist time */
    uint64_t released_bytes;       /* bytes given back to the OS and not reused (lock) */
    _Atomic int phase;             /* 0 off, 1 mark, 2 sweep */
    _Atomic uint64_t trigger;      /* start a cycle when heap_alloc reaches this */
    _Atomic uint64_t goal;
    _Atomic uint64_t heap_live;    /* bytes live after the last cycle (estimate from termination to sweep end);
                                    * written under gc_lock, with stats_lock (the cycle) or lock (tc_obj_free) */
    uint64_t heap_marked;
    uint64_t freed_bytes, frees;   /* under `lock` (the sweep, tc_obj_free), not stats_lock */
    uint64_t num_gc, num_forced_gc;
    uint64_t pause_total_ns, pause_max_ns;
    uint64_t pauses[TC_PAUSE_RING];
    uint64_t pause_ends[TC_PAUSE_RING]; /* monotonic end of each pause in `pauses` */
    uint64_t npauses_total;
    uint64_t gc_cpu_ns, mark_ns, sweep_ns, mark_cpu_ns, sweep_cpu_ns;

    /* specials: finalizers, cleanups, weak references, pins (special.c) */
    pthread_mutex_t special_lock;
    special *specials;             /* every special of the heap */
    uint64_t nfinalizers;          /* finalizer specials set */
    _Atomic uint64_t nweak;        /* live tc_weak (host references) */
    ready *ready_head, *ready_tail;/* due callbacks, oldest first */
    _Atomic uint64_t nready;
    _Atomic uint64_t sweepgen;     /* +1 at each sweep_begin */
    _Atomic int64_t roots_global;  /* roots created outside a mutator (queued finalizers) */
    _Atomic uint64_t freed_pending; /* objects freed with tc_obj_free whose memory no sweep took back yet */
    _Atomic uint64_t roots_visited; /* handle-table slots walked so far (a test hook: free's pause walks none) */

    /* gctrace output queue */
    pthread_mutex_t out_lock;
    char *out_lines[OUT_MAX_LINES];
    int out_head, out_count;
    _Atomic int out_pending;

    ev_heap ev;                    /* GC events, latency histograms (events.c) */

    /* tracing */
    pthread_mutex_t trace_lock;
    char *trace_path;
    int trace_pid;                 /* getpid() when the trace began: a fork's child never writes it */
    trace_event *trace_ev;
    size_t trace_n, trace_cap;

    /* record.c: the running replay log, NULL when none (set and cleared
     * under rec_lock; hooks read it relaxed to skip, record.h) */
    pthread_mutex_t rec_lock;
    _Atomic unsigned rec_spin;     /* the hooks' lock (record.h) */
    _Atomic(struct rec_log *) rec;

    struct tc_heap *next_live;     /* the process's list of live heaps */
    tc_mutator *fork_self;         /* fork.c: the forking thread's mutator (registry lock held) */
    bool fork_parked;              /* fork.c: it was inside a raw section and parked for the fork */
};

/* errors.c */
tc_status tc_fail(tc_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* heap.c */
bool heap_alive(uint64_t uid, tc_heap *h); /* under heap registry lock: is h live? */
extern pthread_mutex_t heap_registry_lock; /* the process's list of live heaps (before every heap lock) */
void heap_each_live(void (*fn)(tc_heap *h)); /* fn(h) for each live heap, registry lock held */

/* mutator.c: thread registration and the stop-the-world handshake */
tc_mutator *mutator_get(tc_heap *h);       /* this thread's mutator, registering it */
tc_status mutator_enter_slow(tc_heap *h, tc_mutator **out);
void mutator_wake_stopper(tc_mutator *m);
void mutator_park(tc_mutator *m);          /* stop counting as active (before blocking) */
void mutator_unpark(tc_mutator *m);        /* count as active again, waiting out a pause */
void world_stop(tc_heap *h, tc_mutator *self);
void world_start(tc_heap *h);
void mutators_free(tc_heap *h);
tc_mutator *mutator_self(tc_heap *h);      /* this thread's mutator, or NULL (never registers) */
bool mutator_inside(tc_heap *h);           /* is this thread inside a heap call of h? */
void mutators_drain(tc_heap *h);           /* wait until no other thread is inside a heap call of h */
void block_begin(tc_heap *h, void **tok);
void block_end(tc_heap *h, void *tok);

/* alloc.c */
tc_obj *alloc_object(tc_mutator *m, size_t nslots, size_t size); /* NULL + tc_fail on error */
void alloc_flush_cache(tc_mutator *m);     /* world stopped or owner */

/* roots.c */
tc_status roots_new(tc_mutator *m, tc_obj *o, tc_root **out);
void roots_release(tc_mutator *m, tc_root *r);
void roots_free_all(tc_heap *h);
/* a root for roots_each: its object, its handle slot (NULL for locals and finalizer roots), its kind */
typedef bool (*roots_visit)(void *arg, uintptr_t obj, const tc_root *slot, tc_root_kind kind);
bool roots_each(tc_heap *h, roots_visit visit, void *arg); /* world stopped; false: a visit said stop */

enum { PHASE_OFF = 0, PHASE_MARK = 1, PHASE_SWEEP = 2 };

/* mark.c */
typedef struct markctx markctx;
markctx *mark_new(tc_heap *h, bool concurrent, bool check);
void mark_free(markctx *c);        /* leftover work goes back to the global queue */
void mark_flush(markctx *c);       /* the same, and c stays usable */
void mark_push_handles(markctx *c);
void mark_push_locals(markctx *c);
bool mark_drain(markctx *c, int64_t budget); /* true when no work is left anywhere */
typedef enum { MARK_EMPTY, MARK_MORE, MARK_BUSY } mark_result;
mark_result mark_drain_assist(markctx *c, int64_t budget, uint64_t wait_ns);
bool mark_quiet(tc_heap *h); /* no marker holds work and the global queue is empty */
typedef struct mpar mpar;
mpar *mark_par_new(tc_heap *h, int nworkers);   /* helper mark workers; NULL for one */
void mark_par_free(mpar *par);
void mark_drain_parallel(mpar *par, markctx *c); /* a round with every worker (par NULL: alone) */
void mark_blacken(markctx *c, uintptr_t p);  /* test hook */
void mark_debug_pair(markctx *c, int64_t slice); /* test hook: c's work by two markers taking turns */
void mark_push_children(markctx *c, uintptr_t p); /* push p's referents, do not mark p */
void mark_rescan_locals(markctx *c);  /* world stopped: unmarked locals (after grey_overflow) */
void mark_rescan(markctx *c);         /* unmarked handles, finalizer roots, children of marked objects */
tc_heap *mark_owner(const markctx *c);
uint64_t mark_bytes(const markctx *c);
uint64_t mark_count(const markctx *c);
bool mark_heap(tc_heap *h, bool check); /* stw: roots + drain; false: no memory, nothing marked */
void mark_keep_all(tc_heap *h);             /* stw: every allocated object counts as marked */
void grey_put(tc_heap *h, const uintptr_t *e, size_t n);
void grey_flush_mutator(tc_mutator *m);
bool grey_empty(tc_heap *h);
void grey_free_all(tc_heap *h);

/* sweep.c */
void sweep_all(tc_heap *h);            /* world stopped: sweep every span now */
void sweep_begin(tc_heap *h);          /* world stopped: every span becomes unswept */
span *sweep_take(tc_heap *h, int c);   /* lock held: an unswept span of class c (0 = any/large), claimed */
bool sweep_span(tc_heap *h, span *s);  /* lock NOT held: sweep a claimed span and file it; true if it has room */
bool sweep_step(tc_heap *h);           /* sweep one span; false if none was left */
void sweep_finish(tc_heap *h);         /* sweep until done and no sweep is in progress */
bool sweep_done(tc_heap *h);

/* stats.c */
void stats_record_pause(tc_heap *h, uint64_t start, uint64_t end); /* stats_lock held */
void stats_totals(tc_heap *h, uint64_t *mallocs, uint64_t *alloc_bytes, int64_t *roots);
uint64_t stats_heap_alloc(tc_heap *h); /* total_alloc - freed_bytes, clamped at 0 */

/* trace.c */
void trace_emit(tc_heap *h, const char *name, char ph, uint64_t ts, uint64_t dur, uint64_t value);
void trace_thread(tc_heap *h, uint32_t tid); /* a track for this mutator thread, events or not */
void trace_free(tc_heap *h);          /* at close: a running trace is written, then dropped */

/* special.c */
void special_push_finalizer_roots(markctx *c);   /* mark phase: referents of finalizable objects */
void special_sweep(tc_heap *h, span *s);         /* before a span's bits are swept (special_lock taken) */
void special_free_all(tc_heap *h);
tc_status roots_new_global(tc_heap *h, tc_obj *o, tc_root **out); /* roots.c, no mutator */

/* fork.c (heap.c calls these for every live heap, registry lock held) */
void fork_heap_prepare(tc_heap *h);
void fork_heap_parent(tc_heap *h);
void fork_heap_child(tc_heap *h);
void mark_par_fork_lock(mpar *par);    /* mark.c: take / release the workers' lock around fork */
void mark_par_fork_unlock(mpar *par);
void mark_par_forget(mpar *par);       /* mark.c, in a fork's child: free without joining (no threads) */

/* check.c */
tc_status check_heap(tc_heap *h);               /* world stopped */
tc_status check_marks(tc_heap *h);              /* world stopped, after mark */
tc_status check_each_span(tc_heap *h, tc_status (*fn)(void *ud, span *s, int c), void *ud); /* in-use spans */
tc_status check_pause_start(tc_heap *h);        /* world stopped, all swept: lists, caches, zero mark bits */
tc_status check_pause_term(tc_heap *h);         /* world stopped, mark drained: no grey, no black->white */
#pragma GCC visibility pop
#include "collector.h"
#include "mutator.h"
#endif
