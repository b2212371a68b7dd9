/*
 * replay_check.c — pass 1 of a replay (replay.c is pass 2): read the log
 * whole and validate all of it before the heap is touched.
 *
 * It checks the header and version, each block's length and CRC-32, each
 * record's shape, and the ids: a handle or weak reference is used only
 * while live and created only while free, an object id only after a NEW
 * gave it, ending with the END record as the last bytes. It also follows
 * which object each handle holds (a NEW's, or the one a GET, READY or
 * WEAK_GET names), so that it can refuse what no recording writes and a
 * crafted log could: a store of a reference no live handle holds (the
 * object may be freed by then), a slot index out of range, an operation
 * on an object unsafe.free freed. Any failure is TC_ERR_VALUE naming its
 * byte offset; nothing is replayed. replay.c checks at run time the one
 * thing this cannot know: that a load returns the object the log names.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "replay.h"

static tc_status bad(size_t off, const char *what)
{
    return tc_fail(TC_ERR_VALUE, "corrupt replay log at byte offset %zu: %s", off, what);
}


bool replay_get_u_long(const uint8_t *d, size_t *pos, size_t end, uint64_t *out)
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

const uint8_t replay_nargs[REC_OP_COUNT] = {
    [REC_NEW] = 4, [REC_SET] = 2, [REC_GET] = 4, [REC_RELEASE] = 1, [REC_COLLECT] = 2,
    [REC_FINALIZER] = 2, [REC_CLEANUP] = 2, [REC_READY] = 3, [REC_WEAK_NEW] = 2,
    [REC_WEAK_GET] = 3, [REC_WEAK_RELEASE] = 1, [REC_FREE] = 1, [REC_FOREIGN] = 0, [REC_END] = 1,
};

/* replay_decode_error — why the record at off could not be decoded. */
tc_status replay_decode_error(size_t off, uint8_t op)
{
    if (op == 0 || op >= REC_OP_COUNT) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown record type 0x%02x", op);
        return bad(off, msg);
    }
    return bad(off, "a record runs past the end of its block");
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

/* slot_use — record r names slot r->b of the object handle r->a holds: both must exist. */
static const char *slot_use(vstate *v, const rrec *r)
{
    uint64_t o;
    const char *why = handle_use(v, r->a, &o);
    if (why)
        return why;
    return r->b >= v->objs[o].nslots ? "a slot index out of range for its object" : NULL;
}

