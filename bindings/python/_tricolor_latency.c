/*
 * _tricolor_latency.c — tricolor.mmu(intervals, windows, start_ns=None,
 * end_ns=None): argument conversion and error mapping around the core's
 * tc_mmu (csrc/mmu.c does the computing). heap.mmu(windows) will reuse
 * pytc_mmu_windows and pytc_mmu_result, so both return the same shape:
 *
 *   [{"window": w, "mmu": u, "bmu": b, "worst_start_ns": t,
 *     "by_kind": {"pause": ns, "assist": ns, "slice": ns, "sweep": ns,
 *                 "limit_wait": ns}}, ...]
 *
 * Errors name the argument and the 0-based index at fault: a window that is
 * not a number is a TypeError; zero, negative, NaN or infinite windows, and
 * every malformed interval, are ValueErrors.
 */
#include <stdlib.h>
#include <string.h>

#include "_tricolor.h"

/* as_int64 — an int (or an object with __index__; not a bool) as int64. -1
 * with an exception (exc_type for a non-int, ValueError out of range). */
static int
as_int64(PyObject *v, PyObject *exc_type, const char *what, Py_ssize_t i, int64_t *out)
{
    if (PyBool_Check(v) || !PyIndex_Check(v)) {
        if (i < 0)
            PyErr_Format(exc_type, "%s must be an int, not %.100s", what, Py_TYPE(v)->tp_name);
        else
            PyErr_Format(exc_type, "intervals[%zd]: %s must be an int, not %.100s", i, what, Py_TYPE(v)->tp_name);
        return -1;
    }
    int overflow = 0;
    PyObject *n = PyNumber_Index(v);
    long long x = n ? PyLong_AsLongLongAndOverflow(n, &overflow) : -1;
    Py_XDECREF(n);
    if (n == NULL || (x == -1 && PyErr_Occurred()))
        return -1;
    if (overflow) {
        if (i < 0)
            PyErr_Format(PyExc_ValueError, "%s is out of range: %R", what, v);
        else
            PyErr_Format(PyExc_ValueError, "intervals[%zd]: %s is out of range: %R", i, what, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* kind_convert — the kind of interval i: one of the core's names. */
static int
kind_convert(PyObject *v, Py_ssize_t i, tc_gc_kind *out)
{
    Py_ssize_t len = 0;
    const char *kind = PyUnicode_Check(v) ? PyUnicode_AsUTF8AndSize(v, &len) : NULL;
    if (kind == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "intervals[%zd]: kind must be a str, not %.100s", i, Py_TYPE(v)->tp_name);
        return -1;
    }
    if ((size_t)len != strlen(kind) || tc_gc_kind_parse(kind, out) != TC_OK) {
        PyErr_Format(PyExc_ValueError, "intervals[%zd]: kind must be \"pause\", \"assist\", \"slice\", \"sweep\" or "
                     "\"limit_wait\", not %R", i, v);
        return -1;
    }
    return 0;
}

/* interval_convert — item i of `intervals`: a (start_ns, end_ns, kind) tuple
 * or list (copied first: converting an item may run Python code), checked by
 * the core. */
static int
interval_convert(PyObject *item, Py_ssize_t i, tc_interval *out)
{
    if ((!PyTuple_Check(item) && !PyList_Check(item)) || Py_SIZE(item) != 3) {
        PyErr_Format(PyExc_ValueError, "intervals[%zd] must be a (start_ns, end_ns, kind) tuple, not %R", i, item);
        return -1;
    }
    PyObject *t = PySequence_Tuple(item);
    if (t == NULL)
        return -1;
    int rc = as_int64(PyTuple_GET_ITEM(t, 0), PyExc_ValueError, "start_ns", i, &out->start_ns) < 0 ||
                     as_int64(PyTuple_GET_ITEM(t, 1), PyExc_ValueError, "end_ns", i, &out->end_ns) < 0 ||
                     kind_convert(PyTuple_GET_ITEM(t, 2), i, &out->kind) < 0
                 ? -1
                 : 0;
    Py_DECREF(t);
    if (rc == 0 && tc_interval_check(out) != TC_OK) {
        PyErr_Format(PyExc_ValueError, "intervals[%zd]: %s", i, tc_errmsg());
        rc = -1;
    }
    return rc;
}

/* as_tuple — a sequence argument as a tuple (a list is copied, so Python code
 * run while converting its items cannot change it under us). */
static PyObject *
as_tuple(PyObject *obj, const char *what)
{
    PyObject *t = PyUnicode_Check(obj) || PyBytes_Check(obj) || PyFloat_Check(obj) || PyLong_Check(obj)
                      ? NULL
                      : PySequence_Tuple(obj);
    if (t == NULL && (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError))) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s, not %.100s", what, Py_TYPE(obj)->tp_name);
    }
    return t;
}

