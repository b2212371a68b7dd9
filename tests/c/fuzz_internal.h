/*
 * fuzz_internal.h — what the model (fuzz_model.c) and the round driver
 * (fuzz_run.c) share: the model object, the per-round state and the
 * per-thread state. Not used outside the fuzzer.
 *
 * Invariants:
 *  - a private model object (frozen == 0) is read and written only by the
 *    thread that made it; its heap object likewise: the model is exact;
 *  - a frozen object never changes again, in the model or in the heap,
 *    refers only to frozen objects, has a payload of >= 8 bytes starting
 *    with its uid, and is in the round's registry (found by that uid);
 *    any thread may check it exactly;
 *  - a model object with a finalizer has no slots (no finalizer cycle can
 *    form, so every finalizer runs once everything is dropped) and is
 *    never frozen; nor is one with a cleanup;
 *  - every tc_root and tc_weak a thread holds is in its hs / ws arrays (or
 *    a local variable of the operation running), so the round can end with
 *    0 roots.
 */
#ifndef FUZZ_INTERNAL_H
#define FUZZ_INTERNAL_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fuzz_model.h"

#define NH 48         /* handles per thread */
#define NW 8          /* weak references per thread */
#define NL 6          /* locals per raw section */
#define NBOARD 64     /* slots of the shared board object */
#define REG_BITS 18   /* the frozen-object registry has 2^REG_BITS entries */
#define TOK_MAX (1u << 20) /* finalizer and cleanup tokens per round */

typedef struct mobj mobj;

typedef struct mval {
    uint8_t kind; /* a tc_kind */
    union {
        int64_t i;
        uint64_t bits; /* TC_FLOAT: compared bit for bit */
        bool b;
        mobj *ref;
    } u;
} mval;

struct mobj {
    uint64_t uid;        /* unique in the run; the payload's first 8 bytes when size >= 8 */
    uint32_t nslots, size;
    uint32_t version;    /* payload pattern version (bumped by payload writes) */
    uint8_t frozen;      /* shared and immutable (see the top) */
    uint8_t special;     /* has (had) a finalizer or cleanup: never frozen */
    uint32_t rc;         /* private objects: handles and slots of live private objects that refer to it */
    uintptr_t addr;      /* the heap object's address: identity (objects never move) */
    uint32_t seen[FUZZ_MAX_THREADS + 1]; /* traversal stamps, one per thread */
    uint64_t fin;        /* armed finalizer token, 0 if none */
    uint64_t cleanup[2]; /* cleanup tokens, 0 if none */
    mobj *next;          /* the owner's list of its objects */
    mval slot[];
};

enum { T_FREE = 0, T_ARMED, T_CLEARED, T_FIRED };

typedef struct tok {
    _Atomic uint8_t state; /* T_*: ARMED published with release after the fields below */
    uint8_t kind;          /* TC_READY_FINALIZER or TC_READY_CLEANUP */
    uint32_t size;
    uint64_t uid;
    uintptr_t addr;
} tok;

typedef struct run {
    tc_heap *h;
    const fuzz_opts *o;
    uint64_t seed, round;
    int nthreads;
    int64_t gogc;
    int workers;
    size_t model_max;              /* private model objects a thread tries to stay under */
    size_t weight;                 /* nodes of each thread's weight chain */
    bool cycler;                   /* a thread forces cycles back to back */
    _Atomic bool mutators_done;
    tc_root *board;                /* NBOARD slots; slot s written only by thread s % nthreads */
    mobj *board_model[NBOARD];     /* what slot s holds (its writer's view) */
    _Atomic bool stop;             /* a failure was seen: every thread stops */
    _Atomic(mobj *) *reg;          /* frozen objects by uid: insert only */
    _Atomic uint64_t nreg;
    tok *toks;
    _Atomic uint64_t ntok;
    _Atomic uint64_t lost, wrong, errors, leaked, verifies, calls;
    _Atomic uint64_t ops;          /* progress: +1 every 1024 operations of a thread (the watchdog) */
    _Atomic uint64_t ops_done;     /* operations of the round, added as each thread ends */
    uint64_t ops_target;           /* this round's operations, all threads */
    pthread_mutex_t fail_lock;
    char failure[600];
} run;

