/* test_check.c — the checkers of check.c fire on the corruption they are
 * for (planted by hand, then undone): stale mark bits on a swept span, a
 * black bit in a span not flagged black at termination,
 * cache and partial-list membership, grey work at a pause, a black->white
 * edge at termination and, mid-mark, one whose white end is not grey; and
 * in a debug build (TC_DEBUG) the pause hooks, the mid-mark look and the
 * lock-order check trap. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "heap.h"
#include "tc_test.h"

/* flip — toggle the bit of object o in one of its arena's bitmaps. */
static void flip(tc_obj *o, int which)
{
    arena *a = arena_of((uintptr_t)o);
    uint64_t bit;
    _Atomic uint64_t *w = which ? bit_word(a->blackbits, a, (uintptr_t)o, &bit) : mark_word(a, (uintptr_t)o, &bit);
    atomic_fetch_xor(w, bit);
}

static bool errmsg_has(const char *s) { return strstr(tc_errmsg(), s) != NULL; }

TEST(verify_catches_a_stale_mark_bit)
{
    tc_heap *h = new_heap_gogc(100);
    tc_root *a;
    CHECK_OK(tc_obj_new(h, 2, 0, NULL, &a));
    CHECK_OK(tc_heap_verify(h));
    flip(tc_root_obj(a), 0); /* a swept span must have no mark bit */
    tc_status st = tc_heap_verify(h);
    flip(tc_root_obj(a), 0);
    CHECK(st == TC_ERR_CORRUPT && errmsg_has("mark bits set"));
    flip(tc_root_obj(a), 1); /* nor a black bit */
    st = tc_heap_verify(h);
    flip(tc_root_obj(a), 1);
    CHECK(st == TC_ERR_CORRUPT && errmsg_has("mark bits set"));
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* A black bit in a span whose `black` flag is clear is one the sweep would
 * not read (span.h); with the flag set the same bit is allowed. */
TEST(pause_term_catches_a_black_bit_without_the_span_flag)
{
    tc_heap *h = new_heap_gogc(100);
    tc_root *a;
    CHECK_OK(tc_obj_new(h, 0, 8, NULL, &a));
    uintptr_t p = (uintptr_t)tc_root_obj(a);
    void *tok = collector_quiesce(h); /* no cycle: every span swept, so no black bit anywhere */
    span *s = span_of(arena_of(p), p);
    uint8_t was = atomic_load(&s->black);
    atomic_store(&s->black, 0);
    flip(tc_root_obj(a), 1);
    tc_status st = check_pause_term(h);
    char msg[200];
    snprintf(msg, sizeof msg, "%s", tc_errmsg());
    atomic_store(&s->black, 1);
    tc_status st2 = check_pause_term(h);
    flip(tc_root_obj(a), 1);
    atomic_store(&s->black, was);
    collector_unquiesce(h, tok);
    CHECK(st == TC_ERR_CORRUPT && strstr(msg, "no black flag") && st2 == TC_OK);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

TEST(verify_catches_cache_and_list_disagreeing)
{
    tc_heap *h = new_heap_gogc(100);
    tc_root *a;
    CHECK_OK(tc_obj_new(h, 2, 0, NULL, &a));
    arena *ar = arena_of((uintptr_t)tc_root_obj(a));
    span *s = span_of(ar, (uintptr_t)tc_root_obj(a));
    CHECK(s->cached); /* this thread allocates from it */
    s->cached = 0;    /* in a cache, but not flagged: counts disagree */
    tc_status st = tc_heap_verify(h);
    s->cached = 1;
    CHECK(st == TC_ERR_CORRUPT && errmsg_has("flagged cached"));
    pthread_mutex_lock(&h->lock);
    span_list_remove(&h->full[s->sizeclass], s); /* a cached span on a partial list */
    span_list_push(&h->partial[s->sizeclass], s);
    pthread_mutex_unlock(&h->lock);
    st = tc_heap_verify(h);
    pthread_mutex_lock(&h->lock);
    span_list_remove(&h->partial[s->sizeclass], s);
    span_list_push(&h->full[s->sizeclass], s);
    pthread_mutex_unlock(&h->lock);
    CHECK(st == TC_ERR_CORRUPT && errmsg_has("in a cache"));
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

TEST(pause_term_catches_a_black_to_white_edge)
{
    tc_heap *h = new_heap_gogc(100);
    tc_root *a, *b;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &a));
    CHECK_OK(tc_obj_new(h, 0, 8, NULL, &b));
    CHECK_OK(tc_slot_set(h, a, 0, tc_ref(tc_root_obj(b))));
    void *tok = collector_quiesce(h); /* no cycle, no other thread in the heap */
    flip(tc_root_obj(a), 0);          /* a black, b white: what a lost shade leaves */
    tc_status st = check_pause_term(h);
    flip(tc_root_obj(b), 0);          /* b marked too: no such edge */
    tc_status st2 = check_pause_term(h);
    flip(tc_root_obj(a), 0);
    flip(tc_root_obj(b), 0);
    collector_unquiesce(h, tok);
    CHECK(st == TC_ERR_CORRUPT && st2 == TC_OK);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

TEST(pause_checks_catch_grey_work_at_a_pause)
{
    tc_heap *h = new_heap_gogc(100);
    tc_root *a;
    CHECK_OK(tc_obj_new(h, 0, 8, NULL, &a));
    uintptr_t p = (uintptr_t)tc_root_obj(a);
    char msg[3][200];
    void *tok = collector_quiesce(h); /* no cycle, no other thread in the heap */
    tc_mutator *m = mutator_self(h);
    bool had_buffer = !m || m->gbuf_n != 0;
    tc_status st[3] = {TC_OK, TC_OK, TC_OK};
    if (!had_buffer) {
        m->gbuf[0] = p; /* a shaded address a mutator kept past a pause */
        m->gbuf_n = 1;
        st[0] = check_pause_start(h);
        snprintf(msg[0], sizeof msg[0], "%s", tc_errmsg());
        m->gbuf_n = 0;
    }
    grey_put(h, &p, 1); /* grey work queued before marking starts */
    st[1] = check_pause_start(h);
    snprintf(msg[1], sizeof msg[1], "%s", tc_errmsg());
    st[2] = check_pause_term(h);
    snprintf(msg[2], sizeof msg[2], "%s", tc_errmsg());
    grey_free_all(h);
    tc_status after = check_pause_start(h);
    collector_unquiesce(h, tok); /* before any CHECK: a failed one returns */
    CHECK(!had_buffer);
    CHECK(st[0] == TC_ERR_CORRUPT && strstr(msg[0], "shaded addresses at a pause"));
    CHECK(st[1] == TC_ERR_CORRUPT && strstr(msg[1], "queued before marking"));
    CHECK(st[2] == TC_ERR_CORRUPT && strstr(msg[2], "left at mark termination"));
    CHECK(after == TC_OK);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* raw_ref — slot 0 of o holds a reference to w, or nil (w 0), stored past
 * the write barrier: what a lost shade leaves. */
static void raw_ref(tc_obj *o, uintptr_t w)
{
    atomic_store(&obj_words(o)[0], (uint64_t)w);
    atomic_store(&obj_tags(o)[0], (uint8_t)(w ? TC_REF : TC_NIL));
}

/* mid_mark_setup — a manual heap of barrier b mid-mark: *a black (rooted,
 * marked by one step), *w white (allocated before the cycle, unreachable). */
static tc_heap *mid_mark_setup(tc_barrier b, tc_root **a, uintptr_t *w)
{
    tc_heap *h = manual_heap(b);
    tc_root *wr;
    uint64_t marked = 0;
    if (!h || tc_obj_new(h, 1, 0, NULL, a) != TC_OK || tc_obj_new(h, 0, 8, NULL, &wr) != TC_OK)
        return NULL;
    *w = (uintptr_t)tc_root_obj(wr);
    tc_root_release(h, wr);
    if (tc_heap_gc_start(h) != TC_OK || tc_heap_gc_step(h, 1, &marked) != TC_OK || marked != 1)
        return NULL;
    return h;
}

TEST(mid_mark_catches_a_black_to_white_edge_that_is_not_grey)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heaps: once */
    static const tc_barrier strong[] = {TC_BARRIER_HYBRID, TC_BARRIER_DIJKSTRA};
    for (int k = 0; k < 2; k++) {
        tc_root *a;
        uintptr_t w;
        tc_heap *h = mid_mark_setup(strong[k], &a, &w);
        CHECK(h);
        CHECK_OK(check_mid_mark(h)); /* the mark so far keeps the strong invariant */
        raw_ref(tc_root_obj(a), w);  /* black a -> white w, and w is not grey */
        tc_status st = check_mid_mark(h);
        CHECK(st == TC_ERR_CORRUPT && errmsg_has("not grey"));
        grey_put(h, &w, 1);          /* what the barrier's shade does: w is grey now */
        CHECK_OK(check_mid_mark(h));
        uint64_t freed;
        CHECK_OK(tc_heap_gc_finish(h, &freed));
        CHECK_OK(tc_heap_verify(h));
        tc_heap_destroy(h);
    }
    tc_root *a;
    uintptr_t w;
    tc_heap *h = mid_mark_setup(TC_BARRIER_YUASA, &a, &w); /* the weak invariant only: not checked */
    CHECK(h);
    raw_ref(tc_root_obj(a), w);
    CHECK_OK(check_mid_mark(h));
    raw_ref(tc_root_obj(a), 0);
    uint64_t freed;
    CHECK_OK(tc_heap_gc_finish(h, &freed));
    tc_heap_destroy(h);
}

#ifdef TC_DEBUG
/* in_child — run fn(h) in a forked child; how it ended. */
static int in_child(tc_heap *h, void (*fn)(tc_heap *h))
{
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGILL, SIG_DFL); /* the runner's handler would print: the parent judges */
        fn(h);
        _exit(0);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    return ws;
}

static void stats_then_lock(tc_heap *h)
{
    pthread_mutex_lock(&h->stats_lock);
    pthread_mutex_lock(&h->lock); /* lock ranks above stats_lock: a trap */
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&h->stats_lock);
}

