/* test_pause.c — what a stop-the-world pause waits for, counted in work,
 * never timed. A pause waits for every running mutator to reach a
 * safepoint (mutator.c), so the work a mutator may do between two looks
 * for a pause bounds every pause of every barrier (cycle.c). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "heap.h"
#include "tc_test.h"

#define GROUP 64 /* the slots of one alloc-bit word: alloc.c looks for a pause at each */

typedef struct alloc_run {
    tc_heap *h;
    atomic_bool done;
    atomic_bool started;
    _Atomic uint64_t clear; /* allocations that returned with no pause pending */
    uint64_t worst; /* the most allocations that returned while one pause was pending */
    uint64_t episodes;
} alloc_run;

/* allocator — one raw section that only allocates 16-byte objects (512 a
 * span: a span's worth between two looks would be eight groups), counting
 * the allocations that return while a pause is requested. The mutator
 * parks at its next look, so the count of one pending pause is the work
 * that pause waited for. */
static void *allocator(void *arg)
{
    alloc_run *r = arg;
    tc_mutator *m = tc_enter(r->h);
    if (!m)
        return NULL;
    uint64_t pending = 0;
    int phase = -1;
    atomic_store(&r->started, true);
    while (!atomic_load(&r->done)) {
        if (!tc_alloc(m, 0, 8))
            break;
        bool stw = atomic_load(&r->h->stw);
        /* the next pause may be requested before this thread, woken from
         * the last one, looks again: every pause changes the phase (the
         * start to mark, the termination to sweep), so a new phase with a
         * pause still pending is a new pause */
        int now = collector_debug_phase(r->h);
        if (pending && (!stw || now != phase)) {
            r->episodes++;
            if (pending > r->worst)
                r->worst = pending;
            pending = 0;
        }
        if (stw && !pending++)
            phase = now;
        if (!stw)
            atomic_store_explicit(&r->clear, atomic_load_explicit(&r->clear, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
    }
    tc_leave(m);
    return NULL;
}

/* A mutator that only allocates inside one long raw section reaches a
 * safepoint within one group of 64 allocations, not one span's worth (512
 * here): the stop of every forced collection waits for at most that. */
TEST(pause_waits_for_at_most_one_group_of_allocations)
{
    tc_heap *h = new_heap_gogc(-1); /* only the forced collections below stop the world */
    CHECK(h);
    alloc_run r = {.h = h};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, allocator, &r) == 0);
    while (!atomic_load(&r.started))
        sched_yield();
    tc_status st = TC_OK;
    for (int i = 0; i < 60 && st == TC_OK; i++) {
        st = tc_heap_collect(h);
        /* one collection's pauses apart from the next's: the allocator
         * allocated with none pending in between (the phase tells a
         * collection's own pauses apart: above) */
        uint64_t seen = atomic_load(&r.clear);
        while (st == TC_OK && atomic_load(&r.clear) <= seen)
            sched_yield();
    }
    atomic_store(&r.done, true);
    pthread_join(t, NULL);
    tc_heap_destroy(h);
    CHECK_OK(st);
    if (r.worst > GROUP)
        fprintf(stderr, "  %llu allocations returned while one pause waited (%llu pauses seen)\n",
                (unsigned long long)r.worst, (unsigned long long)r.episodes);
    CHECK(r.episodes >= 10); /* the pauses did wait for the allocator */
    CHECK(r.worst <= GROUP);
}

typedef struct clear_run {
    tc_heap *h;
    size_t bytes;
    atomic_bool returned; /* the large allocation returned */
    tc_obj *got;
} clear_run;

/* large_allocator — one large allocation in a raw section, then a look for
 * a pause (so that the stop below is acknowledged either way). */
static void *large_allocator(void *arg)
{
    clear_run *r = arg;
    tc_mutator *m = tc_enter(r->h);
    if (!m)
        return NULL;
    r->got = tc_alloc(m, 0, r->bytes);
    atomic_store(&r->returned, true);
    tc_safepoint(m);
    tc_leave(m);
    return NULL;
}

/* returned_at_stop — stop the world (as a collector would) and say
 * whether r's allocation had returned by then; a held test hook (`hold`,
 * if any) is let go before the world starts again. */
static bool returned_at_stop(tc_heap *h, clear_run *r, _Atomic int *hold)
{
    pthread_mutex_lock(&h->gc_lock);
    world_stop(h, NULL);
    bool returned = atomic_load(&r->returned);
    if (hold)
        atomic_store(hold, 3);
    world_start(h);
    pthread_mutex_unlock(&h->gc_lock);
    return returned;
}

/* A large object on recycled pages is cleared before it is returned; the
 * clear is proportional to the object (1 GiB: a second or so), so it looks
 * for a pause as it goes: a world stop requested as the clear begins (the
 * test hook holds the clear until then) is acknowledged before the clear
 * ends, with the allocation not yet returned. Before, the clear was one
 * memset and the stop waited for all of it. */
