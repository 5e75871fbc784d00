"""Parser of Go's template language: a port of ``text/template/parse/parse.go``.

`parse` turns template text into a set of named trees (the main one plus every
``define``/``block``), checking function names and variable scopes as Go does and
raising `TemplateParseError` with Go's message (``template: t:1: unexpected "}" in operand``).
Also holds Go's literal syntax: numbers (``strconv.ParseInt``/``ParseFloat`` base 0) and
quoted strings (``strconv.Unquote``).
"""

from __future__ import annotations

import re
from typing import Optional

from . import lexer as L
from .errors import TemplateParseError
from .fmt import go_quote
from .nodes import (ActionNode, BoolNode, BreakNode, ChainNode, CommandNode, CommentNode,
                    ContinueNode, DotNode, ElseNode, EndNode, FieldNode, IdentifierNode, IfNode,
                    ListNode, NilNode, Node, NumberNode, PipeNode, RangeNode, StringNode,
                    TemplateNode, TextNode, VariableNode, WithNode, is_empty_tree)


class _Abort(Exception):
    pass


# ---------------------------------------------------------------- literals (strconv)

class _SyntaxError(Exception):
    pass


_SIMPLE_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\"}


def _unquote_char(s: str, i: int, quote: str) -> tuple[object, int]:
    """Go's ``strconv.UnquoteChar`` at s[i]; returns (str or byte int, next index)."""
    c = s[i]
    if c == quote and quote in "'\"":
        raise _SyntaxError
    if c != "\\":
        return c, i + 1
    if i + 1 >= len(s):
        raise _SyntaxError
    c = s[i + 1]
    i += 2
    if c in _SIMPLE_ESC:
        return _SIMPLE_ESC[c], i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        h = s[i:i + n]
        if len(h) < n or not all(ch in "0123456789abcdefABCDEF" for ch in h):
            raise _SyntaxError
        v = int(h, 16)
        if c == "x":
            return v, i + n
        if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
            raise _SyntaxError
        return chr(v), i + n
    if c in "01234567":
        o = s[i - 1:i + 2]
        if len(o) < 3 or not all(ch in "01234567" for ch in o):
            raise _SyntaxError
        v = int(o, 8)
        if v > 255:
            raise _SyntaxError
        return v, i + 2
    if c == quote and quote in "'\"":
        return c, i
    raise _SyntaxError


def _flush_bytes(out: list, pending: bytearray) -> None:
    if pending:
        out.append(bytes(pending).decode("utf-8", "surrogateescape"))
        pending.clear()


