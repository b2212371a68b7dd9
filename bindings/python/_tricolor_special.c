/*
 * _tricolor_special.c — finalizers, cleanups, weak references and
 * tricolor.unsafe for the extension `tricolor._tricolor` (the core's
 * special.c, seen from Python).
 *
 * Callbacks. The core never calls Python: it keeps a token per finalizer or
 * cleanup and hands the token back when the callback is due (tc_take_ready).
 * The Heap keeps the Python side in its `callbacks` dict, keyed by token:
 *
 *     token -> (id, fn)        a finalizer of the object with that id
 *     token -> (id, fn, arg)   a cleanup
 *
 * Tokens come from bindings/common (bc_token_next: never 0, never reused).
 * An entry is removed when its callback runs, when set_finalizer replaces or
 * clears it, when unsafe.free frees its object (the core hands back that
 * finalizer's token: tc_obj_free_token), and all of them when the heap closes.
 *
 * Where callbacks run: at safe points on the calling Python thread, never on
 * the collector's thread. A safe point is the end of every Heap call that may
 * run or finish a collection (new, collect, stats, verify, scavenge, the
 * tunable setters, set_finalizer, add_cleanup, weakref, WeakRef.get,
 * unsafe.free) and run_finalizers(). The loop and the rule that one thread
 * at a time drains a heap are bindings/common/bc_drain.c's, shared with the
 * Lua binding: a safe point reached from inside a callback —
 * heap.collect() in a finalizer, say — does not drain again, and the outer
 * loop picks up what that collection made due. A callback that closes the
 * heap ends the loop (take_ready on a closed heap has nothing). An exception
 * from a callback goes to sys.unraisablehook and the loop goes on; an
 * exception already set by the call that reached the safe point is kept.
 *
 * A finalizer's object comes with a root that keeps it (and everything it
 * references) alive; it becomes the Obj passed to fn, so if fn stores that
 * Obj (or a reference to the object in a reachable slot) the object lives on.
 *
 * Weak references. A WeakRef owns one tc_weak and a strong reference to its
 * Heap (so the tc_heap shell outlives the tc_weak, which tc_weak_release
 * frees also after close). It holds no Python object that could refer back
 * to it, other than through the Heap's callbacks: it is a GC type that only
 * visits the Heap, and the Heap's tp_clear breaks such a cycle.
 *
 * unsafe.buffer. A memoryview over a _Payload exporter, which holds the Obj
 * (so the object stays rooted while the view exists) and pins the object for
 * each buffer it exports (tc_obj_pin in getbuffer, tc_obj_unpin in
 * releasebuffer), so tc_obj_free is refused meanwhile; HeapObject.exports
 * counts them so close() can refuse too.
 */
#include "_tricolor.h"

/* ---- arguments ----------------------------------------------------------------- */

/* obj_arg — `v` as a handle of `heap`: TypeError if it is no Obj,
 * CrossHeapError if it is one of another heap. `what` names the call. */
static ObjObject *
obj_arg(HeapObject *heap, PyObject *v, const char *what)
{
    if (!Py_IS_TYPE(v, heap->st->obj_type)) {
        PyErr_Format(PyExc_TypeError, "%s: obj must be a tricolor.Obj, not %.100s", what, Py_TYPE(v)->tp_name);
        return NULL;
    }
    if (((ObjObject *)v)->heap != heap) {
        PyErr_Format(heap->st->cross_heap_error, "%s: the object belongs to another heap", what);
        return NULL;
    }
    return (ObjObject *)v;
}

ObjObject *
pytc_obj_arg(HeapObject *heap, PyObject *v, const char *what)
{
    return obj_arg(heap, v, what);
}

/* any_obj_arg — `v` as a handle of any heap of this module (tricolor.unsafe). */
static ObjObject *
any_obj_arg(tricolor_state *st, PyObject *v, const char *what)
{
    if (!Py_IS_TYPE(v, st->obj_type)) {
        PyErr_Format(PyExc_TypeError, "%s: obj must be a tricolor.Obj, not %.100s", what, Py_TYPE(v)->tp_name);
        return NULL;
    }
    return (ObjObject *)v;
}

static int
check_args(const char *what, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs == want)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", what, want, nargs);
    return -1;
}

static int
heap_open(HeapObject *heap)
{
    return pytc_heap_check_open(heap);
}

