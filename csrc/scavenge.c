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
 */
#include "heap.h"
#include "platform.h"
#include "scavenge.h"

#define SCAVENGE_SLACK ((uint64_t)16 << 20) /* keep this much free memory beyond the goals */
#define SCAVENGE_WINDOW 8                    /* cycles whose goals the scavenger remembers */

/* release_pages — the mechanism: give free pages back to the OS
 * (madvise), largest runs first, until `want` bytes were released or no
 * free page is left unreleased. Released pages read as zero when reused.
 * Lock held. */
static uint64_t release_pages(tc_heap *h, uint64_t want)
{
    uint64_t done = 0;
    for (int b = TC_FREE_BUCKETS - 1; b > 0 && done < want; b--)
        for (span *s = h->freelist[b]; s && done < want; s = s->next) {
            if (s->released == s->npages)
                continue;
            plat_decommit((void *)s->base, (size_t)s->npages << TC_PAGE_SHIFT);
            uint64_t bytes = (uint64_t)(s->npages - s->released) << TC_PAGE_SHIFT;
            s->released = s->npages;
            s->needzero = 0;
            h->released_bytes += bytes;
            done += bytes;
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
