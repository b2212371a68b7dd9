/* test_errors.c — the status tables of errors.c. */
#include <string.h>

#include "tc_test.h"

TEST(status_kind_names_every_status_once)
{
    static const char *const want[TC_STATUS_COUNT] = {
        "ok", "type", "index", "overflow", "cross_heap", "value", "memory",
        "closed", "freed", "corruption", "unsupported", "io", "state",
    };
    for (int i = 0; i < TC_STATUS_COUNT; i++) {
        CHECK(want[i] && strcmp(tc_status_kind((tc_status)i), want[i]) == 0);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(tc_status_kind((tc_status)i), tc_status_kind((tc_status)j)) != 0);
    }
    CHECK(strcmp(tc_status_kind(TC_STATUS_COUNT), "unknown") == 0);
    CHECK(strcmp(tc_status_kind((tc_status)-1), "unknown") == 0);
}
