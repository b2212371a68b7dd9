/* test_alloc.c — the allocation paths (alloc.h, alloc.c) on real heaps. */
#include <string.h>

#include "check.h"
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

/* holder — a heap with no automatic cycle, entered, whose one local is an
 * object of n slots that keeps what a test stores in it; NULL on failure. */
static tc_obj **holder(size_t n, tc_heap **hp, tc_mutator **mp)
{
    tc_heap *h = *hp = new_heap_gogc(-1);
    tc_mutator *m = *mp = h ? tc_enter(h) : NULL;
    tc_obj **loc = m ? tc_locals(m, 1) : NULL;
    if (loc && !(loc[0] = tc_alloc(m, n, 0)))
        loc = NULL;
    return loc;
}

/* holder_close — leaves the holder's heap and destroys it; what the
 * verifier said of it just before. */
static tc_status holder_close(tc_heap *h, tc_mutator *m)
{
    tc_locals_pop(m, 1);
    tc_leave(m);
    tc_status st = tc_heap_verify(h);
    if (st == TC_OK)
        tc_heap_destroy(h); /* a failed heap is left for the message */
    return st;
}

/* Slots are cleared a group at a time when a mutator loads the group, not
 * one by one as they are handed out (alloc.h). Reused slots must read as
 * zero, in groups that are all free (spans swept empty) and in groups with
 * survivors between the free runs (every third object kept), and the
 * clearing must not touch a survivor. */
TEST(reused_slots_are_zero_and_survivors_untouched)
{
    tc_heap *h;
    tc_mutator *m;
    tc_obj **loc = holder(NSHAPES * (PER / KEEP_EVERY + 1), &h, &m); /* the survivors */
    CHECK(loc);
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
    CHECK_OK(holder_close(h, m));
}

/* Objects up to 1 KiB whose fields are both below 1024 take the inline
 * path, every other shape a call further in (alloc.h's ALLOC_INLINE_MAX,
 * object.c's tc_alloc): at each edge of that split the object has its
 * shape, reads zero, overlaps no other, and a field past 32 bits is an
 * error that leaves the heap usable. */
TEST(shapes_at_the_inline_path_edges_are_whole_objects)
{
    static const size_t edge[][2] = {
        {0, 1015}, {0, 1016}, {0, 1017}, {0, 1023}, {0, 1024}, {0, 1025}, {112, 0}, {112, 8}, {113, 0},
        {1023, 0}, {1024, 0}, {2, 1023}, {2, 1024}, {3000, 5}, {0, 32700}, {0, 40000}, {2, 8}};
    enum { NEDGE = sizeof edge / sizeof edge[0], ROUNDS = 3 };
    tc_heap *h;
    tc_mutator *m;
    tc_obj **loc = holder(NEDGE * ROUNDS, &h, &m);
    CHECK(loc);
    for (int r = 0; r < ROUNDS; r++)
        for (size_t e = 0; e < NEDGE; e++) {
            tc_obj *o = tc_alloc(m, edge[e][0], edge[e][1]);
            CHECK(o);
            CHECK(is_clean(o, edge[e][0], edge[e][1]));
            dirty(m, o, edge[e][0], edge[e][1]);
            tc_store(m, loc[0], (size_t)r * NEDGE + e, tc_ref(o));
        }
    CHECK(tc_alloc(m, (size_t)1 << 32, 0) == NULL && strstr(tc_errmsg(), "nslots"));
    CHECK(tc_alloc(m, 0, (size_t)1 << 32) == NULL && strstr(tc_errmsg(), "size"));
    for (int r = 0; r < ROUNDS; r++)
        for (size_t e = 0; e < NEDGE; e++) {
            tc_value v = tc_load(loc[0], (size_t)r * NEDGE + e);
            CHECK(v.kind == TC_REF && is_dirty(v.u.ref, edge[e][0], edge[e][1]));
        }
    CHECK_OK(holder_close(h, m));
}

/* The page heap finds a free run in the first non-empty bucket that fits
 * (span.c's freemask): runs of 9 and 11 pages and one of 300, freed
 * between kept objects so that they cannot coalesce, are where the next
 * objects of 9, 10 and 11 pages and of 200 pages go, exact sizes first, and
 * the verifier finds each bucket's bit equal to "not empty". */
