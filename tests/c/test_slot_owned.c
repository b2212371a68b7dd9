/* test_slot_owned.c — tc_slot_get_owned / tc_slot_set_owned give the
 * checked calls' results in every case: the no-call paths (a plain value
 * read; an int or other plain value stored over one; a reference read and
 * rooted, also while marks run: owned_reads_race_marks, and test_manual.c
 * for a mark seen running), and each case they hand back to tc_slot_get /
 * tc_slot_set (a reference over which a plain value is stored, a
 * reference value, an index out of range, a freed object, an int out of
 * range, no root asked for); and tc_root_shape, the in-line shape of a
 * root's object that the binding's new handles take. The Python binding's
 * side (the GIL, the closed test, a mark, a recording) is
 * tests/python/test_slot_paths.py. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "tc_test.h"

/* slot_get_without_a_root_makes_none — tc_slot_get with ref_root NULL (the
 * caller wants the value only) of a slot that holds a reference: the value,
 * and no root. It made one and dropped it: a handle nobody could release,
 * which kept its object alive for the heap's life (stats.roots one higher). */
TEST(slot_get_without_a_root_makes_none)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_root *a, *b;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &a));
    CHECK_OK(tc_obj_new(h, 0, 8, NULL, &b));
    CHECK_OK(tc_slot_set_root(h, a, 0, b));
    uint64_t roots = roots_count(h);
    tc_value v;
    CHECK_OK(tc_slot_get(h, a, 0, &v, NULL));
    CHECK(v.kind == TC_REF && v.u.ref == tc_root_obj(b));
    CHECK(roots_count(h) == roots);
    tc_root_release(h, a);
    tc_root_release(h, b);
    CHECK(roots_count(h) == 0);
    tc_heap_destroy(h);
}

TEST(owned_calls_read_and_store_as_the_checked_ones)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_root *a, *b, *r = NULL;
    CHECK_OK(tc_obj_new(h, 3, 0, NULL, &a));
    CHECK_OK(tc_obj_new(h, 0, 8, NULL, &b));
    tc_value v;
    CHECK_OK(tc_slot_get_owned(h, a, 0, &v, &r));
    CHECK(v.kind == TC_NIL && r == NULL);
    CHECK_OK(tc_slot_set_owned(h, a, 0, tc_int(TC_INT_MIN)));
    CHECK_OK(tc_slot_set_owned(h, a, 1, tc_float(-2.5)));
    CHECK_OK(tc_slot_set_owned(h, a, 2, tc_ref(tc_root_obj(b)))); /* a reference: tc_slot_set */
    CHECK_OK(tc_slot_get_owned(h, a, 0, &v, &r));
    CHECK(v.kind == TC_INT && v.u.i == TC_INT_MIN && r == NULL);
    CHECK_OK(tc_slot_get_owned(h, a, -2 + 3, &v, &r));
    CHECK(v.kind == TC_FLOAT && v.u.d == -2.5 && r == NULL);
    uint64_t roots = roots_count(h);
    CHECK_OK(tc_slot_get_owned(h, a, 2, &v, &r)); /* a reference: a new root */
    CHECK(v.kind == TC_REF && v.u.ref == tc_root_obj(b) && r && r != b && tc_root_obj(r) == tc_root_obj(b));
    size_t ns = 0, sz = 0; /* its shape in line, as the raw calls say it (the binding's new handle) */
    CHECK(tc_root_shape(r, &ns, &sz) && ns == 0 && sz == 8);
    CHECK(ns == tc_obj_nslots_raw(tc_root_obj(r)) && sz == tc_obj_size_raw(tc_root_obj(r)));
    CHECK(tc_root_shape(a, &ns, &sz) && ns == 3 && sz == 0);
    CHECK(roots_count(h) == roots + 1);
    tc_root_release(h, r);
    CHECK(roots_count(h) == roots);
    CHECK_OK(tc_slot_get_owned(h, a, 2, &v, NULL)); /* no root asked for: tc_slot_get */
    CHECK(v.kind == TC_REF && roots_count(h) == roots);
    CHECK_OK(tc_slot_set_owned(h, a, 2, tc_int(5))); /* over a reference: tc_slot_set */
    CHECK_OK(tc_slot_get_owned(h, a, 2, &v, &r));
    CHECK(v.kind == TC_INT && v.u.i == 5 && r == NULL);
    CHECK(tc_slot_set_owned(h, a, 3, tc_int(1)) == TC_ERR_INDEX);
    CHECK(tc_slot_set_owned(h, a, -1, tc_int(1)) == TC_ERR_INDEX);
    CHECK(tc_slot_get_owned(h, a, 3, &v, &r) == TC_ERR_INDEX);
    CHECK(tc_slot_get_owned(h, a, -1, &v, &r) == TC_ERR_INDEX);
    CHECK(tc_slot_set_owned(h, a, 0, tc_int(TC_INT_MAX + 1)) == TC_ERR_OVERFLOW);
    CHECK_OK(tc_slot_get_owned(h, a, 0, &v, &r));
    CHECK(v.kind == TC_INT && v.u.i == TC_INT_MIN); /* the failed stores left it */
    CHECK_OK(tc_obj_free(h, a));
    CHECK(tc_slot_set_owned(h, a, 0, tc_int(1)) == TC_ERR_FREED);
    CHECK(tc_slot_get_owned(h, a, 0, &v, &r) == TC_ERR_FREED);
    tc_root_release(h, a);
    tc_root_release(h, b);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

