/*
 * test_manual.c — the manual collector (csrc/manual.c) from C: stepping
 * while another thread stores, releases handles and allocates (the claim
 * at the top of manual.c: other threads may mutate between and during
 * steps; make test-tsan runs this under TSan), colours and snapshots taken
 * meanwhile, and the configuration rules. The scenarios drive their own
 * manual heaps, so each runs once (in the stw round of the runner).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

#include "tc_test.h"

#define NODES 400

typedef struct churn {
    tc_heap *h;
    tc_root *nodes[NODES]; /* the thread's own handles */
    _Atomic int stop;
    _Atomic int ops;
} churn;

/* churn_main — random stores of one node's referent into another, slot
 * clears, short-lived handles and new objects, until told to stop. */
static void *churn_main(void *arg)
{
    churn *c = arg;
    unsigned seed = 7;
    while (!atomic_load(&c->stop)) {
        tc_root *a = c->nodes[rand_r(&seed) % NODES], *b = c->nodes[rand_r(&seed) % NODES];
        tc_value v;
        tc_root *ref = NULL;
        if (tc_slot_get(c->h, a, rand_r(&seed) % 2, &v, &ref) != TC_OK)
            break;
        if (rand_r(&seed) % 4 == 0) {
            tc_root *n = NULL;
            if (tc_obj_new(c->h, 2, 0, NULL, &n) == TC_OK) {
                tc_slot_set(c->h, b, rand_r(&seed) % 2, tc_ref(tc_root_obj(n)));
                tc_root_release(c->h, n);
            }
        } else {
            tc_slot_set(c->h, b, rand_r(&seed) % 2, rand_r(&seed) % 3 ? v : tc_ref(NULL));
        }
        if (ref)
            tc_root_release(c->h, ref);
        c->ops++;
    }
    return NULL;
}

TEST(manual_steps_while_another_thread_stores)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heaps: once */
    static const tc_barrier all[] = {TC_BARRIER_HYBRID, TC_BARRIER_DIJKSTRA, TC_BARRIER_YUASA};
    for (int k = 0; k < 3; k++) {
        churn c = {.h = manual_heap(all[k])};
        CHECK(c.h);
        for (int i = 0; i < NODES; i++)
            CHECK_OK(tc_obj_new(c.h, 2, 0, NULL, &c.nodes[i]));
        for (int i = 0; i < NODES; i++)
            CHECK_OK(tc_slot_set(c.h, c.nodes[i], 0, tc_ref(tc_root_obj(c.nodes[(i * 7 + 1) % NODES]))));
        pthread_t t;
        CHECK(pthread_create(&t, NULL, churn_main, &c) == 0);
        for (int cycle = 0; cycle < 3; cycle++) {
            CHECK_OK(tc_heap_gc_start(c.h));
            for (int ops0 = atomic_load(&c.ops); atomic_load(&c.ops) < ops0 + 200;)
                sched_yield(); /* stores during the mark, before the first step */
            uint64_t marked = 1;
            for (int s = 0; marked; s++) {
                CHECK_OK(tc_heap_gc_step(c.h, 16, &marked));
                CHECK(marked <= 16);
                sched_yield();
                tc_color col;
                CHECK_OK(tc_obj_color(c.h, c.nodes[s % NODES], &col));
                if (s % 8 == 0) {
                    tc_snapshot *snap = NULL;
                    CHECK_OK(tc_heap_snapshot(c.h, &snap));
                    CHECK(snap->nobjects >= NODES);
                    tc_snapshot_free(snap);
                }
            }
            uint64_t freed;
            CHECK_OK(tc_heap_gc_finish(c.h, &freed));
        }
        atomic_store(&c.stop, 1);
        pthread_join(t, NULL);
        CHECK_OK(tc_heap_verify(c.h));
        tc_stats st;
        CHECK_OK(tc_heap_stats(c.h, &st));
        CHECK(st.num_gc == 3); /* the churn's allocations started none */
        CHECK(c.ops > 0);
        tc_heap_close(c.h);
        tc_heap_destroy(c.h);
    }
}

