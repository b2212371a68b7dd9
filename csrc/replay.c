/*
 * replay.c — tc_replay: drive a heap with the operations of a replay log
 * (record.c writes it; docs/replay.md is the format).
 *
 * First the frame (replay_check.c, replay_frame): header, every block's
 * length and checksum, the end record last; any failure is TC_ERR_VALUE
 * naming its byte offset and nothing is replayed. Then one pass, a block
 * at a time: each record is decoded, checked (replay_check, or the fast
 * path's quick_* for the common records) and only then run on this
 * thread, so a crafted record is refused before it runs, naming its
 * offset; the replay then drops all it holds (drive_end) and returns no
 * report. Checking the whole log first decoded every record twice: that
 * was 41% of a replay's instructions.
 *
 * Two modes. Raw (the start): one raw section, each handle id a local
 * root, for NEW, SET, GET, RELEASE and COLLECT. Checked: the checked API,
 * from the first record that needs it (a finalizer, cleanup, weak or free
 * record, a handle id past REPLAY_RAW_LOCALS) to the end: to_checked
 * makes a root for each live local first. Each id maps to this heap's
 * handle, object or weak reference through arrays that grow with the
 * checks' tables (fit), so the fast path indexes them unchecked.
 *
 * What cannot be replayed call for call. Finalizers run when a cycle finds
 * their object unreachable, and this heap's cycles come at other times
 * than the recording's. A REC_READY (the host took a due finalizer) is
 * served from this heap's ready queue if its cycle already queued the
 * object, or else by rooting the object now (through a private weak
 * reference made with the finalizer) and clearing its finalizer: either
 * way the program sees the object it saw, and the graph stays the same.
 * A weak get that found its target in the recording fails here with
 * TC_ERR_STATE if this heap already cleared it (the recording depended on
 * its collector's timing); one that found nothing makes no call.
 *
 * Exactness. After each forced collection the replay compares
 * heap_objects and, for single-threaded recordings, the graph hash
 * (rec_graph_hash) with the recorded ones; a difference is counted as a
 * mismatch (the first one's offset kept) and the replay goes on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "barrier.h"
#include "idmap.h"
#include "replay.h"

/* ---- driving the heap ---- */

/* an object id's object here, and when its NEW ran (the NEWs before it):
 * several ids may name one address, the latest NEW's is the live one */
typedef struct robj {
    tc_obj *o;
    uint64_t born;
} robj;

/* The replay's state; one owner, the replaying thread. The tables grow as
 * the checks' do (fit): objs to v.ocap, and the handle table of the mode to
 * at least v.hlim, so the fast path indexes them without a bound check. */
typedef struct rdrive {
    tc_heap *h;
    rlog *g;
    vstate v;         /* the checks' state (replay_check.c) */
    tc_mutator *m;    /* raw mode: the open raw section; NULL: the checked calls */
    tc_obj **locals;  /* raw mode: by handle id, lcap of them on m's local stack */
    size_t lcap;
    tc_root **roots;  /* checked mode: by handle id, rcap of them */
    size_t rcap;
    robj *objs;       /* by object id, ocap of them */
    size_t ocap;
    tc_weak **weaks;  /* by weak id, wcap of them */
    size_t wcap;
    uint64_t born;    /* NEWs replayed */
    idmap obj_ids;    /* this heap's object address -> id (for the hash), once hashed */
    idmap fin_weak;   /* finalizer token -> private tc_weak* to its object */
    idmap pending;    /* finalizer token -> handle from this heap's ready queue, not yet asked for */
    bool hashed;      /* obj_ids is kept: a collection with a graph hash was met */
    tc_replay_report *rep;
} rdrive;

static tc_status diverged(const rrec *r, const char *what)
{
    (void)r; /* drive() names the record's byte offset */
    return tc_fail(TC_ERR_STATE, "the heap cannot follow the log: %s", what);
}

