/* test_inspect.c — why is an object alive (inspect.c): roots and their
 * kinds, referents, referrers, path_to and retained, against brute force on
 * random graphs, while cycles run, on bad input and when memory runs out;
 * the dominator computation against brute force on random flow graphs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dom.h"
#include "inspect.h"
#include "tc_test.h"

/* ---- helpers ------------------------------------------------------------------ */

/* node — a new object with `nslots` slots and an 8-byte payload `tag`. */
static tc_root *node(tc_heap *h, size_t nslots, int64_t tag)
{
    tc_root *r = NULL;
    return tc_obj_new(h, nslots, 8, &tag, &r) == TC_OK ? r : NULL;
}

static int64_t tag_of(tc_heap *h, tc_root *r)
{
    int64_t t = -1;
    tc_obj_data_get(h, r, &t, sizeof t);
    return t;
}

static void link_to(tc_heap *h, tc_root *from, int64_t slot, tc_root *to)
{
    tc_slot_set(h, from, slot, tc_ref(tc_root_obj(to)));
}

static void release_links(tc_heap *h, tc_link *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tc_root_release(h, v[i].obj);
    tc_inspect_free(v);
}

/* count_kind — entries of kind k whose object has payload tag t. */
static int count_kind(tc_heap *h, const tc_link *v, size_t n, tc_root_kind k, int64_t t)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += v[i].kind == k && tag_of(h, v[i].obj) == t;
    return c;
}

/* ---- the calls on small graphs ------------------------------------------------------ */

TEST(inspect_path_to_is_the_shortest_chain_and_none_when_only_the_handle_holds)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a = node(h, 2, 1), *b = node(h, 2, 2), *c = node(h, 2, 3), *d = node(h, 1, 4);
    CHECK(a && b && c && d);
    link_to(h, a, 0, b); /* a -0-> b -1-> c, and a -1-> d -0-> c (as long) */
    link_to(h, b, 1, c);
    link_to(h, a, 1, d);
    link_to(h, d, 0, c);
    tc_root_release(h, b);
    tc_root_release(h, d);
    tc_link *p = NULL;
    size_t n = 0;
    CHECK_OK(tc_obj_path_to(h, c, &p, &n));
    CHECK(n == 3 && p[0].kind == TC_ROOT_HANDLE && p[0].slot == -1 && tag_of(h, p[0].obj) == 1);
    CHECK(tag_of(h, p[2].obj) == 3 && tc_root_obj(p[2].obj) == tc_root_obj(c));
    CHECK((tag_of(h, p[1].obj) == 2 && p[1].slot == 0 && p[2].slot == 1) ||
          (tag_of(h, p[1].obj) == 4 && p[1].slot == 1 && p[2].slot == 0));
    release_links(h, p, n);
    CHECK_OK(tc_obj_path_to(h, a, &p, &n)); /* only its own handle: unreachable */
    CHECK(n == 0 && p == NULL);
    tc_root *a2 = NULL; /* a second handle is a root */
    CHECK_OK(tc_root_new(h, tc_root_obj(a), &a2));
    CHECK_OK(tc_obj_path_to(h, a, &p, &n));
    CHECK(n == 1 && p[0].kind == TC_ROOT_HANDLE && tc_root_obj(p[0].obj) == tc_root_obj(a));
    release_links(h, p, n);
    tc_root_release(h, a2);
    tc_root_release(h, a);
    tc_root_release(h, c);
    CHECK(roots_count(h) == 0);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

