/*
 * idmap.c — the map of idmap.h. Keys are addresses and tokens: the hash
 * mixes their bits (addresses share low zero bits and high prefixes).
 */
#include <stdlib.h>

#include "idmap.h"
#include "platform.h"

bool idmap_get(const idmap *m, uint64_t key, uint64_t *val)
{
    idmap_entry *e = idmap_find(m, key);
    if (e)
        *val = e->val;
    return e != NULL;
}

/* grow — double the table (16 at first) and reinsert every entry. */
static bool grow(idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    idmap_entry *e = plat_calloc(cap, sizeof *e);
    if (!e)
        return false;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->e[j].key)
            continue;
        size_t i = idmap_home(m->e[j].key, cap);
        while (e[i].key)
            i = (i + 1) & (cap - 1);
        e[i] = m->e[j];
    }
    free(m->e);
    m->e = e;
    m->cap = cap;
    return true;
}

uint64_t *idmap_slot(idmap *m, uint64_t key, bool *fresh)
{
    if ((m->used + 1) * 4 > m->cap * 3 && !grow(m))
        return NULL;
    size_t i = idmap_home(key, m->cap);
    while (m->e[i].key && m->e[i].key != key)
        i = (i + 1) & (m->cap - 1);
    *fresh = !m->e[i].key;
    if (*fresh) {
        m->used++;
        m->e[i].key = key;
        m->e[i].val = 0;
    }
    return &m->e[i].val;
}

bool idmap_put(idmap *m, uint64_t key, uint64_t val)
{
    bool fresh;
    uint64_t *v = idmap_slot(m, key, &fresh);
    if (!v)
        return false;
    *v = val;
    return true;
}

/* idmap_del — remove key, then shift later entries of its run back so that
 * no key is separated from its home entry by an empty one. */
void idmap_del(idmap *m, uint64_t key)
{
    if (!m->cap || !key)
        return;
    size_t mask = m->cap - 1, i = idmap_home(key, m->cap);
    while (m->e[i].key != key) {
        if (!m->e[i].key)
            return;
        i = (i + 1) & mask;
    }
    m->used--;
    for (size_t j = (i + 1) & mask; m->e[j].key; j = (j + 1) & mask) {
        size_t h = idmap_home(m->e[j].key, m->cap);
        /* j's key may move to i when i lies cyclically in [h, j) */
        if (((j - h) & mask) >= ((j - i) & mask)) {
            m->e[i] = m->e[j];
            i = j;
        }
    }
    m->e[i].key = 0;
}

void idmap_free(idmap *m)
{
    free(m->e);
    m->e = NULL;
    m->cap = m->used = 0;
}
