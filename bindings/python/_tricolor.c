/*
 * _tricolor.c — the CPython extension `tricolor._tricolor`.
 *
 * This file only converts values, maps tc_status codes to Python exceptions
 * and ties handle lifetime to Python object lifetime. Everything about the
 * heap itself lives in csrc/ behind csrc/include/tricolor.h.
 *
 * Objects and their ownership (the structs are in _tricolor.h, shared with
 * _tricolor_special.c, which has finalizers, weak references and unsafe):
 *
 *   Heap   owns one tc_heap (tc_heap_destroy in dealloc) and the dict of its
 *          finalizer and cleanup callbacks. The callbacks may refer back to
 *          the Heap, so Heap is a GC type; tp_clear drops the callbacks.
 *   Obj    owns one tc_root (tc_root_release in dealloc) and a strong reference
 *          to its Heap. It caches the object's id, nslots and size at creation
 *          so that id, ==, hash and repr keep working after the heap is closed
 *          or the object freed. It is not a GC type, to keep heap.new() and
 *          slot reads at one pymalloc allocation; so a cycle that runs through
 *          an Obj (a callback holding a handle of its own heap) is only broken
 *          when the callback runs or the heap is closed.
 *   Stats  an immutable snapshot: a tuple of field values in the order of
 *          tc_stats_fields(). Tuples of ints and strs cannot form a cycle.
 *
 * Invariants (and those of _tricolor.h):
 *   - Every tc_root created here is owned by exactly one Obj, or released on
 *     the error path that failed to create that Obj.
 *   - Every call that may run a collection drains the gctrace queue to
 *     sys.stderr (heap_drain) and then runs due finalizers and cleanups
 *     (pytc_safepoint) before it returns.
 *
 * Threads: the block hooks release the GIL around every wait inside the core
 * (for a pause, for another thread's collection, in tc_heap_collect), so
 * Python threads may share a heap. The hooks always run on a thread that
 * holds the GIL, because this file never calls the core with the GIL
 * released.
 */
#include <string.h>

#include "_tricolor.h"

/* ---- module state ---------------------------------------------------------- */

typedef struct StatsObject {
    PyObject_HEAD
    PyObject *values;    /* tuple, one item per tc_stats_fields() entry */
} StatsObject;

static inline tricolor_state *
module_state(PyObject *module)
{
    return (tricolor_state *)PyModule_GetState(module);
}

/* ---- errors ------------------------------------------------------------------ */

/* status_table_init — the one table mapping each tc_status to the exception
 * SPEC names for it. Run at module exec, after the exception classes exist. */
static void
status_table_init(tricolor_state *st)
{
    PyObject **t = st->status_exc;
    for (int i = 0; i < TC_STATUS_COUNT; i++)
        t[i] = st->heap_error;
    t[TC_ERR_TYPE] = PyExc_TypeError;
    t[TC_ERR_INDEX] = PyExc_IndexError;
    t[TC_ERR_OVERFLOW] = PyExc_OverflowError;
    t[TC_ERR_CROSS_HEAP] = st->cross_heap_error;
    t[TC_ERR_VALUE] = PyExc_ValueError;
    t[TC_ERR_NOMEM] = PyExc_MemoryError;
    t[TC_ERR_CLOSED] = st->heap_closed_error;
    t[TC_ERR_FREED] = st->freed_error;
    t[TC_ERR_CORRUPT] = st->corruption_error;
    t[TC_ERR_UNSUPPORTED] = PyExc_ValueError;
    t[TC_ERR_IO] = PyExc_OSError;
    t[TC_ERR_STATE] = st->heap_error;
}

/* raise_status — set the Python exception for a failed core call, with the
 * core's message for it. Always returns NULL, for `return pytc_raise_status(...)`. */
PyObject *
pytc_raise_status(tricolor_state *st, tc_status s)
{
    PyObject *exc = (s > TC_OK && s < TC_STATUS_COUNT) ? st->status_exc[s] : st->heap_error;
    PyErr_SetString(exc, tc_errmsg());
    return NULL;
}

