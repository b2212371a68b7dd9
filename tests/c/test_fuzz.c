/* test_fuzz.c — random sequences of API calls, valid and hostile (bad
 * indexes, out-of-range ints, huge sizes, wrong lengths, other heaps'
 * objects, freed handles, finalizers, weak refs, frees), checked only for
 * what the contract promises: a status, never a crash, and a heap that
 * verifies at every step. Deterministic (fixed seeds). */
#include <stdlib.h>
#include <string.h>

#include "tc_test.h"

#define NH 48

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static tc_value random_value(tc_root **hs, tc_root *foreign)
{
    switch (rnd() % 8) {
    case 0: return tc_nil();
    case 1: return tc_bool(rnd() & 1);
    case 2: return tc_int((int64_t)rnd()); /* often out of range */
    case 3: return tc_int((int64_t)(rnd() % 2000) - 1000);
    case 4: return tc_float((double)(int64_t)rnd() / 3.0);
    case 5: return foreign ? tc_ref(tc_root_obj(foreign)) : tc_nil();
    default: {
        tc_root *r = hs[rnd() % NH];
        return r ? tc_ref(tc_root_obj(r)) : tc_nil();
    }
    }
}

static void fuzz(uint64_t seed, int steps, int *failed_)
{
    rng_state = seed;
    tc_heap *h = new_heap_gogc(50), *other = new_heap_gogc(100);
    CHECK(h && other);
    tc_root *foreign;
    CHECK_OK(tc_obj_new(other, 1, 0, NULL, &foreign));
    tc_root *hs[NH] = {0};
    tc_weak *ws[8] = {0};
    for (int step = 0; step < steps; step++) {
        int i = (int)(rnd() % NH);
        tc_root *r = hs[i];
        tc_status st = TC_OK;
        switch (rnd() % 14) {
        case 0:
        case 1: { /* allocate, sometimes absurdly */
            size_t ns = rnd() % 4 == 0 ? (size_t)rnd() : rnd() % 16;
            size_t sz = rnd() % 4 == 0 ? (size_t)rnd() : rnd() % 64;
            tc_root *n = NULL;
            st = tc_obj_new(h, ns, sz, NULL, &n);
            CHECK(st == TC_OK || st == TC_ERR_NOMEM);
            if (st == TC_OK) {
                if (r)
                    tc_root_release(h, r);
                hs[i] = n;
            }
            break;
        }
        case 2:
        case 3:
        case 4:
            if (r) {
                st = tc_slot_set(h, r, (int64_t)(rnd() % 20) - 2, random_value(hs, foreign));
                CHECK(st == TC_OK || st == TC_ERR_INDEX || st == TC_ERR_OVERFLOW || st == TC_ERR_CROSS_HEAP ||
                      st == TC_ERR_FREED);
            }
            break;
        case 5:
            if (r) {
                tc_value v;
                tc_root *got = NULL;
                st = tc_slot_get(h, r, (int64_t)(rnd() % 20) - 2, &v, &got);
                CHECK(st == TC_OK || st == TC_ERR_INDEX || st == TC_ERR_FREED);
                if (got) {
                    int j = (int)(rnd() % NH);
                    if (hs[j])
                        tc_root_release(h, hs[j]);
                    hs[j] = got;
                }
            }
            break;
        case 6:
            if (r) {
                char buf[80] = {0};
                size_t len = rnd() % 80;
                st = tc_obj_data_set(h, r, buf, len);
                CHECK(st == TC_OK || st == TC_ERR_VALUE || st == TC_ERR_FREED);
                st = tc_obj_data_get(h, r, buf, sizeof buf);
                CHECK(st == TC_OK || st == TC_ERR_FREED);
            }
            break;
        case 7:
            if (r) {
                tc_root_release(h, r);
                hs[i] = NULL;
            }
            break;
        case 8:
            if (r && rnd() % 8 == 0) {
                st = tc_obj_free(h, r);
                CHECK(st == TC_OK || st == TC_ERR_FREED);
                /* other objects may still point at it: clear those slots
                 * so the heap verifies (the contract makes that our job) */
                for (int k = 0; k < NH; k++)
                    if (hs[k] && !tc_root_freed(hs[k])) {
                        size_t n = 0;
                        tc_obj_nslots(h, hs[k], &n);
                        for (size_t s = 0; s < n; s++) {
                            tc_value v;
                            tc_root *got = NULL;
                            if (tc_slot_get(h, hs[k], (int64_t)s, &v, &got) == TC_OK && got) {
                                if (tc_root_obj(got) == (tc_obj *)tc_obj_address(tc_root_obj(r)))
                                    tc_slot_set(h, hs[k], (int64_t)s, tc_nil());
                                tc_root_release(h, got);
                            }
                        }
                    }
            }
            break;
        case 9:
            if (r) {
                st = tc_set_finalizer(h, r, rnd() % 3, NULL);
                CHECK(st == TC_OK || st == TC_ERR_FREED);
            }
            break;
        case 10: {
            int k = (int)(rnd() % 8);
            if (ws[k]) {
                tc_root *got = NULL;
                CHECK_OK(tc_weak_get(h, ws[k], &got));
                if (got)
                    tc_root_release(h, got);
                if (rnd() & 1) {
                    tc_weak_release(h, ws[k]);
                    ws[k] = NULL;
                }
            } else if (r) {
                st = tc_weak_new(h, r, &ws[k]);
                CHECK(st == TC_OK || st == TC_ERR_FREED);
            }
            break;
        }
        case 11: { /* drain due callbacks like a host would */
            tc_token tok;
            tc_root *fr;
            while (tc_take_ready(h, &tok, &fr) != TC_READY_NONE)
                if (fr)
                    tc_root_release(h, fr);
            break;
        }
        case 12:
            CHECK_OK(tc_heap_collect(h));
            break;
        case 13:
            CHECK_OK(tc_heap_verify(h));
            break;
        }
    }
    CHECK_OK(tc_heap_collect(h));
    CHECK_OK(tc_heap_verify(h));
    for (int k = 0; k < 8; k++)
        tc_weak_release(h, ws[k]);
    tc_heap_destroy(h);
    tc_heap_destroy(other);
}

TEST(fuzz_api_calls_valid_and_hostile)
{
    for (uint64_t seed = 1; seed <= 6; seed++)
        fuzz(0x9e3779b97f4a7c15ull * seed, 3000, failed_);
}
