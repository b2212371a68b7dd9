/*
 * replay.h — the replay log's reader, shared by replay_check.c (the log's
 * frame and each record's checks) and replay.c (decoding each record,
 * checking it, and driving a heap with it, in one pass). Decode and the
 * checks' fast path are inline here: they are the replay's innermost loop.
 *
 * Invariant: decode reads no byte at or past `end` (the end of the record's
 * block, which replay_block checked lies inside the file and the buffer),
 * whatever the bytes; decode_fast runs only with FAST_ROOM bytes before `end`.
 */
#ifndef TC_REPLAY_H
#define TC_REPLAY_H

#include "record.h"

#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* one decoded record */
typedef struct rrec {
    uint8_t op, kind;
    uint64_t a, b, c, d; /* the varints, in order */
    uint64_t bits;       /* REC_SET: int (zigzag) or float bits; REC_COLLECT: the hash */
    size_t off;          /* byte offset of the opcode */
} rrec;

/* The log file, read one block at a time (the decoder's data is one
 * block, an L2-sized buffer refilled in place: reading the whole file
 * into fresh memory cost a page fault per 4 KiB, a tenth of a replay). */
typedef struct rlog {
    int fd;
    const char *path;
    size_t size;   /* the file's size when opened */
    uint8_t *data; /* the block at file offset base: its 8-byte header, then its payload */
    size_t base;
} rlog;


static inline uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}


/* replay_get_u_long — a varint at *pos before end, the general way; false if it
 * runs past end or is longer than 10 bytes. */
bool replay_get_u_long(const uint8_t *d, size_t *pos, size_t end, uint64_t *out);
/* replay_decode_error — TC_ERR_VALUE: why the record at off (opcode op)
 * could not be decoded. */
tc_status replay_decode_error(size_t off, uint8_t op);
/* the number of varints after each opcode */
extern const uint8_t replay_nargs[REC_OP_COUNT];

/* get_u — a varint at *pos before end; false if it runs past end or is too
 * long. Most are one byte (small ids, slot numbers): that path is inline. */
static inline bool get_u(const uint8_t *d, size_t *pos, size_t end, uint64_t *out)
{
    if (__builtin_expect(*pos < end && d[*pos] < 0x80, 1)) {
        *out = d[(*pos)++];
        return true;
    }
    return replay_get_u_long(d, pos, end, out);
}

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
 * of at most 10 bytes (replay_get_u_long reads no more), a kind and 8 bytes. */
#define FAST_ROOM 64

/* fast_u — a varint that cannot run past the block (FAST_ROOM checked). */
static inline __attribute__((always_inline)) bool fast_u(const uint8_t *d, size_t *p, uint64_t *out)
{
    if (__builtin_expect(d[*p] < 0x80, 1)) {
        *out = d[(*p)++];
        return true;
    }
    size_t q = *p; /* copies: the call takes addresses, which would keep the caller's in memory */
    uint64_t x;
    bool ok = replay_get_u_long(d, &q, SIZE_MAX, &x);
    *p = q;
    *out = x;
    return ok;
}

/* replay_fields_wide — fields()'s way when a varint is longer than a
 * byte: n (at most 4) of them at *p, FAST_ROOM checked, into f[]. Not
 * inline: its array stays out of the callers' registers. */
bool replay_fields_wide(const uint8_t *d, size_t *p, unsigned n, uint64_t *f);

/* fields — n (at most 4) varints at *p, FAST_ROOM checked, into f[]; the
 * common case, all one byte, is one 8-byte load and a mask test instead
 * of a test and a branch per byte (callgrind: the per-byte path was a third
 * of the instructions of both passes' fast paths). Each f[i] is assigned
 * by a constant index, the wide case through a copy, so that the caller's
 * f[] can live in registers (a loop over f[] kept it on the stack: a store
 * and a load per field). */
