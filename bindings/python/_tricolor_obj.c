/*
 * _tricolor_obj.c — tricolor.Obj, the handle type of the extension
 * `tricolor._tricolor`: slot values to and from Python, slot load and store
 * (the hot paths), len / iter / hash / == / repr, data, size, id, heap.
 *
 * An Obj owns one tc_root (tc_root_release in dealloc) and a strong
 * reference to its Heap, and caches its object's id, nslots and size (see
 * _tricolor.c for why it is not a GC type). pytc_obj_new, the constructor
 * heap.new() uses, is inline in _tricolor.h.
 *
 * Invariants: a handle reads its root only while its heap is open
 * (HeapObject.closed, checked first); a slot read without a heap call
 * (obj_load's fast path) is safe for the reasons given there.
 */
#include "_tricolor.h"

/* ---- values ---------------------------------------------------------------- */

/* int_value — a Python int as a slot value. Ints that do not fit in 64 bits
 * are refused here; the core refuses the rest of [-2^62, 2^62)'s outside. */
static int
int_value(PyObject *v, tc_value *out)
{
    long small;
    if (pytc_small_int(v, &small)) {
        *out = tc_int((int64_t)small);
        return 0;
    }
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

/* pytc_obj_wrap — pytc_obj_new for a root whose object's sizes the caller does
 * not know (a finalizer's object, a weak reference's target, a slot's
 * reference). A root of a freed object (a reference the caller's bug left
 * to it) has no shape left: 0 and 0, and every use raises FreedObjectError. */
static inline __attribute__((always_inline)) PyObject *
obj_wrap(HeapObject *heap, tc_root *root)
{
    size_t nslots, size;
    (void)tc_root_shape(root, &nslots, &size); /* in line: no call to the core */
    return pytc_obj_new(heap, root, nslots, size);
}

PyObject *
pytc_obj_wrap(HeapObject *heap, tc_root *root)
{
    return obj_wrap(heap, root);
}

/* obj_keep — put a dead handle's memory on the free list (tricolor_state.obj_free). */
static inline void
obj_keep(tricolor_state *st, ObjObject *self)
{
    self->heap = (HeapObject *)st->obj_free;
    st->obj_free = self;
    st->nobj_free++;
}

/* obj_dealloc_slow — obj_dealloc but for its fast path: the root goes first,
 * before a Py_DECREF that may deallocate the heap (and close it). A handle
 * kept keeps its type reference (tricolor_state.obj_free). */
static __attribute__((noinline)) void
obj_dealloc_slow(ObjObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    HeapObject *heap = self->heap;
    tricolor_state *st = heap->st;
    tc_root_release(heap->heap, self->root);
    if (st->nobj_free < PYTC_OBJ_FREE_MAX && st->obj_type == tp) { /* the list has room, the module is not cleared */
        obj_keep(st, self);
        Py_DECREF(heap);
        return;
    }
    PyObject_Free(self);
    Py_DECREF(heap);
    Py_DECREF(tp);
}

/* obj_dealloc_full_list — obj_dealloc's end when its root filled the list:
 * the list is released while our reference keeps the heap (the core call
 * may wait for a pause with the GIL given up, and another thread drop the
 * heap's other references meanwhile), and dropped after, which may free
 * the heap. */
static __attribute__((noinline)) void
obj_dealloc_full_list(HeapObject *heap)
{
    pytc_heap_release_dropped_slow(heap);
    Py_DECREF(heap);
}

/* obj_dealloc — dropping the last reference drops the root: held back on
 * the heap's list (HeapObject.dropped), released with the others in one
 * heap call when the list fills or before the next call that must see it
 * dropped (pytc_heap_release_dropped). Holding a root back is what keeping
 * the handle a little longer would do: the object stays alive, and no
 * collector sees a difference. Obj is a heap type: it owns a reference to
 * its type, which a handle on the free list keeps (no decrement here, no
 * increment when pytc_obj_new takes it back). The memory goes on the free
 * list while it has room (a cleared module's list stays full: m_clear).
 * The fast path, that and the heap referenced elsewhere too
 * (dropping our reference runs nothing: a plain decrement, no branch to a
 * deallocation), calls the core only when the list fills (a tail call to
 * obj_dealloc_full_list);
 * the rest is obj_dealloc_slow, which releases the root itself. A closed
 * heap's list is released as a no-op (tc_root_release_n). */
static void
obj_dealloc(ObjObject *self)
{
    HeapObject *heap = self->heap;
    tricolor_state *st = heap->st;
    if (__builtin_expect(st->nobj_free >= PYTC_OBJ_FREE_MAX || Py_REFCNT(heap) <= 1, 0)) { /* full or cleared */
        obj_dealloc_slow(self);
        return;
    }
    int n = heap->ndropped;
    heap->dropped[n] = self->root;
    heap->ndropped = n + 1;
    obj_keep(st, self);
    if (__builtin_expect(n + 1 == PYTC_DROPPED_MAX, 0)) {
        obj_dealloc_full_list(heap);
        return;
    }
    pytc_decref_not_last((PyObject *)heap); /* tested above */
}

/* release_dropped_batch — pytc_heap_release_dropped_slow for n > 1 roots:
 * copied off the list first, which is empty already (see there). */
static __attribute__((noinline)) void
release_dropped_batch(HeapObject *heap, size_t n)
{
    tc_root *batch[PYTC_DROPPED_MAX];
    memcpy(batch, heap->dropped, n * sizeof batch[0]);
    tc_root_release_n(heap->heap, batch, n);
}

/* pytc_heap_release_dropped_slow — release HeapObject.dropped. The list is
 * emptied before the core call: a call that waits for a pause gives the GIL
 * up (the block hooks), and another thread may drop handles onto the list
 * meanwhile (the core runs no Python code itself). One root, heap.new's
 * case (each new handle dropped before the next is made), is a tail call to
 * tc_root_release's fast path, cheaper than a batch of one. */
void
pytc_heap_release_dropped_slow(HeapObject *heap)
{
    size_t n = (size_t)heap->ndropped;
    heap->ndropped = 0;
    if (n == 1)
        tc_root_release(heap->heap, heap->dropped[0]);
    else
        release_dropped_batch(heap, n);
}

/* pytc_obj_free_list_clear — free the kept handles and their type
 * references (module clear). */
void
pytc_obj_free_list_clear(tricolor_state *st)
{
    while (st->obj_free != NULL) {
        ObjObject *o = st->obj_free;
        PyTypeObject *tp = Py_TYPE(o);
        st->obj_free = (ObjObject *)o->heap;
        PyObject_Free(o);
        Py_DECREF(tp);
    }
}

/* pytc_obj_check_usable — for the calls that answer from the handle's cache
 * (len, size, heap, iter): HeapClosedError on a closed heap, FreedObjectError
 * for a freed object (bc_use_msg: the same words as the Lua binding). */
int
pytc_obj_check_usable(ObjObject *self)
{
    bc_use u = bc_obj_use(!self->heap->closed, self->root);
    if (u == BC_USABLE)
        return 0;
    PyErr_SetString(u == BC_HEAP_CLOSED ? self->heap->st->heap_closed_error : self->heap->st->freed_error,
                    bc_use_msg(u));
    return -1;
}

/* obj_index_slow — obj_index for a key that is not a one-digit int. */
static int
obj_index_slow(ObjObject *self, PyObject *key, int64_t *out)
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

/* obj_index — a subscript as a slot index, negative ones counted from the
 * end like a list's. The core checks the range (after normalisation). A
 * one-digit int (the common key) is read in place, inline. */
/* obj_small_index — a one-digit int subscript as a slot index, negative
 * ones counted from the end like a list's (the core checks the range). */
static inline int64_t
obj_small_index(const ObjObject *self, long k)
{
    return k < 0 ? (int64_t)k + (int64_t)self->nslots : (int64_t)k;
}

static inline int
obj_index(ObjObject *self, PyObject *key, int64_t *out)
{
    long k;
    if (!pytc_small_int(key, &k))
        return obj_index_slow(self, key, out);
    *out = obj_small_index(self, k);
    return 0;
}

/* obj_load — read slot i (already normalised). The heap is checked open
 * here, first (the handle's root may not be read after close); then
 * tc_slot_get_owned, whose promise the GIL keeps: no other Python thread
 * stores into the object while we hold it, and no store releases it; and
 * every slot store, allocation and root release of this binding (obj_dealloc,
 * the weak-reference and finalizer roots) runs with the GIL held, as does
 * close's first step (HeapObject.closed). A slot that holds no reference is
 * read with no heap call, and a reference is rooted with none (unless a
 * mark is running) and becomes a new handle (obj_wrap); a freed object
 * (unsafe.free), a bad index and every other error come back as a status. */
static inline __attribute__((always_inline)) PyObject *
obj_load(ObjObject *self, int64_t i)
{
    HeapObject *heap = self->heap;
    if (__builtin_expect(heap->closed, 0))
        return pytc_raise_closed(heap->st);
    tc_value v;
    tc_root *ref_root;
    tc_status s = tc_slot_get_owned(heap->heap, self->root, i, &v, &ref_root);
    if (__builtin_expect(s != TC_OK, 0))
        return pytc_raise_status(heap->st, s);
    if (v.kind == TC_INT)
        return PyLong_FromLongLong(v.u.i);
    if (v.kind == TC_REF && ref_root != NULL)
        return obj_wrap(heap, ref_root); /* in line: the handle from the free list, no call */
    return value_to_py(heap, v, ref_root);
}

/* obj_subscript_slow — obj_subscript for a key that is not a one-digit int. */
static __attribute__((noinline)) PyObject *
obj_subscript_slow(ObjObject *self, PyObject *key)
{
    int64_t i;
    if (obj_index_slow(self, key, &i) < 0)
        return NULL;
    return obj_load(self, i);
}

/* obj_subscript — obj[key]. A one-digit int key (pytc_small_int) stays in a
 * register: the other keys, which obj_index_slow returns through memory,
 * are obj_subscript_slow's. */
static PyObject *
obj_subscript(ObjObject *self, PyObject *key)
{
    long k;
    if (__builtin_expect(!pytc_small_int(key, &k), 0))
        return obj_subscript_slow(self, key);
    return obj_load(self, obj_small_index(self, k));
}

static PyObject *
obj_item(ObjObject *self, Py_ssize_t i)
{
    return obj_load(self, (int64_t)i);
}

/* obj_store_failed — raise for the status s of a store; -1. */
static __attribute__((noinline)) int
obj_store_failed(ObjObject *self, tc_status s)
{
    pytc_raise_status(self->heap->st, s);
    return -1;
}

/* obj_ass_subscript_slow — obj_ass_subscript but for its fast path. Deleting
 * a slot is refused: slots are fixed (assign None to clear one). */
static __attribute__((noinline)) int
obj_ass_subscript_slow(ObjObject *self, PyObject *key, PyObject *value)
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
    if (pytc_heap_check_open(heap) < 0) /* explicit: the root is not read after close */
        return -1;
    tc_status s = tc_slot_set(heap->heap, self->root, i, v);
    return s == TC_OK ? 0 : obj_store_failed(self, s);
}

