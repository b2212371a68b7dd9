/*
 * _tricolor.h — what the files of the extension `tricolor._tricolor`
 * share: the module state, the Heap and Obj structs and the few helpers
 * they call. Internal: nothing here is Python API. What the Lua binding
 * needs too (callback tokens, the drain loop, tunables, bounds, the
 * closed / freed words) is in bindings/common/, once.
 *
 *   _tricolor.c          the module: state, the status table, exceptions, init
 *   _tricolor_heap.c     Heap: arguments, construction, methods, properties
 *   _tricolor_obj.c      Obj: slot values, load / store, the handle type
 *   _tricolor_stats.c    Stats: the snapshot type, one getter per core field
 *   _tricolor_special.c  finalizers, cleanups, weak references (WeakRef) and
 *                        tricolor.unsafe (address, buffer, free)
 *   _tricolor_latency.c  tricolor.mmu (MMU / BMU of GC intervals)
 *   _tricolor_inspect.c  Heap.roots, referents, referrers, path_to, retained
 *
 * Cross-file functions are named pytc_<noun>_<verb>; -fvisibility=hidden
 * keeps them inside the shared object.
 *
 * Invariants:
 *   - HeapObject.closed is set only by heap_close(), before tc_heap_close(),
 *     with the GIL held; so a handle never dereferences its tc_root (the
 *     inline tc_root_obj) once the handle table may be gone.
 *   - Every token the core holds for this heap (a finalizer's or a cleanup's)
 *     is a key of HeapObject.callbacks until the callback ran, was replaced or
 *     cleared, its object was freed, or the heap was closed.
 *   - HeapObject.exports counts the live unsafe.buffer views of the heap's
 *     objects; close() is refused while it is not zero (the views point into
 *     memory that close() gives back).
 */
#ifndef PY_TRICOLOR_H
#define PY_TRICOLOR_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdint.h>

#include "tricolor.h"
#include "bc_config.h"
#include "bc_drain.h"

typedef struct tricolor_state {
    PyTypeObject *heap_type;
    PyTypeObject *obj_type;
    PyTypeObject *stats_type;
    PyTypeObject *weakref_type;  /* tricolor.WeakRef */
    PyTypeObject *payload_type;  /* tricolor._Payload: the exporter behind unsafe.buffer */
    PyObject *heap_error;        /* tricolor.HeapError(Exception) */
    PyObject *cross_heap_error;  /* tricolor.CrossHeapError(HeapError, ValueError) */
    PyObject *heap_closed_error; /* tricolor.HeapClosedError(HeapError) */
    PyObject *freed_error;       /* tricolor.FreedObjectError(HeapError) */
    PyObject *corruption_error;  /* tricolor.HeapCorruption(HeapError) */
    PyObject *str_data;          /* interned "data", for heap.new(..., data=) */
    PyObject *str_nslots;        /* interned "nslots" */
    /* The status table: the exception class for each tc_status. Borrowed:
     * either a built-in exception or one of the classes owned above. */
    PyObject *status_exc[TC_STATUS_COUNT];
    const tc_stats_field *fields; /* tc_stats_fields(), static in the core */
    size_t nfields;
    PyGetSetDef *stats_getset;    /* one getter per field; PyMem, freed in m_free */
    /* Obj free list: dead handles kept for reuse (their memory and their
     * type reference: no root, no heap), linked through ObjObject.heap; at most
     * PYTC_OBJ_FREE_MAX. Read and written with the GIL held; emptied by
     * m_clear, after which handles are freed, not kept (nobj_free stays at
     * PYTC_OBJ_FREE_MAX: obj_dealloc's one test for both). Saves pymalloc's
     * free and malloc on every slot read of a reference (a new handle, and
     * the handle it replaces dropped). */
    struct ObjObject *obj_free;
    int nobj_free;
} tricolor_state;

#define PYTC_OBJ_FREE_MAX 64

/* PYTC_DROPPED_MAX — the most dropped handles' roots a heap holds back
 * (HeapObject.dropped): one heap call per this many handles dropped with
 * no allocation or report between them (reading references in a loop). */
#define PYTC_DROPPED_MAX 32

typedef struct HeapObject {
    PyObject_HEAD
    tc_heap *heap;
    tricolor_state *st;   /* valid while our type (and so the module) lives */
    tc_collector collector;
    tc_barrier barrier;
    bool closed;          /* see the invariants above */
    bc_host cb;           /* tokens, the drain flag, the gctrace sink (bindings/common) */
    PyObject *callbacks;  /* dict {token: (id, fn)} finalizers, {token: (id, fn, arg)} cleanups */
    Py_ssize_t exports;   /* live unsafe.buffer views (see the invariants) */
    /* The roots of dropped handles not yet released (obj_dealloc): still
     * live to the core, so their objects stay as if the handles lived on;
     * released together (tc_root_release_n: one heap call, not one per
     * handle) when the list fills, and before every call that may start a
     * cycle (an allocation, collect, teaching mode, the gogc and
     * memory_limit setters) or reports on roots or liveness
     * (pytc_heap_release_dropped). So no cycle that starts after a handle
     * was dropped sees its root (SPEC: reclaimed by the end of the second
     * cycle), and every report counts live handles only. GIL held; emptied,
     * not released, by close (the table goes with it). */
    tc_root *dropped[PYTC_DROPPED_MAX];
    int ndropped;
} HeapObject;

