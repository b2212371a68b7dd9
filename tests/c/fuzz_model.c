/*
 * fuzz_model.c — one mutator thread of the model fuzzer: random operations
 * on the heap, each checked against the thread's exact model of what it
 * owns (fuzz_internal.h states the model's invariants).
 *
 * Why several threads, and why this mix. A missing barrier shade loses an
 * object only when a mutator moves a white object behind a black one while
 * the marker runs, and the marker runs on another thread (or between the
 * allocations of the incremental collector), so a single thread rarely
 * lines the two up. The operations below are chosen to line them up often:
 *  - move (load a reference from A, store it into B, delete it from A),
 *    with B often a new object (black during mark) and A often deep in a
 *    chain (scanned late);
 *  - re-reads of references into new handles that outlive the cycle, and
 *    handle drops, both during mark;
 *  - raw sections (tc_enter) that load a reference into a local, delete it
 *    from the heap and hold it across mark termination (locals are only
 *    scanned at the start of mark);
 *  - bursts of more handles than one handle-table chunk holds;
 *  - objects shared between threads through a board object: a thread
 *    freezes a subgraph (it never changes again) and publishes it; others
 *    read it from the board, check it and link it into their own objects.
 * Every cycle runs checkmark; the model catches what checkmark cannot see
 * (a root the re-mark misses as well, a value that changed, a finalizer,
 * cleanup or weak reference that fired for a reachable object).
 */
#include <sched.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz_internal.h"

#define FREEZE_MAX 16  /* objects one publication may freeze */
#define BURST 4200     /* handles in a burst: more than a handle-table chunk (4096) */
#define REACH_MAX 20000 /* objects a reachability question visits at most (else: no answer) */

/* ---- failures, randomness, calls ---- */