TEST(large_clear_stops_for_a_pause)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* the clear is the same under every collector */
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    enum { BYTES = 64 << 20 };
    tc_root *r;
    CHECK_OK(tc_obj_new(h, 0, BYTES, NULL, &r)); /* its pages, freed, need clearing when reused */
    tc_root_release(h, r);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
    atomic_store(&h->debug_clear_hold, 1);
    clear_run run = {.h = h, .bytes = BYTES};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, large_allocator, &run) == 0);
    while (atomic_load(&h->debug_clear_hold) != 2 && !atomic_load(&run.returned))
        sched_yield();
    bool cleared_here = atomic_load(&h->debug_clear_hold) == 2; /* the reused pages were cleared */
    bool returned_before_stop = cleared_here ? returned_at_stop(h, &run, NULL) : true;
    pthread_join(t, NULL);
    CHECK(cleared_here);
    CHECK(!returned_before_stop);
    CHECK(run.got != NULL);
    tc_heap_destroy(h);
}

/* resident — is the page holding p backed by memory (mincore)? */
static bool resident(const void *p)
{
    unsigned char v = 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    return mincore((void *)((uintptr_t)p & ~(page - 1)), page, &v) == 0 && (v & 1);
}

/* The first allocation of a fresh heap takes pages the process never
 * touched. Their first touches fault (on a virtual machine the host backs
 * each page then: up to 800 us of CPU for one fault on the pause workload),
 * and a fault cannot look for a pause, so the refill faults them in itself,
 * parked: a world stop requested while the prefault is held (the test
 * hook holds it until the stop is done) is acknowledged with the
 * allocation not yet returned, and afterwards the stretch past the new object, which nothing
 * has written, is resident already. Before, the faults came one by one
 * from the fast path's stores, inside the heap call. */
TEST(refill_faults_fresh_pages_in_parked)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* the refill is the same under every collector */
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    atomic_store(&h->debug_prefault_hold, 1);
    clear_run run = {.h = h, .bytes = 8};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, large_allocator, &run) == 0); /* one small object, then a look */
    while (atomic_load(&h->debug_prefault_hold) != 2 && !atomic_load(&run.returned))
        sched_yield();
    bool held = atomic_load(&h->debug_prefault_hold) == 2;
    /* the stop returns while the allocator is held, parked; then it goes on */
    bool returned_before_stop = held ? returned_at_stop(h, &run, &h->debug_prefault_hold) : true;
    pthread_join(t, NULL);
    CHECK(held);
    CHECK(!returned_before_stop);
    CHECK(run.got != NULL);
    /* 64 KiB past the object: in the claimed stretch (256 KiB), written by
     * no one. Where the OS cannot prefault (MADV_POPULATE_WRITE, Linux
     * 5.14), the stretch faults in at first touch as before. */
    static char probe[1 << 13];
    if (run.got && plat_prefault(probe, sizeof probe))
        CHECK(resident((char *)run.got + (64 << 10)));
    tc_heap_destroy(h);
}

typedef struct request_run {
    tc_heap *h;
    atomic_bool done;     /* told to leave */
    atomic_bool failed;   /* an allocation failed: no request will come */
    atomic_bool returned; /* the allocation that asked for a cycle returned */
    bool keep_local;      /* hold one local (a pattern in its payload) throughout */
    bool alive;           /* ...and it still held its object at the end */
} request_run;

/* requester — one raw section that allocates garbage until told to stop;
 * the first allocation past the trigger asks the collector thread for a
 * cycle (assist.c: start_cycle), where the test hook holds it. */
static void *requester(void *arg)
{
    request_run *r = arg;
    tc_mutator *m = tc_enter(r->h);
    if (!m) {
        atomic_store(&r->failed, true);
        return NULL;
    }
    tc_obj **loc = r->keep_local ? tc_locals(m, 1) : NULL;
    if (loc && (loc[0] = tc_alloc(m, 0, 8)) != NULL)
        memset(tc_payload(loc[0]), 0x5a, 8);
    while (!atomic_load(&r->done)) {
        if (!tc_alloc(m, 0, 8)) {
            atomic_store(&r->failed, true);
            break;
        }
        if (atomic_load(&r->h->debug_request_hold) >= 2)
            atomic_store(&r->returned, true);
    }
    if (loc) {
        r->alive = loc[0] && ((unsigned char *)tc_payload(loc[0]))[7] == 0x5a;
        tc_locals_pop(m, 1);
    }
    tc_leave(m);
    return NULL;
}

/* collect_and_refill — three whole collections, a verify (*verified), then
 * 1000 small objects made and dropped: slots the sweep freed are reused,
 * so a lost object's payload changes. */
static tc_status collect_and_refill(tc_heap *h, tc_status *verified)
{
    tc_status st = TC_OK;
    for (int i = 0; i < 3 && st == TC_OK; i++)
        st = tc_heap_collect(h);
    *verified = tc_heap_verify(h);
    tc_root *fill;
    for (int i = 0; i < 1000 && st == TC_OK; i++)
        if ((st = tc_obj_new(h, 0, 8, NULL, &fill)) == TC_OK)
            tc_root_release(h, fill);
    return st;
}

/* hold_a_requester — a heap in r->h (gogc 100) and a requester on it with
 * debug_request_hold = `arm` (assist.c); true once the hook says arm + 1
 * (the thread held). */
static bool hold_a_requester(request_run *r, pthread_t *t, int arm)
{
    *t = pthread_self(); /* no thread yet (end_requester) */
    r->h = new_heap_gogc(100);
    if (!r->h)
        return false;
    atomic_store(&r->h->debug_request_hold, arm);
    if (pthread_create(t, NULL, requester, r) != 0) {
        *t = pthread_self();
        return false;
    }
    while (atomic_load(&r->h->debug_request_hold) != arm + 1 && !atomic_load(&r->failed))
        sched_yield();
    return atomic_load(&r->h->debug_request_hold) == arm + 1;
}

