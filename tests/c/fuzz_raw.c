/*
 * fuzz_raw.c — the model fuzzer's raw sections (tc_enter .. tc_leave):
 * random raw loads, stores, allocations and holds checked against the
 * model, and the races: wait for a mark to start, then (often aimed with
 * the collector's colour hook) take references out of objects, move them
 * behind marked ones, hold them in locals across mark termination.
 * fuzz_model.c says why; fuzz_internal.h states the model's invariants.
 *
 * Raw pointers are taken from a handle or a local right before use and
 * never kept across an allocation or a safepoint unless they are in a
 * local, so the fuzzer itself never holds a pointer the contract does not
 * keep valid.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fuzz_internal.h"

#define HOLD_MAX 4000  /* rounds a raw section waits for a phase at most (each a safepoint and a nap) */
#define HOLD_SHORT 200 /* rounds a raw_hold step holds its locals at most */
#define NAP_NS 20000   /* a waiting thread sleeps (a spinning one would take the CPU from the collector) */

/* A raw section's view: its locals L[] (scanned only when mark starts)
 * and their models lm[]; raw pointers are taken from a handle or a local
 * right before use, never kept across an allocation. */
typedef struct rawsec {
    tc_mutator *m;
    tc_obj **L;
    mobj *lm[NL];
} rawsec;

/* raw_pick — an object from a handle or a local (private if asked, with
 * slots if asked); its raw pointer in *p. */
static mobj *raw_pick(mt *t, rawsec *x, bool priv, bool slots, tc_obj **p)
{
    if (chance(t, 50)) {
        int start = (int)below(t, NL);
        for (int k = 0; k < NL; k++) {
            int y = (start + k) % NL;
            mobj *o = x->lm[y];
            if (o && !(priv && o->frozen) && !(slots && !o->nslots)) {
                *p = x->L[y];
                return o;
            }
        }
    }
    int i = pick(t, priv, slots, false);
    if (i < 0)
        return NULL;
    *p = tc_root_obj(t->hs[i].r);
    return t->hs[i].o;
}

/* raw_shape_ok — the raw object still has its model's shape (a lost and
 * reused object would not, and raw calls check nothing). */
static bool raw_shape_ok(mt *t, tc_obj *p, mobj *o)
{
    if (tc_obj_nslots_raw(p) == o->nslots && tc_obj_size_raw(p) == o->size && (uintptr_t)p == o->addr)
        return true;
    LOST(t, "thread %d: raw object uid %llu at %#lx has shape %zu/%zu, the model says %u/%u", t->idx,
         (unsigned long long)o->uid, (unsigned long)o->addr, tc_obj_nslots_raw(p), tc_obj_size_raw(p), o->nslots,
         o->size);
    return false;
}

/* raw_load — a reference from an object into a local. */
static void raw_load(mt *t, rawsec *x)
{
    tc_obj *p;
    mobj *o = raw_pick(t, x, false, true, &p);
    int s = o ? ref_slot(t, o) : -1;
    if (s < 0 || !raw_shape_ok(t, p, o))
        return;
    tc_value v = tc_load(p, (size_t)s);
    if (!same(v, o->slot[s])) {
        WRONG(t, "thread %d: raw load of uid %llu slot %d: a %s, the model says a ref", t->idx,
              (unsigned long long)o->uid, s, kind_name(v.kind));
        return;
    }
    int y = (int)below(t, NL);
    x->L[y] = v.u.ref;
    x->lm[y] = o->slot[s].u.ref;
}

/* raw_store — a local's reference, a scalar or nil into a private object. */
static void raw_store(mt *t, rawsec *x, bool nil)
{
    tc_obj *p;
    mobj *o = raw_pick(t, x, true, true, &p);
    if (!o || !raw_shape_ok(t, p, o))
        return;
    mval v = {0};
    int y = (int)below(t, NL);
    if (!nil && x->lm[y] && chance(t, 70)) {
        v.kind = TC_REF;
        v.u.ref = x->lm[y];
    } else if (!nil) {
        v = random_val(t, false);
    }
    uint32_t s = (uint32_t)below(t, o->nslots);
    tc_store(x->m, p, s, v.kind == TC_REF ? tc_ref(x->L[y]) : to_value(v));
    mset(o, s, v);
}

