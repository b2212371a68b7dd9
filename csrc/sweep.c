/*
 * sweep.c — sweeping by bitmaps: mark bits become alloc bits.
 *
 * For each in-use span the mark bits of its object slots (every
 * elemsize/8-th bit of the arena's mark bitmap) are gathered into the span's
 * alloc bits; slots that were allocated and are not marked are freed by that
 * very copy. The span's stretch of the mark bitmap is then cleared for the
 * next cycle. A span left empty goes back to the page heap; one with room
 * goes on its class's partial list, a full one on the full list.
 *
 * Runs with the world stopped and every mutator cache flushed (the "stw"
 * collector); the concurrent sweeper of the next issue sweeps the same way,
 * span by span.
 */
#include <string.h>

#include "heap.h"

typedef struct sweep_acc {
    uint64_t freed_objects, freed_bytes, live_bytes, live_objects;
} sweep_acc;

/* sweep_span — sweep one span; returns true if it is now empty. */
static bool sweep_span(tc_heap *h, span *s, sweep_acc *acc)
{
    arena *a = arena_of(s->base);
    uint64_t *mb = a->markbits + ((s->base - a->base) >> 9); /* 64 bits per 512 bytes */
    size_t words = ((size_t)s->npages << TC_PAGE_SHIFT) >> 9;
    uint64_t newbits[SPAN_MAX_ELEMS / 64] = {0};
    uint32_t live = 0, freed = 0;
    if (s->elemsize == 8) {
        memcpy(newbits, mb, span_bitmap_words(s->nelems) * 8);
    } else {
        size_t stride = s->elemsize >> 3, bi = 0;
        for (uint32_t k = 0; k < s->nelems; k++, bi += stride)
            if ((mb[bi >> 6] >> (bi & 63)) & 1)
                newbits[k >> 6] |= (uint64_t)1 << (k & 63);
    }
    for (size_t w = 0; w < span_bitmap_words(s->nelems); w++) {
        live += (uint32_t)__builtin_popcountll(newbits[w]);
        freed += (uint32_t)__builtin_popcountll(s->allocbits[w] & ~newbits[w]);
        s->allocbits[w] = newbits[w];
    }
    if (s->sizeclass == 0)
        mb[0] = 0; /* only the object's first bit can be set */
    else
        memset(mb, 0, words * 8);
    size_t esize = s->sizeclass ? s->elemsize : ((size_t)s->npages << TC_PAGE_SHIFT);
    acc->freed_objects += freed;
    acc->freed_bytes += (uint64_t)freed * esize;
    acc->live_objects += live;
    acc->live_bytes += (uint64_t)live * esize;
    s->nalloc = live;
    return live == 0;
}

static void list_push(span **head, span *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

/* sweep_list — sweep every span of a detached list, refiling each. */
static void sweep_list(tc_heap *h, span *list, int c, sweep_acc *acc)
{
    while (list) {
        span *s = list;
        list = s->next;
        s->next = s->prev = NULL;
        if (sweep_span(h, s, acc)) {
            pages_free(h, s);
        } else if (c == 0) {
            list_push(&h->large, s);
        } else if (s->nalloc < s->nelems) {
            span_refill_cache(s);
            list_push(&h->partial[c], s);
        } else {
            list_push(&h->full[c], s);
        }
    }
}

/* sweep_all — sweep the whole heap (world stopped, caches flushed). */
void sweep_all(tc_heap *h)
{
    sweep_acc acc = {0};
    pthread_mutex_lock(&h->lock);
    for (int c = 1; c < sc_count; c++) {
        span *p = h->partial[c], *f = h->full[c];
        h->partial[c] = h->full[c] = NULL;
        sweep_list(h, p, c, &acc);
        sweep_list(h, f, c, &acc);
    }
    span *l = h->large;
    h->large = NULL;
    sweep_list(h, l, 0, &acc);
    pthread_mutex_unlock(&h->lock);
    h->frees += acc.freed_objects;
    h->freed_bytes += acc.freed_bytes;
    h->heap_marked = acc.live_bytes;
}
