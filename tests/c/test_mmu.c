/* test_mmu.c — MMU and BMU (mmu.c) against a brute-force reference on small
 * integer inputs, where every window start and every window length can be
 * tried: with integer interval ends and an integer window, the candidates of
 * mmu.c's proof are integers, so trying each integer start (and, for BMU,
 * each integer length) is exact. Plus SPEC's example, the edge cases and a
 * million intervals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mmu.h"
#include "tc_test.h"

#define REF_MAX 128 /* brute force: runs of at most REF_MAX ns */

typedef struct ref {
    int64_t s, e;          /* the run */
    int kind[REF_MAX];     /* per 1-ns cell of the run: the owning kind, or -1 */
} ref;

/* ref_init — the kind of each cell [c, c+1): the first kind covering it. */
static void ref_init(ref *r, const tc_interval *iv, size_t n, int64_t s, int64_t e)
{
    r->s = s;
    r->e = e;
    for (int64_t c = s; c < e; c++) {
        int k = -1;
        for (size_t i = 0; i < n; i++)
            if (iv[i].start_ns <= c && c + 1 <= iv[i].end_ns && (k < 0 || (int)iv[i].kind < k))
                k = (int)iv[i].kind;
        r->kind[c - s] = k;
    }
}

static uint64_t ref_gc(const ref *r, int64_t a, int64_t b)
{
    uint64_t g = 0;
    for (int64_t c = a; c < b; c++)
        g += r->kind[c - r->s] >= 0;
    return g;
}

/* ref_worst — the most GC in a window of length len, at its earliest start. */
static uint64_t ref_worst(const ref *r, int64_t len, int64_t *at)
{
    uint64_t best = 0;
    *at = r->s;
    for (int64_t t = r->s; t + len <= r->e; t++) {
        uint64_t g = ref_gc(r, t, t + len);
        if (g > best) {
            best = g;
            *at = t;
        }
    }
    return best;
}

/* ref_check — every field of mmu_run_window(w) against the reference. */
static int ref_check(mmu_run *run, const ref *r, int64_t w)
{
    tc_mmu_point p;
    mmu_run_window(run, w, &p);
    int64_t L = r->e - r->s, len = w < L ? w : L;
    if (L == 0)
        return p.mmu == 1.0 && p.bmu == 1.0 && p.worst_start_ns == r->s && p.length_ns == 0;
    int64_t at;
    uint64_t worst = ref_worst(r, len, &at);
    double mmu = 1.0 - (double)worst / (double)len, bmu = mmu;
    for (int64_t l = len; l <= L; l++) {
        int64_t ignored;
        double u = 1.0 - (double)ref_worst(r, l, &ignored) / (double)l;
        bmu = u < bmu ? u : bmu;
    }
    uint64_t by[TC_GC_KIND_COUNT] = {0};
    for (int64_t c = at; c < at + len; c++)
        if (r->kind[c - r->s] >= 0)
            by[r->kind[c - r->s]]++;
    int ok = p.window_ns == w && p.length_ns == len && p.mmu == mmu && p.bmu == bmu && p.worst_start_ns == at &&
             memcmp(p.by_kind_ns, by, sizeof by) == 0;
    if (!ok)
        fprintf(stderr, "  w %lld: mmu %.17g/%.17g bmu %.17g/%.17g at %lld/%lld\n", (long long)w, p.mmu, mmu, p.bmu,
                bmu, (long long)p.worst_start_ns, (long long)at);
    return ok;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % n;
}

/* random_intervals — n intervals in [0, 60): short, long, empty, nested. */
static void random_intervals(tc_interval *iv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t s = (int64_t)rnd(60), len = rnd(4) == 0 ? 0 : (int64_t)rnd(rnd(2) ? 5 : 25);
        iv[i] = (tc_interval){s, s + len, (tc_gc_kind)rnd(TC_GC_KIND_COUNT)};
    }
}

TEST(mmu_matches_brute_force_on_random_intervals)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return; /* pure math: once is enough */
    tc_interval iv[12];
    static ref r;
    for (int trial = 0; trial < 1500; trial++) {
        size_t n = rnd(13);
        random_intervals(iv, n);
        /* the run: the span, or a random one that may clip intervals */
        int64_t s = (int64_t)rnd(40), e = s + (int64_t)rnd(60);
        int given = (int)rnd(4); /* bit 0: start given, bit 1: end given */
        mmu_run run;
        CHECK_OK(mmu_run_init(&run, iv, n, given & 1 ? &s : NULL, given & 2 ? &e : NULL));
        ref_init(&r, iv, n, run.start, run.end);
        for (int64_t a = run.start; a <= run.end; a += 3)
            for (int64_t b = a; b <= run.end; b += 5)
                CHECK(mmu_run_gc(&run, a, b) == ref_gc(&r, a, b));
        for (int64_t w = 1; w <= run.end - run.start + 2; w++) {
            if (!ref_check(&run, &r, w))
                fprintf(stderr, "  trial %d, n %zu, run [%lld, %lld]\n", trial, n, (long long)run.start,
                        (long long)run.end);
            CHECK(ref_check(&run, &r, w));
        }
        mmu_run_free(&run);
    }
}

