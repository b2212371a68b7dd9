/*
 * pacer.c — the pacer: goal, trigger and assist debt (after Go's 1.18
 * redesign, golang/go#44167, simplified).
 *
 * Goal. goal = base * (1 + gogc/100), at least heap_min * gogc/100 and
 * live * (1 + gogc/200); with a soft memory limit, the goal is at most
 * 0.9 * limit - overhead (the memory the heap holds beyond live objects), and
 * the lower of the two wins. `live` is the sweep's exact count: the mark's
 * snapshot plus everything allocated (black) while it ran. Go grows the goal
 * from that sum; of a steady heap the black allocation is garbage by the next
 * mark, and doubling it let one long mark set the peak (the 1 GiB pause
 * workload: 172 MiB allocated during a mark, 115 past its goal, exact count
 * 1,196 for 1,024 live, next goal 2,392). So `base` leaves the black
 * allocation out, except as far as the snapshot grew since the last cycle
 * (a growing heap keeps Go's goal) and at most an eighth of the snapshot (a
 * mark that allocated more than that, GCBench's temporary trees at 1-2x
 * their snapshot, keeps the rest: its heap is being rebuilt, not held; at a
 * quarter GCBench ran 23 -> 26 cycles, medians of 7 pairs at load 13). The
 * floor live * (1 + gogc/200) keeps a runway after a cycle whose black
 * allocation outgrew the gogc share (small gogc).
 *
 * Trigger. A concurrent cycle must start early enough that marking ends
 * near the goal. While it marks, the mutator allocates in proportion to the
 * mark work: cons/mark = bytes allocated during mark / bytes scanned, which
 * the pacer learns (an exponential average of the cycles seen). The expected
 * mark work is the live heap, so the runway the mutator needs is
 *     runway = cons/mark * live,   trigger = goal - runway,
 * kept within 70%..95% of the way from live to goal (as Go does), so that a
 * bad estimate can neither start cycles back to back nor too late; past the
 * goal, assists take over.
 *
 * Floating garbage. What the mutator allocates during the mark is black,
 * and with a deletion barrier everything live when the mark started is
 * kept, so `live` (the bytes marked) is the true live heap plus what the
 * mutator allocated while the mark ran. When the mark is slow against
 * allocation and assists start only at the goal, the 70% floor lets that
 * allocation settle at 30% of the way: marked = live / (1 - 0.3 * gogc/100),
 * and at gogc 100 the heap peaks at ~2.86x what the program holds (the 1 GiB
 * pause workload at 2690e4f: marked 1.43-1.49x, heap_sys 3,049-3,073 MiB,
 * peak RSS 3,214-3,239 MiB). Assists from the mark's start (assist.c) tie
 * the allocation to the mark's progress: the cons/mark learned here falls,
 * the trigger moves to its 95% cap, and the same workload marks 1.03-1.06x
 * live (heap_sys 2,238-2,391 MiB, peak RSS 2,361-2,522). The price is GC
 * CPU: the assists carry most of the mark, ~1.3 s of assist CPU per cycle
 * against ~0.4 s for the background marker on a loaded 2-core machine, and
 * GC CPU per operation rose ~1.4x. A later floor with assists still at the goal
 * does less (256 MiB live, one run each: heap_sys 690 MiB at 70%, 648 at
 * 85%, 612 at 95%; 553-572 with assists from the start at any floor).
 *
 * Live at termination. Until the sweep counts the marked objects exactly,
 * live is estimated as the markers' bytes plus the bytes allocated (black)
 * during the mark. The two overlap: a marker that reaches a black object
 * through an object it had not scanned yet marks and counts it again (its
 * test is the mark bit; black bits are the mutators' bitmap), so the plain
 * sum counted those objects twice (the pause workload: about half of the
 * allocation during each mark, +15% on heap_live and heap_goal from
 * termination to the sweep's end). The overlap cannot be counted without a
 * look at the black bit per marked object, so the pacer learns its share
 * from each cycle's exact count (markers' bytes + black bytes - live) and
 * takes it off the next estimate. A cycle that allocated under 1/32 of live
 * during its mark teaches nothing: the markers' bytes are objects times an
 * average size, and their rounding would then be most of the "share".
 *
 * Assists. During mark, a mutator that allocates owes mark work in
 * proportion: debt = bytes * work_left / heap_left, where heap_left is what
 * remains to the goal. When the heap is at or past the goal, every byte costs
 * its share of all the remaining work (heap_left clamps to a small floor).
 */
#include "pacer.h"

#define TRIGGER_MIN 0.70
#define TRIGGER_MAX 0.95
#define CONS_MARK_WEIGHT 0.5 /* weight of the newest cycle in the average */
#define BLACK_LEFT_OUT_MAX 8 /* at most snapshot / 8 of black allocation is left out of the goal's base */
#define LIMIT_HEADROOM 0.90  /* aim under a memory limit: room for fragmentation and commit steps */

/* sat — a non-negative byte count as uint64, saturating at PACER_GOAL_MAX
 * (a double past 2^64 does not convert: gogc = 5e14 gave a goal of 0). */
