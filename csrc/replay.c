/*
 * replay.c — tc_replay: drive a heap with the operations of a replay log
 * (record.c writes it; docs/replay.md is the format).
 *
 * Two passes over the log, read whole into memory. The first validates
 * everything before the heap is touched: header and version, each block's
 * length and CRC-32, each record's shape, and the ids (a handle or weak
 * reference is used only while live, created only while free; an object
 * id only after a NEW gave it), ending with the END record as the last
 * bytes. Any failure is TC_ERR_VALUE naming its byte offset; nothing is
 * replayed. The second pass makes the calls, on this thread, with the
 * checked API: each id maps to this heap's handle, object or weak
 * reference through arrays sized by the first pass.
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
#include "record.h"

/* one decoded record */
typedef struct rrec {
    uint8_t op, kind;
    uint64_t a, b, c, d; /* the varints, in order */
    uint64_t bits;       /* REC_SET: int (zigzag) or float bits; REC_COLLECT: the hash */
    size_t off;          /* byte offset of the opcode */
} rrec;

typedef struct rlog {
    uint8_t *data;
    size_t size;
    uint64_t max_obj, max_root, max_weak;
    bool hashed; /* some REC_COLLECT carries a graph hash: the replay keeps obj_ids */
    bool plain;  /* only NEW, SET, GET, RELEASE, COLLECT: drive_raw may replay it */
} rlog;

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static tc_status bad(size_t off, const char *what)
{
    return tc_fail(TC_ERR_VALUE, "corrupt replay log at byte offset %zu: %s", off, what);
}

/* get_u — a varint at *pos before end; false if it runs past end or is too
 * long. Most are one byte (small ids, slot numbers): that path is inline. */
static bool get_u_long(const uint8_t *d, size_t *pos, size_t end, uint64_t *out);

static inline bool get_u(const uint8_t *d, size_t *pos, size_t end, uint64_t *out)
{
    if (__builtin_expect(*pos < end && d[*pos] < 0x80, 1)) {
        *out = d[(*pos)++];
        return true;
    }
    return get_u_long(d, pos, end, out);
}

static bool get_u_long(const uint8_t *d, size_t *pos, size_t end, uint64_t *out)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= end)
            return false;
        uint8_t b = d[(*pos)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = x;
            return true;
        }
    }
    return false;
}

static const uint8_t nargs[REC_OP_COUNT] = {
    [REC_NEW] = 4, [REC_SET] = 2, [REC_GET] = 4, [REC_RELEASE] = 1, [REC_COLLECT] = 2,
    [REC_FINALIZER] = 2, [REC_CLEANUP] = 2, [REC_READY] = 3, [REC_WEAK_NEW] = 2,
    [REC_WEAK_GET] = 3, [REC_WEAK_RELEASE] = 1, [REC_FREE] = 1, [REC_FOREIGN] = 0, [REC_END] = 1,
};

/* decode_tail — the bytes after the varints of a REC_SET or REC_COLLECT. */
static inline bool decode_tail(const uint8_t *d, size_t *pos, size_t end, rrec *r)
{
    if (r->op != REC_COLLECT && r->op != REC_SET)
        return true;
    if (r->op == REC_COLLECT && (r->b & REC_COLLECT_HASH)) {
        if (end - *pos < 8)
            return false;
        r->bits = 0;
        for (int i = 0; i < 8; i++)
            r->bits |= (uint64_t)d[*pos + i] << (8 * i);
        *pos += 8;
    } else if (r->op == REC_SET) {
        if (*pos >= end)
            return false;
        r->kind = d[(*pos)++];
        if (r->kind == REC_K_INT || r->kind == REC_K_REF)
            return get_u(d, pos, end, &r->bits);
        if (r->kind == REC_K_FLOAT) {
            if (end - *pos < 8)
                return false;
            memcpy(&r->bits, d + *pos, 8);
            *pos += 8;
        }
    }
    return true;
}