/* raise_closed — HeapClosedError for a use of a closed heap that the binding
 * detects before calling the core (the same words the core would use). */
PyObject *
pytc_raise_closed(tricolor_state *st)
{
    PyErr_SetString(st->heap_closed_error, "the heap is closed");
    return NULL;
}

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

/* heap_drain — print the gctrace lines queued by the call that just ran. */
static inline void
heap_drain(HeapObject *self)
{
    if (!self->closed)
        tc_heap_drain_output(self->heap, stderr_sink, NULL);
}

void
pytc_heap_drain(HeapObject *heap)
{
    heap_drain(heap);
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

/* size_arg — an allocation size (nslots, payload bytes): a non-negative int
 * (bools refused). Negative → ValueError; too large for any size field →
 * MemoryError (SPEC: "an allocation ... that no size field can hold"). */
static int
size_arg(PyObject *v, const char *name, size_t *out)
{
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

/* tunable — one of the heap's int64 tunables (-1 = off), read and written
 * at run time through the core and given to the constructor. */
typedef struct tunable {
    const char *name;
    int64_t min, max;                /* the range of values other than None */
    int64_t (*get)(const tc_heap *h);
    tc_status (*set)(tc_heap *h, int64_t value);
} tunable;

static const tunable tunable_gogc = {"gogc", 0, TC_GOGC_MAX, tc_heap_gogc, tc_heap_set_gogc};
static const tunable tunable_memory_limit = {"memory_limit", 1, INT64_MAX, tc_heap_memory_limit,
                                             tc_heap_set_memory_limit};

/* tunable_arg — a tunable's value: None (off, -1) or an int in [t->min,
 * t->max] (bools refused). TypeError / ValueError naming the tunable. */
static int
tunable_arg(const tunable *t, PyObject *v, int64_t *out)
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

/* ---- values ---------------------------------------------------------------- */

/* int_value — a Python int as a slot value. Ints that do not fit in 64 bits
 * are refused here; the core refuses the rest of [-2^62, 2^62)'s outside. */
static int
int_value(PyObject *v, tc_value *out)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError,
                        "integer out of range: slots hold integers in [-2**62, 2**62)");
        return -1;
    }
    if (x == -1 && PyErr_Occurred())
        return -1;
    *out = tc_int((int64_t)x);
    return 0;
}

/* ref_value — an Obj as a slot value of `heap`: CrossHeapError if it belongs
 * to another heap (checked here, since the other heap may be closed and its
 * roots gone). */
static int
ref_value(HeapObject *heap, ObjObject *o, tc_value *out)
{
    if (o->heap != heap) {
        PyErr_SetString(heap->st->cross_heap_error,
                        "cannot store a reference to an object of another heap");
        return -1;
    }
    if (heap->closed) {
        pytc_raise_closed(heap->st);
        return -1;
    }
    *out = tc_ref(tc_root_obj(o->root));
    return 0;
}

/* value_from_py — convert `v` for a slot of `heap`. The exact types come
 * first: they are the fast path. bool is tested before int (it is one). */
static int
value_from_py(HeapObject *heap, PyObject *v, tc_value *out)
{
    if (v == Py_None) {
        *out = tc_nil();
        return 0;
    }
    if (PyLong_CheckExact(v))
        return int_value(v, out);
    if (Py_IS_TYPE(v, heap->st->obj_type))
        return ref_value(heap, (ObjObject *)v, out);
    if (PyFloat_CheckExact(v)) {
        *out = tc_float(PyFloat_AS_DOUBLE(v));
        return 0;
    }
    if (PyBool_Check(v)) {
        *out = tc_bool(v == Py_True);
        return 0;
    }
    if (PyLong_Check(v))
        return int_value(v, out);
    if (PyFloat_Check(v)) {
        *out = tc_float(PyFloat_AsDouble(v));
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "a slot holds None, bool, int, float or tricolor.Obj, not %.100s",
                 Py_TYPE(v)->tp_name);
    return -1;
}

/* value_to_py — a slot value as a Python object; a reference becomes a new Obj
 * that takes over `ref_root`. */
