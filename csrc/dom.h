/*
 * dom.h — dominators of a flow graph (dom.c): pure functions over arrays of
 * node numbers, no heap, no threads. inspect.c builds a dom_graph from a
 * snapshot of the heap to answer retained(); tests/c build their own.
 *
 * A node d dominates v when every path from the root to v passes through
 * d; the immediate dominator of v is its closest strict dominator, and
 * idom edges form the dominator tree.
 *
 * Invariants of a dom_graph: nodes are 0..n-1; the root is virtual (not a
 * node) and its successors are seeds[0..nseeds); node k's successors are
 * succ[off[k] .. off[k+1]), off non-decreasing, every entry < n
 * (duplicates allowed). Seeds may repeat.
 *
 * Invariants of a preorder graph (dom_idom's input): vertices are 0..n-1,
 * numbered in the order a depth-first search from vertex 0 first reached
 * them, so parent[v] < v for v > 0 (parent[0] is ignored); pred[pred_off[v]
 * .. pred_off[v+1]) lists every u with an edge u -> v (duplicates allowed),
 * parent[v] included. Then idom[v] < v for v > 0.
 */
#ifndef TC_DOM_H
#define TC_DOM_H
#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

typedef struct dom_graph {
    uint32_t n;
    const uint32_t *off;   /* n + 1 entries */
    const uint32_t *succ;
    const uint32_t *seeds; /* the virtual root's successors */
    size_t nseeds;
} dom_graph;

/* dom_idom — the immediate dominator of every vertex of a preorder graph
 * (idom[0] = 0). Scratch: 7 words per vertex; TC_ERR_NOMEM leaves idom
 * undefined. */
tc_status dom_idom(uint32_t n, const uint32_t *parent, const uint32_t *pred_off, const uint32_t *pred,
                   uint32_t *idom);

/* dom_subtree — each(ud, k) for every node k that seeds[0] dominates from
 * the virtual root (seeds[0] first, then in depth-first preorder): what
 * would become unreachable without it. TC_ERR_VALUE if seeds[0] is not a
 * node; TC_ERR_NOMEM. About 10 words per reachable node and one per edge. */
tc_status dom_subtree(const dom_graph *g, void (*each)(void *ud, uint32_t node), void *ud);
#pragma GCC visibility pop
#endif