static void lock_then_stats(tc_heap *h)
{
    pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&h->stats_lock);
    pthread_mutex_unlock(&h->stats_lock);
    pthread_mutex_unlock(&h->lock);
}

static void lock_twice(tc_heap *h)
{
    plat_lock(&h->roots_lock);
    plat_lock(&h->roots_lock); /* a self-deadlock: trapped before it blocks */
}

/* the locks the table gained (issue 11): rec_lock (12) before ev.lock (14) */
static void rec_then_events(tc_heap *h)
{
    pthread_mutex_lock(&h->rec_lock);
    pthread_mutex_lock(&h->ev.lock);
    pthread_mutex_unlock(&h->ev.lock);
    pthread_mutex_unlock(&h->rec_lock);
}

static void events_then_rec(tc_heap *h)
{
    pthread_mutex_lock(&h->ev.lock);
    pthread_mutex_lock(&h->rec_lock); /* rec_lock ranks above ev.lock: a trap */
}

/* the registry lock (rank 0) comes before every heap's locks */
static void registry_then_gc(tc_heap *h)
{
    pthread_mutex_lock(&heap_registry_lock);
    pthread_mutex_lock(&h->gc_lock);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&heap_registry_lock);
}

static void world_then_registry(tc_heap *h)
{
    pthread_mutex_lock(&h->world_lock);
    pthread_mutex_lock(&heap_registry_lock); /* a trap */
}