/* end_requester — tell the requester to leave, join it, destroy its heap. */
static void end_requester(request_run *r, pthread_t t)
{
    atomic_store(&r->done, true);
    if (!pthread_equal(t, pthread_self()))
        pthread_join(t, NULL);
    tc_heap_destroy(r->h);
}

/* A mutator past the trigger asks the collector thread for a cycle: a
 * mutex and a condition-variable signal, whose futex wake-up (the
 * collector thread waits for that very mutex) is a system call that can
 * take the CPU from the caller. The collector's first act is the start
 * pause, which then waited for the caller to come back from its request
 * (issue 16, the 1 GiB building: 77-730 us, the caller found inside
 * pthread_mutex_unlock's wake-up, called from collector_request). So the
 * request is made parked: a world stop requested while the test hook holds
 * the caller in its request is acknowledged with the allocation not yet
 * returned. (Whether that stop needed a heavy fence depends on the
 * scheduler: measured, never asserted; benchmarks/README-gclab.md.) */
TEST(pause_does_not_wait_for_a_cycle_request)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* only the concurrent collector's thread is asked */
    request_run r = {.h = NULL};
    pthread_t t;
    bool held = hold_a_requester(&r, &t, 1);
    tc_heap *h = r.h;
    CHECK(h);
    bool returned_at_stop = true;
    if (held) {
        pthread_mutex_lock(&h->gc_lock);
        world_stop(h, NULL);
        returned_at_stop = atomic_load(&r.returned);
        atomic_store(&h->debug_request_hold, 3); /* a parked requester may miss the stop */
        world_start(h);
        pthread_mutex_unlock(&h->gc_lock);
    }
    end_requester(&r, t);
    CHECK(held);
    CHECK(!returned_at_stop);
}

/* A mutator parked in its request for a cycle (assist.c: request_parked,
 * inside tc_alloc) may sit there while whole cycles run: the one it asked
 * for, and more. Inactive, it is stopped; holding a local, it stays listed
 * (only mutators without locals are dropped), so every start pause scans
 * its local and the object survives, and the heap verifies. Forced with
 * debug_request_hold = 5 (held back from its request, `requesting`), never
 * timed. Planted STOP_DROPS_LOCALS fails here too. */
TEST(a_requesting_threads_locals_survive_the_cycles_it_waits_through)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* only the concurrent collector's thread is asked */
    tc_status verified = TC_OK, st = TC_OK;
    request_run r = {.keep_local = true};
    pthread_t t;
    if (hold_a_requester(&r, &t, 5)) /* parked in tc_alloc, holding its local */
        st = collect_and_refill(r.h, &verified);
    CHECK(r.h);
    bool held = atomic_load(&r.h->debug_request_hold) == 6;
    atomic_store(&r.h->debug_request_hold, 0);
    end_requester(&r, t);
    CHECK(held);
    CHECK_OK(st);
    CHECK_OK(verified);
    CHECK(r.alive);
}

/* requesting_in_child — a fork's child: only the forking thread exists,
 * so no mutator is parked in a request for a cycle; exits with how many
 * still say `requesting`. */
static int requesting_in_child(tc_heap *h)
{
    int stale = 0;
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *m = h->mutators; m; m = m->next)
        stale += atomic_load(&m->requesting) != 0;
    pthread_mutex_unlock(&h->mut_lock);
    return stale;
}

/* A fork while a mutator is parked in its request for a cycle (a fork is
 * a stop, and a parked mutator is stopped): in the child that mutator is a
 * spare a new thread may adopt (fork.c, forget_threads), and a stale
 * `requesting` would make every stop that reads it idle wait REQUEST_SPINS
 * for a word no thread will write (mutator.c, wait_out) before it fences.
 * Forced with debug_request_hold = 5 (held back from its request, still
 * `requesting`), never timed: the child counts the flags. */
TEST(a_fork_during_a_cycle_request_leaves_no_requester_in_the_child)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* only the concurrent collector's thread is asked */
    request_run r = {.h = NULL};
    pthread_t t;
    int status = -1;
    bool held = hold_a_requester(&r, &t, 5);
    CHECK(r.h);
    if (held) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0)
            _exit(requesting_in_child(r.h));
        atomic_store(&r.h->debug_request_hold, 0);
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
            status = -1;
    }
    end_requester(&r, t);
    CHECK(held);
    if (status != 0)
        fprintf(stderr, "  child status %d (exit code: mutators still `requesting`)\n", status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A collection with one handle walks the handle slots that were ever
 * handed out, not a whole 4,096-slot chunk: the Dijkstra termination
 * re-scans the handles inside its pause, so an empty chunk's tail would be
 * a pause term that no handle asked for (issue 16: 10-35 us at 1 GiB).
 * Counted in slots walked (every handle walk adds to it), never timed:
 * the mark's start and each termination attempt walk the table once. */
TEST(pause_handle_walk_covers_used_slots_only)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.barrier = TC_BARRIER_DIJKSTRA;
    c.gogc = -1;
    tc_heap *h = NULL;
    CHECK_OK(tc_heap_new(&c, &h));
    tc_root *r;
    CHECK_OK(tc_obj_new(h, 1, 8, NULL, &r));
    uint64_t before = roots_debug_visited(h);
    CHECK_OK(tc_heap_collect(h));
    uint64_t walked = roots_debug_visited(h) - before;
    tc_root_release(h, r);
    tc_heap_destroy(h);
    if (walked >= 4096)
        fprintf(stderr, "  one collection with one handle walked %llu handle slots\n", (unsigned long long)walked);
    CHECK(walked > 0);     /* the handle was walked */
    CHECK(walked < 4096);  /* ...but not a whole chunk's worth */
}

