"""Parse tree of a template: the node types of ``text/template/parse/node.go``.

Each node keeps its position (a character offset in the template text) and renders itself
with ``str()`` exactly as Go's ``Node.String()`` does, because Go's error messages quote
nodes (``executing "t" at <.data.x>``, ``expected string; found 3``).
"""

from __future__ import annotations

from typing import Any, Optional


class Node:
    """Base of all parse-tree nodes."""

    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class TextNode(Node):
    """Plain text between actions."""

    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text

    def __str__(self) -> str:
        return self.text


class CommentNode(Node):
    """A ``{{/* comment */}}`` (kept only to decide whether a tree is empty)."""

    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text

    def __str__(self) -> str:
        return "{{%s}}" % self.text


class ListNode(Node):
    """A sequence of nodes."""

    __slots__ = ("nodes",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.nodes: list[Node] = []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class VariableNode(Node):
    """``$`` or ``$x``, possibly followed by fields: ``$x.a.b``."""

    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident.split(".")

    def __str__(self) -> str:
        return ".".join(self.ident)


class PipeNode(Node):
    """A pipeline, with optional variable declarations (``$x := ...``)."""

    __slots__ = ("line", "is_assign", "decl", "cmds")

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line
        self.is_assign = False
        self.decl: list[VariableNode] = []
        self.cmds: list[CommandNode] = []

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(v) for v in self.decl) + " := "
        return s + " | ".join(str(c) for c in self.cmds)


class CommandNode(Node):
    """One command of a pipeline: an operand followed by arguments."""

    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.args: list[Node] = []

    def __str__(self) -> str:
        parts = []
        for a in self.args:
            parts.append("(%s)" % a if isinstance(a, PipeNode) else str(a))
        return " ".join(parts)


class ActionNode(Node):
    """``{{pipeline}}``: prints its value unless it declares variables."""

    __slots__ = ("line", "pipe")

    def __init__(self, pos: int, line: int, pipe: PipeNode) -> None:
        super().__init__(pos)
        self.line = line
        self.pipe = pipe

    def __str__(self) -> str:
        return "{{%s}}" % self.pipe


class IdentifierNode(Node):
    """A function name."""

    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident

    def __str__(self) -> str:
        return self.ident


class DotNode(Node):
    """The cursor, ``.``."""

    __slots__ = ()

    def __str__(self) -> str:
        return "."


class NilNode(Node):
    """The untyped ``nil`` constant."""

    __slots__ = ()

    def __str__(self) -> str:
        return "nil"


class FieldNode(Node):
    """A field chain on dot: ``.a.b``."""

    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident[1:].split(".")

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class ChainNode(Node):
    """A field chain on a term that is not dot or a variable: ``(pipe).a.b``."""

    __slots__ = ("node", "field")

    def __init__(self, pos: int, node: Node) -> None:
        super().__init__(pos)
        self.node = node
        self.field: list[str] = []

    def add(self, field: str) -> None:
        """Append the fields of a ``.a.b`` item."""
        if not field or field[0] != ".":
            raise ValueError("no dot in field")
        field = field[1:]
        if not field:
            raise ValueError("empty field")
        self.field.append(field)

    def __str__(self) -> str:
        s = "(%s)" % self.node if isinstance(self.node, PipeNode) else str(self.node)
        return s + "".join("." + f for f in self.field)


class BoolNode(Node):
    """``true`` or ``false``."""

    __slots__ = ("true",)

    def __init__(self, pos: int, true: bool) -> None:
        super().__init__(pos)
        self.true = true

    def __str__(self) -> str:
        return "true" if self.true else "false"


class NumberNode(Node):
    """A numeric constant, with every interpretation Go gives it (int, uint, float, complex)."""

    __slots__ = ("text", "is_int", "is_uint", "is_float", "is_complex", "int64", "uint64",
                 "float64", "complex128")

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text
        self.is_int = self.is_uint = self.is_float = self.is_complex = False
        self.int64 = 0
        self.uint64 = 0
        self.float64 = 0.0
        self.complex128 = 0j

    def __str__(self) -> str:
        return self.text


class StringNode(Node):
    """A string constant; `quoted` is the original text, `text` the value."""

    __slots__ = ("quoted", "text")

    def __init__(self, pos: int, quoted: str, text: str) -> None:
        super().__init__(pos)
        self.quoted = quoted
        self.text = text

    def __str__(self) -> str:
        return self.quoted


class EndNode(Node):
    """``{{end}}`` (only during parsing)."""

    __slots__ = ()

    def __str__(self) -> str:
        return "{{end}}"


class ElseNode(Node):
    """``{{else}}`` (only during parsing)."""

    __slots__ = ("line",)

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line

    def __str__(self) -> str:
        return "{{else}}"


class BreakNode(Node):
    """``{{break}}``."""

    __slots__ = ("line",)

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line

    def __str__(self) -> str:
        return "{{break}}"


class ContinueNode(Node):
    """``{{continue}}``."""

    __slots__ = ("line",)

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line

    def __str__(self) -> str:
        return "{{continue}}"


class BranchNode(Node):
    """Common shape of ``if``, ``range`` and ``with``."""

    __slots__ = ("line", "pipe", "list", "else_list")
    keyword = ""

    def __init__(self, pos: int, line: int, pipe: PipeNode, lst: ListNode,
                 else_list: Optional[ListNode]) -> None:
        super().__init__(pos)
        self.line = line
        self.pipe = pipe
        self.list = lst
        self.else_list = else_list

    def __str__(self) -> str:
        s = "{{%s %s}}%s" % (self.keyword, self.pipe, self.list)
        if self.else_list is not None:
            s += "{{else}}%s" % self.else_list
        return s + "{{end}}"


class IfNode(BranchNode):
    """``{{if pipe}} ... {{else}} ... {{end}}``."""

    __slots__ = ()
    keyword = "if"


class RangeNode(BranchNode):
    """``{{range pipe}} ... {{else}} ... {{end}}``."""

    __slots__ = ()
    keyword = "range"


class WithNode(BranchNode):
    """``{{with pipe}} ... {{else}} ... {{end}}``."""

    __slots__ = ()
    keyword = "with"


class TemplateNode(Node):
    """``{{template "name" pipe}}``."""

    __slots__ = ("line", "name", "pipe")

    def __init__(self, pos: int, line: int, name: str, pipe: Optional[PipeNode]) -> None:
        super().__init__(pos)
        self.line = line
        self.name = name
        self.pipe = pipe

    def __str__(self) -> str:
        from .fmt import go_quote

        if self.pipe is None:
            return "{{template %s}}" % go_quote(self.name)
        return "{{template %s %s}}" % (go_quote(self.name), self.pipe)


def is_empty_tree(n: Any) -> bool:
    """Go's ``IsEmptyTree``: only whitespace text and comments."""
    if n is None or isinstance(n, CommentNode):
        return True
    if isinstance(n, ListNode):
        return all(is_empty_tree(c) for c in n.nodes)
    if isinstance(n, TextNode):
        return n.text.strip() == ""
    return False
