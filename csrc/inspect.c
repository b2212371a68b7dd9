/*
 * inspect.c — why is an object alive: the roots, an object's referents and
 * referrers, the shortest path from a root, and the retained size (what
 * would die with it), all over the object graph as the marker sees it.
 *
 * The graph. Vertices are the allocated objects; an edge is a slot tagged
 * TC_REF. The roots are what markroots.c starts from, each with a kind:
 *
 *   handle           a live handle-table slot (mark_push_handles): a host
 *                    handle, a C program's tc_root, a root these calls
 *                    handed out;
 *   finalizer_queue  a handle-table slot owned by the ready queue: the
 *                    object of a due finalizer, kept until the host takes it
 *                    (after which the host's handle is a "handle");
 *   local            a raw section's local (mark_push_locals);
 *   finalizer        an object with a finalizer set
 *                    (special_push_finalizer_roots): it roots its referents,
 *                    not itself. A path through it starts ("finalizer", F)
 *                    then (slot, referent); F itself is reachable only if
 *                    something else reaches it, and an F nothing else
 *                    reaches is finalized at the next cycle while its
 *                    referents live on. So retained(F) never counts F's
 *                    referents (F's finalizer keeps them), and referrers
 *                    lists such an F (it is the reason its referent lives).
 *
 * Pins and weak-get shades are not kinds of their own: a pin keeps nothing
 * alive (the buffer view holds a handle, which is listed), and a weak get
 * shades its target only during the mark it happens in and returns a
 * handle; these calls never look at a running mark (below), so that handle
 * is what they see.
 *
 * Safety under every collector. The whole-graph calls run in a session:
 * collector_quiesce (wait for the concurrent collector's running cycle,
 * finish an incremental one, keep new ones from starting: every span is
 * swept, no marker runs, mark bits mean nothing), then the world is stopped
 * (no mutator changes a slot, a handle or a local) while the graph is read.
 * Result objects get their roots (roots_new_global) after the world started
 * again but before the session ends: mutators may have dropped them since,
 * but no cycle can run, so they are still allocated (rooting one again is
 * what a weak get does outside a mark).
 *
 * What is inside the pause. path_to and referrers search the graph with the
 * world stopped: breadth-first from every root at once, until the target is
 * reached (path_to) or everything reachable was scanned (referrers).
 * retained copies the graph instead (snap_take: one sequential pass over
 * the heap's objects, live or not yet swept, into arrays of numbers), ends
 * the pause and the session, and only then computes the dominator tree
 * (dom.c) on the copy. Either way the pause grows with the heap: the house
 * rule that pauses do not is the collector's; this is a debugging call, and
 * its docs give the figures (like tc_heap_verify's).
 *
 * Side tables. Objects are numbered densely by span (each in-use span's
 * element slots, in span-list order; a per-arena page table gives a page's
 * first number), so per-object state is a plain array indexed by number,
 * allocated with inspect_alloc for the call and freed before it returns:
 * about 13 bytes per element slot for a search; for retained 4 per slot and
 * 4 per reference for the copy, then dom.c's ~40 per reachable object. Any
 * allocation may fail: the call then returns TC_ERR_NOMEM, releases what it
 * made and leaves the heap as it found it.
 *
 * Retained size. retained(obj) is obj's subtree in the dominator tree of the
 * graph from a virtual root whose successors are obj, every root but the
 * handle passed in, and the referents of every object with a finalizer (so
 * an object only that handle keeps still has a retained set: what would go
 * with it). Eclipse MAT defines retained size the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "dom.h"
#include "heap.h"
#include "inspect.h"
#include "platform.h"
#include "roots_fast.h"

#define NONE UINT32_MAX
#define MAX_NODES (UINT32_MAX - 1) /* numbers are uint32: past this, TC_ERR_NOMEM */

/* ---- side tables ------------------------------------------------------------ */

static _Atomic long fail_countdown = -1; /* test hook: allocations until one fails */

void inspect_debug_fail_alloc(long n) { atomic_store(&fail_countdown, n); }

static bool refused(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n < 0)
        return false;
    atomic_store_explicit(&fail_countdown, n - 1, memory_order_relaxed);
    return n == 0;
}

