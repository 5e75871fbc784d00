/*
 * omd._frames: the frame table of a batch of events, so the C matcher reads frames where they
 * are instead of a joined copy (see omd/filters/_native.py, MatcherBank.match_pairs).
 *
 * table(events) takes a tuple of (topic, data) tuples of bytes and returns a bytes object of
 * 2 * len(events) omf_frame entries (matcher.h): pointer and length of topic 0, data 0,
 * topic 1, data 1...  The pointers are valid while `events` is alive: the tuple and the bytes
 * are immutable, so holding `events` for the duration of the match call is enough, with or
 * without the GIL.  Any other shape returns None and the caller normalizes the batch first.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "matcher.h"

static PyObject *table(PyObject *module, PyObject *events) {
    (void)module;
    if (!PyTuple_CheckExact(events)) Py_RETURN_NONE;
    Py_ssize_t n = PyTuple_GET_SIZE(events);
    if (n > PY_SSIZE_T_MAX / (Py_ssize_t)(2 * sizeof(omf_frame))) return PyErr_NoMemory();
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)(2 * sizeof(omf_frame)));
    if (!out) return NULL;
    omf_frame *f = (omf_frame *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ev = PyTuple_GET_ITEM(events, i);
        if (!PyTuple_CheckExact(ev) || PyTuple_GET_SIZE(ev) != 2) goto other;
        PyObject *t = PyTuple_GET_ITEM(ev, 0), *d = PyTuple_GET_ITEM(ev, 1);
        if (!PyBytes_CheckExact(t) || !PyBytes_CheckExact(d)) goto other;
        f[2 * i].p = (const uint8_t *)PyBytes_AS_STRING(t);
        f[2 * i].n = (size_t)PyBytes_GET_SIZE(t);
        f[2 * i + 1].p = (const uint8_t *)PyBytes_AS_STRING(d);
        f[2 * i + 1].n = (size_t)PyBytes_GET_SIZE(d);
    }
    return out;
other:
    Py_DECREF(out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"table", table, METH_O,
     "table(events) -> bytes | None: the omf_frame table of a tuple of (topic, data) bytes "
     "tuples; None for any other shape."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "omd._frames", "Frame tables of event batches for the C matcher.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__frames(void) { return PyModule_Create(&module); }
