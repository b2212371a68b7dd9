/*
 * object.c — the public object calls: checked allocation, slot and payload
 * access, and the unchecked raw-section equivalents.
 *
 * Each checked call is one heap call (mutator_enter .. mutator_leave): it
 * validates its arguments, returning a status and a message for anything a
 * host could pass, and never leaves the heap changed on failure.
 */
#include <inttypes.h>
#include <sched.h>
#include <string.h>

#include "alloc.h"
#include "barrier.h"
#include "record.h"
#include "roots_fast.h"

#define READ_RETRIES 64 /* reads of a slot whose reference is no object before giving up */

/* slot_lock_slow — another store holds the slot: it is between two stores,
 * so spin, yielding now and then (it may have been preempted). */
uint8_t slot_lock_slow(tc_obj *o, size_t i)
{
    _Atomic uint8_t *t = &obj_tags(o)[i];
    for (unsigned spins = 1;; spins++) {
        uint8_t old = atomic_load_explicit(t, memory_order_relaxed);
        if (!(old & TAG_BUSY) && atomic_compare_exchange_weak_explicit(t, &old, (uint8_t)(old | TAG_BUSY),
                                                                       memory_order_acquire, memory_order_relaxed))
            return old;
        if ((spins & 63) == 0)
            sched_yield();
        else
            plat_cpu_relax();
    }
}

/* ref_ok — may the reference v read from a slot be rooted: is it an
 * allocated object of h? (Only a racing raw store can leave one that is not.) */
static inline bool ref_ok(tc_heap *h, tc_obj *p)
{
    arena *a = arena_of((uintptr_t)p);
    return a != NULL && a->heap == h && is_object(a, (uintptr_t)p);
}

/* slot_in — may a fast path touch slot i of the object a root holds: the
 * object is not freed and i is in range (a freed object reads nslots 0,
 * obj.h). Every fast path below falls back to its checked call, which
 * says which error, when this is false. */
static inline bool slot_in(tc_obj *o, int64_t i)
{
    return !root_val_freed((uintptr_t)o) && (uint64_t)i < obj_nslots(o);
}

/* read_slot — slot i of o as one store wrote it (obj.h: slot_read_locked),
 * for a thread that does not own the object: another may store into it
 * meanwhile. A reference is also checked to be an allocated object of h
 * before the caller makes a root for it (ref_ok); a pair that fails the
 * check is read again, then reported, never rooted. */
static tc_status read_slot(tc_heap *h, tc_obj *o, size_t i, tc_value *out)
{
    for (unsigned tries = 1;; tries++) {
        tc_value v = slot_read_locked(o, i);
        if (v.kind != TC_REF || ref_ok(h, v.u.ref)) {
            *out = v;
            return TC_OK;
        }
        if (tries >= READ_RETRIES)
            return tc_fail(TC_ERR_CORRUPT, "slot %zu holds a reference to %#" PRIxPTR
                           ", which is no object of this heap (racing raw stores?)", i, (uintptr_t)v.u.ref);
        sched_yield();
    }
}

static tc_status check_shape(size_t nslots, size_t size)
{
    if (nslots > OBJ_MAX_FIELD)
        return tc_fail(TC_ERR_NOMEM, "nslots %zu is more than an object can hold (%u)", nslots, OBJ_MAX_FIELD);
    if (size > OBJ_MAX_FIELD)
        return tc_fail(TC_ERR_NOMEM, "size %zu is more than an object can hold (%u bytes)", size, OBJ_MAX_FIELD);
    return TC_OK;
}

tc_status tc_obj_new(tc_heap *h, size_t nslots, size_t size, const void *data, tc_root **out)
{
    tc_status st = check_shape(nslots, size);
    if (st != TC_OK)
        return st;
    tc_mutator *m;
    if ((st = mutator_enter(h, &m)) != TC_OK)
        return st;
    tc_obj *o = alloc_object(m, nslots, size);
    if (!o) {
        st = atomic_load(&h->closed) ? TC_ERR_CLOSED : TC_ERR_NOMEM; /* as alloc_object said */
    } else {
        if (data && size)
            memcpy(obj_payload(o), data, size);
        st = roots_new(m, o, out);
        if (st == TC_OK && rec_on(h))
            rec_new(h, o, *out, nslots, size);
    }
    mutator_leave(m);
    return st;
}

