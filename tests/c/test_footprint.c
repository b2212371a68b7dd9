/* test_footprint.c — heap_debug_footprint (csrc/footprint.h): its parts
 * sum to heap_sys, it counts every object once and, between a mark's end
 * and the sweep, the garbage the sweep will free. A manual heap, so that
 * nothing allocates or marks while a snapshot is taken and the counts are
 * exact. Structural facts only. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "footprint.h"
#include "heap.h"
#include "tc_test.h"

enum { NOBJ = 3000 };

/* sums_hold — the identities footprint.h promises, and per class: its
 * span bytes are its slots (full or free) plus its tails. `quiet`: nothing
 * ran beside the snapshot, so the process's RSS (read after the walk) holds
 * what mincore found too. */
static void sums_hold(const tc_footprint *f, bool quiet, int *failed_)
{
    CHECK(f->inuse_bytes + f->free_bytes + f->uncarved_bytes + f->scav_bytes == f->heap_sys);
    uint64_t bytes = 0, obj = 0, garbage = 0;
    for (int c = 0; c < TC_FOOTPRINT_CLASSES; c++) {
        const tc_footprint_class *k = &f->cls[c];
        bytes += k->bytes;
        if (c == 0) {
            CHECK(k->objects == k->spans); /* one large object a span */
            obj += k->bytes;
            continue;
        }
        CHECK(k->garbage <= k->objects);
        CHECK(k->bytes == (k->objects + k->free_slots) * k->size + k->tail);
        obj += k->objects * k->size;
        garbage += k->garbage * k->size;
    }
    CHECK(bytes == f->inuse_bytes);
    CHECK(obj == f->obj_bytes);
    CHECK(garbage == f->garbage_bytes);
    CHECK(f->arena_rss > 0 && f->arena_rss <= f->heap_sys);
    CHECK(f->bits_rss > 0 && f->spanmap_rss > 0 && f->span_structs > 0);
    CHECK(!quiet || f->process_rss >= f->arena_rss + f->bits_rss);
}

/* class_with — the first class holding at least `at_least` objects (here
 * the nodes: 2 slots and an 8-byte payload, 40 bytes as in the pause
 * workload), -1 if none does. */
static int class_with(const tc_footprint *f, uint64_t at_least)
{
    for (int c = 1; c < TC_FOOTPRINT_CLASSES; c++)
        if (f->cls[c].objects >= at_least)
            return c;
    return -1;
}

TEST(footprint_parts_sum_and_count_the_garbage_a_sweep_frees)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heap: once */
    tc_heap *h = manual_heap(TC_BARRIER_HYBRID); /* the default barrier */
    CHECK(h);
    tc_root *top;
    CHECK_OK(tc_obj_new(h, NOBJ, 0, NULL, &top));
    for (uint32_t i = 0; i < NOBJ; i++) {
        tc_root *o;
        CHECK_OK(tc_obj_new(h, 2, 8, NULL, &o));
        CHECK_OK(tc_slot_set(h, top, i, tc_ref(tc_root_obj(o))));
        tc_root_release(h, o);
    }
    uint64_t freed, marked;
    CHECK_OK(tc_heap_gc_start(h));
    CHECK_OK(tc_heap_gc_finish(h, &freed));
    tc_footprint f;
    CHECK_OK(heap_debug_footprint(h, &f));
    sums_hold(&f, true, failed_);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    uint64_t objects = 0;
    for (int c = 0; c < TC_FOOTPRINT_CLASSES; c++)
        objects += f.cls[c].objects;
    CHECK(objects == s.heap_objects);
    CHECK(f.obj_bytes == s.heap_alloc);
    CHECK(f.garbage_bytes == 0 && f.unswept_bytes == 0 && f.phase == 0);
    int c = class_with(&f, NOBJ);
    CHECK(c > 0 && f.cls[c].size == 40 && f.cls[c].objects == NOBJ);

    /* drop every other node, mark to the end: the sweep has not run yet */
    for (uint32_t i = 0; i < NOBJ; i += 2)
        CHECK_OK(tc_slot_set(h, top, i, tc_nil()));
    CHECK_OK(tc_heap_gc_start(h));
    do
        CHECK_OK(tc_heap_gc_step(h, 1 << 20, &marked));
    while (marked);
    CHECK_OK(heap_debug_footprint(h, &f));
    sums_hold(&f, true, failed_);
    CHECK(f.phase == 2);
    CHECK(f.cls[c].garbage == NOBJ / 2);
    CHECK(f.cls[c].unswept_spans == f.cls[c].spans && f.unswept_bytes == f.inuse_bytes);
    CHECK(f.cls[c].objects == NOBJ); /* still allocated until swept */

    CHECK_OK(tc_heap_gc_finish(h, &freed));
    CHECK_OK(heap_debug_footprint(h, &f));
    sums_hold(&f, true, failed_);
    CHECK(f.garbage_bytes == 0 && f.unswept_bytes == 0);
    CHECK(f.cls[c].objects == NOBJ / 2 && f.cls[c].free_slots >= NOBJ / 2);
    tc_root_release(h, top);
    tc_heap_destroy(h);
}

