/*
 * sizeclass.c — builds the size-class table once per process.
 *
 * Like Go's table, classes step by 8 bytes for the smallest sizes, then by
 * 16, then by about 1/8 of the size, so that rounding an object up to its
 * class wastes at most ~12.5%. Each class gets the fewest 8 KiB pages, at
 * least SPAN_MIN_PAGES, whose tail waste is at most 1/8 of the span. The
 * table is computed, not typed in, so that the rule is the documentation.
 *
 * Why at least 4 pages: every span costs a span struct (128 bytes, two
 * cache lines: span.h) and its tail. With one-page spans of 40-byte nodes
 * (issue 16's pause workload) that was 1.6% + 0.4% of the heap: 46 MiB of
 * structs and 11 MiB of tails in a 2.9 GiB heap, as much RSS as the black
 * bitmap. At 32 KiB the struct is 1/256 of its span and a 40-byte class
 * wastes 8 bytes a span (csrc/footprint.c measures both).
 */
#include "sizeclass.h"

#include <pthread.h>

#include "span.h"

int sc_count;
uint32_t sc_size[SC_MAX_CLASSES];
uint32_t sc_npages[SC_MAX_CLASSES];
uint32_t sc_nelems[SC_MAX_CLASSES];
uint8_t sc_lookup_small[1024 / 8 + 1];
uint8_t sc_lookup_large[(SC_MAX_SIZE - 1024) / 128 + 1];

/* next_size — the class after `s`: +8 up to 64, +16 up to 256, then about
 * +1/8, rounded to a multiple of 16 (128 above 1024). */
static uint32_t next_size(uint32_t s)
{
    if (s < 64)
        return s + 8;
    if (s < 256)
        return s + 16;
    uint32_t step = s / 8, align = s < 1024 ? 16 : 128;
    step = (step + align - 1) / align * align;
    return s + step;
}

#define SPAN_MIN_PAGES 4

static uint32_t pages_for(uint32_t size)
{
    for (uint32_t np = SPAN_MIN_PAGES;; np++) {
        uint32_t bytes = np * TC_PAGE_SIZE;
        if (bytes >= size && (bytes % size) * 8 <= bytes)
            return np;
    }
}

static void sizeclass_build(void)
{
    int c = 1;
    for (uint32_t s = 8; s <= SC_MAX_SIZE && c < SC_MAX_CLASSES; s = next_size(s), c++) {
        sc_size[c] = s;
        sc_npages[c] = pages_for(s);
        sc_nelems[c] = sc_npages[c] * TC_PAGE_SIZE / s;
    }
    if (sc_size[c - 1] < SC_MAX_SIZE) { /* make the last class exactly the max */
        sc_size[c] = SC_MAX_SIZE;
        sc_npages[c] = pages_for(SC_MAX_SIZE);
        sc_nelems[c] = sc_npages[c] * TC_PAGE_SIZE / SC_MAX_SIZE;
        c++;
    }
    sc_count = c;
    int k = 1;
    for (uint32_t i = 0; i <= 1024 / 8; i++) {
        while (sc_size[k] < i * 8)
            k++;
        sc_lookup_small[i] = (uint8_t)k;
    }
    for (uint32_t i = 0; i <= (SC_MAX_SIZE - 1024) / 128; i++) {
        while (sc_size[k] < 1024 + i * 128)
            k++;
        sc_lookup_large[i] = (uint8_t)k;
    }
}

static pthread_once_t sc_once = PTHREAD_ONCE_INIT;

void sizeclass_init(void) { pthread_once(&sc_once, sizeclass_build); }