static inline tc_status check_index(const tc_obj *o, int64_t i)
{
    if (__builtin_expect(i < 0 || (uint64_t)i >= obj_nslots(o), 0))
        return tc_fail(TC_ERR_INDEX, "slot index %lld out of range for an object with %u slots", (long long)i,
                       obj_nslots(o));
    return TC_OK;
}

static tc_status freed(void)
{
    return tc_fail(TC_ERR_FREED, "the object was freed with unsafe.free");
}

/* check_slot — may slot i of r's object be read or written? */
static inline tc_status check_slot(tc_root *r, int64_t i)
{
    if (__builtin_expect(tc_root_freed(r), 0))
        return freed();
    return check_index(tc_root_obj(r), i);
}

/* slot_get_in — tc_slot_get's body, m active. Out of line: the errors and
 * the recording are rare, and keeping them here leaves tc_slot_get's fast
 * path a leaf-like frame (no callee-saved registers to spill). */
static __attribute__((noinline)) tc_status slot_get_in(tc_mutator *m, tc_root *r, int64_t i, tc_value *out,
                                                       tc_root **ref_root)
{
    tc_heap *h = m->heap;
    tc_status st;
    if ((st = check_slot(r, i)) == TC_OK) {
        tc_value v;
        tc_root *nr = NULL;
        /* no root when the caller asks for none (ref_root NULL): one made
         * and dropped here would be a handle nobody can release */
        if ((st = read_slot(h, tc_root_obj(r), (size_t)i, &v)) == TC_OK && v.kind == TC_REF && ref_root)
            st = roots_new(m, v.u.ref, &nr);
        if (st == TC_OK) {
            *out = v;
            if (nr && rec_on(h))
                rec_get(h, r, i, nr);
            if (ref_root)
                *ref_root = nr;
        }
    }
    return st;
}

/* slot_get_slow — tc_slot_get but for its fast path: backing out of the
 * fast path's entry if it says so (m not NULL), entering through
 * mutator_enter, then slot_get_in. */
static __attribute__((noinline)) tc_status slot_get_slow(tc_mutator *m, tc_heap *h, tc_root *r, int64_t i,
                                                         tc_value *out, tc_root **ref_root)
{
    if (m)
        mutator_back_out(m);
    tc_status st = mutator_enter(h, &m);
    if (st != TC_OK)
        return st;
    st = slot_get_in(m, r, i, out, ref_root);
    mutator_leave(m);
    return st;
}

/* slot_get_entered — slot_get_in inside the fast path's heap call. */
static __attribute__((noinline)) tc_status slot_get_entered(tc_mutator *m, tc_root *r, int64_t i, tc_value *out,
                                                            tc_root **ref_root)
{
    tc_status st = slot_get_in(m, r, i, out, ref_root);
    mutator_leave(m);
    return st;
}

/* tc_slot_get — fast path: an index in range of a live object, its slot
 * free, and a value that is no reference or one that checks out (ref_ok) and
 * is rooted from m's own list, unrecorded, the barrier off. Every other case
 * is a tail call, so the fast path keeps no callee-saved register. */
tc_status tc_slot_get(tc_heap *h, tc_root *r, int64_t i, tc_value *out, tc_root **ref_root)
{
    bool back_out;
    tc_mutator *m = mutator_try_enter(h, &back_out);
    if (__builtin_expect(m == NULL || back_out, 0))
        return slot_get_slow(m, h, r, i, out, ref_root);
    tc_obj *o = tc_root_obj(r);
    uint8_t t;
    tc_root *nr = NULL;
    /* a freed object reads nslots 0 (obj.h): the index test sends it to
     * slot_get_in, which says freed */
    if (__builtin_expect(!slot_in(o, i), 0))
        return slot_get_entered(m, r, i, out, ref_root);
    _Atomic uint64_t *w = &obj_words(o)[i];
    _Atomic uint8_t *tp = &obj_tags(o)[i];
    if (__builtin_expect(!slot_try_lock(tp, &t), 0))
        return slot_get_entered(m, r, i, out, ref_root);
    tc_value v = word_value(t & TAG_KIND, slot_read_unlock(w, tp, t));
    if (v.kind == TC_REF &&
        (!ref_root || !ref_ok(h, v.u.ref) || rec_on(h) || (nr = roots_try_new(m, v.u.ref)) == NULL))
        return slot_get_entered(m, r, i, out, ref_root);
    *out = v;
    if (ref_root)
        *ref_root = nr;
    mutator_leave(m);
    return TC_OK;
}

