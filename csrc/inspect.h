/*
 * inspect.h — why an object is alive (inspect.c): the internal half, for
 * tests/c. The public calls (tc_heap_roots, tc_obj_path_to, ...) are in
 * tricolor.h; the design (what a root is, how the walk is made safe, what
 * is inside the pause) is at the top of inspect.c.
 *
 * The dominator computation is a pure function of a flow graph given in
 * depth-first preorder, so tests can check it against brute force on
 * graphs of their own, apart from any heap.
 *
 * Invariants of a preorder graph (inspect_idom's input):
 *  - vertices are 0..n-1, numbered in the order a depth-first search from
 *    vertex 0 (the root) first reached them, so every vertex is reachable
 *    from 0 and parent[v] < v for v > 0 (parent[v]: the vertex the search
 *    came from; parent[0] is ignored);
 *  - pred[pred_off[v] .. pred_off[v+1]) lists every u with an edge u -> v
 *    (duplicates allowed), the search-tree edge parent[v] -> v included.
 * Then idom[v] < v for v > 0 (a dominator is a search-tree ancestor), which
 * is what lets a caller sum a subtree in one forward pass.
 */
#ifndef TC_INSPECT_H
#define TC_INSPECT_H
#include <stdint.h>

#include "tricolor.h"

/* inspect_idom — the immediate dominator of every vertex (idom[0] = 0), by
 * Lengauer and Tarjan's algorithm with path compression (O(m log n)),
 * iterative. Scratch: 5 words per vertex from malloc; TC_ERR_NOMEM leaves
 * idom undefined. */
tc_status inspect_idom(uint32_t n, const uint32_t *parent, const uint32_t *pred_off, const uint32_t *pred,
                       uint32_t *idom);

/* inspect_debug_fail_alloc — test hook: the n-th side-table allocation of
 * inspect.c from now on fails (0: the next one); -1 turns it off. */
void inspect_debug_fail_alloc(long n);
#endif
