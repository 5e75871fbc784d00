"""A Go ``text/template`` compatible template engine, in pure Python.

Templates copied from upstream OpenSVC documentation print the same bytes as Go's
``text/template`` on the same JSON data. Modules: `lexer` and `parser` (Go's syntax),
`nodes` (parse tree), `exec` (execution, compiled to closures), `fmt` (Go's fmt verbs),
`funcs` (builtins and the OpenSVC wait/label helpers), `values` (the Go value model).

    >>> from omd.gotemplate import Template, WaitState
    >>> t = Template.parse('{{printf "%s is %v" .data.path .data.n}}')
    >>> t.render({"data": {"path": "svc1", "n": 3.0}})
    'svc1 is 3'
"""

from .errors import TemplateError, TemplateExecError, TemplateParseError
from .funcs import WaitState
from .template import Template, decode_json
from .values import MISSING, to_go_data

__all__ = ["Template", "TemplateError", "TemplateExecError", "TemplateParseError", "WaitState",
           "decode_json", "to_go_data", "MISSING"]
