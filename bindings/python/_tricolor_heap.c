/*
 * _tricolor_heap.c — tricolor.Heap, for the extension `tricolor._tricolor`:
 * the constructor's arguments (over tc_config_init: SPEC's defaults and the
 * environment), the GIL hooks and the gctrace sink, the methods that are not
 * in a file of their own (new, collect, stats, verify, scavenge, traces,
 * recording, replay, close) and the properties (gogc, memory_limit, ...).
 *
 * Heap owns one tc_heap (tc_heap_destroy in dealloc) and the dict of its
 * finalizer and cleanup callbacks (_tricolor_special.c); the callbacks may
 * refer back to the Heap, so Heap is a GC type and tp_clear drops them.
 *
 * Invariants (and _tricolor.h's): HeapObject.closed is set before
 * tc_heap_close (heap_close) and never cleared; every method that may run
 * or finish a collection ends with pytc_heap_drain and pytc_safepoint
 * (bindings/common/bc_drain.h lists them; the Lua binding does the same).
 * The tunables' and the integer options' bounds and messages are
 * bindings/common/bc_config.c's, the core's own.
 */
#include <string.h>

#include "_tricolor.h"

/* ---- GIL hooks and gctrace output -------------------------------------------- */

/* gil_release, gil_acquire — the block hooks: the core calls them around
 * every wait, on the waiting thread, which holds the GIL (see the top). */
static void *
gil_release(void *ud)
{
    (void)ud;
    return PyEval_SaveThread();
}

static void
gil_acquire(void *ud, void *token)
{
    (void)ud;
    PyEval_RestoreThread((PyThreadState *)token);
}

/* stderr_sink — write one gctrace line to sys.stderr (not fd 2), so that
 * redirections of sys.stderr (pytest's capsys, contextlib) see it too.
 * PySys_FormatStderr keeps a pending exception as it was. */
static void
stderr_sink(void *ud, const char *line)
{
    (void)ud;
    PySys_FormatStderr("%s\n", line);
}

/* ---- argument conversion ------------------------------------------------------- */

/* int_arg — an int argument (bools refused) as int64. `name` is used in the
 * messages. Returns 0, or -1 with TypeError (not an int) or ValueError (does
 * not fit in 64 bits) set. */
static int
int_arg(PyObject *v, const char *name, int64_t *out)
{
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name, Py_TYPE(v)->tp_name);
        return -1;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_Format(PyExc_ValueError, "%s is out of range: %R", name, v);
        return -1;
    }
    if (x == -1 && PyErr_Occurred())
        return -1;
    *out = (int64_t)x;
    return 0;
}

/* range_arg — an int option with the core's bounds (bc_range): TypeError if
 * it is no int, ValueError with the core's own message if out of range. */
static int
range_arg(const bc_range *r, PyObject *v, int64_t *out)
{
    char msg[160];
    if (int_arg(v, r->name, out) < 0)
        return -1;
    if (!bc_range_check(r, *out, msg, sizeof msg)) {
        PyErr_SetString(PyExc_ValueError, msg);
        return -1;
    }
    return 0;
}

/* size_arg — an allocation size (nslots, payload bytes): a non-negative int
 * (bools refused). Negative → ValueError; too large for any size field →
 * MemoryError (SPEC: "an allocation ... that no size field can hold"). */
static int
size_arg(PyObject *v, const char *name, size_t *out)
{
    long small;
    if (pytc_small_int(v, &small) && small >= 0) {
        *out = (size_t)small;
        return 0;
    }
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name, Py_TYPE(v)->tp_name);
        return -1;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow > 0) {
        PyErr_Format(PyExc_MemoryError, "%s is too large: %R", name, v);
        return -1;
    }
    if (overflow < 0 || x < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0, not %R", name, v);
        return -1;
    }
    *out = (size_t)x;
    return 0;
}

/* tunable_arg — a tunable's value: None (off, -1) or an int in [t->min,
 * t->max] (bools refused). TypeError / ValueError naming the tunable. */
