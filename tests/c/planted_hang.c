/* planted_hang.c — the runner's own planted bug: one test that never ends
 * (as a handshake test does when the core skips the step it waits for).
 * make test-planted links it alone with runner.c and requires a FAIL line
 * that names it: a hang must fail the run with its name, not stop it. */
#include <sched.h>
#include <stdatomic.h>

#include "tc_test.h"

static atomic_bool never; /* nobody sets it */

TEST(a_test_that_never_ends)
{
    while (!atomic_load(&never))
        sched_yield();
    CHECK(0);
}
