"""Template functions: Go's builtins (``funcs.go``) and OpenSVC's custom helpers.

Every function is a `Func`: Go parameter types (which drive argument checking and
conversion the way Go's ``evalArg``/``validateType`` do), whether it is variadic, and a
Python implementation ``impl(state, argv)``. An implementation raises `FuncError` for the
errors a Go function returns; the executor reports them as ``error calling NAME: ...``.

Parameter types: ``value`` (Go ``reflect.Value``), ``rawvalue`` (the same, but boxed
``interface {}`` values stay wrapped in `Boxed`: only ``slice`` cares), ``any``
(``interface {}``), ``string``, ``bool``, ``int``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional
from urllib.parse import quote_plus

from .fmt import compile_format, go_quote, is_print, sprint, sprintf, sprintln
from .values import MISSING, GoUint8, StringSlice, go_type_name

# Go errors on comparing float64 (every JSON number) with an int constant; we compare the
# numbers instead. Documented in docs/templates.md.
LENIENT_NUMBER_COMPARISON = True


class FuncError(Exception):
    """An error returned by a template function (Go's second result)."""


class Boxed:
    """A ``rawvalue`` argument whose Go value is an ``interface {}`` holding `v`."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v


class Func(NamedTuple):
    """A template function: Go parameter types, variadic element type, implementation."""

    params: tuple
    variadic: Optional[str]
    impl: Callable[[Any, list], Any]


class WaitState:
    """Per-caller state of the wait helpers (``passSet``, ``setSuccess``, ...).

    The ``om ... --wait`` loop keeps one across events: `success` says whether the last
    ``setSuccess`` call was given true, `passed` holds the items ``passSet``/``passAdd`` added.
    """

    __slots__ = ("success", "passed")

    def __init__(self) -> None:
        self.success = False
        self.passed: dict[str, None] = {}

    def passed_list(self) -> list[str]:
        """The passed items, sorted."""
        return sorted(self.passed)

    def __repr__(self) -> str:
        return "WaitState(success=%r, passed=%r)" % (self.success, self.passed_list())


# ---------------------------------------------------------------- helpers

def indirect_interface(v: Any) -> Any:
    """Go's ``indirectInterface``: a nil interface becomes the invalid value."""
    return MISSING if v is None else v


def truth(v: Any) -> bool:
    """Go's ``isTrue`` on a value (all our types have a truth value)."""
    if v is None or v is MISSING:
        return False
    t = type(v)
    if t is bool:
        return v
    if t is str or t is dict or t is list or t is StringSlice:
        return len(v) > 0
    if t is float or t is int or t is GoUint8 or t is complex:
        return v != 0
    return True


def _nbytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- builtins

def _len(st: Any, a: list) -> Any:
    item = a[0]
    if item is None:
        raise FuncError("len of nil pointer")
    if item is MISSING:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    if type(item) is str:
        return len(_nbytes(item))
    if isinstance(item, (dict, list)):
        return len(item)
    raise FuncError("len of type %s" % go_type_name(item))


def _index_arg(index: Any, cap: int) -> int:
    if isinstance(index, Boxed):
        raise FuncError("cannot index slice/array with type interface {}")
    t = type(index)
    if t is int or t is GoUint8:
        x = int(index)
    elif index is MISSING:
        raise FuncError("cannot index slice/array with nil")
    else:
        raise FuncError("cannot index slice/array with type %s" % go_type_name(index))
    if x < 0 or x > cap:
        raise FuncError("index out of range: %d" % x)
    return x


def _index(st: Any, a: list) -> Any:
    item = indirect_interface(a[0])
    if item is MISSING:
        raise FuncError("index of untyped nil")
    for index in a[1:]:
        index = indirect_interface(index)
        if item is None:
            raise FuncError("index of nil pointer")
        t = type(item)
        if t is str:
            b = _nbytes(item)
            x = _index_arg(index, len(b))
            if x == len(b):
                raise FuncError("reflect: string index out of range")
            item = GoUint8(b[x])
        elif t is list or t is StringSlice:
            x = _index_arg(index, len(item))
            if x == len(item):
                raise FuncError("reflect: slice index out of range")
            item = item[x]
        elif t is dict:
            if index is MISSING:
                raise FuncError("value is nil; should be of type string")
            if type(index) is not str:
                raise FuncError("value has type %s; should be string" % go_type_name(index))
            item = item.get(index)
        else:
            raise FuncError("can't index item of type %s" % go_type_name(item))
    return item


def _slice(st: Any, a: list) -> Any:
    item = indirect_interface(a[0])
    if item is MISSING:
        raise FuncError("slice of untyped nil")
    indexes = a[1:]
    if len(indexes) > 3:
        raise FuncError("too many slice indexes: %d" % len(indexes))
    t = type(item)
    if t is str:
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        b = _nbytes(item)
        cap = len(b)
    elif t is list or t is StringSlice:
        cap = len(item)
    else:
        raise FuncError("can't slice item of type %s" % go_type_name(item))
    idx = [0, cap, 0]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, cap)
    if idx[0] > idx[1]:
        raise FuncError("invalid slice index: %d > %d" % (idx[0], idx[1]))
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise FuncError("invalid slice index: %d > %d" % (idx[1], idx[2]))
    if t is str:
        return b[idx[0]:idx[1]].decode("utf-8", "surrogateescape")
    return t(item[idx[0]:idx[1]])