static tc_value set_value(rdrive *d, const rrec *r)
{
    switch (r->kind) {
    case REC_K_FALSE: return tc_bool(false);
    case REC_K_TRUE: return tc_bool(true);
    case REC_K_INT: return tc_int((int64_t)(r->bits >> 1) ^ -(int64_t)(r->bits & 1));
    case REC_K_FLOAT: {
        double x;
        memcpy(&x, &r->bits, sizeof x);
        return tc_float(x);
    }
    case REC_K_REF: return tc_ref(d->objs[r->bits].o);
    }
    return tc_nil();
}

/* drain_ready — move this heap's due finalizers to `pending` (their
 * handles keep them, as the recording's queue did). */
static tc_status drain_ready(rdrive *d)
{
    tc_token t;
    tc_root *r;
    tc_ready_kind k;
    while ((k = tc_take_ready(d->h, &t, &r)) != TC_READY_NONE) {
        uint64_t old;
        if (k != TC_READY_FINALIZER)
            continue;
        if (idmap_get(&d->pending, t, &old))
            tc_root_release(d->h, (tc_root *)(uintptr_t)old);
        if (!idmap_put(&d->pending, t, (uint64_t)(uintptr_t)r)) {
            tc_root_release(d->h, r);
            return tc_fail(TC_ERR_NOMEM, "out of memory for the replay's finalizer table");
        }
    }
    return TC_OK;
}

static void drop_fin_weak(rdrive *d, tc_token t)
{
    uint64_t w;
    if (idmap_get(&d->fin_weak, t, &w)) {
        tc_weak_release(d->h, (tc_weak *)(uintptr_t)w);
        idmap_del(&d->fin_weak, t);
    }
}

/* take_pending — the queued handle of finalizer t into roots[id], if queued. */
static bool take_pending(rdrive *d, tc_token t, uint64_t id)
{
    uint64_t r;
    if (!idmap_get(&d->pending, t, &r))
        return false;
    idmap_del(&d->pending, t);
    d->roots[id] = (tc_root *)(uintptr_t)r;
    drop_fin_weak(d, t);
    return true;
}

/* ready — REC_READY: the program took finalizer a's object as handle b. */
static tc_status take_finalizer(rdrive *d, const rrec *r)
{
    tc_status st = drain_ready(d);
    if (st != TC_OK || take_pending(d, r->a, r->b))
        return st;
    uint64_t w;
    tc_root *root = NULL;
    if (!idmap_get(&d->fin_weak, r->a, &w))
        return diverged(r, "a finalizer the log never set became due");
    if ((st = tc_weak_get(d->h, (tc_weak *)(uintptr_t)w, &root)) != TC_OK)
        return st;
    if (root) { /* not found unreachable here yet: it "ran" now */
        d->roots[r->b] = root;
        drop_fin_weak(d, r->a);
        return tc_set_finalizer(d->h, root, 0, NULL);
    }
    tc_mutator *m; /* found unreachable, its span not swept yet: sweep, and it is queued */
    if ((st = mutator_enter(d->h, &m)) != TC_OK)
        return st;
    sweep_finish(d->h);
    mutator_leave(m);
    if ((st = drain_ready(d)) != TC_OK || take_pending(d, r->a, r->b))
        return st;
    return diverged(r, "a due finalizer did not reach this heap's ready queue");
}

static tc_status finalizer(rdrive *d, const rrec *r)
{
    tc_status st = tc_set_finalizer(d->h, d->roots[r->a], r->b, NULL);
    drop_fin_weak(d, r->b);
    tc_weak *w = NULL;
    if (st != TC_OK || !r->b || (st = tc_weak_new(d->h, d->roots[r->a], &w)) != TC_OK)
        return st;
    if (!idmap_put(&d->fin_weak, r->b, (uint64_t)(uintptr_t)w)) {
        tc_weak_release(d->h, w);
        return tc_fail(TC_ERR_NOMEM, "out of memory for the replay's finalizer table");
    }
    return TC_OK;
}

/* keep_obj_ids — from the first collection with a graph hash on, obj_ids
 * maps each object's address to its id (the hash names objects by id):
 * made now from objs, where for an address several ids name, the latest
 * NEW's is the live object's; NEWs then add to it. (A log without hashes,
 * GCBench's, never pays for the map.) */