TEST(inspect_referents_and_referrers)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a = node(h, 4, 1), *b = node(h, 1, 2), *c = node(h, 0, 3), *g = node(h, 1, 9);
    CHECK(a && b && c && g);
    link_to(h, a, 0, c);
    tc_slot_set(h, a, 1, tc_int(7));
    link_to(h, a, 2, b);
    link_to(h, a, 3, c); /* twice: referents lists each slot */
    link_to(h, b, 0, c);
    link_to(h, g, 0, c); /* g becomes garbage: not a referrer */
    tc_root_release(h, b);
    tc_root_release(h, g);
    tc_link *v = NULL;
    size_t n = 0;
    CHECK_OK(tc_obj_referents(h, a, &v, &n));
    CHECK(n == 3 && tag_of(h, v[0].obj) == 3 && tag_of(h, v[1].obj) == 2 && tag_of(h, v[2].obj) == 3);
    CHECK(v[0].slot == 0 && v[1].slot == 2 && v[2].slot == 3);
    release_links(h, v, n);
    CHECK_OK(tc_obj_referents(h, c, &v, &n));
    CHECK(n == 0 && v == NULL);
    CHECK_OK(tc_obj_referrers(h, c, &v, &n));
    CHECK(n == 2);
    int64_t t0 = tag_of(h, v[0].obj), t1 = tag_of(h, v[1].obj);
    CHECK((t0 == 1 && t1 == 2) || (t0 == 2 && t1 == 1));
    CHECK(v[0].slot == 0 && v[1].slot == 0); /* a holds c in slots 0 and 3: the first */
    release_links(h, v, n);
    CHECK_OK(tc_obj_referrers(h, a, &v, &n));
    CHECK(n == 0 && v == NULL);
    tc_root_release(h, a);
    tc_root_release(h, c);
    CHECK(roots_count(h) == 0);
    tc_heap_destroy(h);
}

TEST(inspect_retained_is_the_dominated_subtree)
{
    tc_heap *h = new_heap_gogc(-1);
    /* r -> x -> {y, z}; z -> w; r2 -> w: x retains x, y, z but not w */
    tc_root *r = node(h, 2, 0), *x = node(h, 2, 1), *y = node(h, 2, 2), *z = node(h, 2, 3), *w = node(h, 2, 4),
            *r2 = node(h, 2, 5); /* one shape: one size class */
    CHECK(r && x && y && z && w && r2);
    link_to(h, r, 0, x);
    link_to(h, x, 0, y);
    link_to(h, x, 1, z);
    link_to(h, z, 0, w);
    link_to(h, r2, 0, w);
    tc_root_release(h, y);
    tc_root_release(h, z);
    tc_root_release(h, w);
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    uint64_t each = s.heap_alloc / s.heap_objects; /* every object here is one size class */
    uint64_t bytes = 0, objs = 0;
    CHECK_OK(tc_obj_retained(h, x, &bytes, &objs));
    CHECK(objs == 3 && bytes == 3 * each);
    CHECK_OK(tc_obj_retained(h, r, &bytes, &objs)); /* x's own handle keeps x */
    CHECK(objs == 1 && bytes == each);
    tc_root_release(h, x);
    CHECK_OK(tc_obj_retained(h, r, &bytes, &objs)); /* now r keeps x's subtree too; w has r2 */
    CHECK(objs == 4 && bytes == 4 * each);
    tc_root_release(h, r2);
    CHECK_OK(tc_obj_retained(h, r, &bytes, &objs));
    CHECK(objs == 5);
    tc_value v;
    CHECK_OK(tc_slot_get(h, r, 0, &v, &x));
    tc_root_release(h, r);
    CHECK_OK(tc_obj_retained(h, x, &bytes, &objs)); /* only its own handle: what would go with it */
    CHECK(objs == 4);
    tc_root_release(h, x);
    CHECK(roots_count(h) == 0);
    tc_heap_destroy(h);
}

TEST(inspect_an_empty_heap_has_no_roots_and_no_answers)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_link *v = (tc_link *)1;
    size_t n = 99;
    CHECK_OK(tc_heap_roots(h, &v, &n)); /* no root at all: nothing to sort */
    CHECK(n == 0 && v == NULL);
    tc_root *a = node(h, 0, 1);
    CHECK_OK(tc_obj_referrers(h, a, &v, &n));
    CHECK(n == 0 && v == NULL);
    CHECK_OK(tc_heap_roots(h, &v, &n)); /* a's handle is a root for roots() */
    CHECK(n == 1);
    release_links(h, v, n);
    tc_root_release(h, a);
    tc_heap_destroy(h);
}

/* ---- root kinds --------------------------------------------------------------------- */

typedef struct local_thread {
    tc_heap *h;
    _Atomic int state; /* 1: the local is set; 2: main is done */
} local_thread;

/* holds_local — a raw section with one local root (payload tag 77) that
 * stays open, at safepoints, until the main thread is done. */
