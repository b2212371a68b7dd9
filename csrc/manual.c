/*
 * manual.c — the manual collector: the program drives the cycle, one step
 * at a time, and looks at the colours in between (teaching mode).
 *
 * The cycle is cycle.c's, not a copy: each call is a cycle_step. gc_start
 * is the start step (the start pause, every handle and finalizer root
 * pushed as grey work), gc_step(n) a mark step of n objects on the cycle's
 * marker h->incr_ctx, and the first gc_step that finds no grey work left
 * runs the termination step (the Dijkstra barrier's root re-scan, then
 * phase SWEEP). gc_finish is what every whole-heap call does to a running
 * cycle (cycle_finish: drain, terminate, sweep everything, the end). Nothing else starts a
 * cycle on a manual heap: collector_maybe_trigger does nothing for it and
 * an allocation that fails does not collect (alloc.c).
 *
 * Invariant: between two calls of this file, no marker runs and the grey
 * set is exactly the global grey queue (h->grey) plus the grey buffers of
 * mutators inside a heap call. Every driving call holds mark_lock and
 * gc_lock from start to end (so steps never overlap each other, nor a
 * whole-heap call's finish) and ends with mark_flush(incr_ctx), which moves
 * the marker's stack and prefetch ring to the global queue; a mutator
 * flushes its barrier buffer when it leaves a heap call. The looking calls
 * (color, snapshot) take the same two locks and stop the world, so every
 * mutator buffer is flushed too: they see a whole store or none of it, and
 * grey means "in h->grey and not marked". (They answer under every
 * collector: an incremental cycle's marker is flushed the same way first;
 * the concurrent collector's thread holds both locks for a whole cycle, so
 * there they wait for it and answer between cycles.)
 *
 * Threads. Any thread may drive (the calls serialize on the locks); the
 * driving thread must not be inside a heap call (a raw section:
 * TC_ERR_STATE), because the termination pause and the looking calls stop
 * the world. Other threads may go on allocating and storing between and
 * during steps: their stores go through the barrier exactly as under the
 * incremental collector (objects allocated during the mark are black; in
 * the sweep phase an allocation may sweep a span lazily). They never start,
 * step or end a cycle. A teaching program that wants the colours to follow
 * only its own stores keeps to one thread.
 *
 * Colours. White between cycles (mark bits mean nothing then). During the
 * mark: black if the mark bit or the allocate-black bit is set, grey if the
 * address waits in the grey set, white otherwise. In the sweep phase the
 * mark is over: black if marked, or if its span was swept already (it
 * survived: sweeping clears the bits); white objects are what the sweep
 * frees.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "inspect.h"
#include "platform.h"

static int cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static const char *const color_names[] = {"white", "grey", "black"};
static const char *const phase_names[] = {"off", "mark", "sweep"};

const char *tc_color_name(tc_color c) { return (unsigned)c < 3 ? color_names[c] : "?"; }
const char *tc_phase_name(int phase) { return (unsigned)phase < 3 ? phase_names[phase] : "?"; }

/* ---- holding the cycle still ------------------------------------------------ */

/* hold_begin — check the heap and take mark_lock and gc_lock (the host's
 * lock released meanwhile, through the block hooks). `what` names the call
 * for errors; manual_only: TC_ERR_VALUE on a heap of another collector. */
static tc_status hold_begin(tc_heap *h, const char *what, bool manual_only, void **tok)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    if (manual_only && h->cfg.collector != TC_COLLECTOR_MANUAL)
        return tc_fail(TC_ERR_VALUE, "%s needs collector=\"manual\"; this heap's collector is \"%s\"", what,
                       tc_collector_name(h->cfg.collector));
    if (mutator_inside(h))
        return tc_fail(TC_ERR_STATE, "%s cannot run inside a raw section (tc_enter): leave it first", what);
    block_begin(h, tok);
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    return TC_OK;
}

static void hold_end(tc_heap *h, void *tok)
{
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    block_end(h, tok);
}

/* ---- driving ------------------------------------------------------------------ */

/* manual_start — a forced cycle's start pause and roots (phase OFF, not
 * stw whatever gcstoptheworld says: the program steps it). */
