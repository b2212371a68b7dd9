/*
 * mmu.c — minimum mutator utilization (Cheng & Blelloch, PLDI 2001) and
 * bounded MMU, computed exactly from GC intervals. Go's internal/trace MMU
 * code (bands refined in order of a lower bound) was the reference; this
 * visits the candidate windows directly, in integer arithmetic, and adds
 * BMU and the attribution by kind (a TODO in Go's tool).
 *
 * The model. The program is one stream of time: over the run [S, E] (length
 * L = E - S), an instant is GC time if any interval covers it (the union U
 * of the intervals, clipped to the run). So two threads' overlapping assists
 * count once, and a pause nested in a slice counts once. One 1 ms pause in a
 * 10 ms run: every 1 ms window containing it is all GC (mmu 0), the one
 * 10 ms window is 9/10 mutator (mmu 0.9). Attribution (by_kind): an instant
 * of U belongs to the first kind in tc_gc_kind order (pause, assist, slice,
 * sweep, limit_wait) among the intervals covering it, so by_kind partitions
 * the window's GC time and sums to it exactly.
 *
 * Definitions. g(t) = 1 on U, else 0; G(t) = |U ∩ [S, t)|, the GC time
 * before t: continuous, non-decreasing, slope g. For a window length w <= L,
 *     f(t) = G(t + w) - G(t)      (GC ns in [t, t + w)),  t in [S, E - w],
 *     mmu(w) = 1 - max f / w,
 *     bmu(w) = inf over w' >= w of mmu(w')  (non-decreasing in w, <= mmu).
 * A window longer than the run is the whole run (mmu(w) = mmu(L) for
 * w >= L, as Go clamps); an empty run (L = 0) has mmu = bmu = 1.
 *
 * Where max f lies (MMU). f is continuous and piecewise linear; its one-sided
 * slopes are f'(t+) = g((t+w)+) - g(t+) and f'(t-) = g((t+w)-) - g(t-),
 * integers in {-1, 0, 1}. Let t* be the smallest maximizer. If t* > S, f is
 * strictly smaller just left of t* (t* is the smallest, f is piecewise
 * linear), so f'(t*-) = 1: g(t*-) = 0 and g((t*+w)-) = 1. If also t* < E - w,
 * f'(t*+) <= 0: either g(t*+) = 1, and t* is a start of a component of U,
 * or g(t*+) = 0, so g((t*+w)+) = 0 and t* + w is an end of one. Hence
 *     t* in {S, E - w} ∪ {starts} ∪ {ends - w},
 * and the smallest candidate with the largest f is t* itself: the reported
 * worst window is the earliest one. Extra candidates (the starts and ends of
 * attribution segments inside U) are harmless: they are points of [S, E-w].
 * Each candidate costs O(1) with cursors that only move forward.
 *
 * Where the infimum lies (BMU). bmu(w) = 1 - sup R over the compact set
 * {(x, y): S <= x, y <= E, y - x >= w}, with R(x, y) = (G(y) - G(x))/(y - x)
 * continuous (y - x >= w > 0), so a maximizer (x*, y*) exists; let R* be its
 * value. If y* - x* = w, R* = max f / w. If R* = 0 or 1, so is max f / w
 * (a longer window that is all GC contains a window of length w that is all
 * GC). Otherwise 0 < R* < 1 and y* - x* > w, so x and y can each move a
 * little both ways (within [S, E]). dR/dx = (R - g(x))/(y - x): moving x
 * right must not raise R, so g(x*+) = 1 (g(x*+) = 0 would need R* <= 0);
 * moving it left (if x* > S) must not either, so g(x*-) = 0 (else R* >= 1).
 * So x* = S or x* is a start of U; symmetrically (dR/dy = (g(y) - R)/(y - x))
 * y* = E or y* is an end of U. Hence
 *     sup R = max(max f / w, max over x in X, y in Y, y - x >= w of R(x, y)),
 * X = {S} ∪ {starts}, Y = {ends} ∪ {E}, and both terms are attained by
 * feasible windows, so this is exact. The second term is a maximum-density
 * segment problem: R(x, y) is the slope from P = (x, G(x)) to Q = (y, G(y)).
 * Taking each y in increasing order, the points with x <= y - w are added in
 * increasing x to a lower convex hull (monotone chain); the steepest slope
 * from the hull to Q, which lies right of every hull point, is at the tangent
 * vertex. The hull's edge lines, evaluated at Q's x, rise with the edge index
 * (edge slopes increase and Q is right of both ends of every edge), so "Q
 * strictly above edge j's line" holds for a prefix of the edges and a binary
 * search finds the tangent: O(log n) per y, O(n log n) per window.
 *
 * Exactness. Times and GC amounts are integers (ns); comparisons of slopes
 * use 128-bit cross products. Only the final 1 - gc/len is a double, and as
 * IEEE division and subtraction round correctly (hence monotonically), equal
 * ratios give equal doubles and bmu <= mmu holds in floating point too.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "mmu.h"

typedef __int128 i128;

static const char *const kind_names[TC_GC_KIND_COUNT] = {"pause", "assist", "slice", "sweep", "limit_wait"};

const char *tc_gc_kind_name(tc_gc_kind k)
{
    return (unsigned)k < TC_GC_KIND_COUNT ? kind_names[k] : "?";
}

tc_status tc_gc_kind_parse(const char *name, tc_gc_kind *out)
{
    if (!name)
        return tc_fail(TC_ERR_TYPE, "kind must be a string");
    for (int k = 0; k < TC_GC_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (tc_gc_kind)k;
            return TC_OK;
        }
    return tc_fail(TC_ERR_VALUE,
                   "kind must be \"pause\", \"assist\", \"slice\", \"sweep\" or \"limit_wait\", not \"%.64s\"", name);
}

tc_status tc_interval_check(const tc_interval *iv)
{
    if (iv->start_ns < 0)
        return tc_fail(TC_ERR_VALUE, "start_ns (%lld) must be >= 0", (long long)iv->start_ns);
    if (iv->end_ns < iv->start_ns)
        return tc_fail(TC_ERR_VALUE, "end_ns (%lld) is before start_ns (%lld)", (long long)iv->end_ns,
                       (long long)iv->start_ns);
    if ((unsigned)iv->kind >= TC_GC_KIND_COUNT)
        return tc_fail(TC_ERR_VALUE, "kind %d is not a GC kind", (int)iv->kind);
    return TC_OK;
}

tc_status tc_mmu_window_ns(double seconds, int64_t *ns)
{
    if (isnan(seconds))
        return tc_fail(TC_ERR_VALUE, "a window must be a positive, finite number of seconds, not NaN");
    if (!(seconds > 0) || isinf(seconds))
        return tc_fail(TC_ERR_VALUE, "a window must be a positive, finite number of seconds, not %g", seconds);
    double x = seconds * 1e9;
    int64_t v = x >= 0x1p63 ? INT64_MAX : llround(x);
    *ns = v < 1 ? 1 : v;
    return TC_OK;
}

/* ---- preparing a run: union and attribution ------------------------------- */