/* tc_slot_get_owned — tc_slot_get for the host thread that owns r's
 * object's stores (tricolor.h says what it may assume). A slot that holds
 * no reference is read as tc_load reads it, with no heap call: the object is
 * rooted by r (never freed or moved while r lives), the index is in range
 * (checked), and no other thread stores into it meanwhile (the owner's
 * promise), while collector threads only read slots. A reference is
 * rooted with no heap call either, from this thread's own list of free
 * root slots (roots_try_new: the barrier off, nothing recorded); every
 * other case is tc_slot_get, which reads the slot again and roots in a
 * heap call (with hybrid's creation shade whenever a mark is seen running).
 *
 * Why a root may be made outside a heap call (`active` 0, so a pause does
 * not wait for it and barrier_on may turn on between its test and the
 * root's store). The host's lock (the GIL) is held from the slot read to
 * the root's store, and every slot store, allocation, root release and
 * close on h is made under that lock (tricolor.h: the owner's promise), so
 * for the whole call x = r's object holds y = the slot's reference, and r
 * is live. A mark that runs meanwhile:
 *  - yuasa: creating a root needs no shade (barrier.c: every object
 *    reachable at the snapshot is marked; y is reachable through r and x,
 *    and r's release, a heap call, shades x if a mark runs then);
 *  - hybrid: its creation shade is not load-bearing (barrier.c: yuasa's
 *    argument alone keeps it); a root made while barrier_on still read 0
 *    is a yuasa creation, and the deletion shades all stay (slot stores and
 *    tc_root_release are heap calls). Both must stay so: a root made outside
 *    a heap call into a slot the marker already scanned, with the parent's
 *    root also released outside one, would leave y unmarked;
 *  - dijkstra: creations are unbarriered; the termination re-scan, with the
 *    world stopped, may pass the new root's slot before the store, but r is
 *    live across it (its release would wait for the pause), so x is marked
 *    and so is y (the strong invariant: y was shaded when stored into x, or
 *    x is scanned after).
 * A sweep frees only what the mark left white: y is marked in any mark
 * that ends during the call. A close cannot run (the host's lock). The
 * mutator's list (rfree, nrfree) and counters are its owner's, and only a
 * close touches them otherwise.
 *
 * No ref_ok here: a slot whose tag says reference holds an allocated object
 * of h (obj.h), except while stores race (a raw store that ignored the slot's
 * lock), and the owner's promise excludes every store but its own; a
 * reference to an object freed with tc_obj_free stays allocated while a slot
 * holds it (special.c), and the root gets the freed bit from the next scan,
 * as one tc_slot_get made would. */
tc_status tc_slot_get_owned(tc_heap *h, tc_root *r, int64_t i, tc_value *out, tc_root **ref_root)
{
    tc_obj *o = tc_root_obj(r);
    if (__builtin_expect(!slot_in(o, i) || !ref_root, 0))
        return tc_slot_get(h, r, i, out, ref_root);
    tc_value v = slot_read(o, (size_t)i);
    if (v.kind != TC_REF) {
        *out = v;
        *ref_root = NULL;
        return TC_OK;
    }
    tc_mutator *m = mutator_cached(h);
    tc_root *nr;
    if (__builtin_expect(m == NULL || rec_on(h) || (nr = roots_try_new(m, v.u.ref)) == NULL, 0))
        return tc_slot_get(h, r, i, out, ref_root);
    *out = v;
    *ref_root = nr;
    return TC_OK;
}

/* tc_slot_peek — tc_slot_get for an identity: no root, and no check that a
 * reference is an object (the caller only compares it; a stray pair left by
 * racing raw stores then matches no root it holds, and its tc_slot_get does
 * the check). */