void fz_fail(run *R, _Atomic uint64_t *counter, const char *fmt, ...)
{
    atomic_fetch_add(counter, 1);
    pthread_mutex_lock(&R->fail_lock);
    if (!R->failure[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(R->failure, sizeof R->failure, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&R->fail_lock);
    atomic_store(&R->stop, true);
}

uint64_t rnd(mt *t)
{
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545F4914F6CDD1DULL;
}

uint64_t below(mt *t, uint64_t n) { return n ? rnd(t) % n : 0; }
bool chance(mt *t, unsigned pct) { return below(t, 100) < pct; }

uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* ok — a call that must succeed; false (and a failure) if it did not. */
bool ok(mt *t, tc_status st, const char *what)
{
    t->calls++;
    if (st == TC_OK)
        return true;
    fz_fail(t->R, &t->R->errors, "thread %d op %llu: %s: %s (%s)", t->idx, (unsigned long long)t->ops, what,
            tc_status_str(st), tc_errmsg());
    return false;
}


void release(mt *t, tc_root *r)
{
    t->calls++;
    tc_root_release(t->R->h, r);
}

/* ---- the model ---- */

mobj *mobj_new(mt *t, uint32_t nslots, uint32_t size)
{
    mobj *o = calloc(1, sizeof *o + nslots * sizeof(mval));
    if (!o) {
        fprintf(stderr, "fuzz: out of memory for the model\n");
        exit(2);
    }
    static _Atomic uint64_t uids = 1;
    o->uid = atomic_fetch_add(&uids, 1);
    o->nslots = nslots;
    o->size = size;
    o->next = t->objs;
    t->objs = o;
    t->nobjs++;
    return o;
}

/* pattern — the payload o must hold: its uid, then bytes from (uid, version). */
void pattern(const mobj *o, uint8_t *buf)
{
    size_t k = 0;
    if (o->size >= 8) {
        memcpy(buf, &o->uid, 8);
        k = 8;
    }
    uint64_t x = o->uid ^ ((uint64_t)o->version << 40);
    for (; k < o->size; k += 8) {
        x = mix(x);
        memcpy(buf + k, &x, o->size - k < 8 ? o->size - k : 8);
    }
}

/* mset — the model's o[s] = v, keeping the reference counts (rc) that
 * aimed operations use to find an object only one slot refers to. */
void mset(mobj *o, uint32_t s, mval v)
{
    if (o->slot[s].kind == TC_REF && !o->slot[s].u.ref->frozen)
        o->slot[s].u.ref->rc--;
    if (v.kind == TC_REF && !v.u.ref->frozen)
        v.u.ref->rc++;
    o->slot[s] = v;
}

tc_value to_value(mval v)
{
    switch (v.kind) {
    case TC_BOOL: return tc_bool(v.u.b);
    case TC_INT: return tc_int(v.u.i);
    case TC_FLOAT: {
        double d;
        memcpy(&d, &v.u.bits, 8);
        return tc_float(d);
    }
    case TC_REF: return tc_ref((tc_obj *)v.u.ref->addr);
    default: return tc_nil();
    }
}

/* same — does the heap's value v match the model's e? */
bool same(tc_value v, mval e)
{
    if ((uint8_t)v.kind != e.kind)
        return false;
    switch (e.kind) {
    case TC_BOOL: return v.u.b == e.u.b;
    case TC_INT: return v.u.i == e.u.i;
    case TC_FLOAT: return memcmp(&v.u.d, &e.u.bits, 8) == 0;
    case TC_REF: return tc_obj_address(v.u.ref) == e.u.ref->addr;
    default: return true;
    }
}

const char *kind_name(int k)
{
    static const char *const n[] = {"nil", "bool", "int", "float", "ref"};
    return k >= 0 && k <= 4 ? n[k] : "?";
}

int tok_state(run *R, uint64_t token)
{
    return token && token <= TOK_MAX ? atomic_load(&R->toks[token - 1].state) : T_FREE;
}

/* tok_new — a fresh token for o's finalizer or cleanup (0 if none is left). */
static uint64_t tok_new(run *R, tc_ready_kind kind, const mobj *o)
{
    uint64_t i = atomic_fetch_add(&R->ntok, 1);
    if (i >= TOK_MAX)
        return 0;
    tok *k = &R->toks[i];
    k->kind = (uint8_t)kind;
    k->uid = o->uid;
    k->addr = o->addr;
    k->size = o->size;
    atomic_store_explicit(&k->state, T_ARMED, memory_order_release);
    return i + 1;
}

/* reg_insert, reg_find — the frozen-object registry (open addressing). */
static bool reg_insert(run *R, mobj *o)
{
    size_t mask = ((size_t)1 << REG_BITS) - 1;
    for (size_t i = mix(o->uid) & mask;; i = (i + 1) & mask) {
        mobj *none = NULL;
        if (atomic_compare_exchange_strong(&R->reg[i], &none, o)) {
            atomic_fetch_add(&R->nreg, 1);
            return true;
        }
    }
}

static mobj *reg_find(run *R, uint64_t uid)
{
    size_t mask = ((size_t)1 << REG_BITS) - 1;
    for (size_t i = mix(uid) & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
        mobj *o = atomic_load(&R->reg[i]);
        if (!o)
            return NULL;
        if (o->uid == uid)
            return o;
    }
    return NULL;
}

void fz_free_frozen(run *R)
{
    for (size_t i = 0; i < ((size_t)1 << REG_BITS); i++) {
        free(atomic_load(&R->reg[i]));
        atomic_store(&R->reg[i], NULL);
    }
    atomic_store(&R->nreg, 0);
}

/* ---- traversals of the model ---- */

static void work_push(mt *t, tc_root *r, mobj *o, bool own)
{
    if (t->nwork == t->capwork) {
        t->capwork = t->capwork ? 2 * t->capwork : 256;
        t->work = realloc(t->work, t->capwork * sizeof *t->work);
        if (!t->work)
            exit(2);
    }
    t->work[t->nwork++] = (struct pair){r, o, own};
}

/* model_gc — free the model objects this thread can no longer reach: mark
 * from its handles (strongly) and its weak references' targets (kept, so a
 * weak get that revives one still has its model), then sweep its list.
 * A strongly reachable object's finalizer or cleanup must not have run. */
void model_gc(mt *t)
{
    uint32_t e = ++t->epoch;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i <= (pass ? NW : NH); i++) {
            mobj *o = i == (pass ? NW : NH) ? (pass ? NULL : t->weight.o) : pass ? t->ws[i].o : t->hs[i].o;
            if (o && !o->frozen && o->seen[t->idx] != e) {
                o->seen[t->idx] = e;
                work_push(t, NULL, o, false);
            }
        }
        while (t->nwork) {
            mobj *o = t->work[--t->nwork].o;
            if (!pass && (tok_state(t->R, o->fin) == T_FIRED || tok_state(t->R, o->cleanup[0]) == T_FIRED ||
                          tok_state(t->R, o->cleanup[1]) == T_FIRED))
                LOST(t, "thread %d: object uid %llu is reachable but its finalizer or cleanup ran", t->idx,
                     (unsigned long long)o->uid);
            for (uint32_t s = 0; s < o->nslots; s++) {
                mobj *c = o->slot[s].kind == TC_REF ? o->slot[s].u.ref : NULL;
                if (c && !c->frozen && c->seen[t->idx] != e) {
                    c->seen[t->idx] = e;
                    work_push(t, NULL, c, false);
                }
            }
        }
    }
    for (mobj *o = t->objs; o; o = o->next) /* the dead no longer refer to anything */
        for (uint32_t s = 0; !o->frozen && o->seen[t->idx] != e && s < o->nslots; s++)
            if (o->slot[s].kind == TC_REF && !o->slot[s].u.ref->frozen)
                o->slot[s].u.ref->rc--;
    for (mobj **pp = &t->objs; *pp;) {
        mobj *o = *pp;
        if (o->frozen || o->seen[t->idx] != e) {
            *pp = o->next; /* frozen: the registry owns it now */
            t->nobjs--;
            if (!o->frozen)
                free(o);
        } else {
            pp = &o->next;
        }
    }
    t->kept = t->nobjs;
}

