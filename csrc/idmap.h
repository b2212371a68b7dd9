/*
 * idmap.h — a map from nonzero 64-bit keys to 64-bit values (open
 * addressing, linear probing, backward-shift deletion), for the recorder
 * and the replayer: object address -> id, handle address -> id, token ->
 * weak reference. Not thread-safe: each map has one owner (record.c's under
 * rec_lock, replay.c's on the replaying thread).
 *
 * Layout: a key and its value share one 16-byte entry, so a probe touches
 * one cache line (the recorder's object map outgrows the caches: with keys
 * and values in two arrays every lookup missed twice).
 *
 * Invariants: cap is 0 or a power of two; used < cap * 3 / 4 after every
 * put; no key is 0 (0 marks an empty entry); every key sits in the run of
 * full entries that starts at its home entry (what backward shift keeps).
 */
#ifndef TC_IDMAP_H
#define TC_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

typedef struct idmap_entry {
    uint64_t key, val;
} idmap_entry;

typedef struct idmap {
    idmap_entry *e; /* cap entries */
    size_t cap, used;
} idmap;

bool idmap_get(const idmap *m, uint64_t key, uint64_t *val);

/* idmap_home — key's home entry in a table of cap entries (a power of two):
 * the hash mixes the bits (addresses share low zero bits and high prefixes). */
static inline size_t idmap_home(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= UINT64_C(0xff51afd7ed558ccd);
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

/* idmap_find — key's entry, or NULL: idmap_get inline, for the recorder's
 * per-record lookups (the call was half of their cost: callgrind). The
 * pointer is valid until the next put or del. */
static inline idmap_entry *idmap_find(const idmap *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;
    for (size_t i = idmap_home(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->e[i].key == key)
            return &m->e[i];
        if (!m->e[i].key)
            return NULL;
    }
}
/* idmap_put — insert or overwrite; false (map unchanged) when out of memory. */
bool idmap_put(idmap *m, uint64_t key, uint64_t val);
/* idmap_slot — the value of key, inserted as 0 if absent (*fresh says
 * which): one probe where a get then a put took two. NULL when out of
 * memory (map unchanged). The pointer is valid until the next put or del. */
uint64_t *idmap_slot(idmap *m, uint64_t key, bool *fresh);
void idmap_del(idmap *m, uint64_t key);
void idmap_free(idmap *m);

#pragma GCC visibility pop

#endif