/* decode_error — why the record at off could not be decoded. */
static tc_status decode_error(size_t off, uint8_t op)
{
    if (op == 0 || op >= REC_OP_COUNT) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown record type 0x%02x", op);
        return bad(off, msg);
    }
    return bad(off, "a record runs past the end of its block");
}

static inline uint64_t unzig(uint64_t last, uint64_t z)
{
    return last + ((z >> 1) ^ (uint64_t)-(int64_t)(z & 1));
}

/* delta_obj — object ids are written as differences from the last NEW's
 * (record.c put_obj): make them ids again; *last follows the NEWs. */
static inline void delta_obj(rrec *r, uint64_t *last)
{
    switch (r->op) {
    case REC_NEW: *last = r->a = unzig(*last, r->a); break;
    case REC_SET: if (r->kind == REC_K_REF) r->bits = unzig(*last, r->bits); break;
    case REC_GET: r->d = unzig(*last, r->d); break;
    case REC_READY: r->c = unzig(*last, r->c); break;
    case REC_WEAK_GET: if (r->b) r->c = unzig(*last, r->c); break;
    }
}

/* FAST_ROOM — bytes a record may need at most, and then some: 4 varints
 * of at most 10 bytes (get_u_long reads no more), a kind and 8 bytes. */
#define FAST_ROOM 64

/* fast_u — a varint that cannot run past the block (FAST_ROOM checked). */
static inline __attribute__((always_inline)) bool fast_u(const uint8_t *d, size_t *p, uint64_t *out)
{
    if (__builtin_expect(d[*p] < 0x80, 1)) {
        *out = d[(*p)++];
        return true;
    }
    return get_u_long(d, p, SIZE_MAX, out);
}

/* decode_fast — decode for the three records most programs are made of
 * (NEW, SET of a non-float, RELEASE) at least FAST_ROOM bytes before the
 * block's end: no bounds check per byte, no field table. False (nothing
 * consumed) for anything else, which decode then takes the general way. */
static inline __attribute__((always_inline)) bool decode_fast(const uint8_t *d, size_t *pos, rrec *r,
                                                              uint64_t *last)
{
    size_t p = *pos + 1;
    uint8_t op = d[*pos];
    r->kind = 0;
    r->bits = 0;
    r->c = r->d = 0;
    switch (op) {
    case REC_NEW:
        if (!fast_u(d, &p, &r->a) || !fast_u(d, &p, &r->b) || !fast_u(d, &p, &r->c) || !fast_u(d, &p, &r->d))
            return false;
        *last = r->a = unzig(*last, r->a);
        break;
    case REC_SET:
        if (!fast_u(d, &p, &r->a) || !fast_u(d, &p, &r->b))
            return false;
        r->kind = d[p++];
        if (r->kind == REC_K_INT || r->kind == REC_K_REF) {
            if (!fast_u(d, &p, &r->bits))
                return false;
            if (r->kind == REC_K_REF)
                r->bits = unzig(*last, r->bits);
        } else if (r->kind == REC_K_FLOAT) {
            return false;
        }
        break;
    case REC_RELEASE:
        if (!fast_u(d, &p, &r->a))
            return false;
        r->b = 0;
        break;
    default: return false;
    }
    r->op = op;
    r->off = *pos;
    *pos = p;
    return true;
}

/* decode — the record at *pos (inside a block ending at end); *last is the
 * object id of the last NEW decoded (0 at the start). Both passes decode
 * every record, so this is the replay's innermost loop: the fields go to
 * locals first, and one-byte varints take no call. */
