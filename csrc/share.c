/*
 * share.c — mark sessions and region ownership: how several markers write
 * the same mark bitmaps at once without a locked instruction per object.
 *
 * Who writes mark bits. Several markers may run at once during a concurrent
 * mark: the collector thread, its mark workers, and mutators paying mark
 * assists. A locked read-modify-write per object costs ~45% of the marking
 * speed of a tree, so markers write mark bits with a plain load and store
 * wherever nobody else can write the same word at the same time:
 *
 *   EXCL     a marker alone holds all the bits (h->mark_share is
 *            n << 1 | EXCL, n markers counted). It polls mark_share every
 *            POLL_EVERY candidates; when someone else is counted (waiting to
 *            mark) it clears EXCL and claims from then on. A newcomer starts
 *            marking only once EXCL is clear.
 *   CLAIMS   beside others, a marker owns regions of 2^TC_REGION_SHIFT
 *            bytes (each arena's owner table, one 32-bit entry per region).
 *            Each marker holds a *session* from mode_enter to mode_leave:
 *            a slot in h->sess and a tag (seq << 8 | slot << 1). An entry
 *            is a session's tag (owned), tag | OWN_REQ (owned, another
 *            marker asks for it), epoch << 8 | OWN_SHARED (shared during
 *            the mark of that epoch), or anything else: free (zero, the tag
 *            of a session that has ended, shared in an earlier mark).
 *            A marker writes plainly only in regions whose entry is its own
 *            tag; it claims a free region by CAS; in a shared one it uses
 *            fetch_or. In a region another live session owns it sets
 *            OWN_REQ, queues the entry on that session (sess_ask) and
 *            defers the candidate; the owner, between two candidates (poll,
 *            or when it next marks there), turns tag | OWN_REQ into shared
 *            with a release store, and from then on uses fetch_or there too.
 *            A marker left alone in CLAIMS takes EXCL back (by CAS on
 *            mark_share: nobody else is counted).
 *
 * Why no mark is lost: a plain store can only lose another writer's bit of
 * the same word if that writer writes between its load and its store. A
 * plain writer is either EXCL (no other marker is counted, and whoever was
 * marking before cleared EXCL or left with acq_rel RMWs on mark_share, so
 * its writes happen before) or the owner of the word's region; only the
 * owner ever turns its entry to shared (release, after its last plain store
 * there, which the fetch_or users' acquire load of the entry sees), and a
 * region is claimed again only once free: its session ended (the tag
 * cleared with release after the session's last store, read with acquire),
 * or it was shared in an earlier mark (marks are separated by a pause).
 * Tags reuse 24 bits: an old entry that happens to equal a live session's
 * tag is simply owned by that session, and everybody agrees on that.
 * Every marker enters at the start of mark_drain and leaves when it returns,
 * so EXCL is never held by a thread that waits for anything, and a
 * newcomer's wait is bounded by POLL_EVERY candidates of the holder's work
 * (unless the holder is descheduled: an assist then gives up after a while,
 * mark_drain_assist). Deferred candidates go back to the global queue when
 * their marker leaves. Mutators allocating black write the separate black
 * bits and never take part.
 *
 * Invariants (the argument above, as rules each function keeps):
 *  - a marker stores plainly into a mark word only in MODE_EXCL, or in a
 *    region whose owner-table entry is its own session's tag;
 *  - only the owner turns its entry to shared, with a release store after
 *    its last plain store there; fetch_or users read the entry with acquire;
 *  - a session's tag is cleared (release) only after its last plain store,
 *    and a region is claimed (CAS) only when its entry is free;
 *  - a deferred candidate stays on c's deferred list until redo_deferred
 *    puts it back on c's stack or mode_leave hands it to the global queue:
 *    none is lost.
 */
#include <sched.h>
#include <stdlib.h>

#include "markctx.h"
#include "plant.h"
#include "platform.h"

/* ---- mark sessions and region ownership ---- */

static void sess_lock(struct mark_sess *ss)
{
    int zero = 0;
    while (!atomic_compare_exchange_weak_explicit(&ss->lock, &zero, 1, memory_order_acquire, memory_order_relaxed)) {
        zero = 0;
        plat_cpu_relax();
    }
}

static void sess_unlock(struct mark_sess *ss) { atomic_store_explicit(&ss->lock, 0, memory_order_release); }

/* share_region — the owner turns its entry e to shared (release: after its
 * own plain stores in the region), and counts it. */
static void share_region(markctx *c, _Atomic uint32_t *e)
{
    atomic_store_explicit(e, c->shared, memory_order_release);
    atomic_fetch_add_explicit(&c->h->mark_regions_shared, 1, memory_order_relaxed);
}