static bool keep_obj_ids(rdrive *d)
{
    for (uint64_t i = 1; i <= d->v.max_obj && i < d->ocap; i++) {
        bool fresh;
        uint64_t *id;
        if (!d->objs[i].o)
            continue;
        if (!(id = idmap_slot(&d->obj_ids, (uint64_t)(uintptr_t)d->objs[i].o, &fresh)))
            return false;
        if (fresh || d->objs[*id].born < d->objs[i].born)
            *id = i;
    }
    d->hashed = true;
    return true;
}

/* collect — REC_COLLECT: a forced cycle, then heap_objects and the graph
 * hash compared with the recording's. */
static tc_status collect(rdrive *d, const rrec *r)
{
    tc_status st = tc_heap_collect(d->h);
    tc_stats s;
    if (st != TC_OK || (st = tc_heap_stats(d->h, &s)) != TC_OK)
        return st;
    d->rep->collects++;
    bool same = s.heap_objects == r->a;
    if ((r->b & REC_COLLECT_HASH) && !d->hashed && !keep_obj_ids(d))
        return tc_fail(TC_ERR_NOMEM, "out of memory for the replay's object table");
    if (r->b & REC_COLLECT_HASH) {
        uint64_t max_root = d->v.max_root;
        tc_root **rs = plat_malloc((max_root + 1) * sizeof *rs);
        uint64_t *ids = plat_malloc((max_root + 1) * sizeof *ids), hash = 0;
        size_t n = 0;
        for (uint64_t i = 1; rs && ids && i <= max_root; i++)
            if (d->locals ? d->locals[i] != NULL : d->roots[i] != NULL) {
                /* a local is one word holding the object's address: the
                 * representation of a root (tricolor.h, tc_root_obj) */
                rs[n] = d->locals ? (tc_root *)(void *)&d->locals[i] : d->roots[i];
                ids[n++] = i;
            }
        tc_mutator *m; /* inside a heap call: another thread may close the heap */
        if (!rs || !ids)
            st = tc_fail(TC_ERR_NOMEM, "out of memory for the replay's graph hash");
        else if ((st = mutator_enter(d->h, &m)) == TC_OK) {
            st = rec_graph_hash(rs, ids, n, rec_idmap_id, &d->obj_ids, &hash);
            mutator_leave(m);
        }
        free(rs);
        free(ids);
        d->rep->checked++;
        same = same && hash == r->bits;
    }
    if (st == TC_OK && !same && d->rep->mismatches++ == 0)
        d->rep->first_mismatch = (int64_t)r->off;
    return st;
}

/* same_obj — the handle a GET, READY or WEAK_GET made holds the object the
 * log names. The checks let later stores name that object id because a live
 * handle holds it: this is what makes objs[id] a live object here. */
static tc_status same_obj(rdrive *d, uint64_t root, uint64_t obj)
{
    if (tc_root_obj(d->roots[root]) == d->objs[obj].o)
        return TC_OK;
    return tc_fail(TC_ERR_STATE, "the heap cannot follow the log: the handle holds another object than object id "
                   "%" PRIu64 " of the recording", obj);
}

static tc_status weak_get(rdrive *d, const rrec *r)
{
    if (!r->b) /* the recording found nothing: neither may the program here */
        return TC_OK;
    tc_root *root = NULL;
    tc_status st = tc_weak_get(d->h, d->weaks[r->a], &root);
    if (st == TC_OK && !root)
        return diverged(r, "the recording got a weak reference's target, which this heap already cleared "
                           "(the program depended on its collector's timing)");
    d->roots[r->b] = root;
    return st == TC_OK ? same_obj(d, r->b, r->c) : st;
}