TEST(mmu_spec_example_one_pause_in_ten_ms)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    tc_interval iv[] = {{4000000, 5000000, TC_GC_PAUSE}};
    int64_t w[] = {1000000, 10000000, 100000000, 500000};
    tc_mmu_point p[4];
    CHECK_OK(tc_mmu(iv, 1, &(int64_t){0}, &(int64_t){10000000}, w, 4, p));
    CHECK(p[0].mmu == 0.0 && p[0].bmu == 0.0 && p[0].worst_start_ns == 4000000);
    CHECK(p[0].by_kind_ns[TC_GC_PAUSE] == 1000000);
    CHECK(fabs(p[1].mmu - 0.9) < 1e-12 && p[1].bmu == p[1].mmu && p[1].worst_start_ns == 0);
    CHECK(p[2].length_ns == 10000000 && p[2].mmu == p[1].mmu); /* longer than the run: the run */
    CHECK(p[3].mmu == 0.0 && p[3].worst_start_ns == 4000000);
    /* BMU at 1 ms is the worst of all windows >= 1 ms: still 0 (the pause itself) */
    CHECK(p[0].bmu <= p[1].bmu && p[1].bmu <= p[2].bmu);
}

TEST(mmu_bmu_below_mmu_where_a_longer_window_is_worse)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    /* two 4 ns pauses 2 ns apart: a 4 ns window is all GC at best (mmu 0);
     * a 2 ns window too; but a 10 ns window [0, 10) has 8 ns of GC (mmu 0.2),
     * while the densest window of length >= 7 is [0, 10) too: bmu(7) = 0.2
     * although mmu(7) = 1 - 5/7 (any 7 ns window holds at most 5 ns of GC) */
    tc_interval iv[] = {{0, 4, TC_GC_ASSIST}, {6, 10, TC_GC_SLICE}};
    int64_t w[] = {7};
    tc_mmu_point p;
    CHECK_OK(tc_mmu(iv, 2, &(int64_t){0}, &(int64_t){20}, w, 1, &p));
    CHECK(p.mmu == 1.0 - 5.0 / 7.0);
    CHECK(p.bmu == 1.0 - 8.0 / 10.0);
    CHECK(p.by_kind_ns[TC_GC_ASSIST] + p.by_kind_ns[TC_GC_SLICE] == 5);
}

TEST(mmu_overlap_counts_once_for_the_first_kind)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    /* a pause nested in a slice, an assist overlapping the slice's end on
     * another thread, a zero-length sweep; given out of order */
    tc_interval iv[] = {
        {14, 20, TC_GC_ASSIST}, {10, 16, TC_GC_SLICE}, {12, 13, TC_GC_PAUSE}, {15, 15, TC_GC_SWEEP},
    };
    int64_t w[] = {10, 1};
    tc_mmu_point p[2];
    CHECK_OK(tc_mmu(iv, 4, &(int64_t){0}, &(int64_t){40}, w, 2, p));
    CHECK(p[0].worst_start_ns == 10 && p[0].mmu == 0.0);
    /* pause before assist before slice: [14, 16) is the assist's */
    CHECK(p[0].by_kind_ns[TC_GC_PAUSE] == 1 && p[0].by_kind_ns[TC_GC_SLICE] == 3);
    CHECK(p[0].by_kind_ns[TC_GC_ASSIST] == 6 && p[0].by_kind_ns[TC_GC_SWEEP] == 0);
    CHECK(p[1].worst_start_ns == 10 && p[1].by_kind_ns[TC_GC_SLICE] == 1);
}

TEST(mmu_empty_and_degenerate_runs)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    int64_t w[] = {1, 1000};
    tc_mmu_point p[2];
    CHECK_OK(tc_mmu(NULL, 0, NULL, NULL, w, 2, p)); /* no intervals: the run [0, 0] */
    CHECK(p[0].mmu == 1.0 && p[0].bmu == 1.0 && p[0].worst_start_ns == 0 && p[0].length_ns == 0);
    tc_interval z[] = {{5, 5, TC_GC_PAUSE}, {7, 7, TC_GC_LIMIT_WAIT}};
    CHECK_OK(tc_mmu(z, 2, NULL, NULL, w, 2, p)); /* only empty intervals: no GC time */
    CHECK(p[0].mmu == 1.0 && p[1].mmu == 1.0 && p[0].worst_start_ns == 5 && p[1].length_ns == 2);
    CHECK_OK(tc_mmu(NULL, 0, &(int64_t){100}, NULL, w, 1, p)); /* the span stretches to the given bound */
    CHECK(p[0].worst_start_ns == 100 && p[0].mmu == 1.0);
    tc_interval all[] = {{0, 50, TC_GC_SWEEP}};
    CHECK_OK(tc_mmu(all, 1, NULL, NULL, w, 2, p)); /* all GC */
    CHECK(p[0].mmu == 0.0 && p[1].mmu == 0.0 && p[1].by_kind_ns[TC_GC_SWEEP] == 50);
    CHECK_OK(tc_mmu(all, 1, &(int64_t){60}, &(int64_t){70}, w, 1, p)); /* run after every interval */
    CHECK(p[0].mmu == 1.0 && p[0].worst_start_ns == 60);
}

