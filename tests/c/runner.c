/* runner.c — runs every TEST registered by the linked test files. An
 * optional argument runs only the tests whose name contains it; the
 * environment's TC_TEST_COLLECTOR (stw, incremental, concurrent) only the
 * round of that collector (loops that chase one failure). */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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
 * not told where. A process of the runner's own, forked before any test,
 * then names the test, says FAIL and kills the runner (the hung test
 * cannot be left behind to run the next one). A process, not a thread: the
 * runner stays single-threaded between tests, so a test's forked child may
 * start threads (TSan refuses after a multi-threaded fork:
 * hostile_close_while_other_threads_allocate_and_collect); not alarm(): a
 * sanitizer may hold a signal until the thread it lands on reaches a call
 * it intercepts, and a hung test may spin in none. */
#define TEST_SECONDS 600 /* >10x the slowest test: 43 s under TSan at load 15 (pages_are_reused_before_new_ones) */
static struct running {
    _Atomic(const char *) name;  /* the test running now, NULL between tests (the same address in both processes) */
    _Atomic(const char *) round;
    _Atomic unsigned long gen;   /* tests begun: a new number is a new test */
} *running;                      /* shared with the watchdog (MAP_SHARED); NULL if it did not start */
static pid_t watchdog_pid;

/* now_s — CLOCK_MONOTONIC, in seconds. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* say — write strings to stderr, unbuffered. */
static void say(const char *const *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            return;
}

/* watchdog — the watchdog process (above): looks once a second, and ends
 * with the runner (PR_SET_PDEATHSIG, or its parent changed). */
static void watchdog(pid_t runner, double limit)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    double since = now_s();
    unsigned long seen = atomic_load(&running->gen);
    while (getppid() == runner) {
        sleep(1);
        const char *name = atomic_load(&running->name); /* then gen: the runner stores them the other way */
        unsigned long gen = atomic_load(&running->gen);
        if (gen != seen) {
            seen = gen;
            since = now_s();
        } else if (name && now_s() - since >= limit) {
            char secs[32];
            snprintf(secs, sizeof secs, "%.0f", limit);
            const char *msg[] = {"FAIL ", name, " [", atomic_load(&running->round), "]: hung, still running after ",
                                 secs, " s (the runner's watchdog, TC_TEST_SECONDS); killing the runner\n"};
            say(msg, sizeof msg / sizeof msg[0]);
            kill(runner, SIGKILL);
            break;
        }
    }
    _exit(0);
}

/* start_watchdog — fork the watchdog process unless TC_TEST_SECONDS=0. */
static void start_watchdog(void)
{
    double limit = TEST_SECONDS;
    const char *env = getenv("TC_TEST_SECONDS");
    if (env)
        limit = atof(env);
    if (limit <= 0)
        return;
    void *p = mmap(NULL, sizeof *running, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    running = p;
    pid_t runner = getpid();
    fflush(NULL);
    watchdog_pid = fork();
    if (watchdog_pid == 0)
        watchdog(runner, limit);
}

/* stop_watchdog — end the watchdog process and reap it. */
static void stop_watchdog(void)
{
    if (watchdog_pid > 0) {
        kill(watchdog_pid, SIGKILL);
        waitpid(watchdog_pid, NULL, 0);
    }
}

/* running_set — tell the watchdog which test runs now (NULL: none). */
static void running_set(const char *name, const char *round)
{
    if (!running)
        return;
    if (name) {
        atomic_store(&running->round, round);
        atomic_fetch_add(&running->gen, 1);
    }
    atomic_store(&running->name, name);
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
            running_set(tests[i].name, tc_collector_name(rounds[r]));
            tests[i].fn(&f);
            running_set(NULL, NULL);
            if (f) {
                failed++;
                fprintf(stderr, "FAIL %s [%s]\n", tests[i].name, tc_collector_name(rounds[r]));
            } else {
                passed++;
            }
        }
    }
    stop_watchdog();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