static tc_status new_obj(rdrive *d, const rrec *r)
{
    tc_root *root;
    tc_status st = tc_obj_new(d->h, r->c, r->d, NULL, &root);
    if (st != TC_OK)
        return st;
    d->roots[r->b] = root;
    d->objs[r->a] = (robj){tc_root_obj(root), ++d->born};
    if (d->hashed && !idmap_put(&d->obj_ids, (uint64_t)(uintptr_t)tc_root_obj(root), r->a))
        return tc_fail(TC_ERR_NOMEM, "out of memory for the replay's object table");
    return TC_OK;
}

/* step — make record r's call on d's heap. */
static tc_status step(rdrive *d, const rrec *r)
{
    tc_value v;
    switch (r->op) {
    case REC_NEW: return new_obj(d, r);
    case REC_SET: return tc_slot_set(d->h, d->roots[r->a], (int64_t)r->b, set_value(d, r));
    case REC_GET: {
        tc_status st = tc_slot_get(d->h, d->roots[r->a], (int64_t)r->b, &v, &d->roots[r->c]);
        if (st == TC_OK && !d->roots[r->c])
            return diverged(r, "the slot holds no reference here");
        return st == TC_OK ? same_obj(d, r->c, r->d) : st;
    }
    case REC_RELEASE:
        tc_root_release(d->h, d->roots[r->a]);
        d->roots[r->a] = NULL;
        return TC_OK;
    case REC_COLLECT: return collect(d, r);
    case REC_FINALIZER: return finalizer(d, r);
    case REC_CLEANUP: return tc_add_cleanup(d->h, d->roots[r->a], r->b);
    case REC_READY: {
        tc_status st = take_finalizer(d, r);
        return st == TC_OK ? same_obj(d, r->b, r->c) : st;
    }
    case REC_WEAK_NEW: return tc_weak_new(d->h, d->roots[r->b], &d->weaks[r->a]);
    case REC_WEAK_GET: return weak_get(d, r);
    case REC_WEAK_RELEASE:
        tc_weak_release(d->h, d->weaks[r->a]);
        d->weaks[r->a] = NULL;
        return TC_OK;
    case REC_FREE: return tc_obj_free(d->h, d->roots[r->a]);
    }
    return TC_OK; /* REC_END; REC_FOREIGN never passes the checks */
}

/* drive_end — leave the raw section and release what the replay still holds. */
static void drive_end(rdrive *d)
{
    if (d->m) { /* the locals are popped on every way out, or they would root the objects for good */
        tc_locals_pop(d->m, d->lcap);
        tc_leave(d->m);
        d->m = NULL;
    }
    if (atomic_load(&d->h->closed)) /* a finalizer closed it: everything is gone */
        goto out;
    for (uint64_t i = 1; i < d->rcap && i <= d->v.max_root; i++)
        tc_root_release(d->h, d->roots[i]);
    for (uint64_t i = 1; i < d->wcap && i <= d->v.weaks.max; i++)
        tc_weak_release(d->h, d->weaks[i]);
    (void)drain_ready(d);
    for (size_t i = 0; i < d->pending.cap; i++)
        if (d->pending.e[i].key)
            tc_root_release(d->h, (tc_root *)(uintptr_t)d->pending.e[i].val);
    for (size_t i = 0; i < d->fin_weak.cap; i++)
        if (d->fin_weak.e[i].key)
            tc_weak_release(d->h, (tc_weak *)(uintptr_t)d->fin_weak.e[i].val);
out:
    replay_table_free(d->roots, d->rcap, sizeof *d->roots);
    replay_table_free(d->objs, d->ocap, sizeof *d->objs);
    replay_table_free(d->weaks, d->wcap, sizeof *d->weaks);
    idmap_free(&d->obj_ids);
    idmap_free(&d->fin_weak);
    idmap_free(&d->pending);
    replay_vfree(&d->v);
}

/* stopped — the error of record r, naming its byte offset. */
static tc_status stopped(rdrive *d, const rrec *r, tc_status st)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", tc_errmsg());
    return tc_fail(st, "replay stopped at byte offset %zu (record %" PRIu64 "): %s", r->off, d->v.records, msg);
}

