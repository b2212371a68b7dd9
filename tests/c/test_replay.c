/* test_replay.c — record.c and replay.c from C: a recording replays exactly
 * on a fresh heap of the round's collector, and a log cut at any byte or
 * with any byte flipped is refused (TC_ERR_VALUE naming a byte offset)
 * before anything is replayed. Runs under ASan in `make test-asan`: no
 * bad log may make the reader touch memory it should not. Scenario names
 * follow tests/python/test_replay.py. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
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

/* stop_and_read — ends h's recording, destroys h and returns the log's
 * bytes (at most 64 KiB; *n of them), NULL when the recording failed. */
static unsigned char *stop_and_read(tc_heap *h, const char *path, size_t *n)
{
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
    return stop_and_read(h, path, n);
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

/* ---- crafted logs: valid checksums, impossible contents ---- */

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put_le32(unsigned char *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

/* write_crafted — header, one block of `body` (small values: one byte each;
 * object ids as the zigzag difference from the last NEW's: NEW 1 then NEW 2
 * are both 2, a reference back to 1 after them is 1) plus an end record
 * counting `nrec` records, with the right checksum. */
static void write_crafted(const char *path, const unsigned char *body, size_t n, unsigned nrec)
{
    unsigned char buf[256];
    memcpy(buf, "TCREPLAY", 8);
    put_le32(buf + 8, 2);
    put_le32(buf + 12, 0);
    memcpy(buf + 24, body, n);
    buf[24 + n] = 14; /* END */
    buf[25 + n] = (unsigned char)nrec;
    put_le32(buf + 16, (uint32_t)(n + 2));
    put_le32(buf + 20, crc32_ieee(buf + 24, n + 2));
    write_file(path, buf, 26 + n);
}

/* A log naming an object that was released (and collected), never made, a
 * slot out of range, a store into or a reference to a freed object: each is
 * TC_ERR_VALUE naming the offending record's byte offset, before that
 * record runs, and nothing stays rooted (under ASan: and nothing read from
 * freed memory). */
TEST(replay_crafted_logs_are_refused)
{
    static const struct {
        unsigned char body[32];
        size_t n, off;
        unsigned nrec;
        const char *why;
    } cases[] = {
        /* NEW 1 h1; NEW 2 h2; RELEASE h1; COLLECT 1 0; SET h2[0] = ref 1 */
        {{1, 2, 1, 1, 0, 1, 2, 2, 1, 0, 4, 1, 5, 1, 0, 2, 2, 0, 5, 1}, 20, 24 + 15, 5, "no live handle"},
        /* NEW 1 h1; SET h1[0] = ref 9 */
        {{1, 2, 1, 1, 0, 2, 1, 0, 5, 16}, 10, 24 + 5, 2, "no live handle"},
        /* NEW 1 h1 (2 slots); SET h1[2] = int 4 */
        {{1, 2, 1, 2, 0, 2, 1, 2, 3, 8}, 10, 24 + 5, 2, "slot index out of range"},
        /* NEW 1 h1; FREE h1; SET h1[0] = int 4 */
        {{1, 2, 1, 1, 0, 12, 1, 2, 1, 0, 3, 8}, 12, 24 + 7, 3, "freed by unsafe.free"},
        /* NEW 1 h1; NEW 2 h2; FREE h1; SET h2[0] = ref 1 */
        {{1, 2, 1, 1, 0, 1, 2, 2, 1, 0, 12, 1, 2, 2, 0, 5, 1}, 17, 24 + 12, 4, "freed by unsafe.free"},
        /* NEW 1 h1; GET h1[5] -> h2 (object 1) */
        {{1, 2, 1, 1, 0, 3, 1, 5, 2, 0}, 10, 24 + 5, 2, "slot index out of range"},
    };
    char path[] = "/tmp/tc_replay_crafted_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    tc_heap *h = fresh();
    tc_replay_report r;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_crafted(path, cases[i].body, cases[i].n, cases[i].nrec);
        CHECK(tc_replay(h, path, &r) == TC_ERR_VALUE);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu:", cases[i].off);
        CHECK(strstr(tc_errmsg(), want) != NULL);
        CHECK(strstr(tc_errmsg(), cases[i].why) != NULL);
    }
    tc_stats s; /* the records before the bad one ran: their objects are garbage now */
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_objects == 0);
    /* the same helper's valid log replays: NEW 1 h1; NEW 2 h2; SET h1[0] = ref 2 */
    static const unsigned char ok[] = {1, 2, 1, 1, 0, 1, 2, 2, 1, 0, 2, 1, 0, 5, 0};
    write_crafted(path, ok, sizeof ok, 3);
    CHECK_OK(tc_replay(h, path, &r));
    CHECK(r.objects == 2 && r.records == 4);
    tc_heap_destroy(h);
    unlink(path);
}