static int
tunable_arg(const bc_tunable *t, PyObject *v, int64_t *out)
{
    if (v == Py_None) {
        *out = -1;
        return 0;
    }
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int >= %lld or None, not %.100s", t->name,
                     (long long)t->min, Py_TYPE(v)->tp_name);
        return -1;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow || x < t->min || x > t->max) {
        if (t->max == INT64_MAX)
            PyErr_Format(PyExc_ValueError, "%s must be >= %lld or None, not %R", t->name, (long long)t->min, v);
        else
            PyErr_Format(PyExc_ValueError, "%s must be between %lld and %lld, or None, not %R", t->name,
                         (long long)t->min, (long long)t->max, v);
        return -1;
    }
    *out = (int64_t)x;
    return 0;
}

/* flag_arg — a boolean option: a bool or an int (truth value). */
static int
flag_arg(PyObject *v, const char *name, bool *out)
{
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be a bool, not %.100s", name, Py_TYPE(v)->tp_name);
        return -1;
    }
    int t = PyObject_IsTrue(v);
    if (t < 0)
        return -1;
    *out = t != 0;
    return 0;
}

/* name_arg — a str option, as UTF-8 (valid while `v` lives). A str that
 * UTF-8 cannot encode (a lone surrogate) or that holds a NUL character is
 * no name at all: ValueError naming the option, not UnicodeEncodeError
 * (and not a silent cut at the NUL). */
static const char *
name_arg(PyObject *v, const char *name)
{
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", name, Py_TYPE(v)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(v, &len);
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s: %R is not a valid name (it cannot be encoded as UTF-8)", name, v);
        return NULL;
    }
    if (s != NULL && (size_t)len != strlen(s)) {
        PyErr_Format(PyExc_ValueError, "%s: %R is not a valid name (it contains a NUL character)", name, v);
        return NULL;
    }
    return s;
}

/* collector_arg, barrier_arg — the two named options, parsed by the core
 * (unknown → TC_ERR_VALUE, not in this build → TC_ERR_UNSUPPORTED: both
 * ValueError through the status table). */
static int
collector_arg(tricolor_state *st, PyObject *v, tc_collector *out)
{
    const char *name = name_arg(v, "collector");
    tc_status s;
    if (name == NULL)
        return -1;
    if ((s = tc_collector_parse(name, out)) != TC_OK) {
        pytc_raise_status(st, s);
        return -1;
    }
    return 0;
}

static int
barrier_arg(tricolor_state *st, PyObject *v, tc_barrier *out)
{
    const char *name = name_arg(v, "barrier");
    tc_status s;
    if (name == NULL)
        return -1;
    if ((s = tc_barrier_parse(name, out)) != TC_OK) {
        pytc_raise_status(st, s);
        return -1;
    }
    return 0;
}

/* ---- Heap: construction ------------------------------------------------------- */

/* config_warn — a RuntimeWarning for each of tc_config_init's complaints
 * about TRICOLOR_GOGC / TRICOLOR_MEMORY_LIMIT (the core parses them; the text
 * names the variable and the default used). The lines are copied first: a
 * warnings filter is Python code, and it may make a Heap itself. */
static int
config_warn(void)
{
    char lines[2][256];
    int n = 0;
    for (const char *w; n < 2 && (w = tc_config_warning(n)) != NULL; n++)
        PyOS_snprintf(lines[n], sizeof lines[n], "tricolor: %s", w);
    for (int i = 0; i < n; i++)
        if (PyErr_WarnEx(PyExc_RuntimeWarning, lines[i], 1) < 0)
            return -1;
    return 0;
}

/* heap_config_from_args — tc_config_init (SPEC's defaults, then the
 * environment: TRICOLOR_GOGC, TRICOLOR_MEMORY_LIMIT, TRICOLOR_DEBUG)
 * overridden by every argument given. */
