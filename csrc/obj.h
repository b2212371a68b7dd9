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
 * the bool, or the object address) and a tag byte. Why not one word: a
 * double must be stored exactly, so all 2^64 bit patterns are taken, and
 * boxing doubles would allocate on a store and show in the statistics.
 *
 * The tag byte: bits 0-2 the tc_kind, bit 3 BUSY (a store or a locked read
 * holds the slot), bits 4-7 a write sequence number (+1 per store, mod 16).
 * A store is
 *     tag = old | BUSY;  release fence;  word = new;  tag = (seq+1, kind)  (release)
 * A checked store (tc_slot_set) takes BUSY with a compare-and-swap, so two
 * threads storing into one slot take turns and the slot never ends up with
 * one store's tag and the other's word; a raw store (tc_store) sets BUSY
 * with a plain store: one writer per slot at a time, and no checked read of
 * that slot by another thread meanwhile, is the raw caller's business, as
 * everything else in a raw section.
 *
 * Readers (issue 10, point 6: tc_slot_get made a root for address 0x10 when
 * it read a REF tag before a concurrent store of an int and the int after):
 *  - slot_read_locked, for a checked read on any thread (tc_slot_get): it
 *    takes BUSY as a checked store does, reads the word, and puts the tag
 *    back. A lock-free check (tag, word, tag again) is not enough: the tag
 *    has room for a 4-bit sequence only, and a reader preempted between its
 *    two tag loads while 16 stores went by took an INT tag with a REF word
 *    (the test saw it once in 5M reads on a loaded machine). A reference is
 *    further checked against the heap's allocation bits (object.c) before
 *    it becomes a root, for a raw store that ignored the lock.
 *  - the marker loads the tag, then the word, and validates every candidate
 *    address against the arena's bitmaps (markctx.h: try_mark): a torn pair only costs it
 *    a useless candidate, and the barrier shaded what the store deleted or
 *    inserted before the store.
 *  - slot_read, the owner's view (tc_load): no other thread stores meanwhile.
 *
 * Invariants: nslots and size never change; a tag's kind bits are a tc_kind;
 * BUSY is set only during a store (never while the world is stopped); a
 * slot whose kind is TC_REF holds the address of an allocated object of the
 * same heap.
 */
#ifndef TC_OBJ_H
#define TC_OBJ_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

typedef struct objhdr {
    uint32_t nslots;
    uint32_t size;
} objhdr;

#define OBJ_MAX_FIELD 0xffffffffu
/* A freed object (tc_obj_free) keeps its memory until no handle can name
 * it (special.c); meanwhile its header reads nslots 0, size OBJ_FREED_SIZE,
 * a shape no allocation can have (no object is 4 GiB large). */
#define OBJ_FREED_SIZE 0xffffffffu

/* obj_bytes — the bytes an object of this shape occupies (before rounding
 * to its size class). The caller has checked both fit in 32 bits. */
static inline size_t obj_bytes(size_t nslots, size_t size)
{
    return sizeof(objhdr) + nslots * 9 + size;
}

static inline objhdr *obj_hdr(const tc_obj *o) { return (objhdr *)(uintptr_t)o; }
static inline uint32_t obj_nslots(const tc_obj *o) { return obj_hdr(o)->nslots; }
static inline uint32_t obj_size(const tc_obj *o) { return obj_hdr(o)->size; }

/* obj_freed — was o freed with tc_obj_free (its memory not reclaimed yet)? */
static inline bool obj_freed(const tc_obj *o) { return obj_hdr(o)->nslots == 0 && obj_hdr(o)->size == OBJ_FREED_SIZE; }

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

#define TAG_KIND 0x07u /* the tc_kind */
#define TAG_BUSY 0x08u /* a store is under way */
#define TAG_SEQ 0x10u  /* one step of the write sequence (high nibble) */

/* next_tag — the tag a store of kind k leaves after the tag `old`. */
static inline uint8_t next_tag(uint8_t old, tc_kind k)
{
    return (uint8_t)(((old & ~(TAG_KIND | TAG_BUSY)) + TAG_SEQ) | (uint8_t)k);
}

/* slot_read, slot_read_at — the value of slot i (of the slot whose word
 * and tag are at w and t), the owner's view (no concurrent store; a
 * concurrent reader uses slot_read_locked). */
static inline tc_value slot_read_at(const _Atomic uint64_t *w, const _Atomic uint8_t *t)
{
    uint8_t tag = atomic_load_explicit((_Atomic uint8_t *)t, memory_order_acquire);
    return word_value(tag & TAG_KIND, atomic_load_explicit((_Atomic uint64_t *)w, memory_order_relaxed));
}

