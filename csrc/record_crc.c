/*
 * record_crc.c — rec_crc32, the replay log's block checksum (record.h):
 * CRC-32 (IEEE 802.3, reflected), written by record.c, checked by
 * replay_check.c. docs/replay.md documents the format.
 *
 * Invariant: both ways below compute the same checksum for every input
 * (tests/c/test_replay.c, replay_crc32_matches_the_reference); the tables
 * are written once, under pthread_once, before either is used.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "record.h"

/* Two ways to the same checksum. Slicing-by-8 (eight 256-entry tables,
 * eight bytes per step) everywhere; and on x86-64 with PCLMULQDQ, folding
 * by carry-less multiplication (Intel's "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ", 2009), 64 bytes per step: the table loop
 * was a tenth of a replay (perf), the folding takes a few percent of that.
 * tests/c/test_replay.c checks both against a bit-at-a-time reference. */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_fold_ok; /* set once by crc_init: the CPU has PCLMULQDQ */

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = crc_table[0][crc_table[t - 1][i] & 0xff] ^ (crc_table[t - 1][i] >> 8);
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    crc_fold_ok = __builtin_cpu_supports("pclmul");
#endif
}

/* crc_tables — c (the running register, not inverted) over n bytes at p. */
static uint32_t crc_tables(uint32_t c, const uint8_t *p, size_t n)
{
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    }
    while (n--)
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define CRC_FOLD_MIN 64 /* bytes: the folding needs four 16-byte lanes to start */

/* The folding constants of the reflected polynomial 0x104c11db7, each a
 * power of x modulo P, bit-reflected and shifted by one (Intel's paper,
 * section 4): x^(4*128+32) and x^(4*128-32) fold 64 bytes ahead,
 * x^(128+32) and x^(128-32) one lane, x^64 from 96 to 64 bits; then
 * Barrett's reduction by P' and mu = floor(x^64 / P). */
#define CRC_K1 UINT64_C(0x0154442bd4)
#define CRC_K2 UINT64_C(0x01c6e41596)
#define CRC_K3 UINT64_C(0x01751997d0)
#define CRC_K4 UINT64_C(0x00ccaa009e)
#define CRC_K5 UINT64_C(0x0163cd6124)
#define CRC_P  UINT64_C(0x01db710641)
#define CRC_MU UINT64_C(0x01f7011641)

/* fold — lane x carried 128 bits (or 512) further by the constants k: x times k's halves, xor'd. */
__attribute__((target("pclmul,sse2"))) static inline __m128i fold(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* crc_fold — c over n bytes at p, n >= CRC_FOLD_MIN and a multiple of 16. */
__attribute__((target("pclmul,sse2"))) static uint32_t crc_fold(uint32_t c, const uint8_t *p, size_t n)
{
    const __m128i k12 = _mm_set_epi64x((long long)CRC_K2, (long long)CRC_K1);
    const __m128i k34 = _mm_set_epi64x((long long)CRC_K4, (long long)CRC_K3);
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x0 = _mm_xor_si128(fold(x0, k12), _mm_loadu_si128((const __m128i *)p));
        x1 = _mm_xor_si128(fold(x1, k12), _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = _mm_xor_si128(fold(x2, k12), _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = _mm_xor_si128(fold(x3, k12), _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    x0 = _mm_xor_si128(fold(x0, k34), x1); /* four lanes into one */
    x0 = _mm_xor_si128(fold(x0, k34), x2);
    x0 = _mm_xor_si128(fold(x0, k34), x3);
    for (; n >= 16; p += 16, n -= 16)
        x0 = _mm_xor_si128(fold(x0, k34), _mm_loadu_si128((const __m128i *)p));
    /* 128 bits to 64: the low half times x^(128-32)... then 96 to 64 by x^64 */
    const __m128i low32 = _mm_set_epi32(0, -1, 0, -1);
    x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), _mm_clmulepi64_si128(x0, k34, 0x10));
    x1 = _mm_srli_si128(x0, 4);
    x0 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x0, low32), _mm_set_epi64x(0, (long long)CRC_K5), 0x00),
                       x1);
    /* Barrett: the remainder of the 64 bits left, modulo P */
    const __m128i pmu = _mm_set_epi64x((long long)CRC_MU, (long long)CRC_P);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x0, low32), pmu, 0x10);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), pmu, 0x00);
    x0 = _mm_xor_si128(x0, x1);
    return (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(x0, 4));
}
#endif

uint32_t rec_crc32(const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = 0xffffffffu;
#if defined(__x86_64__) && defined(__GNUC__)
    if (crc_fold_ok && n >= CRC_FOLD_MIN) {
        size_t m = n & ~(size_t)15;
        c = crc_fold(c, p, m);
        p += m;
        n -= m;
    }
#endif
    return crc_tables(c, p, n) ^ 0xffffffffu;
}

uint32_t rec_crc32_tables(const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    return crc_tables(0xffffffffu, p, n) ^ 0xffffffffu;
}