typedef struct ObjObject {
    PyObject_HEAD
    HeapObject *heap;    /* strong reference */
    tc_root *root;       /* owned: released in obj_dealloc */
    uint64_t id;         /* cached tc_obj_id() */
    size_t nslots;       /* cached: fixed at allocation */
    size_t size;         /* cached: fixed at allocation */
} ObjObject;

/* pytc_small_int — is `v` an exact int of one machine digit (|v| < 2**30)?
 * Then *out is its value. The fast path of slot indices, int values and
 * sizes: it reads the digit in place, where the API calls would check the
 * type again, loop over digits and test for an error. Anything else (big
 * ints, int subclasses, bools) answers false and takes the checked path. */
static inline bool pytc_small_int(PyObject *v, long *out)
{
    if (!PyLong_CheckExact(v))
        return false;
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Long_IsCompact((PyLongObject *)v))
        return false;
    *out = (long)PyUnstable_Long_CompactValue((PyLongObject *)v);
    return true;
#else
    Py_ssize_t n = Py_SIZE(v);
    if (n < -1 || n > 1)
        return false;
    *out = (long)n * (long)((PyLongObject *)v)->ob_digit[0];
    return true;
#endif
}

/* ---- in _tricolor.c ---- */

PyObject *pytc_raise_status(tricolor_state *st, tc_status s);
PyObject *pytc_raise_closed(tricolor_state *st);

/* ---- in _tricolor_heap.c ---- */

extern PyType_Spec pytc_heap_spec; /* tricolor.Heap */

/* pytc_heap_drain — print the gctrace lines queued by the call that just ran
 * (bc_drain.h lists the calls). The test is inline: nothing is queued on
 * almost every call (heap.new's path). */
static inline void pytc_heap_drain(HeapObject *heap)
{
    if (!heap->closed && tc_heap_has_output(heap->heap))
        bc_trace_flush(&heap->cb, heap->heap);
}

/* pytc_heap_release_dropped — release the roots that obj_dealloc held back
 * (HeapObject.dropped), in one heap call per batch. The test is inline: the
 * calls that must see the handles as dropped (allocation, collect, stats,
 * inspection, weak references, teaching mode, tunables, recording) make it
 * first. */
void pytc_heap_release_dropped_slow(HeapObject *heap);
static inline void pytc_heap_release_dropped(HeapObject *heap)
{
    if (heap->ndropped != 0)
        pytc_heap_release_dropped_slow(heap);
}

/* pytc_heap_check_open — 0, or -1 with HeapClosedError. */
static inline int pytc_heap_check_open(HeapObject *heap)
{
    if (!heap->closed)
        return 0;
    pytc_raise_closed(heap->st);
    return -1;
}

/* ---- in _tricolor_obj.c ---- */

extern PyType_Spec pytc_obj_spec; /* tricolor.Obj */
PyObject *pytc_obj_wrap(HeapObject *heap, tc_root *root);
/* pytc_obj_check_usable — 0 if the handle may be used: its heap is open
 * (else HeapClosedError) and its object was not freed (else FreedObjectError). */
int pytc_obj_check_usable(ObjObject *o);
/* pytc_obj_free_list_clear — free the handles kept for reuse (m_clear). */
void pytc_obj_free_list_clear(tricolor_state *st);

/* pytc_decref_not_last — Py_DECREF of a reference the caller knows is not
 * the last (no branch to a deallocation). A Py_REF_DEBUG build (which counts
 * every reference) takes Py_DECREF itself. */
static inline void pytc_decref_not_last(PyObject *o)
{
#ifdef Py_REF_DEBUG
    Py_DECREF(o);
#else
    Py_SET_REFCNT(o, Py_REFCNT(o) - 1);
#endif
}

/* pytc_obj_reinit — PyObject_Init for a handle from the free list, in line:
 * a refcount of 1; its type and the reference to it are still there (a kept
 * handle keeps them: obj_dealloc). What PyObject_Init adds out of line is
 * _Py_NewReference's tracemalloc hook (a reused block keeps the traceback of
 * its first allocation, as for any block reused without it) and, in a
 * Py_TRACE_REFS build, the object list: that build takes PyObject_Init
 * itself, after giving back the reference it takes again. */
static inline void pytc_obj_reinit(ObjObject *o, PyTypeObject *tp)
{
#ifdef Py_TRACE_REFS
    pytc_decref_not_last((PyObject *)tp); /* the module holds it (obj_type) */
    PyObject_Init((PyObject *)o, tp);
#else
    (void)tp;
    Py_SET_REFCNT(o, 1);
#endif
}