static inline __attribute__((always_inline)) tc_status decode(const uint8_t *d, size_t *pos, size_t end, rrec *r,
                                                              uint64_t *last)
{
    if (__builtin_expect(end - *pos >= FAST_ROOM, 1)) {
        uint64_t keep = *last;
        if (decode_fast(d, pos, r, last))
            return TC_OK;
        *last = keep; /* a NEW that failed after its id: decode it again below */
    }
    size_t p = *pos;
    uint8_t op = d[p++];
    uint64_t f[4] = {0, 0, 0, 0};
    bool ok = op != 0 && op < REC_OP_COUNT;
    for (unsigned i = 0, n = ok ? nargs[op] : 0; i < n && ok; i++) {
        if (__builtin_expect(p < end && d[p] < 0x80, 1))
            f[i] = d[p++];
        else
            ok = get_u_long(d, &p, end, &f[i]);
    }
    r->off = *pos;
    r->op = op;
    r->a = f[0];
    r->b = f[1];
    r->c = f[2];
    r->d = f[3];
    r->kind = 0;
    r->bits = 0;
    if (!ok || !decode_tail(d, &p, end, r))
        return decode_error(r->off, op);
    delta_obj(r, last);
    *pos = p;
    return TC_OK;
}

/* ---- pass 1: validation ---- */

typedef struct ids {
    uint8_t *live; /* live[id] for id <= max */
    uint64_t max;
    size_t cap;    /* bytes allocated at live */
} ids;

/* grow_to — make room for index id in an array of `size`-byte elements at
 * *p with *cap of them, doubling; the new elements zeroed. */
static bool grow_to(void **p, size_t *cap, uint64_t id, size_t size)
{
    if (id < *cap)
        return true;
    size_t nc = *cap ? *cap : 1024;
    while (nc <= id)
        nc *= 2;
    uint8_t *np = plat_realloc(*p, nc * size);
    if (!np)
        return false;
    memset(np + *cap * size, 0, (nc - *cap) * size);
    *p = np;
    *cap = nc;
    return true;
}

/* ids_make — may `id` be created now? It must be free and at most one past the largest so far. */
static bool ids_make(ids *s, uint64_t id)
{
    if (id == 0 || id > s->max + 1 || (id <= s->max && s->live[id]))
        return false;
    if (id == s->max + 1) {
        if (!grow_to((void **)&s->live, &s->cap, id, 1))
            return false;
        s->max = id;
    }
    s->live[id] = 1;
    return true;
}

static bool ids_live(const ids *s, uint64_t id) { return id && id <= s->max && s->live[id]; }

/* What pass 1 knows of an object id: its shape, how many live handles hold
 * it, and whether unsafe.free freed it. Every reference a store names must
 * be held by a live handle (the host stores what it holds): so the replay's
 * object for that id is alive, never a freed or collected one. */
typedef struct vobj {
    uint32_t handles; /* live handles on it */
    uint32_t nslots;
} vobj;

/* What only a log with unsafe.free needs, by object id, allocated at the
 * first FREE (vobj stays 8 bytes: validation walks it at every record). */
typedef struct vfree {
    uint32_t gen; /* +1 each time a NEW reuses the id after a free */
    bool freed;
} vfree;

/* A handle: the object id it holds (0: not live) and that id's generation
 * then. A handle on an object freed by unsafe.free stays live (only its
 * release is valid), and the freed object's memory, so its id, may be
 * reused while it lives: the generation tells it from the new object. */
typedef struct vhandle {
    uint32_t obj;
    uint32_t gen;
} vhandle;

typedef struct vstate {
    vhandle *hobj;   /* by handle id */
    uint64_t max_root;
    size_t hcap;
    vobj *objs;      /* by object id, 1..max_obj */
    size_t ocap;
    vfree *fr;       /* by object id, NULL until the first FREE; fcap entries */
    size_t fcap;
    ids weaks;
    uint64_t max_obj, records;
    bool ended, hashed;
    bool special; /* a finalizer, cleanup, weak reference or unsafe.free record */
} vstate;

/* handle_obj — the object id handle id holds, 0 if it is not live. */
static inline uint64_t handle_obj(const vstate *v, uint64_t id)
{
    return id && id <= v->max_root ? v->hobj[id].obj : 0;
}

