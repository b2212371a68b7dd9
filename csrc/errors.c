/*
 * errors.c — status strings, the thread-local error message, and parsing of
 * the option names both bindings accept (one place for the accepted names
 * and for what the error says).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

static _Thread_local char errmsg[512];

tc_status tc_fail(tc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return s;
}

const char *tc_errmsg(void) { return errmsg[0] ? errmsg : "no error"; }

const char *tc_status_str(tc_status s)
{
    static const char *const names[TC_STATUS_COUNT] = {
        [TC_OK] = "ok",
        [TC_ERR_TYPE] = "wrong value type",
        [TC_ERR_INDEX] = "slot index out of range",
        [TC_ERR_OVERFLOW] = "integer out of range",
        [TC_ERR_CROSS_HEAP] = "object belongs to another heap",
        [TC_ERR_VALUE] = "bad value",
        [TC_ERR_NOMEM] = "out of memory",
        [TC_ERR_CLOSED] = "heap is closed",
        [TC_ERR_FREED] = "object was freed",
        [TC_ERR_CORRUPT] = "heap corruption",
        [TC_ERR_UNSUPPORTED] = "not supported",
        [TC_ERR_IO] = "I/O error",
        [TC_ERR_STATE] = "wrong state",
    };
    return (unsigned)s < TC_STATUS_COUNT ? names[s] : "unknown status";
}

static const char *const collector_names[] = {"concurrent", "incremental", "stw"};
static const char *const barrier_names[] = {"hybrid", "dijkstra", "yuasa"};

const char *tc_collector_name(tc_collector c)
{
    return (unsigned)c < 3 ? collector_names[c] : "?";
}

const char *tc_barrier_name(tc_barrier b) { return (unsigned)b < 3 ? barrier_names[b] : "?"; }

tc_status tc_collector_parse(const char *name, tc_collector *out)
{
    if (!name)
        return tc_fail(TC_ERR_TYPE, "collector must be a string");
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, collector_names[i]) != 0)
            continue;
        *out = (tc_collector)i;
        return TC_OK;
    }
    return tc_fail(TC_ERR_VALUE, "collector must be \"concurrent\", \"incremental\" or \"stw\", not \"%.64s\"",
                   name);
}

tc_status tc_barrier_parse(const char *name, tc_barrier *out)
{
    if (!name)
        return tc_fail(TC_ERR_TYPE, "barrier must be a string");
    for (int i = 0; i < 3; i++)
        if (strcmp(name, barrier_names[i]) == 0) {
            *out = (tc_barrier)i;
            return TC_OK;
        }
    return tc_fail(TC_ERR_VALUE, "barrier must be \"hybrid\", \"dijkstra\" or \"yuasa\", not \"%.64s\"", name);
}

/* apply_debug — TRICOLOR_DEBUG=key=value,key=value (like GODEBUG). Unknown
 * keys are ignored, as Go ignores unknown GODEBUG settings. */
static void apply_debug(tc_config *c, const char *env)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", env);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = 0;
        bool on = atoi(eq + 1) != 0;
        if (strcmp(kv, "gctrace") == 0)
            c->gctrace = on;
        else if (strcmp(kv, "checkmark") == 0)
            c->checkmark = on;
        else if (strcmp(kv, "gcstoptheworld") == 0)
            c->gcstoptheworld = on;
    }
}

void tc_config_init(tc_config *c)
{
    memset(c, 0, sizeof *c);
    c->collector = TC_COLLECTOR_CONCURRENT;
    c->barrier = TC_BARRIER_HYBRID;
    c->gogc = 100;
    c->memory_limit = -1;
    c->mark_workers = 1;
    const char *env = getenv("TRICOLOR_DEBUG");
    if (env)
        apply_debug(c, env);
}