static uint64_t sat(double x)
{
    if (!(x > 0))
        return 0;
    return x >= (double)PACER_GOAL_MAX ? PACER_GOAL_MAX : (uint64_t)x;
}

/* gogc_goal — base x (1 + gogc/100), at least live x (1 + gogc/200) (a
 * runway however much of live was black) and heap_min x gogc/100. */
static uint64_t gogc_goal(const pacer *p)
{
    double g = (double)p->base * (1.0 + (double)p->gogc / 100.0);
    double runway = (double)p->live + (double)p->live * (double)p->gogc / 200.0;
    double floor = (double)PACER_HEAP_MIN * (double)p->gogc / 100.0;
    if (g < runway)
        g = runway;
    return sat(g > floor ? g : floor);
}

/* goal_base — the bytes the goal grows from (the top, "Goal"): live less
 * the black allocation, but the allocation counts as far as the snapshot
 * grew since the last cycle's, and at most snapshot / 8 is left out. */
static uint64_t goal_base(const pacer *p, uint64_t live, uint64_t alloc_during_mark)
{
    uint64_t snap = live > alloc_during_mark ? live - alloc_during_mark : 0;
    uint64_t grew = snap > p->snapshot ? snap - p->snapshot : 0;
    uint64_t left_out = alloc_during_mark > grew ? alloc_during_mark - grew : 0;
    uint64_t most = snap / BLACK_LEFT_OUT_MAX;
    return live - (left_out < most ? left_out : most);
}

static void recompute(pacer *p)
{
    uint64_t goal = PACER_NONE;
    if (p->gogc >= 0)
        goal = gogc_goal(p);
    p->limit_bound = false;
    if (p->limit > 0) {
        double room = (double)p->limit * LIMIT_HEADROOM - (double)p->overhead;
        uint64_t lim_goal = room > (double)p->live ? sat(room) : p->live + (p->live >> 5) + 1;
        if (lim_goal < goal) {
            goal = lim_goal;
            p->limit_bound = true;
        }
    }
    p->goal = goal;
    if (goal == PACER_NONE) {
        p->trigger = PACER_NONE;
        return;
    }
    if (goal <= p->live) {
        p->trigger = goal;
        return;
    }
    double span = (double)(goal - p->live);
    double runway = p->have_cons_mark ? p->cons_mark * (double)p->live : span * (1.0 - TRIGGER_MIN);
    double t = (double)goal - runway;
    double lo = (double)p->live + span * TRIGGER_MIN, hi = (double)p->live + span * TRIGGER_MAX;
    if (t < lo)
        t = lo;
    if (t > hi)
        t = hi;
    p->trigger = sat(t);
}

void pacer_init(pacer *p, int64_t gogc, int64_t limit)
{
    *p = (pacer){.gogc = gogc, .limit = limit};
    recompute(p);
}

void pacer_tune(pacer *p, int64_t gogc, int64_t limit)
{
    p->gogc = gogc;
    p->limit = limit;
    recompute(p);
}

void pacer_cycle_done(pacer *p, uint64_t live, uint64_t alloc_during_mark, uint64_t scan_work, uint64_t overhead)
{
    p->live = live;
    p->base = goal_base(p, live, alloc_during_mark);
    p->snapshot = live > alloc_during_mark ? live - alloc_during_mark : 0;
    p->overhead = overhead;
    if (alloc_during_mark > 0 && alloc_during_mark >= live / 32) { /* smaller: scan_work's rounding is the share */
        double r = ((double)scan_work + (double)alloc_during_mark - (double)live) / (double)alloc_during_mark;
        p->remarked = r < 0 ? 0 : r > 1 ? 1 : r;
    }
    if (scan_work > 0) {
        double cm = (double)alloc_during_mark / (double)scan_work;
        p->cons_mark = p->have_cons_mark ? CONS_MARK_WEIGHT * cm + (1 - CONS_MARK_WEIGHT) * p->cons_mark : cm;
        p->have_cons_mark = true;
    }
    recompute(p);
}

void pacer_mark_done(pacer *p, uint64_t live_estimate, uint64_t alloc_during_mark)
{
    p->base = goal_base(p, live_estimate, alloc_during_mark);
}

uint64_t pacer_live_estimate(const pacer *p, uint64_t marked, uint64_t alloc_during_mark)
{
    return marked + (uint64_t)((double)alloc_during_mark * (1.0 - p->remarked));
}

uint64_t pacer_assist_debt(const pacer *p, uint64_t bytes, uint64_t heap_now, uint64_t work_left)
{
    if (p->goal == PACER_NONE || !work_left)
        return 0;
    uint64_t floor = (p->goal - (p->goal > p->live ? p->live : 0)) / 64 + 1;
    uint64_t left = heap_now < p->goal ? p->goal - heap_now : 0;
    if (left < floor)
        left = floor;
    double debt = (double)bytes * (double)work_left / (double)left;
    return debt > (double)work_left ? work_left : (uint64_t)debt;
}