/* raw_tables — raw_run's copies of d's fields that no record it runs
 * changes (fit and collect do, between its calls): kept in registers,
 * where d's would be loaded again after each allocation, whose header
 * stores may alias them. born goes back to d at the end. */
typedef struct raw_tables {
    tc_mutator *m;
    tc_obj **locals;
    robj *objs;
    uint64_t born;
    bool hashed;
} raw_tables;

/* raw_new — NEW in raw mode: object id o, handle id, nslots, size. */
static inline __attribute__((always_inline)) tc_status raw_new(rdrive *d, raw_tables *t, uint64_t o, uint64_t id,
                                                               uint64_t nslots, uint64_t size)
{
    /* alloc_object, tc_alloc's inline body: the checks passed both fields (<= OBJ_MAX_FIELD) */
    tc_obj *x = alloc_object(t->m, nslots, size);
    if (!x)
        return atomic_load(&d->h->closed) ? TC_ERR_CLOSED : TC_ERR_NOMEM; /* tc_alloc said why */
    t->locals[id] = x;
    t->objs[o] = (robj){x, ++t->born};
    if (t->hashed && !idmap_put(&d->obj_ids, (uint64_t)(uintptr_t)x, o))
        return tc_fail(TC_ERR_NOMEM, "out of memory for the replay's object table");
    return TC_OK;
}

static raw_tables raw_tables_of(const rdrive *d) { return (raw_tables){d->m, d->locals, d->objs, d->born, d->hashed}; }

/* raw_get — GET in raw mode: slot `slot` of handle a into handle c, which
 * must hold object id o (the checks could not know: same_obj's argument). */
static inline tc_status raw_get(rdrive *d, uint64_t a, uint64_t slot, uint64_t c, uint64_t o)
{
    tc_value v = slot_read(d->locals[a], slot); /* tc_load's body */
    if (v.kind != TC_REF || v.u.ref != d->objs[o].o)
        return tc_fail(TC_ERR_STATE, "the heap cannot follow the log: the slot holds another object than "
                       "object id %" PRIu64 " of the recording", o);
    d->locals[c] = v.u.ref;
    return TC_OK;
}

/* raw_step — record r (checked) inside the raw section, handles as
 * locals. The checks passed every slot index against its object's slot
 * count and every stored reference as held by a live handle, i.e. a local
 * here: the unchecked tc_store is safe. */
static tc_status raw_step(rdrive *d, const rrec *r)
{
    switch (r->op) {
    case REC_NEW: {
        raw_tables t = raw_tables_of(d);
        tc_status st = raw_new(d, &t, r->a, r->b, r->c, r->d);
        d->born = t.born;
        return st;
    }
    case REC_SET: tc_store(d->m, d->locals[r->a], r->b, set_value(d, r)); return TC_OK;
    case REC_GET: return raw_get(d, r->a, r->b, r->c, r->d);
    case REC_RELEASE: d->locals[r->a] = NULL; return TC_OK;
    case REC_COLLECT: {
        tc_leave(d->m); /* one may not wait for a cycle inside a section; the locals stay */
        tc_status st = collect(d, r);
        if (!(d->m = tc_enter(d->h))) { /* closed: its mutators, locals and all, are gone */
            d->locals = NULL;
            d->lcap = 0;
            return st != TC_OK ? st : TC_ERR_CLOSED;
        }
        return st;
    }
    }
    return TC_OK; /* REC_END; the others switch to the checked calls first (fit) */
}

/* raw_value — the value of a checked SET of a non-float at *p (after its
 * slot): false, nothing consumed, for a float, an unknown kind or a
 * reference the checks refuse. References first: most stores are. */
