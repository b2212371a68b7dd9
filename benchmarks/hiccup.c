/*
 * hiccup.c — the pause benchmark's machine control: what a thread that does
 * nothing but read the clock sees, beside one busy thread (as a mutator sees
 * the machine while the collector thread works on the other core). No heap,
 * no allocation, no system call in the loop: every gap between two clock
 * reads is time the thread did not run (the kernel preempted it, the
 * hypervisor descheduled the vCPU, an interrupt ran long).
 *
 *     pause_hiccup size=N seconds=S workload=W system=Y   (size is ignored)
 *
 * RESULT op_max is the longest gap (µs), op_p999 is not measured; gaps_1ms
 * counts the gaps over 1 ms and invol_csw the involuntary context switches
 * of the measuring thread. Same options and output as pause.c (gclab.h).
 */
#include "gclab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

static atomic_int g_stop;

static void *busy(void *arg)
{
    (void)arg;
    volatile uint64_t x = 0;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
        x++;
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = atof(opt_str(argc, argv, "seconds", "10"));
    const char *wl = opt_str(argc, argv, "workload", "hiccup");
    const char *sys = opt_str(argc, argv, "system", "machine");
    pthread_t t;
    if (pthread_create(&t, NULL, busy, NULL) != 0)
        bench_die("pthread_create", "busy thread");
    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    uint64_t start = bench_now_ns(), prev = start, max_gap = 0, over_1ms = 0;
    uint64_t end = start + (uint64_t)(seconds * 1e9);
    while (prev < end) {
        uint64_t now = bench_now_ns();
        uint64_t gap = now - prev;
        if (gap > max_gap)
            max_gap = gap;
        over_1ms += gap > 1000000;
        prev = now;
    }
    getrusage(RUSAGE_THREAD, &r1);
    atomic_store(&g_stop, 1);
    pthread_join(t, NULL);
    bench_result(wl, sys, "op_max", (double)max_gap / 1e3, "us");
    bench_result(wl, sys, "gaps_1ms", (double)over_1ms, "count");
    bench_result(wl, sys, "invol_csw", (double)(r1.ru_nivcsw - r0.ru_nivcsw), "count");
    return 0;
}
