/*
 * barrier.c — the write barriers, and why each keeps marking correct.
 *
 * Setting. Roots are the handle table (scanned concurrently by the marker,
 * while mutators create and release handles) and each mutator's local roots
 * (tc_locals, scanned with the world stopped at the start of mark: they are
 * the "stacks", written without barriers). Objects allocated during mark
 * are black (mark bit set at allocation; all their slots are nil). Objects
 * are never freed during mark. A barrier "shades" an address: if it is
 * unmarked it becomes a grey candidate (barrier.h).
 *
 * The three barriers, for `o[i] = new` with `old` the slot's value:
 *
 *   hybrid   (Go's, the default)  shade(old); shade(new)
 *            handle created: shade(obj); handle released: shade(obj)
 *   dijkstra (insertion)          shade(new)
 *            handles and locals unbarriered; mark termination re-scans every
 *            handle and local with the world stopped and drains what that finds
 *   yuasa    (deletion, snapshot) shade(old)
 *            handle released: shade(obj)
 *   none     nothing: only with the manual collector (manual.c), whose
 *            program steps the mark itself; it loses objects on purpose
 *
 * Invariants and arguments.
 *
 * dijkstra keeps the strong tri-color invariant for heap objects: no black
 * object points to a white one. A black object only gains a reference by a
 * store, which shades the new value first. Roots are not protected (a
 * handle may be created to a white object after its chunk was scanned), so
 * termination re-scans all roots with the world stopped; after that re-scan
 * and the drain, every object reachable from a root is black. This re-scan
 * is proportional to the number of handles: it is what this option exists
 * to show. The drain of what it finds is not allowed to grow: it is bounded
 * in time, and a termination that leaves grey work fails and is tried again
 * later, re-scanning every root (cycle.c says why that ends). Only the
 * attempt whose drain empties every grey set ends the mark.
 *
 * yuasa keeps the weak tri-color invariant via snapshot-at-the-beginning:
 * every object reachable when mark started is marked. An object reachable at
 * the start stays reachable through some path until a reference on that path
 * is deleted; every deletion from a slot (overwrite) or from a root (handle
 * release) shades the deleted value first, so the path's next object becomes
 * grey before it can be lost. Local roots were scanned at the start with the
 * world stopped. An object that becomes reachable later was either reachable
 * at the start (so it is marked) or allocated during mark (black). Hence
 * handle creation needs no barrier and the handle table may be scanned
 * concurrently: a handle released before its slot was scanned shaded its
 * object; one created after refers to a snapshot object or a black one.
 *
 * hybrid does both shades. It keeps the weak invariant by the yuasa argument
 * alone; the extra insertion shade means that a value stored into a black
 * object is grey at once, so the marker sees new structure early and never
 * needs a root re-scan. Shading on handle creation makes the newest roots
 * grey as well, so termination needs no re-scan of the handle table either;
 * that shade is not load-bearing (yuasa's argument does without it), and
 * tc_slot_get_owned's root made outside a heap call as a mark starts goes
 * without it (object.c).
 *
 * Both weak-invariant barriers let termination be a check, not work: with
 * the world stopped, mutator grey buffers are empty (they flush when they
 * leave a heap call), and if the global queue and the marker's stack are
 * empty, every object reachable from a root is black. Otherwise the world
 * restarts and marking continues.
 *
 * Checked stores lock the slot (obj.h), so each reads the exact `old` it
 * overwrites. Racing raw stores (tc_store) to one slot may both read the
 * same `old`, so one deleted value goes unshaded; that value was itself
 * stored during mark, so it is a snapshot object or a new (black) one, and
 * stays covered.
 *
 * Which shades are load-bearing. The planted-bug matrix (plant.h, make
 * fuzz) removes each shade in turn and the model fuzzer must then lose an
 * object: yuasa without its deletion shade, dijkstra without its insertion
 * shade, hybrid without its deletion shade (lost through a local: a raw
 * section loads a white object, deletes it from its slot and holds it
 * across termination; locals are not re-scanned), allocate-black (except
 * as below), the root scan's last slot of each chunk, the flush of a
 * mutator's grey buffer. Two cells are left out because they are harmless:
 *
 *  - hybrid without its insertion shade (Go shades the new value only while
 *    the mutator's stack is grey; here locals are scanned when mark starts,
 *    so no stack is ever grey during mark) is yuasa plus a shade on handle
 *    creation. Yuasa's argument above uses only the deletion shades (slots
 *    and handle release) and the start-of-mark scan of locals, so it holds
 *    unchanged: every object reachable at the start is marked, every later
 *    one is black.
 *  - objects allocated white under dijkstra. A new object N can only become
 *    reachable through references made after N exists: a slot store (the
 *    insertion shade makes N grey), or a handle or local (re-scanned at
 *    termination with the world stopped). So N is marked whenever it is
 *    reachable at termination, and allocate-black only spares that work.
 *    (With hybrid and yuasa a new object in a local or a handle made after
 *    the scan is seen by nobody: there allocate-black is load-bearing.)
 * make fuzz runs both anyway and expects no failure.
 */
#include "barrier.h"
#include "plant.h"

/* shade_old, shade_new — does barrier k shade the deleted (old) value, the
 * stored (new) one? (A planted-bug build drops one: plant.h.) */
static inline bool shade_old(tc_barrier k)
{
    if (k == TC_BARRIER_HYBRID)
        return !planted(PLANT_HYBRID_NO_DELETION) && !planted(PLANT_NO_BARRIER);
    return k == TC_BARRIER_YUASA && !planted(PLANT_YUASA_NO_DELETION) && !planted(PLANT_NO_BARRIER);
}

static inline bool shade_new(tc_barrier k)
{
    if (k == TC_BARRIER_HYBRID)
        return !planted(PLANT_HYBRID_NO_INSERTION) && !planted(PLANT_NO_BARRIER);
    return k == TC_BARRIER_DIJKSTRA && !planted(PLANT_DIJKSTRA_NO_INSERTION) && !planted(PLANT_NO_BARRIER);
}

/* shades — the shades of a store of v over old (see the top); inline in
 * both slow paths, so a raw store during mark makes one call, not two. */
static inline void shades(tc_mutator *m, tc_value old, tc_value v)
{
    tc_barrier kind = m->heap->cfg.barrier;
    mut_count(&m->barrier_slow);
    if (shade_old(kind) && old.kind == TC_REF)
        shade(m, (uintptr_t)old.u.ref);
    if (shade_new(kind) && v.kind == TC_REF)
        shade(m, (uintptr_t)v.u.ref);
}

void barrier_shades(tc_mutator *m, tc_value old, tc_value v) { shades(m, old, v); }

void barrier_store_slow(tc_mutator *m, tc_obj *o, size_t i, tc_value v)
{
    _Atomic uint64_t *w = &obj_words(o)[i]; /* once: the shades' stores could alias the header (obj.h) */
    _Atomic uint8_t *t = &obj_tags(o)[i];
    shades(m, slot_read_at(w, t), v);
    slot_write_raw_at(w, t, v);
}

void barrier_root_new(tc_mutator *m, tc_obj *o)
{
    if (m->heap->cfg.barrier == TC_BARRIER_HYBRID && !planted(PLANT_NO_BARRIER))
        shade(m, (uintptr_t)o);
}

void barrier_root_release(tc_mutator *m, tc_obj *o)
{
    if (m->heap->cfg.barrier != TC_BARRIER_DIJKSTRA && m->heap->cfg.barrier != TC_BARRIER_NONE &&
        !planted(PLANT_NO_BARRIER))
        shade(m, (uintptr_t)o);
}
