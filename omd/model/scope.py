"""The scope of an event: the object path and namespace it is about, derived from the event
itself (its `namespace` and `path` labels and its data's `path`), and the refusal of an event
whose sources disagree.

Readers are filtered on the namespace label (docs/api.md), so an event whose namespace label
says ns1 while its path says ns2 would reach ns1's readers with news of ns2: `derive` is
what every entry point checks before it trusts the labels.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from omd.objects import ObjectPath, ObjectPathError


class ScopeError(ValueError):
    """The event's path/namespace sources disagree or a path is invalid; `field` names the one at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class Scope(NamedTuple):
    path: str | None  # the object path, or None when the event names no object
    namespace: str | None  # the namespace, or None when the event names none


def derive(labels: Mapping[str, str], data: Mapping[str, Any] | None = None) -> Scope:
    """The path and namespace the event is about; ScopeError when its sources disagree.

    Sources: the `path` label, the data's `path` (for the kinds that have one), the
    `namespace` label. Every path given must be the same object, and the namespace label,
    when given, must be that object's namespace; an event with a path and no namespace label
    gets the path's namespace.
    """
    path: str | None = None
    where_path = ""
    for where, value in (("labels.path", labels.get("path")), ("data.path", (data or {}).get("path"))):
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise ScopeError(f"{where} must be a string", where)
        try:
            value = str(ObjectPath.parse(value))
        except ObjectPathError as exc:
            raise ScopeError(str(exc), where) from None
        if path is not None and value != path:
            raise ScopeError(f"{where} {value!r} is not {where_path} {path!r}", where)
        path, where_path = value, where
    label_ns = labels.get("namespace") or None
    if path is None:
        return Scope(None, label_ns)
    namespace = ObjectPath.parse(path).namespace
    if label_ns is not None and label_ns != namespace:
        raise ScopeError(f"`labels.namespace` must be {namespace!r}, the namespace of {where_path} {path!r}",
                         "labels.namespace")
    return Scope(path, namespace)