TEST(free_runs_are_found_by_size_before_new_pages)
{
    enum { NRUN = 3 };
    static const size_t pages[NRUN] = {9, 11, 300};
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    tc_obj **loc = tc_locals(m, NRUN + 1);
    CHECK(loc);
    uintptr_t at[NRUN];
    for (int i = 0; i < NRUN; i++) {
        tc_obj *o = tc_alloc(m, 0, pages[i] * 8192 - 64); /* header and all: pages[i] pages */
        CHECK(o);
        at[i] = (uintptr_t)o;
        loc[i] = tc_alloc(m, 0, 40000); /* a kept neighbour: no two freed runs touch */
        CHECK(loc[i]);
    }
    tc_leave(m);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    m = tc_enter(h);
    CHECK(m);
    tc_obj *nine = tc_alloc(m, 0, 9 * 8192 - 64);
    loc[NRUN] = nine;
    tc_obj *eleven = tc_alloc(m, 0, 11 * 8192 - 64);
    CHECK((uintptr_t)nine == at[0] && (uintptr_t)eleven == at[1]);
    tc_obj *ten = tc_alloc(m, 0, 10 * 8192 - 64), *big = tc_alloc(m, 0, 200 * 8192 - 64);
    CHECK((uintptr_t)big == at[2] || (uintptr_t)ten == at[2]); /* the only run left that fits either */
    tc_locals_pop(m, NRUN + 1);
    tc_leave(m);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* During mark a new object is black, and the fast path looks at neither the
 * phase nor a black bit: the free slots of a cached group are blackened
 * when the group is loaded during mark, or by the start pause for groups
 * cached before it (alloc.h). An object from a group cached before the
 * mark, objects from groups loaded during it, from a span cached during
 * it, and a large one must all be black; after the sweep the blackened
 * slots never handed out are free and uncounted, and objects allocated
 * once the mark is over are not black. */
TEST(allocated_during_mark_are_black_whatever_group_they_come_from)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heap: once */
    enum { CHAIN = 300 };
    tc_heap *h = manual_heap(TC_BARRIER_HYBRID); /* the default barrier */
    CHECK(h);
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    tc_obj **loc = tc_locals(m, 5);
    CHECK(loc);
    CHECK((loc[0] = tc_alloc(m, 2, 8)) != NULL); /* caches a span: 63 free slots left in its group */
    CHECK(collector_debug_color(loc[0]) == 0);
    tc_leave(m); /* the cycle's calls run outside a raw section; the locals and the cache stay */
    CHECK_OK(tc_heap_gc_start(h));
    CHECK(collector_debug_phase(h) == 1); /* mark */
    CHECK(tc_enter(h) == m);
    CHECK((loc[1] = tc_alloc(m, 2, 8)) != NULL); /* the fast path, from the group cached before */
    CHECK(collector_debug_color(loc[1]) == 2);
    CHECK((loc[2] = tc_alloc(m, 2, 8)) != NULL); /* groups loaded during the mark */
    for (int i = 0; i < CHAIN; i++) {
        tc_obj *n = tc_alloc(m, 2, 8);
        CHECK(n && collector_debug_color(n) == 2);
        tc_store(m, n, 0, tc_ref(loc[2]));
        loc[2] = n;
    }
    CHECK((loc[3] = tc_alloc(m, 5, 40)) != NULL); /* a class first cached during the mark */
    CHECK(collector_debug_color(loc[3]) == 2);
    CHECK((loc[4] = tc_alloc(m, 0, (size_t)1 << 20)) != NULL); /* large: no group */
    CHECK(collector_debug_color(loc[4]) == 2);
    tc_leave(m);
    for (uint64_t marked = 1; marked;)
        CHECK_OK(tc_heap_gc_step(h, 64, &marked));
    uint64_t freed = 0;
    CHECK_OK(tc_heap_gc_finish(h, &freed));
    CHECK(freed == 0); /* every object is in a local */
    tc_stats st;
    CHECK_OK(tc_heap_stats(h, &st));
    CHECK(st.heap_objects == 5 + CHAIN); /* slots blackened but never handed out are not objects */
    CHECK_OK(tc_heap_verify(h));
    CHECK(tc_enter(h) == m);
    tc_obj *after = tc_alloc(m, 2, 8);
    CHECK(after && collector_debug_color(after) == 0);
    int n = 0;
    for (tc_obj *o = loc[2]; o; o = tc_load(o, 0).u.ref)
        n++;
    CHECK(n == CHAIN + 1);
    tc_locals_pop(m, 5);
    tc_leave(m);
    tc_heap_destroy(h);
}

