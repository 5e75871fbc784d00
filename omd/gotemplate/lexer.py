"""Lexer of Go's template language: a port of ``text/template/parse/lex.go``.

Turns template text into items (text, delimiters, identifiers, fields, constants, ...) with
their position and line, including trim markers (``{{- `` / `` -}}``) and comments. Errors
become an ``ERROR`` item whose value is Go's message; the parser reports it.
"""

from __future__ import annotations

from typing import NamedTuple

# item types, in Go's order (keywords after KEYWORD)
ERROR, BOOL, CHAR, CHAR_CONSTANT, COMMENT, COMPLEX, ASSIGN, DECLARE, EOF, FIELD, IDENTIFIER, \
    LEFT_DELIM, LEFT_PAREN, NUMBER, PIPE, RAW_STRING, RIGHT_DELIM, RIGHT_PAREN, SPACE, STRING, \
    TEXT, VARIABLE, KEYWORD, BLOCK, BREAK, CONTINUE, DOT, DEFINE, ELSE, END, IF, NIL, RANGE, \
    TEMPLATE, WITH = range(35)

KEYWORDS = {
    ".": DOT, "block": BLOCK, "break": BREAK, "continue": CONTINUE, "define": DEFINE,
    "else": ELSE, "end": END, "if": IF, "range": RANGE, "nil": NIL, "template": TEMPLATE,
    "with": WITH,
}

LEFT_DELIM_S = "{{"
RIGHT_DELIM_S = "}}"
_SPACE = " \t\r\n"
_EOF = ""


class Item(NamedTuple):
    """One lexed item: its type, start offset (in characters), text, and line."""

    typ: int
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        from .fmt import go_quote

        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ > KEYWORD:
            return "<%s>" % self.val
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_alnum(r: str) -> bool:
    return r == "_" or (r != "" and (r.isalpha() or r.isdecimal()))


def _has_left_trim(s: str, pos: int) -> bool:
    return len(s) >= pos + 2 and s[pos] == "-" and s[pos + 1] in _SPACE


def _has_right_trim(s: str, pos: int) -> bool:
    return len(s) >= pos + 2 and s[pos] in _SPACE and s[pos + 1] == "-"


def unicode_repr(r: str) -> str:
    """Go's ``%#U`` of a rune: ``U+0029 ')'``."""
    from .fmt import is_print

    s = "U+%04X" % ord(r)
    if is_print(r):
        s += " '" + r + "'"
    return s