static void *holds_local(void *arg)
{
    local_thread *t = arg;
    tc_mutator *m = tc_enter(t->h);
    tc_obj **loc = tc_locals(m, 1);
    loc[0] = tc_alloc(m, 0, 8);
    int64_t tag = 77;
    memcpy(tc_payload(loc[0]), &tag, 8);
    atomic_store(&t->state, 1);
    while (atomic_load(&t->state) != 2)
        tc_safepoint(m);
    tc_locals_pop(m, 1);
    tc_leave(m);
    return NULL;
}

TEST(inspect_roots_have_their_kinds)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a = node(h, 1, 1), *a2 = NULL, *f = node(h, 1, 2), *q = node(h, 1, 3), *fc = node(h, 0, 4);
    CHECK(a && f && q && fc);
    CHECK_OK(tc_root_new(h, tc_root_obj(a), &a2)); /* two handles: one entry */
    link_to(h, f, 0, fc);
    CHECK_OK(tc_set_finalizer(h, f, 10, NULL)); /* f has a handle and a finalizer */
    CHECK_OK(tc_set_finalizer(h, q, 11, NULL)); /* q: finalizer due after a collect */
    tc_root_release(h, q);
    tc_root_release(h, fc);
    CHECK_OK(tc_heap_collect(h));
    local_thread t = {h, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, holds_local, &t) == 0);
    while (atomic_load(&t.state) != 1)
        ;
    tc_link *v = NULL;
    size_t n = 0;
    tc_status st = tc_heap_roots(h, &v, &n);
    atomic_store(&t.state, 2);
    pthread_join(th, NULL);
    CHECK_OK(st);
    CHECK(n == 5);
    CHECK(count_kind(h, v, n, TC_ROOT_HANDLE, 1) == 1);
    CHECK(count_kind(h, v, n, TC_ROOT_HANDLE, 2) == 1);
    CHECK(count_kind(h, v, n, TC_ROOT_FINALIZER, 2) == 1);
    CHECK(count_kind(h, v, n, TC_ROOT_FINALIZER_QUEUE, 3) == 1);
    CHECK(count_kind(h, v, n, TC_ROOT_LOCAL, 77) == 1);
    for (size_t i = 0; i < n; i++)
        CHECK(v[i].slot == -1);
    release_links(h, v, n);
    CHECK(!strcmp(tc_root_kind_name(TC_ROOT_FINALIZER_QUEUE), "finalizer_queue"));
    /* fc: only f's finalizer keeps it: the path starts at f */
    tc_root *fc2 = NULL;
    tc_value val;
    CHECK_OK(tc_slot_get(h, f, 0, &val, &fc2));
    tc_root_release(h, f);
    tc_link *p = NULL;
    CHECK_OK(tc_obj_path_to(h, fc2, &p, &n));
    CHECK(n == 2 && p[0].kind == TC_ROOT_FINALIZER && tag_of(h, p[0].obj) == 2 && p[1].slot == 0);
    release_links(h, p, n);
    uint64_t bytes, objs;
    CHECK_OK(tc_obj_retained(h, fc2, &bytes, &objs));
    CHECK(objs == 1);
    tc_root_release(h, fc2);
    tc_token tok;
    tc_root *fr;
    CHECK(tc_take_ready(h, &tok, &fr) == TC_READY_FINALIZER && tok == 11);
    tc_root_release(h, fr);
    tc_root_release(h, a);
    tc_root_release(h, a2);
    CHECK(roots_count(h) == 0);
    tc_heap_destroy(h);
}

/* ---- bad input ------------------------------------------------------------------------ */