static int
heap_config_from_args(tricolor_state *st, PyObject *args, PyObject *kwargs, tc_config *c)
{
    static char *kwlist[] = {"collector", "gogc", "memory_limit", "barrier",
                             "mark_workers", "gctrace", "checkmark", "events_ring", NULL};
    PyObject *collector = NULL, *gogc = NULL, *limit = NULL, *barrier = NULL;
    PyObject *workers = NULL, *gctrace = NULL, *checkmark = NULL, *ring = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOOOOO$O:Heap", kwlist, &collector, &gogc,
                                     &limit, &barrier, &workers, &gctrace, &checkmark, &ring))
        return -1;
    tc_config_init(c);
    if (config_warn() < 0)
        return -1;
    if (collector != NULL && collector_arg(st, collector, &c->collector) < 0)
        return -1;
    if (barrier != NULL && barrier_arg(st, barrier, &c->barrier) < 0)
        return -1;
    if (gogc != NULL && tunable_arg(&bc_tunable_gogc, gogc, &c->gogc) < 0)
        return -1;
    if (limit != NULL && tunable_arg(&bc_tunable_memory_limit, limit, &c->memory_limit) < 0)
        return -1;
    if (workers != NULL) {
        int64_t n;
        if (range_arg(&bc_range_mark_workers, workers, &n) < 0)
            return -1;
        c->mark_workers = (int)n;
    }
    if (gctrace != NULL && flag_arg(gctrace, "gctrace", &c->gctrace) < 0)
        return -1;
    if (checkmark != NULL && flag_arg(checkmark, "checkmark", &c->checkmark) < 0)
        return -1;
    if (ring != NULL && range_arg(&bc_range_events_ring, ring, &c->events_ring) < 0)
        return -1;
    return 0;
}

/* heap_tp_new — Heap(collector=..., gogc=100, memory_limit=None, barrier="hybrid",
 * mark_workers=1, gctrace=False, checkmark=False). */
static PyObject *
heap_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    tricolor_state *st = (tricolor_state *)PyType_GetModuleState(type);
    tc_config c;
    if (st == NULL || heap_config_from_args(st, args, kwargs, &c) < 0)
        return NULL;
    HeapObject *self = (HeapObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->st = st;
    self->collector = c.collector;
    self->barrier = c.barrier;
    bc_host_init(&self->cb, stderr_sink);
    if ((self->callbacks = PyDict_New()) == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    tc_status s = tc_heap_new(&c, &self->heap);
    if (s != TC_OK) {
        pytc_raise_status(st, s);
        Py_DECREF(self); /* self->heap is NULL: nothing to destroy */
        return NULL;
    }
    tc_heap_set_block_hooks(self->heap, gil_release, gil_acquire, NULL);
    return (PyObject *)self;
}

/* heap_dealloc — destroy the heap (closing it if needed: pending finalizers
 * are dropped, as by close()), then drop the callbacks. No view can be left:
 * each holds an Obj, which holds this Heap. */
static void
heap_dealloc(HeapObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->heap != NULL) {
        self->closed = true;
        tc_heap_destroy(self->heap);
    }
    Py_CLEAR(self->callbacks);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* heap_traverse, heap_clear — the callbacks may refer back to the Heap (a
 * finalizer that closes over it): the cycle collector sees them through the
 * dict and breaks such a cycle by dropping them. */
static int
heap_traverse(HeapObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->callbacks);
    return 0;
}

static int
heap_clear(HeapObject *self)
{
    if (self->callbacks != NULL)
        PyDict_Clear(self->callbacks);
    return 0;
}

/* ---- Heap: methods ---------------------------------------------------------- */

/* heap_new_args — parse new(nslots, data=None) from a vectorcall: the fast
 * path is one positional int and no keywords. */
static int
heap_new_args(HeapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
              PyObject **nslots, PyObject **data)
{
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "new() takes at most 2 arguments (%zd given)", nargs + nkw);
        return -1;
    }
    *nslots = nargs > 0 ? args[0] : NULL;
    *data = nargs > 1 ? args[1] : Py_None;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        PyObject **slot = NULL;
        if (name == self->st->str_data || PyUnicode_Compare(name, self->st->str_data) == 0)
            slot = nargs > 1 ? NULL : data;
        else if (name == self->st->str_nslots || PyUnicode_Compare(name, self->st->str_nslots) == 0)
            slot = nargs > 0 ? NULL : nslots;
        else {
            PyErr_Format(PyExc_TypeError, "new() got an unexpected keyword argument %R", name);
            return -1;
        }
        if (slot == NULL) {
            PyErr_Format(PyExc_TypeError, "new() got multiple values for argument %R", name);
            return -1;
        }
        *slot = args[nargs + k];
    }
    if (*nslots == NULL) {
        PyErr_SetString(PyExc_TypeError, "new() missing required argument 'nslots'");
        return -1;
    }
    return 0;
}