tc_status tc_slot_peek(tc_heap *h, tc_root *r, int64_t i, tc_value *out)
{
    tc_mutator *m;
    tc_status st = mutator_enter(h, &m);
    if (st != TC_OK)
        return st;
    if ((st = check_slot(r, i)) == TC_OK)
        *out = slot_read_locked(tc_root_obj(r), (size_t)i);
    mutator_leave(m);
    return st;
}

static inline tc_status check_value(tc_heap *h, tc_value v)
{
    switch (v.kind) {
    case TC_NIL:
    case TC_BOOL:
    case TC_FLOAT:
        return TC_OK;
    case TC_INT:
        if (v.u.i < TC_INT_MIN || v.u.i > TC_INT_MAX)
            return tc_fail(TC_ERR_OVERFLOW, "integer %lld is outside [-2^62, 2^62)", (long long)v.u.i);
        return TC_OK;
    case TC_REF: {
        uintptr_t p = (uintptr_t)v.u.ref;
        if (root_val_freed(p)) /* a tc_root_obj of a handle with the freed bit (roots.h) */
            return freed();
        arena *a = p ? arena_of(p) : NULL;
        if (!a || a->heap != h)
            return tc_fail(TC_ERR_CROSS_HEAP, "cannot store a reference to an object of another heap");
        if (!is_object(a, p))
            return tc_fail(TC_ERR_VALUE, "%#" PRIxPTR " is not the address of an object", p);
        if (obj_freed(v.u.ref))
            return freed();
        return TC_OK;
    }
    }
    return tc_fail(TC_ERR_TYPE, "unknown value kind %d", (int)v.kind);
}

/* slot_set_in — tc_slot_set's checks and store, m active (out of line, as
 * slot_get_in). */
static __attribute__((noinline)) tc_status slot_set_in(tc_mutator *m, tc_root *r, int64_t i, tc_value v)
{
    tc_heap *h = m->heap;
    tc_status st;
    tc_obj *o = tc_root_obj(r);
    if (__builtin_expect(tc_root_freed(r), 0))
        st = freed();
    else if ((st = check_index(o, i)) == TC_OK) {
        barrier_store_checked(m, o, (size_t)i, v);
        if (rec_on(h))
            rec_set(h, r, i, v);
    }
    return st;
}

/* plain_value — a value check_value accepts without looking at the heap: nil,
 * a bool, a float, an int in range. */
static inline bool plain_value(tc_value v)
{
    return v.kind == TC_NIL || v.kind == TC_BOOL || v.kind == TC_FLOAT ||
           (v.kind == TC_INT && v.u.i >= TC_INT_MIN && v.u.i <= TC_INT_MAX);
}

/* slot_set_slow — tc_slot_set but for its fast path: backing out of the
 * fast path's entry if it says so (m not NULL), the value checked, entering
 * through mutator_enter, then slot_set_in (the barrier, the recording, the
 * errors). */
static __attribute__((noinline)) tc_status slot_set_slow(tc_mutator *m, tc_heap *h, tc_root *r, int64_t i,
                                                         tc_value v)
{
    tc_status st;
    if (m)
        mutator_back_out(m);
    if (!plain_value(v) && (st = check_value(h, v)) != TC_OK)
        return st;
    if ((st = mutator_enter(h, &m)) != TC_OK)
        return st;
    st = slot_set_in(m, r, i, v);
    mutator_leave(m);
    return st;
}

/* slot_set_entered — slot_set_in inside the fast path's heap call (the value
 * is checked). */
static __attribute__((noinline)) tc_status slot_set_entered(tc_mutator *m, tc_root *r, int64_t i, tc_value v)
{
    tc_status st = slot_set_in(m, r, i, v);
    mutator_leave(m);
    return st;
}

/* slot_set_fast — store the checked value v into slot i of r's object: in
 * line if that takes no call (an index in range of a live object, the slot
 * free, the barrier off, no recording), every other case a tail call. */