/* inspect_alloc — n zeroed items of `size` bytes (at least one), or NULL. */
void *inspect_alloc(size_t n, size_t size)
{
    if (refused() || (n && size > SIZE_MAX / n))
        return NULL;
    return plat_calloc(n ? n : 1, size);
}

/* inspect_grow — make room for `need` items in the array *p of *cap items. */
bool inspect_grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *np = refused() || c > SIZE_MAX / size ? NULL : plat_realloc(*(void **)p, c * size);
    if (!np)
        return false;
    *(void **)p = np;
    *cap = c;
    return true;
}

tc_status inspect_nomem(void) { return tc_fail(TC_ERR_NOMEM, "out of memory for the heap walk's side tables"); }

/* ---- numbering: object <-> dense number ---------------------------------------- */

typedef struct iarena {
    arena *a;
    uint32_t *first; /* per page below the frontier: its span's first number, NONE if not in use */
    size_t npages;
} iarena;

typedef struct ispan {
    uint32_t first; /* number of the span's first element slot */
    uint64_t esize; /* bytes per element slot (a large span: all of it) */
    span *s;        /* valid while the session holds the world */
} ispan;

typedef struct iroot {
    uintptr_t p;
    tc_root_kind kind;
} iroot;

typedef struct iwalk {
    tc_heap *h;
    int narenas, last; /* `last`: the arena of the previous lookup */
    iarena ar[TC_MAX_ARENAS];
    ispan *spans;
    size_t nspans, cap_spans;
    uint64_t nnodes;   /* element slots numbered */
    tc_root *skip;     /* the handle passed in: not a root */
    uintptr_t *fq;     /* the ready queue's handle slots, sorted */
    size_t nfq;
} iwalk;

static iarena *find_arena(iwalk *w, const arena *a)
{
    if (w->ar[w->last].a == a)
        return &w->ar[w->last];
    for (int i = 0; i < w->narenas; i++)
        if (w->ar[i].a == a) {
            w->last = i;
            return &w->ar[i];
        }
    return NULL;
}

static size_t obj_esize(const span *s)
{
    return s->sizeclass ? s->elemsize : (size_t)s->npages << TC_PAGE_SHIFT;
}

/* number_span — give span s's element slots the next numbers. */
static tc_status number_span(void *ud, span *s, int c)
{
    iwalk *w = ud;
    (void)c;
    iarena *ia = find_arena(w, arena_of(s->base));
    if (!ia || w->nnodes + s->nelems > MAX_NODES)
        return tc_fail(TC_ERR_NOMEM, "too many objects for the heap walk (%u at most)", MAX_NODES);
    if (!inspect_grow(&w->spans, &w->cap_spans, w->nspans + 1, sizeof *w->spans))
        return inspect_nomem();
    w->spans[w->nspans++] = (ispan){(uint32_t)w->nnodes, obj_esize(s), s};
    size_t pg = (s->base - ia->a->base) >> TC_PAGE_SHIFT;
    for (size_t i = 0; i < s->npages && pg + i < ia->npages; i++)
        ia->first[pg + i] = (uint32_t)w->nnodes;
    w->nnodes += s->nelems;
    return TC_OK;
}

/* node_of — p's number, or NONE if p is not the start of an allocated
 * object of this heap, or is an object freed with unsafe.free whose memory
 * waits for the next cycle (special.c): a dangling reference. */
static uint32_t node_of(iwalk *w, uintptr_t p)
{
    arena *a = arena_of(p);
    if (!a || a->heap != w->h || (p & 7))
        return NONE;
    iarena *ia = find_arena(w, a);
    size_t pg = (p - a->base) >> TC_PAGE_SHIFT;
    if (!ia || pg >= ia->npages || ia->first[pg] == NONE)
        return NONE;
    span *s = a->spans[pg];
    size_t off = p - s->base, k = 0;
    if (s->sizeclass) { /* 32-bit division: a small span is far below 4 GiB */
        k = (uint32_t)off / s->elemsize;
        if ((uint32_t)k * s->elemsize != off || k >= s->nelems)
            return NONE;
    } else if (off) {
        return NONE;
    }
    if (!alloc_test(a, p) || obj_freed((const tc_obj *)p))
        return NONE;
    return ia->first[pg] + (uint32_t)k;
}

