/*
 * platform.h — the operating system as the core sees it: address-space
 * reservation, committing and releasing memory, clocks, the membarrier-based
 * asymmetric fence. platform.c is the only file with per-OS code.
 *
 * Invariants: reserved memory is only touched once committed (it is
 * mapped read-write at once unless the kernel accounts commits strictly, or
 * TRICOLOR_STRICT_COMMIT is set: then PROT_NONE until committed); committed
 * memory reads as zero the first time it is touched. Every allocation the
 * core makes goes through this file: plat_malloc and its siblings below, and
 * the mappings, so that a TC_FAILPOINTS build can make any one of them fail.
 */
#ifndef TC_PLATFORM_H
#define TC_PLATFORM_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* plat_fail_alloc — should this internal allocation fail? Only a
 * TC_FAILPOINTS build (the allocation-failure tests, Lua ltests' style) says
 * yes: to the n-th allocation after plat_failpoint_arm(n, ...) (check.h). */
#ifdef TC_FAILPOINTS
bool plat_fail_alloc(void);
#else
static inline bool plat_fail_alloc(void) { return false; }
#endif

/* plat_malloc, plat_calloc, plat_realloc, plat_strdup — the C library's,
 * failable on purpose in a TC_FAILPOINTS build; release with free(). */
static inline void *plat_malloc(size_t n) { return plat_fail_alloc() ? NULL : malloc(n); }
static inline void *plat_calloc(size_t n, size_t size) { return plat_fail_alloc() ? NULL : calloc(n, size); }
static inline void *plat_realloc(void *p, size_t n) { return plat_fail_alloc() ? NULL : realloc(p, n); }
static inline char *plat_strdup(const char *s) { return plat_fail_alloc() ? NULL : strdup(s); }

#include "debug.h" /* debug builds: plat_lock below keeps the lock order */
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* plat_reserve — reserve `size` bytes aligned to `align` (a power of two),
 * inaccessible. NULL if the OS refuses. */
void *plat_reserve(size_t size, size_t align);
/* plat_reserve_at — reserve exactly [addr, addr+size), or NULL (taken, or
 * refused); never replaces an existing mapping. */
void *plat_reserve_at(uintptr_t addr, size_t size);
void plat_unreserve(void *p, size_t size);
/* plat_commit — make [p, p+size) readable and writable. false if refused. */
bool plat_commit(void *p, size_t size);
/* plat_decommit — give the pages back to the OS; they read as zero later. */
void plat_decommit(void *p, size_t size);
/* plat_prefault — fault [p, p+size) (widened to whole OS pages) in,
 * writable, without changing a byte of it (MADV_POPULATE_WRITE), so that
 * the first store there takes no page fault; false if the OS cannot (the
 * range then faults in at its first touch, as before). */
bool plat_prefault(void *p, size_t size);
/* plat_map_lazy — a zero-filled read-write mapping whose pages cost nothing
 * until touched (side tables such as the span map and mark bitmaps). */
void *plat_map_lazy(size_t size);
void plat_unmap(void *p, size_t size);

uint64_t plat_now_ns(void);        /* monotonic clock */
uint64_t plat_thread_cpu_ns(void); /* CPU time of the calling thread */
/* the calling thread's CPU time (ns), involuntary and voluntary context
 * switches so far, in that order (switches 0 where the OS does not count them) */
void plat_thread_sched(uint64_t out[3]);
int plat_thread_id(void);              /* the calling thread's kernel id (0 where unknown) */
uint64_t plat_thread_cpu_of(int tid);  /* CPU time (ns) of this process's thread `tid`; 0 if gone or unknown */
int plat_ncpu(void);

/* plat_heavy_fence — the collector's half of an asymmetric Dekker
 * handshake: after it returns, every other thread of the process has passed
 * a full memory barrier. Mutators then need only a compiler barrier on entry
 * (plat_light_fence). Falls back to seq_cst fences on both sides when the
 * kernel lacks membarrier(2). */
void plat_heavy_fence(void);
extern bool plat_have_membarrier;

/* plat_wait_while — sleep while *addr == val (at most timeout_ns; spurious
 * returns allowed). plat_wake — wake the threads sleeping on addr. */
void plat_wait_while(_Atomic int *addr, int val, uint64_t timeout_ns);
void plat_wake(_Atomic int *addr);
void plat_init(void);
/* plat_fork_child — in a fork's child: register for membarrier again (the
 * child is a new process; without it the heavy fence would be no fence). */
void plat_fork_child(void);

/* plat_calloc_lines — zeroed memory on whole cache lines of its own (free
 * with free()): a structure written by one thread must not share a line
 * with another thread's (a mutator's counters beside the marker's state in
 * the next malloc chunk cost GCBench 40%, depending on struct sizes). */
void *plat_calloc_lines(size_t size);

/* plat_cpu_relax — one round of a busy-wait loop (a hint to the core). */
static inline void plat_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* plat_lock — take a mutex that is held for microseconds at a time,
 * spinning a while before sleeping: a thread that sleeps on a virtual
 * machine can take milliseconds to wake (a heap call must not). */
#define PLAT_LOCK_SPINS 2000
static inline void plat_lock(pthread_mutex_t *m)
{
    for (int i = 0; i < PLAT_LOCK_SPINS; i++) {
        if (pthread_mutex_trylock(m) == 0)
            return;
        plat_cpu_relax();
    }
    pthread_mutex_lock(m);
}

#pragma GCC visibility pop
#endif