static inline __attribute__((always_inline)) tc_status slot_set_fast(tc_heap *h, tc_root *r, int64_t i, tc_value v)
{
    bool back_out;
    tc_mutator *m = mutator_try_enter(h, &back_out);
    if (__builtin_expect(m == NULL || back_out, 0))
        return slot_set_slow(m, h, r, i, v);
    tc_obj *o = tc_root_obj(r);
    uint8_t old;
    /* a freed object reads nslots 0 (obj.h): the index test sends it to
     * slot_set_in, which says freed */
    if (__builtin_expect(!slot_in(o, i) || barrier_on(h) || rec_on(h), 0))
        return slot_set_entered(m, r, i, v);
    _Atomic uint64_t *w = &obj_words(o)[i];
    _Atomic uint8_t *t = &obj_tags(o)[i];
    if (__builtin_expect(!slot_try_lock(t, &old), 0))
        return slot_set_entered(m, r, i, v);
    slot_publish_at(w, t, old, v);
    mutator_leave(m);
    return TC_OK;
}

/* tc_slot_set — fast path: an int in range (slot_set_fast, in a copy of its
 * own); the other plain values in slot_set_other, the rest in slot_set_slow. */
static __attribute__((noinline)) tc_status slot_set_other(tc_heap *h, tc_root *r, int64_t i, tc_value v)
{
    if (__builtin_expect(!plain_value(v), 0))
        return slot_set_slow(NULL, h, r, i, v);
    return slot_set_fast(h, r, i, v);
}

tc_status tc_slot_set(tc_heap *h, tc_root *r, int64_t i, tc_value v)
{
    if (v.kind == TC_INT && v.u.i >= TC_INT_MIN && v.u.i <= TC_INT_MAX)
        return slot_set_fast(h, r, i, tc_int(v.u.i)); /* its own copy: the word and the tag fold */
    return slot_set_other(h, r, i, v);
}

/* tc_slot_set_root — tc_slot_set of a reference to the object of `val`, a
 * live root of h: the value needs no arena lookup (a root of h holds an
 * allocated object of h), only the freed test. */
tc_status tc_slot_set_root(tc_heap *h, tc_root *r, int64_t i, tc_root *val)
{
    tc_value v;
    v.kind = TC_REF; /* a live root's object is never NULL */
    v.u.ref = tc_root_obj(val);
    if (__builtin_expect(tc_root_freed(val), 0))
        return slot_set_slow(NULL, h, r, i, v);
    return slot_set_fast(h, r, i, v);
}

/* tc_slot_set_owned — tc_slot_set for the host thread that owns r's
 * object's stores (tricolor.h): a plain value over a plain value, the
 * barrier off and nothing recorded, is stored with no heap call. Such a
 * store needs no barrier under any of them (neither value is a reference),
 * a marker that reads the slot meanwhile sees no reference in either kind,
 * and the slot is taken by compare-and-swap as a checked store takes it, so
 * a checked store on another thread takes turns with it. The barrier test
 * outside a heap call may race the start of a mark: the store then misses
 * only barrier_slow's count, not a shade (it needs none). Every other case
 * is tc_slot_set. */
/* slot_set_owned_ref — tc_slot_set_owned's slot held a reference: put the
 * tag back (nothing written) and store through tc_slot_set. */
static __attribute__((noinline)) tc_status slot_set_owned_ref(tc_heap *h, tc_root *r, int64_t i, tc_value v,
                                                              _Atomic uint64_t *w, _Atomic uint8_t *t, uint8_t old)
{
    (void)slot_read_unlock(w, t, old);
    return tc_slot_set(h, r, i, v);
}

/* slot_set_owned_fast — tc_slot_set_owned's body for a plain value v (in
 * line: an int's kind and word then fold, as in tc_slot_set). */
static inline __attribute__((always_inline)) tc_status slot_set_owned_fast(tc_heap *h, tc_root *r, int64_t i,
                                                                           tc_value v)
{
    tc_obj *o = tc_root_obj(r);
    uint8_t old;
    if (__builtin_expect(!slot_in(o, i) || barrier_on(h) || rec_on(h), 0))
        return tc_slot_set(h, r, i, v);
    _Atomic uint64_t *w = &obj_words(o)[i];
    _Atomic uint8_t *t = &obj_tags(o)[i];
    if (__builtin_expect(!slot_try_lock(t, &old), 0))
        return tc_slot_set(h, r, i, v);
    if (__builtin_expect((old & TAG_KIND) == TC_REF, 0))
        return slot_set_owned_ref(h, r, i, v, w, t, old); /* the deletion shade is tc_slot_set's */
    slot_publish_at(w, t, old, v);
    return TC_OK;
}