typedef struct edge {
    int64_t t;
    int32_t kind, delta; /* +1 an interval of `kind` opens at t, -1 one closes */
} edge;

static int edge_cmp(const void *a, const void *b)
{
    int64_t x = ((const edge *)a)->t, y = ((const edge *)b)->t;
    return (x > y) - (x < y);
}

/* run_bounds — the run: the given bounds, a missing one from the span. */
static tc_status run_bounds(const tc_interval *iv, size_t n, const int64_t *start, const int64_t *end, mmu_run *r)
{
    int64_t lo = INT64_MAX, hi = -1;
    for (size_t i = 0; i < n; i++) {
        lo = iv[i].start_ns < lo ? iv[i].start_ns : lo;
        hi = iv[i].end_ns > hi ? iv[i].end_ns : hi;
    }
    if (start && *start < 0)
        return tc_fail(TC_ERR_VALUE, "start_ns (%lld) must be >= 0", (long long)*start);
    if (end && *end < 0)
        return tc_fail(TC_ERR_VALUE, "end_ns (%lld) must be >= 0", (long long)*end);
    r->start = start ? *start : end && *end < lo ? *end : n ? lo : 0;
    r->end = end ? *end : hi > r->start ? hi : r->start;
    if (r->start > r->end)
        return tc_fail(TC_ERR_VALUE, "start_ns (%lld) is after end_ns (%lld)", (long long)r->start,
                       (long long)r->end);
    return TC_OK;
}

