/*
 * trace.c — Chrome trace-event recording (cycles, phases, pauses, heap size),
 * written as JSON by tc_trace_stop; Perfetto and chrome://tracing open it.
 *
 * Events are appended under trace_lock to a growable array while a trace
 * runs; nothing is recorded otherwise. Timestamps are microseconds since the
 * heap was created. Complete events ('X') carry the cycle number in args.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "platform.h"

void trace_emit(tc_heap *h, const char *name, char ph, uint64_t ts, uint64_t dur, uint64_t value)
{
    pthread_mutex_lock(&h->trace_lock);
    if (h->trace_path) {
        if (h->trace_n == h->trace_cap) {
            size_t cap = h->trace_cap ? h->trace_cap * 2 : 256;
            trace_event *ev = plat_realloc(h->trace_ev, cap * sizeof *ev);
            if (ev) {
                h->trace_ev = ev;
                h->trace_cap = cap;
            }
        }
        if (h->trace_n < h->trace_cap) {
            trace_event *e = &h->trace_ev[h->trace_n++];
            e->name = name;
            e->ph = ph;
            e->ts_ns = ts;
            e->dur_ns = dur;
            e->value = value;
            e->tid = 1;
        }
    }
    pthread_mutex_unlock(&h->trace_lock);
}

void trace_free(tc_heap *h)
{
    pthread_mutex_lock(&h->trace_lock);
    free(h->trace_path);
    free(h->trace_ev);
    h->trace_path = NULL;
    h->trace_ev = NULL;
    h->trace_n = h->trace_cap = 0;
    pthread_mutex_unlock(&h->trace_lock);
}

tc_status tc_trace_start(tc_heap *h, const char *path)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    if (!path || !*path)
        return tc_fail(TC_ERR_VALUE, "trace path must be a non-empty string");
    FILE *f = fopen(path, "w");
    if (!f)
        return tc_fail(TC_ERR_IO, "cannot create trace file %.200s: %s", path, strerror(errno));
    fclose(f);
    tc_status st = TC_OK;
    pthread_mutex_lock(&h->trace_lock);
    if (h->trace_path) {
        st = tc_fail(TC_ERR_STATE, "a trace is already running (to %.200s)", h->trace_path);
    } else if (!(h->trace_path = plat_strdup(path))) {
        st = tc_fail(TC_ERR_NOMEM, "out of memory");
    } else {
        h->trace_n = 0;
    }
    pthread_mutex_unlock(&h->trace_lock);
    if (st == TC_OK)
        trace_emit(h, "trace_start", 'i', plat_now_ns(), 0, 0);
    return st;
}

static void write_event(FILE *f, const tc_heap *h, const trace_event *e, bool first)
{
    double ts = (double)(e->ts_ns - h->start_ns) / 1000.0;
    fprintf(f, "%s\n{\"name\":\"%s\",\"ph\":\"%c\",\"ts\":%.3f,\"pid\":1,\"tid\":%llu", first ? "" : ",",
            e->name, e->ph, ts, (unsigned long long)e->tid);
    if (e->ph == 'X')
        fprintf(f, ",\"dur\":%.3f,\"cat\":\"gc\",\"args\":{\"cycle\":%llu}}", (double)e->dur_ns / 1000.0,
                (unsigned long long)e->value);
    else if (e->ph == 'C')
        fprintf(f, ",\"args\":{\"bytes\":%llu}}", (unsigned long long)e->value);
    else
        fprintf(f, ",\"s\":\"g\"}");
}

tc_status tc_trace_stop(tc_heap *h)
{
    if (atomic_load(&h->closed)) /* close dropped the events */
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    pthread_mutex_lock(&h->trace_lock);
    char *path = h->trace_path;
    trace_event *ev = h->trace_ev;
    size_t n = h->trace_n;
    h->trace_path = NULL;
    h->trace_ev = NULL;
    h->trace_n = h->trace_cap = 0;
    pthread_mutex_unlock(&h->trace_lock);
    if (!path)
        return tc_fail(TC_ERR_STATE, "no trace is running (call trace_start first)");
    tc_status st = TC_OK;
    FILE *f = fopen(path, "w");
    if (!f) {
        st = tc_fail(TC_ERR_IO, "cannot write trace file %.200s: %s", path, strerror(errno));
    } else {
        fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[");
        fprintf(f, "\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"tricolor heap %s\"}}",
                tc_collector_name(h->cfg.collector));
        for (size_t i = 0; i < n; i++)
            write_event(f, h, &ev[i], false);
        fprintf(f, "\n]}\n");
        if (fclose(f) != 0)
            st = tc_fail(TC_ERR_IO, "cannot write trace file %.200s", path);
    }
    free(path);
    free(ev);
    return st;
}
