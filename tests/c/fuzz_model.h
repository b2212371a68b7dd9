/*
 * fuzz_model.h — the multi-threaded model fuzzer (fuzz_model.c) as its
 * driver (fuzz_main.c, build/fuzz) sees it.
 *
 * One *round* is one heap of one collector x barrier configuration, with
 * checkmark on, a random gogc (changed as it runs) and, for the concurrent
 * collector, a random mark_workers. Several mutator threads each run random
 * operations against the heap and keep an exact model of the objects they
 * own (fuzz_model.c says what the model is and how sharing stays exact).
 * A round ends by checking every model object, then dropping everything:
 * the heap must come back to 0 objects and 0 roots.
 *
 * A run is rounds until both `ops` operations and `cycles` cycles were done
 * (or a failure was seen). Round r's seed is a function of the run's seed
 * and r, so `round=r` replays one round of a run (the thread interleaving
 * is the OS's: a replay repeats every thread's operations, not their
 * timing).
 */
#ifndef FUZZ_MODEL_H
#define FUZZ_MODEL_H
#include <stdbool.h>
#include <stdint.h>

#include "tricolor.h"

#define FUZZ_MAX_THREADS 8

typedef struct fuzz_opts {
    const char *prog;    /* this program's path, for the replay command */
    tc_collector collector;
    tc_barrier barrier;
    uint64_t seed;
    uint64_t ops;        /* at least this many operations (all threads, all rounds) */
    uint64_t cycles;     /* and at least this many checkmark-verified cycles */
    uint64_t round_ops;  /* operations per round (all threads) */
    int threads;         /* mutator threads per round; 0: 2..5 at random */
    unsigned race;       /* per mille of operations that wait for a mark to start and race it (slow, effective) */
    int64_t only_round;  /* >= 0: run just this round (a replay) */
    double max_seconds;  /* give up after this long (a failure if ops/cycles are not reached) */
    bool verbose;
} fuzz_opts;

/* Counters: a run passes when lost, leaked, wrong and errors are 0 and no
 * checkmark failed. */
typedef struct fuzz_result {
    uint64_t ops, calls, rounds;
    uint64_t cycles;                   /* heap cycles (tc_stats.num_gc), all rounds */
    uint64_t checkmarks[3];            /* passed, failed (white object), could not run */
    uint64_t verifies;                 /* tc_heap_verify calls, all OK unless counted in errors */
    uint64_t lost;                     /* reachable model objects missing, finalized or cleaned up early */
    uint64_t leaked;                   /* objects, roots or callbacks left after the final drop */
    uint64_t wrong;                    /* a read that disagrees with the model */
    uint64_t errors;                   /* an unexpected status, a verify failure */
    double seconds;
    char failure[1000];                /* the first failure, with its replay command */
} fuzz_result;

/* fuzz_run — run o; fills r; 0 if the run passed. */
int fuzz_run(const fuzz_opts *o, fuzz_result *r);

/* fuzz_round_seed — the seed of round `round` of a run seeded with `seed`. */
uint64_t fuzz_round_seed(uint64_t seed, uint64_t round);
#endif