static tc_status manual_start(tc_heap *h)
{
    cycle_drive d = {.forced = true, .locks = CYCLE_LOCKS_BOTH, .pause = true};
    return cycle_step(h, &d) ? TC_OK : d.status;
}

tc_status tc_heap_gc_start(tc_heap *h)
{
    void *tok;
    tc_status st = hold_begin(h, "gc_start", true, &tok);
    if (st != TC_OK)
        return st;
    int phase = atomic_load(&h->phase);
    if (atomic_load(&h->closed))
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    else if (phase != PHASE_OFF)
        st = tc_fail(TC_ERR_STATE, "a cycle is running (phase %s): gc_finish() it first", tc_phase_name(phase));
    else if ((st = manual_start(h)) == TC_OK)
        mark_flush(h->incr_ctx); /* the roots' grey work to the global queue (the top) */
    hold_end(h, tok);
    return st;
}

/* step — up to n objects marked on the held heap (phase MARK); the
 * termination when a step finds no grey work left. Returns the objects
 * marked (the Dijkstra barrier's re-scan at the termination included). */
static uint64_t step(tc_heap *h, int64_t n)
{
    cycle_drive mark = {.locks = CYCLE_LOCKS_BOTH, .mark = n};
    cycle_drive term = {.locks = CYCLE_LOCKS_BOTH, .pause = true, .mark = 0};
    uint64_t marked = 0;
    for (;;) {
        mark.marked = term.marked = 0;
        bool empty = cycle_step(h, &mark);
        marked += mark.marked;
        if (marked || !empty)
            break;
        bool done = cycle_step(h, &term);
        marked += term.marked;
        if (done) /* phase SWEEP, the marker freed */
            return marked;
        /* the termination found grey work (another thread's barrier): mark on */
    }
    mark_flush(h->incr_ctx);
    return marked;
}

tc_status tc_heap_gc_step(tc_heap *h, int64_t n, uint64_t *marked)
{
    void *tok;
    *marked = 0;
    if (n < 1)
        return tc_fail(TC_ERR_VALUE, "gc_step(n) marks n >= 1 objects, not %lld", (long long)n);
    tc_status st = hold_begin(h, "gc_step", true, &tok);
    if (st != TC_OK)
        return st;
    if (atomic_load(&h->closed))
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    else if (atomic_load(&h->phase) == PHASE_MARK && h->incr_ctx)
        *marked = step(h, n);
    hold_end(h, tok);
    return st;
}

tc_status tc_heap_gc_finish(tc_heap *h, uint64_t *freed)
{
    void *tok;
    *freed = 0;
    tc_status st = hold_begin(h, "gc_finish", true, &tok);
    if (st != TC_OK)
        return st;
    if (atomic_load(&h->closed)) {
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    } else if (atomic_load(&h->phase) != PHASE_OFF) {
        cycle_finish(h);
        pthread_mutex_lock(&h->ctl_lock);
        *freed = h->last_freed;
        st = h->last_status;
        pthread_mutex_unlock(&h->ctl_lock);
        if (st != TC_OK)
            tc_fail(st, "checkmark: a reachable object was left white");
    }
    hold_end(h, tok);
    return st;
}

/* ---- looking ------------------------------------------------------------------ */

/* grey_set — the grey queue's addresses (held, world stopped), sorted and
 * unique; marked ones are kept (colour_of tests the mark bits first). */
static tc_status grey_set(tc_heap *h, uintptr_t **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    plat_lock(&h->grey_lock);
    bool ok = true;
    for (wbuf *b = h->grey; b && ok; b = b->next)
        if ((ok = inspect_grow(out, &cap, *n + b->n + 1, sizeof **out))) {
            memcpy(*out + *n, b->e, b->n * sizeof **out);
            *n += b->n;
        }
    pthread_mutex_unlock(&h->grey_lock);
    if (!ok) {
        free(*out);
        return inspect_nomem();
    }
    if (*n) /* qsort wants a pointer even for none */
        qsort(*out, *n, sizeof **out, cmp_addr);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (!k || (*out)[k - 1] != (*out)[i])
            (*out)[k++] = (*out)[i];
    *n = k;
    return TC_OK;
}

