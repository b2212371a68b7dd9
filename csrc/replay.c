/*
 * replay.c — tc_replay: drive a heap with the operations of a replay log
 * (record.c writes it; docs/replay.md is the format).
 *
 * Two passes over the log, read whole into memory. The first
 * (replay_check.c) validates everything before the heap is touched; any
 * failure is TC_ERR_VALUE naming its byte offset and nothing is replayed.
 * The second, here, makes the calls on this thread: a plain log (only NEW,
 * SET, GET, RELEASE, COLLECT) in one raw section with locals for handles
 * (drive_raw), any other with the checked API (drive). Each id maps to
 * this heap's handle, object or weak reference through arrays sized by the
 * first pass.
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

#include "barrier.h"
#include "idmap.h"
#include "replay.h"

/* ---- pass 2: driving the heap ---- */

typedef struct rdrive {
    tc_heap *h;
    tc_root **roots;  /* by handle id */
    tc_obj **locals;  /* drive_raw: by handle id, instead of roots */
    tc_obj **objs;    /* by object id */
    tc_weak **weaks;  /* by weak id */
    idmap obj_ids;    /* this heap's object address -> id (for the hash) */
    idmap fin_weak;   /* finalizer token -> private tc_weak* to its object */
    idmap pending;    /* finalizer token -> handle from this heap's ready queue, not yet asked for */
    uint64_t max_root;
    bool hashed;      /* keep obj_ids (the log has graph hashes to check) */
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
    case REC_K_REF: return tc_ref(d->objs[r->bits]);
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

/* handles_array — roots[] of every live handle id, for the graph hash. */
static tc_status collect(rdrive *d, const rrec *r)
{
    tc_status st = tc_heap_collect(d->h);
    tc_stats s;
    if (st != TC_OK || (st = tc_heap_stats(d->h, &s)) != TC_OK)
        return st;
    d->rep->collects++;
    bool same = s.heap_objects == r->a;
    if (r->b & REC_COLLECT_HASH) {
        tc_root **rs = plat_malloc((d->max_root + 1) * sizeof *rs);
        uint64_t *ids = plat_malloc((d->max_root + 1) * sizeof *ids), hash = 0;
        size_t n = 0;
        for (uint64_t i = 1; rs && ids && i <= d->max_root; i++)
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
 * log names. Pass 1 let later stores name that object id because a live
 * handle holds it: this is what makes objs[id] a live object here. */
static tc_status same_obj(rdrive *d, uint64_t root, uint64_t obj)
{
    if (tc_root_obj(d->roots[root]) == d->objs[obj])
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
    d->objs[r->a] = tc_root_obj(root);
    d->rep->objects++;
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
    return TC_OK; /* REC_END; REC_FOREIGN never passes validation */
}

/* drive_end — release what the replay still holds. */
static void drive_end(rdrive *d, const rlog *g)
{
    if (atomic_load(&d->h->closed)) /* a finalizer closed it: everything is gone */
        goto out;
    for (uint64_t i = 1; d->roots && i <= g->max_root; i++)
        tc_root_release(d->h, d->roots[i]);
    for (uint64_t i = 1; d->weaks && i <= g->max_weak; i++)
        tc_weak_release(d->h, d->weaks[i]);
    (void)drain_ready(d);
    for (size_t i = 0; i < d->pending.cap; i++)
        if (d->pending.e[i].key)
            tc_root_release(d->h, (tc_root *)(uintptr_t)d->pending.e[i].val);
    for (size_t i = 0; i < d->fin_weak.cap; i++)
        if (d->fin_weak.e[i].key)
            tc_weak_release(d->h, (tc_weak *)(uintptr_t)d->fin_weak.e[i].val);
out:
    free(d->roots);
    free(d->objs);
    free(d->weaks);
    idmap_free(&d->obj_ids);
    idmap_free(&d->fin_weak);
    idmap_free(&d->pending);
}

/* stopped — the error of record r, naming its byte offset. */
static tc_status stopped(rdrive *d, const rrec *r, tc_status st)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", tc_errmsg());
    return tc_fail(st, "replay stopped at byte offset %zu (record %" PRIu64 "): %s", r->off, d->rep->records, msg);
}

/* raw_step — record r of a plain log inside the raw section m, handles as
 * locals. Pass 1 checked every slot index against its object's slot count
 * and that every stored reference is held by a live handle, i.e. a local
 * here (same_obj's argument): the unchecked tc_store is safe. */
static inline tc_status raw_step(rdrive *d, tc_mutator *m, const rrec *r)
{
    tc_obj *o;
    tc_value v;
    switch (r->op) {
    case REC_NEW:
        if (!(o = tc_alloc(m, r->c, r->d)))
            return atomic_load(&d->h->closed) ? TC_ERR_CLOSED : TC_ERR_NOMEM; /* tc_alloc said why */
        d->locals[r->b] = d->objs[r->a] = o;
        d->rep->objects++;
        if (d->hashed && !idmap_put(&d->obj_ids, (uint64_t)(uintptr_t)o, r->a))
            return tc_fail(TC_ERR_NOMEM, "out of memory for the replay's object table");
        return TC_OK;
    case REC_SET: tc_store(m, d->locals[r->a], r->b, set_value(d, r)); return TC_OK;
    case REC_GET:
        v = tc_load(d->locals[r->a], r->b);
        if (v.kind != TC_REF || v.u.ref != d->objs[r->d])
            return tc_fail(TC_ERR_STATE, "the heap cannot follow the log: the slot holds another object than "
                           "object id %" PRIu64 " of the recording", r->d);
        d->locals[r->c] = v.u.ref;
        return TC_OK;
    case REC_RELEASE: d->locals[r->a] = NULL; return TC_OK;
    }
    return TC_OK; /* REC_END */
}

/* raw_value — the value of a SET of a non-float at *p (after its slot):
 * false, nothing consumed, for a float or an unknown kind. */
static inline bool raw_value(const uint8_t *b, size_t *p, tc_obj **objs, uint64_t last, tc_value *v)
{
    uint8_t kind = b[*p];
    uint64_t z;
    size_t q = *p + 1;
    if (kind <= REC_K_TRUE) {
        *v = kind == REC_K_NIL ? tc_nil() : tc_bool(kind == REC_K_TRUE);
    } else if (kind == REC_K_INT || kind == REC_K_REF) {
        if (!fast_u(b, &q, &z))
            return false;
        *v = kind == REC_K_INT ? tc_int((int64_t)(z >> 1) ^ -(int64_t)(z & 1)) : tc_ref(objs[unzig(last, z)]);
    } else {
        return false;
    }
    *p = q;
    return true;
}

/* raw_run — drive_raw's fast path: decode and run at once the NEW, SET of
 * a non-float and RELEASE records from pos on while they start before stop
 * (FAST_ROOM before the block's end), with the tables in locals (decoding
 * into an rrec, a second switch, and the tables reloaded after every heap
 * call were most of drive_raw's own time: callgrind). Returns the position
 * of the first record it did not run: another kind of record (the general
 * way takes it), or the one that failed, with *st set. */
static size_t raw_run(rdrive *d, tc_mutator *m, const uint8_t *b, size_t pos, size_t stop, uint64_t *last,
                      tc_status *st)
{
    tc_obj **locals = d->locals, **objs = d->objs;
    tc_heap *h = d->h;
    uint64_t at = *last, n = 0, made = 0;
    *st = TC_OK;
    while (pos < stop) {
        size_t p = pos + 1;
        uint64_t f[4];
        tc_value v;
        uint8_t op = b[pos];
        if (op == REC_NEW && fields(b, &p, 4, f)) {
            tc_obj *o = tc_alloc(m, f[2], f[3]);
            if (!o) {
                *st = atomic_load(&h->closed) ? TC_ERR_CLOSED : TC_ERR_NOMEM; /* tc_alloc said why */
                break;
            }
            at = unzig(at, f[0]);
            locals[f[1]] = objs[at] = o;
            made++;
            if (d->hashed && !idmap_put(&d->obj_ids, (uint64_t)(uintptr_t)o, at)) {
                *st = tc_fail(TC_ERR_NOMEM, "out of memory for the replay's object table");
                break;
            }
        } else if (op == REC_SET && fields(b, &p, 2, f) && raw_value(b, &p, objs, at, &v)) {
            tc_store(m, locals[f[0]], f[1], v);
        } else if (op == REC_RELEASE && fields(b, &p, 1, f)) {
            locals[f[0]] = NULL;
        } else {
            break;
        }
        pos = p;
        n++;
        if (atomic_load_explicit(&h->stw, memory_order_relaxed)) /* tc_safepoint's test, inline */
            tc_safepoint(m);
    }
    d->rep->records += n;
    d->rep->objects += made;
    *last = at;
    return pos;
}

/* The most handle ids a log may have for drive_raw: locals are scanned with
 * the world stopped (handles concurrently), so with more of them the
 * replay's pauses would grow with the log's handle count, which the
 * program's did not: such a log is replayed with handles (drive). */
#define REPLAY_RAW_LOCALS 4096

/* drive_raw — pass 2 for a plain log (rlog.plain): the whole replay is one
 * raw section (tc_enter), each handle id a local root, so a record costs an
 * allocation, a store with its barrier or a pointer copy, instead of a
 * checked call that enters the heap and makes or releases a root. Locals are
 * roots like handles (scanned with the world stopped at the start of mark,
 * and by Dijkstra's termination re-scan: barrier.c), so every collection
 * finds the same live graph. A forced collection leaves the section (one
 * may not wait for a cycle inside it); the locals stay (they live as long
 * as the thread's mutator). tc_safepoint after each record: a pause waits
 * for this thread no longer than one record. */
static tc_status drive_raw(rdrive *d, const rlog *g)
{
    tc_mutator *m = tc_enter(d->h);
    if (!m)
        return TC_ERR_CLOSED;
    if (!(d->locals = tc_locals(m, d->max_root + 1))) {
        tc_leave(m);
        return tc_fail(TC_ERR_NOMEM, "too many live handles in the log for a replay's local roots");
    }
    tc_status st = TC_OK;
    uint64_t last = 0;
    for (size_t off = REC_HEADER; off < g->size && st == TC_OK;) {
        size_t pos = off + 8, end = pos + get_u32le(g->data + off);
        for (rrec r; pos < end; d->rep->records++) {
            if (end - pos >= FAST_ROOM) { /* then one record the general way, at least */
                pos = raw_run(d, m, g->data, pos, end - FAST_ROOM + 1, &last, &st);
                if (st != TC_OK) {
                    r.off = pos;
                    st = stopped(d, &r, st);
                    break;
                }
            }
            if ((st = decode(g->data, &pos, end, &r, &last)) != TC_OK) {
                break;
            } else if (r.op == REC_COLLECT) {
                tc_leave(m);
                if ((st = collect(d, &r)) != TC_OK)
                    st = stopped(d, &r, st);
                if (!(m = tc_enter(d->h))) /* closed: its mutators, locals and all, are gone */
                    return st != TC_OK ? st : stopped(d, &r, TC_ERR_CLOSED);
                if (st != TC_OK)
                    break; /* below: the locals are popped, or they would root the objects for good */
            } else if ((st = raw_step(d, m, &r)) != TC_OK) {
                st = stopped(d, &r, st);
                break;
            }
            if (atomic_load_explicit(&d->h->stw, memory_order_relaxed)) /* tc_safepoint's test, inline */
                tc_safepoint(m);
        }
        off = end;
    }
    tc_locals_pop(m, d->max_root + 1);
    d->locals = NULL;
    tc_leave(m);
    return st;
}

/* drive — pass 2: every record of the validated log, in order. */
static tc_status drive(rdrive *d, const rlog *g)
{
    size_t off = REC_HEADER;
    uint64_t last = 0;
    while (off < g->size) {
        size_t pos = off + 8, end = pos + get_u32le(g->data + off);
        while (pos < end) {
            rrec r;
            tc_status st = decode(g->data, &pos, end, &r, &last);
            if (st == TC_OK && (st = step(d, &r)) != TC_OK)
                return stopped(d, &r, st);
            d->rep->records++;
        }
        off = end;
    }
    return TC_OK;
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
    rlog g = {0};
    tc_replay_report rep = {.first_mismatch = -1};
    tc_status st = replay_read(path, &g);
    if (st == TC_OK)
        st = replay_validate(&g, &rep.version);
    if (st != TC_OK) {
        free(g.data);
        return st;
    }
    rdrive d = {.h = h, .rep = &rep, .max_root = g.max_root, .hashed = g.hashed};
    d.roots = plat_calloc(g.max_root + 1, sizeof *d.roots);
    d.objs = plat_calloc(g.max_obj + 1, sizeof *d.objs);
    d.weaks = plat_calloc(g.max_weak + 1, sizeof *d.weaks);
    uint64_t t0 = now_ns();
    if (!d.roots || !d.objs || !d.weaks)
        st = tc_fail(TC_ERR_NOMEM, "out of memory for the replay's tables");
    else
        st = g.plain && g.max_root <= REPLAY_RAW_LOCALS ? drive_raw(&d, &g) : drive(&d, &g);
    rep.elapsed_ns = now_ns() - t0;
    drive_end(&d, &g);
    free(g.data);
    if (st == TC_OK)
        *out = rep;
    return st;
}