TEST(inspect_bad_input_is_a_typed_error)
{
    tc_heap *h = new_heap_gogc(-1), *other = new_heap_gogc(-1);
    tc_root *a = node(h, 1, 1), *x = node(other, 1, 2), *fr = node(h, 0, 3);
    CHECK(a && x && fr);
    tc_link *p = NULL;
    tc_link *v = NULL;
    size_t n = 0;
    uint64_t b, o;
    CHECK(tc_obj_path_to(h, x, &p, &n) == TC_ERR_CROSS_HEAP);
    CHECK(tc_obj_retained(h, x, &b, &o) == TC_ERR_CROSS_HEAP);
    CHECK(tc_obj_referrers(h, x, &v, &n) == TC_ERR_CROSS_HEAP);
    CHECK(tc_obj_referents(h, x, &v, &n) == TC_ERR_CROSS_HEAP);
    CHECK_OK(tc_obj_free(h, fr));
    CHECK(tc_obj_path_to(h, fr, &p, &n) == TC_ERR_FREED);
    CHECK(tc_obj_retained(h, fr, &b, &o) == TC_ERR_FREED);
    CHECK(tc_obj_referents(h, fr, &v, &n) == TC_ERR_FREED);
    CHECK(tc_obj_referrers(h, fr, &v, &n) == TC_ERR_FREED);
    tc_mutator *m = tc_enter(h); /* the world cannot stop for a walk inside a raw section */
    CHECK(tc_heap_roots(h, &p, &n) == TC_ERR_STATE);
    CHECK(tc_obj_path_to(h, a, &p, &n) == TC_ERR_STATE);
    CHECK_OK(tc_obj_referents(h, a, &v, &n)); /* an ordinary heap call: fine */
    tc_leave(m);
    tc_root_release(h, fr);
    tc_heap_close(h);
    CHECK(tc_heap_roots(h, &p, &n) == TC_ERR_CLOSED);
    CHECK(tc_obj_path_to(h, a, &p, &n) == TC_ERR_CLOSED);
    CHECK(tc_obj_retained(h, a, &b, &o) == TC_ERR_CLOSED);
    CHECK(tc_obj_referents(h, a, &v, &n) == TC_ERR_CLOSED);
    CHECK(tc_obj_referrers(h, a, &v, &n) == TC_ERR_CLOSED);
    tc_heap_destroy(h);
    tc_root_release(other, x);
    tc_heap_destroy(other);
}

/* inspect_nomem_leaves_the_heap_as_it_was — each side-table allocation of
 * each call fails in turn: TC_ERR_NOMEM, no root left behind, verify clean. */
TEST(inspect_nomem_leaves_the_heap_as_it_was)
{
    tc_heap *h = new_heap_gogc(-1);
    tc_root *a = node(h, 2, 1), *b = node(h, 2, 2), *c = node(h, 0, 3);
    CHECK(a && b && c);
    link_to(h, a, 0, b);
    link_to(h, b, 0, c);
    link_to(h, b, 1, a);
    tc_root_release(h, b);
    CHECK_OK(tc_set_finalizer(h, a, 5, NULL));
    uint64_t roots0 = roots_count(h);
    for (int call = 0; call < 5; call++) {
        int failures = 0;
        for (long k = 0; k < 64; k++) {
            tc_link *p = NULL;
            tc_link *v = NULL;
            size_t n = 0;
            uint64_t by, ob;
            inspect_debug_fail_alloc(k);
            tc_status st = call == 0   ? tc_heap_roots(h, &p, &n)
                           : call == 1 ? tc_obj_path_to(h, c, &p, &n)
                           : call == 2 ? tc_obj_retained(h, c, &by, &ob)
                           : call == 3 ? tc_obj_referrers(h, c, &v, &n)
                                       : tc_obj_referents(h, a, &v, &n);
            inspect_debug_fail_alloc(-1);
            CHECK(st == TC_OK || st == TC_ERR_NOMEM);
            failures += st == TC_ERR_NOMEM;
            if (st == TC_OK) {
                release_links(h, p, p ? n : 0);
                release_links(h, v, v ? n : 0);
            }
            CHECK(roots_count(h) == roots0);
        }
        CHECK(failures > 0);
        CHECK_OK(tc_heap_verify(h));
    }
    tc_root_release(h, a);
    tc_root_release(h, c);
    tc_heap_destroy(h);
}

/* ---- random graphs against brute force ------------------------------------------------ */

#define RG_N 40
#define RG_SLOTS 3

typedef struct rgraph {
    int edge[RG_N][RG_SLOTS]; /* target index, -1: nil */
    bool handle[RG_N], fin[RG_N];
} rgraph;