typedef struct hslot {
    tc_root *r;
    mobj *o;
} hslot;

typedef struct wslot {
    tc_weak *w;
    mobj *o;
} wslot;

typedef struct mt {
    run *R;
    int idx;
    uint64_t rng;
    hslot hs[NH];
    wslot ws[NW];
    hslot weight;      /* the head of this thread's weight chain (only model_gc and the checks use it) */
    mobj *objs;        /* every model object this thread made and has not freed */
    size_t nobjs, kept; /* kept: objects the last model_gc kept */
    uint32_t epoch;    /* traversal stamp (mobj.seen[idx]) */
    uint64_t ops, calls, cm_seen;
    uint8_t *buf, *buf2; /* payload scratch, PAYLOAD_MAX bytes each */
    struct pair { tc_root *r; mobj *o; bool own; } *work; /* traversal work list */
    size_t nwork, capwork;
} mt;

#define PAYLOAD_MAX 100000u

/* fuzz_model.c: failures, randomness, the model, checks */
void fz_fail(run *R, _Atomic uint64_t *counter, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define WRONG(t, ...) fz_fail((t)->R, &(t)->R->wrong, __VA_ARGS__)
#define LOST(t, ...) fz_fail((t)->R, &(t)->R->lost, __VA_ARGS__)
uint64_t rnd(mt *t);
uint64_t below(mt *t, uint64_t n);                /* uniform in [0, n) */
bool chance(mt *t, unsigned pct);
uint64_t mix(uint64_t x);
bool ok(mt *t, tc_status st, const char *what);   /* a call that must succeed (else a failure) */
void release(mt *t, tc_root *r);
mobj *mobj_new(mt *t, uint32_t nslots, uint32_t size);
void pattern(const mobj *o, uint8_t *buf);        /* the payload o must hold */
void mset(mobj *o, uint32_t s, mval v);           /* the model's o[s] = v */
tc_value to_value(mval v);
bool same(tc_value v, mval e);                    /* does the heap's v match the model's e? */
const char *kind_name(int k);
void hs_set(mt *t, int i, tc_root *r, mobj *o);   /* handle slot i := (r, o), releasing the old root */
int pick(mt *t, bool priv, bool slots, bool ref); /* a random handle whose object fits, or -1 */
int ref_slot(mt *t, const mobj *o);               /* a random reference slot of o, or -1 */
mval random_val(mt *t, bool refs);
bool set_slot(mt *t, tc_root *r, mobj *o, uint32_t s, mval v);
bool get_slot(mt *t, tc_root *r, mobj *o, uint32_t s, tc_root **rr);
void model_gc(mt *t);                             /* forget what this thread can no longer reach */
void deep_check(mt *t, tc_root *r, mobj *o, size_t budget);
void fz_took(run *R, tc_ready_kind k, tc_token token, tc_root *r); /* check a due callback and release it */
void fz_free_frozen(run *R);                      /* the registry's objects, at the end of a round */

/* fuzz_model.c: operations through the checked calls */
void op_new(mt *t);
void op_set(mt *t);
void op_get(mt *t);
void op_move(mt *t);
void op_drop(mt *t);
void op_dup(mt *t);
void op_data(mt *t);
void op_publish(mt *t);
void op_steal(mt *t);
void op_weak(mt *t);
void op_special(mt *t);
void op_ready(mt *t);
void op_check(mt *t);
void op_collect(mt *t);
void op_verify(mt *t);
void op_gogc(mt *t);
void op_burst(mt *t);

/* fuzz_raw.c: raw sections and races */
void op_raw(mt *t);
void op_race(mt *t);

/* fuzz_run.c */
void *fz_thread(void *arg);                       /* one mutator thread's round */
#endif
