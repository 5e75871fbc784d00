"""Go's ``fmt`` package (Sprint, Sprintln, Sprintf) and the ``strconv`` bits it relies on.

A port of ``fmt/print.go`` and ``fmt/format.go`` (Go 1.19) restricted to the value types of
`omd.gotemplate.values`: verbs, flags, width, precision, ``*`` and ``[n]`` argument indexes,
Go's renderings of maps, slices and nil, and its error forms (``%!d(string=x)``,
``%!s(MISSING)``, ``%!(EXTRA string=x)``). Formats given as constants are parsed once by
`compile_format`, the hot path of ``printf``.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Callable

from .values import MISSING, GoUint8, StringSlice, go_type_name

_LDIGITS = "0123456789abcdefx"
_UDIGITS = "0123456789ABCDEFX"
_MAX_RUNE = 0x10FFFF
_U64 = (1 << 64) - 1


# ---------------------------------------------------------------- strconv

def is_print(ch: str) -> bool:
    """Go's ``unicode.IsPrint`` for one character."""
    if ch == " ":
        return True
    return ch.isprintable()


def _escape_rune(r: int, quote: str, ascii_only: bool) -> str:
    ch = chr(r)
    if ch == quote or ch == "\\":
        return "\\" + ch
    if ascii_only:
        if r < 0x80 and is_print(ch):
            return ch
    elif is_print(ch):
        return ch
    simple = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}.get(r)
    if simple:
        return simple
    if r < 0x20 or r == 0x7F:
        return "\\x%02x" % r
    if 0xD800 <= r <= 0xDFFF or r > _MAX_RUNE:
        r = 0xFFFD
    if r < 0x10000:
        return "\\u%04x" % r
    return "\\U%08x" % r


def go_quote(s: str, ascii_only: bool = False) -> str:
    """Go's ``strconv.Quote`` (or ``QuoteToASCII``)."""
    out = ['"']
    for ch in s:
        if ch.isalnum() and ch.isascii() or ch in " .,:;-_/@#!?()[]{}<>=+*&%$^|~'":
            out.append(ch)
        else:
            out.append(_escape_rune(ord(ch), '"', ascii_only))
    out.append('"')
    return "".join(out)


def go_quote_rune(r: int, ascii_only: bool = False) -> str:
    """Go's ``strconv.QuoteRune``."""
    if r > _MAX_RUNE or r < 0 or 0xD800 <= r <= 0xDFFF:
        r = 0xFFFD
    return "'" + _escape_rune(r, "'", ascii_only) + "'"


def can_backquote(s: str) -> bool:
    """Go's ``strconv.CanBackquote``."""
    for ch in s:
        r = ord(ch)
        if r == 0xFEFF:
            return False
        if (r < 0x20 and ch != "\t") or ch == "`" or r == 0x7F:
            return False
    return True