/* obj_ass_subscript — obj[i] = v. The fast paths, a one-digit int index
 * (pytc_small_int), the heap open (checked first: a closed heap's handle
 * table may be gone) and a one-digit int or a handle of this heap, keep no
 * frame: the rest is in obj_ass_subscript_slow, the errors in
 * obj_store_failed. */
static int
obj_ass_subscript(ObjObject *self, PyObject *key, PyObject *value)
{
    long k, x;
    if (__builtin_expect(value == NULL || !pytc_small_int(key, &k), 0))
        return obj_ass_subscript_slow(self, key, value);
    int64_t i = obj_small_index(self, k);
    HeapObject *heap = self->heap;
    tc_status s;
    if (__builtin_expect(heap->closed, 0)) /* before the root is read: the table may be gone */
        return obj_ass_subscript_slow(self, key, value);
    if (pytc_small_int(value, &x))
        s = tc_slot_set_owned(heap->heap, self->root, i, tc_int((int64_t)x)); /* the GIL: obj_load */
    else if (Py_IS_TYPE(value, heap->st->obj_type) && ((ObjObject *)value)->heap == heap)
        s = tc_slot_set_root(heap->heap, self->root, i, ((ObjObject *)value)->root); /* open: its root is live */
    else
        return obj_ass_subscript_slow(self, key, value);
    return __builtin_expect(s == TC_OK, 1) ? 0 : obj_store_failed(self, s);
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

PyType_Spec pytc_obj_spec = {
    .name = "tricolor.Obj",
    .basicsize = sizeof(ObjObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = obj_slots,
};