/* make_edges — two edges per interval clipped to [s, e], empty ones dropped;
 * sorted by time. *ne = how many. */
static edge *make_edges(const tc_interval *iv, size_t n, int64_t s, int64_t e, size_t *ne)
{
    edge *ev = plat_malloc((2 * n + 1) * sizeof *ev);
    if (!ev)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t a = iv[i].start_ns > s ? iv[i].start_ns : s, b = iv[i].end_ns < e ? iv[i].end_ns : e;
        if (a >= b)
            continue;
        ev[k++] = (edge){a, (int32_t)iv[i].kind, 1};
        ev[k++] = (edge){b, (int32_t)iv[i].kind, -1};
    }
    qsort(ev, k, sizeof *ev, edge_cmp);
    *ne = k;
    return ev;
}

/* emit — append [a, b) of `kind`, merged into the last segment when they
 * touch and share the kind (the invariant in mmu.h). */
static void emit(mmu_run *r, int64_t a, int64_t b, tc_gc_kind kind)
{
    mmu_seg *last = r->n ? &r->seg[r->n - 1] : NULL;
    if (last && last->end == a && last->kind == kind)
        last->end = b;
    else
        r->seg[r->n++] = (mmu_seg){a, b, r->total, kind};
    r->total += (uint64_t)(b - a);
}

/* sweep — walk the sorted edges keeping a count of open intervals per kind;
 * between two edge times the first kind with an open interval owns the time. */
static void sweep(mmu_run *r, const edge *ev, size_t ne)
{
    ptrdiff_t open[TC_GC_KIND_COUNT] = {0};
    int64_t prev = 0;
    for (size_t i = 0; i < ne;) {
        int64_t t = ev[i].t;
        int k = 0;
        while (k < TC_GC_KIND_COUNT && open[k] == 0)
            k++;
        if (k < TC_GC_KIND_COUNT && t > prev)
            emit(r, prev, t, (tc_gc_kind)k);
        for (; i < ne && ev[i].t == t; i++)
            open[ev[i].kind] += ev[i].delta;
        prev = t;
    }
}

tc_status mmu_run_init(mmu_run *r, const tc_interval *iv, size_t n, const int64_t *start, const int64_t *end)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++)
        if (tc_interval_check(&iv[i]) != TC_OK)
            return tc_fail(TC_ERR_VALUE, "interval %zu: %s", i, tc_errmsg());
    tc_status st = run_bounds(iv, n, start, end, r);
    if (st != TC_OK)
        return st;
    size_t ne = 0;
    edge *ev = make_edges(iv, n, r->start, r->end, &ne);
    r->seg = plat_malloc((ne + 1) * sizeof *r->seg); /* at most ne - 1 segments */
    if (!ev || !r->seg) {
        free(ev);
        free(r->seg);
        r->seg = NULL;
        return tc_fail(TC_ERR_NOMEM, "no memory for %zu intervals", n);
    }
    sweep(r, ev, ne);
    free(ev);
    mmu_seg *shrunk = plat_realloc(r->seg, (r->n + 1) * sizeof *r->seg);
    r->seg = shrunk ? shrunk : r->seg;
    r->hull = plat_malloc((r->n + 1) * sizeof *r->hull);
    if (!r->hull) {
        mmu_run_free(r);
        return tc_fail(TC_ERR_NOMEM, "no memory for %zu intervals", n);
    }
    return TC_OK;
}