static inline uint32_t vobj_gen(const vstate *v, uint64_t o) { return v->fr ? v->fr[o].gen : 0; }
static inline bool vobj_freed(const vstate *v, uint64_t o) { return v->fr && v->fr[o].freed; }

/* handle_make — handle id, free and at most one past the largest so far,
 * now holds object o (made by an earlier record). */
static inline const char *handle_make(vstate *v, uint64_t id, uint64_t o)
{
    if (id == 0 || id > v->max_root + 1 || handle_obj(v, id))
        return "a handle id that is live or out of sequence";
    if (o == 0 || o > v->max_obj)
        return "a handle on an object id no record made";
    if (v->objs[o].handles == UINT32_MAX)
        return "more handles on one object than a replay counts";
    if (id > v->max_root) {
        if (id >= v->hcap && !grow_to((void **)&v->hobj, &v->hcap, id, sizeof *v->hobj))
            return "out of memory validating the log";
        v->max_root = id;
    }
    v->hobj[id] = (vhandle){(uint32_t)o, vobj_gen(v, o)};
    v->objs[o].handles++;
    return NULL;
}

/* handle_use — the object of live handle id, into *o; why not otherwise. */
static inline const char *handle_use(const vstate *v, uint64_t id, uint64_t *o)
{
    if (!(*o = handle_obj(v, id)))
        return "an operation on a handle that is not live";
    if (vobj_freed(v, *o) || v->hobj[id].gen != vobj_gen(v, *o))
        return "an operation on an object freed by unsafe.free";
    return NULL;
}

static const char *check_new(vstate *v, const rrec *r)
{
    if (r->a == 0 || r->a > v->max_obj + 1 || r->a > UINT32_MAX)
        return "an object id out of sequence";
    if (r->a <= v->max_obj) { /* its address was reused: the old object is dead or freed */
        if (v->objs[r->a].handles && !vobj_freed(v, r->a))
            return "an object id reused while a handle still holds its object";
        if (v->fr) /* the freed object's handles keep the old generation */
            v->fr[r->a] = (vfree){v->fr[r->a].gen + 1, false};
    }
    if (r->c > OBJ_MAX_FIELD || r->d > OBJ_MAX_FIELD)
        return "an object larger than an object can be";
    if (r->a > v->max_obj) {
        if (r->a >= v->ocap && !grow_to((void **)&v->objs, &v->ocap, r->a, sizeof *v->objs))
            return "out of memory validating the log";
        v->max_obj = r->a;
    }
    if (v->fr && r->a >= v->fcap && !grow_to((void **)&v->fr, &v->fcap, r->a, sizeof *v->fr))
        return "out of memory validating the log";
    v->objs[r->a] = (vobj){.nslots = (uint32_t)r->c};
    return handle_make(v, r->b, r->a);
}

static const char *check_set(vstate *v, const rrec *r)
{
    uint64_t o;
    const char *why = handle_use(v, r->a, &o);
    if (why)
        return why;
    if (r->b >= v->objs[o].nslots)
        return "a slot index out of range for its object";
    if (r->kind > REC_K_REF)
        return "an unknown value kind";
    if (r->kind == REC_K_REF) {
        if (r->bits == 0 || r->bits > v->max_obj || !v->objs[r->bits].handles)
            return "a reference to an object id that no live handle holds (never made, or released)";
        if (vobj_freed(v, r->bits))
            return "a reference to an object freed by unsafe.free";
    }
    return NULL;
}

static const char *check_get(vstate *v, const rrec *r)
{
    uint64_t o;
    const char *why = handle_use(v, r->a, &o);
    if (why)
        return why;
    if (r->b >= v->objs[o].nslots)
        return "a slot index out of range for its object";
    return handle_make(v, r->c, r->d);
}

