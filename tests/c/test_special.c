/* test_special.c — finalizers, cleanups, weak references and unsafe free,
 * with precise roots, under every collector (Go's semantics). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tc_test.h"

/* run_ready — run every due callback; counts[token]++; a finalizer's root is
 * released after "running" unless keep (resurrection) is given. */
static int run_ready(tc_heap *h, int *counts, int ncounts, tc_root **keep)
{
    int n = 0;
    tc_token tok;
    tc_root *r;
    tc_ready_kind k;
    while ((k = tc_take_ready(h, &tok, &r)) != TC_READY_NONE) {
        if (tok < (tc_token)ncounts)
            counts[tok]++;
        n++;
        if (r && keep && !*keep)
            *keep = r;
        else if (r)
            tc_root_release(h, r);
    }
    return n;
}

TEST(finalizers_run_exactly_once)
{
    tc_heap *h = new_heap_gogc(-1);
    enum { N = 500 };
    static int counts[N + 1];
    memset(counts, 0, sizeof counts);
    for (int i = 1; i <= N; i++) {
        tc_root *r;
        CHECK_OK(tc_obj_new(h, 1, 8, NULL, &r));
        CHECK_OK(tc_set_finalizer(h, r, (tc_token)i, NULL));
        tc_root_release(h, r);
    }
    CHECK_OK(tc_heap_collect(h));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.finalizers_pending == N);
    CHECK(run_ready(h, counts, N + 1, NULL) == N);
    for (int c = 0; c < 3; c++)
        CHECK_OK(tc_heap_collect(h));
    CHECK(run_ready(h, counts, N + 1, NULL) == 0);
    for (int i = 1; i <= N; i++)
        CHECK(counts[i] == 1);
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_objects == 0 && s.roots == 0 && s.finalizers_pending == 0);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

TEST(finalizer_resurrection_keeps_referents_and_does_not_rerun)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a, *b;
    int64_t pay = 77;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &a));
    CHECK_OK(tc_obj_new(h, 0, 8, &pay, &b));
    CHECK_OK(tc_slot_set(h, a, 0, tc_ref(tc_root_obj(b))));
    tc_root_release(h, b);
    CHECK_OK(tc_set_finalizer(h, a, 1, NULL));
    tc_root_release(h, a);
    CHECK_OK(tc_heap_collect(h));
    int counts[2] = {0};
    tc_root *res = NULL;
    CHECK(run_ready(h, counts, 2, &res) == 1 && res); /* the finalizer keeps a */
    for (int c = 0; c < 3; c++)
        CHECK_OK(tc_heap_collect(h));
    CHECK(run_ready(h, counts, 2, NULL) == 0 && counts[1] == 1);
    tc_value v;
    tc_root *br = NULL;
    CHECK_OK(tc_slot_get(h, res, 0, &v, &br));
    int64_t got = 0;
    CHECK(br);
    CHECK_OK(tc_obj_data_get(h, br, &got, 8));
    CHECK(got == 77);
    tc_root_release(h, br);
    tc_root_release(h, res);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_objects == 0);
    tc_heap_destroy(h);
}

TEST(finalizer_chain_runs_in_order)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a, *b;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &a));
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &b));
    CHECK_OK(tc_slot_set(h, a, 0, tc_ref(tc_root_obj(b))));
    CHECK_OK(tc_set_finalizer(h, a, 1, NULL));
    CHECK_OK(tc_set_finalizer(h, b, 2, NULL));
    tc_root_release(h, a);
    tc_root_release(h, b);
    int counts[3] = {0};
    CHECK_OK(tc_heap_collect(h));
    CHECK(run_ready(h, counts, 3, NULL) == 1 && counts[1] == 1 && counts[2] == 0);
    CHECK_OK(tc_heap_collect(h));
    CHECK(run_ready(h, counts, 3, NULL) == 1 && counts[2] == 1);
    tc_heap_destroy(h);
}