class Lexer:
    """Produces items on demand (``next_item``), like Go's lexer."""

    def __init__(self, text: str, break_ok: bool = True, continue_ok: bool = True) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.line = 1
        self.start_line = 1
        self.at_eof = False
        self.paren_depth = 0
        self.break_ok = break_ok
        self.continue_ok = continue_ok
        self.items: list[Item] = []
        self.state = self.lex_text

    def next_item(self) -> Item:
        """Return the next item; EOF (or the error) forever once reached."""
        while not self.items:
            if self.state is None:
                return Item(EOF, self.pos, "", self.start_line)
            self.state = self.state()
        return self.items.pop(0)

    # -- primitives
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return _EOF
        r = self.input[self.pos]
        self.pos += 1
        if r == "\n":
            self.line += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def emit(self, t: int) -> None:
        self.items.append(Item(t, self.start, self.input[self.start:self.pos], self.start_line))
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != _EOF and r in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == _EOF or r not in valid:
                break
        self.backup()

    def errorf(self, msg: str) -> None:
        self.items.append(Item(ERROR, self.start, msg, self.start_line))
        return None

    # -- states
    def lex_text(self):
        x = self.input.find(LEFT_DELIM_S, self.pos)
        if x >= 0:
            ldn = len(LEFT_DELIM_S)
            self.pos = x
            trim = 0
            if _has_left_trim(self.input, self.pos + ldn):
                seg = self.input[self.start:self.pos]
                trim = len(seg) - len(seg.rstrip(_SPACE))
            self.pos -= trim
            if self.pos > self.start:
                self.line += self.input.count("\n", self.start, self.pos)
                self.emit(TEXT)
            self.pos += trim
            self.ignore()
            return self.lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            self.emit(TEXT)
        self.emit(EOF)
        return None

    def at_right_delim(self) -> tuple[bool, bool]:
        if _has_right_trim(self.input, self.pos) and \
                self.input.startswith(RIGHT_DELIM_S, self.pos + 2):
            return True, True
        if self.input.startswith(RIGHT_DELIM_S, self.pos):
            return True, False
        return False, False

    def lex_left_delim(self):
        self.pos += len(LEFT_DELIM_S)
        trim = _has_left_trim(self.input, self.pos)
        after = 2 if trim else 0
        if self.input.startswith("/*", self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        self.emit(LEFT_DELIM)
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self):
        self.pos += 2
        i = self.input.find("*/", self.pos)
        if i < 0:
            return self.errorf("unclosed comment")
        self.pos = i + 2
        delim, trim = self.at_right_delim()
        if not delim:
            return self.errorf("comment ends before closing delimiter")
        if trim:
            self.pos += 2
        self.pos += len(RIGHT_DELIM_S)
        if trim:
            rest = self.input[self.pos:]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self):
        trim = _has_right_trim(self.input, self.pos)
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(RIGHT_DELIM_S)
        self.emit(RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos:]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
            self.ignore()
        return self.lex_text

    def lex_inside_action(self):
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.errorf("unclosed left paren")
        r = self.next()
        if r == _EOF:
            return self.errorf("unclosed action")
        if r in _SPACE:
            self.backup()
            return self.lex_space
        if r == "=":
            self.emit(ASSIGN)
        elif r == ":":
            if self.next() != "=":
                return self.errorf("expected :=")
            self.emit(DECLARE)
        elif r == "|":
            self.emit(PIPE)
        elif r == '"':
            return self.lex_quote
        elif r == "`":
            return self.lex_raw_quote
        elif r == "$":
            return self.lex_variable
        elif r == "'":
            return self.lex_char
        elif r == "." and self.pos < len(self.input) and not ("0" <= self.input[self.pos] <= "9"):
            return self.lex_field
        elif r == "." or r == "+" or r == "-" or "0" <= r <= "9":
            self.backup()
            return self.lex_number
        elif _is_alnum(r):
            self.backup()
            return self.lex_identifier
        elif r == "(":
            self.emit(LEFT_PAREN)
            self.paren_depth += 1
        elif r == ")":
            self.emit(RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.errorf("unexpected right paren " + unicode_repr(r))
        elif ord(r) < 0x7F and r >= " ":
            self.emit(CHAR)
        else:
            return self.errorf("unrecognized character in action: " + unicode_repr(r))
        return self.lex_inside_action

    def lex_space(self):
        n = 0
        while True:
            r = self.peek()
            if r == _EOF or r not in _SPACE:
                break
            self.next()
            n += 1
        if _has_right_trim(self.input, self.pos - 1) and \
                self.input.startswith(RIGHT_DELIM_S, self.pos - 1 + 2):
            self.backup()
            if n == 1:
                return self.lex_right_delim
        self.emit(SPACE)
        return self.lex_inside_action

    def lex_identifier(self):
        while True:
            r = self.next()
            if _is_alnum(r):
                continue
            self.backup()
            word = self.input[self.start:self.pos]
            if not self.at_terminator():
                return self.errorf("bad character " + unicode_repr(r))
            kw = KEYWORDS.get(word, 0)
            if kw > KEYWORD:
                if (kw == BREAK and not self.break_ok) or (kw == CONTINUE and not self.continue_ok):
                    self.emit(IDENTIFIER)
                else:
                    self.emit(kw)
            elif word[0] == ".":
                self.emit(FIELD)
            elif word in ("true", "false"):
                self.emit(BOOL)
            else:
                self.emit(IDENTIFIER)
            return self.lex_inside_action

    def lex_field(self):
        return self.lex_field_or_variable(FIELD)

    def lex_variable(self):
        if self.at_terminator():
            self.emit(VARIABLE)
            return self.lex_inside_action
        return self.lex_field_or_variable(VARIABLE)

    def lex_field_or_variable(self, typ: int):
        if self.at_terminator():
            self.emit(VARIABLE if typ == VARIABLE else DOT)
            return self.lex_inside_action
        while True:
            r = self.next()
            if not _is_alnum(r):
                self.backup()
                break
        if not self.at_terminator():
            return self.errorf("bad character " + unicode_repr(r))
        self.emit(typ)
        return self.lex_inside_action

    def at_terminator(self) -> bool:
        r = self.peek()
        if r == _EOF or r in _SPACE or r in ".,|:)(":
            return True
        return self.input.startswith(RIGHT_DELIM_S, self.pos)

    def lex_char(self):
        while True:
            r = self.next()
            if r == "\\":
                r2 = self.next()
                if r2 != _EOF and r2 != "\n":
                    continue
                return self.errorf("unterminated character constant")
            if r == _EOF or r == "\n":
                return self.errorf("unterminated character constant")
            if r == "'":
                break
        self.emit(CHAR_CONSTANT)
        return self.lex_inside_action

    def lex_number(self):
        if not self.scan_number():
            return self.errorf("bad number syntax: " + _q(self.input[self.start:self.pos]))
        sign = self.peek()
        if sign == "+" or sign == "-":
            if not self.scan_number() or self.input[self.pos - 1] != "i":
                return self.errorf("bad number syntax: " + _q(self.input[self.start:self.pos]))
            self.emit(COMPLEX)
        else:
            self.emit(NUMBER)
        return self.lex_inside_action

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self):
        while True:
            r = self.next()
            if r == "\\":
                r2 = self.next()
                if r2 != _EOF and r2 != "\n":
                    continue
                return self.errorf("unterminated quoted string")
            if r == _EOF or r == "\n":
                return self.errorf("unterminated quoted string")
            if r == '"':
                break
        self.emit(STRING)
        return self.lex_inside_action

    def lex_raw_quote(self):
        while True:
            r = self.next()
            if r == _EOF:
                return self.errorf("unterminated raw quoted string")
            if r == "`":
                break
        self.emit(RAW_STRING)
        return self.lex_inside_action


def _q(s: str) -> str:
    from .fmt import go_quote

    return go_quote(s)
