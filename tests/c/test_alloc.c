/* test_alloc.c — the allocation paths (alloc.h, alloc.c) on real heaps. */
#include <string.h>

#include "tc_test.h"

/* The shapes: a GCBench node (34 bytes), one past the inline-cleared size
 * of old (108 bytes), a slot-only object, and a large small one. */
static const size_t shapes[][2] = {{2, 8}, {0, 100}, {3, 0}, {1, 500}};
enum { NSHAPES = 4, PER = 700, KEEP_EVERY = 3 };

/* dirty — fill o's slots with ints and its payload with 0xab. */
static void dirty(tc_mutator *m, tc_obj *o, size_t nslots, size_t size)
{
    for (size_t i = 0; i < nslots; i++)
        tc_store(m, o, i, tc_int(-7));
    memset(tc_payload(o), 0xab, size);
}

static bool is_clean(tc_obj *o, size_t nslots, size_t size)
{
    for (size_t i = 0; i < nslots; i++)
        if (tc_load(o, i).kind != TC_NIL)
            return false;
    const unsigned char *p = tc_payload(o);
    for (size_t i = 0; i < size; i++)
        if (p[i])
            return false;
    return tc_obj_nslots_raw(o) == nslots && tc_obj_size_raw(o) == size;
}

static bool is_dirty(tc_obj *o, size_t nslots, size_t size)
{
    for (size_t i = 0; i < nslots; i++) {
        tc_value v = tc_load(o, i);
        if (v.kind != TC_INT || v.u.i != -7)
            return false;
    }
    const unsigned char *p = tc_payload(o);
    for (size_t i = 0; i < size; i++)
        if (p[i] != 0xab)
            return false;
    return true;
}

/* Slots are cleared a group at a time when a mutator loads the group, not
 * one by one as they are handed out (alloc.h). Reused slots must read as
 * zero, in groups that are all free (spans swept empty) and in groups with
 * survivors between the free runs (every third object kept), and the
 * clearing must not touch a survivor. */
TEST(reused_slots_are_zero_and_survivors_untouched)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    tc_obj **loc = tc_locals(m, 1);
    CHECK(loc);
    loc[0] = tc_alloc(m, NSHAPES * (PER / KEEP_EVERY + 1), 0); /* the survivors */
    CHECK(loc[0]);
    size_t kept = 0;
    for (int s = 0; s < NSHAPES; s++)
        for (int i = 0; i < PER; i++) {
            tc_obj *o = tc_alloc(m, shapes[s][0], shapes[s][1]);
            CHECK(o);
            dirty(m, o, shapes[s][0], shapes[s][1]);
            if (i % KEEP_EVERY == 0)
                tc_store(m, loc[0], kept++, tc_ref(o));
        }
    tc_leave(m);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    m = tc_enter(h);
    CHECK(m);
    for (int round = 0; round < 2; round++) /* the freed slots, then fresh ones */
        for (int s = 0; s < NSHAPES; s++)
            for (int i = 0; i < PER; i++) {
                tc_obj *o = tc_alloc(m, shapes[s][0], shapes[s][1]);
                CHECK(o);
                CHECK(is_clean(o, shapes[s][0], shapes[s][1]));
                dirty(m, o, shapes[s][0], shapes[s][1]);
            }
    kept = 0;
    for (int s = 0; s < NSHAPES; s++)
        for (int i = 0; i < PER; i += KEEP_EVERY) {
            tc_value v = tc_load(loc[0], kept++);
            CHECK(v.kind == TC_REF && is_dirty(v.u.ref, shapes[s][0], shapes[s][1]));
        }
    tc_locals_pop(m, 1);
    tc_leave(m);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}
