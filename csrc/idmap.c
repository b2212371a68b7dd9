/*
 * idmap.c — the map of idmap.h. Keys are addresses and tokens: the hash
 * mixes their bits (addresses share low zero bits and high prefixes).
 */
#include <stdlib.h>

#include "idmap.h"
#include "platform.h"

static inline size_t home(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= UINT64_C(0xff51afd7ed558ccd);
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

bool idmap_get(const idmap *m, uint64_t key, uint64_t *val)
{
    if (!m->cap || !key)
        return false;
    for (size_t i = home(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            *val = m->vals[i];
            return true;
        }
        if (!m->keys[i])
            return false;
    }
}

/* grow — double the table (16 at first) and reinsert every entry. */
static bool grow(idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    uint64_t *k = plat_calloc(cap, sizeof *k), *v = plat_calloc(cap, sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return false;
    }
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->keys[j])
            continue;
        size_t i = home(m->keys[j], cap);
        while (k[i])
            i = (i + 1) & (cap - 1);
        k[i] = m->keys[j];
        v[i] = m->vals[j];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return true;
}

bool idmap_put(idmap *m, uint64_t key, uint64_t val)
{
    if ((m->used + 1) * 4 > m->cap * 3 && !grow(m))
        return false;
    size_t i = home(key, m->cap);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->used++;
    m->keys[i] = key;
    m->vals[i] = val;
    return true;
}

/* idmap_del — remove key, then shift later entries of its run back so that
 * no key is separated from its home bucket by an empty one. */
void idmap_del(idmap *m, uint64_t key)
{
    if (!m->cap || !key)
        return;
    size_t mask = m->cap - 1, i = home(key, m->cap);
    while (m->keys[i] != key) {
        if (!m->keys[i])
            return;
        i = (i + 1) & mask;
    }
    m->used--;
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t h = home(m->keys[j], m->cap);
        /* j's key may move to i when i lies cyclically in [h, j) */
        if (((j - h) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
}

void idmap_free(idmap *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->used = 0;
}