static const char *check_release(vstate *v, uint64_t id)
{
    uint64_t o = handle_obj(v, id);
    if (!o)
        return "a release of a handle that is not live";
    if (v->hobj[id].gen == vobj_gen(v, o))
        v->objs[o].handles--;
    v->hobj[id].obj = 0;
    return NULL;
}

static const char *check_weak(vstate *v, const rrec *r)
{
    uint64_t o;
    const char *why = NULL;
    switch (r->op) {
    case REC_WEAK_NEW:
        if ((why = handle_use(v, r->b, &o)) != NULL)
            return why;
        return ids_make(&v->weaks, r->a) ? NULL : "a weak reference id that is live or out of sequence";
    case REC_WEAK_GET:
        if (!ids_live(&v->weaks, r->a))
            return "a get of a weak reference that is not live";
        if (r->b == 0)
            return r->c == 0 ? NULL : "a weak get that returned nothing names an object";
        return handle_make(v, r->b, r->c);
    default: /* REC_WEAK_RELEASE */
        if (!ids_live(&v->weaks, r->a))
            return "a release of a weak reference that is not live";
        v->weaks.live[r->a] = 0;
        return NULL;
    }
}

/* check — the reason record r cannot follow the records before it, or NULL. */
static const char *check(vstate *v, const rrec *r)
{
    uint64_t o;
    const char *why;
    switch (r->op) {
    case REC_NEW: return check_new(v, r);
    case REC_SET: return check_set(v, r);
    case REC_GET: return check_get(v, r);
    case REC_RELEASE: return check_release(v, r->a);
    case REC_COLLECT:
        v->hashed |= (r->b & REC_COLLECT_HASH) != 0;
        return r->b & ~(uint64_t)REC_COLLECT_HASH ? "unknown collection flags" : NULL;
    case REC_FINALIZER:
    case REC_CLEANUP: v->special = true; return handle_use(v, r->a, &o);
    case REC_FREE:
        v->special = true;
        if ((why = handle_use(v, r->a, &o)) != NULL)
            return why;
        if (!v->fr && !grow_to((void **)&v->fr, &v->fcap, v->max_obj, sizeof *v->fr))
            return "out of memory validating the log";
        v->fr[o].freed = true; /* every handle on it reads freed now (special.c) */
        return NULL;
    case REC_READY: v->special = true; return r->a ? handle_make(v, r->b, r->c) : "a finalizer with token 0";
    case REC_WEAK_NEW:
    case REC_WEAK_GET:
    case REC_WEAK_RELEASE: v->special = true; return check_weak(v, r);
    case REC_FOREIGN:
        return "the recording used a handle or object made outside it (by an inspection call), "
               "which a replay cannot rebuild";
    case REC_END: return r->a == v->records ? NULL : "the end record's count differs from the records before it";
    }
    return "an unknown record type";
}

/* check_header — magic and version. */
static tc_status check_header(const rlog *g, uint32_t *version)
{
    if (g->size < REC_HEADER)
        return tc_fail(TC_ERR_VALUE, "truncated replay log: the file ends at byte offset %zu, inside the %d-byte header",
                       g->size, REC_HEADER);
    if (memcmp(g->data, REC_MAGIC, 8) != 0)
        return bad(0, "not a tricolor replay log (bad magic)");
    *version = get_u32le(g->data + 8);
    if (*version != REC_VERSION)
        return tc_fail(TC_ERR_VALUE, "the replay log is format version %u; this build reads version %u only",
                       *version, REC_VERSION);
    if (get_u32le(g->data + 12) != 0)
        return bad(12, "unknown header flags");
    return TC_OK;
}