TEST(manual_config_rules)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    tc_config cfg;
    tc_config_init(&cfg);
    cfg.barrier = TC_BARRIER_NONE;
    tc_heap *h = NULL;
    CHECK(tc_heap_new(&cfg, &h) == TC_ERR_VALUE); /* none needs manual */
    tc_collector c;
    tc_barrier b;
    CHECK_OK(tc_collector_parse("manual", &c));
    CHECK(c == TC_COLLECTOR_MANUAL);
    CHECK_OK(tc_barrier_parse("none", &b));
    CHECK(b == TC_BARRIER_NONE);
    h = new_heap_gogc(100);
    CHECK(h);
    uint64_t n;
    CHECK(tc_heap_gc_step(h, 1, &n) == TC_ERR_VALUE);
    CHECK(tc_heap_gc_start(h) == TC_ERR_VALUE);
    tc_heap_close(h);
    tc_heap_destroy(h);
}

/* slot_set_root_takes_the_barrier_during_mark — a store by tc_slot_set_root
 * while a cycle marks takes the write barrier (its fast path is for the
 * barrier off only): under hybrid and Yuasa the reference it overwrites is
 * shaded, and the store is counted in barrier_slow. */
TEST(slot_set_root_takes_the_barrier_during_mark)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heaps: once */
    tc_barrier kinds[] = {TC_BARRIER_HYBRID, TC_BARRIER_YUASA};
    for (int k = 0; k < 2; k++) {
        tc_heap *h = manual_heap(kinds[k]);
        CHECK(h);
        tc_root *head, *p, *other;
        CHECK_OK(tc_obj_new(h, 1, 0, NULL, &head));
        CHECK_OK(tc_obj_new(h, 0, 8, NULL, &p));
        CHECK_OK(tc_obj_new(h, 0, 8, NULL, &other));
        CHECK_OK(tc_slot_set_root(h, head, 0, p));
        uint64_t pid = tc_obj_id(tc_root_obj(p));
        tc_root_release(h, p); /* p is white at the start: head's slot is its only way */
        CHECK_OK(tc_heap_gc_start(h));
        tc_stats s0, s1;
        CHECK_OK(tc_heap_stats(h, &s0));
        CHECK_OK(tc_slot_set_root(h, head, 0, other));
        CHECK_OK(tc_heap_stats(h, &s1));
        CHECK(s1.barrier_slow == s0.barrier_slow + 1);
        tc_snapshot *snap;
        CHECK_OK(tc_heap_snapshot(h, &snap));
        int color = -1;
        for (size_t i = 0; i < snap->nobjects; i++)
            if (snap->objects[i] == pid)
                color = snap->colors[i];
        CHECK(color == TC_GREY || color == TC_BLACK); /* shaded by the deletion barrier */
        tc_snapshot_free(snap);
        uint64_t freed;
        CHECK_OK(tc_heap_gc_finish(h, &freed));
        CHECK(freed == 0); /* p survives this cycle (the snapshot's promise) */
        tc_root_release(h, head);
        tc_root_release(h, other);
        tc_heap_destroy(h);
    }
}

/* A reference read by tc_slot_get_owned is rooted with no heap call unless
 * a mark is seen running: then it takes tc_slot_get's, and hybrid's
 * creation shade greys the object (the colours teaching mode shows stay as
 * they were). p is white at the start, reachable only through head's slot. */
TEST(owned_reference_read_during_a_mark_takes_the_shade)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heap: once */
    tc_heap *h = manual_heap(TC_BARRIER_HYBRID);
    CHECK(h);
    tc_root *head, *p, *r = NULL;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &head));
    CHECK_OK(tc_obj_new(h, 0, 8, NULL, &p));
    CHECK_OK(tc_slot_set_root(h, head, 0, p));
    tc_root_release(h, p);
    CHECK_OK(tc_heap_gc_start(h));
    tc_value v;
    CHECK_OK(tc_slot_get_owned(h, head, 0, &v, &r));
    CHECK(v.kind == TC_REF && r != NULL);
    tc_color c = TC_WHITE;
    CHECK_OK(tc_obj_color(h, r, &c));
    CHECK(c == TC_GREY);
    uint64_t freed;
    CHECK_OK(tc_heap_gc_finish(h, &freed));
    CHECK(freed == 0);
    tc_root_release(h, head);
    tc_root_release(h, r);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}