static const char *check_set(vstate *v, const rrec *r)
{
    const char *why = slot_use(v, r);
    if (why)
        return why;
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
    const char *why = slot_use(v, r);
    return why ? why : handle_make(v, r->c, r->d);
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

/* ---- the fast path: pass 1's common records, decoded and checked at once ----
 * Most of a log is NEW, SET of a non-float, GET and RELEASE, in a log with
 * no unsafe.free (so no generations). Decoding them into an rrec and then
 * switching again in check() was half of a replay's validation (perf), so
 * quick() does both for them, with the state in locals, well inside a
 * block (decode_fast's FAST_ROOM). It accepts exactly what check() would,
 * and only when it accepts does it change anything: for whatever it does
 * not accept (another record, an error, a table to grow) it consumes
 * nothing and the general path decodes the record again, so every error
 * still names its byte offset the one way. */

/* quick_get — a varint that cannot run past the block (FAST_ROOM). */
#define quick_get(d, p, out) fast_u(d, p, out)

/* quick_new_handle — may handle id `id` be made now on object o (which
 * holds `handles` already)? handle_make's conditions, without its growth. */
static inline bool quick_new_handle(const vstate *v, uint64_t id, uint32_t handles)
{
    return id && id <= v->max_root + 1 && id < v->hcap && !(id <= v->max_root && v->hobj[id].obj) &&
           handles != UINT32_MAX;
}

static inline void quick_make_handle(vstate *v, uint64_t id, uint64_t o)
{
    if (id > v->max_root)
        v->max_root = id;
    v->hobj[id] = (vhandle){(uint32_t)o, 0};
    v->objs[o].handles++;
}

/* quick_slot — the object of live handle id if slot `slot` is in range, else 0. */
static inline uint64_t quick_slot(const vstate *v, uint64_t id, uint64_t slot)
{
    uint64_t o = id && id <= v->max_root ? v->hobj[id].obj : 0;
    return o && slot < v->objs[o].nslots ? o : 0;
}

static inline bool quick_new(vstate *v, const uint8_t *d, size_t *p, uint64_t *last)
{
    uint64_t f[4];
    if (!fields(d, p, 4, f))
        return false;
    uint64_t a = f[0], b = f[1], c = f[2], e = f[3];
    uint64_t o = unzig(*last, a);
    if (o == 0 || o > v->max_obj + 1 || o >= v->ocap || o > UINT32_MAX || c > OBJ_MAX_FIELD || e > OBJ_MAX_FIELD)
        return false;
    if (o <= v->max_obj && v->objs[o].handles) /* reused while held: check_new says so */
        return false;
    if (!quick_new_handle(v, b, 0))
        return false;
    if (o > v->max_obj)
        v->max_obj = o;
    v->objs[o] = (vobj){.nslots = (uint32_t)c};
    quick_make_handle(v, b, o);
    *last = o;
    return true;
}

static inline bool quick_set(vstate *v, const uint8_t *d, size_t *p, uint64_t last)
{
    uint64_t f[2], t;
    if (!fields(d, p, 2, f) || !quick_slot(v, f[0], f[1]))
        return false;
    uint8_t kind = d[(*p)++];
    if (kind == REC_K_INT)
        return quick_get(d, p, &t);
    if (kind != REC_K_REF)
        return kind < REC_K_INT; /* nil, false, true; a float or an unknown kind: the general path */
    if (!quick_get(d, p, &t))
        return false;
    t = unzig(last, t);
    return t && t <= v->max_obj && v->objs[t].handles;
}

static inline bool quick_get_rec(vstate *v, const uint8_t *d, size_t *p, uint64_t last)
{
    uint64_t f[4];
    if (!fields(d, p, 4, f) || !quick_slot(v, f[0], f[1]))
        return false;
    uint64_t o = unzig(last, f[3]);
    if (o == 0 || o > v->max_obj || !quick_new_handle(v, f[2], v->objs[o].handles))
        return false;
    quick_make_handle(v, f[2], o);
    return true;
}

static inline bool quick_release(vstate *v, const uint8_t *d, size_t *p)
{
    uint64_t a;
    if (!quick_get(d, p, &a) || !a || a > v->max_root)
        return false;
    uint32_t o = v->hobj[a].obj;
    if (!o)
        return false;
    v->objs[o].handles--;
    v->hobj[a].obj = 0;
    return true;
}

/* quick — the record at *pos through the fast path: true if it was one of
 * its records and check() would accept it (then *pos is past it). Only for
 * a log with no FREE so far (v->fr NULL) and FAST_ROOM bytes before the
 * block's end. */
static inline bool quick(vstate *v, const uint8_t *d, size_t *pos, uint64_t *last)
{
    size_t p = *pos + 1;
    bool ok;
    switch (d[*pos]) {
    case REC_NEW: ok = quick_new(v, d, &p, last); break;
    case REC_SET: ok = quick_set(v, d, &p, *last); break;
    case REC_GET: ok = quick_get_rec(v, d, &p, *last); break;
    case REC_RELEASE: ok = quick_release(v, d, &p); break;
    default: return false;
    }
    if (ok)
        *pos = p;
    return ok;
}

/* quick_run — quick over the records from pos while they start before
 * `stop` (FAST_ROOM before the block's end) and quick takes them; the
 * position of the first it does not take. A copy of the state in locals:
 * check() takes v's address, which kept every field in memory. */
static size_t quick_run(vstate *v, const uint8_t *d, size_t pos, size_t stop, uint64_t *last)
{
    vstate l = *v;
    uint64_t at = *last;
    while (pos < stop && quick(&l, d, &pos, &at))
        l.records++;
    *v = l;
    *last = at;
    return pos;
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
tc_status replay_validate(rlog *g, uint32_t *version)
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
            if (end - pos >= FAST_ROOM && !v.fr) /* then one record the general way, at least */
                pos = quick_run(&v, g->data, pos, end - FAST_ROOM + 1, &last);
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

/* replay_read — the file at path, whole. */
tc_status replay_read(const char *path, rlog *g)
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