static inline tc_value slot_read(const tc_obj *o, size_t i)
{
    return slot_read_at(&obj_words(o)[i], &obj_tags(o)[i]);
}

/* slot_publish_at — the second half of a store into the slot whose word
 * and tag are at w and t: the word, then the tag of the new kind (BUSY
 * cleared). `old` is the tag before BUSY was set. */
static inline void slot_publish_at(_Atomic uint64_t *w, _Atomic uint8_t *t, uint8_t old, tc_value v)
{
    atomic_thread_fence(memory_order_release); /* BUSY before the word */
    atomic_store_explicit(w, value_word(v), memory_order_relaxed);
    atomic_store_explicit(t, next_tag(old, v.kind), memory_order_release);
}

/* slot_publish — slot_publish_at for slot i of o. */
static inline void slot_publish(tc_obj *o, size_t i, uint8_t old, tc_value v)
{
    slot_publish_at(&obj_words(o)[i], &obj_tags(o)[i], old, v);
}

/* slot_write_raw_at — store v into the slot whose word and tag are at w
 * and t without a barrier (the barrier is the caller's), one writer per
 * slot at a time. The addresses come first: after a byte store, which may
 * alias the header as far as the compiler knows, working them out again
 * would load nslots and size again (tc_store, barrier_store_slow). */
static inline void slot_write_raw_at(_Atomic uint64_t *w, _Atomic uint8_t *t, tc_value v)
{
    uint8_t old = atomic_load_explicit(t, memory_order_relaxed) & (uint8_t)~TAG_BUSY;
    atomic_store_explicit(t, old | TAG_BUSY, memory_order_relaxed);
    slot_publish_at(w, t, old, v);
}

/* slot_write_raw — slot_write_raw_at for slot i of o. */
static inline void slot_write_raw(tc_obj *o, size_t i, tc_value v)
{
    slot_write_raw_at(&obj_words(o)[i], &obj_tags(o)[i], v);
}

/* slot_try_lock — slot_lock without the wait, for the slot whose tag is at
 * t: true with *old the tag before if the slot was free and is now ours
 * (BUSY set by compare-and-swap), false with nothing changed if a store
 * holds it or the CAS lost a race. For fast paths with no call in them
 * (object.c): they take their slow path on false, which waits in slot_lock. */
static inline bool slot_try_lock(_Atomic uint8_t *t, uint8_t *old)
{
    uint8_t v = atomic_load_explicit(t, memory_order_relaxed);
    *old = v;
    return __builtin_expect(!(v & TAG_BUSY), 1) &&
           atomic_compare_exchange_strong_explicit(t, &v, (uint8_t)(v | TAG_BUSY), memory_order_acquire,
                                                   memory_order_relaxed);
}

/* slot_lock — take slot i for a store (BUSY, by compare-and-swap): stores
 * of several threads into one slot take turns. Returns the tag before;
 * slot_publish releases. Held for two stores, never across a wait. */
uint8_t slot_lock_slow(tc_obj *o, size_t i);
static inline uint8_t slot_lock(tc_obj *o, size_t i)
{
    uint8_t old;
    if (slot_try_lock(&obj_tags(o)[i], &old))
        return old;
    return slot_lock_slow(o, i);
}

/* slot_write_locked — a checked store without a barrier (the barrier is
 * off: barrier.h's barrier_store_checked for when it is not). */
static inline void slot_write_locked(tc_obj *o, size_t i, tc_value v)
{
    slot_publish(o, i, slot_lock(o, i), v);
}

/* slot_read_unlock — the word at w of a slot the caller holds (its tag at
 * t was `old` before), and the tag put back (by compare-and-swap: a raw
 * store that ignored the lock and wrote meanwhile keeps what it wrote). */
static inline uint64_t slot_read_unlock(_Atomic uint64_t *w, _Atomic uint8_t *t, uint8_t old)
{
    uint8_t busy = (uint8_t)(old | TAG_BUSY);
    uint64_t word = atomic_load_explicit(w, memory_order_relaxed);
    atomic_compare_exchange_strong_explicit(t, &busy, old, memory_order_release, memory_order_relaxed);
    return word;
}

/* slot_read_locked — slot i as one store wrote it, for a thread that may
 * race stores into it: hold the slot as a store does, read the word, put
 * the tag back (by compare-and-swap: a raw store that ignored the lock and
 * wrote meanwhile keeps what it wrote). */
static inline tc_value slot_read_locked(tc_obj *o, size_t i)
{
    uint8_t t = slot_lock(o, i);
    uint64_t w = slot_read_unlock(&obj_words(o)[i], &obj_tags(o)[i], t);
    return word_value(t & TAG_KIND, w);
}
#pragma GCC visibility pop
#endif
