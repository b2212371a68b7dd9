/*
 * plant.h — planted bugs: a test build (mk/fuzz.mk) compiles the core with
 * -DTC_PLANT=PLANT_<NAME> to remove one thing marking depends on, and the
 * model fuzzer (tests/c/fuzz_model.c) must then report a failure. Every
 * other build has TC_PLANT = PLANT_NONE: each planted() below is a constant
 * false and the compiler drops it.
 *
 * Invariants: each plant changes exactly one site, named beside it:
 *   NO_BARRIER           every barrier shade (barrier.c)
 *   HYBRID_NO_DELETION   hybrid: the old value of a slot is not shaded (barrier.c)
 *   HYBRID_NO_INSERTION  hybrid: the new value is not shaded (barrier.c; harmless: barrier.c says why)
 *   DIJKSTRA_NO_INSERTION dijkstra: the new value is not shaded (barrier.c)
 *   YUASA_NO_DELETION    yuasa: the old value of a slot is not shaded (barrier.c)
 *   ROOTS_SKIP_LAST      the handle-table scan skips each chunk's last used slot (markroots.c)
 *   ALLOC_WHITE          objects allocated during mark are not black (alloc.c; harmless with dijkstra)
 *   GBUF_NO_FLUSH        a mutator leaves a heap call with grey work in its buffer (mutator.h)
 *   SCAV_STAYS_FREE      a piece the scavenger releases unlocked stays SPAN_FREE (span.c; caught by
 *                        a_page_freed_beside_a_piece_in_flight_stays_apart, test_scavenge.c)
 *   REC_NO_REVOKE_WAIT   a revoke of the recorder's owner path does not wait for the owner's
 *                        record (record.c; caught by TSan in test_replay.c, not by the fuzzer)
 *   STOP_DROPS_LOCALS    world_stop drops an idle mutator from the list although it holds locals
 *                        (mutator.c; caught by pause_keeps_an_idle_threads_locals, test_pause.c)
 *   ENTRY_SKIPS_LISTED   unpark's entry check does not read `listed` after stw (mutator.c,
 *                        invariant L step 2; caught by
 *                        pause_sees_a_thread_dropped_while_it_listed_itself, test_pause.c)
 *   STW_STALE_ACK        world_stop takes an older pause's acknowledgement for this one's
 *                        (mutator.c: stopped_by_ack; caught by
 *                        a_stale_acknowledgement_does_not_stop_a_running_mutator, test_pause.c)
 *   ACK_SEQ_LATE         a mutator's acknowledgement reads stw before stw_seq, so it may take the
 *                        next pause's number (mutator.c: mutator_wake_stopper; caught by
 *                        a_late_ack_does_not_take_the_next_pauses_number, test_pause.c)
 *   BLACK_UNFLAGGED      set_black sets black bits without the span's `black` flag, so the sweep
 *                        does not read them (alloc.c; caught by
 *                        allocated_black_and_dropped_is_freed_by_the_next_cycle, test_alloc.c)
 *   REQUEST_ACTIVE       a mutator asks for a cycle active, not parked (assist.c: request_parked;
 *                        caught by pause_does_not_wait_for_a_cycle_request, test_pause.c)
 *   RING_FLUSH_DROPS     rings_flush forgets the prefetch ring's candidates when the marker
 *                        turns to a depth-first stretch (drain.c; caught by
 *                        a_tree_survives_the_marker_changing_its_ring_depth, test_heap.c)
 */
#ifndef TC_PLANT_H
#define TC_PLANT_H
#include <stdbool.h>

/* macros, not an enum: a test compares TC_PLANT in #if */
#define PLANT_NONE 0
#define PLANT_NO_BARRIER 1
#define PLANT_HYBRID_NO_DELETION 2
#define PLANT_HYBRID_NO_INSERTION 3
#define PLANT_DIJKSTRA_NO_INSERTION 4
#define PLANT_YUASA_NO_DELETION 5
#define PLANT_ROOTS_SKIP_LAST 6
#define PLANT_ALLOC_WHITE 7
#define PLANT_GBUF_NO_FLUSH 8
#define PLANT_REC_NO_REVOKE_WAIT 9
#define PLANT_SCAV_STAYS_FREE 10
#define PLANT_STOP_DROPS_LOCALS 11
#define PLANT_ENTRY_SKIPS_LISTED 12
#define PLANT_STW_STALE_ACK 13
#define PLANT_ACK_SEQ_LATE 14
#define PLANT_BLACK_UNFLAGGED 15
#define PLANT_REQUEST_ACTIVE 16
#define PLANT_RING_FLUSH_DROPS 17

#ifndef TC_PLANT
#define TC_PLANT PLANT_NONE
#endif

/* planted — is this build's planted bug p? */
static inline bool planted(int p) { return TC_PLANT == p; }
#endif