/* sess_serve — share the regions other markers asked for (the owner, between
 * two candidates: none of its plain stores is under way). */
void sess_serve(markctx *c)
{
    struct mark_sess *ss = &c->h->sess[c->sid];
    if (!atomic_load_explicit(&ss->nreq, memory_order_relaxed))
        return;
    sess_lock(ss);
    uint32_t n = atomic_load_explicit(&ss->nreq, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) /* only the owner changes tag|REQ: a plain store will do */
        if (atomic_load_explicit(ss->req[i], memory_order_relaxed) == (c->tag | OWN_REQ))
            share_region(c, ss->req[i]);
    atomic_store_explicit(&ss->nreq, 0, memory_order_relaxed);
    sess_unlock(ss);
}

/* sess_ask — ask session `sid`, which owns the region of entry e (*o, its
 * tag), to share it: set OWN_REQ and queue e. False if e changed (*o is
 * reloaded: look again); with the queue full nothing is asked yet (the
 * caller defers and asks again later). */
static bool sess_ask(tc_heap *h, unsigned sid, _Atomic uint32_t *e, uint32_t *o)
{
    struct mark_sess *ss = &h->sess[sid];
    bool same = true;
    sess_lock(ss);
    uint32_t n = atomic_load_explicit(&ss->nreq, memory_order_relaxed);
    if (n < TC_MARK_REQ) {
        same = atomic_compare_exchange_strong_explicit(e, o, *o | OWN_REQ, memory_order_acq_rel,
                                                       memory_order_acquire);
        if (same) {
            ss->req[n] = e;
            atomic_store_explicit(&ss->nreq, n + 1, memory_order_relaxed);
        }
    }
    sess_unlock(ss);
    return same;
}

/* defer — keep candidate p until its region's owner shares it. */
static void defer(markctx *c, uintptr_t p)
{
    if (c->ndefer == c->defer_cap) {
        size_t cap = c->defer_cap ? 2 * c->defer_cap : 256;
        uintptr_t *d = plat_realloc(c->defer, cap * sizeof *d);
        if (!d) { /* no memory: the global queue keeps it */
            grey_put(c->h, &p, 1);
            return;
        }
        c->defer = d;
        c->defer_cap = cap;
    }
    c->defer[c->ndefer++] = p;
}

/* owners_changed — has some region been shared or some session ended since
 * c last looked (then its deferred candidates may be markable now)? */
bool owners_changed(markctx *c)
{
    uint64_t seen = atomic_load_explicit(&c->h->mark_regions_shared, memory_order_relaxed) +
                    atomic_load_explicit(&c->h->sess_closed, memory_order_relaxed);
    if (seen == c->owners_seen)
        return false;
    c->owners_seen = seen;
    return true;
}

/* redo_deferred — put the deferred candidates back on the stack, to be
 * looked at again. */
void redo_deferred(markctx *c)
{
    size_t n = c->ndefer;
    c->ndefer = 0;
    for (size_t i = 0; i < n; i++)
        push(c, c->defer[i]);
}

/* mark_claim — try_mark for a candidate in a region this session does not
 * own (yet): claim the region if it is free, mark with fetch_or if it is
 * shared, ask its owner to share it and defer p if another session owns it. */
bool mark_claim(markctx *c, uintptr_t p, arena *a, _Atomic uint64_t *w,
                                                 uint64_t bit)
{
    _Atomic uint32_t *e = &a->owners[(p - a->base) >> TC_REGION_SHIFT];
    uint32_t o = atomic_load_explicit(e, memory_order_acquire);
    for (;;) {
        if (o == c->tag)
            break;
        if (o == c->shared)
            return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
        if (o == (c->tag | OWN_REQ)) { /* asked: share it now */
            share_region(c, e);
            return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
        }
        if (o && !(o & OWN_SHARED)) {
            unsigned sid = (unsigned)(o >> 1) & (TC_MARK_SESSIONS - 1);
            /* acquire: if the owner's session has ended, its plain stores are seen */
            if (atomic_load_explicit(&c->h->sess[sid].tag, memory_order_acquire) == (o & ~(uint32_t)OWN_REQ)) {
                if (!(o & OWN_REQ) && !sess_ask(c->h, sid, e, &o))
                    continue;
                defer(c, p);
                return false;
            }
        }
        /* free: never owned, owned by a session that has ended, or shared
         * in an earlier mark */
        if (atomic_compare_exchange_weak_explicit(e, &o, c->tag, memory_order_acq_rel, memory_order_acquire))
            break;
    }
    uint64_t old = atomic_load_explicit(w, memory_order_relaxed); /* again: the previous owner's stores are seen */
    if (old & bit)
        return false;
    atomic_store_explicit(w, old | bit, memory_order_relaxed);
    return true;
}