/* ---- the callback registry --------------------------------------------------- */

/* callback_put — store `entry` under a new token and return the token (0 with
 * an exception set if the dict cannot grow). */
static tc_token
callback_put(HeapObject *heap, PyObject *entry)
{
    tc_token token = bc_token_next(&heap->cb);
    PyObject *key = PyLong_FromUnsignedLongLong(token);
    int rc = key ? PyDict_SetItem(heap->callbacks, key, entry) : -1;
    Py_XDECREF(key);
    return rc < 0 ? 0 : token;
}

/* callback_pop — remove and return the entry of `token` (a new reference), or
 * NULL (without an exception) if there is none. Never fails otherwise: an
 * error is reported as unraisable. */
static PyObject *
callback_pop(HeapObject *heap, tc_token token)
{
    PyObject *key = PyLong_FromUnsignedLongLong(token), *entry = NULL;
    if (key != NULL && heap->callbacks != NULL) {
        entry = PyDict_GetItemWithError(heap->callbacks, key);
        Py_XINCREF(entry);
        if (entry != NULL && PyDict_DelItem(heap->callbacks, key) < 0)
            Py_CLEAR(entry);
    }
    Py_XDECREF(key);
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(NULL);
    return entry;
}

/* callback_call — call fn(arg); an exception goes to sys.unraisablehook. */
static void
callback_call(PyObject *fn, PyObject *arg)
{
    PyObject *r = PyObject_CallOneArg(fn, arg);
    if (r == NULL)
        PyErr_WriteUnraisable(fn);
    Py_XDECREF(r);
}

/* run_one — run the callback of `token` (kind k); `root` is the finalizer's
 * object, which becomes the Obj passed to it. */
static void
run_one(HeapObject *heap, tc_ready_kind k, tc_token token, tc_root *root)
{
    PyObject *entry = callback_pop(heap, token);
    Py_ssize_t want = k == TC_READY_FINALIZER ? 2 : 3;
    if (entry == NULL || PyTuple_GET_SIZE(entry) != want) { /* cannot happen: tokens are unique */
        if (root != NULL)
            tc_root_release(heap->heap, root);
        Py_XDECREF(entry);
        return;
    }
    PyObject *fn = PyTuple_GET_ITEM(entry, 1);
    if (k == TC_READY_FINALIZER) {
        PyObject *obj = pytc_obj_wrap(heap, root); /* releases root on failure */
        if (obj == NULL)
            PyErr_WriteUnraisable(fn);
        else
            callback_call(fn, obj);
        Py_XDECREF(obj);
    } else {
        if (root != NULL)
            tc_root_release(heap->heap, root);
        callback_call(fn, PyTuple_GET_ITEM(entry, 2));
    }
    Py_DECREF(entry);
}

/* The drain loop's host steps (bc_drain_ops); `ud` is the HeapObject. */
static tc_heap *
drain_heap(void *ud)
{
    HeapObject *heap = ud;
    return heap->closed ? NULL : heap->heap;
}

static void
drain_run(void *ud, tc_ready_kind k, tc_token token, tc_root *root)
{
    run_one(ud, k, token, root);
}

static void
drain_forget(void *ud, tc_token token)
{
    Py_XDECREF(callback_pop(ud, token));
}

static const bc_drain_ops drain_ops = {drain_heap, NULL, drain_run, drain_forget};

/* run_ready — drain the heap's due callbacks on this thread; how many ran.
 * A no-op while another drain of this heap runs (on this thread: a nested
 * safe point; on another: it will see what is left). */
static Py_ssize_t
run_ready(HeapObject *heap)
{
    if (heap->closed || !bc_drain_enter(&heap->cb))
        return 0;
    Py_INCREF(heap); /* a callback may drop the caller's last reference */
    size_t n = bc_drain_loop(&drain_ops, heap);
    bc_drain_leave(&heap->cb);
    Py_DECREF(heap);
    return (Py_ssize_t)n;
}

PyObject *
pytc_safepoint_slow(HeapObject *heap, PyObject *result)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
    run_ready(heap);
    PyErr_SetRaisedException(exc);
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    run_ready(heap);
    PyErr_Restore(type, value, tb);
#endif
    return result;
}

/* ---- Heap methods ------------------------------------------------------------- */

