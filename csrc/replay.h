/*
 * replay.h — the replay log's reader, shared by replay_check.c (reading
 * and validating a log: pass 1) and replay.c (driving a heap with it: pass
 * 2). Both passes decode every record, so decode is inline here.
 *
 * Invariant: decode reads no byte at or past `end` (the end of the record's
 * block, which check_block checked lies inside the file), whatever the
 * bytes; decode_fast runs only with FAST_ROOM bytes before `end`.
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

typedef struct rlog {
    uint8_t *data;
    size_t size;
    uint64_t max_obj, max_root, max_weak;
    bool hashed; /* some REC_COLLECT carries a graph hash: the replay keeps obj_ids */
    bool plain;  /* only NEW, SET, GET, RELEASE, COLLECT: drive_raw may replay it */
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

/* fields — n (at most 7) varints at *p, FAST_ROOM checked, into f[]; the
 * common case, all one byte, is one 8-byte load and a mask test instead
 * of a test and a branch per byte (callgrind: the per-byte path was a third
 * of the instructions of both passes' fast paths). */
static inline __attribute__((always_inline)) bool fields(const uint8_t *d, size_t *p, unsigned n, uint64_t *f)
{
    const uint8_t *b = d + *p;
    uint64_t w = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
                 (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 | (uint64_t)b[7] << 56;
    uint64_t high = UINT64_C(0x8080808080808080) & ((UINT64_C(1) << (8 * n)) - 1);
    if (__builtin_expect(!(w & high), 1)) {
        for (unsigned i = 0; i < n; i++)
            f[i] = (w >> (8 * i)) & 0xff;
        *p += n;
        return true;
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t x;
        if (!fast_u(d, p, &x))
            return false;
        f[i] = x;
    }
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
        return replay_decode_error(r->off, op);
    delta_obj(r, last);
    *pos = p;
    return TC_OK;
}


/* replay_read — the file at path, whole, into g->data and g->size. */
tc_status replay_read(const char *path, rlog *g);
/* replay_validate — pass 1 over the whole log g (replay_check.c): on
 * success the tables' sizes and flags in g are set and *version is the
 * log's; any failure is TC_ERR_VALUE naming a byte offset. */
tc_status replay_validate(rlog *g, uint32_t *version);

#pragma GCC visibility pop

#endif
