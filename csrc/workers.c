/*
 * workers.c — parallel marking: the mark worker threads and their rounds.
 *
 * With mark_workers = W > 1 the concurrent marker is W threads (the collector
 * thread is worker 0) sharing grey work through the global queue: a worker
 * whose stack runs dry takes a buffer from it, and while one is idle the
 * busy ones donate half their stacks (drain.c: poll, donate). Mark bits
 * are shared as share.c says: a worker alone marks with plain stores.
 *
 * A round ends when every worker is idle, the global queue is empty and no
 * assist is marking; mutators may still flush grey work after that, which
 * mark termination finds (the world stopped) and sends back to marking. An
 * idle worker spins briefly, then naps: donations do not signal.
 *
 * Invariants:
 *  - par->round, finished and stop are read and written under par->lock
 *    (a leaf lock: nothing is taken while holding it but fork.c's order,
 *    heap.h's table); idle and done are atomics of the running round;
 *  - mark_drain_parallel returns only after every helper finished the
 *    round (finished == nw - 1): no worker holds grey work between rounds;
 *  - the caller's thread is worker 0; helpers are threads 1..nw-1, joined
 *    by mark_par_free (never in a fork's child: mark_par_forget);
 *  - each helper adds its round's thread CPU time to par->cpu_ns before it
 *    counts itself finished (under par->lock), and mark_drain_parallel
 *    reads and resets it after every helper finished: the round's helper
 *    CPU, which the caller adds to the cycle's mark CPU (the collector
 *    thread's own clock does not see it; without it gc_cpu_fraction and
 *    mark_cpu_ns left out every helper's marking).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "markctx.h"
#include "platform.h"

#define IDLE_SPINS 2000           /* pause rounds (~20-50 us) before napping */
#define IDLE_NAP_NS 20000

struct mpar {
    tc_heap *h;
    int nw;
    pthread_mutex_t lock;          /* rounds */
    pthread_cond_t cond;
    uint64_t round;
    int finished;
    bool stop;
    _Atomic int idle;              /* workers without work this round */
    _Atomic bool done;             /* this round is over */
    uint64_t cpu_ns;               /* helpers' thread CPU this round: under lock */
    pthread_t threads[MAX_WORKERS];
};

/* mark_quiet — nobody else marks or holds grey work, and the global queue is
 * empty: the sharers and the assists (one holds work between its slices)
 * are read before the queue, since an assist counts itself before it takes
 * work and flushes its work to the queue before it stops counting. */
bool mark_quiet(tc_heap *h)
{
    return atomic_load(&h->mark_share) == 0 && atomic_load(&h->assists_holding) == 0 && grey_empty(h);
}

/* idle_wait — a marker without work (counted in idle, if any, and in
 * mark_hungry) waits until work appears (true) or, once `all` markers are
 * idle and nobody else marks, the round is over (false). */
static bool idle_wait(tc_heap *h, _Atomic int *idle, int all, _Atomic bool *done)
{
    for (unsigned i = 0;; i++) {
        if (done && atomic_load_explicit(done, memory_order_acquire))
            return false;
        if (!grey_empty(h))
            return true;
        /* grey first, then the idle count, then mark_quiet: a worker leaves
         * idle before it takes work */
        if ((!idle || atomic_load(idle) == all) && mark_quiet(h)) {
            if (done)
                atomic_store_explicit(done, true, memory_order_release);
            return false;
        }
        if (i < IDLE_SPINS)
            plat_cpu_relax();
        else
            nanosleep(&(struct timespec){0, IDLE_NAP_NS}, NULL);
    }
}

/* worker_round — drain until the whole round is done. */
static void worker_round(markctx *c)
{
    mpar *par = c->par;
    tc_heap *h = c->h;
    for (;;) {
        mark_drain(c, -1);
        atomic_fetch_add(&par->idle, 1);
        atomic_fetch_add(&h->mark_hungry, 1);
        bool more = idle_wait(h, &par->idle, par->nw, &par->done);
        atomic_fetch_sub(&h->mark_hungry, 1);
        if (!more)
            return;
        atomic_fetch_sub(&par->idle, 1);
    }
}

typedef struct wstart {
    mpar *par;
    int idx;
} wstart;