static inline bool raw_value(const vquick *v, const uint8_t *b, size_t *p, const robj *objs, uint64_t last,
                             tc_value *out)
{
    uint8_t kind = b[*p];
    uint64_t z;
    size_t q = *p + 1;
    if (kind == REC_K_REF) {
        if (!fast_u(b, &q, &z) || !quick_ref(v, z = unzig(last, z)))
            return false;
        /* a held id's NEW ran, so its object is never NULL: no tc_ref test */
        out->kind = TC_REF;
        out->u.ref = objs[z].o;
    } else if (kind == REC_K_INT) {
        if (!fast_u(b, &q, &z))
            return false;
        *out = tc_int((int64_t)(z >> 1) ^ -(int64_t)(z & 1));
    } else if (kind <= REC_K_TRUE) {
        *out = kind == REC_K_NIL ? tc_nil() : tc_bool(kind == REC_K_TRUE);
    } else {
        return false;
    }
    *p = q;
    return true;
}

/* REPLAY_POLL_BYTES — raw_loop tests for a pause once per this many bytes
 * of log, instead of after each record (the test was four instructions of
 * about ninety): at most 33 records (a fast record takes at least two
 * bytes), each a fast-path allocation, store, load or release, well under
 * a microsecond; an allocation's slow path reaches safepoints of its own
 * (alloc.c). */
#define REPLAY_POLL_BYTES 64

/* raw_loop — the fast path in raw mode: decode, check (replay.h's quick_*)
 * and run at once the NEW, SET of a non-float, GET and RELEASE records from
 * pos on while they start before stop (FAST_ROOM before the block's end),
 * with the state in locals, reaching a safepoint every REPLAY_POLL_BYTES.
 * Returns the position of the first record it did not run: one the general
 * way takes (another kind, one the checks refuse, a table to grow), or the
 * one that failed, with *st set. */
static inline __attribute__((always_inline)) size_t raw_loop(rdrive *d, size_t pos, size_t stop, uint64_t *last,
                                                             tc_status *st, bool hashed)
{
    const uint8_t *b = d->g->data;
    vquick v = vquick_of(&d->v); /* the few words the checks need, in registers */
    raw_tables t = raw_tables_of(d);
    t.hashed = hashed; /* a constant: the loop is compiled once for each */
    const _Atomic int *stw = &d->h->stw;
    uint64_t at = *last, n = 0;
    *st = TC_OK;
    while (pos < stop) {
        size_t poll = stop - pos > REPLAY_POLL_BYTES ? pos + REPLAY_POLL_BYTES : stop;
        do {
            size_t p = pos + 1;
            uint64_t f[4], o;
            tc_value val;
            uint8_t op = b[pos];
            if (op == REC_NEW) {
                if (!fields(b, &p, 4, f) || !quick_new(&v, o = unzig(at, f[0]), f[1], f[2], f[3]))
                    goto out;
                if ((*st = raw_new(d, &t, o, f[1], f[2], f[3])) != TC_OK)
                    goto out;
                at = o;
            } else if (op == REC_SET) {
                if (!fields(b, &p, 2, f) || !quick_slot(&v, f[0], f[1]) ||
                    !raw_value(&v, b, &p, t.objs, at, &val))
                    goto out;
                barrier_store(t.m, t.locals[f[0]], f[1], val); /* tc_store's body, inline */
            } else if (op == REC_RELEASE) {
                if (!fields(b, &p, 1, f) || !quick_release(&v, f[0]))
                    goto out;
                t.locals[f[0]] = NULL;
            } else if (op == REC_GET) {
                if (!fields(b, &p, 4, f) || !quick_get(&v, f[0], f[1], f[2], o = unzig(at, f[3])))
                    goto out;
                if ((*st = raw_get(d, f[0], f[1], f[2], o)) != TC_OK)
                    goto out;
            } else {
                goto out;
            }
            pos = p;
            n++;
        } while (pos < poll);
        if (atomic_load_explicit(stw, memory_order_relaxed)) /* tc_safepoint's test, inline */
            tc_safepoint(t.m);
    }
out:
    d->v.max_obj = v.max_obj; /* the only field of the checks' state the fast path raises */
    d->v.records += n;
    d->born = t.born;
    *last = at;
    return pos;
}

/* raw_run — raw_loop, compiled apart for a log without graph hashes so far
 * (GCBench's: no object-id map to keep at each NEW) and one with them. */