/* span_of_number — the span of number n among v[0..count), in number order. */
static const ispan *span_of_number(const ispan *v, size_t count, uint32_t n)
{
    size_t lo = 0, hi = count; /* the last span whose first <= n */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (v[mid].first <= n)
            lo = mid;
        else
            hi = mid;
    }
    return &v[lo];
}

/* addr_of — the address of number n (a numbered element slot). */
static uintptr_t addr_of(const iwalk *w, uint32_t n)
{
    const ispan *sp = span_of_number(w->spans, w->nspans, n);
    return sp->s->base + (uintptr_t)(n - sp->first) * sp->esize;
}

static int cmp_uptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

/* collect_fq — the handle slots of queued finalizers (special_lock). */
static tc_status collect_fq(iwalk *w)
{
    tc_heap *h = w->h;
    tc_status st = TC_OK;
    plat_lock(&h->special_lock);
    size_t n = 0;
    for (ready *r = h->ready_head; r; r = r->next)
        n += r->root != NULL;
    if (!(w->fq = inspect_alloc(n, sizeof *w->fq)))
        st = inspect_nomem();
    for (ready *r = h->ready_head; r && w->fq; r = r->next)
        if (r->root)
            w->fq[w->nfq++] = (uintptr_t)r->root;
    pthread_mutex_unlock(&h->special_lock);
    if (st == TC_OK)
        qsort(w->fq, w->nfq, sizeof *w->fq, cmp_uptr);
    return st;
}

static void walk_free(iwalk *w)
{
    for (int i = 0; i < w->narenas; i++)
        free(w->ar[i].first);
    free(w->spans);
    free(w->fq);
    memset(w, 0, sizeof *w);
}

/* walk_init — number every element slot of every in-use span (world
 * stopped, no cycle running: every span swept and on a list). */
static tc_status walk_init(iwalk *w, tc_heap *h, tc_root *skip)
{
    memset(w, 0, sizeof *w);
    w->h = h;
    w->skip = skip;
    tc_status st = TC_OK;
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < h->narenas && st == TC_OK; i++) {
        iarena *ia = &w->ar[w->narenas++];
        ia->a = h->arenas[i];
        ia->npages = atomic_load(&ia->a->frontier);
        if (!(ia->first = inspect_alloc(ia->npages, sizeof *ia->first)))
            st = inspect_nomem();
        else
            memset(ia->first, 0xff, (ia->npages ? ia->npages : 1) * sizeof *ia->first);
    }
    if (st == TC_OK)
        st = check_each_span(h, number_span, w);
    pthread_mutex_unlock(&h->lock);
    if (st == TC_OK)
        st = collect_fq(w);
    if (st != TC_OK)
        walk_free(w);
    return st;
}

/* ---- the roots ------------------------------------------------------------------ */

static bool push_root(iroot **v, size_t *n, size_t *cap, uintptr_t p, tc_root_kind k)
{
    if (!inspect_grow(v, cap, *n + 1, sizeof **v))
        return false;
    (*v)[(*n)++] = (iroot){p, k};
    return true;
}

/* the roots collect_roots has gathered */
typedef struct rbag {
    iwalk *w;
    iroot *v;
    size_t n, cap;
} rbag;

/* collect_one — a root for the search, unless it is the handle passed in
 * or not an object; a handle whose finalizer is queued is told apart. */
static bool collect_one(void *arg, uintptr_t p, const tc_root *slot, tc_root_kind kind)
{
    rbag *b = arg;
    iwalk *w = b->w;
    if ((slot && slot == w->skip) || node_of(w, p) == NONE)
        return true;
    uintptr_t at = (uintptr_t)slot;
    if (slot && bsearch(&at, w->fq, w->nfq, sizeof *w->fq, cmp_uptr))
        kind = TC_ROOT_FINALIZER_QUEUE;
    return push_root(&b->v, &b->n, &b->cap, p, kind);
}

/* collect_roots — every root (world stopped), in the order a search must
 * take them: handles and queued finalizers, locals, then the finalizer
 * roots (whose referents are one step further from the virtual root). */
static tc_status collect_roots(iwalk *w, iroot **out, size_t *nout)
{
    rbag b = {.w = w};
    if (!roots_each(w->h, collect_one, &b)) {
        free(b.v);
        return inspect_nomem();
    }
    *out = b.v;
    *nout = b.n;
    return TC_OK;
}

/* ---- sessions: quiesce, stop the world, start it, release ------------------------- */