def _call(st: Any, a: list) -> Any:
    fn = indirect_interface(a[0])
    if fn is MISSING:
        raise FuncError("call of nil")
    raise FuncError("non-function of type %s" % go_type_name(fn))


def _not(st: Any, a: list) -> Any:
    return not truth(a[0])


_BOOL, _COMPLEX, _INT, _FLOAT, _STRING, _UINT = range(1, 7)


def _basic_kind(v: Any) -> int:
    t = type(v)
    if t is bool:
        return _BOOL
    if t is int:
        return _INT
    if t is GoUint8:
        return _UINT
    if t is float:
        return _FLOAT
    if t is complex:
        return _COMPLEX
    if t is str:
        return _STRING
    return 0


_NUMERIC = (_INT, _UINT, _FLOAT)


def _go_s(v: Any) -> str:
    """``%s`` of a value, as Go's error messages in ``eq`` print it."""
    return sprintf("%s", [v])


def _eq(st: Any, a: list) -> Any:
    arg1 = indirect_interface(a[0])
    if len(a) == 1:
        raise FuncError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in a[1:]:
        arg = indirect_interface(arg)
        k2 = _basic_kind(arg)
        tr = False
        if k1 != k2:
            if (k1 == _INT and k2 == _UINT) or (k1 == _UINT and k2 == _INT):
                tr = arg1 == arg
            elif LENIENT_NUMBER_COMPARISON and k1 in _NUMERIC and k2 in _NUMERIC:
                tr = arg1 == arg
            elif arg1 is not MISSING and arg is not MISSING:
                raise FuncError("incompatible types for comparison")
        elif k1:
            tr = arg1 == arg
        else:
            m1 = arg1 is MISSING
            m2 = arg is MISSING
            if not m1 and not m2 and type(arg1) is not type(arg):
                raise FuncError("non-comparable types %s: %s, %s: %s" % (
                    _go_s(arg1), go_type_name(arg1), go_type_name(arg), sprintf("%v", [arg])))
            if m1 or m2:
                tr = m1 == m2
            else:
                raise FuncError("non-comparable type %s: %s" % (_go_s(arg), go_type_name(arg)))
        if tr:
            return True
    return False


def _ne(st: Any, a: list) -> Any:
    return not _eq(st, a)


def _lt(st: Any, a: list) -> Any:
    arg1 = indirect_interface(a[0])
    k1 = _basic_kind(arg1)
    if not k1:
        raise FuncError("invalid type for comparison")
    arg2 = indirect_interface(a[1])
    k2 = _basic_kind(arg2)
    if not k2:
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        if (k1 == _INT and k2 == _UINT) or (k1 == _UINT and k2 == _INT):
            return arg1 < arg2
        if LENIENT_NUMBER_COMPARISON and k1 in _NUMERIC and k2 in _NUMERIC:
            return arg1 < arg2
        raise FuncError("incompatible types for comparison")
    if k1 == _BOOL or k1 == _COMPLEX:
        raise FuncError("invalid type for comparison")
    return arg1 < arg2


def _le(st: Any, a: list) -> Any:
    if _lt(st, a):
        return True
    return _eq(st, a)


def _gt(st: Any, a: list) -> Any:
    return not _le(st, a)


def _ge(st: Any, a: list) -> Any:
    return not _lt(st, a)


def _eval_args(args: list) -> str:
    if len(args) == 1 and type(args[0]) is str:
        return args[0]
    return sprint(["<no value>" if x is None or x is MISSING else x for x in args])


_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}


def html_escape(s: str) -> str:
    """Go's ``template.HTMLEscapeString``."""
    if not any(c in s for c in "'\"&<>\0"):
        return s
    return "".join(_HTML.get(c, c) for c in s)


_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
       "=": "\\u003D"}


def js_escape(s: str) -> str:
    """Go's ``template.JSEscapeString``."""
    out = []
    for c in s:
        r = ord(c)
        if c in _JS:
            out.append(_JS[c])
        elif r < 0x20:
            out.append("\\u00%02X" % r)
        elif r < 0x80:
            out.append(c)
        elif 0xDC80 <= r <= 0xDCFF:  # a lone byte (surrogateescape): Go's RuneError
            out.append("\\uFFFD")
        elif is_print(c):
            out.append(c)
        else:
            out.append("\\u%04X" % r)
    return "".join(out)


def _html(st: Any, a: list) -> Any:
    return html_escape(_eval_args(a))


def _js(st: Any, a: list) -> Any:
    return js_escape(_eval_args(a))