static size_t raw_run(rdrive *d, size_t pos, size_t stop, uint64_t *last, tc_status *st)
{
    return d->hashed ? raw_loop(d, pos, stop, last, st, true) : raw_loop(d, pos, stop, last, st, false);
}

/* The most handle ids a log may have in raw mode: locals are scanned with
 * the world stopped (handles concurrently), so with more of them the
 * replay's pauses would grow with the log's handle count, which the
 * program's did not: from the first larger id on, handles (fit). */
#define REPLAY_RAW_LOCALS 4096

/* grow_locals — locals for every handle id up to v.max_root (at most
 * REPLAY_RAW_LOCALS), 1024 at first and doubling, the way the checks'
 * table grew before it was presized (the locals are scanned in the pause
 * that starts a mark: as many as the log needs, not as the table holds):
 * more of the mutator's local stack, which never moves; false if it
 * cannot grow in place. */
static bool grow_locals(rdrive *d)
{
    size_t want = 1024;
    while (want <= d->v.max_root)
        want *= 2;
    want = want < REPLAY_RAW_LOCALS + 1 ? want : REPLAY_RAW_LOCALS + 1;
    if (d->lcap >= want)
        return true;
    tc_obj **l = tc_locals(d->m, want - d->lcap);
    if (l && d->locals && l != d->locals + d->lcap) /* another push between: cannot be one array */
        tc_locals_pop(d->m, want - d->lcap);
    if (!l || (d->locals && l != d->locals + d->lcap))
        return false;
    if (!d->locals)
        d->locals = l;
    d->lcap = want;
    return true;
}

/* to_checked — leave raw mode for good: a root for each local, then the
 * section is left. Called before the record that needs it runs. */
static tc_status to_checked(rdrive *d)
{
    tc_status st = TC_OK;
    if (d->rcap < d->v.hcap && !replay_grow_to((void **)&d->roots, &d->rcap, d->v.hcap - 1, sizeof *d->roots))
        st = tc_fail(TC_ERR_NOMEM, "out of memory for the replay's tables");
    for (size_t i = 1; st == TC_OK && i < d->lcap; i++)
        if (d->locals[i])
            st = tc_root_new(d->h, d->locals[i], &d->roots[i]);
    tc_locals_pop(d->m, d->lcap);
    tc_leave(d->m);
    d->m = NULL;
    d->locals = NULL;
    d->lcap = 0;
    return st;
}

static bool needs_handles(uint8_t op) { return op >= REC_FINALIZER && op <= REC_FREE; }

/* fit — after the checks accepted record r: the tables as large as the
 * checks' (so the fast path needs no bound check), the mode the record
 * needs (raw mode replays only NEW, SET, GET, RELEASE and COLLECT, with at
 * most REPLAY_RAW_LOCALS handle ids), and v.hlim and v.olim for the fast path. */
static tc_status fit(rdrive *d, const rrec *r)
{
    vstate *v = &d->v;
    tc_status st;
    if ((d->ocap < v->ocap && !replay_grow_to((void **)&d->objs, &d->ocap, v->ocap - 1, sizeof *d->objs)) ||
        (v->weaks.max >= d->wcap && !replay_grow_to((void **)&d->weaks, &d->wcap, v->weaks.max, sizeof *d->weaks)))
        return tc_fail(TC_ERR_NOMEM, "out of memory for the replay's tables");
    if (d->m && (needs_handles(r->op) || v->max_root > REPLAY_RAW_LOCALS || !grow_locals(d)) && (st = to_checked(d)) != TC_OK)
        return st;
    if (!d->m && d->rcap < v->hcap && !replay_grow_to((void **)&d->roots, &d->rcap, v->hcap - 1, sizeof *d->roots))
        return tc_fail(TC_ERR_NOMEM, "out of memory for the replay's tables");
    size_t cap = d->m ? d->lcap : d->rcap;
    v->hlim = v->hcap < cap ? v->hcap : cap;
    v->olim = v->ocap < (uint64_t)UINT32_MAX + 1 ? v->ocap : (uint64_t)UINT32_MAX + 1;
    return TC_OK;
}

