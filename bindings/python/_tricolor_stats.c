/*
 * _tricolor_stats.c — tricolor.Stats, the snapshot Heap.stats() returns:
 * one read-only attribute per tc_stats_fields() entry (the one list of
 * fields, kept by the core), histograms as {"bounds_ns", "counts"} dicts,
 * the pause ring as a list, as_dict() and a short repr.
 *
 * Invariants: a Stats holds one tuple of ints, floats, strs and tuples of
 * those, in the order of tc_stats_fields(): it cannot be part of a cycle,
 * so it is not a GC type; its values never change after stats_new.
 */
#include "_tricolor.h"

typedef struct StatsObject {
    PyObject_HEAD
    PyObject *values;    /* tuple, one item per tc_stats_fields() entry */
} StatsObject;

/* ---- Stats ------------------------------------------------------------------ */

/* hist_value — a histogram as the snapshot keeps it: a tuple (bounds,
 * counts) of tuples; stats_get makes {"bounds_ns": [...], "counts": [...]}
 * of it, with the last bound float("inf") (Go's +Inf bucket end). */
static PyObject *
hist_value(const uint64_t *counts)
{
    uint64_t bounds[TC_HIST_BUCKETS + 1];
    tc_hist_bounds(bounds);
    PyObject *b = PyTuple_New(TC_HIST_BUCKETS + 1), *c = PyTuple_New(TC_HIST_BUCKETS);
    for (Py_ssize_t i = 0; b && c && i <= TC_HIST_BUCKETS; i++) {
        PyObject *x = i == TC_HIST_BUCKETS ? PyFloat_FromDouble(Py_HUGE_VAL) : PyLong_FromUnsignedLongLong(bounds[i]);
        PyObject *y = i < TC_HIST_BUCKETS ? PyLong_FromUnsignedLongLong(counts[i]) : NULL;
        if (x == NULL || (i < TC_HIST_BUCKETS && y == NULL)) {
            Py_XDECREF(x);
            Py_XDECREF(y);
            Py_CLEAR(b);
            break;
        }
        PyTuple_SET_ITEM(b, i, x);
        if (y)
            PyTuple_SET_ITEM(c, i, y);
    }
    PyObject *r = b && c ? PyTuple_Pack(2, b, c) : NULL;
    Py_XDECREF(b);
    Py_XDECREF(c);
    return r;
}

/* hist_dict — the mapping of a histogram kept by hist_value. */
static PyObject *
hist_dict(PyObject *v)
{
    PyObject *b = PySequence_List(PyTuple_GET_ITEM(v, 0)), *c = PySequence_List(PyTuple_GET_ITEM(v, 1));
    PyObject *d = b && c ? Py_BuildValue("{sOsO}", "bounds_ns", b, "counts", c) : NULL;
    Py_XDECREF(b);
    Py_XDECREF(c);
    return d;
}

/* stats_value — one field of a tc_stats as a Python object. */
static PyObject *
stats_value(const tc_stats *s, const tc_stats_field *f)
{
    const char *p = (const char *)s + f->offset;
    switch (f->type) {
    case TC_FIELD_U64:
        return PyLong_FromUnsignedLongLong(*(const uint64_t *)(const void *)p);
    case TC_FIELD_DOUBLE:
        return PyFloat_FromDouble(*(const double *)(const void *)p);
    case TC_FIELD_STRING: {
        const char *str = *(const char *const *)(const void *)p;
        return PyUnicode_FromString(str ? str : "");
    }
    case TC_FIELD_HIST:
        return hist_value((const uint64_t *)(const void *)p);
    case TC_FIELD_PAUSES: {
        uint32_t n = s->npauses < TC_PAUSE_RING ? s->npauses : TC_PAUSE_RING;
        const uint64_t *ring = (const uint64_t *)(const void *)p;
        PyObject *t = PyTuple_New(n);
        for (uint32_t i = 0; t != NULL && i < n; i++) {
            PyObject *x = PyLong_FromUnsignedLongLong(ring[i]);
            if (x == NULL)
                Py_CLEAR(t);
            else
                PyTuple_SET_ITEM(t, i, x);
        }
        return t;
    }
    }
    PyErr_Format(PyExc_SystemError, "stats field %s has an unknown type", f->name);
    return NULL;
}

/* pytc_stats_new — a Stats snapshot of `s`. */
PyObject *
pytc_stats_new(tricolor_state *st, const tc_stats *s)
{
    PyObject *values = PyTuple_New((Py_ssize_t)st->nfields);
    if (values == NULL)
        return NULL;
    for (size_t i = 0; i < st->nfields; i++) {
        PyObject *v = stats_value(s, &st->fields[i]);
        if (v == NULL) {
            Py_DECREF(values);
            return NULL;
        }
        PyTuple_SET_ITEM(values, (Py_ssize_t)i, v);
    }
    StatsObject *o = PyObject_New(StatsObject, st->stats_type);
    if (o == NULL) {
        Py_DECREF(values);
        return NULL;
    }
    o->values = values;
    return (PyObject *)o;
}

