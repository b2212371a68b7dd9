/*
 * dom.c — dominators: which nodes of a graph every path from its root goes
 * through. inspect.c asks it for retained sizes; it knows nothing of heaps
 * (a dom_graph is arrays of node numbers), so tests check it against brute
 * force on graphs of their own. Its side tables come from inspect_alloc, so
 * inspect.c's out-of-memory test hook reaches them too.
 *
 * The algorithm is Lengauer and Tarjan's ("A fast algorithm for finding
 * dominators in a flowgraph", 1979), the simple version: path compression
 * without balancing, O(m log n). In outline, over vertices numbered in
 * depth-first preorder from the root:
 *   1. number the vertices (dfs_number) and list each one's predecessors
 *      (dfs_preds);
 *   2. in reverse preorder, the semidominator of w is the least of: each
 *      predecessor that precedes w, and semi(eval(u)) for each predecessor
 *      u that follows it, where eval(u) is the vertex of least semi on the
 *      path of processed ancestors from u (a forest kept with link and a
 *      path-compressing eval);
 *   3. w joins its semidominator's bucket; when w's parent p is linked,
 *      each v in p's bucket gets idom(v) = p if semi(eval(v)) = semi(v),
 *      else eval(v), to be resolved in
 *   4. preorder: idom(w) = idom(idom(w)) where it was deferred.
 * Everything is iterative: a list of a million objects is a million deep.
 * A dominator precedes what it dominates in preorder (it is a search-tree
 * ancestor), so a subtree is one forward pass over idom (dom_subtree).
 */
#include <stdlib.h>
#include <string.h>

#include "dom.h"
#include "heap.h" /* tc_fail only */
#include "inspect.h"

#define NONE UINT32_MAX

/* The reachable part of a dom_graph in depth-first preorder (vertex 0: the
 * virtual root), with predecessor lists: dom_idom's input. */
typedef struct idfs {
    uint32_t nv;
    uint32_t *vert;   /* per node: its vertex, NONE if unreachable */
    uint32_t *num;    /* per vertex: its node */
    uint32_t *parent; /* per vertex */
    uint32_t *poff, *pred;
} idfs;

static void dfs_free(idfs *d)
{
    free(d->vert);
    free(d->num);
    free(d->parent);
    free(d->poff);
    free(d->pred);
    memset(d, 0, sizeof *d);
}

typedef struct dframe {
    uint32_t n, next, v; /* node, its next successor's index in succ, vertex */
} dframe;

/* dfs_number — the preorder of everything the seeds reach (iterative: a
 * path may be as long as the graph). */
static tc_status dfs_number(idfs *d, const dom_graph *g)
{
    d->vert = inspect_alloc(g->n, sizeof *d->vert);
    d->num = inspect_alloc((size_t)g->n + 1, sizeof *d->num);
    d->parent = inspect_alloc((size_t)g->n + 1, sizeof *d->parent);
    dframe *st = NULL;
    size_t depth = 0, cap = 0;
    bool ok = d->vert && d->num && d->parent;
    if (ok)
        memset(d->vert, 0xff, (g->n ? g->n : 1) * sizeof *d->vert);
    d->nv = 1;
    for (size_t i = 0; i < g->nseeds && ok; i++) {
        uint32_t n = g->seeds[i], u = 0;
        for (;;) {
            if (n != NONE && d->vert[n] == NONE) { /* new: number it and go down */
                if (!(ok = inspect_grow(&st, &cap, depth + 1, sizeof *st)))
                    break;
                d->vert[n] = d->nv;
                d->num[d->nv] = n;
                d->parent[d->nv] = u;
                st[depth++] = (dframe){n, g->off[n], d->nv++};
            }
            while (depth && st[depth - 1].next == g->off[st[depth - 1].n + 1])
                depth--;
            if (!depth)
                break;
            n = g->succ[st[depth - 1].next++];
            u = st[depth - 1].v;
        }
    }
    free(st);
    return ok ? TC_OK : inspect_nomem();
}

/* dfs_preds — predecessor lists over the vertices: the virtual root before
 * each seed, each vertex before its successors. */
static tc_status dfs_preds(idfs *d, const dom_graph *g)
{
    size_t total = g->nseeds;
    for (uint32_t v = 1; v < d->nv; v++)
        total += g->off[d->num[v] + 1] - g->off[d->num[v]];
    if (total >= UINT32_MAX)
        return inspect_nomem();
    d->poff = inspect_alloc((size_t)d->nv + 1, sizeof *d->poff);
    d->pred = inspect_alloc(total, sizeof *d->pred);
    if (!d->poff || !d->pred)
        return inspect_nomem();
    for (int pass = 0; pass < 2; pass++) { /* counts, then entries; poff[v] walks to v's end */
        for (size_t i = 0; i < g->nseeds; i++) {
            uint32_t w = g->seeds[i] == NONE ? NONE : d->vert[g->seeds[i]];
            if (w != NONE && pass == 0)
                d->poff[w + 1]++;
            else if (w != NONE)
                d->pred[d->poff[w]++] = 0;
        }
        for (uint32_t v = 1; v < d->nv; v++)
            for (uint32_t k = g->off[d->num[v]]; k < g->off[d->num[v] + 1]; k++) {
                uint32_t w = d->vert[g->succ[k]];
                if (pass == 0)
                    d->poff[w + 1]++;
                else
                    d->pred[d->poff[w]++] = v;
            }
        if (pass == 0)
            for (uint32_t v = 0; v < d->nv; v++)
                d->poff[v + 1] += d->poff[v];
    }
    for (uint32_t v = d->nv; v > 0; v--) /* back to the starts */
        d->poff[v] = d->poff[v - 1];
    d->poff[0] = 0;
    return TC_OK;
}