TEST(mmu_rejects_bad_input_with_its_index)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    int64_t w[] = {10};
    tc_mmu_point p;
    tc_interval bad[] = {{0, 5, TC_GC_PAUSE}, {9, 3, TC_GC_PAUSE}};
    CHECK(tc_mmu(bad, 2, NULL, NULL, w, 1, &p) == TC_ERR_VALUE);
    CHECK(strstr(tc_errmsg(), "interval 1") && strstr(tc_errmsg(), "before"));
    tc_interval neg = {-1, 3, TC_GC_PAUSE}, kind = {1, 3, (tc_gc_kind)7};
    CHECK(tc_interval_check(&neg) == TC_ERR_VALUE && strstr(tc_errmsg(), ">= 0"));
    CHECK(tc_interval_check(&kind) == TC_ERR_VALUE && strstr(tc_errmsg(), "kind"));
    int64_t ten = 10, five = 5, zero = 0, minus = -3;
    CHECK(tc_mmu(bad, 1, &ten, &five, w, 1, &p) == TC_ERR_VALUE && strstr(tc_errmsg(), "after"));
    CHECK(tc_mmu(bad, 1, &minus, &five, w, 1, &p) == TC_ERR_VALUE && strstr(tc_errmsg(), "start_ns"));
    CHECK(tc_mmu(bad, 1, &zero, &minus, w, 1, &p) == TC_ERR_VALUE && strstr(tc_errmsg(), "end_ns"));
    int64_t wz[] = {10, 0};
    CHECK(tc_mmu(bad, 1, &zero, &five, wz, 2, &p) == TC_ERR_VALUE && strstr(tc_errmsg(), "window 1"));
}

TEST(mmu_window_seconds_to_ns)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    int64_t ns = 0;
    CHECK_OK(tc_mmu_window_ns(0.001, &ns));
    CHECK(ns == 1000000);
    CHECK_OK(tc_mmu_window_ns(1e-12, &ns)); /* below 1 ns: 1 ns, which is exact for integer times */
    CHECK(ns == 1);
    CHECK_OK(tc_mmu_window_ns(1e300, &ns));
    CHECK(ns == INT64_MAX);
    CHECK_OK(tc_mmu_window_ns(1.5, &ns));
    CHECK(ns == 1500000000);
    static const double bad[] = {0.0, -0.0, -1.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(tc_mmu_window_ns(bad[i], &ns) == TC_ERR_VALUE && strstr(tc_errmsg(), "window"));
}

TEST(mmu_kind_names_round_trip)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    for (int k = 0; k < TC_GC_KIND_COUNT; k++) {
        tc_gc_kind out = TC_GC_KIND_COUNT;
        CHECK_OK(tc_gc_kind_parse(tc_gc_kind_name((tc_gc_kind)k), &out));
        CHECK(out == (tc_gc_kind)k);
    }
    tc_gc_kind out;
    CHECK(tc_gc_kind_parse("mark", &out) == TC_ERR_VALUE && strstr(tc_errmsg(), "limit_wait"));
    CHECK(tc_gc_kind_parse(NULL, &out) == TC_ERR_TYPE);
    CHECK(strcmp(tc_gc_kind_name(TC_GC_LIMIT_WAIT), "limit_wait") == 0);
}

/* mmu_a_million_intervals — unsorted, overlapping intervals over ~10 s:
 * finishes (O(n log n)), and the results keep their invariants. */
TEST(mmu_a_million_intervals)
{
    if (tc_test_collector != TC_COLLECTOR_STW)
        return;
    size_t n = 1000000;
    tc_interval *iv = malloc(n * sizeof *iv);
    CHECK(iv != NULL);
    for (size_t i = 0; i < n; i++) {
        int64_t s = (int64_t)rnd(10000000000ull), len = (int64_t)rnd(rnd(100) ? 3000 : 3000000);
        iv[i] = (tc_interval){s, s + len, (tc_gc_kind)rnd(TC_GC_KIND_COUNT)};
    }
    int64_t w[] = {1000, 100000, 1000000, 10000000, 100000000, 1000000000, 20000000000};
    tc_mmu_point p[7];
    tc_status st = tc_mmu(iv, n, NULL, NULL, w, 7, p);
    free(iv);
    CHECK_OK(st);
    for (int i = 0; i < 7; i++) {
        uint64_t sum = 0;
        for (int k = 0; k < TC_GC_KIND_COUNT; k++)
            sum += p[i].by_kind_ns[k];
        CHECK(0 <= p[i].bmu && p[i].bmu <= p[i].mmu && p[i].mmu <= 1);
        CHECK(p[i].mmu == 1.0 - (double)sum / (double)p[i].length_ns);
        CHECK(i == 0 || p[i - 1].bmu <= p[i].bmu);
    }
    CHECK(p[6].mmu == p[6].bmu && p[6].length_ns < w[6]);
}