/* strongly_reachable — is x reachable from this thread's handles (through
 * its private and frozen objects)? -1 if the question took too long. */
static int strongly_reachable(mt *t, mobj *x)
{
    uint32_t e = ++t->epoch;
    int found = 0;
    size_t visits = 0;
    for (int i = 0; i < NH; i++)
        if (t->hs[i].o && t->hs[i].o->seen[t->idx] != e) {
            t->hs[i].o->seen[t->idx] = e;
            work_push(t, NULL, t->hs[i].o, false);
        }
    while (t->nwork) {
        mobj *o = t->work[--t->nwork].o;
        found |= o == x;
        if (++visits > REACH_MAX) {
            t->nwork = 0;
            return -1;
        }
        for (uint32_t s = 0; s < o->nslots; s++) {
            mobj *c = o->slot[s].kind == TC_REF ? o->slot[s].u.ref : NULL;
            if (c && c->seen[t->idx] != e) {
                c->seen[t->idx] = e;
                work_push(t, NULL, c, false);
            }
        }
    }
    return found;
}

/* ---- checks against the heap ---- */

/* check_identity — root r refers to model object o (address, and uid for
 * a payload that holds one). */
static bool check_identity(mt *t, tc_root *r, mobj *o, const char *what)
{
    if (tc_obj_address(tc_root_obj(r)) != o->addr) {
        WRONG(t, "thread %d: %s: object at %#lx, the model says %#lx (uid %llu)", t->idx, what,
              (unsigned long)tc_obj_address(tc_root_obj(r)), (unsigned long)o->addr, (unsigned long long)o->uid);
        return false;
    }
    uint64_t uid = 0;
    if (o->size >= 8 && ok(t, tc_obj_data_get(t->R->h, r, &uid, 8), "data_get") && uid != o->uid) {
        LOST(t, "thread %d: %s: object uid %llu at %#lx holds uid %llu (freed and reused?)", t->idx, what,
             (unsigned long long)o->uid, (unsigned long)o->addr, (unsigned long long)uid);
        return false;
    }
    return true;
}

/* check_object — shape, payload and every slot of o (through root r);
 * references to objects not seen yet in this traversal are queued. */
static void check_object(mt *t, tc_root *r, mobj *o, size_t *budget)
{
    tc_heap *h = t->R->h;
    size_t ns = 0, sz = 0;
    if (!ok(t, tc_obj_nslots(h, r, &ns), "nslots") || !ok(t, tc_obj_size(h, r, &sz), "size"))
        return;
    if (ns != o->nslots || sz != o->size) {
        LOST(t, "thread %d: object uid %llu has shape %zu/%zu, the model says %u/%u", t->idx,
             (unsigned long long)o->uid, ns, sz, o->nslots, o->size);
        return;
    }
    if (o->size && ok(t, tc_obj_data_get(h, r, t->buf, o->size), "data_get")) {
        pattern(o, t->buf2);
        if (memcmp(t->buf, t->buf2, o->size) != 0)
            WRONG(t, "thread %d: object uid %llu: payload differs from the model", t->idx, (unsigned long long)o->uid);
    }
    for (uint32_t s = 0; s < o->nslots && !atomic_load(&t->R->stop); s++) {
        tc_value v;
        tc_root *rr = NULL;
        if (!ok(t, tc_slot_get(h, r, s, &v, &rr), "slot_get"))
            return;
        if (!same(v, o->slot[s]))
            WRONG(t, "thread %d: object uid %llu slot %u: a %s, the model says a %s", t->idx,
                  (unsigned long long)o->uid, s, kind_name(v.kind), kind_name(o->slot[s].kind));
        if (!rr)
            continue;
        mobj *c = o->slot[s].u.ref;
        if (v.kind == TC_REF && o->slot[s].kind == TC_REF && c->seen[t->idx] != t->epoch && *budget) {
            (*budget)--;
            c->seen[t->idx] = t->epoch;
            work_push(t, rr, c, true);
        } else {
            release(t, rr);
        }
    }
}