enum { IDLE_THREADS = 32, IDLE_THREADS_MAX = 128 };

typedef struct idle_run {
    tc_heap *h;
    atomic_int ready;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool go; /* under mu */
} idle_run;

/* idler — allocate once (the mutator now caches a span), then stay idle,
 * registered with the heap, until told to end. */
static void *idler(void *arg)
{
    idle_run *r = arg;
    tc_root *o;
    if (tc_obj_new(r->h, 1, 8, NULL, &o) == TC_OK)
        tc_root_release(r->h, o);
    atomic_fetch_add(&r->ready, 1);
    pthread_mutex_lock(&r->mu);
    while (!r->go)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

typedef struct idle_counts {
    uint64_t v[3];      /* `count` before, between and after the two collections */
    uint64_t pauses[3]; /* tc_stats.npauses at the same points */
} idle_counts;

/* idle_mark — c's figures at point i. */
static void idle_mark(tc_heap *h, uint64_t (*count)(tc_heap *), idle_counts *c, int i)
{
    tc_stats s;
    c->v[i] = count(h);
    c->pauses[i] = tc_heap_stats(h, &s) == TC_OK ? s.npauses : 0;
}

/* collect_beside_idlers — two collections of a fresh heap beside `want`
 * (at most IDLE_THREADS_MAX) threads that made one heap call each (an
 * allocation) and idle, registered; `count` and the pauses at each point. */
static tc_status collect_beside_idlers(int want, uint64_t (*count)(tc_heap *), idle_counts *c)
{
    tc_heap *h = new_heap_gogc(-1);
    if (!h)
        return TC_ERR_NOMEM;
    idle_run r = {.h = h, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t t[IDLE_THREADS_MAX];
    int n = 0;
    while (n < want && pthread_create(&t[n], NULL, idler, &r) == 0)
        n++;
    while (atomic_load(&r.ready) < n)
        sched_yield();
    idle_mark(h, count, c, 0);
    tc_status st = tc_heap_collect(h);
    idle_mark(h, count, c, 1);
    if (st == TC_OK)
        st = tc_heap_collect(h);
    idle_mark(h, count, c, 2);
    pthread_mutex_lock(&r.mu);
    r.go = true;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    tc_heap_destroy(h);
    return n == want ? st : TC_ERR_NOMEM;
}

/* The termination pause gives back the allocation caches of the mutators
 * that allocated since the last one and sums the heap's figures, without
 * one look per registered mutator: 32 threads that allocated once and then
 * idle cost the first collection their caches and the next one nothing
 * (the pause budget: nothing inside the window grows with idle threads).
 * Counted in mutator records read inside pauses (cycle_debug_flushed),
 * never timed. */
TEST(pause_flush_visits_only_mutators_that_allocated)
{
    idle_counts c;
    CHECK_OK(collect_beside_idlers(IDLE_THREADS, cycle_debug_flushed, &c));
    uint64_t *v = c.v;
    if (v[2] - v[1] > 1)
        fprintf(stderr, "  collections visited %llu, then %llu mutators' caches\n",
                (unsigned long long)(v[1] - v[0]), (unsigned long long)(v[2] - v[1]));
    CHECK(v[1] - v[0] >= IDLE_THREADS); /* the first one gave back every cache */
    CHECK(v[2] - v[1] <= 1);            /* the second: at most the collecting thread's own */
}

/* A pause reads the `active` word and the locals of the mutators that may
 * be inside a heap call or hold locals, not of every registered one: 32
 * threads that made one heap call each and then idle are read by the
 * first collection's first stop (which drops them from the list) and by
 * no later pause (the pause budget: nothing inside the window grows with
 * idle threads). Counted in mutator records read by world_stop and
 * mark_push_locals (mutator_debug_stop_visited), never timed. */
TEST(pause_stop_reads_only_listed_mutators)
{
    idle_counts c;
    CHECK_OK(collect_beside_idlers(IDLE_THREADS, mutator_debug_stop_visited, &c));
    uint64_t *v = c.v;
    if (v[2] - v[1] >= IDLE_THREADS)
        fprintf(stderr, "  collections read %llu, then %llu mutator records in their pauses\n",
                (unsigned long long)(v[1] - v[0]), (unsigned long long)(v[2] - v[1]));
    CHECK(v[1] - v[0] >= IDLE_THREADS); /* the first stop read each of them once */
    CHECK(v[2] - v[1] < IDLE_THREADS);  /* then only the collecting thread's own, once or twice a pause */
}

/* The stop's work does not grow with idle threads: beside none and beside
 * IDLE_THREADS_MAX idle registered threads alike, the second collection
 * reads at most two mutator records per pause, the one running mutator's
 * (the collecting thread: in world_stop and in mark_push_locals), while
 * the first read every idle one once (it dropped them). Counted in records
 * (mutator_debug_stop_visited) against pauses (tc_stats.npauses), never
 * timed. */
TEST(pause_stop_work_does_not_grow_with_idle_threads)
{
    for (int n = 0; n <= IDLE_THREADS_MAX; n += IDLE_THREADS_MAX) {
        idle_counts c;
        CHECK_OK(collect_beside_idlers(n, mutator_debug_stop_visited, &c));
        uint64_t reads = c.v[2] - c.v[1], pauses = c.pauses[2] - c.pauses[1];
        if (reads > 2 * pauses || c.v[1] - c.v[0] < (uint64_t)n)
            fprintf(stderr, "  %d idle threads: the first collection read %llu records, the second %llu in %llu pauses\n",
                    n, (unsigned long long)(c.v[1] - c.v[0]), (unsigned long long)reads, (unsigned long long)pauses);
        CHECK(c.v[1] - c.v[0] >= (uint64_t)n); /* the first stop read each of them once */
        CHECK(pauses >= 1);
        CHECK(reads <= 2 * pauses); /* the one running mutator's, twice a pause at most */
    }
}

typedef struct local_run {
    tc_heap *h;
    tc_mutator *m;    /* the thread's mutator (relister: set before stage 1) */
    atomic_int stage; /* the thread's stage: each test's thread function says what each means */
    bool alive;       /* local_holder: the local still held its object afterwards */
} local_run;

/* await_stage — spin (yielding) until *stage is v: the handoffs below. */
static void await_stage(atomic_int *stage, int v)
{
    while (atomic_load(stage) != v)
        sched_yield();
}

/* run_to_stage_1 — start fn(r) on a thread and wait until it says stage 1. */
static bool run_to_stage_1(pthread_t *t, void *(*fn)(void *), local_run *r)
{
    if (pthread_create(t, NULL, fn, r) != 0)
        return false;
    await_stage(&r->stage, 1);
    return true;
}

/* local_holder — leave a heap call with one local holding an object (a
 * pattern in its payload), idle until told, then look at it again. */
static void *local_holder(void *arg)
{
    local_run *r = arg;
    tc_mutator *m = tc_enter(r->h);
    if (!m)
        return NULL;
    tc_obj **loc = tc_locals(m, 1);
    loc[0] = loc ? tc_alloc(m, 0, 8) : NULL;
    if (loc && loc[0])
        memset(tc_payload(loc[0]), 0x5a, 8);
    tc_leave(m);
    atomic_store(&r->stage, 1);
    await_stage(&r->stage, 2);
    m = tc_enter(r->h);
    r->alive = loc && loc[0] && ((unsigned char *)tc_payload(loc[0]))[7] == 0x5a;
    tc_locals_pop(m, 1);
    tc_leave(m);
    return NULL;
}

/* An idle thread that left its heap call holding a local stays listed
 * (the stop drops only mutators with no locals), so the pauses still scan
 * that local and its object survives collections while it idles, and the
 * heap verifies. Planted STOP_DROPS_LOCALS (the drop ignores locals) must
 * fail here: make test-planted. */
TEST(pause_keeps_an_idle_threads_locals)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    local_run r = {.h = h};
    pthread_t t;
    CHECK(run_to_stage_1(&t, local_holder, &r));
    tc_status verified;
    tc_status st = collect_and_refill(h, &verified);
    atomic_store(&r.stage, 2);
    pthread_join(t, NULL);
    tc_heap_destroy(h);
    CHECK_OK(st);
    CHECK_OK(verified);
    CHECK(r.alive);
}

/* relister — make one heap call and idle; then, told to, enter a raw
 * section (held by debug_list_hold as it lists itself) and stay inside
 * until told to leave. */
static void *relister(void *arg)
{
    local_run *r = arg;
    tc_mutator *m = tc_enter(r->h);
    if (m) {
        tc_alloc(m, 0, 8);
        tc_leave(m);
    }
    r->m = m;
    atomic_store(&r->stage, 1);
    await_stage(&r->stage, 2);
    m = tc_enter(r->h);
    atomic_store(&r->stage, 3);
    await_stage(&r->stage, 4);
    if (m)
        tc_leave(m);
    return NULL;
}

/* A thread that a stop drops (idle, no locals) lists itself again as it
 * re-enters; a whole collection that runs after its push and before it
 * sets `active` takes it off the list and drops it again (it was inactive
 * when read). It must not then go on into its heap call unlisted: no
 * later pause would read its `active` word, and one would flush its cache
 * while it allocates from it (the TSan report of
 * stats_inside_a_raw_section_while_the_world_stops). So once its call has
 * begun, the thread is on the list. The interleaving is forced with
 * debug_list_hold, not timed. */
TEST(pause_sees_a_thread_dropped_while_it_listed_itself)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    local_run r = {.h = h};
    pthread_t t;
    CHECK(run_to_stage_1(&t, relister, &r));
    tc_status st1 = tc_heap_collect(h); /* drops the idle thread */
    bool dropped = r.m && !mutator_debug_on_list(h, r.m);
    atomic_store(&h->debug_list_hold, (uintptr_t)r.m);
    atomic_store(&r.stage, 2);
    while (atomic_load(&h->debug_list_hold) != ((uintptr_t)r.m | 1))
        sched_yield();
    tc_status st2 = tc_heap_collect(h); /* takes it off the list, inactive: drops it */
    atomic_store(&h->debug_list_hold, 0);
    await_stage(&r.stage, 3);
    bool listed = mutator_debug_on_list(h, r.m);
    atomic_store(&r.stage, 4);
    pthread_join(t, NULL);
    tc_status verified = tc_heap_verify(h);
    tc_heap_destroy(h);
    CHECK_OK(st1);
    CHECK_OK(st2);
    CHECK_OK(verified);
    CHECK(dropped); /* the setup: the first collection dropped it */
    CHECK(listed);  /* inside its call, on the list for the next pause */
}

