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
    for (int i = 0; i < ntests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1]))
            continue;
        int f = 0;
        fprintf(stderr, "test %s ...\n", tests[i].name);
        tests[i].fn(&f);
        if (f) {
            failed++;
            fprintf(stderr, "FAIL %s\n", tests[i].name);
        } else {
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