def _shortest_digits(v: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(v) and the decimal point position."""
    r = repr(abs(v))
    e = 0
    if "e" in r:
        r, es = r.split("e")
        e = int(es)
    ip, _, fp = r.partition(".")
    s = ip + fp
    stripped = s.lstrip("0")
    if not stripped.strip("0"):
        return "", 0
    lead = len(s) - len(stripped)
    return stripped.rstrip("0"), len(ip) + e - lead


def _fmt_e(neg: bool, d: str, dp: int, prec: int, fc: str) -> str:
    out = ["-" if neg else "", d[0] if d else "0"]
    if prec > 0:
        frac = d[1 : prec + 1]
        out.append("." + frac + "0" * (prec - len(frac)))
    exp = dp - 1 if d else 0
    sign = "-" if exp < 0 else "+"
    exp = abs(exp)
    out.append(fc + sign + ("%02d" % exp))
    return "".join(out)


def _fmt_f(neg: bool, d: str, dp: int, prec: int) -> str:
    out = ["-" if neg else ""]
    if dp > 0:
        ip = d[:dp]
        out.append(ip + "0" * (dp - len(ip)))
    else:
        out.append("0")
    if prec > 0:
        frac = []
        for i in range(prec):
            j = dp + i
            frac.append(d[j] if 0 <= j < len(d) else "0")
        out.append("." + "".join(frac))
    return "".join(out)


def _float_bits(v: float) -> tuple[bool, int, int]:
    bits = struct.unpack("<Q", struct.pack("<d", v))[0]
    neg = bool(bits >> 63)
    exp = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    if exp == 0:
        exp += 1
    else:
        mant |= 1 << 52
    return neg, mant, exp - 1023


def _fmt_x(v: float, prec: int, fc: str) -> str:
    neg, mant, exp = _float_bits(v)
    if mant == 0:
        exp = 0
    mant <<= 60 - 52
    while mant != 0 and mant & (1 << 60) == 0:
        mant <<= 1
        exp -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant <<= 60 - shift
        if mant & (1 << 61):
            mant >>= 1
            exp += 1
    digits = _LDIGITS if fc == "x" else _UDIGITS
    out = ["-" if neg else "", "0", fc, str((mant >> 60) & 1)]
    mant = (mant << 4) & ((1 << 64) - 1)
    if prec < 0 and mant != 0:
        out.append(".")
        while mant != 0:
            out.append(digits[(mant >> 60) & 15])
            mant = (mant << 4) & ((1 << 64) - 1)
    elif prec > 0:
        out.append(".")
        for _ in range(prec):
            out.append(digits[(mant >> 60) & 15])
            mant = (mant << 4) & ((1 << 64) - 1)
    out.append("p" if fc == "x" else "P")
    out.append("-" if exp < 0 else "+")
    out.append("%02d" % abs(exp))
    return "".join(out)


def format_float(v: float, fc: str, prec: int) -> str:
    """Go's ``strconv.FormatFloat(v, fc, prec, 64)``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if fc == "b":
        neg, mant, exp = _float_bits(v)
        exp -= 52
        return ("-" if neg else "") + "%dp%s%d" % (mant, "-" if exp < 0 else "+", abs(exp))
    if fc in "xX":
        return _fmt_x(v, prec, fc)
    neg = math.copysign(1.0, v) < 0
    if prec >= 0:
        if fc in "gG" and prec == 0:
            prec = 1
        s = "%.*{}".format(fc) % (prec, v)
        if fc in "gG" and "e" not in s.lower() and neg and s.lstrip("-") == "0":
            return "-0"
        return s
    d, dp = _shortest_digits(v)
    nd = len(d)
    if fc in "eE":
        return _fmt_e(neg, d, dp, max(nd - 1, 0), fc)
    if fc == "f":
        return _fmt_f(neg, d, dp, max(nd - dp, 0))
    # 'g' / 'G', shortest: %e when exp < -4 || exp >= 6 (Go uses 6 for shortest)
    exp = dp - 1
    if exp < -4 or exp >= 6:
        return _fmt_e(neg, d, dp, nd - 1, "e" if fc == "g" else "E")
    return _fmt_f(neg, d, dp, max(nd - dp, 0))


def format_float_g(v: float) -> str:
    """``%v`` of a float64: Go's shortest ``%g`` (``3``, ``0.5``, ``1e+06``)."""
    if v == 0.0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    if v != v or v in (math.inf, -math.inf):
        return format_float(v, "g", -1).lstrip("+")
    return format_float(v, "g", -1)


# ---------------------------------------------------------------- printer

class _Printer:
    """Go's ``pp`` with its ``fmt`` flags: one formatting run writing into `buf`."""

    __slots__ = ("buf", "wid", "prec", "wid_present", "prec_present", "minus", "plus",
                 "sharp", "space", "zero", "plus_v", "sharp_v", "erroring")

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.erroring = False
        self.clearflags()

    def clearflags(self) -> None:
        self.wid = 0
        self.prec = 0
        self.wid_present = self.prec_present = False
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False

    # -- padding
    def _padding(self, n: int) -> None:
        if n > 0:
            self.buf.append(("0" if self.zero else " ") * n)

    def pad(self, s: str) -> None:
        if not self.wid_present or self.wid == 0:
            self.buf.append(s)
            return
        width = self.wid - len(s)
        if not self.minus:
            self._padding(width)
            self.buf.append(s)
        else:
            self.buf.append(s)
            self._padding(width)

    # -- basic formatters (format.go)
    def fmt_integer(self, u: int, base: int, signed: bool, verb: str, digits: str) -> None:
        negative = signed and u < 0
        if negative:
            u = -u
        elif u < 0:
            u &= _U64
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                oldzero = self.zero
                self.zero = False
                self._padding(self.wid)
                self.zero = oldzero
                return
        elif self.zero and self.wid_present:
            prec = self.wid
            if negative or self.plus or self.space:
                prec -= 1
        if base == 10:
            s = str(u)
        elif base == 16:
            s = format(u, "x")
            if digits is _UDIGITS:
                s = s.upper()
        elif base == 8:
            s = format(u, "o")
        else:
            s = format(u, "b")
        if prec > len(s):
            s = "0" * (prec - len(s)) + s
        if self.sharp:
            if base == 2:
                s = "0b" + s
            elif base == 8:
                if s[0] != "0":
                    s = "0" + s
            elif base == 16:
                s = "0" + digits[16] + s
        if verb == "O":
            s = "0o" + s
        if negative:
            s = "-" + s
        elif self.plus:
            s = "+" + s
        elif self.space:
            s = " " + s
        oldzero = self.zero
        self.zero = False
        self.pad(s)
        self.zero = oldzero

    def fmt_unicode(self, u: int) -> None:
        u &= _U64
        prec = 4
        if self.prec_present and self.prec > 4:
            prec = self.prec
        s = "%X" % u
        if len(s) < prec:
            s = "0" * (prec - len(s)) + s
        s = "U+" + s
        if self.sharp and u <= _MAX_RUNE and not (0xD800 <= u <= 0xDFFF) and is_print(chr(u)):
            s += " '" + chr(u) + "'"
        oldzero = self.zero
        self.zero = False
        self.pad(s)
        self.zero = oldzero

    def fmt_c(self, c: int) -> None:
        c &= _U64
        if c > _MAX_RUNE or 0xD800 <= c <= 0xDFFF:
            c = 0xFFFD
        self.pad(chr(c))

    def fmt_qc(self, c: int) -> None:
        c &= _U64
        self.pad(go_quote_rune(c, self.plus))

    def _truncate(self, s: str) -> str:
        if self.prec_present and self.prec < len(s):
            return s[: self.prec]
        return s

    def fmt_s(self, s: str) -> None:
        self.pad(self._truncate(s))

    def fmt_sx(self, s: str, digits: str) -> None:
        b = s.encode("utf-8", "surrogatepass")
        length = len(b)
        if self.prec_present and self.prec < length:
            length = self.prec
        width = 2 * length
        if width > 0:
            if self.space:
                if self.sharp:
                    width *= 2
                width += length - 1
            elif self.sharp:
                width += 2
        else:
            if self.wid_present:
                self._padding(self.wid)
            return
        if self.wid_present and self.wid > width and not self.minus:
            self._padding(self.wid - width)
        out = []
        if self.sharp:
            out.append("0" + digits[16])
        for i in range(length):
            if self.space and i > 0:
                out.append(" ")
                if self.sharp:
                    out.append("0" + digits[16])
            c = b[i]
            out.append(digits[c >> 4] + digits[c & 0xF])
        self.buf.append("".join(out))
        if self.wid_present and self.wid > width and self.minus:
            self._padding(self.wid - width)

    def fmt_q(self, s: str) -> None:
        s = self._truncate(s)
        if self.sharp and can_backquote(s):
            self.pad("`" + s + "`")
            return
        self.pad(go_quote(s, self.plus))

    def fmt_float_raw(self, v: float, verb: str, prec: int) -> None:
        if self.prec_present:
            prec = self.prec
        num = format_float(v, verb, prec)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            oldzero = self.zero
            self.zero = False
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad(num)
            self.zero = oldzero
            return
        if self.sharp and verb != "b":
            digits = 0
            if verb in "vgGx":
                digits = prec
                if digits == -1:
                    digits = 6
            tail = ""
            has_point = False
            saw_nonzero = False
            body = list(num)
            i = 1
            while i < len(body):
                c = body[i]
                if c == ".":
                    has_point = True
                elif c in "pP":
                    tail = "".join(body[i:])
                    del body[i:]
                    break
                elif c in "eE" and verb not in "xX":
                    tail = "".join(body[i:])
                    del body[i:]
                    break
                else:
                    if c != "0":
                        saw_nonzero = True
                    if saw_nonzero:
                        digits -= 1
                i += 1
            if not has_point:
                if len(body) == 2 and body[1] == "0":
                    digits -= 1
                body.append(".")
            while digits > 0:
                body.append("0")
                digits -= 1
            num = "".join(body) + tail
        if self.plus or num[0] != "+":
            if self.zero and self.wid_present and self.wid > len(num):
                self.buf.append(num[0])
                self._padding(self.wid - len(num))
                self.buf.append(num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    # -- print.go
    def bad_verb(self, verb: str, arg: Any) -> None:
        self.erroring = True
        self.buf.append("%!" + verb + "(")
        if arg is None or arg is MISSING:
            self.buf.append("<nil>")
        else:
            self.buf.append(go_type_name(arg) + "=")
            self.print_arg(arg, "v")
        self.buf.append(")")
        self.erroring = False

    def fmt_bool(self, v: bool, verb: str) -> None:
        if verb == "t" or verb == "v":
            self.pad("true" if v else "false")
        else:
            self.bad_verb(verb, v)

    def fmt_int(self, v: int, signed: bool, verb: str, arg: Any) -> None:
        if verb == "v":
            if self.sharp_v and not signed:
                sharp = self.sharp
                self.sharp = True
                self.fmt_integer(v, 16, False, "v", _LDIGITS)
                self.sharp = sharp
            else:
                self.fmt_integer(v, 10, signed, verb, _LDIGITS)
        elif verb == "d":
            self.fmt_integer(v, 10, signed, verb, _LDIGITS)
        elif verb == "b":
            self.fmt_integer(v, 2, signed, verb, _LDIGITS)
        elif verb == "o" or verb == "O":
            self.fmt_integer(v, 8, signed, verb, _LDIGITS)
        elif verb == "x":
            self.fmt_integer(v, 16, signed, verb, _LDIGITS)
        elif verb == "X":
            self.fmt_integer(v, 16, signed, verb, _UDIGITS)
        elif verb == "c":
            self.fmt_c(v)
        elif verb == "q":
            self.fmt_qc(v)
        elif verb == "U":
            self.fmt_unicode(v)
        else:
            self.bad_verb(verb, arg)

    def fmt_float(self, v: float, verb: str) -> None:
        if verb == "v":
            self.fmt_float_raw(v, "g", -1)
        elif verb in "bgGxX":
            self.fmt_float_raw(v, verb, -1)
        elif verb in "feE":
            self.fmt_float_raw(v, verb, 6)
        elif verb == "F":
            self.fmt_float_raw(v, "f", 6)
        else:
            self.bad_verb(verb, v)

    def fmt_complex(self, v: complex, verb: str) -> None:
        if verb in "vbgGxXfFeE":
            oldplus = self.plus
            self.buf.append("(")
            self.fmt_float(v.real, verb)
            self.plus = True
            self.fmt_float(v.imag, verb)
            self.buf.append("i)")
            self.plus = oldplus
        else:
            self.bad_verb(verb, v)

    def fmt_string(self, v: str, verb: str) -> None:
        if verb == "v":
            if self.sharp_v:
                self.fmt_q(v)
            else:
                self.fmt_s(v)
        elif verb == "s":
            self.fmt_s(v)
        elif verb == "x":
            self.fmt_sx(v, _LDIGITS)
        elif verb == "X":
            self.fmt_sx(v, _UDIGITS)
        elif verb == "q":
            self.fmt_q(v)
        else:
            self.bad_verb(verb, v)

    def print_arg(self, arg: Any, verb: str) -> None:
        if arg is None or arg is MISSING:
            if verb == "T" or verb == "v":
                self.pad("<nil>")
            else:
                self.bad_verb(verb, None)
            return
        if verb == "T":
            self.fmt_s(go_type_name(arg))
            return
        t = type(arg)
        if t is str:
            self.fmt_string(arg, verb)
        elif t is float:
            self.fmt_float(arg, verb)
        elif t is bool:
            self.fmt_bool(arg, verb)
        elif t is int:
            self.fmt_int(arg, True, verb, arg)
        elif t is GoUint8:
            self.fmt_int(int(arg), False, verb, arg)
        elif t is complex:
            self.fmt_complex(arg, verb)
        elif verb == "p":
            self.fmt_pointer(arg, verb)
        else:
            self.print_value(arg, verb, 0)

    def fmt_pointer(self, arg: Any, verb: str) -> None:
        if isinstance(arg, (dict, list)):
            # Addresses are meaningless here; print a fixed fake one.
            self.pad("0xc000010000")
        else:
            self.bad_verb(verb, arg)

    def print_value(self, value: Any, verb: str, depth: int) -> None:
        if isinstance(value, dict):
            if self.sharp_v:
                self.buf.append("map[string]interface {}{")
            else:
                self.buf.append("map[")
            for i, key in enumerate(sorted(value)):
                if i > 0:
                    self.buf.append(", " if self.sharp_v else " ")
                self.print_value(key, verb, depth + 1)
                self.buf.append(":")
                self._print_elem(value[key], verb, depth + 1)
            self.buf.append("}" if self.sharp_v else "]")
        elif isinstance(value, list):
            boxed = type(value) is not StringSlice
            if self.sharp_v:
                self.buf.append(go_type_name(value) + "{")
            else:
                self.buf.append("[")
            for i, elem in enumerate(value):
                if i > 0:
                    self.buf.append(", " if self.sharp_v else " ")
                if boxed:
                    self._print_elem(elem, verb, depth + 1)
                else:
                    self.print_value(elem, verb, depth + 1)
            self.buf.append("}" if self.sharp_v else "]")
        elif value is None or value is MISSING:
            if depth == 0:
                self.buf.append("<invalid reflect.Value>")
            elif verb == "v":
                self.buf.append("<nil>")
            else:
                self.bad_verb(verb, None)
        else:
            self.print_arg(value, verb)

    def _print_elem(self, elem: Any, verb: str, depth: int) -> None:
        """An ``interface {}`` element: nil prints as ``<nil>`` whatever the verb."""
        if elem is None:
            self.buf.append("interface {}(nil)" if self.sharp_v else "<nil>")
        else:
            self.print_value(elem, verb, depth)


# ---------------------------------------------------------------- entry points

def sprint_value(v: Any) -> str:
    """``fmt.Sprint(v)`` of one value: what ``{{.}}`` prints."""
    t = type(v)
    if t is str:
        return v
    if t is float:
        return format_float_g(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if v is None:
        return "<nil>"
    p = _Printer()
    p.print_arg(v, "v")
    return "".join(p.buf)


def sprint(args: list) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    p = _Printer()
    prev_string = False
    for i, arg in enumerate(args):
        is_string = type(arg) is str
        if i > 0 and not is_string and not prev_string:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        prev_string = is_string
    return "".join(p.buf)


def sprintln(args: list) -> str:
    """Go's ``fmt.Sprintln``: operands separated by spaces, then a newline."""
    p = _Printer()
    for i, arg in enumerate(args):
        if i > 0:
            p.buf.append(" ")
        p.print_arg(arg, "v")
    p.buf.append("\n")
    return "".join(p.buf)


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num = 0
    isnum = False
    i = start
    while i < end and "0" <= s[i] <= "9":
        if not (-1000000 < num < 1000000):
            return 0, False, end
        num = num * 10 + ord(s[i]) - 48
        isnum = True
        i += 1
    return num, isnum, i


def _int_from_arg(a: list, argnum: int) -> tuple[int, bool, int]:
    num, isint, new = 0, False, argnum
    if argnum < len(a):
        v = a[argnum]
        if type(v) is int or type(v) is GoUint8:
            num, isint = int(v), True
        new = argnum + 1
        if not (-1000000 < num < 1000000):
            num, isint = 0, False
    return num, isint, new


def _arg_number(p: list, argnum: int, fmt: str, i: int, numargs: int) -> tuple[int, int, bool]:
    """Go's ``argNumber``; `p` is [reordered, good_arg_num]."""
    if len(fmt) <= i or fmt[i] != "[":
        return argnum, i, False
    p[0] = True
    sub = fmt[i:]
    index, wid, ok = 0, 1, False
    if len(sub) >= 3:
        for j in range(1, len(sub)):
            if sub[j] == "]":
                width, isnum, newi = _parsenum(sub, 1, j)
                if not isnum or newi != j:
                    index, wid, ok = 0, j + 1, False
                else:
                    index, wid, ok = width - 1, j + 1, True
                break
    if ok and 0 <= index < numargs:
        return index, i + wid, True
    p[1] = False
    return argnum, i + wid, ok


def sprintf(fmt: str, a: list) -> str:
    """Go's ``fmt.Sprintf``."""
    p = _Printer()
    buf = p.buf
    end = len(fmt)
    argnum = 0
    after_index = False
    flags = [False, True]  # reordered, good_arg_num
    i = 0
    while i < end:
        flags[1] = True
        lasti = i
        j = fmt.find("%", i)
        i = end if j < 0 else j
        if i > lasti:
            buf.append(fmt[lasti:i])
        if i >= end:
            break
        i += 1
        p.clearflags()
        simple_done = False
        while i < end:
            c = fmt[i]
            if c == "#":
                p.sharp = True
            elif c == "0":
                p.zero = not p.minus
            elif c == "+":
                p.plus = True
            elif c == "-":
                p.minus = True
                p.zero = False
            elif c == " ":
                p.space = True
            else:
                if "a" <= c <= "z" and argnum < len(a):
                    if c == "v":
                        p.sharp_v, p.sharp = p.sharp, False
                        p.plus_v, p.plus = p.plus, False
                    p.print_arg(a[argnum], c)
                    argnum += 1
                    i += 1
                    simple_done = True
                break
            i += 1
        if simple_done:
            continue
        argnum, i, after_index = _arg_number(flags, argnum, fmt, i, len(a))
        if i < end and fmt[i] == "*":
            i += 1
            p.wid, p.wid_present, argnum = _int_from_arg(a, argnum)
            if not p.wid_present:
                buf.append("%!(BADWIDTH)")
            if p.wid < 0:
                p.wid = -p.wid
                p.minus = True
                p.zero = False
            after_index = False
        else:
            p.wid, p.wid_present, i = _parsenum(fmt, i, end)
            if after_index and p.wid_present:
                flags[1] = False
        if i + 1 < end and fmt[i] == ".":
            i += 1
            if after_index:
                flags[1] = False
            argnum, i, after_index = _arg_number(flags, argnum, fmt, i, len(a))
            if i < end and fmt[i] == "*":
                i += 1
                p.prec, p.prec_present, argnum = _int_from_arg(a, argnum)
                if p.prec < 0:
                    p.prec = 0
                    p.prec_present = False
                if not p.prec_present:
                    buf.append("%!(BADPREC)")
                after_index = False
            else:
                p.prec, p.prec_present, i = _parsenum(fmt, i, end)
                if not p.prec_present:
                    p.prec = 0
                    p.prec_present = True
        if not after_index:
            argnum, i, after_index = _arg_number(flags, argnum, fmt, i, len(a))
        if i >= end:
            buf.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            buf.append("%")
        elif not flags[1]:
            buf.append("%!" + verb + "(BADINDEX)")
        elif argnum >= len(a):
            buf.append("%!" + verb + "(MISSING)")
        else:
            if verb == "v":
                p.sharp_v, p.sharp = p.sharp, False
                p.plus_v, p.plus = p.plus, False
            p.print_arg(a[argnum], verb)
            argnum += 1
    if not flags[0] and argnum < len(a):
        _extra(p, a[argnum:])
    return "".join(buf)


def _extra(p: _Printer, rest: list) -> None:
    p.clearflags()
    p.buf.append("%!(EXTRA ")
    for k, arg in enumerate(rest):
        if k > 0:
            p.buf.append(", ")
        if arg is None or arg is MISSING:
            p.buf.append("<nil>")
        else:
            p.buf.append(go_type_name(arg) + "=")
            p.print_arg(arg, "v")
    p.buf.append(")")


def compile_format(fmt: str) -> Callable[[list], str]:
    """Return a function equivalent to ``lambda a: sprintf(fmt, a)``, parsed once.

    Formats using ``*`` or ``[n]`` keep the general interpreter.
    """
    if "*" in fmt or "[" in fmt:
        return lambda a: sprintf(fmt, a)
    ops: list = []  # str literal, or (verb, flags tuple or None for plain)
    end = len(fmt)
    i = 0
    nverbs = 0
    while i < end:
        j = fmt.find("%", i)
        if j < 0:
            ops.append(fmt[i:])
            break
        if j > i:
            ops.append(fmt[i:j])
        i = j + 1
        flags = {"sharp": False, "zero": False, "plus": False, "minus": False, "space": False}
        while i < end and fmt[i] in "#0+- ":
            c = fmt[i]
            if c == "#":
                flags["sharp"] = True
            elif c == "0":
                flags["zero"] = not flags["minus"]
            elif c == "+":
                flags["plus"] = True
            elif c == "-":
                flags["minus"] = True
                flags["zero"] = False
            else:
                flags["space"] = True
            i += 1
        wid, wid_present, i = _parsenum(fmt, i, end)
        prec, prec_present = 0, False
        if i + 1 < end and fmt[i] == ".":
            i += 1
            prec, prec_present, i = _parsenum(fmt, i, end)
            if not prec_present:
                prec, prec_present = 0, True
        if i >= end:
            ops.append(("NOVERB", None))
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            ops.append("%")
            continue
        plain = not any(flags.values()) and not wid_present and not prec_present
        spec = None if plain else (flags["sharp"], flags["zero"], flags["plus"], flags["minus"],
                                   flags["space"], wid, wid_present, prec, prec_present)
        ops.append((verb, spec))
        nverbs += 1
    # merge adjacent literals
    merged: list = []
    for op in ops:
        if type(op) is str and merged and type(merged[-1]) is str:
            merged[-1] += op
        else:
            merged.append(op)
    ops_t = tuple(merged)

    def run(a: list) -> str:
        buf: list[str] = []
        p = None
        argnum = 0
        na = len(a)
        for op in ops_t:
            if type(op) is str:
                buf.append(op)
                continue
            verb, spec = op
            if verb == "NOVERB":
                buf.append("%!(NOVERB)")
                break
            if argnum >= na:
                buf.append("%!" + verb + "(MISSING)")
                continue
            arg = a[argnum]
            argnum += 1
            if spec is None and type(arg) is str and (verb == "s" or verb == "v"):
                buf.append(arg)
                continue
            if p is None:
                p = _Printer()
            p.buf = buf
            p.clearflags()
            if spec is not None:
                (p.sharp, p.zero, p.plus, p.minus, p.space,
                 p.wid, p.wid_present, p.prec, p.prec_present) = spec
            if verb == "v":
                p.sharp_v, p.sharp = p.sharp, False
                p.plus_v, p.plus = p.plus, False
            p.print_arg(arg, verb)
        if argnum < na:
            if p is None:
                p = _Printer()
            p.buf = buf
            _extra(p, a[argnum:])
        return "".join(buf)

    return run
