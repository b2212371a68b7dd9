/*
 * trace.c — Chrome trace-event files (Perfetto and chrome://tracing open
 * them): every GC event (events.h) on the track of the thread it took or
 * ran on, the heap's cycles, phases and pauses on its "GC" track, and
 * counter tracks for heap_alloc, heap_goal, heap_live and the memory limit.
 *
 * Recording: while a trace runs (ev.tracing, set and cleared under
 * trace_lock), events are appended under trace_lock to a growable array.
 * Writing (tc_trace_stop, a heap close, process exit) copies nothing more
 * in: it takes the array, sorts it, and writes a temporary file that is
 * renamed over the trace, so the file is always whole, valid JSON:
 * tc_trace_start already writes an empty trace there.
 *
 * Invariants of a written file (tests/python/test_trace_files.py checks them):
 *  - one pid per heap (its uid) with process_name metadata; every tid used
 *    has thread_name metadata, and every mutator thread registered with the
 *    heap while the trace ran has a named track, even one that only waited
 *    out pauses (trace_thread);
 *  - on one track (pid, tid) no two complete ('X') events overlap partially:
 *    events are sorted by (start, longer first) and each goes on the first
 *    lane of its thread where it nests inside the open events or follows
 *    them; lanes beyond the first are tracks of their own ("... (2)");
 *  - within a track, timestamps do not decrease.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heap.h"
#include "trace.h"
#include "platform.h"

#define TRACE_LANES 8            /* tracks per thread for events that would overlap partially */
#define TRACE_LANE_TID 1000000u  /* lane k of thread t is tid t + k * TRACE_LANE_TID */
#define COUNTER_NS 10000000u     /* counters are sampled at least this often while allocating */

static void trace_push(tc_heap *h, const trace_event *e) /* trace_lock held */
{
    if (!h->trace_path)
        return;
    if (h->trace_n == h->trace_cap) {
        size_t cap = h->trace_cap ? h->trace_cap * 2 : 256;
        trace_event *ev = plat_realloc(h->trace_ev, cap * sizeof *ev);
        if (!ev)
            return; /* no memory: the trace has a gap, the heap goes on */
        h->trace_ev = ev;
        h->trace_cap = cap;
    }
    h->trace_ev[h->trace_n++] = *e;
}

void trace_emit(tc_heap *h, const char *name, char ph, uint64_t ts, uint64_t dur, uint64_t value)
{
    trace_event e = {name, ph, ts, dur, value, 0, 0, 0};
    pthread_mutex_lock(&h->trace_lock);
    trace_push(h, &e);
    pthread_mutex_unlock(&h->trace_lock);
}

void trace_event_add(tc_heap *h, const ev *x)
{
    trace_event e = {ev_kind_name((ev_kind)x->kind), 'X', (uint64_t)x->start, (uint64_t)(x->end - x->start),
                     x->cycle, x->bytes, x->objects, x->kind == EV_PAUSE ? 0 : x->tid};
    pthread_mutex_lock(&h->trace_lock);
    trace_push(h, &e);
    pthread_mutex_unlock(&h->trace_lock);
}

/* trace_thread — a mutator's track: a thread that only waits out pauses
 * has no events of its own, and still gets its named track ('M' marks it;
 * write_file names it and writes no event for it). */
void trace_thread(tc_heap *h, uint32_t tid)
{
    if (!atomic_load_explicit(&h->ev.tracing, memory_order_relaxed) || !tid)
        return;
    trace_event e = {"thread", 'M', plat_now_ns(), 0, 0, 0, 0, tid};
    pthread_mutex_lock(&h->trace_lock);
    trace_push(h, &e);
    pthread_mutex_unlock(&h->trace_lock);
}

void trace_counters(tc_heap *h, bool force)
{
    uint64_t now = plat_now_ns(), last = atomic_load_explicit(&h->ev.counter_ns, memory_order_relaxed);
    if (!atomic_load_explicit(&h->ev.tracing, memory_order_relaxed))
        return;
    if (!force && (now - last < COUNTER_NS ||
                   !atomic_compare_exchange_strong(&h->ev.counter_ns, &last, now)))
        return; /* sampled lately, or another thread samples now */
    atomic_store_explicit(&h->ev.counter_ns, now, memory_order_relaxed);
    uint64_t alloc = stats_heap_alloc(h);
    pthread_mutex_lock(&h->stats_lock);
    uint64_t live = h->heap_live;
    pthread_mutex_unlock(&h->stats_lock);
    uint64_t goal = atomic_load(&h->goal);
    int64_t limit = atomic_load(&h->memory_limit);
    trace_emit(h, "heap_alloc", 'C', now, 0, alloc);
    trace_emit(h, "heap_goal", 'C', now, 0, goal == UINT64_MAX ? 0 : goal);
    trace_emit(h, "heap_live", 'C', now, 0, live);
    if (limit > 0)
        trace_emit(h, "memory_limit", 'C', now, 0, (uint64_t)limit);
}

/* ---- writing ---- */