def _urlquery(st: Any, a: list) -> Any:
    return quote_plus(_nbytes(_eval_args(a)), safe="")


def _print(st: Any, a: list) -> Any:
    return sprint(a)


def _println(st: Any, a: list) -> Any:
    return sprintln(a)


_FORMATS: dict[str, Callable[[list], str]] = {}


def _printf(st: Any, a: list) -> Any:
    f = a[0]
    run = _FORMATS.get(f)
    if run is None:
        if len(_FORMATS) > 256:
            _FORMATS.clear()
        run = _FORMATS[f] = compile_format(f)
    return run(a[1:])


def _andor(st: Any, a: list) -> Any:  # pragma: no cover - evaluated by the executor
    raise AssertionError("and/or are special forms")


# ---------------------------------------------------------------- custom (OpenSVC)

def _labels(labels: Any, fname: str) -> Optional[dict]:
    if labels is None or labels is MISSING:
        return None
    if type(labels) is not dict:
        raise FuncError("labels must be a map, not %s" % go_type_name(labels))
    return labels


def _has_label(key: str) -> Callable[[Any, list], Any]:
    def impl(st: Any, a: list) -> Any:
        labels = _labels(a[0], key)
        if labels is None:
            return False
        v = labels.get(key)
        return type(v) is str and v in a[1:]

    return impl


def _has_instance_label(st: Any, a: list) -> Any:
    labels = _labels(a[0], "instance")
    if labels is None:
        return False
    path = labels.get("path")
    node = labels.get("node")
    if type(path) is not str or type(node) is not str:
        return False
    for inst in a[1:]:
        p, sep, n = inst.rpartition("@")
        if sep and p == path and n == node:
            return True
    return False


def _pass_set(st: Any, a: list) -> Any:
    return _pass_add(st, a[:1]) if a[1] else _pass_del(st, a[:1])


def _pass_add(st: Any, a: list) -> Any:
    passed = st.wait.passed
    if a[0] in passed:
        return False
    passed[a[0]] = None
    return True


def _pass_del(st: Any, a: list) -> Any:
    passed = st.wait.passed
    if a[0] not in passed:
        return False
    del passed[a[0]]
    return True


def _pass_count(st: Any, a: list) -> Any:
    return len(st.wait.passed)


def _set_success(st: Any, a: list) -> Any:
    st.wait.success = a[0]
    return a[0]


def _to_inst(st: Any, a: list) -> Any:
    return a[0] + "@" + a[1]


def _keys(st: Any, a: list) -> Any:
    m = a[0]
    if m is None or m is MISSING:
        return StringSlice()
    if type(m) is not dict:
        raise FuncError("keys of a %s, not a map" % go_type_name(m))
    return StringSlice(sorted(m))


def _strings(op: Callable[[str, str], bool]) -> Callable[[Any, list], Any]:
    return lambda st, a: op(a[0], a[1])


V = "value"
BUILTINS: dict[str, Func] = {
    "and": Func((V,), V, _andor),
    "or": Func((V,), V, _andor),
    "not": Func((V,), None, _not),
    "len": Func((V,), None, _len),
    "index": Func((V,), V, _index),
    "slice": Func((V,), "rawvalue", _slice),
    "call": Func((V,), V, _call),
    "print": Func((), "any", _print),
    "printf": Func(("string",), "any", _printf),
    "println": Func((), "any", _println),
    "html": Func((), "any", _html),
    "js": Func((), "any", _js),
    "urlquery": Func((), "any", _urlquery),
    "eq": Func((V,), V, _eq),
    "ne": Func((V, V), None, _ne),
    "lt": Func((V, V), None, _lt),
    "le": Func((V, V), None, _le),
    "gt": Func((V, V), None, _gt),
    "ge": Func((V, V), None, _ge),
}

CUSTOM: dict[str, Func] = {
    "hasNodeLabel": Func(("any",), "string", _has_label("node")),
    "hasPathLabel": Func(("any",), "string", _has_label("path")),
    "hasInstanceLabel": Func(("any",), "string", _has_instance_label),
    "passSet": Func(("string", "bool"), None, _pass_set),
    "passAdd": Func(("string",), None, _pass_add),
    "passDel": Func(("string",), None, _pass_del),
    "passCount": Func((), None, _pass_count),
    "setSuccess": Func(("bool",), None, _set_success),
    "toInst": Func(("string", "string"), None, _to_inst),
    "stringsContains": Func(("string", "string"), None, _strings(lambda s, x: x in s)),
    "stringsHasPrefix": Func(("string", "string"), None, _strings(str.startswith)),
    "stringsHasSuffix": Func(("string", "string"), None, _strings(str.endswith)),
    "keys": Func(("any",), None, _keys),
}

ALL: dict[str, Func] = {**BUILTINS, **CUSTOM}

__all__ = ["ALL", "BUILTINS", "CUSTOM", "Boxed", "Func", "FuncError", "WaitState", "truth",
           "go_quote", "html_escape", "js_escape"]
