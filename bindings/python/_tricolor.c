/*
 * _tricolor.c — the CPython extension `tricolor._tricolor`: the module, its
 * state, the exceptions and the one table mapping each core status to one.
 * The types are in their own files (_tricolor.h lists them).
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
 *     sys.stderr (pytc_heap_drain) and then runs due finalizers and cleanups
 *     (pytc_safepoint) before it returns; bindings/common/bc_drain.h lists
 *     the calls, the same in the Lua binding.
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

static inline tricolor_state *
module_state(PyObject *module)
{
    return (tricolor_state *)PyModule_GetState(module);
}

/* ---- errors ------------------------------------------------------------------ */

/* status_table_init — the one table mapping each tc_status to the exception
 * SPEC names for it, keyed by the core's error kind (tc_status_kind: the
 * core's one table of kinds), so a status the core adds maps to its kind's
 * exception, or HeapError. Run at module exec, after the classes exist. */
static void
status_table_init(tricolor_state *st)
{
    const struct {
        const char *kind;
        PyObject *exc;
    } map[] = {
        {"type", PyExc_TypeError},        {"index", PyExc_IndexError},
        {"overflow", PyExc_OverflowError}, {"cross_heap", st->cross_heap_error},
        {"value", PyExc_ValueError},      {"memory", PyExc_MemoryError},
        {"closed", st->heap_closed_error}, {"freed", st->freed_error},
        {"corruption", st->corruption_error}, {"unsupported", PyExc_ValueError},
        {"io", PyExc_OSError},            {"state", st->heap_error},
    };
    for (int i = 0; i < TC_STATUS_COUNT; i++) {
        const char *kind = tc_status_kind((tc_status)i);
        st->status_exc[i] = st->heap_error;
        for (size_t j = 0; j < sizeof map / sizeof map[0]; j++)
            if (strcmp(kind, map[j].kind) == 0)
                st->status_exc[i] = map[j].exc;
    }
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
    PyErr_SetString(st->heap_closed_error, bc_use_msg(BC_HEAP_CLOSED));
    return NULL;
}

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
                 (PyTypeObject *)PyType_FromModuleAndSpec(module, &pytc_heap_spec, NULL)) < 0 ||
        add_type(module, &st->obj_type, (PyTypeObject *)PyType_FromModuleAndSpec(module, &pytc_obj_spec, NULL)) < 0 ||
        add_type(module, &st->stats_type, pytc_stats_type_new(module, st)) < 0 ||
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
    /* the type reference each handle on the free list keeps (_tricolor.h):
     * the module owns them; unvisited, they would make the module and its
     * types look referenced from outside, a cycle never collected. At most
     * PYTC_OBJ_FREE_MAX. */
    for (ObjObject *o = st->obj_free; o != NULL; o = (ObjObject *)o->heap)
        Py_VISIT(Py_TYPE(o));
    return 0;
}

static int
tricolor_clear(PyObject *module)
{
    tricolor_state *st = module_state(module);
    Py_CLEAR(st->heap_type);
    st->nobj_free = PYTC_OBJ_FREE_MAX; /* first: obj_dealloc's fast path sees the list full */
    Py_CLEAR(st->obj_type);            /* and then: a handle dropped from now on is freed, not kept */
    pytc_obj_free_list_clear(st);
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