/* pytc_obj_new — a new Obj owning `root`, whose sizes the caller knows (the
 * allocation fast path: inline, from the free list or one PyObject_New). On
 * failure the root is released. The id is read before the allocation: an
 * allocation may run Python code (a finalizer) that closes the heap, and
 * then the root is gone. */
static inline PyObject *pytc_obj_new(HeapObject *heap, tc_root *root, size_t nslots, size_t size)
{
    uint64_t id = tc_obj_id(tc_root_obj(root));
    tricolor_state *st = heap->st;
    ObjObject *o = st->obj_free;
    if (o != NULL) {
        st->obj_free = (ObjObject *)o->heap;
        st->nobj_free--;
        pytc_obj_reinit(o, st->obj_type);
    } else if ((o = PyObject_New(ObjObject, st->obj_type)) == NULL) {
        tc_root_release(heap->heap, root);
        return NULL;
    }
    Py_INCREF(heap);
    o->heap = heap;
    o->root = root;
    o->id = id;
    o->nslots = nslots;
    o->size = size;
    return (PyObject *)o;
}

/* ---- in _tricolor_stats.c ---- */

PyTypeObject *pytc_stats_type_new(PyObject *module, tricolor_state *st);
PyObject *pytc_stats_new(tricolor_state *st, const tc_stats *s);

/* ---- in _tricolor_special.c ---- */

/* pytc_safepoint — run the heap's due finalizers and cleanups now, on the
 * calling thread, unless the heap is closed or already draining; an
 * exception set by the caller is kept. Returns `result`, for
 * `return pytc_safepoint(self, value)`. The test is inline (one atomic load
 * when nothing is due: heap.new's path); the drain is not. */
PyObject *pytc_safepoint_slow(HeapObject *heap, PyObject *result);
static inline PyObject *pytc_safepoint(HeapObject *heap, PyObject *result)
{
    if (heap->closed || !bc_due(&heap->cb, heap->heap))
        return result;
    return pytc_safepoint_slow(heap, result);
}

PyObject *pytc_heap_set_finalizer(HeapObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *pytc_heap_add_cleanup(HeapObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *pytc_heap_weakref(HeapObject *self, PyObject *obj);
PyObject *pytc_heap_run_finalizers(HeapObject *self, PyObject *unused);
/* pytc_obj_arg — `v` as a handle of `heap`: TypeError if it is no Obj,
 * CrossHeapError if it is one of another heap; `what` names the call. */
ObjObject *pytc_obj_arg(HeapObject *heap, PyObject *v, const char *what);

PyTypeObject *pytc_weakref_type_new(PyObject *module);
PyTypeObject *pytc_payload_type_new(PyObject *module);
/* pytc_unsafe_add — add _unsafe_address, _unsafe_buffer and _unsafe_free
 * (named address, buffer, free; tricolor/unsafe.py re-exports them). */
int pytc_unsafe_add(PyObject *module);

/* ---- in _tricolor_latency.c ---- */

/* pytc_mmu_windows — a sequence of window lengths (seconds) as PyMem arrays
 * of the seconds and of the core's ns; TypeError / ValueError naming the
 * index at fault. The caller frees both on success. */
int pytc_mmu_windows(PyObject *obj, double **seconds, int64_t **ns, Py_ssize_t *n);
/* pytc_mmu_result — the list of per-window dicts tricolor.mmu returns. */
PyObject *pytc_mmu_result(const double *seconds, const tc_mmu_point *p, Py_ssize_t n);
/* pytc_latency_add — add tricolor.mmu to the module. */
int pytc_latency_add(PyObject *module);
PyObject *pytc_heap_mmu(HeapObject *self, PyObject *windows);
PyObject *pytc_heap_gc_intervals(HeapObject *self, PyObject *unused);

/* ---- in _tricolor_inspect.c (Heap methods) ---- */

PyObject *pytc_heap_roots(HeapObject *self, PyObject *unused);
PyObject *pytc_heap_referents(HeapObject *self, PyObject *obj);
PyObject *pytc_heap_referrers(HeapObject *self, PyObject *obj);
PyObject *pytc_heap_path_to(HeapObject *self, PyObject *obj);
PyObject *pytc_heap_retained(HeapObject *self, PyObject *obj);
/* _tricolor_manual.c: teaching mode */
PyObject *pytc_heap_gc_start(HeapObject *self, PyObject *unused);
PyObject *pytc_heap_gc_step(HeapObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *pytc_heap_gc_finish(HeapObject *self, PyObject *unused);
PyObject *pytc_heap_color(HeapObject *self, PyObject *obj);
PyObject *pytc_heap_snapshot(HeapObject *self, PyObject *unused);

#endif /* PY_TRICOLOR_H */