TEST(cleanup_on_a_cycle_runs_and_frees)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a, *b;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &a));
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &b));
    CHECK_OK(tc_slot_set(h, a, 0, tc_ref(tc_root_obj(b))));
    CHECK_OK(tc_slot_set(h, b, 0, tc_ref(tc_root_obj(a))));
    CHECK_OK(tc_add_cleanup(h, a, 5));
    tc_root_release(h, a);
    tc_root_release(h, b);
    CHECK_OK(tc_heap_collect(h));
    int counts[6] = {0};
    CHECK(run_ready(h, counts, 6, NULL) == 1 && counts[5] == 1);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_objects == 0);
    tc_heap_destroy(h);
}

TEST(weak_reference_cleared_before_finalizer_and_stays_cleared)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a, *got = NULL;
    tc_weak *w;
    CHECK_OK(tc_obj_new(h, 0, 0, NULL, &a));
    CHECK_OK(tc_weak_new(h, a, &w));
    CHECK_OK(tc_weak_get(h, w, &got));
    CHECK(got && tc_root_obj(got) == tc_root_obj(a));
    tc_root_release(h, got);
    CHECK_OK(tc_set_finalizer(h, a, 1, NULL));
    tc_root_release(h, a);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_weak_get(h, w, &got));
    CHECK(got == NULL);
    int counts[2] = {0};
    tc_root *res = NULL;
    CHECK(run_ready(h, counts, 2, &res) == 1 && res); /* resurrected */
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_weak_get(h, w, &got));
    CHECK(got == NULL);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.weak_refs == 1);
    tc_weak_release(h, w);
    tc_root_release(h, res);
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.weak_refs == 0);
    tc_heap_destroy(h);
}

/* a storm of weak gets while cycles run back to back with checkmark on */
typedef struct storm {
    tc_heap *h;
    tc_weak *w[64];
    _Atomic int stop;
    int errors;
} storm;

static void *storm_getter(void *arg)
{
    storm *st = arg;
    for (int i = 0; !atomic_load(&st->stop); i++) {
        tc_root *r = NULL;
        if (tc_weak_get(st->h, st->w[i % 64], &r) != TC_OK) {
            st->errors++;
            continue;
        }
        if (r) {
            tc_value v;
            tc_root *child = NULL;
            if (tc_slot_get(st->h, r, 0, &v, &child) != TC_OK) /* the target must be intact */
                st->errors++;
            if (child)
                tc_root_release(st->h, child);
            tc_root_release(st->h, r);
        }
    }
    return NULL;
}

TEST(weak_get_storm_during_mark_under_checkmark)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.checkmark = true;
    c.gogc = 10;
    c.mark_workers = 2;
    tc_heap *h;
    CHECK_OK(tc_heap_new(&c, &h));
    storm st = {.h = h};
    tc_root *keep[64];
    for (int i = 0; i < 64; i++) {
        tc_root *child;
        CHECK_OK(tc_obj_new(h, 1, 0, NULL, &keep[i]));
        CHECK_OK(tc_obj_new(h, 0, 8, NULL, &child));
        CHECK_OK(tc_slot_set(h, keep[i], 0, tc_ref(tc_root_obj(child))));
        tc_root_release(h, child);
        CHECK_OK(tc_weak_new(h, keep[i], &st.w[i]));
        if (i % 2)
            tc_root_release(h, keep[i]); /* half of the targets die */
    }
    pthread_t t;
    pthread_create(&t, NULL, storm_getter, &st);
    for (int k = 0; k < 20; k++) {
        CHECK_OK(tc_heap_collect(h));
        for (int j = 0; j < 2000; j++) { /* garbage, so automatic cycles run too */
            tc_root *g;
            CHECK_OK(tc_obj_new(h, 2, 16, NULL, &g));
            tc_root_release(h, g);
        }
    }
    atomic_store(&st.stop, 1);
    pthread_join(t, NULL);
    CHECK(st.errors == 0);
    /* a get during the last cycles may have kept a dead target for that
     * cycle (it shades): two more cycles without gets reclaim them */
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    for (int i = 0; i < 64; i++) {
        tc_root *r = NULL;
        CHECK_OK(tc_weak_get(h, st.w[i], &r));
        if ((r != NULL) != (i % 2 == 0))
            fprintf(stderr, "  weak %d: target %s\n", i, r ? "alive" : "gone");
        CHECK((r != NULL) == (i % 2 == 0));
        if (r)
            tc_root_release(h, r);
        tc_weak_release(h, st.w[i]);
        if (i % 2 == 0)
            tc_root_release(h, keep[i]);
    }
    tc_heap_destroy(h);
}