/* record_plain — a tree-and-list program of only NEW, SET, GET, RELEASE and
 * COLLECT (replayed raw, with locals), then a weak reference (the replay
 * moves to handles there); the log's bytes (one block). */
static unsigned char *record_plain(const char *path, size_t *n)
{
    tc_heap *h = fresh();
    tc_root *keep, *o, *got;
    tc_weak *w;
    tc_value v;
    if (!h || tc_record_start(h, path) != TC_OK || tc_obj_new(h, 2, 0, NULL, &keep) != TC_OK)
        return NULL;
    for (int i = 0; i < 40; i++) {
        if (tc_obj_new(h, 2, 8 * (i % 3), NULL, &o) != TC_OK || tc_slot_set(h, o, 0, tc_int(i)) != TC_OK ||
            tc_slot_set(h, o, 1, tc_root_obj(keep) ? tc_ref(tc_root_obj(keep)) : tc_nil()) != TC_OK ||
            tc_slot_set(h, keep, i % 2, tc_ref(tc_root_obj(o))) != TC_OK)
            return NULL;
        tc_root_release(h, o);
        if (i % 10 == 0 && tc_slot_get(h, keep, 0, &v, &got) == TC_OK && got)
            tc_root_release(h, got);
        if (i == 20)
            tc_heap_collect(h);
    }
    if (tc_weak_new(h, keep, &w) != TC_OK)
        return NULL;
    tc_weak_release(h, w);
    tc_heap_collect(h);
    return stop_and_read(h, path, n);
}


/* held — the roots of kind handle or local: what a replay leaves rooted. */
static size_t held(tc_heap *h)
{
    tc_link *v = NULL;
    size_t n = 0, k = 0;
    if (tc_heap_roots(h, &v, &n) != TC_OK)
        return SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        k += v[i].kind == TC_ROOT_HANDLE || v[i].kind == TC_ROOT_LOCAL;
        tc_root_release(h, v[i].obj);
    }
    free(v);
    return k;
}

/* Every byte of a log's records changed (bit 0, 1 or 2, so no varint gets
 * longer) with the checksum fixed, as a crafted log would be: the checks
 * run record by record as the replay goes, in raw mode and after the move
 * to handles. Each replay returns an error naming a byte offset or
 * completes, never crashes (under ASan/UBSan: reads nothing out of bounds
 * or freed), and leaves no handle or local behind. (A changed byte may
 * make a finalizer record: such an object in a cycle is never collected,
 * as in Go, so the objects themselves may stay.) */
TEST(replay_every_record_byte_changed_with_a_valid_checksum)
{
    char path[] = "/tmp/tc_replay_mut_XXXXXX", bad[] = "/tmp/tc_replay_mutb_XXXXXX";
    int fd = mkstemp(path), fd2 = mkstemp(bad);
    CHECK(fd >= 0 && fd2 >= 0);
    close(fd);
    close(fd2);
    size_t n = 0;
    unsigned char *log = record_plain(path, &n);
    CHECK(log && n > 24 && n < (1 << 16));
    size_t len = (size_t)log[16] | (size_t)log[17] << 8 | (size_t)log[18] << 16;
    CHECK(24 + len == n); /* one block */
    tc_heap *h = fresh();
    tc_replay_report r;
    CHECK_OK(tc_replay(h, path, &r));
    CHECK(r.mismatches == 0 && r.collects == 2);
    int refused = 0;
    for (size_t i = 24; i < n; i++) {
        unsigned x = 1u << (i % 3); /* one change a byte: each replay waits for its collections */
        log[i] ^= (unsigned char)x;
        put_le32(log + 20, crc32_ieee(log + 24, len));
        write_file(bad, log, n);
        log[i] ^= (unsigned char)x;
        tc_status st = tc_replay(h, bad, &r);
        refused += st != TC_OK;
        CHECK(st == TC_OK || strstr(tc_errmsg(), "byte offset") != NULL);
    }
    CHECK(refused > 0);
    CHECK(held(h) == 0); /* a handle or local a replay left would still be here */
    tc_heap_destroy(h);
    free(log);
    unlink(path);
    unlink(bad);
}

