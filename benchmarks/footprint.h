/*
 * footprint.h — pause.c's footprint=1 (tricolor only): where heap_sys and
 * the process's RSS are at the run's largest heap_sys, from the core's
 * heap_debug_footprint (csrc/footprint.h: a walk under the heap lock,
 * milliseconds at a GiB, so a footprint run is not a timing run).
 *
 * fp_sample is called at each stats sample; it takes a snapshot when
 * heap_sys is at a new maximum and the last snapshot is at least
 * `every_ns` old, and keeps the snapshot of the largest heap_sys (with the
 * heap's stats at that moment). fp_report prints it: the page heap's parts
 * (they sum to heap_sys), the objects by what will become of them, the
 * classes holding the most bytes, and RSS by mapping (mincore).
 */
#ifndef BENCH_FOOTPRINT_H
#define BENCH_FOOTPRINT_H
#include <stdio.h>

#include "../csrc/footprint.h"

typedef struct fp_state {
    int on;
    uint64_t every_ns, last_ns, snaps;
    tc_footprint best;
    tc_stats st; /* the stats read just before the best snapshot (no pause ring needed) */
} fp_state;

static void fp_sample(fp_state *f, tc_heap *h, const tc_stats *st, uint64_t now)
{
    if (!f->on || st->heap_sys <= f->best.heap_sys || now - f->last_ns < f->every_ns)
        return;
    static tc_footprint fp;
    if (heap_debug_footprint(h, &fp) != TC_OK)
        return;
    f->last_ns = now;
    f->snaps++;
    if (fp.heap_sys > f->best.heap_sys) {
        f->best = fp;
        f->st = *st;
    }
}

#define MIB(x) ((double)(x) / 1048576.0)

static void fp_report(const fp_state *f, double live)
{
    if (!f->on)
        return;
    const tc_footprint *p = &f->best;
    const tc_stats *s = &f->st;
    static const char *phases[] = {"off", "mark", "sweep"};
    printf("FOOTPRINT at the largest heap_sys (%llu snapshots; phase %s): heap_sys %.1f MiB, process RSS %.1f MiB\n",
           (unsigned long long)f->snaps, phases[p->phase & 3], MIB(p->heap_sys), MIB(p->process_rss));
    printf("FOOTPRINT stats then: heap_alloc %.1f heap_live %.1f heap_marked %.1f heap_goal %.1f MiB\n",
           MIB(s->heap_alloc), MIB(s->heap_live), MIB(s->heap_marked), MIB(s->heap_goal));
    printf("FOOTPRINT heap_sys = in-use spans %.1f + free runs %.1f (released %.1f) + committed uncarved %.1f"
           " + scavenging %.1f MiB\n",
           MIB(p->inuse_bytes), MIB(p->free_bytes), MIB(p->free_released), MIB(p->uncarved_bytes), MIB(p->scav_bytes));
    double objs = MIB(p->obj_bytes), garb = MIB(p->garbage_bytes);
    printf("FOOTPRINT in-use spans = objects %.1f + free slots %.1f + span tails %.1f MiB (%llu spans, %.1f MiB unswept)\n",
           objs, MIB(p->free_slot_bytes), MIB(p->tail_bytes), (unsigned long long)p->inuse_spans,
           MIB(p->unswept_bytes));
    printf("FOOTPRINT objects = live %.1f + unmarked in unswept spans (this sweep frees) %.1f"
           " + the rest (floating garbage and allocation since the mark) %.1f MiB\n",
           live / 1048576.0, garb, objs - garb - live / 1048576.0);
    for (int c = 0; c < TC_FOOTPRINT_CLASSES; c++) {
        const tc_footprint_class *k = &p->cls[c];
        if (k->bytes < ((uint64_t)1 << 20))
            continue;
        printf("FOOTPRINT class %d (%llu B): %llu spans %.1f MiB, objects %llu (%.1f MiB), free slots %llu (%.1f MiB),"
               " tails %.1f MiB, unswept spans %llu\n",
               c, (unsigned long long)k->size, (unsigned long long)k->spans, MIB(k->bytes),
               (unsigned long long)k->objects, MIB(k->objects * (k->size ? k->size : 0)),
               (unsigned long long)k->free_slots, MIB(k->free_slots * k->size), MIB(k->tail),
               (unsigned long long)k->unswept_spans);
    }
    uint64_t side = p->bits_rss + p->black_rss + p->spanmap_rss + p->owners_rss;
    printf("FOOTPRINT RSS = arena %.1f + alloc/mark bits %.1f + black bits %.1f + span map %.1f + owners %.1f"
           " + span structs %.1f + the rest of the process %.1f MiB (gc_sys %.1f)\n",
           MIB(p->arena_rss), MIB(p->bits_rss), MIB(p->black_rss), MIB(p->spanmap_rss), MIB(p->owners_rss),
           MIB(p->span_structs), MIB(p->process_rss) - MIB(p->arena_rss) - MIB(side) - MIB(p->span_structs), MIB(p->gc_sys));
}
#undef MIB
#endif