/* deep_check — check o (root r, not released here) and up to `budget`
 * objects reachable from it. */
void deep_check(mt *t, tc_root *r, mobj *o, size_t budget)
{
    t->epoch++;
    o->seen[t->idx] = t->epoch;
    size_t base = t->nwork;
    work_push(t, r, o, false);
    while (t->nwork > base) {
        struct pair p = t->work[--t->nwork];
        if (!atomic_load(&t->R->stop) && check_identity(t, p.r, p.o, "deep check"))
            check_object(t, p.r, p.o, &budget);
        if (p.own)
            release(t, p.r);
    }
}

/* ---- choosing ---- */

void hs_set(mt *t, int i, tc_root *r, mobj *o)
{
    if (t->hs[i].r)
        release(t, t->hs[i].r);
    if (t->hs[i].o && !t->hs[i].o->frozen)
        t->hs[i].o->rc--;
    if (o && !o->frozen)
        o->rc++;
    t->hs[i].r = r;
    t->hs[i].o = o;
}

/* pick — a random handle whose object is private (if asked), has slots (if
 * asked) and a reference slot (if asked); -1 if none. */
int pick(mt *t, bool priv, bool slots, bool ref)
{
    int start = (int)below(t, NH);
    for (int k = 0; k < NH; k++) {
        int i = (start + k) % NH;
        mobj *o = t->hs[i].o;
        if (!o || (priv && o->frozen) || (slots && !o->nslots))
            continue;
        if (ref) {
            bool any = false;
            for (uint32_t s = 0; s < o->nslots && !any; s++)
                any = o->slot[s].kind == TC_REF;
            if (!any)
                continue;
        }
        return i;
    }
    return -1;
}

/* ref_slot — a random reference slot of o, or -1. */
int ref_slot(mt *t, const mobj *o)
{
    if (!o->nslots)
        return -1;
    uint32_t start = (uint32_t)below(t, o->nslots);
    for (uint32_t k = 0; k < o->nslots; k++)
        if (o->slot[(start + k) % o->nslots].kind == TC_REF)
            return (int)((start + k) % o->nslots);
    return -1;
}

static void random_shape(mt *t, uint32_t *ns, uint32_t *sz)
{
    unsigned r = (unsigned)below(t, 100);
    *ns = (uint32_t)(r < 55 ? below(t, 5) : r < 92 ? 5 + below(t, 12) : 17 + below(t, 48));
    r = (unsigned)below(t, 1000);
    *sz = (uint32_t)(r < 250 ? below(t, 8) : r < 600 ? 8 + below(t, 25) : r < 880 ? 33 + below(t, 480)
                     : r < 997 ? 513 + below(t, 7000) : 33000 + below(t, 60000));
}

/* random_val — a scalar of any kind, or a reference to a handle's object. */
mval random_val(mt *t, bool refs)
{
    mval v = {0};
    switch (below(t, 10)) {
    case 0: break;
    case 1: v.kind = TC_BOOL; v.u.b = rnd(t) & 1; break;
    case 2: v.kind = TC_INT; v.u.i = (int64_t)rnd(t) >> 2; break;
    case 3: v.kind = TC_INT; v.u.i = (int64_t)below(t, 2000) - 1000; break;
    case 4: v.kind = TC_FLOAT; v.u.bits = rnd(t); break;
    default: {
        int j = refs ? pick(t, false, false, false) : -1;
        if (j >= 0) {
            v.kind = TC_REF;
            v.u.ref = t->hs[j].o;
        }
    }
    }
    return v;
}

/* set_slot — o[s] = v through root r, in the heap and the model. */
bool set_slot(mt *t, tc_root *r, mobj *o, uint32_t s, mval v)
{
    if (!ok(t, tc_slot_set(t->R->h, r, s, to_value(v)), "slot_set"))
        return false;
    mset(o, s, v);
    return true;
}

/* get_slot — read o[s] through r and compare; a reference comes back as a
 * new root (*rr) after its identity was checked. */