typedef struct churn {
    tc_heap *h;
    tc_root *top;
    atomic_int done, failed;
} churn;

/* churn_run — allocate nodes and replace older ones in top's slots, so
 * that cycles run, spans are swept and reused beside the snapshots. */
static void *churn_run(void *arg)
{
    churn *c = arg;
    for (int i = 0; i < 60000 && !atomic_load(&c->failed); i++) {
        tc_root *o;
        if (tc_obj_new(c->h, 2, 8, NULL, &o) != TC_OK ||
            tc_slot_set(c->h, c->top, (uint32_t)(i % 512), tc_ref(tc_root_obj(o))) != TC_OK)
            atomic_store(&c->failed, 1);
        else
            tc_root_release(c->h, o);
    }
    atomic_store(&c->done, 1);
    return NULL;
}

/* Snapshots while another thread allocates and cycles run: the walk holds
 * the heap lock, so the page heap's parts still sum exactly, and the bit
 * counts, read relaxed, stay within each span (TSan: no race). */
TEST(footprint_while_the_heap_runs)
{
    churn c = {.h = new_heap_gogc(25)};
    CHECK(c.h);
    CHECK_OK(tc_obj_new(c.h, 512, 0, NULL, &c.top));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churn_run, &c) == 0);
    tc_footprint f;
    int snaps = 0;
    while (!atomic_load(&c.done) || snaps < 3) {
        if (heap_debug_footprint(c.h, &f) != TC_OK) {
            atomic_store(&c.failed, 1);
            break;
        }
        snaps++;
        sums_hold(&f, false, failed_);
        if (*failed_) {
            atomic_store(&c.failed, 1);
            break;
        }
    }
    pthread_join(t, NULL);
    CHECK(!*failed_ && !atomic_load(&c.failed));
    tc_root_release(c.h, c.top);
    tc_heap_destroy(c.h);
}

/* Every small class's span pays at most 1/256 of itself for its span
 * struct and 1/8 for its tail (sizeclass.c: with one-page spans the
 * structs were 1.6% of a heap of 40-byte nodes), and a heap of such
 * nodes shows it: its spans' tails and structs are that small. */
TEST(small_class_spans_carry_little_beside_their_objects)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* the table is per process */
    sizeclass_init();
    for (int c = 1; c < sc_count; c++) {
        uint64_t bytes = (uint64_t)sc_npages[c] * TC_PAGE_SIZE;
        CHECK(bytes >= 256 * sizeof(span));
        CHECK((bytes - (uint64_t)sc_nelems[c] * sc_size[c]) * 8 <= bytes);
    }
    int c40 = sizeclass_of(40);
    CHECK(sc_size[c40] == 40 && sc_nelems[c40] * 40 + 8 == sc_npages[c40] * TC_PAGE_SIZE); /* 8 bytes of tail */
}