/* one_record — the record at *pos (before end) the general way: decode,
 * check, fit, run. */
static tc_status one_record(rdrive *d, size_t *pos, size_t end, uint64_t *last)
{
    rrec r;
    const char *why;
    size_t base = d->g->base;
    tc_status st = decode(d->g->data, pos, end, &r, last);
    r.off += base; /* a file offset from here on */
    if (st != TC_OK)
        return replay_decode_error(r.off, r.op);
    if ((why = replay_check(&d->v, &r)) != NULL)
        return replay_bad(r.off, why);
    if (r.op == REC_END && (d->v.ended = true) && (*pos != end || base + end != d->g->size))
        return replay_bad(base + *pos, "bytes after the end record");
    if ((st = fit(d, &r)) != TC_OK || (st = d->m ? raw_step(d, &r) : step(d, &r)) != TC_OK)
        return stopped(d, &r, st);
    d->v.records++;
    return TC_OK;
}

/* drive — every record of the framed log, in order, each checked before it
 * runs (see the top of the file). Raw mode while the log allows it: the
 * replay is one raw section (tc_enter), each handle id a local root, so a
 * record costs an allocation, a store with its barrier or a pointer copy,
 * instead of a checked call that enters the heap and makes or releases a
 * root. Locals are roots like handles (scanned with the world stopped at
 * the start of mark, and by Dijkstra's termination re-scan: barrier.c), so
 * every collection finds the same live graph. tc_safepoint after each
 * record the general way, and every REPLAY_POLL_BYTES of the fast path's:
 * a pause waits for this thread no longer than that. */
static tc_status drive(rdrive *d)
{
    rlog *g = d->g;
    uint64_t last = 0;
    tc_status st = TC_OK;
    if (!(d->m = tc_enter(d->h)))
        return TC_ERR_CLOSED;
    for (size_t off = REC_HEADER; off < g->size && st == TC_OK && !d->v.ended;) {
        uint32_t len;
        if ((st = replay_block(g, off, &len)) != TC_OK) /* again: the file may have changed since replay_frame */
            return st;
        size_t pos = 8, end = pos + len; /* in g->data */
        while (pos < end && st == TC_OK && !d->v.ended) {
            if (d->m && end - pos >= FAST_ROOM) { /* then one record the general way, at least */
                rrec r = {.off = 0};
                pos = raw_run(d, pos, end - FAST_ROOM + 1, &last, &st);
                if (st != TC_OK) {
                    r.off = g->base + pos;
                    return stopped(d, &r, st);
                }
            }
            if (pos < end)
                st = one_record(d, &pos, end, &last);
            if (d->m && atomic_load_explicit(&d->h->stw, memory_order_relaxed)) /* tc_safepoint's test */
                tc_safepoint(d->m);
        }
        off += 8 + (size_t)len;
    }
    if (st == TC_OK && !d->v.ended) /* replay_frame saw the end record: only a bug gets here */
        st = replay_bad(g->size, "the log ends without its end record");
    return st;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

tc_status tc_replay(tc_heap *h, const char *path, tc_replay_report *out)
{
    if (!path || !out)
        return tc_fail(TC_ERR_VALUE, "replay needs a path and a report");
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    rlog g;
    tc_replay_report rep = {.first_mismatch = -1};
    tc_status st = replay_open(path, &g);
    if (st != TC_OK)
        return st;
    if ((st = replay_frame(&g, &rep.version)) != TC_OK) {
        replay_close(&g);
        return st;
    }
    rdrive d = {.h = h, .g = &g, .rep = &rep};
    replay_presize(&d.v, g.size);
    uint64_t t0 = now_ns();
    st = drive(&d);
    rep.elapsed_ns = now_ns() - t0;
    rep.records = d.v.records;
    rep.objects = d.born; /* each NEW made one */
    drive_end(&d);
    replay_close(&g);
    if (st == TC_OK)
        *out = rep;
    return st;
}