/* intervals_convert — the whole sequence into a PyMem array (*out, *n). */
static int
intervals_convert(PyObject *obj, tc_interval **out, Py_ssize_t *n)
{
    PyObject *seq = as_tuple(obj, "intervals must be a sequence of (start_ns, end_ns, kind) tuples");
    if (seq == NULL)
        return -1;
    *n = PyTuple_GET_SIZE(seq);
    *out = PyMem_New(tc_interval, *n ? *n : 1);
    if (*out == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++)
        if (interval_convert(PyTuple_GET_ITEM(seq, i), i, &(*out)[i]) < 0) {
            Py_DECREF(seq);
            PyMem_Free(*out);
            return -1;
        }
    Py_DECREF(seq);
    return 0;
}

/* window_convert — one window in seconds: a number (not a bool), then the
 * core's check (positive, finite) and conversion to ns. */
static int
window_convert(PyObject *v, Py_ssize_t i, double *seconds, int64_t *ns)
{
    double d = PyBool_Check(v) ? -1.0 : PyFloat_AsDouble(v);
    if (PyBool_Check(v) || (d == -1.0 && PyErr_Occurred())) {
        if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "windows[%zd] is too large for a float", i);
        } else if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "windows[%zd] must be a number of seconds, not %.100s", i,
                         Py_TYPE(v)->tp_name);
        }
        return -1; /* anything else __float__ raised goes through */
    }
    if (tc_mmu_window_ns(d, ns) != TC_OK) {
        PyErr_Format(PyExc_ValueError, "windows[%zd]: %s", i, tc_errmsg());
        return -1;
    }
    *seconds = d;
    return 0;
}

int
pytc_mmu_windows(PyObject *obj, double **seconds, int64_t **ns, Py_ssize_t *n)
{
    PyObject *seq = as_tuple(obj, "windows must be a sequence of numbers (seconds)");
    if (seq == NULL)
        return -1;
    *n = PyTuple_GET_SIZE(seq);
    *seconds = PyMem_New(double, *n ? *n : 1);
    *ns = PyMem_New(int64_t, *n ? *n : 1);
    int rc = *seconds && *ns ? 0 : (PyErr_NoMemory(), -1);
    for (Py_ssize_t i = 0; rc == 0 && i < *n; i++)
        rc = window_convert(PyTuple_GET_ITEM(seq, i), i, &(*seconds)[i], &(*ns)[i]);
    Py_DECREF(seq);
    if (rc < 0) {
        PyMem_Free(*seconds);
        PyMem_Free(*ns);
    }
    return rc;
}

/* point_dict — one window's mapping (see the top of the file). */
static PyObject *
point_dict(double seconds, const tc_mmu_point *p)
{
    PyObject *by = PyDict_New(), *d = PyDict_New();
    for (int k = 0; by && k < TC_GC_KIND_COUNT; k++) {
        PyObject *v = PyLong_FromUnsignedLongLong(p->by_kind_ns[k]);
        if (v == NULL || PyDict_SetItemString(by, tc_gc_kind_name((tc_gc_kind)k), v) < 0)
            Py_CLEAR(by);
        Py_XDECREF(v);
    }
    PyObject *vals[] = {PyFloat_FromDouble(seconds), PyFloat_FromDouble(p->mmu), PyFloat_FromDouble(p->bmu),
                        PyLong_FromLongLong(p->worst_start_ns), by};
    static const char *const keys[] = {"window", "mmu", "bmu", "worst_start_ns", "by_kind"};
    for (size_t i = 0; i < 5; i++) {
        if (d && (vals[i] == NULL || PyDict_SetItemString(d, keys[i], vals[i]) < 0))
            Py_CLEAR(d);
        Py_XDECREF(vals[i]);
    }
    return d;
}

PyObject *
pytc_mmu_result(const double *seconds, const tc_mmu_point *p, Py_ssize_t n)
{
    PyObject *list = PyList_New(n);
    for (Py_ssize_t i = 0; list && i < n; i++) {
        PyObject *d = point_dict(seconds[i], &p[i]);
        if (d == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, d);
    }
    return list;
}

/* run_bound — start_ns / end_ns: None (NULL: the span) or an int. */
static int
run_bound(PyObject *v, const char *name, int64_t *store, int64_t **out)
{
    *out = NULL;
    if (v == Py_None)
        return 0;
    if (as_int64(v, PyExc_TypeError, name, -1, store) < 0)
        return -1;
    *out = store;
    return 0;
}

/* compute — convert the intervals, run the core with the GIL released. */
static PyObject *
compute(PyObject *intervals, const double *secs, const int64_t *ns, Py_ssize_t nw, int64_t *start, int64_t *end)
{
    tc_interval *iv = NULL;
    Py_ssize_t n = 0;
    if (intervals_convert(intervals, &iv, &n) < 0)
        return NULL;
    tc_mmu_point *pts = PyMem_New(tc_mmu_point, nw ? nw : 1);
    if (pts == NULL) {
        PyMem_Free(iv);
        return PyErr_NoMemory();
    }
    tc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = tc_mmu(iv, (size_t)n, start, end, ns, (size_t)nw, pts);
    Py_END_ALLOW_THREADS
    PyMem_Free(iv);
    PyObject *res = NULL;
    if (s == TC_ERR_NOMEM)
        PyErr_NoMemory();
    else if (s != TC_OK)
        PyErr_SetString(PyExc_ValueError, tc_errmsg());
    else
        res = pytc_mmu_result(secs, pts, nw);
    PyMem_Free(pts);
    return res;
}

