/*
 * check.h — hooks for the core's own tests (tests/c): step an incremental
 * cycle by hand so a test can interleave mutations with marking exactly.
 * Not part of the public API.
 */
#ifndef TC_CHECK_H
#define TC_CHECK_H
#include <stdbool.h>
#include <stdint.h>

#include "tricolor.h"

tc_status collector_debug_start(tc_heap *h);              /* start a cycle: phase = mark */
bool collector_debug_mark(tc_heap *h, int64_t budget);    /* one slice; true when drained */
void collector_debug_blacken(tc_heap *h, tc_obj *o);      /* mark and scan o now */
tc_status collector_debug_finish(tc_heap *h);             /* finish; TC_ERR_CORRUPT if checkmark fired */
void collector_debug_assists_only(tc_heap *h, bool on);   /* concurrent: the collector thread leaves marking to assists */
void collector_debug_mark_pair(tc_heap *h, int64_t slice); /* drain with two markers taking turns, `slice` objects each */
/* concurrent: as if the OS did not schedule the collector thread, keep it from starting a cycle (hold)
 * or, after mark termination, from sweeping and ending the cycle (stall_sweep) */
void collector_debug_hold(tc_heap *h, bool on);
void collector_debug_stall_sweep(tc_heap *h, bool on);
uint64_t roots_debug_visited(tc_heap *h);                /* handle-table slots walked so far */
#endif
