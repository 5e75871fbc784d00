"""Execution of parsed templates: a port of ``text/template/exec.go`` compiled to closures.

Each parse-tree node is compiled once into a Python closure that mirrors what Go's
``state.walk``/``evalPipeline``/``evalCall`` do for that node, including the places where
Go records the current node (``s.at``), so execution errors name the same node and
position as Go's. Rendering a template is then calling closures: no tree walking.

Go distinguishes a nil ``interface {}`` (JSON ``null`` read from a map: ``None``) from the
invalid value (a missing key: ``MISSING``), and values read out of a map or slice
("boxed" in an ``interface {}``) from values a pipeline produced. The executor tracks the
latter only where Go's behaviour depends on it: field access on dot or a variable.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import nodes as N
from .errors import TemplateExecError
from .fmt import compile_format, go_quote, sprint_value, sprintf
from .funcs import ALL, Boxed, Func, FuncError, WaitState, truth
from .values import MISSING, StringSlice, go_type_name

MAX_EXEC_DEPTH = 100000  # Go's limit; Python's recursion limit is reached first (see render)

_NOFINAL: Any = object()  # Go's missingVal: no value piped in from a previous command

_TYPE_NAMES = {"value": "reflect.Value", "rawvalue": "reflect.Value", "any": "interface {}",
               "string": "string", "bool": "bool", "int": "int"}


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class ExecState:
    """Mutable state of one execution: output, variables, current node, wait state."""

    __slots__ = ("out", "vars", "node", "tmpl_name", "dot_boxed", "wait", "depth", "program")

    def __init__(self, program: "Program", name: str, wait: WaitState) -> None:
        self.out: list[str] = []
        self.vars: list[list] = []
        self.node: Optional[N.Node] = None
        self.tmpl_name = name
        self.dot_boxed = False
        self.wait = wait
        self.depth = 0
        self.program = program

    def error(self, msg: str) -> TemplateExecError:
        """Build Go's execution error for the current node."""
        name = self.tmpl_name
        node = self.node
        if node is None:
            return TemplateExecError("template: %s: %s" % (name, msg))
        text = self.program.text[:node.pos]
        nl = text.rfind("\n")
        col = len(text[nl + 1:].encode("utf-8", "surrogateescape"))
        line = text.count("\n") + 1
        return TemplateExecError("template: %s:%d:%d: executing %s at <%s>: %s" % (
            self.program.parse_name, line, col, go_quote(name), node, msg))


def _lookup_var(st: ExecState, name: str) -> list:
    for v in reversed(st.vars):
        if v[0] == name:
            return v
    raise st.error("undefined variable: %s" % name)


# ---------------------------------------------------------------- value checks

def _validate(st: ExecState, v: Any, typ: Optional[str]) -> Any:
    """Go's ``validateType``."""
    if v is MISSING:
        if typ is None or typ == "value" or typ == "rawvalue":
            return MISSING
        if typ == "any":
            return None
        raise st.error("invalid value; expected %s" % _TYPE_NAMES[typ])
    if typ is None or typ == "any" or typ == "value" or typ == "rawvalue":
        return v
    t = type(v)
    if (typ == "string" and t is str) or (typ == "bool" and t is bool) or (typ == "int" and t is int):
        return v
    raise st.error("wrong type for value; expected %s; got %s" % (_TYPE_NAMES[typ], go_type_name(v)))


def _field_slow(st: ExecState, name: str, receiver: Any, boxed: bool, has_args: bool) -> Any:
    """Go's ``evalField`` for anything but a present map."""
    if receiver is MISSING:
        return MISSING
    if receiver is None:
        raise st.error("nil pointer evaluating interface {}.%s" % name)
    if isinstance(receiver, dict):
        if has_args:
            raise st.error("%s is not a method but has arguments" % name)
        return receiver.get(name, MISSING)
    typ = "interface {}" if boxed else go_type_name(receiver)
    raise st.error("can't evaluate field %s in type %s" % (name, typ))


def _not_a_function(st: ExecState, args: Optional[list], final: Any) -> None:
    if (args is not None and len(args) > 1) or final is not _NOFINAL:
        raise st.error("can't give argument to non-function %s" % args[0])


# ---------------------------------------------------------------- compiler