static PyObject *
value_to_py(HeapObject *heap, tc_value v, tc_root *ref_root)
{
    switch (v.kind) {
    case TC_NIL:
        Py_RETURN_NONE;
    case TC_BOOL:
        return PyBool_FromLong(v.u.b);
    case TC_INT:
        return PyLong_FromLongLong(v.u.i);
    case TC_FLOAT:
        return PyFloat_FromDouble(v.u.d);
    case TC_REF:
        return pytc_obj_wrap(heap, ref_root);
    }
    if (ref_root)
        tc_root_release(heap->heap, ref_root);
    PyErr_SetString(heap->st->corruption_error, "a slot holds a value of unknown kind");
    return NULL;
}

/* ---- Obj ------------------------------------------------------------------- */

/* obj_wrap — a new Obj owning `root`. On failure the root is released. The
 * id is read before the allocation: an allocation may run Python code (a
 * finalizer) that closes the heap, and then the root is gone. */
static PyObject *
obj_wrap(HeapObject *heap, tc_root *root, size_t nslots, size_t size)
{
    uint64_t id = tc_obj_id(tc_root_obj(root));
    ObjObject *o = PyObject_New(ObjObject, heap->st->obj_type);
    if (o == NULL) {
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

/* pytc_obj_wrap — obj_wrap for a root whose object's sizes the caller does
 * not know (a finalizer's object, a weak reference's target, a slot's
 * reference). A root of a freed object (a reference the caller's bug left
 * to it) has no shape left: 0 and 0, and every use raises FreedObjectError. */
PyObject *
pytc_obj_wrap(HeapObject *heap, tc_root *root)
{
    if (tc_root_freed(root))
        return obj_wrap(heap, root, 0, 0);
    tc_obj *o = tc_root_obj(root);
    return obj_wrap(heap, root, tc_obj_nslots_raw(o), tc_obj_size_raw(o));
}

/* obj_dealloc — dropping the last reference removes the root (a no-op on a
 * closed heap). Obj is a heap type: it owns a reference to its type. */
static void
obj_dealloc(ObjObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    HeapObject *heap = self->heap;
    tc_root_release(heap->heap, self->root);
    PyObject_Free(self);
    Py_DECREF(heap);
    Py_DECREF(tp);
}

/* pytc_obj_check_usable — for the calls that answer from the handle's cache
 * (len, size, heap, iter): HeapClosedError on a closed heap, FreedObjectError
 * for a freed object (the core's own words for both). */
int
pytc_obj_check_usable(ObjObject *self)
{
    if (self->heap->closed) {
        pytc_raise_closed(self->heap->st);
        return -1;
    }
    if (tc_root_freed(self->root)) {
        PyErr_SetString(self->heap->st->freed_error, "the object was freed with unsafe.free");
        return -1;
    }
    return 0;
}

/* obj_index — a subscript as a slot index, negative ones counted from the
 * end like a list's. The core checks the range (after normalisation). */
static int
obj_index(ObjObject *self, PyObject *key, int64_t *out)
{
    Py_ssize_t i;
    if (PyLong_CheckExact(key)) {
        i = PyLong_AsSsize_t(key);
        if (i == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        }
    } else if (PyIndex_Check(key)) {
        i = PyNumber_AsSsize_t(key, PyExc_IndexError);
    } else {
        PyErr_Format(PyExc_TypeError, "tricolor.Obj indices must be integers, not %.100s",
                     Py_TYPE(key)->tp_name);
        return -1;
    }
    if (i == -1 && PyErr_Occurred())
        return -1;
    if (i < 0)
        i += (Py_ssize_t)self->nslots;
    *out = (int64_t)i;
    return 0;
}

/* obj_load — read slot i (already normalised).
 *
 * Fast path: a slot that holds no reference is read with tc_load() straight
 * from the rooted object, without a heap call. That is safe because the object
 * is rooted by this handle (never freed or moved while we hold it), the heap
 * is open (checked), the index is in range (checked against the cached
 * nslots), and no other Python thread can store into the slot meanwhile (we
 * hold the GIL); the collector threads only read slots. A reference needs a
 * new root created inside a heap call, so it (and every error) takes the
 * checked tc_slot_get(). A freed object (unsafe.free) has no slots any more:
 * its root carries the freed bit, and the checked call reports it. */
static PyObject *
obj_load(ObjObject *self, int64_t i)
{
    HeapObject *heap = self->heap;
    tc_value v;
    if (!heap->closed && (uint64_t)i < self->nslots && !tc_root_freed(self->root)) {
        v = tc_load(tc_root_obj(self->root), (size_t)i);
        if (v.kind != TC_REF)
            return value_to_py(heap, v, NULL);
    }
    tc_root *ref_root = NULL;
    tc_status s = tc_slot_get(heap->heap, self->root, i, &v, &ref_root);
    if (s != TC_OK)
        return pytc_raise_status(heap->st, s);
    return value_to_py(heap, v, ref_root);
}

static PyObject *
obj_subscript(ObjObject *self, PyObject *key)
{
    int64_t i;
    if (obj_index(self, key, &i) < 0)
        return NULL;
    return obj_load(self, i);
}

static PyObject *
obj_item(ObjObject *self, Py_ssize_t i)
{
    return obj_load(self, (int64_t)i);
}

/* obj_ass_subscript — obj[i] = v. Deleting a slot is refused: slots are fixed
 * (assign None to clear one). */
static int
obj_ass_subscript(ObjObject *self, PyObject *key, PyObject *value)
{
    HeapObject *heap = self->heap;
    int64_t i;
    tc_value v;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "tricolor.Obj slots cannot be deleted (assign None)");
        return -1;
    }
    if (obj_index(self, key, &i) < 0 || value_from_py(heap, value, &v) < 0)
        return -1;
    tc_status s = tc_slot_set(heap->heap, self->root, i, v);
    if (s != TC_OK) {
        pytc_raise_status(heap->st, s);
        return -1;
    }
    return 0;
}