static PyObject *
latency_mmu(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"intervals", "windows", "start_ns", "end_ns", NULL};
    PyObject *intervals, *windows, *start_obj = Py_None, *end_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO:mmu", kwlist, &intervals, &windows, &start_obj, &end_obj))
        return NULL;
    int64_t start_v, end_v, *start, *end;
    if (run_bound(start_obj, "start_ns", &start_v, &start) < 0 || run_bound(end_obj, "end_ns", &end_v, &end) < 0)
        return NULL;
    double *secs;
    int64_t *ns;
    Py_ssize_t nw;
    if (pytc_mmu_windows(windows, &secs, &ns, &nw) < 0)
        return NULL;
    PyObject *res = compute(intervals, secs, ns, nw, start, end);
    PyMem_Free(secs);
    PyMem_Free(ns);
    return res;
}

/* heap.mmu(windows) — the same from the heap's recorded events (run: from
 * the heap's creation to now), with a RuntimeWarning when the event ring
 * overflowed (the curve then has a gap: lost intervals count as program time). */
PyObject *
pytc_heap_mmu(HeapObject *self, PyObject *windows)
{
    if (self->closed)
        return pytc_raise_closed(self->st);
    double *secs;
    int64_t *ns;
    Py_ssize_t nw;
    if (pytc_mmu_windows(windows, &secs, &ns, &nw) < 0)
        return NULL;
    tc_mmu_point *pts = PyMem_New(tc_mmu_point, nw ? nw : 1);
    PyObject *res = NULL;
    uint64_t dropped = 0;
    tc_status s = TC_ERR_NOMEM;
    if (pts) {
        Py_BEGIN_ALLOW_THREADS
        s = tc_heap_mmu(self->heap, ns, (size_t)nw, pts, &dropped);
        Py_END_ALLOW_THREADS
    }
    if (s != TC_OK)
        pytc_raise_status(self->st, s);
    else if (dropped && PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                         "tricolor: the GC event ring overflowed (%llu events dropped): the MMU "
                                         "curve has a gap; raise Heap(events_ring=...)",
                                         (unsigned long long)dropped) < 0)
        res = NULL;
    else
        res = pytc_mmu_result(secs, pts, nw);
    PyMem_Free(pts);
    PyMem_Free(secs);
    PyMem_Free(ns);
    return pytc_safepoint(self, res);
}

/* heap.gc_intervals() — the recorded delay intervals [(start_ns, end_ns,
 * kind), ...], oldest retained first: what heap.mmu reads, for
 * tricolor.mmu later (start_ns of the run: heap.stats() has none; use the
 * first interval's or your own clock, tricolor.now_ns()). */
PyObject *
pytc_heap_gc_intervals(HeapObject *self, PyObject *unused)
{
    if (self->closed)
        return pytc_raise_closed(self->st);
    tc_interval *iv = NULL;
    size_t n = 0;
    tc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = tc_heap_intervals(self->heap, &iv, &n);
    Py_END_ALLOW_THREADS
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *t = Py_BuildValue("(LLs)", (long long)iv[i].start_ns, (long long)iv[i].end_ns,
                                    tc_gc_kind_name(iv[i].kind));
        if (t == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    free(iv);
    return pytc_safepoint(self, list);
}

static PyObject *
latency_now_ns(PyObject *module, PyObject *unused)
{
    return PyLong_FromLongLong(tc_now_ns());
}

static PyMethodDef latency_methods[] = {
    {"mmu", (PyCFunction)(void (*)(void))latency_mmu, METH_VARARGS | METH_KEYWORDS,
     "mmu(intervals, windows, start_ns=None, end_ns=None)\n--\n\n"
     "Minimum mutator utilization (and bounded MMU) of GC intervals.\n\n"
     "intervals: (start_ns, end_ns, kind) tuples, kind one of \"pause\", \"assist\",\n"
     "\"slice\", \"sweep\", \"limit_wait\"; windows: lengths in seconds. The run is\n"
     "[start_ns, end_ns] (default: the intervals' span). Returns one dict per\n"
     "window: window, mmu, bmu, worst_start_ns, by_kind. See docs/python.md."},
    {"now_ns", latency_now_ns, METH_NOARGS,
     "now_ns()\n--\n\nThe monotonic clock (ns) of every GC event, pause_end_ns and worst_start_ns."},
};

int
pytc_latency_add(PyObject *module)
{
    PyObject *modname = PyUnicode_FromString("tricolor");
    PyObject *f = modname ? PyCFunction_NewEx(&latency_methods[0], module, modname) : NULL;
    int rc = f ? PyModule_AddObjectRef(module, "mmu", f) : -1;
    Py_XDECREF(f);
    f = rc == 0 ? PyCFunction_NewEx(&latency_methods[1], module, modname) : NULL;
    rc = f ? PyModule_AddObjectRef(module, "now_ns", f) : -1;
    Py_XDECREF(f);
    Py_XDECREF(modname);
    return rc;
}
