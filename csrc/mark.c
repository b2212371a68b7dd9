/*
 * mark.c — tri-color marking with an explicit grey stack.
 *
 * Colours: an object is black once its mark bit is set and it has been
 * scanned, grey while its address sits on the mark stack or in the prefetch
 * ring, white otherwise. Marking never recurses: a 10-million-node list uses
 * a stack of one entry, not 10 million C frames.
 *
 * Marking is memory-latency bound, so the drain loop keeps several objects
 * in flight: an address popped from the stack first goes through a small
 * FIFO ring (PREFETCH_DEPTH entries) and is prefetched — the object and its
 * mark-bit word — so that by the time it leaves the ring and is tested and
 * scanned, its cache lines are on their way. Addresses are pushed without
 * testing their mark bit (that test would be an unprefetched miss); an
 * already-marked address is dropped when it leaves the ring.
 *
 * Invariant kept (the strong tri-color invariant, trivially, since the world
 * is stopped for the "stw" collector): no black object points to a white
 * one once the stack and ring are empty.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "platform.h"

#define STACK_CHUNK (1u << 16) /* entries per mark-stack chunk */
#define PREFETCH_DEPTH 8       /* objects in flight */

typedef struct stack_chunk {
    struct stack_chunk *prev;
    uintptr_t e[STACK_CHUNK];
} stack_chunk;

struct markstack {
    stack_chunk *top;   /* current chunk */
    size_t n;           /* entries used in top */
    stack_chunk *spare; /* one free chunk kept to avoid thrashing at a boundary */
    bool oom;           /* a chunk could not be allocated: fall back to rescans */
};

static bool stack_grow(markstack *s)
{
    stack_chunk *c = s->spare;
    if (c)
        s->spare = NULL;
    else if (!(c = malloc(sizeof *c)))
        return false;
    c->prev = s->top;
    s->top = c;
    s->n = 0;
    return true;
}

static inline void push(markstack *s, uintptr_t p)
{
    if (__builtin_expect(s->n == STACK_CHUNK, 0) && !stack_grow(s)) {
        s->oom = true;
        return;
    }
    s->top->e[s->n++] = p;
}

static inline bool pop(markstack *s, uintptr_t *p)
{
    if (__builtin_expect(s->n == 0, 0)) {
        stack_chunk *c = s->top;
        if (!c->prev)
            return false;
        s->top = c->prev;
        s->n = STACK_CHUNK;
        free(s->spare);
        s->spare = c;
    }
    *p = s->top->e[--s->n];
    return true;
}

/* scan — push every reference held by object p. */
static inline void scan(markstack *s, uintptr_t p)
{
    const tc_obj *o = (const tc_obj *)p;
    uint32_t n = obj_nslots(o);
    if (!n)
        return;
    _Atomic uint64_t *w = obj_words(o);
    _Atomic uint8_t *t = obj_tags(o);
    for (uint32_t i = 0; i < n; i++)
        if (atomic_load_explicit(&t[i], memory_order_acquire) == TC_REF)
            push(s, atomic_load_explicit(&w[i], memory_order_relaxed));
}

/* drain — mark everything reachable from the stack's contents. Returns
 * the number of objects newly marked. */
static uint64_t drain(markstack *s, bool check)
{
    uintptr_t ring[PREFETCH_DEPTH];
    unsigned head = 0, count = 0;
    uint64_t marked = 0;
    for (;;) {
        uintptr_t p;
        while (count < PREFETCH_DEPTH && pop(s, &p)) {
            uint64_t bit;
            __builtin_prefetch((const void *)p);
            __builtin_prefetch(mark_word(arena_of(p), p, check, &bit));
            ring[(head + count++) % PREFETCH_DEPTH] = p;
        }
        if (!count)
            return marked;
        p = ring[head];
        head = (head + 1) % PREFETCH_DEPTH;
        count--;
        uint64_t bit, *mw = mark_word(arena_of(p), p, check, &bit);
        if (*mw & bit)
            continue;
        *mw |= bit;
        marked++;
        scan(s, p);
    }
}

/* push_roots — the handle table and every mutator's local roots. */
static void push_roots(tc_heap *h, markstack *s)
{
    for (root_chunk *c = h->root_chunks; c; c = c->next)
        for (size_t i = 0; i < ROOT_CHUNK; i++) {
            uintptr_t v = atomic_load_explicit(&c->slot[i], memory_order_acquire);
            if (v && !(v & 1))
                push(s, v);
        }
    for (tc_mutator *m = h->mutators; m; m = m->next)
        for (size_t i = 0; i < m->nlocals; i++)
            if (m->locals[i])
                push(s, (uintptr_t)m->locals[i]);
}

static bool ensure_checkbits(tc_heap *h)
{
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        if (!a->checkbits && !(a->checkbits = plat_map_lazy(TC_ARENA_SIZE / 64)))
            return false;
    }
    return true;
}

/* mark_heap — mark everything reachable from the roots into the mark bits
 * (or, with `check`, into the checkmark bits). World stopped. Returns the
 * number of objects marked. */
uint64_t mark_heap(tc_heap *h, bool check)
{
    if (check && !ensure_checkbits(h))
        return 0;
    markstack s = {0};
    if (!stack_grow(&s))
        return 0;
    push_roots(h, &s);
    uint64_t marked = drain(&s, check);
    while (s.top) {
        stack_chunk *c = s.top;
        s.top = c->prev;
        free(c);
    }
    free(s.spare);
    return marked;
}
