/* runner.c — runs every TEST registered by the linked test files. An
 * optional argument runs only the tests whose name contains it. */
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
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
