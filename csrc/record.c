/*
 * record.c — tc_record_start / tc_record_stop and the hooks that write
 * every heap operation of the program to a replay log (record.h has the
 * invariants, docs/replay.md the format).
 *
 * Cost. With no recording running each hooked call pays one relaxed load
 * and a branch predicted not taken (rec_on). While recording, a record is
 * a few varints appended to a 64 KiB block buffer, held either by the owner
 * path (below: two plain stores, no atomic read-modify-write) or by
 * rec_spin (the hooks' test-and-set lock), plus one hash-map lookup per handle named (most
 * answered by a direct-mapped hint in front of it: root_find) and
 * one shadow-table load per object named; a full block is checksummed
 * (CRC-32) and written with one fwrite. A forced collection also walks the
 * graph reachable from the recorded handles to hash it (single-threaded
 * recordings only: with several threads another one may be changing the
 * graph, so the record carries the object count alone).
 *
 * Identity. The log names objects, handles and weak references by small
 * ids, never by address, so a replay on another heap maps them to its own
 * objects. An object's id is kept at its address in a shadow table
 * (obj_slot) and reused by the next object allocated there (the old one is
 * dead: nothing can name it again); a handle's id stays with its slot of
 * the handle table (root_new_id), reused when the slot is, after the
 * release; a weak reference's id comes from a map (idmap.h) and a pool.
 *
 * The owner path. One atomic exchange per record (taking rec_spin) was the
 * largest part of what recording cost a single-threaded program (perf:
 * lock_log, a tenth of a recorded GCBench through Python), so the mutator
 * that started the recording (h->rec_owner) writes its records without
 * rec_spin for as long as no other thread records; the first record of
 * another thread revokes that, for the rest of the recording, and every
 * record is then written under rec_spin. Who may write the buffer:
 *   owner (owner_begin):   m->rec_busy = 1; light fence;
 *                          if (rec_owner == m) { write; m->rec_busy = 0 (release) }
 *                          else { m->rec_busy = 0; take rec_spin }
 *   anyone (lock_log_slow): take rec_spin; if (rec_owner != me) owner_revoke;
 *                          write; drop rec_spin
 *   owner_revoke:          rec_owner = NULL; heavy fence;
 *                          wait while old_owner->rec_busy (acquire)
 * The argument that no two writers overlap:
 *  1. Two writers under rec_spin exclude each other by the lock, and the
 *     owner writes on one thread: its two paths never overlap each other.
 *  2. A writer under rec_spin that is not the owner ran owner_revoke (or
 *     found rec_owner NULL: a revoke ran under rec_spin before it, and
 *     only set_log, under rec_spin, sets an owner again). Revoke and
 *     owner_begin are Dekker's handshake, made asymmetric as mutator.c's
 *     is (the light fence is a compiler barrier when the heavy one is a
 *     membarrier(2), seq_cst fences otherwise): either the owner's load
 *     of rec_owner comes after the revoke's store and it takes rec_spin
 *     (so 1 applies), or its rec_busy = 1 comes before the revoke's load,
 *     which then waits for that record's rec_busy = 0. Its release pairs
 *     with the revoke's acquire, so everything the owner wrote happens
 *     before what the revoker writes next. A revoke that reads rec_busy 0
 *     reads the release ending the owner's last record (or the initial 0).
 *  3. The owner never waits while rec_busy = 1 (no lock, no safepoint, no
 *     heap allocation inside a record), so a revoke waits at most for one
 *     record, and a stop-the-world pause never waits for a revoker that
 *     waits for a parked owner.
 *  4. Stop and close revoke before they clear h->rec (set_log), so the log
 *     the owner read inside its window is not freed under it; the owner
 *     reads h->rec after the handshake, never before.
 *  5. The order of the records in the log is the order of these exclusive
 *     windows: one total order, which a replay follows (record.h).
 * The planted bug REC_NO_REVOKE_WAIT (plant.h) drops the wait of step 2;
 * `make test-tsan` checks that TSan then reports the race in
 * record_owner_hands_over_to_a_second_thread (tests/c/test_replay.c).
 * A thread's mutator is the front of its TLS cache inside a heap call
 * (mutator_enter's fast path looks there); when it is not, the hook takes
 * rec_spin, and as a non-owner revokes: correct, only slower. rec_owner is
 * a mutator, not a thread: a thread that adopts the mutator of one that
 * exited (mutator.c, under mut_lock) inherits the path, in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

#include "barrier.h"
#include "idmap.h"
#include "record.h"

typedef struct idpool {
    uint64_t next;     /* the next fresh id (ids start at 1) */
    uint64_t *free;    /* released ids, reused last-in first-out */
    size_t nfree, cap;
} idpool;