bool get_slot(mt *t, tc_root *r, mobj *o, uint32_t s, tc_root **rr)
{
    tc_value v;
    *rr = NULL;
    if (!ok(t, tc_slot_get(t->R->h, r, s, &v, rr), "slot_get"))
        return false;
    if (!same(v, o->slot[s])) {
        WRONG(t, "thread %d: object uid %llu slot %u reads a %s, the model says a %s", t->idx,
              (unsigned long long)o->uid, s, kind_name(v.kind), kind_name(o->slot[s].kind));
        if (*rr)
            release(t, *rr);
        *rr = NULL;
        return false;
    }
    return true;
}

/* ---- operations ---- */

void op_new(mt *t)
{
    uint32_t ns, sz;
    random_shape(t, &ns, &sz);
    mobj *o = mobj_new(t, ns, sz);
    pattern(o, t->buf);
    tc_root *r;
    if (!ok(t, tc_obj_new(t->R->h, ns, sz, sz ? t->buf : NULL, &r), "obj_new"))
        return;
    o->addr = tc_obj_address(tc_root_obj(r));
    int j = chance(t, 35) ? pick(t, true, true, false) : -1;
    if (j >= 0 && set_slot(t, t->hs[j].r, t->hs[j].o, (uint32_t)below(t, t->hs[j].o->nslots),
                           (mval){.kind = TC_REF, .u.ref = o}) && chance(t, 50)) {
        release(t, r); /* it lives on through the link */
        return;
    }
    hs_set(t, (int)below(t, NH), r, o);
}

void op_set(mt *t)
{
    int i = pick(t, true, true, false);
    if (i < 0)
        return op_new(t);
    mobj *o = t->hs[i].o;
    set_slot(t, t->hs[i].r, o, (uint32_t)below(t, o->nslots), random_val(t, t->nobjs < t->R->model_max));
}

/* op_get — read a slot and compare; a reference is often kept as a new
 * handle (a re-read that outlives the cycle). */
void op_get(mt *t)
{
    int i = pick(t, false, true, chance(t, 60));
    if (i < 0)
        return op_new(t);
    mobj *o = t->hs[i].o;
    uint32_t s = (uint32_t)below(t, o->nslots);
    tc_root *rr;
    if (!get_slot(t, t->hs[i].r, o, s, &rr) || !rr)
        return;
    mobj *x = o->slot[s].u.ref;
    if (chance(t, 50) && !check_identity(t, rr, x, "get"))
        return release(t, rr);
    if (chance(t, 40))
        hs_set(t, (int)below(t, NH), rr, x);
    else
        release(t, rr);
}

/* walk — from handle i down up to `depth` references; returns the root of
 * the object reached (a temporary in tmp[] unless it is the handle's). */
static tc_root *walk(mt *t, int i, int depth, mobj **at, tc_root **tmp, int *ntmp)
{
    tc_root *cur = t->hs[i].r;
    mobj *o = t->hs[i].o;
    for (int d = 0; d < depth; d++) {
        int s = ref_slot(t, o);
        tc_root *nr;
        if (s < 0 || !get_slot(t, cur, o, (uint32_t)s, &nr) || !nr)
            break;
        cur = tmp[(*ntmp)++] = nr;
        o = o->slot[s].u.ref;
    }
    *at = o;
    return cur;
}

/* op_move — the lost-object pattern: x = A[s]; B[j] = x; A[s] = other,
 * with A reached through a chain and B often new (black during mark). */
void op_move(mt *t)
{
    int i = pick(t, false, true, true);
    if (i < 0)
        return op_new(t);
    tc_root *tmp[8], *rx, *rb = NULL;
    int ntmp = 0;
    mobj *a, *b;
    tc_root *ra = walk(t, i, (int)below(t, 7), &a, tmp, &ntmp);
    int s = a->frozen ? -1 : ref_slot(t, a);
    if (s >= 0 && get_slot(t, ra, a, (uint32_t)s, &rx) && rx) {
        mobj *x = a->slot[s].u.ref;
        int j = pick(t, true, true, false);
        if (chance(t, 50) || j < 0) {
            uint32_t ns = 1 + (uint32_t)below(t, 6);
            b = mobj_new(t, ns, 0);
            if (ok(t, tc_obj_new(t->R->h, ns, 0, NULL, &rb), "obj_new"))
                b->addr = tc_obj_address(tc_root_obj(rb));
        } else {
            b = t->hs[j].o;
        }
        tc_root *rbb = rb ? rb : j >= 0 ? t->hs[j].r : NULL;
        if (rbb && set_slot(t, rbb, b, (uint32_t)below(t, b->nslots), (mval){.kind = TC_REF, .u.ref = x}))
            set_slot(t, ra, a, (uint32_t)s, random_val(t, false));
        if (rb && chance(t, 70))
            hs_set(t, (int)below(t, NH), rb, b);
        else if (rb)
            release(t, rb);
        if (chance(t, 45))
            release(t, rx);
        else
            hs_set(t, (int)below(t, NH), rx, x);
    }
    while (ntmp)
        release(t, tmp[--ntmp]);
}