/* colour_of — object p's colour (held, world stopped; the top says why). */
static tc_color colour_of(tc_heap *h, uintptr_t p, int phase, const uintptr_t *grey, size_t ngrey)
{
    if (phase == PHASE_OFF)
        return TC_WHITE;
    arena *a = arena_of(p);
    if (phase == PHASE_SWEEP && atomic_load(&span_of(a, p)->sweepgen) == atomic_load(&h->sweepgen))
        return TC_BLACK; /* swept already, and still allocated: it survived */
    if (mark_test(a, p) || bit_test(a->blackbits, a, p))
        return TC_BLACK;
    if (phase == PHASE_MARK && ngrey && bsearch(&p, grey, ngrey, sizeof *grey, cmp_addr))
        return TC_GREY;
    return TC_WHITE;
}

static _Thread_local uint64_t look_t0; /* when this thread's look_begin began to stop the world */

/* look_begin — hold the heap and stop the world; obj (if any) checked. */
static tc_status look_begin(tc_heap *h, const char *what, tc_root *r, uintptr_t *p, void **tok)
{
    tc_status st = TC_OK;
    if (r && (st = inspect_obj_arg(h, r, p)) != TC_OK)
        return st;
    if ((st = hold_begin(h, what, false, tok)) != TC_OK)
        return st;
    if (atomic_load(&h->closed))
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    else if (r && tc_root_freed(r))
        st = tc_fail(TC_ERR_FREED, "the object was freed with unsafe.free");
    else if (r && !is_object(arena_of(*p), *p)) /* a handle the mark never saw: barrier="none" */
        st = tc_fail(TC_ERR_FREED, "the object was freed by a sweep while this handle named it "
                     "(a lost object: barrier=\"none\")");
    if (st != TC_OK) {
        hold_end(h, *tok);
        return st;
    }
    look_t0 = world_stop(h, NULL); /* from the request, as cycle.c's pauses */
    if (h->incr_ctx) /* an incremental cycle's marker between slices: its work into the grey set */
        mark_flush(h->incr_ctx);
    TC_CHECK(check_mid_mark(h)); /* debug builds: a look mid-mark checks the strong invariant (check.c) */
    return TC_OK;
}

/* look_end — start the world again; the pause is one the program's other
 * threads wait out, so it counts as mutator delay (not as a GC pause: the
 * program asked for it, as for the why-alive calls: inspect.c). */
static void look_end(tc_heap *h, void *tok)
{
    world_start(h);
    ev_record(h, EV_PAUSE, look_t0, plat_now_ns(), 0);
    hold_end(h, tok);
}

tc_status tc_obj_color(tc_heap *h, tc_root *obj, tc_color *out)
{
    void *tok;
    uintptr_t p = 0, *grey = NULL;
    size_t ngrey = 0;
    tc_status st = look_begin(h, "color", obj, &p, &tok);
    if (st != TC_OK)
        return st;
    int phase = atomic_load(&h->phase);
    if (phase != PHASE_MARK || (st = grey_set(h, &grey, &ngrey)) == TC_OK)
        *out = colour_of(h, p, phase, grey, ngrey);
    look_end(h, tok);
    free(grey);
    return st;
}

/* ---- the snapshot ------------------------------------------------------------- */

typedef struct snapb {
    tc_heap *h;
    tc_snapshot *s;
    int phase;
    const uintptr_t *grey;
    size_t ngrey;
    size_t cap_obj, cap_col, cap_edge, cap_root, cap_grey; /* inspect_grow's capacities */
} snapb;