/* Every small class, allocated black: group_black sets a group's black
 * bits a word at a time from its slots' stride (alloc.c), so each class
 * (strides of 1 to 128 words) hands out black objects from the group the
 * start pause found begun (one object allocated before it), from whole
 * groups loaded during the mark, and from a span's last, shorter group;
 * and the slots blackened but never handed out are not objects after. */
TEST(allocated_during_mark_are_black_in_every_small_class)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heap: once */
    enum { NSIZE = 1024 / 8, PER = 200 }; /* PER > 64 + 64: a begun group, then whole ones */
    tc_heap *h = manual_heap(TC_BARRIER_HYBRID); /* the default barrier */
    CHECK(h);
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    for (size_t k = 0; k < NSIZE; k++) /* before the mark: each class's first group begun */
        CHECK(tc_alloc(m, 0, k * 8) != NULL);
    tc_leave(m);
    CHECK_OK(tc_heap_gc_start(h));
    CHECK(collector_debug_phase(h) == 1); /* mark */
    CHECK(tc_enter(h) == m);
    int white = 0;
    for (size_t k = 0; k < NSIZE; k++)
        for (int i = 0; i < PER; i++) {
            tc_obj *o = tc_alloc(m, 0, k * 8);
            CHECK(o);
            white += collector_debug_color(o) != 2;
        }
    CHECK(white == 0);
    tc_leave(m);
    for (uint64_t marked = 1; marked;)
        CHECK_OK(tc_heap_gc_step(h, 64, &marked));
    uint64_t freed = 0;
    CHECK_OK(tc_heap_gc_finish(h, &freed));
    CHECK(freed == NSIZE); /* the white ones from before the mark; the black ones live a cycle */
    tc_stats st;
    CHECK_OK(tc_heap_stats(h, &st));
    CHECK(st.heap_objects == (uint64_t)NSIZE * PER && st.mallocs == (uint64_t)NSIZE * (PER + 1));
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* The sweep reads a span's black bits only if set_black flagged the span
 * (span.h: `black`), and clears the flag with the bits: objects allocated
 * black and never referenced live through their cycle, then the next
 * cycle frees every one of them (a stale black bit would keep them). The
 * planted BLACK_UNFLAGGED bug (no flag) frees them in the first cycle. */
TEST(allocated_black_and_dropped_is_freed_by_the_next_cycle)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heap: once */
    enum { N = 500 }; /* several groups of the class */
    tc_heap *h = manual_heap(TC_BARRIER_HYBRID);
    CHECK(h);
    CHECK_OK(tc_heap_gc_start(h));
    CHECK(collector_debug_phase(h) == 1); /* mark */
    tc_mutator *m = tc_enter(h);
    CHECK(m);
    for (int i = 0; i < N; i++) {
        tc_obj *o = tc_alloc(m, 2, 8);
        CHECK(o && collector_debug_color(o) == 2);
    }
    tc_leave(m);
    uint64_t freed = 1;
    for (int cycle = 0; cycle < 2; cycle++) {
        if (cycle)
            CHECK_OK(tc_heap_gc_start(h));
        for (uint64_t marked = 1; marked;)
            CHECK_OK(tc_heap_gc_step(h, 64, &marked));
        CHECK_OK(tc_heap_gc_finish(h, &freed));
        CHECK(freed == (cycle ? (uint64_t)N : 0)); /* black for one cycle, then garbage */
        CHECK_OK(tc_heap_verify(h));
    }
    tc_stats st;
    CHECK_OK(tc_heap_stats(h, &st));
    CHECK(st.heap_objects == 0);
    tc_heap_destroy(h);
}