void op_drop(mt *t)
{
    int i = (int)below(t, NH);
    if (t->hs[i].r)
        hs_set(t, i, NULL, NULL);
}

void op_dup(mt *t)
{
    int i = pick(t, false, false, false);
    tc_root *r;
    if (i >= 0 && ok(t, tc_root_new(t->R->h, tc_root_obj(t->hs[i].r), &r), "root_new"))
        hs_set(t, (int)below(t, NH), r, t->hs[i].o);
}

/* op_data — payload through the checked calls, or a pinned raw view. */
void op_data(mt *t)
{
    int i = pick(t, false, false, false);
    if (i < 0)
        return;
    tc_heap *h = t->R->h;
    tc_root *r = t->hs[i].r;
    mobj *o = t->hs[i].o;
    if (!o->size)
        return;
    bool write = !o->frozen && chance(t, 50);
    if (write)
        o->version++;
    pattern(o, t->buf2);
    if (chance(t, 25)) { /* through a pinned view */
        void *p;
        size_t sz;
        if (!ok(t, tc_obj_pin(h, r), "pin"))
            return;
        if (ok(t, tc_obj_payload(h, r, &p, &sz), "payload")) {
            if (write)
                memcpy(p, t->buf2, o->size);
            else if (sz != o->size || memcmp(p, t->buf2, o->size) != 0)
                WRONG(t, "thread %d: object uid %llu: pinned payload differs", t->idx, (unsigned long long)o->uid);
        }
        t->calls++;
        tc_obj_unpin(h, r);
    } else if (write) {
        ok(t, tc_obj_data_set(h, r, t->buf2, o->size), "data_set");
    } else if (ok(t, tc_obj_data_get(h, r, t->buf, o->size), "data_get") && memcmp(t->buf, t->buf2, o->size)) {
        WRONG(t, "thread %d: object uid %llu: payload differs from the model", t->idx, (unsigned long long)o->uid);
    }
}

/* freeze — make o and every private object it reaches frozen and register
 * them, if there are at most FREEZE_MAX of them and each may be frozen. */
static bool freeze(mt *t, mobj *o)
{
    mobj *list[FREEZE_MAX];
    int n = 0;
    uint32_t e = ++t->epoch;
    bool okay = true;
    work_push(t, NULL, o, false);
    o->seen[t->idx] = e;
    while (t->nwork) {
        mobj *x = t->work[--t->nwork].o;
        if (x->frozen)
            continue;
        if (n == FREEZE_MAX || x->size < 8 || x->special) {
            okay = false;
            continue;
        }
        list[n++] = x;
        for (uint32_t s = 0; s < x->nslots; s++) {
            mobj *c = x->slot[s].kind == TC_REF ? x->slot[s].u.ref : NULL;
            if (c && c->seen[t->idx] != e) {
                c->seen[t->idx] = e;
                work_push(t, NULL, c, false);
            }
        }
    }
    if (!okay || atomic_load(&t->R->nreg) + FREEZE_MAX > ((uint64_t)1 << REG_BITS) / 2)
        return false;
    for (int k = 0; k < n; k++) {
        list[k]->frozen = 1;
        reg_insert(t->R, list[k]);
    }
    return true;
}

/* op_publish — put a frozen subgraph on one of this thread's board slots. */
void op_publish(mt *t)
{
    int i = pick(t, false, false, false);
    run *R = t->R;
    if (i < 0 || (!t->hs[i].o->frozen && !freeze(t, t->hs[i].o)))
        return;
    int per = NBOARD / R->nthreads;
    int s = t->idx + R->nthreads * (int)below(t, per);
    if (ok(t, tc_slot_set(R->h, R->board, s, tc_ref(tc_root_obj(t->hs[i].r))), "board set"))
        R->board_model[s] = t->hs[i].o;
}