static void raw_alloc(mt *t, rawsec *x)
{
    uint32_t ns = (uint32_t)below(t, 9), sz = (uint32_t)(chance(t, 80) ? below(t, 64) : below(t, 3000));
    tc_obj *p = tc_alloc(x->m, ns, sz);
    t->calls++;
    if (!p) {
        fz_fail(t->R, &t->R->errors, "thread %d: tc_alloc(%u, %u): %s", t->idx, ns, sz, tc_errmsg());
        return;
    }
    mobj *o = mobj_new(t, ns, sz);
    o->addr = (uintptr_t)p;
    pattern(o, t->buf);
    memcpy(tc_payload(p), t->buf, sz);
    int y = (int)below(t, NL);
    x->L[y] = p;
    x->lm[y] = o;
}

/* raw_hold — keep the locals across (at best) a mark termination: safepoints
 * and allocations until a checkmark (one per cycle) was counted. */
static void raw_hold(mt *t, rawsec *x)
{
    static const uint32_t sizes[] = {24, 100, 300, 700, 1500, 3000, 6000, 12000};
    uint64_t cm[3];
    collector_debug_checkmarks(t->R->h, cm);
    uint64_t seen = cm[0] + cm[1] + cm[2];
    for (unsigned it = 0; it < HOLD_SHORT && !atomic_load(&t->R->stop); it++) {
        tc_safepoint(x->m);
        if (!(it & 3) && !tc_alloc(x->m, 1, sizes[(it >> 2) & 7]))
            return (void)fz_fail(t->R, &t->R->errors, "thread %d: tc_alloc (hold): %s", t->idx, tc_errmsg());
        if (!(it & 15)) {
            collector_debug_checkmarks(t->R->h, cm);
            if (cm[0] + cm[1] + cm[2] > seen)
                break;
            nanosleep(&(struct timespec){0, NAP_NS}, NULL);
        }
    }
}

/* raw_check — a local's or handle's object, shallowly, with raw calls. */
static void raw_check(mt *t, rawsec *x)
{
    tc_obj *p;
    mobj *o = raw_pick(t, x, false, false, &p);
    if (!o || !raw_shape_ok(t, p, o))
        return;
    pattern(o, t->buf2);
    if (memcmp(tc_payload(p), t->buf2, o->size) != 0)
        WRONG(t, "thread %d: raw payload of uid %llu differs from the model", t->idx, (unsigned long long)o->uid);
    for (uint32_t s = 0; s < o->nslots; s++)
        if (!same(tc_load(p, s), o->slot[s]))
            WRONG(t, "thread %d: raw load of uid %llu slot %u differs from the model", t->idx,
                  (unsigned long long)o->uid, s);
}

static void raw_root(mt *t, rawsec *x)
{
    int y = (int)below(t, NL);
    tc_root *r;
    if (x->lm[y] && ok(t, tc_root_new(t->R->h, x->L[y], &r), "root_new (raw)"))
        hs_set(t, (int)below(t, NH), r, x->lm[y]);
}

static void raw_payload(mt *t, rawsec *x)
{
    tc_obj *p;
    mobj *o = raw_pick(t, x, true, false, &p);
    if (!o || !o->size || !raw_shape_ok(t, p, o))
        return;
    o->version++;
    pattern(o, t->buf);
    memcpy(tc_payload(p), t->buf, o->size);
}

/* wait_phase — at safepoints (allocating now and then, which drives the
 * incremental and stw collectors), until the heap is (mark) or is not
 * (!mark) marking; false if that took too long. */
