/* runner.c — runs every TEST registered by the linked test files. An
 * optional argument runs only the tests whose name contains it. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv)
{
#ifdef TC_DEBUG
    signal(SIGILL, on_trap);
#endif
    int passed = 0, failed = 0;
    static const tc_collector rounds[] = {TC_COLLECTOR_STW, TC_COLLECTOR_INCREMENTAL, TC_COLLECTOR_CONCURRENT};
    for (int r = 0; r < 3; r++) {
        tc_test_collector = rounds[r];
        for (int i = 0; i < ntests; i++) {
            if (argc > 1 && !strstr(tests[i].name, argv[1]))
                continue;
            int f = 0;
            fprintf(stderr, "test %s [%s] ...\n", tests[i].name, tc_collector_name(rounds[r]));
            tests[i].fn(&f);
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