typedef struct isess {
    tc_heap *h;
    void *tok;        /* collector_quiesce's */
    uint64_t t0;      /* the world stopped at */
    bool stopped;
} isess;

/* in_raw_section — is this thread inside a heap call of h (a raw section)?
 * Stopping the world would then wait for itself. */
static bool in_raw_section(tc_heap *h) { return mutator_inside(h); }

/* obj_arg — the object of root r, checked: of this heap and not freed. */
static tc_status obj_arg(tc_heap *h, tc_root *r, uintptr_t *p)
{
    if (!r)
        return tc_fail(TC_ERR_VALUE, "obj must be a handle, not NULL");
    uintptr_t v = (uintptr_t)tc_root_obj(r);
    if (root_val_freed(v) || (v && !(v & 7) && arena_of(v) && tc_root_freed(r)))
        return tc_fail(TC_ERR_FREED, "the object was freed with unsafe.free");
    arena *a = v && !(v & 7) ? arena_of(v) : NULL;
    if (!a || a->heap != h)
        return tc_fail(TC_ERR_CROSS_HEAP, "the object belongs to another heap");
    *p = v;
    return TC_OK;
}

/* inspect_obj_arg — obj_arg for manual.c's colour call. */
tc_status inspect_obj_arg(tc_heap *h, tc_root *r, uintptr_t *p) { return obj_arg(h, r, p); }

/* sess_begin — check the heap and obj (NULL: none), wait for no cycle to
 * run, and stop the world. On failure nothing is held. */
static tc_status sess_begin(isess *s, tc_heap *h, tc_root *r, uintptr_t *p)
{
    tc_status st = TC_OK;
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    if (r && (st = obj_arg(h, r, p)) != TC_OK)
        return st;
    if (in_raw_section(h))
        return tc_fail(TC_ERR_STATE, "the heap walk cannot run inside a raw section (tc_enter): leave it first");
    s->h = h;
    s->tok = collector_quiesce(h);
    if (atomic_load(&h->closed))
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    else if (r && tc_root_freed(r)) /* freed while we waited (tc_obj_free quiesces too) */
        st = tc_fail(TC_ERR_FREED, "the object was freed with unsafe.free");
    if (st != TC_OK) {
        collector_unquiesce(h, s->tok);
        return st;
    }
    s->t0 = world_stop(h, NULL); /* from the request, as cycle.c's pauses (the wait for the stop counts) */
    s->stopped = true;
    return TC_OK;
}

static _Thread_local uint64_t last_pause_ns; /* this thread's last session's pause */

uint64_t inspect_last_pause_ns(void) { return last_pause_ns; }

/* sess_start_world — end the pause (once); it shows in a running trace. */
static void sess_start_world(isess *s)
{
    if (!s->stopped)
        return;
    world_start(s->h);
    s->stopped = false;
    last_pause_ns = plat_now_ns() - s->t0;
    ev_record(s->h, EV_PAUSE, s->t0, s->t0 + last_pause_ns, 0); /* a pause the program waits out: delay, MMU, trace */
}

static void sess_end(isess *s)
{
    sess_start_world(s);
    collector_unquiesce(s->h, s->tok);
}

/* root_links — new roots for n (address, kind, slot) steps (in a session:
 * no cycle runs): *made of them were made, the rest are NULL. */
static tc_status root_links(tc_heap *h, const iroot *objs, const int64_t *slots, size_t n, tc_link **out,
                            size_t *made)
{
    *made = 0;
    tc_link *v = inspect_alloc(n, sizeof *v);
    if (!v)
        return inspect_nomem();
    *out = v;
    for (size_t i = 0; i < n; i++) {
        tc_status st = roots_new_global(h, (tc_obj *)objs[i].p, &v[i].obj);
        if (st != TC_OK)
            return st;
        v[i].kind = objs[i].kind;
        v[i].slot = slots ? slots[i] : -1;
        (*made)++;
    }
    return TC_OK;
}

/* links_release — undo root_links after a failure (session ended: the
 * roots are released as a host would). */
static void links_release(tc_heap *h, tc_link *v, size_t made)
{
    for (size_t i = 0; v && i < made; i++)
        tc_root_release(h, v[i].obj);
    free(v);
}