static uint64_t rg_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* rg_reach — objects reachable from the model's roots: handles (plus `also`
 * unless -1) and the referents of objects with a finalizer, never through or
 * to `removed` (-1: none). dist[] gets chain length - 1 (-1: unreachable). */
static void rg_reach(const rgraph *g, int also, int removed, int *dist)
{
    int q[RG_N * (RG_SLOTS + 1)], qh = 0, qt = 0;
    for (int i = 0; i < RG_N; i++)
        dist[i] = -1;
    for (int i = 0; i < RG_N; i++)
        if ((g->handle[i] || i == also) && i != removed) {
            dist[i] = 0;
            q[qt++] = i;
        }
    for (int f = 0; f < RG_N; f++)
        for (int k = 0; k < RG_SLOTS && g->fin[f]; k++) {
            int c = g->edge[f][k];
            if (c >= 0 && c != removed && dist[c] < 0) {
                dist[c] = 1;
                q[qt++] = c;
            }
        }
    while (qh < qt) { /* the finalizer seeds (distance 1) follow the roots (0): still breadth-first */
        int v = q[qh++];
        for (int k = 0; k < RG_SLOTS; k++) {
            int c = g->edge[v][k];
            if (c >= 0 && c != removed && dist[c] < 0) {
                dist[c] = dist[v] + 1;
                q[qt++] = c;
            }
        }
    }
}

static void rg_build(tc_heap *h, rgraph *g, uint64_t seed, tc_obj **obj, tc_root **keep)
{
    tc_root *r[RG_N];
    for (int i = 0; i < RG_N; i++) {
        r[i] = node(h, RG_SLOTS, i);
        obj[i] = tc_root_obj(r[i]);
        g->handle[i] = rg_next(&seed) % 6 == 0;
        g->fin[i] = rg_next(&seed) % 10 == 0;
    }
    for (int i = 0; i < RG_N; i++)
        for (int k = 0; k < RG_SLOTS; k++) {
            g->edge[i][k] = rg_next(&seed) % 3 == 0 ? -1 : (int)(rg_next(&seed) % RG_N);
            if (g->edge[i][k] >= 0)
                link_to(h, r[i], k, r[g->edge[i][k]]);
        }
    for (int i = 0; i < RG_N; i++) {
        if (g->fin[i])
            tc_set_finalizer(h, r[i], (tc_token)i + 1, NULL);
        keep[i] = g->handle[i] ? r[i] : NULL;
        if (!g->handle[i])
            tc_root_release(h, r[i]);
    }
}

/* rg_check_path — the chain of path_to(i) is a shortest one of the model. */
static bool rg_check_path(tc_heap *h, const rgraph *g, int i, tc_link *p, size_t n)
{
    int dist[RG_N];
    rg_reach(g, -1, -1, dist);
    if (dist[i] < 0)
        return n == 0;
    if (n != (size_t)dist[i] + 1 || tag_of(h, p[n - 1].obj) != i)
        return false;
    int t0 = (int)tag_of(h, p[0].obj);
    if (p[0].kind == TC_ROOT_HANDLE ? !g->handle[t0] : p[0].kind != TC_ROOT_FINALIZER || !g->fin[t0])
        return false;
    for (size_t k = 1; k < n; k++)
        if (p[k].slot < 0 || p[k].slot >= RG_SLOTS ||
            g->edge[tag_of(h, p[k - 1].obj)][p[k].slot] != tag_of(h, p[k].obj))
            return false;
    return true;
}

/* rg_check_retained — retained(i) = reach(roots + i) - reach(roots without i). */
static bool rg_check_retained(const rgraph *g, int i, uint64_t objs)
{
    int with[RG_N], without[RG_N];
    rg_reach(g, i, -1, with);
    rg_reach(g, -1, i, without);
    uint64_t want = 0;
    for (int v = 0; v < RG_N; v++)
        want += with[v] >= 0 && without[v] < 0;
    return objs == want;
}

/* rg_check_referrers — the reachable (i counts as rooted) or finalizable
 * objects with a slot holding i, each once. */