TEST(debug_lock_order_traps_out_of_order)
{
    tc_heap *h = new_heap_gogc(100);
    int ws = in_child(h, lock_then_stats);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    ws = in_child(h, stats_then_lock);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGILL);
    ws = in_child(h, lock_twice);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGILL);
    ws = in_child(h, rec_then_events);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    ws = in_child(h, events_then_rec);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGILL);
    ws = in_child(h, registry_then_gc);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    ws = in_child(h, world_then_registry);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGILL);
    tc_heap_destroy(h);
}

/* a heap with mark workers: their lock (rank 15) is checked too */
static void workers_then_lock(tc_heap *h)
{
    if (!h->par) /* the child's collector thread has its own, made at the fork */
        _exit(3);
    pthread_mutex_lock(&h->gc_lock); /* h->par is the collector thread's, made and freed under gc_lock */
    mark_par_fork_lock(h->par);
    pthread_mutex_lock(&h->lock);    /* a trap: lock ranks above the workers' */
}

static void lock_then_workers(tc_heap *h)
{
    if (!h->par)
        _exit(3);
    pthread_mutex_lock(&h->gc_lock);
    pthread_mutex_lock(&h->lock);
    mark_par_fork_lock(h->par);
    mark_par_fork_unlock(h->par);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&h->gc_lock);
}