void mmu_run_free(mmu_run *r)
{
    free(r->seg);
    free(r->hull);
    memset(r, 0, sizeof *r);
}

/* ---- GC time before t ---------------------------------------------------- */

/* gc_in_seg — G(t) given i = the number of segments starting at or before t. */
static uint64_t gc_in_seg(const mmu_run *r, size_t i, int64_t t)
{
    if (i == 0)
        return 0;
    const mmu_seg *s = &r->seg[i - 1];
    return s->before + (uint64_t)((t < s->end ? t : s->end) - s->start);
}

/* count_upto — how many segments have their start (by_end: their end) at
 * or before t; they are sorted by both. Binary search. */
static size_t count_upto(const mmu_run *r, int64_t t, bool by_end)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((by_end ? r->seg[mid].end : r->seg[mid].start) <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* gc_at — G(t) by binary search. */
static uint64_t gc_at(const mmu_run *r, int64_t t) { return gc_in_seg(r, count_upto(r, t, false), t); }

/* gc_cursor — G(t) for t that never decreases between calls with one cursor
 * (*cur starts at 0): amortized O(1). */
static uint64_t gc_cursor(const mmu_run *r, size_t *cur, int64_t t)
{
    size_t i = *cur;
    while (i < r->n && r->seg[i].start <= t)
        i++;
    *cur = i;
    return gc_in_seg(r, i, t);
}

uint64_t mmu_run_gc(const mmu_run *r, int64_t a, int64_t b) { return gc_at(r, b) - gc_at(r, a); }

/* ---- the worst window of length w (MMU) ------------------------------------ */

typedef struct worst {
    int64_t t;   /* earliest start seen with the most GC */
    uint64_t gc; /* its GC ns */
} worst;

static void consider(worst *best, int64_t t, uint64_t gc)
{
    if (gc > best->gc || (gc == best->gc && t < best->t)) {
        best->t = t;
        best->gc = gc;
    }
}

/* worst_window — max f over the candidates of the header's proof. */
static worst worst_window(const mmu_run *r, int64_t w)
{
    int64_t lim = r->end - w;
    worst best = {r->start, gc_at(r, r->start + w)};
    consider(&best, lim, gc_at(r, r->end) - gc_at(r, lim));
    size_t cur = 0;
    for (size_t i = 0; i < r->n && r->seg[i].start <= lim; i++) /* left edge at a start */
        consider(&best, r->seg[i].start, gc_cursor(r, &cur, r->seg[i].start + w) - r->seg[i].before);
    cur = 0;
    for (size_t j = 0; j < r->n; j++) { /* right edge at an end */
        const mmu_seg *s = &r->seg[j];
        int64_t t = s->end - w;
        if (t < r->start)
            continue;
        if (t > lim)
            break;
        consider(&best, t, s->before + (uint64_t)(s->end - s->start) - gc_cursor(r, &cur, t));
    }
    return best;
}

/* ---- the densest window of length >= w (BMU) ------------------------------- */

/* cross — (b - a) x (c - a): > 0 when c is strictly above the line a→b
 * (a.x < b.x). Exact: each product is below 2^126. */
static i128 cross(mmu_pt a, mmu_pt b, mmu_pt c)
{
    return (i128)(b.x - a.x) * (i128)(c.g - a.g) - (i128)(b.g - a.g) * (i128)(c.x - a.x);
}

static void hull_push(mmu_pt *h, size_t *k, mmu_pt p)
{
    if (*k && h[*k - 1].x == p.x)
        return; /* the run start is also the first segment's start */
    while (*k >= 2 && cross(h[*k - 2], h[*k - 1], p) <= 0)
        (*k)--;
    h[(*k)++] = p;
}

/* tangent — the hull vertex with the steepest slope to q (q right of all). */
static size_t tangent(const mmu_pt *h, size_t k, mmu_pt q)
{
    size_t lo = 0, hi = k - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cross(h[mid], h[mid + 1], q) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* x_point, y_point — X = {S, starts}, Y = {ends, E} as points (x, G(x)). */
static mmu_pt x_point(const mmu_run *r, size_t i)
{
    return i == 0 ? (mmu_pt){r->start, 0} : (mmu_pt){r->seg[i - 1].start, r->seg[i - 1].before};
}

static mmu_pt y_point(const mmu_run *r, size_t j)
{
    if (j == r->n)
        return (mmu_pt){r->end, r->total};
    return (mmu_pt){r->seg[j].end, r->seg[j].before + (uint64_t)(r->seg[j].end - r->seg[j].start)};
}

/* densest — raise (*g, *len) to the densest X×Y window of length >= w. */
static void densest(mmu_run *r, int64_t w, uint64_t *g, uint64_t *len)
{
    size_t k = 0, xi = 0;
    for (size_t j = 0; j <= r->n; j++) {
        mmu_pt q = y_point(r, j);
        for (; xi <= r->n && x_point(r, xi).x <= q.x - w; xi++)
            hull_push(r->hull, &k, x_point(r, xi));
        if (!k)
            continue;
        mmu_pt p = r->hull[tangent(r->hull, k, q)];
        uint64_t pg = q.g - p.g, pl = (uint64_t)(q.x - p.x);
        if ((unsigned __int128)pg * *len > (unsigned __int128)*g * pl) {
            *g = pg;
            *len = pl;
        }
    }
}

/* window_kinds — by_kind of [a, b): the segments' overlaps, by kind. */
static void window_kinds(const mmu_run *r, int64_t a, int64_t b, uint64_t by[TC_GC_KIND_COUNT])
{
    for (size_t i = count_upto(r, a, true); i < r->n && r->seg[i].start < b; i++) {
        int64_t s = r->seg[i].start > a ? r->seg[i].start : a, e = r->seg[i].end < b ? r->seg[i].end : b;
        by[r->seg[i].kind] += (uint64_t)(e - s);
    }
}

void mmu_run_window(mmu_run *r, int64_t w, tc_mmu_point *out)
{
    int64_t len = r->end - r->start;
    memset(out, 0, sizeof *out);
    out->window_ns = w;
    out->worst_start_ns = r->start;
    out->mmu = out->bmu = 1.0;
    if (len == 0)
        return;
    if (w < len)
        len = w;
    out->length_ns = len;
    worst best = worst_window(r, len);
    out->worst_start_ns = best.t;
    out->mmu = 1.0 - (double)best.gc / (double)len;
    uint64_t g = best.gc, l = (uint64_t)len;
    densest(r, len, &g, &l);
    out->bmu = 1.0 - (double)g / (double)l;
    window_kinds(r, best.t, best.t + len, out->by_kind_ns);
}

tc_status tc_mmu(const tc_interval *iv, size_t n, const int64_t *run_start, const int64_t *run_end,
                 const int64_t *windows_ns, size_t nw, tc_mmu_point *out)
{
    for (size_t i = 0; i < nw; i++)
        if (windows_ns[i] < 1)
            return tc_fail(TC_ERR_VALUE, "window %zu: %lld ns is not a positive length", i, (long long)windows_ns[i]);
    mmu_run r;
    tc_status st = mmu_run_init(&r, iv, n, run_start, run_end);
    if (st != TC_OK)
        return st;
    for (size_t i = 0; i < nw; i++)
        mmu_run_window(&r, windows_ns[i], &out[i]);
    mmu_run_free(&r);
    return TC_OK;
}
