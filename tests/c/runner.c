/* runner.c — runs every TEST registered by the linked test files. An
 * optional argument runs only the tests whose name contains it; the
 * environment's TC_TEST_COLLECTOR (stw, incremental, concurrent) only the
 * round of that collector (loops that chase one failure). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tc_test.h"

#define MAX_TESTS 512
static struct {
    const char *name;
    tc_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
tc_collector tc_test_collector = TC_COLLECTOR_CONCURRENT;

void tc_test_register(const char *name, tc_test_fn fn)
{
    if (ntests < MAX_TESTS) {
        tests[ntests].name = name;
        tests[ntests].fn = fn;
        ntests++;
    }
}

#ifdef TC_DEBUG
/* on_trap — a TC_ASSERT fired (debug build): say which, and why if a
 * checker set the error message, then die of the trap. */
extern _Thread_local const char *check_failed_at;
static void on_trap(int sig)
{
    const char *what[] = {"TC_ASSERT failed: ", check_failed_at ? check_failed_at : "?", "\n  tc_errmsg: ",
                          tc_errmsg(), "\n"};
    for (size_t i = 0; i < sizeof what / sizeof what[0]; i++)
        if (write(2, what[i], strlen(what[i])) < 0)
            break;
    signal(sig, SIG_DFL);
    raise(sig);
}
#endif

/* The watchdog: a test still running TEST_SECONDS after it began (or the
 * environment's TC_TEST_SECONDS; 0 turns it off) is hung. A hang is no
 * clear failure: the run stops with no FAIL line, and whoever kills it is
 * not told where. A thread of the runner's own then names the test, says
 * FAIL, and ends the process with status 3 (the hung test cannot be left
 * behind to run the next one). A thread, not alarm(): a sanitizer may
 * hold a signal until the thread it lands on reaches a call it intercepts,
 * and a hung test may spin in none. */
#define TEST_SECONDS 600 /* >10x the slowest test: 43 s under TSan at load 15 (pages_are_reused_before_new_ones) */
static _Atomic(const char *) running_name; /* the test running now, NULL between tests */
static _Atomic(const char *) running_round;
static _Atomic unsigned long running_gen;  /* tests begun: a new number is a new test */

/* now_s — CLOCK_MONOTONIC, in seconds. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* say — write strings to stderr with no lock (the hung test may hold
 * stdio's). */
static void say(const char *const *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            return;
}

/* watchdog — the watchdog thread (above): looks once a second. */
static void *watchdog(void *arg)
{
    double limit = *(const double *)arg, since = now_s();
    unsigned long seen = atomic_load(&running_gen);
    for (;;) {
        sleep(1);
        const char *name = atomic_load(&running_name); /* then gen: main stores them the other way */
        unsigned long gen = atomic_load(&running_gen);
        if (gen != seen) {
            seen = gen;
            since = now_s();
        } else if (name && now_s() - since >= limit) {
            char secs[32];
            snprintf(secs, sizeof secs, "%.0f", limit);
            const char *msg[] = {"FAIL ", name, " [", atomic_load(&running_round), "]: hung, still running after ",
                                 secs, " s (the runner's watchdog, TC_TEST_SECONDS)\n"};
            say(msg, sizeof msg / sizeof msg[0]);
            _exit(3);
        }
    }
    return NULL;
}

/* start_watchdog — start the watchdog thread unless TC_TEST_SECONDS=0. */
static void start_watchdog(void)
{
    static double limit = TEST_SECONDS;
    const char *env = getenv("TC_TEST_SECONDS");
    if (env)
        limit = atof(env);
    pthread_t t;
    if (limit > 0 && pthread_create(&t, NULL, watchdog, &limit) == 0)
        pthread_detach(t);
}

int main(int argc, char **argv)
{
#ifdef TC_DEBUG
    signal(SIGILL, on_trap);
#endif
    start_watchdog();
    int passed = 0, failed = 0;
    static const tc_collector rounds[] = {TC_COLLECTOR_STW, TC_COLLECTOR_INCREMENTAL, TC_COLLECTOR_CONCURRENT};
    const char *only = getenv("TC_TEST_COLLECTOR");
    for (int r = 0; r < 3; r++) {
        if (only && strcmp(only, tc_collector_name(rounds[r])) != 0)
            continue;
        tc_test_collector = rounds[r];
        for (int i = 0; i < ntests; i++) {
            if (argc > 1 && !strstr(tests[i].name, argv[1]))
                continue;
            int f = 0;
            fprintf(stderr, "test %s [%s] ...\n", tests[i].name, tc_collector_name(rounds[r]));
            atomic_store(&running_round, tc_collector_name(rounds[r]));
            atomic_fetch_add(&running_gen, 1);
            atomic_store(&running_name, tests[i].name);
            tests[i].fn(&f);
            atomic_store(&running_name, NULL);
            if (f) {
                failed++;
                fprintf(stderr, "FAIL %s [%s]\n", tests[i].name, tc_collector_name(rounds[r]));
            } else {
                passed++;
            }
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