static bool rg_check_referrers(tc_heap *h, const rgraph *g, int i, tc_link *v, size_t n)
{
    int dist[RG_N], want = 0;
    bool seen[RG_N] = {false};
    rg_reach(g, i, -1, dist);
    for (size_t k = 0; k < n; k++) {
        int t = (int)tag_of(h, v[k].obj);
        if (t < 0 || t >= RG_N || seen[t] || v[k].slot < 0 || v[k].slot >= RG_SLOTS || g->edge[t][v[k].slot] != i)
            return false;
        for (int j = 0; j < v[k].slot; j++) /* the first slot that holds i */
            if (g->edge[t][j] == i)
                return false;
        seen[t] = true;
    }
    for (int j = 0; j < RG_N; j++) {
        bool refers = false;
        for (int k = 0; k < RG_SLOTS; k++)
            refers |= g->edge[j][k] == i;
        bool is = refers && (dist[j] >= 0 || g->fin[j]);
        if (is != seen[j])
            return false;
        want += is;
    }
    return (size_t)want == n;
}

TEST(inspect_random_graphs_match_brute_force)
{
    for (uint64_t seed = 1; seed <= 8; seed++) {
        tc_heap *h = new_heap_gogc(-1); /* no cycle: unreachable objects stay allocated to be asked about */
        rgraph g;
        tc_obj *obj[RG_N];
        tc_root *keep[RG_N];
        rg_build(h, &g, seed * 0x9E3779B97F4A7C15u, obj, keep);
        tc_stats s;
        CHECK_OK(tc_heap_stats(h, &s));
        uint64_t each = s.heap_alloc / s.heap_objects;
        tc_link *roots;
        size_t nroots, want = 0;
        CHECK_OK(tc_heap_roots(h, &roots, &nroots));
        for (int i = 0; i < RG_N; i++) {
            want += g.handle[i] + g.fin[i];
            CHECK(count_kind(h, roots, nroots, TC_ROOT_HANDLE, i) == g.handle[i]);
            CHECK(count_kind(h, roots, nroots, TC_ROOT_FINALIZER, i) == g.fin[i]);
        }
        CHECK(nroots == want);
        release_links(h, roots, nroots);
        for (int i = 0; i < RG_N; i++) {
            tc_root *q;
            CHECK_OK(tc_root_new(h, obj[i], &q));
            tc_link *p;
            tc_link *v;
            size_t n;
            uint64_t bytes, objs;
            CHECK_OK(tc_obj_path_to(h, q, &p, &n));
            CHECK(rg_check_path(h, &g, i, p, n));
            release_links(h, p, n);
            CHECK_OK(tc_obj_retained(h, q, &bytes, &objs));
            CHECK(rg_check_retained(&g, i, objs) && bytes == objs * each);
            CHECK_OK(tc_obj_referrers(h, q, &v, &n));
            CHECK(rg_check_referrers(h, &g, i, v, n));
            release_links(h, v, n);
            CHECK_OK(tc_obj_referents(h, q, &v, &n));
            size_t k = 0;
            for (int j = 0; j < RG_SLOTS; j++)
                if (g.edge[i][j] >= 0)
                    CHECK(k < n && v[k].slot == j && tag_of(h, v[k++].obj) == g.edge[i][j]);
            CHECK(k == n);
            release_links(h, v, n);
            tc_root_release(h, q);
        }
        for (int i = 0; i < RG_N; i++)
            if (keep[i])
                tc_root_release(h, keep[i]);
        CHECK(roots_count(h) == 0);
        CHECK_OK(tc_heap_verify(h));
        tc_heap_destroy(h);
    }
}

/* ---- dominators against brute force ----------------------------------------------------- */

#define DG_N 24

typedef struct dgraph {
    int n;
    bool e[DG_N][DG_N];
} dgraph;

/* dg_reach — vertices reachable from 0 without passing `cut` (-1: none). */
static void dg_reach(const dgraph *g, int cut, bool *seen)
{
    int st[DG_N], k = 0;
    memset(seen, 0, DG_N);
    if (cut == 0)
        return;
    seen[0] = true;
    st[k++] = 0;
    while (k) {
        int v = st[--k];
        for (int w = 0; w < g->n; w++)
            if (g->e[v][w] && !seen[w] && w != cut) {
                seen[w] = true;
                st[k++] = w;
            }
    }
}

