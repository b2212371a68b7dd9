/*
 * special.h — records attached to one object (special.c; Go's "specials"):
 * finalizers, cleanups, weak references, pins, and the quarantine of an
 * object freed with tc_obj_free; and the queue of due callbacks.
 *
 * Invariants:
 *  - every special is on its object's span's list and on the heap's list of
 *    all specials; both lists, every field of a special, h->ready_* and a
 *    weak reference's target are written under special_lock only;
 *  - a special of an object is looked at by that span's sweep before the
 *    span's bits are swept (special_sweep), so a finalizer, cleanup or weak
 *    reference is decided exactly once per death;
 *  - a finalizer's or cleanup's queue record is made with its special: a
 *    sweep allocates nothing (only a finalizer's root may fail, and then
 *    the object stays alive with its finalizer, due again next cycle);
 *  - a queued finalizer holds a root (roots_new_global) until the host
 *    takes it: the object stays alive until its finalizer has run;
 *  - nothing here calls the host: due callbacks wait for tc_take_ready.
 * Lock order: special_lock -> roots_lock (a due finalizer's root), never
 * the other way (heap.h's table).
 */
#ifndef TC_SPECIAL_H
#define TC_SPECIAL_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "span.h"
#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

enum special_kind { SP_FINALIZER = 1, SP_CLEANUP, SP_WEAK, SP_PIN, SP_FREED };

/* A special record attached to one object: kept on its span's list (so a
 * sweep sees the ones of the span it sweeps) and on the heap's list of all
 * specials. Every field under heap->special_lock. */
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
    special *sp;                   /* its special, NULL once cleared (special_lock) */
};

/* A due finalizer or cleanup, waiting for the host (special_lock). */
typedef struct ready {
    struct ready *next;
    tc_ready_kind kind;
    tc_token token;
    tc_root *root;                 /* finalizer: keeps the object alive until taken */
} ready;

typedef struct markctx markctx;

/* special.c */
void special_push_finalizer_roots(markctx *c);   /* mark phase: referents of finalizable objects */
void special_sweep(tc_heap *h, span *s);         /* before a span's bits are swept (special_lock taken) */
void special_free_all(tc_heap *h);               /* at close */
#pragma GCC visibility pop
#endif