static bool wait_phase(mt *t, rawsec *x, bool mark)
{
    static const uint32_t sizes[] = {24, 100, 300, 700, 1500, 3000, 6000, 12000};
    for (unsigned it = 0; it < HOLD_MAX && !atomic_load(&t->R->stop); it++) {
        if ((collector_debug_phase(t->R->h) == 1) == mark)
            return true;
        tc_safepoint(x->m);
        if (!(it & 3) && !tc_alloc(x->m, 1, sizes[(it >> 2) & 7]))
            return fz_fail(t->R, &t->R->errors, "thread %d: tc_alloc (wait): %s", t->idx, tc_errmsg()), false;
        else if (it & 3)
            nanosleep(&(struct timespec){0, NAP_NS}, NULL);
    }
    return false;
}

/* raw_take — walk from a handle a few references down (raw loads, no
 * allocation on the way: the pointers stay valid), then take one reference
 * of the object reached into a local and delete it there. */
static void raw_take(mt *t, rawsec *x)
{
    int i = pick(t, false, true, true);
    if (i < 0)
        return;
    tc_obj *p = tc_root_obj(t->hs[i].r);
    mobj *o = t->hs[i].o;
    for (int d = (int)below(t, 6); d > 0; d--) {
        int s = ref_slot(t, o);
        mobj *c = s >= 0 ? o->slot[s].u.ref : NULL;
        if (!c || ref_slot(t, c) < 0 || !raw_shape_ok(t, p, o))
            break;
        p = tc_load(p, (size_t)s).u.ref;
        o = c;
    }
    int s = ref_slot(t, o);
    if (o->frozen || s < 0 || !raw_shape_ok(t, p, o))
        return;
    tc_value v = tc_load(p, (size_t)s);
    if (!same(v, o->slot[s]))
        return WRONG(t, "thread %d: raw load of uid %llu slot %d differs from the model", t->idx,
                     (unsigned long long)o->uid, s);
    int y = (int)below(t, NL);
    x->L[y] = v.u.ref;
    x->lm[y] = o->slot[s].u.ref;
    tc_store(x->m, p, (size_t)s, tc_nil());
    mset(o, (uint32_t)s, (mval){0});
}

/* race_delay — often act at once (nothing is scanned yet), else let the
 * marker get partly through first (an insertion barrier only matters for
 * an object already scanned): the incremental collector marks a slice in
 * any large allocation, the concurrent one on its own thread. */
static void race_delay(mt *t, rawsec *x)
{
    unsigned r = (unsigned)below(t, 10);
    if (r < 4)
        return;
    if (t->R->o->collector == TC_COLLECTOR_INCREMENTAL && r < 8) {
        if (!tc_alloc(x->m, 0, 40000))
            fz_fail(t->R, &t->R->errors, "thread %d: tc_alloc (race): %s", t->idx, tc_errmsg());
        return;
    }
    for (unsigned spin = (unsigned)below(t, 20000); spin; spin--)
        __asm__ __volatile__("" ::: "memory");
    if (r >= 8)
        sched_yield();
}


/* An aimed lost-object pattern: A white, holding in slot s the only
 * reference to X, white; B marked (scanned), or none. */
typedef struct aim {
    tc_obj *pa, *pb; /* raw pointers (valid: reachable from handles, nothing allocates meanwhile) */
    mobj *a, *x, *b;
    int s, ia, ib;   /* ia: A's handle, or -1 (A is a child of handle ia_parent) */
} aim;

/* aim_a — is o (raw p) a white private object with a reference slot to a
 * white private X that nothing else this thread holds refers to? */
static bool aim_a(mt *t, tc_obj *p, mobj *o, aim *g)
{
    if (o->frozen || !raw_shape_ok(t, p, o) || collector_debug_color(p) != 0)
        return false;
    for (uint32_t k = 0, s0 = (uint32_t)below(t, o->nslots + 1); k < o->nslots; k++) {
        uint32_t s = (s0 + k) % o->nslots;
        mobj *x = o->slot[s].kind == TC_REF ? o->slot[s].u.ref : NULL;
        if (x && !x->frozen && x->rc == 1 && collector_debug_color(tc_load(p, s).u.ref) == 0) {
            *g = (aim){.pa = p, .a = o, .x = x, .s = (int)s, .ib = -1};
            return true;
        }
    }
    return false;
}