tc_status tc_slot_set_owned(tc_heap *h, tc_root *r, int64_t i, tc_value v)
{
    if (v.kind == TC_INT && v.u.i >= TC_INT_MIN && v.u.i <= TC_INT_MAX)
        return slot_set_owned_fast(h, r, i, tc_int(v.u.i));
    if (!plain_value(v))
        return tc_slot_set(h, r, i, v);
    return slot_set_owned_fast(h, r, i, v);
}

/* with_obj — the common shape of the small read-only calls. */
#define OBJ_CALL(h, r, body)                                                                                 \
    do {                                                                                                     \
        tc_mutator *m_;                                                                                      \
        tc_status st_ = mutator_enter((h), &m_);                                                             \
        if (st_ != TC_OK)                                                                                    \
            return st_;                                                                                      \
        tc_obj *o = tc_root_obj(r);                                                                          \
        if (tc_root_freed(r))                                                                                \
            st_ = freed();                                                                                   \
        else                                                                                                 \
            body;                                                                                            \
        mutator_leave(m_);                                                                                   \
        return st_;                                                                                          \
    } while (0)

tc_status tc_obj_nslots(tc_heap *h, tc_root *r, size_t *out) { OBJ_CALL(h, r, *out = obj_nslots(o)); }

tc_status tc_obj_size(tc_heap *h, tc_root *r, size_t *out) { OBJ_CALL(h, r, *out = obj_size(o)); }

tc_status tc_obj_data_get(tc_heap *h, tc_root *r, void *dst, size_t cap)
{
    OBJ_CALL(h, r, memcpy(dst, obj_payload(o), cap < obj_size(o) ? cap : obj_size(o)));
}

static tc_status data_set(tc_obj *o, const void *src, size_t len)
{
    if (len != obj_size(o))
        return tc_fail(TC_ERR_VALUE, "data must be exactly %u bytes long (the object's size), not %zu", obj_size(o),
                       len);
    if (len)
        memcpy(obj_payload(o), src, len);
    return TC_OK;
}

tc_status tc_obj_data_set(tc_heap *h, tc_root *r, const void *src, size_t len)
{
    OBJ_CALL(h, r, st_ = data_set(o, src, len));
}

/* ---- raw section calls ---- */

/* alloc_checked — tc_alloc of a shape with a field of ALLOC_INLINE_MAX or
 * more: check_shape says which field does not fit, if one does not. Out of
 * line, so that tc_alloc's fast path stays frameless (a tail call). */
static __attribute__((noinline)) tc_obj *alloc_checked(tc_mutator *m, size_t nslots, size_t size)
{
    return check_shape(nslots, size) == TC_OK ? alloc_object(m, nslots, size) : NULL;
}

tc_obj *tc_alloc(tc_mutator *m, size_t nslots, size_t size)
{
    /* one compare: both fields below ALLOC_INLINE_MAX (the common case)
     * means the shape fits and the object may take the inline path */
    if (__builtin_expect((nslots | size) >= ALLOC_INLINE_MAX, 0))
        return alloc_checked(m, nslots, size);
    return alloc_object(m, nslots, size);
}

void tc_store(tc_mutator *m, tc_obj *o, size_t i, tc_value v) { barrier_store(m, o, i, v); }

tc_value tc_load(const tc_obj *o, size_t i) { return slot_read(o, i); }
void *tc_payload(tc_obj *o) { return obj_payload(o); }
/* tricolor.h's tc_root_freed and tc_root_shape read the header as two words */
_Static_assert(offsetof(objhdr, nslots) == 0 && offsetof(objhdr, size) == 4 && sizeof(objhdr) == 8,
               "tricolor.h reads an object's header as nslots, size");
size_t tc_obj_nslots_raw(const tc_obj *o) { return obj_nslots(o); }
size_t tc_obj_size_raw(const tc_obj *o) { return obj_size(o); }