/* pytc_heap_set_finalizer — set_finalizer(obj, fn): fn(obj) runs once after
 * obj became unreachable. fn=None clears; a second call replaces. */
PyObject *
pytc_heap_set_finalizer(HeapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ObjObject *o;
    if (check_args("set_finalizer", nargs, 2) < 0 || heap_open(self) < 0 ||
        (o = obj_arg(self, args[0], "set_finalizer")) == NULL)
        return NULL;
    PyObject *fn = args[1];
    if (fn != Py_None && !PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "set_finalizer: fn must be callable or None, not %.100s",
                     Py_TYPE(fn)->tp_name);
        return NULL;
    }
    tc_token token = 0, old = 0;
    if (fn != Py_None) {
        PyObject *entry = Py_BuildValue("(KO)", (unsigned long long)o->id, fn);
        token = entry ? callback_put(self, entry) : 0;
        Py_XDECREF(entry);
        if (token == 0)
            return NULL;
    }
    tc_status s = tc_set_finalizer(self->heap, o->root, token, &old);
    if (s != TC_OK) {
        Py_XDECREF(token ? callback_pop(self, token) : NULL);
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    }
    if (old != 0)
        Py_XDECREF(callback_pop(self, old));
    return pytc_safepoint(self, Py_NewRef(Py_None));
}

/* pytc_heap_add_cleanup — add_cleanup(obj, fn, arg): fn(arg) runs once after
 * obj was reclaimed. arg must not be obj itself: the registry would keep obj
 * alive and the cleanup would never run (Go's AddCleanup panics likewise). */
PyObject *
pytc_heap_add_cleanup(HeapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ObjObject *o;
    if (check_args("add_cleanup", nargs, 3) < 0 || heap_open(self) < 0 ||
        (o = obj_arg(self, args[0], "add_cleanup")) == NULL)
        return NULL;
    PyObject *fn = args[1], *arg = args[2];
    if (!PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "add_cleanup: fn must be callable, not %.100s", Py_TYPE(fn)->tp_name);
        return NULL;
    }
    if (Py_IS_TYPE(arg, self->st->obj_type) && ((ObjObject *)arg)->heap == self && ((ObjObject *)arg)->id == o->id) {
        PyErr_SetString(PyExc_ValueError,
                        "add_cleanup: arg must not be obj itself (it would keep obj alive: the cleanup would never run)");
        return NULL;
    }
    PyObject *entry = Py_BuildValue("(KOO)", (unsigned long long)o->id, fn, arg);
    tc_token token = entry ? callback_put(self, entry) : 0;
    Py_XDECREF(entry);
    if (token == 0)
        return NULL;
    tc_status s = tc_add_cleanup(self->heap, o->root, token);
    if (s != TC_OK) {
        Py_XDECREF(callback_pop(self, token));
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    }
    return pytc_safepoint(self, Py_NewRef(Py_None));
}

/* pytc_heap_run_finalizers — run_finalizers(): drain now; the number of
 * callbacks run (0 when called from inside one). */
PyObject *
pytc_heap_run_finalizers(HeapObject *self, PyObject *unused)
{
    (void)unused;
    if (heap_open(self) < 0)
        return NULL;
    return PyLong_FromSsize_t(run_ready(self));
}

/* ---- WeakRef -------------------------------------------------------------------- */

typedef struct WeakRefObject {
    PyObject_HEAD
    HeapObject *heap; /* strong reference: the tc_heap shell must outlive `weak` */
    tc_weak *weak;    /* owned: tc_weak_release in dealloc (also after close) */
    uint64_t id;      /* the target's id, for repr */
} WeakRefObject;

/* pytc_heap_weakref — weakref(obj): a WeakRef to obj. */
PyObject *
pytc_heap_weakref(HeapObject *self, PyObject *arg)
{
    ObjObject *o;
    if (heap_open(self) < 0 || (o = obj_arg(self, arg, "weakref")) == NULL)
        return NULL;
    WeakRefObject *w = PyObject_GC_New(WeakRefObject, self->st->weakref_type);
    if (w == NULL)
        return NULL;
    w->heap = (HeapObject *)Py_NewRef((PyObject *)self);
    w->weak = NULL;
    w->id = o->id;
    PyObject_GC_Track(w);
    tc_status s = tc_weak_new(self->heap, o->root, &w->weak);
    if (s != TC_OK) {
        Py_DECREF(w);
        return pytc_safepoint(self, pytc_raise_status(self->st, s));
    }
    return pytc_safepoint(self, (PyObject *)w);
}

