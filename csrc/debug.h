/*
 * debug.h — assertions and the lock-order check of debug builds (TC_DEBUG).
 *
 * TC_ASSERT(cond) states an internal invariant: in a debug build a false
 * cond records where it failed (check_failed_at, for the test runner's trap
 * handler and for a debugger) and traps; in a release build it compiles to
 * nothing and cond is not evaluated. Never for user input: a bad argument is
 * a typed error (errors.c), not an assertion.
 *
 * TC_CHECK(call) runs one of check.c's checkers (a tc_status call) at a
 * point where the world is stopped, and traps if it fails (tc_errmsg() says
 * why). Release builds skip the call: a pause is a budget, and the checkers
 * are proportional to the heap.
 *
 * The lock-order check: in a debug build pthread_mutex_lock, _trylock and
 * _unlock are routed through check.c, which knows the rank of every mutex
 * of csrc (heap.h's table): the registry lock (rank 0), the fourteen of
 * every live heap (registered by tc_heap_new) and each heap's mark workers'
 * lock (registered by mark_par_new), and keeps the locks each thread
 * holds. Taking a heap's lock while holding one of the same heap with an
 * equal or higher rank traps, and so does taking the registry lock while
 * holding any lock, whether or not two threads would actually have
 * deadlocked this time. A mutex in no table (a test's own) passes through
 * unchecked. Release builds call pthread directly: no cost.
 *
 * Invariants: a thread's held-lock list holds exactly the ranked locks it
 * has taken and not yet released (condition waits release and
 * retake a lock inside pthread, which leaves the list unchanged).
 */
#ifndef TC_DEBUG_H
#define TC_DEBUG_H
#include <pthread.h>
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

struct tc_heap;

#ifdef TC_DEBUG
extern _Thread_local const char *check_failed_at; /* the last failed assertion (check.c) */
#define TC_STR_(x) #x
#define TC_STR(x) TC_STR_(x)
#define TC_ASSERT(cond)                                                          \
    do {                                                                         \
        if (!(cond)) {                                                           \
            check_failed_at = __FILE__ ":" TC_STR(__LINE__) ": " #cond;          \
            __builtin_trap();                                                    \
        }                                                                        \
    } while (0)
#define TC_CHECK(call) TC_ASSERT((call) == TC_OK)

void check_locks_register(struct tc_heap *h); /* after its mutexes are initialised */
void check_locks_forget(struct tc_heap *h);   /* before they are destroyed */
void check_lock_add(struct tc_heap *h, pthread_mutex_t *m); /* the mark workers' lock of h (rank 15) */
void check_lock_remove(pthread_mutex_t *m);   /* before it is destroyed */
int check_lock_take(pthread_mutex_t *m);
int check_lock_try(pthread_mutex_t *m);
int check_lock_drop(pthread_mutex_t *m);
#define pthread_mutex_lock(m) check_lock_take(m)
#define pthread_mutex_trylock(m) check_lock_try(m)
#define pthread_mutex_unlock(m) check_lock_drop(m)
#else
#define TC_ASSERT(cond) ((void)0)
#define TC_CHECK(call) ((void)0)
#define check_locks_register(h) ((void)0)
#define check_locks_forget(h) ((void)0)
#define check_lock_add(h, m) ((void)0)
#define check_lock_remove(m) ((void)0)
#endif
#pragma GCC visibility pop
#endif