class Compiler:
    """Compiles the trees of one template set into closures."""

    def __init__(self, funcs: dict[str, Func]) -> None:
        self.funcs = funcs

    # -- statements: f(st, dot) -> None
    def stmt(self, node: N.Node) -> Callable[[ExecState, Any], None]:
        if isinstance(node, N.ListNode):
            fns = [self.stmt(n) for n in node.nodes if not isinstance(n, N.CommentNode)]
            if len(fns) == 1:
                return fns[0]

            def run_list(st, dot):
                for f in fns:
                    f(st, dot)
            return run_list
        if isinstance(node, N.TextNode):
            text = node.text
            return lambda st, dot: st.out.append(text)
        if isinstance(node, N.ActionNode):
            return self.action(node)
        if isinstance(node, N.IfNode) or isinstance(node, N.WithNode):
            return self.if_with(node)
        if isinstance(node, N.RangeNode):
            return self.range_(node)
        if isinstance(node, N.TemplateNode):
            return self.template(node)
        if isinstance(node, N.BreakNode):
            def brk(st, dot):
                raise _Break
            return brk
        if isinstance(node, N.ContinueNode):
            def cont(st, dot):
                raise _Continue
            return cont
        if isinstance(node, N.CommentNode):
            return lambda st, dot: None
        raise AssertionError("unknown node: %s" % node)

    def action(self, node: N.ActionNode):
        pipe = self.pipeline(node.pipe)
        if node.pipe.decl:
            def run_decl(st, dot):
                st.node = node
                pipe(st, dot)
            return run_decl

        def run(st, dot):
            st.node = node
            v = pipe(st, dot)
            st.node = node
            if type(v) is str:
                st.out.append(v)
            else:
                st.out.append("<no value>" if v is MISSING else sprint_value(v))
        return run

    def if_with(self, node: N.BranchNode):
        pipe = self.pipeline(node.pipe)
        body = self.stmt(node.list)
        els = self.stmt(node.else_list) if node.else_list is not None else None
        is_with = isinstance(node, N.WithNode)

        def run(st, dot):
            st.node = node
            mark = len(st.vars)
            try:
                val = pipe(st, dot)
                if truth(val):
                    if is_with:
                        saved = st.dot_boxed
                        st.dot_boxed = False
                        try:
                            body(st, val)
                        finally:
                            st.dot_boxed = saved
                    else:
                        body(st, dot)
                elif els is not None:
                    els(st, dot)
            finally:
                del st.vars[mark:]
        return run

    def range_(self, node: N.RangeNode):
        pipe = self.pipeline(node.pipe)
        body = self.stmt(node.list)
        els = self.stmt(node.else_list) if node.else_list is not None else None
        decl = [d.ident[0] for d in node.pipe.decl]
        ndecl = len(decl)
        is_assign = node.pipe.is_assign

        def run(st, dot):
            st.node = node
            mark = len(st.vars)
            try:
                val = pipe(st, dot)
                inner = len(st.vars)

                def one(index, elem, boxed):
                    if ndecl:
                        if is_assign:
                            v = _lookup_var(st, decl[0])
                            if ndecl > 1:
                                v[1], v[2] = index, False
                            else:
                                v[1], v[2] = elem, boxed
                        else:
                            v = st.vars[-1]
                            v[1], v[2] = elem, boxed
                    if ndecl > 1:
                        if is_assign:
                            v = _lookup_var(st, decl[1])
                            v[1], v[2] = elem, boxed
                        else:
                            v = st.vars[-2]
                            v[1], v[2] = index, False
                    saved = st.dot_boxed
                    st.dot_boxed = boxed
                    try:
                        body(st, elem)
                    except _Continue:
                        pass
                    finally:
                        st.dot_boxed = saved
                        del st.vars[inner:]

                t = type(val)
                if t is list or t is StringSlice:
                    if val:
                        boxed = t is list
                        for i, e in enumerate(val):
                            one(i, e, boxed)
                        return
                elif t is dict:
                    if val:
                        for k in sorted(val):
                            one(k, val[k], True)
                        return
                elif t is int:
                    # Go >= 1.22: range over an integer
                    if ndecl > 1:
                        raise st.error("can't use %s to iterate over more than one variable" % val)
                    if val > 0:
                        for i in range(val):
                            one(i, i, False)
                        return
                elif val is not MISSING:
                    raise st.error("range can't iterate over %s" % sprint_value(val))
                if els is not None:
                    els(st, dot)
            except _Break:
                pass
            finally:
                del st.vars[mark:]
        return run

    def template(self, node: N.TemplateNode):
        pipe = self.pipeline(node.pipe) if node.pipe is not None else None
        name = node.name

        def run(st, dot):
            st.node = node
            fn = st.program.bodies.get(name)
            if fn is None:
                raise st.error("template %s not defined" % go_quote(name))
            if st.depth >= MAX_EXEC_DEPTH:
                raise st.error("exceeded maximum template depth (%d)" % MAX_EXEC_DEPTH)
            newdot = pipe(st, dot) if pipe is not None else MISSING
            saved = (st.vars, st.tmpl_name, st.dot_boxed)
            st.vars = [["$", newdot, False]]
            st.tmpl_name = name
            st.dot_boxed = False
            st.depth += 1
            fn(st, newdot)
            st.depth -= 1
            st.vars, st.tmpl_name, st.dot_boxed = saved
        return run

    # -- expressions
    def pipeline(self, pipe: N.PipeNode) -> Callable[[ExecState, Any], Any]:
        """Go's ``evalPipeline``: f(st, dot) -> value (nil interfaces unwrapped to MISSING)."""
        cmds = [self.command(c) for c in pipe.cmds]
        decl = [d.ident[0] for d in pipe.decl]
        is_assign = pipe.is_assign
        if len(cmds) == 1 and not decl:
            cmd = cmds[0]

            def run1(st, dot):
                st.node = pipe
                v = cmd(st, dot, _NOFINAL)
                return MISSING if v is None else v
            return run1

        def run(st, dot):
            st.node = pipe
            v = _NOFINAL
            for cmd in cmds:
                v = cmd(st, dot, v)
                if v is None:
                    v = MISSING
            for name in decl:
                if is_assign:
                    var = _lookup_var(st, name)
                    var[1], var[2] = v, False
                else:
                    st.vars.append([name, v, False])
            return v
        return run

    def command(self, cmd: N.CommandNode):
        """Go's ``evalCommand``: f(st, dot, final) -> value."""
        first = cmd.args[0]
        args = cmd.args
        if isinstance(first, N.FieldNode):
            return self.field_chain(first, args, lambda st, dot: (dot, st.dot_boxed), first.ident)
        if isinstance(first, N.ChainNode):
            return self.chain(first, args)
        if isinstance(first, N.IdentifierNode):
            return self.function(first, cmd, args)
        if isinstance(first, N.PipeNode):
            inner = self.pipeline(first)

            def run_pipe(st, dot, final):
                _not_a_function(st, args, final)
                return inner(st, dot)
            return run_pipe
        if isinstance(first, N.VariableNode):
            return self.variable(first, args)
        const = self.constant(first)

        def run_const(st, dot, final):
            st.node = first
            _not_a_function(st, args, final)
            return const(st, dot)
        return run_const

    def constant(self, n: N.Node):
        """Bool, dot, nil, number and string operands as commands or ``interface {}`` args."""
        if isinstance(n, N.BoolNode):
            b = n.true
            return lambda st, dot: b
        if isinstance(n, N.DotNode):
            return lambda st, dot: dot
        if isinstance(n, N.NilNode):
            def nil(st, dot):
                raise st.error("nil is not a command")
            return nil
        if isinstance(n, N.NumberNode):
            return self.ideal_constant(n)
        if isinstance(n, N.StringNode):
            s = n.text
            return lambda st, dot: s
        raise AssertionError("can't evaluate command %s" % n)

    def ideal_constant(self, c: N.NumberNode):
        """Go's ``idealConstant``: the type a number constant gets without context."""
        t = c.text
        if c.is_complex:
            v: Any = c.complex128
        elif c.is_float and not (len(t) > 2 and t[0] == "0" and t[1] in "xX" and not any(
                ch in t for ch in "pP")) and not t.startswith("'") and any(ch in t for ch in ".eEpP"):
            v = c.float64
        elif c.is_int:
            v = c.int64
        elif c.is_uint:
            def overflow(st, dot):
                st.node = c
                raise st.error("%s overflows int" % t)
            return overflow
        else:
            v = MISSING

        def run(st, dot):
            st.node = c
            return v
        return run

    def field_chain(self, node: N.Node, args: Optional[list], receiver_fn, idents: list[str]):
        """Go's ``evalFieldChain`` starting from ``receiver_fn(st, dot) -> (value, boxed)``."""
        last = idents[-1]
        head = idents[:-1]

        def run(st, dot, final):
            st.node = node
            r, boxed = receiver_fn(st, dot)
            for name in head:
                if type(r) is dict:
                    r = r.get(name, MISSING)
                else:
                    r = _field_slow(st, name, r, boxed, False)
                boxed = True
            has_args = (args is not None and len(args) > 1) or final is not _NOFINAL
            if type(r) is dict and not has_args:
                return r.get(last, MISSING)
            return _field_slow(st, last, r, boxed, has_args)
        return run

    def variable(self, node: N.VariableNode, args: Optional[list]):
        """Go's ``evalVariableNode``."""
        name = node.ident[0]
        if len(node.ident) == 1:
            def run(st, dot, final):
                st.node = node
                v = _lookup_var(st, name)[1]
                _not_a_function(st, args, final)
                return v
            return run

        def recv(st, dot):
            v = _lookup_var(st, name)
            return v[1], v[2]
        return self.field_chain(node, args, recv, node.ident[1:])

    def chain(self, node: N.ChainNode, args: Optional[list]):
        """Go's ``evalChainNode``: fields of a parenthesized pipeline or a function result."""
        inner = self.arg(node.node, None)

        def recv(st, dot):
            return inner(st, dot), False
        f = self.field_chain(node, args, recv, node.field)
        return f

    def function(self, ident: N.IdentifierNode, cmd: N.Node, args: Optional[list]):
        """Go's ``evalFunction`` + ``evalCall``: f(st, dot, final) -> value."""
        name = ident.ident
        fn = self.funcs.get(name)
        if fn is None:
            def undefined(st, dot, final):
                st.node = ident
                raise st.error("%s is not a defined function" % go_quote(name))
            return undefined
        argn = list(args[1:]) if args is not None else []
        params, variadic = fn.params, fn.variadic
        nfixed = len(params) if variadic is not None else len(argn)
        impl = fn.impl
        compiled = []
        for i, a in enumerate(argn):
            if i < nfixed:
                typ = params[i] if i < len(params) else None
            else:
                typ = variadic
            compiled.append(self.arg(a, typ) if typ is not None else None)
        is_andor = name in ("and", "or")
        want_or = name == "or"
        nargs = len(argn)

        def final_type(num_in: int) -> str:
            if variadic is not None:
                return params[num_in - 1] if num_in - 1 < nfixed else variadic
            return params[-1]

        def check_arity(st, final):
            num_in = nargs + (final is not _NOFINAL)
            if variadic is not None:
                if num_in < nfixed:
                    raise st.error("wrong number of args for %s: want at least %d got %d" % (
                        name, nfixed, nargs))
            elif num_in != len(params):
                raise st.error("wrong number of args for %s: want %d got %d" % (
                    name, len(params), num_in))
            return num_in

        if is_andor:
            def run_andor(st, dot, final):
                st.node = ident
                check_arity(st, final)
                v = MISSING
                for c in compiled:
                    v = c(st, dot)
                    if truth(v) == want_or:
                        return v
                if final is not _NOFINAL:
                    v = _validate(st, final, "value")
                return v
            return run_andor

        # printf with a constant format: parse the format once
        if name == "printf" and argn and isinstance(argn[0], N.StringNode) and \
                self.funcs.get("printf") is ALL["printf"]:
            fmt_node = argn[0]
            fmt_run = compile_format(fmt_node.text)
            rest = compiled[1:]

            def run_printf(st, dot, final):
                st.node = ident
                if final is not _NOFINAL:
                    check_arity(st, final)
                st.node = fmt_node
                a = [c(st, dot) for c in rest]
                if final is not _NOFINAL:
                    a.append(_validate(st, final, "any"))
                return fmt_run(a)
            return run_printf

        def run(st, dot, final):
            st.node = ident
            num_in = check_arity(st, final)
            argv = [c(st, dot) for c in compiled]
            if final is not _NOFINAL:
                argv.append(_validate(st, final, final_type(num_in)))
            try:
                return impl(st, argv)
            except FuncError as e:
                st.node = cmd
                raise st.error("error calling %s: %s" % (name, e)) from None
        return run

    def arg(self, n: N.Node, typ: Optional[str]):
        """Go's ``evalArg``: f(st, dot) -> the argument value checked against `typ`."""
        if isinstance(n, N.DotNode):
            if typ == "rawvalue":
                def dot_raw(st, dot):
                    st.node = n
                    return Boxed(dot) if st.dot_boxed and dot is not MISSING else dot
                return dot_raw

            def dot_arg(st, dot):
                st.node = n
                return _validate(st, dot, typ)
            return dot_arg
        if isinstance(n, N.NilNode):
            def nil_arg(st, dot):
                st.node = n
                if typ in ("any",):
                    return None
                if typ in ("value", "rawvalue"):
                    return MISSING
                raise st.error("cannot assign nil to %s" % _TYPE_NAMES.get(typ, typ))
            return nil_arg
        if isinstance(n, N.FieldNode):
            f = self.field_chain(n, [n], lambda st, dot: (dot, st.dot_boxed), n.ident)
            if typ == "rawvalue":
                def field_raw(st, dot):
                    st.node = n
                    v = f(st, dot, _NOFINAL)
                    return v if v is MISSING else Boxed(v)
                return field_raw
            if typ == "any":
                def field_any(st, dot):
                    v = f(st, dot, _NOFINAL)
                    return None if v is MISSING else v
                return field_any

            def field_arg(st, dot):
                st.node = n
                return _validate(st, f(st, dot, _NOFINAL), typ)
            return field_arg
        if isinstance(n, N.VariableNode):
            f = self.variable(n, None)
            if typ == "rawvalue":
                name = n.ident[0]
                multi = len(n.ident) > 1

                def var_raw(st, dot):
                    v = f(st, dot, _NOFINAL)
                    boxed = multi or _lookup_var(st, name)[2]
                    return Boxed(v) if boxed and v is not MISSING else v
                return var_raw

            def var_arg(st, dot):
                return _validate(st, f(st, dot, _NOFINAL), typ)
            return var_arg
        if isinstance(n, N.PipeNode):
            p = self.pipeline(n)

            def pipe_arg(st, dot):
                st.node = n
                return _validate(st, p(st, dot), typ)
            return pipe_arg
        if isinstance(n, N.IdentifierNode):
            f = self.function(n, n, None)

            def ident_arg(st, dot):
                st.node = n
                return _validate(st, f(st, dot, _NOFINAL), typ)
            return ident_arg
        if isinstance(n, N.ChainNode):
            f = self.chain(n, None)
            if typ == "rawvalue":
                def chain_raw(st, dot):
                    v = f(st, dot, _NOFINAL)
                    return v if v is MISSING else Boxed(v)
                return chain_raw

            def chain_arg(st, dot):
                st.node = n
                return _validate(st, f(st, dot, _NOFINAL), typ)
            return chain_arg
        # constants, typed by the parameter
        if typ in ("any", "value", "rawvalue"):
            if isinstance(n, N.NumberNode):
                return self.ideal_constant(n)
            const = self.constant(n)

            def const_arg(st, dot):
                st.node = n
                return const(st, dot)
            return const_arg
        expect = {"bool": (N.BoolNode, "bool"), "string": (N.StringNode, "string"),
                  "int": (N.NumberNode, "integer")}.get(typ or "")
        if expect is None:
            def cant(st, dot):
                st.node = n
                raise st.error("can't handle %s for arg of type %s" % (n, _TYPE_NAMES.get(typ, typ)))
            return cant
        ok = isinstance(n, expect[0]) and (typ != "int" or n.is_int)
        if ok:
            val = n.true if typ == "bool" else n.text if typ == "string" else n.int64

            def typed_const(st, dot):
                st.node = n
                return val
            return typed_const
        what = expect[1]

        def bad_const(st, dot):
            st.node = n
            raise st.error("expected %s; found %s" % (what, n))
        return bad_const


class Program:
    """A compiled template set: one body closure per defined template name."""

    def __init__(self, text: str, parse_name: str, trees: dict, funcs: dict[str, Func]) -> None:
        self.text = text
        self.parse_name = parse_name
        comp = Compiler(funcs)
        self.bodies: dict[str, Callable[[ExecState, Any], None]] = {
            name: comp.stmt(tree.root) for name, tree in trees.items()}

    def execute(self, name: str, data: Any, wait: WaitState) -> list[str]:
        """Run template `name` on `data`; return the output pieces."""
        st = ExecState(self, name, wait)
        st.vars.append(["$", data, False])
        try:
            self.bodies[name](st, data)
        except RecursionError:
            raise st.error("exceeded maximum template depth (%d)" % MAX_EXEC_DEPTH) from None
        return st.out


__all__ = ["ExecState", "Program", "Compiler", "MAX_EXEC_DEPTH", "sprintf"]