static void
weakref_dealloc(WeakRefObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weak != NULL)
        tc_weak_release(self->heap->heap, self->weak);
    Py_DECREF(self->heap);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}

static int
weakref_traverse(WeakRefObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->heap);
    return 0;
}

/* weakref_get — get(): a new Obj for the target, or None once it was
 * reclaimed (the core shades it during mark). HeapClosedError after close. */
static PyObject *
weakref_get(WeakRefObject *self, PyObject *unused)
{
    (void)unused;
    HeapObject *heap = self->heap;
    tc_root *root = NULL;
    if (heap_open(heap) < 0)
        return NULL;
    pytc_heap_release_dropped(heap);
    tc_status s = tc_weak_get(heap->heap, self->weak, &root);
    if (s != TC_OK)
        return pytc_safepoint(heap, pytc_raise_status(heap->st, s));
    return pytc_safepoint(heap, root ? pytc_obj_wrap(heap, root) : Py_NewRef(Py_None));
}

static PyObject *
weakref_repr(WeakRefObject *self)
{
    return PyUnicode_FromFormat("<tricolor.WeakRef to id=%llu>", (unsigned long long)self->id);
}

static PyMethodDef weakref_methods[] = {
    {"get", (PyCFunction)weakref_get, METH_NOARGS,
     "get($self, /)\n--\n\nThe target as a new Obj, or None once it was reclaimed."},
    {NULL},
};

PyDoc_STRVAR(weakref_doc,
"A weak reference to an object of a tricolor.Heap, made by Heap.weakref(obj).\n\n"
"It does not keep the object alive; get() returns it, or None once the collector\n"
"found it unreachable (also if a finalizer resurrected it).");

PyTypeObject *
pytc_weakref_type_new(PyObject *module)
{
    PyType_Slot slots[] = {
        {Py_tp_dealloc, weakref_dealloc},
        {Py_tp_traverse, weakref_traverse},
        {Py_tp_repr, weakref_repr},
        {Py_tp_methods, weakref_methods},
        {Py_tp_doc, (void *)weakref_doc},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = "tricolor.WeakRef",
        .basicsize = sizeof(WeakRefObject),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION |
                 Py_TPFLAGS_HAVE_GC,
        .slots = slots,
    };
    return (PyTypeObject *)PyType_FromModuleAndSpec(module, &spec, NULL);
}

/* ---- unsafe.buffer: the payload exporter -------------------------------------- */

typedef struct PayloadObject {
    PyObject_HEAD
    ObjObject *obj; /* strong reference: roots the object while a view exists */
} PayloadObject;

static void
payload_dealloc(PayloadObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_DECREF(self->obj);
    PyObject_Free(self);
    Py_DECREF(tp);
}

/* payload_getbuffer — a writable byte buffer on the payload, pinned (so
 * unsafe.free is refused) until payload_releasebuffer. */
static int
payload_getbuffer(PayloadObject *self, Py_buffer *view, int flags)
{
    ObjObject *o = self->obj;
    HeapObject *heap = o->heap;
    void *ptr = NULL;
    size_t size = 0;
    if (pytc_obj_check_usable(o) < 0)
        return -1;
    tc_status s = tc_obj_pin(heap->heap, o->root);
    if (s == TC_OK && (s = tc_obj_payload(heap->heap, o->root, &ptr, &size)) != TC_OK)
        tc_obj_unpin(heap->heap, o->root);
    if (s != TC_OK) {
        pytc_raise_status(heap->st, s);
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, ptr, (Py_ssize_t)size, 0, flags) < 0) {
        tc_obj_unpin(heap->heap, o->root);
        return -1;
    }
    heap->exports++;
    return 0;
}

static void
payload_releasebuffer(PayloadObject *self, Py_buffer *view)
{
    (void)view;
    HeapObject *heap = self->obj->heap;
    heap->exports--;
    tc_obj_unpin(heap->heap, self->obj->root); /* the heap is open: close() waits for exports */
}