/* heap_alloc — allocate and wrap; drains gctrace and runs due callbacks
 * (the allocation may have run or finished a collection). The roots of
 * dropped handles go first: a cycle the allocation starts must not see
 * them (HeapObject.dropped). */
static PyObject *
heap_alloc(HeapObject *self, size_t nslots, size_t size, const void *data)
{
    tc_root *root;
    pytc_heap_release_dropped(self);
    tc_status s = tc_obj_new(self->heap, nslots, size, data, &root);
    pytc_heap_drain(self);
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    return pytc_safepoint(self, pytc_obj_new(self, root, nslots, size));
}

/* heap_new_full — heap.new(nslots, data=None): `data` is None (no payload), an
 * int (that many zeroed bytes) or a bytes-like object (copied). */
static __attribute__((noinline)) PyObject *
heap_new_full(HeapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *nslots_arg, *data;
    size_t nslots, size;
    if (heap_new_args(self, args, nargs, kwnames, &nslots_arg, &data) < 0 ||
        size_arg(nslots_arg, "nslots", &nslots) < 0)
        return NULL;
    if (data == Py_None)
        return heap_alloc(self, nslots, 0, NULL);
    if (PyLong_Check(data) && !PyBool_Check(data)) {
        if (size_arg(data, "data size", &size) < 0)
            return NULL;
        return heap_alloc(self, nslots, size, NULL);
    }
    Py_buffer view;
    if (PyBool_Check(data) || PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "data must be None, an int or a bytes-like object, not %.100s",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    PyObject *o = heap_alloc(self, nslots, (size_t)view.len, view.buf);
    PyBuffer_Release(&view);
    return o;
}

/* heap_new_obj — heap.new(): heap.new(n) with a one-digit n is allocated
 * here, the rest parsed by heap_new_full (out of line, so that this frame
 * stays small). */
static PyObject *
heap_new_obj(HeapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    long small;
    if (nargs == 1 && kwnames == NULL && pytc_small_int(args[0], &small) && small >= 0)
        return heap_alloc(self, (size_t)small, 0, NULL);
    return heap_new_full(self, args, nargs, kwnames);
}

/* heap_collect — a whole forced cycle (the core releases the GIL through the
 * block hooks while it waits); returns the number of objects it freed, as
 * gc.collect() returns the number of unreachable objects it found. */
static PyObject *
heap_collect(HeapObject *self, PyObject *unused)
{
    uint64_t freed = 0;
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    pytc_heap_release_dropped(self);
    tc_status s = tc_heap_collect_n(self->heap, &freed);
    pytc_heap_drain(self);
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    return pytc_safepoint(self, PyLong_FromUnsignedLongLong(freed));
}

static PyObject *
heap_stats(HeapObject *self, PyObject *unused)
{
    tc_stats s;
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    pytc_heap_release_dropped(self);
    tc_status rc = tc_heap_stats(self->heap, &s);
    pytc_heap_drain(self);
    if (rc != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, rc));
    return pytc_safepoint(self, pytc_stats_new(self->st, &s));
}

static PyObject *
heap_verify(HeapObject *self, PyObject *unused)
{
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    pytc_heap_release_dropped(self);
    tc_status s = tc_heap_verify(self->heap);
    pytc_heap_drain(self);
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    return pytc_safepoint(self, Py_NewRef(Py_None));
}

/* heap_scavenge — scavenge(): give every free page back to the OS now
 * (waiting for a running cycle); returns the bytes released by this call. */
static PyObject *
heap_scavenge(HeapObject *self, PyObject *unused)
{
    uint64_t released = 0;
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    tc_status s = tc_heap_scavenge(self->heap, &released);
    pytc_heap_drain(self);
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    return pytc_safepoint(self, PyLong_FromUnsignedLongLong(released));
}

/* heap_trace_start — trace_start(path): str, bytes or os.PathLike. */
static PyObject *
heap_trace_start(HeapObject *self, PyObject *path)
{
    PyObject *bytes = NULL;
    if (pytc_heap_check_open(self) < 0 || !PyUnicode_FSConverter(path, &bytes))
        return NULL;
    tc_status s = tc_trace_start(self->heap, PyBytes_AS_STRING(bytes));
    Py_DECREF(bytes);
    if (s != TC_OK)
        return pytc_raise_status(self->st, s);
    Py_RETURN_NONE;
}

