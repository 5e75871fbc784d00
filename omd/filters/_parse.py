"""The filter language: parse `--filter` / `filter=` expressions into a `FilterSpec`.

Grammar (docs/filters.md): an expression is ``<element>[,<element>...]``; an element is a kind
name, a label assertion ``key=glob`` / ``key!=glob``, or a data assertion ``.path<op>value``.
Every mistake raises `FilterError` showing the expression with a caret at the fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Union

from ..errors import FilterError, UnknownKindError
from omd.model.events import KIND_NAMES, kind_info

#: A data value or literal: a string, a number (always float), True, False or None.
Value = Union[str, float, bool, None]
PathSegment = Union[str, int]

DATA_OPS = ("!=", ">=", "<=", "=", ">", "<")  # longest first
GLOB_CHARS = frozenset("*?[")
# Unquoted path keys: what upstream's flattened keys are made of; anything else is quoted.
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-#$/@:")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_json_string = json.decoder.scanstring


@dataclass(frozen=True, slots=True)
class LabelAssertion:
    """``key=value`` (or ``key!=value`` when `negate`); `glob` when value has ``* ? [``."""

    key: str
    value: str
    negate: bool = False

    @property
    def glob(self) -> bool:
        """True when the value is a pattern rather than an exact value."""
        return not GLOB_CHARS.isdisjoint(self.value)


@dataclass(frozen=True, slots=True)
class DataAssertion:
    """``.path<op>value`` on the event data; `value` is the literal (numbers are floats)."""

    path: tuple[PathSegment, ...]
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class Filter:
    """One expression: kinds (empty: every kind) that share its label and data assertions."""

    kinds: tuple[str, ...]
    labels: tuple[LabelAssertion, ...]
    data: tuple[DataAssertion, ...]
    text: str


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """Parsed filters, ORed; no filter at all means every event."""

    filters: tuple[Filter, ...]

    def __iter__(self):
        return iter(self.filters)

    def __len__(self) -> int:
        return len(self.filters)

    @property
    def expressions(self) -> tuple[str, ...]:
        """The source expressions, in order."""
        return tuple(f.text for f in self.filters)

    @property
    def kinds(self) -> frozenset[str] | None:
        """The kinds an event can have to match, or None when any kind can (some filter names
        no kind, or there is no filter): what to subscribe to upstream of the matcher."""
        if not self.filters or any(not f.kinds for f in self.filters):
            return None
        return frozenset(k for f in self.filters for k in f.kinds)

    def label_values(self, key: str) -> frozenset[str] | None:
        """The exact values label `key` can have to match, or None when it is not pinned by
        every filter (no filter, or a filter without an exact ``key=value``)."""
        if not self.filters:
            return None
        values = set()
        for f in self.filters:
            exact = [a.value for a in f.labels if a.key == key and not a.negate and not a.glob]
            if not exact:
                return None
            if len(set(exact)) > 1:  # contradictory: this filter matches nothing
                continue
            values.add(exact[0])
        return frozenset(values)


def parse(expressions: list[str] | tuple[str, ...]) -> FilterSpec:
    """Parse filter expressions (ORed) into a `FilterSpec`; raises `FilterError`."""
    if isinstance(expressions, str):
        raise TypeError("parse() takes a list of expressions, not a string")
    return FilterSpec(tuple(_Parser(expr).parse() for expr in expressions))


class _Parser:
    """One expression, scanned left to right with the position of every element."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise FilterError(f"a filter is a string, not {type(text).__name__}")
        self.text = text
        self.i = 0
        self.kinds: list[str] = []
        self.labels: list[LabelAssertion] = []
        self.data: list[DataAssertion] = []

    def fail(self, message: str, pos: int | None = None) -> FilterError:
        """A FilterError pointing at `pos` (default: the current position)."""
        return FilterError(f"bad filter: {message}", self.text, self.i if pos is None else pos)

    def skip_spaces(self) -> None:
        text, n = self.text, len(self.text)
        while self.i < n and text[self.i].isspace():
            self.i += 1

    def parse(self) -> Filter:
        text, n = self.text, len(self.text)
        if "\0" in text:
            raise self.fail("NUL character", text.index("\0"))
        while True:
            self.skip_spaces()
            if self.i >= n or text[self.i] == ",":
                raise self.fail("empty element" if n else "empty filter")
            if text[self.i] == ".":
                self.data_assertion()
            else:
                self.word()
            self.skip_spaces()
            if self.i >= n:
                break
            if text[self.i] != ",":
                raise self.fail(f"unexpected {text[self.i]!r} (elements are separated by commas)")
            self.i += 1
        return Filter(tuple(self.kinds), tuple(self.labels), tuple(self.data), text)

    # ------------------------------------------------------------------ kinds and labels

    def word(self) -> None:
        text, start = self.text, self.i
        end = text.find(",", start)
        if end < 0:
            end = len(text)
        element = text[start:end].rstrip()
        self.i = end
        eq = element.find("=")
        if eq < 0:
            for op in ("<", ">"):
                if op in element:
                    raise self.fail("bad operator: labels take = or != (data assertions start "
                                    "with a dot: .path" + op + "value)", start + element.index(op))
            try:
                kind_info(element)
            except UnknownKindError as exc:
                raise self.fail(str(exc), start) from None
            self.kinds.append(element)
            return
        negate = eq > 0 and element[eq - 1] == "!"
        key = element[: eq - 1 if negate else eq].strip()
        value = element[eq + 1 :].strip()
        if not key:
            raise self.fail("empty label key", start)
        if key[-1] in "<>":
            raise self.fail("bad operator: labels take = or != (data assertions start with a "
                            "dot)", start + element.index(key[-1]))
        assertion = LabelAssertion(key, value, negate)
        if assertion.glob:
            pos = _glob_error(value)
            if pos is not None:
                raise self.fail("unterminated [ in label pattern",
                                start + eq + 1 + element[eq + 1 :].index(value) + pos)
        self.labels.append(assertion)

    # ------------------------------------------------------------------ data assertions

    def data_assertion(self) -> None:
        text, n = self.text, len(self.text)
        path: list[PathSegment] = []
        while self.i < n and text[self.i] in ".[":
            if text[self.i] == ".":
                self.i += 1
                if self.i < n and text[self.i] == '"':
                    path.append(self.string("path key"))
                else:
                    j = self.i
                    while j < n and (text[j] in _NAME_CHARS or ord(text[j]) > 127):
                        j += 1
                    if j == self.i:
                        raise self.fail("empty key in data path (quote keys with other characters: .\"a b\")")
                    path.append(text[self.i : j])
                    self.i = j
            else:
                end = text.find("]", self.i)
                digits = text[self.i + 1 : end] if end > 0 else ""
                if not digits.isdigit() or not digits.isascii() or int(digits) > 0xFFFFFFFF:
                    raise self.fail("bad array index (expected [<number>])")
                path.append(int(digits))
                self.i = end + 1
        self.skip_spaces()
        op = next((o for o in DATA_OPS if text.startswith(o, self.i)), None)
        if op is None:
            if self.i >= n or text[self.i] == ",":
                raise self.fail("missing operator (= != < <= > >=) after the data path")
            raise self.fail("bad operator (expected = != < <= > >=)")
        self.i += len(op)
        self.skip_spaces()
        self.data.append(DataAssertion(tuple(path), op, self.literal()))

    def string(self, what: str) -> str:
        """A JSON string at the current position (the opening quote)."""
        quote = self.i
        try:
            value, self.i = _json_string(self.text, quote + 1, True)
        except json.JSONDecodeError as exc:
            if exc.msg.startswith("Unterminated string"):
                raise self.fail(f"unterminated quote in {what}", quote) from None
            raise self.fail(f"bad {what}: {exc.msg.lower()}", exc.pos) from None
        return value

    def literal(self) -> Value:
        text, n, start = self.text, len(self.text), self.i
        if start >= n or text[start] == ",":
            raise self.fail("missing value after the operator")
        if text[start] == '"':
            return self.string("string value")
        end = text.find(",", start)
        if end < 0:
            end = n
        word = text[start:end].rstrip()
        self.i = start + len(word)
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        if word[0] in "+-.0123456789":
            if not _NUMBER.match(word):
                raise self.fail(f"bad literal {word!r}: not a JSON number (quote strings that "
                                "start like numbers: \"...\")", start)
            return float(word)
        if word[0] in "=<>!":
            raise self.fail(f"bad operator before {word!r}", start)
        if '"' in word:
            raise self.fail(f"bad literal {word!r}: stray quote", start + word.index('"'))
        return word


def _glob_error(pattern: str) -> int | None:
    """Index of the first ``[`` that has no closing ``]``, or None."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            close = pattern.find("]", j)
            if close < 0:
                return i
            i = close + 1
        else:
            i += 1
    return None


__all__ = ["DataAssertion", "Filter", "FilterSpec", "LabelAssertion", "Value", "parse",
           "KIND_NAMES"]