static int by_track_time(const void *pa, const void *pb)
{
    const trace_event *a = pa, *b = pb;
    if (a->tid != b->tid)
        return a->tid < b->tid ? -1 : 1;
    if (a->ts_ns != b->ts_ns)
        return a->ts_ns < b->ts_ns ? -1 : 1;
    if (a->dur_ns != b->dur_ns) /* the longer first: it encloses the other */
        return a->dur_ns > b->dur_ns ? -1 : 1;
    return 0;
}

/* assign_lanes — move 'X' events that would overlap partially to lanes
 * (ev sorted by track and time; counters and instants stay on lane 0). */
static void assign_lanes(trace_event *ev, size_t n)
{
    uint64_t stack[TRACE_LANES][64];
    unsigned depth[TRACE_LANES];
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || ev[i].tid != ev[i - 1].tid)
            memset(depth, 0, sizeof depth);
        if (ev[i].ph != 'X')
            continue;
        uint64_t s = ev[i].ts_ns, e = s + ev[i].dur_ns;
        int lane = 0;
        for (; lane < TRACE_LANES; lane++) {
            unsigned *d = &depth[lane];
            while (*d > 0 && stack[lane][*d - 1] <= s)
                (*d)--;
            if ((*d == 0 || stack[lane][*d - 1] >= e) && *d < 64) {
                stack[lane][(*d)++] = e;
                break;
            }
        }
        if (lane == TRACE_LANES) { /* no lane free: clip it into the innermost open event of the last */
            lane = TRACE_LANES - 1;
            uint64_t top = depth[lane] > 0 ? stack[lane][depth[lane] - 1] : e;
            ev[i].dur_ns = top > s ? top - s : 0;
        }
        ev[i].tid += (uint64_t)lane * TRACE_LANE_TID;
    }
}

static void write_name(FILE *f, tc_heap *h, uint64_t tid)
{
    char name[28];
    uint64_t base = tid % TRACE_LANE_TID, lane = tid / TRACE_LANE_TID;
    if (base == 0)
        snprintf(name, sizeof name, "GC (pauses, cycles)");
    else if (!ev_thread_name(h, (uint32_t)base, name))
        snprintf(name, sizeof name, "mutator thread %llu", (unsigned long long)base);
    fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%llu,\"tid\":%llu,\"args\":{\"name\":\"%s%s\"}}",
            (unsigned long long)h->uid, (unsigned long long)tid, name, lane ? " (overlap)" : "");
    fprintf(f, ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%llu,\"tid\":%llu,\"args\":"
            "{\"sort_index\":%llu}}", (unsigned long long)h->uid, (unsigned long long)tid,
            (unsigned long long)(base * TRACE_LANES + lane));
}

static void write_event(FILE *f, const tc_heap *h, const trace_event *e)
{
    double ts = (double)(e->ts_ns - h->start_ns) / 1000.0;
    fprintf(f, ",\n{\"name\":\"%s\",\"ph\":\"%c\",\"ts\":%.3f,\"pid\":%llu,\"tid\":%llu", e->name, e->ph, ts,
            (unsigned long long)h->uid, (unsigned long long)e->tid);
    if (e->ph == 'X')
        fprintf(f, ",\"dur\":%.3f,\"cat\":\"gc\",\"args\":{\"cycle\":%llu,\"bytes\":%llu,\"objects\":%llu}}",
                (double)e->dur_ns / 1000.0, (unsigned long long)e->value, (unsigned long long)e->bytes,
                (unsigned long long)e->objects);
    else if (e->ph == 'C')
        fprintf(f, ",\"args\":{\"bytes\":%llu}}", (unsigned long long)e->value);
    else
        fprintf(f, ",\"s\":\"t\"}");
}

/* write_file — the events as a whole trace at `path` (through a temporary
 * file renamed over it). ev is sorted and laned here. */
