"""The public template object: parse once, render many.

``Template.parse(text, name)`` parses and compiles a template with Go's builtins and the
OpenSVC helpers; ``render(data, state)`` executes it on JSON-decoded data (numbers as
float, like Go's ``encoding/json`` into ``any``) and returns the output string.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from . import nodes as N
from .exec import Program
from .funcs import ALL, WaitState
from .parser import parse


class Template:
    """A parsed and compiled Go template (plus the templates it defines)."""

    __slots__ = ("name", "text", "_trees", "_program")

    def __init__(self, name: str, text: str, trees: dict) -> None:
        self.name = name
        self.text = text
        self._trees = trees
        self._program = Program(text, name, trees, ALL)

    @classmethod
    def parse(cls, text: str, name: str = "t") -> "Template":
        """Parse `text`; raise `TemplateParseError` with Go's message when it is invalid."""
        return cls(name, text, parse(text, name, frozenset(ALL)))

    def render(self, data: Any, state: Optional[WaitState] = None) -> str:
        """Execute on `data`; raise `TemplateExecError` (Go's message) on failure.

        `state` carries the wait helpers' state across calls; a fresh one is used if None.
        """
        return "".join(self._program.execute(self.name, data, state or WaitState()))

    def execute(self, data: Any, write: Callable[[str], Any],
                state: Optional[WaitState] = None) -> None:
        """Execute on `data`, passing the output to `write` (nothing is written on error)."""
        write(self.render(data, state))

    def render_json(self, text: "str | bytes", state: Optional[WaitState] = None) -> str:
        """Decode JSON the way Go does (every number a float64), then render."""
        return self.render(decode_json(text), state)

    def defined_templates(self) -> list[str]:
        """Names of every template in the set, sorted."""
        return sorted(self._trees)

    def field_paths(self) -> list[tuple[str, ...]]:
        """The ``.data.<field>...`` paths read from the event envelope, as tuples.

        Only reads whose dot is the envelope are listed: fields outside ``with``/``range``
        bodies, and ``$.data...`` anywhere, in the main template.
        """
        found: dict[tuple[str, ...], None] = {}
        tree = self._trees.get(self.name)
        if tree is not None:
            _collect(tree.root, True, found)
        return [p for p in found if p and p[0] == "data" and len(p) > 1]


def decode_json(text: "str | bytes") -> Any:
    """``json.loads`` with every number a float, as Go's ``encoding/json`` decodes into ``any``."""
    return json.loads(text, parse_int=float, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError("invalid JSON number %s" % name)


def _collect(n: Any, root_dot: bool, found: dict) -> None:
    if n is None:
        return
    if isinstance(n, N.FieldNode):
        if root_dot:
            found[tuple(n.ident)] = None
    elif isinstance(n, N.VariableNode):
        if n.ident[0] == "$" and len(n.ident) > 1:
            found[tuple(n.ident[1:])] = None
    elif isinstance(n, N.ListNode):
        for c in n.nodes:
            _collect(c, root_dot, found)
    elif isinstance(n, N.ActionNode):
        _collect(n.pipe, root_dot, found)
    elif isinstance(n, N.PipeNode):
        for c in n.cmds:
            _collect(c, root_dot, found)
    elif isinstance(n, N.CommandNode):
        for c in n.args:
            _collect(c, root_dot, found)
    elif isinstance(n, N.ChainNode):
        _collect(n.node, root_dot, found)
    elif isinstance(n, N.BranchNode):
        _collect(n.pipe, root_dot, found)
        inner = root_dot and isinstance(n, N.IfNode)
        _collect(n.list, inner, found)
        _collect(n.else_list, root_dot, found)
    elif isinstance(n, N.TemplateNode):
        _collect(n.pipe, root_dot, found)
