/* test_scavenge.c — the scavenger releases pages without holding the heap
 * lock (scavenge.c), and the page heap stays consistent while allocators
 * take and free pages beside it. Structural facts only: never a timing. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "check.h"
#include "heap.h"
#include "scavenge.h"
#include "tc_test.h"

static atomic_int g_releases, g_lock_free;

/* on_release — the hook: the scavenger is about to release a piece; the
 * heap lock must be free now (an allocator needing a span gets it). */
static void on_release(tc_heap *h)
{
    atomic_fetch_add(&g_releases, 1);
    if (pthread_mutex_trylock(&h->lock) == 0) {
        atomic_fetch_add(&g_lock_free, 1);
        pthread_mutex_unlock(&h->lock);
    }
}

/* fill_and_drop — n large objects of `size` bytes, touched (resident), then
 * dropped and collected: their pages are free and unreleased. */
static void fill_and_drop(tc_heap *h, int n, size_t size, int *failed_)
{
    tc_root *holder;
    CHECK_OK(tc_obj_new(h, (uint32_t)n, 0, NULL, &holder));
    for (int i = 0; i < n; i++) {
        tc_root *r;
        CHECK_OK(tc_obj_new(h, 0, size, NULL, &r));
        void *p;
        size_t len;
        CHECK_OK(tc_obj_payload(h, r, &p, &len));
        for (size_t k = 0; k < len; k += 4096)
            ((char *)p)[k] = 1;
        CHECK_OK(tc_slot_set(h, holder, (uint32_t)i, tc_ref(tc_root_obj(r))));
        tc_root_release(h, r);
    }
    tc_root_release(h, holder);
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_collect(h));
}

/* 64 MiB free in one run: the scavenger releases it in 1 MiB pieces and the
 * heap lock is free before every one of them. Before the fix it released
 * the whole run under the lock (the hook saw the lock held, once). */
TEST(scavenger_drops_the_lock_between_chunks)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return; /* the scavenger is the same for all collectors */
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    fill_and_drop(h, 64, (size_t)1 << 20, failed_);
    if (*failed_)
        return;
    atomic_store(&g_releases, 0);
    atomic_store(&g_lock_free, 0);
    atomic_store(&scavenge_test_unlocked, on_release);
    uint64_t released = 0;
    CHECK_OK(tc_heap_scavenge(h, &released));
    atomic_store(&scavenge_test_unlocked, NULL);
    CHECK(released >= (uint64_t)60 << 20);
    CHECK(atomic_load(&g_releases) >= 60); /* 1 MiB a hold */
    CHECK(atomic_load(&g_lock_free) == atomic_load(&g_releases));
    tc_stats s;
    CHECK_OK(tc_heap_stats(h, &s));
    CHECK(s.heap_released == released);
    CHECK_OK(tc_heap_verify(h)); /* free lists, released runs, span map */
    /* released pages come back zeroed and usable */
    tc_root *r;
    CHECK_OK(tc_obj_new(h, 0, (size_t)8 << 20, NULL, &r));
    void *p;
    size_t len;
    CHECK_OK(tc_obj_payload(h, r, &p, &len));
    for (size_t k = 0; k < len; k += 4096)
        CHECK(((char *)p)[k] == 0);
    tc_root_release(h, r);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

typedef struct churn {
    tc_heap *h;
    atomic_bool stop;
    atomic_int rounds;
} churn;

/* churner — allocates and drops large objects (pages taken from and given
 * back to the page heap) while the main thread scavenges. */
static void *churner(void *arg)
{
    churn *c = arg;
    while (!atomic_load(&c->stop)) {
        tc_root *r[8];
        for (int i = 0; i < 8; i++)
            if (tc_obj_new(c->h, 0, (size_t)(i + 1) * 24 << 10, NULL, &r[i]) != TC_OK)
                r[i] = NULL;
        for (int i = 0; i < 8; i++)
            if (r[i])
                tc_root_release(c->h, r[i]);
        atomic_fetch_add(&c->rounds, 1);
    }
    return NULL;
}

/* An allocator runs beside repeated scavenges (each releasing the pages the
 * last collection freed): every page is either in use, on a free list or in
 * the scavenger's hands, and the verifier finds the lists consistent
 * (TSan: no race on the page heap). The hook waits for the allocator to
 * finish a round while the scavenger holds a piece, so the two overlap. */
static churn *g_churn;

static void wait_a_round(tc_heap *h)
{
    (void)h;
    int r = atomic_load(&g_churn->rounds);
    while (atomic_load(&g_churn->rounds) < r + 1)
        sched_yield();
}

