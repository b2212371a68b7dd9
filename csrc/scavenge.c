/*
 * scavenge.c — giving free pages back to the OS: the policy (how much to
 * keep after a cycle, scavenge_background; everything on
 * tc_heap_scavenge) and the mechanism (release_pages: madvise free page
 * runs, largest first). scavenge.h states the invariants.
 *
 * Why after a cycle: the sweep has just put every page the cycle freed on
 * the free lists, and the new goal says how much the heap will need soon.
 * Releasing costs a system call per run and a page fault per page when the
 * page is reused, so the policy keeps a margin above the recent goals
 * rather than following the live heap exactly.
 *
 * Releasing without the heap lock. madvise of resident pages costs about
 * 40 us a MiB (8 MiB 0.3 ms, 512 MiB 306 ms under load), and an allocation
 * that needs a span takes heap->lock; held for the whole release, it
 * stalled mutators for as long (issue 16). So, as Go's scavenger does, the
 * lock is held only to take a piece off the free list and to put it back:
 *
 *   lock:    put back the piece released last (pages_scav_put: counted
 *            in released_bytes, merged with released neighbours only, at
 *            its list's tail), then take the next piece: at most
 *            SCAVENGE_CHUNK pages of the largest run that holds unreleased
 *            pages (pages_scav_take), marked SPAN_SCAV;
 *   unlock:  madvise the piece.
 *
 * Invariant: a SPAN_SCAV piece is on no list and in no mutator's cache;
 * only the scavenger that took it touches it, and the span map's entries
 * for its end pages say SPAN_SCAV, so pages_free does not merge a
 * neighbour into it and pages_alloc cannot find it. Every scavenger runs
 * with gc_lock held (cycle_end on the collector, or a quiesced
 * tc_heap_scavenge), so there is one at a time, and a fork (which takes
 * gc_lock) never sees a piece off its list. What the heap holds between
 * the holds is therefore exact except for the one piece in flight, which
 * counts as held until it is put back. A lock hold does O(1) list work
 * plus the walk past released runs to the next candidate; the release
 * itself, proportional to the bytes, is never under the lock.
 */
#include "heap.h"
#include "platform.h"
#include "scavenge.h"

#define SCAVENGE_SLACK ((uint64_t)16 << 20) /* keep this much free memory beyond the goals */
#define SCAVENGE_WINDOW 8                    /* cycles whose goals the scavenger remembers */
#define SCAVENGE_CHUNK 128                   /* pages (1 MiB) released per lock hold */

void (*_Atomic scavenge_test_unlocked)(tc_heap *h); /* test hook: called before each release, lock dropped */

/* release_pages — the mechanism: give free pages back to the OS
 * (madvise), largest runs first, SCAVENGE_CHUNK pages at a time with the
 * lock dropped for each release (the top of the file), until `want` bytes
 * were released or no free page is left unreleased. Released pages read
 * as zero when reused. Called and returns with the lock held. */
static uint64_t release_pages(tc_heap *h, uint64_t want)
{
    uint64_t done = 0;
    int bucket = TC_FREE_BUCKETS - 1;
    span *s;
    while (done < want && (s = pages_scav_take(h, &bucket, SCAVENGE_CHUNK))) {
        pthread_mutex_unlock(&h->lock);
        void (*hook)(tc_heap *) = atomic_load_explicit(&scavenge_test_unlocked, memory_order_relaxed);
        if (hook)
            hook(h);
        plat_decommit((void *)s->base, (size_t)s->npages << TC_PAGE_SHIFT);
        pthread_mutex_lock(&h->lock);
        done += pages_scav_put(h, s);
    }
    return done;
}

/* scavenge_background — after a cycle: release free pages the heap will not
 * need soon: beyond 125% of the largest goal of the last SCAVENGE_WINDOW
 * cycles, plus a little. Remembering recent goals keeps a heap whose goal
 * wobbles from releasing pages one cycle and faulting them back the next
 * (GCBench did that for 540 MB); resident memory still follows the live
 * heap down a few cycles after a large structure dies. */
void scavenge_background(tc_heap *h)
{
    uint64_t goal = atomic_load(&h->goal);
    h->goal_history[h->num_gc % SCAVENGE_WINDOW] = goal;
    for (int i = 0; i < SCAVENGE_WINDOW; i++)
        if (h->goal_history[i] > goal)
            goal = h->goal_history[i];
    pthread_mutex_lock(&h->lock);
    uint64_t in_use = h->sys_bytes - h->released_bytes;
    uint64_t keep = goal == UINT64_MAX ? in_use : goal + goal / 4 + SCAVENGE_SLACK;
    int64_t limit = atomic_load(&h->memory_limit);
    if (limit > 0 && keep > (uint64_t)limit / 20 * 19) /* under a memory limit, free pages count against it */
        keep = (uint64_t)limit / 20 * 19;
    uint64_t t = 0, got = 0;
    if (in_use > keep) {
        t = plat_now_ns();
        got = release_pages(h, in_use - keep);
    }
    pthread_mutex_unlock(&h->lock);
    if (t)
        ev_record(h, EV_SCAVENGE, t, plat_now_ns(), got);
}

tc_status tc_heap_scavenge(tc_heap *h, uint64_t *released)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    void *tok = collector_quiesce(h); /* every span swept: all free pages are on the free lists */
    pthread_mutex_lock(&h->lock);
    uint64_t n = release_pages(h, UINT64_MAX);
    pthread_mutex_unlock(&h->lock);
    collector_unquiesce(h, tok);
    if (released)
        *released = n;
    return TC_OK;
}
