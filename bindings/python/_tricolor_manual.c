/*
 * _tricolor_manual.c — teaching mode for the extension `tricolor._tricolor`:
 * Heap.gc_start, gc_step, gc_finish, color and snapshot (the core's
 * manual.c, seen from Python). Argument checks and conversion only.
 *
 * The core waits for the heap's locks with the GIL released (the block
 * hooks), so another thread may close the heap meanwhile: the core then
 * answers TC_ERR_CLOSED, and a snapshot is plain numbers, never roots, so
 * nothing in it dies with the heap. A snapshot holds no handle: building it
 * must not root (nor, under the hybrid barrier, shade) what it shows.
 * gc_finish may have queued gctrace lines and due finalizers: like every
 * call that ends a cycle it drains them (pytc_heap_drain, pytc_safepoint).
 */
#include "_tricolor.h"

/* done — the Python answer of a core call: `value` (stolen) or its error. */
static PyObject *
done(HeapObject *heap, tc_status s, PyObject *value)
{
    pytc_heap_drain(heap);
    if (s != TC_OK) {
        Py_XDECREF(value);
        return pytc_safepoint(heap, pytc_raise_status(heap->st, s));
    }
    return pytc_safepoint(heap, value);
}

PyObject *
pytc_heap_gc_start(HeapObject *self, PyObject *unused)
{
    if (self->closed)
        return pytc_raise_closed(self->st);
    pytc_heap_release_dropped(self);
    return done(self, tc_heap_gc_start(self->heap), Py_NewRef(Py_None));
}

PyObject *
pytc_heap_gc_step(HeapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long n = 1;
    if (nargs > 1)
        return PyErr_Format(PyExc_TypeError, "gc_step() takes at most 1 argument (%zd given)", nargs);
    if (nargs == 1) {
        if (!PyLong_Check(args[0]) || PyBool_Check(args[0]))
            return PyErr_Format(PyExc_TypeError, "gc_step(n): n must be an int, not %.100s",
                                Py_TYPE(args[0])->tp_name);
        int overflow = 0;
        n = PyLong_AsLongLongAndOverflow(args[0], &overflow);
        if (n == -1 && PyErr_Occurred())
            return NULL;
        if (overflow)
            n = overflow > 0 ? INT64_MAX : -1;
    }
    if (self->closed)
        return pytc_raise_closed(self->st);
    uint64_t marked = 0;
    pytc_heap_release_dropped(self);
    tc_status s = tc_heap_gc_step(self->heap, (int64_t)n, &marked);
    return done(self, s, s == TC_OK ? PyLong_FromUnsignedLongLong(marked) : NULL);
}

PyObject *
pytc_heap_gc_finish(HeapObject *self, PyObject *unused)
{
    if (self->closed)
        return pytc_raise_closed(self->st);
    uint64_t freed = 0;
    pytc_heap_release_dropped(self);
    tc_status s = tc_heap_gc_finish(self->heap, &freed);
    return done(self, s, s == TC_OK ? PyLong_FromUnsignedLongLong(freed) : NULL);
}

PyObject *
pytc_heap_color(HeapObject *self, PyObject *arg)
{
    if (self->closed)
        return pytc_raise_closed(self->st);
    ObjObject *o = pytc_obj_arg(self, arg, "color");
    if (o == NULL)
        return NULL;
    tc_color c = TC_WHITE;
    pytc_heap_release_dropped(self);
    tc_status s = tc_obj_color(self->heap, o->root, &c);
    return done(self, s, s == TC_OK ? PyUnicode_FromString(tc_color_name(c)) : NULL);
}

/* snap_fill — the snapshot's phase, lists and colour dict, into d. */
static int
snap_fill(PyObject *d, const tc_snapshot *s)
{
    PyObject *objects = PyList_New((Py_ssize_t)s->nobjects), *colors = PyDict_New();
    PyObject *edges = PyList_New((Py_ssize_t)s->nedges), *roots = PyList_New((Py_ssize_t)s->nroots);
    PyObject *grey = PyList_New((Py_ssize_t)s->ngrey), *phase = PyUnicode_FromString(tc_phase_name(s->phase));
    int rc = -1;
    if (!objects || !colors || !edges || !roots || !grey || !phase)
        goto out;
    for (size_t i = 0; i < s->nobjects; i++) {
        PyObject *id = PyLong_FromUnsignedLongLong(s->objects[i]);
        PyObject *c = id ? PyUnicode_FromString(tc_color_name((tc_color)s->colors[i])) : NULL;
        int bad = !c || PyDict_SetItem(colors, id, c) < 0;
        Py_XDECREF(c);
        if (id)
            PyList_SET_ITEM(objects, (Py_ssize_t)i, id);
        if (bad)
            goto out;
    }
    for (size_t i = 0; i < s->nedges; i++) {
        PyObject *e = Py_BuildValue("(KLK)", (unsigned long long)s->edges[i].src, (long long)s->edges[i].slot,
                                    (unsigned long long)s->edges[i].dst);
        if (!e)
            goto out;
        PyList_SET_ITEM(edges, (Py_ssize_t)i, e);
    }
    for (size_t i = 0; i < s->nroots; i++) {
        PyObject *r = Py_BuildValue("(sK)", tc_root_kind_name(s->roots[i].kind), (unsigned long long)s->roots[i].id);
        if (!r)
            goto out;
        PyList_SET_ITEM(roots, (Py_ssize_t)i, r);
    }
    for (size_t i = 0; i < s->ngrey; i++) {
        PyObject *g = PyLong_FromUnsignedLongLong(s->grey[i]);
        if (!g)
            goto out;
        PyList_SET_ITEM(grey, (Py_ssize_t)i, g);
    }
    if (PyDict_SetItemString(d, "phase", phase) == 0 &&
        PyDict_SetItemString(d, "objects", objects) == 0 && PyDict_SetItemString(d, "edges", edges) == 0 &&
        PyDict_SetItemString(d, "colors", colors) == 0 && PyDict_SetItemString(d, "roots", roots) == 0 &&
        PyDict_SetItemString(d, "grey", grey) == 0)
        rc = 0;
out:
    Py_XDECREF(phase);
    Py_XDECREF(objects);
    Py_XDECREF(colors);
    Py_XDECREF(edges);
    Py_XDECREF(roots);
    Py_XDECREF(grey);
    return rc;
}

PyObject *
pytc_heap_snapshot(HeapObject *self, PyObject *unused)
{
    if (self->closed)
        return pytc_raise_closed(self->st);
    tc_snapshot *snap = NULL;
    pytc_heap_release_dropped(self);
    tc_status s = tc_heap_snapshot(self->heap, &snap);
    PyObject *d = NULL;
    if (s == TC_OK && (d = PyDict_New()) != NULL && snap_fill(d, snap) < 0)
        Py_CLEAR(d);
    tc_snapshot_free(snap);
    if (s == TC_OK && d == NULL) {
        pytc_heap_drain(self);
        return pytc_safepoint(self, NULL);
    }
    return done(self, s, d);
}
