/*
 * record.h — recording a program's heap operations (record.c) and replaying
 * a recording on a fresh heap (replay.c). The log format is docs/replay.md;
 * its constants are here, shared by the writer and the reader.
 *
 * Invariants:
 *  - h->rec is set and cleared only under h->rec_lock and then h->rec_spin
 *    (the hooks' lock, rec_hooks_lock: taken in that order, by start, stop,
 *    close and fork's prepare), and cleared only after the owner path is
 *    revoked. A hook reads h->rec once without a lock, relaxed, to skip
 *    (the only cost when no recording runs), then either takes rec_spin
 *    alone or, on the thread that owns the recording (h->rec_owner), the
 *    owner path (record.c's file comment has the argument), and reads it
 *    again before writing: so a log is never freed under a hook. Fork's
 *    prepare stops the world first, so no record is half written then.
 *  - Every hook runs inside a heap call of the calling thread (between
 *    mutator_enter and mutator_leave): tc_heap_close waits for every call
 *    before its teardown frees the recorder (rec_close), so no hook ever
 *    sees a freed recorder. Hooks never allocate heap objects or reach a
 *    safepoint while they hold the log (rec_spin or the owner path), so a thread waiting for it
 *    inside its heap call delays a stop-the-world pause only by one write.
 *  - Records reach the log in the order their writers hold it: for a
 *    single-threaded program that is program order; for several threads it
 *    is a global order that a replay follows on one thread (racing stores
 *    may have taken effect in the other order: docs/replay.md).
 *  - Ids: an object's id is recycled only when a new object is allocated at
 *    its address (so the old one is dead); a handle's or weak reference's id
 *    is recycled only after its release was recorded. Ids start at 1.
 */
#ifndef TC_RECORD_H
#define TC_RECORD_H

#include "heap.h"
#include "idmap.h"

#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define REC_MAGIC "TCREPLAY"   /* 8 bytes, no NUL in the file */
#define REC_VERSION 2u         /* the format version this build writes and reads (docs/replay.md) */
#define REC_HEADER 16          /* magic, u32 version, u32 flags */
#define REC_BLOCK 65536        /* most payload bytes in one block */
#define REC_OP_MAX 48          /* most bytes one record takes (NEW: 1 + 4 varints of 10) */

/* opcodes: one byte each, then LEB128 unsigned varints (docs/replay.md) */
enum rec_op {
    REC_NEW = 1,      /* obj root nslots size */
    REC_SET,          /* root slot kind [value] */
    REC_GET,          /* root slot new_root obj: a load that made a handle, and its object */
    REC_RELEASE,      /* root */
    REC_COLLECT,      /* heap_objects flags [hash: 8 bytes LE] */
    REC_FINALIZER,    /* root token (0: cleared) */
    REC_CLEANUP,      /* root token */
    REC_READY,        /* token new_root obj: the host took a due finalizer */
    REC_WEAK_NEW,     /* weak root */
    REC_WEAK_GET,     /* weak new_root obj (0 0: nothing) */
    REC_WEAK_RELEASE, /* weak */
    REC_FREE,         /* root: unsafe free */
    REC_FOREIGN,      /* an operation used a handle made outside the recording */
    REC_END,          /* total records before this one */
    REC_OP_COUNT
};

/* value kinds of REC_SET */
enum rec_kind { REC_K_NIL = 0, REC_K_FALSE, REC_K_TRUE, REC_K_INT, REC_K_FLOAT, REC_K_REF };

#define REC_COLLECT_HASH 1u /* REC_COLLECT flag: the hash follows */

typedef struct rec_log rec_log;

/* rec_on — is a recording running? One relaxed load: the hooks' gate. */
static inline bool rec_on(tc_heap *h)
{
    return __builtin_expect(atomic_load_explicit(&h->rec, memory_order_relaxed) != NULL, 0);
}

/* hooks: called inside a heap call, after the operation succeeded */
void rec_new(tc_heap *h, tc_obj *o, tc_root *r, size_t nslots, size_t size);
void rec_set(tc_heap *h, tc_root *r, int64_t i, tc_value v);
void rec_get(tc_heap *h, tc_root *r, int64_t i, tc_root *nr);
void rec_release(tc_heap *h, tc_root *r);
void rec_special(tc_heap *h, enum rec_op op, tc_root *r, tc_token token);
void rec_ready(tc_heap *h, tc_token token, tc_root *nr);
void rec_weak(tc_heap *h, enum rec_op op, tc_weak *w, tc_root *r);
/* rec_collect — after a forced cycle: enters its own heap call. */
void rec_collect(tc_heap *h);
/* rec_close — from tc_heap_close's teardown: finish and free the log. */
void rec_close(tc_heap *h);
/* rec_fork_child — in a forked child (rec_lock and rec_spin held): drop the
 * recording without writing to the parent's file. */
void rec_fork_child(tc_heap *h);
/* rec_hooks_lock / _unlock — rec_spin, for fork.c's prepare (after rec_lock). */
void rec_hooks_lock(tc_heap *h);
void rec_hooks_unlock(tc_heap *h);

/* shared by the writer and the reader */
uint32_t rec_crc32(const uint8_t *p, size_t n);
/* rec_crc32_tables — the same checksum without the PCLMULQDQ folding (for tests). */
uint32_t rec_crc32_tables(const uint8_t *p, size_t n);
/* rec_graph_hash — an order-free hash of the graph reachable from the n
 * handles roots[] (with ids root_ids[]): each object's id (id_of(ids, o)),
 * slot count, payload size and slot values, references as ids. Reads
 * slots the way read_slot does. *out = 0 with TC_ERR_NOMEM. */
typedef uint64_t (*rec_id_fn)(const void *ids, const tc_obj *o);
tc_status rec_graph_hash(tc_root *const *roots, const uint64_t *root_ids, size_t n, rec_id_fn id_of, const void *ids,
                         uint64_t *out);
/* rec_idmap_id — a rec_id_fn over an idmap (address -> id): the replay's. */
uint64_t rec_idmap_id(const void *ids, const tc_obj *o);

#pragma GCC visibility pop

#endif