typedef struct {
    tc_heap *h;
    tc_root *a;
    _Atomic int go;
} race;

static void *checked_stores(void *arg)
{
    race *x = arg;
    while (!atomic_load(&x->go))
        ;
    for (int k = 0; k < 20000; k++)
        if (tc_slot_set(x->h, x->a, 0, tc_int(-k)) != TC_OK)
            return (void *)1;
    return NULL;
}

/* An owned store takes the slot by compare-and-swap as a checked store does,
 * so a checked store on another thread takes turns with it: the slot always
 * holds one store's kind and word (an int; the verifier checks the tag). */
TEST(owned_int_stores_take_turns_with_checked_ones)
{
    race x = {.h = new_heap_gogc(-1)};
    CHECK(x.h);
    CHECK_OK(tc_obj_new(x.h, 1, 0, NULL, &x.a));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, checked_stores, &x) == 0);
    atomic_store(&x.go, 1);
    bool ok = true;
    for (int k = 0; k < 20000; k++)
        ok &= tc_slot_set_owned(x.h, x.a, 0, tc_int(k)) == TC_OK;
    void *res;
    pthread_join(t, &res);
    CHECK(ok && res == NULL);
    tc_value v;
    tc_root *r;
    CHECK_OK(tc_slot_get(x.h, x.a, 0, &v, &r));
    CHECK(v.kind == TC_INT && (v.u.i == 19999 || v.u.i == -19999));
    tc_root_release(x.h, x.a);
    CHECK_OK(tc_heap_verify(x.h));
    tc_heap_destroy(x.h);
}

/* owned_calls_refuse_a_freed_object_through_any_root — tc_obj_free marks
 * the root it was given; another root of the object learns it from the
 * header (nslots 0, size OBJ_FREED_SIZE), and after a cycle from its own
 * freed bit, when the object's memory may be another object's. Through
 * either, the owned calls say freed and touch no slot (the ASan run checks
 * that no freed or reused memory is read), and hostile indices on a live
 * object are index errors (the 32-bit nslots compared with all 64 bits). */