static void
stats_dealloc(StatsObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(self->values);
    PyObject_Free(self);
    Py_DECREF(tp);
}

/* stats_get — the getter of every field; `closure` is the field's index. A
 * pause list is returned as a new list each time (the snapshot keeps a tuple). */
static tricolor_state *stats_state(StatsObject *self);

static PyObject *
stats_get(StatsObject *self, void *closure)
{
    PyObject *v = PyTuple_GET_ITEM(self->values, (Py_ssize_t)(intptr_t)closure);
    if (stats_state(self)->fields[(intptr_t)closure].type == TC_FIELD_HIST)
        return hist_dict(v);
    if (PyTuple_CheckExact(v))
        return PySequence_List(v);
    return Py_NewRef(v);
}

static tricolor_state *
stats_state(StatsObject *self)
{
    return (tricolor_state *)PyType_GetModuleState(Py_TYPE(self));
}

static PyObject *
stats_as_dict(StatsObject *self, PyObject *unused)
{
    tricolor_state *st = stats_state(self);
    PyObject *d = PyDict_New();
    for (size_t i = 0; d != NULL && i < st->nfields; i++) {
        PyObject *v = stats_get(self, (void *)(intptr_t)i);
        if (v == NULL || PyDict_SetItemString(d, st->fields[i].name, v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

/* stats_repr — `tricolor.Stats(heap_alloc=..., ..., pauses_ns=[<n> entries], ...)`:
 * every field, the pause ring shortened to its length. */
static PyObject *
stats_repr(StatsObject *self)
{
    tricolor_state *st = stats_state(self);
    PyObject *parts = PyList_New(0);
    if (parts == NULL)
        return NULL;
    for (size_t i = 0; i < st->nfields; i++) {
        PyObject *v = PyTuple_GET_ITEM(self->values, (Py_ssize_t)i);
        PyObject *part = st->fields[i].type == TC_FIELD_HIST
            ? PyUnicode_FromFormat("%s={...}", st->fields[i].name)
            : PyTuple_CheckExact(v)
            ? PyUnicode_FromFormat("%s=[%zd entries]", st->fields[i].name, PyTuple_GET_SIZE(v))
            : PyUnicode_FromFormat("%s=%R", st->fields[i].name, v);
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(part);
    }
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *body = sep ? PyUnicode_Join(sep, parts) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(parts);
    if (body == NULL)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("tricolor.Stats(%U)", body);
    Py_DECREF(body);
    return r;
}

static PyMethodDef stats_methods[] = {
    {"as_dict", (PyCFunction)stats_as_dict, METH_NOARGS, "The snapshot as a dict {field: value}."},
    {NULL},
};

PyDoc_STRVAR(stats_doc,
"A snapshot of a heap's statistics, made by Heap.stats(): one read-only\n"
"attribute per field (bytes, counts, nanoseconds); each field's documentation\n"
"gives its unit and its Go counterpart (runtime.MemStats or runtime/metrics).\n"
"pauses_ns is a list of the most recent pauses, oldest first; as_dict() gives\n"
"every field as a dict.");

/* pytc_stats_type_new — the Stats type, with one getter per tc_stats_fields() entry
 * (the one list of fields, kept by the core). */
PyTypeObject *
pytc_stats_type_new(PyObject *module, tricolor_state *st)
{
    st->fields = tc_stats_fields(&st->nfields);
    st->stats_getset = PyMem_Calloc(st->nfields + 1, sizeof(PyGetSetDef));
    if (st->stats_getset == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < st->nfields; i++) {
        st->stats_getset[i].name = st->fields[i].name;
        st->stats_getset[i].get = (getter)stats_get;
        st->stats_getset[i].closure = (void *)(intptr_t)i;
        st->stats_getset[i].doc = st->fields[i].doc;
    }
    PyType_Slot slots[] = {
        {Py_tp_dealloc, stats_dealloc},
        {Py_tp_repr, stats_repr},
        {Py_tp_methods, stats_methods},
        {Py_tp_getset, st->stats_getset},
        {Py_tp_doc, (void *)stats_doc},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = "tricolor.Stats",
        .basicsize = sizeof(StatsObject),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
        .slots = slots,
    };
    return (PyTypeObject *)PyType_FromModuleAndSpec(module, &spec, NULL);
}
