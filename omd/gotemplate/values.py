"""Go value model: how Python values stand for the Go values a template sees.

Templates run on JSON decoded the way Go's ``encoding/json`` decodes into ``any``:

=================  ==========================  ===================================
Python             Go                          notes
=================  ==========================  ===================================
``dict``           ``map[string]interface {}``
``list``           ``[]interface {}``
``StringSlice``    ``[]string``                returned by ``keys``
``str``            ``string``
``float``          ``float64``                 every JSON number
``int``            ``int``                     template constants, ``len``, ...
``GoUint8``        ``uint8``                   ``index`` of a string
``bool``           ``bool``
``complex``        ``complex128``              imaginary constants
``None``           nil ``interface {}``        JSON ``null``
``MISSING``        invalid ``reflect.Value``   a missing map key
=================  ==========================  ===================================
"""

from __future__ import annotations

from typing import Any


class _Missing:
    """The invalid reflect.Value: what a missing map key evaluates to."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class GoUint8(int):
    """A Go ``uint8`` (a byte), produced by ``index`` on a string."""

    __slots__ = ()


class StringSlice(list):
    """A Go ``[]string``: its elements are strings, not ``interface {}``."""

    __slots__ = ()


def go_type_name(v: Any) -> str:
    """The Go type name ``reflect.Type.String()`` gives for the value `v`."""
    t = type(v)
    if t is str:
        return "string"
    if t is float:
        return "float64"
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is dict:
        return "map[string]interface {}"
    if t is list:
        return "[]interface {}"
    if t is StringSlice:
        return "[]string"
    if t is GoUint8:
        return "uint8"
    if t is complex:
        return "complex128"
    if v is None:
        return "interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    if isinstance(v, str):
        return "string"
    return type(v).__name__


def to_go_data(obj: Any) -> Any:
    """Return `obj` with every int (not bool) turned into float, as Go's JSON decoding does.

    Use it on data that did not come from ``json.loads(..., parse_int=float)``.
    """
    t = type(obj)
    if t is dict:
        return {k: to_go_data(v) for k, v in obj.items()}
    if t is list or t is tuple:
        return [to_go_data(v) for v in obj]
    if t is int:
        return float(obj)
    return obj
