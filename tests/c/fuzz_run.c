/*
 * fuzz_run.c — rounds of the model fuzzer: make a heap, run the mutator
 * threads (fuzz_model.c), then drop everything and check that nothing is
 * left; repeat until the run's operation and cycle targets are met.
 *
 * The end of a round, after every thread checked its whole model and gave
 * its roots back: the board's root is released, then, up to END_COLLECTS
 * times, due callbacks are taken (and checked) and the heap collects; the
 * heap must reach 0 objects and 0 roots with every finalizer and cleanup
 * run exactly once (a finalizer keeps its object for one more cycle, so at
 * least two collects), and verify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fuzz_internal.h"

#define END_COLLECTS 16   /* collects at the end of a round at most */
#define BURST_EVERY 40000 /* operations of a thread between bursts */
#define CYCLER_NAP_NS 100000 /* the cycler's nap between two forced cycles */
#define STALL_SECONDS 120 /* no operation for this long: a hang */

/* ---- a mutator thread ---- */

/* check_checkmarks — a checkmark failure anywhere ends the round. */
static void check_checkmarks(mt *t)
{
    uint64_t cm[3];
    collector_debug_checkmarks(t->R->h, cm);
    if (cm[1] && !t->cm_seen) {
        t->cm_seen = cm[1];
        fz_fail(t->R, &t->R->errors, "checkmark: a cycle left a reachable object white");
    }
}

static void one_op(mt *t)
{
    bool big = t->nobjs > t->R->model_max;
    if (below(t, 1000) < t->R->o->race)
        return op_race(t);
    unsigned r = (unsigned)below(t, 1000);
    if (r < 120)
        big ? op_drop(t) : op_new(t);
    else if (r < 280)
        op_set(t);
    else if (r < 420)
        op_get(t);
    else if (r < 540)
        op_move(t);
    else if (r < 620)
        op_raw(t);
    else if (r < 720)
        op_drop(t);
    else if (r < 750)
        op_dup(t);
    else if (r < 800)
        op_data(t);
    else if (r < 840)
        op_weak(t);
    else if (r < 870)
        op_special(t);
    else if (r < 900)
        op_ready(t);
    else if (r < 915)
        op_publish(t);
    else if (r < 960)
        op_steal(t);
    else if (r < 990)
        op_check(t);
    else if (r < 993)
        op_collect(t);
    else if (r < 995)
        op_gogc(t);
    else if (r < 996)
        op_verify(t);
    else
        op_get(t);
}

/* make_weight — this thread's weight chain: R->weight nodes of one slot
 * and an 8-byte payload (its uid), built from the tail. */
static void make_weight(mt *t)
{
    tc_root *next = NULL;
    mobj *nexto = NULL;
    for (size_t k = 0; k < t->R->weight && !atomic_load(&t->R->stop); k++) {
        mobj *o = mobj_new(t, 1, 8);
        tc_root *r;
        if (!ok(t, tc_obj_new(t->R->h, 1, 8, &o->uid, &r), "obj_new (weight)"))
            break;
        o->addr = tc_obj_address(tc_root_obj(r));
        if (next) {
            set_slot(t, r, o, 0, (mval){.kind = TC_REF, .u.ref = nexto});
            release(t, next);
            nexto->rc--; /* the handle just released */
        }
        next = r;
        nexto = o;
        o->rc++;
    }
    t->weight.r = next;
    t->weight.o = nexto;
}

/* final_check — every handle's object and what it reaches, then every
 * root and weak reference released. */
static void final_check(mt *t)
{
    if (t->weight.r && !atomic_load(&t->R->stop))
        deep_check(t, t->weight.r, t->weight.o, SIZE_MAX);
    for (int i = 0; i < NH && !atomic_load(&t->R->stop); i++)
        if (t->hs[i].r)
            deep_check(t, t->hs[i].r, t->hs[i].o, SIZE_MAX);
    model_gc(t);
    for (int i = 0; i < NH; i++)
        if (t->hs[i].r)
            hs_set(t, i, NULL, NULL);
}