/* A shadow table: the object ids of one arena, one u32 per 8-byte granule
 * (an object's id at the granule where it starts), a lazily-mapped mapping
 * of half the arena's reservation whose pages cost nothing until touched.
 * It replaced a hash map from address to id: allocation goes up through a
 * span, so consecutive objects' ids sit side by side here, where the map
 * missed the cache at every NEW (perf: a fifth of a recording). */
typedef struct shadow {
    uintptr_t base;
    size_t size;   /* the arena's reservation */
    uint32_t *ids;
} shadow;

#define REC_ROOT_HINTS 1024 /* a power of two; handle slots are 8 bytes apart */

struct rec_log {
    FILE *f;
    char *path;
    size_t n;               /* payload bytes in buf */
    uint64_t records;       /* records written, the END record's count */
    idmap roots;            /* handle slot address -> id | ROOT_LIVE (root_new_id) */
    idmap weaks;            /* weak address -> id */
    shadow *sh;             /* object address -> id: one table per arena (obj_slot) */
    size_t nsh;
    shadow *last_sh;        /* the table of the last lookup */
    idpool weak_ids;
    uint64_t next_root;     /* the largest handle id so far */
    uint64_t next_obj;
    uint64_t last_obj;      /* the object id of the last NEW: object ids are written relative to it */
    pthread_t thread;       /* the first recording thread */
    bool multi;             /* another thread recorded too */
    tc_status failed;       /* the first failure (TC_ERR_IO, TC_ERR_NOMEM), then nothing is written */
    int err;                /* errno of an I/O failure */
    struct root_hint {      /* by handle-slot address: where its entry in `roots` was (root_find) */
        uint64_t key;
        size_t at;
    } hints[REC_ROOT_HINTS];
    uint8_t buf[REC_BLOCK + REC_OP_MAX];
};

/* ---- the graph hash, shared with replay.c ---- */

static inline uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    return h ^ (h >> 29);
}

uint64_t rec_idmap_id(const void *ids, const tc_obj *o)
{
    uint64_t id = 0;
    idmap_get(ids, (uint64_t)(uintptr_t)o, &id);
    return id;
}

/* hash_obj — one object's term; pushes its unvisited referents. */
static bool hash_obj(tc_obj *o, rec_id_fn id_of, const void *ids, idmap *seen, tc_obj ***stack, size_t *n, size_t *cap,
                     uint64_t *term)
{
    uint64_t h = mix(mix(id_of(ids, o), obj_nslots(o)), obj_size(o));
    for (size_t i = 0; i < obj_nslots(o); i++) {
        tc_value v = slot_read_locked(o, i);
        uint64_t x = (uint64_t)v.kind << 56;
        if (v.kind == TC_REF) {
            x ^= id_of(ids, v.u.ref);
            bool fresh;
            if (!idmap_slot(seen, (uint64_t)(uintptr_t)v.u.ref, &fresh))
                return false;
            if (fresh) {
                if (*n == *cap) {
                    size_t nc = *cap ? *cap * 2 : 256;
                    tc_obj **ns = plat_realloc(*stack, nc * sizeof *ns);
                    if (!ns)
                        return false;
                    *stack = ns;
                    *cap = nc;
                }
                (*stack)[(*n)++] = v.u.ref;
            }
        } else if (v.kind == TC_FLOAT) {
            memcpy(&x, &v.u.d, sizeof x);
        } else if (v.kind != TC_NIL) {
            x ^= (uint64_t)(v.kind == TC_BOOL ? (int64_t)v.u.b : v.u.i);
        }
        h = mix(h, x);
    }
    *term = h;
    return true;
}