/* The two sides of the pauses (cycle_debug_pause_split): each is a part
 * of some pause, so neither exceeds the longest pause, and the stopped
 * stretch of a collection is never empty (the clock is read on both sides
 * of the collector's work). The longest pause's anatomy
 * (cycle_debug_pause_longest): it is the longest pause (here every pause
 * is a cycle's), its two sides add up to it, its kind is the collector's
 * (a stw cycle is one pause; the others pause to start and to end the
 * mark), and its stopper's CPU time over it is counted (the collector's
 * work inside is not nothing). The stopper's context switches depend on
 * the scheduler: printed by the benchmark, never asserted. */
TEST(pause_split_sides_are_parts_of_pauses)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_root *r;
    CHECK_OK(tc_obj_new(h, 1, 8, NULL, &r));
    tc_status st = TC_OK;
    for (int i = 0; i < 3 && st == TC_OK; i++)
        st = tc_heap_collect(h);
    uint64_t wait, inside, pa[PAUSE_ANATOMY], preempted;
    cycle_debug_pause_split(h, &wait, &inside);
    cycle_debug_pause_longest(h, pa, &preempted);
    tc_stats s;
    tc_status st2 = tc_heap_stats(h, &s);
    tc_root_release(h, r);
    tc_heap_destroy(h);
    CHECK_OK(st);
    CHECK_OK(st2);
    CHECK(inside > 0);
    CHECK(wait <= s.pause_max_ns);
    CHECK(inside <= s.pause_max_ns);
    CHECK(pa[PA_TOTAL] == s.pause_max_ns);
    CHECK(pa[PA_WAIT] + pa[PA_STOPPED] == pa[PA_TOTAL]);
    CHECK(pa[PA_STOPPED] > 0);
    CHECK(pa[PA_CPU] > 0);
    if (tc_test_collector == TC_COLLECTOR_STW)
        CHECK(pa[PA_KIND] == PAUSE_KIND_STW);
    else
        CHECK(pa[PA_KIND] == PAUSE_KIND_START || pa[PA_KIND] == PAUSE_KIND_TERM);
    CHECK(preempted <= s.npauses); /* a count of pauses (every one of this heap's is a cycle's) */
    /* a probed wait for one mutator is 20 us or more (else none) and inside the pause's wait */
    CHECK(pa[PA_MUT_WAIT] == 0 || pa[PA_MUT_WAIT] >= 20000);
    CHECK(pa[PA_MUT_WAIT] <= pa[PA_WAIT]);
}