void *fz_thread(void *arg)
{
    mt *t = arg;
    run *R = t->R;
    t->buf = malloc(PAYLOAD_MAX);
    t->buf2 = malloc(PAYLOAD_MAX);
    uint64_t n = R->ops_target / (uint64_t)R->nthreads;
    uint64_t next_burst = t->idx == 0 ? 2000 : BURST_EVERY / 2 + below(t, BURST_EVERY);
    make_weight(t);
    for (t->ops = 0; t->ops < n && !atomic_load(&R->stop); t->ops++) {
        if (t->ops == next_burst) {
            op_burst(t);
            next_burst += BURST_EVERY;
        } else {
            one_op(t);
        }
        if (!(t->ops & 31))
            check_checkmarks(t);
        if (!(t->ops & 255) || t->nobjs > 2 * t->R->model_max + t->kept) /* kept: what the last one kept */
            model_gc(t);
        if (t->idx == 0 && !(t->ops & 4095))
            op_verify(t);
        if (!(t->ops & 1023)) /* progress, for the watchdog */
            atomic_fetch_add(&R->ops, 1);
    }
    atomic_fetch_add(&R->ops_done, t->ops);
    check_checkmarks(t);
    if (!atomic_load(&R->stop))
        final_check(t);
    else /* a failure: the heap may be corrupt; only give the roots back */
        for (int i = 0; i < NH; i++)
            if (t->hs[i].r)
                hs_set(t, i, NULL, NULL);
    for (int k = 0; k < NW; k++)
        if (t->ws[k].w) {
            tc_weak_release(R->h, t->ws[k].w);
            t->ws[k] = (wslot){0};
        }
    if (t->weight.r)
        release(t, t->weight.r);
    atomic_fetch_add(&R->calls, t->calls);
    while (t->objs) {
        mobj *o = t->objs;
        t->objs = o->next;
        if (!o->frozen)
            free(o);
    }
    free(t->buf);
    free(t->buf2);
    free(t->work);
    return NULL;
}

/* ---- rounds ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t fuzz_round_seed(uint64_t seed, uint64_t round)
{
    uint64_t x = seed ^ (round * 0x9E3779B97F4A7C15ULL);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return (x ^ (x >> 31)) | 1;
}

/* round_config — the round's heap settings, from its seed. */
static void round_config(run *R, uint64_t rs)
{
    static const int64_t gogc[] = {0, 0, 0, 1, 2, 5, 10, 25, 100};
    R->gogc = gogc[(rs >> 8) % (sizeof gogc / sizeof *gogc)];
    R->workers = R->o->collector == TC_COLLECTOR_CONCURRENT ? 1 + (int)((rs >> 16) % 4) : 1;
    R->nthreads = R->o->threads ? R->o->threads : 2 + (int)((rs >> 24) % 4);
    R->model_max = 200 + (size_t)((rs >> 32) % 1800);
    /* a chain per thread that takes the marker a while, so that a mark is
     * partly done for longer (several slices of the incremental collector) */
    R->weight = (rs >> 44) % 5 < 2 ? 0 : 500 + (size_t)((rs >> 48) % 3500);
    /* the concurrent collector's cycles wait for allocation to trigger them
     * (stw and incremental ones come at nearly every refill with gogc ~0),
     * and a forced collect runs an incremental cycle in one go */
    R->cycler = (rs >> 52) % 4 < (R->o->collector == TC_COLLECTOR_CONCURRENT ? 3 :
                                  R->o->collector == TC_COLLECTOR_INCREMENTAL ? 1 : 0);
}

/* end_round — drop the board, collect until nothing is left, and count
 * what is (see the top). */
static void end_round(run *R, fuzz_result *res)
{
    tc_heap *h = R->h;
    tc_stats st;
    tc_root_release(h, R->board);
    for (int k = 0; k < END_COLLECTS && !atomic_load(&R->stop); k++) {
        tc_token tk;
        tc_root *r;
        tc_ready_kind kd;
        while ((kd = tc_take_ready(h, &tk, &r)) != TC_READY_NONE)
            fz_took(R, kd, tk, r);
        tc_status s = tc_heap_collect(h);
        if (s != TC_OK)
            fz_fail(R, &R->errors, "end of round: collect: %s (%s)", tc_status_str(s), tc_errmsg());
        if (tc_heap_stats(h, &st) == TC_OK && k >= 1 && !st.heap_objects && !st.finalizers_pending)
            break;
    }
    if (atomic_load(&R->stop) || tc_heap_stats(h, &st) != TC_OK)
        return;
    uint64_t callbacks = 0;
    for (uint64_t i = 0; i < atomic_load(&R->ntok) && i < TOK_MAX; i++)
        callbacks += atomic_load(&R->toks[i].state) == T_ARMED;
    uint64_t left = st.heap_objects + st.roots + st.weak_refs + st.finalizers_pending + callbacks;
    if (left) {
        atomic_fetch_add(&R->leaked, left - 1);
        fz_fail(R, &R->leaked, "end of round: %llu objects, %llu roots, %llu weak refs, %llu callbacks due, %llu "
                "finalizers/cleanups that never came", (unsigned long long)st.heap_objects,
                (unsigned long long)st.roots, (unsigned long long)st.weak_refs,
                (unsigned long long)st.finalizers_pending, (unsigned long long)callbacks);
    }
    if (tc_heap_verify(h) != TC_OK)
        fz_fail(R, &R->errors, "end of round: verify: %s", tc_errmsg());
}