def unquote(s: str) -> str:
    """Go's ``strconv.Unquote`` for ``"..."`` and raw strings; raises ValueError("invalid syntax")."""
    if len(s) < 2 or s[0] != s[-1]:
        raise ValueError("invalid syntax")
    q = s[0]
    body = s[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if q != '"':
        raise ValueError("invalid syntax")
    if "\n" in body:
        raise ValueError("invalid syntax")
    out: list[str] = []
    pending = bytearray()
    i = 0
    try:
        while i < len(body):
            v, i = _unquote_char(body, i, q)
            if isinstance(v, int):
                pending.append(v)
            else:
                if pending:
                    _flush_bytes(out, pending)
                out.append(v)
    except _SyntaxError:
        raise ValueError("invalid syntax") from None
    _flush_bytes(out, pending)
    return "".join(out)


def _underscore_ok(s: str) -> bool:
    saw = "^"
    i = 0
    if s[:1] in ("-", "+"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and "a" <= c.lower() <= "f"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint(s: str) -> Optional[int]:
    """``strconv.ParseUint(s, 0, 64)``, None on error."""
    if not s or s[0] in "+-":
        return None
    base = 10
    body = s
    if s[0] == "0" and len(s) > 1:
        p = s[1].lower()
        if p == "x":
            base, body = 16, s[2:]
        elif p == "o":
            base, body = 8, s[2:]
        elif p == "b":
            base, body = 2, s[2:]
        else:
            base, body = 8, s[1:]
    if not body:
        return None
    if "_" in body:
        if not _underscore_ok(s):
            return None
        body = body.replace("_", "")
        if not body:
            return None
    digits = "0123456789abcdef"[:base]
    if not all(c.lower() in digits for c in body):
        return None
    v = int(body, base)
    if v > (1 << 64) - 1:
        return None
    return v


def _parse_int(s: str) -> Optional[int]:
    """``strconv.ParseInt(s, 0, 64)``, None on error."""
    neg = False
    body = s
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        body = s[1:]
    u = _parse_uint(body)
    if u is None:
        return None
    v = -u if neg else u
    if not (-(1 << 63) <= v < (1 << 63)):
        return None
    return v


_DEC_FLOAT = re.compile(r"[+-]?(?=\.?[0-9])[0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9_]+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?=\.?[0-9a-fA-F_])[0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?[pP][+-]?[0-9_]+")


def _parse_float(s: str) -> Optional[float]:
    """``strconv.ParseFloat(s, 64)`` for the numbers the lexer produces, None on error."""
    if "_" in s and not _underscore_ok(s):
        return None
    t = s.replace("_", "")
    try:
        if _HEX_FLOAT.fullmatch(s):
            v = float.fromhex(t)
        elif _DEC_FLOAT.fullmatch(s):
            v = float(t)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    if v in (float("inf"), float("-inf")):
        return None
    return v


def _simplify_complex(n: NumberNode) -> None:
    n.is_float = n.complex128.imag == 0
    if n.is_float:
        n.float64 = n.complex128.real
        f = n.float64
        n.is_int = f == int(f) and -(1 << 63) <= f < (1 << 63)
        if n.is_int:
            n.int64 = int(f)
        n.is_uint = f == int(f) and 0 <= f < (1 << 64)
        if n.is_uint:
            n.uint64 = int(f)


def new_number(pos: int, text: str, typ: int) -> NumberNode:
    """Go's ``newNumber``; raises ValueError with Go's message."""
    n = NumberNode(pos, text)
    if typ == L.CHAR_CONSTANT:
        try:
            v, i = _unquote_char(text, 1, "'")
        except (_SyntaxError, IndexError):
            raise ValueError("invalid syntax") from None
        if text[i:] != "'":
            raise ValueError("malformed character constant: %s" % text)
        r = v if isinstance(v, int) else ord(v)
        n.int64 = n.uint64 = r
        n.float64 = float(r)
        n.is_int = n.is_uint = n.is_float = True
        return n
    if typ == L.COMPLEX:
        try:
            n.complex128 = complex(text.replace("_", "").replace("i", "j"))
        except ValueError:
            raise ValueError("expected integer") from None
        n.is_complex = True
        _simplify_complex(n)
        return n
    if text.endswith("i"):
        f = _parse_float(text[:-1])
        if f is not None:
            n.is_complex = True
            n.complex128 = complex(0, f)
            _simplify_complex(n)
            return n
    u = _parse_uint(text)
    if u is not None:
        n.is_uint = True
        n.uint64 = u
    i = _parse_int(text)
    if i is not None:
        n.is_int = True
        n.int64 = i
        if i == 0:
            n.is_uint = True
            n.uint64 = u or 0
    if n.is_int:
        n.is_float = True
        n.float64 = float(n.int64)
    elif n.is_uint:
        n.is_float = True
        n.float64 = float(n.uint64)
    else:
        f = _parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise ValueError("integer overflow: %s" % go_quote(text))
            n.is_float = True
            n.float64 = f
            if f == int(f) and -(1 << 63) <= f < (1 << 63):
                n.is_int = True
                n.int64 = int(f)
            if f == int(f) and 0 <= f < (1 << 64):
                n.is_uint = True
                n.uint64 = int(f)
    if not (n.is_int or n.is_uint or n.is_float):
        raise ValueError("illegal number syntax: %s" % go_quote(text))
    return n


# ---------------------------------------------------------------- the parser

class Tree:
    """One parsed template: its name and root list."""

    def __init__(self, name: str, root: Optional[ListNode] = None) -> None:
        self.name = name
        self.root = root


class _Parser:
    """Parses one tree (the main template, a define, or a block body) off a shared lexer."""

    def __init__(self, name: str, parse_name: str, text: str, lex: L.Lexer, funcs: frozenset,
                 tree_set: dict) -> None:
        self.name = name
        self.parse_name = parse_name
        self.text = text
        self.lex = lex
        self.funcs = funcs
        self.tree_set = tree_set
        self.token: list[L.Item] = [None, None, None]  # type: ignore[list-item]
        self.peek_count = 0
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.root: Optional[ListNode] = None

    # -- token stream
    def next(self) -> L.Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: L.Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: L.Item, t1: L.Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> L.Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> L.Item:
        while True:
            t = self.next()
            if t.typ != L.SPACE:
                return t

    def peek_non_space(self) -> L.Item:
        t = self.next_non_space()
        self.backup()
        return t

    # -- errors
    def errorf(self, msg: str) -> None:
        line = self.token[0].line if self.token[0] is not None else 1
        raise TemplateParseError("template: %s:%d: %s" % (self.parse_name, line, msg))

    def expect(self, expected: int, context: str) -> L.Item:
        t = self.next_non_space()
        if t.typ != expected:
            self.unexpected(t, context)
        return t

    def expect_one_of(self, e1: int, e2: int, context: str) -> L.Item:
        t = self.next_non_space()
        if t.typ != e1 and t.typ != e2:
            self.unexpected(t, context)
        return t

    def unexpected(self, t: L.Item, context: str) -> None:
        if t.typ == L.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != t.line:
                extra = " in action started at %s:%d" % (self.parse_name, self.action_line)
                if t.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            self.errorf("%s%s" % (t, extra))
        self.errorf("unexpected %s in %s" % (t, context))

    # -- structure
    def add(self) -> None:
        tree = self.tree_set.get(self.name)
        if tree is None or is_empty_tree(tree.root):
            self.tree_set[self.name] = Tree(self.name, self.root)
            return
        if not is_empty_tree(self.root):
            self.errorf("template: multiple definition of template %s" % go_quote(self.name))

    def sub(self, name: str) -> "_Parser":
        p = _Parser(name, self.parse_name, self.text, self.lex, self.funcs, self.tree_set)
        return p

    def parse(self) -> None:
        self.root = ListNode(self.peek().pos)
        while self.peek().typ != L.EOF:
            if self.peek().typ == L.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == L.DEFINE:
                    nt = self.sub("definition")
                    nt.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                self.errorf("unexpected %s" % n)
            else:
                self.root.nodes.append(n)

    def parse_definition(self) -> None:
        context = "define clause"
        name = self.expect_one_of(L.STRING, L.RAW_STRING, context)
        try:
            self.name = unquote(name.val)
        except ValueError as e:
            self.errorf(str(e))
        self.expect(L.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, EndNode):
            self.errorf("unexpected %s in %s" % (end, context))
        self.add()

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != L.EOF:
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                return lst, n
            lst.nodes.append(n)
        self.errorf("unexpected EOF")
        raise AssertionError

    def text_or_action(self) -> Node:
        t = self.next_non_space()
        if t.typ == L.TEXT:
            return TextNode(t.pos, t.val)
        if t.typ == L.LEFT_DELIM:
            self.action_line = t.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if t.typ == L.COMMENT:
            return CommentNode(t.pos, t.val)
        self.unexpected(t, "input")
        raise AssertionError

    def action(self) -> Node:
        t = self.next_non_space()
        typ = t.typ
        if typ == L.BLOCK:
            return self.block_control()
        if typ == L.BREAK:
            return self.break_control(t.pos, t.line)
        if typ == L.CONTINUE:
            return self.continue_control(t.pos, t.line)
        if typ == L.ELSE:
            return self.else_control()
        if typ == L.END:
            return self.end_control()
        if typ == L.IF:
            return self.if_control()
        if typ == L.RANGE:
            return self.range_control()
        if typ == L.TEMPLATE:
            return self.template_control()
        if typ == L.WITH:
            return self.with_control()
        self.backup()
        t = self.peek()
        return ActionNode(t.pos, t.line, self.pipeline("command", L.RIGHT_DELIM))

    def break_control(self, pos: int, line: int) -> Node:
        t = self.next_non_space()
        if t.typ != L.RIGHT_DELIM:
            self.unexpected(t, "{{break}}")
        if self.range_depth == 0:
            self.errorf("{{break}} outside {{range}}")
        return BreakNode(pos, line)

    def continue_control(self, pos: int, line: int) -> Node:
        t = self.next_non_space()
        if t.typ != L.RIGHT_DELIM:
            self.unexpected(t, "{{continue}}")
        if self.range_depth == 0:
            self.errorf("{{continue}} outside {{range}}")
        return ContinueNode(pos, line)

    def pipeline(self, context: str, end: int) -> PipeNode:
        t = self.peek_non_space()
        pipe = PipeNode(t.pos, t.line)
        while True:  # the "decls" label of Go's parser
            v = self.peek_non_space()
            if v.typ != L.VARIABLE:
                break
            self.next()
            token_after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (L.ASSIGN, L.DECLARE):
                pipe.is_assign = nxt.typ == L.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val))
                self.vars.append(v.val)
            elif nxt.typ == L.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (L.VARIABLE, L.RIGHT_DELIM, L.RIGHT_PAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf("too many declarations in %s" % context)
            elif token_after.typ == L.SPACE:
                self.backup3(v, token_after)
            else:
                self.backup2(v)
            break
        while True:
            t = self.next_non_space()
            if t.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if t.typ in (L.BOOL, L.CHAR_CONSTANT, L.COMPLEX, L.DOT, L.FIELD, L.IDENTIFIER,
                         L.NUMBER, L.NIL, L.RAW_STRING, L.STRING, L.VARIABLE, L.LEFT_PAREN):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(t, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf("missing value for %s" % context)
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                self.errorf("non executable command in pipeline stage %d" % (i + 2))

    def parse_control(self, allow_else_if: bool, context: str):
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, L.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, ElseNode):
                if allow_else_if and context == "if" and self.peek().typ == L.IF:
                    self.next()
                    else_list = ListNode(nxt.pos)
                    else_list.nodes.append(self.if_control())
                elif context == "with" and self.peek().typ == L.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos)
                    else_list.nodes.append(self.with_control())
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        self.errorf("expected end; found %s" % nxt)
            return pipe.pos, pipe.line, pipe, lst, else_list
        finally:
            del self.vars[mark:]

    def if_control(self) -> Node:
        return IfNode(*self.parse_control(True, "if"))

    def range_control(self) -> Node:
        return RangeNode(*self.parse_control(False, "range"))

    def with_control(self) -> Node:
        return WithNode(*self.parse_control(False, "with"))

    def end_control(self) -> Node:
        return EndNode(self.expect(L.RIGHT_DELIM, "end").pos)

    def else_control(self) -> Node:
        p = self.peek_non_space()
        # "else if" and (Go >= 1.23) "else with" chain into the next control
        if p.typ == L.IF or p.typ == L.WITH:
            return ElseNode(p.pos, p.line)
        t = self.expect(L.RIGHT_DELIM, "else")
        return ElseNode(t.pos, t.line)

    def block_control(self) -> Node:
        context = "block clause"
        t = self.next_non_space()
        name = self.parse_template_name(t, context)
        pipe = self.pipeline(context, L.RIGHT_DELIM)
        block = self.sub(name)
        block.root, end = block.item_list()
        if not isinstance(end, EndNode):
            self.errorf("unexpected %s in %s" % (end, context))
        block.add()
        return TemplateNode(t.pos, t.line, name, pipe)

    def template_control(self) -> Node:
        context = "template clause"
        t = self.next_non_space()
        name = self.parse_template_name(t, context)
        pipe = None
        if self.next_non_space().typ != L.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, L.RIGHT_DELIM)
        return TemplateNode(t.pos, t.line, name, pipe)

    def parse_template_name(self, t: L.Item, context: str) -> str:
        if t.typ in (L.STRING, L.RAW_STRING):
            try:
                return unquote(t.val)
            except ValueError as e:
                self.errorf(str(e))
        self.unexpected(t, context)
        raise AssertionError

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            t = self.next()
            if t.typ == L.SPACE:
                continue
            if t.typ in (L.RIGHT_DELIM, L.RIGHT_PAREN):
                self.backup()
            elif t.typ == L.PIPE:
                pass
            else:
                self.unexpected(t, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> Optional[Node]:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == L.FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().typ == L.FIELD:
                chain.add(self.next().val)
            if isinstance(node, FieldNode):
                node = FieldNode(chain.pos, str(chain))
            elif isinstance(node, VariableNode):
                node = VariableNode(chain.pos, str(chain))
            elif isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                self.errorf("unexpected . after term %s" % go_quote(str(node)))
            else:
                node = chain
        return node

    def term(self) -> Optional[Node]:
        t = self.next_non_space()
        typ = t.typ
        if typ == L.IDENTIFIER:
            if t.val not in self.funcs:
                self.errorf("function %s not defined" % go_quote(t.val))
            return IdentifierNode(t.pos, t.val)
        if typ == L.DOT:
            return DotNode(t.pos)
        if typ == L.NIL:
            return NilNode(t.pos)
        if typ == L.VARIABLE:
            return self.use_var(t.pos, t.val)
        if typ == L.FIELD:
            return FieldNode(t.pos, t.val)
        if typ == L.BOOL:
            return BoolNode(t.pos, t.val == "true")
        if typ in (L.CHAR_CONSTANT, L.COMPLEX, L.NUMBER):
            try:
                return new_number(t.pos, t.val, typ)
            except ValueError as e:
                self.errorf(str(e))
        if typ == L.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", L.RIGHT_PAREN)
        if typ in (L.STRING, L.RAW_STRING):
            try:
                return StringNode(t.pos, t.val, unquote(t.val))
            except ValueError as e:
                self.errorf(str(e))
        self.backup()
        return None

    def use_var(self, pos: int, name: str) -> Node:
        v = VariableNode(pos, name)
        if v.ident[0] in self.vars:
            return v
        self.errorf("undefined variable %s" % go_quote(v.ident[0]))
        raise AssertionError


def parse(text: str, name: str, funcs: frozenset) -> dict[str, Tree]:
    """Parse `text` as template `name`; return every tree it defines, keyed by name."""
    lex = L.Lexer(text, break_ok="break" not in funcs, continue_ok="continue" not in funcs)
    tree_set: dict[str, Tree] = {}
    p = _Parser(name, name, text, lex, funcs, tree_set)
    p.parse()
    p.add()
    return tree_set
