/*
 * greyq.c — the global grey queue and the markers' own stacks: where grey
 * work waits and how it moves between threads.
 *
 * Grey work moves between threads in buffers of WBUF_N addresses: mutators
 * shading through the write barrier fill a small private buffer and flush it
 * to the global queue (grey_lock) when it fills, when they leave a heap call
 * and when they park; markers take buffers from the global queue when their
 * own stack runs dry. A marker that sees another one hungry (mark_hungry:
 * an idle mark worker or an assist without work) while the global queue is
 * empty gives it half its stack (donate). With the world stopped every
 * mutator buffer and every assist's stack is empty, so "global queue empty
 * and the marker's stack empty" means marking is done.
 *
 * A marker's own stack is a chain of STACK_CHUNK-entry chunks (markctx.h's
 * push and pop); one spare chunk is kept so that a stack oscillating at a
 * chunk boundary does not allocate and free on every push and pop.
 *
 * Invariants:
 *  - h->grey and h->grey_spare are read and written under grey_lock only;
 *    grey_bufs is the number of buffers on h->grey (written under grey_lock,
 *    read without it as a hint: a stale 0 only delays a marker's refill);
 *  - a buffer on h->grey holds 1..WBUF_N candidates, one on h->grey_spare
 *    none that matter;
 *  - with no memory for a buffer, grey_put drops its candidates and sets
 *    grey_overflow before it returns (markroots.c finds them again).
 */
#include <stdlib.h>
#include <string.h>

#include "markctx.h"
#include "plant.h"
#include "platform.h"

static wbuf *wbuf_get(tc_heap *h)
{
    wbuf *b = h->grey_spare;
    if (b)
        h->grey_spare = b->next;
    else
        b = plat_malloc(sizeof *b);
    if (b)
        b->n = 0;
    return b;
}

/* grey_put — append n candidates to the global queue; with no memory for
 * a buffer, drop them and set grey_overflow (markroots.c). */
void grey_put(tc_heap *h, const uintptr_t *e, size_t n)
{
    plat_lock(&h->grey_lock);
    while (n) {
        wbuf *b = h->grey;
        if (!b || b->n == WBUF_N) {
            b = wbuf_get(h);
            if (!b) {
                atomic_store(&h->grey_overflow, 1);
                break;
            }
            b->next = h->grey;
            h->grey = b;
            atomic_fetch_add(&h->grey_bufs, 1);
        }
        size_t k = WBUF_N - b->n < n ? WBUF_N - b->n : n;
        memcpy(b->e + b->n, e, k * sizeof *e);
        b->n += k;
        e += k;
        n -= k;
    }
    pthread_mutex_unlock(&h->grey_lock);
}

/* grey_take — one buffer of candidates copied into out (at most WBUF_N);
 * returns how many. */
size_t grey_take(tc_heap *h, uintptr_t *out)
{
    if (!atomic_load_explicit(&h->grey_bufs, memory_order_acquire))
        return 0;
    plat_lock(&h->grey_lock);
    wbuf *b = h->grey;
    size_t n = 0;
    if (b) {
        h->grey = b->next;
        atomic_fetch_sub(&h->grey_bufs, 1);
        n = b->n;
        memcpy(out, b->e, n * sizeof *out);
        b->next = h->grey_spare;
        h->grey_spare = b;
    }
    pthread_mutex_unlock(&h->grey_lock);
    return n;
}

bool grey_empty(tc_heap *h) { return atomic_load_explicit(&h->grey_bufs, memory_order_acquire) == 0; }

void grey_flush_mutator(tc_mutator *m)
{
    if (m->gbuf_n) {
        grey_put(m->heap, m->gbuf, m->gbuf_n);
        m->gbuf_n = 0;
    }
}

/* grey_each — fn(ud, p) for every candidate p on the global queue, under
 * grey_lock (the checkers: the world stopped, every marker flushed). */
void grey_each(tc_heap *h, void (*fn)(void *ud, uintptr_t p), void *ud)
{
    plat_lock(&h->grey_lock);
    for (wbuf *b = h->grey; b; b = b->next)
        for (size_t i = 0; i < b->n; i++)
            fn(ud, b->e[i]);
    pthread_mutex_unlock(&h->grey_lock);
}

void grey_free_all(tc_heap *h)
{
    plat_lock(&h->grey_lock);
    for (int pass = 0; pass < 2; pass++) {
        wbuf *b = pass ? h->grey_spare : h->grey;
        while (b) {
            wbuf *next = b->next;
            free(b);
            b = next;
        }
    }
    h->grey = h->grey_spare = NULL;
    atomic_store(&h->grey_bufs, 0);
    pthread_mutex_unlock(&h->grey_lock);
}

/* ---- the marker's own stack ---- */

/* stack_grow — a new top chunk for c's stack (the spare one if kept); false
 * if there is no memory for one. */
bool stack_grow(markctx *c)
{
    stack_chunk *k = c->spare;
    if (k)
        c->spare = NULL;
    else if (!(k = plat_malloc(sizeof *k)))
        return false;
    k->prev = c->top;
    c->top = k;
    c->n = 0;
    return true;
}