/* sess_answer — end session s with the answer (st: the walk's status):
 * new roots for objs (world running, no cycle yet), then the session ends.
 * On failure nothing is left made; *out = NULL when n = 0. */
static tc_status sess_answer(isess *s, tc_status st, const iroot *objs, const int64_t *slots, size_t n, tc_link **out,
                             size_t *nout)
{
    tc_link *v = NULL;
    size_t made = 0;
    sess_start_world(s);
    if (st == TC_OK && n)
        st = root_links(s->h, objs, slots, n, &v, &made);
    sess_end(s);
    if (st != TC_OK) {
        links_release(s->h, v, made);
        return st;
    }
    *out = v;
    *nout = n;
    return TC_OK;
}

/* ---- breadth-first search: referrers and the shortest path ------------------------- */

enum { HOW_ROOT = 1, HOW_EDGE, HOW_FIN, HOW_MASK = 3, HOW_LISTED = 4 };

/* One search from every root. how[n]: how n was first reached (HOW_ROOT:
 * via = its root kind; HOW_EDGE: slot `via` of par; HOW_FIN: slot `via` of
 * par, an object with a finalizer that roots it), plus HOW_LISTED once n was
 * listed as a referrer. */
typedef struct ibfs {
    iwalk *w;
    uint8_t *how;
    uint32_t *par, *via; /* per number (path searches only) */
    uintptr_t *q;        /* the queue: every object enters once */
    size_t qh, qt;
    uint32_t target;     /* obj's number */
    bool path;           /* stop when the target is reached (else: referrers) */
    bool found;
    iroot *hits;         /* referrers found, and the slot of each that holds the target */
    int64_t *hslot;
    size_t nhits, cap_hits, cap_hslot;
} ibfs;

static tc_status bfs_init(ibfs *b, iwalk *w, uint32_t target, bool path)
{
    memset(b, 0, sizeof *b);
    b->w = w;
    b->target = target;
    b->path = path;
    b->how = inspect_alloc(w->nnodes, 1);
    b->q = inspect_alloc(w->nnodes, sizeof *b->q);
    if (path) {
        b->par = inspect_alloc(w->nnodes, sizeof *b->par);
        b->via = inspect_alloc(w->nnodes, sizeof *b->via);
    }
    return b->how && b->q && (!path || (b->par && b->via)) ? TC_OK : inspect_nomem();
}

static void bfs_free(ibfs *b)
{
    free(b->how);
    free(b->q);
    free(b->par);
    free(b->via);
    free(b->hits);
    free(b->hslot);
}

/* bfs_reach — n (at p) is reached as `how` from par's `via`. */
static void bfs_reach(ibfs *b, uint32_t n, uintptr_t p, uint8_t how, uint32_t par, uint32_t via)
{
    if (b->how[n] & HOW_MASK)
        return;
    b->how[n] |= how;
    if (b->path) {
        b->par[n] = par;
        b->via[n] = via;
        b->found = n == b->target;
    }
    b->q[b->qt++] = p;
}

/* bfs_scan — reach the referents of object p (number pn) as `how`; note p
 * as a referrer of the target. false: out of memory. */
static bool bfs_scan(ibfs *b, uintptr_t p, uint32_t pn, uint8_t how)
{
    const tc_obj *o = (const tc_obj *)p;
    for (uint32_t i = 0; i < obj_nslots(o) && !b->found; i++) {
        if ((atomic_load_explicit(&obj_tags(o)[i], memory_order_relaxed) & TAG_KIND) != TC_REF)
            continue;
        uintptr_t q = atomic_load_explicit(&obj_words(o)[i], memory_order_relaxed);
        uint32_t n = node_of(b->w, q);
        if (n == NONE)
            continue;
        if (!b->path && n == b->target && !(b->how[pn] & HOW_LISTED)) {
            if (!inspect_grow(&b->hits, &b->cap_hits, b->nhits + 1, sizeof *b->hits) ||
                !inspect_grow(&b->hslot, &b->cap_hslot, b->nhits + 1, sizeof *b->hslot))
                return false;
            b->hits[b->nhits] = (iroot){p, TC_ROOT_HANDLE};
            b->hslot[b->nhits++] = i;
            b->how[pn] |= HOW_LISTED;
        }
        bfs_reach(b, n, q, how, pn, i);
    }
    return true;
}

/* bfs_run — search from the roots until the target is found (path) or
 * everything reachable was scanned. */