TEST(scavenger_beside_an_allocator_keeps_the_page_heap_consistent)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return;
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    churn c = {.h = h};
    g_churn = &c;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churner, &c) == 0);
    for (int round = 0; round < 4; round++) {
        fill_and_drop(h, 8, (size_t)3 << 20, failed_);
        if (*failed_)
            break;
        atomic_store(&scavenge_test_unlocked, wait_a_round);
        uint64_t released = 0;
        CHECK_OK(tc_heap_scavenge(h, &released));
        atomic_store(&scavenge_test_unlocked, NULL);
        CHECK(released > 0);
    }
    atomic_store(&c.stop, true);
    pthread_join(t, NULL);
    CHECK(atomic_load(&c.rounds) >= 4);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* free_beside — the hook: while a piece is in flight, take a one-page run
 * and give it back (a sweep freeing an empty span does the same). The page
 * heap holds a one-page run only beside the piece (the setup below), so the
 * freed page touches the piece: it must not merge into it (SPAN_SCAV; the
 * planted PLANT_SCAV_STAYS_FREE leaves the piece FREE, and the merge takes
 * it off a list it is not on). */
static atomic_bool g_piece_free;

static void free_beside(tc_heap *h)
{
    pthread_mutex_lock(&h->lock);
    span *x = pages_alloc(h, 1);
    if (x && atomic_load(&g_releases) == 0) { /* the first piece: x is the page beside it */
        arena *a = arena_of(x->base);
        span *r = a->spans[((x->base - a->base) >> TC_PAGE_SHIFT) + 1];
        if (r && r->state == SPAN_FREE && r->base == x->base + TC_PAGE_SIZE) {
            atomic_store(&g_piece_free, true); /* freeing x would merge the piece off a list it is not on */
            x = NULL;                          /* keep x: the heap stays walkable for the verdict */
        }
    }
    if (x)
        pages_free(h, x);
    pthread_mutex_unlock(&h->lock);
    atomic_fetch_add(&g_releases, 1);
}

/* G | A (129 pages, freed) | B: the scavenger takes A's last 128 pages and
 * leaves its first page free beside them; the hook frees a page there. */
TEST(a_page_freed_beside_a_piece_in_flight_stays_apart)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return;
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    CHECK_OK(tc_heap_scavenge(h, NULL)); /* nothing unreleased but what follows */
    pthread_mutex_lock(&h->lock);
    span *g = pages_alloc(h, 1), *a = pages_alloc(h, 129), *b = pages_alloc(h, 1);
    bool laid = g && a && b && a->base == g->base + TC_PAGE_SIZE && b->base == a->base + 129 * TC_PAGE_SIZE;
    if (a)
        pages_free(h, a);
    pthread_mutex_unlock(&h->lock);
    CHECK(laid);
    atomic_store(&g_releases, 0);
    atomic_store(&scavenge_test_unlocked, free_beside);
    uint64_t released = 0;
    CHECK_OK(tc_heap_scavenge(h, &released));
    atomic_store(&scavenge_test_unlocked, NULL);
    CHECK(!atomic_load(&g_piece_free));
    CHECK(atomic_load(&g_releases) >= 2); /* the 128-page tail, then the page beside it */
    CHECK(released == (uint64_t)129 * TC_PAGE_SIZE);
    CHECK_OK(tc_heap_verify(h));
    pthread_mutex_lock(&h->lock);
    pages_free(h, g);
    pages_free(h, b);
    pthread_mutex_unlock(&h->lock);
    CHECK_OK(tc_heap_verify(h));
    tc_heap_destroy(h);
}

/* A run whose `released` count says "all" may still hold a page that was
 * never released (counts split in proportion). Here: X (one page of old
 * data) freed beside Y (128 pages, released) makes a 129-page run with 128
 * counted; the scavenger takes its last 128 pages (127 counted) and leaves
 * X's page counted as released. Merging the released piece with it must
 * keep "needs zeroing": a run handed out as zero reads zero. */
TEST(a_released_piece_merged_with_old_data_still_needs_zeroing)
{
    if (tc_test_collector != TC_COLLECTOR_CONCURRENT)
        return;
    tc_heap *h = new_heap_gogc(-1);
    CHECK(h);
    CHECK_OK(tc_heap_scavenge(h, NULL));
    pthread_mutex_lock(&h->lock);
    span *g = pages_alloc(h, 1), *x = pages_alloc(h, 1), *y = pages_alloc(h, 128), *b = pages_alloc(h, 1);
    bool laid = g && x && y && b && x->base == g->base + TC_PAGE_SIZE && y->base == x->base + TC_PAGE_SIZE &&
                b->base == y->base + 128 * TC_PAGE_SIZE;
    uintptr_t xbase = x ? x->base : 0;
    if (laid) {
        memset((void *)xbase, 0xab, TC_PAGE_SIZE);
        pages_free(h, y);
    }
    pthread_mutex_unlock(&h->lock);
    CHECK(laid);
    CHECK_OK(tc_heap_scavenge(h, NULL)); /* Y released */
    pthread_mutex_lock(&h->lock);
    pages_free(h, x); /* X + Y: 129 pages, 128 counted released */
    pthread_mutex_unlock(&h->lock);
    CHECK_OK(tc_heap_scavenge(h, NULL));
    pthread_mutex_lock(&h->lock);
    span *s = pages_alloc(h, 129);
    bool zero_or_flagged = s && s->base == xbase && (s->needzero || *(unsigned char *)xbase == 0);
    pthread_mutex_unlock(&h->lock);
    CHECK(zero_or_flagged);
    tc_heap_destroy(h);
}
