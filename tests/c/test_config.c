/*
 * test_config.c — tc_config_init's environment (TRICOLOR_GOGC and
 * TRICOLOR_MEMORY_LIMIT in Go's GOGC / GOMEMLIMIT syntax, with a warning
 * instead of an error for a malformed value) and tc_heap_collect_n's count.
 * Scenario names follow tests/python/test_config.py and test_collect.py.
 */
#include <stdlib.h>
#include <string.h>

#include "tc_test.h"

/* config_with — tc_config_init with the two variables set (NULL: unset). */
static tc_config config_with(const char *gogc, const char *limit)
{
    tc_config c;
    if (gogc)
        setenv("TRICOLOR_GOGC", gogc, 1);
    else
        unsetenv("TRICOLOR_GOGC");
    if (limit)
        setenv("TRICOLOR_MEMORY_LIMIT", limit, 1);
    else
        unsetenv("TRICOLOR_MEMORY_LIMIT");
    tc_config_init(&c);
    unsetenv("TRICOLOR_GOGC");
    unsetenv("TRICOLOR_MEMORY_LIMIT");
    return c;
}

TEST(env_gogc_follows_go_syntax)
{
    static const struct {
        const char *text;
        int64_t gogc;
    } ok[] = {{"off", -1}, {"0", 0}, {"50", 50}, {"400", 400}, {"-1", -1}, {"-20", -1},
              {"2147483647", 2147483647}, {"", 100}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        tc_config c = config_with(ok[i].text, NULL);
        CHECK(c.gogc == ok[i].gogc);
        CHECK(tc_config_warning(0) == NULL);
    }
    static const char *const bad[] = {"abc", "1e3", "50%", " 50", "+50", "Off", "2147483648", "-", "5O"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_config c = config_with(bad[i], NULL);
        CHECK(c.gogc == 100);
        const char *w = tc_config_warning(0);
        CHECK(w && strstr(w, "TRICOLOR_GOGC") && strstr(w, "gogc=100") && !strchr(w, '\n'));
        CHECK(tc_config_warning(1) == NULL);
    }
}

TEST(env_memory_limit_follows_go_syntax)
{
    static const struct {
        const char *text;
        int64_t limit;
    } ok[] = {{"off", -1}, {"1", 1}, {"536870912", 536870912}, {"4096B", 4096}, {"64KiB", 64 << 10},
              {"512MiB", INT64_C(512) << 20}, {"1GiB", INT64_C(1) << 30}, {"2TiB", INT64_C(2) << 40},
              {"9223372036854775807", INT64_MAX}, {"8388607TiB", INT64_C(8388607) << 40}, {"", -1}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        tc_config c = config_with(NULL, ok[i].text);
        CHECK(c.memory_limit == ok[i].limit);
        CHECK(tc_config_warning(0) == NULL);
    }
    static const char *const bad[] = {"1.5GiB", "512 MiB", "512mib", "512MB", "512M", "1KB", "GiB", "-1",
                                      "0", "0MiB", "9223372036854775808", "8388608TiB", "1PiB", "off "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_config c = config_with(NULL, bad[i]);
        CHECK(c.memory_limit == -1);
        const char *w = tc_config_warning(0);
        CHECK(w && strstr(w, "TRICOLOR_MEMORY_LIMIT") && strstr(w, "memory_limit=off") && !strchr(w, '\n'));
    }
}

TEST(env_both_bad_gives_two_warnings_and_a_good_call_clears_them)
{
    tc_config c = config_with("fast", "lots");
    CHECK(c.gogc == 100 && c.memory_limit == -1);
    CHECK(tc_config_warning(0) && strstr(tc_config_warning(0), "TRICOLOR_GOGC=\"fast\""));
    CHECK(tc_config_warning(1) && strstr(tc_config_warning(1), "TRICOLOR_MEMORY_LIMIT=\"lots\""));
    CHECK(tc_config_warning(2) == NULL && tc_config_warning(-1) == NULL);
    c = config_with("200", "1GiB");
    CHECK(c.gogc == 200 && c.memory_limit == INT64_C(1) << 30);
    CHECK(tc_config_warning(0) == NULL);
}

TEST(env_defaults_make_a_heap_and_explicit_options_win)
{
    setenv("TRICOLOR_GOGC", "off", 1);
    setenv("TRICOLOR_MEMORY_LIMIT", "64MiB", 1);
    tc_heap *h = NULL;
    tc_status st = tc_heap_new(NULL, &h); /* NULL config: tc_config_init's */
    unsetenv("TRICOLOR_GOGC");
    unsetenv("TRICOLOR_MEMORY_LIMIT");
    CHECK_OK(st);
    CHECK(tc_heap_gogc(h) == -1 && tc_heap_memory_limit(h) == INT64_C(64) << 20);
    tc_heap_destroy(h);
    tc_config c = config_with("off", "64MiB");
    c.gogc = 25; /* what a binding does with an explicit option */
    c.collector = tc_test_collector;
    CHECK_OK(tc_heap_new(&c, &h));
    CHECK(tc_heap_gogc(h) == 25 && tc_heap_memory_limit(h) == INT64_C(64) << 20);
    tc_heap_destroy(h);
}

TEST(collect_returns_the_number_of_objects_freed)
{
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    tc_root *keep, *r;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &keep));
    for (int i = 0; i < 100; i++) {
        CHECK_OK(tc_obj_new(h, 1, 24, NULL, &r));
        if (i % 2 == 0) { /* every other one joins the chain that keep holds */
            CHECK_OK(tc_slot_set(h, r, 0, tc_ref(tc_root_obj(keep))));
            tc_root_release(h, keep);
            keep = r;
        } else {
            tc_root_release(h, r);
        }
    }
    uint64_t freed = 12345;
    CHECK_OK(tc_heap_collect_n(h, &freed));
    CHECK(freed == 50);
    CHECK_OK(tc_heap_collect_n(h, &freed));
    CHECK(freed == 0);
    tc_root_release(h, keep);
    CHECK_OK(tc_heap_collect_n(h, &freed));
    CHECK(freed == 51);
    CHECK_OK(tc_heap_collect(h)); /* the old call still works */
    tc_heap_close(h);
    freed = 7;
    CHECK(tc_heap_collect_n(h, &freed) == TC_ERR_CLOSED && freed == 7); /* untouched on failure */
    tc_heap_destroy(h);
}