/* ---- dominators: Lengauer and Tarjan ------------------------------------------------ */

/* A vertex's forest state, in one 16-byte record: eval's path compression
 * touches a vertex and its ancestor, and one cache miss per step beats three.
 * lsemi caches semi[label]: a vertex is linked into the forest only after its
 * semidominator is final, and labels are linked vertices, so it never goes
 * stale. */
typedef struct ltv {
    uint32_t anc;   /* forest parent, NONE for a tree root (not linked yet) */
    uint32_t label; /* a vertex of least semi on the compressed path */
    uint32_t semi;  /* semidominator (a preorder number) */
    uint32_t lsemi; /* semi[label] */
} ltv;

typedef struct lt {
    ltv *v;
    uint32_t *bhead, *bnext; /* buckets: the vertices whose semi is a given vertex */
    uint32_t *stk;           /* compress's path */
} lt;

/* lt_compress — compress v's path in the forest (v is linked) so that
 * v's label has the least semi of the path below the tree's root;
 * iterative: a path may be as long as the graph. */
static void lt_compress(lt *t, uint32_t v)
{
    ltv *x = t->v;
    size_t k = 0;
    for (uint32_t y = v; x[x[y].anc].anc != NONE; y = x[y].anc)
        t->stk[k++] = y;
    while (k) { /* nearest the tree's root first, as the recursion would */
        uint32_t y = t->stk[--k], a = x[y].anc;
        if (x[a].lsemi < x[y].lsemi) {
            x[y].lsemi = x[a].lsemi;
            x[y].label = x[a].label;
        }
        x[y].anc = x[a].anc;
    }
}

/* lt_step — semi[w], then the implicit immediate dominators of the bucket
 * of w's parent (steps 2 and 3 of the algorithm, for one w). */
static void lt_step(lt *t, uint32_t w, const uint32_t *parent, const uint32_t *pred_off, const uint32_t *pred,
                    uint32_t *idom)
{
    ltv *x = t->v;
    uint32_t semi = x[w].semi;
    for (uint32_t k = pred_off[w]; k < pred_off[w + 1]; k++) {
        uint32_t u = pred[k], s = x[u].semi; /* not linked yet: eval(u) = u */
        if (x[u].anc != NONE) {
            lt_compress(t, u);
            s = x[u].lsemi;
        }
        if (s < semi)
            semi = s;
    }
    x[w].semi = x[w].lsemi = semi;
    t->bnext[w] = t->bhead[semi];
    t->bhead[semi] = w;
    uint32_t p = parent[w];
    x[w].anc = p; /* link */
    for (uint32_t v = t->bhead[p]; v != NONE; v = t->bnext[v]) {
        lt_compress(t, v);
        idom[v] = x[v].lsemi < x[v].semi ? x[v].label : p;
    }
    t->bhead[p] = NONE;
}

tc_status dom_idom(uint32_t n, const uint32_t *parent, const uint32_t *pred_off, const uint32_t *pred,
                       uint32_t *idom)
{
    if (n == 0)
        return TC_OK;
    lt t = {inspect_alloc(n, sizeof *t.v), inspect_alloc(n, sizeof(uint32_t)), inspect_alloc(n, sizeof(uint32_t)),
            inspect_alloc(n, sizeof(uint32_t))};
    bool ok = t.v && t.bhead && t.bnext && t.stk;
    if (ok) {
        for (uint32_t v = 0; v < n; v++) {
            t.v[v] = (ltv){NONE, v, v, v};
            t.bhead[v] = NONE;
        }
        idom[0] = 0;
        for (uint32_t w = n - 1; w >= 1; w--)
            lt_step(&t, w, parent, pred_off, pred, idom);
        for (uint32_t w = 1; w < n; w++) /* step 4: the deferred ones, in preorder */
            if (idom[w] != t.v[w].semi)
                idom[w] = idom[idom[w]];
    }
    free(t.v);
    free(t.bhead);
    free(t.bnext);
    free(t.stk);
    return ok ? TC_OK : inspect_nomem();
}

/* dom_subtree — the nodes the first seed dominates from the virtual root
 * (itself first): each(ud, node) for each. */
tc_status dom_subtree(const dom_graph *g, void (*each)(void *ud, uint32_t node), void *ud)
{
    idfs d = {0};
    uint32_t *idom = NULL;
    if (!g->nseeds || g->seeds[0] >= g->n)
        return tc_fail(TC_ERR_VALUE, "the first seed is not a node of the graph");
    tc_status st = dfs_number(&d, g);
    if (st == TC_OK)
        st = dfs_preds(&d, g);
    free(d.vert);
    d.vert = NULL;
    if (st == TC_OK && !(idom = inspect_alloc(d.nv, sizeof *idom)))
        st = inspect_nomem();
    if (st == TC_OK)
        st = dom_idom(d.nv, d.parent, d.poff, d.pred, idom);
    if (st == TC_OK) {
        uint8_t *in = (uint8_t *)d.poff; /* reused: one flag per vertex */
        memset(in, 0, d.nv);
        in[1] = 1; /* the first seed was numbered first */
        each(ud, d.num[1]);
        for (uint32_t v = 2; v < d.nv; v++) /* idom[v] < v: one forward pass */
            if ((in[v] = in[idom[v]]))
                each(ud, d.num[v]);
    }
    free(idom);
    dfs_free(&d);
    return st;
}