/* defer_flush — deferred candidates to the global queue. */
void defer_flush(markctx *c)
{
    if (c->ndefer) {
        grey_put(c->h, c->defer, c->ndefer);
        c->ndefer = 0;
    }
}

/* sess_open — take a session slot and a fresh tag; false if no slot is
 * free and c is an assist (others wait for one; assists may use only the
 * slots above the mark workers'). */
bool sess_open(markctx *c, bool assist)
{
    tc_heap *h = c->h;
    uint64_t barred = assist ? ((uint64_t)1 << MAX_WORKERS) - 1 : 0;
    uint64_t used = atomic_load_explicit(&h->sess_used, memory_order_relaxed);
    for (;;) {
        uint64_t avail = ~used & ~barred;
        if (!avail) {
            if (assist)
                return false;
            sched_yield();
            used = atomic_load_explicit(&h->sess_used, memory_order_relaxed);
            continue;
        }
        int sid = __builtin_ctzll(avail);
        if (atomic_compare_exchange_weak_explicit(&h->sess_used, &used, used | (uint64_t)1 << sid,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            c->sid = sid;
            break;
        }
    }
    uint64_t seq = atomic_fetch_add_explicit(&h->sess_seq, 1, memory_order_relaxed) % 0xffffff + 1;
    c->tag = (uint32_t)(seq << 8 | (uint64_t)c->sid << 1);
    c->shared = (uint32_t)((atomic_load_explicit(&h->mark_epoch, memory_order_relaxed) & 0xffffff) << 8 | OWN_SHARED);
    struct mark_sess *ss = &h->sess[c->sid];
    sess_lock(ss);
    atomic_store_explicit(&ss->nreq, 0, memory_order_relaxed); /* asked of an earlier session */
    atomic_store_explicit(&ss->tag, c->tag, memory_order_release);
    sess_unlock(ss);
    return true;
}

/* sess_close — the regions the session owns are free from the moment its
 * tag is cleared (release: after its last plain store). */
static void sess_close(markctx *c)
{
    tc_heap *h = c->h;
    atomic_store_explicit(&h->sess[c->sid].tag, 0, memory_order_release);
    atomic_fetch_add_explicit(&h->sess_closed, 1, memory_order_relaxed);
    atomic_fetch_and_explicit(&h->sess_used, ~((uint64_t)1 << c->sid), memory_order_acq_rel);
}

/* mode_enter — open a session and get the right to mark: alone (EXCL) or
 * beside others (CLAIMS). With wait_ns > 0 (an assist), false if no
 * session slot is free or the holder of EXCL has not shared within wait_ns
 * (it may have been descheduled: the assist then does something else rather
 * than spin behind it). */
bool mode_enter(markctx *c, uint64_t wait_ns)
{
    if (!sess_open(c, wait_ns > 0))
        return false;
    _Atomic uint64_t *s = &c->h->mark_share;
    uint64_t zero = 0;
    if (atomic_compare_exchange_strong_explicit(s, &zero, SHARE_ONE | SHARE_EXCL, memory_order_acq_rel,
                                                memory_order_relaxed)) {
        c->mode = MODE_EXCL;
        return true;
    }
    atomic_fetch_add_explicit(s, SHARE_ONE, memory_order_acq_rel);
    uint64_t t0 = 0;
    for (unsigned i = 0; atomic_load_explicit(s, memory_order_acquire) & SHARE_EXCL; i++) {
        if ((i & 255) != 255) {
            plat_cpu_relax();
            continue;
        }
        if (wait_ns) {
            uint64_t now = plat_now_ns();
            if (!t0)
                t0 = now;
            else if (now - t0 >= wait_ns) {
                atomic_fetch_sub_explicit(s, SHARE_ONE, memory_order_acq_rel);
                sess_close(c);
                return false;
            }
        }
        sched_yield(); /* the holder may be descheduled */
    }
    c->mode = MODE_CLAIMS;
    return true;
}

/* mode_leave — deferred work goes to the global queue, then the session
 * closes and the marker stops counting (mark_quiet). */
void mode_leave(markctx *c)
{
    defer_flush(c);
    sess_close(c);
    atomic_fetch_sub_explicit(&c->h->mark_share, c->mode == MODE_EXCL ? SHARE_ONE | SHARE_EXCL : SHARE_ONE,
                              memory_order_acq_rel);
    c->mode = MODE_OFF;
}