TEST(close_with_pending_finalizers_and_weak_refs)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a, *b;
    tc_weak *w;
    CHECK_OK(tc_obj_new(h, 0, 0, NULL, &a));
    CHECK_OK(tc_obj_new(h, 0, 0, NULL, &b));
    CHECK_OK(tc_set_finalizer(h, a, 1, NULL));
    CHECK_OK(tc_weak_new(h, b, &w));
    tc_root_release(h, a);
    CHECK_OK(tc_heap_collect(h));
    CHECK(tc_has_ready(h));
    tc_heap_close(h);
    tc_token tok;
    tc_root *r;
    CHECK(tc_take_ready(h, &tok, &r) == TC_READY_NONE); /* dropped at close */
    CHECK(tc_weak_get(h, w, &r) == TC_ERR_CLOSED);
    tc_weak_release(h, w);
    tc_root_release(h, b);
    tc_heap_destroy(h);
}

TEST(unsafe_free_then_use)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a, *a2, *holder, *big;
    CHECK_OK(tc_obj_new(h, 1, 8, NULL, &a));
    CHECK_OK(tc_root_new(h, tc_root_obj(a), &a2));
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &holder));
    CHECK_OK(tc_slot_set(h, holder, 0, tc_ref(tc_root_obj(a))));
    uint64_t id = tc_obj_id(tc_root_obj(a));
    CHECK_OK(tc_obj_pin(h, a));
    CHECK(tc_obj_free(h, a) == TC_ERR_STATE); /* pinned by a view */
    tc_obj_unpin(h, a);
    CHECK_OK(tc_obj_free(h, a));
    CHECK(tc_root_freed(a) && tc_root_freed(a2));
    CHECK(tc_obj_id(tc_root_obj(a2)) == id);
    size_t n;
    tc_value v;
    CHECK(tc_obj_nslots(h, a2, &n) == TC_ERR_FREED);
    CHECK(tc_slot_set(h, a, 0, tc_nil()) == TC_ERR_FREED);
    CHECK(tc_slot_get(h, a, 0, &v, NULL) == TC_ERR_FREED);
    CHECK(tc_slot_set(h, holder, 0, tc_ref(tc_root_obj(a))) == TC_ERR_FREED);
    CHECK(tc_obj_free(h, a) == TC_ERR_FREED);
    CHECK(tc_heap_verify(h) == TC_ERR_CORRUPT); /* holder still points at it */
    CHECK_OK(tc_slot_set(h, holder, 0, tc_nil()));
    CHECK_OK(tc_heap_verify(h));
    CHECK_OK(tc_obj_new(h, 0, 1 << 20, NULL, &big)); /* a large object, with a cleanup */
    CHECK_OK(tc_add_cleanup(h, big, 9));
    CHECK_OK(tc_obj_free(h, big));
    int counts[10] = {0};
    CHECK(run_ready(h, counts, 10, NULL) == 1 && counts[9] == 1);
    CHECK_OK(tc_heap_verify(h));
    tc_root_release(h, a);
    tc_root_release(h, a2);
    tc_root_release(h, big);
    CHECK_OK(tc_heap_collect(h));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_objects == 1 && s.roots == 1);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* The sweep skips special_lock for a span whose has_specials it reads as 0.
 * A thread that released the span's last weak reference read the span map
 * (to find the span) before storing that 0; the sweep then frees the span
 * and rewrites the map. That 0 must carry the release's reads to the sweep
 * (release / acquire), or TSan sees the map entry raced (fuzz_tsan, seed 4).
 * The releasing thread and the sweeping one are paced by relaxed flags only,
 * so no other happens-before edge hides a missing one. */
