/*
 * mark.h — marking, as the rest of the core sees it: markers (opaque
 * markctx), the global grey queue, roots, the stop-the-world mark and the
 * mark workers. The marking files are drain.c (the loop), greyq.c (grey
 * queue, mark stacks), share.c (sessions and regions), markroots.c,
 * checkmark.c and workers.c; markctx.h is their private header.
 *
 * Colours: an object is black once its mark bit is set and it was scanned
 * (or its black bit was set: allocated during mark, its slots all nil),
 * grey while its address waits as a candidate (on a mark stack, in a
 * prefetch ring, on a deferred list, in the global grey queue or in a
 * mutator's grey buffer) or, marked, in its marker's grey ring (drain.c),
 * white otherwise.
 *
 * Invariants:
 *  - tri-color, with the barrier's help (barrier.c): during mark no black
 *    object points at a white one that no grey path reaches; at mark
 *    termination (world stopped, grey queue and every buffer empty) no
 *    black object points at a white one (check_pause_term checks it);
 *  - marking never recurses and never allocates per object: grey work is
 *    candidates in buffers; with no memory, candidates are dropped and
 *    grey_overflow set, and the mark does not end before a rescan
 *    (markroots.c) has found them again;
 *  - mark bits are written only by markers (never by mutators: they write
 *    black bits), with plain stores only where share.c's rule allows;
 *  - with the world stopped every mutator's grey buffer is empty (flushed
 *    on leave and park), so "global queue empty and no marker holding
 *    work" (mark_quiet) means marking is done.
 */
#ifndef TC_MARK_H
#define TC_MARK_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define MUT_GBUF 256          /* grey entries a mutator buffers before flushing */
#define WBUF_N 1022           /* entries per grey work buffer (8 KiB) */

/* A grey work buffer: full ones on h->grey, empty ones on h->grey_spare
 * (both under grey_lock). */
typedef struct wbuf {
    struct wbuf *next;
    size_t n;
    uintptr_t e[WBUF_N];
} wbuf;

/* A mark session: one marker's right to mark, from mode_enter to mode_leave
 * (share.c). Mark-bit regions it owns carry its tag; other markers ask it to
 * share one through `req`. */
#define TC_MARK_SESSIONS 64
#define TC_MARK_REQ 60
struct mark_sess {
    _Alignas(64) _Atomic uint32_t tag; /* the open session's tag, 0 when closed (its owner) */
    _Atomic int lock;                  /* guards req and nreq (a spin lock, a leaf: held for a few stores) */
    _Atomic uint32_t nreq;
    _Atomic uint32_t *req[TC_MARK_REQ]; /* owner-table entries others want shared */
};

typedef struct markctx markctx;
typedef enum { MARK_EMPTY, MARK_MORE, MARK_BUSY } mark_result;
typedef struct mpar mpar;

/* drain.c: a marker and its loop */
markctx *mark_new(tc_heap *h, bool concurrent, bool check);
void mark_free(markctx *c);        /* leftover work goes back to the global queue */
void mark_flush(markctx *c);       /* the same, and c stays usable */
bool mark_drain(markctx *c, int64_t budget); /* true when no work is left anywhere */
mark_result mark_drain_assist(markctx *c, int64_t budget, uint64_t wait_ns);
tc_heap *mark_owner(const markctx *c);
uint64_t mark_bytes(const markctx *c);
uint64_t mark_count(const markctx *c);
void mark_blacken(markctx *c, uintptr_t p);  /* test hook */
void mark_debug_pair(markctx *c, int64_t slice); /* test hook: c's work by two markers taking turns */

/* greyq.c: the global grey queue */
void grey_put(tc_heap *h, const uintptr_t *e, size_t n);
void grey_flush_mutator(tc_mutator *m);
bool grey_empty(tc_heap *h);
void grey_each(tc_heap *h, void (*fn)(void *ud, uintptr_t p), void *ud); /* under grey_lock: the checkers */
void grey_free_all(tc_heap *h);

/* markroots.c: roots, and the rescan after an overflow */
void mark_push_handles(markctx *c);   /* concurrent with mutators: no pause */
void mark_push_locals(markctx *c);    /* world stopped */
void mark_push_children(markctx *c, uintptr_t p); /* push p's referents, do not mark p */
void mark_rescan_locals(markctx *c);  /* world stopped: unmarked locals (after grey_overflow) */
void mark_rescan_roots(markctx *c);   /* world stopped, no marker running: every unmarked root (Dijkstra) */
void mark_rescan(markctx *c);         /* unmarked handles, finalizer roots, children of marked objects */

/* checkmark.c: the stop-the-world mark */
bool mark_heap(tc_heap *h, bool check); /* stw: roots + drain; false: no memory, nothing marked */
bool mark_check_bitmap(tc_heap *h);     /* every arena has its check bitmap (zero outside a check); false: no memory */
void mark_keep_all(tc_heap *h);         /* stw: every allocated object counts as marked */

/* workers.c: parallel mark workers */
bool mark_quiet(tc_heap *h); /* no marker holds work and the global queue is empty */
mpar *mark_par_new(tc_heap *h, int nworkers);   /* helper mark workers; NULL for one */
void mark_par_free(mpar *par);
uint64_t mark_drain_parallel(mpar *par, markctx *c); /* a round with every worker (par NULL: alone); the helpers' CPU ns */
void mark_par_fork_lock(mpar *par);    /* fork.c: take / release the workers' lock around fork */
void mark_par_fork_unlock(mpar *par);
void mark_par_forget(mpar *par);       /* in a fork's child: free without joining (no threads) */
#pragma GCC visibility pop
#endif
