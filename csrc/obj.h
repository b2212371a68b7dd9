/*
 * obj.h — the object layout and the value encoding.
 *
 *     +--------+--------+-----------------+-----------------+----------------+
 *     | nslots |  size  | word[0..nslots) | payload[size]   | tag[0..nslots) |
 *     |  u32   |  u32   | 8 bytes each    | zeroed at alloc | 1 byte each    |
 *     +--------+--------+-----------------+-----------------+----------------+
 *
 * The payload follows the words so it is 8-byte aligned; the tags come last
 * so they need no padding (a GCBench node, 2 slots + 8 bytes, is 34 bytes
 * and fits the 40-byte class).
 *
 * A slot is two atomic cells: the 64-bit word (the int, the double's bits,
 * the bool, or the object address) and a tag byte (a tc_kind). Why not one
 * word: a double must be stored exactly, so all 2^64 bit patterns are taken,
 * and boxing doubles would allocate on a store and show in the statistics.
 * Why this is safe for a concurrent marker (issue 3): a store writes the word
 * first and the tag last with release order; the marker loads the tag with
 * acquire, then the word. It can see (old tag, old word), (old tag, new word)
 * or (new tag, new word), never (new tag, old word). The write barrier shades
 * the values that matter before the store, and a stale REF tag over a fresh
 * non-reference word is caught by validating the address against the arena's
 * span map before marking (mark.c).
 *
 * Invariants: nslots and size never change; a tag is a tc_kind; a slot whose
 * tag is TC_REF holds the address of an allocated object of the same heap.
 */
#ifndef TC_OBJ_H
#define TC_OBJ_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tricolor.h"

typedef struct objhdr {
    uint32_t nslots;
    uint32_t size;
} objhdr;

#define OBJ_MAX_FIELD 0xffffffffu

/* obj_bytes — the bytes an object of this shape occupies (before rounding
 * to its size class). The caller has checked both fit in 32 bits. */
static inline size_t obj_bytes(size_t nslots, size_t size)
{
    return sizeof(objhdr) + nslots * 9 + size;
}

static inline objhdr *obj_hdr(const tc_obj *o) { return (objhdr *)(uintptr_t)o; }
static inline uint32_t obj_nslots(const tc_obj *o) { return obj_hdr(o)->nslots; }
static inline uint32_t obj_size(const tc_obj *o) { return obj_hdr(o)->size; }

static inline _Atomic uint64_t *obj_words(const tc_obj *o)
{
    return (_Atomic uint64_t *)((uintptr_t)o + sizeof(objhdr));
}

static inline unsigned char *obj_payload(const tc_obj *o)
{
    return (unsigned char *)((uintptr_t)o + sizeof(objhdr) + (size_t)obj_nslots(o) * 8);
}

static inline _Atomic uint8_t *obj_tags(const tc_obj *o)
{
    return (_Atomic uint8_t *)(obj_payload(o) + obj_size(o));
}

/* value_word — the word a value is stored as (its tag is v.kind). */
static inline uint64_t value_word(tc_value v)
{
    uint64_t w = 0;
    switch (v.kind) {
    case TC_BOOL: w = v.u.b ? 1 : 0; break;
    case TC_INT: w = (uint64_t)v.u.i; break;
    case TC_FLOAT: memcpy(&w, &v.u.d, 8); break;
    case TC_REF: w = (uint64_t)(uintptr_t)v.u.ref; break;
    default: break;
    }
    return w;
}

static inline tc_value word_value(uint8_t tag, uint64_t w)
{
    tc_value v;
    v.kind = (tc_kind)tag;
    switch (tag) {
    case TC_BOOL: v.u.i = 0; v.u.b = w != 0; break;
    case TC_FLOAT: memcpy(&v.u.d, &w, 8); break;
    case TC_REF: v.u.ref = (tc_obj *)(uintptr_t)w; break;
    default: v.u.i = (int64_t)w; break;
    }
    return v;
}

/* slot_read — the value of slot i (owner's view; see the header comment for
 * the order a concurrent reader needs). */
static inline tc_value slot_read(const tc_obj *o, size_t i)
{
    uint8_t tag = atomic_load_explicit(&obj_tags(o)[i], memory_order_acquire);
    uint64_t w = atomic_load_explicit(&obj_words(o)[i], memory_order_relaxed);
    return word_value(tag, w);
}

/* slot_write_raw — store without a barrier (the barrier is the caller's). */
static inline void slot_write_raw(tc_obj *o, size_t i, tc_value v)
{
    atomic_store_explicit(&obj_words(o)[i], value_word(v), memory_order_relaxed);
    atomic_store_explicit(&obj_tags(o)[i], (uint8_t)v.kind, memory_order_release);
}
#endif