/* cycler — forced cycles one after the other while the mutators run
 * (rounds with R->cycler): marks overlap more operations, and cycles do not
 * wait for allocation to trigger them. It naps between two: the stw and
 * incremental collectors run a forced cycle under mark_lock, which a
 * releasing thread can take again before a woken waiter runs, and
 * back-to-back collects starved allocating threads for minutes. */
static void *cycler(void *arg)
{
    run *R = arg;
    while (!atomic_load(&R->mutators_done) && !atomic_load(&R->stop)) {
        tc_status s = tc_heap_collect(R->h);
        if (s != TC_OK && s != TC_ERR_CORRUPT) /* a checkmark failure is counted by the checkmark counters */
            fz_fail(R, &R->errors, "cycler: collect: %s (%s)", tc_status_str(s), tc_errmsg());
        nanosleep(&(struct timespec){0, CYCLER_NAP_NS}, NULL);
    }
    return NULL;
}

/* watchdog — a round that makes no progress for STALL_SECONDS is a hang:
 * say which, and exit (nothing else would end it). R->ops = UINT64_MAX
 * ends it. */
static void *watchdog(void *arg)
{
    run *R = arg;
    uint64_t last = atomic_load(&R->ops);
    double since = now_s();
    for (;;) {
        nanosleep(&(struct timespec){0, 20000000}, NULL);
        uint64_t ops = atomic_load(&R->ops);
        if (ops == UINT64_MAX)
            return NULL;
        if (ops != last) {
            last = ops;
            since = now_s();
        } else if (now_s() - since > STALL_SECONDS) {
            fprintf(stderr, "fuzz: HANG: no operation for %d s in round %llu (seed %#llx); replay: %s "
                    "config=%s/%s seed=%#llx round=%llu\n", STALL_SECONDS, (unsigned long long)R->round,
                    (unsigned long long)R->seed, R->o->prog, tc_collector_name(R->o->collector),
                    tc_barrier_name(R->o->barrier),
                    (unsigned long long)R->o->seed, (unsigned long long)R->round);
            _exit(3);
        }
    }
    return NULL;
}

static bool start_heap(run *R)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = R->o->collector;
    c.barrier = R->o->barrier;
    c.gogc = R->gogc;
    c.mark_workers = R->workers;
    c.checkmark = true;
    int64_t seed = 0;
    if (tc_heap_new(&c, &R->h) != TC_OK || tc_obj_new(R->h, NBOARD, 8, &seed, &R->board) != TC_OK) {
        fz_fail(R, &R->errors, "cannot make the heap: %s", tc_errmsg());
        return false;
    }
    return true;
}

/* run_round — one round; adds its counts to res and returns its
 * operations. */