tc_status rec_graph_hash(tc_root *const *roots, const uint64_t *root_ids, size_t n, rec_id_fn id_of, const void *ids,
                         uint64_t *out)
{
    idmap seen = {0};
    tc_obj **stack = NULL;
    size_t sn = 0, scap = 0;
    uint64_t sum = 0;
    bool ok = true;
    for (size_t r = 0; r < n && ok; r++) {
        if (tc_root_freed(roots[r])) { /* unsafe.free: its memory may hold another object by now */
            sum += mix(root_ids[r], UINT64_MAX);
            continue;
        }
        tc_obj *o = tc_root_obj(roots[r]);
        sum += mix(root_ids[r], id_of(ids, o));
        uint64_t dummy, term;
        if (idmap_get(&seen, (uint64_t)(uintptr_t)o, &dummy))
            continue;
        ok = idmap_put(&seen, (uint64_t)(uintptr_t)o, 1);
        for (tc_obj *cur = o; ok; cur = stack[--sn]) {
            if (!(ok = hash_obj(cur, id_of, ids, &seen, &stack, &sn, &scap, &term)))
                break;
            sum += term;
            if (!sn)
                break;
        }
    }
    free(stack);
    idmap_free(&seen);
    *out = ok ? sum : 0;
    return ok ? TC_OK : tc_fail(TC_ERR_NOMEM, "out of memory for the replay log's graph hash");
}

/* ---- writing ---- */

/* The hot hooks (rec_new, rec_set, rec_release) write through a cursor p
 * into L->buf and store L->n once: a byte store through L->buf may alias
 * L->n (uint8_t is a character type), so appending at L->n made the
 * compiler load and store L->n around every byte (callgrind: a fifth of
 * what recording added per record). */
static inline uint8_t *cur_u(uint8_t *p, uint64_t x)
{
    while (x >= 0x80) {
        *p++ = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    *p++ = (uint8_t)x;
    return p;
}

/* cur_obj — an object id as the zigzag difference from the last NEW's:
 * a program mostly names objects it just made, so it is one byte where the
 * id itself would take three (docs/replay.md, format 2). */
static inline uint8_t *cur_obj(uint8_t *p, uint64_t id, uint64_t last)
{
    int64_t delta = (int64_t)(id - last);
    return cur_u(p, ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63));
}

static void put_u(rec_log *L, uint64_t x) { L->n = (size_t)(cur_u(L->buf + L->n, x) - L->buf); }

static void put_obj(rec_log *L, uint64_t id) { L->n = (size_t)(cur_obj(L->buf + L->n, id, L->last_obj) - L->buf); }