static Py_ssize_t
obj_length(ObjObject *self)
{
    if (pytc_obj_check_usable(self) < 0)
        return -1;
    return (Py_ssize_t)self->nslots;
}

/* obj_bool — a handle is always true, even with 0 slots: it stands for an
 * object, like a non-NULL pointer (`if obj:` must not depend on nslots). */
static int
obj_bool(ObjObject *self)
{
    (void)self;
    return 1;
}

/* obj_iter — iteration reads the slots one by one, live, like a list's
 * iterator (the sequence protocol over obj_item). */
static PyObject *
obj_iter(ObjObject *self)
{
    if (pytc_obj_check_usable(self) < 0)
        return NULL;
    return PySeqIter_New((PyObject *)self);
}

/* obj_hash — the hash of the id, so hash(obj) == hash(obj.id). */
static Py_hash_t
obj_hash(ObjObject *self)
{
    if (sizeof(Py_hash_t) == 8) {
        const uint64_t modulus = (UINT64_C(1) << 61) - 1; /* CPython's int hash modulus */
        Py_hash_t h = (Py_hash_t)(self->id % modulus);
        return h == -1 ? -2 : h;
    }
    PyObject *id = PyLong_FromUnsignedLongLong(self->id);
    if (id == NULL)
        return -1;
    Py_hash_t h = PyObject_Hash(id);
    Py_DECREF(id);
    return h;
}

/* obj_richcompare — equal iff the same object of the same heap. A handle
 * keeps its object alive, so two live handles with one id name one object. */
static PyObject *
obj_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !Py_IS_TYPE(b, Py_TYPE(a)))
        Py_RETURN_NOTIMPLEMENTED;
    ObjObject *x = (ObjObject *)a, *y = (ObjObject *)b;
    bool eq = x->heap == y->heap && x->id == y->id;
    return PyBool_FromLong(eq == (op == Py_EQ));
}

static PyObject *
obj_repr(ObjObject *self)
{
    return PyUnicode_FromFormat("<tricolor.Obj id=%llu nslots=%zu size=%zu>",
                                (unsigned long long)self->id, self->nslots, self->size);
}