TEST(debug_lock_order_checks_the_mark_workers_lock)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* only the collector thread has mark workers */
    tc_config c;
    tc_config_init(&c);
    c.collector = TC_COLLECTOR_CONCURRENT;
    c.mark_workers = 2;
    tc_heap *h;
    CHECK_OK(tc_heap_new(&c, &h));
    CHECK(h->par != NULL); /* made with the collector thread */
    int ws = in_child(h, lock_then_workers);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    ws = in_child(h, workers_then_lock);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGILL);
    tc_heap_destroy(h);
}

static tc_root *plant_obj;
static void stale_bit_then_collect(tc_heap *h)
{
    flip(tc_root_obj(plant_obj), 0);
    tc_heap_collect(h); /* the start pause's check traps */
}

static tc_root *planted_child;
/* unmark_child_then_finish — an incremental cycle stepped by hand: drain,
 * then clear the child's mark bit (what a lost shade leaves): the
 * termination pause's check traps before checkmark or the sweep. */
static void unmark_child_then_finish(tc_heap *h)
{
    if (collector_debug_start(h) != TC_OK)
        _exit(2);
    while (!collector_debug_mark(h, -1))
        ;
    flip(tc_root_obj(planted_child), 0);
    collector_debug_finish(h);
}

static tc_root *mid_a;
static uintptr_t mid_w;
/* raw_edge_then_look — plant the edge, then look at a colour: the look
 * (manual.c, world stopped mid-mark) runs check_mid_mark and traps. */
static void raw_edge_then_look(tc_heap *h)
{
    raw_ref(tc_root_obj(mid_a), mid_w);
    tc_color col;
    tc_obj_color(h, mid_a, &col);
}

static void look(tc_heap *h)
{
    tc_color col;
    _exit(tc_obj_color(h, mid_a, &col) == TC_OK && col == TC_BLACK ? 0 : 2);
}

TEST(debug_mid_mark_look_traps_on_a_lost_shade)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* drives its own manual heap: once */
    tc_heap *h = mid_mark_setup(TC_BARRIER_HYBRID, &mid_a, &mid_w);
    CHECK(h);
    int ws = in_child(h, look);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    ws = in_child(h, raw_edge_then_look);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGILL);
    uint64_t freed;
    CHECK_OK(tc_heap_gc_finish(h, &freed));
    tc_heap_destroy(h);
}

TEST(debug_pause_checks_trap)
{
    tc_heap *h = new_heap_gogc(100);
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &plant_obj));
    int ws = in_child(h, stale_bit_then_collect);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGILL);
    if (tc_test_collector == TC_COLLECTOR_INCREMENTAL) { /* the only one stepped by hand */
        CHECK_OK(tc_obj_new(h, 0, 8, NULL, &planted_child));
        CHECK_OK(tc_slot_set(h, plant_obj, 0, tc_ref(tc_root_obj(planted_child))));
        ws = in_child(h, unmark_child_then_finish);
        CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGILL);
    }
    CHECK_OK(tc_heap_collect(h)); /* the parent's heap was never touched */
    tc_heap_destroy(h);
}
#endif