TEST(owned_calls_refuse_a_freed_object_through_any_root)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_root *a, *a2, *r = NULL;
    CHECK_OK(tc_obj_new(h, 2, 0, NULL, &a));
    CHECK_OK(tc_slot_set_owned(h, a, 1, tc_int(7)));
    const int64_t hostile[] = {INT64_MIN, -1, 2, (int64_t)UINT32_MAX, (int64_t)1 << 32, ((int64_t)1 << 32) + 1,
                               INT64_MAX};
    tc_value v;
    for (size_t k = 0; k < sizeof hostile / sizeof hostile[0]; k++) {
        CHECK(tc_slot_get_owned(h, a, hostile[k], &v, &r) == TC_ERR_INDEX);
        CHECK(tc_slot_set_owned(h, a, hostile[k], tc_int(1)) == TC_ERR_INDEX);
    }
    CHECK_OK(tc_root_new(h, tc_root_obj(a), &a2));
    size_t ns = 9, sz = 9;
    CHECK(tc_root_shape(a2, &ns, &sz) && ns == 2 && sz == 0);
    CHECK_OK(tc_obj_free(h, a));
    CHECK(((uintptr_t)tc_root_obj(a2) & 2) == 0); /* a2 knows it from the header only */
    CHECK(!tc_root_shape(a2, &ns, &sz) && ns == 0 && sz == 0); /* not 0 and 2^32-1 */
    CHECK(tc_slot_get_owned(h, a2, 1, &v, &r) == TC_ERR_FREED);
    CHECK(tc_slot_set_owned(h, a2, 1, tc_int(1)) == TC_ERR_FREED);
    CHECK(tc_slot_get_owned(h, a2, 0, &v, NULL) == TC_ERR_FREED);
    for (int round = 0; round < 2; round++) {
        CHECK_OK(tc_heap_collect(h)); /* the cycle marks a2; the memory may be reused */
        CHECK(((uintptr_t)tc_root_obj(a2) & 2) != 0);
        ns = sz = 9;
        CHECK(!tc_root_shape(a2, &ns, &sz) && ns == 0 && sz == 0); /* the header is not read */
        for (int k = 0; k < 1000; k++) {
            tc_root *t;
            CHECK_OK(tc_obj_new(h, 2, 0, NULL, &t));
            CHECK_OK(tc_slot_set_owned(h, t, 1, tc_int(k)));
            tc_root_release(h, t);
        }
        CHECK(tc_slot_get_owned(h, a2, 1, &v, &r) == TC_ERR_FREED);
        CHECK(tc_slot_set_owned(h, a2, 1, tc_int(1)) == TC_ERR_FREED);
    }
    tc_root_release(h, a);
    tc_root_release(h, a2);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* owned_reads_race_marks — threads that take turns under one lock (the
 * host's lock, as the GIL) read references with tc_slot_get_owned (rooted
 * with no heap call: object.c says why a mark that starts meanwhile loses
 * nothing), store them, drop them and allocate, while the heap's collector
 * runs cycles with checkmark on (a mark that missed a reachable object
 * fails the cycle) under each barrier. make test-tsan runs it under TSan:
 * the roots made outside heap calls race the marker's scan of the table. */
#define RACE_NODES 64
#define RACE_THREADS 2
#define RACE_OPS 20000

typedef struct {
    tc_heap *h;
    pthread_mutex_t lock;
    tc_root *nodes[RACE_NODES]; /* shared, used under lock */
    _Atomic int failed;
} owned_race;

static void *owned_race_main(void *arg)
{
    owned_race *x = arg;
    unsigned seed = (unsigned)(uintptr_t)pthread_self();
    for (int k = 0; k < RACE_OPS && !atomic_load(&x->failed); k++) {
        pthread_mutex_lock(&x->lock);
        tc_root *a = x->nodes[rand_r(&seed) % RACE_NODES], *b = x->nodes[rand_r(&seed) % RACE_NODES];
        tc_value v;
        tc_root *ref = NULL;
        int64_t i = rand_r(&seed) % 2;
        tc_status s = tc_slot_get_owned(x->h, a, i, &v, &ref);
        if (s == TC_OK && v.kind == TC_REF && ref && tc_obj_nslots_raw(tc_root_obj(ref)) != 2)
            s = TC_ERR_CORRUPT; /* every object here has 2 slots */
        /* the handle is now the object's only sure way: the slot it came
         * from is cleared, and then it is stored elsewhere (perhaps into a
         * black object) and released, the deletion barrier's case */
        if (s == TC_OK && ref && rand_r(&seed) % 2)
            s = tc_slot_set(x->h, a, i, tc_nil());
        if (s == TC_OK && ref && rand_r(&seed) % 4)
            s = tc_slot_set_root(x->h, b, rand_r(&seed) % 2, ref);
        if (s == TC_OK && rand_r(&seed) % 4 == 0) {
            tc_root *n = NULL;
            if ((s = tc_obj_new(x->h, 2, 4096, NULL, &n)) == TC_OK) { /* 4 KiB: a cycle every few hundred */
                s = tc_slot_set_root(x->h, b, rand_r(&seed) % 2, n);
                tc_root_release(x->h, n);
            }
        } else if (s == TC_OK && rand_r(&seed) % 8 == 0) {
            s = tc_slot_set(x->h, b, rand_r(&seed) % 2, tc_nil());
        }
        if (ref)
            tc_root_release(x->h, ref);
        pthread_mutex_unlock(&x->lock);
        if (s != TC_OK)
            atomic_store(&x->failed, 1);
    }
    return NULL;
}