static tc_status write_file(tc_heap *h, const char *path, trace_event *ev, size_t n)
{
    if (n) { /* qsort's array may not be NULL, even for no elements */
        qsort(ev, n, sizeof *ev, by_track_time);
        assign_lanes(ev, n);
        qsort(ev, n, sizeof *ev, by_track_time);
    }
    size_t len = strlen(path) + 16;
    char *tmp = plat_malloc(len);
    if (!tmp)
        return tc_fail(TC_ERR_NOMEM, "out of memory");
    snprintf(tmp, len, "%s.tmp%d", path, (int)getpid());
    struct stat sb;
    bool direct = stat(path, &sb) == 0 && !S_ISREG(sb.st_mode); /* /dev/null, a pipe: no rename */
    FILE *f = direct ? NULL : fopen(tmp, "w");
    if (!f) { /* a directory we may not create files in: write the file itself */
        direct = true;
        f = fopen(path, "w");
    }
    if (!f) {
        tc_status st = tc_fail(TC_ERR_IO, "cannot write trace file %.200s: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[");
    fprintf(f, "\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%llu,\"args\":{\"name\":\"tricolor heap %llu "
            "(%s)\"}}", (unsigned long long)h->uid, (unsigned long long)h->uid, tc_collector_name(h->cfg.collector));
    write_name(f, h, 0);
    for (size_t i = 0; i < n; i++)
        if (ev[i].tid != 0 && (i == 0 || ev[i].tid != ev[i - 1].tid))
            write_name(f, h, ev[i].tid);
    for (size_t i = 0; i < n; i++)
        if (ev[i].ph != 'M') /* a track marker: named above, nothing to draw */
            write_event(f, h, &ev[i]);
    fprintf(f, "\n]}\n");
    tc_status st = TC_OK;
    if (fclose(f) != 0 || (!direct && rename(tmp, path) != 0)) {
        st = tc_fail(TC_ERR_IO, "cannot write trace file %.200s: %s", path, strerror(errno));
        if (!direct)
            remove(tmp);
    }
    free(tmp);
    return st;
}

/* take — end the running trace: its path and events (NULL: none ran). */
static char *take(tc_heap *h, trace_event **ev, size_t *n, int *pid)
{
    pthread_mutex_lock(&h->trace_lock);
    char *path = h->trace_path;
    *ev = h->trace_ev;
    *n = h->trace_n;
    *pid = h->trace_pid;
    h->trace_path = NULL;
    h->trace_ev = NULL;
    h->trace_n = h->trace_cap = 0;
    atomic_store(&h->ev.tracing, 0);
    pthread_mutex_unlock(&h->trace_lock);
    return path;
}

/* finish — write what take() gave (in the process that began the trace). */
static tc_status finish(tc_heap *h, char *path, trace_event *ev, size_t n, int pid)
{
    tc_status st = pid == (int)getpid() ? write_file(h, path, ev, n) : TC_OK;
    free(path);
    free(ev);
    return st;
}

void trace_free(tc_heap *h)
{
    trace_event *ev;
    size_t n;
    int pid;
    char *path = take(h, &ev, &n, &pid);
    if (path)
        finish(h, path, ev, n, pid); /* the heap closed while tracing: the file stays whole */
}

/* at_exit — a process that exits with a trace running writes it. */
static void at_exit_heap(tc_heap *h)
{
    if (!atomic_load(&h->ev.tracing))
        return;
    trace_event *ev;
    size_t n;
    int pid;
    char *path = take(h, &ev, &n, &pid);
    if (path)
        finish(h, path, ev, n, pid);
}

static void at_exit(void) { heap_each_live(at_exit_heap); }
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static void exit_register(void) { atexit(at_exit); }

/* trace_mutators — a track for every thread registered with h now (those
 * that register later call trace_thread themselves). The tids are copied out
 * of mut_lock first: trace_lock is never taken under it. */
static void trace_mutators(tc_heap *h)
{
    size_t n = 0, cap = 0;
    uint32_t *tids = NULL;
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *m = h->mutators; m; m = m->next)
        cap++;
    tids = cap ? plat_malloc(cap * sizeof *tids) : NULL;
    for (tc_mutator *m = h->mutators; tids && m; m = m->next)
        if (m->owned)
            tids[n++] = m->tid;
    pthread_mutex_unlock(&h->mut_lock);
    for (size_t i = 0; i < n; i++)
        trace_thread(h, tids[i]);
    free(tids);
}

tc_status tc_trace_start(tc_heap *h, const char *path)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    if (!path || !*path)
        return tc_fail(TC_ERR_VALUE, "trace path must be a non-empty string");
    pthread_mutex_lock(&h->trace_lock);
    bool running = h->trace_path != NULL;
    pthread_mutex_unlock(&h->trace_lock);
    if (running)
        return tc_fail(TC_ERR_STATE, "a trace is already running");
    tc_status st = write_file(h, path, NULL, 0); /* an empty trace: valid until the real one replaces it */
    if (st != TC_OK)
        return st;
    pthread_once(&exit_once, exit_register);
    pthread_mutex_lock(&h->trace_lock);
    if (h->trace_path) {
        st = tc_fail(TC_ERR_STATE, "a trace is already running (to %.200s)", h->trace_path);
    } else if (!(h->trace_path = plat_strdup(path))) {
        st = tc_fail(TC_ERR_NOMEM, "out of memory");
    } else {
        h->trace_n = 0;
        h->trace_pid = (int)getpid();
        atomic_store(&h->ev.tracing, 1);
    }
    pthread_mutex_unlock(&h->trace_lock);
    if (st == TC_OK) {
        trace_emit(h, "trace_start", 'i', plat_now_ns(), 0, 0);
        trace_mutators(h);
        trace_counters(h, true);
    }
    return st;
}

tc_status tc_trace_stop(tc_heap *h)
{
    if (atomic_load(&h->closed)) /* close wrote the trace */
        return tc_fail(TC_ERR_CLOSED, "the heap is closed (its trace was written when it closed)");
    trace_counters(h, true);
    trace_event *ev;
    size_t n;
    int pid;
    char *path = take(h, &ev, &n, &pid);
    if (!path)
        return tc_fail(TC_ERR_STATE, "no trace is running (call trace_start first)");
    return finish(h, path, ev, n, pid);
}