static uint64_t run_round(run *R, uint64_t round, fuzz_result *res)
{
    R->round = round;
    R->seed = fuzz_round_seed(R->o->seed, round);
    round_config(R, R->seed);
    atomic_store(&R->ntok, 0);
    memset(R->board_model, 0, sizeof R->board_model);
    if (!start_heap(R))
        return 0;
    mt *ts = calloc((size_t)R->nthreads, sizeof *ts);
    pthread_t th[FUZZ_MAX_THREADS], wd, cy;
    pthread_create(&wd, NULL, watchdog, R);
    atomic_store(&R->mutators_done, false);
    if (R->cycler)
        pthread_create(&cy, NULL, cycler, R);
    for (int i = 0; i < R->nthreads; i++) {
        ts[i].R = R;
        ts[i].idx = i;
        ts[i].rng = fuzz_round_seed(R->seed, (uint64_t)i + 1);
        pthread_create(&th[i], NULL, fz_thread, &ts[i]);
    }
    for (int i = 0; i < R->nthreads; i++)
        pthread_join(th[i], NULL);
    atomic_store(&R->mutators_done, true);
    if (R->cycler)
        pthread_join(cy, NULL);
    end_round(R, res);
    tc_stats st;
    if (tc_heap_stats(R->h, &st) == TC_OK)
        res->cycles += st.num_gc;
    uint64_t cm[3];
    collector_debug_checkmarks(R->h, cm);
    for (int i = 0; i < 3; i++)
        res->checkmarks[i] += cm[i];
    if (cm[1] && R->failure[0]) { /* the cycle's own message, carried to this thread */
        char msg[256];
        collector_debug_last_error(R->h, msg, sizeof msg);
        size_t n = strlen(R->failure);
        snprintf(R->failure + n, sizeof R->failure - n, " [%s]", msg);
    }
    tc_heap_destroy(R->h);
    atomic_store(&R->ops, UINT64_MAX); /* ends the watchdog */
    pthread_join(wd, NULL);
    uint64_t ops = atomic_exchange(&R->ops_done, 0);
    free(ts);
    fz_free_frozen(R);
    return ops;
}

static void add_counts(run *R, fuzz_result *res, uint64_t ops)
{
    res->ops += ops;
    res->calls += atomic_exchange(&R->calls, 0);
    res->verifies += atomic_exchange(&R->verifies, 0);
    res->lost += atomic_exchange(&R->lost, 0);
    res->leaked += atomic_exchange(&R->leaked, 0);
    res->wrong += atomic_exchange(&R->wrong, 0);
    res->errors += atomic_exchange(&R->errors, 0);
}

int fuzz_run(const fuzz_opts *o, fuzz_result *res)
{
    memset(res, 0, sizeof *res);
    run *R = calloc(1, sizeof *R);
    R->o = o;
    R->reg = calloc((size_t)1 << REG_BITS, sizeof *R->reg);
    R->toks = calloc(TOK_MAX, sizeof *R->toks);
    pthread_mutex_init(&R->fail_lock, NULL);
    double t0 = now_s();
    for (uint64_t round = o->only_round >= 0 ? (uint64_t)o->only_round : 0;; round++) {
        R->ops_target = o->round_ops;
        atomic_store(&R->ops, 0);
        uint64_t done = run_round(R, round, res);
        for (size_t i = 0; i < TOK_MAX && i < atomic_load(&R->ntok); i++)
            atomic_store(&R->toks[i].state, T_FREE);
        add_counts(R, res, done);
        res->rounds++;
        if (o->verbose)
            fprintf(stderr, "  round %llu: %d threads, gogc %lld, workers %d, weight %zu, cycler %d: %llu cycles "
                    "so far\n", (unsigned long long)round, R->nthreads, (long long)R->gogc, R->workers, R->weight,
                    R->cycler, (unsigned long long)res->cycles);
        if (atomic_load(&R->stop)) {
            snprintf(res->failure, sizeof res->failure, "round %llu (threads %d, gogc %lld, workers %d): %s; "
                     "replay: %s config=%s/%s seed=%#llx round=%llu", (unsigned long long)round,
                     R->nthreads, (long long)R->gogc, R->workers, R->failure, o->prog, tc_collector_name(o->collector),
                     tc_barrier_name(o->barrier), (unsigned long long)o->seed, (unsigned long long)round);
            break;
        }
        if (o->only_round >= 0 || (res->ops >= o->ops && res->checkmarks[0] >= o->cycles))
            break;
        if (now_s() - t0 > o->max_seconds) {
            snprintf(res->failure, sizeof res->failure, "gave up after %.0f s with %llu operations and %llu "
                     "checkmark-verified cycles (targets %llu, %llu)", now_s() - t0, (unsigned long long)res->ops,
                     (unsigned long long)res->checkmarks[0], (unsigned long long)o->ops,
                     (unsigned long long)o->cycles);
            res->errors++;
            break;
        }
    }
    res->seconds = now_s() - t0;
    pthread_mutex_destroy(&R->fail_lock);
    free(R->reg);
    free(R->toks);
    free(R);
    return res->lost || res->leaked || res->wrong || res->errors || res->checkmarks[1] || res->failure[0];
}