/* find_aim — look through the handles' objects and their children. */
static bool find_aim(mt *t, aim *g)
{
    bool found = false;
    for (int k = 0, i0 = (int)below(t, NH); k < NH && !found; k++) {
        int i = (i0 + k) % NH;
        mobj *o = t->hs[i].o;
        if (!o || o->frozen)
            continue;
        tc_obj *p = tc_root_obj(t->hs[i].r);
        if ((found = aim_a(t, p, o, g))) {
            g->ia = i;
            break;
        }
        for (uint32_t s = 0; s < o->nslots && !found && raw_shape_ok(t, p, o); s++)
            if (o->slot[s].kind == TC_REF && (found = aim_a(t, tc_load(p, s).u.ref, o->slot[s].u.ref, g)))
                g->ia = -1;
    }
    for (int k = 0, i0 = (int)below(t, NH); found && k < NH; k++) {
        int i = (i0 + k) % NH;
        mobj *o = t->hs[i].o;
        if (o && !o->frozen && o->nslots && o != g->a && collector_debug_color(tc_root_obj(t->hs[i].r)) == 1) {
            g->ib = i;
            g->b = o;
            g->pb = tc_root_obj(t->hs[i].r);
            break;
        }
    }
    return found;
}

/* wait_partial — while the heap marks, wait (at safepoints; the
 * incremental collector marks a slice at each large allocation) until an
 * aim with a marked B exists: the mark is partly done. */
static bool wait_partial(mt *t, rawsec *x, aim *g)
{
    for (unsigned it = 0; it < HOLD_MAX && collector_debug_phase(t->R->h) == 1 && !atomic_load(&t->R->stop); it++) {
        if (find_aim(t, g) && g->b)
            return true;
        tc_safepoint(x->m);
        if (t->R->o->collector == TC_COLLECTOR_INCREMENTAL && !(it & 7) && !tc_alloc(x->m, 0, 40000))
            return fz_fail(t->R, &t->R->errors, "thread %d: tc_alloc (partial): %s", t->idx, tc_errmsg()), false;
        for (unsigned spin = (unsigned)below(t, 3000); spin; spin--)
            __asm__ __volatile__("" ::: "memory");
    }
    return false;
}

/* op_aimed — one aimed pattern (in raw section x, while marking): move X
 * from A into B (checked calls or raw), or take X into a handle, or into a
 * local held until the mark has ended. */
static void op_aimed(mt *t, rawsec *x, bool partial)
{
    aim g;
    if (partial ? !wait_partial(t, x, &g) : !find_aim(t, &g))
        return;
    tc_heap *h = t->R->h;
    unsigned v = (unsigned)below(t, 4);
    if (v < 2 && g.b) { /* move: checked (v 0) or raw (v 1) */
        uint32_t j = (uint32_t)below(t, g.b->nslots);
        tc_root *ra = g.ia >= 0 ? t->hs[g.ia].r : NULL, *rx = NULL;
        if (v == 0 && (ra || ok(t, tc_root_new(h, g.pa, &ra), "root_new (aim)"))) {
            if (get_slot(t, ra, g.a, (uint32_t)g.s, &rx) && rx && set_slot(t, t->hs[g.ib].r, g.b, j, g.a->slot[g.s]))
                set_slot(t, ra, g.a, (uint32_t)g.s, (mval){0});
            if (rx)
                release(t, rx);
            if (g.ia < 0)
                release(t, ra);
        } else if (v == 1) {
            tc_store(x->m, g.pb, j, tc_load(g.pa, (size_t)g.s));
            mset(g.b, j, g.a->slot[g.s]);
            tc_store(x->m, g.pa, (size_t)g.s, tc_nil());
            mset(g.a, (uint32_t)g.s, (mval){0});
        }
    } else if (v == 2 && g.ia >= 0) { /* into a handle made after the handles were scanned */
        tc_root *rx;
        if (get_slot(t, t->hs[g.ia].r, g.a, (uint32_t)g.s, &rx) && rx) {
            mobj *xo = g.x;
            set_slot(t, t->hs[g.ia].r, g.a, (uint32_t)g.s, (mval){0});
            hs_set(t, (int)below(t, NH), rx, xo);
        }
    } else { /* into a local, held across the end of the mark */
        int y = (int)below(t, NL);
        x->L[y] = tc_load(g.pa, (size_t)g.s).u.ref;
        x->lm[y] = g.x;
        tc_store(x->m, g.pa, (size_t)g.s, tc_nil());
        mset(g.a, (uint32_t)g.s, (mval){0});
        wait_phase(t, x, false);
    }
}