static PyObject *
obj_get_data(ObjObject *self, void *closure)
{
    HeapObject *heap = self->heap;
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)self->size);
    if (b == NULL)
        return NULL;
    tc_status s = tc_obj_data_get(heap->heap, self->root, PyBytes_AS_STRING(b), self->size);
    if (s != TC_OK) {
        Py_DECREF(b);
        return pytc_raise_status(heap->st, s);
    }
    return b;
}

/* obj_set_data — obj.data = bytes-like of exactly obj.size bytes. */
static int
obj_set_data(ObjObject *self, PyObject *value, void *closure)
{
    HeapObject *heap = self->heap;
    Py_buffer view;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "tricolor.Obj.data cannot be deleted");
        return -1;
    }
    if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "data must be a bytes-like object, not %.100s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    tc_status s = tc_obj_data_set(heap->heap, self->root, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (s != TC_OK) {
        pytc_raise_status(heap->st, s);
        return -1;
    }
    return 0;
}

static PyObject *
obj_get_size(ObjObject *self, void *closure)
{
    if (pytc_obj_check_usable(self) < 0)
        return NULL;
    return PyLong_FromSize_t(self->size);
}

static PyObject *
obj_get_id(ObjObject *self, void *closure)
{
    return PyLong_FromUnsignedLongLong(self->id);
}

static PyObject *
obj_get_heap(ObjObject *self, void *closure)
{
    if (pytc_obj_check_usable(self) < 0)
        return NULL;
    return Py_NewRef((PyObject *)self->heap);
}

static PyGetSetDef obj_getset[] = {
    {"data", (getter)obj_get_data, (setter)obj_set_data,
     "The payload, as a new bytes copy. Assign a bytes-like object of the same length to overwrite it.",
     NULL},
    {"size", (getter)obj_get_size, NULL, "The payload size in bytes (fixed at allocation).", NULL},
    {"id", (getter)obj_get_id, NULL,
     "A stable int for the object's lifetime, unique among the live objects of its heap.", NULL},
    {"heap", (getter)obj_get_heap, NULL, "The tricolor.Heap the object belongs to.", NULL},
    {NULL},
};

PyDoc_STRVAR(obj_doc,
"A handle to an object of a tricolor.Heap (made by Heap.new or read from a slot).\n\n"
"obj[i] / obj[i] = v read and write slot i (negative i counts from the end);\n"
"len(obj) is the number of slots. Every live handle is a GC root.");

static PyType_Slot obj_slots[] = {
    {Py_tp_dealloc, obj_dealloc},
    {Py_tp_repr, obj_repr},
    {Py_tp_hash, obj_hash},
    {Py_tp_richcompare, obj_richcompare},
    {Py_tp_iter, obj_iter},
    {Py_tp_getset, obj_getset},
    {Py_tp_doc, (void *)obj_doc},
    {Py_mp_subscript, obj_subscript},
    {Py_mp_ass_subscript, obj_ass_subscript},
    {Py_mp_length, obj_length},
    {Py_sq_length, obj_length},
    {Py_sq_item, obj_item},
    {Py_nb_bool, obj_bool},
    {0, NULL},
};