static void *worker_main(void *arg)
{
    wstart *ws = arg;
    mpar *par = ws->par;
    uint64_t seen = 0;
    char name[28];
    snprintf(name, sizeof name, "mark worker %d", ws->idx);
    ev_name_thread(par->h, name);
    pthread_mutex_lock(&par->lock);
    for (;;) {
        while (!par->stop && par->round == seen)
            pthread_cond_wait(&par->cond, &par->lock);
        if (par->stop)
            break;
        seen = par->round;
        pthread_mutex_unlock(&par->lock);
        uint64_t cpu0 = plat_thread_cpu_ns();
        markctx *c = mark_new(par->h, true, false);
        if (c) {
            c->par = par;
            uint64_t t0 = plat_now_ns();
            worker_round(c);
            ev_record_objs(par->h, EV_MARK, t0, plat_now_ns(), mark_bytes(c), mark_count(c));
            mark_free(c);
        } else { /* no memory for a stack: sit this round out */
            atomic_fetch_add(&par->idle, 1);
        }
        uint64_t cpu = plat_thread_cpu_ns() - cpu0;
        pthread_mutex_lock(&par->lock);
        par->cpu_ns += cpu;
        par->finished++;
        pthread_cond_broadcast(&par->cond);
    }
    pthread_mutex_unlock(&par->lock);
    return NULL;
}

/* mark_par_new — W-1 helper threads for the collector thread (worker 0);
 * NULL if W < 2 or they cannot be made (marking then stays single). */
mpar *mark_par_new(tc_heap *h, int nw)
{
    if (nw < 2)
        return NULL;
    if (nw > MAX_WORKERS)
        nw = MAX_WORKERS;
    mpar *par = plat_calloc(1, sizeof *par + (size_t)nw * sizeof(wstart));
    if (!par)
        return NULL;
    wstart *ws = (wstart *)(par + 1);
    par->h = h;
    pthread_mutex_init(&par->lock, NULL);
    check_lock_add(h, &par->lock); /* rank 15: heap.h's table */
    pthread_cond_init(&par->cond, NULL);
    int started = 1;
    for (int i = 1; i < nw; i++) {
        ws[i].par = par;
        ws[i].idx = i;
        if (pthread_create(&par->threads[i], NULL, worker_main, &ws[i]) != 0)
            break;
        started++;
    }
    par->nw = started; /* fewer workers if threads ran out */
    if (started < 2) {
        mark_par_free(par);
        return NULL;
    }
    return par;
}

void mark_par_free(mpar *par)
{
    if (!par)
        return;
    pthread_mutex_lock(&par->lock);
    par->stop = true;
    pthread_cond_broadcast(&par->cond);
    pthread_mutex_unlock(&par->lock);
    for (int i = 1; i < par->nw; i++)
        pthread_join(par->threads[i], NULL);
    check_lock_remove(&par->lock);
    pthread_mutex_destroy(&par->lock);
    pthread_cond_destroy(&par->cond);
    free(par);
}

/* mark_par_fork_lock, mark_par_fork_unlock — fork.c: the workers are idle
 * (no cycle runs); their lock is taken so none is half-way through it. */
void mark_par_fork_lock(mpar *par)
{
    if (par)
        pthread_mutex_lock(&par->lock);
}

void mark_par_fork_unlock(mpar *par)
{
    if (par)
        pthread_mutex_unlock(&par->lock);
}

/* mark_par_forget — in a fork's child, where the worker threads do not
 * exist: free the struct without joining them. The forking thread holds
 * the workers' lock (fork.c's prepare took it) and releases it first, so
 * that its held locks (the debug build's lock-order check) stay true. */
void mark_par_forget(mpar *par)
{
    if (!par)
        return;
    pthread_mutex_unlock(&par->lock);
    check_lock_remove(&par->lock);
    free(par);
}

/* mark_drain_parallel — one round: every worker drains until all the work
 * that is there is done (c is worker 0, the caller's thread). Alone (par
 * NULL), the caller still waits while assists mark: they donate what they
 * find when it is hungry, and give the rest back when they stop. Returns
 * the helpers' CPU time of the round (ns; 0 alone). */
uint64_t mark_drain_parallel(mpar *par, markctx *c)
{
    tc_heap *h = c->h;
    if (!par) {
        for (;;) {
            mark_drain(c, -1);
            atomic_fetch_add(&h->mark_hungry, 1);
            bool more = idle_wait(h, NULL, 0, NULL);
            atomic_fetch_sub(&h->mark_hungry, 1);
            if (!more)
                return 0;
        }
    }
    pthread_mutex_lock(&par->lock);
    par->round++;
    atomic_store(&par->done, false);
    atomic_store(&par->idle, 0);
    par->finished = 0;
    pthread_cond_broadcast(&par->cond);
    pthread_mutex_unlock(&par->lock);
    c->par = par;
    worker_round(c);
    c->par = NULL;
    pthread_mutex_lock(&par->lock);
    while (par->finished < par->nw - 1)
        pthread_cond_wait(&par->cond, &par->lock);
    uint64_t cpu = par->cpu_ns;
    par->cpu_ns = 0;
    pthread_mutex_unlock(&par->lock);
    return cpu;
}