/* test_replay.c — record.c and replay.c from C: a recording replays exactly
 * on a fresh heap of the round's collector, and a log cut at any byte or
 * with any byte flipped is refused (TC_ERR_VALUE naming a byte offset)
 * before anything is replayed. Runs under ASan in `make test-asan`: no
 * bad log may make the reader touch memory it should not. Scenario names
 * follow tests/python/test_replay.py. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tc_test.h"

extern tc_collector tc_test_collector;

static tc_heap *fresh(void)
{
    tc_config c;
    tc_config_init(&c);
    c.collector = tc_test_collector;
    c.gogc = -1;
    tc_heap *h = NULL;
    return tc_heap_new(&c, &h) == TC_OK ? h : NULL;
}

/* record_small — a short program with every kind of record; the log's bytes. */
static unsigned char *record_small(const char *path, size_t *n)
{
    tc_heap *h = fresh();
    tc_root *a, *b, *got = NULL;
    tc_weak *w;
    tc_value v;
    if (!h || tc_record_start(h, path) != TC_OK || tc_obj_new(h, 2, 8, NULL, &a) != TC_OK ||
        tc_obj_new(h, 1, 0, NULL, &b) != TC_OK || tc_slot_set(h, a, 0, tc_ref(tc_root_obj(b))) != TC_OK ||
        tc_slot_set(h, a, 1, tc_float(2.5)) != TC_OK || tc_set_finalizer(h, b, 42, NULL) != TC_OK ||
        tc_weak_new(h, a, &w) != TC_OK || tc_slot_get(h, a, 0, &v, &got) != TC_OK)
        return NULL;
    tc_root_release(h, b);
    tc_root_release(h, got);
    tc_slot_set(h, a, 0, tc_nil());
    tc_heap_collect(h);
    got = NULL;
    tc_weak_get(h, w, &got);
    tc_root_release(h, got);
    tc_weak_release(h, w);
    tc_heap_collect(h);
    if (tc_record_stop(h) != TC_OK)
        return NULL;
    tc_heap_destroy(h);
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(1 << 16);
    *n = f && buf ? fread(buf, 1, 1 << 16, f) : 0;
    if (f)
        fclose(f);
    return buf;
}

static void write_file(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

TEST(replay_small_log_is_exact)
{
    char path[] = "/tmp/tc_replay_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    size_t n = 0;
    unsigned char *log = record_small(path, &n);
    CHECK(log && n > 16);
    tc_heap *h = fresh();
    tc_replay_report r;
    CHECK_OK(tc_replay(h, path, &r));
    CHECK(r.collects == 2 && r.checked == 2 && r.mismatches == 0 && r.objects == 2);
    tc_heap_destroy(h);
    free(log);
    unlink(path);
}

TEST(replay_bad_logs_are_refused)
{
    char path[] = "/tmp/tc_replay_XXXXXX", bad[] = "/tmp/tc_replay_bad_XXXXXX";
    int fd = mkstemp(path), fd2 = mkstemp(bad);
    CHECK(fd >= 0 && fd2 >= 0);
    close(fd);
    close(fd2);
    size_t n = 0;
    unsigned char *log = record_small(path, &n);
    CHECK(log && n > 16);
    tc_heap *h = fresh();
    tc_replay_report r;
    for (size_t cut = 0; cut < n; cut++) {
        write_file(bad, log, cut);
        CHECK(tc_replay(h, bad, &r) == TC_ERR_VALUE);
        CHECK(strstr(tc_errmsg(), "byte offset") != NULL);
    }
    for (size_t i = 0; i < n; i++) {
        log[i] ^= 0xff;
        write_file(bad, log, n);
        log[i] ^= 0xff;
        CHECK(tc_replay(h, bad, &r) == TC_ERR_VALUE);
        CHECK(strstr(tc_errmsg(), "byte offset") != NULL || strstr(tc_errmsg(), "version") != NULL);
    }
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.mallocs == 0); /* nothing was replayed */
    tc_heap_destroy(h);
    free(log);
    unlink(path);
    unlink(bad);
}