PyTypeObject *
pytc_payload_type_new(PyObject *module)
{
    PyType_Slot slots[] = {
        {Py_tp_dealloc, payload_dealloc},
        {Py_bf_getbuffer, payload_getbuffer},
        {Py_bf_releasebuffer, payload_releasebuffer},
        {Py_tp_doc, (void *)"The exporter behind tricolor.unsafe.buffer(obj): holds obj, pins it per view."},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = "tricolor._Payload",
        .basicsize = sizeof(PayloadObject),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
        .slots = slots,
    };
    return (PyTypeObject *)PyType_FromModuleAndSpec(module, &spec, NULL);
}

/* ---- tricolor.unsafe ---------------------------------------------------------------- */

static tricolor_state *
unsafe_state(PyObject *module)
{
    return (tricolor_state *)PyModule_GetState(module);
}

/* unsafe_address — address(obj): the object's address as an int. */
static PyObject *
unsafe_address(PyObject *module, PyObject *arg)
{
    ObjObject *o = any_obj_arg(unsafe_state(module), arg, "address");
    if (o == NULL || pytc_obj_check_usable(o) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong((unsigned long long)tc_obj_address(tc_root_obj(o->root)));
}

/* unsafe_buffer — buffer(obj): a writable memoryview on obj's payload. */
static PyObject *
unsafe_buffer(PyObject *module, PyObject *arg)
{
    tricolor_state *st = unsafe_state(module);
    ObjObject *o = any_obj_arg(st, arg, "buffer");
    if (o == NULL || pytc_obj_check_usable(o) < 0)
        return NULL;
    PayloadObject *p = PyObject_New(PayloadObject, st->payload_type);
    if (p == NULL)
        return NULL;
    p->obj = (ObjObject *)Py_NewRef((PyObject *)o);
    PyObject *view = PyMemoryView_FromObject((PyObject *)p);
    Py_DECREF(p);
    return view;
}

/* unsafe_free — free(obj): free the object now. Refused (BufferError) while
 * an unsafe.buffer view of it exists. The core hands back the token of the
 * finalizer it dropped (there is no object left to pass), whose entry goes:
 * one dict deletion, and nothing is forgotten when the free is refused. The
 * object's cleanups need nothing here: the core queued them, and the safe
 * point at the end of free() runs them. */
static PyObject *
unsafe_free(PyObject *module, PyObject *arg)
{
    ObjObject *o = any_obj_arg(unsafe_state(module), arg, "free");
    if (o == NULL || heap_open(o->heap) < 0)
        return NULL;
    HeapObject *heap = o->heap; /* kept alive by o, which the caller holds */
    tc_token finalizer = 0;
    tc_status s = tc_obj_free_token(heap->heap, o->root, &finalizer);
    if (s == TC_ERR_STATE) {
        PyErr_SetString(PyExc_BufferError, tc_errmsg());
        return NULL;
    }
    if (s != TC_OK)
        return pytc_safepoint(heap, pytc_raise_status(heap->st, s));
    if (finalizer != 0)
        Py_XDECREF(callback_pop(heap, finalizer));
    return pytc_safepoint(heap, Py_NewRef(Py_None));
}

static PyMethodDef unsafe_methods[] = {
    {"address", (PyCFunction)unsafe_address, METH_O,
     "address(obj, /)\n--\n\nThe object's address in memory, as an int."},
    {"buffer", (PyCFunction)unsafe_buffer, METH_O,
     "buffer(obj, /)\n--\n\nA writable memoryview on obj's payload; obj stays alive and cannot be\n"
     "freed while the view exists (release it, or use it in a with block)."},
    {"free", (PyCFunction)unsafe_free, METH_O,
     "free(obj, /)\n--\n\nFree the object now. Every handle to it then raises FreedObjectError;\n"
     "references to it from other objects are the caller's bug (heap.verify() reports them)."},
};

int
pytc_unsafe_add(PyObject *module)
{
    static const char *const names[] = {"_unsafe_address", "_unsafe_buffer", "_unsafe_free"};
    PyObject *modname = PyUnicode_FromString("tricolor.unsafe");
    if (modname == NULL)
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        PyObject *f = PyCFunction_NewEx(&unsafe_methods[i], module, modname);
        int rc = f ? PyModule_AddObjectRef(module, names[i], f) : -1;
        Py_XDECREF(f);
        if (rc < 0) {
            Py_DECREF(modname);
            return -1;
        }
    }
    Py_DECREF(modname);
    return 0;
}