typedef struct spin_run {
    _Atomic int tid;
    _Atomic uint64_t cpu; /* its own CPU clock, read by itself */
    atomic_bool done;
} spin_run;

/* spinner — burn CPU until told, saying its CPU time as it goes. */
static void *spinner(void *arg)
{
    spin_run *r = arg;
    atomic_store(&r->tid, plat_thread_id());
    while (!atomic_load(&r->done))
        atomic_store(&r->cpu, plat_thread_cpu_ns());
    return NULL;
}

/* The stopper reads a waited-for mutator's CPU clock by its kernel thread
 * id (mutator.c: probe_begin): read from another thread, a live thread's
 * clock is at least what that thread last read of it itself, and a thread
 * that is gone reads 0 (its id's clock is refused, never a fault). */
TEST(a_threads_cpu_clock_is_read_from_another_thread)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* nothing of a collector's */
    if (!plat_thread_id())
        return; /* not Linux: the stopper reads no clock */
    spin_run r = {0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, spinner, &r) == 0);
    while (!atomic_load(&r.cpu))
        sched_yield();
    uint64_t own = atomic_load(&r.cpu);
    uint64_t seen = plat_thread_cpu_of(atomic_load(&r.tid));
    atomic_store(&r.done, true);
    pthread_join(t, NULL);
    CHECK(seen >= own);
    /* an id that names no thread of ours: another process's (its parent's).
     * Not the joined thread's: pthread_join returns when the kernel clears
     * its id word, before the exiting task is gone, and its clock still read
     * (full make test at load ~15, 1 of 1) */
    CHECK(plat_thread_cpu_of((int)getppid()) == 0);
    CHECK(plat_thread_cpu_of(plat_thread_id()) > 0);
}

typedef struct ack_run {
    tc_heap *h;
    atomic_bool stop_looping; /* leave the safepoint loop (then the second part) */
    _Atomic uint64_t rounds;  /* safepoint loop rounds, inside the raw section */
    atomic_bool inside2;      /* in the second part: inside, not looking for pauses */
    atomic_bool left_soon;    /* the second part is about to leave its heap call */
    atomic_bool stop_returned; /* the last stop returned (a stop that did not wait may end unseen) */
} ack_run;