static PyType_Spec obj_spec = {
    .name = "tricolor.Obj",
    .basicsize = sizeof(ObjObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = obj_slots,
};

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

/* stats_new — a Stats snapshot of `s`. */
static PyObject *
stats_new(tricolor_state *st, const tc_stats *s)
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

/* stats_type_new — the Stats type, with one getter per tc_stats_fields() entry
 * (the one list of fields, kept by the core). */
static PyTypeObject *
stats_type_new(PyObject *module, tricolor_state *st)
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
    if (gogc != NULL && tunable_arg(&tunable_gogc, gogc, &c->gogc) < 0)
        return -1;
    if (limit != NULL && tunable_arg(&tunable_memory_limit, limit, &c->memory_limit) < 0)
        return -1;
    if (workers != NULL) {
        int64_t n;
        if (int_arg(workers, "mark_workers", &n) < 0)
            return -1;
        if (n < 1 || n > INT_MAX) {
            PyErr_Format(PyExc_ValueError, "mark_workers must be >= 1, not %lld", (long long)n);
            return -1;
        }
        c->mark_workers = (int)n; /* the core checks its upper bound */
    }
    if (gctrace != NULL && flag_arg(gctrace, "gctrace", &c->gctrace) < 0)
        return -1;
    if (checkmark != NULL && flag_arg(checkmark, "checkmark", &c->checkmark) < 0)
        return -1;
    if (ring != NULL && int_arg(ring, "events_ring", &c->events_ring) < 0)
        return -1; /* the core checks the range */
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
    self->next_token = 1;
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

/* heap_check_open — HeapClosedError unless the heap is open. */
static inline int
heap_check_open(HeapObject *self)
{
    if (self->closed) {
        pytc_raise_closed(self->st);
        return -1;
    }
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
 * (the allocation may have run or finished a collection). */
static PyObject *
heap_alloc(HeapObject *self, size_t nslots, size_t size, const void *data)
{
    tc_root *root;
    tc_status s = tc_obj_new(self->heap, nslots, size, data, &root);
    heap_drain(self);
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    return pytc_safepoint(self, obj_wrap(self, root, nslots, size));
}

/* heap_new_obj — heap.new(nslots, data=None): `data` is None (no payload), an
 * int (that many zeroed bytes) or a bytes-like object (copied). */
static PyObject *
heap_new_obj(HeapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
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

/* heap_collect — a whole forced cycle (the core releases the GIL through the
 * block hooks while it waits); returns the number of objects it freed, as
 * gc.collect() returns the number of unreachable objects it found. */
static PyObject *
heap_collect(HeapObject *self, PyObject *unused)
{
    uint64_t freed = 0;
    if (heap_check_open(self) < 0)
        return NULL;
    tc_status s = tc_heap_collect_n(self->heap, &freed);
    heap_drain(self);
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    return pytc_safepoint(self, PyLong_FromUnsignedLongLong(freed));
}

static PyObject *
heap_stats(HeapObject *self, PyObject *unused)
{
    tc_stats s;
    if (heap_check_open(self) < 0)
        return NULL;
    tc_status rc = tc_heap_stats(self->heap, &s);
    heap_drain(self);
    if (rc != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, rc));
    return pytc_safepoint(self, stats_new(self->st, &s));
}

static PyObject *
heap_verify(HeapObject *self, PyObject *unused)
{
    if (heap_check_open(self) < 0)
        return NULL;
    tc_status s = tc_heap_verify(self->heap);
    heap_drain(self);
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
    if (heap_check_open(self) < 0)
        return NULL;
    tc_status s = tc_heap_scavenge(self->heap, &released);
    heap_drain(self);
    if (s != TC_OK)
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    return pytc_safepoint(self, PyLong_FromUnsignedLongLong(released));
}

/* heap_trace_start — trace_start(path): str, bytes or os.PathLike. */
static PyObject *
heap_trace_start(HeapObject *self, PyObject *path)
{
    PyObject *bytes = NULL;
    if (heap_check_open(self) < 0 || !PyUnicode_FSConverter(path, &bytes))
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
    if (heap_check_open(self) < 0)
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
    if (heap_check_open(self) < 0 || !PyUnicode_FSConverter(path, &bytes))
        return NULL;
    tc_status s = tc_record_start(self->heap, PyBytes_AS_STRING(bytes));
    Py_DECREF(bytes);
    if (s != TC_OK)
        return pytc_raise_status(self->st, s);
    Py_RETURN_NONE;
}

static PyObject *
heap_record_stop(HeapObject *self, PyObject *unused)
{
    if (heap_check_open(self) < 0)
        return NULL;
    tc_status s = tc_record_stop(self->heap);
    if (s != TC_OK)
        return pytc_raise_status(self->st, s);
    Py_RETURN_NONE;
}

/* heap_replay — _replay(path): drive this (fresh) heap with a replay log, in
 * C (replay.c); a dict of tc_replay_report. The GIL is kept: no Python code
 * runs meanwhile, except other threads while a collection waits (the lab's
 * sampler), and those do not drain the heap's callbacks (`draining`). */
static PyObject *
heap_replay(HeapObject *self, PyObject *path)
{
    PyObject *bytes = NULL;
    if (heap_check_open(self) < 0 || !PyUnicode_FSConverter(path, &bytes))
        return NULL;
    tc_replay_report r;
    /* The log's finalizers are the replay's: no safe point (another thread's
     * stats(), say) may take them from the ready queue meanwhile. */
    bool draining = self->draining;
    self->draining = true;
    tc_status s = tc_replay(self->heap, PyBytes_AS_STRING(bytes), &r);
    self->draining = draining;
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
    heap_drain(self);
    self->closed = true;
    tc_heap_close(self->heap);
    heap_clear(self); /* may run Python code (a callback's __del__): the heap is already closed */
    Py_RETURN_NONE;
}

static PyObject *
heap_enter(HeapObject *self, PyObject *unused)
{
    if (heap_check_open(self) < 0)
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
    const tunable *t = closure;
    if (heap_check_open(self) < 0)
        return NULL;
    int64_t v = t->get(self->heap);
    if (v < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(v);
}

static int
heap_set_tunable(HeapObject *self, PyObject *value, void *closure)
{
    const tunable *t = closure;
    int64_t v;
    if (value == NULL) {
        PyErr_Format(PyExc_TypeError, "%s cannot be deleted (assign None to turn it off)", t->name);
        return -1;
    }
    if (heap_check_open(self) < 0 || tunable_arg(t, value, &v) < 0)
        return -1;
    tc_status s = t->set(self->heap, v);
    heap_drain(self);
    PyObject *r = pytc_safepoint(self, s == TC_OK ? Py_NewRef(Py_None) : pytc_raise_status(self->st, s));
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

static PyObject *
heap_get_collector(HeapObject *self, void *closure)
{
    if (heap_check_open(self) < 0)
        return NULL;
    return PyUnicode_FromString(tc_collector_name(self->collector));
}

static PyObject *
heap_get_barrier(HeapObject *self, void *closure)
{
    if (heap_check_open(self) < 0)
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
     "GC target percentage (int >= 0), or None: no proportional trigger.", (void *)&tunable_gogc},
    {"memory_limit", (getter)heap_get_tunable, (setter)heap_set_tunable,
     "Soft memory limit in bytes (int > 0), or None: no limit.", (void *)&tunable_memory_limit},
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

static PyType_Spec heap_spec = {
    .name = "tricolor.Heap",
    .basicsize = sizeof(HeapObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = heap_slots,
};

/* ---- module ------------------------------------------------------------------ */

/* add_exception — create tricolor.<name>(bases), add it to the module and
 * keep a strong reference in *slot. */
static int
add_exception(PyObject *module, PyObject **slot, const char *name, const char *doc, PyObject *bases)
{
    char qualified[64];
    PyOS_snprintf(qualified, sizeof qualified, "tricolor.%s", name);
    *slot = PyErr_NewExceptionWithDoc(qualified, doc, bases, NULL);
    if (*slot == NULL)
        return -1;
    return PyModule_AddObjectRef(module, name, *slot);
}

static int
add_exceptions(PyObject *module, tricolor_state *st)
{
    if (add_exception(module, &st->heap_error, "HeapError",
                      "Base class of tricolor's own errors.", PyExc_Exception) < 0)
        return -1;
    PyObject *bases = PyTuple_Pack(2, st->heap_error, PyExc_ValueError);
    if (bases == NULL)
        return -1;
    int rc = add_exception(module, &st->cross_heap_error, "CrossHeapError",
                           "A reference to an object of another heap was stored.", bases);
    Py_DECREF(bases);
    if (rc < 0 ||
        add_exception(module, &st->heap_closed_error, "HeapClosedError",
                      "The heap (of this handle) was closed.", st->heap_error) < 0 ||
        add_exception(module, &st->freed_error, "FreedObjectError",
                      "The object was freed explicitly.", st->heap_error) < 0 ||
        add_exception(module, &st->corruption_error, "HeapCorruption",
                      "verify() or checkmark found a broken heap invariant.", st->heap_error) < 0)
        return -1;
    return 0;
}

/* add_type — create a heap type from `spec`, add it to the module, keep it. */
static int
add_type(PyObject *module, PyTypeObject **slot, PyTypeObject *type)
{
    *slot = type;
    if (type == NULL)
        return -1;
    return PyModule_AddType(module, type);
}

/* add_int64 — a module constant that may not fit in a C long. */
static int
add_int64(PyObject *module, const char *name, int64_t value)
{
    PyObject *v = PyLong_FromLongLong(value);
    int rc = v ? PyModule_AddObjectRef(module, name, v) : -1;
    Py_XDECREF(v);
    return rc;
}

static int
tricolor_exec(PyObject *module)
{
    tricolor_state *st = module_state(module);
    if (add_exceptions(module, st) < 0)
        return -1;
    status_table_init(st);
    st->str_data = PyUnicode_InternFromString("data");
    st->str_nslots = PyUnicode_InternFromString("nslots");
    if (st->str_data == NULL || st->str_nslots == NULL)
        return -1;
    if (add_type(module, &st->heap_type,
                 (PyTypeObject *)PyType_FromModuleAndSpec(module, &heap_spec, NULL)) < 0 ||
        add_type(module, &st->obj_type,
                 (PyTypeObject *)PyType_FromModuleAndSpec(module, &obj_spec, NULL)) < 0 ||
        add_type(module, &st->stats_type, stats_type_new(module, st)) < 0 ||
        add_type(module, &st->weakref_type, pytc_weakref_type_new(module)) < 0 ||
        (st->payload_type = pytc_payload_type_new(module)) == NULL || pytc_unsafe_add(module) < 0 ||
        pytc_latency_add(module) < 0)
        return -1;
    if (PyModule_AddStringConstant(module, "__version__", TC_VERSION_STRING) < 0)
        return -1;
    return add_int64(module, "INT_MIN", TC_INT_MIN) < 0 || add_int64(module, "INT_MAX", TC_INT_MAX) < 0 ? -1 : 0;
}

static int
tricolor_traverse(PyObject *module, visitproc visit, void *arg)
{
    tricolor_state *st = module_state(module);
    Py_VISIT(st->heap_type);
    Py_VISIT(st->obj_type);
    Py_VISIT(st->stats_type);
    Py_VISIT(st->weakref_type);
    Py_VISIT(st->payload_type);
    Py_VISIT(st->heap_error);
    Py_VISIT(st->cross_heap_error);
    Py_VISIT(st->heap_closed_error);
    Py_VISIT(st->freed_error);
    Py_VISIT(st->corruption_error);
    return 0;
}

static int
tricolor_clear(PyObject *module)
{
    tricolor_state *st = module_state(module);
    Py_CLEAR(st->heap_type);
    Py_CLEAR(st->obj_type);
    Py_CLEAR(st->stats_type);
    Py_CLEAR(st->weakref_type);
    Py_CLEAR(st->payload_type);
    Py_CLEAR(st->heap_error);
    Py_CLEAR(st->cross_heap_error);
    Py_CLEAR(st->heap_closed_error);
    Py_CLEAR(st->freed_error);
    Py_CLEAR(st->corruption_error);
    Py_CLEAR(st->str_data);
    Py_CLEAR(st->str_nslots);
    return 0;
}

static void
tricolor_free(void *module)
{
    tricolor_clear((PyObject *)module);
    PyMem_Free(module_state((PyObject *)module)->stats_getset);
}

static PyModuleDef_Slot tricolor_slots[] = {
    {Py_mod_exec, tricolor_exec},
    {0, NULL},
};

static struct PyModuleDef tricolor_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tricolor._tricolor",
    .m_doc = "The C extension behind the tricolor package: Heap, Obj, Stats and the errors.",
    .m_size = sizeof(tricolor_state),
    .m_slots = tricolor_slots,
    .m_traverse = tricolor_traverse,
    .m_clear = tricolor_clear,
    .m_free = tricolor_free,
};

PyMODINIT_FUNC
PyInit__tricolor(void)
{
    return PyModuleDef_Init(&tricolor_module);
}