static tc_status bfs_run(ibfs *b, const iroot *roots, size_t nroots)
{
    for (size_t i = 0; i < nroots && !b->found; i++)
        if (roots[i].kind != TC_ROOT_FINALIZER)
            bfs_reach(b, node_of(b->w, roots[i].p), roots[i].p, HOW_ROOT, NONE, roots[i].kind);
    for (size_t i = 0; i < nroots && !b->found; i++)
        if (roots[i].kind == TC_ROOT_FINALIZER && !bfs_scan(b, roots[i].p, node_of(b->w, roots[i].p), HOW_FIN))
            return inspect_nomem();
    while (b->qh < b->qt && !b->found) {
        uintptr_t p = b->q[b->qh++];
        if (!bfs_scan(b, p, node_of(b->w, p), HOW_EDGE))
            return inspect_nomem();
    }
    return TC_OK;
}

/* bfs_path — the chain from a root to the (found) target as objects and
 * slots: (*objs)[0] carries the root kind. */
static tc_status bfs_path(ibfs *b, iroot **objs, int64_t **slots, size_t *n)
{
    size_t len = 1;
    for (uint32_t v = b->target;; v = b->par[v]) {
        uint8_t how = b->how[v] & HOW_MASK;
        if (how == HOW_ROOT)
            break;
        len++; /* par[v]: the previous step, or the object whose finalizer roots v */
        if (how == HOW_FIN)
            break;
    }
    *objs = inspect_alloc(len, sizeof **objs);
    *slots = inspect_alloc(len, sizeof **slots);
    if (!*objs || !*slots)
        return inspect_nomem();
    *n = len;
    uint32_t v = b->target;
    for (size_t i = len; i-- > 0;) {
        uint8_t how = b->how[v] & HOW_MASK;
        (*objs)[i].p = addr_of(b->w, v);
        (*slots)[i] = how == HOW_ROOT ? -1 : (int64_t)b->via[v];
        if (how == HOW_ROOT) {
            (*objs)[0].kind = (tc_root_kind)b->via[v];
        } else if (how == HOW_FIN) {
            (*objs)[0] = (iroot){addr_of(b->w, b->par[v]), TC_ROOT_FINALIZER};
            (*slots)[0] = -1;
            break;
        }
        v = b->par[v];
    }
    for (size_t i = 1; i < len; i++)
        (*objs)[i].kind = (*objs)[0].kind;
    return TC_OK;
}

/* ---- the graph snapshot, for the dominator tree ---------------------------------------- */

/* A copy of the object graph taken with the world stopped, in one pass over
 * the heap in number order (sequential memory, unlike a search): the
 * objects number n references are succ[off[n] .. off[n+1]) (a free element
 * slot has none); seeds are the virtual root's successors, obj first; spans
 * is the walk's table, for element sizes (its span pointers are not used
 * once the world runs). Once taken it needs neither the heap nor a pause. */
typedef struct isnap {
    uint32_t nnodes;
    uint32_t *off, *succ, *seeds;
    size_t nsucc, cap_succ, nseeds, cap_seeds;
    ispan *spans;
    size_t nspans;
} isnap;

static void snap_free(isnap *g)
{
    free(g->off);
    free(g->succ);
    free(g->seeds);
    free(g->spans);
    memset(g, 0, sizeof *g);
}

static bool snap_push(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
    if (*n >= UINT32_MAX || !inspect_grow(v, cap, *n + 1, sizeof **v))
        return false;
    (*v)[(*n)++] = x;
    return true;
}

/* snap_span — the references of every allocated object of span i. */
static bool snap_span(isnap *g, iwalk *w, size_t i)
{
    const span *s = w->spans[i].s;
    arena *a = arena_of(s->base);
    size_t e = w->spans[i].esize;
    for (uint32_t k = 0; k < s->nelems; k++) {
        uintptr_t p = s->base + k * e;
        g->off[w->spans[i].first + k] = (uint32_t)g->nsucc;
        if (!alloc_test(a, p))
            continue;
        const tc_obj *o = (const tc_obj *)p;
        for (uint32_t j = 0; j < obj_nslots(o); j++) {
            if ((atomic_load_explicit(&obj_tags(o)[j], memory_order_relaxed) & TAG_KIND) != TC_REF)
                continue;
            uint32_t n = node_of(w, atomic_load_explicit(&obj_words(o)[j], memory_order_relaxed));
            if (n != NONE && !snap_push(&g->succ, &g->nsucc, &g->cap_succ, n))
                return false;
        }
    }
    return true;
}