typedef struct weak_dropper {
    tc_heap *h;
    tc_weak **w;
    int n;
    atomic_int released, swept;
} weak_dropper;

static void *weak_drop_all(void *arg)
{
    weak_dropper *d = arg;
    for (int i = 0; i < d->n; i++)
        tc_weak_release(d->h, d->w[i]);
    atomic_store_explicit(&d->released, 1, memory_order_relaxed);
    while (!atomic_load_explicit(&d->swept, memory_order_relaxed)) /* stay: no exit edge before the sweep */
        sched_yield();
    return NULL;
}

TEST(weak_release_then_sweep_frees_the_span)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heap: once */
    enum { N = 2000 };
    static tc_weak *w[N];
    tc_config c;
    tc_config_init(&c);
    c.collector = TC_COLLECTOR_MANUAL;
    tc_heap *h = NULL;
    CHECK_OK(tc_heap_new(&c, &h));
    for (int i = 0; i < N; i++) { /* 4 KiB apiece: two to a page, every span emptied */
        tc_root *r;
        CHECK_OK(tc_obj_new(h, 0, 4000, NULL, &r));
        CHECK_OK(tc_weak_new(h, r, &w[i]));
        tc_root_release(h, r);
    }
    uint64_t marked = 0, freed = 0;
    CHECK_OK(tc_heap_gc_start(h));
    do /* no roots: the mark ends at once, every span left unswept */
        CHECK_OK(tc_heap_gc_step(h, 1 << 20, &marked));
    while (marked);
    weak_dropper d = {.h = h, .w = w, .n = N};
    pthread_t t;
    pthread_create(&t, NULL, weak_drop_all, &d);
    while (!atomic_load_explicit(&d.released, memory_order_relaxed))
        sched_yield();
    CHECK_OK(tc_heap_gc_finish(h, &freed)); /* sweeps spans whose specials the thread unlinked */
    atomic_store_explicit(&d.swept, 1, memory_order_relaxed);
    pthread_join(t, NULL);
    CHECK(freed == N);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_objects == 0 && s.weak_refs == 0);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* tc_obj_free_token hands the host the token of the finalizer a free
 * dropped (the bindings forget that one callback: bindings/common), and a
 * refused free (a pinned object) drops nothing: the finalizer still runs
 * once the object is garbage. */
TEST(unsafe_free_token_names_the_dropped_finalizer)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a, *b;
    tc_token fin = 99, old = 0;
    CHECK_OK(tc_obj_new(h, 0, 8, NULL, &a));
    CHECK_OK(tc_obj_new(h, 0, 0, NULL, &b));
    CHECK_OK(tc_set_finalizer(h, a, 7, &old));
    CHECK_OK(tc_obj_pin(h, a));
    CHECK(tc_obj_free_token(h, a, &fin) == TC_ERR_STATE && fin == 0); /* refused: nothing changed */
    tc_obj_unpin(h, a);
    CHECK_OK(tc_obj_free_token(h, b, &fin));
    CHECK(fin == 0); /* b had no finalizer */
    tc_root_release(h, a);
    CHECK_OK(tc_heap_collect(h));
    int counts[10] = {0};
    CHECK(run_ready(h, counts, 10, NULL) == 1 && counts[7] == 1); /* a's finalizer was kept */
    CHECK_OK(tc_obj_new(h, 0, 0, NULL, &a));
    CHECK_OK(tc_set_finalizer(h, a, 8, &old));
    CHECK_OK(tc_obj_free_token(h, a, &fin));
    CHECK(fin == 8);
    CHECK_OK(tc_heap_collect(h));
    CHECK(run_ready(h, counts, 10, NULL) == 0 && counts[8] == 0); /* dropped: never due */
    tc_root_release(h, a);
    tc_root_release(h, b);
    tc_heap_destroy(h);
}