/* record_start on a heap that already has objects: TC_ERR_STATE (a replay
 * starts empty, the log could not name them), and nothing is created. */
TEST(record_start_refuses_a_heap_with_objects)
{
    char path[] = "/tmp/tc_replay_late_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    tc_heap *h = fresh();
    tc_root *a;
    CHECK_OK(tc_obj_new(h, 1, 0, NULL, &a));
    CHECK(tc_record_start(h, path) == TC_ERR_STATE);
    CHECK(strstr(tc_errmsg(), "no objects") != NULL);
    CHECK(access(path, F_OK) != 0);
    tc_root_release(h, a);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_record_start(h, path));
    CHECK_OK(tc_record_stop(h));
    tc_heap_destroy(h);
    unlink(path);
}

/* Two threads record into one log at once: the hooks' lock (rec_spin,
 * record.c) orders their records, each whole. Under TSan (make test-tsan)
 * this is the race test of that lock; the replay proves each record was
 * written whole and in an order the validation accepts. */
#define REC_THREAD_OBJS 2000

static void *record_thread(void *arg)
{
    tc_heap *h = arg;
    tc_root *prev = NULL;
    for (int i = 0; i < REC_THREAD_OBJS; i++) {
        tc_root *r;
        if (tc_obj_new(h, 1, 0, NULL, &r) != TC_OK)
            return "new failed";
        if (prev && tc_slot_set(h, r, 0, tc_ref(tc_root_obj(prev))) != TC_OK)
            return "store failed";
        if (prev)
            tc_root_release(h, prev);
        prev = r;
    }
    tc_root_release(h, prev);
    return NULL;
}

/* recording_heap — a fresh heap recording into a new temporary file,
 * whose name goes to path (a mkstemp template); NULL on failure. */
static tc_heap *recording_heap(char *path)
{
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    close(fd);
    tc_heap *h = fresh();
    if (h && tc_record_start(h, path) != TC_OK) {
        tc_heap_destroy(h);
        h = NULL;
    }
    return h;
}

TEST(record_two_threads_into_one_log)
{
    char path[] = "/tmp/tc_replay_threads_XXXXXX";
    tc_heap *h = recording_heap(path);
    CHECK(h != NULL);
    pthread_t t1, t2;
    void *r1 = "not run", *r2 = "not run";
    CHECK(pthread_create(&t1, NULL, record_thread, h) == 0);
    CHECK(pthread_create(&t2, NULL, record_thread, h) == 0);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    CHECK(r1 == NULL && r2 == NULL);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_record_stop(h));
    tc_heap_destroy(h);
    tc_heap *h2 = fresh();
    tc_replay_report rep;
    CHECK_OK(tc_replay(h2, path, &rep));
    /* per thread: a NEW per object, a SET and a RELEASE for all but the first */
    CHECK(rep.objects == 2 * REC_THREAD_OBJS);
    CHECK(rep.records == 2 * (3 * REC_THREAD_OBJS - 1) + 1 + 1); /* + COLLECT + END */
    CHECK(rep.collects == 1 && rep.mismatches == 0);
    tc_heap_destroy(h2);
    unlink(path);
}

/* The owner path's handover (record.c): the thread that started the
 * recording writes without rec_spin until a second thread records; that
 * thread revokes the path while the owner may be inside a record. Here the
 * owner keeps recording while the second thread joins halfway through its
 * loop. Under TSan this is the race test of the handover; the replay
 * proves each record was written whole and in one order. */
static _Atomic int owner_halfway;

static void *late_thread(void *arg)
{
    while (!atomic_load(&owner_halfway))
        sched_yield();
    return record_thread(arg);
}