/* acker — one raw section: look for a pause in a loop (each pause it sees
 * it acknowledges, parked at tc_safepoint) until told, then stay inside
 * without a look until a pause is requested (or a stop that did not wait
 * for it returned), and only then, a while later, leave. */
static void *acker(void *arg)
{
    ack_run *r = arg;
    tc_mutator *m = tc_enter(r->h);
    if (!m)
        return NULL;
    while (!atomic_load(&r->stop_looping)) {
        tc_safepoint(m);
        atomic_fetch_add(&r->rounds, 1);
    }
    atomic_store(&r->inside2, true);
    while (!atomic_load(&r->h->stw) && !atomic_load(&r->stop_returned))
        sched_yield();
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    atomic_store(&r->left_soon, true);
    tc_leave(m);
    return NULL;
}

/* stop_once — stop the world as a collector does and start it again. */
static void stop_once(tc_heap *h)
{
    pthread_mutex_lock(&h->gc_lock);
    world_stop(h, NULL);
    world_start(h);
    pthread_mutex_unlock(&h->gc_lock);
}

/* rounds_past — wait until the acker went round its loop again. */
static void rounds_past(ack_run *r)
{
    uint64_t seen = atomic_load(&r->rounds);
    while (atomic_load(&r->rounds) <= seen + 1)
        sched_yield();
}

/* A pause whose mutators all stop at a safepoint needs no heavy fence:
 * each says it saw the request (mutator.c, stw_ack), and the membarrier
 * (5-35 us of every pause on this VM) is only for a mutator that is out
 * without a word. Counted in fences (debug_heavy_fences), never timed.
 * A mutator the stopper reads between its `active` = 0 and its word (at
 * the first look, or preempted longer than ACK_SPINS) costs a fence: CI
 * under TSan saw 13 of 20 stops so, and this machine 1 of 20 in 1 of 3
 * TSan runs; the stopper here waits for the word as long as it takes
 * (debug_ack_patient), so the count is exact.
 * Then a mutator that acknowledged the first pauses and is inside its heap
 * call, not looking, when the next one is requested: the stop waits for
 * it to leave (an older pause's acknowledgement is not this one's). */
TEST(a_stale_acknowledgement_does_not_stop_a_running_mutator)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* the handshake is the same under every collector */
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    atomic_store(&h->debug_ack_patient, true);
    ack_run r = {.h = h};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, acker, &r) == 0);
    rounds_past(&r);
    uint64_t f0 = atomic_load(&h->debug_heavy_fences);
    enum { STOPS = 20 };
    for (int i = 0; i < STOPS; i++) {
        stop_once(h);
        rounds_past(&r); /* inside its loop again, past the wait for the world */
    }
    uint64_t fences = atomic_load(&h->debug_heavy_fences) - f0;
    atomic_store(&r.stop_looping, true);
    while (!atomic_load(&r.inside2))
        sched_yield();
    pthread_mutex_lock(&h->gc_lock);
    world_stop(h, NULL);
    bool left = atomic_load(&r.left_soon);
    atomic_store(&r.stop_returned, true);
    world_start(h);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_join(t, NULL);
    tc_heap_destroy(h);
    if (fences)
        fprintf(stderr, "  %llu of %d stops fenced\n", (unsigned long long)fences, STOPS);
    CHECK(fences == 0); /* 20 of 20 before stw_ack */
    CHECK(left);
}

typedef struct relist_run {
    tc_heap *h;
    tc_mutator *m;
    atomic_int stage;          /* the thread's stage (below) */
    atomic_bool stop_returned; /* the helper's world_stop returned (the world is stopped) */
    atomic_bool left_soon;     /* stage 5: about to leave its heap call */
    atomic_bool go_start;      /* the helper may start the world */
    atomic_bool stop2_returned;
} relist_run;

/* ack_relister — inside a raw section until told (stage 1); leaves during a
 * stop (acknowledging it); once that stop returned (world still stopped),
 * enters again: backs out, lists itself during the pause, waits for the
 * world (stage 2 before the enter); inside again (stage 3) until a new
 * pause is requested, then a while later leaves (left_soon). */
/* leave_in_a_stop — enter (stage 1), and leave once a pause is requested:
 * stw is 1, so set_inactive acknowledges; false if it could not enter. */
static bool leave_in_a_stop(relist_run *r)
{
    tc_mutator *m = tc_enter(r->h);
    r->m = m;
    atomic_store(&r->stage, 1);
    if (!m)
        return false;
    while (!atomic_load(&r->h->stw))
        sched_yield();
    tc_leave(m);
    return true;
}

static void *ack_relister(void *arg)
{
    relist_run *r = arg;
    if (!leave_in_a_stop(r))
        return NULL;
    tc_mutator *m;
    while (!atomic_load(&r->stop_returned))
        sched_yield();
    atomic_store(&r->stage, 2);
    m = tc_enter(r->h); /* backs out, lists itself (dropped), waits for the world */
    atomic_store(&r->stage, 3);
    if (!m)
        return NULL;
    while (!atomic_load(&r->h->stw) && !atomic_load(&r->stop2_returned))
        sched_yield();
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    atomic_store(&r->left_soon, true);
    tc_leave(m);
    return NULL;
}

