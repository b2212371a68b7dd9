/*
 * config.c — a heap's configuration: the option names both bindings accept
 * (one place for the accepted names and for what the error says), and the
 * environment a new configuration reads (tc_config_init): TRICOLOR_GOGC,
 * TRICOLOR_MEMORY_LIMIT and TRICOLOR_DEBUG.
 *
 * Invariants: the environment is user input, so nothing here fails or
 * aborts on it: a malformed value keeps the default and leaves a warning
 * (tc_config_warning, per thread, cleared by each tc_config_init); names
 * and their order match tc_collector and tc_barrier in tricolor.h.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

static const char *const collector_names[] = {"concurrent", "incremental", "stw", "manual"};
static const char *const barrier_names[] = {"hybrid", "dijkstra", "yuasa", "none"};

const char *tc_collector_name(tc_collector c)
{
    return (unsigned)c < 4 ? collector_names[c] : "?";
}

const char *tc_barrier_name(tc_barrier b) { return (unsigned)b < 4 ? barrier_names[b] : "?"; }

tc_status tc_collector_parse(const char *name, tc_collector *out)
{
    if (!name)
        return tc_fail(TC_ERR_TYPE, "collector must be a string");
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, collector_names[i]) != 0)
            continue;
        *out = (tc_collector)i;
        return TC_OK;
    }
    return tc_fail(TC_ERR_VALUE, "collector must be \"concurrent\", \"incremental\", \"stw\" or \"manual\", not \"%.64s\"",
                   name);
}

tc_status tc_barrier_parse(const char *name, tc_barrier *out)
{
    if (!name)
        return tc_fail(TC_ERR_TYPE, "barrier must be a string");
    for (int i = 0; i < 4; i++)
        if (strcmp(name, barrier_names[i]) == 0) {
            *out = (tc_barrier)i;
            return TC_OK;
        }
    return tc_fail(TC_ERR_VALUE, "barrier must be \"hybrid\", \"dijkstra\", \"yuasa\" or \"none\", not \"%.64s\"", name);
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

/* ---- TRICOLOR_GOGC and TRICOLOR_MEMORY_LIMIT ---------------------------------
 *
 * The syntax is Go's (runtime/extern.go): GOGC is "off" or an integer
 * percent, a negative one meaning off; GOMEMLIMIT is "off" or a decimal byte
 * count with an optional unit suffix, one of B, KiB, MiB, GiB, TiB (powers of
 * two; no fractions, no spaces, no SI units). Where Go would refuse to start
 * (a malformed GOMEMLIMIT), tricolor keeps its default and says so: the
 * environment is user input, and user input never crashes the host. */

#define CONFIG_MAX_WARNINGS 2 /* one per variable */
static _Thread_local char config_warnings[CONFIG_MAX_WARNINGS][256];
static _Thread_local int nconfig_warnings;

const char *tc_config_warning(int i)
{
    return i >= 0 && i < nconfig_warnings ? config_warnings[i] : NULL;
}

static void config_warn(const char *var, const char *value, const char *why, const char *dflt)
{
    if (nconfig_warnings < CONFIG_MAX_WARNINGS)
        snprintf(config_warnings[nconfig_warnings++], sizeof config_warnings[0],
                 "%s=\"%.48s\" ignored (%s); using the default %s", var, value, why, dflt);
}

/* parse_decimal — a run of decimal digits at *s, advancing *s past it;
 * false if there is none or its value passes `max`. */
static bool parse_decimal(const char **s, uint64_t max, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (p == *s)
        return false;
    *s = p;
    *out = v;
    return true;
}

/* parse_gogc — GOGC: "off", or [-]digits within int32 (Go's atoi32). */
static bool parse_gogc(const char *s, int64_t *out)
{
    if (strcmp(s, "off") == 0) {
        *out = -1;
        return true;
    }
    bool neg = *s == '-';
    const char *p = s + neg;
    uint64_t v;
    if (!parse_decimal(&p, INT32_MAX, &v) || *p)
        return false;
    *out = neg && v > 0 ? -1 : (int64_t)v; /* Go: a negative GOGC turns the collector off */
    return true;
}

/* parse_byte_count — GOMEMLIMIT: "off", or digits with an optional B, KiB,
 * MiB, GiB or TiB, at most INT64_MAX bytes (Go's parseByteCount). */
static bool parse_byte_count(const char *s, int64_t *out)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (strcmp(s, "off") == 0) {
        *out = -1;
        return true;
    }
    uint64_t v;
    if (!parse_decimal(&s, INT64_MAX, &v))
        return false;
    int shift = 0;
    if (*s) {
        int u = 0;
        while (u < 5 && strcmp(s, units[u]) != 0)
            u++;
        if (u == 5)
            return false;
        shift = 10 * u;
    }
    if (v > (uint64_t)INT64_MAX >> shift)
        return false;
    *out = (int64_t)(v << shift);
    return true;
}

/* apply_env_limits — TRICOLOR_GOGC and TRICOLOR_MEMORY_LIMIT over the
 * defaults in c; an empty variable counts as unset. */
static void apply_env_limits(tc_config *c)
{
    const char *gogc = getenv("TRICOLOR_GOGC"), *limit = getenv("TRICOLOR_MEMORY_LIMIT");
    int64_t v;
    if (gogc && *gogc) {
        if (parse_gogc(gogc, &v))
            c->gogc = v;
        else
            config_warn("TRICOLOR_GOGC", gogc, "not \"off\" or an integer percent", "gogc=100");
    }
    if (limit && *limit) {
        if (!parse_byte_count(limit, &v))
            config_warn("TRICOLOR_MEMORY_LIMIT", limit,
                        "not \"off\" or a byte count such as 536870912, 512MiB or 4GiB", "memory_limit=off");
        else if (v == 0)
            config_warn("TRICOLOR_MEMORY_LIMIT", limit, "a memory limit must be at least 1 byte", "memory_limit=off");
        else
            c->memory_limit = v;
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
    c->events_ring = EV_RING_DEFAULT;
    nconfig_warnings = 0;
    apply_env_limits(c);
    const char *env = getenv("TRICOLOR_DEBUG");
    if (env)
        apply_debug(c, env);
}
