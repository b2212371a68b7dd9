/* test_check.c — the checkers of check.c fire on the corruption they are
 * for (planted by hand, then undone), and in a debug build (TC_DEBUG) the
 * pause hooks and the lock-order check trap. */
#include <signal.h>
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
    _Atomic uint64_t *map = which ? a->blackbits : a->markbits;
    uint64_t bit;
    _Atomic uint64_t *w = bit_word(map, a, (uintptr_t)o, &bit);
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