/* op_race — wait for a mark to start, then at once (little is scanned yet)
 * take references out of objects into locals and handles, move them, drop
 * handles; often hold the locals until the mark has ended, then put them
 * back. The patterns a missing barrier shade loses objects in. */
void op_race(mt *t)
{
    rawsec x = {0};
    t->calls++;
    if (!(x.m = tc_enter(t->R->h)) || !(x.L = tc_locals(x.m, NL)))
        return (void)(x.m ? tc_leave(x.m) : (void)0);
    if (t->R->o->collector != TC_COLLECTOR_STW && wait_phase(t, &x, false) && wait_phase(t, &x, true)) {
        race_delay(t, &x);
        for (int k = 1 + (int)below(t, 4); k > 0 && !atomic_load(&t->R->stop); k--) {
            unsigned r = (unsigned)below(t, 10);
            if (r < 5 && collector_debug_phase(t->R->h) == 1)
                op_aimed(t, &x, chance(t, 50));
            else if (r < 5)
                raw_take(t, &x);
            else if (r < 7)
                op_move(t);
            else if (r < 9)
                op_get(t);
            else
                op_drop(t);
        }
        unsigned end = (unsigned)below(t, 10);
        if (end < 5)
            wait_phase(t, &x, false);
        for (int k = 0; k < 3; k++)
            raw_store(t, &x, false);
        raw_root(t, &x);
        if (end >= 7) { /* idle, outside any heap call, until the mark ends */
            tc_locals_pop(x.m, NL);
            tc_leave(x.m);
            for (unsigned it = 0; it < 250 && collector_debug_phase(t->R->h) == 1; it++)
                nanosleep(&(struct timespec){0, NAP_NS}, NULL);
            return;
        }
    }
    tc_locals_pop(x.m, NL);
    tc_leave(x.m);
}

/* op_raw — a raw section of a few random steps. */
void op_raw(mt *t)
{
    rawsec x = {0};
    t->calls++;
    if (!(x.m = tc_enter(t->R->h)))
        return (void)fz_fail(t->R, &t->R->errors, "thread %d: tc_enter: %s", t->idx, tc_errmsg());
    if (!(x.L = tc_locals(x.m, NL))) {
        fz_fail(t->R, &t->R->errors, "thread %d: tc_locals: %s", t->idx, tc_errmsg());
        return tc_leave(x.m);
    }
    int steps = 1 + (int)below(t, 10);
    for (int k = 0; k < steps && !atomic_load(&t->R->stop); k++) {
        unsigned r = (unsigned)below(t, 100);
        if (r < 25)
            raw_load(t, &x);
        else if (r < 40)
            raw_store(t, &x, true);
        else if (r < 55)
            raw_store(t, &x, false);
        else if (r < 73)
            raw_alloc(t, &x);
        else if (r < 78)
            raw_hold(t, &x);
        else if (r < 88)
            raw_check(t, &x);
        else if (r < 95)
            raw_root(t, &x);
        else
            raw_payload(t, &x);
    }
    tc_locals_pop(x.m, NL);
    tc_leave(x.m);
}
