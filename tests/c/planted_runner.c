/* planted_runner.c — the runner's own planted bugs, linked alone with
 * runner.c (make test-planted):
 *   a_test_that_never_ends  as a handshake test does when the core skips the
 *                           step it waits for: the watchdog must name it
 *   a_crash_of_its_own      a crash with no planted bug behind it: a planted
 *                           build that fails so, before the test that should
 *                           catch its bug, has caught nothing, and the
 *                           judgement of test-planted must say so */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tc_test.h"

static atomic_bool never; /* nobody sets it */

TEST(a_test_that_never_ends)
{
    while (!atomic_load(&never))
        sched_yield();
    CHECK(0);
}

TEST(a_crash_of_its_own)
{
    abort();
}