static void put_u32le(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

/* flush_block — write the buffered payload as one block: u32 length, u32
 * CRC-32 of the payload, the payload. */
static void flush_block(rec_log *L)
{
    if (!L->n || L->failed)
        return;
    uint8_t head[8];
    put_u32le(head, (uint32_t)L->n);
    put_u32le(head + 4, rec_crc32(L->buf, L->n));
    if (fwrite(head, 1, 8, L->f) != 8 || fwrite(L->buf, 1, L->n, L->f) != L->n) {
        L->failed = TC_ERR_IO;
        L->err = errno;
    }
    L->n = 0;
}

static bool pool_take(idpool *p, uint64_t *id)
{
    *id = p->nfree ? p->free[--p->nfree] : ++p->next;
    return true;
}

static bool pool_give(idpool *p, uint64_t id)
{
    if (p->nfree == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        uint64_t *nf = plat_realloc(p->free, nc * sizeof *nf);
        if (!nf)
            return false;
        p->free = nf;
        p->cap = nc;
    }
    p->free[p->nfree++] = id;
    return true;
}

/* The hooks' lock, rec_spin: a test-and-set lock, because a hook holds it
 * for a few stores (callgrind: pthread_mutex_lock and _unlock were a third
 * of what recording added per record). A waiter yields the CPU: the holder
 * may be writing a block. The owner's hooks skip it (the file comment). */
static void spin_lock(tc_heap *h)
{
    while (atomic_exchange_explicit(&h->rec_spin, 1, memory_order_acquire))
        while (atomic_load_explicit(&h->rec_spin, memory_order_relaxed))
            sched_yield();
}

static void spin_unlock(tc_heap *h) { atomic_store_explicit(&h->rec_spin, 0, memory_order_release); }

/* owner_revoke — end the owner path (rec_spin held): rec_owner = NULL, then wait
 * until the old owner is out of any record it began without the lock
 * (Dekker with owner_begin: the file comment, steps 2 and 3). */
static void owner_revoke(tc_heap *h)
{
    tc_mutator *own = atomic_load_explicit(&h->rec_owner, memory_order_relaxed);
    if (!own)
        return;
    atomic_store_explicit(&h->rec_owner, NULL, memory_order_seq_cst);
    plat_heavy_fence();
    while (!planted(PLANT_REC_NO_REVOKE_WAIT) &&
           atomic_load_explicit(&own->rec_busy, memory_order_acquire))
        sched_yield(); /* the owner finishes its record without waiting for anything */
}

/* fork.c's prepare takes these after stopping the world: no mutator is
 * inside a heap call then, so the owner is in no record either, and a child
 * drops the recording (rec_fork_child); the owner path needs no revoke. */
void rec_hooks_lock(tc_heap *h) { spin_lock(h); }
void rec_hooks_unlock(tc_heap *h) { spin_unlock(h); }

/* set_log — h->rec = L and its owner (under rec_lock and rec_spin:
 * record.h); the old log, its owner path revoked. */
static rec_log *set_log(tc_heap *h, rec_log *L, tc_mutator *owner)
{
    spin_lock(h);
    owner_revoke(h);
    rec_log *old = atomic_exchange(&h->rec, L);
    atomic_store_explicit(&h->rec_owner, owner, memory_order_release);
    spin_unlock(h);
    return old;
}

/* owner_begin — the owner path: if the calling thread's mutator m (the
 * front of its TLS cache, as mutator_enter left it) owns the recording,
 * announce a record (rec_busy) and return the log, rec_spin untouched;
 * else NULL (lock_log then takes the lock). */
static inline rec_log *owner_begin(tc_heap *h, tc_mutator *m)
{
    atomic_store_explicit(&m->rec_busy, 1, memory_order_relaxed);
    light_fence(); /* orders rec_busy = 1 before the load of rec_owner: revoke's Dekker */
    if (atomic_load_explicit(&h->rec_owner, memory_order_acquire) == m) {
        rec_log *L = atomic_load_explicit(&h->rec, memory_order_relaxed);
        if (L)
            return L;
    }
    atomic_store_explicit(&m->rec_busy, 0, memory_order_release);
    return NULL;
}

/* lock_log_slow — the running recording with rec_spin held, or NULL
 * (unlocked) when none runs or it failed; a thread that is not the owner
 * revokes the owner path first. */
static rec_log *lock_log_slow(tc_heap *h)
{
    tc_mutator *me = NULL;
    for (int i = 0; i < TLS_WAYS && !me; i++)
        if (tc_tls_cache[i].heap == h && tc_tls_cache[i].uid == h->uid)
            me = tc_tls_cache[i].m;
    spin_lock(h);
    rec_log *L = atomic_load_explicit(&h->rec, memory_order_relaxed);
    if (!L || L->failed) {
        spin_unlock(h);
        return NULL;
    }
    if (atomic_load_explicit(&h->rec_owner, memory_order_relaxed) != me)
        owner_revoke(h);
    if (!pthread_equal(L->thread, pthread_self()))
        L->multi = true;
    return L;
}

/* lock_log — the running recording, held for one record (*own says how:
 * the owner path, else rec_spin), or NULL when none runs or it failed. */
static inline rec_log *lock_log(tc_heap *h, tc_mutator **own)
{
    tls_entry *e = &tc_tls_cache[0];
    *own = NULL;
    if (__builtin_expect(e->heap == h && e->uid == h->uid, 1)) {
        rec_log *L = owner_begin(h, e->m);
        if (L && !L->failed) {
            *own = e->m;
            return L;
        }
        if (L) { /* failed: nothing more is written */
            atomic_store_explicit(&e->m->rec_busy, 0, memory_order_release);
            return NULL;
        }
    }
    return lock_log_slow(h);
}

/* unlock_log — end a record (if the hook wrote one) and let go of the log. */
static inline void unlock_log(tc_heap *h, rec_log *L, tc_mutator *own, bool wrote)
{
    if (wrote)
        L->records++;
    if (L->n >= REC_BLOCK)
        flush_block(L);
    if (own)
        atomic_store_explicit(&own->rec_busy, 0, memory_order_release);
    else
        spin_unlock(h);
}

static void nomem(rec_log *L)
{
    L->failed = TC_ERR_NOMEM;
}

/* Handle ids. A handle's id belongs to its slot in the handle table for the
 * whole recording: a slot is reused only after its handle's release, which
 * is when the format lets an id be reused, so release clears ROOT_LIVE in
 * place instead of deleting the entry and returning the id to a pool (that
 * deletion and pool were a tenth of a recording). The map has one entry per
 * slot ever recorded: the peak number of live handles plus the free slots
 * each thread caches. */
#define ROOT_LIVE (UINT64_C(1) << 63)

/* root_find — r's entry in the handle-id map, or NULL. A direct-mapped
 * table of hints in front of the map remembers where each recent handle's
 * entry was: a program names the few handles it just made or used (the
 * map's hash and probe were ~22 instructions of each NEW, SET and RELEASE,
 * callgrind). A hint is only a guess, checked against the entry's key, so
 * one left stale by the map's growth just misses. */
static inline idmap_entry *root_find(rec_log *L, const tc_root *r)
{
    uint64_t key = (uint64_t)(uintptr_t)r;
    struct root_hint *hint = &L->hints[(key >> 3) & (REC_ROOT_HINTS - 1)];
    if (__builtin_expect(hint->key == key && hint->at < L->roots.cap && L->roots.e[hint->at].key == key, 1))
        return &L->roots.e[hint->at];
    idmap_entry *e = idmap_find(&L->roots, key);
    if (e)
        *hint = (struct root_hint){key, (size_t)(e - L->roots.e)};
    return e;
}

static inline uint64_t root_new_id(rec_log *L, const tc_root *r)
{
    idmap_entry *e = root_find(L, r);
    if (e) { /* the slot's id, live again */
        e->val |= ROOT_LIVE;
        return e->val & ~ROOT_LIVE;
    }
    bool fresh;
    uint64_t *v = idmap_slot(&L->roots, (uint64_t)(uintptr_t)r, &fresh);
    if (!v) {
        nomem(L);
        return 0;
    }
    if (fresh)
        *v = ++L->next_root;
    *v |= ROOT_LIVE;
    return *v & ~ROOT_LIVE;
}

/* root_id — the id of live recorded handle r, 0 if it is none (made
 * outside the recording). */
static inline uint64_t root_id(rec_log *L, const tc_root *r)
{
    idmap_entry *e = root_find(L, r);
    uint64_t v = e ? e->val : 0;
    return v & ROOT_LIVE ? v & ~ROOT_LIVE : 0;
}

static uint64_t root_drop(rec_log *L, const tc_root *r)
{
    idmap_entry *e = root_find(L, r);
    if (!e) /* a handle the log never had */
        return 0;
    uint64_t id = e->val & ROOT_LIVE ? e->val & ~ROOT_LIVE : 0;
    e->val &= ~ROOT_LIVE;
    return id;
}

/* new_id — a fresh (or released) id for address a in map m. */
static uint64_t new_id(rec_log *L, idmap *m, idpool *p, const void *a)
{
    uint64_t id = 0;
    pool_take(p, &id);
    if (!idmap_put(m, (uint64_t)(uintptr_t)a, id)) {
        nomem(L);
        return 0;
    }
    return id;
}

static uint64_t old_id(const idmap *m, const void *a)
{
    uint64_t id = 0;
    idmap_get(m, (uint64_t)(uintptr_t)a, &id);
    return id;
}

/* drop_id — forget address a of map m, its id reusable. */
static uint64_t drop_id(rec_log *L, idmap *m, idpool *p, const void *a)
{
    uint64_t id = old_id(m, a);
    if (id) {
        idmap_del(m, (uint64_t)(uintptr_t)a);
        if (!pool_give(p, id))
            nomem(L);
    }
    return id;
}

static bool foreign(rec_log *L)
{
    L->buf[L->n++] = REC_FOREIGN;
    return true;
}

/* obj_slot_miss — obj_slot when o is not in the arena of the last lookup. */
static __attribute__((noinline)) uint32_t *obj_slot_miss(rec_log *L, uintptr_t p)
{
    for (size_t i = 0; i < L->nsh; i++)
        if (p - L->sh[i].base < L->sh[i].size) {
            L->last_sh = &L->sh[i];
            return &L->sh[i].ids[(p - L->sh[i].base) >> 3];
        }
    arena *a = arena_of(p);
    shadow *ns = a ? plat_realloc(L->sh, (L->nsh + 1) * sizeof *ns) : NULL;
    if (!ns)
        return NULL;
    L->sh = ns;
    uint32_t *ids = plat_map_lazy((a->size >> 3) * sizeof *ids);
    if (!ids)
        return NULL;
    L->sh[L->nsh] = (shadow){a->base, a->size, ids};
    L->last_sh = &L->sh[L->nsh++];
    return &ids[(p - a->base) >> 3];
}

/* obj_slot — where the id of the object at o is kept (0: none yet); NULL
 * if o is in no arena or its arena's table cannot be mapped. In line: a
 * NEW and a SET of a reference each name one object (callgrind: the call
 * was a tenth of obj_slot's cost). */
static inline uint32_t *obj_slot(rec_log *L, const tc_obj *o)
{
    uintptr_t p = (uintptr_t)o;
    shadow *s = L->last_sh;
    if (__builtin_expect(s && p - s->base < s->size, 1))
        return &s->ids[(p - s->base) >> 3];
    return obj_slot_miss(L, p);
}

/* obj_id — the id of the object at o, 0 if the log has none for it. */
static uint64_t obj_id(rec_log *L, const tc_obj *o)
{
    uint32_t *slot = obj_slot(L, o);
    return slot ? *slot : 0;
}

static uint64_t shadow_id(const void *L, const tc_obj *o) { return obj_id((rec_log *)L, o); }

void rec_new(tc_heap *h, tc_obj *o, tc_root *r, size_t nslots, size_t size)
{
    tc_mutator *own;
    rec_log *L = lock_log(h, &own);
    if (!L)
        return;
    uint32_t *slot = obj_slot(L, o);
    uint64_t oid = slot ? *slot : 0;
    if (!slot || (!oid && L->next_obj == UINT32_MAX)) /* the table's ids are 32 bits */
        nomem(L);
    else if (!oid)
        oid = *slot = (uint32_t)++L->next_obj;
    uint64_t rid = root_new_id(L, r);
    uint8_t *p = L->buf + L->n;
    *p++ = REC_NEW;
    p = cur_obj(p, oid, L->last_obj);
    L->last_obj = oid;
    p = cur_u(cur_u(cur_u(p, rid), nslots), size);
    L->n = (size_t)(p - L->buf);
    unlock_log(h, L, own, true);
}

/* cur_value — a REC_SET value at p: the end, or NULL if it names an
 * object the log does not know. */
static inline uint8_t *cur_value(rec_log *L, uint8_t *p, tc_value v)
{
    switch (v.kind) {
    case TC_NIL: *p++ = REC_K_NIL; return p;
    case TC_BOOL: *p++ = v.u.b ? REC_K_TRUE : REC_K_FALSE; return p;
    case TC_INT:
        *p++ = REC_K_INT;
        return cur_u(p, ((uint64_t)v.u.i << 1) ^ (uint64_t)(v.u.i >> 63)); /* zigzag */
    case TC_FLOAT:
        *p++ = REC_K_FLOAT;
        memcpy(p, &v.u.d, 8); /* little-endian hosts only (docs/replay.md) */
        return p + 8;
    case TC_REF: {
        uint64_t id = obj_id(L, v.u.ref);
        if (!id)
            return NULL;
        *p++ = REC_K_REF;
        return cur_obj(p, id, L->last_obj);
    }
    }
    return NULL;
}

void rec_set(tc_heap *h, tc_root *r, int64_t i, tc_value v)
{
    tc_mutator *own;
    rec_log *L = lock_log(h, &own);
    if (!L)
        return;
    uint64_t rid = root_id(L, r);
    uint8_t *p = L->buf + L->n;
    *p = REC_SET;
    p = rid ? cur_value(L, cur_u(cur_u(p + 1, rid), (uint64_t)i), v) : NULL;
    if (p)
        L->n = (size_t)(p - L->buf);
    else
        foreign(L);
    unlock_log(h, L, own, true);
}

void rec_get(tc_heap *h, tc_root *r, int64_t i, tc_root *nr)
{
    tc_mutator *own;
    rec_log *L = lock_log(h, &own);
    if (!L)
        return;
    uint64_t rid = root_id(L, r), oid = obj_id(L, tc_root_obj(nr));
    if (!rid || !oid) {
        foreign(L);
    } else {
        L->buf[L->n++] = REC_GET;
        put_u(L, rid);
        put_u(L, (uint64_t)i);
        put_u(L, root_new_id(L, nr));
        put_obj(L, oid);
    }
    unlock_log(h, L, own, true);
}

void rec_release(tc_heap *h, tc_root *r)
{
    tc_mutator *own;
    rec_log *L = lock_log(h, &own);
    if (!L)
        return;
    uint64_t rid = root_drop(L, r);
    if (rid) { /* a handle made before the recording: nothing to replay */
        uint8_t *p = L->buf + L->n;
        *p = REC_RELEASE;
        L->n = (size_t)(cur_u(p + 1, rid) - L->buf);
    }
    unlock_log(h, L, own, rid != 0);
}

void rec_special(tc_heap *h, enum rec_op op, tc_root *r, tc_token token)
{
    tc_mutator *own;
    rec_log *L = lock_log(h, &own);
    if (!L)
        return;
    uint64_t rid = root_id(L, r);
    if (!rid) {
        foreign(L);
    } else {
        L->buf[L->n++] = (uint8_t)op;
        put_u(L, rid);
        if (op != REC_FREE)
            put_u(L, token);
    }
    unlock_log(h, L, own, true);
}

void rec_ready(tc_heap *h, tc_token token, tc_root *nr)
{
    tc_mutator *own;
    rec_log *L = lock_log(h, &own);
    if (!L)
        return;
    uint64_t oid = obj_id(L, tc_root_obj(nr));
    if (!oid) {
        foreign(L);
    } else {
        L->buf[L->n++] = REC_READY;
        put_u(L, token);
        put_u(L, root_new_id(L, nr));
        put_obj(L, oid);
    }
    unlock_log(h, L, own, true);
}

void rec_weak(tc_heap *h, enum rec_op op, tc_weak *w, tc_root *r)
{
    tc_mutator *own;
    rec_log *L = lock_log(h, &own);
    if (!L)
        return;
    bool wrote = true;
    if (op == REC_WEAK_NEW) {
        uint64_t rid = root_id(L, r);
        if (!rid) {
            foreign(L);
        } else {
            L->buf[L->n++] = REC_WEAK_NEW;
            put_u(L, new_id(L, &L->weaks, &L->weak_ids, w));
            put_u(L, rid);
        }
    } else if (op == REC_WEAK_GET) {
        uint64_t wid = old_id(&L->weaks, w), oid = r ? obj_id(L, tc_root_obj(r)) : 0;
        if (!wid || (r && !oid)) {
            foreign(L);
        } else {
            L->buf[L->n++] = REC_WEAK_GET;
            put_u(L, wid);
            put_u(L, r ? root_new_id(L, r) : 0);
            if (r)
                put_obj(L, oid);
            else
                put_u(L, 0);
        }
    } else {
        uint64_t wid = drop_id(L, &L->weaks, &L->weak_ids, w);
        if ((wrote = wid != 0)) {
            L->buf[L->n++] = REC_WEAK_RELEASE;
            put_u(L, wid);
        }
    }
    unlock_log(h, L, own, wrote);
}

/* log_hash — the hash of the graph the recorded handles reach (rec_lock held). */
static uint64_t log_hash(rec_log *L)
{
    size_t n = 0;
    tc_root **roots = plat_malloc((L->roots.used + 1) * sizeof *roots);
    uint64_t *ids = plat_malloc((L->roots.used + 1) * sizeof *ids), hash = 0;
    if (roots && ids) {
        for (size_t i = 0; i < L->roots.cap; i++) {
            if (L->roots.e[i].key && (L->roots.e[i].val & ROOT_LIVE)) {
                roots[n] = (tc_root *)(uintptr_t)L->roots.e[i].key;
                ids[n++] = L->roots.e[i].val & ~ROOT_LIVE;
            }
        }
        if (rec_graph_hash(roots, ids, n, shadow_id, L, &hash) != TC_OK)
            nomem(L);
    } else {
        nomem(L);
    }
    free(roots);
    free(ids);
    return hash;
}

void rec_collect(tc_heap *h)
{
    tc_mutator *m;
    tc_stats s;
    if (mutator_enter(h, &m) != TC_OK)
        return;
    if (tc_heap_stats(h, &s) == TC_OK) {
        tc_mutator *own;
        rec_log *L = lock_log(h, &own);
        if (L) {
            bool hashed = !L->multi;
            uint64_t hash = hashed ? log_hash(L) : 0;
            L->buf[L->n++] = REC_COLLECT;
            put_u(L, s.heap_objects);
            put_u(L, hashed ? REC_COLLECT_HASH : 0);
            for (int i = 0; hashed && i < 8; i++)
                L->buf[L->n++] = (uint8_t)(hash >> (8 * i));
            unlock_log(h, L, own, true);
        }
    }
    mutator_leave(m);
}

/* ---- start and stop ---- */

static void log_free(rec_log *L)
{
    if (L->f)
        fclose(L->f);
    for (size_t i = 0; i < L->nsh; i++)
        plat_unmap(L->sh[i].ids, (L->sh[i].size >> 3) * sizeof *L->sh[i].ids);
    free(L->sh);
    idmap_free(&L->roots);
    idmap_free(&L->weaks);

    free(L->weak_ids.free);
    free(L->path);
    free(L);
}

/* log_finish — write the END record and the last block, close the file,
 * free the log: TC_ERR_IO / TC_ERR_NOMEM for the first failure. */
static tc_status log_finish(rec_log *L)
{
    if (!L->failed) {
        L->buf[L->n++] = REC_END;
        put_u(L, L->records);
        flush_block(L);
    }
    if (!L->failed && fflush(L->f) != 0) {
        L->failed = TC_ERR_IO;
        L->err = errno;
    }
    int rc = fclose(L->f);
    L->f = NULL;
    if (!L->failed && rc != 0) {
        L->failed = TC_ERR_IO;
        L->err = errno;
    }
    tc_status st = TC_OK;
    if (L->failed == TC_ERR_IO)
        st = tc_fail(TC_ERR_IO, "cannot write the replay log \"%s\": %s", L->path, strerror(L->err));
    else if (L->failed)
        st = tc_fail(L->failed, "out of memory while recording to \"%s\": the log is incomplete", L->path);
    log_free(L);
    return st;
}

/* log_open — a new log at path with its header written. */
static tc_status log_open(const char *path, rec_log **out)
{
    rec_log *L = plat_calloc(1, sizeof *L);
    if (!L || !(L->path = strdup(path))) {
        free(L);
        return tc_fail(TC_ERR_NOMEM, "out of memory for a replay log");
    }
    if (!(L->f = fopen(path, "wb"))) {
        tc_status st = tc_fail(TC_ERR_IO, "cannot create the replay log \"%s\": %s", path, strerror(errno));
        log_free(L);
        return st;
    }
    uint8_t head[REC_HEADER];
    memcpy(head, REC_MAGIC, 8);
    put_u32le(head + 8, REC_VERSION);
    put_u32le(head + 12, 0);
    if (fwrite(head, 1, sizeof head, L->f) != sizeof head) {
        tc_status st = tc_fail(TC_ERR_IO, "cannot write the replay log \"%s\": %s", path, strerror(errno));
        log_free(L);
        return st;
    }
    L->thread = pthread_self();
    *out = L;
    return TC_OK;
}

tc_status tc_record_start(tc_heap *h, const char *path)
{
    if (!path || !*path)
        return tc_fail(TC_ERR_VALUE, "record_start needs a path");
    tc_mutator *m;
    tc_status st = mutator_enter(h, &m);
    if (st != TC_OK)
        return st;
    pthread_mutex_lock(&h->rec_lock);
    bool busy = atomic_load(&h->rec) != NULL;
    pthread_mutex_unlock(&h->rec_lock);
    rec_log *L = NULL;
    tc_stats s;
    if (busy)
        st = tc_fail(TC_ERR_STATE, "a recording is already running (record_stop ends it)");
    else if ((st = tc_heap_stats(h, &s)) == TC_OK && s.heap_objects)
        /* A replay starts on an empty heap: the log could not name these
         * objects, and the first operation on one would make it unreplayable. */
        st = tc_fail(TC_ERR_STATE, "record_start needs a heap with no objects, and this one has %" PRIu64
                     ": start recording before the program's first allocation (collect() first if they are "
                     "garbage)", (uint64_t)s.heap_objects);
    else if (st == TC_OK && (st = log_open(path, &L)) == TC_OK) {
        pthread_mutex_lock(&h->rec_lock);
        if (atomic_load(&h->rec)) { /* another thread started one meanwhile */
            st = tc_fail(TC_ERR_STATE, "a recording is already running (record_stop ends it)");
        } else {
            set_log(h, L, m); /* this thread's hooks take the owner path */
            L = NULL;
        }
        pthread_mutex_unlock(&h->rec_lock);
        if (L)
            log_free(L);
    }
    mutator_leave(m);
    return st;
}

tc_status tc_record_stop(tc_heap *h)
{
    tc_mutator *m;
    tc_status st = mutator_enter(h, &m);
    if (st != TC_OK)
        return st;
    pthread_mutex_lock(&h->rec_lock);
    rec_log *L = set_log(h, NULL, NULL);
    pthread_mutex_unlock(&h->rec_lock);
    mutator_leave(m);
    if (!L)
        return tc_fail(TC_ERR_STATE, "no recording is running (record_start begins one)");
    return log_finish(L);
}

void rec_fork_child(tc_heap *h)
{
    rec_log *L = atomic_exchange(&h->rec, NULL);
    atomic_store(&h->rec_owner, NULL); /* that mutator may be another thread's, gone in the child */
    if (!L)
        return;
    close(fileno(L->f)); /* first: fclose must not flush the parent's buffered bytes */
    log_free(L);
}

void rec_close(tc_heap *h)
{
    pthread_mutex_lock(&h->rec_lock);
    rec_log *L = set_log(h, NULL, NULL);
    pthread_mutex_unlock(&h->rec_lock);
    if (L)
        (void)log_finish(L);
}