/* snap_take — the snapshot (world stopped): obj's number, then the roots'
 * (a finalizer root's referents in its place). */
static tc_status snap_take(isnap *g, iwalk *w, uintptr_t obj, const iroot *roots, size_t nroots)
{
    memset(g, 0, sizeof *g);
    g->nnodes = (uint32_t)w->nnodes;
    g->off = inspect_alloc((size_t)g->nnodes + 1, sizeof *g->off);
    g->spans = inspect_alloc(w->nspans, sizeof *g->spans);
    bool ok = g->off && g->spans;
    for (size_t i = 0; i < w->nspans && ok; i++)
        ok = snap_span(g, w, i);
    if (ok) {
        g->off[g->nnodes] = (uint32_t)g->nsucc;
        memcpy(g->spans, w->spans, w->nspans * sizeof *g->spans);
        g->nspans = w->nspans;
    }
    ok = ok && snap_push(&g->seeds, &g->nseeds, &g->cap_seeds, node_of(w, obj));
    for (size_t i = 0; i < nroots && ok; i++) {
        uint32_t n = node_of(w, roots[i].p);
        if (roots[i].kind != TC_ROOT_FINALIZER)
            ok = snap_push(&g->seeds, &g->nseeds, &g->cap_seeds, n);
        for (uint32_t k = g->off[n]; k < g->off[n + 1] && ok && roots[i].kind == TC_ROOT_FINALIZER; k++)
            ok = snap_push(&g->seeds, &g->nseeds, &g->cap_seeds, g->succ[k]);
    }
    return ok ? TC_OK : inspect_nomem();
}

/* retained_add — one object of obj's retained set (dom_subtree's callback). */
typedef struct iret {
    const isnap *g;
    uint64_t bytes, objects;
} iret;

static void retained_add(void *ud, uint32_t n)
{
    iret *r = ud;
    r->bytes += span_of_number(r->g->spans, r->g->nspans, n)->esize;
    r->objects++;
}

/* ---- public ------------------------------------------------------------------------ */

const char *tc_root_kind_name(tc_root_kind k)
{
    static const char *const names[TC_ROOT_KIND_COUNT] = {"handle", "local", "finalizer_queue", "finalizer"};
    return (unsigned)k < TC_ROOT_KIND_COUNT ? names[k] : "?";
}

void tc_inspect_free(void *array) { free(array); }

static int cmp_root(const void *a, const void *b)
{
    const iroot *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return (x->p > y->p) - (x->p < y->p);
}

tc_status tc_heap_roots(tc_heap *h, tc_link **out, size_t *n)
{
    isess s;
    iwalk w;
    iroot *roots = NULL;
    size_t nr = 0;
    tc_status st = sess_begin(&s, h, NULL, NULL);
    if (st != TC_OK)
        return st;
    if ((st = walk_init(&w, h, NULL)) == TC_OK && (st = collect_roots(&w, &roots, &nr)) == TC_OK) {
        sess_start_world(&s);
        if (nr) /* roots is NULL when there is none */
            qsort(roots, nr, sizeof *roots, cmp_root);
        size_t u = 0; /* once per (kind, object) */
        for (size_t i = 0; i < nr; i++)
            if (!u || cmp_root(&roots[u - 1], &roots[i]))
                roots[u++] = roots[i];
        nr = u;
    }
    st = sess_answer(&s, st, roots, NULL, nr, out, n);
    walk_free(&w);
    free(roots);
    return st;
}