/* op_steal — read any board slot; what is there must be a registered
 * frozen object, intact; keep it or link it into an own object. */
void op_steal(mt *t)
{
    run *R = t->R;
    int s = (int)below(t, NBOARD);
    tc_value v;
    tc_root *rb = NULL;
    if (!ok(t, tc_slot_get(R->h, R->board, s, &v, &rb), "board get"))
        return;
    bool own = s % R->nthreads == t->idx;
    mobj *f = NULL;
    uint64_t uid = 0;
    if (v.kind == TC_REF && ok(t, tc_obj_data_get(R->h, rb, &uid, 8), "data_get"))
        f = reg_find(R, uid);
    if ((v.kind != TC_REF && v.kind != TC_NIL) || (v.kind == TC_REF && !f) ||
        (own && (R->board_model[s] ? v.kind != TC_REF || f != R->board_model[s] : v.kind != TC_NIL))) {
        WRONG(t, "thread %d: board slot %d holds a %s (uid %llu) that no thread published", t->idx, s,
              kind_name(v.kind), (unsigned long long)uid);
    } else if (f) {
        deep_check(t, rb, f, 32);
        int j = chance(t, 40) ? pick(t, true, true, false) : -1;
        if (j >= 0)
            set_slot(t, t->hs[j].r, t->hs[j].o, (uint32_t)below(t, t->hs[j].o->nslots),
                     (mval){.kind = TC_REF, .u.ref = f});
        else if (chance(t, 60)) {
            hs_set(t, (int)below(t, NH), rb, f);
            return;
        }
    }
    if (rb)
        release(t, rb);
}

/* op_weak — make, get (which may revive a dropped object, or must find a
 * reachable one) or release a weak reference. */
void op_weak(mt *t)
{
    run *R = t->R;
    int k = (int)below(t, NW);
    wslot *w = &t->ws[k];
    if (!w->w) {
        int i = pick(t, false, false, false);
        if (i >= 0 && ok(t, tc_weak_new(R->h, t->hs[i].r, &w->w), "weak_new"))
            w->o = t->hs[i].o;
        return;
    }
    if (chance(t, 20)) {
        t->calls++;
        tc_weak_release(R->h, w->w);
        *w = (wslot){0};
        return;
    }
    tc_root *r = NULL;
    if (!ok(t, tc_weak_get(R->h, w->w, &r), "weak_get"))
        return;
    if (r) {
        if (check_identity(t, r, w->o, "weak get") && tok_state(R, w->o->fin) == T_FIRED)
            WRONG(t, "thread %d: weak get found uid %llu after its finalizer ran", t->idx,
                  (unsigned long long)w->o->uid);
        if (chance(t, 50))
            hs_set(t, (int)below(t, NH), r, w->o);
        else
            release(t, r);
        return;
    }
    if (strongly_reachable(t, w->o) == 1)
        LOST(t, "thread %d: weak reference to uid %llu cleared while it is reachable", t->idx,
             (unsigned long long)w->o->uid);
    t->calls++;
    tc_weak_release(R->h, w->w);
    *w = (wslot){0};
}

/* op_special — set, replace or clear a finalizer (objects without slots),
 * or add a cleanup. */
void op_special(mt *t)
{
    run *R = t->R;
    int i = pick(t, true, false, false);
    if (i < 0)
        return;
    mobj *o = t->hs[i].o;
    tc_token old = 0;
    unsigned r = (unsigned)below(t, 10);
    if (r < 7 && o->nslots == 0) {
        uint64_t tk = r < 5 ? tok_new(R, TC_READY_FINALIZER, o) : 0;
        if (r < 5 && !tk)
            return;
        if (!ok(t, tc_set_finalizer(R->h, t->hs[i].r, tk, &old), "set_finalizer"))
            return;
        if (old != o->fin)
            WRONG(t, "thread %d: set_finalizer gave back token %llu, the model says %llu", t->idx,
                  (unsigned long long)old, (unsigned long long)o->fin);
        if (old)
            atomic_store(&R->toks[old - 1].state, T_CLEARED);
        o->fin = tk;
        o->special = 1;
    } else if (r >= 7 && (!o->cleanup[0] || !o->cleanup[1])) {
        uint64_t tk = tok_new(R, TC_READY_CLEANUP, o);
        if (tk && ok(t, tc_add_cleanup(R->h, t->hs[i].r, tk), "add_cleanup")) {
            o->cleanup[o->cleanup[0] ? 1 : 0] = tk;
            o->special = 1;
        }
    }
}