static void dg_preorder(const dgraph *g, int v, int *num, int *order, int *parent_of, int *nv)
{
    num[v] = (*nv)++;
    order[num[v]] = v;
    for (int w = 0; w < g->n; w++)
        if (g->e[v][w] && num[w] < 0) {
            parent_of[w] = v;
            dg_preorder(g, w, num, order, parent_of, nv);
        }
}

TEST(inspect_dominators_match_brute_force)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* pure: one round is enough */
    uint64_t seed = 12345;
    for (int round = 0; round < 300; round++) {
        dgraph g = {.n = 2 + (int)(rg_next(&seed) % (DG_N - 1))};
        int density = 1 + (int)(rg_next(&seed) % 4);
        for (int v = 0; v < g.n; v++)
            for (int w = 0; w < g.n; w++)
                g.e[v][w] = (int)(rg_next(&seed) % (unsigned)g.n) < density;
        int num[DG_N], order[DG_N], parent_of[DG_N], nv = 0;
        for (int v = 0; v < g.n; v++)
            num[v] = -1;
        dg_preorder(&g, 0, num, order, parent_of, &nv);
        uint32_t parent[DG_N], off[DG_N + 1], pred[DG_N * DG_N], idom[DG_N];
        uint32_t m = 0;
        for (int i = 0; i < nv; i++) {
            off[i] = m;
            parent[i] = i ? (uint32_t)num[parent_of[order[i]]] : 0;
            for (int u = 0; u < g.n; u++)
                if (g.e[u][order[i]] && num[u] >= 0)
                    pred[m++] = (uint32_t)num[u];
        }
        off[nv] = m;
        CHECK_OK(dom_idom((uint32_t)nv, parent, off, pred, idom));
        bool dom[DG_N][DG_N]; /* dom[d][v]: d dominates v (both reachable) */
        for (int d = 0; d < g.n; d++) {
            bool seen[DG_N];
            dg_reach(&g, d, seen);
            for (int v = 0; v < g.n; v++)
                dom[d][v] = num[d] >= 0 && num[v] >= 0 && (v == d || !seen[v]);
        }
        for (int i = 1; i < nv; i++) { /* idom: the strict dominator every other one dominates */
            int v = order[i], want = -1;
            for (int d = 0; d < g.n; d++)
                if (d != v && dom[d][v] && (want < 0 || dom[want][d]))
                    want = d;
            CHECK(want >= 0 && idom[i] == (uint32_t)num[want] && idom[i] < (uint32_t)i);
        }
    }
}

/* ---- while cycles run ---------------------------------------------------------------------- */

typedef struct churn {
    tc_heap *h;
    _Atomic int stop;
} churn;

/* churn_main — allocate garbage (and keep a little) until told to stop, so
 * that cycles start and run while the main thread walks the heap. */
static void *churn_main(void *arg)
{
    churn *c = arg;
    tc_root *held[64] = {0};
    for (unsigned i = 0; !atomic_load(&c->stop); i++) {
        tc_root *r = node(c->h, 2, -1);
        if (!r)
            continue;
        if (held[i % 64])
            tc_root_release(c->h, held[i % 64]);
        held[i % 64] = r;
    }
    for (int i = 0; i < 64; i++)
        if (held[i])
            tc_root_release(c->h, held[i]);
    return NULL;
}