static bool snap_object(snapb *b, uintptr_t p)
{
    tc_snapshot *s = b->s;
    const tc_obj *o = (const tc_obj *)p;
    if (!inspect_grow(&s->objects, &b->cap_obj, s->nobjects + 1, sizeof *s->objects) ||
        !inspect_grow(&s->colors, &b->cap_col, s->nobjects + 1, sizeof *s->colors))
        return false;
    uint64_t id = tc_obj_id(o);
    tc_color c = colour_of(b->h, p, b->phase, b->grey, b->ngrey);
    s->objects[s->nobjects] = id;
    s->colors[s->nobjects++] = (uint8_t)c;
    if (c == TC_GREY) {
        if (!inspect_grow(&s->grey, &b->cap_grey, s->ngrey + 1, sizeof *s->grey))
            return false;
        s->grey[s->ngrey++] = id;
    }
    for (uint32_t j = 0; j < obj_nslots(o); j++) {
        if ((atomic_load_explicit(&obj_tags(o)[j], memory_order_relaxed) & TAG_KIND) != TC_REF)
            continue;
        if (!inspect_grow(&s->edges, &b->cap_edge, s->nedges + 1, sizeof *s->edges))
            return false;
        uintptr_t q = (uintptr_t)atomic_load_explicit(&obj_words(o)[j], memory_order_relaxed);
        s->edges[s->nedges++] = (tc_snap_edge){id, tc_obj_id((const tc_obj *)q), j};
    }
    return true;
}

/* snap_list — every allocated object of the spans on list k (h->lock held). */
static bool snap_list(snapb *b, span *k)
{
    for (span *sp = k; sp; sp = sp->next) {
        arena *a = arena_of(sp->base);
        size_t e = sp->sizeclass ? sp->elemsize : (size_t)sp->npages << TC_PAGE_SHIFT;
        for (uint32_t i = 0; i < sp->nelems; i++) {
            uintptr_t p = sp->base + i * e;
            if (alloc_test(a, p) && !obj_freed((const tc_obj *)p) && !snap_object(b, p))
                return false;
        }
    }
    return true;
}

/* snap_objects — every span list that holds in-use spans in this phase
 * (the unswept ones only in the sweep phase). */
static bool snap_objects(snapb *b)
{
    tc_heap *h = b->h;
    bool ok = true;
    pthread_mutex_lock(&h->lock);
    for (int c = 1; c < sc_count && ok; c++)
        ok = snap_list(b, h->partial[c]) && snap_list(b, h->full[c]) &&
             (b->phase != PHASE_SWEEP || (snap_list(b, h->unswept_p[c]) && snap_list(b, h->unswept_f[c])));
    ok = ok && snap_list(b, h->large) && (b->phase != PHASE_SWEEP || snap_list(b, h->unswept_large));
    pthread_mutex_unlock(&h->lock);
    return ok;
}

static bool snap_root(snapb *b, uintptr_t p, tc_root_kind kind)
{
    tc_snapshot *s = b->s;
    if (!inspect_grow(&s->roots, &b->cap_root, s->nroots + 1, sizeof *s->roots))
        return false;
    s->roots[s->nroots++] = (tc_snap_root){tc_obj_id((const tc_obj *)p), kind};
    return true;
}

static bool snap_visit(void *b, uintptr_t p, const tc_root *slot, tc_root_kind kind)
{
    (void)slot;
    return snap_root(b, p, kind);
}

/* snap_roots — handles, locals, objects with a finalizer (world stopped). */
static bool snap_roots(snapb *b) { return roots_each(b->h, snap_visit, b); }

void tc_snapshot_free(tc_snapshot *s)
{
    if (!s)
        return;
    free(s->objects);
    free(s->colors);
    free(s->edges);
    free(s->roots);
    free(s->grey);
    free(s);
}

tc_status tc_heap_snapshot(tc_heap *h, tc_snapshot **out)
{
    void *tok;
    uintptr_t *grey = NULL;
    *out = NULL;
    tc_snapshot *s = inspect_alloc(1, sizeof *s);
    if (!s)
        return inspect_nomem();
    snapb b = {.h = h, .s = s};
    tc_status st = look_begin(h, "snapshot", NULL, NULL, &tok);
    if (st != TC_OK) {
        tc_snapshot_free(s);
        return st;
    }
    s->phase = b.phase = atomic_load(&h->phase);
    if (b.phase != PHASE_MARK || (st = grey_set(h, &grey, &b.ngrey)) == TC_OK) {
        b.grey = grey;
        if (!snap_objects(&b) || !snap_roots(&b))
            st = inspect_nomem();
    }
    look_end(h, tok);
    free(grey);
    if (st != TC_OK)
        tc_snapshot_free(s);
    else
        *out = s;
    return st;
}