/* fz_took — a due callback (any thread's): its token must be armed (once);
 * a finalizer's object must be the one it was set on. */
void fz_took(run *R, tc_ready_kind k, tc_token token, tc_root *r)
{
    tok *e = token && token <= atomic_load(&R->ntok) && token <= TOK_MAX ? &R->toks[token - 1] : NULL;
    uint8_t armed = T_ARMED;
    if (!e || e->kind != k || !atomic_compare_exchange_strong(&e->state, &armed, T_FIRED))
        fz_fail(R, &R->wrong, "a %s with token %llu came due: %s", k == TC_READY_FINALIZER ? "finalizer" : "cleanup",
                (unsigned long long)token, !e || e->kind != k ? "never made" : armed == T_FIRED ? "ran twice"
                                                                                             : "it was cleared");
    else if ((k == TC_READY_FINALIZER) != (r != NULL))
        fz_fail(R, &R->wrong, "callback token %llu: object root %p", (unsigned long long)token, (void *)r);
    else if (r && tc_obj_address(tc_root_obj(r)) != e->addr)
        fz_fail(R, &R->wrong, "finalizer token %llu got object %#lx, set on %#lx", (unsigned long long)token,
                (unsigned long)tc_obj_address(tc_root_obj(r)), (unsigned long)e->addr);
    else if (r && e->size >= 8) {
        uint64_t uid = 0;
        if (tc_obj_data_get(R->h, r, &uid, 8) != TC_OK || uid != e->uid)
            fz_fail(R, &R->lost, "finalizer token %llu: object uid %llu holds uid %llu", (unsigned long long)token,
                    (unsigned long long)e->uid, (unsigned long long)uid);
    }
    if (r)
        tc_root_release(R->h, r);
}

void op_ready(mt *t)
{
    for (int k = 0; k < 4; k++) {
        tc_token tk;
        tc_root *r = NULL;
        t->calls++;
        tc_ready_kind kd = tc_take_ready(t->R->h, &tk, &r);
        if (kd == TC_READY_NONE)
            break;
        fz_took(t->R, kd, tk, r);
    }
}

void op_check(mt *t)
{
    int i = pick(t, false, false, false);
    if (i >= 0)
        deep_check(t, t->hs[i].r, t->hs[i].o, 64);
}

void op_collect(mt *t)
{
    t->calls++;
    tc_status st = tc_heap_collect(t->R->h);
    if (st == TC_ERR_CORRUPT) /* counted by the checkmark counters */
        fz_fail(t->R, &t->R->errors, "thread %d: collect: %s", t->idx, tc_errmsg());
    else
        ok(t, st, "collect");
}

void op_verify(mt *t)
{
    t->calls++;
    atomic_fetch_add(&t->R->verifies, 1);
    tc_status st = tc_heap_verify(t->R->h);
    if (st != TC_OK)
        fz_fail(t->R, &t->R->errors, "thread %d: verify: %s", t->idx, tc_errmsg());
}

void op_gogc(mt *t)
{
    static const int64_t g[] = {0, 0, 0, 1, 2, 5, 10, 25, 100};
    ok(t, tc_heap_set_gogc(t->R->h, g[below(t, sizeof g / sizeof *g)]), "set_gogc");
}

/* op_burst — more handles at once than a handle-table chunk holds, each
 * the only root of its object, held across two cycles: a root scan that
 * misses a slot loses one of them. */
void op_burst(mt *t)
{
    tc_heap *h = t->R->h;
    tc_root **rs = calloc(BURST, sizeof *rs);
    uint64_t base = mix(t->rng) >> 8;
    int n = 0;
    while (n < BURST && !atomic_load(&t->R->stop)) {
        uint64_t uid = base + (uint64_t)n;
        if (!ok(t, tc_obj_new(h, 0, 8, &uid, &rs[n]), "obj_new (burst)"))
            break;
        n++;
    }
    if (n == BURST) {
        op_collect(t);
        op_collect(t);
        op_verify(t);
    }
    for (int k = 0; k < n; k++) {
        uint64_t got = 0;
        if (!atomic_load(&t->R->stop) && ok(t, tc_obj_data_get(h, rs[k], &got, 8), "data_get") &&
            got != base + (uint64_t)k)
            LOST(t, "thread %d: burst object %d of %d holds %llu, not %llu (handle %p)", t->idx, k, n,
                 (unsigned long long)got, (unsigned long long)(base + (uint64_t)k), (void *)rs[k]);
        release(t, rs[k]);
    }
    free(rs);
}