/* stopper_once — world_stop on its own thread (the test thread watches),
 * world_start when told. */
static void *stopper_once(void *arg)
{
    relist_run *r = arg;
    pthread_mutex_lock(&r->h->gc_lock);
    world_stop(r->h, NULL);
    atomic_store(&r->stop_returned, true);
    while (!atomic_load(&r->go_start))
        sched_yield();
    world_start(r->h);
    pthread_mutex_unlock(&r->h->gc_lock);
    return NULL;
}

/* A mutator that a stop drops on its acknowledgement (no fence
 * needed) and that lists itself again inside that same pause (its push
 * after the stopper's drop) is on the list once inside, and the next stop
 * waits for it. Forced by handoffs, never timed. */
TEST(pause_waits_for_a_thread_dropped_on_its_ack_that_relisted_in_the_pause)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return;
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    relist_run r = {.h = h};
    pthread_t t, s;
    CHECK(pthread_create(&t, NULL, ack_relister, &r) == 0);
    await_stage(&r.stage, 1);
    uint64_t f0 = atomic_load(&h->debug_heavy_fences);
    atomic_store(&h->debug_list_hold, (uintptr_t)r.m); /* its push (only after a drop) says so and waits */
    CHECK(pthread_create(&s, NULL, stopper_once, &r) == 0);
    await_stage(&r.stage, 2);
    /* the thread backs out and pushes itself during the pause: dropped by this stop */
    while (atomic_load(&h->debug_list_hold) != ((uintptr_t)r.m | 1))
        sched_yield();
    bool listed_in_pause = atomic_load(&h->stw) && mutator_debug_on_list(h, r.m);
    atomic_store(&h->debug_list_hold, 0);
    bool inside_early = atomic_load(&r.stage) == 3;
    uint64_t fences = atomic_load(&h->debug_heavy_fences) - f0;
    atomic_store(&r.go_start, true);
    pthread_join(s, NULL);
    await_stage(&r.stage, 3);
    bool listed_inside = mutator_debug_on_list(h, r.m);
    pthread_mutex_lock(&h->gc_lock);
    world_stop(h, NULL);
    bool left = atomic_load(&r.left_soon);
    atomic_store(&r.stop2_returned, true);
    world_start(h);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_join(t, NULL);
    tc_status verified = tc_heap_verify(h);
    tc_heap_destroy(h);
    fprintf(stderr, "  first stop fenced %llu times; listed in pause %d\n", (unsigned long long)fences,
            listed_in_pause);
    CHECK_OK(verified);
    CHECK(!inside_early);
    CHECK(listed_in_pause); /* the setup: dropped on its ack, pushed during the same pause */
    CHECK(listed_inside);
    CHECK(left);
}

extern _Atomic uintptr_t mutator_debug_ack_hold; /* mutator.c's test hook */

/* late_acker — inside a raw section until a pause is requested; leaves
 * during it, its acknowledgement held between its two reads (the hook)
 * until the next stop has stored its number; enters again (stw still 0)
 * and lets that stop go on; stays inside until the stopper sleeps on it
 * (or its stop returned), then leaves. */
static void *late_acker(void *arg)
{
    relist_run *r = arg;
    if (!leave_in_a_stop(r)) /* held in mutator_wake_stopper until the next stop's hook */
        return NULL;
    tc_mutator *m = tc_enter(r->h);
    atomic_store(&r->stage, 2);
    atomic_store(&mutator_debug_ack_hold, 0); /* the held stop stores stw = 1 and waits */
    if (!m)
        return NULL;
    while (!atomic_load(&r->h->stopper_sleeping) && !atomic_load(&r->stop_returned))
        sched_yield();
    atomic_store(&r->left_soon, true);
    tc_leave(m);
    return NULL;
}

/* A mutator's acknowledgement reads the pause's number before it reads
 * stw again (mutator.c, the top): if it read stw first, a pause could end
 * and the next one store its number between the two reads, and the
 * mutator would take that number for a pause it has not seen; it enters
 * (stw still 0), and the next stop, taking the word for this pause's,
 * runs beside it. Forced with mutator_debug_ack_hold, never timed: the
 * stop must wait for the mutator to leave. Planted ACK_SEQ_LATE (the two
 * reads swapped) must fail here: make test-planted. */
TEST(a_late_ack_does_not_take_the_next_pauses_number)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* the handshake is the same under every collector */
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    relist_run r = {.h = h};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, late_acker, &r) == 0);
    await_stage(&r.stage, 1);
    atomic_store(&mutator_debug_ack_hold, (uintptr_t)r.m);
    pthread_mutex_lock(&h->gc_lock);
    world_stop(h, NULL); /* the thread leaves in it: held between its reads */
    while (r.m && atomic_load(&mutator_debug_ack_hold) != ((uintptr_t)r.m | 1))
        sched_yield();
    world_start(h);
    world_stop(h, NULL); /* its hook lets the thread go on after this stop's number is stored */
    bool left = atomic_load(&r.left_soon);
    atomic_store(&r.stop_returned, true);
    world_start(h);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_join(t, NULL);
    atomic_store(&mutator_debug_ack_hold, 0);
    tc_heap_destroy(h);
    CHECK(r.m);
    CHECK(left);
}