TEST(inspect_answers_stay_exact_while_cycles_run)
{
    tc_config cfg;
    tc_config_init(&cfg);
    cfg.collector = tc_test_collector;
    cfg.gogc = 20;
    cfg.checkmark = true; /* the walks must leave every mark sound */
    tc_heap *h = NULL;
    CHECK_OK(tc_heap_new(&cfg, &h));
    enum { LEN = 200 };
    tc_root *head = node(h, 1, 0), *prev = NULL, *leaf = NULL;
    CHECK(head);
    CHECK_OK(tc_root_new(h, tc_root_obj(head), &prev));
    for (int i = 1; i <= LEN; i++) {
        tc_root *n = node(h, 1, i);
        CHECK(n);
        link_to(h, prev, 0, n);
        tc_root_release(h, prev);
        prev = n;
    }
    leaf = prev;
    churn c = {h, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, churn_main, &c) == 0);
    uint64_t cycles0 = 0, cycles1 = 0;
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    cycles0 = s.num_gc;
    int bad = 0;
    for (int round = 0; round < 30 || (s.num_gc < cycles0 + 3 && round < 1000000); round++) {
        if (round % 16 == 0)
            CHECK_OK(tc_heap_stats(h, &s));
        tc_link *p;
        tc_link *v;
        size_t n;
        uint64_t bytes, objs;
        bad += tc_obj_path_to(h, leaf, &p, &n) != TC_OK || n != LEN + 1 || tag_of(h, p[LEN].obj) != LEN;
        if (p)
            release_links(h, p, n);
        bad += tc_obj_retained(h, head, &bytes, &objs) != TC_OK || objs != LEN; /* the leaf has its handle */
        bad += tc_obj_referrers(h, leaf, &v, &n) != TC_OK || n != 1 || tag_of(h, v[0].obj) != LEN - 1;
        if (v)
            release_links(h, v, n);
    }
    atomic_store(&c.stop, 1);
    pthread_join(th, NULL);
    CHECK(bad == 0);
    CHECK_OK(tc_heap_stats(h, &s));
    cycles1 = s.num_gc;
    CHECK(cycles1 > cycles0); /* cycles did run meanwhile */
    CHECK_OK(tc_heap_collect(h)); /* checkmark: still sound */
    CHECK_OK(tc_heap_verify(h));
    tc_root_release(h, head);
    tc_root_release(h, leaf);
    tc_heap_destroy(h);
}

/* inspect_finishes_a_cycle_in_mark — an incremental cycle stopped half-way
 * through its mark (a store made meanwhile through the barrier): the walk
 * finishes the cycle first and answers from the whole graph. */
TEST(inspect_finishes_a_cycle_in_mark)
{
    if (tc_test_collector != TC_COLLECTOR_INCREMENTAL)
        return; /* the stepping hooks drive an incremental heap */
    tc_config cfg;
    tc_config_init(&cfg);
    cfg.collector = TC_COLLECTOR_INCREMENTAL;
    cfg.gogc = -1;
    cfg.checkmark = true;
    tc_heap *h = NULL;
    CHECK_OK(tc_heap_new(&cfg, &h));
    enum { LEN = 300 };
    tc_root *head = node(h, 1, 0), *prev = NULL, *tail = NULL, *late = node(h, 0, -1);
    CHECK(head && late);
    CHECK_OK(tc_root_new(h, tc_root_obj(head), &prev));
    for (int i = 1; i < LEN; i++) {
        tc_root *n = node(h, 1, i);
        link_to(h, prev, 0, n);
        tc_root_release(h, prev);
        prev = n;
    }
    tail = prev;
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    uint64_t cycles = s.num_gc;
    CHECK_OK(collector_debug_start(h));
    CHECK(!collector_debug_mark(h, 10)); /* part of the mark done */
    link_to(h, tail, 0, late);           /* a store during mark */
    tc_root_release(h, late);
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(!strcmp(s.phase, "mark"));
    tc_link *p;
    size_t n;
    CHECK_OK(tc_heap_roots(h, &p, &n)); /* finishes the cycle, then walks */
    release_links(h, p, n);
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(!strcmp(s.phase, "off") && s.num_gc == cycles + 1);
    tc_root *q;
    tc_value v;
    CHECK_OK(tc_slot_get(h, tail, 0, &v, &q));
    CHECK_OK(tc_obj_path_to(h, q, &p, &n));
    CHECK(n == 2 && tag_of(h, p[0].obj) == LEN - 1 && tag_of(h, p[1].obj) == -1); /* via tail's handle */
    release_links(h, p, n);
    uint64_t bytes, objs;
    CHECK_OK(tc_obj_retained(h, head, &bytes, &objs));
    CHECK(objs == LEN - 1); /* tail has its own handle, and keeps late */
    tc_root_release(h, q);
    CHECK_OK(tc_heap_collect(h)); /* checkmark */
    CHECK_OK(tc_heap_verify(h));
    tc_root_release(h, head);
    tc_root_release(h, tail);
    tc_heap_destroy(h);
}