tc_status tc_obj_referents(tc_heap *h, tc_root *r, tc_link **out, size_t *n)
{
    uintptr_t p = 0;
    tc_mutator *m;
    tc_status st = atomic_load(&h->closed) ? tc_fail(TC_ERR_CLOSED, "the heap is closed") : obj_arg(h, r, &p);
    if (st != TC_OK || (st = mutator_enter(h, &m)) != TC_OK)
        return st;
    if (tc_root_freed(r)) { /* freed before we entered (tc_obj_free waits for heap calls) */
        mutator_leave(m);
        return tc_fail(TC_ERR_FREED, "the object was freed with unsafe.free");
    }
    tc_link *v = NULL;
    size_t k = 0, cap = 0;
    const tc_obj *o = (const tc_obj *)p;
    for (uint32_t i = 0; i < obj_nslots(o) && st == TC_OK; i++) {
        tc_value x = slot_read_locked((tc_obj *)o, i); /* as tc_slot_get: one store's pair; the barrier sees the new roots */
        arena *a = x.kind == TC_REF ? arena_of((uintptr_t)x.u.ref) : NULL;
        if (!a || a->heap != h || !is_object(a, (uintptr_t)x.u.ref))
            continue; /* not a reference (or a torn read of a slot another thread writes) */
        if (!inspect_grow(&v, &cap, k + 1, sizeof *v))
            st = inspect_nomem();
        else if ((st = roots_new(m, x.u.ref, &v[k].obj)) == TC_OK) {
            v[k].kind = TC_ROOT_HANDLE;
            v[k++].slot = i;
        }
    }
    if (st != TC_OK)
        while (k)
            roots_release(m, v[--k].obj);
    mutator_leave(m);
    if (st != TC_OK || !k) {
        free(v);
        v = NULL;
    }
    if (st == TC_OK) {
        *out = v;
        *n = k;
    }
    return st;
}

tc_status tc_obj_referrers(tc_heap *h, tc_root *r, tc_link **out, size_t *n)
{
    isess s;
    iwalk w;
    ibfs b = {0};
    iroot *roots = NULL;
    size_t nr = 0;
    uintptr_t p = 0;
    tc_status st = sess_begin(&s, h, r, &p);
    if (st != TC_OK)
        return st;
    if ((st = walk_init(&w, h, NULL)) == TC_OK && (st = collect_roots(&w, &roots, &nr)) == TC_OK &&
        (st = bfs_init(&b, &w, node_of(&w, p), false)) == TC_OK)
        st = bfs_run(&b, roots, nr);
    st = sess_answer(&s, st, b.hits, b.hslot, b.nhits, out, n);
    walk_free(&w);
    free(roots);
    bfs_free(&b);
    return st;
}

tc_status tc_obj_path_to(tc_heap *h, tc_root *r, tc_link **out, size_t *n)
{
    isess s;
    iwalk w;
    ibfs b = {0};
    iroot *roots = NULL, *steps = NULL;
    int64_t *slots = NULL;
    size_t nr = 0, len = 0;
    uintptr_t p = 0;
    tc_status st = sess_begin(&s, h, r, &p);
    if (st != TC_OK)
        return st;
    if ((st = walk_init(&w, h, r)) == TC_OK && (st = collect_roots(&w, &roots, &nr)) == TC_OK &&
        (st = bfs_init(&b, &w, node_of(&w, p), true)) == TC_OK && (st = bfs_run(&b, roots, nr)) == TC_OK &&
        b.found) {
        sess_start_world(&s); /* the search is done: read the path back with the world running */
        st = bfs_path(&b, &steps, &slots, &len);
    }
    st = sess_answer(&s, st, steps, slots, len, out, n);
    walk_free(&w);
    free(roots);
    free(steps);
    free(slots);
    bfs_free(&b);
    return st;
}

tc_status tc_obj_retained(tc_heap *h, tc_root *r, uint64_t *bytes, uint64_t *objects)
{
    isess s;
    iwalk w;
    isnap g = {0};
    iroot *roots = NULL;
    size_t nr = 0;
    uintptr_t p = 0;
    tc_status st = sess_begin(&s, h, r, &p);
    if (st != TC_OK)
        return st;
    if ((st = walk_init(&w, h, r)) == TC_OK) {
        if ((st = collect_roots(&w, &roots, &nr)) == TC_OK)
            st = snap_take(&g, &w, p, roots, nr);
        walk_free(&w);
    }
    sess_end(&s); /* the graph is in g: the rest needs neither the heap nor a pause */
    free(roots);
    iret sum = {&g, 0, 0};
    dom_graph dg = {g.nnodes, g.off, g.succ, g.seeds, g.nseeds};
    if (st == TC_OK)
        st = dom_subtree(&dg, retained_add, &sum);
    snap_free(&g);
    if (st == TC_OK) {
        *bytes = sum.bytes;
        *objects = sum.objects;
    }
    return st;
}