static PyObject *
heap_trace_stop(HeapObject *self, PyObject *unused)
{
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    tc_status s = tc_trace_stop(self->heap);
    if (s != TC_OK)
        return pytc_raise_status(self->st, s);
    Py_RETURN_NONE;
}

/* heap_record_start — record_start(path): log every heap operation (record.c). */
static PyObject *
heap_record_start(HeapObject *self, PyObject *path)
{
    PyObject *bytes = NULL;
    if (pytc_heap_check_open(self) < 0 || !PyUnicode_FSConverter(path, &bytes))
        return NULL;
    pytc_heap_release_dropped(self);
    tc_status s = tc_record_start(self->heap, PyBytes_AS_STRING(bytes));
    Py_DECREF(bytes);
    if (s != TC_OK)
        return pytc_raise_status(self->st, s);
    Py_RETURN_NONE;
}

static PyObject *
heap_record_stop(HeapObject *self, PyObject *unused)
{
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    pytc_heap_release_dropped(self);
    tc_status s = tc_record_stop(self->heap);
    if (s != TC_OK)
        return pytc_raise_status(self->st, s);
    Py_RETURN_NONE;
}

/* heap_replay — _replay(path): drive this (fresh) heap with a replay log, in
 * C (replay.c); a dict of tc_replay_report. The GIL is kept: no Python code
 * runs meanwhile, except other threads while a collection waits (the lab's
 * sampler), and those do not drain the heap's callbacks (bc_drain_enter). */
static PyObject *
heap_replay(HeapObject *self, PyObject *path)
{
    PyObject *bytes = NULL;
    if (pytc_heap_check_open(self) < 0 || !PyUnicode_FSConverter(path, &bytes))
        return NULL;
    tc_replay_report r;
    /* The log's finalizers are the replay's: no safe point (another thread's
     * stats(), say) may take them from the ready queue meanwhile. */
    bool entered = bc_drain_enter(&self->cb);
    pytc_heap_release_dropped(self);
    tc_status s = tc_replay(self->heap, PyBytes_AS_STRING(bytes), &r);
    if (entered)
        bc_drain_leave(&self->cb);
    Py_DECREF(bytes);
    if (s != TC_OK)
        return pytc_raise_status(self->st, s);
    return Py_BuildValue("{sIsKsKsKsKsLsKsK}", "version", (unsigned)r.version, "records",
                         (unsigned long long)r.records, "collects", (unsigned long long)r.collects, "checked",
                         (unsigned long long)r.checked, "mismatches", (unsigned long long)r.mismatches,
                         "first_mismatch", (long long)r.first_mismatch, "objects", (unsigned long long)r.objects,
                         "elapsed_ns", (unsigned long long)r.elapsed_ns);
}

/* heap_close — close(): free every object; later uses raise HeapClosedError.
 * Idempotent. The flag is set first (see the invariants at the top). Pending
 * finalizers and cleanups are dropped with the callbacks, not run. Refused
 * (BufferError) while unsafe.buffer views exist: they point into the heap. */
static PyObject *
heap_close(HeapObject *self, PyObject *unused)
{
    if (self->closed)
        Py_RETURN_NONE;
    if (self->exports > 0) {
        PyErr_Format(PyExc_BufferError,
                     "cannot close the heap: %zd unsafe.buffer view(s) of its objects exist; "
                     "release them first", self->exports);
        return NULL;
    }
    pytc_heap_drain(self);
    self->closed = true;
    self->ndropped = 0; /* their slots go with the table */
    tc_heap_close(self->heap);
    heap_clear(self); /* may run Python code (a callback's __del__): the heap is already closed */
    Py_RETURN_NONE;
}

static PyObject *
heap_enter(HeapObject *self, PyObject *unused)
{
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    return Py_NewRef((PyObject *)self);
}