TEST(owned_reads_race_marks)
{
    if (tc_test_collector == TC_COLLECTOR_STW)
        return; /* a cycle that stops the world has no mark to race */
    tc_barrier kinds[] = {TC_BARRIER_HYBRID, TC_BARRIER_YUASA, TC_BARRIER_DIJKSTRA};
    for (int b = 0; b < 3; b++) {
        owned_race x = {.lock = PTHREAD_MUTEX_INITIALIZER};
        tc_config cfg;
        tc_config_init(&cfg);
        cfg.collector = tc_test_collector;
        cfg.barrier = kinds[b];
        cfg.gogc = 5;
        cfg.checkmark = true;
        CHECK_OK(tc_heap_new(&cfg, &x.h));
        for (int i = 0; i < RACE_NODES; i++)
            CHECK_OK(tc_obj_new(x.h, 2, 16, NULL, &x.nodes[i]));
        for (int i = 0; i < RACE_NODES; i++)
            CHECK_OK(tc_slot_set_root(x.h, x.nodes[i], 0, x.nodes[(i + 1) % RACE_NODES]));
        pthread_t t[RACE_THREADS];
        for (int i = 0; i < RACE_THREADS; i++)
            CHECK(pthread_create(&t[i], NULL, owned_race_main, &x) == 0);
        for (int i = 0; i < RACE_THREADS; i++)
            pthread_join(t[i], NULL);
        CHECK(!atomic_load(&x.failed));
        tc_stats s;
        CHECK_OK(tc_heap_collect(x.h));
        CHECK_OK(tc_heap_stats(x.h, &s));
        CHECK(s.num_gc >= 2 && s.roots == RACE_NODES);
        uint64_t cm[3];
        collector_debug_checkmarks(x.h, cm);
        CHECK(cm[0] >= 2 && cm[1] == 0); /* every mark checked, none missed a reachable object */
        CHECK_OK(tc_heap_verify(x.h));
        for (int i = 0; i < RACE_NODES; i++)
            tc_root_release(x.h, x.nodes[i]);
        tc_heap_destroy(x.h);
    }
}

/* root_release_n_releases_every_root — tc_root_release_n (the Python
 * binding's batch of dropped handles) over more roots than one heap call
 * takes (ROOT_BATCH, 64), NULL entries skipped: every root is released,
 * while a mark runs too (the snapshot keeps the released objects for that
 * cycle, as tc_root_release's deletion shade does), and on a closed heap it
 * does nothing. */
TEST(root_release_n_releases_every_root)
{
    enum { N = 150 };
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_root *r[N];
    for (int i = 0; i < N; i++)
        if (i % 7 == 3)
            r[i] = NULL;
        else
            CHECK_OK(tc_obj_new(h, 1, 0, NULL, &r[i]));
    uint64_t before = roots_count(h);
    CHECK(before == N - (N + 3) / 7);
    tc_root_release_n(h, r, 70);
    CHECK(roots_count(h) == before - (70 - 10));
    tc_root_release_n(h, r + 70, N - 70);
    CHECK(roots_count(h) == 0);
    CHECK_OK(tc_heap_collect(h));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_objects == 0);
    tc_root *a;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &a));
    tc_heap_close(h);
    tc_root_release_n(h, &a, 1); /* closed: a no-op, as tc_root_release */
    tc_heap_destroy(h);
}

/* root_release_n_in_a_mark_keeps_the_snapshot — objects rooted only by
 * handles when a mark starts (the start greys them) and released by
 * tc_root_release_n during it survive that cycle under each barrier, the
 * heap verifies, and the next cycle frees them all. */
TEST(root_release_n_in_a_mark_keeps_the_snapshot)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heaps: once */
    static const tc_barrier all[] = {TC_BARRIER_HYBRID, TC_BARRIER_DIJKSTRA, TC_BARRIER_YUASA};
    for (int k = 0; k < 3; k++) {
        enum { N = 100 };
        tc_heap *h = manual_heap(all[k]);
        CHECK(h);
        tc_root *r[N];
        for (int i = 0; i < N; i++)
            CHECK_OK(tc_obj_new(h, 0, 8, NULL, &r[i]));
        CHECK_OK(tc_heap_gc_start(h));
        tc_root_release_n(h, r, N);
        CHECK(roots_count(h) == 0);
        uint64_t freed;
        CHECK_OK(tc_heap_gc_finish(h, &freed));
        CHECK(freed == 0);
        CHECK_OK(tc_heap_verify(h));
        CHECK_OK(tc_heap_gc_start(h));
        CHECK_OK(tc_heap_gc_finish(h, &freed));
        CHECK(freed == N);
        tc_heap_destroy(h);
    }
}
