/*
 * platform.c — Linux/POSIX: mmap reservations, commits, clocks, membarrier.
 * The only file with per-OS #if.
 */
#include "platform.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <linux/membarrier.h>
#endif

bool plat_have_membarrier = false;

#ifdef TC_FAILPOINTS
/* The failpoint: after plat_failpoint_arm(n, sticky), the n-th internal
 * allocation fails (and, sticky, every later one), on whichever thread
 * makes it. Process-wide, like the allocator it stands in front of. */
static _Atomic uint64_t fp_seen, fp_nth;
static _Atomic bool fp_sticky;

bool plat_fail_alloc(void)
{
    uint64_t nth = atomic_load_explicit(&fp_nth, memory_order_relaxed);
    uint64_t k = atomic_fetch_add_explicit(&fp_seen, 1, memory_order_relaxed) + 1;
    return nth && (k == nth || (k > nth && atomic_load_explicit(&fp_sticky, memory_order_relaxed)));
}

void plat_failpoint_arm(uint64_t nth, bool sticky)
{
    atomic_store(&fp_nth, 0);
    atomic_store(&fp_seen, 0);
    atomic_store(&fp_sticky, sticky);
    atomic_store(&fp_nth, nth);
}

uint64_t plat_failpoint_seen(void) { return atomic_load(&fp_seen); }
#endif

/* Reservations are mapped read-write at once unless the kernel accounts
 * strictly (vm.overcommit_memory = 2): untouched pages cost nothing either
 * way, and committing by mprotect takes the address-space lock for writing
 * — a mutator growing the heap waited milliseconds for it while the
 * collector's threads took page faults. Under strict accounting a
 * read-write reservation would be charged whole, so it stays PROT_NONE and
 * plat_commit makes pages writable as the heap grows. */
static bool reserve_writable = false;

void *plat_reserve(size_t size, size_t align)
{
    size_t len = size + align;
    if (plat_fail_alloc())
        return NULL;
    char *p = mmap(NULL, len, reserve_writable ? PROT_READ | PROT_WRITE : PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = a - (uintptr_t)p, tail = len - head - size;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((char *)a + size, tail);
    return (void *)a;
}

/* plat_reserve_at — as plat_reserve, but exactly at addr, or NULL. addr is
 * a hint, not MAP_FIXED(_NOREPLACE): the kernel maps there when the range
 * is free and elsewhere when not, and a mapping elsewhere is given back, so
 * nothing is ever replaced. Why not MAP_FIXED_NOREPLACE: a sanitizer's
 * mmap interceptor rewrites an address outside the ranges it can shadow to
 * 0 unless MAP_FIXED is set, and with NOREPLACE the kernel then maps at 0
 * (root may) and the runtime dies; a hint it rewrites just lands elsewhere
 * and is refused here (test_memory: reserve_at_any_address_returns_it_or_null). */
void *plat_reserve_at(uintptr_t addr, size_t size)
{
    char *p = mmap((void *)addr, size, reserve_writable ? PROT_READ | PROT_WRITE : PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if ((uintptr_t)p != addr) {
        munmap(p, size);
        return NULL;
    }
    return p;
}

void plat_unreserve(void *p, size_t size) { munmap(p, size); }

bool plat_commit(void *p, size_t size)
{
    if (plat_fail_alloc())
        return false;
    return reserve_writable || mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
}

void plat_decommit(void *p, size_t size) { madvise(p, size, MADV_DONTNEED); }

bool plat_prefault(void *p, size_t size)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = 4096, lo = (uintptr_t)p & ~(page - 1), hi = ((uintptr_t)p + size + page - 1) & ~(page - 1);
    return size && madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) == 0;
#else
    (void)p;
    (void)size;
    return false;
#endif
}

void *plat_map_lazy(size_t size)
{
    if (plat_fail_alloc())
        return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *plat_calloc_lines(size_t size)
{
    size = (size + 63) & ~(size_t)63;
    void *p = NULL;
    if (plat_fail_alloc() || posix_memalign(&p, 64, size) != 0)
        return NULL;
    memset(p, 0, size);
    return p;
}

void plat_unmap(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

uint64_t plat_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t plat_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void plat_thread_sched(uint64_t out[3])
{
    out[0] = plat_thread_cpu_ns();
    out[1] = out[2] = 0;
#if defined(RUSAGE_THREAD)
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) == 0) {
        out[1] = (uint64_t)ru.ru_nivcsw;
        out[2] = (uint64_t)ru.ru_nvcsw;
    }
#endif
}

int plat_thread_id(void)
{
#if defined(__linux__) && defined(SYS_gettid)
    return (int)syscall(SYS_gettid);
#else
    return 0;
#endif
}

uint64_t plat_thread_cpu_of(int tid)
{
#if defined(__linux__)
    /* the kernel's CPU clock of one thread (CPUCLOCK_SCHED of a thread id, as
     * pthread_getcpuclockid makes it): a gone thread's is EINVAL, not a fault */
    clockid_t c = (clockid_t)((~(unsigned)tid << 3) | 6);
    struct timespec ts;
    if (tid > 0 && clock_gettime(c, &ts) == 0)
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
    (void)tid;
    return 0;
}

static int ncpu_cached;

int plat_ncpu(void)
{
    int n = __atomic_load_n(&ncpu_cached, __ATOMIC_RELAXED);
    if (!n) { /* sysconf reads /sys: once per process */
        long v = sysconf(_SC_NPROCESSORS_ONLN);
        n = v > 0 ? (int)v : 1;
        __atomic_store_n(&ncpu_cached, n, __ATOMIC_RELAXED);
    }
    return n;
}

static pthread_once_t plat_once = PTHREAD_ONCE_INIT;

static void plat_init_once(void)
{
#if defined(__linux__)
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = 2;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1)
            mode = 2;
        fclose(f);
    }
    reserve_writable = mode != 2 && !getenv("TRICOLOR_STRICT_COMMIT");
#endif
#if defined(__linux__) && defined(SYS_membarrier) && !defined(TC_NO_MEMBARRIER)
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        plat_have_membarrier = true;
#endif
}

void plat_init(void) { pthread_once(&plat_once, plat_init_once); }

void plat_fork_child(void)
{
#if defined(__linux__) && defined(SYS_membarrier) && !defined(TC_NO_MEMBARRIER)
    if (plat_have_membarrier &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0)
        plat_have_membarrier = false; /* the only thread now: no mutator is between two fences */
#endif
}

void plat_heavy_fence(void)
{
    atomic_thread_fence(memory_order_seq_cst);
#if defined(__linux__) && defined(SYS_membarrier)
    if (plat_have_membarrier)
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
#endif
}

void plat_wait_while(_Atomic int *addr, int val, uint64_t timeout_ns)
{
#if defined(__linux__) && defined(SYS_futex)
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
#else
    if (atomic_load(addr) == val) {
        struct timespec ts = {0, (long)(timeout_ns < 1000000 ? timeout_ns : 1000000)};
        nanosleep(&ts, NULL);
    }
#endif
}

void plat_wake(_Atomic int *addr)
{
#if defined(__linux__) && defined(SYS_futex)
    syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)addr;
#endif
}