/* check_block — the block at off: its length fits the file, its checksum matches. */
static tc_status check_block(const rlog *g, size_t off, uint32_t *len)
{
    if (g->size - off < 8)
        return tc_fail(TC_ERR_VALUE, "truncated replay log: the file ends at byte offset %zu, inside the block header "
                       "at byte offset %zu", g->size, off);
    *len = get_u32le(g->data + off);
    if (*len == 0 || *len > REC_BLOCK + REC_OP_MAX)
        return bad(off, "a block length out of range");
    if (g->size - off - 8 < *len)
        return tc_fail(TC_ERR_VALUE, "truncated replay log: the block at byte offset %zu needs %u bytes, the file "
                       "ends at byte offset %zu", off, *len, g->size);
    if (rec_crc32(g->data + off + 8, *len) != get_u32le(g->data + off + 4))
        return bad(off, "the block's checksum does not match (the bytes after it were changed)");
    return TC_OK;
}

/* validate — pass 1 over the whole log (see the top of the file). */
static tc_status validate(rlog *g, uint32_t *version)
{
    tc_status st = check_header(g, version);
    vstate v = {0};
    size_t off = REC_HEADER;
    uint64_t last = 0;
    while (st == TC_OK && !v.ended) {
        uint32_t len = 0;
        if (off == g->size) {
            st = tc_fail(TC_ERR_VALUE, "truncated replay log: the file ends at byte offset %zu without its end "
                         "record (was record_stop called?)", off);
            break;
        }
        if ((st = check_block(g, off, &len)) != TC_OK)
            break;
        size_t pos = off + 8, end = pos + len;
        while (st == TC_OK && pos < end) {
            rrec r;
            const char *why;
            if ((st = decode(g->data, &pos, end, &r, &last)) != TC_OK)
                break;
            if ((why = check(&v, &r)) != NULL)
                st = bad(r.off, why);
            else if (r.op == REC_END && (v.ended = true) && (pos != end || end != g->size))
                st = bad(pos, "bytes after the end record");
            v.records++;
        }
        off = end;
    }
    g->max_obj = v.max_obj;
    g->max_root = v.max_root;
    g->max_weak = v.weaks.max;
    g->hashed = v.hashed;
    g->plain = !v.special;
    free(v.hobj);
    free(v.objs);
    free(v.fr);
    free(v.weaks.live);
    return st;
}

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
            if ((st = decode(g->data, &pos, end, &r, &last)) != TC_OK)
                break;
            if (r.op == REC_COLLECT) {
                tc_leave(m);
                if ((st = collect(d, &r)) != TC_OK || !(m = tc_enter(d->h)))
                    return stopped(d, &r, st != TC_OK ? st : TC_ERR_CLOSED); /* m is left */
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

/* read_all — the file at path, whole. */
static tc_status read_all(const char *path, rlog *g)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tc_fail(TC_ERR_IO, "cannot open the replay log \"%s\": %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1; /* the whole file in one read, no regrowth */
    if (size > 0 && (unsigned long)size < SIZE_MAX - 1)
        cap = (size_t)size + 1; /* +1: the read that finds the end */
    rewind(f);
    uint8_t *buf = plat_malloc(cap);
    for (size_t got; buf; n += got) {
        if (n == cap) {
            uint8_t *nb = plat_realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        if ((got = fread(buf + n, 1, cap - n, f)) == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        return err ? tc_fail(TC_ERR_IO, "cannot read the replay log \"%s\"", path)
                   : tc_fail(TC_ERR_NOMEM, "out of memory reading the replay log \"%s\"", path);
    }
    g->data = buf;
    g->size = n;
    return TC_OK;
}

tc_status tc_replay(tc_heap *h, const char *path, tc_replay_report *out)
{
    if (!path || !out)
        return tc_fail(TC_ERR_VALUE, "replay needs a path and a report");
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    rlog g = {0};
    tc_replay_report rep = {.first_mismatch = -1};
    tc_status st = read_all(path, &g);
    if (st == TC_OK)
        st = validate(&g, &rep.version);
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
        st = g.plain ? drive_raw(&d, &g) : drive(&d, &g);
    rep.elapsed_ns = now_ns() - t0;
    drive_end(&d, &g);
    free(g.data);
    if (st == TC_OK)
        *out = rep;
    return st;
}
