/*
 * _tricolor_inspect.c — "why is this object alive" for the extension
 * `tricolor._tricolor`: Heap.roots, referents, referrers, path_to and
 * retained (the core's inspect.c, seen from Python). Argument checks and
 * conversion only: the graph work is the core's.
 *
 * Every object in an answer comes from the core as a new root, which
 * becomes a new Obj (pytc_obj_wrap). The core walks with the GIL released
 * (through the block hooks, while it waits for a running cycle), so another
 * thread may close the heap meanwhile: then the roots died with the handle
 * table and are never touched (HeapClosedError). So may Python code that
 * the answer's own allocations run (a __del__ or a weakref callback the
 * cyclic collector calls): the loop checks again before each root. If
 * building the answer
 * fails half-way (MemoryError), the roots not yet owned by an Obj are
 * released before the error propagates (the invariant of _tricolor.c:
 * every root is owned by one Obj or released).
 *
 * Like every call that may finish a collection (the walk finishes a running
 * incremental cycle), each one drains gctrace and runs due finalizers and
 * cleanups (pytc_safepoint) before it returns.
 */
#include "_tricolor.h"

/* The shape of an answer's items. */
enum { AS_OBJ, AS_ROOT, AS_PATH };

/* release_from — release the roots of v[i..n) and free v (an answer that
 * will not be delivered). */
static void
release_from(HeapObject *heap, tc_link *v, size_t i, size_t n)
{
    if (!heap->closed) /* else they died with the handle table */
        for (; i < n; i++)
            tc_root_release(heap->heap, v[i].obj);
    tc_inspect_free(v);
}

/* link_item — v's object as an Obj, alone (AS_OBJ) or in a pair with the
 * root kind (AS_ROOT, and a path's first step) or the slot. Takes over the
 * root, also on failure. */
static PyObject *
link_item(HeapObject *heap, const tc_link *v, int shape, bool first)
{
    PyObject *obj = pytc_obj_wrap(heap, v->obj);
    if (obj == NULL || shape == AS_OBJ)
        return obj;
    PyObject *tag = (shape == AS_ROOT || first) ? PyUnicode_FromString(tc_root_kind_name(v->kind))
                                                 : PyLong_FromLongLong(v->slot);
    PyObject *pair = tag ? PyTuple_Pack(2, tag, obj) : NULL;
    Py_XDECREF(tag);
    Py_DECREF(obj);
    return pair;
}

/* answer — the Python value of a core answer: a list of link_item. */
static PyObject *
answer(HeapObject *heap, tc_status s, tc_link *v, size_t n, int shape)
{
    pytc_heap_drain(heap);
    if (s != TC_OK)
        return pytc_safepoint(heap, pytc_raise_status(heap->st, s));
    if (heap->closed) { /* closed by another thread while the core walked */
        release_from(heap, v, 0, n);
        return pytc_raise_closed(heap->st);
    }
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        if (heap->closed) { /* an allocation ran Python code (a __del__) that closed the heap */
            release_from(heap, v, i, n);
            Py_DECREF(list);
            return pytc_safepoint(heap, pytc_raise_closed(heap->st));
        }
        PyObject *item = link_item(heap, &v[i], shape, i == 0);
        if (item == NULL) {
            release_from(heap, v, i + 1, n);
            Py_CLEAR(list);
            return pytc_safepoint(heap, NULL);
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    if (list == NULL)
        release_from(heap, v, 0, n);
    else
        tc_inspect_free(v);
    return pytc_safepoint(heap, list);
}

/* obj_of — the Obj argument of `what` as a handle of this open heap:
 * HeapClosedError, TypeError, CrossHeapError (FreedObjectError is the
 * core's to say, with the heap quiesced). The roots of dropped handles are
 * released first: the answer is about live handles only. */
static ObjObject *
obj_of(HeapObject *heap, PyObject *arg, const char *what)
{
    if (heap->closed) {
        pytc_raise_closed(heap->st);
        return NULL;
    }
    pytc_heap_release_dropped(heap);
    return pytc_obj_arg(heap, arg, what);
}

/* pytc_heap_roots — roots(): [(kind, obj), ...]. */
PyObject *
pytc_heap_roots(HeapObject *self, PyObject *unused)
{
    tc_link *v = NULL;
    size_t n = 0;
    if (self->closed)
        return pytc_raise_closed(self->st);
    pytc_heap_release_dropped(self);
    tc_status s = tc_heap_roots(self->heap, &v, &n);
    return answer(self, s, v, n, AS_ROOT);
}

/* obj_query — a call about the Obj `arg` whose answer is a list (path_to:
 * or None when it has no entry). */
static PyObject *
obj_query(HeapObject *self, PyObject *arg, const char *what, int shape,
          tc_status (*call)(tc_heap *, tc_root *, tc_link **, size_t *))
{
    tc_link *v = NULL;
    size_t n = 0;
    ObjObject *o = obj_of(self, arg, what);
    if (o == NULL)
        return NULL;
    tc_status s = call(self->heap, o->root, &v, &n);
    if (s == TC_OK && n == 0 && shape == AS_PATH && !self->closed) {
        pytc_heap_drain(self);
        return pytc_safepoint(self, Py_NewRef(Py_None));
    }
    return answer(self, s, v, n, shape);
}

/* pytc_heap_referents — referents(obj): the objects obj's slots refer to. */
PyObject *
pytc_heap_referents(HeapObject *self, PyObject *arg)
{
    return obj_query(self, arg, "referents", AS_OBJ, tc_obj_referents);
}

/* pytc_heap_referrers — referrers(obj): the objects that refer to obj. */
PyObject *
pytc_heap_referrers(HeapObject *self, PyObject *arg)
{
    return obj_query(self, arg, "referrers", AS_OBJ, tc_obj_referrers);
}

/* pytc_heap_path_to — path_to(obj): [(root_kind, obj0), (slot, obj1), ...,
 * (slot, obj)], or None when nothing but this handle keeps obj. */
PyObject *
pytc_heap_path_to(HeapObject *self, PyObject *arg)
{
    return obj_query(self, arg, "path_to", AS_PATH, tc_obj_path_to);
}

/* pytc_heap_retained — retained(obj): (bytes, objects) that would die with obj. */
PyObject *
pytc_heap_retained(HeapObject *self, PyObject *arg)
{
    uint64_t bytes = 0, objects = 0;
    ObjObject *o = obj_of(self, arg, "retained");
    if (o == NULL)
        return NULL;
    tc_status s = tc_obj_retained(self->heap, o->root, &bytes, &objects);
    pytc_heap_drain(self);
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    return pytc_safepoint(self, Py_BuildValue("(KK)", (unsigned long long)bytes, (unsigned long long)objects));
}