static PyObject *
heap_exit(HeapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *r = heap_close(self, NULL);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *
heap_repr(HeapObject *self)
{
    return PyUnicode_FromFormat("<tricolor.Heap collector='%s' barrier='%s'%s>",
                                tc_collector_name(self->collector), tc_barrier_name(self->barrier),
                                self->closed ? " closed" : "");
}

/* ---- Heap: properties -------------------------------------------------------- */

/* heap_get_tunable, heap_set_tunable — the gogc and memory_limit
 * properties; `closure` is the tunable. None means off. */
static PyObject *
heap_get_tunable(HeapObject *self, void *closure)
{
    const bc_tunable *t = closure;
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    int64_t v = t->get(self->heap);
    if (v < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(v);
}

static int
heap_set_tunable(HeapObject *self, PyObject *value, void *closure)
{
    const bc_tunable *t = closure;
    int64_t v;
    if (value == NULL) {
        PyErr_Format(PyExc_TypeError, "%s cannot be deleted (assign None to turn it off)", t->name);
        return -1;
    }
    if (pytc_heap_check_open(self) < 0 || tunable_arg(t, value, &v) < 0)
        return -1;
    pytc_heap_release_dropped(self); /* a new goal may start a cycle */
    tc_status s = t->set(self->heap, v);
    pytc_heap_drain(self);
    PyObject *r = pytc_safepoint(self, s == TC_OK ? Py_NewRef(Py_None) : pytc_raise_status(self->st, s));
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

static PyObject *
heap_get_collector(HeapObject *self, void *closure)
{
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    return PyUnicode_FromString(tc_collector_name(self->collector));
}

static PyObject *
heap_get_barrier(HeapObject *self, void *closure)
{
    if (pytc_heap_check_open(self) < 0)
        return NULL;
    return PyUnicode_FromString(tc_barrier_name(self->barrier));
}

static PyObject *
heap_get_closed(HeapObject *self, void *closure)
{
    return PyBool_FromLong(self->closed);
}

static PyGetSetDef heap_getset[] = {
    {"gogc", (getter)heap_get_tunable, (setter)heap_set_tunable,
     "GC target percentage (int >= 0), or None: no proportional trigger.", (void *)&bc_tunable_gogc},
    {"memory_limit", (getter)heap_get_tunable, (setter)heap_set_tunable,
     "Soft memory limit in bytes (int > 0), or None: no limit.", (void *)&bc_tunable_memory_limit},
    {"collector", (getter)heap_get_collector, NULL, "The collector's name (\"stw\", ...).", NULL},
    {"barrier", (getter)heap_get_barrier, NULL, "The configured write barrier's name.", NULL},
    {"closed", (getter)heap_get_closed, NULL, "True once close() was called.", NULL},
    {NULL},
};

static PyMethodDef heap_methods[] = {
    {"new", (PyCFunction)(void (*)(void))heap_new_obj, METH_FASTCALL | METH_KEYWORDS,
     "new($self, /, nslots, data=None)\n--\n\nAllocate an object with nslots nil slots and a payload:\n"
     "data=None (no payload), an int (that many zeroed bytes) or a bytes-like object (copied)."},
    {"collect", (PyCFunction)heap_collect, METH_NOARGS,
     "collect($self, /)\n--\n\nRun one whole cycle; mark and sweep are finished on return.\n"
     "Returns the number of objects the cycle freed (an int, like gc.collect()); objects kept\n"
     "for their finalizers are not counted. Due finalizers and cleanups run before it returns."},
    {"stats", (PyCFunction)heap_stats, METH_NOARGS, "stats($self, /)\n--\n\nA snapshot of the statistics (a tricolor.Stats)."},
    {"verify", (PyCFunction)heap_verify, METH_NOARGS,
     "verify($self, /)\n--\n\nCheck every heap invariant; raise tricolor.HeapCorruption on the first broken one."},
    {"trace_start", (PyCFunction)heap_trace_start, METH_O,
     "trace_start($self, path, /)\n--\n\nRecord Chrome trace events until trace_stop() writes them to path."},
    {"trace_stop", (PyCFunction)heap_trace_stop, METH_NOARGS,
     "trace_stop($self, /)\n--\n\nWrite the trace started by trace_start() as JSON."},
    {"record_start", (PyCFunction)heap_record_start, METH_O,
     "record_start($self, path, /)\n--\n\nWrite every heap operation to a replay log at path until record_stop()."},
    {"record_stop", (PyCFunction)heap_record_stop, METH_NOARGS,
     "record_stop($self, /)\n--\n\nFinish the replay log started by record_start()."},
    {"_replay", (PyCFunction)heap_replay, METH_O,
     "_replay($self, path, /)\n--\n\nDrive this fresh heap with a replay log, in C; a dict of counts."},
    {"mmu", (PyCFunction)pytc_heap_mmu, METH_O,
     "mmu($self, windows, /)\n--\n\nMinimum mutator utilization of this heap's recorded GC events, per window:\n"
     "windows are lengths in seconds (floats > 0); returns one dict per window:\n"
     "window (s), mmu and bmu (fractions in [0, 1]), worst_start_ns (monotonic ns,\n"
     "tricolor.now_ns()'s clock), by_kind ({kind: ns} of GC time in the worst window).\n"
     "The run is from the heap's creation to now. Warns (RuntimeWarning) if the\n"
     "event ring overflowed. See docs/python.md."},
    {"gc_intervals", (PyCFunction)pytc_heap_gc_intervals, METH_NOARGS,
     "gc_intervals($self, /)\n--\n\nThe recorded GC intervals that take time from the program, as\n"
     "(start_ns, end_ns, kind) tuples (ns on tricolor.now_ns()'s clock), for tricolor.mmu()."},
    {"scavenge", (PyCFunction)heap_scavenge, METH_NOARGS,
     "scavenge($self, /)\n--\n\nGive every free page back to the OS now; return the bytes released."},
    {"set_finalizer", (PyCFunction)(void (*)(void))pytc_heap_set_finalizer, METH_FASTCALL,
     "set_finalizer($self, obj, fn, /)\n--\n\nRun fn(obj) once after obj became unreachable "
     "(None clears; setting again replaces)."},
    {"add_cleanup", (PyCFunction)(void (*)(void))pytc_heap_add_cleanup, METH_FASTCALL,
     "add_cleanup($self, obj, fn, arg, /)\n--\n\nRun fn(arg) once after obj was reclaimed; fn never sees obj."},
    {"weakref", (PyCFunction)pytc_heap_weakref, METH_O,
     "weakref($self, obj, /)\n--\n\nA tricolor.WeakRef to obj: get() is obj, or None once it was reclaimed."},
    {"run_finalizers", (PyCFunction)pytc_heap_run_finalizers, METH_NOARGS,
     "run_finalizers($self, /)\n--\n\nRun the due finalizers and cleanups now; return how many ran."},
    {"roots", (PyCFunction)pytc_heap_roots, METH_NOARGS,
     "roots($self, /)\n--\n\nEvery root as (kind, obj): kind is \"handle\", \"local\", \"finalizer_queue\" or \"finalizer\"."},
    {"referents", (PyCFunction)pytc_heap_referents, METH_O,
     "referents($self, obj, /)\n--\n\nThe objects obj's slots refer to, in slot order."},
    {"referrers", (PyCFunction)pytc_heap_referrers, METH_O,
     "referrers($self, obj, /)\n--\n\nThe live objects (and objects with a finalizer) that refer to obj."},
    {"path_to", (PyCFunction)pytc_heap_path_to, METH_O,
     "path_to($self, obj, /)\n--\n\nA shortest chain [(root_kind, obj0), (slot, obj1), ..., (slot, obj)] from a root "
     "other than this handle to obj, or None."},
    {"retained", (PyCFunction)pytc_heap_retained, METH_O,
     "retained($self, obj, /)\n--\n\n(bytes, objects) that would become garbage if obj did (its dominator subtree)."},
    {"gc_start", (PyCFunction)pytc_heap_gc_start, METH_NOARGS,
     "gc_start($self, /)\n--\n\nStart a cycle on a collector='manual' heap: every root grey."},
    {"gc_step", (PyCFunction)(void (*)(void))pytc_heap_gc_step, METH_FASTCALL,
     "gc_step($self, n=1, /)\n--\n\nMark up to n grey objects (manual heaps); return how many. 0: marking is done "
     "(the phase is then 'sweep')."},
    {"gc_finish", (PyCFunction)pytc_heap_gc_finish, METH_NOARGS,
     "gc_finish($self, /)\n--\n\nFinish the running cycle (manual heaps): mark the rest, sweep; return the "
     "objects freed."},
    {"color", (PyCFunction)pytc_heap_color, METH_O,
     "color($self, obj, /)\n--\n\nobj's colour now: 'white', 'grey' or 'black'."},
    {"snapshot", (PyCFunction)pytc_heap_snapshot, METH_NOARGS,
     "snapshot($self, /)\n--\n\nThe heap now, by object id: {'phase', 'objects', 'edges', 'colors', 'roots', "
     "'grey'}."},
    {"close", (PyCFunction)heap_close, METH_NOARGS,
     "close($self, /)\n--\n\nFree every object. Later uses raise HeapClosedError; closing again does nothing."},
    {"__enter__", (PyCFunction)heap_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\nReturn the heap itself: `with tricolor.Heap() as heap:`."},
    {"__exit__", (PyCFunction)(void (*)(void))heap_exit, METH_FASTCALL,
     "__exit__($self, exc_type, exc, tb, /)\n--\n\nClose the heap (as close()); exceptions propagate."},
    {NULL},
};

PyDoc_STRVAR(heap_doc,
"Heap(collector='concurrent', gogc=100, memory_limit=None, barrier='hybrid',\n"
"     mark_workers=1, gctrace=False, checkmark=False, *, events_ring=16384)\n--\n\n"
"An independent managed heap with its own garbage collector (Go's design:\n"
"tri-color mark-sweep, concurrent by default).\n\n"
"Parameters (all optional, by keyword or in this order):\n"
"  collector     'concurrent' (a collector thread marks and sweeps beside the\n"
"                program), 'incremental' (allocations do the work in bounded\n"
"                slices, no thread), 'stw' (the whole cycle in one pause) or\n"
"                'manual' (only gc_start / gc_step / gc_finish run cycles).\n"
"  gogc          int >= 0: start a cycle when the heap has grown by gogc percent\n"
"                over the live heap (Go's GOGC); None: no proportional trigger.\n"
"                Default 100, or $TRICOLOR_GOGC ('off', '200').\n"
"  memory_limit  int > 0: a soft limit in bytes that the pacer keeps the heap\n"
"                under (Go's GOMEMLIMIT); None: no limit. Default None, or\n"
"                $TRICOLOR_MEMORY_LIMIT ('512MiB', 'off').\n"
"  barrier       write barrier: 'hybrid' (Go's, the default), 'dijkstra'\n"
"                (insertion; re-scans roots at termination) or 'yuasa'\n"
"                (deletion, snapshot at the beginning); 'none' only with\n"
"                collector='manual' (it loses objects: teaching).\n"
"  mark_workers  int >= 1: background marker threads of the concurrent collector.\n"
"  gctrace       bool: one Go-style gctrace line per cycle on sys.stderr\n"
"                (default: TRICOLOR_DEBUG=gctrace=1 in the environment).\n"
"  checkmark     bool: verify every mark with a stop-the-world re-mark (slow;\n"
"                raises tricolor.HeapCorruption when an object was missed).\n"
"  events_ring   int in [0, 2**24], keyword only: GC events kept for mmu() and\n"
"                traces (about 40 bytes each); older ones are dropped and\n"
"                counted in stats().events_dropped. 0: keep none (histograms\n"
"                and delay totals are still counted).\n\n"
"Explicit arguments win over the environment; a malformed TRICOLOR_GOGC or\n"
"TRICOLOR_MEMORY_LIMIT gives a RuntimeWarning and the default. Bad arguments\n"
"raise ValueError or TypeError naming the argument. Use as a context manager\n"
"(`with tricolor.Heap() as heap:`) or call close(). See docs/python.md.");

static PyType_Slot heap_slots[] = {
    {Py_tp_new, heap_tp_new},
    {Py_tp_dealloc, heap_dealloc},
    {Py_tp_traverse, heap_traverse},
    {Py_tp_clear, heap_clear},
    {Py_tp_repr, heap_repr},
    {Py_tp_methods, heap_methods},
    {Py_tp_getset, heap_getset},
    {Py_tp_doc, (void *)heap_doc},
    {0, NULL},
};

PyType_Spec pytc_heap_spec = {
    .name = "tricolor.Heap",
    .basicsize = sizeof(HeapObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = heap_slots,
};