static inline __attribute__((always_inline)) bool fields(const uint8_t *d, size_t *p, unsigned n, uint64_t *f)
{
    const uint8_t *b = d + *p;
    uint64_t w = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
                 (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 | (uint64_t)b[7] << 56;
    uint64_t high = UINT64_C(0x8080808080808080) & ((UINT64_C(1) << (8 * n)) - 1);
    if (__builtin_expect(!(w & high), 1)) {
        f[0] = w & 0xff;
        if (n > 1)
            f[1] = (w >> 8) & 0xff;
        if (n > 2)
            f[2] = (w >> 16) & 0xff;
        if (n > 3)
            f[3] = (w >> 24) & 0xff;
        *p += n;
        return true;
    }
    uint64_t g[4];
    size_t q = *p; /* a copy: the call takes its address, which would keep the caller's in memory */
    if (!replay_fields_wide(d, &q, n, g))
        return false;
    *p = q;
    f[0] = g[0];
    if (n > 1)
        f[1] = g[1];
    if (n > 2)
        f[2] = g[2];
    if (n > 3)
        f[3] = g[3];
    return true;
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
 * object id of the last NEW decoded (0 at the start). TC_ERR_VALUE, with
 * no message, if it runs past end or has no known opcode: r->off (in the
 * buffer) and r->op are set for replay_decode_error, which the caller
 * gives the file offset. The fields go to locals first, and one-byte
 * varints take no call. */
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
    for (unsigned i = 0, n = ok ? replay_nargs[op] : 0; i < n && ok; i++) {
        if (__builtin_expect(p < end && d[p] < 0x80, 1))
            f[i] = d[p++];
        else
            ok = replay_get_u_long(d, &p, end, &f[i]);
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
        return TC_ERR_VALUE; /* r->off and r->op say where: replay_decode_error */
    delta_obj(r, last);
    *pos = p;
    return TC_OK;
}


/* ---- what the checks know (replay_check.c), record by record ---- */

typedef struct ids {
    uint8_t *live; /* live[id] for id <= max */
    uint64_t max;
    size_t cap;    /* bytes allocated at live */
} ids;

/* What the checks know of an object id: its shape, how many live handles
 * hold it, and whether unsafe.free freed it. Every reference a store names
 * must be held by a live handle (the host stores what it holds): so the
 * replay's object for that id is alive, never a freed or collected one. */
typedef struct vobj {
    uint32_t handles; /* live handles on it */
    uint32_t nslots;
} vobj;

/* What only a log with unsafe.free needs, by object id, allocated at the
 * first FREE (vobj stays 8 bytes: the checks touch it at every record). */
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

/* The checks' state; one owner, the replaying thread. */
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
    uint64_t hlim;   /* quick_*: handle ids below this only (<= hcap; the drive's table may be shorter) */
    uint64_t olim;   /* quick_new: object ids below this only (min(ocap, 2^32)) */
    bool ended, hashed;
    bool special; /* a finalizer, cleanup, weak reference or unsafe.free record */
} vstate;

/* replay_open — open the log at path (g->size its size), a block's buffer;
 * replay_close frees them. */
tc_status replay_open(const char *path, rlog *g);
void replay_close(rlog *g);
/* replay_block — the block at file offset off into g->data (g->base =
 * off): its length in range, inside the file, its CRC-32 right; *len its
 * payload's length. TC_ERR_VALUE naming the offset otherwise. */
tc_status replay_block(rlog *g, size_t off, uint32_t *len);
/* replay_frame — before the heap is touched: header and version (*version
 * is the log's), every block's length and CRC-32, the last block's records
 * ending with END as the file's last bytes. TC_ERR_VALUE naming a byte
 * offset otherwise. */
tc_status replay_frame(rlog *g, uint32_t *version);
/* replay_check — why record r cannot follow the records before it (v's
 * state, which it advances when it accepts), or NULL. */
const char *replay_check(vstate *v, const rrec *r);
/* replay_bad — TC_ERR_VALUE: the log is corrupt at byte offset off. */
tc_status replay_bad(size_t off, const char *what);
/* replay_grow_to — room for index id in a table of `size`-byte elements
 * at *p with *cap of them (doubling, from 1024), the new ones zeroed;
 * replay_table_free frees one. */
bool replay_grow_to(void **p, size_t *cap, uint64_t id, size_t size);
void replay_table_free(void *p, size_t cap, size_t size);
/* replay_presize — best effort, before the first record: the checks'
 * object and handle tables (and so the drive's, which follow them: fit)
 * as large as a log of log_bytes can need, at most REPLAY_PRESIZE_MAX
 * entries, so that they never grow (lazily mapped: what no id reaches
 * costs no memory). A larger log grows them as it goes. */
#define REPLAY_PRESIZE_MAX ((uint64_t)1 << 24)
void replay_presize(vstate *v, size_t log_bytes);
void replay_vfree(vstate *v);

/* ---- the fast path: the common records checked at once ----
 * Most of a log is NEW, SET of a non-float, GET and RELEASE, in a log with
 * no unsafe.free (so no generations). replay.c decodes these with
 * fields() and checks them here, with the state in locals, well inside a
 * block (FAST_ROOM). They accept exactly what replay_check would, and only
 * when they accept do they change anything: for whatever they do not
 * accept (another record, an error, a table to grow) the general path
 * decodes the record again, so every error names its byte offset the one
 * way. */

/* vquick — the fast path's view of the checks' tables, a few words that
 * raw_run keeps in registers (it copied the whole vstate before, and
 * reloaded most of its fields from the stack at every record). hmax is
 * min(max_root, hlim - 1): handle ids 1..hmax lie inside the checks' and
 * the drive's handle tables; a handle id past max_root (a new one) goes
 * the general way, which raises max_root. */
typedef struct vquick {
    vhandle *hobj;
    vobj *objs;
    uint64_t hmax, max_obj, olim;
} vquick;

static inline vquick vquick_of(const vstate *v)
{
    uint64_t hmax = v->hlim ? v->hlim - 1 : 0;
    return (vquick){v->hobj, v->objs, v->max_root < hmax ? v->max_root : hmax, v->max_obj, v->olim};
}

/* quick_handle — the object of handle id if it is live (and id <= hmax), else 0. */
static inline uint64_t quick_handle(const vquick *q, uint64_t id)
{
    return id - 1 < q->hmax ? q->hobj[id].obj : 0;
}

/* quick_new_handle — may handle id (<= hmax, not live) be made now on an
 * object that holds `handles` already? handle_make's conditions. */
static inline bool quick_new_handle(const vquick *q, uint64_t id, uint32_t handles)
{
    return id - 1 < q->hmax && !q->hobj[id].obj && handles != UINT32_MAX;
}

static inline void quick_make_handle(vquick *q, uint64_t id, uint64_t o)
{
    q->hobj[id] = (vhandle){(uint32_t)o, 0};
    q->objs[o].handles++;
}

/* quick_slot — the object of live handle id if slot `slot` is in range, else 0. */
static inline uint64_t quick_slot(const vquick *q, uint64_t id, uint64_t slot)
{
    uint64_t o = quick_handle(q, id);
    return o && slot < q->objs[o].nslots ? o : 0;
}

/* fields up to 2^26 - 1 make at most 640 MiB, an object the heap allocates */
#define REPLAY_QUICK_FIELD 0x3ffffffu

/* quick_new — NEW of object o on handle id with nslots and size: check_new's conditions. */
static inline bool quick_new(vquick *q, uint64_t o, uint64_t id, uint64_t nslots, uint64_t size)
{
    /* o - 1 >= max_obj: o is 0 or a new id (only max_obj + 1 may be, below
     * olim, which is at most 2^32; an id up to max_obj is below both);
     * REPLAY_QUICK_FIELD is all ones, so one test takes both fields; a
     * larger shape goes to check_new, which tests it against ALLOC_MAX_BYTES */
    if (o - 1 >= q->max_obj && (o - 1 != q->max_obj || o >= q->olim))
        return false;
    if ((nslots | size) > REPLAY_QUICK_FIELD)
        return false;
    if (o <= q->max_obj && q->objs[o].handles) /* reused while held: check_new says so */
        return false;
    if (!quick_new_handle(q, id, 0))
        return false;
    if (o > q->max_obj)
        q->max_obj = o;
    q->objs[o] = (vobj){.handles = 0, .nslots = (uint32_t)nslots};
    quick_make_handle(q, id, o);
    return true;
}

/* quick_ref — may a store name object id t? (check_set's reference test) */
static inline bool quick_ref(const vquick *q, uint64_t t)
{
    return t && t <= q->max_obj && q->objs[t].handles;
}

/* quick_get — GET of slot s of handle a into new handle c holding object o. */
static inline bool quick_get(vquick *q, uint64_t a, uint64_t s, uint64_t c, uint64_t o)
{
    if (!quick_slot(q, a, s) || o == 0 || o > q->max_obj || !quick_new_handle(q, c, q->objs[o].handles))
        return false;
    quick_make_handle(q, c, o);
    return true;
}

/* quick_release — RELEASE of handle a. */
static inline bool quick_release(vquick *q, uint64_t a)
{
    uint64_t o = quick_handle(q, a);
    if (!o)
        return false;
    q->objs[o].handles--;
    q->hobj[a].obj = 0;
    return true;
}

#pragma GCC visibility pop

#endif
