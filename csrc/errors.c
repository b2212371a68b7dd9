/*
 * errors.c — status strings and kinds, and the thread-local error message
 * (tc_fail / tc_errmsg). The option names and the environment: config.c.
 *
 * Invariant: the message belongs to the calling thread, so a failure on one
 * thread never overwrites what another is about to report; a status other
 * than TC_OK returned by the core always comes with its message set on the
 * thread that receives it (the collector thread's is copied: collector.c).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
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

/* tc_status_kind — the status's error kind: a stable identifier (never
 * renamed, unlike tc_status_str's prose) that a binding maps to its host's
 * error, one entry per kind, so both bindings classify errors alike. */
const char *tc_status_kind(tc_status s)
{
    static const char *const kinds[TC_STATUS_COUNT] = {
        [TC_OK] = "ok",           [TC_ERR_TYPE] = "type",         [TC_ERR_INDEX] = "index",
        [TC_ERR_OVERFLOW] = "overflow", [TC_ERR_CROSS_HEAP] = "cross_heap", [TC_ERR_VALUE] = "value",
        [TC_ERR_NOMEM] = "memory", [TC_ERR_CLOSED] = "closed",    [TC_ERR_FREED] = "freed",
        [TC_ERR_CORRUPT] = "corruption", [TC_ERR_UNSUPPORTED] = "unsupported", [TC_ERR_IO] = "io",
        [TC_ERR_STATE] = "state",
    };
    return (unsigned)s < TC_STATUS_COUNT ? kinds[s] : "unknown";
}