TEST(record_owner_hands_over_to_a_second_thread)
{
    char path[] = "/tmp/tc_replay_owner_XXXXXX";
    tc_heap *h = recording_heap(path);
    CHECK(h != NULL);
    atomic_store(&owner_halfway, 0);
    pthread_t t;
    void *rt = "not run";
    CHECK(pthread_create(&t, NULL, late_thread, h) == 0);
    tc_root *prev = NULL;
    for (int i = 0; i < 2 * REC_THREAD_OBJS; i++) { /* record_thread's records, twice as many */
        tc_root *r;
        CHECK_OK(tc_obj_new(h, 1, 0, NULL, &r));
        if (prev) {
            CHECK_OK(tc_slot_set(h, r, 0, tc_ref(tc_root_obj(prev))));
            tc_root_release(h, prev);
        }
        prev = r;
        if (i == REC_THREAD_OBJS / 2)
            atomic_store(&owner_halfway, 1);
    }
    tc_root_release(h, prev);
    pthread_join(t, &rt);
    CHECK(rt == NULL);
    CHECK_OK(tc_record_stop(h));
    tc_heap_destroy(h);
    tc_heap *h2 = fresh();
    tc_replay_report rep;
    CHECK_OK(tc_replay(h2, path, &rep));
    CHECK(rep.objects == 3 * REC_THREAD_OBJS);
    CHECK(rep.records == (3 * 2 * REC_THREAD_OBJS - 1) + (3 * REC_THREAD_OBJS - 1) + 1); /* + END */
    CHECK(rep.mismatches == 0);
    tc_heap_destroy(h2);
    unlink(path);
}

/* The log's CRC-32 both ways (record.c: folding with PCLMULQDQ where the
 * CPU has it, slicing-by-8 tables everywhere) against crc32_ieee, bit by
 * bit: every length around the folding's 64-byte start and 16-byte steps,
 * at every alignment, and long blocks. */
uint32_t rec_crc32(const uint8_t *p, size_t n);
uint32_t rec_crc32_tables(const uint8_t *p, size_t n);

TEST(replay_crc32_matches_the_reference)
{
    enum { N = 70000 };
    unsigned char *b = malloc(N);
    CHECK(b != NULL);
    uint32_t x = 12345;
    for (size_t i = 0; i < N; i++)
        b[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    CHECK(rec_crc32((const uint8_t *)"123456789", 9) == 0xcbf43926u); /* the standard check value */
    for (size_t n = 0; n < 300; n++)
        for (size_t off = 0; off < 16; off++) {
            uint32_t want = crc32_ieee(b + off, n);
            CHECK(rec_crc32(b + off, n) == want && rec_crc32_tables(b + off, n) == want);
        }
    for (size_t n = 60000; n < N - 16; n += 1237) {
        uint32_t want = crc32_ieee(b + 3, n);
        CHECK(rec_crc32(b + 3, n) == want && rec_crc32_tables(b + 3, n) == want);
    }
    free(b);
}

/* The replay's tables (replay_check.c: lazily mapped, sized for the whole
 * log before the first record, so only a log past REPLAY_PRESIZE_MAX ids
 * or a table that is not presized grows them: a larger mapping and a
 * copy): every entry stored survives each growth and every new entry
 * reads zero. */
bool replay_grow_to(void **p, size_t *cap, uint64_t id, size_t size);
void replay_table_free(void *p, size_t cap, size_t size);

TEST(replay_tables_keep_their_entries_as_they_grow)
{
    uint64_t *t = NULL;
    size_t cap = 0, filled = 0, grew = 0;
    for (uint64_t id = 0; id < 300000; id = id * 3 + 1) {
        size_t old = cap;
        CHECK(replay_grow_to((void **)&t, &cap, id, sizeof *t));
        CHECK(cap > id && cap >= old);
        grew += cap > old;
        for (size_t i = 0; i < filled; i++)
            CHECK(t[i] == i * 7 + 1);
        for (size_t i = filled; i < cap; i++)
            CHECK(t[i] == 0);
        for (; filled < cap; filled++)
            t[filled] = filled * 7 + 1;
    }
    CHECK(grew == 7); /* 1024, 2048, 4096, 16384, 32768, 131072, 524288 */
    replay_table_free(t, cap, sizeof *t);
    replay_table_free(NULL, 0, sizeof *t);
}
